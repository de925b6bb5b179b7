package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/tickwire/tickwire/store"
)

// Defaults of Config.
const (
	// DefaultAddr is the listen address of the auth service.
	DefaultAddr = "127.0.0.1:8443"
	// DefaultTokenTTL is how long a login token is valid.
	DefaultTokenTTL = 60 * time.Second
	// MaxTokenTTL caps Config.TokenTTL: tokens are meant to be used at once.
	MaxTokenTTL = time.Hour
)

// DefaultAllowedOrigins are the browser origins allowed by default: the
// demo page served by "tickwire serve" on port 8080.
var DefaultAllowedOrigins = []string{"http://127.0.0.1:8080", "http://localhost:8080"}

// Default rate limits.
var (
	// DefaultLoginPerIP: 10 login or password-change attempts at once per
	// client address, then one every 6 s (10 a minute).
	DefaultLoginPerIP = RateLimit{Every: 6 * time.Second, Burst: 10}
	// DefaultLoginPerAccount: 5 attempts at once per account name, then one
	// every 12 s (5 a minute), whatever the address.
	DefaultLoginPerAccount = RateLimit{Every: 12 * time.Second, Burst: 5}
	// DefaultRegisterPerIP: 5 registrations at once per address, then one
	// every 2 minutes (30 an hour). Requests that break the name or
	// password rules do not count.
	DefaultRegisterPerIP = RateLimit{Every: 2 * time.Minute, Burst: 5}
)

// HTTP server limits.
const (
	// MaxBodyBytes caps a request body; larger ones get 413.
	MaxBodyBytes = 4 << 10
	// MaxHeaderBytes caps the request header size.
	MaxHeaderBytes = 8 << 10
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// http.Server timeouts.
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 15 * time.Second
	IdleTimeout       = 60 * time.Second
	// ShutdownTimeout bounds how long Close waits for requests in flight.
	ShutdownTimeout = 5 * time.Second
	// RequestTimeout bounds the work of one request, including waiting for
	// a hashing slot.
	RequestTimeout = 10 * time.Second
)

// Guard is what the service needs from a ban guard (package guard's *Guard
// satisfies it): banned addresses get 403, and clients that keep hitting
// the rate limits are struck with reason "rate_limited".
type Guard interface {
	Admit(remote netip.Addr) error
	Strike(remote netip.Addr, reason string)
}

// Config configures the HTTPS auth service. Zero fields take the documented
// defaults (see WithDefaults); Store is required.
type Config struct {
	// Store holds accounts and tokens. Required.
	Store store.Store
	// Logger receives events and errors (never secrets). Default:
	// slog.Default().
	Logger *slog.Logger
	// Addr is the TCP listen address. Default "127.0.0.1:8443"; use
	// "127.0.0.1:0" for a free port (see Service.Addr).
	Addr string
	// DataDir holds the development certificate and the ACME cache.
	// Default "./tickwire-data".
	DataDir string
	// TLSCertFile and TLSKeyFile are PEM files of the certificate (chain)
	// and key to serve. Default: both empty, which selects ACME if
	// ACMEDomains is set and otherwise a self-signed development
	// certificate kept in DataDir.
	TLSCertFile string
	TLSKeyFile  string
	// ACMEDomains, if set, obtains certificates for these host names from
	// Let's Encrypt (golang.org/x/crypto/acme/autocert, TLS-ALPN-01
	// challenge: the service must be reachable on port 443 of those names).
	// Default: none.
	ACMEDomains []string
	// ACMEEmail is the contact address given to the ACME CA. Default: none.
	ACMEEmail string
	// TokenTTL is the lifetime of a login token. Default 60s; at most
	// MaxTokenTTL.
	TokenTTL time.Duration
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to call the API (CORS). "*" allows any origin. Requests carrying
	// another Origin header are refused with 403. Default:
	// DefaultAllowedOrigins (the demo page on port 8080).
	AllowedOrigins []string
	// GameAddr, if set, is returned in login responses as "game_addr" so a
	// client knows where to send AUTH. Default: empty (omitted).
	GameAddr string
	// Params are the argon2id parameters for new hashes. Default:
	// DefaultParams.
	Params Params
	// LoginPerIP, LoginPerAccount and RegisterPerIP are the rate limits.
	// Defaults: DefaultLoginPerIP, DefaultLoginPerAccount,
	// DefaultRegisterPerIP.
	LoginPerIP      RateLimit
	LoginPerAccount RateLimit
	RegisterPerIP   RateLimit
	// Guard, if set, refuses banned addresses and is struck when a client
	// is rate limited. Default: nil (no ban checks).
	Guard Guard
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.DataDir == "" {
		c.DataDir = store.DefaultDataDir
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.AllowedOrigins == nil {
		c.AllowedOrigins = DefaultAllowedOrigins
	}
	if c.Params == (Params{}) {
		c.Params = DefaultParams
	}
	if c.LoginPerIP == (RateLimit{}) {
		c.LoginPerIP = DefaultLoginPerIP
	}
	if c.LoginPerAccount == (RateLimit{}) {
		c.LoginPerAccount = DefaultLoginPerAccount
	}
	if c.RegisterPerIP == (RateLimit{}) {
		c.RegisterPerIP = DefaultRegisterPerIP
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks c after defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("Store is required"))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("Addr %q: %w", c.Addr, err))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLSCertFile and TLSKeyFile must be given together"))
	}
	if c.TLSCertFile != "" && len(c.ACMEDomains) > 0 {
		errs = append(errs, errors.New("use either TLS certificate files or ACME, not both"))
	}
	for _, d := range c.ACMEDomains {
		if d == "" || strings.ContainsAny(d, "/: ") {
			errs = append(errs, fmt.Errorf("ACME domain %q is not a host name", d))
		}
	}
	if c.TokenTTL < time.Second || c.TokenTTL > MaxTokenTTL {
		errs = append(errs, fmt.Errorf("TokenTTL must be between 1s and %v", MaxTokenTTL))
	}
	for _, o := range c.AllowedOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			errs = append(errs, fmt.Errorf("allowed origin %q must be \"*\" or start with http:// or https://", o))
		}
	}
	if err := c.Params.check(); err != nil {
		errs = append(errs, err)
	}
	for name, rl := range map[string]RateLimit{"LoginPerIP": c.LoginPerIP, "LoginPerAccount": c.LoginPerAccount, "RegisterPerIP": c.RegisterPerIP} {
		if rl.Every <= 0 || rl.Burst < 1 {
			errs = append(errs, fmt.Errorf("%s needs Every > 0 and Burst >= 1", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("auth: invalid config: %w", err)
	}
	return nil
}

// Service is the HTTPS account service. Create it with New, then either
// call Serve, or Start and later Close; Handler serves the API without
// TLS for embedding or tests.
type Service struct {
	cfg     Config
	log     *slog.Logger
	acct    *accounts
	tls     *tls.Config
	fp      string // SHA-256 fingerprint of the certificate, if static
	pin     string
	origins map[string]bool
	anyOrig bool
	handler http.Handler

	loginIP, loginAcct, registerIP *keyedLimiter

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
}

// New validates cfg, prepares the TLS certificate (loading the given files,
// setting up ACME, or loading or creating the development certificate in
// DataDir) and returns a Service that is not yet listening.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	s := &Service{
		cfg:        cfg,
		log:        cfg.Logger,
		acct:       newAccounts(cfg.Store, cfg.Params, cfg.Now, cfg.Logger),
		origins:    map[string]bool{},
		loginIP:    newKeyedLimiter(cfg.LoginPerIP),
		loginAcct:  newKeyedLimiter(cfg.LoginPerAccount),
		registerIP: newKeyedLimiter(cfg.RegisterPerIP),
	}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			s.anyOrig = true
		}
		s.origins[strings.TrimSuffix(o, "/")] = true
	}
	if err := s.setupTLS(); err != nil {
		return nil, fmt.Errorf("auth: TLS: %w", err)
	}
	s.handler = s.routes()
	return s, nil
}

func (s *Service) setupTLS() error {
	s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case s.cfg.TLSCertFile != "":
		c, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return err
		}
		s.tls.Certificates = []tls.Certificate{c}
		s.fp, s.pin = Fingerprint(c.Leaf.Raw), PublicKeyPin(c.Leaf)
		s.log.Info("auth: TLS certificate loaded", "cert", s.cfg.TLSCertFile, "sha256_fingerprint", s.fp)
	case len(s.cfg.ACMEDomains) > 0:
		cacheDir := filepath.Join(s.cfg.DataDir, "acme")
		if err := os.MkdirAll(cacheDir, 0o700); err != nil {
			return err
		}
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(s.cfg.ACMEDomains...),
			Cache:      autocert.DirCache(cacheDir),
			Email:      s.cfg.ACMEEmail,
		}
		s.tls = m.TLSConfig()
		s.tls.MinVersion = tls.VersionTLS12
		s.log.Info("auth: TLS certificates from ACME", "domains", strings.Join(s.cfg.ACMEDomains, ","), "cache", cacheDir)
	default:
		c, created, err := loadOrCreateDevCert(s.cfg.DataDir, time.Now())
		if err != nil {
			return err
		}
		s.tls.Certificates = []tls.Certificate{c}
		s.fp, s.pin = Fingerprint(c.Leaf.Raw), PublicKeyPin(c.Leaf)
		s.log.Warn("auth: using a self-signed development TLS certificate; browsers and curl need it accepted explicitly (curl -k)",
			"cert", filepath.Join(s.cfg.DataDir, DevCertFile), "created", created,
			"sha256_fingerprint", s.fp, "curl_pin", s.pin)
	}
	return nil
}

// CertFingerprint returns the SHA-256 fingerprint ("AB:CD:...") of the
// served certificate, or "" with ACME, where certificates come and go.
func (s *Service) CertFingerprint() string { return s.fp }

// CertPin returns the curl --pinnedpubkey value of the served certificate,
// or "" with ACME.
func (s *Service) CertPin() string { return s.pin }

// TLSConfig returns the TLS configuration the service listens with.
func (s *Service) TLSConfig() *tls.Config { return s.tls }

// Handler returns the HTTP API handler (without TLS).
func (s *Service) Handler() http.Handler { return s.handler }

// Start listens on Config.Addr and serves HTTPS in the background until
// Close.
func (s *Service) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("auth: service already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("auth: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.srv, s.ln = srv, ln
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("auth: server stopped", "err", err)
		}
	}()
	s.log.Info("auth service listening", "addr", "https://"+ln.Addr().String())
	return nil
}

// Addr returns the address the service listens on once started (useful
// with port 0), or Config.Addr before.
func (s *Service) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.cfg.Addr
}

// Close stops the service, waiting up to ShutdownTimeout for requests in
// flight. It does not close the Store.
func (s *Service) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return srv.Close()
	}
	return nil
}

// Serve starts the service and runs it until ctx is done, then closes it.
func (s *Service) Serve(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}
