// Package auth manages tickwire player accounts: argon2id password hashing,
// one-time login tokens, the HTTPS account service (register, log in,
// change password) and the Verifier that checks "AUTH <user> <secret>" on
// the game port.
//
// The flow is: a player registers and logs in over HTTPS (Service) and gets
// a short-lived token, then sends "AUTH <name> <token>" on the game
// connection; the game server calls Verifier.Authenticate, which consumes
// the token atomically in the store, so a token works exactly once even
// when several game servers share one database. Passwords never travel over
// the plain game connection unless the development option
// VerifierConfig.AllowPlainPasswords is on.
//
// Every argon2id computation runs in a bounded HashPool, so that a burst
// of logins cannot take the game's CPU and memory; failed logins are
// limited per address and per (account, address) so that nobody can lock
// an owner out of their account (docs/AUTH.md, "Rate limits").
//
// Nothing in this package logs a password, a password hash or a token.
// docs/AUTH.md describes the HTTP API, the name and password rules and the
// deployment options.
package auth

import (
	"errors"
	"net/http"
	"slices"
	"time"
)

// Identity is who a game connection logged in as. The game server converts
// it to its own Identity type, which has the same fields.
type Identity struct {
	AccountID int64  // 0 for guests
	Name      string // unique display name
	Guest     bool
}

// Error is the error type of this package. Code is a short snake_case code
// fit for the game protocol ("ERR auth <code>") and the "code" of HTTP
// error bodies; Message is a human-readable sentence safe to show to the
// player (it never contains a secret). errors.Is matches two *Error values
// with the same Code, so errors.Is(err, ErrBadToken) works for any error
// with code "bad_token".
type Error struct {
	Code    string
	Message string
	// Status is the HTTP status the service answers with.
	Status int
	// RetryAfter is set on rate_limited and busy errors: how long to wait.
	// The HTTP answer carries it as a Retry-After header in whole seconds.
	RetryAfter time.Duration
}

// Error returns the Message.
func (e *Error) Error() string { return e.Message }

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// with returns a copy of e with another message.
func (e *Error) with(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// Sentinel errors. Compare with errors.Is; the returned error may carry a
// more specific Message.
var (
	// ErrBadToken: the token is unknown, forged or already used.
	ErrBadToken = &Error{Code: "bad_token", Message: "invalid or already used login token", Status: http.StatusUnauthorized}
	// ErrTokenExpired: the token was valid but its lifetime is over.
	ErrTokenExpired = &Error{Code: "token_expired", Message: "login token expired; log in again", Status: http.StatusUnauthorized}
	// ErrWrongUser: the token was issued to another account than the one
	// named in AUTH. The token is burnt all the same (whoever sent it knew
	// it). Telling this apart from bad_token reveals nothing to the sender,
	// who holds the token, and tells a client that it sent the wrong name.
	ErrWrongUser = &Error{Code: "wrong_user", Message: "this login token was issued to another account", Status: http.StatusUnauthorized}
	// ErrAccountDisabled: an operator disabled the account (admin console).
	ErrAccountDisabled = &Error{Code: "account_disabled", Message: "this account is disabled", Status: http.StatusForbidden}
	// ErrPasswordResetRequired: an operator reset the password; set a new
	// one (POST /v1/password) before logging in.
	ErrPasswordResetRequired = &Error{Code: "password_reset_required", Message: "set a new password first: your password was reset", Status: http.StatusForbidden}
	// ErrBadCredentials: unknown account or wrong password.
	ErrBadCredentials = &Error{Code: "bad_credentials", Message: "wrong name or password", Status: http.StatusUnauthorized}
	// ErrGuestsDisabled: "AUTH guest" while guests are not allowed.
	ErrGuestsDisabled = &Error{Code: "guests_disabled", Message: "guest logins are disabled on this server", Status: http.StatusForbidden}
	// ErrBadName: the account name breaks the name rules.
	ErrBadName = &Error{Code: "bad_name", Message: "invalid account name", Status: http.StatusBadRequest}
	// ErrBadPassword: the new password breaks the password rules.
	ErrBadPassword = &Error{Code: "bad_password", Message: "invalid password", Status: http.StatusBadRequest}
	// ErrNameTaken: an account with that name exists.
	ErrNameTaken = &Error{Code: "name_taken", Message: "that name is already taken", Status: http.StatusConflict}
	// ErrRateLimited: too many attempts; see Error.RetryAfter.
	ErrRateLimited = &Error{Code: "rate_limited", Message: "too many attempts; try again later", Status: http.StatusTooManyRequests}
	// ErrBusy: every password-hashing slot is taken and the wait queue is
	// full, or the request waited for a slot longer than RequestTimeout;
	// see Error.RetryAfter. Nothing was checked or changed.
	ErrBusy = &Error{Code: "busy", Message: "the server is busy checking passwords; try again shortly", Status: http.StatusServiceUnavailable}
	// ErrBanned: the client's address is banned.
	ErrBanned = &Error{Code: "banned", Message: "your address is banned", Status: http.StatusForbidden}
	// ErrUnavailable: the database failed; the attempt may be retried.
	ErrUnavailable = &Error{Code: "unavailable", Message: "service temporarily unavailable", Status: http.StatusServiceUnavailable}
	// ErrBadRequest: the HTTP request was malformed.
	ErrBadRequest = &Error{Code: "bad_request", Message: "malformed request", Status: http.StatusBadRequest}
)

// CodeInternal is what Code returns for an error that is not an *Error.
// The package's own functions never return such an error; a caller that
// wraps something else gets this code rather than an empty one.
const CodeInternal = "internal"

// allErrors lists every *Error the package defines, exported or not, so
// that Codes can list their codes; TestErrorCodesDocumented checks that no
// Error literal in the package is missing from it.
var allErrors = []*Error{
	ErrBadToken, ErrTokenExpired, ErrWrongUser, ErrBadCredentials, ErrGuestsDisabled,
	ErrBadName, ErrBadPassword, ErrNameTaken, ErrRateLimited, ErrBusy, ErrBanned,
	ErrUnavailable, ErrBadRequest, errNotFound, errMethod, errTooLarge, errOrigin,
	ErrAccountDisabled, ErrPasswordResetRequired,
}

// Codes returns, sorted, every code Code can return: the Code of every
// *Error this package defines and CodeInternal. docs/AUTH.md's error code
// table lists exactly these (a test checks it).
func Codes() []string {
	codes := []string{CodeInternal}
	for _, e := range allErrors {
		codes = append(codes, e.Code)
	}
	slices.Sort(codes)
	return slices.Compact(codes)
}

// Code returns the short code of err for the game protocol ("ERR auth
// <code> <message>") and HTTP error bodies: the Code of an *Error in its
// chain, or CodeInternal for anything else.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
