package auth

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hashGate instruments a pool: it counts the hashes running at once and
// the peak, and can hold every hash until released.
type hashGate struct {
	running, peak, done atomic.Int32
	started             chan struct{} // one value per hash as it starts
	hold                chan struct{} // closed to let held hashes finish
}

func gatePool(p *HashPool, holding bool) *hashGate {
	g := &hashGate{started: make(chan struct{}, 1000), hold: make(chan struct{})}
	if !holding {
		close(g.hold)
	}
	p.wrap = func(run func()) {
		n := g.running.Add(1)
		for {
			old := g.peak.Load()
			if n <= old || g.peak.CompareAndSwap(old, n) {
				break
			}
		}
		g.started <- struct{}{}
		<-g.hold
		run()
		g.running.Add(-1)
		g.done.Add(1)
	}
	return g
}

// release lets held hashes run, once.
func (g *hashGate) release() {
	select {
	case <-g.hold:
	default:
		close(g.hold)
	}
}

// waitFor polls cond, failing the test if it is not met within a generous
// bound (a hang guard, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHashPoolBurst fires 10 registrations at once at a service whose
// pool runs one hash and queues two. Exactly one runs, two wait, and the
// seven others are answered at once with 503 busy and a Retry-After;
// never does more than one hash run; every accepted registration
// completes and its password verifies, and no refused one left an
// account behind.
func TestHashPoolBurst(t *testing.T) {
	f := newFixture(t)
	s := newSvc(t, f, t.TempDir(), func(c *Config) { c.HashConcurrency, c.HashQueue = 1, 2 })
	g := gatePool(s.pool, true)
	h := s.Handler()
	type result struct {
		name string
		w    *httptest.ResponseRecorder
	}
	results := make(chan result, 10)
	for i := range 10 {
		go func() {
			name := fmt.Sprintf("burst%d", i)
			ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}).String() + ":1"
			results <- result{name, do(h, "POST", "/v1/register", ip, `{"name":"`+name+`","password":"burst-password-`+strconv.Itoa(i)+`"}`, nil)}
		}()
	}
	// The seven that find no room are answered while the first hash is
	// still held.
	var got []result
	for range 7 {
		got = append(got, <-results)
	}
	if running, waiting := s.pool.load(); running != 1 || waiting != 2 {
		t.Fatalf("pool: %d running, %d waiting; want 1 and 2", running, waiting)
	}
	g.release()
	for range 3 {
		got = append(got, <-results)
	}
	busy, created := 0, 0
	for _, r := range got {
		switch r.w.Code {
		case http.StatusServiceUnavailable:
			busy++
			var body ErrorResponse
			if err := json.Unmarshal(r.w.Body.Bytes(), &body); err != nil || body.Error.Code != "busy" || body.Error.Message == "" {
				t.Fatalf("busy body %s (%v)", r.w.Body, err)
			}
			if n, err := strconv.Atoi(r.w.Header().Get("Retry-After")); err != nil || n < 1 {
				t.Fatalf("busy without Retry-After: %v", r.w.Header())
			}
			if _, err := f.st.AccountByName(context.Background(), r.name); err == nil {
				t.Fatalf("refused registration %s created an account", r.name)
			}
		case http.StatusCreated:
			created++
			a, err := f.st.AccountByName(context.Background(), r.name)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			i := strings.TrimPrefix(r.name, "burst")
			if ok, err := VerifyPassword(a.PasswordHash, "burst-password-"+i); !ok || err != nil {
				t.Fatalf("%s: stored hash does not verify", r.name)
			}
		default:
			t.Fatalf("%s: %d %s", r.name, r.w.Code, r.w.Body)
		}
	}
	if busy != 7 || created != 3 || g.peak.Load() != 1 || g.done.Load() != 3 {
		t.Fatalf("%d busy, %d created, peak %d hashes at once, %d hashes; want 7, 3, 1, 3", busy, created, g.peak.Load(), g.done.Load())
	}
}

// TestHashPoolWaitTimeout: a request that waits for a slot longer than
// the request timeout gets 503 busy with Retry-After, and leaves the
// queue.
func TestHashPoolWaitTimeout(t *testing.T) {
	f := newFixture(t)
	f.register(t, "alice", "alice-password-1")
	s := newSvc(t, f, t.TempDir(), func(c *Config) { c.HashQueue = 4 })
	g := gatePool(s.pool, true)
	h := s.Handler()
	held := make(chan *httptest.ResponseRecorder, 1)
	go func() { held <- do(h, "POST", "/v1/login", "192.0.2.1:1", aliceRight, nil) }()
	<-g.started // the slot is taken, and held past the next request's timeout
	s.requestTimeout = 50 * time.Millisecond
	w := do(h, "POST", "/v1/login", "192.0.2.2:1", aliceRight, nil)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"busy"`) || w.Header().Get("Retry-After") == "" {
		t.Fatalf("waiting past the timeout: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if _, waiting := s.pool.load(); waiting != 0 {
		t.Fatalf("%d still waiting", waiting)
	}
	g.release()
	if w := <-held; w.Code != http.StatusOK {
		t.Fatalf("held login: %d %s", w.Code, w.Body)
	}
	// A busy answer is not a failed login: the address is not limited.
	s.requestTimeout = RequestTimeout
	if w := do(h, "POST", "/v1/login", "192.0.2.2:1", aliceRight, nil); w.Code != http.StatusOK {
		t.Fatalf("after busy: %d", w.Code)
	}
}

// TestBusyCostsNoTokens: a 503 busy answer did nothing, so it spends
// neither a registration nor a login request token: an address that got
// busy answers in a burst can retry at once afterwards.
func TestBusyCostsNoTokens(t *testing.T) {
	f := newFixture(t)
	f.register(t, "alice", "alice-password-1")
	s := newSvc(t, f, t.TempDir(), func(c *Config) {
		c.HashQueue = -1
		c.RegisterPerIP = RateLimit{Every: time.Hour, Burst: 2}
		c.LoginPerIP = RateLimit{Every: time.Hour, Burst: 2}
	})
	g := gatePool(s.pool, true)
	h := s.Handler()
	held := make(chan int, 1)
	go func() { held <- do(h, "POST", "/v1/login", "192.0.2.9:1", aliceRight, nil).Code }()
	<-g.started
	const ip = "192.0.2.1:1"
	for i := range 5 {
		body := `{"name":"new` + strconv.Itoa(i) + `","password":"new-password-12"}`
		if w := do(h, "POST", "/v1/register", ip, body, nil); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("register %d with the pool busy: %d %s", i, w.Code, w.Body)
		}
		if w := do(h, "POST", "/v1/login", ip, aliceRight, nil); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("login %d with the pool busy: %d %s", i, w.Code, w.Body)
		}
	}
	g.release()
	if c := <-held; c != http.StatusOK {
		t.Fatalf("held login: %d", c)
	}
	for i, want := range []struct{ register, login int }{{201, 200}, {201, 200}, {429, 429}} {
		if w := do(h, "POST", "/v1/register", ip, `{"name":"late`+strconv.Itoa(i)+`","password":"new-password-12"}`, nil); w.Code != want.register {
			t.Fatalf("registration %d after the burst: %d, want %d", i, w.Code, want.register)
		}
		if w := do(h, "POST", "/v1/login", ip, aliceRight, nil); w.Code != want.login {
			t.Fatalf("login %d after the burst: %d, want %d", i, w.Code, want.login)
		}
	}
}

// TestHashPoolOrderAndCancel: waiters are served in arrival order; one
// whose context ends leaves the queue with ErrBusy and does not run; the
// queue bound counts only those still waiting.
func TestHashPoolOrderAndCancel(t *testing.T) {
	p, err := NewHashPool(HashPoolConfig{Concurrency: 1, Queue: 2, Params: testParams})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	var mu sync.Mutex
	hold := make(chan struct{})
	job := func(name string, ctx context.Context) chan error {
		ch := make(chan error, 1)
		go func() {
			ch <- p.run(ctx, testParams, func() {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				if name == "first" {
					<-hold
				}
			})
		}()
		return ch
	}
	first := job("first", context.Background())
	waitFor(t, "first to run", func() bool { r, _ := p.load(); return r == 1 })
	ctxA, cancelA := context.WithCancel(context.Background())
	a := job("a", ctxA)
	waitFor(t, "a to wait", func() bool { _, w := p.load(); return w == 1 })
	b := job("b", context.Background())
	waitFor(t, "b to wait", func() bool { _, w := p.load(); return w == 2 })
	// The queue is full.
	err = p.run(context.Background(), testParams, func() { t.Error("ran past a full queue") })
	var e *Error
	if !errors.As(err, &e) || e.Code != "busy" || e.RetryAfter < MinBusyRetryAfter || e.RetryAfter > MaxBusyRetryAfter {
		t.Fatalf("full queue: %v", err)
	}
	cancelA()
	if err := <-a; !errors.Is(err, ErrBusy) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	c := job("c", context.Background()) // room again after a left
	waitFor(t, "c to wait", func() bool { _, w := p.load(); return w == 2 })
	close(hold)
	for _, ch := range []chan error{first, b, c} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(order, ",") != "first,b,c" {
		t.Fatalf("order %v", order)
	}
	if r, w := p.load(); r != 0 || w != 0 {
		t.Fatalf("pool not empty: %d running, %d waiting", r, w)
	}

	// No queue at all.
	p0, _ := NewHashPool(HashPoolConfig{Queue: -1, Params: testParams})
	g := gatePool(p0, true)
	done := make(chan error, 1)
	go func() { _, err := p0.Hash(context.Background(), "x", testParams); done <- err }()
	<-g.started
	if _, err := p0.Matches(context.Background(), Hash{Params: testParams}, "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("no queue: %v", err)
	}
	g.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestHashPoolMemoryBudget: the concurrency is lowered to fit the budget;
// a hash with p lanes takes p slots; a stored hash needing more than the
// whole budget fails as unavailable instead of running.
func TestHashPoolMemoryBudget(t *testing.T) {
	for _, c := range []struct {
		conc   int
		budget int64
		want   int
	}{
		{0, 0, 1}, {8, 0, 3}, {8, 19 << 20, 1}, {2, 1 << 30, 2}, {MaxHashConcurrency, 1 << 40, MaxHashConcurrency},
	} {
		p, err := NewHashPool(HashPoolConfig{Concurrency: c.conc, MemoryBudget: c.budget})
		if err != nil || p.Concurrency() != c.want {
			t.Errorf("concurrency %d, budget %d: %v %v; want %d", c.conc, c.budget, p, err, c.want)
		}
	}
	for _, c := range []HashPoolConfig{
		{MemoryBudget: 19<<20 - 1}, {Concurrency: MaxHashConcurrency + 1}, {Concurrency: -1}, {Queue: MaxHashQueue + 1},
		{Params: Params{Memory: 1}},
	} {
		if _, err := NewHashPool(c); err == nil {
			t.Errorf("NewHashPool(%+v) accepted", c)
		}
	}

	// Two lanes take two slots: with two slots, two-lane hashes run one
	// at a time while one-lane hashes run side by side.
	two := testParams
	two.Threads = 2
	two.Memory = 64
	p, _ := NewHashPool(HashPoolConfig{Concurrency: 2, Params: testParams})
	g := gatePool(p, true)
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := p.Hash(context.Background(), "password-x", two); errs <- err }()
	}
	<-g.started
	waitFor(t, "the second two-lane hash to queue", func() bool { _, w := p.load(); return w == 1 })
	g.release()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if g.peak.Load() != 1 {
		t.Fatalf("two-lane hashes ran %d at once with 2 slots", g.peak.Load())
	}
	g = gatePool(p, true)
	for range 2 {
		go func() { _, err := p.Hash(context.Background(), "password-x", testParams); errs <- err }()
	}
	<-g.started
	<-g.started // both one-lane hashes are running together
	g.release()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	// A stored hash bigger than the budget.
	f := newFixture(t)
	big := Params{Memory: 4096, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	enc, _ := HashPassword("alice-password-1", big)
	if _, err := f.st.CreateAccount(context.Background(), "alice", enc, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	s := newSvc(t, f, t.TempDir(), func(c *Config) { c.HashMemoryBudget = 1 << 20 })
	if w := do(s.Handler(), "POST", "/v1/login", "192.0.2.1:1", aliceRight, nil); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"unavailable"`) {
		t.Fatalf("oversized stored hash: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(f.logs.String(), "more memory than the hashing budget") {
		t.Fatal("oversized stored hash not logged")
	}
}

// TestUnknownNamesUseThePool: the dummy hash of an unknown name waits in
// the same pool as a real one, so a busy pool answers busy for both and
// does not tell them apart; with room, both cost one hash.
func TestUnknownNamesUseThePool(t *testing.T) {
	f := newFixture(t)
	f.register(t, "alice", "alice-password-1")
	s := newSvc(t, f, t.TempDir(), func(c *Config) { c.HashQueue = -1 })
	g := gatePool(s.pool, true)
	h := s.Handler()
	held := make(chan int, 1)
	go func() {
		held <- do(h, "POST", "/v1/register", "192.0.2.1:1", `{"name":"bob","password":"bob-password-12"}`, nil).Code
	}()
	<-g.started
	for _, body := range []string{aliceWrong, `{"name":"nobody","password":"wrong-password"}`} {
		if w := do(h, "POST", "/v1/login", "192.0.2.2:1", body, nil); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"busy"`) {
			t.Fatalf("%s with the pool busy: %d %s", body, w.Code, w.Body)
		}
	}
	g.release()
	if c := <-held; c != http.StatusCreated {
		t.Fatalf("held registration: %d", c)
	}
	before := g.done.Load()
	for _, body := range []string{aliceWrong, `{"name":"nobody","password":"wrong-password"}`} {
		if w := do(h, "POST", "/v1/login", "192.0.2.2:1", body, nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("%s: %d", body, w.Code)
		}
	}
	if n := g.done.Load() - before; n != 2 {
		t.Fatalf("%d hashes for a known and an unknown name, want 2", n)
	}
}

// TestVerifierUsesPool: plain-password game logins hash in the pool
// (shared with the service here) and get busy when it is full; token
// logins never wait for it.
func TestVerifierUsesPool(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := f.register(t, "alice", "alice-password-1")
	s := newSvc(t, f, t.TempDir(), func(c *Config) { c.HashQueue = -1 })
	v := f.verifier(t, func(c *VerifierConfig) { c.AllowPlainPasswords = true; c.HashPool = s.HashPool() })
	g := gatePool(s.pool, true)
	held := make(chan error, 1)
	go func() { _, err := v.Authenticate(ctx, "alice", "alice-password-1", localIP); held <- err }()
	<-g.started
	_, err := v.Authenticate(ctx, "alice", "alice-password-1", localIP)
	if !errors.Is(err, ErrBusy) || Code(err) != "busy" {
		t.Fatalf("plain password with the pool busy: %v", err)
	}
	if w := do(s.Handler(), "POST", "/v1/login", "192.0.2.1:1", aliceRight, nil); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("service shares the pool: %d", w.Code)
	}
	if id, err := v.Authenticate(ctx, "alice", f.token(t, alice, time.Minute), localIP); err != nil || id.Name != "alice" {
		t.Fatalf("token login with the pool busy: %+v %v", id, err)
	}
	g.release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if _, err := NewVerifier(VerifierConfig{Store: f.st, HashPool: s.HashPool(), HashQueue: 3}); err == nil {
		t.Fatal("HashPool and HashQueue together accepted")
	}
	if _, err := NewVerifier(VerifierConfig{Store: f.st, HashMemoryBudget: 1 << 20}); err == nil {
		t.Fatal("a budget below one default hash accepted")
	}
}

// TestHashConfigValidate covers the pool fields of Config.
func TestHashConfigValidate(t *testing.T) {
	st := openStore(t)
	pool, _ := NewHashPool(HashPoolConfig{})
	small, _ := NewHashPool(HashPoolConfig{MemoryBudget: 1 << 20, Params: testParams})
	bad := []Config{
		{Store: st, HashConcurrency: -1},
		{Store: st, HashConcurrency: MaxHashConcurrency + 1},
		{Store: st, HashQueue: MaxHashQueue + 1},
		{Store: st, HashMemoryBudget: 1 << 20},
		{Store: st, HashPool: pool, HashQueue: 1},
		{Store: st, HashPool: small}, // DefaultParams do not fit its budget
		{Store: st, LoginFailRecent: -time.Second},
		{Store: st, LoginFailRecent: MaxLoginFailRecent + 1},
		{Store: st, LoginFailPerAccount: RateLimit{Every: time.Minute}},
		{Store: st, LoginFailPerAccountIP: RateLimit{Burst: 1}},
		{Store: st, LoginFailPerIP: RateLimit{Every: -time.Minute, Burst: 3}},
	}
	for i, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("config %d accepted: %+v", i, c)
		}
	}
	for _, c := range []Config{{Store: st, HashQueue: -1}, {Store: st, HashPool: pool}, {Store: st, HashMemoryBudget: 19 << 20}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	c := Config{Store: st}.WithDefaults()
	if c.LoginFailPerIP != DefaultLoginFailPerIP || c.LoginFailPerAccountIP != DefaultLoginFailPerAccountIP ||
		c.LoginFailPerAccount != DefaultLoginFailPerAccount || c.LoginFailRecent != DefaultLoginFailRecent {
		t.Fatalf("defaults: %+v", c)
	}
	if pc := c.hashPoolConfig(); pc.Concurrency != 1 || pc.MemoryBudget != 64<<20 || pc.Queue != 32 {
		t.Fatalf("pool defaults: %+v", pc)
	}
}

// TestHashPoolFlags: the command-line flags fill a HashPoolConfig; flags
// not given leave the defaults; out-of-range values are refused.
func TestHashPoolFlags(t *testing.T) {
	parse := func(args ...string) (HashPoolConfig, error) {
		var c HashPoolConfig
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.AddFlags(fs)
		return c, fs.Parse(args)
	}
	c, err := parse()
	if err != nil || c != (HashPoolConfig{}) {
		t.Fatalf("no flags: %+v %v", c, err)
	}
	c, err = parse("--hash-concurrency", "2", "--hash-memory-mib", "40", "--hash-queue", "7")
	if err != nil || c != (HashPoolConfig{Concurrency: 2, MemoryBudget: 40 << 20, Queue: 7}) {
		t.Fatalf("flags: %+v %v", c, err)
	}
	if p, err := NewHashPool(c); err != nil || p.Concurrency() != 2 || p.queueMax != 7 {
		t.Fatalf("pool from flags: %+v %v", p, err)
	}
	// --hash-queue 0: no waiting at all.
	c, err = parse("--hash-queue=0")
	if p, perr := NewHashPool(c); err != nil || perr != nil || p.queueMax != 0 {
		t.Fatalf("--hash-queue 0: %+v %v %v", c, err, perr)
	}
	// 64 MiB with 19 MiB hashes: 3 at once at most.
	c, _ = parse("--hash-concurrency=8")
	if p, _ := NewHashPool(c); p.Concurrency() != 3 {
		t.Fatalf("--hash-concurrency 8 within 64 MiB: %d", p.Concurrency())
	}
	for _, args := range [][]string{
		{"--hash-concurrency", "0"}, {"--hash-concurrency", "x"}, {"--hash-memory-mib", "0"},
		{"--hash-memory-mib", "-5"}, {"--hash-queue", "-1"}, {"--hash-queue", "1.5"},
	} {
		if _, err := parse(args...); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	// Values the flags accept but the pool refuses are reported by it.
	c, _ = parse("--hash-memory-mib=8")
	if _, err := NewHashPool(c); err == nil {
		t.Fatal("8 MiB budget for 19 MiB hashes accepted")
	}
}

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skip("no /proc/self/statm:", err)
	}
	fields := strings.Fields(string(raw))
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkRegisterBurstRSS fires 100 registrations at once at a service
// hashing with DefaultParams (19 MiB, t=2), the burst that raised the game
// process's RSS by 160-186 MB before the pool, and reports the peak RSS
// growth during the burst (sampled every millisecond from
// /proc/self/statm), how many were answered 503 busy, and the time until
// the last answer. Variants: the default pool (1 hash at a time, 32
// waiting: most of the burst is refused at once); a queue that takes all
// 100; the same with debug.FreeOSMemory after every hash; and the old
// bound of 4 hashes at once.
func BenchmarkRegisterBurstRSS(b *testing.B) {
	cases := []struct {
		name       string
		conc, q    int
		freeMemory bool
	}{
		{"default", 0, 0, false},
		{"queue100", 0, 100, false},
		{"queue100-FreeOSMemory", 0, 100, true},
		{"concurrency4-queue100", 4, 100, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := newFixture(b)
			s, err := New(Config{
				Store: f.st, Logger: f.log, Addr: "127.0.0.1:0", DataDir: b.TempDir(), Now: f.clock.Now,
				HashConcurrency: c.conc, HashQueue: c.q, HashMemoryBudget: 1 << 30,
				RegisterPerIP: RateLimit{Every: time.Second, Burst: 1 << 20},
			})
			if err != nil {
				b.Fatal(err)
			}
			if c.freeMemory {
				s.pool.wrap = func(run func()) { run(); debug.FreeOSMemory() }
			}
			h := s.Handler()
			var peak, busy int64
			var took time.Duration
			n := 0
			for b.Loop() {
				runtime.GC()
				debug.FreeOSMemory()
				base := rssBytes(b)
				stop := make(chan struct{})
				sampled := make(chan int64)
				go func() {
					top := base
					tick := time.NewTicker(time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							sampled <- top
							return
						case <-tick.C:
							top = max(top, rssBytes(b))
						}
					}
				}()
				start := time.Now()
				var wg sync.WaitGroup
				var refused atomic.Int64
				for i := range 100 {
					wg.Go(func() {
						name := fmt.Sprintf("u%d_%d", n, i)
						w := do(h, "POST", "/v1/register", "192.0.2.1:1", `{"name":"`+name+`","password":"burst-password-1"}`, nil)
						if w.Code == http.StatusServiceUnavailable {
							refused.Add(1)
						} else if w.Code != http.StatusCreated {
							b.Errorf("%d %s", w.Code, w.Body)
						}
					})
				}
				wg.Wait()
				took = time.Since(start)
				close(stop)
				peak = max(peak, <-sampled-base)
				busy = refused.Load()
				n++
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-rss-growth-MiB")
			b.ReportMetric(float64(busy), "busy-503")
			b.ReportMetric(took.Seconds(), "burst-s")
		})
	}
}
