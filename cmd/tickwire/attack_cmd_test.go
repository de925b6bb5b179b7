package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/tickwire/tickwire/attack"
	"github.com/tickwire/tickwire/replica"
)

func runAttackCapture(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	oldOut, oldErr := attackOut, attackErr
	attackOut, attackErr = &out, &errOut
	defer func() { attackOut, attackErr = oldOut, oldErr }()
	err := runAttack(context.Background(), args)
	return out.String(), errOut.String(), err
}

func TestAttackCommandFlags(t *testing.T) {
	if _, _, err := runAttackCapture(t, "--help"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	out, _, err := runAttackCapture(t, "--list")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range attack.Names() {
		if !strings.Contains(out, name) {
			t.Errorf("--list lacks %s:\n%s", name, out)
		}
	}
	for _, bad := range [][]string{
		{"--addr", "10.0.0.1:5001"},                           // not loopback
		{"--addr", "127.0.0.1:5001", "--auth", "1.1.1.1:443"}, // not loopback
		{"--http", "[::1]:8080"},                              // IPv6: no second attacker address
		{"--only", "no_such_attack", "--http", "", "--auth", ""},
		{"--duration", "0.01"},
		{"--attacker-base", "127.0.0.1"}, // the honest player's
		{"--attacker-base", "10.0.0.2"},  // not loopback
		{"--attacker-base", "not-an-ip"},
		{"extra"},
	} {
		if _, _, err := runAttackCapture(t, bad...); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestAttackCommandRuns runs one quick attack against an in-process arena
// and checks the shape of what the command prints. Whether the attack
// passes depends on the server under test, so only consistency is
// checked: a FAIL line goes with a non-nil error.
func TestAttackCommandRuns(t *testing.T) {
	addr := startPlayArena(t, replica.Config{})
	out, errOut, err := runAttackCapture(t, "--addr", addr, "--http", "", "--auth", "", "--only", "too_long,ws_login_timeout,lockout")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got:\n%s\n%s", out, errOut)
	}
	byName := map[string]string{}
	for _, l := range lines {
		byName[strings.Fields(l)[0]] = l
	}
	if l := byName["too_long"]; !strings.Contains(l, "honest rtt p50") || !(strings.Contains(l, " PASS ") || strings.Contains(l, " FAIL ")) {
		t.Errorf("too_long line: %q\n%s", l, out)
	}
	for _, name := range []string{"ws_login_timeout", "lockout"} {
		if l := byName[name]; !strings.Contains(l, "SKIP") {
			t.Errorf("%s should be skipped without --http/--auth: %q", name, l)
		}
	}
	if failed := strings.Contains(out, " FAIL "); failed != (err != nil) {
		t.Errorf("output says failed=%v, error %v:\n%s", failed, err, out)
	}
	if !strings.Contains(errOut, "attack: too_long:") || !strings.Contains(errOut, "skipped") {
		t.Errorf("progress and summary missing:\n%s", errOut)
	}
}
