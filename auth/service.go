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
	"github.com/tickwire/tickwire/transport"
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

// Default rate limits. Login limits count per client address, where an
// IPv6 address counts as its /64. The reasoning behind each number is in
// docs/AUTH.md ("Rate limits").
var (
	// DefaultLoginPerIP: 20 login or password-change requests at once per
	// address, then one every 3 s (20 a minute), successful or not. It
	// bounds the hashing work one address can demand; 20 at once lets a
	// school or LAN party behind one NAT log in together.
	DefaultLoginPerIP = RateLimit{Every: 3 * time.Second, Burst: 20}
	// DefaultLoginFailPerIP: 20 failed attempts per address over all
	// accounts, then one every minute (60 an hour). It stops one address
	// from trying a common password on many accounts.
	DefaultLoginFailPerIP = RateLimit{Every: time.Minute, Burst: 20}
	// DefaultLoginFailPerAccountIP: 5 failed attempts per address on one
	// account, then one every 5 minutes (12 an hour): a player who forgot
	// which password they used gets 5 tries at once.
	DefaultLoginFailPerAccountIP = RateLimit{Every: 5 * time.Minute, Burst: 5}
	// DefaultLoginFailPerAccount: 10 failed attempts on one account from
	// all addresses together, then one a minute. Ordinary typos, a few at
	// a time, do not spend it; while it is spent the account is under
	// attack and each address gets one guess per LoginFailRecent.
	DefaultLoginFailPerAccount = RateLimit{Every: time.Minute, Burst: 10}
	// DefaultRegisterPerIP: 5 registrations at once per address, then one
	// every 2 minutes (30 an hour). Requests that break the name or
	// password rules do not count.
	DefaultRegisterPerIP = RateLimit{Every: 2 * time.Minute, Burst: 5}
)

// DefaultLoginFailRecent is how long an address counts as having failed on
// an account: while the account is under attack (LoginFailPerAccount
// spent), such an address is refused, so each attacking address gets one
// guess per 15 minutes instead of 5 at once and 12 an hour. It is also the
// longest an owner who mistyped during an attack waits.
const DefaultLoginFailRecent = 15 * time.Minute

// MaxLoginFailRecent bounds Config.LoginFailRecent.
const MaxLoginFailRecent = 24 * time.Hour

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
	// a hashing slot; a request still waiting for one then gets 503 busy.
	RequestTimeout = 10 * time.Second
)

// Guard is what the service needs from a ban guard (package guard's *Guard
// satisfies it): banned addresses get 403, and an address refused because
// of its own failed logins is struck with reason "rate_limited".
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
	// LocateGame, if set, is asked for the game address at each login
	// instead of GameAddr (a cluster answers with the node that runs the
	// zone new players enter); "" falls back to GameAddr. It is called on
	// the request's goroutine and should answer within milliseconds.
	// Default nil.
	LocateGame func(ctx context.Context) string
	// Params are the argon2id parameters for new hashes. Default:
	// DefaultParams.
	Params Params
	// LoginPerIP limits login and password-change requests per client
	// address, successful or not. Refusals are not strikes. Default
	// DefaultLoginPerIP.
	LoginPerIP RateLimit
	// LoginFailPerIP limits failed login and password-change attempts per
	// address over all accounts. While it is spent every attempt from the
	// address is refused, and each refusal is a strike (the address's own
	// failures spent it). Default DefaultLoginFailPerIP.
	LoginFailPerIP RateLimit
	// LoginFailPerAccountIP limits failed attempts per address on one
	// account. While it is spent that address's attempts on that account
	// are refused, each a strike; other addresses are not affected, and a
	// successful login from the address clears it. Default
	// DefaultLoginFailPerAccountIP.
	LoginFailPerAccountIP RateLimit
	// LoginFailPerAccount counts failed attempts on one account from every
	// address. While it is spent, addresses that failed on the account
	// within LoginFailRecent are refused (429, not a strike: the failures
	// that spent it were mostly others'). It never refuses an address that
	// has not failed on the account recently, so nobody can lock an owner
	// out of their account from elsewhere. Default
	// DefaultLoginFailPerAccount.
	LoginFailPerAccount RateLimit
	// LoginFailRecent is how long an address counts as having failed on an
	// account, for LoginFailPerAccount. Default DefaultLoginFailRecent
	// (15 min); at most MaxLoginFailRecent.
	LoginFailRecent time.Duration
	// RegisterPerIP limits registrations per address. Refusals are not
	// strikes. Default DefaultRegisterPerIP.
	RegisterPerIP RateLimit
	// HashConcurrency, HashMemoryBudget (bytes) and HashQueue size the
	// password-hashing pool (see HashPoolConfig): defaults
	// DefaultHashConcurrency (1), DefaultHashMemoryBudget (64 MiB) and
	// DefaultHashQueue (32; negative: no queue). The concurrency is
	// lowered until HashConcurrency × Params.Memory fits the budget. A
	// request finding the queue full, or waiting past RequestTimeout, gets
	// 503 busy with a Retry-After header.
	HashConcurrency  int
	HashMemoryBudget int64
	HashQueue        int
	// HashPool, if set, is used instead of a pool of the service's own,
	// to share one bound with a Verifier in the same process; the Hash*
	// fields must then be zero. Default: nil.
	HashPool *HashPool
	// Guard, if set, refuses banned addresses and is struck when an
	// address is refused because of its own failed logins. Default: nil
	// (no ban checks).
	Guard Guard
	// TrustedProxies lists reverse proxies whose X-Forwarded-For or
	// Forwarded header names the client; rate limits, strikes and bans then
	// apply to that address. Default: none (the TCP peer is the client).
	TrustedProxies transport.TrustedProxies
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
	if c.LoginFailPerIP == (RateLimit{}) {
		c.LoginFailPerIP = DefaultLoginFailPerIP
	}
	if c.LoginFailPerAccountIP == (RateLimit{}) {
		c.LoginFailPerAccountIP = DefaultLoginFailPerAccountIP
	}
	if c.LoginFailPerAccount == (RateLimit{}) {
		c.LoginFailPerAccount = DefaultLoginFailPerAccount
	}
	if c.LoginFailRecent == 0 {
		c.LoginFailRecent = DefaultLoginFailRecent
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
	for _, rl := range []struct {
		name string
		RateLimit
	}{
		{"LoginPerIP", c.LoginPerIP}, {"LoginFailPerIP", c.LoginFailPerIP}, {"LoginFailPerAccountIP", c.LoginFailPerAccountIP},
		{"LoginFailPerAccount", c.LoginFailPerAccount}, {"RegisterPerIP", c.RegisterPerIP},
	} {
		if rl.Every <= 0 || rl.Burst < 1 {
			errs = append(errs, fmt.Errorf("%s needs Every > 0 and Burst >= 1", rl.name))
		}
	}
	if c.LoginFailRecent <= 0 || c.LoginFailRecent > MaxLoginFailRecent {
		errs = append(errs, fmt.Errorf("LoginFailRecent must be positive and at most %v", MaxLoginFailRecent))
	}
	if c.HashPool != nil {
		if c.HashConcurrency != 0 || c.HashMemoryBudget != 0 || c.HashQueue != 0 {
			errs = append(errs, errors.New("set either HashPool or HashConcurrency/HashMemoryBudget/HashQueue, not both"))
		}
		if c.Params.check() == nil && uint64(c.Params.Memory) > c.HashPool.budgetKiB {
			errs = append(errs, fmt.Errorf("HashPool's memory budget cannot hold one hash of %d KiB", c.Params.Memory))
		}
	} else if err := c.hashPoolConfig().check(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("auth: invalid config: %w", err)
	}
	return nil
}

// hashPoolConfig returns the pool configuration of the Hash* fields.
func (c Config) hashPoolConfig() HashPoolConfig {
	return HashPoolConfig{Concurrency: c.HashConcurrency, MemoryBudget: c.HashMemoryBudget, Queue: c.HashQueue, Params: c.Params}.withDefaults()
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

	pool *HashPool
	// The rate-limit tables (see Config): requests per address, failures
	// per address, per (account, address) and per account, registrations
	// per address.
	loginIP, failIP, failPair, failAcct, registerIP *keyedLimiter
	// requestTimeout is RequestTimeout; tests shorten it.
	requestTimeout time.Duration

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
	pool := cfg.HashPool
	if pool == nil {
		var err error
		if pool, err = NewHashPool(cfg.hashPoolConfig()); err != nil {
			return nil, err
		}
	}
	acct, err := newAccounts(cfg.Store, cfg.Params, cfg.Now, cfg.Logger, pool)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:     cfg,
		log:     cfg.Logger,
		acct:    acct,
		pool:    pool,
		origins: map[string]bool{},
		loginIP: newKeyedLimiter(cfg.LoginPerIP, 0),
		failIP:  newKeyedLimiter(cfg.LoginFailPerIP, 0),
		// A pair's last failure must outlive its refill while it decides
		// whether the address failed on the account recently.
		failPair:       newKeyedLimiter(cfg.LoginFailPerAccountIP, cfg.LoginFailRecent),
		failAcct:       newKeyedLimiter(cfg.LoginFailPerAccount, 0),
		registerIP:     newKeyedLimiter(cfg.RegisterPerIP, 0),
		requestTimeout: RequestTimeout,
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

// HashPool returns the password-hashing pool the service uses, to share
// with a Verifier (VerifierConfig.HashPool).
func (s *Service) HashPool() *HashPool { return s.pool }

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
		Handler: s.handler,
		// A copy: the HTTP/2 set-up writes to the config it is given, and
		// TLSConfig hands s.tls out to callers.
		TLSConfig:         s.tls.Clone(),
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
