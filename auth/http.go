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
			if err := s.cfg.Guard.Admit(remoteIP(r)); err != nil {
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
		ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
		defer cancel()
		if err := fn(ctx, w, r, remoteIP(r)); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				s.log.Error("auth: request failed", "path", r.URL.Path, "err", err)
				e = ErrUnavailable
			}
			if e.Code == ErrRateLimited.Code {
				secs := int(math.Ceil(e.RetryAfter.Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			}
			writeError(w, e)
		}
	}
}

func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
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

// limit takes one attempt from l for key, striking the client if refused.
func (s *Service) limit(l *keyedLimiter, key string, ip netip.Addr, what string) error {
	ok, wait := l.allow(key, s.cfg.Now())
	if ok {
		return nil
	}
	s.log.Warn("auth rate limited", ipAttr(ip), "limit", what, "retry_after", wait.Round(time.Second).String())
	if s.cfg.Guard != nil {
		s.cfg.Guard.Strike(ip, "rate_limited")
	}
	e := *ErrRateLimited
	e.RetryAfter = wait
	return &e
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
	if err == nil {
		err = s.limit(s.registerIP, ip.String(), ip, "register_per_ip")
	}
	if err != nil {
		s.log.Info("auth register failed", ipAttr(ip), "code", Code(err))
		return err
	}
	acct, err := s.acct.register(ctx, name, req.Password)
	if err != nil {
		// The name is not logged: it may hold a mistyped password.
		s.log.Info("auth register failed", ipAttr(ip), "code", Code(err))
		return err
	}
	s.log.Info("auth register", "name", acct.Name, "account_id", acct.ID, ipAttr(ip))
	writeJSON(w, http.StatusCreated, RegisterResponse{Name: acct.Name, CreatedAt: acct.CreatedAt})
	return nil
}

// loginLimits applies the per-address and per-account limits and returns
// the normalised name.
func (s *Service) loginLimits(rawName string, ip netip.Addr) (string, error) {
	if err := s.limit(s.loginIP, ip.String(), ip, "login_per_ip"); err != nil {
		return "", err
	}
	name, err := NormalizeName(rawName)
	if err != nil {
		return "", ErrBadCredentials
	}
	if err := s.limit(s.loginAcct, name, ip, "login_per_account"); err != nil {
		return "", err
	}
	return name, nil
}

func (s *Service) handleLogin(ctx context.Context, w http.ResponseWriter, r *http.Request, ip netip.Addr) error {
	var req LoginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name, err := s.loginLimits(req.Name, ip)
	if err != nil {
		s.log.Info("auth login failed", s.acct.nameAttr(ctx, req.Name), ipAttr(ip), "code", Code(err))
		return err
	}
	acct, err := s.acct.checkPassword(ctx, name, req.Password)
	if err != nil {
		s.log.Info("auth login failed", s.acct.nameAttr(ctx, name), ipAttr(ip), "code", Code(err))
		return err
	}
	tok, exp, err := s.acct.issueToken(ctx, acct, s.cfg.TokenTTL)
	if err != nil {
		return err
	}
	s.log.Info("auth login", "name", acct.Name, "account_id", acct.ID, ipAttr(ip), "token_expires", exp.Format(time.RFC3339))
	writeJSON(w, http.StatusOK, LoginResponse{
		Name:      acct.Name,
		Token:     tok,
		ExpiresAt: exp,
		ExpiresIn: int(s.cfg.TokenTTL.Seconds()),
		GameAddr:  s.cfg.GameAddr,
	})
	return nil
}

func (s *Service) handlePassword(ctx context.Context, w http.ResponseWriter, r *http.Request, ip netip.Addr) error {
	var req PasswordRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name, err := s.loginLimits(req.Name, ip)
	if err != nil {
		s.log.Info("auth password change failed", s.acct.nameAttr(ctx, req.Name), ipAttr(ip), "code", Code(err))
		return err
	}
	acct, err := s.acct.changePassword(ctx, name, req.OldPassword, req.NewPassword)
	if err != nil {
		s.log.Info("auth password change failed", s.acct.nameAttr(ctx, name), ipAttr(ip), "code", Code(err))
		return err
	}
	s.log.Info("auth password changed", "name", acct.Name, "account_id", acct.ID, ipAttr(ip))
	writeJSON(w, http.StatusOK, StatusResponse{Status: "password_changed"})
	return nil
}
