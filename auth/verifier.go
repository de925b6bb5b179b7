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
	// HashConcurrency, HashMemoryBudget (bytes) and HashQueue size the
	// password-hashing pool of plain-password mode, as in Config (defaults
	// 1, 64 MiB, 32). Token logins never hash. A login that finds the pool
	// busy fails with ErrBusy.
	HashConcurrency  int
	HashMemoryBudget int64
	HashQueue        int
	// HashPool, if set, is used instead of a pool of the Verifier's own,
	// typically Service.HashPool() so that one bound holds for the whole
	// process; the Hash* fields must then be zero. Default: nil.
	HashPool *HashPool
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
	pool := cfg.HashPool
	if pool == nil {
		var err error
		pc := HashPoolConfig{Concurrency: cfg.HashConcurrency, MemoryBudget: cfg.HashMemoryBudget, Queue: cfg.HashQueue, Params: cfg.Params}
		if pool, err = NewHashPool(pc); err != nil {
			return nil, err
		}
	} else if cfg.HashConcurrency != 0 || cfg.HashMemoryBudget != 0 || cfg.HashQueue != 0 {
		return nil, errors.New("auth: set either VerifierConfig.HashPool or its Hash* fields, not both")
	}
	acct, err := newAccounts(cfg.Store, cfg.Params, cfg.Now, cfg.Logger, pool)
	if err != nil {
		return nil, err
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	v := &Verifier{
		cfg:      cfg,
		log:      cfg.Logger,
		acct:     acct,
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
// are *Error values (ErrBadToken, ErrTokenExpired, ErrWrongUser,
// ErrBadName, ErrBadCredentials, ErrGuestsDisabled, ErrUnavailable, and
// ErrBusy in plain-password mode); Code(err) is the code of "ERR auth
// <code> <message>".
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
		// The name rules are public, so saying the name breaks them
		// reveals nothing about which accounts exist.
		v.log.Info("auth game login failed", ipAttr(remote), "code", ErrBadName.Code)
		return Identity{}, err
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
		case errors.Is(err, store.ErrTokenAccountLocked):
			return store.Account{}, "", ErrAccountDisabled
		case errors.Is(err, store.ErrTokenWrongUser):
			// A live token of another account is certainly not a
			// password, in either mode.
			return store.Account{}, "", ErrWrongUser
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
	if acct.ResetRequired {
		return store.Account{}, "", ErrPasswordResetRequired
	}
	return acct, "password", nil
}
