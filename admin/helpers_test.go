package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/store"
	"github.com/tickwire/tickwire/transport"
)

// fastParams keep argon2id cheap in tests; the pool and the code paths
// are the real ones.
var fastParams = auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const (
	adminName = "root"
	adminPass = "correct horse battery"
	waitLimit = 10 * time.Second
)

// clock is a settable clock for session expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// nameAuth logs "AUTH <name> <anything>" in as name: the tests need named
// players without the account service.
type nameAuth struct{}

func (nameAuth) Authenticate(ctx context.Context, user, secret string, remote netip.Addr) (server.Identity, error) {
	return server.Identity{Name: user}, nil
}

// zoneGame is a game that reports one zone per 2 players (rounded up).
type zoneGame struct{ calls int }

func (g *zoneGame) Join(t *server.Tick, p *server.Player) error          { return nil }
func (g *zoneGame) Leave(t *server.Tick, p *server.Player, reason error) {}
func (g *zoneGame) Update(t *server.Tick)                                {}
func (g *zoneGame) ZoneStats() []ZoneStat {
	g.calls++
	return []ZoneStat{{ID: "2", Name: "hills", Players: 1, SyncBytes: 500}, {ID: "1", Name: "plains", Players: 2, Entities: 7, SyncBytes: 1000, Desyncs: 1}}
}

// plainGame reports no zones.
type plainGame struct{}

func (plainGame) Join(t *server.Tick, p *server.Player) error          { return nil }
func (plainGame) Leave(t *server.Tick, p *server.Player, reason error) {}
func (plainGame) Update(t *server.Tick)                                {}

type env struct {
	t       *testing.T
	st      store.Store
	srv     *server.Server
	addr    string // the game's TCP address
	guard   *guard.Guard
	strikes *StrikeLog
	logs    *LogRing
	logBuf  *syncBuffer
	clock   *clock
	c       *Console
	pool    *auth.HashPool
	game    server.Game
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newEnv starts a game server on 127.0.0.1:0 (50 ticks a second), a
// guard and a console, with the admin account root.
func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, logBuf: &syncBuffer{}, clock: &clock{t: time.Now()}}
	var err error
	e.st, err = store.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.st.Close() })
	e.logs = NewLogRing(100, slog.LevelWarn, CountedMessages...)
	log := slog.New(e.logs.Handler(slog.NewTextHandler(e.logBuf, nil)))
	e.guard, err = guard.New(ctx, guard.Config{Store: e.st, Logger: log, RefreshInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.guard.Close() })
	e.strikes = NewStrikeLog(e.guard)
	e.game = &zoneGame{}
	e.srv, err = server.New(server.Config{Registry: msg.NewRegistry(), Logger: log, TickRate: 50, Guard: e.strikes,
		Authenticator: nameAuth{}, SeatHold: -1}, e.game)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	go e.srv.Serve(ln)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		e.srv.Shutdown(sctx)
	})
	e.pool, err = auth.NewHashPool(auth.HashPoolConfig{Params: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	e.account(adminName, adminPass, store.RoleAdmin)
	cfg := Config{Server: e.srv, Store: e.st, HashPool: e.pool, Guard: e.guard, Strikes: e.strikes, Logs: e.logs,
		Game: e.game, TickRate: 50, Logger: log, Params: fastParams, Now: e.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	e.c, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.c.Close() })
	return e
}

// account creates an account with password and role.
func (e *env) account(name, password, role string) store.Account {
	e.t.Helper()
	h, err := auth.HashPassword(password, fastParams)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := e.st.CreateAccount(context.Background(), name, h, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if role != "" {
		if err := e.st.SetRole(context.Background(), a.ID, role); err != nil {
			e.t.Fatal(err)
		}
	}
	return a
}

// req describes one request to the console's handler.
type req struct {
	method, path string
	body         any    // JSON-encoded; a string is sent as is
	from         string // client address (default 127.0.0.1:40000)
	host         string // Host header (default console.test)
	origin       string // Origin header; "-" for none; default the console's own
	fetchSite    string // Sec-Fetch-Site header
	cookie       *http.Cookie
	csrf         string
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) code() string {
	var e struct{ Error ErrorBody }
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (e *env) do(q req) resp {
	e.t.Helper()
	var body *bytes.Reader
	switch b := q.body.(type) {
	case nil:
		body = bytes.NewReader(nil)
	case string:
		body = bytes.NewReader([]byte(b))
	default:
		js, _ := json.Marshal(b)
		body = bytes.NewReader(js)
	}
	r := httptest.NewRequest(q.method, "http://console.test"+q.path, body)
	r.RemoteAddr = "127.0.0.1:40000"
	if q.from != "" {
		r.RemoteAddr = q.from
	}
	if q.host != "" {
		r.Host = q.host
	}
	switch q.origin {
	case "":
		if q.method == http.MethodPost {
			r.Header.Set("Origin", "http://"+r.Host)
		}
	case "-":
	default:
		r.Header.Set("Origin", q.origin)
	}
	if q.fetchSite != "" {
		r.Header.Set("Sec-Fetch-Site", q.fetchSite)
	}
	if q.cookie != nil {
		r.AddCookie(q.cookie)
	}
	if q.csrf != "" {
		r.Header.Set(csrfHeader, q.csrf)
	}
	w := httptest.NewRecorder()
	e.c.Handler().ServeHTTP(w, r)
	return resp{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

// login logs in and returns the session cookie and CSRF token.
func (e *env) login(name, password string) (*http.Cookie, string) {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/api/login", body: LoginRequest{Name: name, Password: password}})
	if r.status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	var s SessionResponse
	r.decode(e.t, &s)
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == e.c.cookieName() {
			return ck, s.CSRF
		}
	}
	e.t.Fatalf("login set no session cookie: %v", r.header)
	return nil, ""
}

// post sends a state-changing request as a logged-in admin.
func (e *env) post(ck *http.Cookie, csrf, path string, body any) resp {
	e.t.Helper()
	return e.do(req{method: "POST", path: path, body: body, cookie: ck, csrf: csrf})
}

func (e *env) get(ck *http.Cookie, path string) resp {
	e.t.Helper()
	return e.do(req{method: "GET", path: path, cookie: ck})
}

// player is a game client over TCP.
type player struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

// join connects from ip (127.0.0.x) and logs in as name.
func (e *env) join(ip, name string) *player {
	e.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	p := &player{t: e.t, nc: nc, r: bufio.NewReader(nc)}
	nc.Write([]byte("AUTH " + name + " x\n"))
	p.expect("WELCOME")
	return p
}

// expect reads lines until one starts with prefix and returns it.
func (p *player) expect(prefix string) string {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		l, err := p.r.ReadString('\n')
		if err != nil {
			p.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(l, prefix) {
			return strings.TrimRight(l, "\r\n")
		}
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// audits returns the audit log, newest first.
func (e *env) audits() []store.AuditEntry {
	e.t.Helper()
	list, err := e.st.ListAudit(context.Background(), store.AuditQuery{})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}
