package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/store"
)

func runBackupCapture(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	old := backupOut
	backupOut = &buf
	defer func() { backupOut = old }()
	err := runBackup(context.Background(), args)
	return buf.String(), err
}

// restoreBackup does what docs/DEPLOY.md says, with the server stopped:
// move the database and its -wal and -shm files away, copy the backup in
// with mode 0600.
func restoreBackup(t *testing.T, backup, dataDir string) {
	t.Helper()
	db := filepath.Join(dataDir, store.DefaultSQLiteFile)
	old := filepath.Join(t.TempDir(), "before-restore")
	os.MkdirAll(old, 0o700)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(db+suffix, filepath.Join(old, store.DefaultSQLiteFile+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	in, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(db, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBackupAndRestore backs the database up while another process-like
// writer keeps creating accounts, checks the copy, restores it over a
// database that changed since, and finds exactly the backed-up state.
func TestBackupAndRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := runBackupCapture(t, "--help"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if _, err := runBackupCapture(t, filepath.Join(dir, "b.db"), "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("backup of a missing database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, store.DefaultSQLiteFile)); err == nil {
		t.Fatal("backup created an empty database")
	}
	if _, err := runAdminCapture(t, "correct horse battery\n", "add", "root", "--create", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	if _, err := runBanCapture(t, "add", "192.0.2.7", "--for", "24h", "--reason", "before backup", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	live, err := store.Open(ctx, store.ResolveDSN(dir, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
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
			if _, err := live.CreateAccount(ctx, fmt.Sprintf("player%05d", i), "h", time.Now()); err != nil {
				t.Errorf("write during backup: %v", err)
				return
			}
			wrote.Add(1)
		}
	}()
	for wrote.Load() < 10 {
		time.Sleep(time.Millisecond)
	}
	backup := filepath.Join(t.TempDir(), "copy.db")
	out, err := runBackupCapture(t, backup, "--data-dir", dir)
	close(stop)
	wg.Wait()
	if err != nil || !strings.HasPrefix(out, "backup written: "+backup) || !strings.Contains(out, "(1 admins), 1 bans") {
		t.Fatalf("backup: %q %v", out, err)
	}
	check, err := store.CheckSQLite(ctx, backup)
	if err != nil || check.Accounts < 11 || check.Accounts > wrote.Load()+1 {
		t.Fatalf("backup holds %+v, %v (%d accounts written during the run)", check, err, wrote.Load())
	}
	if out, err := runBackupCapture(t, "--check", backup); err != nil || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("--check: %q %v", out, err)
	}
	if _, err := runBackupCapture(t, backup, "--data-dir", dir); err == nil {
		t.Fatal("backup over an existing file succeeded")
	}

	// Changes after the backup: gone after the restore.
	if _, err := runBanCapture(t, "add", "198.51.100.9", "--reason", "after backup", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	live.Close()
	restoreBackup(t, backup, dir)
	restored, err := store.Open(ctx, store.ResolveDSN(dir, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	all, _ := restored.SearchAccounts(ctx, store.AccountQuery{Limit: store.MaxPageSize})
	if root, err := restored.AccountByName(ctx, "root"); err != nil || !root.IsAdmin() || int64(len(all)) != min(check.Accounts, store.MaxPageSize) {
		t.Fatalf("restored: root %+v %v, %d accounts of %d", root, err, len(all), check.Accounts)
	}
	bans, _ := restored.ListBans(ctx, time.Now())
	if len(bans) != 1 || bans[0].Reason != "before backup" {
		t.Fatalf("restored bans: %+v", bans)
	}
	if out, _ := runAdminCapture(t, "", "list", "--data-dir", dir); !strings.Contains(out, "root") {
		t.Fatalf("admin list after the restore: %q", out)
	}
}

func TestBackupDirKeep(t *testing.T) {
	dir := t.TempDir()
	if _, err := runAdminCapture(t, "correct horse battery\n", "add", "root", "--create", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	bdir := filepath.Join(t.TempDir(), "backups")
	os.MkdirAll(bdir, 0o700)
	// Older backups and an unrelated file.
	for _, n := range []string{"tickwire-20010101T000000Z.db", "tickwire-20010102T000000Z.db", "tickwire-20010103T000000Z.db", "notes.txt", "tickwire-latest.db"} {
		os.WriteFile(filepath.Join(bdir, n), []byte("x"), 0o600)
	}
	out, err := runBackupCapture(t, "--dir", bdir, "--keep", "2", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "backup written: "+filepath.Join(bdir, "tickwire-")) {
		t.Fatalf("--dir: %q %v", out, err)
	}
	var names []string
	entries, _ := os.ReadDir(bdir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// The newest two dated backups (this one and 2001-01-03) stay, as do
	// files that are not dated backups.
	if len(names) != 4 || names[0] != "notes.txt" || names[1] != "tickwire-20010103T000000Z.db" || !strings.HasPrefix(names[2], "tickwire-20") || names[3] != "tickwire-latest.db" {
		t.Fatalf("left %q", names)
	}
	if fi, _ := os.Stat(filepath.Join(bdir, names[2])); fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v", fi.Mode())
	}
	for _, args := range [][]string{{}, {"a", "b"}, {"a", "--dir", bdir}, {"--dir", bdir, "--keep", "-1"}, {"--check", "a", "b"}, {"--check", filepath.Join(bdir, "notes.txt")}, {"x.db", "--db", "postgres://u@h/db"}} {
		if _, err := runBackupCapture(t, args...); err == nil {
			t.Errorf("backup %q succeeded", args)
		}
	}
}
