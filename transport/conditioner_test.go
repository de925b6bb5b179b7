package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// waitNoLinkGoroutines fails the test if goroutines of conditioned links
// are still running after a grace period.
func waitNoLinkGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		stacks := string(buf[:n])
		if !strings.Contains(stacks, "transport.(*linkConn)") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("link goroutines still running:\n%s", stacks)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// linkEventually polls cond until it holds or a generous wall-clock timeout
// passes. It waits for asynchronous progress; it never asserts a duration.
func linkEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConditionZeroConfigIsIdentity(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := ConditionConn(a, LinkConfig{}); c != a {
		t.Fatal("ConditionConn with a zero config should return the conn itself")
	}
	ln := NewPipeListener()
	defer ln.Close()
	if l := Condition(ln, LinkConfig{}); l != net.Listener(ln) {
		t.Fatal("Condition with a zero config should return the listener itself")
	}
}

func TestLinkDelaysBothDirections(t *testing.T) {
	const latency = 40 * time.Millisecond
	a, b := net.Pipe()
	ca := ConditionConn(a, LinkConfig{Latency: latency})

	// Outbound: written on the conditioned end, read on the plain end.
	start := time.Now()
	go ca.Write([]byte("ping"))
	buf := make([]byte, 16)
	n, err := b.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if d := time.Since(start); d < latency {
		t.Fatalf("outbound one-way delay %v < latency %v", d, latency)
	}

	// Inbound: written on the plain end, read on the conditioned end.
	start = time.Now()
	go b.Write([]byte("pong"))
	n, err = ca.Read(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if d := time.Since(start); d < latency {
		t.Fatalf("inbound one-way delay %v < latency %v", d, latency)
	}

	ca.Close()
	b.Close()
	waitNoLinkGoroutines(t)
}

func TestLinkPreservesOrderWithJitter(t *testing.T) {
	a, b := net.Pipe()
	// Jitter as large as the latency makes many samples want to overtake.
	ca := ConditionConn(a, LinkConfig{Latency: 3 * time.Millisecond, Jitter: 3 * time.Millisecond, Seed: 7})
	const count = 3000
	go func() {
		var rec [4]byte
		for i := range count {
			binary.BigEndian.PutUint32(rec[:], uint32(i))
			if _, err := ca.Write(rec[:]); err != nil {
				return
			}
		}
	}()
	got := make([]byte, 4*count)
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	for i := range count {
		if v := binary.BigEndian.Uint32(got[4*i:]); v != uint32(i) {
			t.Fatalf("record %d is %d: bytes reordered", i, v)
		}
	}
	ca.Close()
	b.Close()
	waitNoLinkGoroutines(t)
}

func TestLaneScheduleMonotonicAndBounded(t *testing.T) {
	cfg := LinkConfig{Latency: 50 * time.Millisecond, Jitter: 30 * time.Millisecond}
	ln := newLane(rand.New(rand.NewPCG(1, 2)))
	now := time.Unix(0, 0)
	var prev time.Time
	sawJitter := false
	for i := range 10000 {
		now = now.Add(time.Duration(i%3) * time.Millisecond)
		due := ln.schedule(&cfg, 100, now)
		if due.Before(prev) {
			t.Fatalf("segment %d due %v before the previous %v", i, due, prev)
		}
		if d := due.Sub(now); d < 0 || d > cfg.Latency+cfg.Jitter {
			t.Fatalf("segment %d delayed %v, outside [0, %v]", i, d, cfg.Latency+cfg.Jitter)
		}
		if d := due.Sub(now); d != cfg.Latency {
			sawJitter = true
		}
		prev = due
	}
	if !sawJitter {
		t.Fatal("jitter never changed the delay")
	}
}

func TestLinkSeedIsDeterministic(t *testing.T) {
	schedule := func(seed int64, stream uint64) []time.Duration {
		a, b := net.Pipe()
		defer b.Close()
		l := newLinkConn(a, LinkConfig{Latency: 10 * time.Millisecond, Jitter: 10 * time.Millisecond, Seed: seed}, NewManualClock(time.Unix(0, 0)), stream, nil)
		defer l.Close()
		var out []time.Duration
		l.out.mu.Lock()
		for range 50 {
			out = append(out, l.out.schedule(&l.cfg, 10, time.Unix(0, 0)).Sub(time.Unix(0, 0)))
		}
		l.out.mu.Unlock()
		return out
	}
	x, y, z := schedule(42, 1), schedule(42, 1), schedule(42, 2)
	if fmt.Sprint(x) != fmt.Sprint(y) {
		t.Fatal("the same seed gave different jitter")
	}
	if fmt.Sprint(x) == fmt.Sprint(z) {
		t.Fatal("two connections of one listener share a jitter sequence")
	}
	waitNoLinkGoroutines(t)
}

// TestLinkBandwidthManualClock checks the bandwidth cap as byte counts per
// simulated second, with a manual clock: no wall-clock timing is asserted.
func TestLinkBandwidthManualClock(t *testing.T) {
	const (
		bw      = 10_000 // bytes per second
		latency = 50 * time.Millisecond
		total   = 30_000
		step    = 100 * time.Millisecond
	)
	clk := NewManualClock(time.Unix(1000, 0))
	a, b := net.Pipe()
	ca := ConditionConnWithClock(a, LinkConfig{Latency: latency, Bandwidth: bw}, clk)

	var got atomic.Int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := b.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	// All of it fits in the queue, so Write returns at once.
	if n, err := ca.Write(make([]byte, total)); n != total || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	for elapsed := step; elapsed <= 4*time.Second; elapsed += step {
		clk.Advance(step)
		// Bytes due by now: serialised at bw, then delayed by latency.
		due := int64(float64(bw) * (elapsed - latency).Seconds())
		due = min(max(due, 0), total)
		// Nothing may arrive early (at most the segment in progress of
		// rounding), checked before and after delivery catches up.
		if g := got.Load(); g > due+linkSegment {
			t.Fatalf("at %v simulated: %d bytes delivered, cap allows %d", elapsed, g, due)
		}
		// Everything due must arrive (allowing one segment of granularity).
		want := max(due-linkSegment, 0)
		linkEventually(t, fmt.Sprintf("%d bytes at %v simulated", want, elapsed), func() bool { return got.Load() >= want })
		if g := got.Load(); g > due+linkSegment {
			t.Fatalf("at %v simulated: %d bytes delivered, cap allows %d", elapsed, g, due)
		}
	}
	linkEventually(t, "all bytes", func() bool { return got.Load() == total })
	ca.Close()
	<-readDone
	waitNoLinkGoroutines(t)
}

func TestLinkWriteBlocksWhenFullAndDeadlineCutsIt(t *testing.T) {
	clk := NewManualClock(time.Unix(1000, 0))
	a, b := net.Pipe()
	// Nothing becomes due for an hour of simulated time.
	ca := ConditionConnWithClock(a, LinkConfig{Latency: time.Hour}, clk).(*linkConn)
	if n, err := ca.Write(make([]byte, LinkQueueLimit)); n != LinkQueueLimit || err != nil {
		t.Fatalf("filling the queue: Write = %d, %v", n, err)
	}
	ca.SetWriteDeadline(clk.Now().Add(time.Second))
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := ca.Write([]byte("more"))
		res <- result{n, err}
	}()
	select {
	case r := <-res:
		t.Fatalf("Write on a full queue returned at once: %d, %v", r.n, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	ca.out.mu.Lock()
	queued := ca.out.queued
	ca.out.mu.Unlock()
	if queued > LinkQueueLimit {
		t.Fatalf("%d bytes queued, limit %d", queued, LinkQueueLimit)
	}
	clk.Advance(2 * time.Second)
	r := <-res
	if r.n != 0 || !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past the deadline = %d, %v; want 0, deadline exceeded", r.n, r.err)
	}
	var ne net.Error
	if !errors.As(r.err, &ne) || !ne.Timeout() {
		t.Fatalf("deadline error %v is not a net.Error timeout", r.err)
	}
	// Close lingers on the link clock; advancing past LinkLinger drops the
	// undeliverable bytes and closes the inner connection.
	ca.Close()
	clk.Advance(LinkLinger)
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Fatal("inner connection still open after the linger")
	}
	waitNoLinkGoroutines(t)
}

func TestLinkStuckPeerWriteDeadline(t *testing.T) {
	a, b := net.Pipe() // b is never read: the peer is stuck
	ca := ConditionConn(a, LinkConfig{Latency: time.Millisecond})
	ca.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	chunk := make([]byte, 32<<10)
	var err error
	for written := 0; written <= 4*LinkQueueLimit && err == nil; written += len(chunk) {
		_, err = ca.Write(chunk)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writes to a stuck peer ended with %v, want deadline exceeded", err)
	}
	b.Close() // the peer goes away; the stuck delivery fails
	ca.Close()
	waitNoLinkGoroutines(t)
}

func TestLinkReadDeadline(t *testing.T) {
	a, b := net.Pipe()
	ca := ConditionConn(a, LinkConfig{Latency: time.Hour})
	go b.Write([]byte("late"))
	ca.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := ca.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v, want deadline exceeded", err)
	}
	// A deadline moved into the past wakes a blocked Read.
	ca.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, err := ca.Read(make([]byte, 8)); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	ca.SetReadDeadline(time.Now().Add(-time.Second))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after moving the deadline = %v", err)
	}
	ca.Close()
	b.Close()
	waitNoLinkGoroutines(t)
}

func TestLinkCloseDeliversWrittenBytesThenEOF(t *testing.T) {
	a, b := net.Pipe()
	ca := ConditionConn(a, LinkConfig{Latency: 20 * time.Millisecond})
	if _, err := ca.Write([]byte("BYE quit\n")); err != nil {
		t.Fatal(err)
	}
	ca.Close()
	if _, err := ca.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
	}
	if _, err := ca.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "BYE quit\n" {
		t.Fatalf("peer read %q, %v; want the bytes written before Close, then EOF", got, err)
	}
	waitNoLinkGoroutines(t)
}

func TestLinkInboundEOFAfterData(t *testing.T) {
	a, b := net.Pipe()
	ca := ConditionConn(a, LinkConfig{Latency: 5 * time.Millisecond, Bandwidth: 1 << 20})
	go func() {
		b.Write([]byte("hello "))
		b.Write([]byte("world"))
		b.Close()
	}()
	got, err := io.ReadAll(ca)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	ca.Close()
	waitNoLinkGoroutines(t)
}

func TestConditionListener(t *testing.T) {
	pl := NewPipeListener()
	ln := Condition(pl, LinkConfig{Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Seed: 3})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c) // echo, delayed both ways
			}()
		}
	}()
	for i := range 3 {
		c, err := pl.Dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte(fmt.Sprintf("echo %d", i))
		start := time.Now()
		go c.Write(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo %q, %v", got, err)
		}
		// 10 ms ± 5 ms each way: the round trip is at least 2×5 ms.
		if d := time.Since(start); d < 10*time.Millisecond {
			t.Fatalf("round trip %v shorter than the minimum delay", d)
		}
		c.Close()
	}
	ln.Close()
	<-done
	waitNoLinkGoroutines(t)
}

func TestManualClock(t *testing.T) {
	clk := NewManualClock(time.Unix(0, 0))
	ch := clk.After(time.Second)
	if clk.Waiters() != 1 {
		t.Fatalf("Waiters = %d", clk.Waiters())
	}
	clk.Advance(999 * time.Millisecond)
	select {
	case <-ch:
		t.Fatal("fired early")
	default:
	}
	clk.Advance(time.Millisecond)
	if got := <-ch; !got.Equal(time.Unix(1, 0)) {
		t.Fatalf("fired at %v", got)
	}
	if got := <-clk.After(0); !got.Equal(time.Unix(1, 0)) {
		t.Fatalf("After(0) = %v", got)
	}
}

// A server listener conditioned like a 150 ms path; here a quicker 30 ms
// over an in-memory pipe, with an echo server standing in for the game.
func ExampleCondition() {
	pipe := NewPipeListener()
	ln := Condition(pipe, LinkConfig{Latency: 30 * time.Millisecond, Jitter: 5 * time.Millisecond, Bandwidth: 64 << 10})
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()

	c, err := pipe.Dial(context.Background())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	start := time.Now()
	go c.Write([]byte("PING 1\n"))
	buf := make([]byte, 7)
	io.ReadFull(c, buf)
	// Both directions are delayed: at least 2×(30 ms - 5 ms).
	fmt.Printf("%q after at least 50ms: %v\n", buf, time.Since(start) >= 50*time.Millisecond)
	// Output:
	// "PING 1\n" after at least 50ms: true
}

func TestOutageSchedule(t *testing.T) {
	t0 := time.Unix(100, 0)
	o := newOutages(LinkConfig{Outage: time.Second, OutageEvery: 5 * time.Second}, t0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		at       time.Duration
		from, to time.Duration
		dark     bool
	}{
		{0, 5 * time.Second, 6 * time.Second, false},
		{4999 * time.Millisecond, 5 * time.Second, 6 * time.Second, false},
		{5 * time.Second, 5 * time.Second, 6 * time.Second, true},
		{5999 * time.Millisecond, 5 * time.Second, 6 * time.Second, true},
		{6 * time.Second, 10 * time.Second, 11 * time.Second, false},
		{10500 * time.Millisecond, 10 * time.Second, 11 * time.Second, true},
		{-time.Second, 5 * time.Second, 6 * time.Second, false},
	} {
		from, to := o.next(at(tc.at))
		if !from.Equal(at(tc.from)) || !to.Equal(at(tc.to)) || o.dark(at(tc.at)) != tc.dark {
			t.Errorf("at %v: next %v-%v dark %v; want %v-%v %v", tc.at, from.Sub(t0), to.Sub(t0), o.dark(at(tc.at)), tc.from, tc.to, tc.dark)
		}
	}
	if newOutages(LinkConfig{Outage: time.Second}, t0) != nil || newOutages(LinkConfig{OutageEvery: time.Second}, t0) != nil {
		t.Error("an outage needs both Outage and OutageEvery")
	}
	if o := newOutages(LinkConfig{Outage: 9 * time.Second, OutageEvery: 4 * time.Second}, t0); o.length != 2*time.Second {
		t.Errorf("an outage longer than its period lasts %v, want half the period", o.length)
	}
	if (LinkConfig{Outage: time.Second, OutageEvery: time.Minute}).IsZero() {
		t.Error("a config with outages conditions something")
	}
}

// TestLinkOutage: during an outage nothing crosses the link either way;
// at its end the connection is torn down for both ends.
func TestLinkOutage(t *testing.T) {
	clk := NewManualClock(time.Unix(0, 0))
	a, b := net.Pipe()
	defer b.Close()
	l := ConditionConnWithClock(a, LinkConfig{Outage: time.Second, OutageEvery: 5 * time.Second}, clk).(*linkConn)
	defer l.Close()
	buf := make([]byte, 16)
	// Before the outage the link carries bytes both ways.
	go l.Write([]byte("hello"))
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	go b.Write([]byte("hi"))
	if n, err := l.Read(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	linkEventually(t, "the outage timer", func() bool { return clk.Waiters() == 1 })
	clk.Advance(5 * time.Second)
	linkEventually(t, "the outage", l.dark.Load)
	if n, err := l.Write([]byte("lost")); n != 4 || err != nil {
		t.Fatalf("Write during the outage = %d, %v; want it swallowed", n, err)
	}
	wrote := make(chan error, 1)
	go func() { _, err := b.Write([]byte("gone")); wrote <- err }()
	if err := <-wrote; err != nil {
		t.Fatalf("the peer's write during the outage: %v", err)
	}
	read := make(chan error, 1)
	go func() {
		n, err := l.Read(buf)
		if n > 0 {
			err = fmt.Errorf("read %q during the outage", buf[:n])
		}
		read <- err
	}()
	b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := b.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the peer read %q, %v during the outage; want nothing", buf[:n], err)
	}
	b.SetReadDeadline(time.Time{})

	linkEventually(t, "the end-of-outage timer", func() bool { return clk.Waiters() == 1 })
	clk.Advance(time.Second)
	if err := <-read; !errors.Is(err, ErrLinkDown) {
		t.Fatalf("Read across the outage = %v, want ErrLinkDown", err)
	}
	if _, err := l.Write([]byte("x")); !errors.Is(err, ErrLinkDown) {
		t.Fatalf("Write after the outage = %v, want ErrLinkDown", err)
	}
	if n, err := b.Read(buf); err != io.EOF {
		t.Fatalf("the peer read %q, %v after the teardown; want EOF", buf[:n], err)
	}
	l.Close()
	waitNoLinkGoroutines(t)
}

// TestConditionListenerOutage: a conditioned listener refuses connections
// during an outage, tears down those from before it, and serves new ones
// after it.
func TestConditionListenerOutage(t *testing.T) {
	clk := NewManualClock(time.Unix(0, 0))
	pl := NewPipeListener()
	ln := ConditionWithClock(pl, LinkConfig{Outage: time.Second, OutageEvery: 5 * time.Second}, clk)
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := pl.Dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	echo := func(c, s net.Conn) error {
		go s.Write([]byte("ok"))
		buf := make([]byte, 2)
		_, err := io.ReadFull(c, buf)
		return err
	}
	c1 := dial()
	s1 := <-accepted
	if err := echo(c1, s1); err != nil {
		t.Fatal(err)
	}
	linkEventually(t, "the outage timer", func() bool { return clk.Waiters() == 1 })
	clk.Advance(5 * time.Second)
	linkEventually(t, "the outage", s1.(*linkConn).dark.Load)
	c2 := dial()
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a connection made during the outage read %v, want EOF", err)
	}
	linkEventually(t, "the end-of-outage timer", func() bool { return clk.Waiters() == 1 })
	clk.Advance(time.Second)
	if _, err := c1.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the connection from before the outage read %v after it, want EOF", err)
	}
	c3 := dial()
	s3 := <-accepted
	if err := echo(c3, s3); err != nil {
		t.Fatalf("a connection after the outage: %v", err)
	}
	select {
	case c := <-accepted:
		t.Fatalf("the connection made during the outage was accepted: %v", c.RemoteAddr())
	default:
	}
	for _, c := range []net.Conn{c1, c2, c3, s1, s3} {
		c.Close()
	}
	ln.Close()
	waitNoLinkGoroutines(t)
}

// TestManualClockAt: a wait for a time cannot miss an Advance that lands
// between reading Now and asking, which a wait for a duration does (the
// lost wake-up that made the link tests flaky under load).
func TestManualClockAt(t *testing.T) {
	clk := NewManualClock(time.Unix(1000, 0))
	now := clk.Now()
	clk.Advance(100 * time.Millisecond) // lands between Now and the wait
	select {
	case <-clk.At(now.Add(100 * time.Millisecond)):
	default:
		t.Fatal("At a time the clock has reached did not fire at once")
	}
	late := clk.After(now.Add(100 * time.Millisecond).Sub(now))
	select {
	case <-late:
		t.Fatal("After fired early")
	default:
	}
	ch := clk.At(now.Add(150 * time.Millisecond))
	clk.Advance(49 * time.Millisecond)
	select {
	case <-ch:
		t.Fatal("At fired before its time")
	default:
	}
	clk.Advance(time.Millisecond)
	select {
	case <-ch:
	default:
		t.Fatal("At did not fire at its time")
	}
	if n := clk.Waiters(); n != 1 { // the After above, still waiting
		t.Fatalf("%d waiters", n)
	}
}
