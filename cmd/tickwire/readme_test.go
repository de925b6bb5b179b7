package main

import (
	"context"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// readmeTranscript returns the lines of the first code block of README.md's
// "Play with netcat" section.
func readmeTranscript(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Play with netcat\n")
	if !ok {
		t.Fatal(`README.md has no "## Play with netcat" section`)
	}
	_, block, ok := strings.Cut(sec, "\n```\n")
	if !ok {
		t.Fatal("no code block in the netcat section")
	}
	block, _, _ = strings.Cut(block, "\n```\n")
	return strings.Split(block, "\n")
}

// typed reports whether a transcript line is one the person types: a
// message the client sends, by the registry's directions.
func typed(reg *msg.Registry, line string) bool {
	f := strings.Fields(line)
	if len(f) > 1 && strings.HasPrefix(f[0], "@") {
		f = f[1:]
	}
	if len(f) == 0 {
		return false
	}
	t, ok := reg.ByName(f[0])
	return ok && t.Dir&msg.ToServer != 0
}

var (
	seatToken = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	number    = regexp.MustCompile(`[0-9]+`)
)

// pattern turns a line the README shows the server sending into a regular
// expression: its numbers (ids, positions, addresses, checksums) and the
// seat token may differ, everything else must be as written.
func pattern(line string) *regexp.Regexp {
	words := strings.Split(line, " ")
	for i, w := range words {
		if seatToken.MatchString(w) {
			words[i] = "\x00"
			continue
		}
		words[i] = number.ReplaceAllString(regexp.QuoteMeta(w), `[0-9]+`)
	}
	p := strings.Join(words, " ")
	p = strings.ReplaceAll(p, "\x00", `[A-Za-z0-9_-]{43}`)
	return regexp.MustCompile("^" + p + "$")
}

// TestReadmeNetcatTranscript types the README's netcat transcript into a
// server set up as "tickwire serve" sets up its game (registry, banner,
// default limits, the arena) and checks that every line it shows comes
// back, in order; "..." stands for lines left out. The only differences
// from a fresh "tickwire serve": no bots, whose wandering would put
// random tanks in view, and two players who log in and leave first, so
// that the player spawns where the README's does (on serve, two bots take
// zone 1's first two spawn points).
func TestReadmeNetcatTranscript(t *testing.T) {
	reg := demoRegistry()
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Registry: reg, Banner: arena.Banner(ln.Addr().String()),
		Logger: slog.New(slog.DiscardHandler)}, arena.New(arena.WithBots(0)))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	for range 2 {
		p := dialLines(t, ln.Addr().String())
		p.say("AUTH guest")
		p.expect("WELCOME ")
		p.say("QUIT")
		p.expect("BYE quit")
	}

	lines := readmeTranscript(t)
	if len(lines) < 20 || !strings.HasPrefix(lines[0], "$ nc 127.0.0.1 5001") {
		t.Fatalf("the transcript does not start with nc: %q", lines[:min(len(lines), 3)])
	}
	p := dialLines(t, ln.Addr().String())
	skip := false // after "...": lines may come before the next one shown
	var got []string
	for _, l := range lines[1:] {
		switch {
		case l == "...":
			skip = true
			continue
		case typed(reg, l):
			p.say(l)
			got = append(got, "> "+l)
			skip = false
			continue
		}
		want := pattern(l)
		for {
			var line string
			select {
			case s, ok := <-p.lines:
				if !ok {
					t.Fatalf("connection closed waiting for %q\nso far:\n%s", l, strings.Join(got, "\n"))
				}
				line = s
			case <-time.After(10 * time.Second):
				t.Fatalf("no line like %q\nso far:\n%s", l, strings.Join(got, "\n"))
			}
			if line == "" {
				continue // a keepalive
			}
			got = append(got, line)
			if want.MatchString(line) {
				break
			}
			if !skip {
				t.Fatalf("got %q, the README shows %q\nso far:\n%s", line, l, strings.Join(got, "\n"))
			}
		}
		skip = false
	}
	if testing.Verbose() {
		t.Logf("session:\n%s", strings.Join(got, "\n"))
	}
}
