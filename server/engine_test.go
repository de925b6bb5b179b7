package server_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// loopConfig is testConfig on the event loop.
func loopConfig() server.Config {
	cfg := testConfig()
	cfg.Engine = server.EngineEventLoop
	return cfg
}

func TestEngineConfig(t *testing.T) {
	if _, err := server.New(server.Config{Engine: "threads"}, newTestGame()); err == nil || !strings.Contains(err.Error(), "Engine") {
		t.Fatalf("unknown engine accepted: %v", err)
	}
	t.Setenv("TICKWIRE_ENGINE", "")
	s, err := server.New(server.Config{}, newTestGame())
	if err != nil || s.Config().Engine != server.EngineGoroutine {
		t.Fatalf("default engine %q, %v", s.Config().Engine, err)
	}
	t.Setenv("TICKWIRE_ENGINE", server.EngineEventLoop)
	if s, _ := server.New(server.Config{}, newTestGame()); s.Config().Engine != server.EngineEventLoop {
		t.Fatalf("TICKWIRE_ENGINE ignored: %q", s.Config().Engine)
	}
	if s, _ := server.New(server.Config{Engine: server.EngineGoroutine}, newTestGame()); s.Config().Engine != server.EngineGoroutine {
		t.Fatal("Config.Engine must win over TICKWIRE_ENGINE")
	}
}

// On the event loop a logged-in idle connection has no goroutine of its
// own.
func TestEventLoopIdleConnsHaveNoGoroutines(t *testing.T) {
	g := newTestGame()
	ts := startTCP(t, loopConfig(), g)
	warm := dial(t, ts) // starts the loop and its workers
	warm.login()
	g.waitJoin(t)
	runtime.GC()
	before := runtime.NumGoroutine()
	const n = 50
	for range n {
		c := dial(t, ts)
		c.login()
		g.waitJoin(t)
	}
	// Writers linger nowhere and readers do not exist: what is left are
	// the test's own goroutines and at most a few passing timers.
	var after int
	waitFor(t, "goroutines to settle", func() bool {
		after = runtime.NumGoroutine()
		return after-before < n/5
	})
}

// A full inbound queue stops reading a connection's input (it is kept)
// until the tick drains it; nothing is lost or reordered.
func TestEventLoopInboxFullPausesInput(t *testing.T) {
	cfg := loopConfig()
	cfg.MaxInbound = 4
	g := newTestGame()
	srv, err := server.New(cfg, g)
	if err != nil {
		t.Fatal(err)
	}
	srv.ManualTicks()
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(ln) }()
	t.Cleanup(func() { ts.shutdown(t) })

	c := dial(t, ts)
	c.write("AUTH guest\n")
	waitFor(t, "the join", func() bool { return srv.PendingInbound() == 1 })
	srv.RunTick()
	g.waitJoin(t)
	var b strings.Builder
	for i := range 10 {
		b.WriteString("ECHO m" + string(rune('0'+i)) + "\n")
	}
	c.write(b.String())
	waitFor(t, "4 inputs", func() bool { return srv.PendingInbound() == 4 })
	got := 0
	for got < 10 {
		srv.RunTick()
		for {
			select {
			case in := <-g.inputs:
				if m := in.Msg.(*Echo); m.Text != "m"+string(rune('0'+got)) {
					t.Fatalf("input %d is %q", got, m.Text)
				}
				got++
				continue
			default:
			}
			break
		}
		if got < 10 {
			waitFor(t, "more input", func() bool { return srv.PendingInbound() > 0 })
		}
	}
}

// Input sent while it is paused is bounded: past the backlog the client
// is cut off.
func TestEventLoopFlooderCutOff(t *testing.T) {
	cfg := loopConfig()
	cfg.MaxInbound = 1
	g := newTestGame()
	srv, err := server.New(cfg, g)
	if err != nil {
		t.Fatal(err)
	}
	srv.ManualTicks()
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(ln) }()
	t.Cleanup(func() { ts.shutdown(t) })
	c := dial(t, ts)
	c.write("AUTH guest\n")
	waitFor(t, "the join", func() bool { return srv.PendingInbound() == 1 })
	srv.RunTick()
	g.waitJoin(t)
	c.skipTo("LIMITS ")
	line := "ECHO " + strings.Repeat("x", 900) + "\n"
	go func() {
		for range 200 { // 180 KB, far past the backlog
			if _, err := c.nc.Write([]byte(line)); err != nil {
				return
			}
		}
	}()
	c.skipTo("ERR too_long")
	c.expect("BYE too_long")
	c.expectClosed()
	if st := srv.Stats(); st.Closed["too_long"] != 1 {
		t.Fatalf("closed %v", st.Closed)
	}
}

// blockingAuth holds every AUTH until released.
type blockingAuth struct {
	release chan struct{}
	started chan struct{}
}

func (a *blockingAuth) Authenticate(ctx context.Context, user, secret string, _ netip.Addr) (server.Identity, error) {
	a.started <- struct{}{}
	select {
	case <-a.release:
	case <-ctx.Done():
		return server.Identity{}, ctx.Err()
	}
	return server.Identity{AccountID: 7, Name: user}, nil
}

// An AUTH the Authenticator takes its time over does not hold up the
// event loop, and the connection's later input waits for its answer.
func TestEventLoopAuthDoesNotBlockTheLoop(t *testing.T) {
	cfg := loopConfig()
	a := &blockingAuth{release: make(chan struct{}), started: make(chan struct{}, 1)}
	cfg.Authenticator = a
	g := newTestGame()
	ts := startTCP(t, cfg, g)
	slow := dial(t, ts)
	slow.write("AUTH ann secret\nPING 1\n")
	<-a.started
	// Another connection is served meanwhile.
	other := dial(t, ts)
	other.write("PING 2\n")
	other.expect("PONG 2")
	close(a.release)
	// PING 1 is answered once the AUTH is (the reader's answers do not
	// wait for the tick, WELCOME does, so either may come first).
	seen := map[string]bool{}
	for !seen["WELCOME"] || !seen["PONG"] {
		l := slow.line()
		seen[strings.Fields(l)[0]] = true
	}
}

// A WebSocket client logs in on the event loop with the MessagePack
// subprotocol.
func TestEventLoopWebSocket(t *testing.T) {
	g := newTestGame()
	ts := startTCP(t, loopConfig(), g)
	hs := httptest.NewServer(ts.WebSocketHandler(transport.WebSocketConfig{Logger: quietLogger()}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), readLimit)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), &websocket.DialOptions{Subprotocols: []string{transport.SubprotocolMsgPack}})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.CloseNow()
	codec := ts.Registry().NewCodec(msg.MsgPack)
	b, _ := codec.Append(nil, &msg.Auth{User: "guest"}, 0)
	if err := wc.Write(ctx, websocket.MessageBinary, b); err != nil {
		t.Fatal(err)
	}
	typ, data, err := wc.Read(ctx)
	if err != nil || typ != websocket.MessageBinary {
		t.Fatalf("%v %v", typ, err)
	}
	fr := frame.NewReader(bytes.NewReader(data), 0)
	fr.SetMode(frame.Binary)
	first, err := fr.Next()
	if err != nil {
		t.Fatal(err)
	}
	env, err := codec.Decode(first, msg.ToClient)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := env.Msg.(*msg.Welcome); !ok {
		t.Fatalf("got %T, want WELCOME", env.Msg)
	}
	g.waitJoin(t)
	wc.Close(websocket.StatusNormalClosure, "")
	if l := g.waitLeave(t); !strings.Contains(l.Reason.Error(), "closed") {
		t.Fatalf("left for %v", l.Reason)
	}
}
