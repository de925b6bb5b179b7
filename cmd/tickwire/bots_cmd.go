package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/tickwire/tickwire/loadtest"
)

func init() {
	register(&command{
		name:    "bots",
		summary: "run load-test bots against a room-relay server (go run ./examples/relay); prints a JSON summary",
		run:     runBots,
	})
}

// DefaultBotsAddr is where "tickwire bots" looks for a relay by default:
// where examples/relay listens.
const DefaultBotsAddr = "127.0.0.1:7777"

// botsOut receives the JSON summary, botsErr the progress line, warnings
// and usage. Tests replace them.
var (
	botsOut io.Writer = os.Stdout
	botsErr io.Writer = os.Stderr
)

// runBots implements "tickwire bots": it maps flags onto loadtest.Config,
// shows progress on stderr and writes the JSON summary to stdout or --json.
func runBots(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bots", flag.ContinueOnError)
	fs.SetOutput(botsErr)
	var cfg loadtest.Config
	fs.StringVar(&cfg.Addr, "addr", DefaultBotsAddr, "server `host:port` (with --transport ws: ws://host:port/ws, or a full ws:// URL)")
	fs.IntVar(&cfg.N, "n", 100, "number of bots")
	fs.IntVar(&cfg.RoomSize, "room-size", 10, "bots per room")
	fs.Float64Var(&cfg.MoveRate, "rate", 10, "MOVE messages per second per bot")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of the measured window")
	fs.DurationVar(&cfg.RampUp, "ramp", 0, "spread connection attempts over this long (0: as fast as --max-connecting allows)")
	fs.StringVar(&cfg.Transport, "transport", loadtest.TransportTCP, "tcp or ws")
	fs.StringVar(&cfg.Encoding, "encoding", loadtest.EncodingText, "wire encoding: text or msgpack (msgpack needs a tickwire server)")
	fs.BoolVar(&cfg.Idle, "idle", false, "bots only JOIN and send keepalives (idle-scale test)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "server `pid` on this machine: report its CPU and RSS")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 5*time.Second, "per-bot bound on connect + handshake + JOINED")
	fs.IntVar(&cfg.MaxConnecting, "max-connecting", 64, "most connection attempts in flight")
	fs.DurationVar(&cfg.KeepAlive, "keepalive", 30*time.Second, "send a blank line after this long without sending")
	fs.DurationVar(&cfg.Settle, "settle", 250*time.Millisecond, "minimum wait after the last MOVE before checking the final state")
	jsonPath := fs.String("json", "", "write the JSON summary to this `file` instead of stdout")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tickwire bots [flags]\n\n"+
			"Connects -n bots to a room-relay server, moves them for --duration and\n"+
			"prints delivery, latency and (with --server-pid) server CPU/RSS as JSON.\n"+
			"The bots speak the room-relay protocol (JOIN, MOVE, POS), not the demo\n"+
			"arena's: start a relay with\n\n  go run ./examples/relay          (listens on %s)\n\n"+
			"or the reference server of bench/ (see BENCHMARKS.md). It exits non-zero\n"+
			"when no bot could connect, saying what the server answered.\n\nflags:\n", DefaultBotsAddr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.N <= 0 || cfg.RoomSize <= 0 || cfg.MoveRate <= 0 {
		return errors.New("-n, --room-size and --rate must be positive (for bots that do not move, use --idle)")
	}
	logOut := botsErr
	if !*quiet {
		cfg.Progress = botsErr
		if botsOnTerminal(botsErr) {
			// The progress line is redrawn in place; a warning first
			// clears it, so that it does not end up glued to the line.
			logOut = botsLogWriter{botsErr}
		}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn}))

	sum, runErr := loadtest.Run(ctx, cfg)
	if sum.Bots == 0 {
		return runErr // invalid configuration: nothing ran
	}
	out, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return errors.Join(runErr, err)
	}
	out = append(out, '\n')
	if *jsonPath != "" {
		err = os.WriteFile(*jsonPath, out, 0o644)
	} else {
		_, err = botsOut.Write(out)
	}
	return errors.Join(runErr, err)
}

// botsLogWriter writes each log line at the start of a cleared terminal
// line, over the progress line.
type botsLogWriter struct{ w io.Writer }

func (l botsLogWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(l.w, "\r\x1b[K"); err != nil {
		return 0, err
	}
	return l.w.Write(p)
}

// botsOnTerminal reports whether w is a terminal (a character device).
func botsOnTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
