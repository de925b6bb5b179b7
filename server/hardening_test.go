package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickwire/tickwire/internal/testutil"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// addrConfig is a configuration with the per-address limits in force for
// every address: the tests below dial from 127.0.0.2, 127.0.0.3, ... (all
// of 127/8 is loopback on Linux) to stand for distinct hosts.
func addrConfig() server.Config {
	cfg := testConfig()
	cfg.AddrLimitExempt = nil
	return cfg
}

// dialFrom dials ts from the local address ip.
func dialFrom(t testing.TB, ts *testServer, ip string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, nc, ts.Registry())
}

// trickle writes b to c every period until stop is closed or a write fails.
func trickle(c *client, b string, period time.Duration, stop <-chan struct{}) {
	tk := time.NewTicker(period)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			if _, err := c.nc.Write([]byte(b)); err != nil {
				return
			}
		}
	}
}

// closedWithin reads c until the server closes it, failing if the server
// has not closed it by limit; it returns the lines received.
func closedWithin(t testing.TB, c *client, limit time.Duration) []string {
	t.Helper()
	var lines []string
	deadline := time.Now().Add(limit)
	for {
		c.nc.SetReadDeadline(deadline)
		b, err := c.fr.Next()
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("still open after %v (got %q)", limit, lines)
			}
			return lines
		}
		lines = append(lines, string(b))
	}
}

func TestLoginDeadlineIsNotExtendedByBytes(t *testing.T) {
	cfg := testConfig()
	cfg.LoginTimeout = 300 * time.Millisecond
	ts := startTCP(t, cfg, newTestGame())
	stop := make(chan struct{})
	defer close(stop)
	// One peer trickles a line that never ends, one sends blank lines:
	// both kept a socket open forever when every byte reset the clock.
	for _, feed := range []string{"A", "\n"} {
		c := dial(t, ts)
		go trickle(c, feed, 30*time.Millisecond, stop)
		// Ten login timeouts of trickling: a clock that bytes extend
		// would keep it open the whole time.
		lines := closedWithin(t, c, 10*cfg.LoginTimeout)
		if len(lines) == 0 || lines[len(lines)-1] != "BYE timeout" {
			t.Fatalf("feeding %q: got %q, want BYE timeout last", feed, lines)
		}
	}
}

func TestIdleDeadlineCountsWholeFramesOnly(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = 400 * time.Millisecond
	ts := startTCP(t, cfg, newTestGame())
	c := dial(t, ts)
	c.login()
	stop := make(chan struct{})
	defer close(stop)
	go trickle(c, "E", 20*time.Millisecond, stop) // "EEEE..." never ends
	lines := closedWithin(t, c, 10*cfg.IdleTimeout)
	if lines[len(lines)-1] != "BYE timeout" {
		t.Fatalf("got %q, want BYE timeout last", lines)
	}
}

func TestFrameDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.FrameTimeout = 300 * time.Millisecond
	ts := startTCP(t, cfg, newTestGame())
	c := dial(t, ts)
	c.login()
	// Whole frames keep the connection: a frame split over reads is fine
	// as long as it completes in time.
	c.write("PI")
	time.Sleep(cfg.FrameTimeout / 3)
	c.write("NG a\n")
	c.expect("PONG a")
	// A frame that starts and never ends is cut off, although the idle
	// timeout (2 min) is far away.
	c.write("ECHO never ends")
	lines := closedWithin(t, c, 10*cfg.FrameTimeout)
	if lines[len(lines)-1] != "BYE timeout" {
		t.Fatalf("got %q, want BYE timeout last", lines)
	}
}

func TestPreLoginAndConnectionCapsPerAddress(t *testing.T) {
	logs := &testutil.LogBuffer{}
	cfg := addrConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.Banner = "hi"
	cfg.MaxPreLoginPerAddr = 2
	cfg.MaxConnsPerAddr = 3
	g := &fakeGuard{}
	cfg.Guard = g
	ts := startTCP(t, cfg, newTestGame())

	a, b := dialFrom(t, ts, "127.0.0.2"), dialFrom(t, ts, "127.0.0.2")
	a.expect("INFO hi")
	b.expect("INFO hi")
	over := dialFrom(t, ts, "127.0.0.2")
	if got := over.expectClosed(); len(got) != 0 {
		t.Fatalf("a refused connection was sent %q; want nothing", got)
	}
	// Another address is not affected.
	other := dialFrom(t, ts, "127.0.0.3")
	other.expect("INFO hi")
	// A login frees a pre-login place; the total cap still applies.
	a.login()
	c := dialFrom(t, ts, "127.0.0.2")
	c.expect("INFO hi")
	dialFrom(t, ts, "127.0.0.2").expectClosed() // 3 open: a, b, c
	if n := len(logs.Lines(server.RefusedLogMessage, "ip=127.0.0.2", "reason=prelogin_per_addr")); n != 1 {
		t.Fatalf("%d pre-login refusal lines, want 1:\n%s", n, logs)
	}
	if n := len(logs.Lines(server.RefusedLogMessage, "ip=127.0.0.2", "reason=conns_per_addr")); n != 1 {
		t.Fatalf("%d connection-cap refusal lines, want 1:\n%s", n, logs)
	}
	// Repeated refusal is a strike: every RefusalsPerStrike-th.
	for i := 2; i < server.RefusalsPerStrike; i++ {
		dialFrom(t, ts, "127.0.0.2").expectClosed()
	}
	waitFor(t, "a conn_limit strike", func() bool {
		s := g.list()
		return len(s) == 1 && s[0] == "conn_limit"
	})
	// Closing frees places.
	b.nc.Close()
	c.nc.Close()
	waitFor(t, "places freed", func() bool { return ts.Stats().Conns == 2 })
	dialFrom(t, ts, "127.0.0.2").expect("INFO hi")
}

func TestConnectionRatePerAddress(t *testing.T) {
	cfg := addrConfig()
	cfg.Banner = "hi"
	cfg.ConnRatePerAddr = 0.01 // one every 100 s: nothing refills during the test
	cfg.ConnBurstPerAddr = 3
	ts := startTCP(t, cfg, newTestGame())
	for i := 0; i < 3; i++ {
		c := dialFrom(t, ts, "127.0.0.4")
		c.expect("INFO hi")
		c.nc.Close()
	}
	dialFrom(t, ts, "127.0.0.4").expectClosed()
	if got := ts.Stats().Refused; got != 1 {
		t.Fatalf("Stats().Refused = %d, want 1", got)
	}
}

func TestMessageRateLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MessageRate = 0.01 // nothing refills during the test
	cfg.MessageBurst = 2
	g := &fakeGuard{}
	cfg.Guard = g
	ts := startTCP(t, cfg, newTestGame())
	c := dial(t, ts)
	c.login()
	// ECHO declares no rate: the server default applies. Two pass, the
	// rest are dropped with one ERR (at most one a second), tagged with
	// the request id of the first dropped message.
	c.write("ECHO 1\nECHO 2\n@7 ECHO 3\nECHO 4\nECHO 5\nPING end\n")
	var said, limited []string
	for l := c.line(); l != "PONG end"; l = c.line() {
		switch {
		case strings.HasPrefix(l, "SAID "):
			said = append(said, l)
		case strings.Contains(l, "ERR rate_limited"):
			limited = append(limited, l)
		default:
			t.Fatalf("unexpected %q", l)
		}
	}
	// The two SAIDs come at the next tick, possibly after PONG.
	for len(said) < 2 {
		said = append(said, c.expectRE(`^SAID `))
	}
	if len(limited) != 1 || limited[0] != "@7 ERR rate_limited ECHO" {
		t.Fatalf("rate-limit answers %q, want one @7 ERR rate_limited ECHO", limited)
	}
	if got := ts.Stats().RateLimited; got != 3 {
		t.Fatalf("Stats().RateLimited = %d, want 3", got)
	}
	// Sustained abuse is a strike.
	c.write(strings.Repeat("ECHO x\n", server.RateStrikeDrops))
	waitFor(t, "a rate_limited strike", func() bool {
		s := g.list()
		return len(s) == 1 && s[0] == "rate_limited"
	})
	// A built-in's own rate (HELP: burst 2) applies whatever the default.
	d := dial(t, ts)
	d.write("HELP\nHELP\nHELP\n")
	d.skipTo("ERR rate_limited HELP")
}

func TestOutboundByteBudget(t *testing.T) {
	cfg := testConfig()
	cfg.MaxOutboundBytesPerSec = 4 * 4096 // the smallest allowed
	ts := startTCP(t, cfg, newTestGame())
	c := dial(t, ts)
	c.login()
	// Twice 24 answers of ~920 bytes: the first ~22 KB leave at once (a
	// full bucket, then debt), the second must wait for the debt to be
	// paid; everything arrives.
	text := strings.Repeat("x", 900)
	const n = 24
	for round := 0; round < 2; round++ {
		c.write(strings.Repeat("ECHO "+text+"\n", n))
		for i := 0; i < n; i++ {
			c.expectRE(`^SAID guest-\d+ x+$`)
		}
	}
	if ts.Stats().Throttled == 0 {
		t.Fatal("no write waited for the byte budget")
	}
}

func TestLogLimitedPerAddress(t *testing.T) {
	cfg := addrConfig()
	cfg.LogRatePerAddr = 0.01
	cfg.LogBurstPerAddr = 3
	ts := startTCP(t, cfg, newTestGame())
	a, b := dialFrom(t, ts, "127.0.0.5"), dialFrom(t, ts, "127.0.0.5")
	a.login()
	b.login()
	// Each connection is within its own limit (5/s, burst 20); together
	// they are over the address's.
	a.write("LOG info a1\nLOG info a2\nPING a\n")
	a.expect("PONG a")
	b.write("LOG info b1\nLOG info b2\nPING b\n")
	b.expect("PONG b")
	if got := ts.Stats().DroppedLogs; got != 1 {
		t.Fatalf("%d LOG lines dropped, want 1", got)
	}
}

// banGuard bans addresses on demand and counts its changes, like
// guard.Guard.
type banGuard struct {
	mu      sync.Mutex
	banned  map[netip.Addr]bool
	version uint64
}

func (g *banGuard) Admit(ip netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.banned[ip] {
		return errBanned
	}
	return nil
}

func (g *banGuard) Strike(netip.Addr, string) {}

func (g *banGuard) BansVersion() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.version
}

func (g *banGuard) ban(ip string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.banned == nil {
		g.banned = map[netip.Addr]bool{}
	}
	g.banned[netip.MustParseAddr(ip)] = true
	g.version++
}

func TestBanEndsLiveSessions(t *testing.T) {
	cfg := testConfig()
	g := &banGuard{}
	cfg.Guard = g
	game := newTestGame()
	ts := startTCP(t, cfg, game)
	victim := dialFrom(t, ts, "127.0.0.6")
	victim.login()
	game.waitJoin(t)
	bystander := dialFrom(t, ts, "127.0.0.7")
	bystander.login()
	game.waitJoin(t)

	// Banned elsewhere (the ban command, another server): the sweep finds
	// the session within a second.
	g.ban("127.0.0.6")
	lines := victim.expectClosed()
	if len(lines) == 0 || lines[len(lines)-1] != "BYE banned" {
		t.Fatalf("got %q, want BYE banned last", lines)
	}
	if l := game.waitLeave(t); !errors.Is(l.Reason, server.ErrBanned) {
		t.Fatalf("Leave reason %v, want banned", l.Reason)
	}
	bystander.write("PING still\n")
	bystander.expect("PONG still")
}

func TestStrikeBanEndsTheAddressesOtherSessions(t *testing.T) {
	cfg := testConfig()
	g := &fakeGuard{banAfter: 3}
	cfg.Guard = g
	ts := startTCP(t, cfg, newTestGame())
	player := dialFrom(t, ts, "127.0.0.8")
	player.login()
	abuser := dialFrom(t, ts, "127.0.0.8")
	abuser.write(strings.Repeat("\x01\n", 3*server.DecodeErrorsPerStrike))
	if got := abuser.expectClosed(); got[len(got)-1] != "BYE banned" {
		t.Fatalf("abuser got %q", got)
	}
	// fakeGuard has no BansVersion: the sweep checks every connection.
	if got := player.expectClosed(); got[len(got)-1] != "BYE banned" {
		t.Fatalf("player got %q, want BYE banned last", got)
	}
}

func TestWebSocketCloseFrames(t *testing.T) {
	for _, c := range []struct {
		name   string
		send   string
		bye    string
		status websocket.StatusCode
	}{
		{"login timeout", "", "BYE timeout", websocket.StatusPolicyViolation},
		{"quit", "QUIT\n", "BYE quit", websocket.StatusNormalClosure},
		{"too long", strings.Repeat("x", 5000) + "\n", "BYE too_long", websocket.StatusMessageTooBig},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.LoginTimeout = 200 * time.Millisecond
			srv, err := server.New(cfg, newTestGame())
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Shutdown(context.Background())
			hs := httptest.NewServer(transport.WebSocketHandler(transport.WebSocketConfig{Logger: quietLogger(), MaxMessage: 64 << 10}, srv.ServeConn))
			defer hs.Close()
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			wc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer wc.CloseNow()
			if c.send != "" {
				if err := wc.Write(ctx, websocket.MessageText, []byte(c.send)); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for {
				_, b, err := wc.Read(ctx)
				if err != nil {
					if st := websocket.CloseStatus(err); st != c.status {
						t.Fatalf("closed with %v (%v) after %q; want status %v", st, err, got, c.status)
					}
					break
				}
				got = append(got, strings.Split(strings.TrimSpace(string(b)), "\n")...)
			}
			if len(got) == 0 || got[len(got)-1] != c.bye {
				t.Fatalf("got %q, want %q last", got, c.bye)
			}
		})
	}
}

func TestAuthErrorCodes(t *testing.T) {
	cfg := testConfig()
	cfg.Authenticator = fakeAuth{}
	g := &fakeGuard{}
	cfg.Guard = g
	ts := startTCP(t, cfg, newTestGame())
	c := dial(t, ts)
	c.write("AUTH bob expired\n")
	if l := c.line(); l != "ERR auth token_expired login token expired" {
		t.Fatalf("got %q", l)
	}
	waitFor(t, "a strike", func() bool { return len(g.list()) == 1 })
}

func TestFrameClockRestartsWithEveryFrame(t *testing.T) {
	cfg := testConfig()
	cfg.FrameTimeout = 300 * time.Millisecond
	ts := startTCP(t, cfg, newTestGame())
	c := dial(t, ts)
	c.login()
	// Every write ends in the middle of a frame, but frames keep
	// completing: no frame takes longer than 50 ms, so the connection
	// stays, over ten frame timeouts.
	c.write("ECHO 0\nEC")
	for i := 1; i < 60; i++ {
		time.Sleep(50 * time.Millisecond)
		c.write(fmt.Sprintf("HO %d\nEC", i))
	}
	c.write("HO end\nPING alive\n")
	c.skipTo("PONG alive")
}

func TestOutboundBudgetCapsTheRate(t *testing.T) {
	cfg := testConfig()
	cfg.MaxOutboundBytesPerSec = 4 * 4096
	cfg.MaxOutbound = 1 << 16
	cfg.MaxOutboundBytes = 64 << 20
	ts := startTCP(t, cfg, newTestGame())
	c := dial(t, ts)
	c.login()
	// The game would send 10 × 900 bytes a tick, 50 ticks a second:
	// 450 KB/s. The client reads everything, yet receives at most the
	// budget: one second's worth at once, then the rate.
	c.write("SPAM 10\n")
	start := time.Now()
	var got int
	for time.Since(start) < 2*time.Second {
		b, err := c.frame()
		if err != nil {
			t.Fatal(err)
		}
		got += len(b) + 1
	}
	elapsed := time.Since(start).Seconds()
	// A batch is never split, so one tick's batch (10 messages) may go
	// over: the bucket's debt is then paid before the next write.
	if max := float64(cfg.MaxOutboundBytesPerSec)*(elapsed+1) + 10*1000; float64(got) > max {
		t.Fatalf("received %d bytes in %.1f s; the budget allows at most %.0f", got, elapsed, max)
	}
	if ts.Stats().Throttled == 0 {
		t.Fatal("no write waited for the budget")
	}
}
