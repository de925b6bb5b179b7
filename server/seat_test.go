package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// seatGame is the test game with the SeatHolder hooks recorded.
type seatGame struct {
	*testGame
	disconnected chan gameLeave
	reconnected  chan string
}

func newSeatGame() *seatGame {
	return &seatGame{testGame: newTestGame(), disconnected: make(chan gameLeave, 100), reconnected: make(chan string, 100)}
}

func (g *seatGame) Disconnected(t *server.Tick, p *server.Player, reason error) {
	if p.Connected() {
		panic("Disconnected for a connected player")
	}
	g.disconnected <- gameLeave{p.Name(), reason}
}

func (g *seatGame) Reconnected(t *server.Tick, p *server.Player) {
	if !p.Connected() {
		panic("Reconnected for a held player")
	}
	p.Send(&Said{From: "game", Text: "welcome back " + p.Name()})
	g.reconnected <- p.Name()
}

func waitChan[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no %s", what)
		var zero T
		return zero
	}
}

func noneOn[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %+v", what, v)
	default:
	}
}

func seatConfig(hold time.Duration) server.Config {
	cfg := testConfig()
	cfg.SeatHold = hold
	return cfg
}

type seat struct {
	id, name, token string
}

// seatLogin logs c in as a guest and returns its id, name and seat token.
func seatLogin(t testing.TB, c *client) seat {
	t.Helper()
	c.write("AUTH guest\n")
	w := strings.Fields(c.skipTo("WELCOME "))
	s := strings.Fields(c.expect("SEAT "))
	if len(s) != 3 || len(s[1]) != 43 {
		t.Fatalf("SEAT line %q: want a 43-character token and the hold", s)
	}
	c.expect("LIMITS ")
	return seat{w[1], w[2], s[1]}
}

// resume sends RESUME on c and returns the new seat.
func resume(t testing.TB, c *client, old seat) seat {
	t.Helper()
	c.write("RESUME " + old.name + " " + old.token + "\n")
	w := strings.Fields(c.expect("WELCOME "))
	s := strings.Fields(c.expect("SEAT "))
	c.expect("LIMITS ")
	if w[1] != old.id || w[2] != old.name {
		t.Fatalf("resumed as %q, want id %s name %s", w, old.id, old.name)
	}
	if s[1] == old.token {
		t.Fatal("the seat token was not replaced on resume")
	}
	return seat{w[1], w[2], s[1]}
}

func TestSeatHeldAndResumed(t *testing.T) {
	g := newSeatGame()
	ts := startTCP(t, seatConfig(time.Minute), g)
	a := dial(t, ts)
	st := seatLogin(t, a)
	g.waitJoin(t)
	b := dial(t, ts)
	seatLogin(t, b)
	g.waitJoin(t)

	a.nc.Close() // the network drops
	if d := waitChan(t, g.disconnected, "Disconnected"); d.Player != st.name || !errors.Is(d.Reason, server.ErrClosed) {
		t.Fatalf("Disconnected %+v", d)
	}
	noneOn(t, g.leaves, "Leave")
	// What the game sends a held player is dropped, not queued for later.
	b.write("SHOUT while you were away\n")
	b.write("PING sync\n")
	b.expect("PONG sync")
	waitFor(t, "the shout handled", func() bool { return len(g.inputs) >= 1 })

	a2 := dial(t, ts)
	st2 := resume(t, a2, st)
	if got := waitChan(t, g.reconnected, "Reconnected"); got != st.name {
		t.Fatalf("Reconnected %q", got)
	}
	a2.expect("SAID game welcome back " + st.name) // the hook's output, no backlog before it
	a2.write("ECHO back\n")
	a2.expect("SAID " + st.name + " back")
	noneOn(t, g.joins, "Join")
	noneOn(t, g.leaves, "Leave")
	if got := ts.Stats().Players; got != 2 {
		t.Fatalf("%d players, want 2", got)
	}

	// The old token is spent; a wrong token is refused too.
	x := dial(t, ts)
	x.write("RESUME " + st.name + " " + st.token + "\n")
	x.expect("ERR resume bad_token")
	x.write("RESUME " + st.name + " " + strings.Repeat("A", 43) + "\n")
	x.expect("ERR resume bad_token")
	// The right token with another name is refused.
	x.write("RESUME someone-else " + st2.token + "\n")
	x.expect("ERR resume bad_token")
	// And the right one still works after those attempts.
	a2.nc.Close()
	waitChan(t, g.disconnected, "second Disconnected")
	resume(t, dial(t, ts), st2)
}

func TestResumeTakesOverAnOpenConnection(t *testing.T) {
	g := newSeatGame()
	ts := startTCP(t, seatConfig(time.Minute), g)
	a := dial(t, ts)
	st := seatLogin(t, a)
	g.waitJoin(t)
	// The old connection has not noticed it is dead (a phone that changed
	// networks): the resume closes it.
	a2 := dial(t, ts)
	resume(t, a2, st)
	if got := a.expectClosed(); len(got) == 0 || got[len(got)-1] != "BYE resumed" {
		t.Fatalf("old connection got %q, want BYE resumed last", got)
	}
	waitChan(t, g.reconnected, "Reconnected")
	noneOn(t, g.disconnected, "Disconnected")
	a2.write("ECHO still here\n")
	a2.skipTo("SAID " + st.name + " still here")
	noneOn(t, g.leaves, "Leave")
	waitFor(t, "the old connection forgotten", func() bool { return ts.Stats().Conns == 1 })
}

func TestSeatReleased(t *testing.T) {
	t.Run("hold expires", func(t *testing.T) {
		g := newSeatGame()
		ts := startTCP(t, seatConfig(200*time.Millisecond), g)
		a := dial(t, ts)
		st := seatLogin(t, a)
		g.waitJoin(t)
		a.nc.Close()
		waitChan(t, g.disconnected, "Disconnected")
		if l := g.waitLeave(t); !errors.Is(l.Reason, server.ErrSeatExpired) {
			t.Fatalf("Leave %+v, want seat_expired", l)
		}
		x := dial(t, ts)
		x.write("RESUME " + st.name + " " + st.token + "\n")
		x.expect("ERR resume bad_token")
	})
	for _, c := range []struct {
		name, send string
		reason     error
	}{
		{"quit", "QUIT\n", server.ErrQuit},
		{"kick", "KICKME\n", server.ErrKicked},
		{"too long", strings.Repeat("x", 5000) + "\n", server.ErrTooLong},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newSeatGame()
			ts := startTCP(t, seatConfig(time.Minute), g)
			a := dial(t, ts)
			st := seatLogin(t, a)
			g.waitJoin(t)
			a.write(c.send)
			a.expectClosed()
			if l := g.waitLeave(t); !errors.Is(l.Reason, c.reason) {
				t.Fatalf("Leave %+v, want %v", l, c.reason)
			}
			noneOn(t, g.disconnected, "Disconnected")
			x := dial(t, ts)
			x.write("RESUME " + st.name + " " + st.token + "\n")
			x.expect("ERR resume bad_token")
		})
	}
	t.Run("ban while held", func(t *testing.T) {
		g := newSeatGame()
		cfg := seatConfig(time.Minute)
		bg := &banGuard{}
		cfg.Guard = bg
		ts := startTCP(t, cfg, g)
		a := dialFrom(t, ts, "127.0.0.9")
		seatLogin(t, a)
		g.waitJoin(t)
		a.nc.Close()
		waitChan(t, g.disconnected, "Disconnected")
		bg.ban("127.0.0.9")
		if l := g.waitLeave(t); !errors.Is(l.Reason, server.ErrBanned) {
			t.Fatalf("Leave %+v, want banned", l)
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		g := newSeatGame()
		ts := startTCP(t, seatConfig(time.Minute), g)
		a := dial(t, ts)
		seatLogin(t, a)
		g.waitJoin(t)
		a.nc.Close()
		waitChan(t, g.disconnected, "Disconnected")
		ts.shutdown(t)
		if l := g.waitLeave(t); !errors.Is(l.Reason, server.ErrShutdown) {
			t.Fatalf("Leave %+v, want shutdown", l)
		}
	})
}

func TestWrongResumeTokenIsAStrike(t *testing.T) {
	cfg := seatConfig(time.Minute)
	g := &fakeGuard{}
	cfg.Guard = g
	ts := startTCP(t, cfg, newSeatGame())
	x := dial(t, ts)
	// A flood of guesses: each within the rate is a strike, the rest are
	// rate limited (RESUME: 1/s, burst 5).
	x.write(strings.Repeat("RESUME guest-1 "+strings.Repeat("B", 43)+"\n", 20) + "PING end\n")
	x.skipTo("PONG end")
	waitFor(t, "five strikes", func() bool { return len(g.list()) >= 5 })
	for _, s := range g.list() {
		if s != "resume_failed" && s != "rate_limited" {
			t.Fatalf("strike %q", s)
		}
	}
	if n := ts.Stats().RateLimited; n != 15 {
		t.Fatalf("%d RESUMEs rate limited, want 15", n)
	}
}

func TestHeldSeatsCountPerAddress(t *testing.T) {
	cfg := addrConfig()
	cfg.SeatHold = time.Minute
	cfg.MaxConnsPerAddr = 2
	cfg.Banner = "hi"
	g := newSeatGame()
	ts := startTCP(t, cfg, g)
	a := dialFrom(t, ts, "127.0.0.10")
	a.expect("INFO hi")
	st := seatLogin(t, a)
	g.waitJoin(t)
	a.nc.Close()
	waitChan(t, g.disconnected, "Disconnected")
	b := dialFrom(t, ts, "127.0.0.10")
	b.expect("INFO hi")
	// One held seat and one connection: the address is full, so a
	// disconnect/reconnect loop cannot multiply seats.
	dialFrom(t, ts, "127.0.0.10").expectClosed()
	// Resuming turns the held seat back into a connection.
	b.write("RESUME " + st.name + " " + st.token + "\n")
	b.expect("WELCOME ")
	dialFrom(t, ts, "127.0.0.10").expect("INFO hi")
}

func TestResumeAcrossEncodingAndTransport(t *testing.T) {
	g := newSeatGame()
	cfg := seatConfig(time.Minute)
	srv, err := server.New(cfg, g)
	if err != nil {
		t.Fatal(err)
	}
	// One server behind both a TCP listener and a WebSocket handler.
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	hs := httptest.NewServer(transport.WebSocketHandler(transport.WebSocketConfig{Logger: quietLogger()}, srv.ServeConn))
	defer hs.Close()

	a := newClient(t, mustDial(t, ln.Addr().String()), srv.Registry())
	st := seatLogin(t, a)
	g.waitJoin(t)
	a.nc.Close()
	waitChan(t, g.disconnected, "Disconnected")

	// Back over a WebSocket speaking JSON.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/", &websocket.DialOptions{Subprotocols: []string{"tickwire.json"}})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.CloseNow()
	req := `{"type":"RESUME","user":"` + st.name + `","token":"` + st.token + `"}` + "\n"
	if err := wc.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 4 {
		_, b, err := wc.Read(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}
	if want := `{"type":"WELCOME","id":` + st.id + `,"name":"` + st.name + `"}`; got[0] != want {
		t.Fatalf("got %q, want %s first", got, want)
	}
	if !strings.HasPrefix(got[1], `{"type":"SEAT","token":"`) || got[2] != `{"type":"LIMITS","tick_rate":50,"max_message":4096}` || !strings.HasPrefix(got[3], `{"type":"SAID","from":"game"`) {
		t.Fatalf("got %q", got)
	}
	waitChan(t, g.reconnected, "Reconnected")
}

func mustDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

func TestResumeRetriedWithTheTokenItUsed(t *testing.T) {
	g := newSeatGame()
	ts := startTCP(t, seatConfig(time.Minute), g)
	a := dial(t, ts)
	st := seatLogin(t, a)
	g.waitJoin(t)
	a.nc.Close()
	waitChan(t, g.disconnected, "Disconnected")

	// The resume is accepted, but the connection dies before the client
	// reads its new SEAT: the client still has only the first token.
	b := dial(t, ts)
	lost := resume(t, b, st)
	waitChan(t, g.reconnected, "Reconnected")
	// While the player is connected, the used token cannot take it over.
	x := dial(t, ts)
	x.write("RESUME " + st.name + " " + st.token + "\n")
	x.expect("ERR resume bad_token")
	b.nc.Close()
	waitChan(t, g.disconnected, "second Disconnected")

	c := dial(t, ts)
	st3 := resume(t, c, st)
	waitChan(t, g.reconnected, "second Reconnected")
	// The SEAT that never arrived is spent with the retry; the new one
	// works.
	c.nc.Close()
	waitChan(t, g.disconnected, "third Disconnected")
	y := dial(t, ts)
	y.write("RESUME " + st.name + " " + lost.token + "\n")
	y.expect("ERR resume bad_token")
	resume(t, dial(t, ts), st3)
	noneOn(t, g.leaves, "Leave")
}

func TestKickOfASlowConsumerReleasesTheSeat(t *testing.T) {
	g := newSeatGame()
	cfg := seatConfig(time.Minute)
	cfg.MaxOutbound = 64
	ts := startTCP(t, cfg, g)
	a := dial(t, ts)
	st := seatLogin(t, a)
	g.waitJoin(t)
	a.nc.(*net.TCPConn).SetReadBuffer(4096)
	// The client stops reading while the game floods it: the operator's
	// BYE can never be written, and the connection ends as a slow
	// consumer. It must end as a kick all the same.
	a.write("SPAM 20\n")
	waitFor(t, "the flood to back up", func() bool { return len(ts.Sessions()) == 1 })
	if err := ts.Kick(ts.Sessions()[0].ConnID, "rule_3"); err != nil {
		t.Fatal(err)
	}
	if l := g.waitLeave(t); !errors.Is(l.Reason, server.ErrKicked) {
		t.Fatalf("Leave %+v, want kicked", l)
	}
	noneOn(t, g.disconnected, "Disconnected")
	x := dial(t, ts)
	x.write("RESUME " + st.name + " " + st.token + "\n")
	x.expect("ERR resume bad_token")
}

func TestKickPlayerReleasesAHeldSeat(t *testing.T) {
	g := newSeatGame()
	ts := startTCP(t, seatConfig(time.Minute), g)
	a := dial(t, ts)
	st := seatLogin(t, a)
	g.waitJoin(t)
	a.nc.Close()
	waitChan(t, g.disconnected, "Disconnected")
	n, err := ts.KickPlayer(context.Background(), st.name, "account_disabled")
	if err != nil || n != 1 {
		t.Fatalf("KickPlayer: %d, %v", n, err)
	}
	if l := g.waitLeave(t); !errors.Is(l.Reason, server.ErrKicked) {
		t.Fatalf("Leave %+v, want kicked", l)
	}
	x := dial(t, ts)
	x.write("RESUME " + st.name + " " + st.token + "\n")
	x.expect("ERR resume bad_token")
	if got := ts.Stats().Held; got != 0 {
		t.Fatalf("%d seats held, want 0", got)
	}
}

// TestResumeDuringRestoreIsRetried: a RESUME that finds no seat asks
// Config.Locate; if the player's zone is restored here while that lookup
// runs (a cluster node claiming it), the arrival appears after the RESUME
// looked. The client is told to retry (ERR resume unavailable, no strike),
// and its next RESUME claims the arrival. A token no arrival expects is
// still refused and struck.
func TestResumeDuringRestoreIsRetried(t *testing.T) {
	cfg := seatConfig(time.Minute)
	g := &fakeGuard{}
	cfg.Guard = g
	token := strings.Repeat("C", 43)
	var ts *testServer
	var once sync.Once
	cfg.Locate = func(user string) (server.Location, bool) {
		once.Do(func() {
			if _, err := ts.Expect(server.Arrival{Ident: server.Identity{Name: user, Guest: true}, Keys: []server.SeatKey{server.KeyOf(token)}}); err != nil {
				t.Error(err)
			}
		})
		return server.Location{}, false // "here, and no seat": the zone is ours now
	}
	ts = startTCP(t, cfg, newSeatGame())
	x := dial(t, ts)
	x.write("RESUME guest-9 " + token + "\n")
	if l := x.expect("ERR "); !strings.HasPrefix(l, "ERR resume unavailable") {
		t.Fatalf("got %q, want ERR resume unavailable", l)
	}
	x.write("RESUME guest-9 " + token + "\n")
	if w := strings.Fields(x.skipTo("WELCOME ")); len(w) != 3 || w[2] != "guest-9" {
		t.Fatalf("WELCOME %v", w)
	}
	if s := g.list(); len(s) != 0 {
		t.Fatalf("strikes %q for a resume that raced a restore", s)
	}
	y := dial(t, ts)
	y.write("RESUME guest-10 " + strings.Repeat("D", 43) + "\n")
	if l := y.expect("ERR "); !strings.HasPrefix(l, "ERR resume bad_token") {
		t.Fatalf("got %q for a token nothing expects", l)
	}
	waitFor(t, "the strike", func() bool { return len(g.list()) == 1 })
}

// arriverGame takes arrivals as joins, or answers ErrArrivalGone once
// gone is set (as a cluster game does for a zone it let go).
type arriverGame struct {
	*testGame
	gone atomic.Bool
}

func (g *arriverGame) Arrive(t *server.Tick, p *server.Player, a server.Arrival) error {
	if g.gone.Load() {
		return fmt.Errorf("zone %s left: %w", a.Tag, server.ErrArrivalGone)
	}
	return g.testGame.Join(t, p)
}

func (g *arriverGame) ArrivalExpired(*server.Tick, server.Arrival) {}

// TestClaimedArrivalStaysListedUntilArrive: between a RESUME claiming an
// arrival and the tick giving the player to the game, the arrival is still
// in Arrivals, so a checkpoint written then (a cluster handing the zone
// over) keeps the player. If the game then answers ErrArrivalGone, the
// client is told to retry, not refused, and nothing is struck. Without
// the listing, a CI run of the 3-process test lost a player that claimed
// its arrival in the tick its zone was handed over.
func TestClaimedArrivalStaysListedUntilArrive(t *testing.T) {
	cfg := seatConfig(time.Minute)
	g := &fakeGuard{}
	cfg.Guard = g
	game := &arriverGame{testGame: newTestGame()}
	ts := startTCP(t, cfg, game)
	listed := func(id string) bool {
		return slices.ContainsFunc(ts.Arrivals(), func(a server.Arrival) bool { return a.ID == id })
	}
	claim := func(id string) *client {
		ticket, err := ts.Expect(server.Arrival{ID: id, Ident: server.Identity{Name: "traveller-" + id, Guest: true}, Tag: "z"})
		if err != nil {
			t.Fatal(err)
		}
		x := dial(t, ts)
		x.write("RESUME traveller-" + id + " " + ticket + "\n")
		// The reader claims the arrival, then answers the second RESUME
		// itself: once that answer is here, the claim is done.
		x.write("RESUME traveller-" + id + " " + ticket + "\n")
		x.expect("ERR already_logged_in")
		return x
	}

	// Arrive says the place left: retry, no strike, no seat.
	release := make(chan struct{})
	if err := ts.Post(func(*server.Tick) { <-release }); err != nil {
		t.Fatal(err)
	}
	x := claim("1")
	if !listed("1") {
		close(release)
		t.Fatal("a claimed arrival left Arrivals before the game was given its player")
	}
	if _, err := ts.Expect(server.Arrival{ID: "1", Ident: server.Identity{Name: "traveller-1", Guest: true}, Tag: "z"}); err == nil {
		t.Error("Expect of an arrival being claimed made a second one")
	}
	ts.Unexpect("1") // the game lets the zone go, as a cluster's Release does
	game.gone.Store(true)
	if listed("1") {
		t.Error("Unexpect left a claimed arrival in Arrivals")
	}
	close(release)
	expectRetry(t, x, g)
	if st := ts.Stats(); st.Players != 0 || st.Held != 0 {
		t.Fatalf("%d players, %d seats held after ErrArrivalGone", st.Players, st.Held)
	}

	// Arrive takes the player: from then on the game lists it, not
	// Arrivals.
	game.gone.Store(false)
	y := claim("2")
	y.skipTo("WELCOME ")
	if listed("2") {
		t.Fatal("an arrival the game took is still in Arrivals")
	}
}

// TestResumeOfASeatMovedMeanwhile: a RESUME claims a held seat, and before
// the tick resumes it the game moves the held player to another server (a
// cluster handing its zone over). The client is told to retry (it will be
// sent where the seat went), not refused, and nothing is struck.
func TestResumeOfASeatMovedMeanwhile(t *testing.T) {
	cfg := seatConfig(time.Minute)
	g := &fakeGuard{}
	cfg.Guard = g
	game := newSeatGame()
	ts := startTCP(t, cfg, game)
	a := dial(t, ts)
	st := seatLogin(t, a)
	game.waitJoin(t)
	a.nc.Close()
	waitChan(t, game.disconnected, "Disconnected")
	// Resume once and drop again, so that the RESUME below uses the
	// previous token (as a client that never got its last SEAT does).
	b := dial(t, ts)
	resume(t, b, st)
	waitChan(t, game.reconnected, "Reconnected")
	b.nc.Close()
	waitChan(t, game.disconnected, "Disconnected")

	release := make(chan struct{})
	if err := ts.Post(func(*server.Tick) { <-release }); err != nil {
		t.Fatal(err)
	}
	// Queued behind the wait, so it runs before the tick takes the
	// RESUME below: the game checkpoints the held player (its keys must
	// include the token being claimed) and moves it away.
	var keys []server.SeatKey
	if err := ts.Post(func(tk *server.Tick) {
		for _, p := range tk.Players() {
			if p.Name() == st.name {
				keys = p.SeatKeys()
				p.Move("other.test:1", "", "-")
			}
		}
	}); err != nil {
		close(release)
		t.Fatal(err)
	}
	x := dial(t, ts)
	x.write("RESUME " + st.name + " " + st.token + "\n")
	x.write("RESUME " + st.name + " " + st.token + "\n") // answered once the first has claimed the seat
	x.expect("ERR already_logged_in")
	close(release)
	expectRetry(t, x, g)
	if !slices.Contains(keys, server.KeyOf(st.token)) {
		t.Fatal("the held player's keys, read while its RESUME was pending, miss the token it used")
	}
}

// expectRetry checks that x's RESUME, accepted just as the player's place
// moved to another server, is answered "retry" (ERR resume unavailable,
// then BYE moved) and struck nothing.
func expectRetry(t *testing.T, x *client, g *fakeGuard) {
	t.Helper()
	if l := x.expect("ERR "); !strings.HasPrefix(l, "ERR resume unavailable") {
		t.Fatalf("got %q, want ERR resume unavailable", l)
	}
	x.expect("BYE moved")
	if s := g.list(); len(s) != 0 {
		t.Fatalf("strikes %q for a RESUME whose place moved", s)
	}
}
