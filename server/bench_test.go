package server_test

import (
	"bufio"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// BenchPos is an entity position, as a game sends every tick.
type BenchPos struct {
	ID uint64 `tw:"id"`
	X  int32  `tw:"x"`
	Y  int32  `tw:"y"`
}

// moverGame moves one entity every tick and sends every player its
// position.
type moverGame struct{ x int32 }

func (g *moverGame) Join(t *server.Tick, p *server.Player) error { return nil }
func (g *moverGame) Leave(t *server.Tick, p *server.Player, reason error) {
}

func (g *moverGame) Update(t *server.Tick) {
	g.x = (g.x + 1) % 1000
	pos := &BenchPos{ID: 1, X: g.x, Y: 1000 - g.x} // new each tick: writers may still encode the last one
	for _, p := range t.Players() {
		p.Send(pos)
	}
}

// BenchmarkTick1000Clients measures one tick of a server with 1,000
// logged-in in-memory clients, each sent one position update per tick,
// until every client has received it: the tick, its flush to 1,000 writer
// queues, and the writers' encoding and writing. tick-ns is the part spent
// in the tick itself (collecting input, Update, queueing the output).
func BenchmarkTick1000Clients(b *testing.B) {
	const n = 1000
	reg := msg.NewRegistry()
	msg.Define[BenchPos](reg, msg.Info{ID: 40, Name: "POS", Dir: msg.ToClient})
	srv, err := server.New(server.Config{Registry: reg, Logger: quietLogger(), AutoLogin: true}, &moverGame{})
	if err != nil {
		b.Fatal(err)
	}
	srv.ManualTicks()
	ln := transport.NewPipeListener()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var remaining atomic.Int64
	allDone := make(chan struct{}, 1)
	for i := 0; i < n; i++ {
		nc, err := ln.Dial(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		go func() { // drain the client, counting position updates
			defer nc.Close()
			r := bufio.NewReader(nc)
			for {
				l, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(string(l[:3]), "POS") && remaining.Add(-1) == 0 {
					allDone <- struct{}{}
				}
			}
		}()
	}
	waitFor(b, "every client to log in", func() bool { return srv.PendingInbound() == n })
	remaining.Store(n)
	srv.RunTick() // joins everyone
	<-allDone

	var tickTime time.Duration
	b.ReportAllocs()
	for b.Loop() {
		remaining.Store(n)
		srv.RunTick()
		tickTime += srv.Stats().LastTick
		<-allDone
	}
	b.ReportMetric(float64(tickTime.Nanoseconds())/float64(b.N), "tick-ns")
	b.StopTimer()
	srv.Shutdown(context.Background())
	<-served
}
