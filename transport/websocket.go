package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// WebSocket subprotocols. A browser picks the connection's first encoding
// by offering one of them; with none, the connection starts in text.
const (
	SubprotocolText    = "tickwire.text"
	SubprotocolJSON    = "tickwire.json"
	SubprotocolMsgPack = "tickwire.msgpack"
)

// WebSocketConfig configures WebSocketHandler.
type WebSocketConfig struct {
	// OriginPatterns lists the browser origins (host or host:port patterns,
	// path.Match syntax, e.g. "localhost:8080", "*.example.com") allowed to
	// connect besides the page's own host. Empty (the default) allows only
	// pages served from the same host as the WebSocket endpoint.
	// Non-browser clients send no Origin header and are always allowed.
	OriginPatterns []string
	// MaxMessage caps one WebSocket message in bytes. Default 64 KiB; the
	// server's own per-message cap applies inside it.
	MaxMessage int64
	// Logger receives upgrade failures. Nil means slog.Default().
	Logger *slog.Logger
}

// DefaultWebSocketMaxMessage is the default WebSocketConfig.MaxMessage.
const DefaultWebSocketMaxMessage = 64 << 10

// WebSocketHandler upgrades requests to WebSocket connections and passes each
// to serve as a net.Conn, on the request's goroutine. serve should return
// when the connection has ended.
//
// Each WebSocket message carries one or more complete frames of the
// connection's current framing: "\n"-terminated lines in text frames for the
// text and JSON encodings, length-prefixed frames in binary frames for
// MessagePack. Reads see the messages' bytes as one stream.
func WebSocketHandler(cfg WebSocketConfig, serve func(net.Conn)) http.Handler {
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = DefaultWebSocketMaxMessage
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:   []string{SubprotocolText, SubprotocolJSON, SubprotocolMsgPack},
			OriginPatterns: cfg.OriginPatterns,
		})
		if err != nil {
			log.Info("websocket upgrade refused", "peer", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err.Error())
			return
		}
		c.SetReadLimit(cfg.MaxMessage)
		wc := NewWebSocketConn(c, r.RemoteAddr, r.Host)
		wc.raw = rawConn(r.Context())
		serve(wc)
	})
}

// WebSocketConn adapts a WebSocket connection to net.Conn. Reads return the
// bytes of successive messages as one stream; each Write sends one message,
// text or binary as set by SetBinary. Deadlines work as on sockets.
type WebSocketConn struct {
	c      *websocket.Conn
	remote net.Addr
	local  net.Addr
	binary atomic.Bool
	raw    net.Conn // the socket under it, if known (ConnContext); for RTT only

	readMu       sync.Mutex
	reader       io.Reader
	readCancel   context.CancelFunc // the current message's context; the library reads its body with it
	readDeadline atomic.Int64       // unix nanoseconds; 0 = none

	// Writes are bounded by one timer per connection, armed only when the
	// deadline changes (the server moves it about once a second), rather
	// than by a context with a deadline per Write: the library starts a
	// context.AfterFunc for every call given a cancellable context, which
	// was a tenth of the WebSocket path's CPU.
	writeDeadline atomic.Int64
	wtMu          sync.Mutex
	wt            *time.Timer
	wtFor         int64 // the deadline wt is armed for
	writing       atomic.Bool
	timedOut      atomic.Bool

	closeOnce sync.Once
}

// NetConn returns the socket under the WebSocket when the HTTP server's
// ConnContext is ConnContext, else nil. It is for RTT and for reading the
// socket's state: reading or writing it would corrupt the WebSocket.
func (wc *WebSocketConn) NetConn() net.Conn { return wc.raw }

// NewWebSocketConn wraps c. remote and local are "host:port" strings used
// for RemoteAddr and LocalAddr.
func NewWebSocketConn(c *websocket.Conn, remote, local string) *WebSocketConn {
	wc := &WebSocketConn{c: c, remote: wsAddr(remote), local: wsAddr(local)}
	if c.Subprotocol() == SubprotocolMsgPack {
		wc.binary.Store(true)
	}
	return wc
}

func wsAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return wsStringAddr(s)
}

type wsStringAddr string

func (a wsStringAddr) Network() string { return "websocket" }
func (a wsStringAddr) String() string  { return string(a) }

// InitialEncoding returns the encoding named by the negotiated subprotocol
// ("text", "json" or "msgpack"), or "" when none was.
func (wc *WebSocketConn) InitialEncoding() string {
	return strings.TrimPrefix(wc.c.Subprotocol(), "tickwire.")
}

// SetBinary chooses the type of the messages Write sends: binary (for
// length-prefixed frames) or text (for lines).
func (wc *WebSocketConn) SetBinary(b bool) { wc.binary.Store(b) }

func noCancel() {}

// deadlineCtx is the context of a read: without a deadline it is
// context.Background, which the library can watch for free.
func deadlineCtx(ns int64) (context.Context, context.CancelFunc) {
	if ns == 0 {
		return context.Background(), noCancel
	}
	return context.WithDeadline(context.Background(), time.Unix(0, ns))
}

// mapErr turns a context deadline into os.ErrDeadlineExceeded, as net.Conn
// callers expect, and a normal close into io.EOF.
func mapErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("websocket: %w", os.ErrDeadlineExceeded)
	}
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		return io.EOF
	}
	return err
}

// Read reads from the current message, moving to the next when it ends.
func (wc *WebSocketConn) Read(p []byte) (int, error) {
	wc.readMu.Lock()
	defer wc.readMu.Unlock()
	for {
		if wc.reader == nil {
			ctx, cancel := deadlineCtx(wc.readDeadline.Load())
			_, r, err := wc.c.Reader(ctx)
			if err != nil {
				cancel()
				return 0, mapErr(err)
			}
			wc.reader, wc.readCancel = r, cancel
		}
		n, err := wc.reader.Read(p)
		if err == io.EOF {
			wc.reader = nil
			wc.readCancel()
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			return n, mapErr(err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// Write sends p as one message. A write still blocked at the write
// deadline closes the connection and fails with os.ErrDeadlineExceeded.
func (wc *WebSocketConn) Write(p []byte) (int, error) {
	typ := websocket.MessageText
	if wc.binary.Load() {
		typ = websocket.MessageBinary
	}
	if dl := wc.writeDeadline.Load(); dl != 0 {
		if time.Now().UnixNano() >= dl {
			return 0, fmt.Errorf("websocket: %w", os.ErrDeadlineExceeded)
		}
		wc.armWriteTimer(dl)
	}
	wc.writing.Store(true)
	err := wc.c.Write(context.Background(), typ, p)
	wc.writing.Store(false)
	if err != nil {
		if wc.timedOut.Load() {
			return 0, fmt.Errorf("websocket: %w", os.ErrDeadlineExceeded)
		}
		return 0, mapErr(err)
	}
	return len(p), nil
}

// armWriteTimer makes the write timer fire at dl unless it already does.
func (wc *WebSocketConn) armWriteTimer(dl int64) {
	wc.wtMu.Lock()
	defer wc.wtMu.Unlock()
	if dl == wc.wtFor {
		return
	}
	wc.wtFor = dl
	d := time.Duration(dl - time.Now().UnixNano())
	if wc.wt == nil {
		wc.wt = time.AfterFunc(d, wc.writeTimerFired)
		return
	}
	wc.wt.Reset(d)
}

// writeTimerFired closes the connection if a write is blocked past the
// deadline; a write that starts later checks the deadline itself.
func (wc *WebSocketConn) writeTimerFired() {
	dl := wc.writeDeadline.Load()
	if !wc.writing.Load() || dl == 0 || time.Now().UnixNano() < dl {
		return
	}
	wc.timedOut.Store(true)
	wc.c.CloseNow()
}

// LazyDeadlines tells the server that setting a deadline here is cheap and
// may be done at most about once a second rather than before every write.
func (wc *WebSocketConn) LazyDeadlines() bool { return true }

// Transport names the transport for operators' tools: "websocket".
func (wc *WebSocketConn) Transport() string { return "websocket" }

// Close starts the closing handshake with status 1000 (normal closure)
// and returns at once; the handshake finishes (or times out inside the
// library) in the background, so closing never blocks the caller.
func (wc *WebSocketConn) Close() error { return wc.CloseWithReason("") }

// CloseStatus is the WebSocket close status the server sends for a BYE
// reason: 1000 for a normal end (quit, or the peer closed), 1001 when the
// server goes away (shutdown), 1009 for an over-long message, and 1008
// (policy violation) for every other reason the server ends a connection
// (timeout, banned, slow_consumer, kicked, resumed, ...).
func CloseStatus(reason string) websocket.StatusCode {
	switch reason {
	case "", "quit", "closed":
		return websocket.StatusNormalClosure
	case "shutdown":
		return websocket.StatusGoingAway
	case "too_long":
		return websocket.StatusMessageTooBig
	}
	return websocket.StatusPolicyViolation
}

// CloseWithReason is Close with a close frame saying why: the status
// CloseStatus gives for reason, and reason as the close reason text.
func (wc *WebSocketConn) CloseWithReason(reason string) error {
	wc.closeOnce.Do(func() {
		wc.wtMu.Lock()
		if wc.wt != nil {
			wc.wt.Stop()
		}
		wc.wtMu.Unlock()
		go wc.c.Close(CloseStatus(reason), reason)
	})
	return nil
}

// LocalAddr returns the address the client connected to.
func (wc *WebSocketConn) LocalAddr() net.Addr { return wc.local }

// RemoteAddr returns the client's address as seen by the HTTP server.
func (wc *WebSocketConn) RemoteAddr() net.Addr { return wc.remote }

// SetDeadline sets both deadlines.
func (wc *WebSocketConn) SetDeadline(t time.Time) error {
	wc.SetReadDeadline(t)
	return wc.SetWriteDeadline(t)
}

// SetReadDeadline bounds the wait for the next message.
func (wc *WebSocketConn) SetReadDeadline(t time.Time) error {
	wc.readDeadline.Store(unixNano(t))
	return nil
}

// SetWriteDeadline bounds each Write.
func (wc *WebSocketConn) SetWriteDeadline(t time.Time) error {
	wc.writeDeadline.Store(unixNano(t))
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
