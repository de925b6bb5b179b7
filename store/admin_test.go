package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testRoles(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := openClosed(t, open)
	a, _ := s.CreateAccount(ctx, "alice", "h", t0)
	b, _ := s.CreateAccount(ctx, "bob", "h", t0)
	if a.Role != "" || a.IsAdmin() || a.Disabled || a.ResetRequired {
		t.Fatalf("new account = %+v, want a plain player", a)
	}
	if err := s.SetRole(ctx, b.ID, RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AccountByName(ctx, "bob"); !got.IsAdmin() {
		t.Fatalf("after SetRole: %+v", got)
	}
	admins, err := s.SearchAccounts(ctx, AccountQuery{Role: RoleAdmin})
	if err != nil || len(admins) != 1 || admins[0].Name != "bob" {
		t.Fatalf("admins = %+v, %v", admins, err)
	}
	if err := s.SetRole(ctx, 987654, RoleAdmin); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetRole of a missing account: %v", err)
	}
	if err := s.SetRole(ctx, a.ID, strings.Repeat("x", MaxRoleLen+1)); err == nil {
		t.Fatal("over-long role accepted")
	}
	if err := s.SetRole(ctx, b.ID, ""); err != nil {
		t.Fatal(err)
	}
	if admins, _ := s.SearchAccounts(ctx, AccountQuery{Role: RoleAdmin}); len(admins) != 0 {
		t.Fatalf("admins after removal = %+v", admins)
	}
}

func testDisableAndReset(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := openClosed(t, open)
	a, _ := s.CreateAccount(ctx, "alice", "h", t0)
	exp := t0.Add(time.Minute)
	if err := s.IssueToken(ctx, a.ID, hashOf("before"), t0, exp); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AccountByID(ctx, a.ID); !got.Disabled {
		t.Fatalf("not disabled: %+v", got)
	}
	// Its unused token is gone, and no new one is issued.
	if _, err := s.ConsumeToken(ctx, "alice", hashOf("before"), t0); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("token of a disabled account: %v", err)
	}
	if err := s.IssueToken(ctx, a.ID, hashOf("during"), t0, exp); !errors.Is(err, ErrAccountDisabled) {
		t.Fatalf("IssueToken while disabled: %v, want ErrAccountDisabled", err)
	}
	if err := s.SetDisabled(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := s.IssueToken(ctx, a.ID, hashOf("after"), t0, exp); err != nil {
		t.Fatalf("IssueToken after enable: %v", err)
	}
	if _, err := s.ConsumeToken(ctx, "alice", hashOf("after"), t0); err != nil {
		t.Fatalf("token after enable: %v", err)
	}
	if err := s.SetDisabled(ctx, 987654, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetDisabled of a missing account: %v", err)
	}
	if err := s.IssueToken(ctx, 987654, hashOf("nobody"), t0, exp); err == nil {
		t.Fatal("IssueToken for a missing account succeeded")
	}

	// A token issued before the account was locked some other way (a
	// database edited by hand, another server) is refused at consumption.
	if err := s.IssueToken(ctx, a.ID, hashOf("raced"), t0, exp); err != nil {
		t.Fatal(err)
	}
	if _, err := s.(*sqlStore).db.ExecContext(ctx, s.(*sqlStore).q(`UPDATE accounts SET disabled = 1 WHERE id = ?`), a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeToken(ctx, "alice", hashOf("raced"), t0); !errors.Is(err, ErrTokenAccountLocked) || !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("token of an account disabled behind the store's back: %v", err)
	}
	s.SetDisabled(ctx, a.ID, false)

	// Force a password reset: the temporary hash replaces the password, no
	// token until a new password is set.
	if err := s.IssueToken(ctx, a.ID, hashOf("pre-reset"), t0, exp); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Hour)
	if err := s.ForcePasswordReset(ctx, a.ID, "temp-hash", t1); err != nil {
		t.Fatal(err)
	}
	got, _ := s.AccountByID(ctx, a.ID)
	if !got.ResetRequired || got.PasswordHash != "temp-hash" || !got.UpdatedAt.Equal(t1) {
		t.Fatalf("after reset: %+v", got)
	}
	if _, err := s.ConsumeToken(ctx, "alice", hashOf("pre-reset"), t0); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("token from before the reset: %v", err)
	}
	if err := s.IssueToken(ctx, a.ID, hashOf("x"), t1, t1.Add(time.Minute)); !errors.Is(err, ErrPasswordResetRequired) {
		t.Fatalf("IssueToken after reset: %v, want ErrPasswordResetRequired", err)
	}
	if err := s.UpdatePasswordHash(ctx, a.ID, "new-hash", t1); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AccountByID(ctx, a.ID); got.ResetRequired || got.PasswordHash != "new-hash" {
		t.Fatalf("after the new password: %+v", got)
	}
	if err := s.IssueToken(ctx, a.ID, hashOf("y"), t1, t1.Add(time.Minute)); err != nil {
		t.Fatalf("IssueToken after the new password: %v", err)
	}
	if err := s.ForcePasswordReset(ctx, 987654, "h", t1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reset of a missing account: %v", err)
	}
	if err := s.ForcePasswordReset(ctx, a.ID, "", t1); err == nil {
		t.Fatal("reset to an empty hash accepted")
	}
}

func testSearchAccounts(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := openClosed(t, open)
	for _, n := range []string{"carol", "alice", "bob", "alicia", "mal_ice", "malxice", "bo%b"} {
		if _, err := s.CreateAccount(ctx, n, "h", t0); err != nil {
			t.Fatal(err)
		}
	}
	names := func(q AccountQuery) string {
		t.Helper()
		as, err := s.SearchAccounts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range as {
			out = append(out, a.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		q    AccountQuery
		want string
	}{
		{AccountQuery{}, "alice,alicia,bo%b,bob,carol,mal_ice,malxice"},
		{AccountQuery{Contains: "ALI"}, "alice,alicia"},
		{AccountQuery{Contains: "l_i"}, "mal_ice"}, // _ is literal
		{AccountQuery{Contains: "%"}, "bo%b"},      // % is literal
		{AccountQuery{Limit: 2}, "alice,alicia"},
		{AccountQuery{After: "alicia", Limit: 2}, "bo%b,bob"},
		{AccountQuery{Contains: "zzz"}, ""},
	} {
		if got := names(tc.q); got != tc.want {
			t.Errorf("SearchAccounts(%+v) = %q, want %q", tc.q, got, tc.want)
		}
	}
}

func testAudit(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := openClosed(t, open)
	var ids []int64
	for i, e := range []AuditEntry{
		{At: t0, Actor: "root", Action: "login", Addr: "127.0.0.1"},
		{At: t0.Add(time.Second), Actor: "root", Action: "kick", Target: "alice", Detail: "spam"},
		{At: t0.Add(2 * time.Second), Actor: "ops", Action: "ban", Target: "192.0.2.7", Detail: strings.Repeat("ü", 300)},
	} {
		got, err := s.AddAudit(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == 0 || !got.At.Equal(e.At) || got.Actor != e.Actor || got.Action != e.Action {
			t.Fatalf("entry %d stored as %+v", i, got)
		}
		if len(got.Detail) > MaxAuditFieldLen || !strings.HasPrefix(e.Detail, got.Detail) {
			t.Fatalf("entry %d detail stored as %q", i, got.Detail)
		}
		ids = append(ids, got.ID)
	}
	if _, err := s.AddAudit(ctx, AuditEntry{At: t0, Actor: "x"}); err == nil {
		t.Fatal("entry without an action accepted")
	}
	all, err := s.ListAudit(ctx, AuditQuery{})
	if err != nil || len(all) != 3 || all[0].ID != ids[2] || all[2].ID != ids[0] {
		t.Fatalf("ListAudit = %+v, %v (want newest first)", all, err)
	}
	if got, _ := s.ListAudit(ctx, AuditQuery{Actor: "root"}); len(got) != 2 {
		t.Fatalf("by actor: %+v", got)
	}
	if got, _ := s.ListAudit(ctx, AuditQuery{Action: "kick", Target: "alice"}); len(got) != 1 || got[0].Detail != "spam" {
		t.Fatalf("by action and target: %+v", got)
	}
	if got, _ := s.ListAudit(ctx, AuditQuery{BeforeID: ids[2], Limit: 1}); len(got) != 1 || got[0].ID != ids[1] {
		t.Fatalf("page: %+v", got)
	}
}

// testUpgradeFromVersion1 opens a database made by the first schema, with
// an account in it, and checks that the current schema keeps the account
// as an enabled player and adds the audit log.
func testUpgradeFromVersion1(t *testing.T, open func() Store) {
	ctx := context.Background()
	saved := migrations
	migrations = migrations[:1]
	s := open()
	migrations = saved
	if _, err := s.(*sqlStore).db.ExecContext(ctx, s.(*sqlStore).q(`INSERT INTO accounts (name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)`),
		"old", "h", ms(t0), ms(t0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openClosed(t, open)
	a, err := s.AccountByName(ctx, "old")
	if err != nil || a.Role != "" || a.Disabled || a.ResetRequired {
		t.Fatalf("account after the upgrade: %+v, %v", a, err)
	}
	if _, err := s.AddAudit(ctx, AuditEntry{At: t0, Action: "login"}); err != nil {
		t.Fatalf("audit log after the upgrade: %v", err)
	}
	var v int
	if err := s.(*sqlStore).db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != migrations[len(migrations)-1].version {
		t.Fatalf("schema version %d, %v", v, err)
	}
}

func TestBackupPostgresUnsupported(t *testing.T) {
	s := openClosed(t, postgresFactory(t))
	if err := s.Backup(context.Background(), filepath.Join(t.TempDir(), "b.db")); !errors.Is(err, ErrBackupUnsupported) {
		t.Fatalf("Backup on PostgreSQL: %v", err)
	}
}

// TestBackupWhileWriting backs an SQLite database up while another
// goroutine keeps creating accounts, then opens the copy: it must pass
// SQLite's integrity check and hold every account that existed before the
// backup began, each complete.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "live.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const before = 200
	for i := 0; i < before; i++ {
		if _, err := s.CreateAccount(ctx, fmt.Sprintf("pre%03d", i), "hash-of-pre", t0); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wrote atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			a, err := s.CreateAccount(ctx, fmt.Sprintf("live%05d", i), "hash-of-live", t0)
			if err != nil {
				t.Errorf("write during backup: %v", err)
				return
			}
			s.SetRole(ctx, a.ID, RoleAdmin)
			wrote.Add(1)
		}
	}()
	// Let the writer get going, then back up twice while it writes.
	for wrote.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	backup := filepath.Join(dir, "backup.db")
	if err := s.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, backup); err == nil {
		t.Fatal("Backup overwrote an existing file")
	}
	close(stop)
	wg.Wait()
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v (want mode 0600)", fi, err)
	}

	// The copy is a database of its own: check it directly, then as a store.
	db, err := sql.Open("sqlite", backup)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	var pre, live, partial int
	db.QueryRow(`SELECT COUNT(*) FROM accounts WHERE name LIKE 'pre%' AND password_hash = 'hash-of-pre'`).Scan(&pre)
	db.QueryRow(`SELECT COUNT(*) FROM accounts WHERE name LIKE 'live%'`).Scan(&live)
	// Every live account was made admin right after creation, in its own
	// statement: a snapshot may hold one account between the two, never a
	// broken row.
	db.QueryRow(`SELECT COUNT(*) FROM accounts WHERE name LIKE 'live%' AND (password_hash <> 'hash-of-live' OR role NOT IN ('', 'admin'))`).Scan(&partial)
	db.Close()
	if pre != before || live < 20 || partial != 0 {
		t.Fatalf("backup holds %d of %d earlier accounts, %d written during the run (>= 20 expected), %d broken", pre, before, live, partial)
	}
	if int64(live) > wrote.Load()+1 {
		t.Fatalf("backup holds %d live accounts, more than the %d written", live, wrote.Load())
	}
	restored, err := Open(ctx, backup)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if a, err := restored.AccountByName(ctx, "pre000"); err != nil || a.PasswordHash != "hash-of-pre" {
		t.Fatalf("restored account: %+v, %v", a, err)
	}
	t.Logf("backup during writes: %d earlier accounts, %d of %d live ones", pre, live, wrote.Load())
}

func TestBackupBadPath(t *testing.T) {
	s := openClosed(t, sqliteFactory(t))
	if err := s.Backup(context.Background(), ""); err == nil {
		t.Error("empty path accepted")
	}
	if err := s.Backup(context.Background(), filepath.Join(t.TempDir(), "a?b")); err == nil {
		t.Error("path with '?' accepted")
	}
	if err := s.Backup(context.Background(), filepath.Join(t.TempDir(), "missing", "dir", "b.db")); err == nil {
		t.Error("backup into a missing directory succeeded")
	}
}

func TestCheckSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "live.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, _ := s.CreateAccount(ctx, "root", "h", t0)
	s.CreateAccount(ctx, "alice", "h", t0)
	s.SetRole(ctx, a.ID, RoleAdmin)
	s.AddAudit(ctx, AuditEntry{At: t0, Actor: "cli", Action: "admin_add", Target: "root"})
	backup := filepath.Join(dir, "b.db")
	if err := s.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	c, err := CheckSQLite(ctx, backup)
	if err != nil || c.Accounts != 2 || c.Admins != 1 || c.AuditEntries != 1 || c.SchemaVersion != migrations[len(migrations)-1].version {
		t.Fatalf("CheckSQLite = %+v, %v", c, err)
	}
	if _, err := CheckSQLite(ctx, filepath.Join(dir, "missing.db")); err == nil {
		t.Error("missing file passed")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("CheckSQLite created the missing file")
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o600)
	if _, err := CheckSQLite(ctx, junk); err == nil {
		t.Error("junk file passed")
	}
	// A damaged copy: overwrite a page in the middle of the file.
	raw, _ := os.ReadFile(backup)
	bad := filepath.Join(dir, "bad.db")
	for i := 4096 * 2; i < len(raw) && i < 4096*3; i++ {
		raw[i] = 0xA5
	}
	os.WriteFile(bad, raw, 0o600)
	if _, err := CheckSQLite(ctx, bad); err == nil {
		t.Error("damaged file passed")
	}
}
