package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/transport"
)

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe runs "tickwire serve" with args on free ports and a fresh
// data directory until the test ends, and returns the game, HTTP and data
// directory.
func startServe(t *testing.T, args ...string) (game, web, dir string) {
	t.Helper()
	dir = t.TempDir()
	game, web = freeAddr(t), freeAddr(t)
	all := append([]string{"--addr", game, "--http", web, "--auth", freeAddr(t), "--data-dir", dir, "--log-level", "error"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, all) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	for _, addr := range []string{game, web} {
		waitListening(t, addr, done)
	}
	return game, web, dir
}

// waitListening returns once something accepts connections on addr, and
// fails the test if serve exits first (done) or 30 s pass. serve binds its
// listeners one after another, so a test must wait for the one it uses.
func waitListening(t *testing.T, addr string, done chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			done <- err // for startServe's cleanup
			t.Fatalf("serve exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve is not listening on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// devPin returns the pinned TLS config for the development certificate
// serve made in dir.
//
// serve binds its listeners before the account service makes the
// certificate (the kernel queues connections meanwhile), so a test that
// found the ports open may get here first: wait for the whole file.
func devPin(t *testing.T, dir string) *tls.Config {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, auth.DevCertFile))
		if err == nil {
			if block, _ := pem.Decode(b); block != nil {
				if _, err := x509.ParseCertificate(block.Bytes); err == nil {
					return client.PinnedTLS(auth.Fingerprint(block.Bytes))
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no development certificate in %s: %v", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// loginOver logs in as a guest over an established game connection.
func loginOver(ctx context.Context, t *testing.T, conn net.Conn) error {
	t.Helper()
	c, err := client.New(conn, client.Options{Registry: demoRegistry()})
	if err != nil {
		return err
	}
	defer c.Close()
	_, _, err = c.LoginGuest(ctx)
	return err
}

// refused reads everything the server sends and fails unless it closed
// the connection without a game answer.
func refused(t *testing.T, what string, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: the connection stayed open", what)
	}
	if strings.Contains(string(got), "INFO") || strings.Contains(string(got), "WELCOME") {
		t.Errorf("%s: got a game answer %q", what, got)
	}
}

// TestServeTLSAndTrustedProxy runs serve with --game-tls, --http-tls and
// --trusted-proxy 127.0.0.2 (a stand-in for a proxy on another host) and
// plays through every path with the development certificate pinned.
func TestServeTLSAndTrustedProxy(t *testing.T) {
	game, web, dir := startServe(t, "--game-tls", "--http-tls", "--trusted-proxy", "127.0.0.2")
	pin := devPin(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A client straight to the TLS game port.
	c, err := client.Dial(ctx, game, client.Options{Registry: demoRegistry(), TLS: pin})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	id, name, err := c.LoginGuest(ctx)
	c.Close()
	if err != nil || id == 0 || !strings.HasPrefix(name, "guest-") {
		t.Fatalf("AUTH guest over TLS: %d %q %v", id, name, err)
	}

	// Plaintext to the TLS port is refused.
	pc := dialFrom(t, "127.0.0.1", game)
	pc.Write([]byte("AUTH guest\n"))
	refused(t, "plaintext", pc)

	// The trusted proxy: PROXY header, then the client's TLS.
	pc = dialFrom(t, "127.0.0.2", game)
	pc.Write([]byte("PROXY TCP4 203.0.113.8 192.0.2.1 40000 5001\r\n"))
	if err := loginOver(ctx, t, tls.Client(pc, pin)); err != nil {
		t.Fatalf("login through the trusted proxy: %v", err)
	}
	// The trusted proxy without a header is refused.
	pc = dialFrom(t, "127.0.0.2", game)
	if err := loginOver(ctx, t, tls.Client(pc, pin)); err == nil {
		t.Error("the trusted proxy logged in without a PROXY header")
	}
	// Anyone else's PROXY header is refused.
	pc = dialFrom(t, "127.0.0.1", game)
	pc.Write([]byte("PROXY TCP4 203.0.113.8 192.0.2.1 40000 5001\r\n"))
	refused(t, "untrusted PROXY header", pc)

	// The page over HTTPS, only HTTP/1.1, and the game over WSS.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: pin, ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + web + "/")
	if err != nil {
		t.Fatalf("page over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
		t.Fatalf("page: %s %s", resp.Proto, resp.Status)
	}
	wc, err := client.DialWebSocket(ctx, "wss://"+web+"/ws", client.Options{Registry: demoRegistry(), HTTPClient: hc})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	_, _, err = wc.LoginGuest(ctx)
	wc.Close()
	if err != nil {
		t.Fatalf("AUTH guest over WSS: %v", err)
	}
	// Plain HTTP to the HTTPS listener gets no page.
	if resp, err := http.Get("http://" + web + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served the page")
		}
	}
}

// TestServeProxiedAddressesAreBanned: behind the trusted proxy, the address
// the proxy reports (PROXY header on the game port, X-Forwarded-For on the
// WebSocket) is the one bans apply to; the same header from anyone else is
// ignored or refused.
func TestServeProxiedAddressesAreBanned(t *testing.T) {
	dir := t.TempDir()
	if _, err := runBanCapture(t, "--data-dir", dir, "add", "203.0.113.7", "--reason", "test"); err != nil {
		t.Fatal(err)
	}
	game, web, _ := startServe(t, "--data-dir", dir, "--trusted-proxy", "127.0.0.2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Game port through the proxy: the banned client is refused, another
	// one behind the same proxy plays.
	pc := dialFrom(t, "127.0.0.2", game)
	pc.Write([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 5001\r\n"))
	if err := loginOver(ctx, t, pc); err == nil {
		t.Error("a banned address logged in through the proxy")
	}
	pc = dialFrom(t, "127.0.0.2", game)
	pc.Write([]byte("PROXY TCP4 203.0.113.8 192.0.2.1 40000 5001\r\n"))
	if err := loginOver(ctx, t, pc); err != nil {
		t.Errorf("another client through the proxy: %v", err)
	}
	// A plain client on the same port is unaffected.
	if err := loginOver(ctx, t, dialFrom(t, "127.0.0.1", game)); err != nil {
		t.Errorf("plain client: %v", err)
	}

	// WebSocket with X-Forwarded-For.
	wsLogin := func(local, xff string) error {
		hc := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}).DialContext}}
		defer hc.CloseIdleConnections()
		h := http.Header{}
		h.Set("X-Forwarded-For", xff)
		ws, _, err := websocket.Dial(ctx, "ws://"+web+"/ws", &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h, Subprotocols: []string{transport.SubprotocolText}})
		if err != nil {
			return err
		}
		return loginOver(ctx, t, transport.NewWebSocketConn(ws, web, "client"))
	}
	if err := wsLogin("127.0.0.2", "203.0.113.7"); err == nil {
		t.Error("a banned address logged in over WebSocket through the proxy")
	}
	if err := wsLogin("127.0.0.2", "6.6.6.6, 203.0.113.8"); err != nil {
		t.Errorf("another client over WebSocket through the proxy: %v", err)
	}
	if err := wsLogin("127.0.0.1", "203.0.113.7"); err != nil {
		t.Errorf("X-Forwarded-For from an untrusted peer was believed: %v", err)
	}
}
