package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/store"
)

func init() {
	register(&command{name: "auth", summary: "run the HTTPS account service (register, login tokens) on its own", run: runAuth})
}

// authOut receives the auth command's startup summary (a variable for tests).
var authOut io.Writer = os.Stdout

// authListFlag is a repeatable flag whose values may also be comma-separated.
type authListFlag []string

func (l *authListFlag) String() string { return strings.Join(*l, ",") }

func (l *authListFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func authCmdLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q: want text or json", format)
}

func runAuth(ctx context.Context, args []string) error {
	var (
		cfg              auth.Config
		hashes           auth.HashPoolConfig
		db               banDBFlags
		acme, origins    authListFlag
		logLevel, logFmt string
		noBans           bool
	)
	fs := flag.NewFlagSet("auth", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: tickwire auth [flags]

Runs the HTTPS account service alone: POST /v1/register, /v1/login (returns
a one-time token for "AUTH <name> <token>" on the game port), /v1/password,
GET /healthz. See docs/AUTH.md.

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Addr, "addr", auth.DefaultAddr, "HTTPS listen address")
	db.add(fs)
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate (chain) file; default: a self-signed development certificate kept in the data directory")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key file for --tls-cert")
	fs.Var(&acme, "acme-domain", "get a certificate from Let's Encrypt for this domain (repeatable or comma-separated; needs port 443 reachable)")
	fs.StringVar(&cfg.ACMEEmail, "acme-email", "", "contact e-mail for the ACME account")
	fs.DurationVar(&cfg.TokenTTL, "token-ttl", auth.DefaultTokenTTL, "lifetime of a login token")
	fs.Var(&origins, "allow-origin", "browser origin allowed to call the API, e.g. https://play.example.com (repeatable; replaces the default "+strings.Join(auth.DefaultAllowedOrigins, ", ")+"; * allows any)")
	fs.StringVar(&cfg.GameAddr, "game-addr", "", "game server address returned in login responses (optional)")
	hashes.AddFlags(fs)
	fs.BoolVar(&noBans, "no-bans", false, "do not refuse addresses banned in the database")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&logFmt, "log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	logger, err := authCmdLogger(logLevel, logFmt, os.Stderr)
	if err != nil {
		return err
	}
	cfg.Logger = logger
	cfg.DataDir = db.dataDir
	cfg.HashConcurrency, cfg.HashMemoryBudget, cfg.HashQueue = hashes.Concurrency, hashes.MemoryBudget, hashes.Queue
	cfg.ACMEDomains = acme
	if len(origins) > 0 {
		cfg.AllowedOrigins = origins
	}

	st, err := store.Open(ctx, store.ResolveDSN(db.dataDir, db.db))
	if err != nil {
		return err
	}
	defer st.Close()
	cfg.Store = st
	if !noBans {
		g, err := guard.New(ctx, guard.Config{Store: st, Logger: logger})
		if err != nil {
			return err
		}
		defer g.Close()
		cfg.Guard = g
	}
	svc, err := auth.New(cfg)
	if err != nil {
		return err
	}
	if err := svc.Start(); err != nil {
		return err
	}
	fmt.Fprintf(authOut, "tickwire auth: listening on https://%s (database: %s)\n", svc.Addr(), st.Backend())
	if fp := svc.CertFingerprint(); fp != "" {
		fmt.Fprintf(authOut, "TLS certificate SHA-256 fingerprint: %s\ncurl pin: --pinnedpubkey '%s'\n", fp, svc.CertPin())
	}
	<-ctx.Done()
	if err := svc.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
