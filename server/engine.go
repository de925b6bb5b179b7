package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/transport"
)

// The event-loop engine (Config.Engine = EngineEventLoop).
//
// A connection on the loop has no goroutine of its own. Input: a poller
// goroutine (one per core, inside transport.Loop) hands each read's bytes
// to the connection's frame.Parser, and every complete frame goes through
// the same handle as on the goroutine engine (rate limits, login, strikes).
// Nothing there may block the poller: when the connection's inbound queue
// is full, parsing stops and the unparsed bytes wait (at most
// maxBacklog(MaxMessage) of them; past that the client is cut off as a
// flooder) until the tick drains the queue; an AUTH that needs the
// Authenticator is checked on a goroutine of its own while the
// connection's input waits. Output: enqueue puts the connection on a queue
// served by one writer worker per core, which encodes its messages into
// the worker's buffer (a WebSocket frame header written in front of them,
// in place) and hands them to the socket without blocking; what the socket
// does not take at once waits in the loop's pooled buffers and counts
// against MaxOutboundBytes, and a socket that takes nothing for
// WriteTimeout while output waits is cut off as a slow consumer.

// engine is the event loop and its writer workers, started on first use.
type engine struct {
	s        *Server
	once     sync.Once
	loop     *transport.Loop
	err      error
	q        chan *conn
	stop     chan struct{}
	wg       sync.WaitGroup
	decoders sync.Pool
}

// loopEngine returns the server's event loop, starting it on first use.
func (s *Server) loopEngine() (*engine, error) {
	e := s.eng
	e.once.Do(func() {
		e.loop, e.err = transport.NewLoop()
		if e.err != nil {
			return
		}
		e.q = make(chan *conn, s.cfg.MaxConns+1024)
		e.stop = make(chan struct{})
		e.decoders.New = func() any { return s.cfg.Registry.NewCodec(msg.Text) }
		n := runtime.NumCPU()
		e.wg.Add(n)
		for range n {
			go e.writer()
		}
	})
	return e, e.err
}

// shutdown stops the loop and the writers, once every connection is gone.
func (e *engine) shutdown() {
	e.once.Do(func() { e.err = errors.New("server: shut down") })
	if e.loop == nil {
		return
	}
	close(e.stop)
	e.wg.Wait()
	e.loop.Stop()
}

// schedule hands c to a writer worker. c is on the queue at most once at a
// time (conn.writing), so the queue, sized for MaxConns, never fills.
func (e *engine) schedule(c *conn) {
	select {
	case e.q <- c:
	case <-e.stop:
	}
}

// writer is one writer worker: it owns an encoder and a buffer and writes
// the output of whichever connection it is handed.
func (e *engine) writer() {
	defer e.wg.Done()
	enc := e.s.cfg.Registry.NewCodec(msg.Text)
	var buf []byte
	for {
		select {
		case c := <-e.q:
			buf = c.flushLoop(enc, buf)
		case <-e.stop:
			return
		}
	}
}

// errPause stops a Parser: the connection's input waits.
var errPause = errors.New("server: input paused")

// loopState is a connection's reading state on the event loop. Its mutex
// makes one logical reader of OnData, resumes and login results, as the
// reader goroutine is on the other engine.
type loopState struct {
	c  *conn
	mu sync.Mutex
	p  frame.Parser

	joined   bool
	opened   bool // OnOpen has run
	finished bool // OnClose has run
	stopped  bool // read no more (QUIT, a framing error, closed)
	authing  bool // an AUTH is being checked; input waits
	waiting  bool // the inbox was full; input waits for the tick
	full     atomic.Bool
}

// maxBacklog is how many unparsed bytes a connection whose input is
// paused may send before it is cut off as a flooder.
func maxBacklog(maxMessage int) int { return max(64<<10, 4*maxMessage) }

// serveLoop serves nc, a plain TCP socket, on the event loop; false means
// the loop cannot take it and the caller should serve it as usual.
func (s *Server) serveLoop(nc net.Conn) bool {
	if !transport.Loopable(nc) {
		return false
	}
	e, err := s.loopEngine()
	if err != nil {
		s.log.Error("event loop unavailable; serving on goroutines", "err", err)
		return false
	}
	_, _ = e.loop.Add(nc, s.loopHandler)
	return true
}

// loopHandler admits a connection arriving on the loop and returns its
// handler, or nil if it is refused.
func (s *Server) loopHandler(lc *transport.LoopConn) transport.LoopHandler {
	c := s.admit(lc)
	if c == nil {
		return nil
	}
	c.lc = lc
	c.lp = &loopState{c: c}
	c.lp.p.Reset(s.cfg.MaxMessage)
	c.lp.p.SetMode(msg.Encoding(c.encoding.Load()).FrameMode())
	c.lp.p.OnKeepalive = c.frameDone
	return c.lp
}

// WebSocketHandler returns the HTTP handler that upgrades requests to
// WebSocket connections and serves them: on the event loop when
// Config.Engine is EngineEventLoop (requests over TLS excepted), else
// transport.WebSocketHandler with ServeConn.
func (s *Server) WebSocketHandler(cfg transport.WebSocketConfig) http.Handler {
	if s.cfg.Engine == EngineEventLoop {
		e, err := s.loopEngine()
		if err == nil {
			s.Start()
			return transport.LoopWebSocketHandler(cfg, e.loop, s.loopHandler, s.ServeConn)
		}
		s.log.Error("event loop unavailable; serving WebSockets on goroutines", "err", err)
	}
	return transport.WebSocketHandler(cfg, s.ServeConn)
}

// OnOpen runs the start of the connection: the banner and, for benchmark
// servers, the automatic login; then whatever arrived meanwhile.
func (ls *loopState) OnOpen() {
	c := ls.c
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.finished {
		return
	}
	ls.opened = true
	if c.srv.cfg.Banner != "" {
		c.send(&msg.Notice{Text: c.srv.cfg.Banner}, 0)
	}
	if c.srv.cfg.AutoLogin {
		ls.joined = c.login(Identity{Name: c.srv.guestName(c.id), Guest: true})
	}
	ls.feed(nil)
}

// OnData takes one read's bytes.
func (ls *loopState) OnData(data []byte) {
	c := ls.c
	now := time.Now().UnixNano()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	c.lastReadAt = now
	c.srv.bytesIn.Add(uint64(len(data)))
	c.bytesIn.Add(uint64(len(data)))
	if ls.stopped {
		return
	}
	if !ls.opened || ls.authing || ls.waiting {
		ls.p.Hold(data)
		if ls.p.Buffered() > maxBacklog(c.srv.cfg.MaxMessage) {
			ls.stopped = true
			ls.p.Release()
			c.flooded()
		}
		return
	}
	ls.feed(data)
}

// flooded cuts off a client that kept sending while its input was paused.
func (c *conn) flooded() {
	c.send(&msg.Err{Code: "too_long", Text: "input arrives faster than the server takes it; closing"}, 0)
	c.strike("too_long")
	c.bye("too_long", ErrTooLong)
}

// feed parses data after what is held; the caller holds ls.mu.
func (ls *loopState) feed(data []byte) {
	c := ls.c
	if ls.stopped || ls.authing || ls.waiting || !ls.opened {
		ls.p.Hold(data)
		return
	}
	dec := c.srv.eng.decoders.Get().(*msg.Codec)
	dec.SetEncoding(msg.Encoding(c.encoding.Load()))
	err := ls.p.Feed(data, func(m []byte) error {
		if ls.stopped || ls.authing {
			return errPause
		}
		if c.inboxFull() {
			// Tell the tick to resume this connection, then look again:
			// it may have drained the inbox in between.
			ls.full.Store(true)
			if c.inboxFull() {
				ls.waiting = true
				return errPause
			}
			ls.full.Store(false)
		}
		c.frameDone()
		if !c.handle(dec, ls, m, &ls.joined) {
			ls.stopped = true
		}
		return nil
	})
	c.srv.eng.decoders.Put(dec)
	switch {
	case err == nil || err == errPause:
	default:
		ls.stopped = true
		ls.p.Release()
		c.readFailed(err)
		return
	}
	if ls.stopped {
		ls.p.Release()
		return
	}
	if ls.p.Buffered() > 0 && !ls.waiting && !ls.authing {
		if c.partialSince.Load() == 0 {
			c.partialSince.Store(c.lastReadAt)
			c.wakeBy(c.lastReadAt + int64(c.srv.cfg.FrameTimeout))
		}
	} else {
		c.partialSince.Store(0)
	}
}

// SetMode switches the input framing (USE).
func (ls *loopState) SetMode(m frame.Mode) { ls.p.SetMode(m) }

// resume continues a connection whose input waited for room in its inbox;
// the tick starts it after draining the inbox.
func (ls *loopState) resume() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.full.Store(false)
	if !ls.waiting {
		return
	}
	ls.waiting = false
	ls.feed(nil)
}

func (c *conn) inboxFull() bool {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	return len(c.inbox) >= c.srv.cfg.MaxInbound
}

// authAsync checks an AUTH with the Authenticator on a goroutine of its own
// while the connection's input waits. The caller holds ls.mu.
func (ls *loopState) authAsync(m *msg.Auth, rid uint32) {
	ls.authing = true
	c := ls.c
	go func() {
		ident, err := c.authenticate(m)
		ls.mu.Lock()
		defer ls.mu.Unlock()
		ls.authing = false
		if ls.stopped || ls.finished {
			return
		}
		c.authDone(m, rid, ident, err, &ls.joined)
		ls.feed(nil)
	}()
}

// OnClose ends the connection once its socket has closed.
func (ls *loopState) OnClose(err error) {
	c := ls.c
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.finished {
		return
	}
	ls.finished, ls.stopped = true, true
	ls.p.Release()
	if errors.Is(err, transport.ErrWebSocketTooBig) {
		err = fmt.Errorf("read: %w", err)
	}
	c.readFailed(err)
	c.close(ErrClosed) // readFailed may have queued a BYE the socket will never take
	if ls.joined {
		c.post(event{kind: evLeave, reason: c.reason})
	} else {
		c.srv.forget(c)
	}
	c.srv.connWG.Done()
}

// flushLoop writes c's queued output on a writer worker until the queue is
// empty, then lets c be scheduled again. It returns the worker's buffer.
func (c *conn) flushLoop(enc *msg.Codec, buf []byte) []byte {
	lc := c.lc
	room := 0
	if lc.WebSocket() {
		room = transport.WebSocketHeaderRoom
	}
	for {
		c.outMu.Lock()
		if len(c.out) == 0 || c.dead {
			c.writing = false
			c.outMu.Unlock()
			return buf
		}
		if wait := c.budgetWait(); wait > 0 {
			// In debt: the output waits (counting against MaxOutbound)
			// and the connection is scheduled again when it is paid.
			c.outMu.Unlock()
			time.AfterFunc(wait, func() { c.srv.eng.schedule(c) })
			return buf
		}
		batch := c.out
		c.out, c.spare = c.spare[:0], nil
		c.outMu.Unlock()

		enc.SetEncoding(c.outEnc)
		if cap(buf) < room {
			buf = make([]byte, room, 4096)
		}
		buf = buf[:room]
		b, ok := c.encodeBatch(enc, batch, buf, room)
		if !ok {
			return b.buf
		}
		buf, closeAfter, keepalive := b.buf, b.closeAfter, b.keepalive
		if len(buf)-room > c.srv.cfg.MaxOutboundBytes {
			c.close(ErrSlowConsumer)
			return buf[:0]
		}
		if len(buf) == room && keepalive && closeAfter == nil {
			buf = append(buf, frame.Keepalive(enc.Encoding().FrameMode())...)
		}
		if c.srv.cfg.MaxOutboundBytesPerSec > 0 {
			c.budgetTokens -= float64(len(buf) - room)
		}
		if !c.loopWrite(buf, room) {
			return buf[:0]
		}
		if closeAfter != nil {
			c.close(closeAfter)
			return buf[:0]
		}
		if cap(buf) > 64<<10 {
			buf = nil
		}
		c.outMu.Lock()
		if c.spare == nil {
			c.spare = batch[:0]
		}
		c.outMu.Unlock()
	}
}

// loopWrite writes buf[room:] as one message; false means the connection
// is now closed. It cuts off a client whose unwritten output passes
// MaxOutboundBytes, or whose socket has taken nothing for WriteTimeout
// while output waited.
func (c *conn) loopWrite(buf []byte, room int) bool {
	n := len(buf) - room
	if n <= 0 {
		return true
	}
	lc := c.lc
	if err := lc.WriteMessage(buf, room); err != nil {
		c.close(fmt.Errorf("write: %w", err))
		return false
	}
	c.srv.bytesOut.Add(uint64(n))
	c.bytesOut.Add(uint64(n))
	now := time.Now()
	c.lastWrite.Store(now.UnixNano())
	pending := lc.Pending()
	switch {
	case pending > c.srv.cfg.MaxOutboundBytes:
		c.close(ErrSlowConsumer)
		return false
	case pending <= 0:
		c.stallSince = 0
	default:
		if w := lc.Written(); w != c.stallWritten || c.stallSince == 0 {
			c.stallWritten, c.stallSince = w, now.UnixNano()
		} else if now.UnixNano()-c.stallSince > int64(c.srv.cfg.WriteTimeout) {
			c.close(ErrSlowConsumer)
			return false
		}
	}
	return true
}

// budgetWait brings the outbound byte budget up to date and returns how
// long the next write must wait for its debt to be paid (0: write now).
func (c *conn) budgetWait() time.Duration {
	limit := float64(c.srv.cfg.MaxOutboundBytesPerSec)
	if limit <= 0 {
		return 0
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
		return max(time.Millisecond, time.Duration(-c.budgetTokens/limit*float64(time.Second)))
	}
	return 0
}

// needsAuthenticator reports whether checking m calls the Authenticator
// (which may take a while), rather than being answered at once.
func (c *conn) needsAuthenticator(m *msg.Auth) bool {
	if strings.EqualFold(m.User, "guest") && m.Secret == "" {
		return false
	}
	return c.srv.cfg.Authenticator != nil && m.Secret != ""
}
