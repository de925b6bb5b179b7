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
)

func runBanCapture(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	old := banOut
	banOut = &buf
	defer func() { banOut = old }()
	err := runBan(context.Background(), args)
	return buf.String(), err
}

func TestBanCommand(t *testing.T) {
	dir := t.TempDir()
	if _, err := runBanCapture(t, "--help"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if _, err := runBanCapture(t, "add", "--help"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("add --help: %v", err)
	}
	out, err := runBanCapture(t, "--data-dir", dir, "add", "192.0.2.7", "--for", "2h", "--reason", "spam bot")
	if err != nil || !strings.Contains(out, "banned 192.0.2.7 until") || !strings.Contains(out, "2h0m0s, offence 1") {
		t.Fatalf("add: %q %v", out, err)
	}
	// Same database through --db, flags after the action.
	db := filepath.Join(dir, "tickwire.db")
	if out, err = runBanCapture(t, "add", "::ffff:198.51.100.1", "--db", db); err != nil || !strings.Contains(out, "198.51.100.1 until") ||
		!strings.Contains(out, "15m0s") {
		t.Fatalf("add default length: %q %v", out, err)
	}
	out, err = runBanCapture(t, "list", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "spam bot") || !strings.Contains(out, "198.51.100.1") || !strings.HasPrefix(out, "IP ") {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, err = runBanCapture(t, "remove", "192.0.2.7", "--data-dir", dir); err != nil || out != "unbanned 192.0.2.7\n" {
		t.Fatalf("remove: %q %v", out, err)
	}
	if _, err = runBanCapture(t, "remove", "192.0.2.7", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "not banned") {
		t.Fatalf("second remove: %v", err)
	}
	if out, _ = runBanCapture(t, "history", "192.0.2.7", "--data-dir", dir); !strings.Contains(out, "spam bot") {
		t.Fatalf("history: %q", out)
	}
	if out, _ = runBanCapture(t, "list", "--data-dir", dir); strings.Contains(out, "192.0.2.7") {
		t.Fatalf("removed ban listed: %q", out)
	}
	for _, args := range [][]string{{}, {"frob"}, {"add"}, {"add", "not-an-ip", "--data-dir", dir}, {"list", "x", "--data-dir", dir}, {"add", "192.0.2.9", "--for", "-1h", "--data-dir", dir}} {
		if _, err := runBanCapture(t, args...); err == nil {
			t.Errorf("ban %q succeeded", args)
		}
	}
}

func TestAuthCommand(t *testing.T) {
	if err := runAuth(context.Background(), []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if err := runAuth(context.Background(), []string{"--log-level", "loud"}); err == nil {
		t.Fatal("bad log level accepted")
	}
	var buf bytes.Buffer
	old := authOut
	authOut = &buf
	defer func() { authOut = old }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	dir := t.TempDir()
	err := runAuth(ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", dir, "--log-level", "error", "--allow-origin", "https://a.example,https://b.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "listening on https://127.0.0.1:") || !strings.Contains(buf.String(), "SHA-256 fingerprint") {
		t.Fatalf("output: %q", buf.String())
	}
}
