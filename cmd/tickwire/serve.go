package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/tickwire/tickwire/admin"
	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/store"
	"github.com/tickwire/tickwire/transport"
	"github.com/tickwire/tickwire/web"
)

func init() {
	register(&command{name: "serve", summary: "run the demo arena: game server, auth service and web page", run: runServe})
}

// serveFlags are the flags of "tickwire serve".
type serveFlags struct {
	addr, httpAddr, authAddr string
	cfg                      server.Config
	db                       banDBFlags
	tlsCert, tlsKey          string
	acme                     authListFlag
	tokenTTL                 time.Duration
	plainPasswords           bool
	logLevel                 string
	origins                  multiFlag
	link                     transport.LinkConfig
	publicOrigins            authListFlag
	banLoopback              bool
	seatHold                 time.Duration
	hashes                   auth.HashPoolConfig
	gameTLS, httpTLS         bool
	trustedProxies           transport.TrustedProxies
	cluster                  clusterFlags
	noRestock                bool
}

// clusterFlags join serve to a cluster (docs/CLUSTER.md).
type clusterFlags struct {
	nats, name, node, publicAddr, publicWS string
	zones                                  multiFlag
	checkpointEvery, leaseTTL              time.Duration
}

func (c *clusterFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&c.nats, "nats", "", "join a cluster through this NATS server with JetStream (nats://host:4222); empty: one server, no cluster")
	fs.StringVar(&c.name, "cluster", cluster.DefaultName, "cluster name: nodes with the same name and NATS share one world")
	fs.StringVar(&c.node, "node", "", "this node's name in the cluster, unique and stable across restarts (required with --nats)")
	fs.StringVar(&c.publicAddr, "public-addr", "", "host:port clients reach this node's game port at (default: --addr, if it names a host)")
	fs.StringVar(&c.publicWS, "public-ws", "", "WebSocket URL clients reach this node at (default: ws://<--http>/ws, if it names a host)")
	fs.Var(&c.zones, "zone", "a zone this node runs whenever it can (repeatable); other zones go to the least-loaded node")
	fs.DurationVar(&c.checkpointEvery, "checkpoint-every", cluster.DefaultCheckpointEvery, "how often each zone is written to JetStream (what a node crash can lose)")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", cluster.DefaultLeaseTTL, "how long a zone's lease outlives its node's last write (failover takes about this long)")
}

// join creates the cluster node (not started), or returns nil without
// --nats.
func (c *clusterFlags) join(ctx context.Context, gameAddr, httpAddr string, log *slog.Logger) (*cluster.Node, error) {
	if c.nats == "" {
		if c.node != "" || len(c.zones) > 0 || c.publicAddr != "" {
			return nil, errors.New("--node, --zone and --public-addr need --nats")
		}
		return nil, nil
	}
	addr := c.publicAddr
	if addr == "" {
		host, _, _ := net.SplitHostPort(gameAddr)
		if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
			return nil, fmt.Errorf("--public-addr: the game listens on %s, which clients cannot dial; say where they reach it", gameAddr)
		}
		addr = gameAddr
	}
	ws := c.publicWS
	if ws == "" && httpAddr != "" {
		host, _, _ := net.SplitHostPort(httpAddr)
		if ip, err := netip.ParseAddr(host); host != "" && !(err == nil && ip.IsUnspecified()) {
			ws = "ws://" + httpAddr + "/ws"
		}
	}
	return cluster.New(ctx, cluster.Config{URL: c.nats, Name: c.name, Node: c.node, Addr: addr, WS: ws,
		Zones: c.zones, CheckpointEvery: c.checkpointEvery, LeaseTTL: c.leaseTTL, Logger: log})
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// verifierAdapter lets the auth package's Verifier serve as the game
// server's Authenticator (auth cannot import server: it sits below it).
type verifierAdapter struct{ v *auth.Verifier }

func (a verifierAdapter) Authenticate(ctx context.Context, user, secret string, remote netip.Addr) (server.Identity, error) {
	id, err := a.v.Authenticate(ctx, user, secret, remote)
	// The account service's refusal codes become the ERR auth subcodes.
	var ae *auth.Error
	if errors.As(err, &ae) {
		return server.Identity{}, &server.AuthError{Code: ae.Code, Text: ae.Message}
	}
	return server.Identity(id), err
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func runServe(ctx context.Context, args []string) error {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: tickwire serve [flags]

Runs the demo arena: the game server (TCP, text protocol; try nc), the
WebSocket endpoint and demo page on the HTTP address, and the HTTPS auth
service. Defaults need nothing installed: SQLite in --data-dir and a
self-made development TLS certificate.

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.addr, "addr", transport.DefaultTCPAddr, "game server TCP address (port 0 picks a free port)")
	fs.StringVar(&f.httpAddr, "http", "127.0.0.1:8080", "HTTP address: the demo page at /, WebSocket at /ws, Prometheus metrics at /metrics; empty disables")
	fs.StringVar(&f.authAddr, "auth", auth.DefaultAddr, "HTTPS auth service address; empty disables accounts (guests only)")
	f.db.add(fs)
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate for the auth service (default: a self-signed development certificate in the data directory)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.Var(&f.acme, "acme-domain", "serve the auth service with a Let's Encrypt certificate for this domain (repeatable)")
	fs.DurationVar(&f.tokenTTL, "token-ttl", auth.DefaultTokenTTL, "lifetime of a one-time game login token")
	f.hashes.AddFlags(fs)
	fs.BoolVar(&f.plainPasswords, "dev-plain-passwords", false, "DEVELOPMENT ONLY: accept AUTH <user> <password> on the unencrypted game port")
	fs.IntVar(&f.cfg.TickRate, "tick", server.DefaultTickRate, "ticks per second (1-120)")
	fs.IntVar(&f.cfg.MaxMessage, "max-message", frame.DefaultMaxMessage, fmt.Sprintf("largest inbound message in bytes (%d-%d); clients learn it from LIMITS", frame.MinMessageLimit, frame.MaxMessageLimit))
	fs.DurationVar(&f.cfg.LoginTimeout, "login-timeout", server.DefaultLoginTimeout, "close connections silent this long before login")
	fs.DurationVar(&f.cfg.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "close logged-in connections silent this long")
	fs.DurationVar(&f.cfg.WriteTimeout, "write-timeout", server.DefaultWriteTimeout, "cut off clients whose writes stall this long")
	fs.IntVar(&f.cfg.MaxOutbound, "max-outbound", server.DefaultMaxOutbound, "messages queued per client before it is cut off as a slow consumer")
	fs.IntVar(&f.cfg.MaxConns, "max-conns", server.DefaultMaxConns, "most simultaneous connections (held seats count)")
	fs.StringVar(&f.cfg.Engine, "engine", "", "how connections are served: goroutine (a goroutine per connection) or eventloop (epoll: no goroutine or buffer per idle connection; TLS and PROXY connections stay on goroutines); default $TICKWIRE_ENGINE, else goroutine")
	fs.DurationVar(&f.cfg.FrameTimeout, "frame-timeout", server.DefaultFrameTimeout, "close connections whose started frame is not complete this long after")
	fs.IntVar(&f.cfg.MaxConnsPerAddr, "max-conns-per-addr", server.DefaultMaxConnsPerAddr, "most connections and held seats per client address (IPv6: per /64)")
	fs.IntVar(&f.cfg.MaxPreLoginPerAddr, "max-prelogin-per-addr", server.DefaultMaxPreLoginPerAddr, "most connections per client address that have not logged in")
	fs.Float64Var(&f.cfg.ConnRatePerAddr, "conn-rate-per-addr", server.DefaultConnRatePerAddr, "new connections per second per client address, after the burst")
	fs.IntVar(&f.cfg.ConnBurstPerAddr, "conn-burst-per-addr", server.DefaultConnBurstPerAddr, "new connections per client address allowed at once")
	fs.IntVar(&f.cfg.MaxOutboundBytesPerSec, "max-outbound-rate", server.DefaultMaxOutboundBytesPerSec, "bytes per second written to one client before its output waits (negative: no limit)")
	fs.DurationVar(&f.seatHold, "seat-hold", server.DefaultSeatHold, "how long a dropped player keeps its seat waiting for RESUME (0: no seats)")
	fs.BoolVar(&f.cfg.DisableGuests, "no-guests", false, "refuse AUTH guest")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.Var(&f.origins, "allow-origin", "extra browser origin (host[:port] pattern) allowed to open /ws; repeatable")
	fs.Var(&f.publicOrigins, "public-origin", "origin of the page in production (e.g. https://play.example.com), allowed to call the auth API; repeatable")
	fs.BoolVar(&f.banLoopback, "ban-loopback", false, "strike, ban and limit 127.0.0.1 and ::1 too (off by default: on your own machine, or behind a reverse proxy on it, every client is 127.0.0.1)")
	fs.BoolVar(&f.gameTLS, "game-tls", false, "serve the game TCP port over TLS, with the auth service's certificate (--tls-cert/--tls-key, --acme-domain or the development certificate)")
	fs.BoolVar(&f.httpTLS, "http-tls", false, "serve the page and /ws (--http) over HTTPS/WSS, with the auth service's certificate")
	fs.Var(&f.trustedProxies, "trusted-proxy", "address or CIDR of a reverse proxy trusted to report client addresses (repeatable): it must send a PROXY protocol v1/v2 header on the game port, and its X-Forwarded-For or Forwarded header is believed on --http; such headers from anyone else are refused or ignored")
	adminAddr := adminFlag{addr: admin.DefaultAddr}
	fs.Var(&adminAddr, "admin", "admin console address (plain HTTP on loopback, HTTPS with the auth service's certificate elsewhere); empty disables")
	fs.DurationVar(&f.link.Latency, "latency", 0, "simulate this one-way network delay on game connections (TCP and WebSocket), e.g. 150ms")
	fs.DurationVar(&f.link.Jitter, "jitter", 0, "simulate +/- this much delay variation (never reorders)")
	fs.IntVar(&f.link.Bandwidth, "bandwidth", 0, "simulate a bandwidth cap in bytes per second per direction (0: none)")
	f.cluster.add(fs)
	fs.BoolVar(&f.noRestock, "no-restock", false, "never refill chests (for tests that count the world's items)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (f.gameTLS || f.httpTLS) && f.authAddr == "" {
		return errors.New("--game-tls and --http-tls use the auth service's certificate: they need --auth")
	}
	log, err := newLogger(f.logLevel)
	if err != nil {
		return err
	}
	log, ops := withConsoleLog(log) // the admin console's log tail
	f.cfg.Logger = log

	// Accounts, tokens and bans live in one database.
	st, err := store.Open(ctx, store.ResolveDSN(f.db.dataDir, f.db.db))
	if err != nil {
		return err
	}
	defer st.Close()
	if f.seatHold == 0 {
		f.cfg.SeatHold = -1 // off
	} else {
		f.cfg.SeatHold = f.seatHold
	}
	// In a cluster the node exists before the guard, the game and the
	// server, which all talk to it; it starts once the server ticks.
	node, err := f.cluster.join(ctx, f.addr, f.httpAddr, log)
	if err != nil {
		return err
	}
	gcfg := guard.Config{Store: st, Logger: log}
	if node != nil {
		defer node.Close(context.Background()) // after a failed start; the normal stop is below
		gcfg.OnBan = node.AnnounceBan
		f.cfg.Locate = node.Locate
		f.cfg.GuestPrefix = "guest-" + f.cluster.node + "-"
	}
	if !f.banLoopback {
		// Only the loopback address a local player or a same-host proxy
		// uses: the rest of 127/8 stays subject to bans and limits, so
		// tests (and tickwire attack) can stand for distinct hosts there.
		local := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
		gcfg.AllowList = local
		f.cfg.AddrLimitExempt = local
	}
	g, err := guard.New(ctx, gcfg)
	if err != nil {
		return err
	}
	defer g.Close()
	f.cfg.Guard = ops.watch(g) // the guard, recording strikes for the console
	if f.plainPasswords {
		log.Warn("DEVELOPMENT MODE: plain passwords are accepted on the unencrypted game port (--dev-plain-passwords); never use this in production")
	}
	// One password-hashing pool for the process: the account service and
	// the game's plain-password mode share its core and memory budget.
	hashPool, err := auth.NewHashPool(f.hashes)
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(auth.VerifierConfig{Store: st, Logger: log, AllowGuests: !f.cfg.DisableGuests, AllowPlainPasswords: f.plainPasswords, HashPool: hashPool})
	if err != nil {
		return err
	}
	f.cfg.Authenticator = verifierAdapter{verifier}

	ln, err := transport.ListenTCP(ctx, f.addr)
	if err != nil {
		return err
	}
	gameLn := ln
	if len(f.trustedProxies) > 0 {
		// The proxy's header comes first on the wire, before any TLS.
		gameLn = transport.ProxyProtocol(gameLn, f.trustedProxies)
		log.Info("PROXY protocol required from trusted proxies", "trusted_proxies", f.trustedProxies.String())
	}
	reg := demoRegistry()
	f.cfg.Registry = reg
	f.cfg.Banner = arena.BannerFor(ln.Addr().String(), f.cfg.LoginTimeout, f.cfg.IdleTimeout)
	f.cfg.Help = arena.Help(reg)
	gameOpts := []arena.Option{arena.WithIdleTimeout(f.cfg.IdleTimeout)}
	if f.noRestock {
		gameOpts = append(gameOpts, arena.WithoutRestock())
	}
	if node != nil {
		gameOpts = append(gameOpts, arena.WithCluster(node))
	}
	game := arena.New(gameOpts...)
	srv, err := server.New(f.cfg, game)
	if err != nil {
		ln.Close()
		return err
	}
	if node != nil {
		stopExtra.Store(int64(3 * f.cluster.leaseTTL)) // the hand-over at shutdown
		srv.Start()
		node.ShareBans(g)
		if err := node.Start(srv, game); err != nil {
			srv.Shutdown(context.Background())
			ln.Close()
			return err
		}
	}
	errc := make(chan error, 3)

	// The HTTP listener comes first: the auth service must allow the page's
	// real origin, which is known only once the port is bound.
	var hl net.Listener
	if f.httpAddr != "" {
		if hl, err = net.Listen("tcp", f.httpAddr); err != nil {
			srv.Shutdown(context.Background())
			ln.Close()
			return fmt.Errorf("http listener: %w", err)
		}
	}
	var svc *auth.Service
	var certCfg *tls.Config // the auth service's certificate, for --game-tls and --http-tls
	if f.authAddr != "" {
		svc, err = auth.New(auth.Config{
			Store: st, Logger: log, Addr: f.authAddr, DataDir: f.db.dataDir,
			TLSCertFile: f.tlsCert, TLSKeyFile: f.tlsKey, ACMEDomains: f.acme,
			TokenTTL: f.tokenTTL, GameAddr: ln.Addr().String(), Guard: ops.strikes, HashPool: hashPool, TrustedProxies: f.trustedProxies,
			AllowedOrigins: authOrigins(hl, f.publicOrigins, f.httpTLS),
			LocateGame:     entryNode(node),
		})
		if err == nil {
			// Copied before Start: serving HTTPS adjusts the service's own config.
			certCfg = svc.TLSConfig().Clone()
			err = svc.Start()
		}
		if err != nil {
			srv.Shutdown(context.Background())
			ln.Close()
			if hl != nil {
				hl.Close()
			}
			return fmt.Errorf("auth service: %w", err)
		}
	}

	consoleURL, stopConsole, err := ops.start(ctx, consoleOptions{addr: adminAddr, srv: srv, game: game, tickRate: f.cfg.TickRate,
		st: st, guard: g, pool: hashPool, cert: certCfg, log: log})
	if err != nil {
		srv.Shutdown(context.Background())
		ln.Close()
		if hl != nil {
			hl.Close()
		}
		if svc != nil {
			svc.Close()
		}
		return err
	}
	defer stopConsole()

	// The game port starts serving once the certificate is known.
	if f.gameTLS {
		gameLn = transport.TLSListener(gameLn, certCfg)
	}
	if !f.link.IsZero() {
		gameLn = transport.Condition(gameLn, f.link)
		log.Warn("simulating network conditions on game connections", "latency", f.link.Latency, "jitter", f.link.Jitter, "bandwidth", f.link.Bandwidth)
	}
	go func() { errc <- srv.Serve(gameLn) }()

	var httpSrv *http.Server
	var pageURL string
	if hl != nil {
		wsCfg := transport.WebSocketConfig{OriginPatterns: f.origins, Logger: log, MaxMessage: wsMaxMessage(f.cfg.MaxMessage)}
		wsHandler := srv.WebSocketHandler(wsCfg)
		if !f.link.IsZero() {
			wsHandler = transport.WebSocketHandler(wsCfg, func(c net.Conn) { srv.ServeConn(transport.ConditionConn(c, f.link)) })
		}
		mux := http.NewServeMux()
		mux.Handle("/ws", wsHandler)
		if svc != nil && isLoopback(hl.Addr().String()) {
			// On this machine only, the page's own origin also serves the
			// account API, so a browser logs in without meeting the
			// development certificate. Elsewhere the API is HTTPS only.
			mux.Handle("/v1/", svc.Handler())
		}
		if isLoopback(hl.Addr().String()) {
			// Off this machine the page's listener faces the internet:
			// Prometheus then scrapes the admin console's listener, which
			// is on loopback by default.
			mux.Handle("/metrics", metricsHandler(srv, append(ops.collectors(), clusterCollectors(node)...)...))
		}
		mux.Handle("/", web.Handler())
		// Behind a trusted proxy every handler (/ws, /v1/) sees the client's
		// address from X-Forwarded-For or Forwarded.
		// The account service's limits: a slow body or an idle keep-alive
		// connection cannot hold a socket. /ws is not affected: the
		// WebSocket upgrade clears the deadlines, and the game server's
		// own timeouts take over.
		httpSrv = &http.Server{
			Handler:           f.trustedProxies.Handler(mux),
			ConnContext:       transport.ConnContext, // WebSocket players' RTT
			ReadHeaderTimeout: auth.ReadHeaderTimeout,
			ReadTimeout:       auth.ReadTimeout,
			WriteTimeout:      auth.WriteTimeout,
			IdleTimeout:       auth.IdleTimeout,
			MaxHeaderBytes:    auth.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		pageURL = "http://" + hl.Addr().String() + "/"
		if f.httpTLS {
			hl = tls.NewListener(hl, transport.WebTLSConfig(certCfg))
			pageURL = "https://" + hl.Addr().String() + "/"
		}
		go func() { errc <- httpSrv.Serve(hl) }()
	}

	tcp := ln.Addr().(*net.TCPAddr)
	if f.gameTLS {
		fmt.Fprintf(os.Stderr, "\ntickwire arena is running.\n  play in a terminal:  openssl s_client -quiet -connect %s   then type: AUTH guest\n", tcp)
	} else {
		fmt.Fprintf(os.Stderr, "\ntickwire arena is running.\n  play in a terminal:  nc %s %d   then type: AUTH guest\n", tcp.IP, tcp.Port)
	}
	if pageURL != "" {
		wsURL := "ws://" + hl.Addr().String() + "/ws"
		if f.httpTLS {
			wsURL = "wss://" + hl.Addr().String() + "/ws"
		}
		fmt.Fprintf(os.Stderr, "  play in a browser:   %s\n  WebSocket:           %s\n", pageURL, wsURL)
	}
	if svc != nil {
		fmt.Fprintf(os.Stderr, "  accounts (HTTPS):    https://%s/v1/register, /v1/login (database: %s)\n", svc.Addr(), st.Backend())
		if fp := svc.CertFingerprint(); fp != "" {
			fmt.Fprintf(os.Stderr, "  TLS certificate SHA-256 fingerprint: %s\n", fp)
		}
	}
	if node != nil {
		fmt.Fprintf(os.Stderr, "  cluster:             node %s of %q via %s, clients reach it at %s\n", f.cluster.node, f.cluster.name, f.cluster.nats, node.Self().Addr)
	}
	if consoleURL != "" {
		fmt.Fprintf(os.Stderr, "  admin console:       %s (log in with an account made admin by: tickwire admin add <name>)\n", consoleURL)
	}
	fmt.Fprintln(os.Stderr)

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, server.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
			log.Error("listener failed; shutting down", "err", err)
		}
	}
	log.Info("shutting down")
	if node != nil {
		// Hand this node's zones to the others first: their players are
		// sent there, not disconnected.
		cctx, ccancel := context.WithTimeout(context.Background(), 3*f.cluster.leaseTTL)
		if err := node.Close(cctx); err != nil {
			log.Warn("cluster hand-over incomplete", "err", err)
		}
		ccancel()
	}
	// Everything stops at once, within shutdownGrace: players get BYE
	// shutdown; the page's listener finishes the requests in flight, then
	// closes what is left (a browser's idle or pre-opened connection,
	// which Shutdown alone would wait seconds for); the account service
	// finishes its requests in the background while we go on.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	if httpSrv != nil {
		wg.Go(func() {
			if httpSrv.Shutdown(sctx) != nil {
				httpSrv.Close()
			}
		})
	}
	if svc != nil {
		closed := make(chan struct{})
		go func() { svc.Close(); close(closed) }()
		wg.Go(func() {
			select {
			case <-closed:
			case <-sctx.Done():
			}
		})
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	wg.Wait()
	return nil
}

// shutdownGrace is how long serve's shutdown waits for players to get
// their BYE and for requests in flight; main's bound (stopWithin) is a
// little longer.
const shutdownGrace = 60 * time.Millisecond

// wsMaxMessage is the WebSocket message cap for a game message cap of
// maxMessage: a WebSocket message may carry several frames, so it is the
// larger of the transport's default and 16 of the game's messages.
func wsMaxMessage(maxMessage int) int64 {
	return max(transport.DefaultWebSocketMaxMessage, 16*int64(maxMessage))
}

// authOrigins lists the browser origins allowed to call the auth API: the
// demo page's own (by address and, on loopback, as localhost; https when
// the page is served with TLS) and the production origins given with
// --public-origin.
func authOrigins(hl net.Listener, public []string, httpsPage bool) []string {
	origins := append([]string(nil), auth.DefaultAllowedOrigins...)
	add := func(o string) {
		for _, have := range origins {
			if have == o {
				return
			}
		}
		origins = append(origins, o)
	}
	if hl != nil {
		scheme := "http://"
		if httpsPage {
			scheme = "https://"
		}
		addr := hl.Addr().String()
		add(scheme + addr)
		if _, port, err := net.SplitHostPort(addr); err == nil && isLoopback(addr) {
			add(scheme + "localhost:" + port)
			add(scheme + "127.0.0.1:" + port)
		}
	}
	for _, o := range public {
		add(o)
	}
	return origins
}

// entryNode answers the account service's login with the node that runs
// the zone new players enter (the arena's zone 1), or nil without a
// cluster (the service then answers with this node's address).
func entryNode(n *cluster.Node) func(ctx context.Context) string {
	if n == nil {
		return nil
	}
	return func(ctx context.Context) string {
		o, live, err := n.Owner(ctx, "1")
		if err != nil || !live {
			return ""
		}
		return o.Addr
	}
}
