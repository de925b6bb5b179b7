package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Env is what an attack works with: fresh attacker addresses, tracked
// connections from them, HTTP clients bound to them, and the record of what
// it observed and which expectations failed.
type Env struct {
	s   *Suite
	cfg *Config
	lim Limits
	h   *honest

	mu       sync.Mutex
	observed []string
	failures []string
	conns    []*gconn
	clients  []*http.Client
}

// notef records an observation.
func (e *Env) notef(format string, args ...any) {
	e.mu.Lock()
	e.observed = append(e.observed, fmt.Sprintf(format, args...))
	e.mu.Unlock()
}

// failf records an expectation that did not hold.
func (e *Env) failf(format string, args ...any) {
	e.mu.Lock()
	e.failures = append(e.failures, fmt.Sprintf(format, args...))
	e.mu.Unlock()
}

// expect records a failure unless ok; it returns ok.
func (e *Env) expect(ok bool, format string, args ...any) bool {
	if !ok {
		e.failf(format, args...)
	}
	return ok
}

// addr returns a fresh attacker address.
func (e *Env) addr() netip.Addr { return e.s.newAddr() }

// scaled returns d times the suite's scale, at least min.
func (e *Env) scaled(d, min time.Duration) time.Duration {
	return max(time.Duration(float64(d)*e.cfg.Scale), min)
}

// scaledN returns n times the suite's scale, at least 1.
func (e *Env) scaledN(n int) int { return max(int(float64(n)*e.cfg.Scale+0.5), 1) }

// gconn is a tracked attacker connection.
type gconn struct {
	net.Conn
	e      *Env
	from   netip.Addr
	opened time.Time
	br     *bufio.Reader

	bg       chan struct{} // closed when the background reader exits; nil if none
	byUs     atomic.Bool   // we closed it
	closedAt atomic.Int64  // unix nanoseconds when the server's close was seen
	in       atomic.Int64  // bytes read
	loggedIn bool
	name     string // player name after login
	bye      atomic.Pointer[string]
}

const lineBuf = 64 << 10

// bind returns a dialer whose connections come from local.
func bind(local netip.Addr, timeout time.Duration) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: timeout}
}

// dialTo opens a tracked TCP connection from "from" to target.
func (e *Env) dialTo(ctx context.Context, from netip.Addr, target string) (*gconn, error) {
	nc, err := bind(from, 3*time.Second).DialContext(ctx, "tcp", dialTarget(target))
	if err != nil {
		return nil, err
	}
	c := &gconn{Conn: nc, e: e, from: from, opened: time.Now()}
	c.br = bufio.NewReaderSize(countReader{c}, lineBuf)
	e.mu.Lock()
	e.conns = append(e.conns, c)
	e.mu.Unlock()
	return c, nil
}

// dial opens a tracked connection to the game server from "from".
func (e *Env) dial(ctx context.Context, from netip.Addr) (*gconn, error) {
	return e.dialTo(ctx, from, e.cfg.Addr)
}

// countReader counts bytes read and notes the server's close.
type countReader struct{ c *gconn }

func (r countReader) Read(p []byte) (int, error) {
	n, err := r.c.Conn.Read(p)
	r.c.in.Add(int64(n))
	if err != nil && isClosedByPeer(err) && !r.c.byUs.Load() {
		r.c.closedAt.CompareAndSwap(0, time.Now().UnixNano())
	}
	return n, err
}

// Read reads from the connection, counting bytes and noting the server's
// close, so the connection can carry TLS too.
func (c *gconn) Read(p []byte) (int, error) { return countReader{c}.Read(p) }

// isClosedByPeer reports whether a read error means the peer closed or
// reset the connection.
func isClosedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF)
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// serverClosed reports whether the server's close has been seen.
func (c *gconn) serverClosed() bool { return c.closedAt.Load() != 0 }

// lifetime is how long the connection lived before the server closed it.
func (c *gconn) lifetime() time.Duration {
	at := c.closedAt.Load()
	if at == 0 {
		return -1
	}
	return time.Unix(0, at).Sub(c.opened)
}

// send writes s; errors are returned, not recorded.
func (c *gconn) send(s string) error {
	c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	_, err := io.WriteString(c.Conn, s)
	return err
}

// readLine reads one line (without the newline) within timeout. Lines
// longer than the buffer are cut. Only for connections without a
// background reader.
func (c *gconn) readLine(timeout time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	return readLine(c.br)
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s := string(line)
		for errors.Is(err, bufio.ErrBufferFull) { // skip the rest of the line
			_, err = br.ReadSlice('\n')
		}
		return s, err
	}
	if err != nil {
		return string(line), err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// waitLine reads lines until one satisfies match, for at most timeout. It
// returns the matching line, or the lines it read and the error.
func (c *gconn) waitLine(timeout time.Duration, match func(string) bool) (string, []string, error) {
	deadline := time.Now().Add(timeout)
	c.SetReadDeadline(deadline)
	var seen []string
	for n := 0; n < 100000; n++ {
		l, err := readLine(c.br)
		if err != nil {
			return "", seen, err
		}
		if match(l) {
			return l, seen, nil
		}
		if len(seen) < 50 {
			seen = append(seen, l)
		}
	}
	return "", seen, errors.New("too many lines")
}

// classify waits up to wait for the server's first move on a fresh
// connection: true if it closed the connection without sending a byte (a
// refusal at accept), false if it sent something or kept it open.
func (c *gconn) classify(wait time.Duration) (refused bool) {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.br.Peek(1)
	c.SetReadDeadline(time.Time{})
	return err != nil && isClosedByPeer(err) && c.in.Load() == 0
}

// background starts a goroutine that reads lines until the connection
// ends, calling fn (if not nil) with each line without its newline. It
// records a BYE's reason.
func (c *gconn) background(fn func(line string)) {
	c.bg = make(chan struct{})
	c.SetReadDeadline(time.Time{})
	go func() {
		defer close(c.bg)
		for {
			l, err := readLine(c.br)
			if err != nil {
				return
			}
			if r, ok := strings.CutPrefix(stripRID(l), "BYE "); ok {
				c.bye.CompareAndSwap(nil, &r)
			}
			if fn != nil {
				fn(l)
			}
		}
	}()
}

// byeReason returns the BYE reason a background reader saw, or "".
func (c *gconn) byeReason() string {
	if p := c.bye.Load(); p != nil {
		return *p
	}
	return ""
}

// waitClosed waits up to timeout for the server to close the connection
// and reports whether it did. Without a background reader it reads (and
// discards) what arrives meanwhile.
func (c *gconn) waitClosed(timeout time.Duration) bool {
	if c.serverClosed() {
		return true
	}
	if c.bg != nil {
		select {
		case <-c.bg:
		case <-time.After(timeout):
		}
		return c.serverClosed()
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 32<<10)
	for n := 0; n < 1<<16; n++ { // at most 2 GiB; the deadline ends it first
		if _, err := c.br.Read(buf); err != nil {
			break
		}
	}
	return c.serverClosed()
}

// close closes the connection from our side.
func (c *gconn) close() {
	c.byUs.Store(true)
	c.Conn.Close()
}

// quit sends QUIT (so the server releases the seat at once) and closes.
func (c *gconn) quit() {
	if !c.serverClosed() {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(c.Conn, "QUIT\n")
	}
	c.close()
}

// stripRID removes a leading "@n " request tag.
func stripRID(l string) string {
	if strings.HasPrefix(l, "@") {
		if i := strings.IndexByte(l, ' '); i > 0 {
			return l[i+1:]
		}
	}
	return l
}

// login sends "AUTH guest" and waits for WELCOME; it sets c.name.
func (c *gconn) login(timeout time.Duration) error {
	if err := c.send("AUTH guest\n"); err != nil {
		return err
	}
	l, seen, err := c.waitLine(timeout, func(l string) bool {
		l = stripRID(l)
		return strings.HasPrefix(l, "WELCOME ") || strings.HasPrefix(l, "ERR ") || strings.HasPrefix(l, "BYE ")
	})
	if err != nil {
		return fmt.Errorf("no WELCOME: %v (saw %q)", err, tail(seen, 3))
	}
	f := strings.Fields(stripRID(l))
	if f[0] != "WELCOME" || len(f) < 3 {
		return fmt.Errorf("login refused: %q", l)
	}
	c.loggedIn = true
	c.name = f[2]
	return nil
}

// dialLogin dials from "from" and logs in as a guest.
func (e *Env) dialLogin(ctx context.Context, from netip.Addr) (*gconn, error) {
	c, err := e.dial(ctx, from)
	if err != nil {
		return nil, err
	}
	if err := c.login(5 * time.Second); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func tail(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// finish counts the attacker connections the attack left to the server
// that are still open, closes everything, and returns the count.
func (e *Env) finish() int {
	e.mu.Lock()
	conns := e.conns
	clients := e.clients
	e.conns, e.clients = nil, nil
	e.mu.Unlock()
	deadline := time.Now().Add(500 * time.Millisecond)
	var open atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range conns {
		if c.byUs.Load() {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if !c.waitClosed(time.Until(deadline)) {
				open.Add(1)
			}
			if c.loggedIn {
				c.quit()
			} else {
				c.close()
			}
		}()
	}
	wg.Wait()
	for _, c := range conns {
		if c.bg != nil {
			<-c.bg
		}
	}
	for _, cl := range clients {
		cl.CloseIdleConnections()
	}
	return int(open.Load())
}

// httpClient returns an HTTP client whose connections come from "from";
// HTTPS certificates are pinned to Config.AuthFingerprint or not verified.
func (e *Env) httpClient(from netip.Addr, timeout time.Duration) *http.Client {
	d := bind(from, 3*time.Second)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp4", dialTarget(addr))
		},
		TLSClientConfig:     e.tlsConfig(),
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     5 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	cl := &http.Client{Transport: tr, Timeout: timeout}
	e.mu.Lock()
	e.clients = append(e.clients, cl)
	e.mu.Unlock()
	return cl
}

// tlsConfig pins the account service's certificate, or skips
// verification of the development certificate.
func (e *Env) tlsConfig() *tls.Config {
	pin := strings.ToLower(strings.ReplaceAll(e.cfg.AuthFingerprint, ":", ""))
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} // #nosec: self-signed dev certificate, optionally pinned below
	if pin != "" {
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no certificate")
			}
			sum := sha256.Sum256(raw[0])
			if hex.EncodeToString(sum[:]) != pin {
				return errors.New("certificate does not match the pinned fingerprint")
			}
			return nil
		}
	}
	return cfg
}

// authURL and webURL build URLs on the account service and web listener.
func (e *Env) authURL(path string) string { return "https://" + dialTarget(e.cfg.Auth) + path }
func (e *Env) webURL(path string) string  { return "http://" + dialTarget(e.cfg.HTTP) + path }

// apiAnswer is one answer of the account service.
type apiAnswer struct {
	status     int
	code       string // error code, if any
	retryAfter string
	body       []byte
}

// post sends a JSON POST and reads the answer.
func post(ctx context.Context, cl *http.Client, url string, body any, hdr map[string]string) (apiAnswer, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return apiAnswer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return apiAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(cl, req)
}

func do(cl *http.Client, req *http.Request) (apiAnswer, error) {
	resp, err := cl.Do(req)
	if err != nil {
		return apiAnswer{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	a := apiAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: body}
	var eb struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil {
		a.code = eb.Error.Code
	}
	return a, nil
}

// banned reports whether the server bans from: the account service (or
// the web listener's /v1/) answers 403 "banned" to any request from a
// banned address; without either, a game connection refused at once is
// taken as a ban.
func (e *Env) banned(ctx context.Context, from netip.Addr) (bool, string) {
	probe := func(url string) (bool, string, bool) {
		cl := e.httpClient(from, 5*time.Second)
		defer cl.CloseIdleConnections()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err.Error(), false
		}
		a, err := do(cl, req)
		if err != nil {
			return false, err.Error(), false
		}
		switch {
		case a.status == http.StatusForbidden && a.code == "banned":
			return true, "403 banned", true
		case a.status == http.StatusNotFound && a.code == "not_found":
			return false, "404 (not banned)", true
		}
		return false, fmt.Sprintf("%d %s", a.status, a.code), false
	}
	if e.cfg.Auth != "" {
		if b, how, ok := probe(e.authURL("/v1/attack-ban-probe")); ok {
			return b, "account service: " + how
		}
	}
	if e.cfg.HTTP != "" {
		if b, how, ok := probe(e.webURL("/v1/attack-ban-probe")); ok {
			return b, "web /v1/: " + how
		}
	}
	c, err := e.dial(ctx, from)
	if err != nil {
		return false, "game dial: " + err.Error()
	}
	defer c.close()
	if c.classify(500 * time.Millisecond) {
		return true, "game port refused at once"
	}
	return false, "game port accepted"
}

// waitBanned polls banned until it says yes or within passes.
func (e *Env) waitBanned(ctx context.Context, from netip.Addr, within time.Duration) (bool, string, time.Duration) {
	start := time.Now()
	var how string
	for i := 0; i < 1000; i++ {
		var b bool
		b, how = e.banned(ctx, from)
		if b || time.Since(start) > within || ctx.Err() != nil {
			return b, how, time.Since(start)
		}
		sleep(ctx, 250*time.Millisecond)
	}
	return false, how, time.Since(start)
}

// metric reads one value from the web listener's /metrics.
func (e *Env) metric(ctx context.Context, name string) (float64, bool) {
	if e.cfg.HTTP == "" {
		return 0, false
	}
	v, err := scrape(ctx, e.cfg.HTTP, name)
	return v, err == nil
}

// MetricsGoroutines returns a Config.Goroutines hook that reads
// go_goroutines from the Prometheus metrics of the web listener at
// httpAddr (which must be on loopback).
func MetricsGoroutines(httpAddr string) func(ctx context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		v, err := scrape(ctx, httpAddr, "go_goroutines")
		return int(v), err
	}
}

var scrapeClient = &http.Client{
	Timeout: 5 * time.Second,
	Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return bind(netip.MustParseAddr("127.0.0.1"), 3*time.Second).DialContext(ctx, "tcp4", addr)
		},
	},
}

// scrape reads the metric name (without labels) from /metrics.
func scrape(ctx context.Context, httpAddr, name string) (float64, error) {
	if err := CheckLoopback(httpAddr); err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+dialTarget(httpAddr)+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return parseMetric(io.LimitReader(resp.Body, 8<<20), name)
}

// parseMetric finds "name value" in a Prometheus text exposition.
func parseMetric(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// rssKiB reads VmRSS (or another field) of /proc/PID/status in KiB.
func rssKiB(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// rss returns a description of the server's memory, or "" without a PID.
func (e *Env) rss() (int, bool) {
	if e.cfg.PID <= 0 {
		return 0, false
	}
	v, err := rssKiB(e.cfg.PID, "VmRSS")
	return v, err == nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// logCount counts lines of the server log (if the hook is set) that
// contain every one of parts; ok is false without the hook.
func (e *Env) logCount(parts ...string) (int, bool) {
	if e.cfg.ServerLog == nil {
		return 0, false
	}
	n := 0
	for _, l := range strings.Split(e.cfg.ServerLog(), "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(l, p) {
				all = false
				break
			}
		}
		if all {
			n++
		}
	}
	return n, true
}
