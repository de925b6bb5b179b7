package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/store"
	"github.com/tickwire/tickwire/transport"
)

// stream is an open /api/events response.
type stream struct {
	resp *http.Response
	r    *bufio.Reader
}

// next returns the next event's name and data.
func (s *stream) next(t *testing.T) (string, []byte) {
	t.Helper()
	var name string
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		l = strings.TrimRight(l, "\n")
		switch {
		case strings.HasPrefix(l, "event: "):
			name = strings.TrimPrefix(l, "event: ")
		case strings.HasPrefix(l, "data: "):
			return name, []byte(strings.TrimPrefix(l, "data: "))
		}
	}
}

func openStream(t *testing.T, ts *httptest.Server, ck *http.Cookie) (*stream, int) {
	t.Helper()
	r, _ := http.NewRequest("GET", ts.URL+"/api/events", nil)
	if ck != nil {
		r.AddCookie(ck)
	}
	resp, err := ts.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{resp: resp, r: bufio.NewReader(resp.Body)}, resp.StatusCode
}

// TestEvents: the stream starts with the history, then gets a sample a
// second with the players online; streams are capped per session and in
// all; a logout ends the session's streams.
func TestEvents(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewServer(e.c.Handler())
	t.Cleanup(ts.Close) // after the streams' bodies are closed
	ck, csrf := e.login(adminName, adminPass)
	if _, status := openStream(t, ts, nil); status != 401 {
		t.Fatalf("stream without a session: %d", status)
	}
	s, status := openStream(t, ts, ck)
	if status != 200 || s.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %q", status, s.resp.Header.Get("Content-Type"))
	}
	if name, data := s.next(t); name != "history" || !bytes.HasPrefix(data, []byte(`{"samples":`)) {
		t.Fatalf("first event %q %.80s", name, data)
	}
	e.join("127.0.0.2", "alice")
	e.join("127.0.0.3", "bob")
	var smp Sample
	for smp.Players != 2 {
		name, data := s.next(t)
		if name != "sample" {
			t.Fatalf("event %q", name)
		}
		if err := json.Unmarshal(data, &smp); err != nil {
			t.Fatal(err)
		}
	}
	if smp.Conns != 2 || smp.Transports["tcp"] != 2 || smp.Encodings["text"] != 2 || smp.Ticks == 0 || smp.TickMax < smp.TickMean {
		t.Fatalf("sample %+v", smp)
	}

	// Caps: per session, then over all sessions.
	for i := 1; i < MaxEventStreamsPerSession; i++ {
		if _, status := openStream(t, ts, ck); status != 200 {
			t.Fatalf("stream %d: %d", i+1, status)
		}
	}
	if _, status := openStream(t, ts, ck); status != http.StatusTooManyRequests {
		t.Fatalf("stream past the session's cap: %d", status)
	}
	open := MaxEventStreamsPerSession
	for open < MaxEventStreams {
		ck2, _ := e.login(adminName, adminPass)
		for i := 0; i < MaxEventStreamsPerSession && open < MaxEventStreams; i++ {
			if _, status := openStream(t, ts, ck2); status != 200 {
				t.Fatalf("stream %d: %d", open+1, status)
			}
			open++
		}
	}
	ck3, _ := e.login(adminName, adminPass)
	if _, status := openStream(t, ts, ck3); status != http.StatusTooManyRequests {
		t.Fatalf("stream past the console's cap: %d", status)
	}

	// Logging out ends the session's streams at the next sample.
	if r := e.post(ck, csrf, "/api/logout", nil); r.status != 204 {
		t.Fatalf("logout: %d", r.status)
	}
	for {
		name, _ := s.next(t)
		if name == "logout" {
			break
		}
	}
	if _, err := s.r.ReadString('\n'); err == nil {
		if _, err := s.r.ReadString('\n'); err == nil {
			t.Fatal("the stream goes on after logout")
		}
	}
}

// TestSamplerStep checks one sample against known input: tick
// durations, connections, traffic and the counters.
func TestSamplerStep(t *testing.T) {
	var rttMu sync.Mutex
	var rtts []time.Duration
	e := newEnv(t, func(c *Config) {
		c.ObserveRTT = func(d time.Duration) { rttMu.Lock(); rtts = append(rtts, d); rttMu.Unlock() }
	})
	sm := e.c.sm
	alice := e.join("127.0.0.2", "alice")
	e.join("127.0.0.3", "bob")
	waitFor(t, "two players", func() bool { return e.srv.Stats().Players == 2 })
	sm.ticks.take() // start a clean second
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond} {
		e.c.ObserveTick(d)
	}
	e.strikes.Strike(netip.MustParseAddr("192.0.2.5"), "bad_message")
	alice.nc.Write([]byte("PING a\nPING b\n"))
	alice.expect("PONG b")
	now := e.clock.Now().Add(time.Second)
	sm.step(now) // a fresh baseline for the rates
	smp := sm.step(now.Add(time.Second))
	if smp.Ticks != 0 || smp.Players != 2 || smp.Conns != 2 || smp.Transports["tcp"] != 2 {
		t.Fatalf("sample %+v", smp)
	}
	// The second sample saw no new ticks; put four in and step again.
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond} {
		e.c.ObserveTick(d)
	}
	e.strikes.Strike(netip.MustParseAddr("192.0.2.5"), "bad_message")
	alice.nc.Write([]byte("PING c\n"))
	alice.expect("PONG c")
	smp = sm.step(now.Add(2 * time.Second))
	if smp.Ticks != 4 || smp.TickMean != 4 || smp.TickP99 != 10 || smp.TickMax != 10 {
		t.Fatalf("ticks: %+v", smp)
	}
	if smp.Strikes != 1 || smp.MsgsIn < 1 || smp.BytesIn < float64(len("PING c\n")) || smp.BytesOut < float64(len("PONG c\n")) {
		t.Fatalf("counters: %+v", smp)
	}
	if smp.HeapMiB <= 0 || smp.Goroutines <= 0 || smp.CPU < 0 {
		t.Fatalf("runtime: %+v", smp)
	}
	var found bool
	for _, p := range sm.lastPlayers() {
		if p.Name == "alice" {
			found = p.Addr == "127.0.0.2" && p.InRate >= float64(len("PING c\n")) && p.Transport == "tcp" && p.Encoding == "text"
		}
	}
	if !found {
		t.Fatalf("players: %+v", sm.lastPlayers())
	}
	// Each connection's RTT (Linux: the kernel's, over loopback) is
	// observed once: read once per server.RTTRefresh, and the samples in
	// between see the same reading.
	if runtime.GOOS == "linux" {
		for _, p := range sm.lastPlayers() {
			if p.RTT <= 0 || p.RTT >= 1000 {
				t.Fatalf("%s: RTT %v ms", p.Name, p.RTT)
			}
		}
		rttMu.Lock()
		n := len(rtts)
		rttMu.Unlock()
		if n != 2 {
			t.Fatalf("ObserveRTT called %d times for 2 connections over 3 samples: %v", n, rtts)
		}
	}
	// The ring keeps HistoryLen samples, oldest first.
	for i := 0; i < HistoryLen+5; i++ {
		sm.step(now.Add(time.Duration(3+i) * time.Second))
	}
	h := e.c.History()
	if len(h) != HistoryLen || h[0].T >= h[len(h)-1].T || h[len(h)-1].T != now.Add(time.Duration(HistoryLen+7)*time.Second).UnixMilli() {
		t.Fatalf("history: %d samples, %d..%d", len(h), h[0].T, h[len(h)-1].T)
	}
}

func TestTickAggregate(t *testing.T) {
	var a tickAgg
	for i := 1; i <= 100; i++ {
		a.observe(time.Duration(i) * time.Millisecond)
	}
	n, mean, p99, mx := a.take()
	if n != 100 || mean != 50.5 || p99 != 99 || mx != 100 {
		t.Fatalf("take = %d %v %v %v", n, mean, p99, mx)
	}
	if n, _, _, _ := a.take(); n != 0 {
		t.Fatal("second not reset")
	}
	for i := 0; i < MaxTicksPerSample+10; i++ {
		a.observe(time.Millisecond)
	}
	a.observe(time.Second)
	if n, _, _, mx := a.take(); n != MaxTicksPerSample+11 || mx != 1000 {
		t.Fatalf("past the cap: n=%d max=%v", n, mx)
	}
}

// TestWatchTicks: in manual-tick mode, every tick run is observed.
func TestWatchTicks(t *testing.T) {
	srv, err := server.New(server.Config{Registry: msg.NewRegistry(), Logger: slog.New(slog.DiscardHandler)}, plainGame{})
	if err != nil {
		t.Fatal(err)
	}
	srv.ManualTicks()
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	var mu sync.Mutex
	var seen []time.Duration
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- WatchTicks(ctx, srv, func(d time.Duration) { mu.Lock(); seen = append(seen, d); mu.Unlock() })
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	for count() < 10 {
		srv.RunTick()
		time.Sleep(time.Millisecond)
	}
	cancel()
	srv.RunTick() // lets a Call waiting for the tick return
	if err := <-done; err != context.Canceled {
		t.Fatalf("WatchTicks returned %v", err)
	}
	if st := srv.Stats(); uint64(count()) > st.Ticks {
		t.Fatalf("%d observations of %d ticks", count(), st.Ticks)
	}
}

func TestLogRing(t *testing.T) {
	var out bytes.Buffer
	ring := NewLogRing(3, slog.LevelWarn, "counted")
	log := slog.New(ring.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})))
	log.Debug("counted", "n", 0) // below both levels: neither kept, counted nor written
	log.Info("counted", "n", 1)  // written and counted, not kept
	log.With("conn", 7).WithGroup("g").Warn("first warning", "a", "x y", slog.Group("sub", "b", 2))
	log.Error("an error", "err", "boom")
	log.Warn("counted", "n", 2)
	log.Warn("fourth")
	if got := ring.Count("counted"); got != 2 {
		t.Errorf("Count = %d, want 2", got)
	}
	if got := ring.Count("not counted"); got != 0 {
		t.Errorf("Count of another message = %d", got)
	}
	if strings.Contains(out.String(), "n=0") || !strings.Contains(out.String(), "n=1") || !strings.Contains(out.String(), `conn=7 g.a="x y" g.sub.b=2`) {
		t.Errorf("the wrapped handler wrote:\n%s", out.String())
	}
	recs := ring.Records(LogFilter{})
	if len(recs) != 3 || recs[0].Msg != "an error" || recs[2].Msg != "fourth" || recs[2].Seq != 4 {
		t.Fatalf("records (the ring holds 3): %+v", recs)
	}
	if recs := ring.Records(LogFilter{MinLevel: slog.LevelError}); len(recs) != 1 || recs[0].Attrs != "err=boom" {
		t.Fatalf("errors: %+v", recs)
	}
	if recs := ring.Records(LogFilter{Contains: "N=2"}); len(recs) != 1 || recs[0].Msg != "counted" {
		t.Fatalf("filter: %+v", recs)
	}
	if recs := ring.Records(LogFilter{AfterSeq: 3}); len(recs) != 1 || recs[0].Msg != "fourth" {
		t.Fatalf("after: %+v", recs)
	}
	if recs := ring.Records(LogFilter{Limit: 1}); len(recs) != 1 || recs[0].Msg != "fourth" {
		t.Fatalf("limit: %+v", recs)
	}
	ring2 := NewLogRing(10, slog.LevelWarn)
	slog.New(ring2.Handler(slog.NewTextHandler(&out, nil))).With("k", "v").Warn(strings.Repeat("m", 2*MaxLogMessageLen), "long", strings.Repeat("é", MaxLogAttrsLen))
	rec := ring2.Records(LogFilter{})[0]
	if len(rec.Msg) != MaxLogMessageLen || len(rec.Attrs) > MaxLogAttrsLen || !strings.HasPrefix(rec.Attrs, "k=v long=") {
		t.Fatalf("long record kept as %d/%d bytes: %.40q", len(rec.Msg), len(rec.Attrs), rec.Attrs)
	}
}

func TestStrikeLog(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := guard.New(context.Background(), guard.Config{Store: st, Logger: slog.New(slog.DiscardHandler), RefreshInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	l := NewStrikeLog(g)
	ip := netip.MustParseAddr("::ffff:192.0.2.7")
	v0 := l.BansVersion()
	l.Strike(ip, "too_long")
	l.Strike(ip, "bad_message")
	l.Strike(netip.MustParseAddr("198.51.100.1"), "auth_failed")
	if by := l.ByAddr(10); len(by) != 2 || by[0].IP != "192.0.2.7" || by[0].Count != 2 {
		t.Fatalf("by address: %+v", by)
	}
	l.Strike(ip, "too_long") // the third: a ban
	l.Strike(ip, "too_long") // banned already: the guard ignores it, so does the log
	if g.Admit(ip) == nil {
		t.Fatal("three strikes did not ban")
	}
	if l.BansVersion() == v0 {
		t.Fatal("BansVersion not passed on")
	}
	feed := l.Recent(10)
	if len(feed) != 4 || feed[0].IP != "192.0.2.7" || feed[0].Count != 3 || !feed[0].Banned || feed[3].Reason != "too_long" || feed[3].Banned {
		t.Fatalf("feed: %+v", feed)
	}
	if strikes, bans := l.Totals(); strikes != 4 || bans != 1 {
		t.Fatalf("totals %d %d", strikes, bans)
	}
	if by := l.ByAddr(10); len(by) != 1 || by[0].IP != "198.51.100.1" {
		t.Fatalf("by address after the ban: %+v", by)
	}
	// The feed is a ring.
	for i := 0; i < StrikeFeedLen+3; i++ {
		l.Strike(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), "flood")
	}
	if feed := l.Recent(StrikeFeedLen + 10); len(feed) != StrikeFeedLen || feed[0].IP != "10.0.1.246" {
		t.Fatalf("ring: %d, newest %+v", len(feed), feed[0])
	}
}

// TestAuthMessagesCounted runs the account service with a LogRing in its
// logger: the messages the console counts are the service's real ones.
func TestAuthMessagesCounted(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ring := NewLogRing(10, slog.LevelWarn, CountedMessages...)
	svc, err := auth.New(auth.Config{Store: st, Logger: slog.New(ring.Handler(slog.DiscardHandler)), DataDir: t.TempDir(), Params: fastParams,
		LoginFailPerAccountIP: auth.RateLimit{Every: time.Hour, Burst: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		r := httptest.NewRequest("POST", "/v1/login", strings.NewReader(`{"name":"alice","password":"wrong password"}`))
		svc.Handler().ServeHTTP(httptest.NewRecorder(), r)
	}
	if ring.Count(MsgAuthLoginFailed) != 2 || ring.Count(MsgAuthRateLimited) != 1 {
		t.Fatalf("counted %d failed, %d rate-limited logins; want 2 and 1", ring.Count(MsgAuthLoginFailed), ring.Count(MsgAuthRateLimited))
	}
}
