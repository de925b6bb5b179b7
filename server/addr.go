package server

import (
	"net/netip"
	"time"

	"golang.org/x/time/rate"
)

// Per-address accounting. One cheap host must not be able to fill the
// server: each address (an IPv6 address counts by its /64, which one
// subscriber usually holds whole) has caps on its open connections, on its
// connections that have not logged in, and on how fast it may open new ones.
// A connection past a cap is closed right after accept, before a byte is
// read or written.

// Refusal reasons, logged as reason= on the "tickwire refused" line.
const (
	refusedConns    = "conns_per_addr"
	refusedPreLogin = "prelogin_per_addr"
	refusedRate     = "conn_rate"
)

// refusalMemory is how long a refusal counts toward the next strike.
const refusalMemory = time.Minute

// RefusedLogMessage is the message of the log line written for each
// connection refused by a per-address limit; the fail2ban filter in
// deploy/fail2ban matches it (ip= is its first attribute).
const RefusedLogMessage = "tickwire refused"

// addrState is what the server knows of one address. Guarded by Server.mu.
type addrState struct {
	conns       int // open connections, logged in or not
	preLogin    int // of which not logged in
	held        int // seats held for dropped players of this address
	refusals    int // refused connections since the last strike
	lastRefusal time.Time
	connRate    *rate.Limiter
	logRate     *rate.Limiter // client LOG lines; created on first LOG
}

// addrKey is the key of an address's accounting: the address itself for
// IPv4, its /64 for IPv6.
func addrKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

func (s *Server) limitsExempt(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true // a pipe or a Unix socket: no address to account
	}
	for _, p := range s.cfg.AddrLimitExempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// addrLocked returns the state of ip's address, creating it. s.mu is held.
func (s *Server) addrLocked(ip netip.Addr) *addrState {
	k := addrKey(ip)
	st := s.addrs[k]
	if st == nil {
		st = &addrState{connRate: rate.NewLimiter(rate.Limit(s.cfg.ConnRatePerAddr), s.cfg.ConnBurstPerAddr)}
		s.addrs[k] = st
	}
	return st
}

// admitAddrLocked counts a new connection from ip against its address's
// limits. It returns "" and counts the connection, or the reason it is
// refused and whether the refusal is a strike. s.mu is held.
func (s *Server) admitAddrLocked(ip netip.Addr, now time.Time) (reason string, strike bool) {
	st := s.addrLocked(ip)
	switch {
	case st.conns+st.held >= s.cfg.MaxConnsPerAddr:
		reason = refusedConns
	case st.preLogin >= s.cfg.MaxPreLoginPerAddr:
		reason = refusedPreLogin
	case !st.connRate.AllowN(now, 1):
		reason = refusedRate
	default:
		st.conns++
		st.preLogin++
		return "", false
	}
	if now.Sub(st.lastRefusal) > refusalMemory {
		st.refusals = 0 // an occasional refusal long ago is forgiven
	}
	st.lastRefusal = now
	st.refusals++
	if st.refusals >= RefusalsPerStrike {
		st.refusals = 0
		strike = true
	}
	return reason, strike
}

// loggedInAddr moves one of ip's connections from pre-login to logged in.
func (s *Server) loggedInAddr(c *conn) {
	s.mu.Lock()
	if c.countedPreLogin {
		c.countedPreLogin = false
		if st := s.addrs[addrKey(c.remote)]; st != nil {
			st.preLogin--
		}
	}
	s.mu.Unlock()
}

// releaseAddrLocked uncounts a closed connection. s.mu is held.
func (s *Server) releaseAddrLocked(c *conn) {
	if !c.countedAddr {
		return
	}
	c.countedAddr = false
	st := s.addrs[addrKey(c.remote)]
	if st == nil {
		return
	}
	st.conns--
	if c.countedPreLogin {
		c.countedPreLogin = false
		st.preLogin--
	}
}

// allowLog takes one client LOG line from ip's per-address budget.
func (s *Server) allowLog(ip netip.Addr) bool {
	if s.limitsExempt(ip) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.addrLocked(ip)
	if st.logRate == nil {
		st.logRate = rate.NewLimiter(rate.Limit(s.cfg.LogRatePerAddr), s.cfg.LogBurstPerAddr)
	}
	return st.logRate.Allow()
}

// sweepAddrsLocked forgets addresses with nothing open whose limiters have
// refilled: forgetting them loses no state. s.mu is held.
func (s *Server) sweepAddrsLocked(now time.Time) {
	for k, st := range s.addrs {
		if st.conns > 0 || st.held > 0 {
			continue
		}
		if st.connRate.TokensAt(now) < float64(s.cfg.ConnBurstPerAddr) {
			continue
		}
		if st.logRate != nil && st.logRate.TokensAt(now) < float64(s.cfg.LogBurstPerAddr) {
			continue
		}
		delete(s.addrs, k)
	}
}
