package client

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
)

// The connection's reader and writer goroutines.

// write writes buf to l with the write deadline; false means l has
// ended.
func (c *Client) write(l *link, buf []byte) bool {
	if len(buf) == 0 {
		return true
	}
	if err := l.conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout)); err != nil {
		l.writeFailed(fmt.Errorf("client: write: %w", err))
		return false
	}
	n, err := l.conn.Write(buf)
	c.bytesOut.Add(uint64(n))
	if err != nil {
		// The reader sees the connection closed and takes it from here.
		l.writeFailed(fmt.Errorf("client: write: %w", err))
		return false
	}
	return true
}

// writeLoop runs on l's writer goroutine: it writes what Send encoded, one
// write per flush, sends a PING every PingInterval and a keepalive when
// nothing was written for Keepalive. It ends with l, or when l is no
// longer the current connection.
func (c *Client) writeLoop(l *link) {
	defer c.wg.Done()
	var kaC, pingC <-chan time.Time
	var ka *time.Timer
	if c.opts.Keepalive > 0 {
		ka = time.NewTimer(c.opts.Keepalive)
		defer ka.Stop()
		kaC = ka.C
	}
	if c.opts.PingInterval > 0 {
		t := time.NewTicker(c.opts.PingInterval)
		defer t.Stop()
		pingC = t.C
		c.ping()
	}
	mt, _ := l.conn.(messageTyper)
	var buf []byte
	for {
		idle := false
		select {
		case <-c.done:
			return
		case <-l.done:
			return
		case <-c.wake:
		case <-kaC:
			idle = true
		case <-pingC:
			c.ping()
		}
		c.outMu.Lock()
		if c.cur != l {
			c.outMu.Unlock()
			signal(c.wake) // the wake may have been meant for the new connection's writer
			return
		}
		buf, c.out = c.out, buf[:0]
		c.outMsgs = 0
		split, binary := c.switchAt, c.switchBinary
		c.switchAt = -1
		mode := c.enc.Encoding().FrameMode()
		c.outMu.Unlock()
		if len(buf) == 0 {
			if !idle {
				continue
			}
			buf = append(buf, frame.Keepalive(mode)...)
		}
		if split >= 0 && mt != nil {
			// A message transport carries one framing per message: what
			// precedes the switch goes in its own message.
			if !c.write(l, buf[:split]) {
				return
			}
			mt.SetBinary(binary)
			buf = buf[split:]
		}
		if !c.write(l, buf) {
			return
		}
		if ka != nil {
			ka.Reset(c.opts.Keepalive)
		}
		if cap(buf) > maxFlushBuffer {
			buf = nil
		}
	}
}

// ping queues a PING whose token is the send time.
func (c *Client) ping() {
	token := rttTokenPrefix + strconv.FormatInt(int64(time.Since(c.epoch)), 10)
	if _, err := c.enqueue(&msg.Ping{Token: token}, 0, false); err != nil && !c.isDone() && !errors.Is(err, ErrDisconnected) {
		c.log.Debug("ping not sent", "err", err)
	}
}

// pong records an RTT sample from one of the client's own PONGs.
func (c *Client) pong(m *msg.Pong) bool {
	s, ok := strings.CutPrefix(m.Token, rttTokenPrefix)
	if !ok {
		return false
	}
	sent, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return false
	}
	sample := int64(time.Since(c.epoch)) - sent
	if sample < 0 {
		return true
	}
	c.lastRTT.Store(sample)
	if old := c.srtt.Load(); old == 0 {
		c.srtt.Store(sample)
	} else {
		c.srtt.Store(old + (sample-old)/rttSmoothing)
	}
	return true
}

// deadlineReader refreshes the read deadline of l before every read and
// counts bytes in.
type deadlineReader struct {
	c *Client
	l *link
}

// Read reads from the connection with a fresh read deadline.
func (r deadlineReader) Read(p []byte) (int, error) {
	c := r.c
	if d := c.readTimeout(); d > 0 {
		if err := r.l.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
			return 0, err
		}
	}
	n, err := r.l.conn.Read(p)
	c.bytesIn.Add(uint64(n))
	return n, err
}

// readLoop runs on l's reader goroutine: it decodes, answers what the
// client handles itself (USING, PONG, WELCOME, SEAT, LIMITS, MOVED, BYE,
// request answers, the answer to RESUME) and queues the rest for Poll. When l ends it hands
// over to linkDown, which resumes or ends the client.
func (c *Client) readLoop(l *link, initial msg.Encoding) {
	defer c.wg.Done()
	dec := c.reg.NewCodec(initial)
	fr := frame.NewReader(deadlineReader{c, l}, c.opts.MaxReceive)
	fr.SetMode(initial.FrameMode())
	var bye *ByeError
	var lastErr *msg.Err // the latest ERR without a request id, for BYE's detail
	for {
		data, err := fr.Next()
		if err != nil {
			rerr, resumable := c.readError(err, bye, l)
			l.end(rerr, resumable)
			// A link still resuming belongs to its reconnect attempt.
			if l.phase.Load() == phaseLive {
				c.linkDown(l)
			}
			return
		}
		env, err := dec.Decode(data, msg.ToClient)
		if err != nil {
			c.undecodable.Add(1)
			c.log.Warn("undecodable message from the server (do the registries match?)", "err", err)
			continue
		}
		c.msgsIn.Add(1)
		switch m := env.Msg.(type) {
		case *msg.Using:
			e, err := msg.ParseEncoding(m.Encoding)
			if err != nil {
				c.fail(fmt.Errorf("client: server switched to %q: %w", m.Encoding, err))
				return
			}
			// Everything after USING is in the new encoding.
			dec.SetEncoding(e)
			fr.SetMode(e.FrameMode())
			if env.RID != 0 {
				c.resolve(env)
			}
			continue
		case *msg.Pong:
			if c.pong(m) {
				continue
			}
		case *msg.Moved:
			mv, err := c.moveTo(m)
			if err != nil {
				// Nothing is dialled: the connection counts as lost.
				c.log.Warn("refusing to follow MOVED", "err", err.Error())
			}
			if l.phase.Load() == phaseResuming {
				if err == nil {
					err = &redirected{to: mv}
				}
				l.answer(err)
			} else if mv != nil {
				l.moved = mv
			}
			continue
		case *msg.Bye:
			bye = &ByeError{Reason: m.Reason}
			if lastErr != nil {
				bye.Detail = lastErr.Text
			}
			continue
		case *msg.Seat:
			if m.HoldMS > 0 && m.Token != "" {
				c.seat.Store(&seatInfo{token: m.Token, hold: time.Duration(m.HoldMS) * time.Millisecond})
			}
			continue
		case *msg.Limits:
			c.limits.Store(&Limits{TickRate: int(m.TickRate), MaxMessage: int(m.MaxMessage)})
			if n := int64(m.MaxMessage); n >= frame.MinMessageLimit && n <= frame.MaxMessageLimit {
				c.maxMsg.Store(n)
			}
			continue
		case *msg.Welcome:
			if l.phase.Load() == phaseResuming {
				c.resumed(l, m)
				continue
			}
			c.id.Store(m.ID)
			name := m.Name
			c.name.Store(&name)
			if c.deliverLogin(env) {
				continue
			}
		case *msg.Err:
			if l.phase.Load() == phaseResuming && (env.RID == l.resumeRID || m.Code == "resume") {
				l.refusedResume(m)
				continue
			}
			if env.RID == 0 {
				lastErr = m
			}
		}
		if env.RID != 0 && c.resolve(env) {
			continue
		}
		if !c.post(env) {
			return
		}
	}
}

// readError turns the reader's final error into why l ended, and whether
// the server holds the seat after it: not after a BYE that releases it
// (quit, a kick, banned, shutdown, too_long, resumed, seat_expired, ...),
// nor after a message too long for MaxReceive, which a new connection
// would meet again.
func (c *Client) readError(err error, bye *ByeError, l *link) (error, bool) {
	switch {
	case c.isDone():
		return c.err, false
	case l.ended():
		return l.err, l.resumable // Sever
	case c.quitting.Load() && (bye == nil || bye.Reason == "quit"):
		return ErrClosed, false
	case bye != nil:
		// After BYE moved the seat lives on another server: follow the
		// MOVED, or, if it was unusable, reconnect as after a drop (the
		// server the client reaches sends it on).
		return bye, bye.Reason == "timeout" || bye.Reason == "slow_consumer" || bye.Reason == "moved"
	case l.werr.Load() != nil:
		return *l.werr.Load(), true
	case errors.Is(err, frame.ErrTooLong):
		return fmt.Errorf("client: server sent a message longer than MaxReceive (%d bytes): %w", c.opts.MaxReceive, err), false
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("client: server silent for %v: %w", c.readTimeout(), err), true
	case errors.Is(err, io.EOF):
		return fmt.Errorf("client: connection closed by the server: %w", err), true
	}
	return fmt.Errorf("client: read: %w", err), true
}

// deliverLogin hands WELCOME to a waiting Login.
func (c *Client) deliverLogin(env msg.Envelope) bool {
	c.pmu.Lock()
	ch := c.loginWait
	c.loginWait = nil
	c.pmu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case ch <- env:
	default:
	}
	return true
}

// post queues env for Poll, waiting while the queue is full.
func (c *Client) post(env msg.Envelope) bool {
	for {
		c.inMu.Lock()
		if len(c.inbox) < c.opts.InboundQueue {
			c.inbox = append(c.inbox, env)
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
