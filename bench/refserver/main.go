// Command refserver is a minimal, hand-written room-relay server (plain net,
// bufio and sync, no framework) speaking the same text protocol as
// examples/relay. It is the yardstick that tickwire's relay is measured
// against with "tickwire bots"; see bench/README.md.
//
// Usage:
//
//	go run ./bench/refserver -addr 127.0.0.1:7778 -tick 20
package main

import (
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tickwire/tickwire/bench/refserver/relay"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7778", "TCP address to listen on")
	hz := flag.Float64("tick", 20, "tick rate in Hz")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *hz <= 0 || *hz > 1000 {
		log.Error("bad -tick: want 0 < Hz <= 1000", "tick", *hz)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	srv := relay.New(time.Duration(float64(time.Second) / *hz), log)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		log.Info("shutting down")
		srv.Close()
	}()
	log.Info("refserver listening", "addr", ln.Addr().String(), "tick_hz", *hz, "pid", os.Getpid())
	if err := srv.Serve(ln); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
