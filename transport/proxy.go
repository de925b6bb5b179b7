package transport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// ProxyHeaderTimeout bounds how long a connection from a trusted proxy may
// take to deliver its PROXY protocol header, counted from the first read
// (or RemoteAddr, Write or Handshake). Proxies send the header at once, in
// the connection's first packet; a connection still without one after this
// long is refused. An earlier read deadline set on the connection applies
// as well.
const ProxyHeaderTimeout = 5 * time.Second

// proxyReadBuffer is the size of the buffer the PROXY header is read
// through. It must hold a whole version 1 header line (at most 107 bytes);
// bytes the client sent after the header wait in it for the first Reads.
const proxyReadBuffer = 512

// Errors a connection from ProxyProtocol returns from Read, Write and
// Handshake when it refuses the PROXY protocol exchange. The underlying
// connection is closed by then.
var (
	// ErrProxyHeaderRequired: a trusted proxy's connection did not start
	// with a valid PROXY header within ProxyHeaderTimeout. The error wraps
	// the parser's reason too.
	ErrProxyHeaderRequired = errors.New("transport: connection from a trusted proxy without a valid PROXY protocol header")
	// ErrProxyHeaderRefused: a connection from a source that is not a
	// trusted proxy started with a PROXY header.
	ErrProxyHeaderRefused = errors.New("transport: PROXY protocol header from an untrusted source")
)

// ProxyProtocol wraps a TCP listener (such as ListenTCP's) to honour PROXY
// protocol version 1 (text) and version 2 (binary) headers from the
// trusted proxies only, using github.com/pires/go-proxyproto to parse them:
//
//   - A connection from a trusted proxy must start with a valid header. Its
//     RemoteAddr is then the header's TCP source address (for a LOCAL or
//     UNKNOWN header, as health checks send, or a non-TCP address family,
//     the proxy's own). Without a
//     valid header within ProxyHeaderTimeout the connection is refused:
//     Read, Write and Handshake return an error wrapping
//     ErrProxyHeaderRequired and the socket is closed.
//   - A connection from anyone else that starts with a PROXY header (the
//     version 1 or version 2 signature) is refused the same way, with
//     ErrProxyHeaderRefused. Other bytes pass through untouched: plain
//     clients are unaffected, and writes to them (a banner) never wait.
//
// Accept does no I/O: it accepts from ln (so ListenTCP's TCP_NODELAY still
// applies) and returns at once. The header is read on the connection's own
// goroutine, by the first of Handshake, Read, Write or (trusted sources
// only) RemoteAddr. A server that checks addresses before reading should
// call Handshake first (the returned connections, like *tls.Conn, have
// Handshake() error) and close the connection if it fails. NetConn returns
// the accepted socket.
//
// With TLS on the same port, put the TLS listener around this one: the
// proxy sends its header before the client's TLS handshake.
func ProxyProtocol(ln net.Listener, trusted TrustedProxies) net.Listener {
	return proxyProtocol(ln, trusted, ProxyHeaderTimeout)
}

func proxyProtocol(ln net.Listener, trusted TrustedProxies, headerTimeout time.Duration) net.Listener {
	return &proxyListener{Listener: ln, trusted: trusted, timeout: headerTimeout}
}

type proxyListener struct {
	net.Listener
	trusted TrustedProxies
	timeout time.Duration
}

// Accept wraps the next connection; it reads nothing.
func (l *proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.trusted.Contains(netAddrIP(c.RemoteAddr())) {
		return newProxiedConn(c, l.timeout), nil
	}
	return &sniffConn{Conn: c}, nil
}

// netAddrIP returns the IP of a socket address, or the zero Addr.
func netAddrIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case nil:
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// proxiedConn is a connection from a trusted proxy: it must open with a
// PROXY header.
type proxiedConn struct {
	net.Conn
	timeout time.Duration

	once   sync.Once
	err    error              // why the header was refused; set inside once
	header *proxyproto.Header // set inside once on success

	readMu sync.Mutex
	br     *bufio.Reader // what followed the header; nil once drained

	dlMu     sync.Mutex
	userDL   time.Time // the read deadline the caller set
	inHeader bool      // the header read is under way with headerDL
	headerDL time.Time
}

func newProxiedConn(c net.Conn, timeout time.Duration) *proxiedConn {
	return &proxiedConn{Conn: c, timeout: timeout, br: bufio.NewReaderSize(c, proxyReadBuffer)}
}

// Handshake reads and checks the PROXY header, once; later calls return
// the first result.
func (c *proxiedConn) Handshake() error {
	c.once.Do(c.readHeader)
	return c.err
}

func (c *proxiedConn) readHeader() {
	c.dlMu.Lock()
	c.inHeader = true
	c.headerDL = time.Time{}
	if c.timeout > 0 {
		c.headerDL = time.Now().Add(c.timeout)
	}
	if !c.userDL.IsZero() && (c.headerDL.IsZero() || c.userDL.Before(c.headerDL)) {
		c.headerDL = c.userDL
	}
	err := c.Conn.SetReadDeadline(c.headerDL)
	c.dlMu.Unlock()

	var h *proxyproto.Header
	if err == nil {
		h, err = proxyproto.Read(c.br)
	}

	c.dlMu.Lock()
	c.inHeader = false
	if derr := c.Conn.SetReadDeadline(c.userDL); err == nil {
		err = derr
	}
	c.dlMu.Unlock()

	if err == nil && h == nil {
		err = proxyproto.ErrNoProxyProtocol
	}
	if err != nil {
		c.err = fmt.Errorf("%w (from %s): %w", ErrProxyHeaderRequired, c.Conn.RemoteAddr(), err)
		c.Conn.Close()
		return
	}
	c.header = h
}

// Read returns the bytes after the header.
func (c *proxiedConn) Read(p []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.br != nil {
		if c.br.Buffered() > 0 {
			n, err := c.br.Read(p)
			if c.br.Buffered() == 0 {
				c.br = nil
			}
			return n, err
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// Write waits for the header: nothing is sent on a connection that will be
// refused.
func (c *proxiedConn) Write(p []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// RemoteAddr reads the header if that has not happened yet, then returns
// the client's address from it; the proxy's address when the header is
// LOCAL or UNKNOWN, or was refused.
func (c *proxiedConn) RemoteAddr() net.Addr {
	if c.Handshake() == nil && c.header.Command.IsProxy() && c.header.SourceAddr != nil {
		if a, ok := c.header.SourceAddr.(*net.TCPAddr); ok {
			return a
		}
	}
	return c.Conn.RemoteAddr()
}

// SetDeadline sets both deadlines.
func (c *proxiedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline. While the header is being read,
// only an earlier deadline than the header's takes effect at once; the
// deadline is restored when the header has been read.
func (c *proxiedConn) SetReadDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.userDL = t
	if c.inHeader && (t.IsZero() || (!c.headerDL.IsZero() && !t.Before(c.headerDL))) {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// NetConn returns the accepted socket.
func (c *proxiedConn) NetConn() net.Conn { return c.Conn }

// sniffConn is a connection from a source that is not a trusted proxy. Its
// first bytes are checked for a PROXY signature; a plain client's bytes are
// passed on as soon as they cannot be the start of one.
type sniffConn struct {
	net.Conn
	direct atomic.Bool // decided and nothing pending: Read goes straight to the socket

	mu      sync.Mutex
	decided bool   // the first bytes are not a PROXY signature
	pending []byte // bytes read while undecided, or not yet returned
	err     error  // sticky refusal
}

// maxSignature is the length of the longest PROXY signature (version 2).
var maxSignature = max(len(proxyproto.SIGV1), len(proxyproto.SIGV2))

// sniffVerdict classifies the first bytes of a stream.
type sniffVerdict int

const (
	sniffMore   sniffVerdict = iota // a proper prefix of a signature: need more bytes
	sniffPlain                      // cannot be a PROXY header
	sniffHeader                     // starts with a PROXY signature
)

// sniff classifies b, the first bytes of a connection.
func sniff(b []byte) sniffVerdict {
	more := false
	for _, sig := range [][]byte{proxyproto.SIGV1, proxyproto.SIGV2} {
		if bytes.HasPrefix(b, sig) {
			return sniffHeader
		}
		if len(b) < len(sig) && bytes.HasPrefix(sig, b) {
			more = true
		}
	}
	if more {
		return sniffMore
	}
	return sniffPlain
}

// Handshake does nothing for a plain client (its first bytes are checked
// by Read, so a client that waits for the server to speak first is not
// held up) and returns the refusal if Read has made one.
func (c *sniffConn) Handshake() error {
	if c.direct.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Read checks the stream's first bytes, then reads through.
func (c *sniffConn) Read(p []byte) (int, error) {
	if c.direct.Load() {
		return c.Conn.Read(p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.direct.Load() { // finished by a concurrent Read while this one waited
		return c.Conn.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	for !c.decided && sniff(c.pending) == sniffMore {
		var buf [64]byte
		n, err := c.Conn.Read(buf[:maxSignature-len(c.pending)])
		c.pending = append(c.pending, buf[:n]...)
		if err != nil {
			if sniff(c.pending) == sniffHeader {
				break
			}
			if len(c.pending) == 0 || (n == 0 && isTimeout(err)) {
				return 0, err // keep what is pending for a Read after a new deadline
			}
			break // hand over what came; the error recurs on the next Read
		}
	}
	if !c.decided && sniff(c.pending) == sniffHeader {
		c.err = fmt.Errorf("%w (from %s)", ErrProxyHeaderRefused, c.Conn.RemoteAddr())
		c.pending = nil
		c.Conn.Close()
		return 0, c.err
	}
	c.decided = true
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
		c.direct.Store(true)
	}
	return n, nil
}

// NetConn returns the accepted socket.
func (c *sniffConn) NetConn() net.Conn { return c.Conn }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
