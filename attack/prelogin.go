package attack

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// timeoutSlack is how much later than a server timeout a close may be
// observed: deadlines may be refreshed lazily (up to a second) and the
// machine is shared.
func timeoutSlack(d time.Duration) time.Duration { return time.Second + d/10 }

// dialMany opens n connections from the addresses in from (perAddr each,
// in order), at most 50 at a time, and returns those that connected.
func (e *Env) dialMany(ctx context.Context, n, perAddr int) ([]*gconn, []netip.Addr) {
	var addrs []netip.Addr
	for i := 0; i < n; i += perAddr {
		addrs = append(addrs, e.addr())
	}
	out := make([]*gconn, n)
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if c, err := e.dial(ctx, addrs[i/perAddr]); err == nil {
				out[i] = c
			}
		}()
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(c *gconn) bool { return c == nil }), addrs
}

// lifetimes summarises how long connections lived: closed count, and the
// min, median and max lifetime of the closed ones; byes counts those that
// got "BYE <reason>" before the close.
func lifetimes(cs []*gconn, reason string) (closed int, lo, mid, hi time.Duration, byes int) {
	var ls []time.Duration
	for _, c := range cs {
		if c.serverClosed() {
			ls = append(ls, c.lifetime())
		}
		if c.byeReason() == reason {
			byes++
		}
	}
	if len(ls) == 0 {
		return 0, 0, 0, 0, byes
	}
	slices.Sort(ls)
	return len(ls), ls[0], ls[len(ls)/2], ls[len(ls)-1], byes
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// waitAllClosed waits until every connection is closed by the server or
// until deadline.
func waitAllClosed(ctx context.Context, cs []*gconn, deadline time.Time) {
	for i := 0; i < 100000 && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		all := true
		for _, c := range cs {
			if !c.serverClosed() {
				all = false
				break
			}
		}
		if all {
			return
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// attackSlowloris: pre-login slowloris, blank-line keepalives before
// login, a frame started after login and never finished, the per-address
// pre-login limit and the per-address connection rate.
func attackSlowloris(ctx context.Context, e *Env) {
	L := e.lim.LoginTimeout
	start := time.Now()
	trickleEvery := min(2*time.Second, L*2/5)
	perAddr := max(min(30, e.lim.MaxPreLoginPerAddr-2, e.lim.ConnBurstPerAddr-2), 1)

	// A: 300 sockets trickling one byte every 2 s, no newline.
	trickle, taddrs := e.dialMany(ctx, 300, perAddr)
	e.notef("A: %d/300 trickling sockets open from %d addresses", len(trickle), len(taddrs))
	e.expect(len(trickle) == 300, "A: only %d of 300 trickling sockets connected", len(trickle))
	// B: 10 sockets sending only blank lines, twice a second.
	blanks, _ := e.dialMany(ctx, 10, 10)
	for _, c := range append(slices.Clone(trickle), blanks...) {
		c.background(nil)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	feed := func(cs []*gconn, every time.Duration, data string) {
		wg.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for range 10000 {
				for _, c := range cs {
					if !c.serverClosed() {
						c.SetWriteDeadline(time.Now().Add(time.Second))
						c.Conn.Write([]byte(data))
					}
				}
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	feed(trickle, trickleEvery, "A")
	feed(blanks, 500*time.Millisecond, "\n")

	// E: after login, a frame started and never finished: one more byte
	// every 2 s, never a newline.
	var partial *gconn
	var partialAt time.Time
	if c, err := e.dialLogin(ctx, e.addr()); err != nil {
		e.failf("E: could not log in: %v", err)
	} else {
		partial = c
		c.background(nil)
		partialAt = time.Now()
		c.send("SAY partial")
		feed([]*gconn{c}, trickleEvery, "x")
	}

	// C: one address opens MaxPreLoginPerAddr + 8 silent sockets, one
	// after the other.
	extra := 8
	caddr := e.addr()
	var held []*gconn
	accepted, refused := 0, 0
	for range e.lim.MaxPreLoginPerAddr + extra {
		c, err := e.dial(ctx, caddr)
		if err != nil {
			refused++
			continue
		}
		if c.classify(500 * time.Millisecond) {
			refused++
		} else {
			accepted++
			held = append(held, c)
		}
	}
	for _, c := range held {
		c.background(nil)
	}
	e.notef("C: %d silent sockets from one address: %d accepted, %d refused at once", e.lim.MaxPreLoginPerAddr+extra, accepted, refused)
	e.expect(accepted <= e.lim.MaxPreLoginPerAddr && refused >= extra,
		"C: %d accepted and %d refused; want at most %d accepted (MaxPreLoginPerAddr) and the other %d refused at once",
		accepted, refused, e.lim.MaxPreLoginPerAddr, extra)

	// D: a connection-rate flood from one address: 100 connections, 8 at a
	// time, each closed once classified.
	daddr := e.addr()
	attempts := 100
	var dRefused, dAccepted atomic.Int64
	dStart := time.Now()
	sem := make(chan struct{}, 8)
	var dwg sync.WaitGroup
	for range attempts {
		dwg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; dwg.Done() }()
			c, err := e.dial(ctx, daddr)
			if err != nil {
				dRefused.Add(1)
				return
			}
			if c.classify(500 * time.Millisecond) {
				dRefused.Add(1)
			} else {
				dAccepted.Add(1)
			}
			c.close()
		}()
	}
	dwg.Wait()
	dElapsed := time.Since(dStart)
	allowed := e.lim.ConnBurstPerAddr + int(math.Ceil(e.lim.ConnRatePerAddr*dElapsed.Seconds())) + 2
	e.notef("D: %d connections from one address in %s: %d accepted, %d refused at once", attempts, secs(dElapsed), dAccepted.Load(), dRefused.Load())
	e.expect(int(dAccepted.Load()) <= allowed,
		"D: %d accepted; the connection rate (%g/s, burst %d) allows at most %d in %s",
		dAccepted.Load(), e.lim.ConnRatePerAddr, e.lim.ConnBurstPerAddr, allowed, secs(dElapsed))
	if b, how, after := e.waitBanned(ctx, daddr, 2*time.Second); b {
		e.notef("D: the flooding address is banned (%s, after %s)", how, secs(after))
	} else {
		e.failf("D: the flooding address is not banned after %d refusals (every 10th a conn_limit strike): %s", dRefused.Load(), how)
	}
	for _, a := range []struct {
		label string
		ip    string
	}{{"C", caddr.String()}, {"D", daddr.String()}} {
		ip := "ip=" + a.ip + " "
		if n, ok := e.logCount("tickwire refused", ip); ok {
			pre, _ := e.logCount("tickwire refused", ip, "reason=prelogin_per_addr")
			rate, _ := e.logCount("tickwire refused", ip, "reason=conn_rate")
			bans, _ := e.logCount("tickwire ban", ip)
			limit, _ := e.logCount("tickwire ban", ip, "conn_limit")
			e.notef("%s: server log: %d refusals (%d prelogin_per_addr, %d conn_rate), %d ban lines (%d naming conn_limit)", a.label, n, pre, rate, bans, limit)
		}
	}

	// Wait for the timeouts to close A, B, C and E.
	all := slices.Concat(trickle, blanks, held)
	if partial != nil {
		all = append(all, partial)
	}
	limit := time.Now().Add(max(L, e.lim.FrameTimeout) + timeoutSlack(max(L, e.lim.FrameTimeout)) + time.Second)
	waitAllClosed(ctx, all, limit)
	close(stop)
	wg.Wait()

	slack := timeoutSlack(L)
	check := func(label string, cs []*gconn) {
		if len(cs) == 0 {
			return
		}
		n, lo, mid, hi, byes := lifetimes(cs, "timeout")
		e.notef("%s: %d/%d closed by the server, after %s/%s/%s (min/median/max), %d got BYE timeout",
			label, n, len(cs), secs(lo), secs(mid), secs(hi), byes)
		e.expect(n == len(cs), "%s: %d of %d sockets still open past the login timeout (%s)", label, len(cs)-n, len(cs), secs(L))
		e.expect(hi <= L+slack, "%s: a socket lived %s; the login timeout is %s (+%s slack)", label, secs(hi), secs(L), secs(slack))
		e.expect(byes == len(cs), "%s: only %d of %d got BYE timeout before the close", label, byes, len(cs))
	}
	if e.lim.FrameTimeout <= L {
		e.notef("A: the frame timeout (%s) is not longer than the login timeout (%s): trickled bytes may be cut by the frame deadline first", secs(e.lim.FrameTimeout), secs(L))
	}
	check("A (trickle)", trickle)
	check("B (blank lines)", blanks)
	check("C (held)", held)
	if partial != nil {
		life := time.Duration(-1)
		if at := partial.closedAt.Load(); at != 0 {
			life = time.Unix(0, at).Sub(partialAt)
		}
		fslack := timeoutSlack(e.lim.FrameTimeout)
		e.notef("E: a frame started after login and never finished: closed after %s, BYE %q", secs(life), partial.byeReason())
		if e.expect(life >= 0, "E: a logged-in socket trickling an unfinished frame is still open after %s (frame timeout %s)", secs(time.Since(partialAt)), secs(e.lim.FrameTimeout)) {
			e.expect(life <= e.lim.FrameTimeout+fslack, "E: closed after %s; the frame timeout is %s (+%s slack)", secs(life), secs(e.lim.FrameTimeout), secs(fslack))
			e.expect(partial.byeReason() == "timeout", "E: got BYE %q, want BYE timeout", partial.byeReason())
		}
	}
	e.notef("A-E took %s", secs(time.Since(start)))
}

// attackConnFlood: one address logs in connections, one at a time and
// within the per-address connection rate, up to MaxConnsPerAddr; the next
// one must be refused at once.
func attackConnFlood(ctx context.Context, e *Env) {
	from := e.addr()
	var conns []*gconn
	defer func() {
		for _, c := range conns {
			c.quit()
		}
	}()
	interval := time.Duration(float64(time.Second) / e.lim.ConnRatePerAddr * 1.2)
	start := time.Now()
	firstRefusal := -1
	for i := range e.lim.MaxConnsPerAddr + 1 {
		if ctx.Err() != nil {
			return
		}
		if i >= e.lim.ConnBurstPerAddr-2 {
			// Past the burst: stay under the connection rate.
			sleep(ctx, interval)
		}
		c, err := e.dial(ctx, from)
		if err != nil {
			firstRefusal = i
			break
		}
		if c.classify(500 * time.Millisecond) {
			firstRefusal = i
			break
		}
		if err := c.login(5 * time.Second); err != nil {
			e.notef("connection %d: %v", i+1, err)
			firstRefusal = i
			c.close()
			break
		}
		c.background(nil)
		conns = append(conns, c)
	}
	if firstRefusal < 0 {
		e.failf("all %d connections from one address were accepted; want connection %d refused (MaxConnsPerAddr %d)", len(conns), e.lim.MaxConnsPerAddr+1, e.lim.MaxConnsPerAddr)
	} else {
		e.notef("%d connections logged in from one address in %s; the first refusal came at connection %d", len(conns), secs(time.Since(start)), firstRefusal+1)
		e.expect(firstRefusal == e.lim.MaxConnsPerAddr,
			"the first refusal came at connection %d; want exactly connection %d (MaxConnsPerAddr %d + 1)", firstRefusal+1, e.lim.MaxConnsPerAddr+1, e.lim.MaxConnsPerAddr)
	}
	closed := 0
	for _, c := range conns {
		if c.serverClosed() {
			closed++
		}
	}
	e.expect(closed == 0, "%d logged-in connections were closed by the server during the flood", closed)
}
