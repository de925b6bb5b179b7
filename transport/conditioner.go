package transport

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrLinkDown is what Read and Write return on a conditioned connection
// torn down by an outage (LinkConfig.Outage): the network it ran on went
// away, and the peer must dial again.
var ErrLinkDown = errors.New("transport: link outage: connection reset")

// Limits of a conditioned link.
const (
	// LinkQueueLimit is how many bytes one direction of a conditioned
	// connection holds in flight (written but not yet delivered). When it
	// is full, Write blocks and the inbound side stops reading.
	LinkQueueLimit = 256 << 10
	// LinkLinger is the longest a closed connection keeps delivering the
	// bytes written before Close; whatever is still queued then is dropped
	// and the inner connection closed. It is measured on the link's Clock
	// while segments wait to be due, and on the wall clock (as the inner
	// write deadline) while a delivery is stuck because the peer does not
	// read.
	LinkLinger = 5 * time.Second
	// linkSegment is the largest piece a write on a stream connection is
	// split into (a typical TCP segment). Each piece is scheduled on its
	// own, so a large write trickles out at the bandwidth cap instead of
	// arriving at once. Message-oriented connections (WebSocket) are never
	// split: each Write stays one message.
	linkSegment = 1460
	// linkReadChunk is the buffer the inbound pump reads the inner
	// connection into.
	linkReadChunk = 16 << 10
)

// LinkConfig describes a simulated network path. The zero value conditions
// nothing.
type LinkConfig struct {
	// Latency is the one-way delay added in each direction. Negative counts
	// as zero.
	Latency time.Duration
	// Jitter varies the delay of every segment by a uniform sample of
	// [-Jitter, +Jitter]; the delay never goes below zero and bytes are
	// never reordered. Negative counts as zero.
	Jitter time.Duration
	// Bandwidth caps each direction, in bytes per second; 0 (or negative)
	// means unlimited.
	Bandwidth int
	// Seed seeds the jitter. 0 picks a random seed; any other value makes
	// the jitter sequence reproducible (the nth connection accepted by a
	// conditioned listener gets its own reproducible sequence). Combine it
	// with a ManualClock for fully deterministic schedules.
	Seed int64
	// Outage and OutageEvery make the network go away now and then, as
	// when a phone leaves Wi-Fi for 4G: the old connection dies and the
	// client must dial again. Every OutageEvery, counted from the link's
	// start (when Condition wrapped the listener, or ConditionConn the
	// connection), the link goes dark for Outage:
	//
	//   - nothing is delivered in either direction; bytes written
	//     meanwhile, or in flight when it began, are lost;
	//   - a conditioned listener refuses new connections: it closes each
	//     one as soon as it is accepted, so the dialer sees it drop;
	//   - when the outage ends, every connection that was open when it
	//     began is torn down: its Read and Write fail with ErrLinkDown and
	//     the inner connection is closed, so the peer sees it drop too.
	//     Connections made after the outage work normally.
	//
	// Both must be positive for outages to happen; an Outage of
	// OutageEvery or longer is cut to half of OutageEvery.
	Outage      time.Duration
	OutageEvery time.Duration
}

// IsZero reports whether cfg conditions nothing (no latency, jitter,
// bandwidth cap or outages).
func (cfg LinkConfig) IsZero() bool {
	return cfg.Latency <= 0 && cfg.Jitter <= 0 && cfg.Bandwidth <= 0 && !cfg.hasOutages()
}

func (cfg LinkConfig) hasOutages() bool { return cfg.Outage > 0 && cfg.OutageEvery > 0 }

// outages is the outage schedule of a link: outage k (k >= 1) lasts from
// start + k*every for length.
type outages struct {
	start         time.Time
	every, length time.Duration
}

// newOutages returns cfg's schedule from start, or nil when it has none.
func newOutages(cfg LinkConfig, start time.Time) *outages {
	if !cfg.hasOutages() {
		return nil
	}
	length := cfg.Outage
	if length >= cfg.OutageEvery {
		length = cfg.OutageEvery / 2
	}
	return &outages{start: start, every: cfg.OutageEvery, length: length}
}

// next returns the outage in progress at t, or else the next one.
func (o *outages) next(t time.Time) (from, to time.Time) {
	k := int64(1)
	if off := t.Sub(o.start); off >= o.every {
		k = int64(off / o.every)
		if off-time.Duration(k)*o.every >= o.length {
			k++
		}
	}
	from = o.start.Add(time.Duration(k) * o.every)
	return from, from.Add(o.length)
}

// dark reports whether t falls in an outage.
func (o *outages) dark(t time.Time) bool {
	from, to := o.next(t)
	return !t.Before(from) && t.Before(to)
}

// Clock is the time source of a conditioned link: the wall clock by
// default, a ManualClock in deterministic tests.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

// Now returns time.Now().
func (systemClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock is the wall clock, the default Clock of Condition and
// ConditionConn.
var SystemClock Clock = systemClock{}

// ManualClock is a Clock that moves only when Advance is called, for
// deterministic tests of conditioned links. It is safe for concurrent use.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []manualWaiter
}

type manualWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives once Advance has moved the clock d
// forward (at once when d <= 0).
func (c *ManualClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, manualWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// At returns a channel that receives once Advance has moved the clock to t
// (at once when it is there). Waiting for a time rather than a duration
// cannot miss an Advance that lands between reading Now and asking.
func (c *ManualClock) At(t time.Time) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, manualWaiter{at: t, ch: ch})
	return ch
}

// atClock is a Clock that can wait for a time (ManualClock).
type atClock interface {
	At(time.Time) <-chan time.Time
}

// until returns a channel that receives once clk reaches t: through At on a
// clock that has it (ManualClock), else After(t - Now).
func until(clk Clock, t time.Time) <-chan time.Time {
	if a, ok := clk.(atClock); ok {
		return a.At(t)
	}
	return clk.After(t.Sub(clk.Now()))
}

// Advance moves the clock forward by d and fires every After that is due.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
		} else {
			w.ch <- c.now
		}
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
}

// Waiters returns how many After channels have not fired yet. Tests use it
// to wait until a goroutine is blocked on the clock before advancing it.
// Abandoned waits count until they fire.
func (c *ManualClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// Condition returns a listener whose accepted connections are conditioned
// by cfg as ConditionConn describes, to develop and test a game under
// realistic lag. It returns ln itself when cfg conditions nothing.
//
// Wrap only the server's listener: each accepted connection delays both
// directions, so every round trip gets 2×Latency, as on a real path with a
// one-way delay of Latency, for any client (nc, browsers, the Go client):
//
//	ln = transport.Condition(ln, transport.LinkConfig{
//		Latency:   150 * time.Millisecond,
//		Jitter:    20 * time.Millisecond,
//		Bandwidth: 64 << 10,
//	})
func Condition(ln net.Listener, cfg LinkConfig) net.Listener {
	return ConditionWithClock(ln, cfg, nil)
}

// ConditionWithClock is Condition with an explicit Clock (nil means
// SystemClock). The outage schedule, if any, starts now on clk.
func ConditionWithClock(ln net.Listener, cfg LinkConfig, clk Clock) net.Listener {
	if cfg.IsZero() {
		return ln
	}
	if clk == nil {
		clk = SystemClock
	}
	return &linkListener{Listener: ln, cfg: cfg, clk: clk, out: newOutages(cfg, clk.Now())}
}

type linkListener struct {
	net.Listener
	cfg LinkConfig
	clk Clock
	out *outages // nil: no outages
	n   atomic.Uint64
}

// Accept returns the next connection, conditioned. During an outage it
// closes every connection it accepts.
func (l *linkListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.out != nil && l.out.dark(l.clk.Now()) {
			c.Close()
			continue
		}
		return newLinkConn(c, l.cfg, l.clk, l.n.Add(1), l.out), nil
	}
}

// ConditionConn returns c with both directions delayed and throttled as
// cfg describes, or c itself when cfg conditions nothing.
//
// The returned connection conditions BOTH directions: bytes written to it
// reach the peer Latency (±Jitter) later, and bytes the peer sends become
// readable Latency (±Jitter) after they arrive. Condition one end of a
// connection only, unless the delays should add up.
//
// Within each direction the link behaves like one TCP stream:
//
//   - Bandwidth serialises the bytes: a direction is busy for n/Bandwidth
//     seconds per n bytes, and later bytes queue behind earlier ones.
//   - Each segment (a write is split into pieces of a typical TCP segment
//     size) is then delayed by Latency plus a uniform sample of
//     [-Jitter, +Jitter], never below zero, and never delivered before the
//     segment sent ahead of it: bytes are never reordered. Under steady
//     traffic this clamp skews the effective delay towards Latency+Jitter.
//   - Each direction holds at most LinkQueueLimit bytes in flight. When it
//     is full, Write blocks (as on a full socket send buffer) until bytes
//     are delivered, the write deadline passes or the connection closes,
//     and the inbound direction stops reading c, so the peer is pushed
//     back by TCP flow control. Nothing is held without bound.
//
// Deadlines apply to the returned connection's own Read and Write: the read
// deadline bounds the wait for bytes that are due, the write deadline the
// wait for room in the queue, so a write deadline still cuts off a writer
// whose peer stopped reading. They are not passed to c, which the link's
// two goroutines read and write.
//
// Close works like closing a socket: Read and Write fail with net.ErrClosed
// at once, bytes written before Close are still delivered at their due time
// (for at most LinkLinger), then c is closed and the link's goroutines end.
//
// When c is a WebSocketConn, the returned connection also forwards
// SetBinary (applied in order with the delayed writes) and
// InitialEncoding, and never splits a Write, so each Write stays one
// WebSocket message.
func ConditionConn(c net.Conn, cfg LinkConfig) net.Conn {
	return ConditionConnWithClock(c, cfg, nil)
}

// ConditionConnWithClock is ConditionConn with an explicit Clock (nil means
// SystemClock). Deadlines set on the returned connection are compared with
// this clock.
func ConditionConnWithClock(c net.Conn, cfg LinkConfig, clk Clock) net.Conn {
	if cfg.IsZero() {
		return c
	}
	if clk == nil {
		clk = SystemClock
	}
	return newLinkConn(c, cfg, clk, 0, newOutages(cfg, clk.Now()))
}

// binarySetter and initialEncoder are the optional interfaces of
// message-oriented connections (WebSocketConn) that the server uses.
type binarySetter interface{ SetBinary(bool) }
type initialEncoder interface{ InitialEncoding() string }

// segment is one scheduled piece of a direction's byte stream.
type segment struct {
	data   []byte
	due    time.Time
	binary bool  // outbound: the message type to send it as
	err    error // inbound: the inner read error, after all data
}

// lane is one direction of a link: a FIFO of scheduled segments.
type lane struct {
	mu        sync.Mutex
	segs      []segment
	head      int
	queued    int // bytes in segs[head:]
	busyUntil time.Time
	lastDue   time.Time
	err       error // outbound: the inner write failed
	closed    bool  // outbound: Close was called
	// lingerUntil is when a closed outbound lane gives up delivering.
	lingerUntil time.Time
	rng         *rand.Rand
	space       chan struct{} // signalled when bytes leave
	ready       chan struct{} // signalled when a segment arrives or the lane closes
}

func newLane(rng *rand.Rand) *lane {
	return &lane{rng: rng, space: make(chan struct{}, 1), ready: make(chan struct{}, 1)}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// schedule returns the due time of n bytes sent at now. Call with mu held.
func (ln *lane) schedule(cfg *LinkConfig, n int, now time.Time) time.Time {
	start := now
	if ln.busyUntil.After(start) {
		start = ln.busyUntil
	}
	if cfg.Bandwidth > 0 {
		start = start.Add(time.Duration(int64(n) * int64(time.Second) / int64(cfg.Bandwidth)))
	}
	ln.busyUntil = start
	delay := max(cfg.Latency, 0)
	if cfg.Jitter > 0 {
		delay += time.Duration(ln.rng.Int64N(2*int64(cfg.Jitter)+1)) - cfg.Jitter
		delay = max(delay, 0)
	}
	due := start.Add(delay)
	if due.Before(ln.lastDue) {
		due = ln.lastDue
	}
	ln.lastDue = due
	return due
}

// push appends a segment. Call with mu held.
func (ln *lane) push(s segment) {
	if ln.head == len(ln.segs) {
		clear(ln.segs)
		ln.segs, ln.head = ln.segs[:0], 0
	} else if ln.head > 64 && ln.head > len(ln.segs)/2 {
		n := copy(ln.segs, ln.segs[ln.head:])
		clear(ln.segs[n:])
		ln.segs, ln.head = ln.segs[:n], 0
	}
	ln.segs = append(ln.segs, s)
	ln.queued += len(s.data)
	signal(ln.ready)
}

// dropAll empties the lane. Call with mu held.
func (ln *lane) dropAll() {
	clear(ln.segs)
	ln.segs, ln.head, ln.queued = ln.segs[:0], 0, 0
	signal(ln.space)
}

// linkDeadline is a deadline that wakes waiters when it changes.
type linkDeadline struct {
	mu      sync.Mutex
	t       time.Time
	changed chan struct{} // closed and replaced on every change
}

func newLinkDeadline() *linkDeadline { return &linkDeadline{changed: make(chan struct{})} }

func (d *linkDeadline) set(t time.Time) {
	d.mu.Lock()
	d.t = t
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

func (d *linkDeadline) get() (time.Time, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.t, d.changed
}

// linkConn is a conditioned connection.
type linkConn struct {
	inner   net.Conn
	cfg     LinkConfig
	clk     Clock
	message bool // inner is message-oriented: never split writes
	binary  atomic.Bool

	out, in *lane
	readMu  sync.Mutex // one Read at a time, as the byte stream requires
	writeMu sync.Mutex // one Write at a time, so writes do not interleave
	rdl     *linkDeadline
	wdl     *linkDeadline

	closeOnce sync.Once
	done      chan struct{}          // closed by Close
	reason    atomic.Pointer[string] // CloseWithReason's reason, for the inner close
	killOnce  sync.Once
	killed    chan struct{} // closed when the inner connection is closed

	// Outages (LinkConfig.Outage): dark from an outage's start, torn down
	// at its end.
	outages *outages
	dark    atomic.Bool
	torn    atomic.Bool
}

func newLinkConn(c net.Conn, cfg LinkConfig, clk Clock, stream uint64, out *outages) *linkConn {
	if clk == nil {
		clk = SystemClock
	}
	seed := uint64(cfg.Seed)
	if cfg.Seed == 0 {
		seed = rand.Uint64()
	}
	l := &linkConn{
		inner:   c,
		cfg:     cfg,
		clk:     clk,
		out:     newLane(rand.New(rand.NewPCG(seed, 2*stream))),
		in:      newLane(rand.New(rand.NewPCG(seed, 2*stream+1))),
		rdl:     newLinkDeadline(),
		wdl:     newLinkDeadline(),
		done:    make(chan struct{}),
		killed:  make(chan struct{}),
		outages: out,
	}
	if _, ok := c.(binarySetter); ok {
		l.message = true
	}
	if ie, ok := c.(initialEncoder); ok && ie.InitialEncoding() == "msgpack" {
		l.binary.Store(true)
	}
	go l.deliverLoop()
	go l.pumpLoop()
	if out != nil {
		go l.outageLoop()
	}
	return l
}

// outageLoop waits for the next outage, darkens the link while it lasts
// and tears the link down at its end.
func (l *linkConn) outageLoop() {
	from, to := l.outages.next(l.clk.Now())
	if !l.sleepUntil(from) {
		return
	}
	l.dark.Store(true)
	// Wake Read and the delivery loop: what they hold is lost.
	signal(l.in.ready)
	signal(l.out.ready)
	if l.sleepUntil(to) {
		l.tearDown()
	}
}

// sleepUntil waits on the link's clock until t; false means the link
// closed first.
func (l *linkConn) sleepUntil(t time.Time) bool {
	for {
		now := l.clk.Now()
		if !now.Before(t) {
			return true
		}
		select {
		case <-until(l.clk, t):
		case <-l.done:
			return false
		case <-l.killed:
			return false
		}
	}
}

// tearDown ends a connection an outage killed: Read and Write fail with
// ErrLinkDown and the peer sees the inner connection close.
func (l *linkConn) tearDown() {
	l.torn.Store(true)
	l.kill()
	signal(l.in.ready)
	signal(l.out.space)
}

func (l *linkConn) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// kill closes the inner connection, once.
func (l *linkConn) kill() {
	l.killOnce.Do(func() {
		close(l.killed)
		if r := l.reason.Load(); r != nil {
			if rc, ok := l.inner.(interface{ CloseWithReason(string) error }); ok {
				rc.CloseWithReason(*r)
				return
			}
		}
		l.inner.Close()
	})
}

// waitFor blocks until ch fires, the clock reaches wake (when not zero),
// the deadline passes or the connection closes. It returns
// os.ErrDeadlineExceeded or net.ErrClosed, or nil to try again.
func (l *linkConn) waitFor(ch <-chan struct{}, wake time.Time, dl *linkDeadline) error {
	t, changed := dl.get()
	now := l.clk.Now()
	if !t.IsZero() {
		if !now.Before(t) {
			return os.ErrDeadlineExceeded
		}
		if wake.IsZero() || t.Before(wake) {
			wake = t
		}
	}
	var timer <-chan time.Time
	if !wake.IsZero() {
		timer = until(l.clk, wake)
	}
	select {
	case <-ch:
	case <-timer:
	case <-changed:
	case <-l.done:
		return net.ErrClosed
	}
	return nil
}

// Write queues p for delivery, blocking while LinkQueueLimit bytes are in
// flight.
func (l *linkConn) Write(p []byte) (int, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	switch {
	case l.isClosed():
		return 0, net.ErrClosed
	case l.torn.Load():
		return 0, ErrLinkDown
	case l.dark.Load():
		return len(p), nil // into the void
	}
	binary := l.binary.Load()
	n := 0
	for n < len(p) {
		chunk := p[n:]
		if !l.message && len(chunk) > linkSegment {
			chunk = chunk[:linkSegment]
		}
		for {
			if l.isClosed() {
				return n, net.ErrClosed
			}
			if l.torn.Load() {
				return n, ErrLinkDown
			}
			if t, _ := l.wdl.get(); !t.IsZero() && !l.clk.Now().Before(t) {
				return n, os.ErrDeadlineExceeded
			}
			l.out.mu.Lock()
			if l.out.err != nil {
				err := l.out.err
				l.out.mu.Unlock()
				return n, err
			}
			if l.out.queued == 0 || l.out.queued+len(chunk) <= LinkQueueLimit {
				due := l.out.schedule(&l.cfg, len(chunk), l.clk.Now())
				l.out.push(segment{data: append([]byte(nil), chunk...), due: due, binary: binary})
				l.out.mu.Unlock()
				break
			}
			l.out.mu.Unlock()
			if err := l.waitFor(l.out.space, time.Time{}, l.wdl); err != nil {
				return n, err
			}
		}
		n += len(chunk)
	}
	return n, nil
}

// deliverLoop writes outbound segments to the inner connection when they
// are due. After Close it drains the queue for at most LinkLinger, then
// closes the inner connection.
func (l *linkConn) deliverLoop() {
	defer l.kill()
	ln := l.out
	var lastBinary bool
	if l.message {
		lastBinary = l.binary.Load()
	}
	for {
		ln.mu.Lock()
		if l.dark.Load() {
			ln.dropAll() // lost in the outage
		}
		now := l.clk.Now()
		closed, lingerUntil := ln.closed, ln.lingerUntil
		if closed && (!now.Before(lingerUntil) || ln.head == len(ln.segs) || ln.err != nil) {
			ln.mu.Unlock()
			return // drained, failed or out of time
		}
		if ln.head == len(ln.segs) || ln.err != nil {
			ln.mu.Unlock()
			select {
			case <-ln.ready:
			case <-l.killed:
				return
			}
			continue
		}
		seg := ln.segs[ln.head]
		ln.mu.Unlock()
		if wait := seg.due.Sub(now); wait > 0 {
			at := seg.due
			if closed && lingerUntil.Before(at) {
				at = lingerUntil
			}
			select {
			case <-until(l.clk, at):
			case <-ln.ready: // Close sets the linger bound
			case <-l.killed:
				return
			}
			continue
		}
		if l.message && seg.binary != lastBinary {
			l.inner.(binarySetter).SetBinary(seg.binary)
			lastBinary = seg.binary
		}
		_, err := l.inner.Write(seg.data)
		ln.mu.Lock()
		if err != nil {
			if ln.err == nil {
				ln.err = err
			}
			ln.dropAll()
		} else if ln.head < len(ln.segs) {
			ln.segs[ln.head] = segment{}
			ln.head++
			ln.queued -= len(seg.data)
			signal(ln.space)
		}
		ln.mu.Unlock()
	}
}

// pumpLoop reads the inner connection and schedules what it reads, while
// the inbound queue has room.
func (l *linkConn) pumpLoop() {
	buf := make([]byte, linkReadChunk)
	ln := l.in
	for {
		ln.mu.Lock()
		room := LinkQueueLimit - ln.queued
		ln.mu.Unlock()
		if room <= 0 {
			select {
			case <-ln.space:
				continue
			case <-l.done:
				return
			case <-l.killed:
				return
			}
		}
		n, err := l.inner.Read(buf[:min(room, len(buf))])
		if l.dark.Load() {
			if err != nil {
				return // the peer's close is lost too; the teardown ends the link
			}
			continue // lost in the outage
		}
		ln.mu.Lock()
		for off := 0; off < n; off += linkSegment {
			chunk := buf[off:min(n, off+linkSegment)]
			due := ln.schedule(&l.cfg, len(chunk), l.clk.Now())
			ln.push(segment{data: append([]byte(nil), chunk...), due: due})
		}
		if err != nil {
			due := ln.schedule(&l.cfg, 0, l.clk.Now())
			ln.push(segment{due: due, err: err})
		}
		ln.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Read returns bytes whose delay has passed, waiting for them.
func (l *linkConn) Read(p []byte) (int, error) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	ln := l.in
	for {
		if l.isClosed() {
			return 0, net.ErrClosed
		}
		if l.torn.Load() {
			return 0, ErrLinkDown
		}
		if t, _ := l.rdl.get(); !t.IsZero() && !l.clk.Now().Before(t) {
			return 0, os.ErrDeadlineExceeded
		}
		if l.dark.Load() {
			ln.mu.Lock()
			ln.dropAll() // lost in the outage
			ln.mu.Unlock()
			if err := l.waitFor(ln.ready, time.Time{}, l.rdl); err != nil {
				return 0, err
			}
			continue
		}
		var wake time.Time
		ln.mu.Lock()
		now := l.clk.Now()
		n := 0
		var rerr error
		for ln.head < len(ln.segs) && n < len(p) {
			seg := &ln.segs[ln.head]
			if seg.due.After(now) {
				if n == 0 {
					wake = seg.due
				}
				break
			}
			if seg.err != nil { // error segments carry no data
				if n == 0 {
					rerr = seg.err // sticky: stays at the head
				}
				break
			}
			c := copy(p[n:], seg.data)
			n += c
			ln.queued -= c
			seg.data = seg.data[c:]
			if len(seg.data) == 0 {
				*seg = segment{}
				ln.head++
			}
		}
		if n > 0 {
			signal(ln.space)
		}
		ln.mu.Unlock()
		if n > 0 || rerr != nil {
			return n, rerr
		}
		if len(p) == 0 {
			return 0, nil
		}
		if err := l.waitFor(ln.ready, wake, l.rdl); err != nil {
			return 0, err
		}
	}
}

// CloseWithReason is Close, passing reason on to an inner connection that
// can tell its peer why it closes (a WebSocket) when the link shuts it.
func (l *linkConn) CloseWithReason(reason string) error {
	l.reason.CompareAndSwap(nil, &reason)
	return l.Close()
}

// Close makes Read and Write fail with net.ErrClosed, delivers what was
// written (for at most LinkLinger) and then closes the inner connection.
func (l *linkConn) Close() error {
	first := false
	l.closeOnce.Do(func() {
		first = true
		close(l.done)
		// The linger bound is on the link's clock for segments waiting to
		// be due, and on the wall clock for a write the peer does not read.
		l.inner.SetWriteDeadline(time.Now().Add(LinkLinger))
		l.out.mu.Lock()
		l.out.closed = true
		l.out.lingerUntil = l.clk.Now().Add(LinkLinger)
		signal(l.out.ready)
		l.out.mu.Unlock()
	})
	if !first {
		return net.ErrClosed
	}
	return nil
}

// LocalAddr returns the inner connection's local address.
func (l *linkConn) LocalAddr() net.Addr { return l.inner.LocalAddr() }

// RemoteAddr returns the inner connection's remote address.
func (l *linkConn) RemoteAddr() net.Addr { return l.inner.RemoteAddr() }

// SetDeadline sets both deadlines.
func (l *linkConn) SetDeadline(t time.Time) error {
	l.rdl.set(t)
	l.wdl.set(t)
	return nil
}

// SetReadDeadline bounds Read's wait for due bytes.
func (l *linkConn) SetReadDeadline(t time.Time) error { l.rdl.set(t); return nil }

// SetWriteDeadline bounds Write's wait for room in the queue.
func (l *linkConn) SetWriteDeadline(t time.Time) error { l.wdl.set(t); return nil }

// SetBinary records the WebSocket message type of the following writes;
// it reaches the inner connection in order with the delayed bytes. It does
// nothing on stream connections.
func (l *linkConn) SetBinary(b bool) { l.binary.Store(b) }

// InitialEncoding forwards the inner connection's initial encoding (a
// WebSocket subprotocol), or returns "".
func (l *linkConn) InitialEncoding() string {
	if ie, ok := l.inner.(initialEncoder); ok {
		return ie.InitialEncoding()
	}
	return ""
}
