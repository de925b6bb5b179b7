package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/store"
)

func TestLoginAndSession(t *testing.T) {
	e := newEnv(t, nil)
	e.account("alice", "alice's long password", "")

	for _, tc := range []struct{ name, pass string }{
		{adminName, "wrong password!"},
		{"alice", "alice's long password"}, // right password, not an admin
		{"nobody", adminPass},
		{"Bad Name!", adminPass},
	} {
		r := e.do(req{method: "POST", path: "/api/login", body: LoginRequest{Name: tc.name, Password: tc.pass}})
		if r.status != http.StatusUnauthorized || r.code() != "bad_credentials" || len(r.header.Values("Set-Cookie")) != 0 {
			t.Errorf("login %s/%s: %d %s, cookies %v", tc.name, tc.pass, r.status, r.body, r.header.Values("Set-Cookie"))
		}
	}
	if strings.Contains(e.logBuf.String(), "nobody") {
		t.Error("the log names an account that does not exist (it may be a mistyped password)")
	}

	r := e.do(req{method: "POST", path: "/api/login", body: LoginRequest{Name: "ROOT", Password: adminPass}})
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var sess SessionResponse
	r.decode(t, &sess)
	if sess.Name != adminName || len(sess.CSRF) < 40 || sess.TickRate != 50 || !sess.Zones || !sess.Bans {
		t.Fatalf("session = %+v", sess)
	}
	cookie := r.header.Get("Set-Cookie")
	for _, want := range []string{"tickwire-admin=", "Path=/", "HttpOnly", "SameSite=Strict", "Max-Age="} {
		if !strings.Contains(cookie, want) {
			t.Errorf("cookie %q lacks %q", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("cookie %q is Secure on plain HTTP", cookie)
	}
	ck, csrf := e.login(adminName, adminPass)
	if got := e.get(ck, "/api/session"); got.status != http.StatusOK || !strings.Contains(string(got.body), csrf) {
		t.Fatalf("GET /api/session: %d %s", got.status, got.body)
	}
	if a := e.audits(); len(a) != 2 || a[0].Action != "login" || a[0].Actor != adminName || a[0].Addr != "127.0.0.1" {
		t.Fatalf("audit after two logins: %+v", a)
	}
	if !strings.Contains(e.logBuf.String(), `msg="admin audit" actor=root action=login`) {
		t.Errorf("no audit line in the server log:\n%s", e.logBuf.String())
	}

	// Log out: the session is gone at once.
	if r := e.post(ck, csrf, "/api/logout", nil); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := e.get(ck, "/api/session"); r.status != http.StatusUnauthorized {
		t.Fatalf("session after logout: %d", r.status)
	}
}

func TestSecureCookie(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Secure = true })
	r := e.do(req{method: "POST", path: "/api/login", body: LoginRequest{Name: adminName, Password: adminPass}, origin: "https://console.test"})
	cookie := r.header.Get("Set-Cookie")
	if r.status != http.StatusOK || !strings.HasPrefix(cookie, "__Host-tickwire-admin=") || !strings.Contains(cookie, "Secure") {
		t.Fatalf("login over TLS: %d, cookie %q", r.status, cookie)
	}
	if hsts := r.header.Get("Strict-Transport-Security"); hsts == "" {
		t.Error("no HSTS header over TLS")
	}
	// The console's own origin is https:// when it is served with TLS.
	if r := e.do(req{method: "POST", path: "/api/login", body: LoginRequest{Name: adminName, Password: adminPass}}); r.code() != "origin_not_allowed" {
		t.Fatalf("http:// origin on a TLS console: %d %s", r.status, r.body)
	}
}

// TestRefusals: every endpoint refuses without a session; every
// state-changing one without the CSRF token, with a wrong one, without an
// Origin or with a foreign one; bodies are bounded.
func TestRefusals(t *testing.T) {
	e := newEnv(t, nil)
	ck, csrf := e.login(adminName, adminPass)
	gets := []string{"/api/session", "/api/events", "/api/players", "/api/bans", "/api/security", "/api/accounts", "/api/audit", "/api/logs", "/api/zones"}
	posts := map[string]any{
		"/api/logout": nil, "/api/kick": KickRequest{ConnID: 1, Reason: "x"}, "/api/ban": BanRequest{IP: "192.0.2.1", Reason: "x"},
		"/api/unban": UnbanRequest{IP: "192.0.2.1"}, "/api/accounts/disable": AccountRequest{Name: "alice"},
		"/api/accounts/enable": AccountRequest{Name: "alice"}, "/api/accounts/reset": AccountRequest{Name: "alice"},
	}
	for _, p := range gets {
		if r := e.get(nil, p); r.status != http.StatusUnauthorized || r.code() != "not_logged_in" {
			t.Errorf("GET %s without a session: %d %s", p, r.status, r.body)
		}
		if r := e.get(&http.Cookie{Name: cookieName, Value: randomSecret()}, p); r.status != http.StatusUnauthorized {
			t.Errorf("GET %s with a forged session: %d", p, r.status)
		}
	}
	for p, body := range posts {
		for _, tc := range []struct {
			name   string
			q      req
			status int
			code   string
		}{
			{"no session", req{csrf: csrf}, 401, "not_logged_in"},
			{"no CSRF token", req{cookie: ck}, 403, "bad_csrf"},
			{"wrong CSRF token", req{cookie: ck, csrf: randomSecret()}, 403, "bad_csrf"},
			{"no Origin", req{cookie: ck, csrf: csrf, origin: "-"}, 403, "origin_required"},
			{"foreign Origin", req{cookie: ck, csrf: csrf, origin: "https://evil.example"}, 403, "origin_not_allowed"},
			{"Origin with another port", req{cookie: ck, csrf: csrf, origin: "http://console.test:8080"}, 403, "origin_not_allowed"},
			{"cross-site fetch", req{cookie: ck, csrf: csrf, fetchSite: "cross-site"}, 403, "origin_not_allowed"},
		} {
			q := tc.q
			q.method, q.path, q.body = "POST", p, body
			if r := e.do(q); r.status != tc.status || r.code() != tc.code {
				t.Errorf("POST %s, %s: %d %s, want %d %s", p, tc.name, r.status, r.body, tc.status, tc.code)
			}
		}
		if r := e.get(ck, p); r.status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405", p, r.status)
		}
	}
	// Login itself is a POST: a foreign page cannot log a browser in.
	if r := e.do(req{method: "POST", path: "/api/login", body: LoginRequest{Name: adminName, Password: adminPass}, origin: "https://evil.example"}); r.status != 403 {
		t.Errorf("login from a foreign origin: %d", r.status)
	}
	// Bodies: too large, unknown fields, two objects, not JSON.
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"ip":"` + strings.Repeat("1", MaxBodyBytes) + `"}`, 413},
		{`{"ip":"192.0.2.1","reason":"x","extra":1}`, 400},
		{`{"ip":"192.0.2.1","reason":"x"} {}`, 400},
		{`ip=192.0.2.1`, 400},
	} {
		if r := e.post(ck, csrf, "/api/ban", tc.body); r.status != tc.status {
			t.Errorf("body %.40q: %d %s, want %d", tc.body, r.status, r.body, tc.status)
		}
	}
	if r := e.do(req{method: "POST", path: "/api/login", body: `{"name":"root","password":"` + strings.Repeat("x", 2*MaxBodyBytes) + `"}`}); r.status != 413 {
		t.Errorf("oversized login: %d", r.status)
	}
	if r := e.get(ck, "/api/nothing"); r.status != 404 {
		t.Errorf("unknown endpoint: %d", r.status)
	}
	// A banned address is refused everything, even with a session.
	if _, err := e.guard.Ban(context.Background(), netip.MustParseAddr("192.0.2.99"), time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	if r := e.do(req{method: "GET", path: "/api/session", cookie: ck, from: "192.0.2.99:1234"}); r.status != 403 || r.code() != "banned" {
		t.Errorf("banned address: %d %s", r.status, r.body)
	}
	// Except loopback, where the operator's SSH tunnel comes from.
	if _, err := e.guard.Ban(context.Background(), netip.MustParseAddr("127.0.0.1"), time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	if r := e.do(req{method: "GET", path: "/api/session", cookie: ck}); r.status != 200 {
		t.Errorf("banned loopback: %d %s", r.status, r.body)
	}
}

func TestHostCheck(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Hosts = []string{"127.0.0.1:8081", "localhost:8081"} })
	if r := e.do(req{method: "GET", path: "/", host: "rebound.example:8081"}); r.status != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d", r.status)
	}
	if r := e.do(req{method: "GET", path: "/", host: "LOCALHOST:8081"}); r.status != http.StatusOK {
		t.Errorf("localhost: %d", r.status)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SessionIdle = 10 * time.Minute; c.SessionMaxAge = time.Hour })
	ck, _ := e.login(adminName, adminPass)
	e.clock.Add(9 * time.Minute)
	if r := e.get(ck, "/api/session"); r.status != 200 {
		t.Fatalf("active session refused: %d", r.status)
	}
	e.clock.Add(10*time.Minute + time.Second) // idle too long
	if r := e.get(ck, "/api/session"); r.status != 401 {
		t.Fatalf("idle session accepted: %d", r.status)
	}
	// However active, a session ends at its maximum age.
	ck, _ = e.login(adminName, adminPass)
	for i := 0; i < 6; i++ {
		e.clock.Add(9 * time.Minute)
		if r := e.get(ck, "/api/session"); r.status != 200 {
			t.Fatalf("active session refused after %d min: %d", 9*(i+1), r.status)
		}
	}
	e.clock.Add(7 * time.Minute) // 61 minutes, the last request 7 minutes ago
	if r := e.get(ck, "/api/session"); r.status != 401 {
		t.Fatalf("session past its maximum age accepted: %d", r.status)
	}
}

func TestRemovedAdminLosesSession(t *testing.T) {
	e := newEnv(t, nil)
	ck, _ := e.login(adminName, adminPass)
	a, _ := e.st.AccountByName(context.Background(), adminName)
	if err := e.st.SetRole(context.Background(), a.ID, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(SessionRecheck)
	if r := e.get(ck, "/api/players"); r.status != 401 {
		t.Fatalf("removed admin's session: %d", r.status)
	}
	// And the session is gone for good, even if the role comes back.
	e.st.SetRole(context.Background(), a.ID, store.RoleAdmin)
	if r := e.get(ck, "/api/players"); r.status != 401 {
		t.Fatalf("ended session came back: %d", r.status)
	}
	// A disabled admin cannot log in.
	e.st.SetDisabled(context.Background(), a.ID, true)
	if r := e.do(req{method: "POST", path: "/api/login", body: LoginRequest{Name: adminName, Password: adminPass}}); r.status != 401 {
		t.Fatalf("disabled admin logged in: %d", r.status)
	}
}

// TestLoginThrottle: an address guessing at the admin's password is
// refused after its failures, and struck, while the admin logs in from
// another address; an address failing over many names is refused too.
func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, nil)
	login := func(from, name, pass string) resp {
		return e.do(req{method: "POST", path: "/api/login", body: LoginRequest{Name: name, Password: pass}, from: from})
	}
	const attacker = "192.0.2.66:5555"
	burst := DefaultLoginFailPerAccountIP.Burst
	for i := 0; i < burst; i++ {
		if r := login(attacker, adminName, fmt.Sprintf("guess number %d", i)); r.status != 401 {
			t.Fatalf("guess %d: %d %s", i, r.status, r.body)
		}
	}
	r := login(attacker, adminName, adminPass) // even the right password
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("guess past the limit: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	if got := e.strikes.ByAddr(10); len(got) != 1 || got[0].IP != "192.0.2.66" {
		t.Fatalf("strikes after a refused guess: %+v", got)
	}
	// The owner, elsewhere, is not affected.
	for _, from := range []string{"127.0.0.1:1", "198.51.100.4:2"} {
		if r := login(from, adminName, adminPass); r.status != 200 {
			t.Fatalf("admin from %s during the attack: %d %s", from, r.status, r.body)
		}
	}
	// One address failing over many names hits the per-address limit.
	const sprayer = "203.0.113.5:1"
	n := 0
	for ; n < 100; n++ {
		if r := login(sprayer, fmt.Sprintf("name%03d", n), "some password"); r.status == http.StatusTooManyRequests {
			break
		}
	}
	if n != DefaultLoginFailPerIP.Burst {
		t.Fatalf("spraying address refused after %d failures, want %d", n, DefaultLoginFailPerIP.Burst)
	}
	if got := e.c.adminFails.Load(); got < uint64(burst+n) {
		t.Fatalf("failed console logins counted: %d", got)
	}
	// Requests per address bound the hashing work, right or wrong.
	const busy = "198.51.100.200:1"
	m := 0
	for ; m < 100; m++ {
		if r := login(busy, adminName, adminPass); r.status == http.StatusTooManyRequests {
			break
		}
	}
	if m != DefaultLoginPerIP.Burst {
		t.Fatalf("successful logins refused after %d, want %d", m, DefaultLoginPerIP.Burst)
	}
}

func TestKick(t *testing.T) {
	e := newEnv(t, nil)
	ck, csrf := e.login(adminName, adminPass)
	alice := e.join("127.0.0.2", "alice")
	e.join("127.0.0.3", "bob")
	var conn uint64
	for _, si := range e.srv.Sessions() {
		if si.Name == "alice" {
			conn = si.ConnID
		}
	}
	for _, reason := range []string{"", "   ", strings.Repeat("x", MaxKickReasonLen+1), "bad\x07bell"} {
		if r := e.post(ck, csrf, "/api/kick", KickRequest{ConnID: conn, Reason: reason}); r.status != 400 {
			t.Errorf("kick reason %q: %d %s", reason, r.status, r.body)
		}
	}
	if r := e.post(ck, csrf, "/api/kick", KickRequest{ConnID: 999999, Reason: "x"}); r.status != 404 {
		t.Errorf("kick of no connection: %d", r.status)
	}
	if r := e.post(ck, csrf, "/api/kick", KickRequest{ConnID: conn, Reason: "spamming chat"}); r.status != 200 {
		t.Fatalf("kick: %d %s", r.status, r.body)
	}
	if got := alice.expect("BYE"); got != `BYE "kicked: spamming chat"` {
		t.Fatalf("alice got %q", got)
	}
	a := e.audits()[0]
	if a.Action != "kick" || a.Actor != adminName || !strings.HasPrefix(a.Target, "alice conn ") || !strings.Contains(a.Target, "127.0.0.2") || a.Detail != "spamming chat" {
		t.Fatalf("audit entry %+v", a)
	}
}

func TestBanAndUnban(t *testing.T) {
	e := newEnv(t, nil)
	ck, csrf := e.login(adminName, adminPass)
	mallory := e.join("127.0.0.4", "mallory")
	for _, b := range []BanRequest{
		{IP: "not-an-ip", Reason: "x"},
		{IP: "127.0.0.4", Duration: "forever", Reason: "x"},
		{IP: "127.0.0.4", Duration: "1s", Reason: "x"},
		{IP: "127.0.0.4", Duration: "9000h", Reason: "x"},
		{IP: "127.0.0.4", Reason: ""},
		{IP: "127.0.0.4", Reason: "cheat ip=10.0.0.1 x"},
		{IP: "127.0.0.4", Reason: `say "hi"`},
	} {
		if r := e.post(ck, csrf, "/api/ban", b); r.status != 400 {
			t.Errorf("ban %+v: %d %s", b, r.status, r.body)
		}
	}
	r := e.post(ck, csrf, "/api/ban", BanRequest{IP: "::ffff:127.0.0.4", Duration: "2h", Reason: "aimbot"})
	var info BanInfo
	r.decode(t, &info)
	if r.status != 200 || info.IP != "127.0.0.4" || !info.Enforced || info.ExpiresAt.Sub(info.CreatedAt) != 2*time.Hour {
		t.Fatalf("ban: %d %s", r.status, r.body)
	}
	// The ban ends the live session and refuses the address.
	if got := mallory.expect("BYE"); got != "BYE banned" {
		t.Fatalf("mallory got %q", got)
	}
	if err := e.guard.Admit(netip.MustParseAddr("127.0.0.4")); err == nil {
		t.Fatal("banned address admitted")
	}
	var bans struct{ Bans []BanInfo }
	e.get(ck, "/api/bans").decode(t, &bans)
	if len(bans.Bans) != 1 || bans.Bans[0].Reason != "aimbot" {
		t.Fatalf("bans = %+v", bans)
	}
	if a := e.audits()[0]; a.Action != "ban" || a.Target != "127.0.0.4" || !strings.Contains(a.Detail, "2h0m0s") || !strings.Contains(a.Detail, "aimbot") {
		t.Fatalf("audit entry %+v", a)
	}
	if r := e.post(ck, csrf, "/api/unban", UnbanRequest{IP: "127.0.0.4", Forget: true}); r.status != 200 {
		t.Fatalf("unban: %d %s", r.status, r.body)
	}
	if err := e.guard.Admit(netip.MustParseAddr("127.0.0.4")); err != nil {
		t.Fatalf("unbanned address refused: %v", err)
	}
	if r := e.post(ck, csrf, "/api/unban", UnbanRequest{IP: "127.0.0.4"}); r.status != 404 {
		t.Fatalf("second unban: %d", r.status)
	}
	if a := e.audits()[0]; a.Action != "unban" || a.Detail != "offence history cleared" {
		t.Fatalf("audit entry %+v", a)
	}
}

func TestAccounts(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ck, csrf := e.login(adminName, adminPass)
	alice := e.account("alice", "alice's long password", "")
	e.account("alicia", "alicia's long password", "")
	e.account("bob", "bob's long password", "")
	live := e.join("127.0.0.2", "alice")

	var list struct{ Accounts []AccountInfo }
	e.get(ck, "/api/accounts?q=ALI").decode(t, &list)
	if len(list.Accounts) != 2 || list.Accounts[0].Name != "alice" || list.Accounts[1].Name != "alicia" {
		t.Fatalf("search: %+v", list)
	}
	waitFor(t, "a sample with alice online", func() bool {
		e.get(ck, "/api/accounts?q=alice").decode(t, &list)
		return len(list.Accounts) == 1 && list.Accounts[0].Online
	})

	// Disable: refused at login, live session ended.
	if r := e.post(ck, csrf, "/api/accounts/disable", AccountRequest{Name: "Alice"}); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if got := live.expect("BYE"); got != "BYE account_disabled" {
		t.Fatalf("alice got %q", got)
	}
	if err := e.st.IssueToken(ctx, alice.ID, make([]byte, store.TokenHashSize), time.Now(), time.Now().Add(time.Minute)); !errors.Is(err, store.ErrAccountDisabled) {
		t.Fatalf("token for a disabled account: %v", err)
	}
	if a := e.audits()[0]; a.Action != "disable" || a.Target != "alice" || !strings.Contains(a.Detail, "1 live session") {
		t.Fatalf("audit entry %+v", a)
	}
	if r := e.post(ck, csrf, "/api/accounts/enable", AccountRequest{Name: "alice"}); r.status != 200 {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	if a, _ := e.st.AccountByID(ctx, alice.ID); a.Disabled {
		t.Fatal("still disabled")
	}

	// Reset: a temporary password, shown once, that only changes the
	// password; never in the log or the audit.
	r := e.post(ck, csrf, "/api/accounts/reset", AccountRequest{Name: "alice"})
	var reset struct {
		TempPassword string `json:"temp_password"`
	}
	r.decode(t, &reset)
	if r.status != 200 || len(reset.TempPassword) != TempPasswordLen {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	a, _ := e.st.AccountByID(ctx, alice.ID)
	if ok, err := auth.VerifyPassword(a.PasswordHash, reset.TempPassword); !ok || err != nil || !a.ResetRequired {
		t.Fatalf("after reset: %+v (temporary password matches: %v %v)", a, ok, err)
	}
	if err := auth.CheckPassword("alice", reset.TempPassword); err != nil {
		t.Fatalf("temporary password breaks the password rules: %v", err)
	}
	if strings.Contains(e.logBuf.String(), reset.TempPassword) || strings.Contains(fmt.Sprint(e.audits()), reset.TempPassword) {
		t.Fatal("the temporary password was logged")
	}

	// Admins and guests are not managed here.
	if r := e.post(ck, csrf, "/api/accounts/disable", AccountRequest{Name: adminName}); r.status != 403 || r.code() != "is_admin" {
		t.Fatalf("disable an admin: %d %s", r.status, r.body)
	}
	for _, n := range []string{"guest-1a2b3c", "nobody", "Bad Name!"} {
		if r := e.post(ck, csrf, "/api/accounts/reset", AccountRequest{Name: n}); r.status != 404 {
			t.Errorf("reset %q: %d %s", n, r.status, r.body)
		}
	}
}

func TestAuditAndLogsEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	ck, csrf := e.login(adminName, adminPass)
	e.post(ck, csrf, "/api/ban", BanRequest{IP: "192.0.2.1", Duration: "1h", Reason: "one"})
	e.post(ck, csrf, "/api/ban", BanRequest{IP: "192.0.2.2", Duration: "1h", Reason: "two"})
	var audit struct{ Entries []AuditInfo }
	e.get(ck, "/api/audit?action=ban&limit=1").decode(t, &audit)
	if len(audit.Entries) != 1 || audit.Entries[0].Target != "192.0.2.2" {
		t.Fatalf("audit page: %+v", audit)
	}
	e.get(ck, fmt.Sprintf("/api/audit?action=ban&before=%d", audit.Entries[0].ID)).decode(t, &audit)
	if len(audit.Entries) != 1 || audit.Entries[0].Target != "192.0.2.1" {
		t.Fatalf("audit next page: %+v", audit)
	}
	// The bans were logged as warnings: the log tail has them.
	var logs struct {
		Records   []LogRecord
		Available bool
	}
	e.get(ck, "/api/logs?q=192.0.2.2").decode(t, &logs)
	if !logs.Available || len(logs.Records) != 1 || logs.Records[0].Msg != "tickwire ban" || logs.Records[0].Level != "WARN" {
		t.Fatalf("log tail: %+v", logs)
	}
	e.get(ck, "/api/logs?level=error").decode(t, &logs)
	if len(logs.Records) != 0 {
		t.Fatalf("errors only: %+v", logs.Records)
	}
	if r := e.get(ck, "/api/logs?level=loud"); r.status != 400 {
		t.Fatalf("bad level: %d", r.status)
	}
}

func TestZones(t *testing.T) {
	e := newEnv(t, nil)
	ck, _ := e.login(adminName, adminPass)
	var z struct {
		Available bool
		Zones     []ZoneStat
	}
	e.get(ck, "/api/zones").decode(t, &z)
	if !z.Available || len(z.Zones) != 2 || z.Zones[0].Name != "plains" || z.Zones[0].Desyncs != 1 {
		t.Fatalf("zones: %+v", z)
	}
	e2 := newEnv(t, func(c *Config) { c.Game = plainGame{} })
	ck2, _ := e2.login(adminName, adminPass)
	e2.get(ck2, "/api/zones").decode(t, &z)
	if z.Available || len(z.Zones) != 0 {
		t.Fatalf("zones of a game without any: %+v", z)
	}
}

func TestPage(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(req{method: "GET", path: "/"})
	if r.status != 200 || !strings.Contains(string(r.body), `<script type="module" src="/ui/app.js">`) {
		t.Fatalf("page: %d %.200s", r.status, r.body)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	// No inline script or style: the CSP would block them.
	for _, bad := range []string{"<script>", "<style", " style=", " onclick="} {
		if strings.Contains(string(r.body), bad) {
			t.Errorf("page holds %q", bad)
		}
	}
	for path, ctype := range map[string]string{"/ui/app.js": "javascript", "/ui/plot.js": "javascript", "/ui/style.css": "text/css"} {
		r := e.do(req{method: "GET", path: path})
		if r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %q", path, r.status, r.header.Get("Content-Type"))
		}
	}
}
