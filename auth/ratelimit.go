package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxLimiterKeys bounds the addresses or account names one rate limiter
// tracks. Keys idle long enough to have refilled are dropped first; if the
// table is still full, requests with new keys are refused (fail closed)
// until entries age out.
const MaxLimiterKeys = 50_000

// RateLimit is a token bucket: Burst attempts at once, then one more every
// Every.
type RateLimit struct {
	Every time.Duration
	Burst int
}

type limiterEntry struct {
	lim  *rate.Limiter
	last time.Time
}

// keyedLimiter applies one RateLimit per key (an IP address or a name).
type keyedLimiter struct {
	cfg RateLimit
	mu  sync.Mutex
	m   map[string]*limiterEntry
}

func newKeyedLimiter(cfg RateLimit) *keyedLimiter {
	return &keyedLimiter{cfg: cfg, m: map[string]*limiterEntry{}}
}

// allow takes one attempt for key at now. If none is available it returns
// false and how long until one is.
func (l *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		if len(l.m) >= MaxLimiterKeys {
			l.sweep(now)
			if len(l.m) >= MaxLimiterKeys {
				return false, l.cfg.Every
			}
		}
		e = &limiterEntry{lim: rate.NewLimiter(rate.Every(l.cfg.Every), l.cfg.Burst)}
		l.m[key] = e
	}
	e.last = now
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

// sweep drops entries idle long enough to be full again, which loses no
// state.
func (l *keyedLimiter) sweep(now time.Time) {
	full := l.cfg.Every * time.Duration(l.cfg.Burst)
	for k, e := range l.m {
		if now.Sub(e.last) >= full {
			delete(l.m, k)
		}
	}
}
