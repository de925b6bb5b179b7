// Command tag serves the tag game (package tag) on TCP, in the text
// protocol you can play with nc, and on WebSocket for browsers.
//
//	go run ./examples/tag
//	nc 127.0.0.1 5002
//	AUTH guest
//	@1 STEP e
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
	"os/signal"
	"syscall"
	"time"

	"github.com/tickwire/tickwire/examples/tag/tag"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5002", "TCP address of the game (text protocol)")
	httpAddr := flag.String("http", "127.0.0.1:8082", "HTTP address of the WebSocket endpoint /ws (empty: none)")
	tick := flag.Int("tick", server.DefaultTickRate, "ticks per second")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err := run(ctx, *addr, *httpAddr, *tick, log, func(tcp, ws string) {
		fmt.Printf("tag on %s (nc %s, then AUTH guest)", tcp, tcp)
		if ws != "" {
			fmt.Printf(" and ws://%s/ws", ws)
		}
		fmt.Println()
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tag:", err)
		os.Exit(1)
	}
}

// run serves the game until ctx ends; ready is told the addresses.
func run(ctx context.Context, addr, httpAddr string, tick int, log *slog.Logger, ready func(tcp, ws string)) error {
	reg := msg.NewRegistry()
	tag.Register(reg)
	srv, err := server.New(server.Config{
		TickRate: tick,
		Registry: reg,
		Logger:   log,
		Banner:   "tickwire tag: AUTH guest, then STEP n|s|e|w; touch a player to tag them; HELP lists commands",
	}, tag.New())
	if err != nil {
		return err
	}
	ln, err := transport.ListenTCP(ctx, addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ws := ""
	if httpAddr != "" {
		hl, err := net.Listen("tcp", httpAddr)
		if err != nil {
			srv.Shutdown(context.Background())
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/ws", transport.WebSocketHandler(transport.WebSocketConfig{Logger: log}, srv.ServeConn))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go hs.Serve(hl)
		defer hs.Close()
		ws = hl.Addr().String()
	}
	ready(ln.Addr().String(), ws)
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	return nil
}
