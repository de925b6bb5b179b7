package client

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// The test game's messages.

// Echo asks for an Echoed reply with the same text.
type Echo struct {
	Text string `tw:"text,max=200,rest"`
}

// Echoed answers Echo.
type Echoed struct {
	Text string `tw:"text,max=200,rest"`
}

// Walk exercises floats and lists in every encoding.
type Walk struct {
	X   float32  `tw:"x"`
	Y   float64  `tw:"y"`
	IDs []uint16 `tw:"ids"`
}

// Walked echoes Walk with the encoding the server saw it in.
type Walked struct {
	X   float32  `tw:"x"`
	Y   float64  `tw:"y"`
	IDs []uint16 `tw:"ids"`
	Enc string   `tw:"enc,max=16"`
}

// KickMe asks the server to kick the sender with a reason.
type KickMe struct {
	Reason string `tw:"reason,max=64"`
}

// Burst asks for N Seq messages in one tick.
type Burst struct {
	N int32 `tw:"n,min=1,max=1000"`
}

// Seq is one message of a burst.
type Seq struct {
	I int32 `tw:"i"`
}

// Hello greets a player who joined.
type Hello struct {
	Text string `tw:"text,max=100,rest"`
}

// Hop asks the node game (move_test.go) to move the player to its peer
// server; Own moves it with ticket "-" (its own seat token).
type Hop struct {
	Own bool `tw:"own,optional"`
}

// Nop is a message the game does not handle.
type Nop struct{}

// SyncMe asks for a small replica stream, with planted inconsistencies.
type SyncMe struct{}

// Step is a predicted input: move the own entity DX along x.
type Step struct {
	Seq uint32 `tw:"seq"`
	DX  int32  `tw:"dx"`
}

func testRegistry() *msg.Registry {
	reg := msg.NewRegistry()
	msg.Define[Echo](reg, msg.Info{ID: 40, Name: "ECHO", Dir: msg.ToServer, Causes: []string{"ECHOED"}})
	msg.Define[Echoed](reg, msg.Info{ID: 41, Name: "ECHOED", Dir: msg.ToClient})
	msg.Define[Walk](reg, msg.Info{ID: 42, Name: "WALK", Dir: msg.ToServer, Causes: []string{"WALKED"}})
	msg.Define[Walked](reg, msg.Info{ID: 43, Name: "WALKED", Dir: msg.ToClient})
	msg.Define[KickMe](reg, msg.Info{ID: 44, Name: "KICKME", Dir: msg.ToServer, Causes: []string{"BYE"}})
	msg.Define[Burst](reg, msg.Info{ID: 45, Name: "BURST", Dir: msg.ToServer, Causes: []string{"SEQ"}})
	msg.Define[Seq](reg, msg.Info{ID: 46, Name: "SEQ", Dir: msg.ToClient})
	msg.Define[Hello](reg, msg.Info{ID: 47, Name: "HELLO", Dir: msg.ToClient})
	msg.Define[SyncMe](reg, msg.Info{ID: 48, Name: "SYNCME", Dir: msg.ToServer})
	msg.Define[Step](reg, msg.Info{ID: 49, Name: "STEP", Dir: msg.ToServer, Causes: []string{"ACK"}})
	msg.Define[Nop](reg, msg.Info{ID: 50, Name: "NOP", Dir: msg.ToServer})
	msg.Define[Hop](reg, msg.Info{ID: 51, Name: "HOP", Dir: msg.ToServer, Causes: []string{"MOVED", "BYE"}})
	replica.Register(reg)
	return reg
}

// testGame answers the test messages. It records the DESYNC reports and
// the encodings it saw.
type testGame struct {
	mu      sync.Mutex
	desyncs []replica.DesyncReport
	x       int32 // the own entity's x for Step
}

func (g *testGame) Join(t *server.Tick, p *server.Player) error {
	p.Send(&Hello{Text: "hello " + p.Name()})
	return nil
}

func (g *testGame) Update(t *server.Tick) {
	for _, in := range t.Inputs {
		p := in.Player
		switch m := in.Msg.(type) {
		case *Echo:
			p.Reply(in, &Echoed{Text: m.Text})
		case *Walk:
			p.Reply(in, &Walked{X: m.X, Y: m.Y, IDs: m.IDs, Enc: p.Encoding().String()})
		case *KickMe:
			p.Kick(m.Reason)
		case *Burst:
			for i := range m.N {
				p.Send(&Seq{I: i})
			}
		case *SyncMe:
			p.Send(&replica.KindInfo{Kind: 1, Name: "unit", Fields: "x,y"})
			p.Send(&replica.ZoneStart{Zone: 1, Snap: 1, W: 1, H: 1, Unit: 1})
			p.Send(&replica.Enter{ID: 5, Kind: 1, Vals: []int32{3, 4}})
			p.Send(&replica.SnapEnd{Snap: 1, Count: 1, Sum: 12345})      // wrong: a desync
			p.Send(&replica.Delta{ID: 9, Mask: 1, Vals: []int32{1}})     // unknown entity: a desync
			p.Send(&replica.Delta{ID: 5, Mask: 3, Vals: []int32{-1, 2}}) // relative: to 2,6
			g.x = 3
		case *Step:
			// The server allows at most 1 per step, so a prediction of 5
			// is corrected.
			g.x += min(m.DX, 1)
			p.Send(&replica.Ack{Seq: m.Seq, ID: 5, Vals: []int32{g.x, 4}})
		case *replica.DesyncReport:
			g.mu.Lock()
			g.desyncs = append(g.desyncs, *m)
			g.mu.Unlock()
		default:
			p.Error(in, "unhandled", in.Type.Name+" is not handled")
		}
	}
}

func (g *testGame) Leave(t *server.Tick, p *server.Player, reason error) {}

func (g *testGame) reports() []replica.DesyncReport {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]replica.DesyncReport(nil), g.desyncs...)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testServer is a running server with the test game.
type testServer struct {
	srv  *server.Server
	game *testGame
	pipe *transport.PipeListener
}

// startServer serves the test game on an in-memory pipe listener, wrapped
// by wrap when not nil. Shutdown happens at cleanup.
func startServer(t *testing.T, cfg server.Config, wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	if cfg.Registry == nil {
		cfg.Registry = testRegistry()
	}
	if cfg.TickRate == 0 {
		cfg.TickRate = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	g := &testGame{}
	srv, err := server.New(cfg, g)
	if err != nil {
		t.Fatal(err)
	}
	pl := transport.NewPipeListener()
	var ln net.Listener = pl
	if wrap != nil {
		ln = wrap(pl)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &testServer{srv: srv, game: g, pipe: pl}
}

// startTCP serves the test game on a loopback TCP port and returns the
// address.
func startTCP(t *testing.T, cfg server.Config) (*testServer, string) {
	t.Helper()
	ts := startServer(t, cfg, nil)
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.Serve(ln)
	return ts, ln.Addr().String()
}

// startWS serves the test game's WebSocket endpoint on an httptest server
// and returns the ws:// URL of /ws.
func startWS(t *testing.T, cfg server.Config) (*testServer, string) {
	t.Helper()
	ts := startServer(t, cfg, nil)
	h := transport.WebSocketHandler(transport.WebSocketConfig{Logger: quietLogger()}, ts.srv.ServeConn)
	hs := httptest.NewServer(h)
	// Cleanups run last-in first-out: the game server shuts down (closing
	// the WebSocket connections) before the HTTP server closes.
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		ts.srv.Shutdown(ctx)
	})
	return ts, "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
}

// testOptions are quiet client options for the test registry.
func testOptions() Options {
	return Options{Registry: testRegistry(), Logger: quietLogger()}
}

func (ts *testServer) dial(t *testing.T, opts Options) *Client {
	t.Helper()
	conn, err := ts.pipe.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pollUntil polls c (as a game loop would, every millisecond) until cond
// holds or a generous timeout passes. It returns the first Poll error.
func pollUntil(t *testing.T, c *Client, what string, cond func() bool) error {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var first error
	for !cond() {
		if _, err := c.Poll(); err != nil && first == nil {
			first = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (poll error: %v)", what, first)
		}
		time.Sleep(time.Millisecond)
	}
	return first
}

// waitNoClientGoroutines fails if goroutines of a Client are still running.
func waitNoClientGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte("tickwire/client.(*Client)")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client goroutines still running:\n%s", buf[:n])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recordingListener records every byte the server reads.
type recordingListener struct {
	net.Listener
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, l: l}, nil
}

func (l *recordingListener) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type recordingConn struct {
	net.Conn
	l *recordingListener
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.l.buf.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}
