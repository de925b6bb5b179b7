package transport

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
)

// Loop is an event-loop engine: readiness-based I/O (epoll, through
// github.com/lesismal/nbio) for TCP sockets and WebSocket connections. A
// connection on a Loop has no goroutine and no buffer of its own while it
// is idle: a few poller goroutines (one per two cores) read every ready
// socket into the poller's buffer and hand the bytes to the connection's
// LoopHandler.
// Writes never block: what the socket does not take at once is kept (in
// nbio's pooled buffers) and written when it becomes writable.
type Loop struct {
	eng  *nbio.Engine
	once sync.Once
}

// LoopHandler receives a LoopConn's events. OnOpen is called once the
// connection is on the loop (input may already be arriving). OnData runs on a poller
// goroutine: it must not block, and data is valid only during the call.
// For a WebSocket connection data is message payload, already unmasked:
// the payloads of successive messages form one stream, as
// WebSocketConn.Read sees them. OnClose runs once, when the connection has
// closed, with the reason (io.EOF when the peer closed it).
type LoopHandler interface {
	OnOpen()
	OnData(data []byte)
	OnClose(err error)
}

// NewLoop starts an event loop with one poller goroutine per two cores (at
// least one; the TICKWIRE_LOOP_POLLERS environment variable overrides it).
func NewLoop() (*Loop, error) {
	logging.SetLevel(logging.LevelNone)
	eng := nbio.NewEngine(nbio.Config{
		Name:    "tickwire",
		NPoller: loopPollers(),
	})
	l := &Loop{eng: eng}
	eng.OnData(func(c *nbio.Conn, data []byte) {
		if lc, ok := c.Session().(*LoopConn); ok && lc.ready.Load() {
			lc.onData(data)
		}
	})
	eng.OnClose(func(c *nbio.Conn, err error) {
		if lc, ok := c.Session().(*LoopConn); ok && lc.ready.Load() {
			lc.onClose(err)
		}
	})
	eng.OnWrittenSize(func(c *nbio.Conn, _ []byte, n int) {
		if lc, ok := c.Session().(*LoopConn); ok && lc.ready.Load() {
			lc.written.Add(int64(n))
		}
	})
	if err := eng.Start(); err != nil {
		return nil, err
	}
	return l, nil
}

// Stop closes every connection on the loop and stops its pollers.
func (l *Loop) Stop() { l.once.Do(l.eng.Stop) }

// ErrNotLoopable is returned by Loop.Add for a connection the loop cannot
// poll: one that is not a plain socket (TLS, a PROXY protocol wrapper, an
// in-memory pipe).
var ErrNotLoopable = errors.New("transport: connection cannot be served by the event loop")

// Loopable reports whether Loop.Add can take nc: a plain TCP socket.
func Loopable(nc net.Conn) bool {
	_, ok := nc.(*net.TCPConn)
	return ok
}

// Add moves the TCP socket nc onto the loop (nc itself is closed; the loop
// polls a duplicate of its descriptor) and returns its LoopConn. handler is
// called with the new LoopConn before it is on the loop (it must not write
// to it yet) and returns the LoopHandler for it, or nil to refuse it: nc is
// then closed and Add returns ErrRefused. If the connection cannot be
// added, the handler's OnClose is called with the error.
func (l *Loop) Add(nc net.Conn, handler func(*LoopConn) LoopHandler) (*LoopConn, error) {
	return l.add(nc, nil, handler)
}

func (l *Loop) add(nc net.Conn, ws *wsState, handler func(*LoopConn) LoopHandler) (*LoopConn, error) {
	if !Loopable(nc) {
		return nil, ErrNotLoopable
	}
	lc := &LoopConn{ws: ws, remote: nc.RemoteAddr(), local: nc.LocalAddr()}
	if ws != nil {
		lc.remote, lc.local = ws.remote, ws.local
		lc.binary.Store(ws.subprotocol == SubprotocolMsgPack)
	}
	h := handler(lc)
	if h == nil || lc.refused {
		if ws != nil {
			// Refused after the handshake: say so with a close frame, as
			// WebSocketConn.Close does.
			buf := make([]byte, WebSocketHeaderRoom+2)
			binary.BigEndian.PutUint16(buf[WebSocketHeaderRoom:], uint16(CloseStatus("")))
			n := wsHeader(buf[:WebSocketHeaderRoom], wsClose, 2)
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = nc.Write(buf[WebSocketHeaderRoom-n:])
		}
		nc.Close()
		return nil, ErrRefused
	}
	lc.h = h
	c, err := nbio.NBConn(nc)
	if err != nil {
		nc.Close()
		lc.onClose(err)
		return nil, err
	}
	lc.c = c
	c.SetSession(lc)
	// The pollers learn of the connection through epoll, which the race
	// detector cannot see: this store, loaded first by every callback,
	// orders everything above before them.
	lc.ready.Store(true)
	if _, err := l.eng.AddConn(c); err != nil {
		lc.onClose(err)
		return nil, err
	}
	h.OnOpen()
	return lc, nil
}

// ErrRefused is returned by Loop.Add when the handler refused the
// connection (returned nil, or closed it).
var ErrRefused = errors.New("transport: connection refused by its handler")

// LoopConn is a connection served by a Loop. It implements net.Conn for
// the methods a server needs besides reading (reads are pushed to its
// LoopHandler; Read fails).
type LoopConn struct {
	c             *nbio.Conn
	h             LoopHandler
	ws            *wsState // nil on TCP
	remote, local net.Addr
	binary        atomic.Bool

	queued  atomic.Int64 // bytes handed to the socket by Write
	written atomic.Int64 // bytes the socket took

	closeOnce sync.Once
	closed    atomic.Bool
	refused   bool // closed by the Add handler, before it was on the loop
	ready     atomic.Bool
}

// WebSocketHeaderRoom is how many bytes WriteMessage needs free before the
// payload: the longest header of an unmasked server frame.
const WebSocketHeaderRoom = 10

// Transport names the transport: "tcp" or "websocket".
func (lc *LoopConn) Transport() string {
	if lc.ws != nil {
		return "websocket"
	}
	return "tcp"
}

// WebSocket reports whether lc is a WebSocket connection.
func (lc *LoopConn) WebSocket() bool { return lc.ws != nil }

// InitialEncoding is the encoding the WebSocket subprotocol named ("text",
// "json", "msgpack"), or "" (TCP, or no subprotocol).
func (lc *LoopConn) InitialEncoding() string {
	if lc.ws == nil {
		return ""
	}
	return strings.TrimPrefix(lc.ws.subprotocol, "tickwire.")
}

// SetBinary chooses whether WriteMessage sends binary or text WebSocket
// messages. It does nothing on TCP.
func (lc *LoopConn) SetBinary(b bool) { lc.binary.Store(b) }

// Pending returns how many bytes were written to lc but are not yet in the
// kernel's socket buffer.
func (lc *LoopConn) Pending() int { return int(lc.queued.Load() - lc.written.Load()) }

// WriteMessage writes buf[start:] as one message without copying it: on a
// WebSocket the frame header goes into buf[start-n:start], so start must
// be at least WebSocketHeaderRoom; on TCP the bytes go out as they are.
// It never blocks.
func (lc *LoopConn) WriteMessage(buf []byte, start int) error {
	payload := len(buf) - start
	if payload <= 0 {
		return nil
	}
	out := buf[start:]
	if lc.ws != nil {
		op := byte(wsText)
		if lc.binary.Load() {
			op = wsBinary
		}
		h := wsHeader(buf[:start], op, payload)
		out = buf[start-h:]
	}
	return lc.write(out)
}

// Write writes p (on a WebSocket, as one message, copying it once to put
// a header before it). It never blocks.
func (lc *LoopConn) Write(p []byte) (int, error) {
	if lc.ws == nil {
		if err := lc.write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	buf := make([]byte, WebSocketHeaderRoom+len(p))
	copy(buf[WebSocketHeaderRoom:], p)
	if err := lc.WriteMessage(buf, WebSocketHeaderRoom); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (lc *LoopConn) write(p []byte) error {
	lc.queued.Add(int64(len(p)))
	_, err := lc.c.Write(p)
	return err
}

// Read is not supported: a Loop pushes input to the LoopHandler.
func (lc *LoopConn) Read([]byte) (int, error) {
	return 0, errors.New("transport: LoopConn input goes to its LoopHandler")
}

// Close closes the connection (a WebSocket with status 1000).
func (lc *LoopConn) Close() error { return lc.CloseWithReason("") }

// RTT returns the kernel's smoothed round-trip time of the socket (see the
// function RTT); false once the connection is closed.
func (lc *LoopConn) RTT() (time.Duration, bool) {
	if lc.closed.Load() {
		return 0, false // the descriptor may already name another socket
	}
	return socketRTT(lc.c)
}

// CloseWithReason closes the connection once what was written before has
// reached the kernel (or WriteTimeoutOnClose has passed). A WebSocket gets
// a close frame first, with the status CloseStatus gives for reason and
// reason as its text.
func (lc *LoopConn) CloseWithReason(reason string) error {
	if lc.c == nil {
		lc.refused = true
		return nil
	}
	lc.closeOnce.Do(func() {
		if lc.ws != nil {
			buf := make([]byte, WebSocketHeaderRoom, WebSocketHeaderRoom+2+len(reason))
			buf = binary.BigEndian.AppendUint16(buf, uint16(CloseStatus(reason)))
			buf = append(buf, reason[:min(len(reason), 123)]...)
			h := wsHeader(buf[:WebSocketHeaderRoom], wsClose, len(buf)-WebSocketHeaderRoom)
			_ = lc.write(buf[WebSocketHeaderRoom-h:])
		}
		lc.closeWhenFlushed(time.Now().Add(closeFlushTimeout))
	})
	return nil
}

// closeFlushTimeout bounds how long a closing connection waits for what it
// was sent to reach the kernel.
const closeFlushTimeout = 2 * time.Second

func (lc *LoopConn) closeWhenFlushed(deadline time.Time) {
	if closed, _ := lc.c.IsClosed(); closed {
		return // the peer hung up: nothing more will be written
	}
	if lc.Pending() <= 0 || time.Now().After(deadline) {
		lc.c.Close()
		return
	}
	time.AfterFunc(50*time.Millisecond, func() { lc.closeWhenFlushed(deadline) })
}

// LocalAddr returns the local address.
func (lc *LoopConn) LocalAddr() net.Addr { return lc.local }

// RemoteAddr returns the peer's address (for a WebSocket, as the HTTP
// server saw it, after any trusted-proxy rewriting).
func (lc *LoopConn) RemoteAddr() net.Addr { return lc.remote }

// SetDeadline does nothing: a LoopConn's writes never block, and its
// reads are pushed.
func (lc *LoopConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline does nothing (see SetDeadline).
func (lc *LoopConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline does nothing (see SetDeadline).
func (lc *LoopConn) SetWriteDeadline(time.Time) error { return nil }

func (lc *LoopConn) onClose(err error) {
	if lc.closed.Swap(true) {
		return
	}
	if err == nil {
		err = io.EOF
	}
	lc.h.OnClose(err)
}

func (lc *LoopConn) onData(data []byte) {
	if lc.ws == nil {
		lc.h.OnData(data)
		return
	}
	if err := lc.ws.feed(lc, data); err != nil {
		lc.wsFail(err)
	}
}

// WebSocket framing (RFC 6455), server side: frames from the client are
// masked, frames to it are not. No extension is negotiated, so the RSV
// bits must be 0.
const (
	wsCont   = 0x0
	wsText   = 0x1
	wsBinary = 0x2
	wsClose  = 0x8
	wsPing   = 0x9
	wsPong   = 0xA
)

// wsHeader writes the header of an unmasked final frame with payload
// length n at the end of room and returns its length.
func wsHeader(room []byte, op byte, n int) int {
	var h int
	switch {
	case n < 126:
		h = 2
		room[len(room)-1] = byte(n)
	case n <= 0xFFFF:
		h = 4
		room[len(room)-3] = 126
		binary.BigEndian.PutUint16(room[len(room)-2:], uint16(n))
	default:
		h = 10
		room[len(room)-9] = 127
		binary.BigEndian.PutUint64(room[len(room)-8:], uint64(n))
	}
	room[len(room)-h] = 0x80 | op
	return h
}

// wsState is a WebSocket connection's framing state. Payload bytes are
// unmasked in place and passed on as they arrive, so no frame is ever
// buffered whole; only a header split across reads (at most 14 bytes) or
// a control frame's payload (at most 125) is kept.
type wsState struct {
	subprotocol   string
	remote, local net.Addr
	maxMessage    int64

	hdr     [14]byte
	hdrLen  int
	op      byte // opcode of the frame being read
	msgOp   byte // opcode of the data message being read (text, binary)
	fin     bool
	left    int64 // payload bytes of the current frame still to come
	msgSize int64 // payload bytes of the current message so far
	mask    [4]byte
	maskPos int
	inFrame bool
	ctl     []byte // control frame payload being collected
}

// wsError is a protocol failure: the connection is closed with code.
type wsError struct {
	code uint16
	text string
}

func (e *wsError) Error() string { return fmt.Sprintf("websocket: %s (close %d)", e.text, e.code) }

// ErrWebSocketTooBig is reported to OnClose when a message exceeded the
// read cap (WebSocketConfig.MaxMessage); the peer gets close 1009.
var ErrWebSocketTooBig = errors.New("websocket: message too big")

func (lc *LoopConn) wsFail(err error) {
	var we *wsError
	code, text := uint16(1002), "protocol error"
	if errors.As(err, &we) {
		code, text = we.code, we.text
	}
	first := false
	lc.closeOnce.Do(func() {
		first = true
		buf := make([]byte, WebSocketHeaderRoom, WebSocketHeaderRoom+2+len(text))
		buf = binary.BigEndian.AppendUint16(buf, code)
		buf = append(buf, text...)
		h := wsHeader(buf[:WebSocketHeaderRoom], wsClose, len(buf)-WebSocketHeaderRoom)
		_ = lc.write(buf[WebSocketHeaderRoom-h:])
	})
	if code == 1009 {
		err = ErrWebSocketTooBig
	}
	// The handler hears why before the socket closes (which would report
	// io.EOF); its own close finds the close frame already sent.
	if !lc.closed.Swap(true) {
		lc.h.OnClose(err)
	}
	if first {
		lc.closeWhenFlushed(time.Now().Add(closeFlushTimeout))
	}
}

func (ws *wsState) feed(lc *LoopConn, data []byte) error {
	for len(data) > 0 {
		if !ws.inFrame {
			n, done, err := ws.header(data)
			if err != nil {
				return err
			}
			data = data[n:]
			if !done {
				return nil
			}
			if ws.left == 0 {
				if err := ws.endFrame(lc); err != nil {
					return err
				}
			}
			continue
		}
		n := int(min(ws.left, int64(len(data))))
		p := data[:n]
		for i := range p {
			p[i] ^= ws.mask[ws.maskPos&3]
			ws.maskPos++
		}
		data = data[n:]
		ws.left -= int64(n)
		if ws.op >= wsClose {
			ws.ctl = append(ws.ctl, p...)
		} else if n > 0 && !lc.closed.Load() {
			lc.h.OnData(p)
		}
		if ws.left == 0 {
			if err := ws.endFrame(lc); err != nil {
				return err
			}
		}
	}
	return nil
}

// header consumes a frame header from data (completing one split across
// reads); done reports whether it is complete.
func (ws *wsState) header(data []byte) (n int, done bool, err error) {
	// Collect at least the two fixed bytes, then the whole header.
	need := 2
	for {
		if ws.hdrLen >= 2 {
			if ws.hdr[1]&0x80 == 0 {
				ws.hdrLen = 0
				return n, false, &wsError{1002, "client frame not masked"}
			}
			need = 2 + 4
			switch ws.hdr[1] & 0x7F {
			case 126:
				need += 2
			case 127:
				need += 8
			}
		}
		if ws.hdrLen >= need {
			break
		}
		if n >= len(data) {
			return n, false, nil
		}
		c := min(need-ws.hdrLen, len(data)-n)
		copy(ws.hdr[ws.hdrLen:], data[n:n+c])
		ws.hdrLen += c
		n += c
	}
	b0, b1 := ws.hdr[0], ws.hdr[1]
	ws.hdrLen = 0
	if b0&0x70 != 0 {
		return n, false, &wsError{1002, "reserved bits set"}
	}
	if b1&0x80 == 0 {
		return n, false, &wsError{1002, "client frame not masked"}
	}
	op := b0 & 0x0F
	fin := b0&0x80 != 0
	var size int64
	off := 2
	switch l := b1 & 0x7F; l {
	case 126:
		size = int64(binary.BigEndian.Uint16(ws.hdr[2:]))
		off = 4
	case 127:
		u := binary.BigEndian.Uint64(ws.hdr[2:])
		if u > 1<<62 {
			return n, false, &wsError{1009, "message too big"}
		}
		size = int64(u)
		off = 10
	default:
		size = int64(l)
	}
	copy(ws.mask[:], ws.hdr[off:off+4])
	switch op {
	case wsClose, wsPing, wsPong:
		if !fin || size > 125 {
			return n, false, &wsError{1002, "bad control frame"}
		}
		ws.ctl = ws.ctl[:0]
	case wsText, wsBinary:
		if ws.msgOp != 0 {
			return n, false, &wsError{1002, "new message inside a fragmented one"}
		}
		ws.msgOp, ws.msgSize = op, 0
	case wsCont:
		if ws.msgOp == 0 {
			return n, false, &wsError{1002, "continuation without a message"}
		}
	default:
		return n, false, &wsError{1002, "unknown opcode"}
	}
	if op < wsClose {
		ws.msgSize += size
		if ws.maxMessage > 0 && ws.msgSize > ws.maxMessage {
			return n, false, &wsError{1009, "message too big"}
		}
	}
	ws.op, ws.fin, ws.left, ws.maskPos, ws.inFrame = op, fin, size, 0, true
	return n, true, nil
}

// endFrame finishes the frame just read: it answers a ping, a close, and
// ends a data message at its final frame.
func (ws *wsState) endFrame(lc *LoopConn) error {
	ws.inFrame = false
	switch ws.op {
	case wsPing:
		buf := make([]byte, WebSocketHeaderRoom+len(ws.ctl))
		copy(buf[WebSocketHeaderRoom:], ws.ctl)
		h := wsHeader(buf[:WebSocketHeaderRoom], wsPong, len(ws.ctl))
		_ = lc.write(buf[WebSocketHeaderRoom-h:])
	case wsPong:
	case wsClose:
		// The peer is closing: answer with its status (1000 if none) and
		// close; the handler sees io.EOF, as on a closed socket.
		code := uint16(1000)
		if len(ws.ctl) >= 2 {
			code = binary.BigEndian.Uint16(ws.ctl)
		}
		lc.closeOnce.Do(func() {
			buf := make([]byte, WebSocketHeaderRoom+2)
			binary.BigEndian.PutUint16(buf[WebSocketHeaderRoom:], code)
			h := wsHeader(buf[:WebSocketHeaderRoom], wsClose, 2)
			_ = lc.write(buf[WebSocketHeaderRoom-h:])
			lc.closeWhenFlushed(time.Now().Add(closeFlushTimeout))
		})
		lc.onClose(io.EOF)
	default:
		if ws.fin {
			ws.msgOp = 0
		}
	}
	if len(ws.ctl) == 0 && cap(ws.ctl) > 0 && ws.op != wsClose {
		ws.ctl = nil
	}
	if ws.op >= wsClose {
		ws.ctl = nil
	}
	return nil
}

// LoopWebSocketHandler upgrades requests to WebSocket connections served
// by loop: the handshake runs on net/http's goroutine, after which the
// socket is moved onto the loop and the goroutine ends. serve is called
// with each new connection and returns its LoopHandler; it must not block.
// Requests over TLS (which the loop cannot poll) are served by
// WebSocketHandler(cfg, fallback) instead.
//
// The rules are WebSocketHandler's: the same subprotocols, Origin check,
// read cap (cfg.MaxMessage) and close statuses. permessage-deflate is not
// offered (see BENCHMARKS.md: it costs CPU and tens of kilobytes of
// compressor state per connection, for messages of a few bytes).
func LoopWebSocketHandler(cfg WebSocketConfig, loop *Loop, serve func(*LoopConn) LoopHandler, fallback func(net.Conn)) http.Handler {
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = DefaultWebSocketMaxMessage
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	std := WebSocketHandler(cfg, fallback)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			std.ServeHTTP(w, r)
			return
		}
		key, status, err := checkUpgrade(w, r, cfg.OriginPatterns)
		if err != nil {
			log.Info("websocket upgrade refused", "peer", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err.Error())
			http.Error(w, err.Error(), status)
			return
		}
		proto := selectProtocol(r)
		hj, ok := w.(http.Hijacker)
		if !ok {
			std.ServeHTTP(w, r)
			return
		}
		nc, brw, err := hj.Hijack()
		if err != nil {
			log.Info("websocket upgrade failed", "peer", r.RemoteAddr, "err", err.Error())
			return
		}
		if brw.Reader.Buffered() > 0 || !Loopable(nc) {
			// A client that sent frames before the handshake's answer, or
			// a socket the loop cannot poll: refuse rather than reorder.
			log.Info("websocket upgrade refused", "peer", r.RemoteAddr, "err", "data before the handshake or unpollable socket")
			nc.Close()
			return
		}
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
		if proto != "" {
			resp += "Sec-WebSocket-Protocol: " + proto + "\r\n"
		}
		resp += "\r\n"
		_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(nc, resp); err != nil {
			nc.Close()
			return
		}
		_ = nc.SetWriteDeadline(time.Time{})
		ws := &wsState{subprotocol: proto, remote: wsAddr(r.RemoteAddr), local: wsAddr(r.Host), maxMessage: cfg.MaxMessage}
		if _, err := loop.add(nc, ws, serve); err != nil {
			log.Info("websocket: cannot add to the event loop", "peer", r.RemoteAddr, "err", err.Error())
			nc.Close()
		}
	})
}

var wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// checkUpgrade checks a WebSocket handshake request as coder/websocket's
// Accept does, and returns its key.
func checkUpgrade(w http.ResponseWriter, r *http.Request, origins []string) (string, int, error) {
	if !r.ProtoAtLeast(1, 1) {
		return "", http.StatusUpgradeRequired, fmt.Errorf("WebSocket protocol violation: handshake request must be at least HTTP/1.1: %q", r.Proto)
	}
	if !hasToken(r.Header, "Connection", "upgrade") || !hasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return "", http.StatusUpgradeRequired, errors.New("WebSocket protocol violation: not an upgrade to websocket")
	}
	if r.Method != http.MethodGet {
		return "", http.StatusMethodNotAllowed, fmt.Errorf("WebSocket protocol violation: handshake request method is not GET but %q", r.Method)
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return "", http.StatusBadRequest, fmt.Errorf("unsupported WebSocket protocol version (only 13 is supported): %q", r.Header.Get("Sec-WebSocket-Version"))
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "", http.StatusBadRequest, errors.New("WebSocket protocol violation: want one Sec-WebSocket-Key")
	}
	key := strings.TrimSpace(keys[0])
	if v, err := base64.StdEncoding.DecodeString(key); err != nil || len(v) != 16 {
		return "", http.StatusBadRequest, fmt.Errorf("WebSocket protocol violation: invalid Sec-WebSocket-Key %q", key)
	}
	if err := checkOrigin(r, origins); err != nil {
		return "", http.StatusForbidden, err
	}
	return key, 0, nil
}

func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkOrigin allows requests without an Origin, from the endpoint's own
// host, or from a host matching one of patterns (path.Match syntax).
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil {
		return fmt.Errorf("failed to parse Origin header %q: %w", origin, err)
	}
	if strings.EqualFold(r.Host, u.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		ok, err := path.Match(strings.ToLower(p), strings.ToLower(target))
		if err != nil {
			return fmt.Errorf("failed to parse path pattern %q: %w", p, err)
		}
		if ok {
			return nil
		}
	}
	if u.Host == "" {
		return fmt.Errorf("request Origin %q is not a valid URL with a host", origin)
	}
	return fmt.Errorf("request Origin %q is not authorized for Host %q", u.Host, r.Host)
}

// selectProtocol picks the first of tickwire's subprotocols the client
// offered, as WebSocketHandler does.
func selectProtocol(r *http.Request) string {
	var offered []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, t := range strings.Split(v, ",") {
			offered = append(offered, strings.TrimSpace(t))
		}
	}
	for _, sp := range []string{SubprotocolText, SubprotocolJSON, SubprotocolMsgPack} {
		for _, cp := range offered {
			if strings.EqualFold(sp, cp) {
				return sp
			}
		}
	}
	return ""
}

// Written returns how many bytes written to lc the kernel has taken.
func (lc *LoopConn) Written() int64 { return lc.written.Load() }

// loopPollers is how many poller goroutines a Loop runs: half the cores
// (at least one), or TICKWIRE_LOOP_POLLERS. A poller only moves bytes to
// the parser; fewer pollers batch more ready sockets per epoll_wait and
// hand the runtime fewer threads blocked in it (on 2 cores one poller used
// about a quarter less CPU per update than two: BENCHMARKS.md).
func loopPollers() int {
	if n, err := strconv.Atoi(os.Getenv("TICKWIRE_LOOP_POLLERS")); err == nil && n > 0 {
		return n
	}
	return max(1, runtime.NumCPU()/2)
}
