package arena_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// TestPlayOverText plays the arena through a real server in the text
// encoding, as someone with nc would.
func TestPlayOverText(t *testing.T) {
	reg := msg.NewRegistry()
	arena.Register(reg)
	srv, err := server.New(server.Config{Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Banner: arena.Banner("pipe")}, arena.New(arena.WithBots(2)))
	if err != nil {
		t.Fatal(err)
	}
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ln.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lines := make(chan string, 4096)
	go func() {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // the test reads what it needs; drop the rest
			}
		}
		close(lines)
	}()
	say := func(s string) { fmt.Fprintf(c, "%s\n", s) }
	waitLine(t, lines, "AUTH guest")
	say("AUTH guest")
	waitLine(t, lines, "WELCOME")
	waitLine(t, lines, "SPAWN ")
	waitLine(t, lines, "KIND 1 tank x,y,heading,hp,dead,score,inv0,inv1,inv2,inv3 hit,fire,die")
	waitLine(t, lines, "ZONE 1 1 48 32 10")
	waitLine(t, lines, "SNAPEND")
	say("HELP")
	waitLine(t, lines, "MOVE x y")
	waitLine(t, lines, "DRIVE seq x y")
	waitLine(t, lines, "GO dir [tiles]")
	say("LOOK")
	waitLine(t, lines, "INFO you: tank")
	say("GO s 1")
	waitLine(t, lines, "POS ")
	say("DRIVE 7 999 999")
	waitLine(t, lines, "ERR out_of_bounds")
	waitLine(t, lines, "ACK 7 ")
	say("MOVE 0 0")
	waitLine(t, lines, "POS ")
	waitLine(t, lines, "ERR ")
	say("FIRE")
	if l := waitLine(t, lines, "INFO "); !strings.Contains(l, "missed") && !strings.Contains(l, "hit") && !strings.Contains(l, "destroyed") {
		t.Fatalf("FIRE answered %q", l)
	}
}

// waitLine reads lines from lines until one contains want.
func waitLine(t *testing.T, lines <-chan string, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("connection closed waiting for %q", want)
			}
			if strings.Contains(l, want) {
				return l
			}
			if testing.Verbose() {
				t.Log(l)
			}
		case <-ctx.Done():
			t.Fatalf("no line containing %q", want)
		}
	}
}
