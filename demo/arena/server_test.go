package arena_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// TestPlayOverText plays the arena through a real server in the text
// encoding, as someone with nc would: human mode first (readable lines,
// no sync stream), then MODE sync, as a program speaking text does.
func TestPlayOverText(t *testing.T) {
	reg := msg.NewRegistry()
	arena.Register(reg)
	srv, err := server.New(server.Config{Registry: reg, CheckCauses: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
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
	var human []string // every line before the switch to sync
	record := func(l string) { human = append(human, l) }
	say := func(s string) { fmt.Fprintf(c, "%s\n", s) }
	waitLineRec(t, lines, "AUTH guest within 5 s", record)
	say("AUTH guest")
	waitLineRec(t, lines, "WELCOME", record)
	waitLineRec(t, lines, "SPAWN ", record)
	waitLineRec(t, lines, "INFO human mode", record)
	waitLineRec(t, lines, "INFO in view: ", record)
	say("HELP")
	waitLineRec(t, lines, "MOVE x y", record)
	waitLineRec(t, lines, "DRIVE seq x y", record)
	waitLineRec(t, lines, "GO dir [tiles]", record)
	say("LOOK")
	waitLineRec(t, lines, "INFO you: tank", record)
	waitLineRec(t, lines, "INFO y 00|", record)
	say("GO s 1")
	waitLineRec(t, lines, "POS ", record)
	say("DRIVE 7 999 999")
	waitLineRec(t, lines, "POS ", record) // in human mode DRIVE is answered like MOVE
	waitLineRec(t, lines, "ERR out_of_bounds", record)
	say("MOVE 0 0")
	waitLineRec(t, lines, "POS ", record)
	waitLineRec(t, lines, "ERR ", record)
	say("FIRE")
	if l := waitLineRec(t, lines, "INFO ", record); !strings.Contains(l, "missed") && !strings.Contains(l, "hit") && !strings.Contains(l, "destroyed") {
		t.Fatalf("FIRE answered %q", l)
	}
	say("MODE")
	waitLineRec(t, lines, "INFO mode human", record)
	for _, l := range human {
		for _, sync := range []string{"KIND ", "ZONE ", "TILES ", "ENTER ", "DELTA ", "EVENT ", "REMOVE ", "SNAPEND ", "STATE ", "RSLICE ", "ACK "} {
			if strings.HasPrefix(l, sync) {
				t.Fatalf("human mode got the sync line %q", l)
			}
		}
	}

	say("MODE sync")
	waitLine(t, lines, "INFO sync mode")
	waitLine(t, lines, "SPAWN ")
	waitLine(t, lines, "KIND 1 tank x,y,heading,hp,dead,score,inv0,inv1,inv2,inv3,open hit,fire,die")
	waitLine(t, lines, "KIND 2 chest x,y,users,slot0,slot1,slot2,slot3,slot4,slot5,locked")
	if l := waitLine(t, lines, "ZONE 1 "); !strings.HasSuffix(l, " 48 32 10") {
		t.Fatalf("zone %q", l)
	}
	waitLine(t, lines, "TILES ")
	waitLine(t, lines, "SNAPEND")
	say("DRIVE 8 999 999")
	waitLine(t, lines, "ERR out_of_bounds")
	waitLine(t, lines, "ACK 8 ")
	say("MODE human")
	waitLine(t, lines, "INFO human mode")
}

// waitLineRec is waitLine that also passes every line it reads to rec.
func waitLineRec(t *testing.T, lines <-chan string, want string, rec func(string)) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("connection closed waiting for %q", want)
			}
			rec(l)
			if strings.Contains(l, want) {
				return l
			}
		case <-ctx.Done():
			t.Fatalf("no line containing %q", want)
		}
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
	srv, err := server.New(server.Config{Registry: reg, CheckCauses: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, arena.New(arena.WithBots(0)))
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
	// Both play in sync mode, as programs speaking text do: the test
	// watches the sync stream. The mode goes with the seat.
	sayA, linesA, dropA := open()
	sayA("AUTH guest")
	sayA("MODE sync")
	welcome := strings.Fields(waitLine(t, linesA, "WELCOME "))
	seat := strings.Fields(waitLine(t, linesA, "SEAT "))
	spawn := strings.Fields(waitLine(t, linesA, "SPAWN "))
	waitLine(t, linesA, "SNAPEND")
	sayA("GO e 1")
	waitLine(t, linesA, "POS ")

	sayB, linesB, _ := open()
	sayB("AUTH guest")
	sayB("MODE sync")
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

// ncPlayer is a person at nc: it types lines and reads what comes back.
type ncPlayer struct {
	t     *testing.T
	name  string
	conn  io.Writer
	lines chan string
	// dropped counts lines that arrived while lines was full.
	dropped atomic.Int64
}

func dialNC(t *testing.T, ln *transport.PipeListener, name string) *ncPlayer {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ln.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A player the test does not read for a while (b, while a hunts it)
	// still gets the narration of everything it sees: room for a minute
	// of it, and a count of what did not fit, so a timeout says why.
	p := &ncPlayer{t: t, name: name, conn: c, lines: make(chan string, 1<<16)}
	go func() {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
				p.dropped.Add(1)
			}
		}
		close(p.lines)
	}()
	return p
}

func (p *ncPlayer) say(s string) {
	p.t.Helper()
	if _, err := fmt.Fprintf(p.conn, "%s\n", s); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// until reads lines until one satisfies ok; it returns that line.
func (p *ncPlayer) until(what string, ok func(string) bool) string {
	p.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case l, open := <-p.lines:
			if !open {
				p.t.Fatalf("%s: connection closed waiting for %s", p.name, what)
			}
			if testing.Verbose() {
				p.t.Logf("%s < %s", p.name, l)
			}
			if ok(l) {
				return l
			}
		case <-timeout:
			p.t.Fatalf("%s: no %s (%d lines dropped unread)", p.name, what, p.dropped.Load())
		}
	}
}

func (p *ncPlayer) prefix(pre string) string {
	p.t.Helper()
	return p.until(strconv.Quote(pre), func(l string) bool { return strings.HasPrefix(l, pre) })
}

// answer reads until the answer to a command: an ERR or a line with one
// of the prefixes.
func (p *ncPlayer) answer(prefixes ...string) string {
	p.t.Helper()
	return p.until(fmt.Sprint(prefixes), func(l string) bool {
		if strings.HasPrefix(l, "ERR ") {
			return true
		}
		for _, pre := range prefixes {
			if strings.HasPrefix(l, pre) {
				return true
			}
		}
		return false
	})
}

// TestNetcatFindAimDestroyAndChest is the "done when": using only
// what HELP and the banner say, a person at nc opens a chest and takes an
// item, finds another tank, aims at it and destroys it; the other person
// reads that they are hit and destroyed. Both are in human mode, on a
// server without bots.
func TestNetcatFindAimDestroyAndChest(t *testing.T) {
	t.Parallel()
	reg := msg.NewRegistry()
	arena.Register(reg)
	srv, err := server.New(server.Config{Registry: reg, CheckCauses: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Banner: arena.Banner("pipe")}, arena.New(arena.WithBots(0)))
	if err != nil {
		t.Fatal(err)
	}
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	a, b := dialNC(t, ln, "a"), dialNC(t, ln, "b")
	a.prefix("INFO tickwire arena on pipe: type AUTH guest within 5 s")
	a.say("AUTH guest")
	aName := strings.Fields(a.prefix("WELCOME "))[2] // guest-<connection id>: a's may be 1 or 2
	a.prefix("INFO in view: ")
	b.say("AUTH guest")
	bName := strings.Fields(b.prefix("WELCOME "))[2]
	b.prefix("INFO in view: ")

	// The chest south of the spawn point: GO there, LOOK finds its id.
	a.say("GO se 2")
	a.prefix("POS ")
	time.Sleep(time.Second) // the tank drives 6 tiles a second
	a.say("GO s 5")
	a.prefix("POS ")
	a.say("LOOK")
	seen := a.prefix("INFO you see chest ")
	chest := strings.Fields(seen)[4]
	a.say("OPEN " + chest)
	contents := a.answer("INFO chest " + chest + ": ")
	slot := ""
	for _, f := range strings.Fields(strings.TrimPrefix(contents, "INFO chest "+chest+": ")) {
		if n, item, ok := strings.Cut(strings.TrimSuffix(f, ";"), ":"); ok && item != "-" && len(n) == 1 {
			slot = n
			break
		}
	}
	if slot == "" {
		t.Fatalf("OPEN: %q", contents)
	}
	a.say("TAKE " + slot)
	if l := a.answer("INFO took "); !strings.HasPrefix(l, "INFO took ") {
		t.Fatalf("TAKE: %q", l)
	}
	a.say("CLOSE")
	a.prefix("INFO chest " + chest + " closed")

	// Back north and east along the top row until b comes into view.
	time.Sleep(time.Second)
	a.say("GO n 6")
	a.prefix("POS ")
	var bTank string
	view := regexp.MustCompile(`^INFO ` + bName + ` \(tank (\d+)\) comes into view`)
	for i := 0; bTank == ""; i++ {
		if i == 20 {
			t.Fatal("b never came into view")
		}
		time.Sleep(time.Second)
		a.say("GO e 6")
		a.until("POS, ERR or b in view", func(l string) bool {
			if m := view.FindStringSubmatch(l); m != nil {
				bTank = m[1]
			}
			return strings.HasPrefix(l, "POS ") || strings.HasPrefix(l, "ERR ") || bTank != ""
		})
	}
	// AIM, closing in until b is in range, then FIRE until destroyed.
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("b never in range")
		}
		a.say("AIM " + bTank)
		l := a.answer("INFO aiming at ")
		if strings.Contains(l, "in range: FIRE") {
			break
		}
		time.Sleep(time.Second)
		a.say("GO e 3")
		a.prefix("POS ")
	}
	for i := 0; ; i++ {
		if i == 30 {
			t.Fatal("b never destroyed")
		}
		a.say("FIRE")
		l := a.answer("INFO hit ", "INFO destroyed ", "INFO missed")
		if strings.HasPrefix(l, "INFO destroyed "+bName+" (tank "+bTank+")") {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	b.prefix("INFO you are hit by " + aName)
	b.prefix("INFO destroyed by ")
	b.prefix("GONE " + bTank)
	b.prefix("INFO your tank is back: respawned at tile ")
	a.say("QUIT")
	a.prefix("BYE quit")
}
