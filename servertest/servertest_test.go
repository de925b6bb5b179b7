package servertest_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/servertest"
)

var encodings = []msg.Encoding{msg.Text, msg.JSON, msg.MsgPack}

// Everything a client sent before Tick reaches the game in that tick, in
// order, in every encoding: the sync rule, not luck.
func TestTickSeesEverythingSentBefore(t *testing.T) {
	for _, enc := range encodings {
		t.Run(enc.String(), func(t *testing.T) {
			g := newGame()
			s := servertest.New(t, config(), g)
			a, b := s.Dial(enc), s.Dial(msg.Text)
			a.Login()
			b.Login()
			for i := range 40 {
				a.Send(&Echo{Text: fmt.Sprint(i)})
				b.SendLine("SHOUT hey")
			}
			s.Tick()
			in := g.lastTick().Inputs
			if len(in) != 80 {
				t.Fatalf("the tick saw %d inputs, want 80: %q", len(in), in)
			}
			a.SkipTo("SAID game welcome") // from Join
			// Each player's inputs are in the order sent; which player's
			// come first depends on which connection the server read first.
			var own, shouts []string
			for _, l := range a.Drain() {
				if strings.HasPrefix(l, "SAID "+a.Name()+" ") {
					own = append(own, strings.TrimPrefix(l, "SAID "+a.Name()+" "))
				} else if l == "SAID "+b.Name()+" hey" {
					shouts = append(shouts, l)
				} else {
					t.Errorf("unexpected %q", l)
				}
			}
			if len(own) != 40 || len(shouts) != 40 {
				t.Fatalf("%d answers and %d shouts, want 40 of each", len(own), len(shouts))
			}
			for i, o := range own {
				if o != fmt.Sprint(i) {
					t.Fatalf("answers out of order: %q", own)
				}
			}
			a.ExpectNothing()
			s.Tick()
			if in := g.lastTick().Inputs; len(in) != 0 {
				t.Errorf("an empty tick saw %q", in)
			}
		})
	}
}

// Answers carry the request id in every encoding; ExpectLine reads them as
// text lines whatever the encoding.
func TestRepliesAndLines(t *testing.T) {
	for _, enc := range encodings {
		t.Run(enc.String(), func(t *testing.T) {
			s := servertest.New(t, config(), newGame())
			c := s.Dial(enc)
			w := c.Login()
			if w.Name != c.Name() || w.ID != c.ID() || c.ID() == 0 || c.Encoding() != enc {
				t.Fatalf("Login returned %+v; client says %d %s %v", w, c.ID(), c.Name(), c.Encoding())
			}
			c.ExpectLine("SAID game ")
			c.SendLine("@9 ECHO hello there")
			c.SendRID(&Echo{Text: "again"}, 10)
			c.Send(&Echo{Text: "untagged"})
			s.Tick()
			if got := c.ExpectLine("@9 SAID "); got != "@9 SAID "+c.Name()+" hello there" {
				t.Errorf("ExpectLine returned %q", got)
			}
			env := c.ExpectReply(10, &Said{From: c.Name(), Text: "again"})
			if env.RID != 10 || env.Type.Name != "SAID" {
				t.Errorf("ExpectReply returned %+v", env)
			}
			if env := c.Expect(Said{From: c.Name(), Text: "untagged"}); env.RID != 0 {
				t.Errorf("untagged answer has rid %d", env.RID)
			}
		})
	}
}

func TestNextReceiveDrainSkipTo(t *testing.T) {
	s := servertest.New(t, config(), newGame())
	a, b := s.Dial(msg.JSON), s.Dial(msg.MsgPack)
	a.Login()
	b.Login()
	if env := a.Next(); env.Type.Name != "SAID" {
		t.Fatalf("Next: %+v", env)
	}
	if m := servertest.Receive[Said](b); m.Text != "welcome "+b.Name() {
		t.Fatalf("Receive: %+v", m)
	}
	b.SendLine("SHOUT one")
	b.SendLine("SHOUT two")
	b.SendLine("SHOUT three")
	s.Tick()
	if got := a.SkipTo("SAID " + b.Name() + " two"); got != "SAID "+b.Name()+" two" {
		t.Errorf("SkipTo returned %q", got)
	}
	if got := a.Drain(); !slices.Equal(got, []string{"SAID " + b.Name() + " three"}) {
		t.Errorf("Drain: %q", got)
	}
	if got := a.Drain(); len(got) != 0 {
		t.Errorf("second Drain: %q", got)
	}
}

// Readable failures: each says what was wanted, what came instead and what
// else is waiting.
func TestFailureMessages(t *testing.T) {
	f := newFake(t)
	s := servertest.New(f, config(), newGame())
	c := s.Dial(msg.JSON)
	c.Login()
	mustFail(t, f, func() { c.ExpectNothing() }, "client guest-1 (json)", "ExpectNothing, but these arrived", "SAID game welcome guest-1")
	mustPass(t, f, func() { c.Drain() })
	mustPass(t, f, func() { c.ExpectNothing() })

	c.SendLine("@3 ECHO a")
	c.SendLine("@4 ECHO b")
	s.Tick()
	mustFail(t, f, func() { c.Expect(&Said{From: "x", Text: "y"}) },
		"Expect SAID x y", "got:  @3 SAID guest-1 a", "then: @4 SAID guest-1 b")
	mustFail(t, f, func() { c.ExpectReply(5, &Said{From: "guest-1", Text: "b"}) },
		"ExpectReply @5 SAID guest-1 b", "got:  @4 SAID guest-1 b")
	mustFail(t, f, func() { c.ExpectLine("SAID") }, `ExpectLine "SAID"`, "nothing arrived", "does the game need another Tick?")
	mustFail(t, f, func() { c.Next() }, "Next: nothing arrived")
	mustFail(t, f, func() { c.SkipTo("NOPE") }, `SkipTo "NOPE": no such message`)

	c.SendLine("@6 ECHO c")
	s.Tick()
	mustFail(t, f, func() { servertest.Receive[Note](c) }, "Receive NOTE", "got:  @6 SAID guest-1 c")
	mustFail(t, f, func() { c.Expect(struct{ X int }{}) }, "Expect struct { X int }: msg: struct { X int } is not a registered message")
	mustFail(t, f, func() { c.SendLine("ECHO\nECHO") }, "one line")
	mustFail(t, f, func() { c.SendLine("NOSUCH 1") }, `SendLine "NOSUCH 1"`, "only a text client")
	mustFail(t, f, func() { c.Login() }, "Login: already logged in as guest-1")
	mustFail(t, f, func() { c.Resume() }, "Resume: no seat token")
}

// A text client sends lines byte for byte, malformed ones included, and
// hears the server's answer.
func TestMalformedLines(t *testing.T) {
	s := servertest.New(t, config(), newGame())
	c := s.Dial(msg.Text)
	c.SendLine("@7 ECHO")
	c.ExpectLine("@7 ERR bad_field ECHO text")
	c.SendRaw([]byte("SHOUT half a li"))
	c.SendRaw([]byte("ne\n"))
	c.ExpectLine("ERR not_logged_in")
	// A partial line is ended by the next sync: the server answers it.
	c.SendRaw([]byte("@8 PING unfinished"))
	c.ExpectLine("@8 PONG unfinished")
	c.ExpectNothing()
}

func TestCausesChecked(t *testing.T) {
	f := newFake(t)
	s := servertest.New(f, config(), newGame())
	c := s.Dial(msg.Text)
	c.Login()
	c.SendLine("SNEAK")
	mustFail(t, f, s.Tick, "tick 2 panicked", "the handler of SNEAK sent NOTE", "does not list")

	// Opting out: the handler's NOTE goes out.
	s2 := servertest.New(t, config(), newGame(), servertest.WithoutCauseCheck())
	c2 := s2.Dial(msg.Text)
	c2.Login()
	c2.Drain()
	c2.SendLine("SNEAK")
	s2.Tick()
	c2.Expect(&Note{N: 1})
}

func TestGamePanicFailsTheTick(t *testing.T) {
	f := newFake(t)
	s := servertest.New(f, config(), newGame())
	c := s.Dial(msg.Text)
	c.Login()
	c.SendLine("CRASH")
	mustFail(t, f, s.Tick, "tick 2 panicked: the game crashed on purpose", "servertest_test.newGame")
}

// Leaves happen in the tick after the connection ends, however it ends.
func TestLeaves(t *testing.T) {
	g := newGame()
	s := servertest.New(t, config(), g)
	quit, drop, kick, stay := s.Dial(msg.Text), s.Dial(msg.JSON), s.Dial(msg.MsgPack), s.Dial(msg.Text)
	for _, c := range []*servertest.Client{quit, drop, kick, stay} {
		c.Login()
		c.Drain()
	}
	quit.Close()
	drop.Drop()
	s.Tick()
	want := []string{"guest-1 quit", "guest-2 closed"}
	if got := g.leftSoFar(); !slices.Equal(got, want) {
		t.Fatalf("leaves %q, want %q", got, want)
	}
	kick.SendLine("KICKME")
	s.Tick()
	kick.Expect(&msg.Bye{Reason: "asked"})
	kick.ExpectClosed()
	// The kick's BYE went out in that tick; the Leave is the next tick's.
	if got := g.leftSoFar(); len(got) != 2 {
		t.Fatalf("leaves %q before the next tick", got)
	}
	s.Tick()
	if got := g.leftSoFar(); !slices.Equal(got, append(want, "guest-3 kicked")) {
		t.Fatalf("leaves %q", got)
	}
	stay.ExpectNothing()
}

// A kicked player's Leave is in the very next tick even when the test
// reads nothing in between: Tick waits for the server to finish with a
// closing connection.
func TestKickLeaveInNextTick(t *testing.T) {
	for range 20 {
		g := newGame()
		s := servertest.New(t, config(), g)
		c := s.Dial(msg.Text)
		c.Login()
		c.SendLine("KICKME")
		s.Tick()
		s.Tick()
		if got := g.leftSoFar(); !slices.Equal(got, []string{"guest-1 kicked"}) {
			t.Fatalf("leaves after the kick and one more tick: %q", got)
		}
	}
}

func TestClosedConnectionFailures(t *testing.T) {
	f := newFake(t)
	s := servertest.New(f, config(), newGame())
	c := s.Dial(msg.Text)
	c.Login()
	c.Drain()
	c.SendLine("KICKME")
	s.Tick()
	mustFail(t, f, func() { c.ExpectClosed() }, "ExpectClosed: closed, but these arrived first", "BYE asked")
	c.Drain()
	mustFail(t, f, func() { c.Expect(&Said{}) }, "nothing arrived (the server sent BYE asked)")
	mustFail(t, f, func() { c.SendLine("ECHO x") }, "SendLine: the connection is closed (the server sent BYE asked)")
	d := s.Dial(msg.Text)
	d.Drop()
	mustFail(t, f, func() { d.Send(&Echo{}) }, "Send: the connection was closed by Drop or Close; Resume first")
	mustFail(t, f, func() { d.ExpectClosed() }, "the test closed the connection itself")
	e := s.Dial(msg.Text)
	old := servertest.SetWaitLimit(100 * time.Millisecond)
	mustFail(t, f, func() { e.ExpectClosed() }, "ExpectClosed: the connection is still open after 100ms")
	servertest.SetWaitLimit(old)
}

func TestSeatsDropAndResume(t *testing.T) {
	for _, enc := range encodings {
		t.Run(enc.String(), func(t *testing.T) {
			g := newGame()
			cfg := config()
			cfg.SeatHold = 5 * time.Second
			s := servertest.New(t, cfg, g)
			a, b := s.Dial(enc), s.Dial(msg.Text)
			a.Login()
			b.Login()
			id := a.ID()
			a.Drop()
			s.Tick()
			if !slices.Equal(g.seats, []string{"guest-1 disconnected closed"}) || len(g.leftSoFar()) != 0 {
				t.Fatalf("after the drop: seats %q, leaves %q", g.seats, g.leftSoFar())
			}
			b.SendLine("SHOUT while you were away") // dropped for the held player
			s.Tick()
			w := a.Resume()
			if w.ID != id || a.ID() != id {
				t.Fatalf("Resume: %+v, want id %d", w, id)
			}
			a.Expect(&Said{From: "game", Text: "welcome back"})
			a.ExpectNothing()
			if g.seats[len(g.seats)-1] != "guest-1 reconnected" {
				t.Fatalf("seats %q", g.seats)
			}
			// The new token works too; the hold then runs out on the clock.
			a.Drop()
			s.Tick()
			s.Advance(cfg.SeatHold)
			s.Tick()
			if got := g.leftSoFar(); !slices.Equal(got, []string{"guest-1 seat_expired"}) {
				t.Fatalf("leaves %q", got)
			}
		})
	}
}

func TestResumeRefusals(t *testing.T) {
	f := newFake(t)
	cfg := config()
	cfg.SeatHold = time.Second
	s := servertest.New(f, cfg, newGame())
	a := s.Dial(msg.Text)
	a.Login()
	mustFail(t, f, func() { a.Resume() }, "Resume: the connection is still open: Drop it first")
	a.Drop()
	s.Tick()
	s.Advance(time.Second)
	s.Tick() // the seat expires
	mustFail(t, f, func() { a.Resume() }, "Resume: got ERR resume bad_token", "want WELCOME")
}

func TestClock(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	g := newGame()
	cfg := config()
	cfg.TickRate = 25
	s := servertest.New(t, cfg, g, servertest.StartAt(start))
	if !s.Now().Equal(start) {
		t.Fatalf("Now %v, want %v", s.Now(), start)
	}
	s.Ticks(3)
	s.Advance(time.Second)
	s.Tick()
	var got []string
	for _, tk := range g.ticks {
		got = append(got, fmt.Sprintf("%d %s", tk.N, tk.Now.Sub(start)))
	}
	want := []string{"1 0s", "2 40ms", "3 80ms", "4 1.12s"}
	if !slices.Equal(got, want) {
		t.Errorf("ticks %q, want %q", got, want)
	}
	if d := s.Now().Sub(start); d != 1160*time.Millisecond {
		t.Errorf("Now is start+%v after the ticks", d)
	}
	f := newFake(t)
	s2 := servertest.New(f, config(), newGame())
	mustFail(t, f, func() { s2.Advance(-time.Second) }, "the clock does not go back")
	if st := s.Server().Stats(); st.Ticks != 4 {
		t.Errorf("Stats().Ticks = %d", st.Ticks)
	}
}

func TestLoginVariants(t *testing.T) {
	t.Run("banner", func(t *testing.T) {
		cfg := config()
		cfg.Banner = "hello from the test"
		s := servertest.New(t, cfg, newGame())
		c := s.Dial(msg.JSON)
		c.Login()
		c.ExpectLine("SAID game ")
		d := s.Dial(msg.Text)
		d.ExpectLine(`INFO hello from the test`)
	})
	t.Run("autologin", func(t *testing.T) {
		cfg := config()
		cfg.AutoLogin = true
		cfg.SeatHold = 0 // the default: AutoLogin sends no SEAT anyway
		s := servertest.New(t, cfg, newGame())
		c := s.Dial(msg.MsgPack)
		if w := c.Login(); w.Name != "guest-1" {
			t.Fatalf("Login: %+v", w)
		}
		c.ExpectLine("SAID game ")
	})
	t.Run("refused", func(t *testing.T) {
		f := newFake(t)
		g := newGame()
		g.refuse = true
		s := servertest.New(f, config(), g)
		c := s.Dial(msg.Text)
		mustFail(t, f, func() { c.Login() }, "Login: got ERR join_refused no room, want WELCOME", "then: BYE join_refused")
	})
	t.Run("bad config", func(t *testing.T) {
		f := newFake(t)
		cfg := config()
		cfg.TickRate = 1000
		mustFail(t, f, func() { servertest.New(f, cfg, newGame()) }, "servertest: server: TickRate 1000 out of range")
	})
}

// A client switches encodings mid-test by sending USE, as any client may.
func TestUseSwitch(t *testing.T) {
	s := servertest.New(t, config(), newGame())
	c := s.Dial(msg.Text)
	c.Login()
	c.Drain()
	c.Send(&msg.Use{Encoding: "msgpack"})
	c.ExpectLine("USING msgpack")
	c.SendLine("@2 ECHO binary now")
	s.Tick()
	c.ExpectReply(2, &Said{From: c.Name(), Text: "binary now"})
}

// More than MaxInbound messages before a tick stall the server's reader;
// the test fails saying so instead of hanging.
func TestInboxFullFails(t *testing.T) {
	defer servertest.SetWaitLimit(servertest.SetWaitLimit(200 * time.Millisecond))
	f := newFake(t)
	cfg := config()
	cfg.MaxInbound = 2
	s := servertest.New(f, cfg, newGame())
	c := s.Dial(msg.Text)
	c.Login()
	mustFail(t, f, func() {
		for range 10 {
			c.SendLine("ECHO x")
		}
	}, "the server read nothing for 200ms", "MaxInbound = 2")
}

// The cleanup finds a goroutine the game left running, and only this
// server's: another server's goroutines are not blamed.
func TestLeakCheck(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	other := newGame()
	other.release = make(chan struct{})
	defer close(other.release)
	so := servertest.New(t, config(), other, servertest.WithoutCauseCheck())
	so.Dial(msg.Text).Login() // a goroutine of another server, still running

	var cleanups []func()
	f := &cleanupFake{fakeTB: newFake(t), cleanups: &cleanups}
	g := newGame()
	g.release = release
	s := servertest.New(f, config(), g)
	s.Dial(msg.Text).Login()
	defer servertest.SetWaitLimit(servertest.SetWaitLimit(300 * time.Millisecond))
	got := f.catch(func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	})
	if !strings.Contains(got, "goroutines still running") || !strings.Contains(got, "servertest_test.(*game).Join") {
		t.Fatalf("the cleanup reported %q", got)
	}
	if strings.Count(got, "servertest_test.(*game).Join") != 1 {
		t.Errorf("the other server's goroutine was blamed too:\n%s", got)
	}
}

// cleanupFake keeps cleanups for the test to run.
type cleanupFake struct {
	*fakeTB
	cleanups *[]func()
}

func (f *cleanupFake) Cleanup(fn func()) { *f.cleanups = append(*f.cleanups, fn) }

// After a clean test the cleanup reports nothing, with connections in
// every state.
func TestCleanShutdown(t *testing.T) {
	var cleanups []func()
	f := &cleanupFake{fakeTB: newFake(t), cleanups: &cleanups}
	cfg := config()
	cfg.SeatHold = time.Minute
	s := servertest.New(f, cfg, newGame())
	a, b, c, d := s.Dial(msg.Text), s.Dial(msg.JSON), s.Dial(msg.MsgPack), s.Dial(msg.Text)
	a.Login()
	b.Login()
	c.Login()
	b.Drop()
	c.Close()
	s.Tick()
	_ = d // never logged in
	got := f.catch(func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	})
	if got != "" {
		t.Fatalf("the cleanup reported %q", got)
	}
	mustFail(t, f.fakeTB, s.Tick, "Tick after the server was shut down")
	mustFail(t, f.fakeTB, func() { s.Dial(msg.Text) }, "Dial after the server was shut down")
}

func TestServerAccess(t *testing.T) {
	s := servertest.New(t, server.Config{Registry: testRegistry()}, newGame())
	if !s.Server().Config().CheckCauses {
		t.Error("CheckCauses is off")
	}
	if s.Server().Config().SeatHold != server.DefaultSeatHold {
		t.Error("the default seat hold is not kept")
	}
	c := s.Dial(msg.Text)
	c.Login() // reads the SEAT the default seat hold sends
	c.ExpectLine("SAID game")
	c.ExpectNothing()
}
