package server_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// manualServer serves game on an in-memory listener without a tick loop:
// the test runs each tick with RunTick, so it decides which inputs share
// a tick.
func manualServer(t testing.TB, game server.Game) (*server.Server, *transport.PipeListener) {
	t.Helper()
	cfg := testConfig()
	srv, err := server.New(cfg, game)
	if err != nil {
		t.Fatal(err)
	}
	srv.ManualTicks()
	ln := transport.NewPipeListener()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		// Pipes are synchronous: a client that is not reading holds up its
		// BYE until the shutdown grace runs out, which is fine here.
		srv.Shutdown(context.Background())
		<-served
	})
	return srv, ln
}

func pipeClient(t testing.TB, srv *server.Server, ln *transport.PipeListener) *client {
	t.Helper()
	nc, err := ln.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, nc, srv.Registry())
}

// tickWhen waits until n events are waiting for the tick, then runs it.
func tickWhen(t testing.TB, srv *server.Server, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d inbound events", n), func() bool { return srv.PendingInbound() >= n })
	if got := srv.PendingInbound(); got != n {
		t.Fatalf("%d inbound events, want %d", got, n)
	}
	srv.RunTick()
}

// pipeLogin logs c in with a manual tick.
func pipeLogin(t testing.TB, srv *server.Server, c *client) string {
	t.Helper()
	c.write("AUTH guest\n") // returns once the server has read it
	tickWhen(t, srv, 1)
	w := c.expect("WELCOME ")
	c.expect("LIMITS ")
	return w
}

func TestLatestInputsCoalesce(t *testing.T) {
	g := newTestGame()
	srv, ln := manualServer(t, g)
	c := pipeClient(t, srv, ln)
	pipeLogin(t, srv, c)
	g.waitJoin(t)

	// Three STATEs and an ECHO in one tick: the game sees only the newest
	// STATE, in its own place, and the ECHO.
	c.write("STATE 1\nSTATE 2\nECHO between\nSTATE 3\n")
	tickWhen(t, srv, 4)
	c.expect("SAID ")
	var got []string
	for len(g.inputs) > 0 {
		in := <-g.inputs
		switch m := in.Msg.(type) {
		case *State:
			got = append(got, fmt.Sprintf("STATE %d", m.V))
		case *Echo:
			got = append(got, "ECHO "+m.Text)
		}
	}
	if fmt.Sprint(got) != "[ECHO between STATE 3]" {
		t.Fatalf("game saw %v", got)
	}

	// In separate ticks nothing is coalesced.
	for v := 4; v <= 5; v++ {
		c.write(fmt.Sprintf("STATE %d\n", v))
		tickWhen(t, srv, 1)
		if in := g.waitInput(t); in.Msg.(*State).V != int32(v) {
			t.Fatalf("game saw %+v", in.Msg)
		}
	}
}

func TestSendLatestSupersedes(t *testing.T) {
	g := newTestGame()
	srv, ln := manualServer(t, g)
	a, b := pipeClient(t, srv, ln), pipeClient(t, srv, ln)
	pipeLogin(t, srv, a)
	pipeLogin(t, srv, b)
	for i := 0; i < 2; i++ {
		g.waitJoin(t)
	}

	// B receives one nudge from A with the newest value, in the place of
	// the first, then the shout that was sent between them.
	a.write("NUDGE 1\nSHOUT in between\nNUDGE 2\nNUDGE 3\n")
	tickWhen(t, srv, 4)
	b.expectRE(`^SAID guest-\d+ nudge 3$`)
	b.expectRE(`^SAID guest-\d+ in between$`)
	// Nothing else came of that tick: the next thing B sees is from the
	// next one.
	a.write("SHOUT next tick\n")
	tickWhen(t, srv, 1)
	b.expectRE(`^SAID guest-\d+ next tick$`)

	// Keys are independent, and a new tick starts afresh.
	b.write("NUDGE 7\n")
	a.write("NUDGE 8\n")
	tickWhen(t, srv, 2)
	a.expectRE(`^SAID guest-\d+ nudge 7$`)
	b.expectRE(`^SAID guest-\d+ nudge 8$`)
}

// latestGame's Update sends every player a SendLatest with key 1 before
// the test game's own handling.
type latestGame struct{ *testGame }

func (g latestGame) Update(t *server.Tick) {
	for _, p := range t.Players() {
		p.SendLatest(1, &Said{From: "update", Text: "second"})
	}
	g.testGame.Update(t)
}

// A Join that uses SendLatest, followed by a SendLatest with the same key
// in the same tick's Update, must replace the Join's message, not the
// WELCOME the server puts in front of it.
func TestWelcomeSurvivesSendLatestInJoin(t *testing.T) {
	g := newTestGame()
	g.join = func(t *server.Tick, p *server.Player) error {
		p.SendLatest(1, &Said{From: "join", Text: "first"})
		return nil
	}
	srv, ln := manualServer(t, latestGame{g})
	c := pipeClient(t, srv, ln)
	c.write("AUTH guest\nECHO after join\n")
	tickWhen(t, srv, 2)
	c.expectRE(`^WELCOME \d+ guest-\d+$`)
	c.expect("LIMITS ")
	c.expect("SAID update second") // in the place of the Join's message
	c.expectRE(`^SAID guest-\d+ after join$`)
	// Next tick: only the Update's message.
	c.write("ECHO again\n")
	tickWhen(t, srv, 1)
	c.expect("SAID update second")
	c.expectRE(`^SAID guest-\d+ again$`)
}

// The same with a game that sends nothing at all in Join: the WELCOME
// must still be written.
func TestWelcomeWithSilentJoin(t *testing.T) {
	g := newTestGame()
	srv, ln := manualServer(t, g)
	c := pipeClient(t, srv, ln)
	c.write("AUTH guest\n")
	tickWhen(t, srv, 1)
	c.expectRE(`^WELCOME \d+ guest-\d+$`)
	c.expect("LIMITS ")
}
