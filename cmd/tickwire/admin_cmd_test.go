package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/store"
)

func runAdminCapture(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	oldOut, oldIn := adminOut, adminIn
	adminOut, adminIn = &buf, strings.NewReader(stdin)
	defer func() { adminOut, adminIn = oldOut, oldIn }()
	err := runAdmin(context.Background(), args)
	return buf.String(), err
}

func TestAdminCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := runAdminCapture(t, "", "--help"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if out, err := runAdminCapture(t, "", "list", "--data-dir", dir); err != nil || !strings.Contains(out, "no admin accounts") {
		t.Fatalf("empty list: %q %v", out, err)
	}
	// An account that does not exist needs --create and a password.
	if _, err := runAdminCapture(t, "", "add", "Root", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "--create") {
		t.Fatalf("add of a missing account: %v", err)
	}
	if _, err := runAdminCapture(t, "", "add", "root", "--create", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "standard input") {
		t.Fatalf("add --create without a password: %v", err)
	}
	if _, err := runAdminCapture(t, "short\n", "add", "root", "--create", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("add --create with a weak password: %v", err)
	}
	out, err := runAdminCapture(t, "correct horse battery\r\nignored\n", "--data-dir", dir, "add", "Root", "--create")
	if err != nil || out != "created account root and made it an admin\n" {
		t.Fatalf("add --create: %q %v", out, err)
	}
	st, err := store.Open(ctx, store.ResolveDSN(dir, ""))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := st.AccountByName(ctx, "root")
	if ok, _ := auth.VerifyPassword(root.PasswordHash, "correct horse battery"); !ok || !root.IsAdmin() {
		t.Fatalf("created account %+v (password matches: %v)", root, ok)
	}
	// An existing account, through --db, flags after the name.
	hash, _ := auth.HashPassword("alice's long password", auth.DefaultParams)
	st.CreateAccount(ctx, "alice", hash, time.Now())
	st.Close()
	db := filepath.Join(dir, store.DefaultSQLiteFile)
	if out, err := runAdminCapture(t, "", "add", "alice", "--db", db); err != nil || out != "alice is now an admin\n" {
		t.Fatalf("add alice: %q %v", out, err)
	}
	if out, _ := runAdminCapture(t, "", "add", "alice", "--db", db); out != "alice is already an admin\n" {
		t.Fatalf("add twice: %q", out)
	}
	out, err = runAdminCapture(t, "", "list", "--data-dir", dir)
	if err != nil || !strings.HasPrefix(out, "NAME ") || !strings.Contains(out, "alice") || !strings.Contains(out, "root") || !strings.Contains(out, "never") {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, err := runAdminCapture(t, "", "remove", "alice", "--data-dir", dir); err != nil || out != "alice is no longer an admin\n" {
		t.Fatalf("remove: %q %v", out, err)
	}
	if _, err := runAdminCapture(t, "", "remove", "alice", "--data-dir", dir); err == nil {
		t.Fatal("second remove succeeded")
	}
	if out, _ := runAdminCapture(t, "", "list", "--data-dir", dir); strings.Contains(out, "alice") {
		t.Fatalf("removed admin listed: %q", out)
	}
	for _, args := range [][]string{{}, {"frob"}, {"add"}, {"add", "a", "b"}, {"add", "Bad Name!"}, {"list", "x"}, {"remove", "nobody", "--data-dir", dir}} {
		if _, err := runAdminCapture(t, "", args...); err == nil {
			t.Errorf("admin %q succeeded", args)
		}
	}
	// Every change is in the audit log.
	st, _ = store.Open(ctx, store.ResolveDSN(dir, ""))
	defer st.Close()
	audit, _ := st.ListAudit(ctx, store.AuditQuery{})
	var got []string
	for _, e := range audit {
		if !strings.HasPrefix(e.Actor, "cli") {
			t.Errorf("audit actor %q", e.Actor)
		}
		got = append(got, e.Action+" "+e.Target)
	}
	if want := "admin_remove alice,admin_add alice,admin_add root"; strings.Join(got, ",") != want {
		t.Fatalf("audit = %q, want %q", strings.Join(got, ","), want)
	}
}
