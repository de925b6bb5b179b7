package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testTLS returns a server config with a self-signed certificate for
// 127.0.0.1 (as the auth service's development certificate) and a client
// config that trusts exactly it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tickwire test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1", "acme-tls/1"}, // as autocert's config offers
	}
	return server, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
}

// tlsPair listens with ListenTCP wrapped by wrap, dials it and returns the
// accepted connection and the raw client socket. Accept must return
// without the client sending anything.
func tlsPair(t *testing.T, wrap func(net.Listener) net.Listener, localIP string) (net.Conn, net.Conn) {
	t.Helper()
	raw, err := ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := wrap(raw)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	d := net.Dialer{}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	cc, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	select {
	case sc := <-accepted:
		t.Cleanup(func() { sc.Close() })
		return sc, cc
	case <-time.After(safety):
		t.Fatal("Accept did not return while the client sent nothing: it must not read")
	}
	return nil, nil
}

func TestTLSListener(t *testing.T) {
	scfg, ccfg := testTLS(t)
	sc, raw := tlsPair(t, func(ln net.Listener) net.Listener { return TLSListener(ln, scfg) }, "")
	cc := tls.Client(raw, ccfg)
	// The server speaks first, as the game server does with its banner: the
	// handshake runs inside that Write.
	go sc.Write([]byte("INFO hello\n"))
	if got := readN(t, cc, 11); got != "INFO hello\n" {
		t.Fatalf("client read %q", got)
	}
	cc.Write([]byte("AUTH guest\n"))
	if got := readN(t, sc, 11); got != "AUTH guest\n" {
		t.Fatalf("server read %q", got)
	}
	if cs := sc.(interface{ ConnectionState() tls.ConnectionState }).ConnectionState(); !cs.HandshakeComplete {
		t.Error("handshake not complete")
	}
	if err := sc.(interface{ Handshake() error }).Handshake(); err != nil {
		t.Errorf("second Handshake: %v", err)
	}
	checkNoDelay(t, sc)
}

func TestTLSListenerPlaintextRefused(t *testing.T) {
	scfg, _ := testTLS(t)
	for _, plain := range []string{"AUTH guest\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x16\x03\x01\x00\x05hello"} {
		sc, cc := tlsPair(t, func(ln net.Listener) net.Listener { return TLSListener(ln, scfg) }, "")
		cc.Write([]byte(plain))
		if n, err := sc.Write([]byte("INFO hello\n")); err == nil {
			t.Errorf("%q: server Write = %d, nil: the handshake did not fail", plain, n)
		}
		if _, err := sc.Read(make([]byte, 16)); err == nil {
			t.Errorf("%q: server Read succeeded", plain)
		}
		cc.SetReadDeadline(time.Now().Add(safety))
		got, _ := io.ReadAll(cc)
		if len(got) > 0 && got[0] != 0x15 { // nothing, or a TLS alert record
			t.Errorf("%q: client got %q", plain, got)
		}
	}
}

// A client that opens a connection and never completes the handshake is
// cut off by the handshake timeout even when the server has set no
// deadline.
func TestTLSHandshakeTimeout(t *testing.T) {
	scfg, _ := testTLS(t)
	for _, partial := range []string{"", "\x16\x03\x01\x02\x00\x01"} {
		sc, cc := tlsPair(t, func(ln net.Listener) net.Listener {
			return tlsListener{Listener: ln, cfg: scfg, timeout: 100 * time.Millisecond}
		}, "")
		if partial != "" {
			cc.Write([]byte(partial))
		}
		if _, err := sc.Read(make([]byte, 8)); err == nil {
			t.Fatalf("%q: Read succeeded", partial)
		}
		expectClosed(t, cc)
	}
	if TLSHandshakeTimeout <= 0 {
		t.Fatal("TLSListener has no handshake timeout")
	}
}

// PROXY protocol then TLS on one port: the proxy's header comes first, the
// client's TLS handshake after it.
func TestTLSOverProxyProtocol(t *testing.T) {
	scfg, ccfg := testTLS(t)
	tp, _ := ParseTrustedProxies("127.0.0.2")
	wrap := func(ln net.Listener) net.Listener { return TLSListener(ProxyProtocol(ln, tp), scfg) }

	// From the trusted proxy (127.0.0.2), with a header.
	sc, raw := tlsPair(t, wrap, "127.0.0.2")
	raw.Write([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 5001\r\n"))
	cc := tls.Client(raw, ccfg)
	go cc.Write([]byte("AUTH guest\n"))
	if got := readN(t, sc, 11); got != "AUTH guest\n" {
		t.Fatalf("server read %q", got)
	}
	if got := sc.RemoteAddr().String(); got != "203.0.113.7:40000" {
		t.Errorf("RemoteAddr through TLS = %s", got)
	}

	// From elsewhere, a header is refused before any TLS.
	sc, raw = tlsPair(t, wrap, "127.0.0.1")
	raw.Write([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 5001\r\n"))
	if err := sc.(interface{ Handshake() error }).Handshake(); !errors.Is(err, ErrProxyHeaderRefused) {
		t.Errorf("Handshake: %v, want ErrProxyHeaderRefused", err)
	}
	expectClosed(t, raw)

	// From elsewhere without a header: plain TLS works.
	sc, raw = tlsPair(t, wrap, "127.0.0.1")
	cc = tls.Client(raw, ccfg)
	go cc.Write([]byte("AUTH guest\n"))
	if got := readN(t, sc, 11); got != "AUTH guest\n" {
		t.Fatalf("server read %q", got)
	}
	if got := netAddrIP(sc.RemoteAddr()); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("RemoteAddr = %v", got)
	}
}

func TestWebTLSConfig(t *testing.T) {
	scfg, ccfg := testTLS(t)
	wcfg := WebTLSConfig(scfg)
	if !slices.Equal(wcfg.NextProtos, []string{"http/1.1", "acme-tls/1"}) {
		t.Errorf("NextProtos = %q", wcfg.NextProtos)
	}
	if !slices.Equal(scfg.NextProtos, []string{"h2", "http/1.1", "acme-tls/1"}) {
		t.Errorf("the original config changed: %q", scfg.NextProtos)
	}
	if got := WebTLSConfig(&tls.Config{}).NextProtos; !slices.Equal(got, []string{"http/1.1"}) {
		t.Errorf("NextProtos from none = %q", got)
	}

	// HTTPS with WebSocket upgrades: a client that would take HTTP/2 gets
	// HTTP/1.1, and wss:// works.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.Proto)) })
	mux.Handle("/ws", WebSocketHandler(WebSocketConfig{}, func(c net.Conn) {
		defer c.Close()
		io.Copy(c, io.LimitReader(c, 5))
	}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(tls.NewListener(ln, wcfg))
	t.Cleanup(func() { hs.Close() })
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ccfg, ForceAttemptHTTP2: true}}
	t.Cleanup(hc.CloseIdleConnections)
	base := "https://" + ln.Addr().String()
	resp, err := hc.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "HTTP/1.1" || resp.TLS == nil {
		t.Errorf("page served over %q, TLS %v", body, resp.TLS != nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+ln.Addr().String()+"/ws", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("wss:// dial: %v", err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || string(b) != "hello" {
		t.Errorf("echo over wss: %q, %v", b, err)
	}
}
