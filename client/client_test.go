package client

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/internal/testutil"

	"github.com/coder/websocket"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

func TestLoginGuestAndTypedCallbacks(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	c := ts.dial(t, testOptions())
	ctx := testCtx(t)

	var hellos []string
	On(c, func(m *Hello) { hellos = append(hellos, m.Text) })
	id, name, err := c.LoginGuest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id == 0 || name != fmt.Sprintf("guest-%d", id) {
		t.Fatalf("LoginGuest = %d, %q", id, name)
	}
	if c.ID() != id || c.Name() != name {
		t.Fatalf("ID, Name = %d, %q; want %d, %q", c.ID(), c.Name(), id, name)
	}
	// HELLO follows WELCOME in the same tick and reaches the callback.
	pollUntil(t, c, "HELLO", func() bool { return len(hellos) == 1 })
	if hellos[0] != "hello "+name {
		t.Fatalf("HELLO text %q", hellos[0])
	}

	// A burst arrives in order, through Send and the callback.
	var got []int32
	On(c, func(m *Seq) { got = append(got, m.I) })
	if err := c.Send(&Burst{N: 50}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, c, "the burst", func() bool { return len(got) == 50 })
	for i, v := range got {
		if v != int32(i) {
			t.Fatalf("message %d is SEQ %d: out of order", i, v)
		}
	}
	st := c.Stats()
	if st.BytesIn == 0 || st.BytesOut == 0 || st.MessagesIn < 52 || st.MessagesOut < 2 {
		t.Fatalf("counters not counting: %+v", st)
	}
	c.Close()
	if _, err := c.Poll(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Poll after Close = %v, want ErrClosed", err)
	}
	if err := c.Send(&Echo{Text: "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	waitNoClientGoroutines(t)
}

func TestPollIsNonBlocking(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	c := ts.dial(t, testOptions())
	// Nothing is queued before login (PONGs are consumed by the client):
	// Poll returns at once every time.
	for range 1000 {
		if n, err := c.Poll(); n != 0 || err != nil {
			t.Fatalf("Poll = %d, %v on an idle connection", n, err)
		}
	}
	// Messages without a callback are dropped and counted, not returned.
	if _, _, err := c.LoginGuest(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, c, "the unhandled HELLO", func() bool { return c.Stats().Unhandled == 1 })
	c.Close()
	waitNoClientGoroutines(t)
}

func TestOnPanicsForUnregisteredType(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	c := ts.dial(t, testOptions())
	defer func() {
		if recover() == nil {
			t.Fatal("On for an unregistered type did not panic")
		}
	}()
	On(c, func(*struct{ A int }) {})
}

func TestRequestReplyCorrelation(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	c := ts.dial(t, testOptions())
	ctx := testCtx(t)
	if _, _, err := c.LoginGuest(ctx); err != nil {
		t.Fatal(err)
	}
	// Concurrent requests each get their own answer.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			text := fmt.Sprintf("request %d", i)
			reply, err := c.Request(ctx, &Echo{Text: text})
			if err != nil {
				errs <- err
				return
			}
			if e, ok := reply.(*Echoed); !ok || e.Text != text {
				errs <- fmt.Errorf("request %q answered %#v", text, reply)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The reader answers PING itself, with the request id.
	reply, err := c.Request(ctx, &msg.Ping{Token: "abc"})
	if p, ok := reply.(*msg.Pong); err != nil || !ok || p.Token != "abc" {
		t.Fatalf("PING request = %#v, %v", reply, err)
	}
	// HELP is answered with several INFO lines tagged with the id: the
	// first answers the request, the rest go to Poll.
	reply, err = c.Request(ctx, &msg.Help{})
	if n, ok := reply.(*msg.Notice); err != nil || !ok || !strings.HasPrefix(n.Text, "commands") {
		t.Fatalf("HELP request = %#v, %v", reply, err)
	}
	// A refusal is the ERR and a *ServerError carrying its code.
	reply, err = c.Request(ctx, &Nop{})
	var se *ServerError
	if !errors.As(err, &se) || se.Code != "unhandled" {
		t.Fatalf("unhandled request error = %v, want ServerError unhandled", err)
	}
	if e, ok := reply.(*msg.Err); !ok || e.Code != "unhandled" {
		t.Fatalf("unhandled request reply = %#v", reply)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Request(cctx, &Echo{Text: "late"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Request with a canceled context = %v", err)
	}
	c.pmu.Lock()
	pending := len(c.pending)
	c.pmu.Unlock()
	if pending != 0 {
		t.Fatalf("%d requests still pending", pending)
	}
}

// exerciseEncoding logs in and checks a round trip of floats and lists and
// the encoding the server saw.
func exerciseEncoding(t *testing.T, c *Client, enc msg.Encoding) {
	t.Helper()
	ctx := testCtx(t)
	if _, _, err := c.LoginGuest(ctx); err != nil {
		t.Fatal(err)
	}
	want := &Walked{X: 1.5, Y: -2.25e10, IDs: []uint16{1, 2, 65535}, Enc: enc.String()}
	reply, err := c.Request(ctx, &Walk{X: want.X, Y: want.Y, IDs: want.IDs})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(reply, want) {
		t.Fatalf("MOVE answered %#v, want %#v", reply, want)
	}
	if c.Encoding() != enc {
		t.Fatalf("Encoding = %v, want %v", c.Encoding(), enc)
	}
	var hello string
	On(c, func(m *Hello) { hello = m.Text })
	pollUntil(t, c, "HELLO", func() bool { return hello != "" })
}

func TestEncodingsOverTCP(t *testing.T) {
	_, addr := startTCP(t, server.Config{})
	for _, enc := range msg.Encodings {
		t.Run(enc.String(), func(t *testing.T) {
			opts := testOptions()
			opts.Encoding = enc
			c, err := Dial(testCtx(t), addr, opts)
			if err != nil {
				t.Fatal(err)
			}
			exerciseEncoding(t, c, enc)
			c.Close()
			waitNoClientGoroutines(t)
		})
	}
}

func TestEncodingsOverPipe(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	for _, enc := range []msg.Encoding{msg.JSON, msg.MsgPack} {
		t.Run(enc.String(), func(t *testing.T) {
			opts := testOptions()
			opts.Encoding = enc
			exerciseEncoding(t, ts.dial(t, opts), enc)
		})
	}
}

func TestWebSocket(t *testing.T) {
	_, url := startWS(t, server.Config{})
	for _, enc := range msg.Encodings {
		t.Run(enc.String(), func(t *testing.T) {
			opts := testOptions()
			opts.Encoding = enc
			c, err := DialWebSocket(testCtx(t), url, opts)
			if err != nil {
				t.Fatal(err)
			}
			exerciseEncoding(t, c, enc)
			c.Close()
			waitNoClientGoroutines(t)
		})
	}
	// Without a subprotocol the connection starts in text and the client
	// switches with USE, changing the WebSocket message type in between.
	t.Run("use-fallback", func(t *testing.T) {
		ws, _, err := websocket.Dial(testCtx(t), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		opts := testOptions()
		opts.Encoding = msg.MsgPack
		c, err := New(transport.NewWebSocketConn(ws, "server", "client"), opts)
		if err != nil {
			t.Fatal(err)
		}
		exerciseEncoding(t, c, msg.MsgPack)
		c.Close()
		waitNoClientGoroutines(t)
	})
}

func TestKeepaliveWhenIdle(t *testing.T) {
	rec := &recordingListener{}
	ts := startServer(t, server.Config{IdleTimeout: 300 * time.Millisecond}, func(ln net.Listener) net.Listener {
		rec.Listener = ln
		return rec
	})
	opts := testOptions()
	opts.Keepalive = 20 * time.Millisecond
	opts.PingInterval = -1 // pings would count as traffic
	c := ts.dial(t, opts)
	ctx := testCtx(t)
	if _, _, err := c.LoginGuest(ctx); err != nil {
		t.Fatal(err)
	}
	keepalives := func() int {
		_, after, _ := strings.Cut(rec.String(), "AUTH guest\n")
		lines := strings.Split(after, "\n")
		n := 0
		for _, l := range lines[:len(lines)-1] { // the last piece is unterminated
			if l == "" {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for keepalives() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the server read no keepalives: %q", rec.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Keepalives alone keep the connection past the server's idle timeout.
	time.Sleep(600 * time.Millisecond)
	if _, err := c.Request(ctx, &Echo{Text: "still here"}); err != nil {
		t.Fatalf("connection did not survive the idle timeout on keepalives: %v", err)
	}
}

func TestServerByeIsAnError(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	c := ts.dial(t, testOptions())
	ctx := testCtx(t)
	if _, _, err := c.LoginGuest(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(&KickMe{Reason: "cheating"}); err != nil {
		t.Fatal(err)
	}
	var err error
	pollUntil(t, c, "BYE", func() bool {
		_, err = c.Poll()
		return err != nil
	})
	var bye *ByeError
	if !errors.As(err, &bye) || bye.Reason != "cheating" {
		t.Fatalf("Poll error = %v, want BYE cheating", err)
	}
	if _, again := c.Poll(); again != err {
		t.Fatalf("the next Poll returned %v, want the same error", again)
	}
	if err := c.Send(&Echo{Text: "x"}); err != bye {
		t.Fatalf("Send after BYE = %v", err)
	}
	if _, err := c.Request(ctx, &Echo{Text: "x"}); err != bye {
		t.Fatalf("Request after BYE = %v", err)
	}
	if c.Err() != bye {
		t.Fatalf("Err = %v", c.Err())
	}
	c.Close()
	waitNoClientGoroutines(t)
}

func TestShutdownBye(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	c := ts.dial(t, testOptions())
	if _, _, err := c.LoginGuest(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	go ts.srv.Shutdown(context.Background())
	<-c.Done()
	var bye *ByeError
	if _, err := c.Poll(); !errors.As(err, &bye) || bye.Reason != "shutdown" {
		t.Fatalf("Poll after shutdown = %v, want BYE shutdown", err)
	}
}

func TestLoginRefused(t *testing.T) {
	ts := startServer(t, server.Config{DisableGuests: true}, nil)
	c := ts.dial(t, testOptions())
	ctx := testCtx(t)
	var se *ServerError
	if _, _, err := c.LoginGuest(ctx); !errors.As(err, &se) || se.Code != "auth" {
		t.Fatalf("LoginGuest on a server without guests = %v, want ERR auth", err)
	}
	if _, _, err := c.Login(ctx, "bob", "token"); !errors.As(err, &se) || se.Code != "auth" {
		t.Fatalf("Login without an authenticator = %v, want ERR auth", err)
	}
	if c.ID() != 0 {
		t.Fatal("ID set without a login")
	}
}

func TestInboundQueueIsBounded(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	opts := testOptions()
	opts.InboundQueue = 8
	c := ts.dial(t, opts)
	ctx := testCtx(t)
	if _, _, err := c.LoginGuest(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(&Burst{N: 200}); err != nil {
		t.Fatal(err)
	}
	queued := func() int {
		c.inMu.Lock()
		defer c.inMu.Unlock()
		return len(c.inbox)
	}
	deadline := time.Now().Add(10 * time.Second)
	for queued() < opts.InboundQueue {
		if time.Now().After(deadline) {
			t.Fatal("the inbound queue never filled")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the reader would overfill now if it could
	if n := queued(); n > opts.InboundQueue {
		t.Fatalf("%d messages queued, bound %d", n, opts.InboundQueue)
	}
	var got []int32
	On(c, func(m *Seq) { got = append(got, m.I) })
	pollUntil(t, c, "the whole burst", func() bool { return len(got) == 200 })
	for i, v := range got {
		if v != int32(i) {
			t.Fatalf("message %d is SEQ %d", i, v)
		}
	}
}

func TestSendChecksAndOutboundBound(t *testing.T) {
	a, b := net.Pipe() // nobody reads b: the writer blocks on its first write
	defer b.Close()
	opts := testOptions()
	opts.OutboundQueue = 4
	opts.PingInterval = -1
	opts.Keepalive = -1
	opts.MaxMessage = 64
	c, err := New(a, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(&Echoed{Text: "x"}); err == nil {
		t.Fatal("Send of a server-to-client message succeeded")
	}
	if err := c.Send(&struct{ A int }{}); err == nil {
		t.Fatal("Send of an unregistered type succeeded")
	}
	if err := c.Send(&Echo{Text: strings.Repeat("x", 201)}); err == nil {
		t.Fatal("Send of a message breaking its limits succeeded")
	}
	if err := c.Send(&msg.Use{Encoding: "json"}); err == nil {
		t.Fatal("Send of USE succeeded")
	}
	if err := c.Send(&Echo{Text: strings.Repeat("x", 100)}); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Send over MaxMessage = %v, want ErrTooLong", err)
	}
	full := false
	for i := 0; i < 2*opts.OutboundQueue+2 && !full; i++ {
		err := c.Send(&Echo{Text: "queued"})
		switch {
		case errors.Is(err, ErrQueueFull):
			full = true
		case err != nil:
			t.Fatal(err)
		}
	}
	if !full {
		t.Fatal("Send never reported a full queue while the connection was stuck")
	}
	c.Close() // unblocks the stuck write
	waitNoClientGoroutines(t)
}

func TestRTTOverConditionedLink(t *testing.T) {
	const latency = 25 * time.Millisecond
	ts := startServer(t, server.Config{}, func(ln net.Listener) net.Listener {
		return transport.Condition(ln, transport.LinkConfig{Latency: latency})
	})
	opts := testOptions()
	opts.PingInterval = 10 * time.Millisecond
	c := ts.dial(t, opts)
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().LastRTT == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no RTT sample")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The link delays each direction by latency: a round trip takes at
	// least twice that.
	if st := c.Stats(); st.LastRTT < 2*latency || c.RTT() < 2*latency {
		t.Fatalf("RTT %v (last %v) below 2×latency %v", c.RTT(), st.LastRTT, 2*latency)
	}
	c.Close()
	waitNoClientGoroutines(t)
}

func TestLogReachesServerLog(t *testing.T) {
	var logs testutil.LogBuffer
	ts := startServer(t, server.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, nil)
	c := ts.dial(t, testOptions())
	if _, _, err := c.LoginGuest(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Log(slog.LevelWarn, "the frame rate dropped"); err != nil {
		t.Fatal(err)
	}
	if err := c.Log(slog.LevelInfo, strings.Repeat("é", 400)); err != nil {
		t.Fatalf("a long line is cut, not refused: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "level=WARN msg=\"client log\"") || !strings.Contains(logs.String(), "the frame rate dropped") {
		if time.Now().After(deadline) {
			t.Fatalf("LOG line not in the server log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestQuit(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	c := ts.dial(t, testOptions())
	if _, _, err := c.LoginGuest(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Poll(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Poll after Quit = %v, want ErrClosed", err)
	}
	waitNoClientGoroutines(t)
}

func TestReplicaModelDesyncAndPrediction(t *testing.T) {
	ts := startServer(t, server.Config{}, nil)
	opts := testOptions()
	opts.Replica = true
	c := ts.dial(t, opts)
	ctx := testCtx(t)
	if _, _, err := c.LoginGuest(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(&SyncMe{}); err != nil {
		t.Fatal(err)
	}
	m := c.Model()
	pollUntil(t, c, "the snapshot and a DELTA", func() bool { e, ok := m.Entity(5); return ok && !m.Loading() && e.Vals[1] != 4 })
	if e, _ := m.Entity(5); e.Vals[0] != 2 || e.Vals[1] != 6 {
		t.Fatalf("entity 5 = %+v, want 3,4 moved by -1,+2", e)
	}
	// The planted inconsistencies come back as DESYNC reports.
	pollUntil(t, c, "DESYNC reports", func() bool { return len(ts.game.reports()) == 2 })
	reasons := []string{ts.game.reports()[0].Reason, ts.game.reports()[1].Reason}
	if reasons[0] != replica.ReasonSnapshot || reasons[1] != replica.ReasonUnknown {
		t.Fatalf("DESYNC reasons %v", reasons)
	}
	if st := c.Stats(); st.DesyncsSent != 2 {
		t.Fatalf("DesyncsSent = %d", st.DesyncsSent)
	}

	// Prediction: the client predicts +5 per step, the server allows +1;
	// each ACK snaps the prediction to the server's state.
	type pos struct{ X, Y int32 }
	p := replica.NewPredictor(pos{3, 4}, func(s pos, dx int32) pos { return pos{s.X + dx, s.Y} })
	pred := Predict(c, p,
		func(seq uint32, dx int32) any { return &Step{Seq: seq, DX: dx} },
		func(a *replica.Ack) pos { return pos{a.Vals[0], a.Vals[1]} })
	if s, err := pred.Input(5); err != nil || s != (pos{8, 4}) {
		t.Fatalf("predicted %v, %v", s, err)
	}
	pollUntil(t, c, "the ACK", func() bool { return p.Pending() == 0 })
	if p.State() != (pos{4, 4}) || p.Snaps() != 1 || pred.Seq() != 1 {
		t.Fatalf("after the ACK: state %v, snaps %d, seq %d", p.State(), p.Snaps(), pred.Seq())
	}
	if m.Own() != 5 || m.LastAck() != 1 {
		t.Fatalf("model own %d, last ack %d", m.Own(), m.LastAck())
	}
}

func TestFetchTokenAndPinnedTLS(t *testing.T) {
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Name, Password string }
		if r.Method != http.MethodPost || r.URL.Path != "/v1/login" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, `{"code":"bad_request","message":"bad request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if req.Name != "ana" || req.Password != "correct horse" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"code":"bad_credentials","message":"wrong name or password"}`))
			return
		}
		w.Write([]byte(`{"token":"tok-123","name":"ana","expires_in":60}`))
	}))
	defer hs.Close()
	sum := sha256.Sum256(hs.Certificate().Raw)
	fp := formatFingerprint(sum[:])
	ctx := testCtx(t)

	for _, cfg := range []*tls.Config{PinnedTLS(fp), PinnedTLS(strings.ToLower(strings.ReplaceAll(fp, ":", ""))), {InsecureSkipVerify: true}} {
		tok, err := FetchToken(ctx, hs.URL, "ana", "correct horse", cfg)
		if err != nil || tok != "tok-123" {
			t.Fatalf("FetchToken = %q, %v", tok, err)
		}
	}
	if tok, err := FetchToken(ctx, hs.URL+"/v1/login", "ana", "correct horse", PinnedTLS(fp)); err != nil || tok != "tok-123" {
		t.Fatalf("FetchToken with the full endpoint = %q, %v", tok, err)
	}
	var ae *AuthError
	if _, err := FetchToken(ctx, hs.URL, "ana", "wrong", PinnedTLS(fp)); !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "bad_credentials" {
		t.Fatalf("wrong password = %v", err)
	}
	other := sha256.Sum256([]byte("another certificate"))
	if _, err := FetchToken(ctx, hs.URL, "ana", "correct horse", PinnedTLS(formatFingerprint(other[:]))); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("wrong pin = %v", err)
	}
	if _, err := FetchToken(ctx, hs.URL, "ana", "correct horse", PinnedTLS("not-a-fingerprint")); err == nil || !strings.Contains(err.Error(), "bad SHA-256 fingerprint") {
		t.Fatalf("malformed pin = %v", err)
	}
	if _, err := FetchToken(ctx, hs.URL, "ana", "correct horse", nil); err == nil {
		t.Fatal("the system roots accepted a self-signed certificate")
	}
}

// TestWebSocketThroughConditioner serves WebSocket connections through the
// link conditioner, as "tickwire serve --latency" does: the conditioned
// connection must pass the subprotocol's encoding and the message type
// switches through.
func TestWebSocketThroughConditioner(t *testing.T) {
	const latency = 15 * time.Millisecond
	ts := startServer(t, server.Config{}, nil)
	link := transport.LinkConfig{Latency: latency, Jitter: 5 * time.Millisecond, Bandwidth: 256 << 10}
	h := transport.WebSocketHandler(transport.WebSocketConfig{Logger: quietLogger()}, func(c net.Conn) {
		ts.srv.ServeConn(transport.ConditionConn(c, link))
	})
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		ts.srv.Shutdown(ctx)
	})
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	for _, enc := range msg.Encodings {
		t.Run(enc.String(), func(t *testing.T) {
			opts := testOptions()
			opts.Encoding = enc
			opts.PingInterval = 10 * time.Millisecond
			c, err := DialWebSocket(testCtx(t), url, opts)
			if err != nil {
				t.Fatal(err)
			}
			exerciseEncoding(t, c, enc)
			deadline := time.Now().Add(10 * time.Second)
			for c.Stats().LastRTT == 0 {
				if time.Now().After(deadline) {
					t.Fatal("no RTT sample")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if rtt := c.Stats().LastRTT; rtt < 2*(latency-5*time.Millisecond) {
				t.Fatalf("RTT %v below the conditioned minimum", rtt)
			}
			c.Close()
			waitNoClientGoroutines(t)
		})
	}
}

func TestLoginDeadlineIgnoresKeepalives(t *testing.T) {
	ts := startServer(t, server.Config{LoginTimeout: 200 * time.Millisecond}, nil)
	opts := testOptions()
	opts.PingInterval = -1
	// Keepalives do not keep a connection that has not logged in open:
	// the login deadline runs from accept.
	opts.Keepalive = 20 * time.Millisecond
	idle := ts.dial(t, opts)
	time.Sleep(500 * time.Millisecond)
	if _, _, err := idle.LoginGuest(testCtx(t)); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("login after the login deadline: %v, want the server's BYE timeout", err)
	}
	// Within the deadline a login works.
	if _, _, err := ts.dial(t, opts).LoginGuest(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// writeFailer fails every write once fail is set, as a socket the server
// has closed does.
type writeFailer struct {
	net.Conn
	fail atomic.Bool
}

func (w *writeFailer) Write(p []byte) (int, error) {
	if w.fail.Load() {
		return 0, errors.New("write: broken pipe")
	}
	return w.Conn.Write(p)
}

// TestByeWinsOverAFailedWrite: a BYE the client has received is why it
// ended, even when a write fails (the server closed the connection after
// its BYE) before the reader reaches the end of the stream. A CI run saw
// "write: closed pipe" where the server had said BYE shutdown.
func TestByeWinsOverAFailedWrite(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	conn := &writeFailer{Conn: a}
	opts := testOptions()
	opts.PingInterval = -1
	opts.Keepalive = -1
	c, err := New(conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	// net.Pipe is synchronous: once Write returns, the client's reader has
	// the BYE.
	if _, err := b.Write([]byte("BYE shutdown\n")); err != nil {
		t.Fatal(err)
	}
	conn.fail.Store(true)
	if err := c.Send(&Echo{Text: "late"}); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	var bye *ByeError
	if _, err := c.Poll(); !errors.As(err, &bye) || bye.Reason != "shutdown" {
		t.Fatalf("Poll = %v, want BYE shutdown", err)
	}
	waitNoClientGoroutines(t)
}
