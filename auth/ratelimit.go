package auth

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxLimiterKeys bounds the keys (addresses, account names or pairs of
// both) one rate-limit table tracks. When a table is full, entries that
// have refilled are dropped first (they hold nothing a fresh entry would
// not), then the least recently used of a random sample. A table never
// refuses a new key: refusing would let whoever fills it lock everyone
// else out. Forgetting a key can only ever let its client try sooner.
const MaxLimiterKeys = 50_000

// Eviction tuning of a full table.
const (
	// evictSample is how many entries are looked at to pick the least
	// recently used one to forget.
	evictSample = 16
	// sweepEvery spaces full sweeps of a table, which cost a pass over
	// every entry, so a stream of new keys cannot make each request pay
	// for one.
	sweepEvery = time.Second
	// tokenEpsilon absorbs float rounding in token counts: a bucket that
	// has refilled for exactly one period must hold one whole token.
	tokenEpsilon = 1e-9
)

// RateLimit is a token bucket: Burst attempts at once, then one more every
// Every.
type RateLimit struct {
	Every time.Duration
	Burst int
}

type limiterEntry struct {
	lim      *rate.Limiter
	last     time.Time // last use, for eviction
	lastFail time.Time // last failure recorded with end or fail
	inflight int       // attempts begun and not yet ended
}

// keyedLimiter applies one RateLimit per key. An attempt is let through
// while a token remains for it (begin) and takes the token only if it
// counts (end): for failure limits if it failed, for request limits if it
// was served (a busy answer did nothing and costs nothing). allow takes a
// token at once, for callers with nothing to wait for.
type keyedLimiter struct {
	cfg RateLimit
	// keepFailed is how long an entry is kept after its last failure
	// even when full again, for lastFailure (zero: not needed).
	keepFailed time.Duration
	max        int // MaxLimiterKeys; smaller in tests

	mu        sync.Mutex
	m         map[string]*limiterEntry
	lastSweep time.Time
}

func newKeyedLimiter(cfg RateLimit, keepFailed time.Duration) *keyedLimiter {
	return &keyedLimiter{cfg: cfg, keepFailed: keepFailed, max: MaxLimiterKeys, m: map[string]*limiterEntry{}}
}

// entry returns key's entry, creating it. l.mu is held.
func (l *keyedLimiter) entry(key string, now time.Time) *limiterEntry {
	e := l.m[key]
	if e == nil {
		if len(l.m) >= l.max {
			l.makeRoom(now)
		}
		e = &limiterEntry{lim: rate.NewLimiter(rate.Every(l.cfg.Every), l.cfg.Burst)}
		l.m[key] = e
	}
	e.last = now
	return e
}

// allow takes one token for key at now. If none is available it returns
// false and how long until one is.
func (l *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now)
	r := e.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, l.cfg.Every
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// begin starts an attempt for key if a token would be left for it once
// the attempts already in flight have failed; otherwise it returns false
// and how long until a token is. Counting attempts in flight keeps
// parallel requests from all passing the check before the first failure
// is recorded. After a true result the caller must call end once.
func (l *keyedLimiter) begin(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now)
	short := 1 + float64(e.inflight) - e.lim.TokensAt(now)
	if short > tokenEpsilon {
		return false, time.Duration(short * float64(l.cfg.Every))
	}
	e.inflight++
	return true, 0
}

// end finishes an attempt started with begin. An attempt that counts (a
// failure, for failure limits; any request that was served, for request
// limits) takes a token and is remembered for lastFailure.
func (l *keyedLimiter) end(key string, now time.Time, counts bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		return // cannot happen: entries with attempts in flight are kept
	}
	e.inflight--
	e.last = now
	if counts {
		e.lim.ReserveN(now, 1)
		e.lastFail = now
	}
}

// fail records a failure for key without gating: it takes a token, going
// into debt by at most one burst, so that a long attack keeps the limit
// spent for at most one more refill after it stops.
func (l *keyedLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now)
	if e.lim.TokensAt(now) > -float64(l.cfg.Burst) {
		e.lim.ReserveN(now, 1)
	}
	e.lastFail = now
}

// available reports whether key has a token at now, without taking it,
// and if not how long until it has.
func (l *keyedLimiter) available(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		return true, 0
	}
	short := 1 - e.lim.TokensAt(now)
	if short > tokenEpsilon {
		return false, time.Duration(short * float64(l.cfg.Every))
	}
	return true, 0
}

// lastFailure returns when key last failed, or the zero time.
func (l *keyedLimiter) lastFailure(key string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.m[key]; e != nil {
		return e.lastFail
	}
	return time.Time{}
}

// forget drops key's failures (its entry, unless attempts are in flight).
func (l *keyedLimiter) forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.m[key]; e != nil && e.inflight == 0 {
		delete(l.m, key)
	}
}

// len returns the number of keys tracked.
func (l *keyedLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// idle reports whether e holds nothing a fresh entry would not: no
// attempt in flight, a full bucket, no failure worth remembering.
func (l *keyedLimiter) idle(e *limiterEntry, now time.Time) bool {
	return e.inflight == 0 && e.lim.TokensAt(now) >= float64(l.cfg.Burst)-tokenEpsilon &&
		(e.lastFail.IsZero() || now.Sub(e.lastFail) >= l.keepFailed)
}

// makeRoom frees at least one entry of a full table. l.mu is held.
func (l *keyedLimiter) makeRoom(now time.Time) {
	if now.Sub(l.lastSweep) >= sweepEvery || now.Before(l.lastSweep) {
		l.lastSweep = now
		for k, e := range l.m {
			if l.idle(e, now) {
				delete(l.m, k)
			}
		}
		if len(l.m) < l.max {
			return
		}
	}
	// Map iteration starts at a random place: a cheap random sample.
	var oldKey string
	var oldest *limiterEntry
	n := 0
	for k, e := range l.m {
		if e.inflight == 0 && (oldest == nil || e.last.Before(oldest.last)) {
			oldKey, oldest = k, e
		}
		if n++; n >= evictSample && oldest != nil {
			break
		}
	}
	if oldest != nil {
		delete(l.m, oldKey)
	}
}

// addrKey is the rate-limit key of a client address: the address for
// IPv4, its /64 for IPv6, because one IPv6 subscriber usually holds a
// whole /64 and could otherwise use a fresh address for every attempt.
func addrKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
