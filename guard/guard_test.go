package guard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/internal/testutil"
	"github.com/tickwire/tickwire/store"
)

// serverGuard is a copy of the game server's Guard interface.
type serverGuard interface {
	Admit(remote netip.Addr) error
	Strike(remote netip.Addr, reason string)
}

var _ serverGuard = (*Guard)(nil)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	path  string
	clock *fakeClock
	logs  *testutil.LogBuffer
}

func newEnv(t *testing.T) *env {
	return &env{
		path:  filepath.Join(t.TempDir(), "tickwire.db"),
		clock: &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
		logs:  &testutil.LogBuffer{},
	}
}

func (e *env) open(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *env) guard(t *testing.T, st store.Store, mod func(*Config)) *Guard {
	t.Helper()
	cfg := Config{
		Store:           st,
		Logger:          slog.New(slog.NewTextHandler(e.logs, nil)),
		Now:             e.clock.Now,
		RefreshInterval: time.Hour, // tests call Refresh themselves
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

var ip1 = netip.MustParseAddr("127.0.0.1")

func TestStrikesBanSurvivesRestartAndUnban(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	st := e.open(t)
	g := e.guard(t, st, nil)

	if err := g.Admit(ip1); err != nil {
		t.Fatalf("fresh address refused: %v", err)
	}
	g.Strike(ip1, "too_long")
	g.Strike(ip1, "bad_message")
	if err := g.Admit(ip1); err != nil {
		t.Fatalf("refused after 2 strikes: %v", err)
	}
	g.Strike(ip1, "too_long")
	err := g.Admit(ip1)
	var be *BannedError
	if !errors.Is(err, ErrBanned) || !errors.As(err, &be) {
		t.Fatalf("after 3 strikes Admit = %v, want ErrBanned", err)
	}
	if be.Reason != "strikes:bad_message,too_long" || !be.Until.Equal(e.clock.Now().Add(DefaultBaseBan)) {
		t.Fatalf("ban = %+v", be)
	}
	// IPv4-mapped IPv6 form of the same address is banned too.
	if err := g.Admit(netip.MustParseAddr("::ffff:127.0.0.1")); err == nil {
		t.Fatal("mapped address admitted")
	}
	if err := g.Admit(netip.MustParseAddr("127.0.0.2")); err != nil {
		t.Fatalf("other address refused: %v", err)
	}
	g.Close() // drains the write queue
	st.Close()

	// Restart: a new store and guard still refuse the address.
	st = e.open(t)
	defer st.Close()
	g = e.guard(t, st, nil)
	defer g.Close()
	if err := g.Admit(ip1); !errors.Is(err, ErrBanned) {
		t.Fatalf("after restart Admit = %v, want ErrBanned", err)
	}
	if bans := g.Bans(); len(bans) != 1 || bans[0].IP != ip1 || bans[0].Offences != 1 {
		t.Fatalf("Bans() = %+v", bans)
	}
	if err := g.Unban(ctx, ip1, false); err != nil {
		t.Fatal(err)
	}
	if err := g.Admit(ip1); err != nil {
		t.Fatalf("after Unban Admit = %v", err)
	}
	if _, err := st.ActiveBan(ctx, ip1, e.clock.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ban still in store: %v", err)
	}
	if err := g.Unban(ctx, ip1, false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Unban = %v, want ErrNotFound", err)
	}
}

func TestBanExpires(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	defer st.Close()
	g := e.guard(t, st, nil)
	defer g.Close()
	for range 3 {
		g.Strike(ip1, "x")
	}
	if g.Admit(ip1) == nil {
		t.Fatal("not banned")
	}
	e.clock.Add(DefaultBaseBan - time.Millisecond)
	if g.Admit(ip1) == nil {
		t.Fatal("ban ended early")
	}
	e.clock.Add(time.Millisecond)
	if err := g.Admit(ip1); err != nil {
		t.Fatalf("ban did not end: %v", err)
	}
}

func TestStrikeWindow(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	defer st.Close()
	g := e.guard(t, st, nil)
	defer g.Close()
	g.Strike(ip1, "a")
	g.Strike(ip1, "a")
	e.clock.Add(DefaultStrikeWindow)
	g.Strike(ip1, "a") // the first two have expired
	if err := g.Admit(ip1); err != nil {
		t.Fatalf("banned for strikes outside the window: %v", err)
	}
	e.clock.Add(time.Minute)
	g.Strike(ip1, "a")
	g.Strike(ip1, "a")
	if g.Admit(ip1) == nil {
		t.Fatal("3 strikes in the window did not ban")
	}
}

func TestRepeatOffenderEscalation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	st := e.open(t)
	defer st.Close()
	g := e.guard(t, st, nil)
	defer g.Close()
	want := []time.Duration{15 * time.Minute, time.Hour, 4 * time.Hour}
	for i, d := range want {
		for range 3 {
			g.Strike(ip1, "bad_message")
		}
		// Wait for the background write, which sets the escalated length.
		deadline := time.Now().Add(5 * time.Second)
		var b store.Ban
		for {
			var err error
			b, err = st.ActiveBan(ctx, ip1, e.clock.Now())
			if err == nil && b.Offences == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ban %d not written: %+v, %v", i+1, b, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if got := b.ExpiresAt.Sub(b.CreatedAt); got != d {
			t.Fatalf("ban %d lasts %v, want %v", i+1, got, d)
		}
		// The cache follows the store once the write is done.
		deadline = time.Now().Add(5 * time.Second)
		for {
			until, banned := g.Banned(ip1)
			if banned && until.Equal(b.ExpiresAt) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cache holds %v, want until %v", until, b.ExpiresAt)
			}
			time.Sleep(5 * time.Millisecond)
		}
		e.clock.Add(d) // serve the ban
	}
	// Manual ban without a length follows the same schedule; forgetting
	// the history starts over.
	b, err := g.Ban(ctx, ip1, 0, "")
	if err != nil || b.Offences != 4 || b.ExpiresAt.Sub(b.CreatedAt) != 16*time.Hour || b.Reason != "manual" {
		t.Fatalf("manual ban = %+v, %v", b, err)
	}
	if err := g.Unban(ctx, ip1, true); err != nil {
		t.Fatal(err)
	}
	b, _ = g.Ban(ctx, ip1, 0, "again")
	if b.Offences != 1 || b.ExpiresAt.Sub(b.CreatedAt) != DefaultBaseBan {
		t.Fatalf("after forget: %+v", b)
	}
}

func TestBanDuration(t *testing.T) {
	var c Config
	want := map[int]time.Duration{
		0: 15 * time.Minute, 1: 15 * time.Minute, 2: time.Hour, 3: 4 * time.Hour, 4: 16 * time.Hour,
		5: 64 * time.Hour, 6: 7 * 24 * time.Hour, 7: 7 * 24 * time.Hour, 1000: 7 * 24 * time.Hour,
	}
	for n, d := range want {
		if got := c.BanDuration(n); got != d {
			t.Errorf("BanDuration(%d) = %v, want %v", n, got, d)
		}
	}
	c = Config{BaseBan: time.Minute, BanGrowth: 2, MaxBan: 5 * time.Minute}
	if got := c.BanDuration(3); got != 4*time.Minute {
		t.Errorf("custom BanDuration(3) = %v", got)
	}
	if got := c.BanDuration(4); got != 5*time.Minute {
		t.Errorf("custom BanDuration(4) = %v", got)
	}
}

func TestAllowList(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	defer st.Close()
	g := e.guard(t, st, func(c *Config) { c.AllowList = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	defer g.Close()
	for range 10 {
		g.Strike(ip1, "x")
	}
	if err := g.Admit(ip1); err != nil {
		t.Fatalf("allow-listed address banned: %v", err)
	}
	if _, err := New(context.Background(), Config{Store: st, AllowList: []netip.Prefix{{}}}); err == nil {
		t.Fatal("invalid prefix accepted")
	}
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Fatal("missing store accepted")
	}
}

func TestRefreshSeesOtherProcess(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	st := e.open(t)
	defer st.Close()
	g := e.guard(t, st, func(c *Config) { c.RefreshInterval = 20 * time.Millisecond })
	defer g.Close()

	// Another process (the ban command) writes through its own handle.
	other := e.open(t)
	defer other.Close()
	ip := netip.MustParseAddr("2001:db8::7")
	now := e.clock.Now()
	if err := other.AddBan(ctx, store.Ban{IP: ip, Reason: "manual", CreatedAt: now, ExpiresAt: now.Add(time.Hour), Offences: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return g.Admit(ip) != nil }, "ban from another process")
	if err := other.RemoveBan(ctx, ip); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return g.Admit(ip) == nil }, "unban from another process")
	if !strings.Contains(e.logs.String(), `msg="tickwire ban" ip=2001:db8::7 `) || !strings.Contains(e.logs.String(), "source=store") {
		t.Errorf("ban from the store not logged:\n%s", e.logs.String())
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrentStrikesAndAdmit(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	defer st.Close()
	g := e.guard(t, st, func(c *Config) { c.RefreshInterval = 10 * time.Millisecond })
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				ip := netip.AddrFrom4([4]byte{10, 0, byte(w), byte(i % 50)})
				g.Strike(ip, "flood")
				_ = g.Admit(ip)
			}
		}()
	}
	wg.Wait()
	g.Close()
	bans, err := st.ListBans(context.Background(), e.clock.Now())
	if err != nil || len(bans) != 8*50 {
		t.Fatalf("%d bans persisted (err %v), want %d", len(bans), err, 8*50)
	}
}

func TestStrikeDoesNotBlockOnSlowStore(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	defer st.Close()
	slow := &slowStore{Store: st, release: make(chan struct{})}
	g := e.guard(t, slow, nil)
	start := time.Now()
	for i := range 200 {
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i)})
		for range 3 {
			g.Strike(ip, "x")
		}
		if g.Admit(ip) == nil {
			t.Fatal("ban not applied at once")
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Strike blocked for %v", d)
	}
	close(slow.release)
	g.Close()
}

// slowStore blocks writes until release is closed.
type slowStore struct {
	store.Store
	release chan struct{}
}

func (s *slowStore) AddBan(ctx context.Context, b store.Ban) error {
	<-s.release
	return s.Store.AddBan(ctx, b)
}

func TestReasonCleaning(t *testing.T) {
	for in, want := range map[string]string{
		"too_long": "too_long", "": "other", "Bad Message": "other", "x=y": "other",
		strings.Repeat("a", MaxReasonLen+1): "other", "impossible_move": "impossible_move",
	} {
		if got := cleanReason(in); got != want {
			t.Errorf("cleanReason(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFail2banFilter checks that the shipped filter holds the same
// regexes as this package and that they match real ban lines, with the text
// and JSON handlers and with extra logger attributes.
func TestFail2banFilter(t *testing.T) {
	conf, err := os.ReadFile(filepath.Join("..", "deploy", "fail2ban", "filter.d", "tickwire.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var failregex []string
	in := false
	for _, line := range strings.Split(string(conf), "\n") {
		switch {
		case strings.HasPrefix(line, "failregex ="):
			in = true
			failregex = append(failregex, strings.TrimSpace(strings.TrimPrefix(line, "failregex =")))
		case in && strings.HasPrefix(line, " ") && strings.TrimSpace(line) != "":
			failregex = append(failregex, strings.TrimSpace(line))
		default:
			in = false
		}
	}
	if len(failregex) != 2 || failregex[0] != FailRegexText || failregex[1] != FailRegexJSON {
		t.Fatalf("filter failregex = %q\nwant %q and %q", failregex, FailRegexText, FailRegexJSON)
	}

	for _, ip := range []string{"192.0.2.7", "2001:db8::1"} {
		for _, tc := range []struct {
			name  string
			regex string
			h     func(*bytes.Buffer) slog.Handler
		}{
			{"text", FailRegexText, func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
			{"json", FailRegexJSON, func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		} {
			for _, with := range []bool{false, true} {
				var buf bytes.Buffer
				logger := slog.New(tc.h(&buf))
				if with {
					logger = logger.With("component", "guard", "node", "eu 1")
				}
				e := newEnv(t)
				st := e.open(t)
				g, err := New(context.Background(), Config{Store: st, Logger: logger, Now: e.clock.Now})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := g.Ban(context.Background(), netip.MustParseAddr(ip), time.Hour, "manual"); err != nil {
					t.Fatal(err)
				}
				g.Close()
				st.Close()
				re, err := CompileFailRegex(tc.regex)
				if err != nil {
					t.Fatal(err)
				}
				var line string
				for _, l := range strings.Split(buf.String(), "\n") {
					if strings.Contains(l, LogMessage) {
						line = l
					}
				}
				name := fmt.Sprintf("%s/%s/with=%v", tc.name, ip, with)
				m := re.FindStringSubmatch(line)
				if m == nil {
					t.Errorf("%s: regex %q does not match %q", name, tc.regex, line)
					continue
				}
				if got := m[re.SubexpIndex("host")]; got != ip {
					t.Errorf("%s: host = %q, want %q in %q", name, got, ip, line)
				}
				// Other lines never match.
				for _, l := range strings.Split(buf.String(), "\n") {
					if !strings.Contains(l, LogMessage) && re.MatchString(l) {
						t.Errorf("%s: regex matches unrelated line %q", name, l)
					}
				}
			}
		}
	}
}

func TestInvalidConfigRefused(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	defer st.Close()
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.StrikeLimit = -1 }, "StrikeLimit -1 must not be negative"},
		{func(c *Config) { c.BaseBan = -time.Minute }, "BaseBan -1m0s must not be negative"},
		{func(c *Config) { c.RefreshInterval = -time.Second }, "RefreshInterval"},
		{func(c *Config) { c.MaxBan = time.Minute; c.BaseBan = time.Hour }, "MaxBan 1m0s is shorter than BaseBan 1h0m0s"},
	} {
		cfg := Config{Store: st}
		c.mod(&cfg)
		g, err := New(context.Background(), cfg)
		if err == nil {
			g.Close()
			t.Errorf("%+v: accepted", cfg)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %q, want %q", err, c.want)
		}
	}
}

func TestBanReasonCannotForgeTheLogLine(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	defer st.Close()
	g := e.guard(t, st, nil)
	defer g.Close()
	for _, reason := range []string{`spam ip=192.0.2.1 x`, `a"b`, "two\nlines"} {
		if _, err := g.Ban(context.Background(), netip.MustParseAddr("198.51.100.7"), time.Hour, reason); err == nil {
			t.Errorf("reason %q accepted", reason)
		}
	}
	if _, err := g.Ban(context.Background(), netip.MustParseAddr("198.51.100.7"), time.Hour, "spam in chat"); err != nil {
		t.Fatal(err)
	}
}

func TestFail2banRegexTakesTheFirstAddress(t *testing.T) {
	re, err := CompileFailRegex(FailRegexText)
	if err != nil {
		t.Fatal(err)
	}
	// Should a later attribute ever carry "ip=", the line's own ip= (the
	// first attribute after msg) is the one fail2ban bans.
	line := `time=2030-01-02T03:04:05Z level=WARN msg="tickwire ban" ip=203.0.113.9 reason="x ip=10.0.0.1" offences=1`
	m := re.FindStringSubmatch(line)
	if m == nil || m[re.SubexpIndex("host")] != "203.0.113.9" {
		t.Fatalf("matched %q", m)
	}
}

func TestApplyBansFromOtherNodes(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	defer st.Close()
	g := e.guard(t, st, nil)
	ip := netip.MustParseAddr("198.51.100.4")
	now := e.clock.Now()
	v := g.BansVersion()
	g.Apply(store.Ban{IP: ip, Reason: "strikes:flood", CreatedAt: now, ExpiresAt: now.Add(time.Minute), Offences: 1})
	if err := g.Admit(ip); err == nil {
		t.Fatal("an applied ban does not refuse the address")
	}
	if g.BansVersion() == v {
		t.Fatal("BansVersion did not change: the server's sweep would not end the address's sessions")
	}
	// An expired ban, or a shorter one than held, changes nothing.
	v = g.BansVersion()
	g.Apply(store.Ban{IP: ip, CreatedAt: now, ExpiresAt: now.Add(time.Second)})
	g.Apply(store.Ban{IP: netip.MustParseAddr("198.51.100.5"), CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)})
	if g.BansVersion() != v || g.Admit(netip.MustParseAddr("198.51.100.5")) != nil {
		t.Fatal("an expired or shorter ban was applied")
	}
	// A refresh keeps a peer's ban the store has not got yet.
	if err := g.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g.Admit(ip) == nil {
		t.Fatal("a refresh dropped the applied ban")
	}
	// Not written: the node that made it writes it.
	if bans, _ := st.ListBans(context.Background(), now); len(bans) != 0 {
		t.Fatalf("Apply wrote to the store: %v", bans)
	}
	// An operator's unban here lifts it.
	if err := g.Unban(context.Background(), ip, false); err != nil {
		t.Fatalf("unban of an applied ban: %v", err)
	}
	if err := g.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g.Admit(ip) != nil {
		t.Fatal("an unbanned applied ban still refuses the address")
	}
}
