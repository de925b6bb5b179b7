package attack

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// slowResult is what one slow HTTP client saw.
type slowResult struct {
	label  string
	closed bool          // the server closed the connection
	after  time.Duration // when, from the start of the slow part
	status string        // the status line the server sent, if any
	err    string
}

// slowHTTP opens a connection to target (over TLS if tlsOn), writes
// prefix, then trickles one byte of trickle every second until the server
// closes the connection or limit passes. Without trickle it stays silent.
func (e *Env) slowHTTP(ctx context.Context, label, target string, tlsOn bool, prefix, trickle string, limit time.Duration) slowResult {
	r := slowResult{label: label}
	c, err := e.dialTo(ctx, e.addr(), target)
	if err != nil {
		r.err = err.Error()
		return r
	}
	var rw net.Conn = c
	if tlsOn {
		tc := tls.Client(c, e.tlsConfig())
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.HandshakeContext(ctx); err != nil {
			r.err = "TLS handshake: " + err.Error()
			c.close()
			return r
		}
		tc.SetDeadline(time.Time{})
		rw = tc
	}
	if prefix != "" {
		rw.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(rw, prefix); err != nil {
			r.err = err.Error()
			c.close()
			return r
		}
	}
	start := time.Now()
	done := make(chan struct{})
	var status string
	go func() {
		defer close(done)
		br := bufio.NewReader(rw)
		rw.SetReadDeadline(start.Add(limit))
		for i := 0; i < 100000; i++ {
			l, err := br.ReadString('\n')
			if status == "" && strings.HasPrefix(l, "HTTP/") {
				status = strings.TrimSpace(l)
			}
			if err != nil {
				return
			}
		}
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for i := 0; trickle != "" && i < 10000; i++ {
		select {
		case <-done:
		case <-ctx.Done():
		case <-t.C:
			rw.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(rw, trickle[i%len(trickle):i%len(trickle)+1])
			continue
		}
		break
	}
	<-done
	if !c.serverClosed() && time.Since(start) < limit {
		// TLS: a close_notify ends the TLS stream before the socket's EOF.
		c.waitClosed(500 * time.Millisecond)
	}
	r.closed = c.serverClosed()
	r.after = time.Since(start)
	if at := c.closedAt.Load(); at != 0 {
		r.after = time.Unix(0, at).Sub(start)
	}
	r.status = status
	if !r.closed {
		c.close()
	}
	return r
}

// attackWebTimeouts: slow and idle HTTP clients on the web listener (which
// also serves /v1/ on loopback) and the account service must be closed
// within the HTTP servers' timeouts.
func attackWebTimeouts(ctx context.Context, e *Env) {
	type target struct {
		name  string
		addr  string
		tlsOn bool
	}
	targets := []target{{"web", e.cfg.HTTP, false}}
	if e.cfg.Auth != "" {
		targets = append(targets, target{"auth", e.cfg.Auth, true})
	}
	hdrLimit := e.lim.HTTPReadHeaderTimeout
	readLimit := e.lim.HTTPReadTimeout
	idleLimit := e.lim.HTTPIdleTimeout
	slack := 2 * time.Second
	type check struct {
		res   *slowResult
		limit time.Duration
		what  string
		peek  bool // only a look: the wait is shorter than the timeout
	}
	var mu sync.Mutex
	var checks []check
	var wg sync.WaitGroup
	run := func(t target, what, prefix, trickle string, limit, wait time.Duration) {
		wg.Go(func() {
			host := dialTarget(t.addr)
			p := strings.ReplaceAll(prefix, "HOST", host)
			r := e.slowHTTP(ctx, t.name+" "+what, t.addr, t.tlsOn, p, trickle, wait)
			mu.Lock()
			checks = append(checks, check{&r, limit, what, wait < limit})
			mu.Unlock()
		})
	}
	body := `{"name":"nobody","password":"nothing-at-all"}` + strings.Repeat(" ", 200)
	wait := func(limit time.Duration) time.Duration { return limit + slack + time.Second }
	// Without long mode the idle keep-alive connections are only watched
	// while the slow bodies run: closed by then, they are checked; still
	// open, that is reported, not failed.
	idleWait := wait(idleLimit)
	if !e.cfg.Long {
		idleWait = min(idleWait, wait(max(hdrLimit, readLimit)))
	}
	for _, t := range targets {
		run(t, "silent connection", "", "", hdrLimit, wait(hdrLimit))
		run(t, "slow headers", "GET / HTTP/1.1\r\nHost: HOST\r\nX-Slow: ", "abcdefghijklmnopqrstuvwxyz", hdrLimit, wait(hdrLimit))
		run(t, "slow body on POST /v1/login", fmt.Sprintf("POST /v1/login HTTP/1.1\r\nHost: HOST\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body)), body, readLimit, wait(readLimit))
		run(t, "idle keep-alive", "GET /v1/attack-idle HTTP/1.1\r\nHost: HOST\r\n\r\n", "", idleLimit, idleWait)
	}
	wg.Wait()
	for _, c := range checks {
		r := c.res
		if r.err != "" {
			e.failf("%s: %s", r.label, r.err)
			continue
		}
		st := ""
		if r.status != "" {
			st = ", after answering " + r.status
		}
		switch {
		case r.closed:
			e.notef("%s: closed by the server after %s%s (timeout %s)", r.label, secs(r.after), st, secs(c.limit))
			e.expect(r.after <= c.limit+slack, "%s: closed after %s; want within %s (+%s)", r.label, secs(r.after), secs(c.limit), secs(slack))
		case c.peek:
			e.notef("%s: still open after %s%s; not failed: the %s timeout is checked in long mode", r.label, secs(r.after), st, secs(c.limit))
		default:
			e.failf("%s: still open after %s%s; want closed within %s (+%s)", r.label, secs(r.after), st, secs(c.limit), secs(slack))
		}
	}
}

// attackWSLoginTimeout: a WebSocket client that says nothing must get
// "BYE timeout" at the login timeout, then a close frame with status 1008.
func attackWSLoginTimeout(ctx context.Context, e *Env) {
	from := e.addr()
	cl := e.httpClient(from, 0)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, _, err := websocket.Dial(dctx, "ws://"+dialTarget(e.cfg.HTTP)+"/ws", &websocket.DialOptions{HTTPClient: cl})
	cancel()
	if err != nil {
		e.failf("WebSocket dial: %v", err)
		return
	}
	defer c.CloseNow()
	start := time.Now()
	L := e.lim.LoginTimeout
	slack := timeoutSlack(L)
	rctx, rcancel := context.WithTimeout(ctx, L+slack+2*time.Second)
	defer rcancel()
	var byeAt, closeAt time.Duration = -1, -1
	var msgs []string
	status := websocket.StatusCode(-1)
	var readErr error
	for i := 0; i < 1000; i++ {
		_, data, err := c.Read(rctx)
		if err != nil {
			readErr = err
			status = websocket.CloseStatus(err)
			if status != -1 {
				closeAt = time.Since(start)
			}
			break
		}
		for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
			if len(msgs) < 20 {
				msgs = append(msgs, l)
			}
			if strings.HasPrefix(stripRID(l), "BYE ") && byeAt < 0 {
				byeAt = time.Since(start)
				if strings.TrimPrefix(stripRID(l), "BYE ") != "timeout" {
					e.failf("got %q, want BYE timeout", l)
				}
			}
		}
	}
	e.notef("messages %q; BYE after %s; close status %d after %s (%v)", tail(msgs, 3), secs(byeAt), status, secs(closeAt), readErr)
	if e.expect(byeAt >= 0, "no BYE timeout within %s (login timeout %s)", secs(time.Since(start)), secs(L)) {
		e.expect(byeAt <= L+slack, "BYE timeout after %s; the login timeout is %s (+%s)", secs(byeAt), secs(L), secs(slack))
	}
	e.expect(status == websocket.StatusPolicyViolation, "close status %d (%v), want 1008 (policy violation)", status, readErr)
	if errors.Is(readErr, context.DeadlineExceeded) {
		e.failf("the connection was still open after %s", secs(time.Since(start)))
	}
}
