package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

func init() {
	register(&command{name: "serve", summary: "run the demo arena game server", run: runServe})
}

// serveFlags are the flags of "tickwire serve".
type serveFlags struct {
	addr, httpAddr string
	cfg            server.Config
	logLevel       string
	origins        multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, args []string) error {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&f.addr, "addr", transport.DefaultTCPAddr, "game server TCP address (port 0 picks a free port)")
	fs.StringVar(&f.httpAddr, "http", "127.0.0.1:8080", "HTTP address for WebSocket (/ws) and the web page; empty disables")
	fs.IntVar(&f.cfg.TickRate, "tick", server.DefaultTickRate, "ticks per second (1-120)")
	fs.IntVar(&f.cfg.MaxMessage, "max-message", 4096, "largest inbound message in bytes")
	fs.DurationVar(&f.cfg.LoginTimeout, "login-timeout", server.DefaultLoginTimeout, "close connections silent this long before login")
	fs.DurationVar(&f.cfg.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "close logged-in connections silent this long")
	fs.DurationVar(&f.cfg.WriteTimeout, "write-timeout", server.DefaultWriteTimeout, "cut off clients whose writes stall this long")
	fs.IntVar(&f.cfg.MaxOutbound, "max-outbound", server.DefaultMaxOutbound, "messages queued per client before it is cut off as a slow consumer")
	fs.IntVar(&f.cfg.MaxConns, "max-conns", server.DefaultMaxConns, "most simultaneous connections")
	fs.BoolVar(&f.cfg.DisableGuests, "no-guests", false, "refuse AUTH guest")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.Var(&f.origins, "allow-origin", "extra browser origin (host[:port] pattern) allowed to open /ws; repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log, err := newLogger(f.logLevel)
	if err != nil {
		return err
	}
	f.cfg.Logger = log

	ln, err := transport.ListenTCP(ctx, f.addr)
	if err != nil {
		return err
	}
	reg := msg.NewRegistry()
	arena.Register(reg)
	f.cfg.Registry = reg
	f.cfg.Banner = arena.Banner(ln.Addr().String())
	srv, err := server.New(f.cfg, arena.New())
	if err != nil {
		ln.Close()
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()

	var httpSrv *http.Server
	if f.httpAddr != "" {
		hl, err := net.Listen("tcp", f.httpAddr)
		if err != nil {
			srv.Shutdown(context.Background())
			return fmt.Errorf("http listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/ws", transport.WebSocketHandler(transport.WebSocketConfig{OriginPatterns: f.origins, Logger: log}, srv.ServeConn))
		httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { errc <- httpSrv.Serve(hl) }()
		fmt.Fprintf(os.Stderr, "WebSocket: ws://%s/ws\n", hl.Addr())
	}
	fmt.Fprintf(os.Stderr, "tickwire arena is running. Play from a terminal:\n  nc %s %d\nthen type: AUTH guest\n",
		ln.Addr().(*net.TCPAddr).IP, ln.Addr().(*net.TCPAddr).Port)

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, server.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
			log.Error("listener failed; shutting down", "err", err)
		}
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if httpSrv != nil {
		httpSrv.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	return nil
}
