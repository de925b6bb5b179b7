package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// selfSigned makes a self-signed certificate for 127.0.0.1, like the auth
// service's development certificate, and returns it with its fingerprint.
func selfSigned(t *testing.T) (tls.Certificate, string) {
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
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, formatFingerprint(sum[:])
}

// startTLSGame serves the test game over TLS on a loopback TCP port, as
// tickwire serve --game-tls does, and returns the address.
func startTLSGame(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ts := startServer(t, server.Config{}, nil)
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.Serve(transport.TLSListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	return ln.Addr().String()
}

func TestDialTLSPinned(t *testing.T) {
	cert, fp := selfSigned(t)
	addr := startTLSGame(t, cert)
	ctx := testCtx(t)

	opts := testOptions()
	opts.TLS = PinnedTLS(fp)
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		t.Fatalf("Dial over TLS with the pinned certificate: %v", err)
	}
	defer c.Close()
	if _, ok := c.currentConn().(*tls.Conn); !ok {
		t.Fatalf("the client's connection is %T, not TLS", c.currentConn())
	}
	id, name, err := c.LoginGuest(ctx)
	if err != nil || id == 0 || !strings.HasPrefix(name, "guest-") {
		t.Fatalf("AUTH guest over TLS: %d %q %v", id, name, err)
	}
	if opts.TLS.ServerName != "" {
		t.Error("Dial modified the caller's TLS config")
	}

	// The usual verification works too: ServerName defaults to the host.
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	opts.TLS = &tls.Config{RootCAs: roots}
	c2, err := Dial(ctx, addr, opts)
	if err != nil {
		t.Fatalf("Dial with the certificate as root: %v", err)
	}
	defer c2.Close()
	if _, _, err := c2.LoginGuest(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDialTLSRefusals(t *testing.T) {
	cert, _ := selfSigned(t)
	addr := startTLSGame(t, cert)
	ctx := testCtx(t)

	// Another certificate's pin: the handshake fails and Dial says why.
	other := sha256.Sum256([]byte("another certificate"))
	opts := testOptions()
	opts.TLS = PinnedTLS(formatFingerprint(other[:]))
	if c, err := Dial(ctx, addr, opts); err == nil || !strings.Contains(err.Error(), "does not match") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Dial with a wrong pin = %v", err)
	}
	// The system roots do not know a self-signed certificate.
	opts.TLS = &tls.Config{}
	if c, err := Dial(ctx, addr, opts); err == nil {
		c.Close()
		t.Fatal("a self-signed certificate passed the system roots")
	}

	// Plaintext to the TLS port: the server answers nothing readable and
	// closes the connection.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("AUTH guest\n"))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(nc)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("plaintext client read: %v", err)
	}
	if strings.Contains(string(got), "WELCOME") || strings.Contains(string(got), "INFO") {
		t.Fatalf("plaintext client got a game answer: %q", got)
	}
	// The Go client without TLS: the login fails.
	c, err := Dial(ctx, addr, testOptions())
	if err == nil {
		_, _, err = c.LoginGuest(ctx)
		c.Close()
	}
	if err == nil {
		t.Fatal("a plaintext client logged in on the TLS port")
	}

	// A TLS client against a plain port fails its handshake.
	_, plain := startTCP(t, server.Config{})
	opts.TLS = PinnedTLS(strings.Repeat("00", 32))
	if c, err := Dial(ctx, plain, opts); err == nil {
		c.Close()
		t.Fatal("TLS handshake succeeded against a plain game port")
	}
}
