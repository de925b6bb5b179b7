package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// startPlayArena serves the demo arena on a loopback port for the test.
func startPlayArena(t *testing.T, sync replica.Config) string {
	addr, _ := startPlayArenaConfig(t, sync, server.Config{})
	return addr
}

// startPlayArenaConfig is startPlayArena with a server configuration; it
// also returns the listener, which a test may close to make the server
// unreachable for new connections.
func startPlayArenaConfig(t *testing.T, sync replica.Config, cfg server.Config) (string, net.Listener) {
	t.Helper()
	cfg.Registry, cfg.Logger = demoRegistry(), slog.New(slog.DiscardHandler)
	srv, err := server.New(cfg, arena.New(arena.WithBots(4), arena.WithSync(sync)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String(), ln
}

func runPlayCapture(t *testing.T, args ...string) (playSummary, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	oldOut, oldErr := playOut, playErr
	playOut, playErr = &out, &errOut
	defer func() { playOut, playErr = oldOut, oldErr }()
	err := runPlay(context.Background(), args)
	var sum playSummary
	if out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), &sum); jerr != nil {
			t.Fatalf("report is not JSON: %v\n%s", jerr, out.String())
		}
	}
	return sum, out.String() + errOut.String(), err
}

func TestPlayCommand(t *testing.T) {
	if _, _, err := runPlayCapture(t, "--help"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, bad := range [][]string{{"-n", "0"}, {"--duration", "0s"}, {"--encoding", "xml"}, {"extra"}, {"--drop-every", "-1s"},
		{"--seeds", "nohost"}, {"--seeds", "ws://a:1/ws"}, {"--ws", "ws://a:1/ws", "--seeds", "a:1"}} {
		if _, _, err := runPlayCapture(t, bad...); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}

	addr := startPlayArena(t, replica.Config{ResyncPeriod: time.Second})
	sum, out, err := runPlayCapture(t, "--addr", addr, "-n", "2", "--duration", "2500ms", "--encoding", "msgpack,text", "--seed", "7")
	if err != nil {
		t.Fatalf("play: %v\n%s", err, out)
	}
	if len(sum.Bots) != 2 || sum.Desyncs != 0 || sum.Errors != 0 || sum.Addr != addr {
		t.Fatalf("summary %+v", sum)
	}
	for i, r := range sum.Bots {
		if r.Name == "" || r.MessagesIn == 0 || r.Seed != uint64(7+i) || r.Encoding != []string{"msgpack", "text"}[i] {
			t.Errorf("bot %d: %+v", i, r)
		}
	}
	for _, want := range []string{`"rtt_p50_ms"`, `"kills"`, `"deaths"`, `"snaps"`, `"desyncs": 0`, "play:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}

	// A server that loses updates: the bots report DESYNC and play fails.
	drop := func(v *replica.Viewer, m any) bool {
		switch m := m.(type) {
		case *replica.Delta:
			return replica.EntityID(m.ID) != v.Followed()
		case *replica.Enter:
			return replica.EntityID(m.ID) != v.Followed()
		}
		return false
	}
	addr = startPlayArena(t, replica.Config{ResyncPeriod: time.Second, Drop: drop})
	sum, out, err = runPlayCapture(t, "--addr", addr, "-n", "2", "--duration", "5s", "--quiet")
	if err == nil || !strings.Contains(err.Error(), "DESYNC") || sum.Desyncs == 0 {
		t.Fatalf("play against a lossy server: %v, %d desyncs\n%s", err, sum.Desyncs, out)
	}

	// Nothing listening: the bot's error is reported and play fails.
	sum, _, err = runPlayCapture(t, "--addr", "127.0.0.1:1", "-n", "1", "--duration", "1s", "--quiet")
	if err == nil || sum.Errors != 1 || sum.Bots[0].Error == "" {
		t.Fatalf("play against nothing: %v, %+v", err, sum)
	}
}

// TestPlayDropEvery: with --drop-every the bots' connections are cut
// periodically; they resume every time and play passes, reporting the
// resumes. A server whose seat hold is too short to resume in makes play
// fail with the lost seats.
func TestPlayDropEvery(t *testing.T) {
	addr := startPlayArena(t, replica.Config{ResyncPeriod: time.Second})
	sum, out, err := runPlayCapture(t, "--addr", addr, "-n", "2", "--duration", "3500ms", "--drop-every", "1s", "--encoding", "msgpack,json")
	if err != nil {
		t.Fatalf("play --drop-every: %v\n%s", err, out)
	}
	if sum.Severed < 4 || sum.Resumes != sum.Severed || sum.Drops != sum.Severed || sum.SeatsLost != 0 || sum.Desyncs != 0 || sum.ResumeMismatches != 0 {
		t.Fatalf("summary: %d severed, %d drops, %d resumes, %d seats lost, %d desyncs, %d mismatches",
			sum.Severed, sum.Drops, sum.Resumes, sum.SeatsLost, sum.Desyncs, sum.ResumeMismatches)
	}
	for _, want := range []string{`"resumes":`, `"seats_lost": 0`, `"resume_max_ms"`, "moves  0 seats lost"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}

	// The server stops accepting connections after the first cut and its
	// resume: at the second cut the bot cannot reach it within the hold.
	addr, ln := startPlayArenaConfig(t, replica.Config{}, server.Config{SeatHold: 300 * time.Millisecond})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		ln.Close()
	}()
	sum, out, err = runPlayCapture(t, "--addr", addr, "-n", "1", "--duration", "4s", "--drop-every", "1s", "--quiet")
	if err == nil || !strings.Contains(err.Error(), "seats lost") || sum.SeatsLost != 1 || sum.Errors != 1 {
		t.Fatalf("play with an unresumable seat: %v, %d seats lost\n%s", err, sum.SeatsLost, out)
	}
}

// TestParseSeeds: --seeds is a comma-separated list of the bots' transport's
// addresses.
func TestParseSeeds(t *testing.T) {
	if s, err := parseSeeds(" a:1, b:2,,", false); err != nil || strings.Join(s, " ") != "a:1 b:2" {
		t.Fatalf("tcp seeds %q, %v", s, err)
	}
	if s, err := parseSeeds("ws://a:1/ws,wss://b/ws", true); err != nil || len(s) != 2 {
		t.Fatalf("ws seeds %q, %v", s, err)
	}
	if s, err := parseSeeds("", false); err != nil || s != nil {
		t.Fatalf("no seeds: %q, %v", s, err)
	}
}
