package auth

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/tickwire/tickwire/store"
)

// VerifierConfig configures a Verifier. Zero fields take the documented
// defaults.
type VerifierConfig struct {
	// Store holds the accounts and tokens. Required.
	Store store.Store
	// Logger receives login events (never secrets). Default: slog.Default().
	Logger *slog.Logger
	// AllowGuests lets "AUTH guest" log in as a guest with a generated
	// name such as "guest-7f3a9c". Default: false.
	AllowGuests bool
	// AllowPlainPasswords lets "AUTH <user> <password>" log in with the
	// account password instead of a token. The password then crosses the
	// unencrypted game connection: for development only. A warning is
	// logged when the Verifier is created. Default: false.
	AllowPlainPasswords bool
	// Params are the argon2id parameters for re-hashing in plain-password
	// mode. Default: DefaultParams.
	Params Params
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Verifier checks game logins. It satisfies the game server's
// Authenticator interface (with Identity converted) and is safe for
// concurrent use.
type Verifier struct {
	cfg  VerifierConfig
	log  *slog.Logger
	acct *accounts

	guestMu   sync.Mutex
	guestNext uint32 // counter fed through a bijection, so names never repeat in a process
	guestMul  uint32
	guestAdd  uint32
}

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Store == nil {
		return nil, errors.New("auth: VerifierConfig.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams
	}
	if err := cfg.Params.check(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	v := &Verifier{
		cfg:      cfg,
		log:      cfg.Logger,
		acct:     newAccounts(cfg.Store, cfg.Params, cfg.Now, cfg.Logger),
		guestMul: binary.LittleEndian.Uint32(seed[:4]) | 1, // odd: invertible modulo 2^n
		guestAdd: binary.LittleEndian.Uint32(seed[4:]),
	}
	if cfg.AllowPlainPasswords {
		v.log.Warn("auth: DEVELOPMENT MODE: plain passwords are accepted on the game port; " +
			"they cross the network unencrypted. Never enable AllowPlainPasswords in production.")
	}
	return v, nil
}

// guestName returns a guest display name unique within this process for
// the first 16.7 million guests: "guest-" and 6 hex digits.
func (v *Verifier) guestName() string {
	const mask = 1<<(4*guestSuffixDigits) - 1
	v.guestMu.Lock()
	n := v.guestNext
	v.guestNext++
	v.guestMu.Unlock()
	x := (n*v.guestMul + v.guestAdd) & mask
	return fmt.Sprintf("%s-%0*x", GuestUser, guestSuffixDigits, x)
}

// Authenticate checks a game login "AUTH <user> <secret>". For user
// "guest" (any case) it returns a guest Identity if guests are allowed.
// Otherwise secret must be a login token issued to user, which is consumed;
// with AllowPlainPasswords it may instead be the account password. Errors
// are *Error values (ErrBadToken, ErrTokenExpired, ErrBadCredentials,
// ErrGuestsDisabled, ErrBadName, ErrUnavailable); Code(err) is the short
// code for "ERR auth <code>".
func (v *Verifier) Authenticate(ctx context.Context, user, secret string, remote netip.Addr) (Identity, error) {
	if strings.EqualFold(user, GuestUser) {
		if !v.cfg.AllowGuests {
			v.log.Info("auth game login failed", ipAttr(remote), "code", ErrGuestsDisabled.Code)
			return Identity{}, ErrGuestsDisabled
		}
		id := Identity{Name: v.guestName(), Guest: true}
		v.log.Info("auth game login", "name", id.Name, ipAttr(remote), "method", "guest")
		return id, nil
	}
	name, err := NormalizeName(user)
	if err != nil {
		v.log.Info("auth game login failed", ipAttr(remote), "code", ErrBadName.Code)
		return Identity{}, ErrBadCredentials.with("unknown account name")
	}
	acct, method, err := v.check(ctx, name, secret)
	if err != nil {
		v.log.Info("auth game login failed", v.acct.nameAttr(ctx, name), ipAttr(remote), "code", Code(err))
		return Identity{}, err
	}
	v.acct.touch(ctx, acct)
	v.log.Info("auth game login", "name", acct.Name, "account_id", acct.ID, ipAttr(remote), "method", method)
	return Identity{AccountID: acct.ID, Name: acct.Name}, nil
}

func (v *Verifier) check(ctx context.Context, name, secret string) (store.Account, string, error) {
	if looksLikeToken(secret) {
		acct, err := v.cfg.Store.ConsumeToken(ctx, name, HashToken(secret), v.cfg.Now())
		switch {
		case err == nil:
			return acct, "token", nil
		case errors.Is(err, store.ErrTokenExpired):
			return store.Account{}, "", ErrTokenExpired
		case errors.Is(err, store.ErrTokenInvalid):
			if !v.cfg.AllowPlainPasswords {
				return store.Account{}, "", ErrBadToken
			}
		default:
			return store.Account{}, "", v.acct.storeErr("consume_token", err)
		}
	}
	if !v.cfg.AllowPlainPasswords {
		return store.Account{}, "", ErrBadToken
	}
	acct, err := v.acct.checkPassword(ctx, name, secret)
	if err != nil {
		return store.Account{}, "", err
	}
	return acct, "password", nil
}
