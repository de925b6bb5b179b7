package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/tickwire/tickwire/store"
)

// accounts is the account logic shared by Service and Verifier.
type accounts struct {
	st     store.Store
	params Params
	now    func() time.Time
	log    *slog.Logger
	pool   *HashPool

	// dummy is checked for unknown names so that they cost the same
	// hashing work (and wait in the same pool) as known ones. It needs no
	// argon2 run to make: a random key under the current parameters
	// matches no password.
	dummy Hash
}

func newAccounts(st store.Store, p Params, now func() time.Time, log *slog.Logger, pool *HashPool) (*accounts, error) {
	salt := make([]byte, p.SaltLen)
	key := make([]byte, p.KeyLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &accounts{st: st, params: p, now: now, log: log, pool: pool, dummy: Hash{Params: p, Salt: salt, Key: key}}, nil
}

// hashErr logs a hashing failure that is not the pool being busy and
// returns ErrUnavailable; ErrBusy passes through.
func (a *accounts) hashErr(op string, err error) error {
	if errors.Is(err, ErrBusy) {
		return err
	}
	a.log.Error("auth: password hashing failed", "op", op, "err", err)
	return ErrUnavailable
}

// storeErr maps a database error to ErrUnavailable, logging it.
func (a *accounts) storeErr(op string, err error) error {
	a.log.Error("auth: database error", "op", op, "err", err)
	return ErrUnavailable
}

// checkPassword returns the account named name (normalised) if password
// is right. Unknown names cost the same hashing work as known ones. A
// correct password stored under old parameters is re-hashed.
func (a *accounts) checkPassword(ctx context.Context, name, password string) (store.Account, error) {
	acct, err := a.st.AccountByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		if len(password) <= MaxPasswordLen {
			// A busy pool answers busy for unknown names too: answering
			// bad_credentials at once would tell them from known ones.
			if _, err := a.pool.Matches(ctx, a.dummy, password); err != nil {
				return store.Account{}, a.hashErr("dummy", err)
			}
		}
		return store.Account{}, ErrBadCredentials
	}
	if err != nil {
		return store.Account{}, a.storeErr("account_by_name", err)
	}
	if len(password) > MaxPasswordLen {
		return store.Account{}, ErrBadCredentials
	}
	h, err := ParseHash(acct.PasswordHash)
	if err != nil {
		a.log.Error("auth: unreadable password hash", "account_id", acct.ID, "err", err)
		return store.Account{}, ErrBadCredentials
	}
	ok, err := a.pool.Matches(ctx, h, password)
	if err != nil {
		return store.Account{}, a.hashErr("verify", err)
	}
	if !ok {
		return store.Account{}, ErrBadCredentials
	}
	if acct.Disabled {
		return store.Account{}, ErrAccountDisabled
	}
	if h.NeedsRehash(a.params) {
		// Best effort: if the pool is busy now, the next login re-hashes.
		if enc, err := a.pool.Hash(ctx, password, a.params); err == nil {
			if err := a.st.UpdatePasswordHash(ctx, acct.ID, enc, a.now()); err != nil {
				a.log.Warn("auth: rehash not saved", "account_id", acct.ID, "err", err)
			} else {
				acct.PasswordHash = enc
				a.log.Info("auth: password re-hashed with current parameters", "account_id", acct.ID)
			}
		}
	}
	return acct, nil
}

func (a *accounts) register(ctx context.Context, rawName, password string) (store.Account, error) {
	name, err := NormalizeName(rawName)
	if err != nil {
		return store.Account{}, err
	}
	if err := CheckPassword(name, password); err != nil {
		return store.Account{}, err
	}
	if _, err := a.st.AccountByName(ctx, name); err == nil {
		return store.Account{}, ErrNameTaken
	}
	enc, err := a.pool.Hash(ctx, password, a.params)
	if err != nil {
		return store.Account{}, a.hashErr("register", err)
	}
	acct, err := a.st.CreateAccount(ctx, name, enc, a.now())
	if errors.Is(err, store.ErrNameTaken) {
		return store.Account{}, ErrNameTaken
	}
	if err != nil {
		return store.Account{}, a.storeErr("create_account", err)
	}
	return acct, nil
}

func (a *accounts) changePassword(ctx context.Context, name, oldPassword, newPassword string) (store.Account, error) {
	acct, err := a.checkPassword(ctx, name, oldPassword)
	if err != nil {
		return store.Account{}, err
	}
	if err := CheckPassword(name, newPassword); err != nil {
		return store.Account{}, err
	}
	enc, err := a.pool.Hash(ctx, newPassword, a.params)
	if err != nil {
		return store.Account{}, a.hashErr("change_password", err)
	}
	if err := a.st.UpdatePasswordHash(ctx, acct.ID, enc, a.now()); err != nil {
		return store.Account{}, a.storeErr("update_password", err)
	}
	return acct, nil
}

func (a *accounts) issueToken(ctx context.Context, acct store.Account, ttl time.Duration) (string, time.Time, error) {
	tok, h, err := NewToken()
	if err != nil {
		return "", time.Time{}, err
	}
	now := a.now()
	// The store keeps milliseconds; report what it keeps.
	exp := time.UnixMilli(now.Add(ttl).UnixMilli()).UTC()
	if err := a.st.IssueToken(ctx, acct.ID, h, now, exp); err != nil {
		switch {
		case errors.Is(err, store.ErrAccountDisabled):
			return "", time.Time{}, ErrAccountDisabled
		case errors.Is(err, store.ErrPasswordResetRequired):
			return "", time.Time{}, ErrPasswordResetRequired
		}
		return "", time.Time{}, a.storeErr("issue_token", err)
	}
	return tok, exp, nil
}

func (a *accounts) touch(ctx context.Context, acct store.Account) {
	if err := a.st.SetLastLogin(ctx, acct.ID, a.now()); err != nil {
		a.log.Warn("auth: last login not saved", "account_id", acct.ID, "err", err)
	}
}

// nameAttr returns the name attribute for the log line of a failed
// attempt: the name only if such an account exists. An unknown "name" may be
// a password typed into the wrong field, and must not be logged.
func (a *accounts) nameAttr(ctx context.Context, raw string) slog.Attr {
	name, err := NormalizeName(raw)
	if err == nil {
		if _, err = a.st.AccountByName(ctx, name); err == nil {
			return slog.String("name", name)
		}
	}
	return slog.String("name", "(unknown)")
}

// ipAttr formats an address for logs.
func ipAttr(ip netip.Addr) slog.Attr {
	if !ip.IsValid() {
		return slog.String("ip", "")
	}
	return slog.String("ip", ip.Unmap().String())
}
