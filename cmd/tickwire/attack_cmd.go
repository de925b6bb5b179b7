package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/tickwire/tickwire/attack"
	"github.com/tickwire/tickwire/transport"
)

func init() {
	register(&command{
		name:    "attack",
		summary: "run the adversarial test suite against a running server on loopback; fails on any failed attack",
		run:     runAttack,
	})
}

// attackOut receives the result lines; attackErr progress and the
// summary. Tests swap them.
var (
	attackOut io.Writer = os.Stdout
	attackErr io.Writer = os.Stderr
)

// runAttack implements "tickwire attack": it runs package attack's suite
// against the server at --addr/--http/--auth (loopback only) and prints one
// line per attack. Any failed attack makes it return an error.
func runAttack(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	fs.SetOutput(attackErr)
	addr := fs.String("addr", transport.DefaultTCPAddr, "game server TCP `host:port` (IPv4 loopback only)")
	httpAddr := fs.String("http", "127.0.0.1:8080", "web listener `host:port` (page, /ws, /metrics; /v1/ on loopback); empty skips the attacks that need it")
	authAddr := fs.String("auth", "127.0.0.1:8443", "HTTPS account service `host:port`; empty skips the attacks that need it")
	pin := fs.String("auth-fingerprint", "", "pin the account service's certificate to this SHA-256 `fingerprint` (as serve prints it); default: skip verification of the development certificate")
	only := fs.String("only", "", "run only these attacks (comma-separated `names`; see --list)")
	list := fs.Bool("list", false, "list the attacks and exit")
	scale := fs.Float64("duration", 1, "`scale` of the attacks' own durations (flood lengths); expectations and server timeouts are not scaled")
	long := fs.Bool("long", false, "also run the checks that wait for long server timeouts (60 s keep-alive, a connection flood at the per-address rate)")
	pid := fs.Int("pid", 0, "server process `id`, to report its resident memory (Linux /proc) around the attacks that may grow it")
	logFile := fs.String("server-log", "", "server log `file`, for the checks only the log can show (LOG lines written)")
	base := fs.String("attacker-base", "", "first attacker `address` in 127.0.0.0/8 (default: a random 127.X.0.2, so a second run does not meet the first run's bans)")
	var lim attack.Limits
	fs.DurationVar(&lim.LoginTimeout, "login-timeout", attack.DefaultLoginTimeout, "the server's --login-timeout")
	fs.DurationVar(&lim.FrameTimeout, "frame-timeout", attack.DefaultFrameTimeout, "the server's --frame-timeout")
	fs.DurationVar(&lim.WriteTimeout, "write-timeout", attack.DefaultWriteTimeout, "the server's --write-timeout")
	fs.IntVar(&lim.MaxMessage, "max-message", attack.DefaultMaxMessage, "the server's --max-message")
	fs.IntVar(&lim.MaxConnsPerAddr, "max-conns-per-addr", attack.DefaultMaxConnsPerAddr, "the server's --max-conns-per-addr")
	fs.IntVar(&lim.MaxPreLoginPerAddr, "max-prelogin-per-addr", attack.DefaultMaxPreLoginPerAddr, "the server's --max-prelogin-per-addr")
	fs.Float64Var(&lim.ConnRatePerAddr, "conn-rate-per-addr", attack.DefaultConnRatePerAddr, "the server's --conn-rate-per-addr")
	fs.IntVar(&lim.ConnBurstPerAddr, "conn-burst-per-addr", attack.DefaultConnBurstPerAddr, "the server's --conn-burst-per-addr")
	fs.IntVar(&lim.LoginBurstPerAddr, "login-burst-per-addr", attack.DefaultLoginBurstPerAddr, "failed logins the account service allows one address at once")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tickwire attack [flags]\n\n"+
			"Runs tickwire's adversarial test suite against a running server (tickwire\n"+
			"serve) on loopback: slowloris, floods, lockout, spoofed headers and more.\n"+
			"An honest player on 127.0.0.1 measures its PING round trip during every\n"+
			"attack; attackers use other 127.0.0.0/8 addresses (Linux routes them all to\n"+
			"lo), so they are banned and limited, not the honest player. Prints one\n"+
			"line per attack: PASS or FAIL, the honest player's RTT p50/p99/max and\n"+
			"whether it was disconnected, and what was observed. Exits non-zero if any\n"+
			"attack failed. Refuses any target that is not on IPv4 loopback.\n\n"+
			"Limit flags describe the server's configuration; pass the values it runs\n"+
			"with if they are not the defaults.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *list {
		for _, a := range attack.Attacks() {
			fmt.Fprintf(attackOut, "%-18s %s\n", a.Name, a.Summary)
		}
		return nil
	}
	var names []string
	if *only != "" {
		for _, n := range strings.Split(*only, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	cfg := attack.Config{
		Addr: *addr, HTTP: *httpAddr, Auth: *authAddr, AuthFingerprint: *pin,
		Scale: *scale, Long: *long, PID: *pid, Limits: lim, Progress: attackErr,
	}
	if *base != "" {
		a, err := netip.ParseAddr(*base)
		if err != nil {
			return fmt.Errorf("--attacker-base: %w", err)
		}
		cfg.AddrBase = a
	}
	if *httpAddr != "" {
		cfg.Goroutines = attack.MetricsGoroutines(*httpAddr)
	}
	if *logFile != "" {
		path := *logFile
		cfg.ServerLog = func() string {
			b, err := os.ReadFile(path)
			if err != nil {
				return ""
			}
			return string(b)
		}
	}
	suite, err := attack.NewSuite(cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	results, err := suite.RunAll(ctx, names, func(r attack.Result) {
		fmt.Fprintln(attackOut, r.Line())
	})
	if err != nil {
		return err
	}
	var passed, failed, skipped []string
	for _, r := range results {
		switch {
		case r.Skipped != "":
			skipped = append(skipped, r.Name)
		case r.Pass:
			passed = append(passed, r.Name)
		default:
			failed = append(failed, r.Name)
		}
	}
	fmt.Fprintf(attackErr, "attack: %d passed, %d failed, %d skipped in %.0fs\n", len(passed), len(failed), len(skipped), time.Since(start).Seconds())
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(failed) > 0 {
		return errors.New("failed: " + strings.Join(failed, ", "))
	}
	return nil
}
