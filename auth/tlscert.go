package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Development certificate settings.
const (
	// DevCertFile and DevKeyFile are the file names of the self-signed
	// development certificate and its key inside the data directory.
	DevCertFile = "auth-dev-cert.pem"
	DevKeyFile  = "auth-dev-key.pem"
	// DevCertValidity is the lifetime of a new development certificate.
	DevCertValidity = 365 * 24 * time.Hour
	// DevCertRenewBefore: a development certificate expiring sooner than
	// this is replaced at start.
	DevCertRenewBefore = 30 * 24 * time.Hour
)

// devCertDNSNames and devCertIPs are the subject alternative names of the
// development certificate.
var (
	devCertDNSNames = []string{"localhost"}
	devCertIPs      = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
)

// Fingerprint returns the SHA-256 fingerprint of a DER certificate in the
// form openssl prints ("AB:CD:..."), e.g. to compare with
// "openssl x509 -noout -fingerprint -sha256 -in cert.pem".
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// PublicKeyPin returns curl's --pinnedpubkey value for a certificate:
// "sha256//" and the base64 SHA-256 of its SubjectPublicKeyInfo.
func PublicKeyPin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

// loadOrCreateDevCert returns the development certificate in dir, creating
// a new one if it is missing, unreadable, lacks the expected names or
// expires within DevCertRenewBefore. created reports whether it is new.
func loadOrCreateDevCert(dir string, now time.Time) (cert tls.Certificate, created bool, err error) {
	certPath, keyPath := filepath.Join(dir, DevCertFile), filepath.Join(dir, DevKeyFile)
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && devCertUsable(c.Leaf, now) {
		return c, false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, false, fmt.Errorf("create data directory: %w", err)
	}
	certPEM, keyPEM, err := newDevCert(now)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, false, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, false, err
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	return c, true, nil
}

func devCertUsable(leaf *x509.Certificate, now time.Time) bool {
	if leaf == nil || now.Add(DevCertRenewBefore).After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return false
	}
	for _, n := range devCertDNSNames {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	for _, ip := range devCertIPs {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func newDevCert(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tickwire development certificate", Organization: []string{"tickwire"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(DevCertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              devCertDNSNames,
		IPAddresses:           devCertIPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// writeFileAtomic writes data to a temporary file and renames it over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(mode)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return errors.Join(fmt.Errorf("write %s", path), werr)
	}
	return nil
}
