package admin

import (
	"net/netip"
	"sync"
	"time"

	"github.com/tickwire/tickwire/auth"
)

// Login limits of the console. Like the account service's (docs/AUTH.md,
// "Rate limits"), they count failures per address and per (account,
// address): an address that has not failed on an account is always
// checked, so nobody can lock an admin out from elsewhere.
var (
	// DefaultLoginPerIP: 10 login requests at once per address, then one
	// every 6 s, successful or not: it bounds the password hashing one
	// address can demand.
	DefaultLoginPerIP = auth.RateLimit{Every: 6 * time.Second, Burst: 10}
	// DefaultLoginFailPerIP: 10 failures per address over all accounts,
	// then one a minute.
	DefaultLoginFailPerIP = auth.RateLimit{Every: time.Minute, Burst: 10}
	// DefaultLoginFailPerAccountIP: 5 failures per address on one account,
	// then one every 5 minutes.
	DefaultLoginFailPerAccountIP = auth.RateLimit{Every: 5 * time.Minute, Burst: 5}
)

// MaxLimiterKeys bounds the keys one login-limit table tracks. A full
// table forgets refilled entries first, then any entry without an attempt
// in flight; it never refuses a new key.
const MaxLimiterKeys = 10_000

// bucket is a token bucket with attempts in flight: an attempt is let in
// only while a token would remain for it after the attempts in flight
// fail, so parallel requests cannot all pass before the first failure is
// counted.
type bucket struct {
	tokens   float64
	last     time.Time
	inflight int
}

type buckets struct {
	lim auth.RateLimit
	max int

	mu sync.Mutex
	m  map[string]*bucket
}

func newBuckets(lim auth.RateLimit) *buckets {
	return &buckets{lim: lim, max: MaxLimiterKeys, m: map[string]*bucket{}}
}

// get returns key's bucket refilled to now. b.mu is held.
func (b *buckets) get(key string, now time.Time) *bucket {
	e := b.m[key]
	if e == nil {
		if len(b.m) >= b.max {
			b.makeRoom(now)
		}
		e = &bucket{tokens: float64(b.lim.Burst), last: now}
		b.m[key] = e
		return e
	}
	if now.After(e.last) {
		e.tokens = min(float64(b.lim.Burst), e.tokens+float64(now.Sub(e.last))/float64(b.lim.Every))
		e.last = now
	}
	return e
}

func (b *buckets) makeRoom(now time.Time) {
	for k, e := range b.m {
		if e.inflight == 0 && e.tokens+float64(now.Sub(e.last))/float64(b.lim.Every) >= float64(b.lim.Burst) {
			delete(b.m, k)
		}
	}
	for k, e := range b.m { // map order is random: a cheap random pick
		if len(b.m) < b.max {
			return
		}
		if e.inflight == 0 {
			delete(b.m, k)
		}
	}
}

// begin starts an attempt for key, or returns false and how long until
// one would be let in. After true the caller must call end.
func (b *buckets) begin(key string, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.get(key, now)
	if short := 1 + float64(e.inflight) - e.tokens; short > 1e-9 {
		return false, time.Duration(short * float64(b.lim.Every))
	}
	e.inflight++
	return true, 0
}

// end finishes an attempt; one that counts takes a token.
func (b *buckets) end(key string, now time.Time, counts bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.get(key, now)
	e.inflight = max(e.inflight-1, 0)
	if counts {
		e.tokens = max(e.tokens-1, -float64(b.lim.Burst))
	}
}

// forget drops key's record, unless attempts are in flight.
func (b *buckets) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.m[key]; e != nil && e.inflight == 0 {
		delete(b.m, key)
	}
}

// addrKey is the limit key of an address: the address for IPv4, its /64
// for IPv6.
func addrKey(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
