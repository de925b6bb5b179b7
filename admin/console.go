package admin

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/store"
)

// DefaultAddr is the console's default listen address: this machine only.
const DefaultAddr = "127.0.0.1:8081"

// Limits and timeouts of the console.
const (
	// MaxBodyBytes caps a request body; larger ones get 413.
	MaxBodyBytes = 4 << 10
	// RequestTimeout bounds one request's work, including waiting for a
	// password-hashing slot or for the tick (Server.Call).
	RequestTimeout = 10 * time.Second
	// DefaultSessionIdle ends a session this long after its last request
	// (an open event stream counts as activity).
	DefaultSessionIdle = 30 * time.Minute
	// DefaultSessionMaxAge ends a session this long after login, however
	// active.
	DefaultSessionMaxAge = 8 * time.Hour
	// SessionRecheck is how often a session's account is checked again in
	// the store: an admin removed with "tickwire admin remove", or
	// disabled, loses the console within this time.
	SessionRecheck = 5 * time.Second
	// MaxSessions bounds the sessions kept; the oldest goes first.
	MaxSessions = 256
	// MaxSessionsPerAccount bounds one account's sessions; its oldest goes
	// first.
	MaxSessionsPerAccount = 16
	// MaxEventStreams bounds the open event streams (/api/events) of the
	// whole console, and MaxEventStreamsPerSession those of one session.
	MaxEventStreams           = 16
	MaxEventStreamsPerSession = 4
	// EventWriteTimeout cuts an event stream whose client stopped reading.
	EventWriteTimeout = 10 * time.Second
	// MaxKickReasonLen and MaxBanReasonLen cap the reasons an operator
	// types, in bytes. A kick's BYE reason is "kicked: " and the reason,
	// within the protocol's 64 bytes.
	MaxKickReasonLen = 48
	MaxBanReasonLen  = 120
	// MaxBanDuration caps a ban set from the console.
	MaxBanDuration = 365 * 24 * time.Hour
	// MinBanDuration is the shortest ban the console sets.
	MinBanDuration = time.Minute
	// TempPasswordLen is the length of the temporary password a forced
	// reset gives the operator to hand to the owner.
	TempPasswordLen = 20
	// DefaultPageSize is the default number of rows of the accounts, audit
	// and log lists; store.MaxPageSize caps them.
	DefaultPageSize = 100
	// MaxStrikesShown bounds the strikes feed and the per-address list.
	MaxStrikesShown = 200
)

// guestPrefix starts every guest's name (auth.GuestUser): guests have no
// account to disable or reset.
const guestPrefix = auth.GuestUser + "-"

// GameServer is what the console needs of the game server: *server.Server
// has it.
type GameServer interface {
	TickServer
	Sessions() []server.SessionInfo
	Kick(connID uint64, reason string) error
	// KickPlayer ends every seat of a player, held ones included.
	KickPlayer(ctx context.Context, name, reason string) (int, error)
}

// BanGuard is what the console needs of the ban guard: *guard.Guard has
// it.
type BanGuard interface {
	Striker
	Ban(ctx context.Context, ip netip.Addr, d time.Duration, reason string) (store.Ban, error)
	Unban(ctx context.Context, ip netip.Addr, forget bool) error
	Bans() []store.Ban
}

// ZoneStat is what a game reports about one zone or room.
type ZoneStat struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Players  int    `json:"players"`
	Entities int    `json:"entities"`
	// SyncBytes is the world-sync bytes sent for the zone since the start,
	// Snapshots the full snapshots sent, Resyncs the resyncs after a
	// client's DESYNC report and Desyncs the DESYNC reports received. The
	// console shows their rates.
	SyncBytes uint64 `json:"sync_bytes"`
	Snapshots uint64 `json:"snapshots"`
	Resyncs   uint64 `json:"resyncs"`
	Desyncs   uint64 `json:"desyncs"`
}

// ZoneStater is a game that reports its zones. The console calls ZoneStats
// on the tick goroutine (through Server.Call), where the game may read its
// state without locks; it must be quick.
type ZoneStater interface {
	ZoneStats() []ZoneStat
}

// Config configures a Console. Server, Store and HashPool are required.
type Config struct {
	// Server is the game server (*server.Server).
	Server GameServer
	// Store holds the accounts, their roles and the audit log.
	Store store.Store
	// HashPool checks admin passwords and hashes temporary ones: the
	// process's shared pool.
	HashPool *auth.HashPool
	// Guard bans addresses (*guard.Guard). Nil: no bans from the console,
	// and no ban check of console requests.
	Guard BanGuard
	// Strikes is the StrikeLog installed in front of Guard, for the
	// strikes feed. Nil: no feed.
	Strikes *StrikeLog
	// Logs is the LogRing installed in the process's logger, for the log
	// tail and the failed-login and ban counts. Nil: none.
	Logs *LogRing
	// Game is the game; if it is a ZoneStater the console shows its zones.
	Game any
	// ObserveRTT, if set, is called by the sampler (once a SampleInterval,
	// on its goroutine) with every new reading of a connection's round-trip
	// time (server.SessionInfo.RTT, read every server.RTTRefresh): for a
	// Prometheus histogram. Default nil.
	ObserveRTT func(time.Duration)
	// ExternalTicks means that tick durations come from outside, through
	// ObserveTick (a WatchTicks loop that feeds other observers too, or a
	// server hook). Default false: the console runs WatchTicks itself.
	ExternalTicks bool
	// TickRate is the server's ticks per second, to draw the tick budget.
	// Default server.DefaultTickRate.
	TickRate int
	// Logger receives the audit lines and the console's errors. Default
	// slog.Default().
	Logger *slog.Logger
	// Secure marks the session cookie Secure (with the __Host- prefix):
	// set it when the console is served over TLS.
	Secure bool
	// Hosts, if not empty, are the Host header values accepted (host:port,
	// case-insensitive); others get 421. On loopback this stops DNS
	// rebinding. Default: any.
	Hosts []string
	// Origins are browser origins (scheme://host[:port]) accepted on POST
	// besides the console's own (scheme and Host of the request).
	Origins []string
	// Params are the argon2id parameters of temporary passwords. Default
	// auth.DefaultParams.
	Params auth.Params
	// SessionIdle and SessionMaxAge end sessions. Defaults
	// DefaultSessionIdle and DefaultSessionMaxAge.
	SessionIdle, SessionMaxAge time.Duration
	// LoginPerIP, LoginFailPerIP and LoginFailPerAccountIP are the login
	// limits. Defaults DefaultLoginPerIP, DefaultLoginFailPerIP and
	// DefaultLoginFailPerAccountIP.
	LoginPerIP, LoginFailPerIP, LoginFailPerAccountIP auth.RateLimit
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

//go:embed ui
var uiFiles embed.FS

// Console is the admin console. Create it with New, serve Handler, feed it
// tick durations with ObserveTick (WatchTicks does), and Close it.
type Console struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	sm      *sampler
	sess    *sessions
	dummy   auth.Hash
	handler http.Handler

	loginIP, failIP, failPair *buckets
	adminFails                atomic.Uint64 // failed console logins

	streamMu sync.Mutex
	streams  int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks cfg and returns a running Console: it samples the server
// once a second until Close.
func New(cfg Config) (*Console, error) {
	if cfg.Server == nil || cfg.Store == nil || cfg.HashPool == nil {
		return nil, errors.New("admin: Config.Server, Store and HashPool are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TickRate <= 0 {
		cfg.TickRate = server.DefaultTickRate
	}
	if cfg.Params == (auth.Params{}) {
		cfg.Params = auth.DefaultParams
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionMaxAge <= 0 {
		cfg.SessionMaxAge = DefaultSessionMaxAge
	}
	for _, rl := range []struct {
		lim *auth.RateLimit
		def auth.RateLimit
	}{
		{&cfg.LoginPerIP, DefaultLoginPerIP},
		{&cfg.LoginFailPerIP, DefaultLoginFailPerIP},
		{&cfg.LoginFailPerAccountIP, DefaultLoginFailPerAccountIP},
	} {
		if *rl.lim == (auth.RateLimit{}) {
			*rl.lim = rl.def
		}
		if rl.lim.Every <= 0 || rl.lim.Burst < 1 {
			return nil, errors.New("admin: login limits need Every > 0 and Burst >= 1")
		}
	}
	for _, o := range cfg.Origins {
		if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return nil, fmt.Errorf("admin: origin %q must start with http:// or https://", o)
		}
	}
	// Unknown names are checked against a random key under the current
	// parameters: the same work as a real check, and it matches nothing.
	salt, key := make([]byte, cfg.Params.SaltLen), make([]byte, cfg.Params.KeyLen)
	rand.Read(salt)
	rand.Read(key)
	c := &Console{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		sess:     newSessions(cfg.SessionIdle, cfg.SessionMaxAge),
		dummy:    auth.Hash{Params: cfg.Params, Salt: salt, Key: key},
		loginIP:  newBuckets(cfg.LoginPerIP),
		failIP:   newBuckets(cfg.LoginFailPerIP),
		failPair: newBuckets(cfg.LoginFailPerAccountIP),
	}
	c.sm = newSampler(c)
	c.handler = c.routes()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.sm.run(c.ctx)
	}()
	if !cfg.ExternalTicks {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			WatchTicks(c.ctx, cfg.Server, c.ObserveTick)
		}()
	}
	return c, nil
}

// ObserveTick records one tick's duration for the plots. WatchTicks calls
// it; so can a server hook called after every tick.
func (c *Console) ObserveTick(d time.Duration) { c.sm.ticks.observe(d) }

// Handler returns the console's HTTP handler: the page at /, its files
// under /ui/ and the API under /api/.
func (c *Console) Handler() http.Handler { return c.handler }

// History returns the samples kept, oldest first.
func (c *Console) History() []Sample { return c.sm.history() }

// Close stops sampling and ends the event streams.
func (c *Console) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	ui, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // cannot happen: the directory is embedded
	}
	files := http.FileServerFS(ui)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, ui, "index.html")
	})
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", files))

	mux.HandleFunc("POST /api/login", c.handleLogin)
	mux.HandleFunc("POST /api/logout", c.authed(true, c.handleLogout))
	mux.HandleFunc("GET /api/session", c.authed(false, c.handleSession))
	mux.HandleFunc("GET /api/events", c.authed(false, c.handleEvents))
	mux.HandleFunc("GET /api/players", c.authed(false, c.handlePlayers))
	mux.HandleFunc("POST /api/kick", c.authed(true, c.handleKick))
	mux.HandleFunc("GET /api/bans", c.authed(false, c.handleBans))
	mux.HandleFunc("POST /api/ban", c.authed(true, c.handleBan))
	mux.HandleFunc("POST /api/unban", c.authed(true, c.handleUnban))
	mux.HandleFunc("GET /api/security", c.authed(false, c.handleSecurity))
	mux.HandleFunc("GET /api/accounts", c.authed(false, c.handleAccounts))
	mux.HandleFunc("POST /api/accounts/disable", c.authed(true, c.handleAccountState("disable")))
	mux.HandleFunc("POST /api/accounts/enable", c.authed(true, c.handleAccountState("enable")))
	mux.HandleFunc("POST /api/accounts/reset", c.authed(true, c.handleAccountState("reset")))
	mux.HandleFunc("GET /api/audit", c.authed(false, c.handleAudit))
	mux.HandleFunc("GET /api/logs", c.authed(false, c.handleLogs))
	mux.HandleFunc("GET /api/zones", c.authed(false, c.handleZones))
	return c.middleware(mux)
}

// contentSecurityPolicy allows the page's own files only: no inline
// script or style, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// middleware sets the security headers and applies the Host, ban and
// Origin checks to every request.
func (c *Console) middleware(next http.Handler) http.Handler {
	hosts := map[string]bool{}
	for _, h := range c.cfg.Hosts {
		hosts[strings.ToLower(h)] = true
	}
	origins := map[string]bool{}
	for _, o := range c.cfg.Origins {
		origins[strings.TrimSuffix(o, "/")] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if c.cfg.Secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if len(hosts) > 0 && !hosts[strings.ToLower(r.Host)] {
			writeError(w, http.StatusMisdirectedRequest, "bad_host", "this console does not answer for that host name")
			return
		}
		// Banned addresses are refused, except this machine's: an operator
		// comes through an SSH tunnel from 127.0.0.1, and must not find
		// the console locked when a ban hit loopback (--ban-loopback).
		if ip := clientIP(r); c.cfg.Guard != nil && !ip.IsLoopback() {
			if err := c.cfg.Guard.Admit(ip); err != nil {
				writeError(w, http.StatusForbidden, "banned", "your address is banned")
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// A state-changing request must come from the console's own
			// page: browsers send Origin on every POST.
			origin := r.Header.Get("Origin")
			if origin == "" {
				writeError(w, http.StatusForbidden, "origin_required", "requests that change anything need an Origin header")
				return
			}
			if origin != c.ownOrigin(r) && !origins[origin] {
				writeError(w, http.StatusForbidden, "origin_not_allowed", "this origin may not use the console")
				return
			}
			if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && !origins[origin] {
				writeError(w, http.StatusForbidden, "origin_not_allowed", "cross-site requests are refused")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// strike counts an offence of ip: through the StrikeLog, if there is one,
// so that the strikes feed shows it.
func (c *Console) strike(ip netip.Addr, reason string) {
	if ip.IsLoopback() {
		return // see middleware: loopback is the operator's own way in
	}
	switch {
	case c.cfg.Strikes != nil:
		c.cfg.Strikes.Strike(ip, reason)
	case c.cfg.Guard != nil:
		c.cfg.Guard.Strike(ip, reason)
	}
}

func (c *Console) ownOrigin(r *http.Request) string {
	if r.TLS != nil || c.cfg.Secure {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// clientIP returns the TCP peer's address. The console believes no
// forwarding headers: reach it directly or through an SSH tunnel.
func clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// hostOf returns the host part of a host:port address.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
