package server_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// funcGame is a Game whose Update is a function, for API tests.
type funcGame struct {
	update func(t *server.Tick)
	init   func(s server.Settings) error
}

func (g *funcGame) Join(*server.Tick, *server.Player) error   { return nil }
func (g *funcGame) Update(t *server.Tick)                     { g.update(t) }
func (g *funcGame) Leave(*server.Tick, *server.Player, error) {}
func (g *funcGame) Init(s server.Settings) error              { return g.init(s) }
func noInit(server.Settings) error                            { return nil }
func recovered(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestHandleInputRepliesWithTheRequestID(t *testing.T) {
	var h server.Handlers
	server.HandleInput(&h, func(t *server.Tick, in server.Input, m *Echo) error {
		in.Player.Reply(in, &Said{From: "reply", Text: m.Text})
		return nil
	})
	g := &funcGame{update: h.Dispatch, init: noInit}
	srv, ln := manualServer(t, g)
	c := pipeClient(t, srv, ln)
	pipeLogin(t, srv, c)
	c.write("@9 ECHO hi\n")
	tickWhen(t, srv, 1)
	c.expect("@9 SAID reply hi")
}

func TestInitGetsTheSettings(t *testing.T) {
	var got server.Settings
	cfg := testConfig()
	cfg.TickRate = 30
	_, err := server.New(cfg, &funcGame{update: func(*server.Tick) {}, init: func(s server.Settings) error { got = s; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if got.TickRate != 30 || got.TickPeriod.Seconds()*30 < 0.999 || got.MaxMessage != 4096 || got.Registry != cfg.Registry {
		t.Fatalf("Init got %+v", got)
	}
	_, err = server.New(cfg, &funcGame{update: func(*server.Tick) {}, init: func(server.Settings) error { return errors.New("no map") }})
	if err == nil || !strings.Contains(err.Error(), "game Init: no map") {
		t.Fatalf("New with a failing Init: %v", err)
	}
}

func TestSendRefusesWhatCannotBeSent(t *testing.T) {
	type Unregistered struct{ X int }
	var panics []string
	g := &funcGame{init: noInit, update: func(t *server.Tick) {
		for _, p := range t.Players() {
			panics = append(panics,
				recovered(func() { p.Send(&Unregistered{}) }),
				recovered(func() { p.Send(&Echo{Text: "to server only"}) }),
				recovered(func() { p.Send(msg.NewShared(&Unregistered{})) }),
				recovered(func() { p.SendLatest(1, &Unregistered{}) }),
				recovered(func() { p.Send(&Said{From: "ok"}) }),
			)
		}
	}}
	srv, ln := manualServer(t, g)
	c := pipeClient(t, srv, ln)
	panics = nil
	pipeLogin(t, srv, c) // its tick runs Update with the player in
	want := []string{"not a registered message", "may not be sent to a client", "not a registered message", "not a registered message", ""}
	if len(panics) != len(want) {
		t.Fatalf("panics %q", panics)
	}
	for i, w := range want {
		if w == "" && panics[i] != "" || !strings.Contains(panics[i], w) {
			t.Errorf("call %d: panic %q, want %q", i, panics[i], w)
		}
	}
}

func TestCheckCauses(t *testing.T) {
	reg := testRegistry()
	var h server.Handlers
	// ECHO declares it causes SAID; TICK is not among its causes.
	server.Handle(&h, func(t *server.Tick, p *server.Player, m *Echo) error {
		if m.Text == "tick" {
			p.Send(&TickMsg{N: 1})
		} else {
			p.Send(&Said{From: "x", Text: m.Text})
		}
		return nil
	})
	cfg := testConfig()
	cfg.Registry = reg
	cfg.CheckCauses = true
	var failure string
	g := &funcGame{init: noInit, update: func(t *server.Tick) { failure += recovered(func() { h.Dispatch(t) }) }}
	srv, err := server.New(cfg, g)
	if err != nil {
		t.Fatal(err)
	}
	srv.ManualTicks()
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	c := pipeClient(t, srv, ln)
	pipeLogin(t, srv, c)
	c.write("ECHO fine\n")
	tickWhen(t, srv, 1)
	c.expect("SAID x fine")
	if failure != "" {
		t.Fatalf("a declared cause panicked: %s", failure)
	}
	c.write("ECHO tick\n")
	tickWhen(t, srv, 1)
	if !strings.Contains(failure, "the handler of ECHO sent TICK, which its msg.Info.Causes [SAID] does not list") {
		t.Fatalf("undeclared cause: %q", failure)
	}
}

func TestMaxOutboundBytesCutsASlowConsumer(t *testing.T) {
	cfg := testConfig()
	cfg.MaxOutboundBytes = 64 << 10
	cfg.MaxOutboundBytesPerSec = -1
	g := newTestGame()
	ts := startTCP(t, cfg, g)
	c := dial(t, ts)
	c.login()
	// 200 messages of ~900 bytes a tick, and the client stops reading: the
	// queue stays far below MaxOutbound (4096 messages) but passes 64 KiB.
	c.write("SPAM 200\n")
	l := g.waitLeave(t)
	if !errors.Is(l.Reason, server.ErrSlowConsumer) {
		t.Fatalf("Leave %+v, want slow_consumer", l)
	}
	if n := ts.Stats().Closed["slow_consumer"]; n != 1 {
		t.Fatalf("Stats().Closed[slow_consumer] = %d, want 1", n)
	}
}

func TestSessionsKickAndCall(t *testing.T) {
	g := newTestGame()
	ts := startTCP(t, testConfig(), g)
	a := dial(t, ts)
	a.login()
	g.waitJoin(t)
	b := dial(t, ts) // not logged in
	b.write("PING x\n")
	b.expect("PONG x")
	// The byte counters are bumped after a write returns, which the client
	// may notice first.
	waitFor(t, "bytes counted", func() bool { ss := ts.Sessions(); return len(ss) == 2 && ss[0].BytesOut > 0 && ss[0].BytesIn > 0 })
	ss := ts.Sessions()
	if len(ss) != 2 || ss[0].Name == "" || ss[0].PlayerID != ss[0].ConnID || ss[1].Name != "" || ss[1].PlayerID != 0 ||
		ss[0].Transport != "tcp" || ss[0].Encoding != "text" || ss[0].BytesIn == 0 || ss[0].BytesOut == 0 {
		t.Fatalf("Sessions() = %+v", ss)
	}
	// The kernel's round-trip estimate (Linux): read once, then kept for
	// RTTRefresh, so a second call reports the same reading.
	if runtime.GOOS == "linux" {
		if ss[0].RTT <= 0 || ss[0].RTT >= time.Second || ss[0].RTTAt.IsZero() || time.Since(ss[0].RTTAt) > time.Minute {
			t.Fatalf("RTT %v read at %v", ss[0].RTT, ss[0].RTTAt)
		}
		if again := ts.Sessions(); again[0].RTTAt != ss[0].RTTAt || again[0].RTT != ss[0].RTT {
			t.Fatalf("RTT read again within RTTRefresh: %v at %v, then %v at %v", ss[0].RTT, ss[0].RTTAt, again[0].RTT, again[0].RTTAt)
		}
	}
	var players []string
	if err := ts.Call(context.Background(), func(t *server.Tick) {
		for _, p := range t.Players() {
			players = append(players, p.Name())
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(players) != 1 || players[0] != ss[0].Name {
		t.Fatalf("Call saw players %q", players)
	}
	if err := ts.Kick(ss[0].ConnID, "rule_3"); err != nil {
		t.Fatal(err)
	}
	if got := a.expectClosed(); got[len(got)-1] != "BYE rule_3" {
		t.Fatalf("kicked player got %q", got)
	}
	if l := g.waitLeave(t); !errors.Is(l.Reason, server.ErrKicked) {
		t.Fatalf("Leave %+v", l)
	}
	if err := ts.Kick(99999, "x"); !errors.Is(err, server.ErrNoSession) {
		t.Fatalf("Kick of an unknown connection: %v", err)
	}
	ts.shutdown(t)
	if err := ts.Call(context.Background(), func(*server.Tick) {}); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Call after Shutdown: %v", err)
	}
}

func TestConfigHelpReplacesTheGeneratedList(t *testing.T) {
	cfg := testConfig()
	cfg.Help = []string{"game commands:", "  STEP n|s|e|w   take a step"}
	ts := startTCP(t, cfg, newTestGame())
	c := dial(t, ts)
	c.write("@3 HELP\n")
	c.expect("@3 INFO game commands:")
	c.expect(`@3 INFO "  STEP n|s|e|w   take a step"`)
	c.write("PING end\n")
	c.expect("PONG end")
}

func TestPostRunsOnTheNextTickWithoutWaiting(t *testing.T) {
	srv, err := server.New(server.Config{}, &funcGame{update: func(*server.Tick) {}, init: noInit})
	if err != nil {
		t.Fatal(err)
	}
	srv.ManualTicks()
	manual := srv
	ran := 0
	for i := 0; i < 100; i++ { // more than Call allows to wait
		if err := srv.Post(func(t *server.Tick) { ran++ }); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if ran != 0 {
		t.Fatal("a posted function ran before a tick")
	}
	manual.RunTick()
	if ran != 100 {
		t.Fatalf("after a tick %d of 100 posted functions ran", ran)
	}
	srv.Shutdown(context.Background())
	if err := srv.Post(func(t *server.Tick) {}); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Post after Shutdown: %v", err)
	}
}
