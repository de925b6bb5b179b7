package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/internal/testutil"
	"github.com/tickwire/tickwire/store"
)

type svcFixture struct {
	*fixture
	dir string
	svc *Service
}

func newSvc(t *testing.T, f *fixture, dir string, mod func(*Config)) *Service {
	t.Helper()
	cfg := Config{
		Store:   f.st,
		Logger:  f.log,
		Addr:    "127.0.0.1:0",
		DataDir: dir,
		Params:  testParams,
		Now:     f.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startSvc(t *testing.T, mod func(*Config)) *svcFixture {
	f := newFixture(t)
	dir := t.TempDir()
	s := newSvc(t, f, dir, mod)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &svcFixture{fixture: f, dir: dir, svc: s}
}

// client trusts exactly the service's certificate.
func (sf *svcFixture) client() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(sf.svc.TLSConfig().Certificates[0].Leaf)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (sf *svcFixture) post(t *testing.T, path string, body any) reply {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := sf.client().Post("https://"+sf.svc.Addr()+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return readReply(t, resp)
}

func readReply(t *testing.T, resp *http.Response) reply {
	t.Helper()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("response is not JSON: %q", raw)
		}
	}
	return r
}

// do sends a request straight to the handler from the given address.
func do(h http.Handler, method, path, remote string, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestRegisterLoginFlow(t *testing.T) {
	ctx := context.Background()
	sf := startSvc(t, func(c *Config) { c.GameAddr = "127.0.0.1:5001" })

	r := sf.post(t, "/v1/register", RegisterRequest{Name: "Alice", Password: "alice-password-1"})
	if r.status != http.StatusCreated || r.body["name"] != "alice" {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	if r := sf.post(t, "/v1/register", RegisterRequest{Name: "alice", Password: "other-password-1"}); r.status != http.StatusConflict || r.errCode() != "name_taken" {
		t.Fatalf("duplicate register: %d %s", r.status, r.raw)
	}
	if r := sf.post(t, "/v1/register", RegisterRequest{Name: "x", Password: "other-password-1"}); r.status != http.StatusBadRequest || r.errCode() != "bad_name" {
		t.Fatalf("bad name: %d %s", r.status, r.raw)
	}
	if r := sf.post(t, "/v1/register", RegisterRequest{Name: "carol", Password: "short"}); r.status != http.StatusBadRequest || r.errCode() != "bad_password" ||
		!strings.Contains(r.raw, "at least 10") {
		t.Fatalf("weak password: %d %s", r.status, r.raw)
	}

	r = sf.post(t, "/v1/login", LoginRequest{Name: "alice", Password: "alice-password-1"})
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	tok, _ := r.body["token"].(string)
	if len(tok) != TokenLen || r.body["game_addr"] != "127.0.0.1:5001" || r.body["expires_in"] != float64(60) {
		t.Fatalf("login body: %s", r.raw)
	}
	exp, err := time.Parse(time.RFC3339, r.body["expires_at"].(string))
	if err != nil || !exp.Equal(sf.clock.Now().Add(DefaultTokenTTL)) {
		t.Fatalf("expires_at = %v (%v)", r.body["expires_at"], err)
	}
	if r := sf.post(t, "/v1/login", LoginRequest{Name: "alice", Password: "wrong-password"}); r.status != http.StatusUnauthorized || r.errCode() != "bad_credentials" {
		t.Fatalf("wrong password: %d %s", r.status, r.raw)
	}
	if r := sf.post(t, "/v1/login", LoginRequest{Name: "nobody", Password: "wrong-password"}); r.status != http.StatusUnauthorized || r.errCode() != "bad_credentials" {
		t.Fatalf("unknown user: %d %s", r.status, r.raw)
	}

	// The token logs in on the game port once.
	v := sf.verifier(t, nil)
	id, err := v.Authenticate(ctx, "alice", tok, localIP)
	if err != nil || id.Name != "alice" {
		t.Fatalf("game AUTH: %+v, %v", id, err)
	}
	if _, err := v.Authenticate(ctx, "alice", tok, localIP); !errors.Is(err, ErrBadToken) {
		t.Fatalf("second game AUTH: %v", err)
	}

	// Change the password.
	if r := sf.post(t, "/v1/password", PasswordRequest{Name: "alice", OldPassword: "wrong-password", NewPassword: "new-password-22"}); r.status != http.StatusUnauthorized {
		t.Fatalf("password change with wrong old password: %d %s", r.status, r.raw)
	}
	if r := sf.post(t, "/v1/password", PasswordRequest{Name: "alice", OldPassword: "alice-password-1", NewPassword: "short"}); r.errCode() != "bad_password" {
		t.Fatalf("password change to weak password: %d %s", r.status, r.raw)
	}
	if r := sf.post(t, "/v1/password", PasswordRequest{Name: "alice", OldPassword: "alice-password-1", NewPassword: "new-password-22"}); r.status != http.StatusOK {
		t.Fatalf("password change: %d %s", r.status, r.raw)
	}
	sf.clock.Add(time.Minute) // out of the per-account rate limit
	if r := sf.post(t, "/v1/login", LoginRequest{Name: "alice", Password: "alice-password-1"}); r.status != http.StatusUnauthorized {
		t.Fatalf("old password still works: %d", r.status)
	}
	if r := sf.post(t, "/v1/login", LoginRequest{Name: "alice", Password: "new-password-22"}); r.status != http.StatusOK {
		t.Fatalf("new password refused: %d %s", r.status, r.raw)
	}
}

func TestRequestValidation(t *testing.T) {
	f := newFixture(t)
	h := newSvc(t, f, t.TempDir(), nil).Handler()
	const ip = "192.0.2.1:1234"
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/v1/login", `{"name":"alice","password":"x","admin":true}`, 400, "bad_request"},
		{"POST", "/v1/login", `{"name":"alice"`, 400, "bad_request"},
		{"POST", "/v1/login", `{"name":"alice","password":"x"} {}`, 400, "bad_request"},
		{"POST", "/v1/login", `[1,2]`, 400, "bad_request"},
		{"POST", "/v1/login", `{"name":"alice","password":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, "too_large"},
		{"GET", "/v1/login", ``, 405, "method_not_allowed"},
		{"POST", "/v1/nothing", `{}`, 404, "not_found"},
		{"POST", "/healthz", ``, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		w := do(h, c.method, c.path, ip, c.body, nil)
		var body ErrorResponse
		json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != c.status || body.Error.Code != c.code || body.Error.Message == "" {
			t.Errorf("%s %s %.40q: %d %s; want %d %s", c.method, c.path, c.body, w.Code, w.Body, c.status, c.code)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
	w := do(h, "POST", "/v1/login", ip, `{"name":"alice","password":"x","admin":true}`, nil)
	if !strings.Contains(w.Body.String(), `unknown field \"admin\"`) {
		t.Errorf("unknown field message: %s", w.Body)
	}
	w = do(h, "GET", "/healthz", ip, "", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"ok"`) {
		t.Errorf("healthz: %d %s", w.Code, w.Body)
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t)
	h := newSvc(t, f, t.TempDir(), nil).Handler()
	const ip = "192.0.2.1:1234"
	w := do(h, "OPTIONS", "/v1/login", ip, "", map[string]string{"Origin": "http://localhost:8080", "Access-Control-Request-Method": "POST"})
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:8080" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") || w.Header().Get("Access-Control-Allow-Headers") != "Content-Type" {
		t.Fatalf("preflight: %d %v", w.Code, w.Header())
	}
	w = do(h, "POST", "/v1/login", ip, `{"name":"alice","password":"alice-password-1"}`, map[string]string{"Origin": "http://127.0.0.1:8080"})
	if w.Header().Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8080" || w.Code != http.StatusUnauthorized {
		t.Fatalf("allowed origin: %d %v", w.Code, w.Header())
	}
	for _, m := range []string{"OPTIONS", "POST"} {
		w = do(h, m, "/v1/login", ip, `{}`, map[string]string{"Origin": "https://evil.example"})
		if w.Code != http.StatusForbidden || w.Header().Get("Access-Control-Allow-Origin") != "" || !strings.Contains(w.Body.String(), "origin_not_allowed") {
			t.Fatalf("%s from other origin: %d %v %s", m, w.Code, w.Header(), w.Body)
		}
	}
	h = newSvc(t, f, t.TempDir(), func(c *Config) { c.AllowedOrigins = []string{"https://game.example"} }).Handler()
	if w := do(h, "OPTIONS", "/v1/login", ip, "", map[string]string{"Origin": "https://game.example"}); w.Code != http.StatusNoContent {
		t.Fatalf("configured origin: %d", w.Code)
	}
	if w := do(h, "OPTIONS", "/v1/login", ip, "", map[string]string{"Origin": "http://localhost:8080"}); w.Code != http.StatusForbidden {
		t.Fatalf("default origin still allowed after configuring: %d", w.Code)
	}
}

// recordingGuard is a Guard that bans a fixed set and records strikes.
type recordingGuard struct {
	mu      sync.Mutex
	banned  map[netip.Addr]bool
	strikes []string
}

func (g *recordingGuard) Admit(ip netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.banned[ip] {
		return errors.New("banned")
	}
	return nil
}

func (g *recordingGuard) Strike(ip netip.Addr, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.strikes = append(g.strikes, ip.String()+" "+reason)
}

// TestRateLimits checks the volume limits: login requests and
// registrations per address. They refuse with 429 and Retry-After but are
// never strikes: volume alone is no proof of guessing, and a NAT shares one
// address. (The failure limits are in lockout_test.go.)
func TestRateLimits(t *testing.T) {
	f := newFixture(t)
	f.register(t, "alice", "alice-password-1")
	g := &recordingGuard{banned: map[netip.Addr]bool{netip.MustParseAddr("203.0.113.66"): true}}
	h := newSvc(t, f, t.TempDir(), func(c *Config) {
		c.LoginPerIP = RateLimit{Every: 10 * time.Second, Burst: 3}
		c.RegisterPerIP = RateLimit{Every: time.Hour, Burst: 2}
		c.Guard = g
	}).Handler()
	right := `{"name":"alice","password":"alice-password-1"}`

	// Login requests per address: past the limit even the right password
	// is refused, without a strike.
	for i := range 3 {
		if w := do(h, "POST", "/v1/login", "192.0.2.1:1000", right, nil); w.Code != http.StatusOK {
			t.Fatalf("login %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := do(h, "POST", "/v1/login", "192.0.2.1:1000", right, nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "10" || !strings.Contains(w.Body.String(), `"rate_limited"`) {
		t.Fatalf("4th login: %d Retry-After=%q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	f.clock.Add(4 * time.Second)
	if w := do(h, "POST", "/v1/login", "192.0.2.1:1000", right, nil); w.Header().Get("Retry-After") != "6" {
		t.Fatalf("Retry-After after 4s = %q", w.Header().Get("Retry-After"))
	}
	// Another address is not affected.
	if w := do(h, "POST", "/v1/login", "192.0.2.2:1000", right, nil); w.Code != http.StatusOK {
		t.Fatalf("other address: %d", w.Code)
	}
	f.clock.Add(6 * time.Second)
	if w := do(h, "POST", "/v1/login", "192.0.2.1:1000", right, nil); w.Code != http.StatusOK {
		t.Fatalf("after waiting: %d", w.Code)
	}

	// Registration per address; requests that break the rules do not count.
	for i, want := range []int{201, 400, 201, 429} {
		body := `{"name":"user` + string(rune('a'+i)) + `","password":"user-password-1"}`
		if want == 400 {
			body = `{"name":"userx","password":"short"}`
		}
		w := do(h, "POST", "/v1/register", "192.0.2.50:1", body, nil)
		if w.Code != want {
			t.Fatalf("registration %d: %d %s", i+1, w.Code, w.Body)
		}
		if want == 429 && w.Header().Get("Retry-After") != "3600" {
			t.Fatalf("registration Retry-After = %q", w.Header().Get("Retry-After"))
		}
	}
	if len(g.strikes) != 0 {
		t.Fatalf("volume limits struck: %q", g.strikes)
	}

	// A banned address is refused before anything else.
	if w := do(h, "POST", "/v1/login", "203.0.113.66:1", right, nil); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), `"banned"`) {
		t.Fatalf("banned address: %d %s", w.Code, w.Body)
	}
}

func TestRehashOnLogin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	old := Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	enc, _ := HashPassword("alice-password-1", old)
	if _, err := f.st.CreateAccount(ctx, "alice", enc, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h := newSvc(t, f, t.TempDir(), nil).Handler() // testParams: m=64
	if w := do(h, "POST", "/v1/login", "192.0.2.1:1", `{"name":"alice","password":"wrong-password"}`, nil); w.Code != 401 {
		t.Fatal(w.Code)
	}
	a, _ := f.st.AccountByName(ctx, "alice")
	if a.PasswordHash != enc {
		t.Fatal("failed login changed the hash")
	}
	if w := do(h, "POST", "/v1/login", "192.0.2.1:1", `{"name":"alice","password":"alice-password-1"}`, nil); w.Code != 200 {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	a, _ = f.st.AccountByName(ctx, "alice")
	ph, err := ParseHash(a.PasswordHash)
	if err != nil || ph.Params != testParams || a.PasswordHash == enc {
		t.Fatalf("after login hash = %q (%v), want re-hashed with %+v", a.PasswordHash, err, testParams)
	}
	if ok, _ := VerifyPassword(a.PasswordHash, "alice-password-1"); !ok {
		t.Fatal("re-hashed password does not verify")
	}
}

func TestTLSRequired(t *testing.T) {
	sf := startSvc(t, nil)
	// Plain HTTP to the TLS port gets no API answer.
	plain := &http.Client{Timeout: 5 * time.Second}
	resp, err := plain.Get("http://" + sf.svc.Addr() + "/healthz")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(body), `"ok"`) {
			t.Fatalf("plain HTTP answered: %d %s", resp.StatusCode, body)
		}
	}
	// HTTPS with the certificate trusted works, and the certificate is
	// valid for 127.0.0.1.
	resp, err = sf.client().Get("https://" + sf.svc.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("HTTPS healthz: %d", resp.StatusCode)
	}
	// An untrusting client refuses the self-signed certificate.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get("https://" + sf.svc.Addr() + "/healthz"); err == nil {
		t.Fatal("self-signed certificate accepted by a default client")
	}
}

func TestDevCertReused(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	s1 := newSvc(t, f, dir, nil)
	fp := s1.CertFingerprint()
	if len(fp) != 95 || !strings.Contains(f.logs.String(), fp) || !strings.HasPrefix(s1.CertPin(), "sha256//") {
		t.Fatalf("fingerprint %q not logged", fp)
	}
	info, err := os.Stat(filepath.Join(dir, DevKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info, err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, DevCertFile))
	s2 := newSvc(t, f, dir, nil)
	after, _ := os.ReadFile(filepath.Join(dir, DevCertFile))
	if s2.CertFingerprint() != fp || !bytes.Equal(before, after) {
		t.Fatal("development certificate not reused across restarts")
	}
	leaf := s2.TLSConfig().Certificates[0].Leaf
	if leaf.VerifyHostname("localhost") != nil || leaf.VerifyHostname("127.0.0.1") != nil || leaf.VerifyHostname("::1") != nil {
		t.Fatalf("SANs: %v %v", leaf.DNSNames, leaf.IPAddresses)
	}

	// A certificate close to expiry is replaced.
	dir2 := t.TempDir()
	if _, _, err := loadOrCreateDevCert(dir2, time.Now().Add(-DevCertValidity+DevCertRenewBefore/2)); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(filepath.Join(dir2, DevCertFile))
	newSvc(t, f, dir2, nil)
	if now, _ := os.ReadFile(filepath.Join(dir2, DevCertFile)); bytes.Equal(old, now) {
		t.Fatal("expiring development certificate kept")
	}
}

func TestTLSFilesAndACMEConfig(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	certPEM, keyPEM, err := newDevCert(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	s := newSvc(t, f, filepath.Join(dir, "data"), func(c *Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	pair, _ := tls.X509KeyPair(certPEM, keyPEM)
	if s.CertFingerprint() != Fingerprint(pair.Leaf.Raw) {
		t.Fatal("configured certificate not used")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", DevCertFile)); err == nil {
		t.Fatal("development certificate created although files were given")
	}

	// ACME cannot reach a CA here; check the wiring only.
	s = newSvc(t, f, dir, func(c *Config) { c.ACMEDomains = []string{"play.example.com"} })
	if s.CertFingerprint() != "" || !strings.Contains(strings.Join(s.TLSConfig().NextProtos, ","), "acme-tls/1") || s.TLSConfig().GetCertificate == nil {
		t.Fatalf("ACME TLS config: %+v", s.TLSConfig().NextProtos)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme")); err != nil {
		t.Fatalf("ACME cache dir: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	st := openStore(t)
	bad := []Config{
		{},
		{Store: st, Addr: "nonsense"},
		{Store: st, TLSCertFile: "c.pem"},
		{Store: st, TLSCertFile: "c.pem", TLSKeyFile: "k.pem", ACMEDomains: []string{"a.example"}},
		{Store: st, ACMEDomains: []string{"https://a.example"}},
		{Store: st, TokenTTL: 2 * time.Hour},
		{Store: st, AllowedOrigins: []string{"localhost:8080"}},
		{Store: st, Params: Params{Memory: 1}},
		{Store: st, LoginPerIP: RateLimit{Every: time.Second}},
	}
	for i, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("config %d accepted: %+v", i, c)
		}
	}
	c := Config{Store: st}.WithDefaults()
	if c.Addr != DefaultAddr || c.TokenTTL != DefaultTokenTTL || c.DataDir != store.DefaultDataDir || c.Params != DefaultParams ||
		len(c.AllowedOrigins) != 2 || c.LoginPerIP != DefaultLoginPerIP {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestNoSecretsInLogs runs every path that handles a password, hash or
// token with all logging on and checks none of them reaches the log.
func TestNoSecretsInLogs(t *testing.T) {
	ctx := context.Background()
	sf := startSvc(t, func(c *Config) { c.LoginFailPerAccountIP = RateLimit{Every: time.Second, Burst: 3} })
	secrets := []string{"alice-password-1", "wrong-password-9", "alice-new-pass-2", "bob-password-77"}

	sf.post(t, "/v1/register", RegisterRequest{Name: "alice", Password: secrets[0]})
	sf.post(t, "/v1/register", RegisterRequest{Name: "bob", Password: secrets[3]})
	sf.post(t, "/v1/register", RegisterRequest{Name: secrets[3], Password: secrets[3]}) // password typed as the name
	r := sf.post(t, "/v1/login", LoginRequest{Name: "alice", Password: secrets[0]})
	tok1, _ := r.body["token"].(string)
	sf.post(t, "/v1/login", LoginRequest{Name: "alice", Password: secrets[1]})
	sf.post(t, "/v1/login", LoginRequest{Name: secrets[1], Password: secrets[1]})
	for range 4 {
		sf.post(t, "/v1/login", LoginRequest{Name: "bob", Password: secrets[1]}) // into the rate limit
	}
	sf.clock.Add(time.Minute)
	sf.post(t, "/v1/password", PasswordRequest{Name: "alice", OldPassword: secrets[1], NewPassword: secrets[2]})
	sf.post(t, "/v1/password", PasswordRequest{Name: "alice", OldPassword: secrets[0], NewPassword: secrets[2]})
	sf.clock.Add(time.Minute)
	r = sf.post(t, "/v1/login", LoginRequest{Name: "alice", Password: secrets[2]})
	tok2, _ := r.body["token"].(string)
	if tok1 == "" || tok2 == "" {
		t.Fatal("logins failed")
	}
	secrets = append(secrets, tok1, tok2)

	strict := sf.verifier(t, func(c *VerifierConfig) { c.AllowGuests = true })
	dev := sf.verifier(t, func(c *VerifierConfig) { c.AllowPlainPasswords = true })
	strict.Authenticate(ctx, "alice", tok1, localIP)
	strict.Authenticate(ctx, "alice", tok1, localIP)          // reused
	strict.Authenticate(ctx, "bob", tok2, localIP)            // wrong user
	strict.Authenticate(ctx, "alice", secrets[2], localIP)    // password without dev mode
	strict.Authenticate(ctx, secrets[1], secrets[1], localIP) // password as user name
	strict.Authenticate(ctx, "guest", secrets[1], localIP)    // guest with a secret
	dev.Authenticate(ctx, "alice", secrets[2], localIP)       // dev mode, right password
	dev.Authenticate(ctx, "alice", secrets[1], localIP)       // dev mode, wrong password
	forged, _, _ := NewToken()
	dev.Authenticate(ctx, "alice", forged, localIP)
	secrets = append(secrets, forged)

	for _, name := range []string{"alice", "bob"} {
		a, err := sf.st.AccountByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ParseHash(a.PasswordHash)
		secrets = append(secrets, a.PasswordHash, b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
	}

	logs := sf.logs.String()
	if !strings.Contains(logs, "auth login") || !strings.Contains(logs, "auth game login") || !strings.Contains(logs, "rate limited") {
		t.Fatalf("expected events missing from the log:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("secret %q found in the log", s)
		}
	}
	// The JSON handler escapes differently; check it too on a fresh run of
	// the game path.
	var jb testutil.LogBuffer
	jv, _ := NewVerifier(VerifierConfig{Store: sf.st, Logger: slog.New(slog.NewJSONHandler(&jb, &slog.HandlerOptions{Level: slog.LevelDebug})), AllowPlainPasswords: true, Params: testParams})
	jv.Authenticate(ctx, "alice", secrets[2], localIP)
	jv.Authenticate(ctx, "alice", secrets[1], localIP)
	for _, s := range secrets {
		if strings.Contains(jb.String(), s) {
			t.Errorf("secret %q found in the JSON log", s)
		}
	}
}

func TestServeStopsWithContext(t *testing.T) {
	f := newFixture(t)
	s := newSvc(t, f, t.TempDir(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Addr() == "127.0.0.1:0" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start after Serve succeeded")
	}
}

func TestDisabledAndResetAccounts(t *testing.T) {
	ctx := context.Background()
	sf := startSvc(t, nil)
	if r := sf.post(t, "/v1/register", RegisterRequest{Name: "dora", Password: "dora-password-1"}); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	acct, err := sf.st.AccountByName(ctx, "dora")
	if err != nil {
		t.Fatal(err)
	}
	if err := sf.st.SetDisabled(ctx, acct.ID, true); err != nil {
		t.Fatal(err)
	}
	// The right password of a disabled account: 403 account_disabled, not
	// a 503 or bad_credentials.
	if r := sf.post(t, "/v1/login", LoginRequest{Name: "dora", Password: "dora-password-1"}); r.status != http.StatusForbidden || r.errCode() != "account_disabled" {
		t.Fatalf("disabled login: %d %s", r.status, r.raw)
	}
	// A wrong password still says only bad_credentials.
	if r := sf.post(t, "/v1/login", LoginRequest{Name: "dora", Password: "wrong-password-9"}); r.errCode() != "bad_credentials" {
		t.Fatalf("wrong password of a disabled account: %d %s", r.status, r.raw)
	}
	if err := sf.st.SetDisabled(ctx, acct.ID, false); err != nil {
		t.Fatal(err)
	}
	r := sf.post(t, "/v1/login", LoginRequest{Name: "dora", Password: "dora-password-1"})
	if r.status != http.StatusOK {
		t.Fatalf("enabled again: %d %s", r.status, r.raw)
	}
	tok, _ := r.body["token"].(string)
	// Disabling voids the token issued before.
	if err := sf.st.SetDisabled(ctx, acct.ID, true); err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{Store: sf.st, Now: sf.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(ctx, "dora", tok, netip.MustParseAddr("192.0.2.1")); Code(err) != "account_disabled" && Code(err) != "bad_token" {
		t.Fatalf("token of a disabled account: %v", err)
	}
}

func TestTakenNamesCostNoRegistration(t *testing.T) {
	sf := startSvc(t, nil)
	if r := sf.post(t, "/v1/register", RegisterRequest{Name: "taken", Password: "taken-password-1"}); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	// More tries at taken names than the registration burst (5): a person
	// looking for a free name is never locked out.
	for i := 0; i < 2*DefaultRegisterPerIP.Burst; i++ {
		if r := sf.post(t, "/v1/register", RegisterRequest{Name: "taken", Password: "other-password-1"}); r.errCode() != "name_taken" {
			t.Fatalf("try %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := sf.post(t, "/v1/register", RegisterRequest{Name: "free-name", Password: "other-password-1"}); r.status != http.StatusCreated {
		t.Fatalf("a free name after taken ones: %d %s", r.status, r.raw)
	}
}

func TestLoginAnswersWithTheLocatedGameServer(t *testing.T) {
	where := "10.0.0.7:7001"
	sf := startSvc(t, func(c *Config) {
		c.GameAddr = "127.0.0.1:5001"
		c.LocateGame = func(ctx context.Context) string { return where }
	})
	if r := sf.post(t, "/v1/register", RegisterRequest{Name: "bob", Password: "bob-password-12"}); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	r := sf.post(t, "/v1/login", LoginRequest{Name: "bob", Password: "bob-password-12"})
	if r.status != http.StatusOK || r.body["game_addr"] != "10.0.0.7:7001" {
		t.Fatalf("login with a locator: %d %s", r.status, r.raw)
	}
	// A locator that knows nothing falls back to GameAddr.
	where = ""
	r = sf.post(t, "/v1/login", LoginRequest{Name: "bob", Password: "bob-password-12"})
	if r.status != http.StatusOK || r.body["game_addr"] != "127.0.0.1:5001" {
		t.Fatalf("login with an empty locator: %d %s", r.status, r.raw)
	}
}
