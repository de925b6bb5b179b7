package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// factory opens a fresh, empty store. reopen opens the same database again
// (a restart); it is called after the first store is closed.
type factory func(t *testing.T) (open func() Store)

func sqliteFactory(t *testing.T) func() Store {
	path := filepath.Join(t.TempDir(), "sub", "tickwire.db")
	return func() Store {
		s, err := Open(context.Background(), path)
		if err != nil {
			t.Fatalf("Open SQLite: %v", err)
		}
		return s
	}
}

// postgresFactory gives each test a fresh schema, dropped at cleanup, so
// parallel runs against one database never see each other's rows.
func postgresFactory(t *testing.T) func() Store {
	base := os.Getenv("TICKWIRE_TEST_POSTGRES")
	if base == "" {
		t.Skip("TICKWIRE_TEST_POSTGRES not set: set it to a PostgreSQL URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests")
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "tw_test_" + hex.EncodeToString(rnd[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		admin.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	dsn := base + sep + "search_path=" + schema
	return func() Store {
		s, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("Open PostgreSQL: %v", err)
		}
		return s
	}
}

func TestSQLite(t *testing.T)   { runSuite(t, sqliteFactory) }
func TestPostgres(t *testing.T) { runSuite(t, postgresFactory) }

// runSuite is the shared behaviour test of every Store backend.
func runSuite(t *testing.T, f factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func() Store)
	}{
		{"Accounts", testAccounts},
		{"Tokens", testTokens},
		{"ConcurrentConsume", testConcurrentConsume},
		{"Bans", testBans},
		{"Reopen", testReopen},
		{"Purge", testPurge},
		{"Roles", testRoles},
		{"DisableAndReset", testDisableAndReset},
		{"SearchAccounts", testSearchAccounts},
		{"Audit", testAudit},
		{"UpgradeFromVersion1", testUpgradeFromVersion1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open := f(t)
			tc.fn(t, open)
		})
	}
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func openClosed(t *testing.T, open func() Store) Store {
	s := open()
	t.Cleanup(func() { s.Close() })
	return s
}

func testAccounts(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := openClosed(t, open)
	a, err := s.CreateAccount(ctx, "alice", "h1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || a.Name != "alice" || a.PasswordHash != "h1" || !a.CreatedAt.Equal(t0) || !a.LastLoginAt.IsZero() {
		t.Fatalf("created account = %+v", a)
	}
	if _, err := s.CreateAccount(ctx, "alice", "h2", t0); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("duplicate create: err = %v, want ErrNameTaken", err)
	}
	b, err := s.CreateAccount(ctx, "bob", "hb", t0)
	if err != nil || b.ID == a.ID {
		t.Fatalf("second account: %+v, %v", b, err)
	}
	got, err := s.AccountByName(ctx, "alice")
	if err != nil || got.ID != a.ID {
		t.Fatalf("AccountByName = %+v, %v", got, err)
	}
	if _, err := s.AccountByName(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing account: err = %v", err)
	}
	if _, err := s.AccountByID(ctx, 987654); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing id: err = %v", err)
	}
	t1 := t0.Add(time.Hour)
	if err := s.UpdatePasswordHash(ctx, a.ID, "h3", t1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLastLogin(ctx, a.ID, t1.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.AccountByID(ctx, a.ID)
	if got.PasswordHash != "h3" || !got.UpdatedAt.Equal(t1) || !got.LastLoginAt.Equal(t1.Add(time.Minute)) {
		t.Fatalf("after update: %+v", got)
	}
	if err := s.UpdatePasswordHash(ctx, 987654, "x", t1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: err = %v", err)
	}
}

func testTokens(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := openClosed(t, open)
	a, _ := s.CreateAccount(ctx, "alice", "h", t0)
	if _, err := s.CreateAccount(ctx, "bob", "h", t0); err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(time.Minute)
	for _, tok := range []string{"t1", "t2", "t3", "t4"} {
		if err := s.IssueToken(ctx, a.ID, hashOf(tok), t0, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.IssueToken(ctx, a.ID, []byte("short"), t0, exp); err == nil {
		t.Fatal("IssueToken accepted a short hash")
	}

	got, err := s.ConsumeToken(ctx, "alice", hashOf("t1"), t0.Add(time.Second))
	if err != nil || got.ID != a.ID {
		t.Fatalf("consume: %+v, %v", got, err)
	}
	if _, err := s.ConsumeToken(ctx, "alice", hashOf("t1"), t0.Add(time.Second)); !errors.Is(err, ErrTokenUnknown) || !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("second consume: err = %v, want ErrTokenUnknown", err)
	}
	if _, err := s.ConsumeToken(ctx, "alice", hashOf("never-issued"), t0); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("forged: err = %v", err)
	}
	if _, err := s.ConsumeToken(ctx, "alice", []byte("x"), t0); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("bad length: err = %v", err)
	}
	if _, err := s.ConsumeToken(ctx, "alice", hashOf("t2"), exp); !errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("expired: err = %v, want ErrTokenExpired", err)
	}
	if _, err := s.ConsumeToken(ctx, "bob", hashOf("t3"), t0); !errors.Is(err, ErrTokenWrongUser) || !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("wrong user: err = %v, want ErrTokenWrongUser", err)
	}
	// A token presented for the wrong user is burnt.
	if _, err := s.ConsumeToken(ctx, "alice", hashOf("t3"), t0); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("after wrong user: err = %v", err)
	}
	if got, err := s.ConsumeToken(ctx, "alice", hashOf("t4"), exp.Add(-time.Millisecond)); err != nil || got.Name != "alice" {
		t.Fatalf("last millisecond: %+v, %v", got, err)
	}
}

func testConcurrentConsume(t *testing.T, open func() Store) {
	ctx := context.Background()
	// Two Store values on one database stand for two game servers.
	s1 := openClosed(t, open)
	s2 := openClosed(t, open)
	a, _ := s1.CreateAccount(ctx, "alice", "h", t0)
	const attempts = 20
	for round := 0; round < 3; round++ {
		tok := hashOf("race" + string(rune('a'+round)))
		if err := s1.IssueToken(ctx, a.ID, tok, t0, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, invalid := 0, 0
		var others []error
		start := make(chan struct{})
		for i := 0; i < attempts; i++ {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := s.ConsumeToken(ctx, "alice", tok, t0.Add(time.Second))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, ErrTokenUnknown):
					invalid++
				default:
					others = append(others, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins != 1 || invalid != attempts-1 || len(others) > 0 {
			t.Fatalf("round %d: %d wins, %d invalid, other errors %v; want exactly one win", round, wins, invalid, others)
		}
	}
}

func testBans(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := openClosed(t, open)
	ip := netip.MustParseAddr("192.0.2.7")
	mapped := netip.MustParseAddr("::ffff:192.0.2.7")
	ip6 := netip.MustParseAddr("2001:db8::1")
	if _, err := s.ActiveBan(ctx, ip, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no ban yet: err = %v", err)
	}
	b := Ban{IP: mapped, Reason: "strikes:too_long", CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute), Offences: 1}
	if err := s.AddBan(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBan(ctx, Ban{IP: ip6, Reason: strings.Repeat("é", 300), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBan(ctx, Ban{IP: ip, CreatedAt: t0, ExpiresAt: t0}); err == nil {
		t.Fatal("AddBan accepted a ban that expires when it starts")
	}
	got, err := s.ActiveBan(ctx, ip, t0.Add(time.Minute))
	if err != nil || got.IP != ip || got.Reason != "strikes:too_long" || got.Offences != 1 || !got.ExpiresAt.Equal(b.ExpiresAt) {
		t.Fatalf("ActiveBan = %+v, %v (mapped address must be stored unmapped)", got, err)
	}
	if _, err := s.ActiveBan(ctx, ip, b.ExpiresAt); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired ban still active: %v", err)
	}
	list, err := s.ListBans(ctx, t0)
	if err != nil || len(list) != 2 || list[0].IP != ip || list[1].IP != ip6 {
		t.Fatalf("ListBans = %+v, %v", list, err)
	}
	if len(list[1].Reason) > MaxReasonLen || !strings.HasPrefix(list[1].Reason, "éé") {
		t.Fatalf("long reason stored as %q", list[1].Reason)
	}
	if list, _ := s.ListBans(ctx, t0.Add(30*time.Minute)); len(list) != 1 || list[0].IP != ip6 {
		t.Fatalf("ListBans later = %+v", list)
	}
	// A second ban replaces the first and extends the history.
	b2 := Ban{IP: ip, Reason: "manual", CreatedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(2 * time.Hour), Offences: 2}
	if err := s.AddBan(ctx, b2); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ActiveBan(ctx, ip, t0.Add(time.Hour))
	if got.Offences != 2 || got.Reason != "manual" {
		t.Fatalf("replaced ban = %+v", got)
	}
	hist, err := s.BanHistory(ctx, ip, time.Time{})
	if err != nil || len(hist) != 2 || hist[0].Offences != 1 || hist[1].Offences != 2 {
		t.Fatalf("BanHistory = %+v, %v", hist, err)
	}
	if hist, _ := s.BanHistory(ctx, ip, t0.Add(time.Minute)); len(hist) != 1 {
		t.Fatalf("BanHistory since = %+v", hist)
	}
	if err := s.RemoveBan(ctx, ip); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveBan(ctx, ip); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: err = %v", err)
	}
	if _, err := s.ActiveBan(ctx, ip, t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed ban still active: %v", err)
	}
	if hist, _ := s.BanHistory(ctx, ip, time.Time{}); len(hist) != 2 {
		t.Fatalf("history lost on remove: %+v", hist)
	}
	if err := s.ClearBanHistory(ctx, ip); err != nil {
		t.Fatal(err)
	}
	if hist, _ := s.BanHistory(ctx, ip, time.Time{}); len(hist) != 0 {
		t.Fatalf("history after clear: %+v", hist)
	}
	if err := s.AddBan(ctx, Ban{CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err == nil {
		t.Fatal("AddBan accepted an invalid IP")
	}
}

func testReopen(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	if _, err := s.CreateAccount(ctx, "alice", "h", t0); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("198.51.100.1")
	if err := s.AddBan(ctx, Ban{IP: ip, Reason: "r", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Offences: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openClosed(t, open) // migrations are idempotent
	if _, err := s.AccountByName(ctx, "alice"); err != nil {
		t.Fatalf("account lost on reopen: %v", err)
	}
	if _, err := s.ActiveBan(ctx, ip, t0); err != nil {
		t.Fatalf("ban lost on reopen: %v", err)
	}
}

func testPurge(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := openClosed(t, open)
	a, _ := s.CreateAccount(ctx, "alice", "h", t0)
	s.IssueToken(ctx, a.ID, hashOf("old"), t0, t0.Add(time.Minute))
	s.IssueToken(ctx, a.ID, hashOf("new"), t0, t0.Add(time.Hour))
	ip := netip.MustParseAddr("203.0.113.9")
	s.AddBan(ctx, Ban{IP: ip, Reason: "r", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)})
	n, err := s.PurgeExpired(ctx, t0.Add(10*time.Minute), t0)
	if err != nil || n != 2 {
		t.Fatalf("PurgeExpired = %d, %v; want 2 (one token, one ban)", n, err)
	}
	if _, err := s.ConsumeToken(ctx, "alice", hashOf("new"), t0); err != nil {
		t.Fatalf("live token purged: %v", err)
	}
	if hist, _ := s.BanHistory(ctx, ip, time.Time{}); len(hist) != 1 {
		t.Fatalf("recent history purged: %+v", hist)
	}
	if n, _ := s.PurgeExpired(ctx, t0, t0.Add(time.Second)); n != 1 {
		t.Fatalf("old history not purged: %d", n)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, ""); err == nil {
		t.Error("empty DSN accepted")
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "a?b.db")); err == nil {
		t.Error("path with '?' accepted")
	}
	if _, err := Open(ctx, "postgres://u:secretpw@[bad"); err == nil || strings.Contains(err.Error(), "secretpw") {
		t.Errorf("bad PostgreSQL DSN: err = %v (must fail without echoing the password)", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.(*sqlStore).db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: err = %v", err)
	}
}

func TestResolveDSN(t *testing.T) {
	if got := ResolveDSN("", ""); got != filepath.Join(DefaultDataDir, DefaultSQLiteFile) {
		t.Errorf("default = %q", got)
	}
	if got := ResolveDSN("/d", ""); got != filepath.Join("/d", DefaultSQLiteFile) {
		t.Errorf("data dir = %q", got)
	}
	if got := ResolveDSN("/d", "postgres://x"); got != "postgres://x" {
		t.Errorf("db = %q", got)
	}
}

func TestPlaceholders(t *testing.T) {
	pg := &sqlStore{dialect: dialectPostgres}
	if got := pg.q(`a = ? AND b = ?`); got != `a = $1 AND b = $2` {
		t.Errorf("postgres = %q", got)
	}
	lite := &sqlStore{dialect: dialectSQLite}
	if got := lite.q(`a = ?`); got != `a = ?` {
		t.Errorf("sqlite = %q", got)
	}
}

func TestSQLitePragmas(t *testing.T) {
	s := sqliteFactory(t)()
	defer s.Close()
	db := s.(*sqlStore).db
	var mode string
	var fk, busy int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	if err := db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v", fk, err)
	}
	if err := db.QueryRow(`PRAGMA busy_timeout`).Scan(&busy); err != nil || busy != int(SQLiteBusyTimeout.Milliseconds()) {
		t.Errorf("busy_timeout = %d, %v", busy, err)
	}
}
