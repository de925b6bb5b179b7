package servertest_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
)

// The test game's messages.
type (
	// Echo is answered with Said, tagged with the request's id.
	Echo struct {
		Text string `tw:"text,max=200,rest"`
	}
	// Shout sends Said to every other player.
	Shout struct {
		Text string `tw:"text,max=200,rest"`
	}
	// KickMe asks to be kicked.
	KickMe struct{}
	// Sneak makes its handler send a message its Causes do not list.
	Sneak struct{}
	// Crash makes the game panic.
	Crash struct{}
	// Said is the game's answer.
	Said struct {
		From string `tw:"from,max=64"`
		Text string `tw:"text,max=200,rest"`
	}
	// Note is what Sneak sends without declaring it.
	Note struct {
		N int32 `tw:"n"`
	}
)

func testRegistry() *msg.Registry {
	reg := msg.NewRegistry()
	id := uint16(msg.FirstGameID)
	next := func() uint16 { id++; return id - 1 }
	msg.Define[Echo](reg, msg.Info{ID: next(), Name: "ECHO", Dir: msg.ToServer, Causes: []string{"SAID"}})
	msg.Define[Shout](reg, msg.Info{ID: next(), Name: "SHOUT", Dir: msg.ToServer, Causes: []string{"SAID"}})
	// BYE: CheckCauses counts the BYE of a Kick made in a handler.
	msg.Define[KickMe](reg, msg.Info{ID: next(), Name: "KICKME", Dir: msg.ToServer, Causes: []string{"BYE"}})
	msg.Define[Sneak](reg, msg.Info{ID: next(), Name: "SNEAK", Dir: msg.ToServer, Causes: []string{"SAID"}})
	msg.Define[Crash](reg, msg.Info{ID: next(), Name: "CRASH", Dir: msg.ToServer})
	msg.Define[Said](reg, msg.Info{ID: next(), Name: "SAID", Dir: msg.ToClient})
	msg.Define[Note](reg, msg.Info{ID: next(), Name: "NOTE", Dir: msg.ToClient})
	return reg
}

// tickLog is what the game saw in one tick.
type tickLog struct {
	N      uint64
	Now    time.Time
	Inputs []string // "name TYPE"
}

// game answers the test messages and records what the server told it.
// Everything but its leaves at shutdown runs on the test's goroutine.
type game struct {
	h       server.Handlers
	ticks   []tickLog
	joins   []string
	leaves  []string // "name reason"
	seats   []string // "name disconnected reason", "name reconnected"
	refuse  bool     // refuse every Join
	started chan struct{}
	release chan struct{} // when set, Join starts a goroutine that waits for it
	mu      sync.Mutex    // guards leaves (shutdown's Leave runs on another goroutine)
}

func newGame() *game {
	g := &game{}
	server.HandleInput(&g.h, func(t *server.Tick, in server.Input, m *Echo) error {
		in.Player.Reply(in, &Said{From: in.Player.Name(), Text: m.Text})
		return nil
	})
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Shout) error {
		t.Broadcast(&Said{From: p.Name(), Text: m.Text}, p)
		return nil
	})
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *KickMe) error {
		p.Kick("asked")
		return nil
	})
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Sneak) error {
		p.Send(&Note{N: 1})
		return nil
	})
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Crash) error {
		panic("the game crashed on purpose")
	})
	return g
}

func (g *game) Join(t *server.Tick, p *server.Player) error {
	if g.refuse {
		return errors.New("no room")
	}
	if g.release != nil {
		go func() { <-g.release }()
	}
	g.joins = append(g.joins, p.Name())
	p.Send(&Said{From: "game", Text: "welcome " + p.Name()})
	return nil
}

func (g *game) Update(t *server.Tick) {
	l := tickLog{N: t.N, Now: t.Now}
	for _, in := range t.Inputs {
		l.Inputs = append(l.Inputs, in.Player.Name()+" "+in.Type.Name)
	}
	g.ticks = append(g.ticks, l)
	g.h.Dispatch(t)
}

func (g *game) Leave(t *server.Tick, p *server.Player, reason error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leaves = append(g.leaves, p.Name()+" "+reason.Error())
}

func (g *game) Disconnected(t *server.Tick, p *server.Player, reason error) {
	g.seats = append(g.seats, p.Name()+" disconnected "+reason.Error())
}

func (g *game) Reconnected(t *server.Tick, p *server.Player) {
	g.seats = append(g.seats, p.Name()+" reconnected")
	p.Send(&Said{From: "game", Text: "welcome back"})
}

func (g *game) lastTick() tickLog { return g.ticks[len(g.ticks)-1] }

func (g *game) leftSoFar() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.leaves...)
}

// config is the servertest configuration of most tests: seats off, so a
// drop is a Leave.
func config() server.Config {
	return server.Config{Registry: testRegistry(), SeatHold: -1}
}

// ---- a testing.TB that records failures ----

// fakeTB passes everything to the real test except failures, which it
// records while catch runs (and passes on otherwise, so a failure in a
// cleanup is not lost).
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	catching bool
	failures []string
}

func newFake(t *testing.T) *fakeTB { return &fakeTB{TB: t} }

func (f *fakeTB) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.catching {
		f.TB.Errorf("unexpected failure: %s", s)
		return
	}
	f.failures = append(f.failures, s)
}

func (f *fakeTB) Errorf(format string, args ...any) { f.record(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Error(args ...any)                 { f.record(fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.record(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (f *fakeTB) Fatal(args ...any) { f.record(fmt.Sprint(args...)); runtime.Goexit() }
func (f *fakeTB) FailNow()          { f.record("FailNow"); runtime.Goexit() }
func (f *fakeTB) Fail()             { f.record("Fail") }

// catch runs fn as a test body would run (so a Fatalf ends it) and returns
// the failures it reported, one per line.
func (f *fakeTB) catch(fn func()) string {
	f.mu.Lock()
	f.catching, f.failures = true, nil
	f.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	f.catching = false
	return strings.Join(f.failures, "\n")
}

// mustFail checks that fn fails with a message containing every want.
func mustFail(t *testing.T, f *fakeTB, fn func(), want ...string) string {
	t.Helper()
	got := f.catch(fn)
	if got == "" {
		t.Fatalf("did not fail; want a failure mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("failure message lacks %q:\n%s", w, got)
		}
	}
	return got
}

// mustPass checks that fn does not fail.
func mustPass(t *testing.T, f *fakeTB, fn func()) {
	t.Helper()
	if got := f.catch(fn); got != "" {
		t.Fatalf("unexpected failure:\n%s", got)
	}
}
