package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tickwire/tickwire/bench/refserver/relay"
)

const testTick = 50 * time.Millisecond // 20 Hz, the relay default

// startRelay runs the reference relay on a loopback port. wrap, if not nil,
// wraps every accepted connection.
func startRelay(t *testing.T, wrap func(net.Conn) net.Conn) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := relay.New(testTick, nil)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if wrap != nil {
				c = wrap(c)
			}
			go srv.ServeConn(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		srv.Close()
	})
	return ln.Addr().String()
}

// startWSRelay serves the reference relay over WebSocket at /ws with the
// tickwire.text subprotocol: the relay's one Write per tick becomes one
// WebSocket message holding all of that tick's lines.
func startWSRelay(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := relay.New(testTick, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{WSSubprotocol}})
		if err != nil {
			return
		}
		if c.Subprotocol() != WSSubprotocol {
			c.Close(websocket.StatusPolicyViolation, "want subprotocol "+WSSubprotocol)
			return
		}
		srv.ServeConn(websocket.NetConn(context.Background(), c, websocket.MessageText))
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return ln.Addr().String()
}

func logJSON(t *testing.T, s Summary) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatalf("Summary does not marshal: %v", err)
	}
	t.Logf("summary: %s", b)
}

// checkMoving checks a healthy moving run of n bots in rooms of roomSize.
func checkMoving(t *testing.T, s Summary, n, roomSize int, rate float64, d time.Duration) {
	t.Helper()
	if s.Connected != n || s.FailedConnects != 0 || s.Disconnected != 0 {
		t.Errorf("connected %d failed %d disconnected %d, want %d 0 0", s.Connected, s.FailedConnects, s.Disconnected, n)
	}
	if len(s.Errors) != 0 {
		t.Errorf("errors: %v %v", s.Errors, s.ErrorSamples)
	}
	want := float64(n) * rate * d.Seconds()
	if m := float64(s.MovesSent); m < 0.8*want || m > 1.05*want {
		t.Errorf("moves sent %v, want about %v", m, want)
	}
	if wantExp := s.MovesSent * int64(roomSize-1); n%roomSize == 0 && s.Expected != wantExp {
		t.Errorf("expected %d, want %d", s.Expected, wantExp)
	}
	// Supersede losses: two moves of one bot 100 ms apart land in the same
	// 50 ms tick only when scheduling jitter (the race detector, a loaded
	// machine) delays one of them by a tick, so allow a few percent.
	if s.DeliveredRatio < 0.95 || s.DeliveredRatio > 1 || s.Delivered > s.Expected {
		t.Errorf("delivered %d of %d expected (ratio %v)", s.Delivered, s.Expected, s.DeliveredRatio)
	}
	if !s.FinalStateCorrect || s.FinalStateMismatches != 0 || s.FinalStatePairs != int64(n*(roomSize-1)) {
		t.Errorf("final state correct %v: %d mismatches in %d pairs (want %d pairs)", s.FinalStateCorrect, s.FinalStateMismatches, s.FinalStatePairs, n*(roomSize-1))
	}
	l := s.Latency
	if l.Samples != s.Delivered || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max || l.Mean <= 0 {
		t.Errorf("latency %+v (delivered %d)", l, s.Delivered)
	}
	// A move waits at most one tick on the server; allow lots of slack for
	// -race and busy CI machines.
	if l.P50 > 1000*testTick.Seconds()+200 {
		t.Errorf("p50 latency %v ms is implausible for a %v tick", l.P50, testTick)
	}
	if s.WindowSeconds < d.Seconds() || s.MovesPerSecond <= 0 || s.DeliveredPerSecond <= 0 {
		t.Errorf("window %v s, %v moves/s, %v delivered/s", s.WindowSeconds, s.MovesPerSecond, s.DeliveredPerSecond)
	}
}

func TestRunTCP(t *testing.T) {
	addr := startRelay(t, nil)
	var progress bytes.Buffer
	const n, room, d = 40, 10, 2 * time.Second
	s, err := Run(context.Background(), Config{
		Addr:      addr,
		N:         n,
		RoomSize:  room,
		Duration:  d,
		RampUp:    200 * time.Millisecond,
		ServerPID: os.Getpid(), // the relay runs in this process
		Progress:  &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	logJSON(t, s)
	checkMoving(t, s, n, room, 10, d)
	if s.Rooms != 4 || s.Transport != "tcp" || s.Encoding != "text" || s.Interrupted {
		t.Errorf("rooms %d transport %q encoding %q interrupted %v", s.Rooms, s.Transport, s.Encoding, s.Interrupted)
	}
	if s.Server == nil || s.Server.PID != os.Getpid() || s.Server.RSSBytes <= 0 || s.Server.CPUSeconds < 0 {
		t.Errorf("server usage %+v", s.Server)
	} else if s.Server.CPUSeconds > 0 && s.Server.CPUSecondsPerMillionDelivered <= 0 {
		t.Errorf("server usage %+v", s.Server)
	}
	if s.BotRSSBytes <= 0 {
		t.Errorf("bot RSS %d", s.BotRSSBytes)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "moves/s") || !strings.Contains(lines[len(lines)-1], "done") {
		t.Errorf("progress output:\n%s", progress.String())
	}
}

func TestRunWebSocket(t *testing.T) {
	addr := startWSRelay(t)
	const n, room, d = 20, 5, time.Second
	s, err := Run(context.Background(), Config{
		Addr:      addr,
		N:         n,
		RoomSize:  room,
		Duration:  d,
		Transport: "ws",
	})
	if err != nil {
		t.Fatal(err)
	}
	logJSON(t, s)
	checkMoving(t, s, n, room, 10, d)
	if s.Server != nil {
		t.Errorf("server usage reported without ServerPID: %+v", s.Server)
	}
}

// countConn counts the bytes the server reads from one connection.
type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestRunIdle(t *testing.T) {
	var read atomic.Int64
	addr := startRelay(t, func(c net.Conn) net.Conn { return countConn{c, &read} })
	const n = 30
	s, err := Run(context.Background(), Config{
		Addr:      addr,
		N:         n,
		Duration:  time.Second,
		Idle:      true,
		KeepAlive: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	logJSON(t, s)
	if s.Connected != n || s.Disconnected != 0 || len(s.Errors) != 0 {
		t.Errorf("connected %d disconnected %d errors %v", s.Connected, s.Disconnected, s.Errors)
	}
	if s.MovesSent != 0 || s.Delivered != 0 || s.Expected != 0 || s.MoveRate != 0 || !s.Idle {
		t.Errorf("idle run moved: %+v", s)
	}
	if !s.FinalStateCorrect || s.FinalStatePairs != 0 {
		t.Errorf("final state %v with %d pairs", s.FinalStateCorrect, s.FinalStatePairs)
	}
	// Each bot sent JOIN and then, over a 1 s window, about 9 keepalives.
	join := int64(n * len("JOIN lt000000-0\n"))
	if got := read.Load() - join; got < 5*n {
		t.Errorf("server read %d bytes besides JOINs, want ≥ %d keepalives", got, 5*n)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestRunConnectFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s, err := Run(context.Background(), Config{Addr: addr, N: 5, Duration: time.Second})
	if err == nil || s.Connected != 0 || s.FailedConnects != 5 || s.Errors["dial"] != 5 {
		t.Fatalf("err %v, summary %+v", err, s)
	}
	// Nothing was checked: no success flag.
	if s.FinalStateCorrect {
		t.Error("final_state_correct with no bot connected")
	}
	if !strings.Contains(err.Error(), "could not connect") || !strings.Contains(err.Error(), "connection refused") ||
		!strings.Contains(err.Error(), "go run ./examples/relay") {
		t.Errorf("the error does not say what to do: %v", err)
	}
	if s.WindowSeconds > 0.5 {
		t.Errorf("waited %v s with no bots", s.WindowSeconds)
	}

	// A server that accepts but never answers JOIN.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s, err = Run(context.Background(), Config{Addr: ln.Addr().String(), N: 3, ConnectTimeout: 200 * time.Millisecond})
	if err == nil || s.FailedConnects != 3 || s.Errors["join_timeout"] != 3 || s.FinalStateCorrect {
		t.Fatalf("err %v, summary %+v", err, s)
	}
	if !strings.Contains(err.Error(), "no JOINED came") || !strings.Contains(err.Error(), "room-relay") {
		t.Errorf("join timeout: %v", err)
	}

	if _, err := Run(context.Background(), Config{Addr: "nowhere"}); err == nil {
		t.Error("no error for an address without a port")
	}
	if _, err := Run(context.Background(), Config{Addr: "127.0.0.1:1", Transport: "udp"}); err == nil {
		t.Error("no error for an unknown transport")
	}
}

// TestRunDetectsBadServer runs bots against a broken relay that echoes each
// MOVE back to its sender, rejects some JOINs and sends garbage.
func TestRunDetectsBadServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var ids atomic.Uint64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				id := ids.Add(1)
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					switch {
					case len(f) == 2 && f[0] == "JOIN" && id == 1:
						c.Write([]byte("ERR full room is full\n"))
					case len(f) == 2 && f[0] == "JOIN":
						c.Write([]byte("JOINED " + f[1] + " " + itoa(int(id)) + "\r\nHELLO\n"))
					case len(f) == 4 && f[0] == "MOVE":
						c.Write([]byte("POS " + itoa(int(id)) + " " + f[1] + " " + f[2] + " " + f[3] + "\n"))
						c.Write([]byte("POS 999 1 2 3\n"))
					}
				}
			}()
		}
	}()
	s, err := Run(context.Background(), Config{Addr: ln.Addr().String(), N: 4, RoomSize: 4, Duration: 300 * time.Millisecond, Settle: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	logJSON(t, s)
	if s.Connected != 3 || s.FailedConnects != 1 || s.Errors["server_full"] != 1 {
		t.Errorf("connected %d failed %d errors %v", s.Connected, s.FailedConnects, s.Errors)
	}
	if s.Errors["own_pos"] == 0 || s.Errors["foreign_pos"] == 0 || s.Errors["unexpected_line"] != 3 {
		t.Errorf("errors %v", s.Errors)
	}
	if s.Delivered != 0 || s.FinalStateCorrect || s.FinalStateMismatches != 6 {
		t.Errorf("delivered %d, final state %v with %d mismatches", s.Delivered, s.FinalStateCorrect, s.FinalStateMismatches)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	addr := startRelay(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	s, err := Run(ctx, Config{Addr: addr, N: 10, Duration: time.Minute})
	if err == nil || !s.Interrupted {
		t.Errorf("err %v interrupted %v", err, s.Interrupted)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("Run took %v after its context ended", el)
	}
	if s.Connected != 10 || s.MovesSent == 0 {
		t.Errorf("connected %d moves %d", s.Connected, s.MovesSent)
	}
}
