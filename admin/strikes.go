package admin

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of a StrikeLog.
const (
	// StrikeFeedLen is how many recent strikes a StrikeLog keeps.
	StrikeFeedLen = 500
	// MaxStrikeAddrs bounds the addresses whose strike counts a StrikeLog
	// keeps; past it, the address with the oldest last strike is dropped.
	MaxStrikeAddrs = 10_000
	// StrikeCountWindow is how long a strike counts in the per-address
	// counts (the guard's default strike window).
	StrikeCountWindow = 10 * time.Minute
)

// Striker is what the game server and the account service call on a
// guard: guard.Guard satisfies it.
type Striker interface {
	Admit(remote netip.Addr) error
	Strike(remote netip.Addr, reason string)
}

// Strike is one strike seen by a StrikeLog.
type Strike struct {
	Time   time.Time `json:"time"`
	IP     string    `json:"ip"`
	Reason string    `json:"reason"`
	// Count is the address's strikes within StrikeCountWindow, this one
	// included.
	Count int `json:"count"`
	// Banned is true when the address was banned right after this strike.
	Banned bool `json:"banned"`
}

// StrikeLog wraps a guard: it passes every call on and records each
// strike for the console's strikes feed and counters. Install it where the
// guard is handed to the game server (server.Config.Guard) and the account
// service (auth.Config.Guard). It keeps the guard's BansVersion, which the
// game server uses to end the sessions of newly banned addresses. It is
// safe for concurrent use.
type StrikeLog struct {
	g   Striker
	now func() time.Time

	total atomic.Uint64
	bans  atomic.Uint64 // strikes that ended in a ban

	unversioned atomic.Uint64 // BansVersion for a guard without one

	mu     sync.Mutex
	feed   []Strike // ring of StrikeFeedLen
	next   int
	byAddr map[netip.Addr]*addrStrikes
}

type addrStrikes struct {
	times []time.Time // within StrikeCountWindow, oldest first
	last  time.Time
}

// NewStrikeLog returns a StrikeLog wrapping g.
func NewStrikeLog(g Striker) *StrikeLog {
	return &StrikeLog{g: g, now: time.Now, feed: make([]Strike, 0, StrikeFeedLen), byAddr: map[netip.Addr]*addrStrikes{}}
}

// Admit passes the call on to the guard.
func (l *StrikeLog) Admit(remote netip.Addr) error { return l.g.Admit(remote) }

// BansVersion passes the call on to the guard. A guard without such a
// method cannot say when its bans changed, so every call then returns a new
// value: the game server checks every session at each sweep, as it would
// with the guard unwrapped.
func (l *StrikeLog) BansVersion() uint64 {
	if v, ok := l.g.(interface{ BansVersion() uint64 }); ok {
		return v.BansVersion()
	}
	return l.unversioned.Add(1)
}

// Strike records the strike and passes it on to the guard.
func (l *StrikeLog) Strike(remote netip.Addr, reason string) {
	if !remote.IsValid() {
		l.g.Strike(remote, reason)
		return
	}
	ip := remote.Unmap().WithZone("")
	// An address banned already is not struck by the guard: neither is
	// it counted here.
	if l.g.Admit(ip) != nil {
		l.g.Strike(remote, reason)
		return
	}
	l.g.Strike(remote, reason)
	banned := l.g.Admit(ip) != nil
	now := l.now()
	l.total.Add(1)
	if banned {
		l.bans.Add(1)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddr[ip]
	if a == nil {
		if len(l.byAddr) >= MaxStrikeAddrs {
			l.dropOldestLocked(now)
		}
		a = &addrStrikes{}
		l.byAddr[ip] = a
	}
	cut := now.Add(-StrikeCountWindow)
	for len(a.times) > 0 && !a.times[0].After(cut) {
		a.times = a.times[1:]
	}
	a.times = append(a.times, now)
	a.last = now
	s := Strike{Time: now.UTC(), IP: ip.String(), Reason: reason, Count: len(a.times), Banned: banned}
	if banned {
		delete(l.byAddr, ip) // the guard starts counting afresh after a ban
	}
	if len(l.feed) < cap(l.feed) {
		l.feed = append(l.feed, s)
	} else {
		l.feed[l.next] = s
		l.next = (l.next + 1) % cap(l.feed)
	}
}

func (l *StrikeLog) dropOldestLocked(now time.Time) {
	cut := now.Add(-StrikeCountWindow)
	var oldest netip.Addr
	var oldestAt time.Time
	for ip, a := range l.byAddr {
		if !a.last.After(cut) {
			delete(l.byAddr, ip)
			continue
		}
		if !oldest.IsValid() || a.last.Before(oldestAt) {
			oldest, oldestAt = ip, a.last
		}
	}
	if len(l.byAddr) >= MaxStrikeAddrs && oldest.IsValid() {
		delete(l.byAddr, oldest)
	}
}

// Totals returns the strikes recorded and how many of them ended in a ban.
func (l *StrikeLog) Totals() (strikes, bans uint64) { return l.total.Load(), l.bans.Load() }

// Recent returns up to n recent strikes, newest first.
func (l *StrikeLog) Recent(n int) []Strike {
	l.mu.Lock()
	defer l.mu.Unlock()
	size := len(l.feed)
	out := make([]Strike, 0, min(n, size))
	newest := size - 1 // until the ring is full, next stays 0
	if size == cap(l.feed) {
		newest = (l.next - 1 + size) % size
	}
	for i := 0; i < size && len(out) < n; i++ {
		out = append(out, l.feed[(newest-i+size)%size])
	}
	return out
}

// AddrStrikes is an address with strikes in the last StrikeCountWindow.
type AddrStrikes struct {
	IP    string    `json:"ip"`
	Count int       `json:"count"`
	Last  time.Time `json:"last"`
}

// ByAddr returns the addresses with strikes in the last
// StrikeCountWindow, most strikes first, at most n.
func (l *StrikeLog) ByAddr(n int) []AddrStrikes {
	now := l.now()
	cut := now.Add(-StrikeCountWindow)
	l.mu.Lock()
	out := make([]AddrStrikes, 0, len(l.byAddr))
	for ip, a := range l.byAddr {
		c := 0
		for _, t := range a.times {
			if t.After(cut) {
				c++
			}
		}
		if c > 0 {
			out = append(out, AddrStrikes{IP: ip.String(), Count: c, Last: a.last.UTC()})
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Last.After(out[j].Last)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
