package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tickwire/tickwire/loadtest"
)

func init() {
	register(&command{
		name:    "bots",
		summary: "run load-test bots against a room-relay server; prints a JSON summary",
		run:     runBots,
	})
}

// runBots implements "tickwire bots": it maps flags onto loadtest.Config,
// shows progress on stderr and writes the JSON summary to stdout or --json.
func runBots(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bots", flag.ContinueOnError)
	var cfg loadtest.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:7778", "server `host:port` (with --transport ws: ws://host:port/ws, or a full ws:// URL)")
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
			"prints delivery, latency and (with --server-pid) server CPU/RSS as JSON.\n\nflags:\n")
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
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

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
		_, err = os.Stdout.Write(out)
	}
	return errors.Join(runErr, err)
}
