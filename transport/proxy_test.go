package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// safety bounds a wait that must end in a passing test long before; it
// only keeps a broken implementation from hanging the run.
const safety = 10 * time.Second

// forever is a header timeout long enough never to matter in a test.
const forever = time.Hour

// proxyPair listens on 127.0.0.1 through ListenTCP and proxyProtocol,
// dials it from 127.0.0.1, and returns both ends. Accept runs on its own
// goroutine and must return without the client sending anything.
func proxyPair(t *testing.T, trusted TrustedProxies, timeout time.Duration) (server net.Conn, client *net.TCPConn) {
	t.Helper()
	raw, err := ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := proxyProtocol(raw, trusted, timeout)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	select {
	case sc, ok := <-accepted:
		if !ok {
			t.Fatal("accept failed")
		}
		t.Cleanup(func() { sc.Close() })
		return sc, cc.(*net.TCPConn)
	case <-time.After(safety):
		t.Fatal("Accept did not return while the client sent nothing: it must not read")
	}
	return nil, nil
}

func trustLoopback(t *testing.T) TrustedProxies {
	t.Helper()
	tp, err := ParseTrustedProxies("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func trustElsewhere(t *testing.T) TrustedProxies {
	t.Helper()
	tp, err := ParseTrustedProxies("10.0.0.0/8", "2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func header(t *testing.T, version byte, src, dst string) []byte {
	t.Helper()
	s := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src))
	d := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst))
	b, err := proxyproto.HeaderProxyFromAddrs(version, s, d).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectClosed reads from the client side until the server closes it and
// fails if any byte arrives.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(safety))
	b, err := io.ReadAll(c)
	if len(b) > 0 {
		t.Errorf("client received %q from a refused connection", b)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read: %v, want EOF or reset", err)
	}
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(safety))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	c.SetReadDeadline(time.Time{})
	return string(b)
}

func TestProxyProtocolTrustedHeader(t *testing.T) {
	cases := []struct {
		name     string
		version  byte
		src, dst string
	}{
		{"v1 IPv4", 1, "203.0.113.7:40000", "192.0.2.1:5001"},
		{"v1 IPv6", 1, "[2001:db8::7]:40001", "[2001:db8::1]:5001"},
		{"v2 IPv4", 2, "198.51.100.9:1234", "192.0.2.1:5001"},
		{"v2 IPv6", 2, "[2001:db8:1::9]:65535", "[2001:db8::1]:5001"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc, cc := proxyPair(t, trustLoopback(t), ProxyHeaderTimeout)
			// The header and the client's first bytes in one write, as
			// proxies send them.
			if _, err := cc.Write(append(header(t, tc.version, tc.src, tc.dst), "AUTH guest\n"...)); err != nil {
				t.Fatal(err)
			}
			if err := sc.(interface{ Handshake() error }).Handshake(); err != nil {
				t.Fatalf("Handshake: %v", err)
			}
			if got := sc.RemoteAddr().String(); got != tc.src {
				t.Errorf("RemoteAddr = %s, want the header's %s", got, tc.src)
			}
			if got := readN(t, sc, len("AUTH guest\n")); got != "AUTH guest\n" {
				t.Errorf("read %q after the header", got)
			}
			// The rest of the stream passes through, both ways.
			cc.Write([]byte("PING x\n"))
			if got := readN(t, sc, 7); got != "PING x\n" {
				t.Errorf("read %q", got)
			}
			sc.Write([]byte("PONG x\n"))
			if got := readN(t, cc, 7); got != "PONG x\n" {
				t.Errorf("client read %q", got)
			}
			// Still a TCP socket from ListenTCP, with TCP_NODELAY.
			checkNoDelay(t, sc)
		})
	}
}

func checkNoDelay(t *testing.T, c net.Conn) {
	t.Helper()
	nc, ok := c.(interface{ NetConn() net.Conn })
	if !ok {
		t.Fatalf("%T has no NetConn", c)
	}
	tc, ok := nc.NetConn().(*net.TCPConn)
	if !ok {
		t.Fatalf("NetConn is %T, want the *net.TCPConn ListenTCP accepted", nc.NetConn())
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY) })
	if serr != nil || v == 0 {
		t.Errorf("TCP_NODELAY = %d (%v), want set", v, serr)
	}
}

// The inner listener's Accept is the one that runs (so ListenTCP's
// TCP_NODELAY applies), for trusted and untrusted sources alike.
func TestProxyProtocolUsesInnerAccept(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		tp := TrustedProxies{netip.MustParsePrefix("192.0.2.0/24")}
		peer := "192.0.2.5:999"
		if !trusted {
			peer = "198.51.100.5:999"
		}
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		marked := &addrConn{Conn: a, remote: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(peer))}
		ln := ProxyProtocol(&oneListener{c: marked}, tp)
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if got := c.(interface{ NetConn() net.Conn }).NetConn(); got != marked {
			t.Errorf("trusted=%v: NetConn is %v, want the inner listener's connection", trusted, got)
		}
		if _, isTrusted := c.(*proxiedConn); isTrusted != trusted {
			t.Errorf("peer %s: trusted handling %v, want %v", peer, isTrusted, trusted)
		}
	}
}

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c *addrConn) RemoteAddr() net.Addr { return c.remote }

type oneListener struct{ c net.Conn }

func (l *oneListener) Accept() (net.Conn, error) {
	if l.c == nil {
		return nil, net.ErrClosed
	}
	c := l.c
	l.c = nil
	return c, nil
}
func (l *oneListener) Close() error   { return nil }
func (l *oneListener) Addr() net.Addr { return &net.TCPAddr{} }

func TestProxyProtocolUntrustedHeaderRefused(t *testing.T) {
	for _, version := range []byte{1, 2} {
		t.Run(string('0'+version), func(t *testing.T) {
			sc, cc := proxyPair(t, trustElsewhere(t), forever)
			cc.Write(append(header(t, version, "203.0.113.7:40000", "192.0.2.1:5001"), "AUTH guest\n"...))
			buf := make([]byte, 64)
			n, err := sc.Read(buf)
			if !errors.Is(err, ErrProxyHeaderRefused) {
				t.Fatalf("Read = %d %q, %v; want ErrProxyHeaderRefused", n, buf[:n], err)
			}
			if _, err := sc.Read(buf); !errors.Is(err, ErrProxyHeaderRefused) {
				t.Errorf("second Read: %v, want the same refusal", err)
			}
			if err := sc.(interface{ Handshake() error }).Handshake(); !errors.Is(err, ErrProxyHeaderRefused) {
				t.Errorf("Handshake after the refusal: %v", err)
			}
			if got := netAddrIP(sc.RemoteAddr()); got != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("RemoteAddr = %v, want the socket's peer (the header is not believed)", got)
			}
			expectClosed(t, cc)
		})
	}
}

// A client that is no proxy sees no difference: the server's banner goes out
// before the client has said anything, and its bytes arrive intact even
// when they start like a PROXY signature.
func TestProxyProtocolUntrustedPlain(t *testing.T) {
	inputs := []string{
		"AUTH guest\n",
		"\r\n\r\nAUTH guest\n", // blank lines: a prefix of the v2 signature at first
		"PROX\n",               // a prefix of the v1 signature, then not
		"P",
		"\r\n\r\n\x00\r\nQUI\n",     // the v2 signature's first 10 bytes, then not
		"\x16\x03\x01\x00\x05hello", // a TLS record
	}
	for _, in := range inputs {
		for _, byteByByte := range []bool{false, true} {
			sc, cc := proxyPair(t, trustElsewhere(t), forever)
			if _, err := sc.Write([]byte("INFO hello\n")); err != nil {
				t.Fatal(err)
			}
			if got := readN(t, cc, 11); got != "INFO hello\n" {
				t.Fatalf("banner %q", got)
			}
			if err := sc.(interface{ Handshake() error }).Handshake(); err != nil {
				t.Errorf("Handshake of a plain client: %v", err)
			}
			if got := netAddrIP(sc.RemoteAddr()); got != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("RemoteAddr = %v", got)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; i < len(in); {
					n := len(in) - i
					if byteByByte {
						n = 1
					}
					cc.Write([]byte(in[i : i+n]))
					i += n
				}
				cc.CloseWrite()
			}()
			sc.SetReadDeadline(time.Now().Add(safety))
			got, err := io.ReadAll(sc)
			<-done
			if err != nil || string(got) != in {
				t.Errorf("%q (byte by byte %v): server read %q, %v", in, byteByByte, got, err)
			}
		}
	}
}

// A client stalled halfway through what could be a signature is held to
// the caller's read deadline, and nothing it sent is lost.
func TestProxyProtocolUntrustedStalledPrefix(t *testing.T) {
	sc, cc := proxyPair(t, trustElsewhere(t), forever)
	cc.Write([]byte("\r\n"))
	sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 64)
	n, err := sc.Read(buf)
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %d %q, %v; want the deadline", n, buf[:n], err)
	}
	cc.Write([]byte("PING\n"))
	if got := readN(t, sc, 7); got != "\r\nPING\n" {
		t.Errorf("after the deadline the server read %q", got)
	}
}

func TestProxyProtocolTrustedWithoutHeader(t *testing.T) {
	sc, cc := proxyPair(t, trustLoopback(t), forever)
	cc.Write([]byte("AUTH guest\n"))
	// A write waits for the header: nothing reaches a refused client.
	if n, err := sc.Write([]byte("INFO hello\n")); n != 0 || !errors.Is(err, ErrProxyHeaderRequired) {
		t.Errorf("Write = %d, %v; want ErrProxyHeaderRequired", n, err)
	}
	if _, err := sc.Read(make([]byte, 64)); !errors.Is(err, ErrProxyHeaderRequired) || !errors.Is(err, proxyproto.ErrNoProxyProtocol) {
		t.Errorf("Read: %v, want ErrProxyHeaderRequired wrapping ErrNoProxyProtocol", err)
	}
	if got := netAddrIP(sc.RemoteAddr()); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("RemoteAddr of a refused connection = %v, want the proxy's", got)
	}
	expectClosed(t, cc)
}

// A trusted source that sends part of a header and stalls is refused when
// the header timeout passes.
func TestProxyProtocolSlowHeader(t *testing.T) {
	sigv2 := string(proxyproto.SIGV2)
	for _, partial := range []string{"", sigv2[:8], sigv2 + "\x21\x11\x00"} {
		sc, cc := proxyPair(t, trustLoopback(t), 100*time.Millisecond)
		if partial != "" {
			cc.Write([]byte(partial))
		}
		err := sc.(interface{ Handshake() error }).Handshake()
		if !errors.Is(err, ErrProxyHeaderRequired) {
			t.Errorf("partial %q: Handshake: %v, want ErrProxyHeaderRequired", partial, err)
		}
		expectClosed(t, cc)
	}
}

// The caller's read deadline bounds the header read too when it is earlier
// than the header timeout, and is back in force after the header.
func TestProxyProtocolDeadlines(t *testing.T) {
	sc, cc := proxyPair(t, trustLoopback(t), forever)
	sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := sc.Read(make([]byte, 8)); !errors.Is(err, ErrProxyHeaderRequired) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read: %v, want ErrProxyHeaderRequired from the deadline", err)
	}
	expectClosed(t, cc)

	// After a good header the header timeout no longer applies, and the
	// caller's deadline does.
	sc, cc = proxyPair(t, trustLoopback(t), 20*time.Millisecond)
	cc.Write(header(t, 1, "203.0.113.7:40000", "192.0.2.1:5001"))
	if err := sc.(interface{ Handshake() error }).Handshake(); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond) // well past the 20 ms header timeout
		cc.Write([]byte("late\n"))
	}()
	if got := readN(t, sc, 5); got != "late\n" {
		t.Errorf("read %q", got)
	}
	sc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := sc.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read past the caller's deadline: %v", err)
	}
}

func TestProxyProtocolGarbageHeaders(t *testing.T) {
	sigv2 := string(proxyproto.SIGV2)
	garbage := []string{
		"PROXY GARBAGE\r\n",
		"PROXY TCP4 203.0.113.7\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.1 40000\r\n",
		"PROXY TCP4 999.0.113.7 192.0.2.1 40000 5001\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.1 70000 5001\r\n",
		"PROXY TCP4 2001:db8::7 192.0.2.1 40000 5001\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.1 40000 5001\n", // no CR
		"PROXY " + strings.Repeat("A", 200) + "\r\n",    // too long
		"PROXY TCP4 203.0.113.7 192.0.2.1 40000 5001",   // no line end, then EOF
		sigv2 + "\x31\x11\x00\x0c",                      // version 3
		sigv2 + "\x2f\x11\x00\x0c",                      // command 15
		sigv2 + "\x21\x11\x00\x04\x01\x02\x03\x04",      // address block too short
		sigv2 + "\x21\x11\xff\xff\x01\x02",              // declared 65535 bytes, then EOF
		"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09",
		"GET / HTTP/1.1\r\n\r\n",
	}
	for _, g := range garbage {
		sc, cc := proxyPair(t, trustLoopback(t), forever)
		cc.Write([]byte(g))
		cc.CloseWrite()
		n, err := sc.Read(make([]byte, 64))
		if n != 0 || !errors.Is(err, ErrProxyHeaderRequired) {
			t.Errorf("%q: Read = %d, %v; want ErrProxyHeaderRequired", g, n, err)
		}
		if got := netAddrIP(sc.RemoteAddr()); got != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("%q: RemoteAddr %v, want the proxy's", g, got)
		}
		expectClosed(t, cc)
	}
}

// A LOCAL header (a proxy's health check) is valid; the address is the
// proxy's own.
func TestProxyProtocolLocal(t *testing.T) {
	for _, h := range []string{"PROXY UNKNOWN\r\n", string(proxyproto.SIGV2) + "\x20\x00\x00\x00"} {
		sc, cc := proxyPair(t, trustLoopback(t), forever)
		cc.Write([]byte(h + "PING\n"))
		if got := readN(t, sc, 5); got != "PING\n" {
			t.Errorf("%q: read %q", h, got)
		}
		if got := netAddrIP(sc.RemoteAddr()); got != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("%q: RemoteAddr %v, want the proxy's", h, got)
		}
	}
}

func TestSniff(t *testing.T) {
	cases := []struct {
		in   string
		want sniffVerdict
	}{
		{"", sniffMore},
		{"P", sniffMore},
		{"PROX", sniffMore},
		{"PROXY", sniffHeader},
		{"PROXY TCP4", sniffHeader},
		{"PRO\n", sniffPlain},
		{"AUTH", sniffPlain},
		{"\r", sniffMore},
		{"\r\n\r\n\x00\r\nQUIT", sniffMore},
		{"\r\n\r\n\x00\r\nQUIT\n", sniffHeader},
		{"\r\n\r\nA", sniffPlain},
		{"\x16", sniffPlain},
	}
	for _, tc := range cases {
		if got := sniff([]byte(tc.in)); got != tc.want {
			t.Errorf("sniff(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// chunkConn is a net.Conn whose reads return the given chunks in turn, then
// io.EOF. Writes are discarded.
type chunkConn struct {
	chunks [][]byte
	closed bool
}

func (c *chunkConn) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}
func (c *chunkConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *chunkConn) Close() error                { c.closed = true; return nil }
func (c *chunkConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5001} }
func (c *chunkConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
}
func (c *chunkConn) SetDeadline(time.Time) error      { return nil }
func (c *chunkConn) SetReadDeadline(time.Time) error  { return nil }
func (c *chunkConn) SetWriteDeadline(time.Time) error { return nil }

// split cuts data into chunks at the offsets cuts gives (each byte a
// length), so the fuzzer explores how reads are split.
func split(data, cuts []byte) [][]byte {
	var chunks [][]byte
	for _, c := range cuts {
		n := min(int(c), len(data))
		chunks = append(chunks, data[:n])
		data = data[n:]
	}
	return append(chunks, data)
}

// FuzzProxySniff: an untrusted client's bytes come through unchanged, or
// the connection is refused exactly when they start with a PROXY signature,
// however the reads are split.
func FuzzProxySniff(f *testing.F) {
	f.Add([]byte("AUTH guest\n"), []byte{1, 2})
	f.Add([]byte("\r\n\r\nAUTH guest\n"), []byte{2, 2, 1})
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), []byte{3, 1})
	f.Add(append(append([]byte(nil), proxyproto.SIGV2...), 0x21, 0x11), []byte{5, 5})
	f.Add([]byte("PRO"), []byte{1})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		c := &sniffConn{Conn: &chunkConn{chunks: split(data, cuts)}}
		var got []byte
		buf := make([]byte, 7)
		var err error
		for {
			var n int
			n, err = c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		header := bytes.HasPrefix(data, proxyproto.SIGV1) || bytes.HasPrefix(data, proxyproto.SIGV2)
		if header {
			if !errors.Is(err, ErrProxyHeaderRefused) || len(got) > 0 {
				t.Fatalf("%q: got %q, %v; want a refusal and no bytes", data, got, err)
			}
			return
		}
		if err != io.EOF || !bytes.Equal(got, data) {
			t.Fatalf("%q: got %q, %v; want the same bytes, then EOF", data, got, err)
		}
	})
}

// FuzzProxyHeader: whatever a trusted source sends, the connection either
// has a header the library parsed and then the exact bytes that followed
// it, or is refused; nothing panics.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 5001\r\nAUTH guest\n"), []byte{})
	f.Add([]byte("PROXY TCP6 2001:db8::7 2001:db8::1 40000 5001\r\nx"), []byte{60})
	f.Add([]byte("PROXY UNKNOWN\r\n"), []byte{})
	f.Add([]byte("PROXY GARBAGE\r\n"), []byte{})
	f.Add(append(append([]byte(nil), proxyproto.SIGV2...), 0x21, 0x11, 0, 12, 203, 0, 113, 7, 192, 0, 2, 1, 0x9c, 0x40, 0x13, 0x89, 'h', 'i'), []byte{4})
	f.Add(append(append([]byte(nil), proxyproto.SIGV2...), 0x21, 0x11, 0xff, 0xff), []byte{})
	f.Add([]byte("AUTH guest\n"), []byte{})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		c := newProxiedConn(&chunkConn{chunks: split(data, cuts)}, 0)
		err := c.Handshake()
		if err != nil {
			if !errors.Is(err, ErrProxyHeaderRequired) {
				t.Fatalf("%q: %v, want ErrProxyHeaderRequired", data, err)
			}
			if _, rerr := c.Read(make([]byte, 8)); !errors.Is(rerr, ErrProxyHeaderRequired) {
				t.Fatalf("Read after a refusal: %v", rerr)
			}
			return
		}
		if !bytes.HasPrefix(data, proxyproto.SIGV1) && !bytes.HasPrefix(data, proxyproto.SIGV2) {
			t.Fatalf("%q accepted without a signature", data)
		}
		rest, rerr := io.ReadAll(c)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if !bytes.HasSuffix(data, rest) {
			t.Fatalf("%q: after the header read %q, not the tail of the input", data, rest)
		}
		c.RemoteAddr() // must not panic, whatever the header holds
	})
}
