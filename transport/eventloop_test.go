package transport_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickwire/tickwire/transport"
)

// echoHandler writes back whatever it receives and records how the
// connection ended.
type echoHandler struct {
	lc     *transport.LoopConn
	mu     sync.Mutex
	got    []byte
	opened chan struct{}
	closed chan error
}

func (h *echoHandler) OnOpen() { close(h.opened) }

func (h *echoHandler) OnData(p []byte) {
	h.mu.Lock()
	h.got = append(h.got, p...)
	h.mu.Unlock()
	buf := make([]byte, transport.WebSocketHeaderRoom, transport.WebSocketHeaderRoom+len(p))
	buf = append(buf, p...)
	_ = h.lc.WriteMessage(buf, transport.WebSocketHeaderRoom)
}

func (h *echoHandler) OnClose(err error) { h.closed <- err }

func newLoop(t *testing.T) *transport.Loop {
	t.Helper()
	l, err := transport.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	return l
}

// echoServer serves WebSocket upgrades on l with an echo handler per
// connection; handlers receives each.
func echoServer(t *testing.T, l *transport.Loop, cfg transport.WebSocketConfig) (url string, handlers chan *echoHandler) {
	t.Helper()
	handlers = make(chan *echoHandler, 16)
	cfg.Logger = quiet()
	h := transport.LoopWebSocketHandler(cfg, l, func(lc *transport.LoopConn) transport.LoopHandler {
		eh := &echoHandler{lc: lc, opened: make(chan struct{}), closed: make(chan error, 1)}
		handlers <- eh
		return eh
	}, func(c net.Conn) { c.Close() })
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http"), handlers
}

func TestLoopTCPEcho(t *testing.T) {
	l := newLoop(t)
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hc := make(chan *echoHandler, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		if _, err := l.Add(nc, func(lc *transport.LoopConn) transport.LoopHandler {
			h := &echoHandler{lc: lc, opened: make(chan struct{}), closed: make(chan error, 1)}
			hc <- h
			return h
		}); err != nil {
			t.Errorf("Add: %v", err)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	h := <-hc
	<-h.opened
	if h.lc.Transport() != "tcp" || h.lc.WebSocket() {
		t.Fatalf("transport %q", h.lc.Transport())
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "hello\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello\n" {
		t.Fatalf("%q %v", line, err)
	}
	if d, ok := transport.RTT(h.lc); runtime.GOOS == "linux" && (!ok || d <= 0 || d >= time.Second) {
		t.Errorf("RTT on the loop = %v, %v; want the loopback socket's estimate", d, ok)
	}
	c.Close()
	if err := <-h.closed; !errors.Is(err, io.EOF) {
		t.Fatalf("OnClose(%v), want EOF", err)
	}
	if d, ok := transport.RTT(h.lc); ok {
		t.Errorf("RTT %v after the close", d)
	}
}

func TestLoopAddRefused(t *testing.T) {
	l := newLoop(t)
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		if _, err := l.Add(nc, func(*transport.LoopConn) transport.LoopHandler { return nil }); !errors.Is(err, transport.ErrRefused) {
			t.Errorf("Add: %v, want ErrRefused", err)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("refused connection still open")
	}
	if _, err := l.Add(&net.UnixConn{}, nil); !errors.Is(err, transport.ErrNotLoopable) {
		t.Fatalf("Add(unix): %v", err)
	}
}

func TestLoopWebSocketEcho(t *testing.T) {
	l := newLoop(t)
	url, handlers := echoServer(t, l, transport.WebSocketConfig{MaxMessage: 100000})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{transport.SubprotocolMsgPack}})
	if err != nil {
		t.Fatal(err)
	}
	wc.SetReadLimit(200000)
	h := <-handlers
	<-h.opened
	if h.lc.InitialEncoding() != "msgpack" || h.lc.Transport() != "websocket" {
		t.Fatalf("encoding %q transport %q", h.lc.InitialEncoding(), h.lc.Transport())
	}
	// Binary (the subprotocol's), then text after SetBinary(false); a
	// message longer than 125 and 65535 bytes exercises each header size.
	for _, size := range []int{3, 300, 70000} {
		msg := make([]byte, size)
		rand.Read(msg)
		if err := wc.Write(ctx, websocket.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		// The echo handler answers each piece of payload as it arrives,
		// so a long message may come back in several.
		var got []byte
		for len(got) < size {
			typ, part, err := wc.Read(ctx)
			if err != nil || typ != websocket.MessageBinary {
				t.Fatalf("size %d: type %v, %v", size, typ, err)
			}
			got = append(got, part...)
		}
		if string(got) != string(msg) {
			t.Fatalf("size %d: echo differs", size)
		}
	}
	h.lc.SetBinary(false)
	wc.Write(ctx, websocket.MessageText, []byte("PING 1\n"))
	if typ, got, err := wc.Read(ctx); err != nil || typ != websocket.MessageText || string(got) != "PING 1\n" {
		t.Fatalf("%v %q %v", typ, got, err)
	}
	wc.Close(websocket.StatusNormalClosure, "")
	select {
	case err := <-h.closed:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("OnClose(%v), want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnClose")
	}
}

func TestLoopWebSocketCloseReasons(t *testing.T) {
	l := newLoop(t)
	url, handlers := echoServer(t, l, transport.WebSocketConfig{})
	for reason, want := range map[string]websocket.StatusCode{
		"too_long": websocket.StatusMessageTooBig, "shutdown": websocket.StatusGoingAway,
		"timeout": websocket.StatusPolicyViolation, "quit": websocket.StatusNormalClosure,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		wc, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		h := <-handlers
		<-h.opened
		h.lc.CloseWithReason(reason)
		_, _, err = wc.Read(ctx)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != want || ce.Reason != reason {
			t.Fatalf("%s: %v, want close %d %q", reason, err, want, reason)
		}
		cancel()
		wc.CloseNow()
	}
}

func TestLoopWebSocketReadCap(t *testing.T) {
	l := newLoop(t)
	url, handlers := echoServer(t, l, transport.WebSocketConfig{MaxMessage: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := <-handlers
	<-h.opened
	wc.Write(ctx, websocket.MessageText, make([]byte, 101))
	_, _, err = wc.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusMessageTooBig {
		t.Fatalf("%v, want close 1009", err)
	}
	if err := <-h.closed; !errors.Is(err, transport.ErrWebSocketTooBig) {
		t.Fatalf("OnClose(%v)", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.got) > 0 {
		t.Fatalf("%d bytes of the over-long message delivered", len(h.got))
	}
}

func TestLoopWebSocketOrigin(t *testing.T) {
	l := newLoop(t)
	url, _ := echoServer(t, l, transport.WebSocketConfig{OriginPatterns: []string{"*.example.com"}})
	for origin, ok := range map[string]bool{"": true, "https://game.example.com": true, "https://evil.test": false} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
		if origin != "" {
			opts.HTTPHeader.Set("Origin", origin)
		}
		wc, resp, err := websocket.Dial(ctx, url, opts)
		cancel()
		if ok != (err == nil) {
			t.Fatalf("origin %q: %v", origin, err)
		}
		if err == nil {
			wc.CloseNow()
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("origin %q: want 403, got %v", origin, resp)
		}
	}
}

// rawWS does the handshake on a plain socket, so a test can send frames
// exactly as it likes.
func rawWS(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	host := strings.TrimPrefix(url, "ws://")
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	key := make([]byte, 16)
	rand.Read(key)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+host+"\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+base64.StdEncoding.EncodeToString(key)+"\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return c, br
}

// maskedFrame builds a client frame.
func maskedFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xFFFF:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	mask := []byte{1, 2, 3, 4}
	f = append(f, mask...)
	for i, c := range payload {
		f = append(f, c^mask[i%4])
	}
	return f
}

// Frames split at every byte, fragmented messages and a ping between the
// fragments arrive as one stream of payload bytes.
func TestLoopWebSocketFramingByteByByte(t *testing.T) {
	l := newLoop(t)
	url, handlers := echoServer(t, l, transport.WebSocketConfig{})
	c, br := rawWS(t, url)
	defer c.Close()
	h := <-handlers
	<-h.opened
	var stream []byte
	stream = append(stream, maskedFrame(false, 0x1, []byte("AUTH "))...)
	stream = append(stream, maskedFrame(true, 0x9, []byte("p"))...)
	stream = append(stream, maskedFrame(true, 0x0, []byte("guest\n"))...)
	stream = append(stream, maskedFrame(true, 0x2, []byte(strings.Repeat("x", 200)))...)
	for _, b := range stream {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	want := "AUTH guest\n" + strings.Repeat("x", 200)
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		got := string(h.got)
		h.mu.Unlock()
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %q", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Among the echoes (of each piece of payload as it arrived) is the
	// pong.
	for {
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(br, hdr); err != nil {
			t.Fatalf("no pong: %v", err)
		}
		n := int(hdr[1] & 0x7F)
		if n == 126 {
			ext := make([]byte, 2)
			io.ReadFull(br, ext)
			n = int(binary.BigEndian.Uint16(ext))
		}
		payload := make([]byte, n)
		io.ReadFull(br, payload)
		if hdr[0] == 0x8A {
			if string(payload) != "p" {
				t.Fatalf("pong %q", payload)
			}
			break
		}
	}
	// An unmasked client frame is a protocol error: close 1002.
	c.Write([]byte{0x81, 0x01, 'x'})
	if err := <-h.closed; err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("OnClose(%v), want a protocol error", err)
	}
}
