package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/internal/testutil"
	"github.com/tickwire/tickwire/store"
)

// serverIdentity and serverAuthenticator copy the game server's
// interface; serverAdapter shows the conversion serve.go does.
type serverIdentity struct {
	AccountID int64
	Name      string
	Guest     bool
}

type serverAuthenticator interface {
	Authenticate(ctx context.Context, user, secret string, remote netip.Addr) (serverIdentity, error)
}

type serverAdapter struct{ v *Verifier }

func (a serverAdapter) Authenticate(ctx context.Context, user, secret string, remote netip.Addr) (serverIdentity, error) {
	id, err := a.v.Authenticate(ctx, user, secret, remote)
	return serverIdentity(id), err
}

var _ serverAuthenticator = serverAdapter{}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "tickwire.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var localIP = netip.MustParseAddr("127.0.0.1")

// fixture registers alice and issues tokens through the shared account
// logic, with a fake clock.
type fixture struct {
	st    store.Store
	clock *fakeClock
	acct  *accounts
	logs  *testutil.LogBuffer
	log   *slog.Logger
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{st: openStore(t), clock: newClock(), logs: &testutil.LogBuffer{}}
	f.log = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pool, err := NewHashPool(HashPoolConfig{Params: testParams})
	if err != nil {
		t.Fatal(err)
	}
	if f.acct, err = newAccounts(f.st, testParams, f.clock.Now, f.log, pool); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) verifier(t *testing.T, mod func(*VerifierConfig)) *Verifier {
	cfg := VerifierConfig{Store: f.st, Logger: f.log, Params: testParams, Now: f.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *fixture) register(t *testing.T, name, password string) store.Account {
	a, err := f.acct.register(context.Background(), name, password)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *fixture) token(t *testing.T, a store.Account, ttl time.Duration) string {
	tok, _, err := f.acct.issueToken(context.Background(), a, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifierToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v := f.verifier(t, nil)
	alice := f.register(t, "Alice", "alice-password-1")
	f.register(t, "bob", "bob-password-1")

	tok := f.token(t, alice, time.Minute)
	id, err := v.Authenticate(ctx, "ALICE", tok, localIP)
	if err != nil || id != (Identity{AccountID: alice.ID, Name: "alice"}) {
		t.Fatalf("Authenticate = %+v, %v", id, err)
	}
	if a, _ := f.st.AccountByID(ctx, alice.ID); !a.LastLoginAt.Equal(f.clock.Now()) {
		t.Errorf("last login = %v", a.LastLoginAt)
	}
	// Single use.
	if _, err := v.Authenticate(ctx, "alice", tok, localIP); !errors.Is(err, ErrBadToken) || Code(err) != "bad_token" {
		t.Fatalf("reused token: err = %v", err)
	}
	// Expiry.
	tok = f.token(t, alice, time.Minute)
	f.clock.Add(time.Minute)
	if _, err := v.Authenticate(ctx, "alice", tok, localIP); !errors.Is(err, ErrTokenExpired) || Code(err) != "token_expired" {
		t.Fatalf("expired token: err = %v", err)
	}
	// Wrong user: refused as such, and the token is burnt.
	tok = f.token(t, alice, time.Minute)
	if _, err := v.Authenticate(ctx, "bob", tok, localIP); !errors.Is(err, ErrWrongUser) || Code(err) != "wrong_user" {
		t.Fatalf("wrong user: err = %v", err)
	}
	if _, err := v.Authenticate(ctx, "alice", tok, localIP); !errors.Is(err, ErrBadToken) {
		t.Fatalf("token survived wrong-user attempt: err = %v", err)
	}
	// Forged tokens and passwords are refused without plain-password mode.
	forged, _, _ := NewToken()
	for _, secret := range []string{forged, "alice-password-1", "", "x y"} {
		if _, err := v.Authenticate(ctx, "alice", secret, localIP); !errors.Is(err, ErrBadToken) {
			t.Errorf("secret %q: err = %v, want ErrBadToken", secret, err)
		}
	}
	if _, err := v.Authenticate(ctx, "no such user!", forged, localIP); !errors.Is(err, ErrBadName) || Code(err) != "bad_name" {
		t.Errorf("bad name: err = %v", err)
	}
}

func TestVerifierConcurrentConsume(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v1 := f.verifier(t, nil)
	v2 := f.verifier(t, nil)
	alice := f.register(t, "alice", "alice-password-1")
	tok := f.token(t, alice, time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	start := make(chan struct{})
	for i := range 20 {
		v := v1
		if i%2 == 1 {
			v = v2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := v.Authenticate(ctx, "alice", tok, localIP)
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ErrBadToken) {
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of 20 concurrent logins with one token succeeded, want 1", wins)
	}
}

func TestVerifierGuests(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	off := f.verifier(t, nil)
	if _, err := off.Authenticate(ctx, "guest", "", localIP); !errors.Is(err, ErrGuestsDisabled) || Code(err) != "guests_disabled" {
		t.Fatalf("guest while disabled: err = %v", err)
	}
	on := f.verifier(t, func(c *VerifierConfig) { c.AllowGuests = true })
	re := regexp.MustCompile(`^guest-[0-9a-f]{6}$`)
	seen := map[string]bool{}
	for i := range 5000 {
		user := "guest"
		if i%2 == 1 {
			user = "GUEST"
		}
		id, err := on.Authenticate(ctx, user, "", localIP)
		if err != nil || !id.Guest || id.AccountID != 0 || !re.MatchString(id.Name) {
			t.Fatalf("guest login = %+v, %v", id, err)
		}
		if seen[id.Name] {
			t.Fatalf("guest name %q repeated after %d guests", id.Name, i)
		}
		seen[id.Name] = true
	}
	// A guest name is never a valid account name.
	if _, err := NormalizeName("guest-7f3a9c"); err == nil {
		t.Fatal("guest name registrable")
	}
}

func TestVerifierPlainPasswords(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v := f.verifier(t, func(c *VerifierConfig) { c.AllowPlainPasswords = true })
	if !bytes.Contains([]byte(f.logs.String()), []byte("DEVELOPMENT MODE")) {
		t.Error("plain-password mode not logged loudly")
	}
	alice := f.register(t, "alice", "alice-password-1")
	id, err := v.Authenticate(ctx, "alice", "alice-password-1", localIP)
	if err != nil || id.AccountID != alice.ID {
		t.Fatalf("password login = %+v, %v", id, err)
	}
	if _, err := v.Authenticate(ctx, "alice", "wrong-password", localIP); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: err = %v", err)
	}
	if _, err := v.Authenticate(ctx, "nobody", "wrong-password", localIP); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown user: err = %v", err)
	}
	// Tokens still work, once.
	tok := f.token(t, alice, time.Minute)
	if _, err := v.Authenticate(ctx, "alice", tok, localIP); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(ctx, "alice", tok, localIP); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("reused token in plain mode: err = %v", err)
	}
	// Another account's live token is not taken for a password.
	f.register(t, "bob", "bob-password-1")
	if _, err := v.Authenticate(ctx, "bob", f.token(t, alice, time.Minute), localIP); !errors.Is(err, ErrWrongUser) {
		t.Fatalf("wrong-user token in plain mode: err = %v", err)
	}
}

// failingStore makes token consumption fail like a database outage.
type failingStore struct{ store.Store }

func (failingStore) ConsumeToken(context.Context, string, []byte, time.Time) (store.Account, error) {
	return store.Account{}, errors.New("connection refused")
}

func TestVerifierStoreFailure(t *testing.T) {
	f := newFixture(t)
	v, err := NewVerifier(VerifierConfig{Store: failingStore{f.st}, Logger: f.log})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := NewToken()
	if _, err := v.Authenticate(context.Background(), "alice", tok, localIP); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("store failure: err = %v, want ErrUnavailable", err)
	}
	if _, err := NewVerifier(VerifierConfig{}); err == nil {
		t.Fatal("NewVerifier without a store succeeded")
	}
}
