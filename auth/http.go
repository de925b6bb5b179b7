package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tickwire/tickwire/store"
)

// corsMaxAge is how long a browser may cache a CORS preflight answer.
const corsMaxAge = 10 * time.Minute

// HTTP-only errors.
var (
	errNotFound = &Error{Code: "not_found", Message: "no such endpoint", Status: http.StatusNotFound}
	errMethod   = &Error{Code: "method_not_allowed", Message: "method not allowed", Status: http.StatusMethodNotAllowed}
	errTooLarge = &Error{Code: "too_large", Message: "request body too large", Status: http.StatusRequestEntityTooLarge}
	errOrigin   = &Error{Code: "origin_not_allowed", Message: "this origin may not call the auth service", Status: http.StatusForbidden}
)

// Request and response bodies of the HTTP API.
type (
	// RegisterRequest is the body of POST /v1/register.
	RegisterRequest struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	// RegisterResponse is the answer to a successful registration (201).
	RegisterResponse struct {
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"created_at"`
	}
	// LoginRequest is the body of POST /v1/login.
	LoginRequest struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	// LoginResponse carries a one-time game login token.
	LoginResponse struct {
		Name      string    `json:"name"`
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
		ExpiresIn int       `json:"expires_in"` // seconds
		GameAddr  string    `json:"game_addr,omitempty"`
	}
	// PasswordRequest is the body of POST /v1/password.
	PasswordRequest struct {
		Name        string `json:"name"`
		OldPassword string `json:"old_password"`
		NewPassword string `json:"new_password"`
	}
	// StatusResponse is the answer of /healthz and /v1/password.
	StatusResponse struct {
		Status string `json:"status"`
	}
	// ErrorResponse is the body of every error answer.
	ErrorResponse struct {
		Error ErrorBody `json:"error"`
	}
	// ErrorBody holds the Code and Message of an *Error.
	ErrorBody struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
)

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/register", s.post(s.handleRegister))
	mux.HandleFunc("/v1/login", s.post(s.handleLogin))
	mux.HandleFunc("/v1/password", s.post(s.handlePassword))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, errMethod)
			return
		}
		writeJSON(w, http.StatusOK, StatusResponse{Status: "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, errNotFound) })
	return s.middleware(mux)
}

// middleware applies the headers, CORS and the ban check to every request.
func (s *Service) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Strict-Transport-Security", "max-age=31536000")
		if origin := r.Header.Get("Origin"); origin != "" {
			h.Add("Vary", "Origin")
			if !s.anyOrig && !s.origins[origin] {
				writeError(w, errOrigin)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type")
				h.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge.Seconds())))
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if s.cfg.Guard != nil && r.URL.Path != "/healthz" {
			if err := s.cfg.Guard.Admit(s.cfg.TrustedProxies.ClientAddr(r)); err != nil {
				writeError(w, ErrBanned)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// post wraps a JSON POST handler: method check, body limit, timeout.
func (s *Service) post(fn func(ctx context.Context, w http.ResponseWriter, r *http.Request, ip netip.Addr) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST, OPTIONS")
			writeError(w, errMethod)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), s.requestTimeout)
		defer cancel()
		if err := fn(ctx, w, r, s.cfg.TrustedProxies.ClientAddr(r)); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				s.log.Error("auth: request failed", "path", r.URL.Path, "err", err)
				e = ErrUnavailable
			}
			if e.RetryAfter > 0 || e.Code == ErrRateLimited.Code || e.Code == ErrBusy.Code {
				secs := int(math.Ceil(e.RetryAfter.Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			}
			writeError(w, e)
		}
	}
}

// decode reads exactly one JSON object with only known fields into v.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		msg := "request body must be one JSON object"
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			msg = "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
		}
		return ErrBadRequest.with(msg)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return ErrBadRequest.with("request body must hold a single JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, ErrorResponse{Error: ErrorBody{Code: e.Code, Message: e.Message}})
}

// Names of the limits in "auth rate limited" log lines.
const (
	limitLoginPerIP            = "login_per_ip"
	limitLoginFailPerIP        = "login_failures_per_ip"
	limitLoginFailPerAccountIP = "login_failures_per_account_ip"
	limitLoginFailPerAccount   = "login_failures_per_account"
	limitRegisterPerIP         = "register_per_ip"
)

// refuse answers a request over a limit: 429 rate_limited with
// Retry-After wait. strike is true only when the address's own failures
// spent the limit: a 429 is never a strike against an address that did
// not itself fail.
func (s *Service) refuse(ip netip.Addr, limit string, wait time.Duration, strike bool) error {
	s.log.Warn("auth rate limited", ipAttr(ip), "limit", limit, "retry_after", wait.Round(time.Second).String(), "strike", strike)
	if strike && s.cfg.Guard != nil {
		s.cfg.Guard.Strike(ip, "rate_limited")
	}
	e := *ErrRateLimited
	e.RetryAfter = wait
	return &e
}

// guardedAttempt runs check, a password check for the account rawName
// from ip, under the login limits (docs/AUTH.md, "Rate limits"). Only
// failures count against the failure limits: check failing with
// ErrBadCredentials is a failure; success, busy and other errors are not.
// An invalid name is a failure of the address (it cannot name an account).
func (s *Service) guardedAttempt(rawName string, ip netip.Addr, check func(name string) error) (err error) {
	now := s.cfg.Now()
	ak := addrKey(ip)
	if ok, wait := s.loginIP.begin(ak, now); !ok {
		return s.refuse(ip, limitLoginPerIP, wait, false)
	}
	// A busy answer did no work: it costs no request token, so a client
	// that retries after Retry-After is not then refused for volume.
	defer func() { s.loginIP.end(ak, s.cfg.Now(), !errors.Is(err, ErrBusy)) }()
	if ok, wait := s.failIP.begin(ak, now); !ok {
		return s.refuse(ip, limitLoginFailPerIP, wait, true)
	}
	name, err := NormalizeName(rawName)
	if err != nil {
		s.failIP.end(ak, now, true)
		return ErrBadCredentials
	}
	// Names cannot hold spaces, so "name addr" keys cannot collide.
	pk := name + " " + ak
	if ok, wait := s.failPair.begin(pk, now); !ok {
		s.failIP.end(ak, now, false)
		return s.refuse(ip, limitLoginFailPerAccountIP, wait, true)
	}
	// The account-wide limit refuses only addresses that themselves failed
	// on this account recently. An address with a clean record always gets
	// its password checked, so the owner cannot be locked out from
	// elsewhere, while each attacking address gets one guess per
	// LoginFailRecent once the account is under attack.
	if last := s.failPair.lastFailure(pk); !last.IsZero() && now.Sub(last) < s.cfg.LoginFailRecent {
		if ok, wait := s.failAcct.available(name, now); !ok {
			s.failIP.end(ak, now, false)
			s.failPair.end(pk, now, false)
			return s.refuse(ip, limitLoginFailPerAccount, min(wait, s.cfg.LoginFailRecent-now.Sub(last)), false)
		}
	}
	err = check(name)
	failed := errors.Is(err, ErrBadCredentials)
	now = s.cfg.Now()
	s.failIP.end(ak, now, failed)
	s.failPair.end(pk, now, failed)
	switch {
	case failed:
		s.failAcct.fail(name, now)
	case err == nil:
		// The address knows the password: its typos on this account
		// are forgiven.
		s.failPair.forget(pk)
	}
	return err
}

func (s *Service) handleRegister(ctx context.Context, w http.ResponseWriter, r *http.Request, ip netip.Addr) error {
	var req RegisterRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	// The rules are checked before the rate limit so that a player fixing
	// a too-short password does not use up attempts.
	name, err := NormalizeName(req.Name)
	if err == nil {
		err = CheckPassword(name, req.Password)
	}
	ak := addrKey(ip)
	if err == nil {
		if ok, wait := s.registerIP.begin(ak, s.cfg.Now()); !ok {
			err = s.refuse(ip, limitRegisterPerIP, wait, false)
		}
	}
	if err != nil {
		s.log.Info("auth register failed", ipAttr(ip), "code", Code(err))
		return err
	}
	acct, err := s.acct.register(ctx, name, req.Password)
	// A busy answer created nothing and costs no registration; nor does a
	// name that is taken (checked before any hashing, so it costs one
	// database read): a person trying names must not be locked out.
	s.registerIP.end(ak, s.cfg.Now(), !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNameTaken))
	if err != nil {
		// The name is not logged: it may hold a mistyped password.
		s.log.Info("auth register failed", ipAttr(ip), "code", Code(err))
		return err
	}
	s.log.Info("auth register", "name", acct.Name, "account_id", acct.ID, ipAttr(ip))
	writeJSON(w, http.StatusCreated, RegisterResponse{Name: acct.Name, CreatedAt: acct.CreatedAt})
	return nil
}

func (s *Service) handleLogin(ctx context.Context, w http.ResponseWriter, r *http.Request, ip netip.Addr) error {
	var req LoginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var acct store.Account
	err := s.guardedAttempt(req.Name, ip, func(name string) (err error) {
		acct, err = s.acct.checkPassword(ctx, name, req.Password)
		return err
	})
	if err == nil && acct.ResetRequired {
		err = ErrPasswordResetRequired
	}
	if err != nil {
		s.log.Info("auth login failed", s.acct.nameAttr(ctx, req.Name), ipAttr(ip), "code", Code(err))
		return err
	}
	tok, exp, err := s.acct.issueToken(ctx, acct, s.cfg.TokenTTL)
	if err != nil {
		return err
	}
	s.log.Info("auth login", "name", acct.Name, "account_id", acct.ID, ipAttr(ip), "token_expires", exp.Format(time.RFC3339))
	gameAddr := s.cfg.GameAddr
	if s.cfg.LocateGame != nil {
		if a := s.cfg.LocateGame(ctx); a != "" {
			gameAddr = a
		}
	}
	writeJSON(w, http.StatusOK, LoginResponse{
		Name:      acct.Name,
		Token:     tok,
		ExpiresAt: exp,
		ExpiresIn: int(s.cfg.TokenTTL.Seconds()),
		GameAddr:  gameAddr,
	})
	return nil
}

func (s *Service) handlePassword(ctx context.Context, w http.ResponseWriter, r *http.Request, ip netip.Addr) error {
	var req PasswordRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var acct store.Account
	err := s.guardedAttempt(req.Name, ip, func(name string) (err error) {
		acct, err = s.acct.changePassword(ctx, name, req.OldPassword, req.NewPassword)
		return err
	})
	if err != nil {
		s.log.Info("auth password change failed", s.acct.nameAttr(ctx, req.Name), ipAttr(ip), "code", Code(err))
		return err
	}
	s.log.Info("auth password changed", "name", acct.Name, "account_id", acct.ID, ipAttr(ip))
	writeJSON(w, http.StatusOK, StatusResponse{Status: "password_changed"})
	return nil
}
