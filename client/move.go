package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/tickwire/tickwire/msg"
)

// Moving between the servers of a cluster (docs/PROTOCOL.md §5.3).
//
// A server of a cluster may send MOVED <addr> <ws> <ticket> and close: the
// player now lives on another server. The client dials that server at
// once (addr for TCP, ws for WebSocket: the transport it already uses),
// switches to its encoding and sends RESUME <name> <ticket> (its own seat
// token for a ticket of "-"), and carries on there as after a resume. A
// MOVED may also answer a RESUME, from a server that does not hold the
// seat but knows where the player lives: the client follows it the same
// way. ReconnectOptions.Seeds are other servers of the cluster, tried
// when the current one cannot be reached.

// Move limits.
const (
	// MaxMoves is how many MOVED the client follows within MoveWindow;
	// one more gives the seat up with ErrMoveLoop (servers that send a
	// client back and forth must not make it dial forever).
	MaxMoves = 8
	// MoveWindow is the window of MaxMoves.
	MoveWindow = 10 * time.Second
	// DefaultMoveHold is how long the client keeps trying to reach the
	// server a MOVED names when it holds no seat whose hold it could go by
	// (a server that sends no SEAT): the least time a server waits for an
	// arriving player (server.MinArrivalHold).
	DefaultMoveHold = 30 * time.Second
)

var (
	// ErrMoveLoop is the reason of a LostError when servers sent the
	// client more than MaxMoves MOVED within MoveWindow.
	ErrMoveLoop = errors.New("client: moved more than 8 times within 10s; the servers send the client in circles")
	// errBadMoved marks a MOVED the client refused to follow.
	errBadMoved = errors.New("client: unusable MOVED")
	// errNoDial is why a client that cannot dial addresses fails to
	// reach one.
	errNoDial = errors.New("client: this client cannot dial other servers (made with New: set ReconnectOptions.DialAddr)")
)

// moveTarget is a MOVED the client will follow.
type moveTarget struct {
	addr   string // TCP host:port or WebSocket URL, for the client's transport
	ticket string // RESUME's token; "" means the client's own seat token
}

// redirected is the answer to RESUME when it was MOVED.
type redirected struct{ to *moveTarget }

func (r *redirected) Error() string { return "client: RESUME answered with MOVED to " + r.to.addr }

// checkTCPAddr reports whether s is a dialable host:port.
func checkTCPAddr(s string) error {
	if err := printable(s); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("no host")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// checkWSURL reports whether s is a ws:// or wss:// URL with a host.
func checkWSURL(s string) error {
	if err := printable(s); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("scheme %q, want ws or wss", u.Scheme)
	}
	if u.Host == "" || u.User != nil {
		return errors.New("want ws[s]://host[:port]/path")
	}
	return nil
}

// printable refuses empty strings and bytes outside printable ASCII.
func printable(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("byte 0x%02x at offset %d", s[i], i)
		}
	}
	return nil
}

// checkAddr checks an address of the client's transport.
func (c *Client) checkAddr(s string) error {
	if c.ws {
		return checkWSURL(s)
	}
	return checkTCPAddr(s)
}

// moveTo turns a MOVED into the target to follow, or says why it cannot
// be followed. The address is the one of the client's own transport.
func (c *Client) moveTo(m *msg.Moved) (*moveTarget, error) {
	addr, field := m.Addr, "addr"
	if c.ws {
		addr, field = m.WS, "ws"
	}
	if err := c.checkAddr(addr); err != nil {
		return nil, fmt.Errorf("%w: %s %q: %v", errBadMoved, field, addr, err)
	}
	if err := printable(m.Ticket); err != nil {
		return nil, fmt.Errorf("%w: ticket: %v", errBadMoved, err)
	}
	t := &moveTarget{addr: addr, ticket: m.Ticket}
	if t.ticket == "-" {
		t.ticket = ""
	}
	return t, nil
}

// Addr returns the address of the server the client talks to, or last
// talked to while it reconnects: the TCP address or WebSocket URL it was
// dialled with, then where MOVED sent it (or the seed it resumed on). It
// is "" for a client from New that has not moved. Safe from any
// goroutine.
func (c *Client) Addr() string { return *c.addr.Load() }

// OnMoved registers fn, called by Poll when the client resumed its seat on
// another server than the one it was on: after following MOVED, or after
// resuming on one of ReconnectOptions.Seeds. addr is the new server's
// address (see Addr). OnResumed follows at once: a move is a resume, and
// everything said there holds, except that the player id may have changed
// (ids are per server: read ID again). A MOVED followed at once does not
// call OnReconnecting; if the new server cannot be reached at once the
// client reconnects as after a drop. A nil fn removes the callback.
func (c *Client) OnMoved(fn func(addr string)) {
	c.hMu.Lock()
	c.onMoved = fn
	c.hMu.Unlock()
}

// redial opens a connection to target for a reconnect attempt.
func (c *Client) redial(ctx context.Context, target string) (net.Conn, error) {
	if target == c.origin && c.fixedDial != nil {
		return c.fixedDial(ctx)
	}
	if c.dialAddr == nil || target == "" {
		return nil, errNoDial
	}
	return c.dialAddr(ctx, target)
}

// canDial reports whether the client can open reconnect connections.
func (c *Client) canDial() bool { return c.fixedDial != nil || c.dialAddr != nil }

// moveLog counts the MOVED the client followed recently.
type moveLog struct {
	mu    sync.Mutex
	times []time.Time
}

// note records a MOVED about to be followed, or refuses it when MaxMoves
// were followed within MoveWindow.
func (m *moveLog) note(now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	keep := m.times[:0]
	for _, t := range m.times {
		if now.Sub(t) < MoveWindow {
			keep = append(keep, t)
		}
	}
	m.times = keep
	if len(m.times) >= MaxMoves {
		return ErrMoveLoop
	}
	m.times = append(m.times, now)
	return nil
}

// pick chooses the address of a reconnect attempt: the first two attempts
// after a drop (or a move) go to home, the server the client was on; then
// one each, in turn, to every seed and home again.
func (c *Client) pick(home string, tries int) string {
	if tries < 2 || len(c.opts.Reconnect.Seeds) == 0 {
		return home
	}
	ring := []string{home}
	for _, s := range c.opts.Reconnect.Seeds {
		if s != home {
			ring = append(ring, s)
		}
	}
	return ring[(tries-1)%len(ring)]
}
