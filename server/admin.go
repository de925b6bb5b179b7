package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/transport"
)

// Operations for tools outside the game (an admin console, tests): safe to
// call from any goroutine.

// SessionInfo describes one open connection.
type SessionInfo struct {
	ConnID    uint64 // the connection's id
	PlayerID  uint64 // the player's id, 0 before login
	Name      string // the player's name, "" before login
	Addr      string // the peer address
	Transport string // "tcp", "tls", "websocket" or "pipe"
	Encoding  string // "text", "json" or "msgpack"
	Since     time.Time
	BytesIn   uint64 // bytes read from the connection
	BytesOut  uint64 // bytes written to it
	// RTT is the kernel's smoothed round-trip time of the connection's TCP
	// socket (transport.RTT), read at most every RTTRefresh; 0 when there
	// is none (pipes, other systems than Linux, WebSockets served by an
	// HTTP server without transport.ConnContext).
	RTT time.Duration
	// RTTAt is when RTT was read (zero with no RTT). A tool that feeds a
	// histogram observes RTT when RTTAt changes.
	RTTAt time.Time
}

// RTTRefresh is how often Sessions reads a connection's round-trip time
// from the kernel: one system call per connection per RTTRefresh, spread
// over the period, so that a console sampling every second costs 1,500
// calls a second at 15,000 connections rather than 15,000. A connection
// the kernel has no estimate for yet is asked again a second later.
const RTTRefresh = 10 * time.Second

// rttSample is a connection's last RTT reading (Sessions).
type rttSample struct {
	rtt     time.Duration
	at, due int64  // unix ns: when it was read, and when to read it again
	gen     uint64 // the Sessions call that last saw the connection
}

// Sessions lists the open connections, ordered by connection id. Held seats
// (players whose connection dropped) are not connections: Stats().Held
// counts them.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	out := make([]SessionInfo, 0, len(s.conns))
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
		si := SessionInfo{
			ConnID:    c.id,
			PlayerID:  c.playerID.Load(),
			Addr:      c.nc.RemoteAddr().String(),
			Transport: transportName(c.nc),
			Encoding:  msg.Encoding(c.encoding.Load()).String(),
			Since:     time.Unix(0, c.acceptedAt),
			BytesIn:   c.bytesIn.Load(),
			BytesOut:  c.bytesOut.Load(),
		}
		if n := c.name.Load(); n != nil {
			si.Name = *n
		}
		out = append(out, si)
	}
	s.mu.Unlock()
	s.readRTTs(conns, out)
	sortSessions(out)
	return out
}

// readRTTs fills in the sessions' round-trip times (out[i] is conns[i]'s):
// from the last reading, or from the kernel when that is RTTRefresh old.
// Readings of closed connections are forgotten.
func (s *Server) readRTTs(conns []*conn, out []SessionInfo) {
	now := time.Now().UnixNano()
	s.rttMu.Lock()
	defer s.rttMu.Unlock()
	if s.rtts == nil {
		s.rtts = map[*conn]rttSample{}
	}
	s.rttGen++
	for i, c := range conns {
		r, ok := s.rtts[c]
		if !ok || now >= r.due {
			var got bool
			r.rtt, got = transport.RTT(c.nc)
			r.at, r.due = now, now+int64(RTTRefresh)
			switch {
			case !got:
				// No estimate yet (or no TCP under it): ask again in a
				// second rather than show none for RTTRefresh.
				r.due = now + int64(time.Second)
			case !ok:
				// Connections that came together are not all read again
				// in the same second.
				r.due -= int64(c.id%10) * int64(RTTRefresh/10)
			}
		}
		r.gen = s.rttGen
		s.rtts[c] = r
		if r.rtt > 0 {
			out[i].RTT, out[i].RTTAt = r.rtt, time.Unix(0, r.at)
		}
	}
	if len(s.rtts) > len(conns) {
		for c, r := range s.rtts {
			if r.gen != s.rttGen {
				delete(s.rtts, c) // closed
			}
		}
	}
}

func sortSessions(ss []SessionInfo) {
	slices.SortFunc(ss, func(a, b SessionInfo) int { return cmp.Compare(a.ConnID, b.ConnID) })
}

// transportNamer is a connection that knows its transport's name.
type transportNamer interface{ Transport() string }

func transportName(nc net.Conn) string {
	if t, ok := nc.(transportNamer); ok {
		return t.Transport()
	}
	switch nc.(type) {
	case *net.TCPConn:
		return "tcp"
	case *tls.Conn:
		return "tls"
	}
	if nc.LocalAddr().Network() == "pipe" {
		return "pipe"
	}
	return nc.LocalAddr().Network()
}

// ErrNoSession is returned by Kick for a connection that is not open.
var ErrNoSession = errors.New("server: no such connection")

// Kick ends the connection connID with BYE reason (a short snake_case word
// the player sees). Its player, if any, leaves with ErrKicked: the seat is
// not held.
func (s *Server) Kick(connID uint64, reason string) error {
	s.mu.Lock()
	c := s.conns[connID]
	s.mu.Unlock()
	if c == nil {
		return ErrNoSession
	}
	if reason == "" {
		reason = "kicked"
	}
	c.logger().Info("kicked by an operator", "reason", reason)
	c.bye(reason, ErrKicked)
	return nil
}

// maxCalls bounds the functions waiting for the next tick (Server.Call).
const maxCalls = 64

// ErrBusy is returned by Call when maxCalls calls already wait.
var ErrBusy = errors.New("server: too many calls waiting for the tick")

// Call runs fn on the tick goroutine at the start of the next tick, where
// it may read (or change) the game's state safely, and returns when fn has
// run. It fails with ErrBusy when too many calls wait, with ErrServerClosed
// after Shutdown, or with ctx's error.
func (s *Server) Call(ctx context.Context, fn func(t *Tick)) error {
	done := make(chan struct{})
	s.callMu.Lock()
	if s.waiting >= maxCalls || len(s.calls) >= maxPosts {
		s.callMu.Unlock()
		return ErrBusy
	}
	s.waiting++
	s.calls = append(s.calls, call{fn: fn, done: done})
	s.callMu.Unlock()
	defer func() {
		s.callMu.Lock()
		s.waiting--
		s.callMu.Unlock()
	}()
	select {
	case <-done:
		return nil
	case <-s.tickDone:
		return ErrServerClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxPosts bounds the functions posted for the next tick (Server.Post),
// calls included.
const maxPosts = 4096

// Post runs fn on the tick goroutine at the start of the next tick, like
// Call, but does not wait for it: for completions that arrive on other
// goroutines (a cluster's handoff answer) and must reach the game even
// when many arrive at once. It fails with ErrBusy when maxPosts functions
// wait, and with ErrServerClosed after Shutdown; a function posted while
// the server shuts down may not run.
func (s *Server) Post(fn func(t *Tick)) error {
	select {
	case <-s.tickDone:
		return ErrServerClosed
	default:
	}
	s.callMu.Lock()
	defer s.callMu.Unlock()
	if len(s.calls) >= maxPosts {
		return ErrBusy
	}
	s.calls = append(s.calls, call{fn: fn})
	return nil
}

type call struct {
	fn   func(t *Tick)
	done chan struct{} // nil for Post
}

// runCalls runs the waiting calls. Tick goroutine only.
func (s *Server) runCalls(t *Tick) {
	s.callMu.Lock()
	calls := s.calls
	s.calls = nil
	s.callMu.Unlock()
	for _, c := range calls {
		c.fn(t)
		if c.done != nil {
			close(c.done)
		}
	}
}

// KickPlayer ends every seat of the player named name, connected or held
// after a drop: a connected one gets BYE reason, a held one is released.
// Either way the game hears Leave with ErrKicked and the seat cannot be
// resumed. It runs at the next tick (see Call) and returns how many seats
// it ended. An operator disabling an account uses it, so a player whose
// connection happens to be down cannot come back with RESUME.
func (s *Server) KickPlayer(ctx context.Context, name, reason string) (int, error) {
	if reason == "" {
		reason = "kicked"
	}
	n := 0
	err := s.Call(ctx, func(t *Tick) {
		for _, p := range append([]*Player(nil), s.playerList...) {
			if p.ident.Name != name {
				continue
			}
			n++
			if p.held {
				s.unhold(p)
				p.Logger().Info("held seat released by an operator", "reason", reason)
				s.removePlayer(t, p, ErrKicked)
				continue
			}
			p.Logger().Info("kicked by an operator", "reason", reason)
			p.Kick(reason)
		}
	})
	return n, err
}
