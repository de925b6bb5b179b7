package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/internal/testutil"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// ---- a cluster of in-process servers ----

// node is one server of a test cluster, on TCP and WebSocket.
type node struct {
	srv  *server.Server
	game *nodeGame
	tcp  string // host:port
	ws   string // ws://host:port/ws
	ln   *cuttableListener
}

// nodeGame answers ECHO and WALK, and moves a player to its peer on HOP:
// Expect on the peer (with the player's seat keys and its name as data),
// then Player.Move. It records the arrivals it admits.
type nodeGame struct {
	name string
	peer atomic.Pointer[node]

	dir *directory

	mu      sync.Mutex
	arrived []string          // Arrival.Data of the players that arrived
	ids     map[string]uint64 // player name -> id here
}

// directory is where the test cluster's players live, for Locate.
type directory struct {
	mu    sync.Mutex
	where map[string]*node
}

func (d *directory) locate(user string) (server.Location, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := d.where[user]; n != nil {
		return server.Location{Addr: n.tcp, WS: n.ws}, true
	}
	return server.Location{}, false
}

func (g *nodeGame) Join(t *server.Tick, p *server.Player) error {
	g.mu.Lock()
	g.ids[p.Name()] = p.ID()
	g.mu.Unlock()
	return nil
}

func (g *nodeGame) Arrive(t *server.Tick, p *server.Player, a server.Arrival) error {
	g.mu.Lock()
	g.arrived = append(g.arrived, string(a.Data))
	g.ids[p.Name()] = p.ID()
	g.mu.Unlock()
	p.Send(&Hello{Text: "welcome to " + g.name + " from " + string(a.Data)})
	return nil
}

func (g *nodeGame) ArrivalExpired(t *server.Tick, a server.Arrival) {}

func (g *nodeGame) Leave(t *server.Tick, p *server.Player, reason error) {}

func (g *nodeGame) Update(t *server.Tick) {
	for _, in := range t.Inputs {
		p := in.Player
		switch m := in.Msg.(type) {
		case *Echo:
			p.Reply(in, &Echoed{Text: g.name + ":" + m.Text})
		case *Walk:
			p.Reply(in, &Walked{X: m.X, Y: m.Y, IDs: m.IDs, Enc: p.Encoding().String()})
		case *Hop:
			peer := g.peer.Load()
			ticket, err := peer.srv.Expect(server.Arrival{Ident: p.Identity(), Keys: p.SeatKeys(), Data: []byte(g.name)})
			if err != nil {
				p.Error(in, "hop", err.Error())
				continue
			}
			if m.Own {
				ticket = "-"
			}
			g.dir.mu.Lock()
			g.dir.where[p.Name()] = peer
			g.dir.mu.Unlock()
			p.Move(peer.tcp, peer.ws, ticket)
		default:
			p.Error(in, "unhandled", in.Type.Name+" is not handled")
		}
	}
}

func (g *nodeGame) arrivals() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.arrived...)
}

func (g *nodeGame) id(name string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ids[name]
}

// cuttableListener accepts TCP connections whose next server-side write
// can be made to vanish: the server believes it sent it, the client never
// hears it (a MOVED lost in transit before its connection closes).
type cuttableListener struct {
	net.Listener
	cut atomic.Bool
}

func (l *cuttableListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &cuttableConn{Conn: c, l: l}, nil
}

type cuttableConn struct {
	net.Conn
	l *cuttableListener
}

func (c *cuttableConn) Write(p []byte) (int, error) {
	if c.l.cut.CompareAndSwap(true, false) {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// startNode serves a nodeGame named name on loopback TCP and WebSocket,
// locating players with dir.
func startNode(t *testing.T, name string, dir *directory) *node {
	t.Helper()
	g := &nodeGame{name: name, dir: dir, ids: map[string]uint64{}}
	srv, err := server.New(server.Config{Registry: testRegistry(), TickRate: 100, Logger: quietLogger(), Locate: dir.locate}, g)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &cuttableListener{Listener: ln}
	go srv.Serve(cl)
	h := transport.WebSocketHandler(transport.WebSocketConfig{Logger: quietLogger()}, srv.ServeConn)
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &node{srv: srv, game: g, tcp: ln.Addr().String(), ws: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", ln: cl}
}

func newDirectory() *directory { return &directory{where: map[string]*node{}} }

// pollOK polls c until cond holds, failing at the first Poll error.
func pollOK(t *testing.T, c *Client, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if _, err := c.Poll(); err != nil {
			t.Fatalf("waiting for %s: Poll: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// watchMoves records OnMoved as "moved <addr>" among the reconnect events.
func watchMoves(c *Client) *events {
	e := watch(c)
	c.OnMoved(func(addr string) { e.add("moved "+addr, nil) })
	return e
}

// TestMoveBetweenServers: HOP on server A moves the player to B over
// every transport and in text and MessagePack: the client follows MOVED at
// once (no OnReconnecting), resumes on B with the ticket or its own token,
// reports OnMoved then OnResumed, takes B's player id, and its requests
// then reach B in the same encoding.
func TestMoveBetweenServers(t *testing.T) {
	dir := newDirectory()
	a, b := startNode(t, "a", dir), startNode(t, "b", dir)
	a.game.peer.Store(b)
	b.game.peer.Store(a)
	cases := []struct {
		name string
		ws   bool
		enc  msg.Encoding
		own  bool
	}{
		{"tcp-text", false, msg.Text, false},
		{"tcp-msgpack", false, msg.MsgPack, true},
		{"ws-text", true, msg.Text, true},
		{"ws-msgpack", true, msg.MsgPack, false},
		{"ws-json", true, msg.JSON, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			opts.Encoding = tc.enc
			var c *Client
			var err error
			from, to := a.tcp, b.tcp
			if tc.ws {
				from, to = a.ws, b.ws
				c, err = DialWebSocket(testCtx(t), from, opts)
			} else {
				c, err = Dial(testCtx(t), from, opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ev := watchMoves(c)
			var hello []string
			On(c, func(m *Hello) { hello = append(hello, m.Text) })
			_, name, err := c.LoginGuest(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			pollFor(t, c, "the seat token", func() bool { return c.seat.Load() != nil })
			if c.Addr() != from {
				t.Fatalf("Addr = %q, want %q", c.Addr(), from)
			}
			if err := c.Send(&Hop{Own: tc.own}); err != nil {
				t.Fatal(err)
			}
			pollOK(t, c, "OnResumed", func() bool { return ev.count("resumed") == 1 })
			got, _ := ev.snapshot()
			if strings.Join(got, ",") != "moved "+to+",resumed" {
				t.Fatalf("events %q, want moved %s then resumed, and no reconnecting", got, to)
			}
			if c.Addr() != to || c.ID() != b.game.id(name) || c.ID() == 0 {
				t.Fatalf("after the move: Addr %q, id %d; want %q and B's id %d", c.Addr(), c.ID(), to, b.game.id(name))
			}
			pollOK(t, c, "B's greeting", func() bool { return len(hello) == 1 })
			if hello[0] != "welcome to b from a" {
				t.Fatalf("greeting %q", hello[0])
			}
			reply, err := c.Request(testCtx(t), &Echo{Text: "hi"})
			if e, ok := reply.(*Echoed); err != nil || !ok || e.Text != "b:hi" {
				t.Fatalf("ECHO after the move = %#v, %v; want B's answer", reply, err)
			}
			want := &Walked{X: 1, Y: 2, IDs: []uint16{3}, Enc: tc.enc.String()}
			reply, err = c.Request(testCtx(t), &Walk{X: 1, Y: 2, IDs: []uint16{3}})
			if m, ok := reply.(*Walked); err != nil || !ok || m.Enc != want.Enc {
				t.Fatalf("WALK after the move = %#v, %v; want encoding %s", reply, err, want.Enc)
			}
			if st := c.Stats(); st.Moves != 1 || st.Resumes != 1 || st.Reconnects != 1 {
				t.Fatalf("stats %+v, want 1 move, 1 resume, 1 attempt", st)
			}
			// The new SEAT is B's, and a drop now resumes on B.
			c.Sever()
			pollOK(t, c, "the resume on B", func() bool { return ev.count("resumed") == 2 })
			if ev.count("moved") != 1 || c.Addr() != to {
				t.Fatalf("a resume on the same server counted as a move: %v", ev.list)
			}
			c.Close()
			waitNoClientGoroutines(t)
		})
	}
}

// TestMoveLost: the connection is cut right after A handed the player to
// B, so MOVED never arrives. With A still up, the client resumes at A, is
// redirected (MOVED -) to B, and resumes there with its own token. With A
// gone, the client tries A twice, then its seed C, which redirects it to
// B.
func TestMoveLost(t *testing.T) {
	for _, aDies := range []bool{false, true} {
		t.Run(fmt.Sprintf("a-dies=%v", aDies), func(t *testing.T) {
			dir := newDirectory()
			a, b, c := startNode(t, "a", dir), startNode(t, "b", dir), startNode(t, "c", dir)
			a.game.peer.Store(b)
			opts := quietOptions()
			// The default first back-off (50-100 ms, several ticks): a
			// RESUME within the tick that moved the player is refused
			// (server: the seat token stays claimable until the tick
			// removes the player).
			opts.Reconnect.MaxDelay = 200 * time.Millisecond
			opts.Reconnect.Seeds = []string{c.tcp}
			cl, err := Dial(testCtx(t), a.tcp, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ev := watchMoves(cl)
			_, name, err := cl.LoginGuest(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			pollFor(t, cl, "the seat token", func() bool { return cl.seat.Load() != nil })
			a.ln.cut.Store(true) // A's next write (MOVED) kills the connection instead
			if aDies {
				a.ln.Close()
			}
			if err := cl.Send(&Hop{}); err != nil {
				t.Fatal(err)
			}
			pollOK(t, cl, "OnResumed", func() bool { return ev.count("resumed") == 1 })
			got, _ := ev.snapshot()
			want := "reconnecting 1,moved " + b.tcp + ",resumed"
			if aDies {
				want = "reconnecting 1,reconnecting 2,reconnecting 3,moved " + b.tcp + ",resumed"
			}
			if strings.Join(got, ",") != want {
				t.Fatalf("events %q, want %q", got, want)
			}
			if cl.Addr() != b.tcp || cl.ID() != b.game.id(name) {
				t.Fatalf("Addr %q id %d, want B %q id %d", cl.Addr(), cl.ID(), b.tcp, b.game.id(name))
			}
			reply, err := cl.Request(testCtx(t), &Echo{Text: "x"})
			if e, ok := reply.(*Echoed); err != nil || !ok || e.Text != "b:x" {
				t.Fatalf("ECHO = %#v, %v", reply, err)
			}
			if arr := b.game.arrivals(); len(arr) != 1 || arr[0] != "a" {
				t.Fatalf("B's arrivals %q", arr)
			}
			cl.Close()
			waitNoClientGoroutines(t)
		})
	}
}

// ---- scripted servers at several addresses ----

// fakeCluster is a set of scripted servers by address; the client dials
// them with DialAddr and records every address it dialled.
type fakeCluster struct {
	t      *testing.T
	mu     sync.Mutex
	nodes  map[string]*fakeServer
	dialed []string
}

func newFakeCluster(t *testing.T, addrs ...string) *fakeCluster {
	fc := &fakeCluster{t: t, nodes: map[string]*fakeServer{}}
	for _, a := range addrs {
		fc.nodes[a] = newFakeServer(t)
	}
	return fc
}

func (fc *fakeCluster) dial(ctx context.Context, addr string) (net.Conn, error) {
	fc.mu.Lock()
	fc.dialed = append(fc.dialed, addr)
	n := fc.nodes[addr]
	fc.mu.Unlock()
	if n == nil {
		return nil, errors.New("connection refused")
	}
	return n.ln.Dial(ctx)
}

func (fc *fakeCluster) dials() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]string(nil), fc.dialed...)
}

// client starts a client on home's first connection, logged in.
func (fc *fakeCluster) client(home string, opts Options, logs *testutil.LogBuffer) (*Client, *fakeConn) {
	opts.Reconnect.DialAddr = fc.dial
	f := fc.nodes[home]
	c := f.client(opts, logs)
	first := f.accept()
	first.login(c, 30*time.Second)
	pollFor(fc.t, c, "the seat token", func() bool { return c.seat.Load() != nil })
	return c, first
}

// TestMoveStorm: servers that answer every RESUME with MOVED make the
// client follow MaxMoves of them, then give up with ErrMoveLoop; no
// OnReconnecting, no back-off between the hops.
func TestMoveStorm(t *testing.T) {
	fc := newFakeCluster(t, "home.test:1", "x.test:1", "y.test:1")
	opts := quietOptions()
	opts.Reconnect.InitialDelay = time.Hour // a back-off would hang the test
	c, first := fc.client("home.test:1", opts, &testutil.LogBuffer{})
	ev := watchMoves(c)
	first.send("MOVED x.test:1 - T1", "BYE moved")
	first.nc.Close()
	for i := 0; i < MaxMoves; i++ {
		to := []string{"x.test:1", "y.test:1"}[i%2]
		next := []string{"y.test:1", "x.test:1"}[i%2]
		conn := fc.nodes[to].accept()
		rid, words := conn.expect("RESUME")
		if want := "T1"; i == 0 && words[2] != want {
			t.Fatalf("RESUME %v after MOVED with ticket T1", words)
		} else if i > 0 && words[2] != fakeToken {
			t.Fatalf("RESUME %v after MOVED -: want the own token", words)
		}
		conn.send(fmt.Sprintf("@%d MOVED %s - -", rid, next), "BYE moved")
		conn.nc.Close()
	}
	pollFor(t, c, "OnLost", func() bool { return ev.count("lost") == 1 })
	var le *LostError
	if !errors.As(c.Err(), &le) || !errors.Is(c.Err(), ErrMoveLoop) || le.Attempts != MaxMoves {
		t.Fatalf("Err = %v, want a LostError for the move loop after %d attempts", c.Err(), MaxMoves)
	}
	if got, _ := ev.snapshot(); strings.Join(got, ",") != "lost" {
		t.Fatalf("events %q, want only lost", got)
	}
	if n := len(fc.dials()); n != MaxMoves {
		t.Fatalf("%d dials, want %d", n, MaxMoves)
	}
	c.Close()
	waitNoClientGoroutines(t)
}

// TestMoveGarbage: a MOVED whose address is not host:port (or, for a
// WebSocket client, not a ws/wss URL), or without a ticket, is not
// followed: nothing is dialled there, it is logged, and the client
// reconnects as after a dropped connection.
func TestMoveGarbage(t *testing.T) {
	cases := []struct {
		name, moved string
		ws          bool
	}{
		{"no-port", `MOVED evil.test - T`, false},
		{"no-host", `MOVED :5001 - T`, false},
		{"port-0", `MOVED evil.test:0 - T`, false},
		{"port-range", `MOVED evil.test:99999 - T`, false},
		{"control-byte", `MOVED "evil.test:1\x0a" - T`, false},
		{"space", `MOVED "evil.test :1" - T`, false},
		{"empty-ticket", `MOVED evil.test:1 - ""`, false},
		{"ws-http", `MOVED evil.test:1 http://evil.test/ws T`, true},
		{"ws-empty", `MOVED evil.test:1 "" T`, true},
		{"ws-nohost", `MOVED evil.test:1 ws:///ws T`, true},
		{"ws-userinfo", `MOVED evil.test:1 ws://u:p@evil.test/ws T`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ws {
				// A WebSocket client's address checks, without a socket.
				c := &Client{ws: true}
				env, err := msg.NewRegistry().NewCodec(msg.Text).Decode([]byte(tc.moved), msg.ToClient)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.moveTo(env.Msg.(*msg.Moved)); !errors.Is(err, errBadMoved) {
					t.Fatalf("%s accepted by a WebSocket client (%v)", tc.moved, err)
				}
				return
			}
			fc := newFakeCluster(t, "home.test:1")
			logs := &testutil.LogBuffer{}
			opts := quietOptions()
			opts.Reconnect.InitialDelay = time.Millisecond
			c, first := fc.client("home.test:1", opts, logs)
			ev := watchMoves(c)
			first.send(tc.moved, "BYE moved")
			first.nc.Close()
			// The client comes back home (the first connection was made
			// with Reconnect.Dial there) with its own token.
			second := fc.nodes["home.test:1"].accept()
			rid, words := second.expect("RESUME")
			if words[2] != fakeToken {
				t.Fatalf("RESUME %v, want the own token", words)
			}
			second.send(fmt.Sprintf("@%d WELCOME 7 guest-7", rid), "SEAT "+fakeToken2+" 30000")
			pollOK(t, c, "OnResumed", func() bool { return ev.count("resumed") == 1 })
			if got, _ := ev.snapshot(); strings.Join(got, ",") != "reconnecting 1,resumed" {
				t.Fatalf("events %q", got)
			}
			for _, d := range fc.dials() {
				if strings.Contains(d, "evil") {
					t.Fatalf("dialled %q", d)
				}
			}
			if !strings.Contains(logs.String(), "refusing to follow MOVED") {
				t.Fatalf("not logged:\n%s", logs.String())
			}
			c.Close()
			waitNoClientGoroutines(t)
		})
	}
}

// TestMoveAnswersResumeAndUnavailable: after a drop, home answers RESUME
// with ERR resume unavailable (the seat is between servers): the client
// tries again; then with MOVED, followed at once with the own token to a
// server that answers WELCOME with a new id.
func TestMoveAnswersResumeAndUnavailable(t *testing.T) {
	fc := newFakeCluster(t, "home.test:1", "b.test:2")
	opts := quietOptions()
	opts.Reconnect.InitialDelay = time.Millisecond
	c, first := fc.client("home.test:1", opts, &testutil.LogBuffer{})
	ev := watchMoves(c)
	first.nc.Close()
	second := fc.nodes["home.test:1"].accept()
	rid, _ := second.expect("RESUME")
	second.send(fmt.Sprintf("@%d ERR resume unavailable the seat is moving; try again in a second", rid))
	third := fc.nodes["home.test:1"].accept()
	rid, _ = third.expect("RESUME")
	third.send(fmt.Sprintf("@%d MOVED b.test:2 ws://b.test/ws -", rid), "BYE moved")
	third.nc.Close()
	fourth := fc.nodes["b.test:2"].accept()
	rid, words := fourth.expect("RESUME")
	if words[1] != "guest-7" || words[2] != fakeToken {
		t.Fatalf("RESUME %v at B, want the name and own token", words)
	}
	fourth.send(fmt.Sprintf("@%d WELCOME 3 guest-7", rid), "SEAT "+fakeToken2+" 20000", "HELLO b")
	var hello string
	On(c, func(m *Hello) { hello = m.Text })
	pollOK(t, c, "B's HELLO", func() bool { return hello == "b" })
	got, _ := ev.snapshot()
	if strings.Join(got, ",") != "reconnecting 1,reconnecting 2,moved b.test:2,resumed" {
		t.Fatalf("events %q", got)
	}
	if c.ID() != 3 || c.Addr() != "b.test:2" || c.seat.Load().token != fakeToken2 {
		t.Fatalf("id %d addr %q after the move", c.ID(), c.Addr())
	}
	if err := c.Send(&Echo{Text: "at b"}); err != nil {
		t.Fatal(err)
	}
	fourth.expect("ECHO")
	c.Close()
	waitNoClientGoroutines(t)
}

// TestMoveToUnreachable: home dies; the seed, whose cluster has not failed
// it over yet, answers every RESUME with MOVED to home. The client does not
// follow a redirect to the server it just failed to reach: it asks again
// after its back-off, so more than MaxMoves such answers do not end the
// session, and it resumes on the seed once the seed holds the seat.
func TestMoveToUnreachable(t *testing.T) {
	fc := newFakeCluster(t, "home.test:1", "seed.test:1")
	opts := quietOptions()
	opts.Reconnect.InitialDelay = time.Millisecond
	opts.Reconnect.MaxDelay = 4 * time.Millisecond
	opts.Reconnect.Seeds = []string{"seed.test:1"}
	c, first := fc.client("home.test:1", opts, &testutil.LogBuffer{})
	ev := watchMoves(c)
	fc.nodes["home.test:1"].ln.Close() // dials to home are refused from now on
	first.nc.Close()
	seed := fc.nodes["seed.test:1"]
	for i := 0; i < MaxMoves+3; i++ {
		conn := seed.accept()
		rid, _ := conn.expect("RESUME")
		conn.send(fmt.Sprintf("@%d MOVED home.test:1 - -", rid), "BYE moved")
		conn.nc.Close()
	}
	conn := seed.accept()
	rid, _ := conn.expect("RESUME")
	conn.send(fmt.Sprintf("@%d WELCOME 4 guest-7", rid), "SEAT "+fakeToken2+" 20000")
	pollOK(t, c, "OnResumed", func() bool { return ev.count("resumed") == 1 })
	got, _ := ev.snapshot()
	for _, e := range got {
		if e == "moved home.test:1" || e == "lost" {
			t.Fatalf("events %q: followed the redirect to the dead server", got)
		}
	}
	if c.Err() != nil || c.Addr() != "seed.test:1" || c.ID() != 4 {
		t.Fatalf("Err %v, Addr %q, id %d: want the seat resumed on the seed", c.Err(), c.Addr(), c.ID())
	}
	c.Close()
	waitNoClientGoroutines(t)
}

// TestMoveDisabled: with reconnection off a MOVED ends the client with
// BYE moved, saying where it was sent.
func TestMoveDisabled(t *testing.T) {
	fc := newFakeCluster(t, "home.test:1")
	opts := quietOptions()
	opts.Reconnect.Disabled = true
	c, first := fc.client("home.test:1", opts, &testutil.LogBuffer{})
	first.send("MOVED b.test:2 - T", "BYE moved")
	first.nc.Close()
	pollFor(t, c, "the end", func() bool { return c.Err() != nil })
	var bye *ByeError
	if !errors.As(c.Err(), &bye) || bye.Reason != "moved" || bye.Detail != "moved to b.test:2" || len(fc.dials()) != 0 {
		t.Fatalf("Err = %v, dials %v", c.Err(), fc.dials())
	}
	c.Close()
	waitNoClientGoroutines(t)
}

// TestSeedsValidated: seeds must be addresses of the client's transport.
func TestSeedsValidated(t *testing.T) {
	_, addr := startTCP(t, server.Config{})
	for _, seeds := range [][]string{{"nohost"}, {"ws://a.test/ws"}, {"a.test:1", ""}} {
		opts := testOptions()
		opts.Reconnect.Seeds = seeds
		if c, err := Dial(testCtx(t), addr, opts); err == nil {
			c.Close()
			t.Errorf("seeds %q accepted", seeds)
		}
	}
	opts := testOptions()
	opts.Reconnect.Seeds = []string{"a.test:1", "a.test:1", "b.test:2"}
	c, err := Dial(testCtx(t), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.opts.Reconnect.Seeds; strings.Join(got, ",") != "a.test:1,b.test:2" {
		t.Fatalf("seeds %q", got)
	}
	if got := []string{c.pick(addr, 0), c.pick(addr, 1), c.pick(addr, 2), c.pick(addr, 3), c.pick(addr, 4), c.pick(addr, 5)}; strings.Join(got, ",") != strings.Join([]string{addr, addr, "a.test:1", "b.test:2", addr, "a.test:1"}, ",") {
		t.Fatalf("attempt order %q", got)
	}
}
