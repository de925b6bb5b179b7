// Package relay is the core of the hand-written reference room-relay server
// used as a yardstick for tickwire (see bench/README.md). It speaks the
// room-relay workload protocol over any net.Conn using only the standard
// library: one reader goroutine per connection, a single tick loop that
// builds each connection's output for the tick, and one writer goroutine per
// connection, so that each connection gets at most one Write per tick (plus
// immediate writes for JOINED, PONG and ERR replies).
package relay

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// MaxLine is the longest accepted input line, including its "\n".
	MaxLine = 4096
	// MaxPending is how many bytes of output may queue for one connection
	// before it is cut off as a slow consumer.
	MaxPending = 1 << 20
	// WriteTimeout bounds a single Write to a connection.
	WriteTimeout = 5 * time.Second
	// IdleTimeout closes connections that send nothing (not even a blank
	// keepalive line) for this long.
	IdleTimeout = 90 * time.Second
)

// Server is a room relay. The zero value is not usable; call New.
type Server struct {
	tick time.Duration
	log  *slog.Logger

	startOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
	nextID    atomic.Uint64

	mu     sync.Mutex
	closed bool
	lns    map[net.Listener]struct{}
	conns  map[*conn]struct{}
	rooms  map[string]*room
}

type room struct {
	name    string
	mu      sync.Mutex
	members []*conn // guarded by mu
	dirty   []*conn // members that moved since the last tick; guarded by mu
}

type conn struct {
	s  *Server
	nc net.Conn
	id uint64

	room *room // owned by the reader goroutine

	// Guarded by room.mu of the room the connection is in.
	x, y  int64
	t     int64
	dirty bool

	outMu  sync.Mutex
	out    []byte // pending output, guarded by outMu
	closed bool   // guarded by outMu
	kick   chan struct{}
	done   chan struct{}
}

// New returns a server ticking every tick (which must be positive). A nil
// logger discards logs.
func New(tick time.Duration, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		tick:  tick,
		log:   logger,
		stop:  make(chan struct{}),
		lns:   make(map[net.Listener]struct{}),
		conns: make(map[*conn]struct{}),
		rooms: make(map[string]*room),
	}
}

// Serve accepts connections on ln until Close is called (then it returns
// nil) or Accept fails permanently.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.lns[ln] = struct{}{}
	s.startLocked()
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) { // e.g. EMFILE
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		go s.ServeConn(nc)
	}
}

// ServeConn serves one connection and blocks until it ends. It closes nc.
func (s *Server) ServeConn(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c := &conn{s: s, nc: nc, id: s.nextID.Add(1), kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.startLocked()
	s.mu.Unlock()
	defer s.wg.Done()
	go c.writeLoop()
	c.readLoop()
	c.finish()
	s.leave(c)
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops the listeners, the tick loop and all connections, and waits
// for the connection goroutines to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	return nil
}

// startLocked starts the tick loop once; s.mu must be held and s.closed
// false.
func (s *Server) startLocked() {
	s.startOnce.Do(func() {
		s.wg.Add(1)
		go s.tickLoop()
	})
}

func (s *Server) tickLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.tick)
	defer t.Stop()
	var rooms []*room
	var lines []byte
	var spans []span
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		rooms, lines, spans = s.flushAll(rooms, lines, spans)
	}
}

// flushAll runs one tick over every room; the slices are reusable scratch.
func (s *Server) flushAll(rooms []*room, lines []byte, spans []span) ([]*room, []byte, []span) {
	s.mu.Lock()
	rooms = rooms[:0]
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for i, r := range rooms {
		lines, spans = s.flushRoom(r, lines[:0], spans[:0])
		rooms[i] = nil
	}
	return rooms[:0], lines, spans
}

type span struct {
	c          *conn
	start, end int
}

// flushRoom sends each member the latest positions of the other members
// that moved since the previous tick.
func (s *Server) flushRoom(r *room, lines []byte, spans []span) ([]byte, []span) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dirty) == 0 {
		return lines, spans
	}
	for i, m := range r.dirty {
		start := len(lines)
		lines = append(lines, "POS "...)
		lines = strconv.AppendUint(lines, m.id, 10)
		lines = append(lines, ' ')
		lines = strconv.AppendInt(lines, m.x, 10)
		lines = append(lines, ' ')
		lines = strconv.AppendInt(lines, m.y, 10)
		lines = append(lines, ' ')
		lines = strconv.AppendInt(lines, m.t, 10)
		lines = append(lines, '\n')
		spans = append(spans, span{m, start, len(lines)})
		m.dirty = false
		r.dirty[i] = nil
	}
	r.dirty = r.dirty[:0]
	for _, m := range r.members {
		if len(spans) == 1 && spans[0].c == m {
			continue
		}
		m.outMu.Lock()
		if m.closed {
			m.outMu.Unlock()
			continue
		}
		for _, sp := range spans {
			if sp.c != m {
				m.out = append(m.out, lines[sp.start:sp.end]...)
			}
		}
		over := len(m.out) > MaxPending
		m.outMu.Unlock()
		m.wake(over)
	}
	for i := range spans {
		spans[i].c = nil
	}
	return lines, spans
}

// join moves c into the named room, leaving its previous room if any.
func (s *Server) join(c *conn, name string) {
	if c.room != nil && c.room.name == name {
		return
	}
	s.leave(c)
	s.mu.Lock()
	r := s.rooms[name]
	if r == nil {
		r = &room{name: name}
		s.rooms[name] = r
	}
	r.mu.Lock()
	r.members = append(r.members, c)
	c.dirty = false
	r.mu.Unlock()
	s.mu.Unlock()
	c.room = r
}

func (s *Server) leave(c *conn) {
	r := c.room
	if r == nil {
		return
	}
	c.room = nil
	s.mu.Lock()
	r.mu.Lock()
	r.members = remove(r.members, c)
	if c.dirty {
		r.dirty = remove(r.dirty, c)
		c.dirty = false
	}
	if len(r.members) == 0 && s.rooms[r.name] == r {
		delete(s.rooms, r.name)
	}
	r.mu.Unlock()
	s.mu.Unlock()
}

func remove(list []*conn, c *conn) []*conn {
	for i, m := range list {
		if m == c {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			return list[:last]
		}
	}
	return list
}

func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, MaxLine)
	var deadlineSet time.Time
	var reply []byte
	for {
		if now := time.Now(); now.Sub(deadlineSet) > IdleTimeout/8 {
			deadlineSet = now
			_ = c.nc.SetReadDeadline(now.Add(IdleTimeout))
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.send(append(reply[:0], "ERR line_too_long line exceeds 4096 bytes\n"...))
			return
		}
		if err != nil {
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		reply = c.handle(line, reply[:0])
		if len(reply) > 0 {
			c.send(reply)
		}
	}
}

// handle executes one input line and appends any direct reply to reply.
func (c *conn) handle(line, reply []byte) []byte {
	if len(line) == 0 {
		return reply // keepalive
	}
	cmd, rest, _ := bytes.Cut(line, []byte{' '})
	switch string(cmd) {
	case "MOVE":
		if c.room == nil {
			return append(reply, "ERR not_joined JOIN a room before MOVE\n"...)
		}
		xs, rest, _ := bytes.Cut(rest, []byte{' '})
		ys, ts, _ := bytes.Cut(rest, []byte{' '})
		x, ok1 := parseInt(xs, 32)
		y, ok2 := parseInt(ys, 32)
		t, ok3 := parseInt(ts, 64)
		if !ok1 || !ok2 || !ok3 {
			return append(reply, "ERR bad_request usage: MOVE <x> <y> <t>\n"...)
		}
		r := c.room
		r.mu.Lock()
		c.x, c.y, c.t = x, y, t
		if !c.dirty {
			c.dirty = true
			r.dirty = append(r.dirty, c)
		}
		r.mu.Unlock()
	case "JOIN":
		if !validRoom(rest) {
			return append(reply, "ERR bad_room room must be 1-32 chars of [A-Za-z0-9_-]\n"...)
		}
		if c.room == nil || c.room.name != string(rest) {
			c.s.join(c, string(rest))
		}
		reply = append(reply, "JOINED "...)
		reply = append(reply, rest...)
		reply = append(reply, ' ')
		reply = strconv.AppendUint(reply, c.id, 10)
		reply = append(reply, '\n')
	case "PING":
		reply = append(reply, "PONG"...)
		if len(line) > 4 {
			reply = append(reply, line[4:]...)
		}
		reply = append(reply, '\n')
	default:
		reply = append(reply, "ERR unknown_command unknown command "...)
		reply = strconv.AppendQuote(reply, string(cmd[:min(len(cmd), 32)]))
		reply = append(reply, '\n')
	}
	return reply
}

// parseInt parses a signed decimal that fits in bits bits, without
// allocating.
func parseInt(b []byte, bits uint) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		u = u*10 + uint64(ch-'0')
	}
	limit := uint64(1) << (bits - 1)
	if neg && u <= limit {
		return -int64(u), true
	}
	if !neg && u < limit {
		return int64(u), true
	}
	return 0, false
}

func validRoom(b []byte) bool {
	if len(b) == 0 || len(b) > 32 {
		return false
	}
	for _, ch := range b {
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// send queues b for the writer goroutine.
func (c *conn) send(b []byte) {
	c.outMu.Lock()
	if c.closed {
		c.outMu.Unlock()
		return
	}
	c.out = append(c.out, b...)
	over := len(c.out) > MaxPending
	c.outMu.Unlock()
	c.wake(over)
}

// wake signals the writer, or cuts the connection off as a slow consumer if
// its queued output is over MaxPending.
func (c *conn) wake(over bool) {
	if over {
		c.s.log.Info("slow consumer cut off", "id", c.id, "remote", c.nc.RemoteAddr())
		c.close()
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *conn) writeLoop() {
	var buf []byte
	for {
		finished := false
		select {
		case <-c.kick:
		case <-c.done:
			finished = true
		}
		c.outMu.Lock()
		buf, c.out = c.out, buf[:0]
		c.outMu.Unlock()
		if len(buf) > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(WriteTimeout))
			if _, err := c.nc.Write(buf); err != nil {
				finished = true
			}
		}
		if finished {
			c.close()
			return
		}
	}
}

// finish stops accepting output; the writer flushes what is queued and then
// closes the connection.
func (c *conn) finish() {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
}

// close closes the connection at once, dropping queued output.
func (c *conn) close() {
	c.outMu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	c.out = nil
	c.outMu.Unlock()
	c.nc.Close()
}
