package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// botConn is one bot's connection. Reads return the server's byte stream
// (for WebSocket: the concatenated text message payloads, which hold whole
// lines); each Write sends one message of one or more whole lines. Write
// and Read may be used concurrently; Close unblocks both.
type botConn interface {
	io.Reader
	Write(p []byte) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// errKind tags a connect error with its Summary.Errors kind.
type errKind struct {
	kind string
	err  error
}

func (e *errKind) Error() string { return e.err.Error() }
func (e *errKind) Unwrap() error { return e.err }

func kindOf(err error, def string) string {
	if ek, ok := errors.AsType[*errKind](err); ok {
		return ek.kind
	}
	return def
}

type tcpConn struct{ net.Conn }

func (c tcpConn) Write(p []byte) error {
	_, err := c.Conn.Write(p)
	return err
}

func dialTCP(ctx context.Context, addr string) (botConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &errKind{"dial", err}
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return tcpConn{nc}, nil
}

// wsConn is a WebSocket client connection. Writes use a context without a
// Done channel (the cheap path in the websocket package) and are bounded by
// deadlines on the underlying TCP connection instead.
type wsConn struct {
	typ websocket.MessageType // of every message, both ways
	ws  *websocket.Conn
	raw net.Conn
	cur io.Reader // current message, nil between messages
}

func dialWS(ctx context.Context, url, subprotocol string) (botConn, error) {
	var raw net.Conn
	// A transport per connection, so that its one dial is the one we
	// capture; proxies are never used: we connect only to the address given.
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetNoDelay(true)
				}
				raw = c
			}
			return c, err
		},
		DisableCompression: true,
	}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient: &http.Client{
			Transport: tr,
			// Never follow a redirect elsewhere; the handshake then fails.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Subprotocols: []string{subprotocol},
	})
	if err != nil {
		if resp != nil {
			return nil, &errKind{"handshake", fmt.Errorf("%w (HTTP %s)", err, resp.Status)}
		}
		if raw == nil {
			return nil, &errKind{"dial", err}
		}
		return nil, &errKind{"handshake", err}
	}
	if raw == nil {
		ws.CloseNow()
		return nil, &errKind{"handshake", errors.New("websocket: connection not captured")}
	}
	if ws.Subprotocol() != subprotocol {
		ws.Close(websocket.StatusPolicyViolation, "subprotocol "+subprotocol+" required")
		return nil, &errKind{"handshake", fmt.Errorf("server chose subprotocol %q, want %q", ws.Subprotocol(), subprotocol)}
	}
	ws.SetReadLimit(4 << 20)
	typ := websocket.MessageText
	if subprotocol == WSSubprotocolMsgPack {
		typ = websocket.MessageBinary
	}
	return &wsConn{ws: ws, raw: raw, typ: typ}, nil
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			typ, r, err := c.ws.Reader(context.Background())
			if err != nil {
				return 0, err
			}
			if typ != c.typ {
				return 0, fmt.Errorf("websocket: got %v message, want %v", typ, c.typ)
			}
			c.cur = r
		}
		n, err := c.cur.Read(p)
		if errors.Is(err, io.EOF) {
			c.cur = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

func (c *wsConn) Write(p []byte) error {
	return c.ws.Write(context.Background(), c.typ, p)
}

func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

func (c *wsConn) Close() error { return c.ws.CloseNow() }
