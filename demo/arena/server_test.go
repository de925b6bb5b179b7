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

// TestResumeKeepsTheTank drops a player's connection mid-game: the tank
// stays in the world (another player never sees it removed), and the
// resumed player gets the same tank and a fresh snapshot.
func TestResumeKeepsTheTank(t *testing.T) {
	reg := msg.NewRegistry()
	arena.Register(reg)
	srv, err := server.New(server.Config{Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, arena.New(arena.WithBots(0)))
	if err != nil {
		t.Fatal(err)
	}
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open := func() (func(string), <-chan string, func()) {
		c, err := ln.Dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 4096)
		go func() {
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				select {
				case lines <- sc.Text():
				default:
				}
			}
			close(lines)
		}()
		return func(s string) { fmt.Fprintf(c, "%s\n", s) }, lines, func() { c.Close() }
	}
	sayA, linesA, dropA := open()
	sayA("AUTH guest")
	welcome := strings.Fields(waitLine(t, linesA, "WELCOME "))
	seat := strings.Fields(waitLine(t, linesA, "SEAT "))
	spawn := strings.Fields(waitLine(t, linesA, "SPAWN "))
	waitLine(t, linesA, "SNAPEND")
	sayA("GO e 1")
	waitLine(t, linesA, "POS ")

	sayB, linesB, _ := open()
	sayB("AUTH guest")
	waitLine(t, linesB, "SNAPEND")

	dropA()
	// B keeps seeing A's tank: poll LOOK until it has seen two answers
	// after the drop, and make sure no REMOVE of the tank came.
	for i := 0; i < 2; i++ {
		time.Sleep(100 * time.Millisecond)
		sayB("LOOK")
		waitLine(t, linesB, "INFO you: tank")
	}

	sayR, linesR, _ := open()
	sayR("RESUME " + welcome[2] + " " + seat[1])
	if w := strings.Fields(waitLine(t, linesR, "WELCOME ")); w[1] != welcome[1] || w[2] != welcome[2] {
		t.Fatalf("resumed as %q, want %q", w, welcome)
	}
	waitLine(t, linesR, "SEAT ")
	if s := strings.Fields(waitLine(t, linesR, "SPAWN ")); s[1] != spawn[1] {
		t.Fatalf("resumed with tank %s, had %s", s[1], spawn[1])
	}
	waitLine(t, linesR, "KIND 1 tank")
	waitLine(t, linesR, "ZONE 1 ")
	waitLine(t, linesR, "SNAPEND")
	sayR("GO e 1")
	waitLine(t, linesR, "POS "+spawn[1])
	for {
		select {
		case l := <-linesB:
			if l == "REMOVE "+spawn[1] {
				t.Fatal("the other player saw the held tank removed")
			}
			continue
		default:
		}
		break
	}
}
