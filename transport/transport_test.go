package transport_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

const readLimit = 5 * time.Second

// ---- a small game: players move, everyone else sees it ----

// Walk moves the sender to X, Y; every other player receives At.
type Walk struct {
	X int32 `tw:"x,min=0,max=1000"`
	Y int32 `tw:"y,min=0,max=1000"`
}

// At is a player's position.
type At struct {
	ID uint64 `tw:"id"`
	X  int32  `tw:"x"`
	Y  int32  `tw:"y"`
}

func walkRegistry() *msg.Registry {
	reg := msg.NewRegistry()
	msg.Define[Walk](reg, msg.Info{ID: 40, Name: "WALK", Dir: msg.ToServer, Causes: []string{"AT"}})
	msg.Define[At](reg, msg.Info{ID: 41, Name: "AT", Dir: msg.ToClient})
	return reg
}

type walkGame struct{ h server.Handlers }

func newWalkGame() *walkGame {
	g := &walkGame{}
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Walk) error {
		for _, o := range t.Players() {
			if o != p {
				o.SendLatest(p.ID(), &At{ID: p.ID(), X: m.X, Y: m.Y})
			}
		}
		return nil
	})
	return g
}

func (g *walkGame) Join(t *server.Tick, p *server.Player) error          { return nil }
func (g *walkGame) Update(t *server.Tick)                                { g.h.Dispatch(t) }
func (g *walkGame) Leave(t *server.Tick, p *server.Player, reason error) {}

// ---- a client for any transport and encoding ----

type client struct {
	t    testing.TB
	name string
	nc   net.Conn
	out  *msg.Codec
	in   *msg.Codec
	fr   *frame.Reader
	id   uint64
}

// newClient wraps nc, whose first encoding is enc (a WebSocket
// subprotocol's; text for sockets until the client sends USE).
func newClient(t testing.TB, name string, nc net.Conn, reg *msg.Registry, enc msg.Encoding) *client {
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, name: name, nc: nc, out: reg.NewCodec(enc), in: reg.NewCodec(enc),
		fr: frame.NewReader(nc, frame.MaxMessageLimit)}
	c.fr.SetMode(enc.FrameMode())
	return c
}

func (c *client) send(m any, rid uint32) {
	c.t.Helper()
	b, err := c.out.Append(nil, m, rid)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
	if u, ok := m.(*msg.Use); ok {
		e, _ := msg.ParseEncoding(u.Encoding)
		c.out.SetEncoding(e)
	}
}

func (c *client) next() (msg.Envelope, error) {
	c.nc.SetReadDeadline(time.Now().Add(readLimit))
	b, err := c.fr.Next()
	if err != nil {
		return msg.Envelope{}, err
	}
	env, err := c.in.Decode(b, msg.ToClient)
	if err != nil {
		c.t.Fatalf("%s: decoding %q: %v", c.name, b, err)
	}
	if u, ok := env.Msg.(*msg.Using); ok {
		e, _ := msg.ParseEncoding(u.Encoding)
		c.in.SetEncoding(e)
		c.fr.SetMode(e.FrameMode())
	}
	return env, nil
}

// waitFor reads until a message satisfies match.
func (c *client) waitFor(what string, match func(msg.Envelope) bool) msg.Envelope {
	c.t.Helper()
	for {
		env, err := c.next()
		if err != nil {
			c.t.Fatalf("%s: waiting for %s: %v", c.name, what, err)
		}
		if match(env) {
			return env
		}
	}
}

// use switches the connection to enc.
func (c *client) use(enc msg.Encoding) {
	c.t.Helper()
	c.send(&msg.Use{Encoding: enc.String()}, 0)
	c.waitFor("USING", func(env msg.Envelope) bool { _, ok := env.Msg.(*msg.Using); return ok })
}

func (c *client) login() {
	c.t.Helper()
	c.send(&msg.Auth{User: "guest"}, 0)
	env := c.waitFor("WELCOME", func(env msg.Envelope) bool { _, ok := env.Msg.(*msg.Welcome); return ok })
	c.id = env.Msg.(*msg.Welcome).ID
}

func (c *client) expectClosed() {
	c.t.Helper()
	for {
		if _, err := c.next(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.t.Fatalf("%s: not closed", c.name)
			}
			return
		}
	}
}

// ---- servers ----

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

type testServer struct {
	srv    *server.Server
	tcp    string // host:port
	ws     string // ws:// URL
	served chan error
}

// start serves game over loopback TCP and, through an httptest server, over
// WebSocket, with wsCfg for the handler.
func start(t *testing.T, reg *msg.Registry, game server.Game, wsCfg transport.WebSocketConfig) *testServer {
	t.Helper()
	srv, err := server.New(server.Config{Registry: reg, TickRate: 50, Logger: quiet()}, game)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wsCfg.Logger = quiet()
	hs := httptest.NewServer(srv.WebSocketHandler(wsCfg)) // the event loop when TICKWIRE_ENGINE=eventloop
	ts := &testServer{srv: srv, tcp: ln.Addr().String(), ws: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws",
		served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-ts.served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		hs.CloseClientConnections()
		hs.Close()
	})
	return ts
}

func (ts *testServer) dialTCP(t *testing.T, name string, enc msg.Encoding) *client {
	t.Helper()
	nc, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, name, nc, ts.srv.Registry(), msg.Text)
	if enc != msg.Text {
		c.use(enc)
	}
	return c
}

// dialWS connects over WebSocket offering subprotocols (none for nil).
func (ts *testServer) dialWS(t *testing.T, name string, opts *websocket.DialOptions) (*client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readLimit)
	defer cancel()
	wc, resp, err := websocket.Dial(ctx, ts.ws, opts)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, err
	}
	conn := transport.NewWebSocketConn(wc, "127.0.0.1:1", ts.tcp)
	enc := msg.Text
	if e := conn.InitialEncoding(); e != "" {
		if enc, err = msg.ParseEncoding(e); err != nil {
			t.Fatal(err)
		}
	}
	return newClient(t, name, conn, ts.srv.Registry(), enc), nil
}

// ---- tests ----

func TestListenTCP(t *testing.T) {
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	if addr.Port == 0 || !addr.IP.IsLoopback() {
		t.Fatalf("Addr %v", addr)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	srvConn := <-accepted
	raw, err := srvConn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var nodelay int
	raw.Control(func(fd uintptr) {
		nodelay, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	})
	if err != nil || nodelay == 0 {
		t.Fatalf("TCP_NODELAY = %d, %v", nodelay, err)
	}
	// The server closes first, so its side of the connection sits in
	// TIME_WAIT; with SO_REUSEADDR a new listener binds the port at once.
	srvConn.Close()
	client.SetReadDeadline(time.Now().Add(readLimit))
	client.Read(make([]byte, 1))
	client.Close()
	ln.Close()
	ln2, err := transport.ListenTCP(context.Background(), addr.String())
	if err != nil {
		t.Fatalf("rebinding %v: %v", addr, err)
	}
	ln2.Close()

	if _, err := transport.ListenTCP(context.Background(), "127.0.0.1:99999"); err == nil {
		t.Fatal("ListenTCP accepted a bad port")
	}
}

func TestPipeListenerSession(t *testing.T) {
	reg := walkRegistry()
	srv, err := server.New(server.Config{Registry: reg, TickRate: 50, Logger: quiet()}, newWalkGame())
	if err != nil {
		t.Fatal(err)
	}
	ln := transport.NewPipeListener()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	ctx := context.Background()
	var clients []*client
	for i, enc := range msg.Encodings {
		nc, err := ln.Dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a := nc.RemoteAddr(); a.Network() != "pipe" || a.String() != fmt.Sprintf("pipe:%d", i+1) || nc.LocalAddr() != a {
			t.Fatalf("addresses %v %v", a, nc.LocalAddr())
		}
		c := newClient(t, enc.String(), nc, reg, msg.Text)
		if enc != msg.Text {
			c.use(enc)
		}
		c.login()
		clients = append(clients, c)
	}
	if ln.Addr().Network() != "pipe" {
		t.Fatal("listener address")
	}
	seeMoves(t, clients)
	for _, c := range clients {
		c.send(&msg.Quit{}, 0)
		c.waitFor("BYE", func(env msg.Envelope) bool { _, ok := env.Msg.(*msg.Bye); return ok })
		c.expectClosed()
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	// A closed listener refuses both ends.
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := ln.Dial(ctx); err == nil {
		t.Fatal("Dial after Close succeeded")
	}
	// Dial gives up with its context when nobody accepts.
	ln2 := transport.NewPipeListener()
	defer ln2.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := ln2.Dial(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial without Accept: %v", err)
	}
}

// seeMoves has each client walk somewhere and checks every other client
// is told exactly where.
func seeMoves(t *testing.T, clients []*client) {
	t.Helper()
	for i, mover := range clients {
		x, y := int32(100+i), int32(200+i)
		mover.send(&Walk{X: x, Y: y}, 0)
		for _, o := range clients {
			if o == mover {
				continue
			}
			env := o.waitFor(fmt.Sprintf("%s's move", mover.name), func(env msg.Envelope) bool {
				at, ok := env.Msg.(*At)
				return ok && at.ID == mover.id
			})
			if at := env.Msg.(*At); at.X != x || at.Y != y {
				t.Fatalf("%s saw %s at %d,%d, want %d,%d", o.name, mover.name, at.X, at.Y, x, y)
			}
		}
	}
}

func TestWebSocketSubprotocols(t *testing.T) {
	ts := start(t, walkRegistry(), newWalkGame(), transport.WebSocketConfig{})
	watcher := ts.dialTCP(t, "tcp watcher", msg.Text)
	watcher.login()
	for _, c := range []struct {
		proto string
		want  msg.Encoding
	}{
		{transport.SubprotocolText, msg.Text},
		{transport.SubprotocolJSON, msg.JSON},
		{transport.SubprotocolMsgPack, msg.MsgPack},
		{"", msg.Text},
	} {
		t.Run(c.proto, func(t *testing.T) {
			var opts websocket.DialOptions
			if c.proto != "" {
				opts.Subprotocols = []string{c.proto}
			}
			ws, err := ts.dialWS(t, "ws "+c.proto, &opts)
			if err != nil {
				t.Fatal(err)
			}
			if ws.in.Encoding() != c.want {
				t.Fatalf("encoding %v, want %v", ws.in.Encoding(), c.want)
			}
			ws.send(&msg.Ping{Token: "p"}, 9)
			env := ws.waitFor("PONG", func(env msg.Envelope) bool { _, ok := env.Msg.(*msg.Pong); return ok })
			if env.RID != 9 || env.Msg.(*msg.Pong).Token != "p" {
				t.Fatalf("PONG %+v rid %d", env.Msg, env.RID)
			}
			ws.login()
			seeMoves(t, []*client{ws, watcher})
			ws.send(&msg.Quit{}, 0)
			ws.waitFor("BYE", func(env msg.Envelope) bool { _, ok := env.Msg.(*msg.Bye); return ok })
			ws.expectClosed()
		})
	}
}

// The WebSocket message type follows the framing: text messages for lines,
// binary ones for length-prefixed frames, switching with USE.
func TestWebSocketMessageTypes(t *testing.T) {
	ts := start(t, walkRegistry(), newWalkGame(), transport.WebSocketConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), readLimit)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, ts.ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.CloseNow()
	read := func() (websocket.MessageType, string) {
		typ, b, err := wc.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return typ, string(b)
	}
	// Two lines in one message, and a line split over two messages.
	wc.Write(ctx, websocket.MessageText, []byte("PING a\nPI"))
	wc.Write(ctx, websocket.MessageText, []byte("NG b\nUSE msgpack\n"))
	var text string
	for !strings.Contains(text, "USING msgpack\n") {
		typ, b := read()
		if typ != websocket.MessageText {
			t.Fatalf("message type %v before the switch", typ)
		}
		text += b
	}
	if text != "PONG a\nPONG b\nUSING msgpack\n" {
		t.Fatalf("got %q", text)
	}
	ping, _ := walkRegistry().Append(nil, msg.MsgPack, &msg.Ping{Token: "c"}, 0)
	wc.Write(ctx, websocket.MessageBinary, ping)
	typ, b := read()
	want, _ := walkRegistry().Append(nil, msg.MsgPack, &msg.Pong{Token: "c"}, 0)
	if typ != websocket.MessageBinary || b != string(want) {
		t.Fatalf("got %v % x, want binary % x", typ, b, want)
	}
}

func TestWebSocketOrigin(t *testing.T) {
	ts := start(t, walkRegistry(), newWalkGame(), transport.WebSocketConfig{OriginPatterns: []string{"game.example"}})
	host := strings.TrimPrefix(ts.ws, "ws://")
	host = host[:strings.IndexByte(host, '/')]
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{"", true},                      // not a browser
		{"http://" + host, true},        // the page's own host
		{"https://game.example", true},  // allowed by pattern
		{"https://evil.example", false}, // foreign
		{"http://127.0.0.1:1", false},   // same host, other port
		{"https://game.example.evil", false},
	} {
		opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
		if c.origin != "" {
			opts.HTTPHeader.Set("Origin", c.origin)
		}
		ws, err := ts.dialWS(t, "origin "+c.origin, opts)
		if c.ok {
			if err != nil {
				t.Fatalf("origin %q refused: %v", c.origin, err)
			}
			ws.login()
			ws.nc.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "HTTP 403") {
			t.Fatalf("origin %q: %v, want HTTP 403", c.origin, err)
		}
	}
}

// One player per encoding and transport in one game: text, JSON and
// MessagePack over TCP, and MessagePack and JSON over WebSocket. Each
// sees the others move.
func TestEveryEncodingSeesEveryOther(t *testing.T) {
	ts := start(t, walkRegistry(), newWalkGame(), transport.WebSocketConfig{})
	clients := []*client{
		ts.dialTCP(t, "tcp text", msg.Text),
		ts.dialTCP(t, "tcp json", msg.JSON),
		ts.dialTCP(t, "tcp msgpack", msg.MsgPack),
	}
	for _, proto := range []string{transport.SubprotocolMsgPack, transport.SubprotocolJSON} {
		ws, err := ts.dialWS(t, "ws "+proto, &websocket.DialOptions{Subprotocols: []string{proto}})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, ws)
	}
	for _, c := range clients {
		c.login()
	}
	seeMoves(t, clients)
}

// The demo arena played in every encoding at once: everyone logs in and
// sees everyone's chat.
func TestArenaAcrossEncodings(t *testing.T) {
	reg := msg.NewRegistry()
	arena.Register(reg)
	ts := start(t, reg, arena.New(), transport.WebSocketConfig{})
	clients := []*client{
		ts.dialTCP(t, "tcp text", msg.Text),
		ts.dialTCP(t, "tcp json", msg.JSON),
		ts.dialTCP(t, "tcp msgpack", msg.MsgPack),
	}
	ws, err := ts.dialWS(t, "ws msgpack", &websocket.DialOptions{Subprotocols: []string{transport.SubprotocolMsgPack}})
	if err != nil {
		t.Fatal(err)
	}
	clients = append(clients, ws)
	for _, c := range clients {
		c.login()
	}
	for _, speaker := range clients {
		text := "hello from " + speaker.name
		speaker.send(&arena.Say{Text: text}, 0)
		for _, c := range clients {
			c.waitFor("chat from "+speaker.name, func(env msg.Envelope) bool {
				ch, ok := env.Msg.(*arena.Chat)
				return ok && ch.Text == text
			})
		}
	}
}
