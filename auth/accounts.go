package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/tickwire/tickwire/store"
)

// MaxConcurrentHashes bounds how many argon2id computations run at once in
// one process (each holds Params.Memory KiB); further logins wait.
const MaxConcurrentHashes = 4

// accounts is the account logic shared by Service and Verifier.
type accounts struct {
	st     store.Store
	params Params
	now    func() time.Time
	log    *slog.Logger
	sem    chan struct{}

	dummyOnce sync.Once
	dummy     Hash // hash of a random password, checked for unknown names
}

func newAccounts(st store.Store, p Params, now func() time.Time, log *slog.Logger) *accounts {
	return &accounts{st: st, params: p, now: now, log: log, sem: make(chan struct{}, MaxConcurrentHashes)}
}

// acquire takes a hashing slot.
func (a *accounts) acquire(ctx context.Context) error {
	select {
	case a.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ErrUnavailable.with("server busy; try again")
	}
}

func (a *accounts) release() { <-a.sem }

func (a *accounts) hash(ctx context.Context, password string) (string, error) {
	if err := a.acquire(ctx); err != nil {
		return "", err
	}
	defer a.release()
	return HashPassword(password, a.params)
}

func (a *accounts) matches(ctx context.Context, h Hash, password string) (bool, error) {
	if err := a.acquire(ctx); err != nil {
		return false, err
	}
	defer a.release()
	return h.Matches(password), nil
}

func (a *accounts) dummyHash() Hash {
	a.dummyOnce.Do(func() {
		tok, _, _ := NewToken()
		enc, err := HashPassword(tok, a.params)
		if err == nil {
			a.dummy, _ = ParseHash(enc)
		}
	})
	return a.dummy
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
			a.matches(ctx, a.dummyHash(), password)
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
	ok, err := a.matches(ctx, h, password)
	if err != nil {
		return store.Account{}, err
	}
	if !ok {
		return store.Account{}, ErrBadCredentials
	}
	if h.NeedsRehash(a.params) {
		if enc, err := a.hash(ctx, password); err == nil {
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
	enc, err := a.hash(ctx, password)
	if err != nil {
		return store.Account{}, err
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
	enc, err := a.hash(ctx, newPassword)
	if err != nil {
		return store.Account{}, err
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
