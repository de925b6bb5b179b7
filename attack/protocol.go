package attack

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Built-in message ids (docs/PROTOCOL.md §4).
const (
	idBye = 7
	idErr = 12
)

// attackLogFlood: LOG before login is refused and not logged; 50 logged-in
// connections of one address sending LOG are limited per address.
func attackLogFlood(ctx context.Context, e *Env) {
	// A: LOG before login.
	marker := "attack-prelogin-" + randHex(6)
	if c, err := e.dial(ctx, e.addr()); err != nil {
		e.failf("A: dial: %v", err)
	} else {
		c.send("LOG warn " + marker + "\n")
		l, seen, err := c.waitLine(3*time.Second, func(l string) bool { return strings.HasPrefix(stripRID(l), "ERR ") })
		e.notef("A: LOG before login answered %q", l)
		if e.expect(err == nil, "A: no ERR for LOG before login (%v; saw %q)", err, tail(seen, 3)) {
			e.expect(strings.HasPrefix(stripRID(l), "ERR not_logged_in"), "A: LOG before login answered %q, want ERR not_logged_in", l)
		}
		c.close()
		sleep(ctx, 300*time.Millisecond)
		if n, ok := e.logCount(marker); ok {
			e.expect(n == 0, "A: the server logged the LOG line sent before login (%d times)", n)
		} else {
			e.notef("A: not checked that nothing was logged (no server log)")
		}
	}

	// B: 50 connections from one address each send their whole per
	// connection burst of LOG lines at once.
	const nConns = 50
	from := e.addr()
	var conns []*gconn
	defer func() {
		for _, c := range conns {
			c.quit()
		}
	}()
	interval := time.Duration(float64(time.Second) / e.lim.ConnRatePerAddr * 1.2)
	for i := range nConns {
		if i >= e.lim.ConnBurstPerAddr-2 {
			sleep(ctx, interval) // stay within the connection rate
		}
		c, err := e.dialLogin(ctx, from)
		if err != nil {
			e.failf("B: connection %d could not log in: %v", i+1, err)
			break
		}
		c.background(nil)
		conns = append(conns, c)
	}
	if len(conns) == 0 {
		return
	}
	marker = "attack-flood-" + randHex(6)
	var batch strings.Builder
	for i := range logBurst {
		fmt.Fprintf(&batch, "LOG info %s %d\n", marker, i)
	}
	d0, haveMetric := e.metric(ctx, "tickwire_dropped_client_logs_total")
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.send(batch.String()) })
	}
	wg.Wait()
	T := time.Since(start)
	sleep(ctx, time.Second)
	sent := len(conns) * logBurst
	allowed := logAddrBurst + int(math.Ceil(logAddrRate*(T.Seconds()+1)))
	checked := false
	if d1, ok := e.metric(ctx, "tickwire_dropped_client_logs_total"); ok && haveMetric {
		dropped := int(d1 - d0)
		e.notef("B: %d LOG lines from %d connections of one address in %s: %d dropped (metrics)", sent, len(conns), secs(T), dropped)
		e.expect(dropped >= sent-allowed, "B: only %d of %d LOG lines dropped; the per-address limit (%d/s, burst %d) lets at most %d through", dropped, sent, logAddrRate, logAddrBurst, allowed)
		checked = true
	}
	if n, ok := e.logCount(marker); ok {
		e.notef("B: %d of %d LOG lines written to the server log", n, sent)
		e.expect(n <= allowed, "B: %d LOG lines of one address logged in %s; the per-address limit (%d/s, burst %d) allows %d", n, secs(T), logAddrRate, logAddrBurst, allowed)
		checked = true
	}
	if !checked {
		e.notef("B: %d LOG lines sent; neither /metrics (--http) nor the server log available to count them", sent)
	}
}

// attackBanEndsSessions: a logged-in session, then its address earns three
// strikes on a second socket (malformed lines: every fifth is a strike); the session must get "BYE banned" and be
// closed within a second.
func attackBanEndsSessions(ctx context.Context, e *Env) {
	from := e.addr()
	s1, err := e.dialLogin(ctx, from)
	if err != nil {
		e.failf("could not log in: %v", err)
		return
	}
	s1.background(nil)
	s2, err := e.dial(ctx, from)
	if err != nil {
		e.failf("second socket: %v", err)
		return
	}
	s2.waitLine(time.Second, func(string) bool { return true }) // the banner
	var struck time.Time
	var answers []string
	for i := range strikesToBan * decodeErrorsPerStrike {
		s2.send("%%% malformed " + fmt.Sprint(i) + "\n")
		struck = time.Now()
		l, _, err := s2.waitLine(2*time.Second, func(l string) bool {
			l = stripRID(l)
			return strings.HasPrefix(l, "ERR ") || strings.HasPrefix(l, "BYE ")
		})
		if err != nil {
			answers = append(answers, err.Error())
			break
		}
		answers = append(answers, l)
	}
	// The last answer may be the ERR; BYE banned follows it.
	if last := answers[len(answers)-1]; !strings.HasPrefix(stripRID(last), "BYE ") {
		if l, _, err := s2.waitLine(time.Second, func(l string) bool { return strings.HasPrefix(stripRID(l), "BYE ") }); err == nil {
			answers = append(answers, l)
		}
	}
	s2.waitClosed(time.Second)
	s1.waitClosed(time.Second + 500*time.Millisecond)
	after := time.Duration(-1)
	if at := s1.closedAt.Load(); at != 0 {
		after = time.Unix(0, at).Sub(struck)
	}
	b, how := e.banned(ctx, from)
	e.notef("second socket: %q; address banned: %v (%s); logged-in session: BYE %q, closed %s after the third strike",
		answers, b, how, s1.byeReason(), secs(after))
	e.expect(b, "the address is not banned after %d malformed lines (%s)", strikesToBan*decodeErrorsPerStrike, how)
	if e.expect(after >= 0, "the logged-in session of the banned address is still open") {
		e.expect(after <= time.Second+250*time.Millisecond, "the logged-in session closed %s after the ban; want within 1 s", secs(after))
		e.expect(s1.byeReason() == "banned", "the logged-in session got BYE %q, want BYE banned", s1.byeReason())
	}
	if !s1.serverClosed() {
		s1.quit()
	}
}

// attackErrorCodes: the ERR text starts with the machine code; duplicate
// JSON keys are a syntax error.
func attackErrorCodes(ctx context.Context, e *Env) {
	c, err := e.dial(ctx, e.addr())
	if err != nil {
		e.failf("dial: %v", err)
		return
	}
	defer c.close()
	tok := make([]byte, 32)
	rand.Read(tok)
	c.send("AUTH alice " + base64.RawURLEncoding.EncodeToString(tok) + "\n")
	l, seen, err := c.waitLine(5*time.Second, func(l string) bool { return strings.HasPrefix(stripRID(l), "ERR ") })
	if e.expect(err == nil, "AUTH with a garbage token: no ERR (%v; saw %q)", err, tail(seen, 3)) {
		e.notef("AUTH alice <garbage token>: %q", l)
		f := strings.Fields(stripRID(l))
		e.expect(len(f) >= 3 && f[1] == "auth" && f[2] == "bad_token",
			"AUTH alice <garbage token> answered %q, want \"ERR auth bad_token ...\"", l)
	}

	c.send("USE json\n")
	if _, seen, err := c.waitLine(3*time.Second, func(l string) bool { return strings.HasPrefix(stripRID(l), "USING ") }); err != nil {
		e.failf("USE json: no USING (%v; saw %q)", err, tail(seen, 3))
		return
	}
	type jmsg struct {
		Type  string `json:"type"`
		Code  string `json:"code"`
		Text  string `json:"text"`
		Token string `json:"token"`
	}
	ask := func(line string) (jmsg, string, error) {
		c.send(line + "\n")
		var m jmsg
		l, _, err := c.waitLine(3*time.Second, func(l string) bool {
			m = jmsg{}
			return json.Unmarshal([]byte(l), &m) == nil && (m.Type == "ERR" || m.Type == "PONG")
		})
		return m, l, err
	}
	if m, l, err := ask(`{"type":"PING","token":"ok"}`); err != nil || m.Type != "PONG" || m.Token != "ok" {
		e.failf("JSON PING answered %q (%v), want a PONG", l, err)
	}
	m, l, err := ask(`{"type":"PING","token":"a","token":"b"}`)
	e.notef("JSON with duplicate keys: %q", l)
	if e.expect(err == nil, "JSON with duplicate keys: no answer (%v)", err) {
		e.expect(m.Type == "ERR" && m.Code == "bad_syntax", "JSON with duplicate keys answered %q, want ERR bad_syntax", l)
	}
}

// attackSpoofedProxy: PROXY protocol headers and X-Forwarded-For from an
// untrusted peer must not change the address the server limits and bans.
func attackSpoofedProxy(ctx context.Context, e *Env) {
	_, gport, _ := net.SplitHostPort(e.cfg.Addr)
	header := "PROXY TCP4 127.0.0.1 127.0.0.1 40000 " + gport + "\r\n"

	// A: one connection sends a PROXY v1 header claiming 127.0.0.1.
	if c, err := e.dial(ctx, e.addr()); err != nil {
		e.failf("A: dial: %v", err)
	} else {
		c.send(header)
		l, seen, err := c.waitLine(1500*time.Millisecond, func(l string) bool {
			l = stripRID(l)
			return strings.HasPrefix(l, "ERR ") || strings.HasPrefix(l, "BYE ")
		})
		switch {
		case err == nil:
			e.notef("A: PROXY header from an untrusted peer answered %q", l)
		case c.serverClosed():
			e.notef("A: PROXY header from an untrusted peer: connection closed (saw %q)", tail(seen, 2))
		default:
			e.failf("A: PROXY header from an untrusted peer neither refused nor answered within 1.5 s (saw %q): taken as trusted?", tail(seen, 2))
		}
		c.close()
	}

	// B: from one address, MaxPreLoginPerAddr + 8 connections each start
	// with a PROXY header claiming the exempt 127.0.0.1; no more than
	// MaxPreLoginPerAddr may stay open.
	from := e.addr()
	n := e.lim.MaxPreLoginPerAddr + 8
	var cs []*gconn
	refusedAtOnce := 0
	for range n {
		c, err := e.dial(ctx, from)
		if err != nil {
			refusedAtOnce++
			continue
		}
		c.send(header)
		if c.classify(300 * time.Millisecond) {
			refusedAtOnce++
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		if !c.serverClosed() {
			c.background(nil)
		}
	}
	sleep(ctx, time.Second)
	open := 0
	for _, c := range cs {
		if !c.serverClosed() {
			open++
		}
	}
	e.notef("B: %d connections from one address with a PROXY header claiming 127.0.0.1: %d refused at once, %d closed later, %d still open",
		n, refusedAtOnce, n-refusedAtOnce-open, open)
	e.expect(open <= e.lim.MaxPreLoginPerAddr, "B: %d connections still open; a spoofed PROXY header lifted the per-address pre-login limit (%d)", open, e.lim.MaxPreLoginPerAddr)
	for _, c := range cs {
		c.close()
	}

	// C: rotating X-Forwarded-For and Forwarded does not escape the
	// per-address login limit of the account service.
	type api struct{ name, url string }
	var apis []api
	if e.cfg.Auth != "" {
		apis = append(apis, api{"account service", e.authURL("/v1/login")})
	}
	if e.cfg.HTTP != "" {
		apis = append(apis, api{"web listener /v1/", e.webURL("/v1/login")})
	}
	if len(apis) == 0 {
		e.notef("C: X-Forwarded-For not checked (no --auth or --http)")
	}
	for _, a := range apis {
		cl := e.httpClient(e.addr(), 30*time.Second)
		first429 := -1
		statuses := map[string]int{}
		limit := e.lim.LoginBurstPerAddr + 2
		for i := range limit + 3 {
			fake := fmt.Sprintf("203.0.113.%d", i+1)
			ans, err := post(ctx, cl, a.url, map[string]string{"name": "xf" + randHex(5), "password": "wrong-password-" + randHex(3)},
				map[string]string{"X-Forwarded-For": fake, "Forwarded": "for=" + fake, "X-Real-IP": fake})
			k := "error"
			if err == nil {
				k = fmt.Sprint(ans.status)
				if ans.status == 429 && first429 < 0 {
					first429 = i + 1
				}
				if a.name != "account service" && ans.status == 404 && ans.code == "" {
					k = "404 (no /v1/ here)"
				}
			}
			statuses[k]++
			if first429 > 0 {
				break
			}
		}
		e.notef("C: %s, X-Forwarded-For rotated on every login: %s; first 429 at request %d", a.name, statusCounts(statuses), first429)
		if statuses["404 (no /v1/ here)"] > 0 {
			continue
		}
		e.expect(first429 > 0 && first429 <= limit, "C: %s: no 429 within %d logins from one address with rotating X-Forwarded-For (per-address burst %d)", a.name, limit, e.lim.LoginBurstPerAddr)
	}
}

// attackTooLong: a line over the message cap gets ERR too_long, BYE
// too_long and a close.
func attackTooLong(ctx context.Context, e *Env) {
	c, err := e.dial(ctx, e.addr())
	if err != nil {
		e.failf("dial: %v", err)
		return
	}
	start := time.Now()
	c.send(strings.Repeat("A", e.lim.MaxMessage+100) + "\n")
	var lines []string
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for range 100 {
		l, err := readLine(c.br)
		if err != nil {
			break
		}
		lines = append(lines, stripRID(l))
	}
	errAt, byeAt := -1, -1
	for i, l := range lines {
		if strings.HasPrefix(l, "ERR too_long") && errAt < 0 {
			errAt = i
		}
		if strings.HasPrefix(l, "BYE ") && byeAt < 0 {
			byeAt = i
		}
	}
	closed := c.serverClosed()
	e.notef("answered %q; closed: %v after %s", tail(lines, 3), closed, secs(time.Since(start)))
	e.expect(errAt >= 0, "no ERR too_long")
	e.expect(byeAt > errAt && byeAt >= 0 && lines[byeAt] == "BYE too_long", "no BYE too_long after the ERR")
	e.expect(closed, "the connection was not closed")
	c.close()
}

// readFrame reads one length-prefixed binary frame (§2).
func readFrame(br *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > 1<<21 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err = io.ReadFull(br, p)
	return p, err
}

// mpMessage decodes a MessagePack frame's id and, for ERR and BYE, the
// first string field (the code or the reason).
func mpMessage(p []byte) (id uint64, first string, ok bool) {
	h, k := binary.Uvarint(p)
	if k <= 0 {
		return 0, "", false
	}
	p = p[k:]
	if h&1 == 1 {
		if _, k = binary.Uvarint(p); k <= 0 {
			return 0, "", false
		}
		p = p[k:]
	}
	id = h >> 1
	s, _, ok := mpString(p)
	return id, s, ok || (id != idErr && id != idBye)
}

// mpString decodes a MessagePack str.
func mpString(p []byte) (string, []byte, bool) {
	if len(p) == 0 {
		return "", nil, false
	}
	var n, hdr int
	switch b := p[0]; {
	case b&0xe0 == 0xa0:
		n, hdr = int(b&0x1f), 1
	case b == 0xd9 && len(p) >= 2:
		n, hdr = int(p[1]), 2
	case b == 0xda && len(p) >= 3:
		n, hdr = int(binary.BigEndian.Uint16(p[1:3])), 3
	case b == 0xdb && len(p) >= 5:
		n, hdr = int(binary.BigEndian.Uint32(p[1:5])), 5
	default:
		return "", nil, false
	}
	if len(p) < hdr+n {
		return "", nil, false
	}
	return string(p[hdr : hdr+n]), p[hdr+n:], true
}

// attackHugePrefix: after USE msgpack, a length prefix of 4 GiB must be
// refused (ERR too_long, BYE too_long) before anything is allocated.
func attackHugePrefix(ctx context.Context, e *Env) {
	c, err := e.dial(ctx, e.addr())
	if err != nil {
		e.failf("dial: %v", err)
		return
	}
	defer c.close()
	rss0, haveRSS := e.rss()
	c.send("USE msgpack\n")
	if _, seen, err := c.waitLine(3*time.Second, func(l string) bool { return strings.HasPrefix(stripRID(l), "USING ") }); err != nil {
		e.failf("USE msgpack: no USING (%v; saw %q)", err, tail(seen, 3))
		return
	}
	start := time.Now()
	c.send("\x80\x80\x80\x80\x10") // uvarint 1<<32
	var got []string
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	errCode, bye := "", ""
	for range 1000 {
		p, err := readFrame(c.br)
		if err != nil {
			break
		}
		if len(p) == 0 {
			continue // keepalive
		}
		id, s, ok := mpMessage(p)
		if !ok {
			got = append(got, fmt.Sprintf("undecodable %x", p[:min(len(p), 16)]))
			continue
		}
		switch id {
		case idErr:
			got = append(got, "ERR "+s)
			if errCode == "" {
				errCode = s
			}
		case idBye:
			got = append(got, "BYE "+s)
			bye = s
		default:
			got = append(got, fmt.Sprintf("message %d", id))
		}
	}
	closed := c.serverClosed()
	e.notef("a 4 GiB length prefix after USE msgpack: %q; closed: %v after %s", got, closed, secs(time.Since(start)))
	if haveRSS {
		rss1, _ := e.rss()
		e.notef("server RSS %.1f MiB before, %.1f MiB after", float64(rss0)/1024, float64(rss1)/1024)
		e.expect(rss1-rss0 < 64<<10, "server RSS grew by %.1f MiB", float64(rss1-rss0)/1024)
	}
	e.expect(errCode == "too_long", "got ERR %q, want ERR too_long", errCode)
	e.expect(bye == "too_long", "got BYE %q, want BYE too_long", bye)
	e.expect(closed, "the connection was not closed")
}

// attackGarbage: 64 KiB of random bytes; the server must close the
// connection promptly and send back no more than it received.
func attackGarbage(ctx context.Context, e *Env) {
	c, err := e.dial(ctx, e.addr())
	if err != nil {
		e.failf("dial: %v", err)
		return
	}
	codes := map[string]int{}
	var mu sync.Mutex
	c.background(func(l string) {
		f := strings.Fields(stripRID(l))
		if len(f) >= 2 && f[0] == "ERR" {
			mu.Lock()
			codes[f[1]]++
			mu.Unlock()
		}
	})
	buf := make([]byte, 4096)
	sent := 0
	start := time.Now()
	for range 16 {
		rand.Read(buf)
		if c.send(string(buf)) != nil {
			break
		}
		sent += len(buf)
		sleep(ctx, 10*time.Millisecond)
	}
	closed := c.waitClosed(3 * time.Second)
	mu.Lock()
	cs := statusCounts(codes)
	mu.Unlock()
	e.notef("sent %d random bytes; got %d bytes back (ERR %s), BYE %q; closed: %v after %s",
		sent, c.in.Load(), cs, c.byeReason(), closed, secs(time.Since(start)))
	e.expect(closed, "the connection was still open 3 s after 64 KiB of garbage")
	e.expect(c.in.Load() <= int64(sent), "the server sent back %d bytes for %d received", c.in.Load(), sent)
	if !closed {
		c.close()
	}
}

// attackSlowConsumer: a logged-in client asks for output (within every
// rate limit) and never reads; the server must cut it off as a slow
// consumer, within the write timeout once its socket buffers are full.
func attackSlowConsumer(ctx context.Context, e *Env) {
	from := e.addr()
	nc, err := slowDialer(from).DialContext(ctx, "tcp4", dialTarget(e.cfg.Addr))
	if err != nil {
		e.failf("dial: %v", err)
		return
	}
	c := &gconn{Conn: nc, e: e, from: from, opened: time.Now()}
	c.br = bufio.NewReaderSize(countReader{c}, 512) // read little: only up to WELCOME
	e.mu.Lock()
	e.conns = append(e.conns, c)
	e.mu.Unlock()
	if err := c.login(5 * time.Second); err != nil {
		e.failf("could not log in: %v", err)
		return
	}
	conns0, cerr := e.h.serverConns(ctx)
	start := time.Now()
	bound := e.lim.WriteTimeout + 20*time.Second
	token := strings.Repeat("z", 60)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	cut := time.Duration(-1)
	how := ""
	var written atomic.Int64
	lastCheck := start
	for i := 0; i < 100000 && time.Since(start) < bound && ctx.Err() == nil; i++ {
		var b strings.Builder
		if i%2 == 0 {
			b.WriteString("PING " + token + "\n") // 10/s of PING's 20/s
		}
		if i%11 == 0 {
			b.WriteString("LOOK\n") // under 2/s
		}
		if i%21 == 0 {
			b.WriteString("HELP\n") // under 1/s
		}
		b.WriteString("CLOSE\n") // 20/s: ERR no_chest
		c.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := io.WriteString(c.Conn, b.String())
		written.Add(int64(n))
		if err != nil && !isTimeout(err) {
			cut, how = time.Since(start), "write failed: "+err.Error()
			break
		}
		if cerr == nil && time.Since(lastCheck) >= 500*time.Millisecond {
			lastCheck = time.Now()
			if n, err := e.h.serverConns(ctx); err == nil && n < conns0 {
				cut, how = time.Since(start), "the server's connection count dropped"
				break
			}
		}
		<-t.C
	}
	// Read what is buffered: the server's close must be at the end of it.
	c.br = bufio.NewReaderSize(countReader{c}, lineBuf)
	closed := c.waitClosed(3 * time.Second)
	e.notef("never reading: cut off after %s (%s); socket closed by the server: %v; %d bytes read in all",
		secs(cut), how, closed, c.in.Load())
	if e.expect(cut >= 0 && closed, "a client that never reads was not cut off within %s (write timeout %s)", secs(bound), secs(e.lim.WriteTimeout)) {
		e.expect(cut <= bound, "cut off after %s; want within %s", secs(cut), secs(bound))
	}
	if !closed {
		c.quit()
	}
}
