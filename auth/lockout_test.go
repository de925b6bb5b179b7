package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	aliceRight = `{"name":"alice","password":"alice-password-1"}`
	aliceWrong = `{"name":"alice","password":"wrong-password"}`
)

// lockoutSvc returns a handler with the default limits (only the Guard
// and the test clock set) and alice registered.
func lockoutSvc(t *testing.T, mod func(*Config)) (*fixture, *Service, *recordingGuard) {
	t.Helper()
	f := newFixture(t)
	f.register(t, "alice", "alice-password-1")
	g := &recordingGuard{}
	s := newSvc(t, f, t.TempDir(), func(c *Config) {
		c.Guard = g
		if mod != nil {
			mod(c)
		}
	})
	return f, s, g
}

// generousVolume lifts the per-address request limit out of the way of a
// test of the failure limits that sends many requests at one instant.
func generousVolume(c *Config) { c.LoginPerIP = RateLimit{Every: time.Second, Burst: 1000} }

// strikesOf returns the strikes recorded against ip.
func (g *recordingGuard) strikesOf(ip string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, s := range g.strikes {
		if strings.HasPrefix(s, ip+" ") {
			out = append(out, s)
		}
	}
	return out
}

func (g *recordingGuard) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.strikes)
}

// retryAfter parses the Retry-After header of a 429, failing the test if
// it is missing.
func retryAfter(t *testing.T, w *httptest.ResponseRecorder) time.Duration {
	t.Helper()
	n, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("%d without a valid Retry-After (%q): %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	return time.Duration(n) * time.Second
}

// TestOwnerNotLockedOut is the lockout of the report: an address keeps
// sending wrong passwords for alice, one every 12 s, for an hour, while
// alice's owner logs in from another address with the right password
// every round. The owner gets 200 every time and is never struck; the
// attacker is limited and struck. Then a hundred addresses join in, enough
// to spend the account-wide limit many times over, and still the owner is
// never refused.
func TestOwnerNotLockedOut(t *testing.T) {
	f, s, g := lockoutSvc(t, nil)
	h := s.Handler()
	const attacker, owner = "203.0.113.7", "198.51.100.20"
	guesses, refused := 0, 0
	for round := range 300 { // 300 × 12 s = 1 h
		w := do(h, "POST", "/v1/login", attacker+":4000", aliceWrong, nil)
		switch w.Code {
		case http.StatusUnauthorized:
			guesses++
		case http.StatusTooManyRequests:
			refused++
			retryAfter(t, w)
		default:
			t.Fatalf("round %d: attacker got %d %s", round, w.Code, w.Body)
		}
		if w := do(h, "POST", "/v1/login", owner+":5000", aliceRight, nil); w.Code != http.StatusOK {
			t.Fatalf("round %d: owner got %d %s", round, w.Code, w.Body)
		}
		f.clock.Add(12 * time.Second)
	}
	// 5 at once, then one per 5 minutes: 5 + 12 in the hour.
	if guesses > 5+12 || refused == 0 {
		t.Fatalf("attacker: %d guesses checked, %d refused", guesses, refused)
	}
	if n := len(g.strikesOf(attacker)); n != refused {
		t.Fatalf("attacker struck %d times for %d refusals", n, refused)
	}

	// A distributed attack: 100 addresses, 3 wrong passwords each per
	// round, and the owner in between.
	for round := range 5 {
		for i := range 100 {
			ip := netip.AddrFrom4([4]byte{10, 1, byte(round), byte(i)}).String()
			for range 3 {
				do(h, "POST", "/v1/login", ip+":1", aliceWrong, nil)
			}
			if i%10 == 0 {
				if w := do(h, "POST", "/v1/login", owner+":5000", aliceRight, nil); w.Code != http.StatusOK {
					t.Fatalf("distributed round %d/%d: owner got %d %s", round, i, w.Code, w.Body)
				}
			}
		}
		f.clock.Add(time.Minute)
	}
	if st := g.strikesOf(owner); len(st) != 0 {
		t.Fatalf("owner struck: %q", st)
	}
}

// TestBruteForceOneAddress: one address guessing alice's password gets 5
// tries, then 429 with a Retry-After until the next try and a strike per
// refusal; while refused even the right password is not checked, so
// guessing it at that moment is no use.
func TestBruteForceOneAddress(t *testing.T) {
	f, s, g := lockoutSvc(t, nil)
	h := s.Handler()
	const ip = "203.0.113.9:1"
	for i := range 5 {
		if w := do(h, "POST", "/v1/login", ip, aliceWrong, nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("try %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := do(h, "POST", "/v1/login", ip, aliceWrong, nil)
	if w.Code != http.StatusTooManyRequests || retryAfter(t, w) != 5*time.Minute || !strings.Contains(w.Body.String(), `"rate_limited"`) {
		t.Fatalf("6th try: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := do(h, "POST", "/v1/login", ip, aliceRight, nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: %d", w.Code)
	}
	if st := g.strikesOf("203.0.113.9"); len(st) != 2 || st[0] != "203.0.113.9 rate_limited" {
		t.Fatalf("strikes = %q", st)
	}
	f.clock.Add(2 * time.Minute)
	if w := do(h, "POST", "/v1/login", ip, aliceWrong, nil); retryAfter(t, w) != 3*time.Minute {
		t.Fatalf("Retry-After after 2 min = %v", retryAfter(t, w))
	}
	// One more try per 5 minutes.
	f.clock.Add(3 * time.Minute)
	if w := do(h, "POST", "/v1/login", ip, aliceWrong, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("after 5 min: %d", w.Code)
	}
	if w := do(h, "POST", "/v1/login", ip, aliceWrong, nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("second try after 5 min: %d", w.Code)
	}
	// Upper case does not make another account.
	if w := do(h, "POST", "/v1/login", ip, `{"name":"ALICE","password":"x"}`, nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("upper-case name escaped the limit: %d", w.Code)
	}
	// The password-change endpoint shares the limits.
	body := `{"name":"alice","old_password":"wrong-password","new_password":"new-password-22"}`
	if w := do(h, "POST", "/v1/password", ip, body, nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("password change while limited: %d", w.Code)
	}
	// Other addresses, and other accounts from this address, are not
	// affected.
	if w := do(h, "POST", "/v1/login", "198.51.100.1:1", aliceRight, nil); w.Code != http.StatusOK {
		t.Fatalf("other address: %d", w.Code)
	}
	f.register(t, "bob", "bob-password-12")
	if w := do(h, "POST", "/v1/login", ip, `{"name":"bob","password":"bob-password-12"}`, nil); w.Code != http.StatusOK {
		t.Fatalf("other account from the limited address: %d %s", w.Code, w.Body)
	}
	if st := g.strikesOf("198.51.100.1"); len(st) != 0 {
		t.Fatalf("innocent address struck: %q", st)
	}
}

// TestSprayingOneAddress: one address trying a password on many accounts
// (known or not) is limited by its failures over all accounts: after 20,
// every login from it is refused, with a strike, even on an account it
// never tried, and a successful login to its own account does not reset
// the count.
func TestSprayingOneAddress(t *testing.T) {
	f, s, g := lockoutSvc(t, generousVolume)
	f.register(t, "mallory", "mallory-pass-1")
	h := s.Handler()
	const ip = "203.0.113.10:1"
	for i := range 20 {
		name := fmt.Sprintf("victim%02d", i)
		if i == 7 {
			name = "alice"
		}
		if i == 8 {
			name = "x" // an invalid name counts as a failure of the address
		}
		if w := do(h, "POST", "/v1/login", ip, `{"name":"`+name+`","password":"Summer2030!"}`, nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("try %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	for _, body := range []string{`{"name":"fresh","password":"Summer2030!"}`, `{"name":"mallory","password":"mallory-pass-1"}`} {
		w := do(h, "POST", "/v1/login", ip, body, nil)
		if w.Code != http.StatusTooManyRequests || retryAfter(t, w) != time.Minute {
			t.Fatalf("%s after spraying: %d %v", body, w.Code, w.Header())
		}
	}
	if n := len(g.strikesOf("203.0.113.10")); n != 2 {
		t.Fatalf("%d strikes, want 2", n)
	}
	f.clock.Add(time.Minute)
	if w := do(h, "POST", "/v1/login", ip, `{"name":"mallory","password":"mallory-pass-1"}`, nil); w.Code != http.StatusOK {
		t.Fatalf("own account after a minute: %d", w.Code)
	}
	if w := do(h, "POST", "/v1/login", ip, `{"name":"fresh","password":"Summer2030!"}`, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("the success used no failure token: %d", w.Code)
	}
	if w := do(h, "POST", "/v1/login", ip, `{"name":"fresh","password":"Summer2030!"}`, nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("a success reset the address's failures: %d", w.Code)
	}
}

// TestDistributedGuessingSlowed: many addresses guessing one account. The
// first two spend the account-wide limit (5 + 5); from then on every other
// address gets exactly one guess, and is refused without a strike after
// it, instead of 5 at once. The owner from a clean address still logs in,
// but an owner's address that failed on the account recently waits,
// unstruck, at most LoginFailRecent.
func TestDistributedGuessingSlowed(t *testing.T) {
	f, s, g := lockoutSvc(t, nil)
	h := s.Handler()
	const addrs = 40
	ip := func(i int) string { return netip.AddrFrom4([4]byte{10, 2, 0, byte(i)}).String() }
	// The owner mistyped once, a minute before the attack.
	if w := do(h, "POST", "/v1/login", "198.51.100.30:1", aliceWrong, nil); w.Code != http.StatusUnauthorized {
		t.Fatal(w.Code)
	}
	f.clock.Add(time.Minute)
	guesses := 0
	for i := range addrs {
		for try := range 5 {
			w := do(h, "POST", "/v1/login", ip(i)+":1", aliceWrong, nil)
			switch w.Code {
			case http.StatusUnauthorized:
				guesses++
			case http.StatusTooManyRequests:
				if d := retryAfter(t, w); d > DefaultLoginFailRecent {
					t.Fatalf("address %d try %d: Retry-After %v", i, try, d)
				}
			default:
				t.Fatalf("address %d try %d: %d", i, try, w.Code)
			}
		}
	}
	// Without the account-wide limit: 5 each, 200. With it: 10 + 38.
	if want := 10 + addrs - 2; guesses != want {
		t.Fatalf("%d guesses checked, want %d", guesses, want)
	}
	if n := g.count(); n != 0 {
		t.Fatalf("account-wide refusals struck: %q", g.strikes)
	}
	if w := do(h, "POST", "/v1/login", "198.51.100.31:1", aliceRight, nil); w.Code != http.StatusOK {
		t.Fatalf("owner from a clean address: %d %s", w.Code, w.Body)
	}
	w := do(h, "POST", "/v1/login", "198.51.100.30:1", aliceRight, nil)
	if w.Code != http.StatusTooManyRequests || retryAfter(t, w) > DefaultLoginFailRecent-time.Minute {
		t.Fatalf("owner who mistyped during the attack: %d %v", w.Code, w.Header())
	}
	// The attack goes on (fresh addresses keep the account spent); an
	// address's next guess comes LoginFailRecent after its last failure.
	f.clock.Add(DefaultLoginFailRecent)
	for i := range 20 {
		do(h, "POST", "/v1/login", netip.AddrFrom4([4]byte{10, 3, 0, byte(i)}).String()+":1", aliceWrong, nil)
	}
	if w := do(h, "POST", "/v1/login", ip(5)+":1", aliceWrong, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("old address after LoginFailRecent: %d", w.Code)
	}
	if w := do(h, "POST", "/v1/login", ip(5)+":1", aliceWrong, nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("old address, second guess: %d", w.Code)
	}
	if w := do(h, "POST", "/v1/login", "198.51.100.30:1", aliceRight, nil); w.Code != http.StatusOK {
		t.Fatalf("owner after LoginFailRecent: %d", w.Code)
	}
	if n := g.count(); n != 0 {
		t.Fatalf("strikes: %q", g.strikes)
	}
}

// TestParallelGuessesBounded: guesses sent all at once from one address
// cannot all pass the check before the first failure is counted.
func TestParallelGuessesBounded(t *testing.T) {
	_, s, g := lockoutSvc(t, generousVolume)
	h := s.Handler()
	const n = 30
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { codes <- do(h, "POST", "/v1/login", "203.0.113.11:1", aliceWrong, nil).Code })
	}
	wg.Wait()
	close(codes)
	checked, refused := 0, 0
	for c := range codes {
		switch c {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("status %d", c)
		}
	}
	if checked > DefaultLoginFailPerAccountIP.Burst || checked+refused != n {
		t.Fatalf("%d of %d parallel guesses checked", checked, n)
	}
	if len(g.strikesOf("203.0.113.11")) != refused {
		t.Fatalf("strikes %q for %d refusals", g.strikes, refused)
	}
}

// TestOwnerSuccessForgivesTypos: a successful login clears the address's
// failures on that account, so a player who mistypes now and then is
// never limited by them.
func TestOwnerSuccessForgivesTypos(t *testing.T) {
	f, s, _ := lockoutSvc(t, nil)
	h := s.Handler()
	for round := range 3 {
		f.clock.Add(10 * time.Minute)
		for i := range 4 {
			if w := do(h, "POST", "/v1/login", "198.51.100.40:1", aliceWrong, nil); w.Code != http.StatusUnauthorized {
				t.Fatalf("round %d typo %d: %d", round, i, w.Code)
			}
		}
		if w := do(h, "POST", "/v1/login", "198.51.100.40:1", aliceRight, nil); w.Code != http.StatusOK {
			t.Fatalf("round %d: %d", round, w.Code)
		}
	}
}

// TestIPv6PerSlash64: the addresses of one IPv6 /64 share their limits, so
// hopping between them does not buy guesses; strikes still go to the
// address that sent the refused request, and other /64s are unaffected.
func TestIPv6PerSlash64(t *testing.T) {
	_, s, g := lockoutSvc(t, nil)
	h := s.Handler()
	for i := range 5 {
		ip := fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1)
		if w := do(h, "POST", "/v1/login", ip, aliceWrong, nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("try %d: %d", i, w.Code)
		}
	}
	if w := do(h, "POST", "/v1/login", "[2001:db8:1:2:ffff::9]:1", aliceWrong, nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("same /64: %d", w.Code)
	}
	if st := g.strikesOf("2001:db8:1:2:ffff::9"); len(st) != 1 {
		t.Fatalf("strikes = %q", g.strikes)
	}
	if w := do(h, "POST", "/v1/login", "[2001:db8:1:3::1]:1", aliceRight, nil); w.Code != http.StatusOK {
		t.Fatalf("other /64: %d", w.Code)
	}
	if addrKey(netip.MustParseAddr("::ffff:192.0.2.1")) != "192.0.2.1" || addrKey(netip.MustParseAddr("2001:db8::1")) != "2001:db8::/64" {
		t.Fatal("addrKey")
	}
}

// TestFullTablesLockNobodyOut: with every failure table full of other
// keys, a new address is still checked (and the owner logs in) instead of
// being refused, and the tables stay bounded.
func TestFullTablesLockNobodyOut(t *testing.T) {
	f, s, g := lockoutSvc(t, nil)
	h := s.Handler()
	const max = 64
	for _, l := range []*keyedLimiter{s.loginIP, s.failIP, s.failPair, s.failAcct} {
		l.max = max
	}
	for i := range 3 * max {
		ip := netip.AddrFrom4([4]byte{10, 4, byte(i >> 8), byte(i)}).String()
		do(h, "POST", "/v1/login", ip+":1", `{"name":"user`+strconv.Itoa(i)+`","password":"wrong-password"}`, nil)
	}
	for _, l := range []*keyedLimiter{s.loginIP, s.failIP, s.failPair, s.failAcct} {
		if n := l.len(); n > max {
			t.Fatalf("table holds %d keys, max %d", n, max)
		}
	}
	if w := do(h, "POST", "/v1/login", "198.51.100.50:1", aliceRight, nil); w.Code != http.StatusOK {
		t.Fatalf("owner with full tables: %d %s", w.Code, w.Body)
	}
	if w := do(h, "POST", "/v1/login", "198.51.100.51:1", aliceWrong, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("new address with full tables: %d", w.Code)
	}
	if g.count() != 0 {
		t.Fatalf("strikes: %q", g.strikes)
	}
	_ = f
}

// TestKeyedLimiterEviction: a full table first drops entries that hold
// nothing, then the least recently used of a sample, never one with an
// attempt in flight.
func TestKeyedLimiterEviction(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newKeyedLimiter(RateLimit{Every: time.Minute, Burst: 2}, time.Hour)
	l.max = 8
	for i := range 8 {
		l.fail("k"+strconv.Itoa(i), now.Add(time.Duration(i)*time.Second))
	}
	// A fresh key gets in; the table stays at 8.
	if ok, _ := l.begin("new", now.Add(10*time.Second)); !ok || l.len() != 8 {
		t.Fatalf("new key: ok=%v len=%d", ok, l.len())
	}
	// Its attempt is in flight: it survives any number of new keys.
	for i := range 100 {
		l.fail("x"+strconv.Itoa(i), now.Add(20*time.Second))
	}
	if l.len() != 8 {
		t.Fatalf("len %d", l.len())
	}
	l.end("new", now.Add(30*time.Second), true)
	if got := l.lastFailure("new"); !got.Equal(now.Add(30 * time.Second)) {
		t.Fatalf("in-flight entry evicted: last failure %v", got)
	}

	// Entries that have refilled and whose failure is old enough are
	// dropped by the sweep before anything else.
	l2 := newKeyedLimiter(RateLimit{Every: time.Minute, Burst: 2}, 10*time.Minute)
	l2.max = 4
	l2.fail("old", now)
	l2.fail("a", now.Add(20*time.Minute))
	l2.fail("b", now.Add(20*time.Minute))
	l2.fail("c", now.Add(20*time.Minute))
	l2.fail("d", now.Add(21*time.Minute))
	if !l2.lastFailure("old").IsZero() || l2.lastFailure("a").IsZero() {
		t.Fatal("sweep dropped the wrong entry")
	}
	// The limiter's arithmetic: available, begin, debt capped at a burst.
	l3 := newKeyedLimiter(RateLimit{Every: time.Minute, Burst: 2}, 0)
	for range 10 {
		l3.fail("k", now)
	}
	if ok, wait := l3.available("k", now); ok || wait != 3*time.Minute {
		t.Fatalf("after 10 failures: ok=%v wait=%v, want 3m (debt capped at one burst)", ok, wait)
	}
	if ok, _ := l3.available("k", now.Add(3*time.Minute)); !ok {
		t.Fatal("not available after the wait")
	}
	if ok, wait := l3.begin("j", now); !ok || wait != 0 {
		t.Fatal("begin on a fresh key")
	}
	if ok, _ := l3.begin("j", now); !ok {
		t.Fatal("second begin within the burst")
	}
	if ok, wait := l3.begin("j", now); ok || wait != time.Minute {
		t.Fatalf("third begin with two in flight: ok=%v wait=%v", ok, wait)
	}
	l3.end("j", now, false)
	if ok, _ := l3.begin("j", now); !ok {
		t.Fatal("an attempt that did not fail used a token")
	}
}
