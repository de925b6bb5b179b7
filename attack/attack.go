// Package attack is tickwire's adversarial test suite: a set of attacks, each
// a function bounded in count and time, that run against a live tickwire
// server on loopback while an honest player measures how the server treats
// it.
//
// Every attack runs while an honest player, connected from 127.0.0.1 with
// "AUTH guest", sends "PING <n>" every 100 ms and records the round trip of
// every PONG. An attack passes only if the honest player's p99 round trip
// stayed under the attack's limit (100 ms, 60 ms for the registration
// burst), the honest player was never disconnected, the outcome the
// hardening specification expects happened, and nothing was left behind:
// the server closed every attacker socket the attack did not close itself,
// its connection count came back to where it was, and (when a goroutine
// hook is given) so did its goroutine count.
//
// Attackers come from other loopback addresses (127.X.Y.Z; Linux routes all
// of 127.0.0.0/8 to the loopback interface), one fresh set per attack, so
// per-address limits and bans hit them and not the honest player, and a ban
// earned in one attack does not mask the next. The suite refuses any target
// that is not on IPv4 loopback: it never sends a byte anywhere else.
//
// Run the suite with "tickwire attack" against a running "tickwire serve",
// or from Go with NewSuite and Suite.Run: attack's own test builds the
// binary, starts "tickwire serve" on free loopback ports and runs every
// attack against it (the slowest checks only with TICKWIRE_LONG_TESTS=1).
package attack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Limits are the server limits and timeouts the attacks expect, as the
// hardening specification and docs/PROTOCOL.md give them. A zero field takes
// the documented default; set a field when the server runs with another
// value (for instance "tickwire serve --login-timeout 3s").
type Limits struct {
	// LoginTimeout is the absolute login deadline from accept. Default 5 s.
	LoginTimeout time.Duration
	// FrameTimeout is how long a started frame may take to complete.
	// Default 10 s.
	FrameTimeout time.Duration
	// WriteTimeout is how long a write may stall before the client is cut
	// off as a slow consumer. Default 10 s.
	WriteTimeout time.Duration
	// MaxMessage is the inbound message cap in bytes. Default 4096.
	MaxMessage int
	// MaxConnsPerAddr caps connections per address. Default 128.
	MaxConnsPerAddr int
	// MaxPreLoginPerAddr caps not-yet-logged-in connections per address.
	// Default 32.
	MaxPreLoginPerAddr int
	// ConnRatePerAddr and ConnBurstPerAddr limit new connections per
	// address (per second, burst). Defaults 10 and 40.
	ConnRatePerAddr  float64
	ConnBurstPerAddr int
	// HTTPReadHeaderTimeout, HTTPReadTimeout and HTTPIdleTimeout are the
	// timeouts of the HTTP servers (the web listener and the account
	// service), as documented for the account service. Defaults 5 s, 10 s
	// and 60 s.
	HTTPReadHeaderTimeout time.Duration
	HTTPReadTimeout       time.Duration
	HTTPIdleTimeout       time.Duration
	// LoginBurstPerAddr is how many failed logins one address may make at
	// once before the account service answers 429 (docs/AUTH.md, "Rate
	// limits"). Default 20.
	LoginBurstPerAddr int
}

// Documented defaults (docs/PROTOCOL.md, docs/AUTH.md and the hardening
// specification).
const (
	DefaultLoginTimeout          = 5 * time.Second
	DefaultFrameTimeout          = 10 * time.Second
	DefaultWriteTimeout          = 10 * time.Second
	DefaultMaxMessage            = 4096
	DefaultMaxConnsPerAddr       = 128
	DefaultMaxPreLoginPerAddr    = 32
	DefaultConnRatePerAddr       = 10
	DefaultConnBurstPerAddr      = 40
	DefaultHTTPReadHeaderTimeout = 5 * time.Second
	DefaultHTTPReadTimeout       = 10 * time.Second
	DefaultHTTPIdleTimeout       = 60 * time.Second
	DefaultLoginBurstPerAddr     = 20
)

// Per-message rate limits of the specification: messages per second and
// burst, per connection.
const (
	pingRate, pingBurst   = 20, 40
	helpRate, helpBurst   = 1, 2
	statsRate, statsBurst = 4, 8
	sayRate, sayBurst     = 2, 5
	logRate, logBurst     = 5, 20
	// LOG per address.
	logAddrRate, logAddrBurst = 10, 40
	// Every dropped message over this count is one "rate_limited" strike,
	// at most one per strikeEvery per connection.
	dropsPerStrike = 100
	// Strikes that ban an address.
	strikesToBan = 3
	// decodeErrorsPerStrike is server.DecodeErrorsPerStrike: malformed
	// messages of one connection per strike.
	decodeErrorsPerStrike = 5
)

func (l Limits) withDefaults() Limits {
	d := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	i := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	d(&l.LoginTimeout, DefaultLoginTimeout)
	d(&l.FrameTimeout, DefaultFrameTimeout)
	d(&l.WriteTimeout, DefaultWriteTimeout)
	d(&l.HTTPReadHeaderTimeout, DefaultHTTPReadHeaderTimeout)
	d(&l.HTTPReadTimeout, DefaultHTTPReadTimeout)
	d(&l.HTTPIdleTimeout, DefaultHTTPIdleTimeout)
	i(&l.MaxMessage, DefaultMaxMessage)
	i(&l.MaxConnsPerAddr, DefaultMaxConnsPerAddr)
	i(&l.MaxPreLoginPerAddr, DefaultMaxPreLoginPerAddr)
	i(&l.ConnBurstPerAddr, DefaultConnBurstPerAddr)
	i(&l.LoginBurstPerAddr, DefaultLoginBurstPerAddr)
	if l.ConnRatePerAddr <= 0 {
		l.ConnRatePerAddr = DefaultConnRatePerAddr
	}
	return l
}

// Config says where the server is and how to attack it.
type Config struct {
	// Addr is the game server's TCP address, on IPv4 loopback. Required.
	Addr string
	// HTTP is the web listener (demo page, /ws, /metrics, and /v1/ on
	// loopback), on IPv4 loopback. Empty skips the attacks that need it.
	HTTP string
	// Auth is the HTTPS account service, on IPv4 loopback. Empty skips the
	// attacks that need it.
	Auth string
	// AuthFingerprint, when set, pins the account service's certificate:
	// its SHA-256 fingerprint in hex, colons allowed (as "tickwire serve"
	// prints it). Empty skips certificate verification (the development
	// certificate is self-signed).
	AuthFingerprint string
	// Scale multiplies the attacks' own durations (how long a flood lasts,
	// how many rounds); it never changes what is expected. 0 means 1.
	Scale float64
	// Long runs the checks that must wait for long server timeouts (the
	// 60 s keep-alive timeout, a connection flood up to MaxConnsPerAddr at
	// the per-address connection rate). Without it they are reported as
	// skipped.
	Long bool
	// PID is the server's process id, for its resident memory
	// (/proc/PID/status VmRSS) before and after the attacks that may grow
	// it. 0: not reported.
	PID int
	// Goroutines, when set, returns the server's goroutine count; after
	// each attack it must come back to its level before the attack (with a
	// little slack and a few seconds to settle). MetricsGoroutines reads it
	// from the web listener's /metrics.
	Goroutines func(ctx context.Context) (int, error)
	// ServerLog, when set, returns the server's log so far; a few checks
	// (nothing logged for LOG before login, LOG lines written per address)
	// can only be made there.
	ServerLog func() string
	// Limits are the server's limits and timeouts.
	Limits Limits
	// AddrBase is the first attacker address; the suite counts up from it.
	// It must be in 127.0.0.0/8 and not 127.0.0.1. Zero: a random
	// 127.X.0.2, so a second run against the same server does not meet the
	// first run's bans.
	AddrBase netip.Addr
	// Progress, when set, receives a line as each attack starts.
	Progress io.Writer
}

// HonestStats is what the honest player saw during one attack.
type HonestStats struct {
	// Pings and Pongs count the PINGs sent and answered in the window.
	Pings, Pongs int
	// P50, P99 and Max are the round trips of those PINGs; a PING never
	// answered counts as the time it waited.
	P50, P99, Max time.Duration
	// Limit is the p99 the attack allows.
	Limit time.Duration
	// Disconnected is true if the honest player lost its connection;
	// Reason says how (the BYE reason or the error).
	Disconnected bool
	Reason       string
}

// Result is the outcome of one attack.
type Result struct {
	// Name is the attack's name.
	Name string
	// Pass is true when every expectation held.
	Pass bool
	// Skipped, when not empty, says why the attack did not run; Pass is
	// then true.
	Skipped string
	// Observed lists what the attack saw, in order.
	Observed []string
	// Failures lists the expectations that did not hold.
	Failures []string
	// Honest is the honest player's view.
	Honest HonestStats
	// LeftOpen counts attacker sockets still open at the end that the
	// attack had left to the server to close.
	LeftOpen int
	// Elapsed is how long the attack took, settling included.
	Elapsed time.Duration
}

// Line renders the result as one line: name, PASS/FAIL, the honest
// player's round trips and connection, what was observed and what failed.
func (r Result) Line() string {
	if r.Skipped != "" {
		return fmt.Sprintf("%-18s SKIP  %s", r.Name, r.Skipped)
	}
	status := "PASS"
	if !r.Pass {
		status = "FAIL"
	}
	h := r.Honest
	conn := "stayed connected"
	if h.Disconnected {
		conn = "DISCONNECTED (" + h.Reason + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s %s  honest rtt p50 %s p99 %s max %s (p99 limit %s, %d/%d pongs), %s; %.1fs",
		r.Name, status, ms(h.P50), ms(h.P99), ms(h.Max), ms(h.Limit), h.Pongs, h.Pings, conn, r.Elapsed.Seconds())
	if len(r.Observed) > 0 {
		b.WriteString(" | observed: ")
		b.WriteString(strings.Join(r.Observed, "; "))
	}
	if len(r.Failures) > 0 {
		b.WriteString(" | FAILED: ")
		b.WriteString(strings.Join(r.Failures, "; "))
	}
	return b.String()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// Requirements of an attack.
const (
	needHTTP = 1 << iota
	needAuth
)

// Attack is one attack of the suite.
type Attack struct {
	// Name identifies the attack (for --only).
	Name string
	// Summary says what it does and what it expects.
	Summary string
	needs   int
	maxP99  time.Duration
	run     func(ctx context.Context, e *Env)
}

// Attacks returns the suite's attacks in the order they run.
func Attacks() []Attack {
	return []Attack{
		{Name: "slowloris", Summary: "pre-login slowloris: trickled bytes and blank lines closed at the login timeout, a started frame at the frame timeout; past MaxPreLoginPerAddr refused at once; a connection-rate flood refused and banned (conn_limit)", run: attackSlowloris},
		{Name: "lockout", Summary: "an address posts wrong passwords for an account; its owner, from another address, still logs in every time and is never banned", needs: needAuth, run: attackLockout},
		{Name: "amplification", Summary: "200 silent players and floods of SAY, PING, STATS, HELP and 1,000 HELPs at once: ERR rate_limited at most once a second, bounded bytes to receivers, the flooding address banned", run: attackAmplification},
		{Name: "register_burst", Summary: "100 concurrent registrations from 100 addresses: the honest p99 stays under 60 ms; each answer is 201 or 503 with Retry-After", needs: needAuth, maxP99: 60 * time.Millisecond, run: attackRegisterBurst},
		{Name: "web_timeouts", Summary: "slow headers, slow body on POST /v1/login and idle keep-alive connections on the web listener and the account service: closed within the HTTP timeouts", needs: needHTTP, run: attackWebTimeouts},
		{Name: "log_flood", Summary: "LOG before login refused with ERR not_logged_in and not logged; 50 connections of one address sending LOG limited per address", run: attackLogFlood},
		{Name: "ban_ends_sessions", Summary: "an address earns a ban on a second socket; its logged-in session gets BYE banned within 1 s", run: attackBanEndsSessions},
		{Name: "ws_login_timeout", Summary: "a silent WebSocket client gets BYE timeout at the login timeout, then a close frame with status 1008", needs: needHTTP, run: attackWSLoginTimeout},
		{Name: "error_codes", Summary: "AUTH with a garbage token gives ERR auth bad_token ...; JSON with duplicate keys gives ERR bad_syntax", run: attackErrorCodes},
		{Name: "spoofed_proxy", Summary: "a PROXY v1 header from an untrusted peer is refused and does not lift its per-address limits; rotating X-Forwarded-For does not escape the login rate limit", run: attackSpoofedProxy},
		{Name: "too_long", Summary: "an over-long line gets ERR too_long and BYE too_long, then close", run: attackTooLong},
		{Name: "huge_prefix", Summary: "a 4 GiB length prefix after USE msgpack is refused before anything is allocated, then close", run: attackHugePrefix},
		{Name: "garbage", Summary: "64 KiB of random bytes: the connection is closed promptly, with no more bytes sent back than received", run: attackGarbage},
		{Name: "slow_consumer", Summary: "a logged-in client that never reads is cut off as a slow consumer within the write timeout", run: attackSlowConsumer},
		{Name: "conn_flood", Summary: "one address logs in connections up to MaxConnsPerAddr; the next is refused at once", run: attackConnFlood},
	}
}

// Suite runs attacks against one server.
type Suite struct {
	cfg Config
	lim Limits

	mu   sync.Mutex
	next netip.Addr // the next attacker address
}

// NewSuite checks cfg and returns a Suite. Every address must be on IPv4
// loopback (127.0.0.0/8): the suite refuses any other target.
func NewSuite(cfg Config) (*Suite, error) {
	if cfg.Addr == "" {
		return nil, errors.New("attack: no game address")
	}
	for _, a := range []struct{ what, addr string }{{"game", cfg.Addr}, {"web", cfg.HTTP}, {"auth", cfg.Auth}} {
		if a.addr == "" {
			continue
		}
		if err := CheckLoopback(a.addr); err != nil {
			return nil, fmt.Errorf("attack: %s address: %w", a.what, err)
		}
	}
	if cfg.Scale == 0 {
		cfg.Scale = 1
	}
	if cfg.Scale < 0.1 || cfg.Scale > 20 {
		return nil, fmt.Errorf("attack: scale %g out of range 0.1-20", cfg.Scale)
	}
	base := cfg.AddrBase
	if !base.IsValid() {
		n, err := rand.Int(rand.Reader, big.NewInt(200))
		if err != nil {
			return nil, err
		}
		base = netip.AddrFrom4([4]byte{127, byte(20 + n.Int64()), 0, 2})
	}
	if !base.Is4() || base.As4()[0] != 127 || base == netip.MustParseAddr("127.0.0.1") {
		return nil, fmt.Errorf("attack: attacker address base %v must be in 127.0.0.0/8 and not 127.0.0.1", base)
	}
	return &Suite{cfg: cfg, lim: cfg.Limits.withDefaults(), next: base}, nil
}

// CheckLoopback returns an error unless addr is host:port with host an IPv4
// loopback address (127.0.0.0/8) or "localhost".
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if port == "" || port == "0" {
		return fmt.Errorf("%q: no port", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%q: host must be an IPv4 loopback address or localhost", addr)
	}
	if ip = ip.Unmap(); !ip.Is4() || !ip.IsLoopback() {
		return fmt.Errorf("%q is not on IPv4 loopback (127.0.0.0/8): refusing to attack it", addr)
	}
	return nil
}

// dialTarget turns "localhost:port" into "127.0.0.1:port", so attackers
// bound to 127.X.Y.Z always reach IPv4.
func dialTarget(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && host == "localhost" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// newAddr returns a fresh attacker address.
func (s *Suite) newAddr() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.next
	s.next = a.Next()
	for b := s.next.As4(); b[3] == 0 || b[3] == 255; b = s.next.As4() {
		s.next = s.next.Next()
	}
	if b := s.next.As4(); b[0] != 127 {
		s.next = netip.AddrFrom4([4]byte{127, 1, 0, 2}) // wrapped: start over
	}
	return a
}

// find returns the attack named name.
func find(name string) (Attack, bool) {
	for _, a := range Attacks() {
		if a.Name == name {
			return a, true
		}
	}
	return Attack{}, false
}

// Names returns the attacks' names, in order.
func Names() []string {
	var n []string
	for _, a := range Attacks() {
		n = append(n, a.Name)
	}
	return n
}

// RunAll runs the named attacks (all when only is empty) in the suite's
// order, calling each with every result as it comes. It returns an error
// only for an unknown name.
func (s *Suite) RunAll(ctx context.Context, only []string, each func(Result)) ([]Result, error) {
	want := map[string]bool{}
	for _, n := range only {
		if _, ok := find(n); !ok {
			return nil, fmt.Errorf("attack: unknown attack %q (have %s)", n, strings.Join(Names(), ", "))
		}
		want[n] = true
	}
	var out []Result
	for _, a := range Attacks() {
		if len(want) > 0 && !want[a.Name] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		r := s.Run(ctx, a.Name)
		if each != nil {
			each(r)
		}
		out = append(out, r)
	}
	return out, nil
}
