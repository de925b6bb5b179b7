package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/store"
)

// ErrorBody is the "error" member of every error answer:
// {"error": {"code": "...", "message": "..."}}.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]ErrorBody{"error": {Code: code, Message: message}})
}

// errReply is an error answer a handler returns.
type errReply struct {
	status        int
	code, message string
	retryAfter    time.Duration
}

func (e *errReply) Error() string { return e.message }

func reply(status int, code, message string) *errReply {
	return &errReply{status: status, code: code, message: message}
}

var (
	errBadRequest  = reply(http.StatusBadRequest, "bad_request", "request body must be one JSON object with known fields")
	errTooLarge    = reply(http.StatusRequestEntityTooLarge, "too_large", "request body too large")
	errUnavailable = reply(http.StatusServiceUnavailable, "unavailable", "the database failed; try again")
)

// decode reads exactly one JSON object with only known fields into v.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); errors.Is(err, io.EOF) {
			return nil
		} else if err == nil {
			return errBadRequest
		}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	return errBadRequest
}

// handlerFunc is an API handler of a logged-in admin.
type handlerFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error

// authed wraps an API handler: a live session is required (401), and for
// a state-changing request (post) its CSRF token (403); the account must
// still be an enabled admin (checked every SessionRecheck).
func (c *Console) authed(post bool, fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.sessionOf(r)
		if s == nil {
			writeError(w, http.StatusUnauthorized, "not_logged_in", "log in first (or again: sessions expire)")
			return
		}
		if post && !csrfOK(r, s) {
			writeError(w, http.StatusForbidden, "bad_csrf", "missing or wrong "+csrfHeader+" header")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
		defer cancel()
		if c.sess.needsCheck(s, c.now()) {
			acct, err := c.cfg.Store.AccountByID(ctx, s.accountID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				c.log.Error("admin: database error", "op", "check_session", "err", err)
				writeError(w, errUnavailable.status, errUnavailable.code, errUnavailable.message)
				return
			}
			if err != nil || !acct.IsAdmin() || acct.Disabled {
				c.sess.remove(s)
				c.log.Warn("admin session ended: the account is no longer an enabled admin", "name", s.name)
				writeError(w, http.StatusUnauthorized, "not_logged_in", "this account may no longer use the console")
				return
			}
		}
		if err := fn(ctx, w, r, s); err != nil {
			var e *errReply
			if !errors.As(err, &e) {
				c.log.Error("admin: request failed", "path", r.URL.Path, "err", err)
				e = reply(http.StatusInternalServerError, "internal", "internal error")
			}
			if e.retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(e.retryAfter.Seconds())), 1)))
			}
			writeError(w, e.status, e.code, e.message)
		}
	}
}

// audit records an operator action in the server log and the database.
// The action has happened: a database failure is logged, not returned.
func (c *Console) audit(s *session, r *http.Request, action, target, detail string) {
	e := store.AuditEntry{At: c.now(), Actor: s.name, Action: action, Target: target, Detail: detail, Addr: clientIP(r).String()}
	c.log.Info("admin audit", "actor", e.Actor, "action", action, "target", target, "detail", detail, "addr", e.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
	defer cancel()
	if _, err := c.cfg.Store.AddAudit(ctx, e); err != nil {
		c.log.Error("admin: audit entry not stored", "actor", e.Actor, "action", action, "target", target, "err", err)
	}
}

// LoginRequest is the body of POST /api/login.
type LoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// SessionResponse answers a login and GET /api/session.
type SessionResponse struct {
	Name      string    `json:"name"`
	CSRF      string    `json:"csrf"`
	ExpiresAt time.Time `json:"expires_at"` // the absolute end of the session
	IdleSecs  int       `json:"idle_secs"`  // it also ends this long after its last request
	TickRate  int       `json:"tick_rate"`
	Interval  int       `json:"interval_ms"` // between samples
	History   int       `json:"history"`     // samples kept
	Zones     bool      `json:"zones"`       // the game reports zones
	Bans      bool      `json:"bans"`        // bans can be managed
}

func (c *Console) sessionResponse(s *session) SessionResponse {
	_, zones := c.cfg.Game.(ZoneStater)
	return SessionResponse{
		Name: s.name, CSRF: s.csrf, ExpiresAt: s.created.Add(c.cfg.SessionMaxAge).UTC(), IdleSecs: int(c.cfg.SessionIdle.Seconds()),
		TickRate: c.cfg.TickRate, Interval: int(SampleInterval / time.Millisecond), History: HistoryLen,
		Zones: zones, Bans: c.cfg.Guard != nil,
	}
}

// Names of the login limits in "admin login rate limited" log lines.
const (
	limitLoginPerIP            = "login_per_ip"
	limitLoginFailPerIP        = "login_failures_per_ip"
	limitLoginFailPerAccountIP = "login_failures_per_account_ip"
)

func (c *Console) refuseLogin(ip netip.Addr, limit string, wait time.Duration, strike bool) *errReply {
	c.log.Warn("admin login rate limited", "ip", ip.String(), "limit", limit, "retry_after", wait.Round(time.Second).String(), "strike", strike)
	if strike {
		c.strike(ip, "admin_login")
	}
	e := reply(http.StatusTooManyRequests, "rate_limited", "too many attempts; try again later")
	e.retryAfter = wait
	return e
}

func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
	defer cancel()
	if err := c.login(ctx, w, r); err != nil {
		var e *errReply
		if !errors.As(err, &e) {
			e = errUnavailable
		}
		if e.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(e.retryAfter.Seconds())), 1)))
		}
		writeError(w, e.status, e.code, e.message)
	}
}

var errBadCredentials = reply(http.StatusUnauthorized, "bad_credentials", "wrong name or password, or not an admin")

func (c *Console) login(ctx context.Context, w http.ResponseWriter, r *http.Request) (err error) {
	var req LoginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ip := clientIP(r)
	now := c.now()
	ak := addrKey(ip)
	if ok, wait := c.loginIP.begin(ak, now); !ok {
		return c.refuseLogin(ip, limitLoginPerIP, wait, false)
	}
	busy := false
	defer func() { c.loginIP.end(ak, c.now(), !busy) }()
	if ok, wait := c.failIP.begin(ak, now); !ok {
		return c.refuseLogin(ip, limitLoginFailPerIP, wait, true)
	}
	name, nerr := auth.NormalizeName(req.Name)
	if nerr != nil {
		c.failIP.end(ak, now, true)
		c.adminFails.Add(1)
		c.log.Warn("admin login failed", "name", "(invalid)", "ip", ip.String())
		return errBadCredentials
	}
	pk := name + " " + ak
	if ok, wait := c.failPair.begin(pk, now); !ok {
		c.failIP.end(ak, now, false)
		return c.refuseLogin(ip, limitLoginFailPerAccountIP, wait, true)
	}
	acct, ok, cerr := c.checkAdmin(ctx, name, req.Password)
	now = c.now()
	failed := cerr == nil && !ok
	c.failIP.end(ak, now, failed)
	c.failPair.end(pk, now, failed)
	switch {
	case errors.Is(cerr, auth.ErrBusy):
		busy = true
		e := reply(http.StatusServiceUnavailable, "busy", "the server is busy checking passwords; try again shortly")
		var ae *auth.Error
		if errors.As(cerr, &ae) {
			e.retryAfter = ae.RetryAfter
		}
		return e
	case cerr != nil:
		c.log.Error("admin: login failed", "err", cerr)
		return errUnavailable
	case !ok:
		c.adminFails.Add(1)
		logName := "(unknown)"
		if acct.ID != 0 {
			logName = acct.Name // an existing account: never a mistyped password
		}
		c.log.Warn("admin login failed", "name", logName, "ip", ip.String())
		return errBadCredentials
	}
	c.failPair.forget(pk)
	if acct.ResetRequired {
		return reply(http.StatusForbidden, "password_reset_required", "an operator reset this account's password: set a new one with the account service first")
	}
	tok, s := c.sess.create(acct, ip.String(), now)
	c.setCookie(w, tok, c.cfg.SessionMaxAge)
	c.audit(s, r, "login", "", "")
	writeJSON(w, http.StatusOK, c.sessionResponse(s))
	return nil
}

// checkAdmin checks name's password in the hashing pool. ok is true only
// for an enabled admin with the right password; acct is the account if it
// exists. Unknown names cost the same hashing work as known ones.
func (c *Console) checkAdmin(ctx context.Context, name, password string) (store.Account, bool, error) {
	acct, err := c.cfg.Store.AccountByName(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Account{}, false, err
	}
	known := err == nil
	h := c.dummy
	if known {
		ph, perr := auth.ParseHash(acct.PasswordHash)
		if perr != nil {
			c.log.Error("admin: unreadable password hash", "account_id", acct.ID, "err", perr)
			known = false
		} else {
			h = ph
		}
	}
	if len(password) > auth.MaxPasswordLen {
		return acct, false, nil
	}
	match, err := c.cfg.HashPool.Matches(ctx, h, password)
	if err != nil {
		return acct, false, err
	}
	return acct, known && match && acct.IsAdmin() && !acct.Disabled, nil
}

func (c *Console) handleLogout(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	c.sess.remove(s)
	c.setCookie(w, "", -1)
	c.audit(s, r, "logout", "", "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *Console) handleSession(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	writeJSON(w, http.StatusOK, c.sessionResponse(s))
	return nil
}

// acquireStream counts an event stream against the caps.
func (c *Console) acquireStream(s *session) bool {
	c.streamMu.Lock()
	defer c.streamMu.Unlock()
	if c.streams >= MaxEventStreams || s.streams >= MaxEventStreamsPerSession {
		return false
	}
	c.streams++
	s.streams++
	return true
}

func (c *Console) releaseStream(s *session) {
	c.streamMu.Lock()
	c.streams--
	s.streams--
	c.streamMu.Unlock()
}

// historyEvent is the first event of a stream: the kept samples.
type historyEvent struct {
	Samples []Sample `json:"samples"`
}

// handleEvents streams the samples: one "history" event, then a "sample"
// event a second, until the client goes, the session ends ("logout"
// event) or the console closes.
func (c *Console) handleEvents(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	if !c.acquireStream(s) {
		return reply(http.StatusTooManyRequests, "too_many_streams", "too many open event streams")
	}
	defer c.releaseStream(s)
	rc := http.NewResponseController(w)
	// The server's read and write timeouts would end the stream: this
	// handler sets its own write deadline for every event.
	rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, data []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(EventWriteTimeout))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	js, _ := json.Marshal(historyEvent{Samples: c.sm.history()})
	if !send("history", js) {
		return nil
	}
	for {
		ch, _ := c.sm.wait()
		select {
		case <-r.Context().Done():
			return nil
		case <-c.ctx.Done():
			return nil
		case <-ch:
		}
		now := c.now()
		if !c.sess.alive(s, now) {
			send("logout", []byte(`{}`))
			return nil
		}
		c.sess.touch(s, now)
		_, latest := c.sm.wait()
		if !send("sample", latest) {
			return nil
		}
	}
}

// PlayerInfo is one open connection in the players table.
type PlayerInfo struct {
	ConnID    uint64    `json:"conn_id"`
	PlayerID  uint64    `json:"player_id"` // 0 before login
	Name      string    `json:"name"`      // "" before login
	Addr      string    `json:"addr"`      // the client's IP address
	Transport string    `json:"transport"`
	Encoding  string    `json:"encoding"`
	Since     time.Time `json:"since"`
	BytesIn   uint64    `json:"bytes_in"`
	BytesOut  uint64    `json:"bytes_out"`
	InRate    float64   `json:"in_rate"`  // bytes per second over the last sample
	OutRate   float64   `json:"out_rate"` // bytes per second over the last sample
	// RTT is the TCP round-trip time in milliseconds (server.SessionInfo.RTT,
	// at most server.RTTRefresh old); 0 when unknown.
	RTT   float64 `json:"rtt_ms"`
	Guest bool    `json:"guest"`
}

func (c *Console) handlePlayers(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	players := c.sm.lastPlayers()
	if players == nil { // before the first sample
		for _, si := range c.cfg.Server.Sessions() {
			players = append(players, PlayerInfo{ConnID: si.ConnID, PlayerID: si.PlayerID, Name: si.Name, Addr: hostOf(si.Addr),
				Transport: si.Transport, Encoding: si.Encoding, Since: si.Since.UTC(), BytesIn: si.BytesIn, BytesOut: si.BytesOut,
				RTT: millis(si.RTT), Guest: strings.HasPrefix(si.Name, guestPrefix)})
		}
	}
	if players == nil {
		players = []PlayerInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"players": players})
	return nil
}

// cleanText checks an operator's free text: 1..n bytes of printable
// characters.
func cleanText(s string, n int, what string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > n {
		return "", reply(http.StatusBadRequest, "bad_"+what, fmt.Sprintf("the %s must be 1-%d bytes", what, n))
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", reply(http.StatusBadRequest, "bad_"+what, "the "+what+" must be printable text")
		}
	}
	return s, nil
}

// KickRequest is the body of POST /api/kick.
type KickRequest struct {
	ConnID uint64 `json:"conn_id"`
	Reason string `json:"reason"`
}

func (c *Console) findSession(connID uint64) (server.SessionInfo, bool) {
	for _, si := range c.cfg.Server.Sessions() {
		if si.ConnID == connID {
			return si, true
		}
	}
	return server.SessionInfo{}, false
}

func (c *Console) handleKick(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	var req KickRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	reason, err := cleanText(req.Reason, MaxKickReasonLen, "reason")
	if err != nil {
		return err
	}
	si, found := c.findSession(req.ConnID)
	if !found {
		return reply(http.StatusNotFound, "no_session", "no such connection (it may have closed)")
	}
	if err := c.cfg.Server.Kick(req.ConnID, "kicked: "+reason); err != nil {
		if errors.Is(err, server.ErrNoSession) {
			return reply(http.StatusNotFound, "no_session", "no such connection (it may have closed)")
		}
		return err
	}
	c.audit(s, r, "kick", playerTarget(si), reason)
	writeJSON(w, http.StatusOK, map[string]any{"kicked": req.ConnID})
	return nil
}

func playerTarget(si server.SessionInfo) string {
	name := si.Name
	if name == "" {
		name = "(not logged in)"
	}
	return fmt.Sprintf("%s conn %d %s", name, si.ConnID, hostOf(si.Addr))
}

// BanInfo is one active ban.
type BanInfo struct {
	IP        string    `json:"ip"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Offences  int       `json:"offences"`
	// Enforced is false for an allow-listed address, which the guard
	// never refuses.
	Enforced bool `json:"enforced"`
}

func (c *Console) banInfo(b store.Ban) BanInfo {
	return BanInfo{IP: b.IP.String(), Reason: b.Reason, CreatedAt: b.CreatedAt.UTC(), ExpiresAt: b.ExpiresAt.UTC(),
		Offences: b.Offences, Enforced: c.cfg.Guard.Admit(b.IP) != nil}
}

var errNoGuard = reply(http.StatusNotImplemented, "no_bans", "this server has no ban guard")

func (c *Console) handleBans(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	if c.cfg.Guard == nil {
		return errNoGuard
	}
	out := []BanInfo{}
	for _, b := range c.cfg.Guard.Bans() {
		out = append(out, c.banInfo(b))
	}
	writeJSON(w, http.StatusOK, map[string]any{"bans": out})
	return nil
}

// BanRequest is the body of POST /api/ban.
type BanRequest struct {
	IP string `json:"ip"`
	// Duration is a Go duration ("30m", "24h"); empty for the guard's
	// escalating schedule.
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

func parseIP(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, reply(http.StatusBadRequest, "bad_ip", "not an IP address")
	}
	return ip.Unmap().WithZone(""), nil
}

func (c *Console) handleBan(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	if c.cfg.Guard == nil {
		return errNoGuard
	}
	var req BanRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ip, err := parseIP(req.IP)
	if err != nil {
		return err
	}
	var d time.Duration
	if strings.TrimSpace(req.Duration) != "" {
		d, err = time.ParseDuration(strings.TrimSpace(req.Duration))
		if err != nil || d < MinBanDuration || d > MaxBanDuration {
			return reply(http.StatusBadRequest, "bad_duration", fmt.Sprintf("the duration must be like 30m or 24h, %v to %v", MinBanDuration, MaxBanDuration))
		}
	}
	reason, err := cleanText(req.Reason, MaxBanReasonLen, "reason")
	if err != nil {
		return err
	}
	if strings.ContainsAny(reason, `="`) {
		// The reason goes into the "tickwire ban" log line after ip=: text
		// like ip=<another address> in it could mislead a log parser such
		// as fail2ban.
		return reply(http.StatusBadRequest, "bad_reason", `a ban reason may not contain = or "`)
	}
	b, err := c.cfg.Guard.Ban(ctx, ip, d, reason)
	if err != nil {
		return err
	}
	info := c.banInfo(b)
	detail := fmt.Sprintf("%s until %s: %s", b.ExpiresAt.Sub(b.CreatedAt).Round(time.Second), b.ExpiresAt.UTC().Format(time.RFC3339), reason)
	if !info.Enforced {
		detail += " (allow-listed: not enforced)"
	}
	c.audit(s, r, "ban", ip.String(), detail)
	writeJSON(w, http.StatusOK, info)
	return nil
}

// UnbanRequest is the body of POST /api/unban.
type UnbanRequest struct {
	IP string `json:"ip"`
	// Forget also clears the address's offence history.
	Forget bool `json:"forget"`
}

func (c *Console) handleUnban(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	if c.cfg.Guard == nil {
		return errNoGuard
	}
	var req UnbanRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ip, err := parseIP(req.IP)
	if err != nil {
		return err
	}
	if err := c.cfg.Guard.Unban(ctx, ip, req.Forget); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return reply(http.StatusNotFound, "not_banned", "that address is not banned")
		}
		return err
	}
	detail := ""
	if req.Forget {
		detail = "offence history cleared"
	}
	c.audit(s, r, "unban", ip.String(), detail)
	writeJSON(w, http.StatusOK, map[string]string{"unbanned": ip.String()})
	return nil
}

// SecurityResponse answers GET /api/security.
type SecurityResponse struct {
	Strikes []Strike      `json:"strikes"` // newest first
	ByAddr  []AddrStrikes `json:"by_addr"` // in the last 10 minutes
	Totals  struct {
		Strikes         uint64 `json:"strikes"`
		StrikeBans      uint64 `json:"strike_bans"`
		BansLogged      uint64 `json:"bans_logged"`
		AuthLoginFailed uint64 `json:"auth_login_failed"`
		AuthRateLimited uint64 `json:"auth_rate_limited"`
		AdminLoginFail  uint64 `json:"admin_login_failed"`
		Refused         uint64 `json:"refused"`
		RateLimited     uint64 `json:"rate_limited"`
	} `json:"totals"`
	Feed bool `json:"feed"` // a StrikeLog is installed
	Logs bool `json:"logs"` // a LogRing is installed (auth counts)
}

func (c *Console) handleSecurity(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	var out SecurityResponse
	out.Strikes, out.ByAddr = []Strike{}, []AddrStrikes{}
	if sl := c.cfg.Strikes; sl != nil {
		out.Feed = true
		out.Strikes = sl.Recent(MaxStrikesShown)
		out.ByAddr = sl.ByAddr(MaxStrikesShown)
		out.Totals.Strikes, out.Totals.StrikeBans = sl.Totals()
	}
	if lr := c.cfg.Logs; lr != nil {
		out.Logs = true
		out.Totals.BansLogged = lr.Count(CountedMessages[0])
		out.Totals.AuthLoginFailed = lr.Count(MsgAuthLoginFailed)
		out.Totals.AuthRateLimited = lr.Count(MsgAuthRateLimited)
	}
	out.Totals.AdminLoginFail = c.adminFails.Load()
	st := c.cfg.Server.Stats()
	out.Totals.Refused, out.Totals.RateLimited = st.Refused, st.RateLimited
	writeJSON(w, http.StatusOK, out)
	return nil
}

// AccountInfo is one account in the accounts list.
type AccountInfo struct {
	ID            int64     `json:"id"`
	Name          string    `json:"name"`
	Role          string    `json:"role"`
	Disabled      bool      `json:"disabled"`
	ResetRequired bool      `json:"reset_required"`
	CreatedAt     time.Time `json:"created_at"`
	LastLoginAt   time.Time `json:"last_login_at"`
	Online        bool      `json:"online"`
}

func pageSize(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return DefaultPageSize
	}
	return min(n, store.MaxPageSize)
}

func (c *Console) onlineNames() map[string]bool {
	on := map[string]bool{}
	for _, p := range c.sm.lastPlayers() {
		if p.Name != "" {
			on[p.Name] = true
		}
	}
	return on
}

func (c *Console) handleAccounts(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	list, err := c.cfg.Store.SearchAccounts(ctx, store.AccountQuery{Contains: q.Get("q"), After: q.Get("after"), Limit: pageSize(q.Get("limit"))})
	if err != nil {
		c.log.Error("admin: database error", "op", "search_accounts", "err", err)
		return errUnavailable
	}
	on := c.onlineNames()
	out := make([]AccountInfo, 0, len(list))
	for _, a := range list {
		out = append(out, AccountInfo{ID: a.ID, Name: a.Name, Role: a.Role, Disabled: a.Disabled, ResetRequired: a.ResetRequired,
			CreatedAt: a.CreatedAt, LastLoginAt: a.LastLoginAt, Online: on[a.Name]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
	return nil
}

// AccountRequest is the body of POST /api/accounts/disable, enable and
// reset.
type AccountRequest struct {
	Name string `json:"name"`
}

// kickAccount ends the live sessions of the player called name.
func (c *Console) kickAccount(name, reason string) int {
	// Through the tick, so a seat held after a drop is released too: a
	// disabled account must not come back with RESUME.
	ctx, cancel := context.WithTimeout(context.Background(), kickTimeout)
	defer cancel()
	n, err := c.cfg.Server.KickPlayer(ctx, name, reason)
	if err != nil {
		c.log.Warn("admin: ending the account's seats", "account", name, "err", err)
	}
	return n
}

// kickTimeout bounds the wait for the tick that ends an account's seats.
const kickTimeout = 5 * time.Second

// tempPasswordAlphabet has no look-alike characters (0/o, 1/l/i).
const tempPasswordAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

func tempPassword() string {
	b := make([]byte, TempPasswordLen)
	for i := range b {
		var x [1]byte
		for {
			randRead(x[:])
			// Rejection sampling keeps the characters uniform.
			if int(x[0]) < 256-256%len(tempPasswordAlphabet) {
				break
			}
		}
		b[i] = tempPasswordAlphabet[int(x[0])%len(tempPasswordAlphabet)]
	}
	return string(b)
}

func (c *Console) handleAccountState(action string) handlerFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
		var req AccountRequest
		if err := decode(w, r, &req); err != nil {
			return err
		}
		name, err := auth.NormalizeName(req.Name)
		if err != nil || strings.HasPrefix(name, auth.GuestUser) {
			return reply(http.StatusNotFound, "no_account", "no such account (guests have none)")
		}
		acct, err := c.cfg.Store.AccountByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return reply(http.StatusNotFound, "no_account", "no such account (guests have none)")
		}
		if err != nil {
			c.log.Error("admin: database error", "op", "account_by_name", "err", err)
			return errUnavailable
		}
		if acct.IsAdmin() {
			// A stolen console session must not lock the other admins
			// out: admins are managed with "tickwire admin".
			return reply(http.StatusForbidden, "is_admin", "admin accounts are managed with the tickwire admin command")
		}
		resp := map[string]any{"name": acct.Name}
		detail := ""
		switch action {
		case "disable":
			if err := c.cfg.Store.SetDisabled(ctx, acct.ID, true); err != nil {
				c.log.Error("admin: database error", "op", "disable", "err", err)
				return errUnavailable
			}
			if n := c.kickAccount(acct.Name, "account_disabled"); n > 0 {
				detail = fmt.Sprintf("%d live session(s) ended", n)
			}
			resp["disabled"] = true
		case "enable":
			if err := c.cfg.Store.SetDisabled(ctx, acct.ID, false); err != nil {
				c.log.Error("admin: database error", "op", "enable", "err", err)
				return errUnavailable
			}
			resp["disabled"] = false
		case "reset":
			pw := tempPassword()
			enc, err := c.cfg.HashPool.Hash(ctx, pw, c.cfg.Params)
			if errors.Is(err, auth.ErrBusy) {
				return reply(http.StatusServiceUnavailable, "busy", "the server is busy hashing passwords; try again shortly")
			}
			if err != nil {
				return err
			}
			if err := c.cfg.Store.ForcePasswordReset(ctx, acct.ID, enc, c.now()); err != nil {
				c.log.Error("admin: database error", "op", "force_reset", "err", err)
				return errUnavailable
			}
			if n := c.kickAccount(acct.Name, "password_reset"); n > 0 {
				detail = fmt.Sprintf("%d live session(s) ended", n)
			}
			// Shown once to the operator, never logged or stored.
			resp["temp_password"] = pw
		}
		c.audit(s, r, action, acct.Name, detail)
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
}

// AuditInfo is one audit entry.
type AuditInfo struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
	Addr   string    `json:"addr"`
}

func (c *Console) handleAudit(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	list, err := c.cfg.Store.ListAudit(ctx, store.AuditQuery{BeforeID: before, Actor: q.Get("actor"), Action: q.Get("action"),
		Target: q.Get("target"), Limit: pageSize(q.Get("limit"))})
	if err != nil {
		c.log.Error("admin: database error", "op", "list_audit", "err", err)
		return errUnavailable
	}
	out := make([]AuditInfo, 0, len(list))
	for _, e := range list {
		out = append(out, AuditInfo(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
	return nil
}

func (c *Console) handleLogs(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	if c.cfg.Logs == nil {
		writeJSON(w, http.StatusOK, map[string]any{"records": []LogRecord{}, "available": false})
		return nil
	}
	q := r.URL.Query()
	level := slog.LevelWarn
	if v := q.Get("level"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return reply(http.StatusBadRequest, "bad_level", "level must be debug, info, warn or error")
		}
	}
	after, _ := strconv.ParseUint(q.Get("after"), 10, 64)
	recs := c.cfg.Logs.Records(LogFilter{MinLevel: level, Contains: q.Get("q"), AfterSeq: after, Limit: pageSize(q.Get("limit"))})
	if recs == nil {
		recs = []LogRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs, "available": true})
	return nil
}

func (c *Console) handleZones(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) error {
	zs, ok := c.cfg.Game.(ZoneStater)
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"available": false, "zones": []ZoneStat{}})
		return nil
	}
	var zones []ZoneStat
	err := c.cfg.Server.Call(ctx, func(*server.Tick) { zones = append(zones, zs.ZoneStats()...) })
	if err != nil {
		return reply(http.StatusServiceUnavailable, "busy", "the game did not answer in time")
	}
	sort.Slice(zones, func(i, j int) bool { return zones[i].ID < zones[j].ID })
	if zones == nil {
		zones = []ZoneStat{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"available": true, "zones": zones, "at": c.now().UnixMilli()})
	return nil
}
