package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/internal/testutil"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// currentConn returns the client's current connection, or nil while it
// reconnects.
func (c *Client) currentConn() net.Conn {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.cur == nil {
		return nil
	}
	return c.cur.conn
}

// events records the reconnect events Poll delivers, in order.
type events struct {
	mu   sync.Mutex
	list []string
	errs []error
}

func (e *events) add(s string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
	e.errs = append(e.errs, err)
}

func (e *events) snapshot() ([]string, []error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...), append([]error(nil), e.errs...)
}

func (e *events) count(prefix string) int {
	l, _ := e.snapshot()
	n := 0
	for _, s := range l {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// watch registers callbacks recording c's reconnect events.
func watch(c *Client) *events {
	e := &events{}
	c.OnReconnecting(func(attempt int, err error) { e.add(fmt.Sprintf("reconnecting %d", attempt), err) })
	c.OnResumed(func() { e.add("resumed", nil) })
	c.OnLost(func(err error) { e.add("lost", err) })
	return e
}

// pollFor polls c every millisecond until cond holds, failing after a
// generous bound. It returns the Poll errors seen.
func pollFor(t *testing.T, c *Client, what string, cond func() bool) []error {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var errs []error
	for !cond() {
		if _, err := c.Poll(); err != nil {
			errs = append(errs, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (poll errors: %v)", what, errs)
		}
		time.Sleep(time.Millisecond)
	}
	return errs
}

// reconnectOptions are quiet test options that reconnect over the test
// server's pipe listener.
func (ts *testServer) reconnectOptions() Options {
	o := testOptions()
	o.Reconnect.Dial = ts.pipe.Dial
	return o
}

// TestResumeAfterSever: a connection cut under a logged-in client is
// resumed on a new one: same id and name, the events in order, Send
// refused in between and working after, request ids still increasing.
func TestResumeAfterSever(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	c := ts.dial(t, ts.reconnectOptions())
	ev := watch(c)
	ctx := testCtx(t)
	id, name, err := c.LoginGuest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pollFor(t, c, "the seat token", func() bool { return c.seat.Load() != nil })
	if _, err := c.Request(ctx, &Echo{Text: "before"}); err != nil {
		t.Fatal(err)
	}
	ridBefore := c.lastRID.Load()
	old := c.currentConn()

	c.Sever()
	pollFor(t, c, "OnReconnecting", func() bool { return ev.count("reconnecting") > 0 })
	// From the drop until the resume is delivered, nothing is sent.
	if err := c.Send(&Echo{Text: "lost"}); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Send while reconnecting = %v, want ErrDisconnected", err)
	}
	if _, err := c.Request(ctx, &Echo{Text: "lost"}); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Request while reconnecting = %v, want ErrDisconnected", err)
	}
	if errs := pollFor(t, c, "OnResumed", func() bool { return ev.count("resumed") > 0 }); len(errs) > 0 {
		t.Fatalf("Poll errors during the reconnect: %v", errs)
	}
	got, errs := ev.snapshot()
	if len(got) != 2 || got[0] != "reconnecting 1" || got[1] != "resumed" || errs[0] == nil {
		t.Fatalf("events %q (errors %v), want reconnecting 1 with the cause, then resumed", got, errs)
	}
	if c.ID() != id || c.Name() != name || c.currentConn() == old || c.currentConn() == nil {
		t.Fatalf("after the resume: id %d name %q (was %d %q), new connection: %v", c.ID(), c.Name(), id, name, c.currentConn() != old)
	}
	reply, err := c.Request(ctx, &Echo{Text: "after"})
	if e, ok := reply.(*Echoed); err != nil || !ok || e.Text != "after" {
		t.Fatalf("Request after the resume = %#v, %v", reply, err)
	}
	if c.lastRID.Load() <= ridBefore+1 {
		t.Fatalf("request ids did not keep increasing: %d before, %d after", ridBefore, c.lastRID.Load())
	}
	if st := c.Stats(); st.Resumes != 1 || st.Reconnects != 1 {
		t.Fatalf("stats %+v, want 1 attempt and 1 resume", st)
	}
	// And again: a resumed seat can be resumed.
	c.Sever()
	pollFor(t, c, "the second resume", func() bool { return ev.count("resumed") == 2 })
	if c.ID() != id {
		t.Fatalf("id %d after the second resume, want %d", c.ID(), id)
	}
	c.Close()
	waitNoClientGoroutines(t)
}

// TestResumeOverEveryTransport resumes over TCP, TLS and WebSocket, each
// in a non-text encoding: the new connection is dialled the same way and
// switched to the same encoding.
func TestResumeOverEveryTransport(t *testing.T) {
	cert, fp := selfSigned(t)
	tlsAddr := startTLSGame(t, cert)
	_, tcpAddr := startTCP(t, server.Config{})
	_, wsURL := startWS(t, server.Config{})
	cases := []struct {
		name string
		enc  msg.Encoding
		dial func(Options) (*Client, error)
	}{
		{"tcp-msgpack", msg.MsgPack, func(o Options) (*Client, error) { return Dial(testCtx(t), tcpAddr, o) }},
		{"tls-json", msg.JSON, func(o Options) (*Client, error) {
			o.TLS = PinnedTLS(fp)
			return Dial(testCtx(t), tlsAddr, o)
		}},
		{"ws-msgpack", msg.MsgPack, func(o Options) (*Client, error) { return DialWebSocket(testCtx(t), wsURL, o) }},
		{"ws-json", msg.JSON, func(o Options) (*Client, error) { return DialWebSocket(testCtx(t), wsURL, o) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			opts.Encoding = tc.enc
			c, err := tc.dial(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ev := watch(c)
			id, _, err := c.LoginGuest(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			pollFor(t, c, "the seat token", func() bool { return c.seat.Load() != nil })
			old := c.currentConn()
			c.Sever()
			pollFor(t, c, "OnResumed", func() bool { return ev.count("resumed") == 1 })
			if c.ID() != id || c.currentConn() == old || c.Encoding() != tc.enc {
				t.Fatalf("resumed as %d (want %d), encoding %v", c.ID(), id, c.Encoding())
			}
			want := &Walked{X: 1.5, Y: -2, IDs: []uint16{7}, Enc: tc.enc.String()}
			reply, err := c.Request(testCtx(t), &Walk{X: want.X, Y: want.Y, IDs: want.IDs})
			if m, ok := reply.(*Walked); err != nil || !ok || m.Enc != want.Enc || m.X != want.X {
				t.Fatalf("MOVE after the resume = %#v, %v; want %#v", reply, err, want)
			}
			c.Close()
			waitNoClientGoroutines(t)
		})
	}
}

// TestResumeDisabledOrImpossible: with Reconnect.Disabled, or a client
// from New without Reconnect.Dial, a dropped connection ends the client.
func TestResumeDisabledOrImpossible(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	for _, opts := range []Options{
		func() Options { o := ts.reconnectOptions(); o.Reconnect.Disabled = true; return o }(),
		testOptions(),
	} {
		c := ts.dial(t, opts)
		ev := watch(c)
		if _, _, err := c.LoginGuest(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		pollFor(t, c, "the seat token", func() bool { return c.seat.Load() != nil })
		c.Sever()
		errs := pollFor(t, c, "the end", func() bool { return c.Err() != nil })
		if l, _ := ev.snapshot(); len(l) != 0 || c.Stats().Reconnects != 0 {
			t.Fatalf("events %v, %d attempts: a client that cannot resume tried", l, c.Stats().Reconnects)
		}
		if !errors.Is(c.Err(), errSevered) {
			t.Fatalf("Err = %v (poll %v), want the severed connection", c.Err(), errs)
		}
		c.Close()
	}
	waitNoClientGoroutines(t)
}

// TestNoResumeAfterKick: a game's kick releases the seat; the client ends
// with the BYE and does not try to come back.
func TestNoResumeAfterKick(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	c := ts.dial(t, ts.reconnectOptions())
	ev := watch(c)
	if _, _, err := c.LoginGuest(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	pollFor(t, c, "the seat token", func() bool { return c.seat.Load() != nil })
	if err := c.Send(&KickMe{Reason: "cheating"}); err != nil {
		t.Fatal(err)
	}
	errs := pollFor(t, c, "the BYE", func() bool { return c.Err() != nil })
	var bye *ByeError
	if !errors.As(c.Err(), &bye) || bye.Reason != "cheating" {
		t.Fatalf("Err = %v (poll %v), want BYE cheating", c.Err(), errs)
	}
	if l, _ := ev.snapshot(); len(l) != 0 || c.Stats().Reconnects != 0 {
		t.Fatalf("events %v after a kick", l)
	}
	waitNoClientGoroutines(t)
}

// ---- a scripted server, to play what a real one rarely does ----

// fakeServer accepts connections on an in-memory listener; the test reads
// and writes each one line by line in the text encoding.
type fakeServer struct {
	t     *testing.T
	ln    *transport.PipeListener
	conns chan *fakeConn
	n     atomic.Int32 // connections accepted
}

type fakeConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{t: t, ln: transport.NewPipeListener(), conns: make(chan *fakeConn, 16)}
	go func() {
		for {
			nc, err := f.ln.Accept()
			if err != nil {
				return
			}
			f.n.Add(1)
			f.conns <- &fakeConn{t: t, nc: nc, r: bufio.NewReader(nc)}
		}
	}()
	t.Cleanup(func() { f.ln.Close() })
	return f
}

// accept returns the next connection the client made.
func (f *fakeServer) accept() *fakeConn {
	f.t.Helper()
	select {
	case fc := <-f.conns:
		f.t.Cleanup(func() { fc.nc.Close() })
		return fc
	case <-time.After(10 * time.Second):
		f.t.Fatal("the client did not connect")
		return nil
	}
}

// client starts a client on a new connection to f, with logs captured.
func (f *fakeServer) client(opts Options, logs *testutil.LogBuffer) *Client {
	f.t.Helper()
	if opts.Reconnect.Dial == nil {
		opts.Reconnect.Dial = f.ln.Dial
	}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	conn, err := f.ln.Dial(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := New(conn, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c
}

// line returns the next line the client sent, skipping keepalives.
func (fc *fakeConn) line() string {
	fc.t.Helper()
	for {
		fc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		s, err := fc.r.ReadString('\n')
		if err != nil {
			fc.t.Fatalf("reading from the client: %v (got %q)", err, s)
		}
		if s = strings.TrimRight(s, "\r\n"); s != "" {
			return s
		}
	}
}

// expect reads a line and checks it has the form "[@rid ]WORD...": it
// returns the rid (0 when none) and the words.
func (fc *fakeConn) expect(word string) (uint32, []string) {
	fc.t.Helper()
	s := fc.line()
	f := strings.Fields(s)
	var rid uint32
	if len(f) > 0 && strings.HasPrefix(f[0], "@") {
		n, _ := strconv.ParseUint(f[0][1:], 10, 32)
		rid, f = uint32(n), f[1:]
	}
	if len(f) == 0 || f[0] != word {
		fc.t.Fatalf("the client sent %q, want %s", s, word)
	}
	return rid, f
}

func (fc *fakeConn) send(lines ...string) {
	fc.t.Helper()
	if _, err := fc.nc.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		fc.t.Fatalf("writing to the client: %v", err)
	}
}

const (
	fakeToken  = "tok0123456789abcdefghijklmnopqrstuvwxyzABCD"
	fakeToken2 = "tok2123456789abcdefghijklmnopqrstuvwxyzABCD"
)

// login answers the client's AUTH guest with WELCOME 7 guest-7 and SEAT.
func (fc *fakeConn) login(c *Client, hold time.Duration) {
	fc.t.Helper()
	done := make(chan error, 1)
	go func() { _, _, err := c.LoginGuest(context.Background()); done <- err }()
	fc.expect("AUTH")
	fc.send("WELCOME 7 guest-7", fmt.Sprintf("SEAT %s %d", fakeToken, hold.Milliseconds()))
	if err := <-done; err != nil {
		fc.t.Fatal(err)
	}
}

// quietOptions: no pings or keepalives, so the scripted server reads only
// what the test expects.
func quietOptions() Options {
	o := testOptions()
	o.PingInterval, o.Keepalive = -1, -1
	return o
}

// TestResumeRefused: the server answers RESUME with ERR resume bad_token:
// the client gives up at once (one attempt, no retry storm), tells OnLost,
// ends with a *LostError, and never logs the token.
func TestResumeRefused(t *testing.T) {
	f := newFakeServer(t)
	logs := &testutil.LogBuffer{}
	c := f.client(quietOptions(), logs)
	ev := watch(c)
	first := f.accept()
	first.login(c, 30*time.Second)
	pollFor(t, c, "the seat token", func() bool { return c.seat.Load() != nil })

	first.nc.Close() // the network drops
	second := f.accept()
	rid, words := second.expect("RESUME")
	if len(words) != 3 || words[1] != "guest-7" || words[2] != fakeToken || rid == 0 {
		t.Fatalf("RESUME line %q rid %d: want the name and the token from SEAT", words, rid)
	}
	second.send(fmt.Sprintf("@%d ERR resume bad_token no seat is held for that name and token", rid))
	pollFor(t, c, "OnLost", func() bool { return ev.count("lost") == 1 })
	errs := pollFor(t, c, "the end", func() bool { return c.Err() != nil })
	var le *LostError
	var se *ServerError
	if !errors.As(c.Err(), &le) || le.Attempts != 1 || !errors.As(c.Err(), &se) || se.Code != "resume" || !strings.HasPrefix(se.Text, "bad_token") {
		t.Fatalf("Err = %v (poll %v), want a LostError after 1 attempt with the ERR resume", c.Err(), errs)
	}
	if _, perr := c.Poll(); !errors.As(perr, &le) {
		t.Fatalf("Poll after the loss = %v", perr)
	}
	got, _ := ev.snapshot()
	if strings.Join(got, ",") != "reconnecting 1,lost" {
		t.Fatalf("events %q", got)
	}
	c.Close()
	waitNoClientGoroutines(t)
	if n := f.n.Load(); n != 2 {
		t.Fatalf("%d connections, want 2: no retry after a refusal", n)
	}
	if strings.Contains(logs.String(), fakeToken) {
		t.Fatalf("the seat token is in the client's log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "seat lost") {
		t.Fatalf("the loss is not logged:\n%s", logs.String())
	}
}

// TestResumeAfterServerCut: the server's BYE timeout and BYE slow_consumer
// keep the seat; the client resumes (switching encoding first, RESUME
// tagged with a request id above every earlier one), then picks up the new
// token. The fake also checks what the client sends after the resume.
func TestResumeAfterServerCut(t *testing.T) {
	for _, reason := range []string{"timeout", "slow_consumer"} {
		t.Run(reason, func(t *testing.T) {
			f := newFakeServer(t)
			logs := &testutil.LogBuffer{}
			c := f.client(quietOptions(), logs)
			ev := watch(c)
			first := f.accept()
			first.login(c, 30*time.Second)
			// A request before the drop, to compare request ids.
			go c.Request(context.Background(), &Echo{Text: "x"})
			ridEcho, _ := first.expect("ECHO")
			first.send(fmt.Sprintf("@%d ECHOED x", ridEcho))

			first.send("BYE " + reason)
			first.nc.Close()
			second := f.accept()
			rid, words := second.expect("RESUME")
			if rid <= ridEcho || words[2] != fakeToken {
				t.Fatalf("RESUME rid %d after request %d, token ok %v", rid, ridEcho, words[2] == fakeToken)
			}
			second.send("WELCOME 7 guest-7", "SEAT "+fakeToken2+" 30000", "HELLO back")
			var hello []string
			On(c, func(m *Hello) { hello = append(hello, m.Text) })
			pollFor(t, c, "HELLO after the resume", func() bool { return len(hello) == 1 })
			got, errs := ev.snapshot()
			var bye *ByeError
			if strings.Join(got, ",") != "reconnecting 1,resumed" || !errors.As(errs[0], &bye) || bye.Reason != reason {
				t.Fatalf("events %q (%v)", got, errs)
			}
			if s := c.seat.Load(); s == nil || s.token != fakeToken2 {
				t.Fatal("the new seat token was not kept")
			}
			if err := c.Send(&Echo{Text: "y"}); err != nil {
				t.Fatal(err)
			}
			if r2, _ := second.expect("ECHO"); r2 != 0 {
				t.Fatalf("a plain Send carries rid %d", r2)
			}
			c.Close()
			waitNoClientGoroutines(t)
			if strings.Contains(logs.String(), fakeToken) || strings.Contains(logs.String(), fakeToken2) {
				t.Fatalf("a seat token is in the client's log:\n%s", logs.String())
			}
		})
	}
}

// TestNoResumeAfterReleasingBye: BYE banned, kicked reasons, shutdown,
// resumed, quit... release the seat: no reconnect.
func TestNoResumeAfterReleasingBye(t *testing.T) {
	for _, reason := range []string{"banned", "kicked", "shutdown", "resumed", "seat_expired", "too_long"} {
		t.Run(reason, func(t *testing.T) {
			f := newFakeServer(t)
			c := f.client(quietOptions(), &testutil.LogBuffer{})
			ev := watch(c)
			first := f.accept()
			first.login(c, 30*time.Second)
			first.send("BYE " + reason)
			first.nc.Close()
			errs := pollFor(t, c, "the end", func() bool { return c.Err() != nil })
			var bye *ByeError
			if !errors.As(c.Err(), &bye) || bye.Reason != reason {
				t.Fatalf("Err = %v (poll %v)", c.Err(), errs)
			}
			c.Close()
			waitNoClientGoroutines(t)
			if l, _ := ev.snapshot(); len(l) != 0 || f.n.Load() != 1 || c.Stats().Reconnects != 0 {
				t.Fatalf("events %v, %d connections after BYE %s", l, f.n.Load(), reason)
			}
		})
	}
}

// TestResumeGivesUpAfterHold: the server is unreachable for longer than
// the hold. The client backs off (at most one attempt per half back-off),
// makes its last attempt as the hold ends, then reports the loss.
func TestResumeGivesUpAfterHold(t *testing.T) {
	const hold = 400 * time.Millisecond
	f := newFakeServer(t)
	var dials atomic.Int32
	opts := quietOptions()
	opts.Reconnect.Dial = func(ctx context.Context) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("connection refused")
	}
	c := f.client(opts, &testutil.LogBuffer{})
	ev := watch(c)
	first := f.accept()
	first.login(c, hold)
	pollFor(t, c, "the seat token", func() bool { return c.seat.Load() != nil })
	cut := time.Now()
	first.nc.Close()
	pollFor(t, c, "OnLost", func() bool { return ev.count("lost") == 1 })
	if elapsed := time.Since(cut); elapsed < hold {
		t.Fatalf("gave up %v after the drop, before the %v hold passed", elapsed, hold)
	}
	var le *LostError
	if !errors.As(c.Err(), &le) || !errors.Is(c.Err(), ErrSeatHoldPassed) {
		t.Fatalf("Err = %v, want a LostError for the hold", c.Err())
	}
	// Waits are at least half the back-off: 50, 100, 200 ms... so a
	// 400 ms hold fits at most 3 attempts before its end, plus the last.
	if n := dials.Load(); n < 2 || n > 4 || int(n) != le.Attempts || uint64(n) != c.Stats().Reconnects {
		t.Fatalf("%d dials, %d attempts reported, %d counted", n, le.Attempts, c.Stats().Reconnects)
	}
	if got := ev.count("reconnecting"); got != int(dials.Load()) {
		t.Fatalf("%d OnReconnecting for %d attempts", got, dials.Load())
	}
	c.Close()
	waitNoClientGoroutines(t)
}

// TestReconnectDialHangIsBounded: a dial that never completes is cut by
// ConnectTimeout, the client tries again, and Close during such a dial
// returns at once and leaves no goroutine behind.
func TestReconnectDialHangIsBounded(t *testing.T) {
	f := newFakeServer(t)
	opts := quietOptions()
	opts.Reconnect.ConnectTimeout = 150 * time.Millisecond
	bounds := make(chan time.Duration, 100)
	opts.Reconnect.Dial = func(ctx context.Context) (net.Conn, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("no deadline on the reconnect dial")
		}
		bounds <- time.Until(dl)
		<-ctx.Done() // a black hole
		return nil, ctx.Err()
	}
	c := f.client(opts, &testutil.LogBuffer{})
	ev := watch(c)
	first := f.accept()
	first.login(c, 30*time.Second)
	pollFor(t, c, "the seat token", func() bool { return c.seat.Load() != nil })
	first.nc.Close()
	// Two hung dials, each cut by its deadline, the second after the first.
	pollFor(t, c, "the second attempt", func() bool { return ev.count("reconnecting") >= 3 })
	if b := <-bounds; b <= 0 || b > opts.Reconnect.ConnectTimeout {
		t.Fatalf("the reconnect dial was given %v, want at most ConnectTimeout", b)
	}
	if _, errs := ev.snapshot(); !errors.Is(errs[1], context.DeadlineExceeded) {
		t.Fatalf("the hung attempt failed with %v, want its deadline", errs[1])
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return during a hung dial")
	}
	if c.Err() != ErrClosed {
		t.Fatalf("Err = %v after Close", c.Err())
	}
	waitNoClientGoroutines(t)
}

// TestCloseDuringBackoff: Close while the client waits to retry.
func TestCloseDuringBackoff(t *testing.T) {
	f := newFakeServer(t)
	opts := quietOptions()
	opts.Reconnect.InitialDelay = time.Hour
	c := f.client(opts, &testutil.LogBuffer{})
	ev := watch(c)
	first := f.accept()
	first.login(c, 30*time.Second)
	pollFor(t, c, "the seat token", func() bool { return c.seat.Load() != nil })
	first.nc.Close()
	pollFor(t, c, "OnReconnecting", func() bool { return ev.count("reconnecting") == 1 })
	c.Close()
	waitNoClientGoroutines(t)
	if _, err := c.Poll(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Poll after Close = %v", err)
	}
}

// TestResumeAfterSilence: a server that stops answering while the
// connection stays open (a dead Wi-Fi) is left after SilenceTimeout, well
// before ReadTimeout, and the seat resumed on a new connection.
func TestResumeAfterSilence(t *testing.T) {
	f := newFakeServer(t)
	opts := testOptions()
	opts.PingInterval = 20 * time.Millisecond
	opts.Reconnect.SilenceTimeout = 200 * time.Millisecond
	c := f.client(opts, &testutil.LogBuffer{})
	ev := watch(c)
	first := f.accept()
	// The login, answering the pings until it is done.
	done := make(chan error, 1)
	go func() { _, _, err := c.LoginGuest(context.Background()); done <- err }()
	for {
		s := first.line()
		if strings.HasPrefix(s, "PING") {
			continue // unanswered: silence only matters once the seat is held
		}
		if !strings.HasPrefix(s, "@") || !strings.Contains(s, "AUTH guest") {
			t.Fatalf("the client sent %q", s)
		}
		break
	}
	first.send("WELCOME 7 guest-7", "SEAT "+fakeToken+" 30000")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The first connection stays open and silent, its input unread.
	second := f.accept()
	for {
		s := second.line()
		if strings.HasPrefix(s, "PING") {
			continue
		}
		if f := strings.Fields(s); len(f) != 4 || f[1] != "RESUME" {
			t.Fatalf("the client sent %q, want RESUME", s)
		}
		break
	}
	second.send("WELCOME 7 guest-7", "SEAT "+fakeToken2+" 30000")
	pollFor(t, c, "OnResumed", func() bool { return ev.count("resumed") == 1 })
	if _, errs := ev.snapshot(); !strings.Contains(errs[0].Error(), "silent for 200ms") {
		t.Fatalf("the drop was %v, want the silence", errs[0])
	}
	c.Close()
	waitNoClientGoroutines(t)
}

// TestResumeResetsPredictionAndModel: inputs in flight at the drop are
// dropped, not replayed, and the prediction snaps to the server's state on
// the first ACK after the resume; the fresh snapshot replaces the model
// without a DESYNC report.
func TestResumeResetsPredictionAndModel(t *testing.T) {
	f := newFakeServer(t)
	opts := quietOptions()
	opts.Replica = true
	c := f.client(opts, &testutil.LogBuffer{})
	ev := watch(c)
	first := f.accept()
	first.login(c, 30*time.Second)
	tiles := []uint8{0}
	sum := func(ids ...uint32) uint32 {
		s := replica.TilesHash(1, 1, tiles)
		for _, id := range ids {
			s += replica.EntityHash(replica.EntityID(id), 1, []int32{int32(id), 4}, "")
		}
		return s
	}
	first.send("KIND 1 unit x,y", "ZONE 1 1 1 1 1", "ENTER 5 1 5,4", "ENTER 6 1 6,4", "TILES 0 0 0",
		fmt.Sprintf("SNAPEND 1 2 %d", sum(5, 6)))
	m := c.Model()
	pollFor(t, c, "the snapshot", func() bool { return m.Len() == 2 && !m.Loading() })

	type pos struct{ X, Y int32 }
	p := replica.NewPredictor(pos{5, 4}, func(s pos, dx int32) pos { return pos{s.X + dx, s.Y} })
	pred := Predict(c, p,
		func(seq uint32, dx int32) any { return &Step{Seq: seq, DX: dx} },
		func(a *replica.Ack) pos { return pos{a.Vals[0], a.Vals[1]} })
	for range 3 {
		if _, err := pred.Input(1); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		first.expect("STEP")
	}
	first.send("ACK 1 5 6,4") // the first step is acknowledged, two are in flight
	pollFor(t, c, "the first ACK", func() bool { return p.Pending() == 2 })
	if p.State() != (pos{8, 4}) {
		t.Fatalf("predicted %v before the drop, want 8,4", p.State())
	}

	first.nc.Close()
	pollFor(t, c, "OnReconnecting", func() bool { return ev.count("reconnecting") == 1 })
	if _, err := pred.Input(1); !errors.Is(err, ErrDisconnected) || p.Pending() != 2 || pred.Seq() != 3 {
		t.Fatalf("Input while reconnecting: %v, %d pending, seq %d", err, p.Pending(), pred.Seq())
	}
	second := f.accept()
	second.expect("RESUME")
	// The server applied step 2 before the drop; step 3 never arrived. The
	// fresh state: ACK 2, then a snapshot in which entity 6 is gone.
	second.send("WELCOME 7 guest-7", "SEAT "+fakeToken2+" 30000", "ACK 2 5 7,4",
		"ZONE 1 2 1 1 1", "ENTER 5 1 5,4", "TILES 0 0 0", fmt.Sprintf("SNAPEND 2 1 %d", sum(5)))
	pollFor(t, c, "the fresh snapshot", func() bool { return ev.count("resumed") == 1 && m.Len() == 1 && !m.Loading() })
	if p.Pending() != 0 || p.State() != (pos{7, 4}) {
		t.Fatalf("after the resume: %d pending, predicted %v; want 0 and the server's 7,4 (no replay of step 3)", p.Pending(), p.State())
	}
	if _, ok := m.Entity(6); ok {
		t.Fatal("the model kept an entity the fresh snapshot lacks")
	}
	// New inputs carry on numbering and predicting from the server's state.
	if s, err := pred.Input(1); err != nil || s != (pos{8, 4}) || pred.Seq() != 4 {
		t.Fatalf("Input after the resume = %v, %v, seq %d", s, err, pred.Seq())
	}
	if r, w := second.expect("STEP"); r != 0 || w[1] != "4" {
		t.Fatalf("sent STEP %v", w)
	}
	for range 10 {
		c.Poll()
	}
	if st := c.Stats(); st.DesyncsSent != 0 || st.DesyncsDropped != 0 {
		t.Fatalf("%d DESYNC reports (%d dropped) across the resume", st.DesyncsSent, st.DesyncsDropped)
	}
	c.Close()
	waitNoClientGoroutines(t)
}

// TestDropBeforeLoginEndsClient: without a seat there is nothing to
// resume; the client ends as before.
func TestDropBeforeLoginEndsClient(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(quietOptions(), &testutil.LogBuffer{})
	first := f.accept()
	first.nc.Close()
	pollFor(t, c, "the end", func() bool { return c.Err() != nil })
	if c.Stats().Reconnects != 0 || f.n.Load() != 1 {
		t.Fatalf("%d attempts without a seat", c.Stats().Reconnects)
	}
	c.Close()
	waitNoClientGoroutines(t)
}

// TestReconnectOptionsValidated: negative delays are refused.
func TestReconnectOptionsValidated(t *testing.T) {
	for _, r := range []ReconnectOptions{{InitialDelay: -1}, {MaxDelay: -1}, {ConnectTimeout: -1}} {
		if _, err := (Options{Reconnect: r}).withDefaults(); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	o, err := (Options{Reconnect: ReconnectOptions{InitialDelay: 3 * time.Second}}).withDefaults()
	if err != nil || o.Reconnect.MaxDelay != 3*time.Second || o.Reconnect.SilenceTimeout != DefaultSilenceTimeout || o.Reconnect.ConnectTimeout != DefaultConnectTimeout {
		t.Fatalf("defaults %+v, %v", o.Reconnect, err)
	}
}

// TestLimitsAdopted: LIMITS after login replaces Options.MaxMessage and
// tells the tick rate; it does not reach Poll.
func TestLimitsAdopted(t *testing.T) {
	f := newFakeServer(t)
	c := f.client(quietOptions(), &testutil.LogBuffer{})
	if _, ok := c.Limits(); ok {
		t.Fatal("limits before login")
	}
	first := f.accept()
	first.login(c, 30*time.Second)
	first.send("LIMITS 30 100", "HELLO x")
	var hello int
	On(c, func(*Hello) { hello++ })
	pollFor(t, c, "HELLO", func() bool { return hello == 1 })
	if l, ok := c.Limits(); !ok || l != (Limits{TickRate: 30, MaxMessage: 100}) {
		t.Fatalf("Limits = %+v, %v", l, ok)
	}
	if st := c.Stats(); st.Unhandled != 0 {
		t.Fatalf("%d unhandled: LIMITS reached Poll", st.Unhandled)
	}
	if err := c.Send(&Echo{Text: strings.Repeat("x", 120)}); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Send over the server's cap = %v, want ErrTooLong", err)
	}
	if err := c.Send(&Echo{Text: strings.Repeat("x", 80)}); err != nil {
		t.Fatalf("Send under the server's cap = %v", err)
	}
	first.expect("ECHO")
}
