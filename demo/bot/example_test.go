package bot_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/demo/bot"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// A bot plays two seconds against a demo arena served in-process on a
// loopback port, then reports what it saw.
func ExampleRun() {
	reg := msg.NewRegistry()
	arena.Register(reg)
	srv, err := server.New(server.Config{Registry: reg, Logger: slog.New(slog.DiscardHandler)}, arena.New(arena.WithBots(2)))
	if err != nil {
		log.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	rep, err := bot.Run(context.Background(), bot.Config{
		Addr:     ln.Addr().String(),
		Encoding: msg.MsgPack,
		Seed:     42,
		Duration: 2 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("desyncs:", rep.Desyncs)
	fmt.Println("moved:", rep.Distance > 0)
	fmt.Println("zone:", rep.Zones[0])
	// Output:
	// desyncs: 0
	// moved: true
	// zone: 1
}
