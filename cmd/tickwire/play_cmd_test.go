package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
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
	t.Helper()
	srv, err := server.New(server.Config{Registry: demoRegistry(), Logger: slog.New(slog.DiscardHandler)},
		arena.New(arena.WithBots(4), arena.WithSync(sync)))
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
	return ln.Addr().String()
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
	for _, bad := range [][]string{{"-n", "0"}, {"--duration", "0s"}, {"--encoding", "xml"}, {"extra"}} {
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
