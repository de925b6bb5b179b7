package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickwire/tickwire/msg"
)

// Reconnect defaults (Options.Reconnect).
const (
	// DefaultReconnectDelay is the back-off before the first reconnect
	// attempt; it doubles after each failed attempt.
	DefaultReconnectDelay = 100 * time.Millisecond
	// DefaultReconnectMaxDelay caps the back-off.
	DefaultReconnectMaxDelay = 2 * time.Second
	// DefaultConnectTimeout bounds one attempt's connect (the TCP dial, the
	// TLS or WebSocket handshake), and then its wait for the answer to
	// RESUME.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultSilenceTimeout is how long a server may stay silent, while the
	// client holds a seat and pings every DefaultPingInterval, before the
	// client takes the connection for dead and resumes on a new one. The
	// server answers every PING at once, so this is several lost answers.
	DefaultSilenceTimeout = 5 * time.Second
)

// Reconnect errors.
var (
	// ErrDisconnected is returned by Send, Request and Login while the
	// client is reconnecting: from the moment the connection dropped until
	// Poll has delivered the resume (OnResumed). Request and Login also
	// return it when the connection they were sent on dropped before the
	// answer came.
	ErrDisconnected = errors.New("client: disconnected; reconnecting")
	// ErrSeatHoldPassed is the reason of a LostError when the seat hold
	// the server announced in SEAT passed before a resume succeeded.
	ErrSeatHoldPassed = errors.New("client: the seat hold passed")
	// errSevered ends a connection cut with Sever.
	errSevered = errors.New("client: connection severed")
)

// ReconnectOptions configures automatic reconnection (Options.Reconnect).
// The zero value turns it on with the defaults below.
//
// A client reconnects when it holds a seat (the server sent SEAT after
// WELCOME) and its connection dropped without a BYE that released the
// seat: after an EOF, a reset, a write error, silence (SilenceTimeout), or
// the server's BYE timeout or BYE slow_consumer. Any other BYE (quit, a
// kick, banned, shutdown, too_long, resumed, ...) ends the client as
// before. Attempts are spaced by a back-off that starts at InitialDelay and
// doubles up to MaxDelay; each wait is drawn uniformly from [d/2, d] for
// the current back-off d ("equal jitter": spread enough that players cut
// off together do not all come back in the same instant, and never so
// short that a refused dial burns the whole doubling in a few
// milliseconds, which would leave a player waiting MaxDelay once the
// network returns). The client makes its last attempt as the seat hold
// ends (the hold_ms of SEAT, counted from the moment it noticed the drop)
// and then gives up; it gives up at once when the server refuses the
// RESUME (the seat was released or expired).
type ReconnectOptions struct {
	// Disabled turns automatic reconnection off: a dropped connection ends
	// the client, as a BYE does. Default false (on).
	Disabled bool
	// InitialDelay is the back-off before the first attempt. Default
	// DefaultReconnectDelay (100 ms).
	InitialDelay time.Duration
	// MaxDelay caps the back-off. Default DefaultReconnectMaxDelay (2 s).
	MaxDelay time.Duration
	// ConnectTimeout bounds each attempt's connect (dial, TLS or WebSocket
	// handshake), and then its wait for the answer to RESUME. Default
	// DefaultConnectTimeout (5 s).
	ConnectTimeout time.Duration
	// SilenceTimeout: while the client holds a seat and pings are on
	// (Options.PingInterval), a server silent this long is taken for gone
	// and the seat resumed on a new connection, instead of waiting for
	// ReadTimeout (2 min by default, beyond any seat hold). Default
	// DefaultSilenceTimeout (5 s); negative leaves only ReadTimeout.
	SilenceTimeout time.Duration
	// Dial, when set, opens the connections of reconnect attempts to the
	// server the client was made for (until a MOVED sends it elsewhere).
	// By default a client from Dial dials the same address (with TLS if
	// Options.TLS is set) and one from DialWebSocket the same URL with the
	// same subprotocol; a client from New can reconnect only with Dial or
	// DialAddr.
	Dial func(ctx context.Context) (net.Conn, error)
	// DialAddr, when set, opens the connection of a reconnect attempt to
	// addr: a TCP host:port, or a ws:// or wss:// URL for a WebSocket
	// client (a client from New is one when its connection is a
	// transport.WebSocketConn). It reaches Seeds and the servers MOVED
	// names. By default a client from Dial or DialWebSocket dials them as
	// it dialled its first server; a client from New cannot follow MOVED
	// without it.
	DialAddr func(ctx context.Context, addr string) (net.Conn, error)
	// Seeds are other servers of the cluster, in the form of the client's
	// transport (TCP host:port, or ws:// or wss:// URLs for WebSocket):
	// when the first two attempts to reach the current server fail (it
	// died), the attempts go, one each with the same back-off, to every
	// seed in turn and the current server again, sending RESUME with the
	// client's own seat token; a server of the cluster that does not hold
	// the seat answers MOVED to the one that does. Default none: only the
	// current server is tried. Invalid addresses make Dial, DialWebSocket
	// and New fail.
	Seeds []string
}

func (r ReconnectOptions) withDefaults() (ReconnectOptions, error) {
	if r.InitialDelay < 0 || r.MaxDelay < 0 || r.ConnectTimeout < 0 {
		return r, errors.New("client: Reconnect delays and ConnectTimeout must not be negative")
	}
	if r.InitialDelay == 0 {
		r.InitialDelay = DefaultReconnectDelay
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = DefaultReconnectMaxDelay
	}
	r.MaxDelay = max(r.MaxDelay, r.InitialDelay)
	if r.ConnectTimeout == 0 {
		r.ConnectTimeout = DefaultConnectTimeout
	}
	if r.SilenceTimeout == 0 {
		r.SilenceTimeout = DefaultSilenceTimeout
	}
	return r, nil
}

// LostError is why a client gave up resuming its seat. Poll returns it as
// the client's final error, and OnLost receives it.
type LostError struct {
	// Attempts counts the reconnect attempts made.
	Attempts int
	// Cause is why the connection dropped.
	Cause error
	// Err is why the seat is lost: the server refused the RESUME (a
	// *ServerError with Code "resume"; the seat was released or expired),
	// the hold passed (ErrSeatHoldPassed), or the server ended the attempt
	// with a BYE that releases seats (a *ByeError).
	Err error
}

// Error says the seat is lost and why.
func (e *LostError) Error() string {
	return fmt.Sprintf("client: seat lost after %d reconnect attempts: %v", e.Attempts, e.Err)
}

// Unwrap returns Err.
func (e *LostError) Unwrap() error { return e.Err }

// resumeUnavailable reports whether err is ERR resume unavailable: the
// seat is on its way between two servers of a cluster; try again.
func resumeUnavailable(err error) bool {
	var se *ServerError
	return errors.As(err, &se) && se.Code == "resume" && strings.HasPrefix(se.Text, "unavailable")
}

// seatInfo is the latest SEAT: the token that resumes the seat (never
// logged) and how long the server holds it.
type seatInfo struct {
	token string
	hold  time.Duration
}

// Link phases: a link opened to resume waits for the answer to RESUME.
const (
	phaseLive      int32 = iota // logged in (or logging in as usual)
	phaseResuming               // RESUME sent, no answer yet
	phaseAbandoned              // the attempt gave up on this link
)

// link is one connection of a client. A client has one at a time; each
// reconnect makes a new one.
type link struct {
	conn      net.Conn
	done      chan struct{} // closed when the connection has ended
	lost      chan struct{} // closed when the client starts reconnecting after it
	once      sync.Once
	err       error // why it ended; set before done is closed
	resumable bool  // whether the server holds the seat after err
	phase     atomic.Int32
	resumeRID uint32                // the request id of RESUME
	result    chan error            // resume links: nil on WELCOME, else the refusal or a *redirected
	addr      string                // where it was dialled ("" for New's first link)
	moved     *moveTarget           // reader only: the MOVED received, to follow after the end
	werr      atomic.Pointer[error] // the writer's failure, for the reader to end l with
}

func newLink(conn net.Conn) *link {
	return &link{conn: conn, done: make(chan struct{}), lost: make(chan struct{})}
}

// end ends the link for err and closes its connection; the first reason
// wins.
func (l *link) end(err error, resumable bool) {
	l.once.Do(func() {
		l.err, l.resumable = err, resumable
		close(l.done)
		l.conn.Close()
	})
}

// writeFailed records why a write failed and closes the connection. The
// reader, woken by the close, ends l: with a BYE it has already read (the
// server said why, then closed, and the write failed on that), or with
// this error.
func (l *link) writeFailed(err error) {
	l.werr.CompareAndSwap(nil, &err)
	l.conn.Close()
}

func (l *link) ended() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Events Poll delivers in order with the messages.
const (
	evReconnecting = iota + 1
	evResumed
	evLost
)

// clientEvent travels through the inbox as an Envelope without a Type.
type clientEvent struct {
	kind    int
	attempt int
	err     error
	link    *link
	moved   bool // evResumed: on another server
}

// OnReconnecting registers fn, called by Poll when the connection dropped
// and the client is about to try to resume its seat: with attempt 1 and
// why the connection dropped, then, after each failed attempt n, with
// attempt n+1 and why attempt n failed. Each call comes before the back-off
// wait that precedes the attempt, so a game can show "reconnecting" at
// once. Until OnResumed, Send returns ErrDisconnected. A nil fn removes the
// callback.
func (c *Client) OnReconnecting(fn func(attempt int, err error)) {
	c.hMu.Lock()
	c.onReconnecting = fn
	c.hMu.Unlock()
}

// OnResumed registers fn, called by Poll when the seat was resumed on a new
// connection: same player id (unless the client moved to another server:
// see OnMoved, called just before), name and game state. Everything Poll delivers
// after it comes from the new connection, starting with the game's fresh
// state (the arena sends SPAWN, then a full snapshot, whose ZONE makes the
// replica model drop what it held). Send works again from here; a Predicted
// has dropped the inputs the server never acknowledged. A nil fn removes the
// callback.
func (c *Client) OnResumed(fn func()) {
	c.hMu.Lock()
	c.onResumed = fn
	c.hMu.Unlock()
}

// OnLost registers fn, called by Poll when the client gave up resuming its
// seat, with the *LostError that Poll returns from then on. A connection
// that ends without a reconnect (a BYE that releases the seat, Close, Quit)
// does not call it: Poll's error says why, as always. A nil fn removes the
// callback.
func (c *Client) OnLost(fn func(err error)) {
	c.hMu.Lock()
	c.onLost = fn
	c.hMu.Unlock()
}

// Sever cuts the current connection abruptly, as a network failure would,
// without telling the server. The server holds the seat as for any dropped
// connection; with reconnection on (the default) the client resumes it. It
// does nothing while no connection is up. It exists for tests and drills:
// tickwire play --drop-every severs every bot's connection periodically.
func (c *Client) Sever() {
	c.outMu.Lock()
	l := c.cur
	c.outMu.Unlock()
	if l != nil {
		c.log.Info("severing the connection on request")
		l.end(errSevered, true)
	}
}

// canResume reports whether the client may resume its seat after a
// connection that ended resumably.
func (c *Client) canResume() bool {
	return !c.opts.Reconnect.Disabled && c.canDial() && c.seat.Load() != nil && !c.quitting.Load()
}

// canFollow reports whether the client may follow mv, the MOVED that
// ended a connection: with its own token it needs a seat, as a resume.
func (c *Client) canFollow(mv *moveTarget) bool {
	if mv.ticket == "" || c.seat.Load() != nil {
		return c.canResume()
	}
	return !c.opts.Reconnect.Disabled && c.canDial() && !c.quitting.Load()
}

// readTimeout is the read deadline of the next read: ReadTimeout, or the
// shorter SilenceTimeout while a dead connection would be resumed.
func (c *Client) readTimeout() time.Duration {
	rt, st := c.opts.ReadTimeout, c.opts.Reconnect.SilenceTimeout
	if st > 0 && c.opts.PingInterval > 0 && (rt <= 0 || st < rt) && c.canResume() {
		return st
	}
	return rt
}

// linkDown handles the end of l, the current connection after login:
// resume, or end the client.
func (c *Client) linkDown(l *link) {
	c.outMu.Lock()
	if c.cur == l {
		c.dropOutputLocked()
	}
	c.outMu.Unlock()
	if c.isDone() {
		return
	}
	switch {
	case l.moved != nil && l.resumable && c.canFollow(l.moved):
	case !l.resumable || !c.canResume():
		if bye, ok := l.err.(*ByeError); ok && l.moved != nil && bye.Detail == "" {
			bye.Detail = "moved to " + l.moved.addr
		}
		c.fail(l.err)
		return
	}
	close(l.lost)
	c.wg.Add(1)
	go c.reconnect(l.err, l.moved)
}

// dropOutputLocked forgets the current link and what was queued for it.
// Call with outMu held.
func (c *Client) dropOutputLocked() {
	c.cur, c.open = nil, false
	c.out, c.outMsgs, c.switchAt = c.out[:0], 0, -1
}

// dropLink ends l, a link the client gives up on.
func (c *Client) dropLink(l *link, err error) {
	l.end(err, false)
	c.outMu.Lock()
	if c.cur == l {
		c.dropOutputLocked()
	}
	c.outMu.Unlock()
}

// reconnect runs on its own goroutine after the connection dropped: it
// tries to resume the seat with back-off until it succeeds, the server
// refuses, the hold passes or the client is closed. mv, when not nil, is
// the MOVED that ended the connection: it is followed at once.
func (c *Client) reconnect(cause error, mv *moveTarget) {
	defer c.wg.Done()
	token, hold := "", DefaultMoveHold
	if seat := c.seat.Load(); seat != nil {
		token, hold = seat.token, seat.hold
	}
	user := c.Name()
	ro := c.opts.Reconnect
	start := time.Now()
	deadline := start.Add(hold)
	if mv == nil {
		c.log.Info("connection lost; resuming the seat", "reason", cause.Error(), "hold", hold)
	}
	home := c.Addr() // the server the seat is on, or the last MOVED's
	ticket := ""     // the last MOVED's ticket, for attempts at home
	delay, last := ro.InitialDelay, cause
	announced, made, tries := 0, 0, 0 // OnReconnecting calls; attempts; attempts at home since the last move
	// Servers this loop could not reach, and when: a cluster that has not
	// noticed yet that a node died redirects to it for a few seconds.
	unreachable := map[string]time.Time{}
	for {
		target := home
		if mv != nil {
			// A MOVED: follow it at once, without OnReconnecting.
			if err := c.moveLog.note(time.Now()); err != nil {
				c.lose(made, cause, err)
				return
			}
			c.log.Info("moving to another server", "to", mv.addr)
			home, ticket, tries = mv.addr, mv.ticket, 0
			target = home
			deadline = later(deadline, time.Now().Add(hold))
			delay = ro.InitialDelay
			mv = nil
		} else {
			remaining := time.Until(deadline)
			if remaining <= 0 {
				c.lose(made, cause, fmt.Errorf("%w (%v); last error: %w", ErrSeatHoldPassed, hold, last))
				return
			}
			announced++
			if !c.post(msg.Envelope{Msg: &clientEvent{kind: evReconnecting, attempt: announced, err: last}}) {
				return
			}
			// The last attempt is made as the hold ends, not skipped.
			wait := min(delay/2+rand.N(delay/2+1), remaining)
			t := time.NewTimer(wait)
			select {
			case <-c.done:
				t.Stop()
				return
			case <-t.C:
			}
			target = c.pick(home, tries)
			tries++
		}
		tok := token
		if ticket != "" && target == home {
			tok = ticket
		}
		made++
		c.reconnects.Add(1)
		res := c.attempt(user, tok, target)
		switch {
		case c.isDone():
			return
		case res.ok:
			c.resumes.Add(1)
			c.log.Info("seat resumed", "attempt", made, "on", target, "after", time.Since(start).Round(time.Millisecond))
			return
		case res.moved != nil:
			if at, ok := unreachable[res.moved.addr]; ok && time.Since(at) < unreachableFor {
				// A redirect to the server just found dead: ask again
				// after the back-off (the cluster is failing it over)
				// rather than follow it, which would count towards
				// MaxMoves and fail again.
				last = res.err
				delay = min(2*delay, ro.MaxDelay)
				continue
			}
			mv, last = res.moved, res.err
			continue
		case res.final:
			c.lose(made, cause, res.err)
			return
		}
		if !resumeUnavailable(res.err) && !errors.Is(res.err, errBadMoved) {
			unreachable[target] = time.Now()
		}
		c.log.Debug("reconnect attempt failed", "attempt", made, "to", target, "err", res.err.Error())
		last = res.err
		delay = min(2*delay, ro.MaxDelay)
	}
}

// unreachableFor is how long a server this client could not reach is
// not dialled again on a redirect: about a cluster's failover time (lease
// 3 s plus a claim round).
const unreachableFor = 5 * time.Second

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// lose gives the seat up: OnLost through Poll, then the client ends.
func (c *Client) lose(attempts int, cause, err error) {
	le := &LostError{Attempts: attempts, Cause: cause, Err: err}
	c.log.Warn("seat lost", "attempts", attempts, "err", err.Error())
	c.post(msg.Envelope{Msg: &clientEvent{kind: evLost, err: le}})
	c.fail(le)
}

// outcome is the result of one reconnect attempt: ok means the seat is
// back; moved that the server answered MOVED (follow it); final that
// trying again is pointless (the server refused, or the client ended).
type outcome struct {
	ok, final bool
	moved     *moveTarget
	err       error
}

// attempt makes one reconnect attempt to target: dial, switch encoding,
// RESUME, and wait for the answer, each of the connect and the wait
// bounded by ConnectTimeout.
func (c *Client) attempt(user, token, target string) (res outcome) {
	var useRID uint32
	defer func() {
		if !res.ok && useRID != 0 {
			c.unregister(useRID)
		}
	}()
	timeout := c.opts.Reconnect.ConnectTimeout
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	conn, err := c.redial(ctx, target)
	cancel()
	if err != nil {
		if c.isDone() {
			return outcome{final: true, err: c.err}
		}
		return outcome{final: errors.Is(err, errNoDial), err: fmt.Errorf("client: reconnect: %w", err)}
	}
	initial := initialEncoding(conn)
	l := newLink(conn)
	l.addr = target
	l.phase.Store(phaseResuming)
	l.result = make(chan error, 1)
	l.resumeRID = c.nextRID()
	if c.opts.Encoding != initial {
		if useRID, err = c.useRID(c.opts.Encoding); err != nil {
			conn.Close()
			return outcome{final: true, err: err}
		}
	}
	c.outMu.Lock()
	if c.isDone() {
		c.outMu.Unlock()
		conn.Close()
		return outcome{final: true, err: c.err}
	}
	// The new connection starts afresh: in its first encoding, with
	// nothing queued but the switch and RESUME.
	c.enc = c.reg.NewCodec(initial)
	c.out, c.outMsgs, c.switchAt = c.out[:0], 0, -1
	if useRID != 0 {
		err = c.queueUseLocked(c.opts.Encoding, useRID)
	}
	if err == nil {
		c.out, err = c.enc.Append(c.out, &msg.Resume{User: user, Token: token}, l.resumeRID)
	}
	if err != nil {
		c.out = c.out[:0]
		c.outMu.Unlock()
		conn.Close()
		return outcome{final: true, err: fmt.Errorf("client: RESUME: %w", err)}
	}
	c.outMsgs++
	c.msgsOut.Add(1)
	c.cur = l
	signal(c.wake)
	c.outMu.Unlock()
	c.wg.Add(2)
	go c.readLoop(l, initial)
	go c.writeLoop(l)

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-l.result:
		if err == nil {
			return outcome{ok: true}
		}
		c.dropLink(l, err)
		return refusal(err)
	case <-l.done:
		if !l.phase.CompareAndSwap(phaseResuming, phaseAbandoned) {
			// Resumed, and already dropped again: its reader takes over.
			return outcome{ok: true}
		}
		select {
		case err := <-l.result: // a MOVED or ERR just before the end
			if err != nil {
				c.dropLink(l, err)
				return refusal(err)
			}
		default:
		}
		return outcome{final: !l.resumable, err: l.err}
	case <-c.done:
		return outcome{final: true, err: c.err}
	case <-timer.C:
		if !l.phase.CompareAndSwap(phaseResuming, phaseAbandoned) {
			return outcome{ok: true}
		}
		err := fmt.Errorf("client: reconnect: no answer to RESUME within %v", timeout)
		c.dropLink(l, err)
		return outcome{err: err}
	}
}

// refusal is the outcome of an answer to RESUME other than WELCOME: a
// MOVED to follow, a MOVED the client refused or ERR resume unavailable
// (try again later), or a refusal.
func refusal(err error) outcome {
	var rd *redirected
	switch {
	case errors.As(err, &rd):
		return outcome{moved: rd.to, err: err}
	case errors.Is(err, errBadMoved), resumeUnavailable(err):
		return outcome{err: err}
	}
	return outcome{final: true, err: err}
}

// resumed handles WELCOME on a link that sent RESUME: the seat is back.
// Reader goroutine.
func (c *Client) resumed(l *link, m *msg.Welcome) {
	if !l.phase.CompareAndSwap(phaseResuming, phaseLive) {
		return // the attempt gave up on this link
	}
	c.seat.Store(nil) // spent: the SEAT that follows brings the next token
	// Player ids are per server: on another server the id is new.
	moved := l.addr != c.Addr()
	if m.ID != c.id.Load() {
		c.log.Info("resumed with a new player id", "id", m.ID, "was", c.id.Load(), "on", l.addr)
	}
	c.id.Store(m.ID)
	name := m.Name
	c.name.Store(&name)
	if moved {
		addr := l.addr
		c.addr.Store(&addr)
		c.moves.Add(1)
	}
	// Before anything else from this connection reaches Poll.
	c.post(msg.Envelope{Msg: &clientEvent{kind: evResumed, link: l, moved: moved}})
	select {
	case l.result <- nil:
	default:
	}
}

// refusedResume handles an ERR answering RESUME. Reader goroutine.
func (l *link) refusedResume(m *msg.Err) {
	l.answer(&ServerError{Code: m.Code, Text: m.Text})
}

// answer hands the answer to RESUME to the attempt; the first one counts.
func (l *link) answer(err error) {
	select {
	case l.result <- err:
	default:
	}
}

// event dispatches one of the client's own events on Poll's goroutine.
func (c *Client) event(ev *clientEvent) {
	c.hMu.RLock()
	onReconnecting, onResumed, onLost, onResume, onMoved := c.onReconnecting, c.onResumed, c.onLost, c.onResume, c.onMoved
	c.hMu.RUnlock()
	switch ev.kind {
	case evReconnecting:
		if onReconnecting != nil {
			onReconnecting(ev.attempt, ev.err)
		}
	case evResumed:
		c.outMu.Lock()
		if c.cur == ev.link {
			c.open = true
		}
		c.outMu.Unlock()
		if onResume != nil {
			onResume()
		}
		if ev.moved && onMoved != nil {
			onMoved(ev.link.addr)
		}
		if onResumed != nil {
			onResumed()
		}
	case evLost:
		if onLost != nil {
			onLost(ev.err)
		}
	}
}

// nextRID reserves a request id outside the pending table (for RESUME,
// whose answer the reader handles itself). Ids keep increasing across
// connections.
func (c *Client) nextRID() uint32 {
	for {
		if rid := c.lastRID.Add(1); rid != 0 {
			return rid
		}
	}
}
