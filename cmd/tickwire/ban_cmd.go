package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/store"
)

func init() {
	register(&command{name: "ban", summary: "list, add or remove IP bans (list | add <ip> | remove <ip> | history <ip>)", run: runBan})
}

// banOut receives the ban command's normal output (a variable for tests).
var banOut io.Writer = os.Stdout

const banUsage = `usage: tickwire ban <action> [flags]

Manage the IP bans in the tickwire database. Running servers notice changes
within their ban refresh interval (5s by default).

actions:
  list                 show active bans
  add <ip>             ban an address (--for, --reason)
  remove <ip>          lift a ban (--forget also clears its offence history)
  history <ip>         show every ban the address had in the history window

flags (any action):
`

// banDBFlags are the database flags shared with "tickwire serve".
type banDBFlags struct {
	dataDir, db string
}

func (f *banDBFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", store.DefaultDataDir, "data directory (holds the SQLite database "+store.DefaultSQLiteFile+")")
	fs.StringVar(&f.db, "db", "", "database: a postgres:// URL or an SQLite file path (default <data-dir>/"+store.DefaultSQLiteFile+")")
}

// banParse parses flags that may come before, between or after positional
// arguments and returns the positional ones.
func banParse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// actionCommand is a parsed "tickwire <cmd> [db flags] <action> [flags]
// [args]" command line, shared by the ban and admin commands: the
// database flags may come before or after the action.
type actionCommand struct {
	cmd    string        // "ban", "admin"
	top    *flag.FlagSet // the command's own flags, for its usage
	action string
	fs     *flag.FlagSet // the action's flags: the database flags, then the action's own
	db     *banDBFlags
	rest   []string // what follows the action, for banParse
}

// parseAction parses the command line up to the action. The caller adds
// the action's own flags to fs and parses rest with banParse.
func parseAction(cmd, usage, actions string, args []string) (*actionCommand, error) {
	a := &actionCommand{cmd: cmd, db: &banDBFlags{}}
	top := flag.NewFlagSet(cmd, flag.ContinueOnError)
	a.db.add(top)
	top.Usage = func() {
		fmt.Fprint(top.Output(), usage)
		top.PrintDefaults()
	}
	if err := top.Parse(args); err != nil {
		return nil, err
	}
	if top.NArg() == 0 {
		top.Usage()
		return nil, fmt.Errorf("missing action: %s", actions)
	}
	a.top, a.action, a.rest = top, top.Arg(0), top.Args()[1:]
	a.fs = flag.NewFlagSet(cmd+" "+a.action, flag.ContinueOnError)
	before := *a.db
	a.db.add(a.fs) // resets db to the defaults: restore values given before the action
	a.fs.Set("data-dir", before.dataDir)
	a.fs.Set("db", before.db)
	return a, nil
}

// args parses the action's flags and positional arguments (flags may
// come between them) and checks there are want of them; usage is the
// action's synopsis, such as "add <ip> [--for 1h]".
func (a *actionCommand) args(usage string, want int) ([]string, error) {
	a.fs.Usage = func() {
		fmt.Fprintf(a.fs.Output(), "usage: tickwire %s %s\n\nflags:\n", a.cmd, usage)
		a.fs.PrintDefaults()
	}
	pos, err := banParse(a.fs, a.rest)
	if err != nil {
		return nil, err
	}
	if len(pos) != want {
		a.fs.Usage()
		return nil, fmt.Errorf("%s takes %d argument(s), got %d", a.fs.Name(), want, len(pos))
	}
	return pos, nil
}

func runBan(ctx context.Context, args []string) error {
	cmd, err := parseAction("ban", banUsage, "list, add, remove or history", args)
	if err != nil {
		return err
	}
	top, action, fs, db := cmd.top, cmd.action, cmd.fs, cmd.db
	var (
		forDur time.Duration
		reason string
		forget bool
		want   int
		usage  string
	)
	switch action {
	case "list":
		usage, want = "list", 0
	case "add":
		usage, want = "add <ip> [--for 1h] [--reason text]", 1
		fs.DurationVar(&forDur, "for", 0, "ban length, e.g. 30m, 24h (default: the escalating schedule, 15m for a first offence)")
		fs.StringVar(&reason, "reason", "manual", "reason recorded with the ban")
	case "remove":
		usage, want = "remove <ip> [--forget]", 1
		fs.BoolVar(&forget, "forget", false, "also clear the address's offence history, so a next ban counts as a first offence")
	case "history":
		usage, want = "history <ip>", 1
	default:
		top.Usage()
		return fmt.Errorf("unknown action %q: want list, add, remove or history", action)
	}
	pos, err := cmd.args(usage, want)
	if err != nil {
		return err
	}
	var ip netip.Addr
	if want == 1 {
		if ip, err = netip.ParseAddr(pos[0]); err != nil {
			return fmt.Errorf("%q is not an IP address", pos[0])
		}
		ip = ip.Unmap().WithZone("")
	}
	if forDur < 0 {
		return errors.New("--for must not be negative")
	}

	st, err := store.Open(ctx, store.ResolveDSN(db.dataDir, db.db))
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()

	switch action {
	case "list":
		bans, err := st.ListBans(ctx, now)
		if err != nil {
			return err
		}
		banPrint(bans, now, false)
	case "history":
		hist, err := st.BanHistory(ctx, ip, now.Add(-guard.DefaultHistoryWindow))
		if err != nil {
			return err
		}
		banPrint(hist, now, true)
	case "add", "remove":
		g, err := guard.New(ctx, guard.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		defer g.Close()
		if action == "add" {
			b, err := g.Ban(ctx, ip, forDur, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(banOut, "banned %s until %s (%s, offence %d)\n", b.IP, b.ExpiresAt.Format(time.RFC3339),
				b.ExpiresAt.Sub(b.CreatedAt).Round(time.Second), b.Offences)
			return nil
		}
		err = g.Unban(ctx, ip, forget)
		if errors.Is(err, store.ErrNotFound) {
			if forget {
				fmt.Fprintf(banOut, "%s was not banned; its offence history is cleared\n", ip)
				return nil
			}
			return fmt.Errorf("%s is not banned", ip)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(banOut, "unbanned %s\n", ip)
	}
	return nil
}

// banPrint writes bans as a table; history rows show no time left, since a
// past ban may have been lifted early.
func banPrint(bans []store.Ban, now time.Time, history bool) {
	if len(bans) == 0 {
		fmt.Fprintln(banOut, "no bans")
		return
	}
	tw := tabwriter.NewWriter(banOut, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IP\tSINCE\tUNTIL\tLEFT\tOFFENCE\tREASON")
	for _, b := range bans {
		left := "-"
		if !history && b.Active(now) {
			left = b.ExpiresAt.Sub(now).Round(time.Second).String()
		}
		reason := strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return '?'
			}
			return r
		}, b.Reason)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", b.IP, b.CreatedAt.Format(time.RFC3339), b.ExpiresAt.Format(time.RFC3339), left, b.Offences, reason)
	}
	tw.Flush()
}
