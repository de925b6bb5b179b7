package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"

	"github.com/coder/websocket"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/transport"
)

// Connecting: TCP (optionally TLS), WebSocket, or a connection you made.

// initialEncoder is implemented by transports that choose the first
// encoding (a WebSocket subprotocol), as on the server.
type initialEncoder interface{ InitialEncoding() string }

// messageTyper is a message-oriented transport (WebSocket) that must be
// told whether the next writes carry text lines or binary frames.
type messageTyper interface{ SetBinary(bool) }

// Dial connects to a server's TCP address ("host:port") and starts the
// client. With Options.TLS it speaks TLS. With Options.Encoding other than
// text it sends USE at once; the switch completes in the background. ctx
// bounds the connect (and the TLS handshake) only. Reconnects dial the same
// address the same way, and so do moves to the TCP address a MOVED names
// (with TLS too: Options.TLS must then accept every server's certificate).
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	cfg := opts.TLS
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return dialTCP(ctx, addr, cfg) }
	conn, err := dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	c, err := newClient(conn, opts, addr, dial)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// dialTCP connects to addr, with TLS when cfg is set.
func dialTCP(ctx context.Context, addr string, cfg *tls.Config) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true) // small game messages must not wait for Nagle
	}
	if cfg != nil {
		if conn, err = startTLS(ctx, conn, addr, cfg); err != nil {
			return nil, err
		}
	}
	return conn, nil
}

// Subprotocol returns the WebSocket subprotocol that selects enc
// (transport.SubprotocolText, SubprotocolJSON or SubprotocolMsgPack).
func Subprotocol(enc msg.Encoding) string {
	switch enc {
	case msg.JSON:
		return transport.SubprotocolJSON
	case msg.MsgPack:
		return transport.SubprotocolMsgPack
	}
	return transport.SubprotocolText
}

// DialWebSocket connects to a server's WebSocket endpoint (e.g.
// "ws://127.0.0.1:8080/ws"), offering the subprotocol of Options.Encoding,
// and starts the client. If the server picks no subprotocol the client
// falls back to USE. ctx bounds the handshake only. Reconnects dial the
// same URL the same way, and so do moves to the WebSocket URL a MOVED
// names.
func DialWebSocket(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dial := func(ctx context.Context, rawURL string) (net.Conn, error) {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		ws, _, err := websocket.Dial(ctx, rawURL, &websocket.DialOptions{
			HTTPClient:   o.HTTPClient,
			Subprotocols: []string{Subprotocol(o.Encoding)},
		})
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		ws.SetReadLimit(o.WebSocketReadLimit)
		return transport.NewWebSocketConn(ws, u.Host, "client"), nil
	}
	conn, err := dial(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	c, err := newClient(conn, opts, rawURL, dial)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// New starts a client on an established connection: a TCP socket, a
// transport.WebSocketConn, or one end of an in-memory pipe
// (transport.PipeListener.Dial) in tests. The client owns conn from now on
// and closes it on Close. It reconnects only with Options.Reconnect.Dial
// (to the same server) or Reconnect.DialAddr (to any address: seeds and
// MOVED too).
func New(conn net.Conn, opts Options) (*Client, error) {
	return newClient(conn, opts, "", nil)
}

// initialEncoding is the encoding a new connection starts in: text, or
// what the transport chose (a WebSocket subprotocol), as on the server.
func initialEncoding(conn net.Conn) msg.Encoding {
	if ie, ok := conn.(initialEncoder); ok {
		if e, err := msg.ParseEncoding(ie.InitialEncoding()); err == nil {
			return e
		}
	}
	return msg.Text
}
