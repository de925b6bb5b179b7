package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/transport"
)

// A conn is one client connection. Two goroutines serve it and only move
// bytes: the reader frames and decodes input and hands it to the tick; the
// writer encodes queued output and writes it. The tick goroutine never
// touches the socket, so a slow or dead client cannot stall the world.

type ctlKind uint8

const (
	ctlNone      ctlKind = iota
	ctlClose             // close the connection after writing what precedes
	ctlSwitch            // switch the output encoding from here on
	ctlKeepalive         // send a keepalive if nothing else is written
)

// outItem is one entry of a connection's outbound queue.
type outItem struct {
	m      any
	rid    uint32
	ctl    ctlKind
	enc    msg.Encoding // ctlSwitch
	reason error        // ctlClose
}

type evKind uint8

const (
	evJoin evKind = iota + 1
	evMsg
	evLeave
	evResume
	evArrive
)

// event is one entry of a connection's inbound queue, read by the tick.
type event struct {
	kind    evKind
	env     msg.Envelope
	ident   Identity // evJoin
	reason  error    // evLeave
	player  *Player  // evResume: the seat claimed
	arrival *Arrival // evArrive: the arrival claimed
}

type conn struct {
	srv    *Server
	nc     net.Conn
	id     uint64
	remote netip.Addr
	name   atomic.Pointer[string] // the player name, after login, for log lines

	encoding atomic.Uint32 // current output encoding, for Player.Encoding
	loggedIn bool          // reader goroutine only

	// Inbound: reader -> tick. Bounded by Config.MaxInbound.
	inMu    sync.Mutex
	inbox   []event
	queued  bool          // on the server's ready list
	inSpace chan struct{} // signalled when the tick drains the inbox

	// Outbound: tick and reader -> writer. Bounded by Config.MaxOutbound.
	// The writer goroutine exists only while there is output: an idle
	// connection holds no writer stack.
	outMu   sync.Mutex
	out     []outItem
	spare   []outItem     // the writer's previous batch, reused
	writing bool          // a writer goroutine is running
	wake    chan struct{} // wakes a lingering writer; capacity 1
	dead    bool          // closed: start no more writers
	outEnc  msg.Encoding
	wbuf    []byte

	// The watchdog is one timer per connection for every clock it has:
	// the login deadline (from accept, extended by nothing), the idle
	// deadline (from the last complete frame), the frame deadline (from the
	// first byte of a frame not yet complete) and the keepalive (after half
	// the idle timeout without a write). It is not reset per message: when
	// it fires it works out which clock is due and sleeps until the next.
	wdMu         sync.Mutex
	watchdog     *time.Timer
	wdAt         int64        // unix ns the watchdog is set for; guarded by wdMu
	acceptedAt   int64        // unix ns
	authed       atomic.Bool  // logged in: the idle clock replaces the login clock
	lastFrame    atomic.Int64 // unix ns when the last complete frame (or keepalive) arrived
	partialSince atomic.Int64 // unix ns when the current incomplete frame began; 0 if none
	lastWrite    atomic.Int64 // unix ns of the last write, for the keepalive
	lastReadAt   int64        // reader only: unix ns the last read returned
	fr           *frame.Reader
	bytesIn      atomic.Uint64
	bytesOut     atomic.Uint64
	playerID     atomic.Uint64 // the player's id once the tick admitted it, for Sessions

	// Write deadlines on TCP sockets are refreshed at most every
	// deadlineRefresh rather than on every write: setting one is a timer
	// operation, and there are tens of thousands a second under load.
	wdSetAt int64  // writer only: unix ns the write deadline was set
	lazyDL  bool   // the write deadline may be refreshed lazily (TCP)
	lastOut uint32 // tick goroutine only: the last tick (mod 2^32) that sent it output

	// Outbound byte budget (Config.MaxOutboundBytesPerSec); writer only.
	budgetStart  int64   // unix ns budgetTokens was last brought up to date; 0: never
	budgetTokens float64 // bytes that may be written now; negative: debt

	// Per-message-type rate limits; reader only, created on first use.
	// A slice, not a map: a connection uses few types, and an idle
	// connection's memory counts (BENCHMARKS.md, Idle).
	limits         []typeLimit
	rateDropped    int32
	decodeErrors   int32 // refused (undecodable) messages so far
	lastRateErr    int64 // unix ns
	lastRateStrike int64 // unix ns

	// Per-address accounting; guarded by Server.mu.
	countedAddr     bool
	countedPreLogin bool
	outCap          atomic.Bool // out or spare may hold an array (trimIdle's hint)

	closeOnce sync.Once
	byeErr    atomic.Pointer[error] // a BYE that releases the seat was queued: the reason it ends for
	done      chan struct{}
	reason    error // why the connection closed; set before done is closed

	logLimit *rate.Limiter // client LOG lines; reader goroutine only

	player *Player // tick goroutine only

	// The event-loop engine (engine.go); nil on the goroutine engine.
	lc           *transport.LoopConn
	lp           *loopState
	stallSince   int64 // writer only: unix ns the socket last took bytes while output waited; 0: none waits
	stallWritten int64 // writer only: the socket's byte count then
}

// typeLimit is the rate limit of one message type on one connection.
type typeLimit struct {
	t   *msg.Type
	lim *rate.Limiter
}

func (s *Server) newConn(nc net.Conn, id uint64, remote netip.Addr) *conn {
	now := time.Now().UnixNano()
	c := &conn{
		srv:        s,
		nc:         nc,
		id:         id,
		remote:     remote,
		done:       make(chan struct{}),
		acceptedAt: now,
		lastReadAt: now,
	}
	if _, loop := nc.(*transport.LoopConn); !loop {
		// Only the goroutine engine blocks on these; on the event loop an
		// idle connection should not carry them.
		c.inSpace = make(chan struct{}, 1)
		c.wake = make(chan struct{}, 1)
	}
	c.encoding.Store(uint32(c.initialEncoding()))
	c.outEnc = c.initialEncoding()
	c.lazyDL = lazyDeadlines(nc)
	c.lastWrite.Store(now)
	c.lastFrame.Store(now)
	c.wdAt = now + int64(s.cfg.LoginTimeout)
	c.watchdog = time.AfterFunc(s.cfg.LoginTimeout, c.watch)
	return c
}

// lazyDeadliner is a transport whose write deadline may be refreshed
// lazily, as a TCP socket's is (transport.WebSocketConn).
type lazyDeadliner interface{ LazyDeadlines() bool }

func lazyDeadlines(nc net.Conn) bool {
	if _, ok := nc.(*net.TCPConn); ok {
		return true
	}
	ld, ok := nc.(lazyDeadliner)
	return ok && ld.LazyDeadlines()
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case interface{ AddrPort() netip.AddrPort }:
		return a.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// watch runs when the watchdog fires: it closes the connection with
// BYE timeout if one of its deadlines has passed, queues a keepalive if the
// connection has written nothing for half the idle timeout, and sleeps
// until the next deadline.
func (c *conn) watch() {
	cfg := &c.srv.cfg
	c.wdMu.Lock()
	defer c.wdMu.Unlock()
	if c.closed() {
		return
	}
	now := time.Now().UnixNano()
	var due int64
	if c.authed.Load() {
		due = c.lastFrame.Load() + int64(cfg.IdleTimeout)
	} else {
		due = c.acceptedAt + int64(cfg.LoginTimeout)
	}
	if ps := c.partialSince.Load(); ps != 0 {
		due = min(due, ps+int64(cfg.FrameTimeout))
	}
	if now >= due {
		c.wdAt = math.MaxInt64
		c.bye("timeout", ErrTimeout)
		return
	}
	interval := int64(cfg.IdleTimeout / 2)
	ka := c.lastWrite.Load() + interval
	if now >= ka {
		c.enqueue(outItem{ctl: ctlKeepalive})
		ka = now + interval
	}
	c.wdAt = min(due, ka)
	c.watchdog.Reset(time.Duration(c.wdAt - now))
}

// wakeBy makes the watchdog fire by at (unix ns) if it would fire later.
func (c *conn) wakeBy(at int64) {
	c.wdMu.Lock()
	if at < c.wdAt {
		c.wdAt = at
		c.watchdog.Reset(time.Duration(at - time.Now().UnixNano()))
	}
	c.wdMu.Unlock()
}

// deadlineRefresh is how stale a lazily refreshed deadline may get: at most
// a second, and at most a quarter of the timeout it implements.
func deadlineRefresh(timeout time.Duration) time.Duration {
	return min(time.Second, timeout/4)
}

// logger returns a logger tagged with the connection id, the peer address
// and, after login, the player name. It is built on demand rather than kept:
// an idle connection should not hold a logger's preformatted attributes.
func (c *conn) logger() *slog.Logger {
	if name := c.name.Load(); name != nil {
		return c.srv.log.With("conn", c.id, "peer", c.nc.RemoteAddr().String(), "player", *name)
	}
	return c.srv.log.With("conn", c.id, "peer", c.nc.RemoteAddr().String())
}

// close closes the connection at once. The first reason wins.
func (c *conn) close(reason error) {
	c.closeOnce.Do(func() {
		if e := c.byeErr.Load(); e != nil && holdable(reason) {
			reason = *e
		}
		c.reason = reason
		c.srv.closedBy[closeIndex(reason)].Add(1)
		c.outMu.Lock()
		c.dead = true
		c.out = nil
		c.outMu.Unlock()
		c.watchdog.Stop()
		close(c.done)
		if cr, ok := c.nc.(reasonCloser); ok {
			cr.CloseWithReason(closeReason(reason))
		} else {
			c.nc.Close()
		}
		level := slog.LevelInfo
		if !isExpected(reason) {
			level = slog.LevelWarn
		}
		c.logger().Log(context.Background(), level, "connection closed", "reason", reason.Error())
	})
}

// reasonCloser is a transport that can tell the peer why it is closed (a
// WebSocket close frame with a status code and reason).
type reasonCloser interface{ CloseWithReason(reason string) error }

// closeReasons are the reasons a connection is counted under in
// Stats.Closed; any other error counts as "error" (an I/O error).
var closeReasons = []error{ErrQuit, ErrClosed, ErrTimeout, ErrSlowConsumer, ErrTooLong, ErrKicked, ErrBanned, ErrShutdown, ErrResumed, ErrSeatExpired, ErrMoved}

func init() {
	// Server.closedBy has a counter per reason and one for "error".
	if n := len(Server{}.closedBy); n != len(closeReasons)+1 {
		panic(fmt.Sprintf("server: closedBy has %d counters for %d close reasons", n, len(closeReasons)))
	}
}

// closeIndex is reason's index in closeReasons, or len(closeReasons).
func closeIndex(reason error) int {
	for i, e := range closeReasons {
		if errors.Is(reason, e) {
			return i
		}
	}
	return len(closeReasons)
}

// closeReason is the BYE reason matching why a connection closed.
func closeReason(err error) string {
	if i := closeIndex(err); i < len(closeReasons) {
		return closeReasons[i].Error()
	}
	return "error"
}

func isExpected(err error) bool {
	for _, e := range []error{ErrQuit, ErrClosed, ErrTimeout, ErrKicked, ErrShutdown, ErrResumed, ErrBanned, ErrMoved} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// enqueue adds items to the outbound queue and starts the writer if none is
// running. A full queue means the client is not reading: it is cut off as a
// slow consumer.
func (c *conn) enqueue(items ...outItem) {
	c.outMu.Lock()
	if c.dead {
		c.outMu.Unlock()
		return
	}
	if len(c.out)+len(items) > c.srv.cfg.MaxOutbound {
		c.outMu.Unlock()
		c.close(ErrSlowConsumer)
		return
	}
	c.out = append(c.out, items...)
	if !c.outCap.Load() {
		c.outCap.Store(true)
	}
	start := !c.writing
	if start {
		c.writing = true
		if c.lp == nil {
			// Counted before close can mark the connection dead, so
			// Shutdown's wait covers every writer.
			c.srv.connWG.Add(1)
		}
	}
	c.outMu.Unlock()
	if start {
		if c.lp != nil {
			c.srv.eng.schedule(c)
		} else {
			go c.writeLoop()
		}
		return
	}
	if c.lp != nil {
		return // the worker writing it loops until the queue is empty
	}
	select {
	case c.wake <- struct{}{}:
	default: // a wake is already pending
	}
}

// send queues one message from the reader goroutine (protocol answers that
// do not wait for the tick: PONG, ERR, INFO).
func (c *conn) send(m any, rid uint32) { c.enqueue(outItem{m: m, rid: rid}) }

// bye queues BYE reason and a close after it.
func (c *conn) bye(reason string, err error) {
	if !holdable(err) {
		// However the connection then ends (its BYE may never be written:
		// a full queue or a stalled write closes it as a slow consumer, the
		// peer may hang up first), it ends for this reason: a kick or a
		// ban must not leave a seat to resume.
		c.byeErr.CompareAndSwap(nil, &err)
	}
	c.enqueue(outItem{m: &msg.Bye{Reason: reason}}, outItem{ctl: ctlClose, reason: err})
}

func (c *conn) strike(reason string) {
	g := c.srv.cfg.Guard
	if g == nil || !c.remote.IsValid() {
		return
	}
	g.Strike(c.remote, reason)
	if err := g.Admit(c.remote); err != nil {
		c.bye("banned", ErrBanned)
	}
}

// post hands an event to the tick. Input waits while the inbox is full, so
// a flooding client is slowed by TCP flow control instead of growing memory.
func (c *conn) post(ev event) bool {
	for {
		c.inMu.Lock()
		if ev.kind != evMsg || len(c.inbox) < c.srv.cfg.MaxInbound {
			c.inbox = append(c.inbox, ev)
			if !c.queued {
				c.queued = true
				c.srv.markReady(c)
			}
			c.inMu.Unlock()
			return true
		}
		c.inMu.Unlock()
		select {
		case <-c.inSpace:
		case <-c.done:
			return false
		}
	}
}

// connReader is the connection's byte source for its frame reader. It
// keeps the frame clock: when the frame reader asks for more bytes while it
// holds part of a frame, that frame must be complete within FrameTimeout of
// the read that brought its first bytes. There are no read deadlines: the
// watchdog closes a connection whose clock has run out, which unblocks the
// read.
type connReader struct{ c *conn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	if c.fr.Buffered() > 0 {
		if c.partialSince.Load() == 0 {
			c.partialSince.Store(c.lastReadAt)
			c.wakeBy(c.lastReadAt + int64(c.srv.cfg.FrameTimeout))
		}
	} else if c.partialSince.Load() != 0 {
		c.partialSince.Store(0)
	}
	n, err := c.nc.Read(p)
	c.lastReadAt = time.Now().UnixNano()
	c.srv.bytesIn.Add(uint64(n))
	c.bytesIn.Add(uint64(n))
	return n, err
}

// frameDone records a complete frame (a keepalive included): it resets the
// idle clock. Bytes alone do not.
func (c *conn) frameDone() {
	c.lastFrame.Store(c.lastReadAt)
	// A frame completed: whatever is buffered now is the start of the
	// next one, whose clock starts at the next read that leaves it
	// incomplete.
	c.partialSince.Store(0)
}

// initialEncoder lets a transport choose the first encoding (a WebSocket
// subprotocol, for instance).
type initialEncoder interface{ InitialEncoding() string }

func (c *conn) initialEncoding() msg.Encoding {
	if ie, ok := c.nc.(initialEncoder); ok {
		if e, err := msg.ParseEncoding(ie.InitialEncoding()); err == nil {
			return e
		}
	}
	return msg.Text
}

// readLoop runs on the connection's reader goroutine until the connection
// ends, then tells the tick.
func (c *conn) readLoop() {
	s := c.srv
	enc := msg.Encoding(c.encoding.Load())
	dec := s.cfg.Registry.NewCodec(enc)
	fr := frame.NewReader(connReader{c}, s.cfg.MaxMessage)
	fr.SetMode(enc.FrameMode())
	fr.OnKeepalive(c.frameDone)
	c.fr = fr
	joined := false
	defer func() {
		<-c.done // the writer closes it once BYE or ERR is out, or times out
		if joined {
			c.post(event{kind: evLeave, reason: c.reason}) // the tick forgets it
		} else {
			s.forget(c)
		}
		s.connWG.Done()
	}()
	if s.cfg.Banner != "" {
		c.send(&msg.Notice{Text: s.cfg.Banner}, 0)
	}
	if s.cfg.AutoLogin {
		joined = c.login(Identity{Name: c.srv.guestName(c.id), Guest: true})
	}
	for {
		data, err := fr.Next()
		if err != nil {
			c.readFailed(err)
			return
		}
		c.frameDone()
		if !c.handle(dec, fr, data, &joined) {
			return
		}
	}
}

// handle processes one inbound frame; false means stop reading. It is kept
// out of readLoop so the deep calls it makes (decoding, logging, login) do
// not stay on the stack of an idle reader parked in the network poller: the
// garbage collector then shrinks idle readers' stacks.
//
//go:noinline
func (c *conn) handle(dec *msg.Codec, fr modeSetter, data []byte, joined *bool) bool {
	c.srv.msgsIn.Add(1)
	env, err := dec.Decode(data, msg.ToServer)
	if err != nil {
		var de *msg.DecodeError
		if errors.As(err, &de) {
			c.send(&msg.Err{Code: de.Code, Text: de.Text()}, de.RID)
		} else {
			c.send(&msg.Err{Code: msg.CodeBadSyntax, Text: err.Error()}, 0)
		}
		c.logger().Debug("refused message", "err", err)
		// A person typing makes mistakes: only every DecodeErrorsPerStrike-th
		// refused message of a connection is a strike, so a few typos on nc
		// cost nothing while a stream of garbage is banned within seconds.
		c.decodeErrors++
		if c.decodeErrors%DecodeErrorsPerStrike == 0 {
			c.strike("bad_message")
		}
		return true
	}
	if !c.allowMsg(env.Type, env.RID) {
		return true
	}
	switch m := env.Msg.(type) {
	case *msg.Ping:
		c.send(&msg.Pong{Token: m.Token}, env.RID)
	case *msg.Stats:
		st := c.srv.Stats()
		c.send(&msg.ServerStats{TickUS: uint32(min(st.LastTick.Microseconds(), 1<<32-1)), TickRate: uint16(c.srv.cfg.TickRate), Conns: uint32(st.Conns)}, env.RID)
	case *msg.Help:
		c.help(env.RID)
	case *msg.Quit:
		c.bye("quit", ErrQuit)
		return false
	case *msg.Use:
		e, err := msg.ParseEncoding(m.Encoding)
		if err != nil {
			c.send(&msg.Err{Code: msg.CodeBadField, Text: "USE encoding: want text, json or msgpack"}, env.RID)
			return true
		}
		// The reply goes out in the old encoding; everything queued after
		// the switch marker in the new one.
		c.enqueue(outItem{m: &msg.Using{Encoding: e.String()}, rid: env.RID}, outItem{ctl: ctlSwitch, enc: e})
		c.encoding.Store(uint32(e))
		dec.SetEncoding(e)
		fr.SetMode(e.FrameMode())
	case *msg.Auth:
		if c.loggedIn {
			c.send(&msg.Err{Code: "already_logged_in", Text: "this connection is logged in"}, env.RID)
			return true
		}
		if c.lp != nil && c.needsAuthenticator(m) {
			c.lp.authAsync(m, env.RID) // the event loop must not wait for it
			return true
		}
		ident, err := c.authenticate(m)
		c.authDone(m, env.RID, ident, err, joined)
	case *msg.Resume:
		if c.loggedIn {
			c.send(&msg.Err{Code: "already_logged_in", Text: "this connection is logged in"}, env.RID)
			return true
		}
		p := c.srv.claimSeat(m.User, m.Token)
		if p == nil {
			if a := c.srv.claimArrival(m.User, m.Token); a != nil {
				*joined = c.enter(a.Ident, event{kind: evArrive, ident: a.Ident, arrival: a})
				return true
			}
			if loc := c.srv.cfg.Locate; loc != nil {
				// The lookup waits for the cluster (milliseconds, at most
				// its timeout): off this goroutine, which may be an event
				// loop's. RESUME's rate limit bounds how many run.
				user, token, rid := m.User, m.Token, env.RID
				go func() {
					if at, ok := loc(user); ok {
						c.relocate(user, rid, at)
						return
					}
					if c.srv.expectsArrival(user, token) {
						// The player's zone was restored here while the
						// lookup ran (a cluster's claim): its arrival came
						// after this RESUME looked. Not a bad token.
						c.relocate(user, rid, Location{Retry: true})
						return
					}
					c.resumeRefused(user, rid)
				}()
				return true
			}
			c.resumeRefused(m.User, env.RID)
			return true
		}
		*joined = c.enter(p.ident, event{kind: evResume, player: p})
	case *msg.Log:
		if !c.loggedIn {
			c.send(&msg.Err{Code: "not_logged_in", Text: "log in first: AUTH guest, or AUTH <user> <token>"}, env.RID)
			return true
		}
		c.clientLog(m)
	default:
		if !c.loggedIn {
			c.send(&msg.Err{Code: "not_logged_in", Text: "log in first: AUTH guest, or AUTH <user> <token>"}, env.RID)
			return true
		}
		return c.post(event{kind: evMsg, env: env})
	}
	return true
}

// modeSetter is the input framer: a frame.Reader or, on the event loop,
// the connection's frame.Parser.
type modeSetter interface{ SetMode(frame.Mode) }

// authDone answers an AUTH once the Authenticator (or the guest rule) has
// decided: a refusal (a strike unless the service could not decide) or the
// login.
func (c *conn) authDone(m *msg.Auth, rid uint32, ident Identity, err error, joined *bool) {
	if err != nil {
		code, text := authCode(err)
		c.send(&msg.Err{Code: "auth", Text: code + " " + text}, rid)
		c.logger().Info("login refused", "user", m.User, "code", code)
		if code != codeTryLater && code != codeBusy {
			c.strike("auth_failed")
		}
		return
	}
	*joined = c.login(ident)
}

// allowMsg takes one message of type t from the connection's budget for
// that type. Past it the message is dropped: the client hears
// ERR rate_limited <NAME> at most once a second, and every RateStrikeDrops
// drops are a strike.
func (c *conn) allowMsg(t *msg.Type, rid uint32) bool {
	var lim *rate.Limiter
	for _, l := range c.limits {
		if l.t == t {
			lim = l.lim
			break
		}
	}
	if lim == nil {
		r, b := t.Rate, t.Burst
		if r == 0 {
			r, b = c.srv.cfg.MessageRate, c.srv.cfg.MessageBurst
		}
		lim = rate.NewLimiter(rate.Limit(r), b)
		c.limits = append(c.limits, typeLimit{t, lim})
	}
	now := time.Now()
	if lim.AllowN(now, 1) {
		return true
	}
	c.rateDropped++
	c.srv.rateDropped.Add(1)
	if now.UnixNano()-c.lastRateErr >= int64(time.Second) {
		c.lastRateErr = now.UnixNano()
		c.send(&msg.Err{Code: msg.CodeRateLimited, Text: t.Name}, rid)
	}
	if c.rateDropped >= RateStrikeDrops && now.UnixNano()-c.lastRateStrike >= int64(RateStrikeSpacing) {
		c.rateDropped = 0
		c.lastRateStrike = now.UnixNano()
		c.logger().Info("rate limits exceeded", "type", t.Name)
		c.strike("rate_limited")
	}
	return false
}

// readFailed ends the connection after a read error, answering what can be
// answered.
func (c *conn) readFailed(err error) {
	switch {
	case c.closed():
		// Closed by the writer, the tick or shutdown; the reason is set.
	case errors.Is(err, frame.ErrTooLong) || errors.Is(err, frame.ErrBadPrefix):
		c.send(&msg.Err{Code: "too_long", Text: fmt.Sprintf("message longer than %d bytes; closing", c.srv.cfg.MaxMessage)}, 0)
		c.strike("too_long")
		c.bye("too_long", ErrTooLong)
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET):
		c.close(ErrClosed)
	default:
		c.close(fmt.Errorf("read: %w", err))
	}
}

// Login refusal codes the server itself gives (an Authenticator adds its
// own through AuthError); docs/PROTOCOL.md §4.1 lists them all.
const (
	codeGuestsDisabled = "guests_disabled"
	codeNoAccounts     = "no_accounts"
	codeMissingToken   = "missing_token"
	codeRefused        = "refused"
	// codeTryLater and codeBusy are an Authenticator's answers when it
	// could not decide (database down, timeout, hashing queue full): not
	// the client's fault, so not a strike.
	codeTryLater = "unavailable"
	codeBusy     = "busy"
)

// authCode splits a login error into its code and text.
func authCode(err error) (code, text string) {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Code, ae.Text
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return codeTryLater, "the account service did not answer in time; try again"
	}
	return codeRefused, err.Error()
}

func (c *conn) authenticate(m *msg.Auth) (Identity, error) {
	cfg := &c.srv.cfg
	if strings.EqualFold(m.User, "guest") && m.Secret == "" {
		if cfg.DisableGuests {
			return Identity{}, &AuthError{codeGuestsDisabled, "guest logins are disabled on this server"}
		}
		return Identity{Name: c.srv.guestName(c.id), Guest: true}, nil
	}
	if cfg.Authenticator == nil {
		return Identity{}, &AuthError{codeNoAccounts, "this server has no accounts; use AUTH guest"}
	}
	if m.Secret == "" {
		return Identity{}, &AuthError{codeMissingToken, "AUTH <user> <token>: get the token from the account service over HTTPS (POST /v1/login); passwords never go over the game port"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.AuthTimeout)
	defer cancel()
	// A connection closed meanwhile (Shutdown, a ban) stops waiting for
	// the Authenticator at once.
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return cfg.Authenticator.Authenticate(ctx, m.User, m.Secret, c.remote)
}

// login switches the connection to the idle timeout and asks the tick to
// admit the player.
func (c *conn) login(ident Identity) bool {
	return c.enter(ident, event{kind: evJoin, ident: ident})
}

// enter logs the connection in and posts ev (a join or a resume) to the
// tick.
func (c *conn) enter(ident Identity, ev event) bool {
	if ev.kind == evJoin && c.closed() {
		return false // closed while the login was checked: no player for it
	}
	c.loggedIn = true
	c.authed.Store(true)
	c.srv.loggedInAddr(c)
	// The watchdog is set for the login deadline; the idle clock and the
	// keepalive run from now.
	c.wakeBy(time.Now().UnixNano() + int64(c.srv.cfg.IdleTimeout/2))
	c.name.Store(&ident.Name)
	c.logger().Info("logged in", "guest", ident.Guest, "resume", ev.kind == evResume)
	return c.post(ev)
}

func (c *conn) help(rid uint32) {
	lines := c.srv.cfg.Help
	if len(lines) == 0 {
		lines = c.srv.defaultHelp()
	}
	items := make([]outItem, len(lines))
	for i, l := range lines {
		items[i] = outItem{m: &msg.Notice{Text: l}, rid: rid}
	}
	c.enqueue(items...)
}

// defaultHelp lists every command a client may send, with its usage and
// Doc.
func (s *Server) defaultHelp() []string {
	lines := []string{"commands (one per line; @<n> before a command tags its answer):"}
	for _, t := range s.cfg.Registry.Types() {
		if t.Dir&msg.ToServer == 0 {
			continue
		}
		// Trim the padding when Doc is empty: INFO's text is a rest field,
		// and trailing spaces would make it go out quoted.
		lines = append(lines, strings.TrimRight(fmt.Sprintf("%-22s %s", t.Usage(), t.Doc), " "))
	}
	return append(lines, `strings with spaces go in double quotes: AUTH "a b" x; a blank line is a keepalive`)
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

func (c *conn) clientLog(m *msg.Log) {
	level, ok := logLevels[strings.ToLower(m.Level)]
	if !ok {
		c.send(&msg.Err{Code: msg.CodeBadField, Text: "LOG level: want debug, info, warn or error"}, 0)
		return
	}
	if c.logLimit == nil {
		c.logLimit = rate.NewLimiter(rate.Limit(c.srv.cfg.LogRate), c.srv.cfg.LogBurst)
	}
	if !c.logLimit.Allow() || !c.srv.allowLog(c.remote) {
		c.srv.droppedLogs.Add(1)
		return
	}
	c.logger().Log(context.Background(), level, "client log", "text", m.Text)
}

// messageTyper is a message-oriented transport (WebSocket) that must be told
// whether the next writes carry text lines or binary frames.
type messageTyper interface{ SetBinary(bool) }

// write writes buf with the write deadline; false means the connection is
// now closed.
func (c *conn) write(buf []byte) bool {
	if len(buf) == 0 {
		return true
	}
	now := time.Now()
	if !c.lazyDL || time.Duration(now.UnixNano()-c.wdSetAt) > deadlineRefresh(c.srv.cfg.WriteTimeout) {
		// A lazily refreshed write deadline gives a stalled write between
		// WriteTimeout minus deadlineRefresh and WriteTimeout.
		if err := c.nc.SetWriteDeadline(now.Add(c.srv.cfg.WriteTimeout)); err != nil {
			c.close(fmt.Errorf("write: %w", err))
			return false
		}
		c.wdSetAt = now.UnixNano()
	}
	if _, err := c.nc.Write(buf); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.close(ErrSlowConsumer)
		} else {
			c.close(fmt.Errorf("write: %w", err))
		}
		return false
	}
	c.srv.bytesOut.Add(uint64(len(buf)))
	c.bytesOut.Add(uint64(len(buf)))
	c.lastWrite.Store(time.Now().UnixNano())
	return true
}

// spend takes n bytes from the connection's outbound budget, a token bucket
// of Config.MaxOutboundBytesPerSec bytes a second holding at most one
// second's worth. A batch is never split: one larger than the bucket still
// goes out, leaving the bucket in debt, and the next write waits until the
// debt is paid. So the average rate never exceeds the budget, and what
// queues while the writer waits counts against MaxOutbound and
// MaxOutboundBytes. False means the connection closed meanwhile.
func (c *conn) spend(n int) bool {
	limit := float64(c.srv.cfg.MaxOutboundBytesPerSec)
	if limit <= 0 || n == 0 {
		return true
	}
	now := time.Now()
	if c.budgetStart == 0 {
		c.budgetTokens = limit
	} else {
		c.budgetTokens = min(limit, c.budgetTokens+time.Duration(now.UnixNano()-c.budgetStart).Seconds()*limit)
	}
	c.budgetStart = now.UnixNano()
	if c.budgetTokens < 0 {
		c.srv.throttled.Add(1)
		wait := time.Duration(-c.budgetTokens / limit * float64(time.Second))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return false
		}
		c.budgetStart, c.budgetTokens = time.Now().UnixNano(), 0
	}
	c.budgetTokens -= float64(n)
	return true
}

// encoded is a batch of output encoded by encodeBatch.
type encoded struct {
	buf        []byte
	closeAfter error // the first close asked for: nothing after it was encoded
	keepalive  bool  // a keepalive was asked for
	messages   int   // messages encoded
}

// encodeBatch encodes batch's messages after the first room bytes of buf
// (reserved for a frame header) with enc, and clears the items for the GC.
// Both engines' writers use it. At an encoding switch on a message transport
// (WebSocket) what precedes the switch is written as its own message first,
// as each message carries one framing; false means that write closed the
// connection.
func (c *conn) encodeBatch(enc *msg.Codec, batch []outItem, buf []byte, room int) (encoded, bool) {
	out := encoded{buf: buf}
	for i := range batch {
		it := &batch[i]
		switch it.ctl {
		case ctlSwitch:
			var ok bool
			if out.buf, ok = c.switchFraming(out.buf, room, it.enc.FrameMode() == frame.Binary); !ok {
				return out, false
			}
			enc.SetEncoding(it.enc)
			c.outEnc = it.enc
		case ctlClose:
			if out.closeAfter == nil {
				out.closeAfter = it.reason
			}
		case ctlKeepalive:
			out.keepalive = true
		default:
			if out.closeAfter != nil {
				break
			}
			var err error
			out.messages++
			out.buf, err = enc.Append(out.buf, it.m, it.rid)
			if err != nil {
				c.logger().Error("cannot encode message; dropped (a game bug)", "err", err)
			}
		}
		*it = outItem{} // drop references for the GC
	}
	return out, true
}

// switchFraming prepares a change of framing: on a message transport it
// writes buf[room:] as one message, makes the next ones binary or text and
// returns buf[:room]; a stream transport needs nothing, and buf is returned
// as it is. False means the connection closed.
func (c *conn) switchFraming(buf []byte, room int, binary bool) ([]byte, bool) {
	if c.lc != nil {
		if !c.lc.WebSocket() {
			return buf, true
		}
		if !c.loopWrite(buf, room) {
			return buf, false
		}
		c.lc.SetBinary(binary)
		return buf[:room], true
	}
	ms, ok := c.nc.(messageTyper)
	if !ok {
		return buf, true
	}
	if !c.write(buf[room:]) {
		return buf, false
	}
	ms.SetBinary(binary)
	return buf[:room], true
}

// writeLoop runs on the connection's writer goroutine while there is
// output: it encodes queued messages into one buffer, writes them with one
// call, and exits when the queue has stayed empty for a moment. A write that stalls past the write
// timeout cuts the client off as a slow consumer.
func (c *conn) writeLoop() {
	defer c.srv.connWG.Done()
	enc := c.srv.cfg.Registry.NewCodec(c.outEnc)
	// A writer that runs dry lingers until it has seen two of the server's
	// once-a-second sweeps without output (one to two seconds) before it
	// exits, so a player sent something every tick keeps one writer instead
	// of starting one per tick, while an idle connection holds none. The
	// sweep is one channel for the whole server, not a timer per writer.
	idle := 0
	for {
		c.outMu.Lock()
		for len(c.out) == 0 && !c.dead && idle < 2 {
			c.outMu.Unlock()
			select {
			case <-c.wake:
			case <-c.srv.sweepSignal():
				idle++
			case <-c.done:
			}
			c.outMu.Lock()
		}
		if len(c.out) == 0 || c.dead {
			c.writing = false
			c.outMu.Unlock()
			return
		}
		idle = 0
		batch := c.out
		c.out, c.spare = c.spare[:0], nil
		c.outMu.Unlock()

		b, ok := c.encodeBatch(enc, batch, c.wbuf[:0], 0)
		if !ok {
			return
		}
		buf, closeAfter, keepalive, messages := b.buf, b.closeAfter, b.keepalive, b.messages
		if len(buf) > c.srv.cfg.MaxOutboundBytes {
			c.close(ErrSlowConsumer)
			return
		}
		if len(buf) == 0 && keepalive && closeAfter == nil {
			buf = append(buf, frame.Keepalive(enc.Encoding().FrameMode())...)
		}
		if !c.spend(len(buf)) || !c.write(buf) {
			return
		}
		if messages == 0 {
			// Only a keepalive (or a switch): the connection is idle, so do
			// not keep a writer and its stack around for it.
			idle = 2
		}
		if closeAfter != nil {
			c.close(closeAfter)
			return
		}
		if cap(buf) > 64<<10 {
			buf = nil // do not pin a burst's buffer on an idle connection
		}
		c.wbuf = buf
		c.outMu.Lock()
		if c.spare == nil {
			c.spare = batch[:0]
		}
		c.outMu.Unlock()
	}
}
