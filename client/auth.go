package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Auth service limits.
const (
	// DefaultAuthTimeout bounds FetchToken when ctx has no deadline.
	DefaultAuthTimeout = 10 * time.Second
	// maxAuthResponse caps the auth service's response body that
	// FetchToken reads.
	maxAuthResponse = 64 << 10
	// loginPath is the auth service's login endpoint.
	loginPath = "/v1/login"
)

// AuthError is a refusal from the auth service: its HTTP status and the
// "code" and "message" of its JSON error body (e.g. bad_credentials,
// rate_limited).
type AuthError struct {
	Status  int    // HTTP status, e.g. 401 or 429
	Code    string // the body's "code", e.g. bad_credentials; may be empty
	Message string // the body's human-readable "message"; may be empty
}

// Error describes the refusal.
func (e *AuthError) Error() string {
	s := fmt.Sprintf("client: auth service refused the login (HTTP %d)", e.Status)
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// FetchToken logs in to the auth service at authURL (its base URL, e.g.
// "https://127.0.0.1:8443"; "/v1/login" is appended unless present) with
// POST /v1/login {"name","password"} and returns the one-time token to
// pass to Login. Tokens are short-lived and work once: fetch one right
// before connecting.
//
// tlsConfig verifies the service's certificate; nil means the system roots.
// The development service uses a self-signed certificate, which the system
// roots reject: pass PinnedTLS with the SHA-256 fingerprint the service
// logs at start (preferred), or, on a trusted machine only,
// &tls.Config{InsecureSkipVerify: true}. The password is sent only over
// TLS, never logged, and never kept.
func FetchToken(ctx context.Context, authURL, name, password string, tlsConfig *tls.Config) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultAuthTimeout)
		defer cancel()
	}
	endpoint := strings.TrimRight(authURL, "/")
	if !strings.HasSuffix(endpoint, loginPath) {
		endpoint += loginPath
	}
	body, err := json.Marshal(struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}{name, password})
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("client: auth service URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: DefaultAuthTimeout,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", fmt.Errorf("client: auth service: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthResponse))
	if err != nil {
		return "", fmt.Errorf("client: auth service: reading the answer: %w", err)
	}
	var out struct {
		Token   string `json:"token"`
		Code    string `json:"code"`
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	jerr := json.Unmarshal(data, &out)
	if resp.StatusCode/100 != 2 {
		ae := &AuthError{Status: resp.StatusCode, Code: out.Code, Message: out.Message}
		if ae.Message == "" {
			ae.Message = out.Error
		}
		return "", ae
	}
	if jerr != nil {
		return "", fmt.Errorf("client: auth service answered invalid JSON: %w", jerr)
	}
	if out.Token == "" {
		return "", errors.New("client: auth service answered without a token")
	}
	return out.Token, nil
}

// PinnedTLS returns a TLS config that accepts exactly the server
// certificate whose SHA-256 fingerprint is sha256Fingerprint, in the form
// the auth service logs and openssl prints ("AB:CD:...", case and colons
// optional). It skips the usual chain and name verification, which a
// self-signed development certificate cannot pass, and checks the pin
// instead. A malformed fingerprint makes every handshake fail with an error
// saying so.
func PinnedTLS(sha256Fingerprint string) *tls.Config {
	want, perr := parseFingerprint(sha256Fingerprint)
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The standard verification is replaced by the pin check below.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if perr != nil {
				return perr
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("client: pinned TLS: the server sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return fmt.Errorf("client: pinned TLS: certificate fingerprint %s does not match the pinned %s",
					formatFingerprint(got[:]), formatFingerprint(want))
			}
			return nil
		},
	}
}

func parseFingerprint(s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("client: pinned TLS: bad SHA-256 fingerprint %q: want 32 hex bytes such as AB:CD:...", s)
	}
	return b, nil
}

func formatFingerprint(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}
