package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/examples/relay/relay"
	"github.com/tickwire/tickwire/loadtest"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// startGame serves game with reg on a loopback TCP port for the test.
func startGame(t *testing.T, reg *msg.Registry, autoLogin bool, game server.Game) string {
	t.Helper()
	srv, err := server.New(server.Config{Registry: reg, AutoLogin: autoLogin, Logger: slog.New(slog.DiscardHandler),
		AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, game)
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

// runBotsCapture runs "tickwire bots args..." and returns the summary it
// printed (if any), its progress and warnings, and its error.
func runBotsCapture(t *testing.T, args ...string) (*loadtest.Summary, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	oldOut, oldErr := botsOut, botsErr
	botsOut, botsErr = &out, &errOut
	defer func() { botsOut, botsErr = oldOut, oldErr }()
	err := runBots(context.Background(), args)
	if out.Len() == 0 {
		return nil, errOut.String(), err
	}
	var sum loadtest.Summary
	if jerr := json.Unmarshal(out.Bytes(), &sum); jerr != nil {
		t.Fatalf("summary is not JSON: %v\n%s", jerr, out.String())
	}
	return &sum, errOut.String(), err
}

// TestBotsCommand runs "tickwire bots" against the room-relay example in
// this process, in both encodings, then against the wrong servers.
func TestBotsCommand(t *testing.T) {
	reg := msg.NewRegistry()
	relayproto.Register(reg)
	addr := startGame(t, reg, true, relay.New())
	for _, enc := range []string{"text", "msgpack"} {
		sum, progress, err := runBotsCapture(t, "--addr", addr, "-n", "6", "--room-size", "3", "--duration", "600ms", "--encoding", enc)
		if err != nil {
			t.Fatalf("%s: %v\n%s", enc, err, progress)
		}
		if sum == nil || sum.Connected != 6 || !sum.FinalStateCorrect || sum.Delivered == 0 || len(sum.Errors) != 0 {
			t.Fatalf("%s: summary %+v", enc, sum)
		}
		// Not a terminal: one progress line per second, and a last one.
		if !strings.Contains(progress, "done") || !strings.Contains(progress, "bots 6/6") {
			t.Errorf("%s: progress %q", enc, progress)
		}
	}

	// The demo arena is not a relay: the error names what it answered
	// and what to run, the summary claims no success, and the command
	// fails.
	areg := msg.NewRegistry()
	arena.Register(areg)
	arenaAddr := startGame(t, areg, false, arena.New(arena.WithBots(0)))
	sum, _, err := runBotsCapture(t, "--addr", arenaAddr, "-n", "2", "--duration", "200ms", "--quiet")
	if err == nil || !strings.Contains(err.Error(), `the server answered JOIN with "ERR unknown_message unknown command \"JOIN\"`) ||
		!strings.Contains(err.Error(), "is this the relay example?") {
		t.Errorf("against the arena: %v", err)
	}
	if sum == nil || sum.Connected != 0 || sum.FinalStateCorrect {
		t.Errorf("against the arena: summary %+v", sum)
	}
	// Nobody listening.
	free := freeAddr(t)
	if _, _, err := runBotsCapture(t, "--addr", free, "-n", "1", "--quiet"); err == nil || !strings.Contains(err.Error(), "go run ./examples/relay") {
		t.Errorf("nobody listening: %v", err)
	}
}

func TestBotsCommandFlags(t *testing.T) {
	_, usage, err := runBotsCapture(t, "--help")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"go run ./examples/relay", "(listens on 127.0.0.1:7777)", `(default "127.0.0.1:7777")`, "not the demo"} {
		if !strings.Contains(usage, want) {
			t.Errorf("--help does not say %q:\n%s", want, usage)
		}
	}
	for _, bad := range [][]string{{"-n", "0"}, {"--rate", "-1"}, {"--room-size", "0"}, {"extra"}, {"--duration", "soon"}, {"--transport", "udp"}, {"--encoding", "xml"}} {
		if sum, _, err := runBotsCapture(t, append(bad, "--quiet")...); err == nil || sum != nil {
			t.Errorf("bots %q: %v, summary %v", bad, err, sum)
		}
	}
}

// TestBotsLogOnTerminal: on a terminal a warning first clears the progress
// line it would otherwise be glued to.
func TestBotsLogOnTerminal(t *testing.T) {
	var b bytes.Buffer
	if _, err := (botsLogWriter{&b}).Write([]byte("level=WARN msg=x\n")); err != nil || b.String() != "\r\x1b[Klevel=WARN msg=x\n" {
		t.Errorf("%q, %v", b.String(), err)
	}
	if botsOnTerminal(&b) {
		t.Error("a buffer is a terminal")
	}
}
