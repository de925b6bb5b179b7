package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/store"
)

func init() {
	register(&command{name: "admin", summary: "grant or revoke the admin console role (add <name> | remove <name> | list)", run: runAdmin})
}

// adminOut receives the admin command's output and adminIn is where
// "admin add --create" reads the password (variables for tests).
var (
	adminOut io.Writer = os.Stdout
	adminIn  io.Reader = os.Stdin
)

const adminUsage = `usage: tickwire admin <action> [flags]

Grant or revoke the role that lets an account log in to the admin console
(tickwire serve --admin). The account must exist (register it at the account
service), or be created here with --create and a password read from the
first line of standard input:

  printf '%s\n' "$PASSWORD" | tickwire admin add alice --create

A running console notices a removal within seconds and ends that admin's
sessions. Every change is written to the audit log (actor "cli").

actions:
  list                 list the admin accounts
  add <name>           give an account the admin role (--create: make the account)
  remove <name>        take the role away

flags (any action):
`

func runAdmin(ctx context.Context, args []string) error {
	cmd, err := parseAction("admin", adminUsage, "list, add or remove", args)
	if err != nil {
		return err
	}
	top, action, fs, db := cmd.top, cmd.action, cmd.fs, cmd.db
	var create bool
	want, usage := 1, action+" <name>"
	switch action {
	case "list":
		want, usage = 0, "list"
	case "add":
		usage = "add <name> [--create]"
		fs.BoolVar(&create, "create", false, "create the account if it does not exist, with a password read from the first line of standard input")
	case "remove":
	default:
		top.Usage()
		return fmt.Errorf("unknown action %q: want list, add or remove", action)
	}
	pos, err := cmd.args(usage, want)
	if err != nil {
		return err
	}
	var name string
	if want == 1 {
		if name, err = auth.NormalizeName(pos[0]); err != nil {
			return fmt.Errorf("%q is not a valid account name: %w", pos[0], err)
		}
	}

	st, err := store.Open(ctx, store.ResolveDSN(db.dataDir, db.db))
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()

	switch action {
	case "list":
		admins, err := st.SearchAccounts(ctx, store.AccountQuery{Role: store.RoleAdmin})
		if err != nil {
			return err
		}
		if len(admins) == 0 {
			fmt.Fprintln(adminOut, "no admin accounts; add one with: tickwire admin add <name>")
			return nil
		}
		tw := tabwriter.NewWriter(adminOut, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tSTATE\tCREATED\tLAST LOGIN")
		for _, a := range admins {
			state := "enabled"
			if a.Disabled {
				state = "disabled"
			} else if a.ResetRequired {
				state = "reset pending"
			}
			last := "never"
			if !a.LastLoginAt.IsZero() {
				last = a.LastLoginAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", a.Name, a.ID, state, a.CreatedAt.Format(time.RFC3339), last)
		}
		return tw.Flush()

	case "add":
		acct, err := st.AccountByName(ctx, name)
		created := false
		switch {
		case errors.Is(err, store.ErrNotFound) && !create:
			return fmt.Errorf("no account %q: register it at the account service first, or pass --create and the password on standard input", name)
		case errors.Is(err, store.ErrNotFound):
			pw, err := readPassword(adminIn)
			if err != nil {
				return err
			}
			if err := auth.CheckPassword(name, pw); err != nil {
				return fmt.Errorf("password: %w", err)
			}
			hash, err := auth.HashPassword(pw, auth.DefaultParams)
			if err != nil {
				return err
			}
			if acct, err = st.CreateAccount(ctx, name, hash, now); err != nil {
				return err
			}
			created = true
		case err != nil:
			return err
		}
		if acct.IsAdmin() {
			fmt.Fprintf(adminOut, "%s is already an admin\n", acct.Name)
			return nil
		}
		if err := st.SetRole(ctx, acct.ID, store.RoleAdmin); err != nil {
			return err
		}
		detail := ""
		if created {
			detail = "account created"
		}
		cliAudit(ctx, st, "admin_add", acct.Name, detail)
		if created {
			fmt.Fprintf(adminOut, "created account %s and made it an admin\n", acct.Name)
		} else {
			fmt.Fprintf(adminOut, "%s is now an admin\n", acct.Name)
		}
		if acct.Disabled {
			fmt.Fprintf(adminOut, "note: %s is disabled and cannot log in until it is enabled\n", acct.Name)
		}

	case "remove":
		acct, err := st.AccountByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no account %q", name)
		}
		if err != nil {
			return err
		}
		if !acct.IsAdmin() {
			return fmt.Errorf("%s is not an admin", acct.Name)
		}
		if err := st.SetRole(ctx, acct.ID, ""); err != nil {
			return err
		}
		cliAudit(ctx, st, "admin_remove", acct.Name, "")
		fmt.Fprintf(adminOut, "%s is no longer an admin\n", acct.Name)
	}
	return nil
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(r, auth.MaxPasswordLen+2).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("--create reads the password from the first line of standard input; none was given")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// cliAudit writes a command-line action to the audit log. The actor is
// "cli" with the operating-system user, when known.
func cliAudit(ctx context.Context, st store.Store, action, target, detail string) {
	actor := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		actor = "cli:" + u.Username
	}
	if _, err := st.AddAudit(ctx, store.AuditEntry{At: time.Now(), Actor: actor, Action: action, Target: target, Detail: detail}); err != nil {
		fmt.Fprintf(os.Stderr, "warning: audit log not written: %v\n", err)
	}
}
