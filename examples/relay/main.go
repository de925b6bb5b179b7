// Command relay runs the room-relay benchmark game on tickwire.
//
//	go run ./examples/relay -addr 127.0.0.1:7777 -tick 20
//
// Clients speak the text protocol (JOIN <room>, MOVE <x> <y> <t>; they receive
// JOINED <room> <id> and POS <id> <x> <y> <t>), may switch to JSON or
// MessagePack with USE, or connect over WebSocket at ws://<http>/ws. Every
// connection is logged in as a guest on connect, so no AUTH is needed.
//
// With -nats and -node, several relays share their rooms (a room lives on
// one node; JOIN on another is answered with MOVED to it):
//
//	go run ./examples/relay -addr 127.0.0.1:7777 -nats nats://127.0.0.1:4222 -node a
//	go run ./examples/relay -addr 127.0.0.1:7778 -nats nats://127.0.0.1:4222 -node b
//
// Clients then log in with AUTH guest first.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/examples/relay/relay"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7777", "TCP address")
	httpAddr := flag.String("http", "", "HTTP address for WebSocket at /ws (empty: off)")
	tick := flag.Int("tick", 20, "ticks per second")
	maxConns := flag.Int("max-conns", 19000, "most simultaneous connections")
	logLevel := flag.String("log-level", "warn", "log level")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until exit")
	engine := flag.String("engine", "", "connection engine: goroutine or eventloop (default: $TICKWIRE_ENGINE, else goroutine)")
	flag.StringVar(&relayNATS, "nats", "", "spread rooms over a cluster through this NATS server (nats://host:4222); clients then log in with AUTH guest")
	flag.StringVar(&relayNode, "node", "", "this node's name in the cluster (with -nats)")
	flag.Parse()
	relayEngine = *engine
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay: -cpuprofile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "relay: bad -log-level:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(*addr, *httpAddr, *tick, *maxConns, log); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// relayEngine is the -engine flag; relayNATS and relayNode the cluster's.
var relayEngine, relayNATS, relayNode string

func run(addr, httpAddr string, tick, maxConns int, log *slog.Logger) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reg := msg.NewRegistry()
	relayproto.Register(reg)
	cfg := server.Config{
		TickRate:  tick,
		Registry:  reg,
		AutoLogin: true,
		MaxConns:  maxConns,
		Logger:    log,
		Engine:    relayEngine,
		// The load tool opens thousands of connections from this machine:
		// per-address limits would refuse all but the first 128.
		AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
	var node *cluster.Node
	var opts []relay.Option
	if relayNATS != "" {
		// Rooms over a cluster: a player may be sent to another node,
		// where it RESUMEs, so connections are not logged in on connect.
		ws := ""
		if httpAddr != "" {
			ws = "ws://" + httpAddr + "/ws"
		}
		node, err = cluster.New(ctx, cluster.Config{URL: relayNATS, Name: "relay", Node: relayNode, Addr: addr, WS: ws, Logger: log})
		if err != nil {
			return err
		}
		cfg.AutoLogin = false
		cfg.GuestPrefix = "guest-" + relayNode + "-"
		cfg.Locate = node.Locate
		opts = append(opts, relay.WithRooms(node))
	}
	game := relay.New(opts...)
	srv, err := server.New(cfg, game)
	if err != nil {
		return err
	}
	if node != nil {
		srv.Start()
		if err := node.Start(srv, game); err != nil {
			return err
		}
		defer node.Close(context.Background())
	}
	ln, err := transport.ListenTCP(ctx, addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "relay listening on %s (tick %d Hz)\n", ln.Addr(), tick)
	go srv.Serve(ln)
	if httpAddr != "" {
		hl, err := net.Listen("tcp", httpAddr)
		if err != nil {
			return err
		}
		h := &http.Server{Handler: srv.WebSocketHandler(transport.WebSocketConfig{Logger: log}), ReadHeaderTimeout: 5 * time.Second}
		go h.Serve(hl)
		defer h.Close()
		fmt.Fprintf(os.Stderr, "relay WebSocket on ws://%s/ws\n", hl.Addr())
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}
