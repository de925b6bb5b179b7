package transport

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// checkRTT checks that RTT finds the kernel's estimate under c: present
// and plausible on Linux (loopback: well under a second), absent elsewhere.
func checkRTT(t *testing.T, what string, c net.Conn) {
	t.Helper()
	d, ok := RTT(c)
	if runtime.GOOS != "linux" {
		if ok {
			t.Errorf("%s: RTT %v on %s, which has no TCP_INFO", what, d, runtime.GOOS)
		}
		return
	}
	if !ok || d <= 0 || d >= time.Second {
		t.Errorf("%s: RTT = %v, %v; want the loopback socket's estimate", what, d, ok)
	}
}

// TestRTT: the round-trip estimate is found through every layer a game
// connection can have over TCP, and is absent where there is no socket.
func TestRTT(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		sc, cc := tlsPair(t, func(ln net.Listener) net.Listener { return ln }, "")
		go cc.Write([]byte("ping\n"))
		readN(t, sc, 5)
		checkRTT(t, "TCP", sc)
	})
	t.Run("tls-over-proxy", func(t *testing.T) {
		scfg, ccfg := testTLS(t)
		tp, _ := ParseTrustedProxies("127.0.0.2")
		sc, raw := tlsPair(t, func(ln net.Listener) net.Listener { return TLSListener(ProxyProtocol(ln, tp), scfg) }, "127.0.0.2")
		raw.Write([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 5001\r\n"))
		cc := tls.Client(raw, ccfg)
		go cc.Write([]byte("ping\n"))
		readN(t, sc, 5)
		checkRTT(t, "TLS over the PROXY protocol", sc)
	})
	t.Run("pipe", func(t *testing.T) {
		l := NewPipeListener()
		defer l.Close()
		go func() {
			if s, err := l.Accept(); err == nil {
				defer s.Close()
				time.Sleep(time.Second)
			}
		}()
		c, err := l.Dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if d, ok := RTT(c); ok {
			t.Fatalf("a pipe has RTT %v", d)
		}
	})
	t.Run("closed", func(t *testing.T) {
		sc, _ := tlsPair(t, func(ln net.Listener) net.Listener { return ln }, "")
		sc.Close()
		if d, ok := RTT(sc); ok {
			t.Fatalf("a closed socket has RTT %v", d)
		}
	})
	for _, withCtx := range []bool{true, false} {
		name := "websocket-without-ConnContext"
		if withCtx {
			name = "websocket-with-ConnContext"
		}
		t.Run(name, func(t *testing.T) {
			got := make(chan net.Conn, 1)
			h := WebSocketHandler(WebSocketConfig{Logger: slog.New(slog.DiscardHandler)}, func(c net.Conn) {
				buf := make([]byte, 5)
				c.Read(buf)
				got <- c
				<-time.After(100 * time.Millisecond) // the handler's return ends the connection
			})
			hs := httptest.NewUnstartedServer(h)
			if withCtx {
				hs.Config.ConnContext = ConnContext
			}
			hs.Start()
			defer hs.Close()
			ctx, cancel := context.WithTimeout(context.Background(), safety)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			ws.Write(ctx, websocket.MessageText, []byte("ping\n"))
			c := <-got
			if withCtx {
				checkRTT(t, "WebSocket", c)
			} else if d, ok := RTT(c); ok {
				t.Fatalf("RTT %v without the socket known", d)
			}
		})
	}
}
