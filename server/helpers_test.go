package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// Safety limits so a broken test fails instead of hanging. They bound
// waits; nothing asserts how fast anything is.
const (
	waitLimit = 10 * time.Second
	readLimit = 5 * time.Second
)

// ---- the test game ----

// Test messages.
type (
	// Echo asks the game to answer Said with the same text.
	Echo struct {
		Text string `tw:"text,max=1000,rest"`
	}
	// Shout sends Said to every other player.
	Shout struct {
		Text string `tw:"text,max=200,rest"`
	}
	// Nudge sends every other player the sender's value with SendLatest.
	Nudge struct {
		V int32 `tw:"v"`
	}
	// Spam makes the game send the sender N large messages every tick.
	Spam struct {
		N int `tw:"n,min=0,max=10000"`
	}
	// Sub subscribes to one TICK message per tick.
	Sub struct{}
	// State is a Latest message: only the newest per tick reaches the game.
	State struct {
		V int32 `tw:"v"`
	}
	// KickMe asks to be kicked.
	KickMe struct{}
	// Said is the game's answer.
	Said struct {
		From string `tw:"from,max=64"`
		Text string `tw:"text,max=1000,rest"`
	}
	// TickMsg is sent to subscribers every tick.
	TickMsg struct {
		N uint64 `tw:"n"`
	}
)

func testRegistry() *msg.Registry {
	reg := msg.NewRegistry()
	msg.Define[Echo](reg, msg.Info{ID: 40, Name: "ECHO", Dir: msg.ToServer, Doc: "answer SAID with the text", Causes: []string{"SAID"}})
	msg.Define[Shout](reg, msg.Info{ID: 41, Name: "SHOUT", Dir: msg.ToServer, Causes: []string{"SAID"}})
	msg.Define[Nudge](reg, msg.Info{ID: 42, Name: "NUDGE", Dir: msg.ToServer, Causes: []string{"SAID"}})
	msg.Define[Spam](reg, msg.Info{ID: 43, Name: "SPAM", Dir: msg.ToServer, Causes: []string{"SAID"}})
	msg.Define[Sub](reg, msg.Info{ID: 44, Name: "SUB", Dir: msg.ToServer, Causes: []string{"TICK"}})
	msg.Define[State](reg, msg.Info{ID: 45, Name: "STATE", Dir: msg.ToServer, Latest: true})
	msg.Define[KickMe](reg, msg.Info{ID: 46, Name: "KICKME", Dir: msg.ToServer})
	msg.Define[Said](reg, msg.Info{ID: 50, Name: "SAID", Dir: msg.ToClient})
	msg.Define[TickMsg](reg, msg.Info{ID: 51, Name: "TICK", Dir: msg.ToClient})
	return reg
}

type gameInput struct {
	Tick   uint64
	Player string
	Type   string
	Msg    any
	RID    uint32
}

type gameLeave struct {
	Player string
	Reason error
}

type playerData struct {
	spam int
	sub  bool
}

// testGame records what the server tells it on channels (it never blocks
// the tick: they are large) and answers the test messages.
type testGame struct {
	h      server.Handlers
	joins  chan string
	inputs chan gameInput
	leaves chan gameLeave
	// join, when set, replaces the default Join behaviour (accept, send
	// nothing: WELCOME must arrive all the same).
	join func(t *server.Tick, p *server.Player) error
}

func newTestGame() *testGame {
	g := &testGame{
		joins:  make(chan string, 5000),
		inputs: make(chan gameInput, 5000),
		leaves: make(chan gameLeave, 5000),
	}
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Echo) error {
		// Reply: the answer carries the request's id. The input is found
		// again from the tick to test Reply's rid echo.
		for _, in := range t.Inputs {
			if in.Msg == any(m) {
				p.Reply(in, &Said{From: p.Name(), Text: m.Text})
			}
		}
		return nil
	})
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Shout) error {
		t.Broadcast(&Said{From: p.Name(), Text: m.Text}, p)
		return nil
	})
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Nudge) error {
		for _, q := range t.Players() {
			if q != p {
				q.SendLatest(p.ID(), &Said{From: p.Name(), Text: fmt.Sprintf("nudge %d", m.V)})
			}
		}
		return nil
	})
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Spam) error {
		p.Data.(*playerData).spam = m.N
		return nil
	})
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Sub) error {
		p.Data.(*playerData).sub = true
		return nil
	})
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *State) error {
		if m.V < 0 {
			return server.Refuse("negative", "state %d is below zero", m.V)
		}
		if m.V == 0 {
			return errors.New("zero is not a state")
		}
		return nil
	})
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *KickMe) error {
		p.Kick("kicked_by_request")
		return nil
	})
	return g
}

func (g *testGame) Join(t *server.Tick, p *server.Player) error {
	p.Data = &playerData{}
	if g.join != nil {
		if err := g.join(t, p); err != nil {
			return err
		}
	}
	g.joins <- p.Name()
	return nil
}

var bigText = strings.Repeat("spam ", 180) // 900 bytes

func (g *testGame) Update(t *server.Tick) {
	for _, in := range t.Inputs {
		g.inputs <- gameInput{Tick: t.N, Player: in.Player.Name(), Type: in.Type.Name, Msg: in.Msg, RID: in.RID}
	}
	g.h.Dispatch(t)
	for _, p := range t.Players() {
		d := p.Data.(*playerData)
		for i := 0; i < d.spam; i++ {
			p.Send(&Said{From: "spam", Text: bigText})
		}
		if d.sub {
			p.Send(&TickMsg{N: t.N})
		}
	}
}

func (g *testGame) Leave(t *server.Tick, p *server.Player, reason error) {
	g.leaves <- gameLeave{p.Name(), reason}
}

// waitJoin waits for the game to admit a player.
func (g *testGame) waitJoin(t testing.TB) string {
	t.Helper()
	select {
	case name := <-g.joins:
		return name
	case <-time.After(waitLimit):
		t.Fatal("no Join")
		return ""
	}
}

// waitLeave waits for the game to be told a player left.
func (g *testGame) waitLeave(t testing.TB) gameLeave {
	t.Helper()
	select {
	case l := <-g.leaves:
		return l
	case <-time.After(waitLimit):
		t.Fatal("no Leave")
		return gameLeave{}
	}
}

// waitInput waits for the next input the game saw.
func (g *testGame) waitInput(t testing.TB) gameInput {
	t.Helper()
	select {
	case in := <-g.inputs:
		return in
	case <-time.After(waitLimit):
		t.Fatal("no input reached the game")
		return gameInput{}
	}
}

// noInputs checks the game has seen no input so far.
func (g *testGame) noInputs(t testing.TB) {
	t.Helper()
	select {
	case in := <-g.inputs:
		t.Fatalf("unexpected input reached the game: %+v", in)
	default:
	}
}

// ---- servers ----

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testConfig is a fast configuration: 50 ticks a second, quiet logs.
// testConfig is the configuration of most tests. Loopback is exempt from
// the per-address limits, since every test client is 127.0.0.1; the tests
// of those limits use addrConfig. Seats are off, so a dropped connection
// leaves at once; the tests of seats use seatConfig.
func testConfig() server.Config {
	return server.Config{
		TickRate:        50,
		Registry:        testRegistry(),
		Logger:          quietLogger(),
		AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		SeatHold:        -1,
	}
}

type testServer struct {
	*server.Server
	addr   string
	served chan error
}

// startTCP serves game over loopback TCP and shuts the server down when
// the test ends.
func startTCP(t testing.TB, cfg server.Config, game server.Game) *testServer {
	t.Helper()
	srv, err := server.New(cfg, game)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(ln) }()
	t.Cleanup(func() { ts.shutdown(t) })
	return ts
}

// shutdown shuts the server down (if not already) and checks Serve ended
// with ErrServerClosed.
func (ts *testServer) shutdown(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil && !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-ts.served:
		if !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		ts.served <- err // for a second shutdown call
	case <-time.After(waitLimit):
		t.Error("Serve did not return after Shutdown")
	}
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ---- clients ----

// client is a test client over any net.Conn. It decodes what it receives
// in its current encoding, following USING switches.
type client struct {
	t   testing.TB
	nc  net.Conn
	out *msg.Codec // encodes what the client sends
	in  *msg.Codec // decodes what it receives
	fr  *frame.Reader
}

func newClient(t testing.TB, nc net.Conn, reg *msg.Registry) *client {
	t.Cleanup(func() { nc.Close() })
	return &client{
		t:   t,
		nc:  nc,
		out: reg.NewCodec(msg.Text),
		in:  reg.NewCodec(msg.Text),
		fr:  frame.NewReader(nc, frame.MaxMessageLimit),
	}
}

func dial(t testing.TB, ts *testServer) *client {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, nc, ts.Registry())
}

// write sends raw bytes.
func (c *client) write(s string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// send encodes m in the client's current encoding and sends it. Sending
// USE switches the client's own encoding after it.
func (c *client) send(m any, rid uint32) {
	c.t.Helper()
	b, err := c.out.Append(nil, m, rid)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(string(b))
	if u, ok := m.(*msg.Use); ok {
		e, _ := msg.ParseEncoding(u.Encoding)
		c.out.SetEncoding(e)
	}
}

// frame reads the next frame's payload.
func (c *client) frame() ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(readLimit))
	return c.fr.Next()
}

// line reads the next text line.
func (c *client) line() string {
	c.t.Helper()
	b, err := c.frame()
	if err != nil {
		c.t.Fatalf("reading a line: %v", err)
	}
	c.follow(b)
	return string(b)
}

// follow decodes a text line to notice encoding switches.
func (c *client) follow(b []byte) {
	if env, err := c.in.Decode(b, msg.ToClient); err == nil {
		if u, ok := env.Msg.(*msg.Using); ok {
			c.switchTo(u.Encoding)
		}
	}
}

func (c *client) switchTo(name string) {
	e, err := msg.ParseEncoding(name)
	if err != nil {
		c.t.Fatalf("USING %q", name)
	}
	c.in.SetEncoding(e)
	c.fr.SetMode(e.FrameMode())
}

// expect reads the next line and checks it starts with prefix.
func (c *client) expect(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("got %q, want a line starting with %q", l, prefix)
	}
	return l
}

// expectRE reads the next line and checks it matches re.
func (c *client) expectRE(re string) string {
	c.t.Helper()
	l := c.line()
	if !regexp.MustCompile(re).MatchString(l) {
		c.t.Fatalf("got %q, want a line matching %s", l, re)
	}
	return l
}

// skipTo reads lines until one starts with prefix.
func (c *client) skipTo(prefix string) string {
	c.t.Helper()
	for {
		if l := c.line(); strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// msg reads and decodes the next message in the current encoding.
func (c *client) msg() msg.Envelope {
	c.t.Helper()
	b, err := c.frame()
	if err != nil {
		c.t.Fatalf("reading a message: %v", err)
	}
	env, err := c.in.Decode(b, msg.ToClient)
	if err != nil {
		c.t.Fatalf("decoding %q: %v", b, err)
	}
	if u, ok := env.Msg.(*msg.Using); ok {
		c.switchTo(u.Encoding)
	}
	return env
}

// expectClosed reads until the server closes the connection, failing on
// anything but a clean end or a reset; other lines are returned.
func (c *client) expectClosed() []string {
	c.t.Helper()
	var rest []string
	for {
		b, err := c.frame()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.t.Fatalf("connection not closed by the server (got %q)", rest)
			}
			return rest
		}
		rest = append(rest, string(b))
	}
}

// login logs in as a guest and returns the WELCOME line. It reads the
// LIMITS line that follows (and SEAT, where seats are on).
func (c *client) login() string {
	c.t.Helper()
	c.write("AUTH guest\n")
	w := c.skipTo("WELCOME ")
	c.skipTo("LIMITS ")
	return w
}

// ---- goroutine leak check ----

// goroutines returns the stacks of all goroutines by id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		head, _, _ := bytes.Cut(g, []byte("\n"))
		fields := strings.Fields(string(head)) // goroutine N [state]:
		if len(fields) >= 2 && fields[0] == "goroutine" {
			out[fields[1]] = string(g)
		}
	}
	return out
}

// leakCheck snapshots the running goroutines; the returned function waits
// until every goroutine started since (other than the caller) has ended,
// and fails listing those that do not.
func leakCheck(t testing.TB) func() {
	before := goroutines()
	return func() {
		t.Helper()
		var extra []string
		deadline := time.Now().Add(waitLimit)
		for {
			extra = extra[:0]
			for id, stack := range goroutines() {
				if _, ok := before[id]; ok || strings.Contains(stack, "leakCheck") {
					continue
				}
				extra = append(extra, stack)
			}
			if len(extra) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if len(extra) > 0 {
			t.Fatalf("%d goroutines left behind:\n\n%s", len(extra), strings.Join(extra, "\n\n"))
		}
	}
}

// ---- guard ----

// fakeGuard records strikes, refuses banned addresses and bans an address
// after banAfter strikes (never when 0).
type fakeGuard struct {
	mu        sync.Mutex
	strikes   []string
	admits    int
	refuseAll bool
	banAfter  int
}

var errBanned = errors.New("banned by the fake guard")

func (g *fakeGuard) Admit(remote netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.admits++
	if g.refuseAll || (g.banAfter > 0 && len(g.strikes) >= g.banAfter) {
		return errBanned
	}
	return nil
}

func (g *fakeGuard) Strike(remote netip.Addr, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !remote.IsLoopback() {
		reason += " from " + remote.String()
	}
	g.strikes = append(g.strikes, reason)
}

func (g *fakeGuard) list() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.strikes...)
}
