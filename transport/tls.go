package transport

import (
	"context"
	"crypto/tls"
	"net"
	"slices"
	"sync/atomic"
	"time"
)

// TLSHandshakeTimeout bounds a TLS handshake on a TLSListener connection,
// whatever deadlines the server has set: a client that opens a connection
// and never finishes the handshake is cut off after this long. It is the
// same as the server's default login timeout, which covers the handshake
// too.
const TLSHandshakeTimeout = 5 * time.Second

// TLSListener serves TLS on the game port: it wraps each connection
// accepted from ln in a TLS server connection with cfg (for instance the
// auth service's auth.Service.TLSConfig(), so the game port shows the same
// certificate). Accept does no I/O; the handshake runs on the connection's
// own goroutine, at its first Read, Write or Handshake, and is bounded by
// TLSHandshakeTimeout as well as by the connection's deadlines. A failed or
// timed-out handshake closes the connection; a client that sends plaintext
// fails the handshake.
//
// The connections embed *tls.Conn (ConnectionState, NetConn, ...); put
// TLSListener around ProxyProtocol's listener, not inside it.
func TLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	return tlsListener{Listener: ln, cfg: cfg, timeout: TLSHandshakeTimeout}
}

type tlsListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
}

// Accept wraps the next connection; the handshake happens later.
func (l tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsConn{Conn: tls.Server(c, l.cfg), timeout: l.timeout}, nil
}

// tlsConn is a server-side TLS connection whose handshake is time-bounded.
type tlsConn struct {
	*tls.Conn
	timeout time.Duration
	done    atomic.Bool // the handshake has succeeded
}

// Handshake runs the TLS handshake if it has not run yet, bounded by the
// handshake timeout.
func (c *tlsConn) Handshake() error { return c.HandshakeContext(context.Background()) }

// HandshakeContext is Handshake bounded by ctx as well. When ctx ends or the
// timeout passes first, the connection is closed.
func (c *tlsConn) HandshakeContext(ctx context.Context) error {
	if c.done.Load() {
		return nil
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	if err := c.Conn.HandshakeContext(ctx); err != nil {
		c.Conn.NetConn().Close()
		return err
	}
	c.done.Store(true)
	return nil
}

// Read completes the handshake first.
func (c *tlsConn) Read(p []byte) (int, error) {
	if !c.done.Load() {
		if err := c.Handshake(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

// Write completes the handshake first.
func (c *tlsConn) Write(p []byte) (int, error) {
	if !c.done.Load() {
		if err := c.Handshake(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// Transport names the transport for operators' tools: "tls".
func (c *tlsConn) Transport() string { return "tls" }

// CloseWithReason closes the connection without waiting: tls.Conn.Close
// first sends close_notify, which can block for seconds on a peer that
// does not read, and the game server closes connections from goroutines
// that must not block (the tick, timers). After a normal end the
// close_notify is still sent, in the background; otherwise the socket is
// simply closed.
func (c *tlsConn) CloseWithReason(reason string) error {
	switch reason {
	case "", "quit", "closed", "shutdown":
		go c.Conn.Close()
	default:
		go c.Conn.NetConn().Close()
	}
	return nil
}

// WebTLSConfig returns a copy of cfg for an HTTPS listener that serves
// WebSocket upgrades (the page and /ws): it offers HTTP/1.1 and not
// HTTP/2, since the WebSocket handshake needs an HTTP/1.1 connection to
// take over. Other protocols cfg offers (acme-tls/1 for Let's Encrypt's
// TLS-ALPN challenge) stay. Wrap the listener with tls.NewListener(ln,
// WebTLSConfig(cfg)) and serve it with http.Server.Serve.
func WebTLSConfig(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	protos := slices.DeleteFunc(slices.Clone(c.NextProtos), func(p string) bool { return p == "h2" })
	if !slices.Contains(protos, "http/1.1") {
		protos = append([]string{"http/1.1"}, protos...)
	}
	c.NextProtos = protos
	return c
}
