package arena

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/servertest"
)

// testRates are the tick rates the rules must hold at.
var testRates = []int{10, 20, 30, 60}

// forRates runs body as a parallel subtest at each of testRates.
func forRates(t *testing.T, body func(t *testing.T, rate int)) {
	for _, rate := range testRates {
		t.Run(fmt.Sprintf("%dHz", rate), func(t *testing.T) {
			t.Parallel()
			body(t, rate)
		})
	}
}

// An open stretch of zone 1: row 1 is floor from tile 16 to tile 40.
const (
	openX, openY = 165, 15
	openEnd      = 405
)

func TestStepUnits(t *testing.T) {
	for _, c := range []struct {
		rate           int
		straight, diag int32
	}{
		{1, 60, 40}, {7, 8, 5}, {10, 6, 4}, {20, 3, 2}, {30, 2, 1}, {50, 1, 1}, {60, 1, 1}, {61, 1, 1}, {120, 1, 1},
	} {
		if s, d := StepUnits(c.rate), DiagonalUnits(c.rate); s != c.straight || d != c.diag {
			t.Errorf("%d Hz: steps of %d and %d diagonally, want %d and %d", c.rate, s, d, c.straight, c.diag)
		}
		if got := Step(openField{}, Point{100, 100}, Control{-1, 1}, c.rate); got != (Point{100 - c.diag, 100 + c.diag}) {
			t.Errorf("%d Hz: a diagonal step went to %v", c.rate, got)
		}
	}
	for _, rate := range testRates {
		if StepUnits(rate)*int32(rate) != Speed {
			t.Errorf("%d Hz: a straight step a tick is %d units a second, want Speed", rate, StepUnits(rate)*int32(rate))
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("StepUnits(0) did not panic")
		}
	}()
	StepUnits(0)
}

// openField is a TileMap without walls.
type openField struct{}

func (openField) Tile(x, y int) (uint8, bool) {
	return TileFloor, x >= 0 && y >= 0 && x < 100 && y < 100
}

func TestTicksForRoundsUp(t *testing.T) {
	for _, c := range []struct {
		rate int
		d    time.Duration
		want uint64
	}{
		{60, FireCooldown, 30}, {60, RespawnDelay, 180}, {30, FireCooldown, 15}, {10, FireCooldown, 5},
		{7, FireCooldown, 4}, {20, time.Millisecond, 1}, {20, 0, 1}, {60, StrikeWindow, 600},
	} {
		h := newHarnessAt(t, c.rate)
		if got := h.g.ticksFor(c.d); got != c.want {
			t.Errorf("%d Hz: %v is %d ticks, want %d", c.rate, c.d, got, c.want)
		}
	}
}

// TestDriveSameDistanceEverySecond drives a tank east for two seconds,
// one Step a tick as a predicting client does, at every rate: it covers
// 2*Speed units whatever the rate, and the server refuses nothing.
func TestDriveSameDistanceEverySecond(t *testing.T) {
	forRates(t, func(t *testing.T, rate int) {
		h := newHarnessAt(t, rate)
		p := h.join("driver")
		h.place(p, 1, openX, openY)
		h.tick()
		z := h.g.players[p.id].tank.zone
		for seq := uint32(1); seq <= uint32(2*rate); seq++ {
			to := Step(z, h.posOf(p), Control{DX: 1}, rate)
			h.send(p, &Drive{Seq: seq, X: to.X, Y: to.Y})
			h.tick()
		}
		if at := h.posOf(p); at != (Point{openX + 2*Speed, openY}) {
			t.Errorf("after 2 s the tank is at %v, want %d units east of %d", at, 2*Speed, openX)
		}
		if e := h.errs[p.id]; len(e) != 0 {
			t.Errorf("refused: %+v", e[0])
		}
	})
}

// TestAllowanceInSeconds drives at twice Speed: the movement allowance
// (MaxBank seconds of Speed) runs out after a second, at every rate.
func TestAllowanceInSeconds(t *testing.T) {
	forRates(t, func(t *testing.T, rate int) {
		h := newHarnessAt(t, rate)
		p := h.join("racer")
		h.place(p, 1, openX, openY)
		h.tick()
		refusedAt := 0
		for i := 1; i <= 2*rate && refusedAt == 0; i++ {
			at := h.posOf(p)
			h.send(p, &Drive{Seq: uint32(i), X: at.X + 2*StepUnits(rate), Y: at.Y})
			h.tick()
			if e := h.errs[p.id]; len(e) > 0 {
				if e[0].Code != "too_fast" {
					t.Fatalf("refused %+v", e[0])
				}
				refusedAt = i
			}
		}
		// The bank of 1 s of Speed, spent at Speed a second net: empty
		// after a second, give or take the tick it runs out in.
		if refusedAt < rate-1 || refusedAt > rate+1 {
			t.Errorf("the first move at twice Speed refused at input %d, %.2f s; want about 1 s (%d inputs)", refusedAt, float64(refusedAt)/float64(rate), rate)
		}
	})
}

// TestFireRateSameEverySecond pulls the trigger every tick for 3 s: the
// gun fires 6 times (every FireCooldown) at every rate, and the refusals
// say when it is ready in seconds.
func TestFireRateSameEverySecond(t *testing.T) {
	forRates(t, func(t *testing.T, rate int) {
		h := newHarnessAt(t, rate)
		p := h.join("gunner")
		h.place(p, 1, openX, openY)
		h.tick()
		for range 3 * rate {
			h.send(p, &Fire{})
			h.tick()
		}
		reloading := 0
		for _, e := range h.errs[p.id] {
			if e.Code != "reloading" {
				t.Fatalf("refused %+v", e)
			}
			reloading++
			if !strings.HasSuffix(e.Text, " s (it fires twice a second)") {
				t.Fatalf("reloading says %q", e.Text)
			}
		}
		fired := 3*rate - reloading
		if want := int(3 * time.Second / FireCooldown); fired != want {
			t.Errorf("the gun fired %d times in 3 s, want %d", fired, want)
		}
		if e := h.errs[p.id][0]; e.Text != fmt.Sprintf("the gun is ready in %.2f s (it fires twice a second)", FireCooldown.Seconds()-1/float64(rate)) {
			t.Errorf("the first refusal, a tick after a shot, says %q", e.Text)
		}
	})
}

// TestRespawnSameSecondsEveryRate destroys a tank: it comes back
// RespawnDelay later at every rate, as its owner was told.
func TestRespawnSameSecondsEveryRate(t *testing.T) {
	forRates(t, func(t *testing.T, rate int) {
		h := newHarnessAt(t, rate)
		a, b := h.join("a"), h.joinHuman("b")
		h.place(a, 1, openX, openY)
		h.place(b, 1, openX+40, openY)
		h.tick()
		h.send(a, &Turn{Deg: 0})
		h.tick()
		died := 0
		for i := 0; i < 10*rate && died == 0; i++ {
			h.send(a, &Fire{})
			h.tick()
			if h.g.tanks[h.tankOf(b)].dead() {
				died = int(h.n)
			}
		}
		if died == 0 {
			t.Fatal("b was not destroyed")
		}
		got := b.take()
		if len(ofType[Gone](got)) != 1 || !containsNote(got, "destroyed by a; respawning in 3 s") {
			t.Fatalf("b was told %q", notes(got))
		}
		h.send(b, &Look{})
		h.tick()
		if l := notes(b.take()); len(l) == 0 || !strings.Contains(l[0], ", destroyed, back in "+strconv.FormatFloat(RespawnDelay.Seconds()-1/float64(rate), 'f', 1, 64)+" s") {
			t.Fatalf("LOOK while destroyed: %q", l)
		}
		for len(ofType[Spawn](b.take())) == 0 {
			if int(h.n)-died > 10*rate {
				t.Fatal("b never respawned")
			}
			h.tick()
		}
		if secs := float64(int(h.n)-died) / float64(rate); secs != RespawnDelay.Seconds() {
			t.Errorf("respawned %.3f s after being destroyed, want %v", secs, RespawnDelay)
		}
	})
}

func containsNote(msgs []any, sub string) bool {
	for _, n := range notes(msgs) {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

// TestStrikeWindowInSeconds makes three impossible moves: 4 s apart they
// fall within StrikeWindow and earn a strike, 6 s apart they do not, at
// every rate.
func TestStrikeWindowInSeconds(t *testing.T) {
	forRates(t, func(t *testing.T, rate int) {
		for _, c := range []struct {
			gap     int // seconds
			strikes int
		}{{4, 1}, {6, 0}} {
			h := newHarnessAt(t, rate)
			p := h.join("cheat")
			h.place(p, 1, openX, openY)
			h.tick()
			for i := range 3 {
				if i > 0 {
					h.ticks(c.gap*rate - 1)
				}
				h.send(p, &Drive{Seq: uint32(i + 1), X: openEnd, Y: openY})
				h.tick()
			}
			if len(h.errs[p.id]) != 3 || len(p.strikes) != c.strikes {
				t.Errorf("moves %d s apart: %d refused, %d strikes, want 3 and %d", c.gap, len(h.errs[p.id]), len(p.strikes), c.strikes)
			}
		}
	})
}

// TestPredictionAtEveryRate is TestPredictionSmoothUnder150ms at each
// rate: the client steps at the server's rate, 150 ms away.
func TestPredictionAtEveryRate(t *testing.T) {
	forRates(t, func(t *testing.T, rate int) { predictSmoothly(t, rate) })
}

// TestWorldAtTheServersRate serves the arena at each rate: the rules and
// the replica.World take the server's rate, the replica resync period
// is the arena's, and WithSync cannot make the World disagree.
func TestWorldAtTheServersRate(t *testing.T) {
	forRates(t, func(t *testing.T, rate int) {
		reg := msg.NewRegistry()
		Register(reg)
		g := New(WithBots(1))
		if g.World() != nil || g.TickRate() != 0 {
			t.Fatal("the world exists before Init")
		}
		servertest.New(t, server.Config{Registry: reg, TickRate: rate}, g)
		cfg := g.World().Config()
		if g.TickRate() != rate || cfg.TickRate != rate || cfg.ResyncPeriod != ResyncPeriod {
			t.Errorf("game at %d Hz, world at %d Hz resyncing every %v", g.TickRate(), cfg.TickRate, cfg.ResyncPeriod)
		}
		if g.respawnTicks != uint64(3*rate) || g.cooldownTicks != uint64(rate/2) {
			t.Errorf("respawn %d ticks, cooldown %d", g.respawnTicks, g.cooldownTicks)
		}
		if err := g.Init(server.Settings{TickRate: rate}); err == nil {
			t.Error("a second Init succeeded")
		}
	})
	reg := msg.NewRegistry()
	Register(reg)
	_, err := server.New(server.Config{Registry: reg, TickRate: 60}, New(WithSync(replica.Config{TickRate: 20})))
	if err == nil || !strings.Contains(err.Error(), "TickRate 20 differs from the server's 60") {
		t.Errorf("a World at 20 Hz under a 60 Hz server: %v", err)
	}
}

// TestServedAtEveryRate plays through a real server (servertest, with
// Config.CheckCauses on) at each rate: OPEN is answered with the
// request's id, a destroyed tank respawns RespawnDelay later, and every
// message a handler sends is among its Causes.
func TestServedAtEveryRate(t *testing.T) {
	forRates(t, func(t *testing.T, rate int) {
		reg := msg.NewRegistry()
		Register(reg)
		g := New(WithBots(0)) // no bot may come into the line of fire
		s := servertest.New(t, server.Config{Registry: reg, TickRate: rate}, g)
		a, b := s.Dial(msg.Text), s.Dial(msg.JSON)
		a.Login() // reads LIMITS, the rate a client predicts at
		b.Login()
		a.Drain()
		b.Drain()
		place := func(c *servertest.Client, x, y int32) {
			pl := g.players[c.ID()]
			pl.tank.zone = g.zones[1]
			g.w.SetZone(pl.tank.id, 1, x, y)
		}

		// OPEN, answered with the request id; the tank's open field.
		var chest replica.EntityID
		for _, id := range g.chestIDs {
			if g.chests[id].zone.id == 1 && g.w.Get(id, ChestLocked) == 0 {
				chest = id
				break
			}
		}
		at := g.pos(chest)
		place(a, at.X, at.Y)
		s.Tick()
		a.Drain()
		a.SendLine(fmt.Sprintf("@7 OPEN %d", chest))
		s.Tick()
		if l := a.SkipTo("@7 "); !strings.HasPrefix(l, fmt.Sprintf("@7 INFO chest %d: 0:", chest)) {
			t.Fatalf("OPEN answered %q", l)
		}
		atank := g.players[a.ID()].tank.id
		if g.w.Get(atank, TankOpen) != int32(chest) {
			t.Fatalf("open field %d, want %d", g.w.Get(atank, TankOpen), chest)
		}
		a.SendLine("CLOSE")
		s.Tick()
		a.SkipTo(fmt.Sprintf("INFO chest %d closed", chest))
		if g.w.Get(atank, TankOpen) != 0 {
			t.Fatalf("open field %d after CLOSE", g.w.Get(atank, TankOpen))
		}

		// b, in JSON, is destroyed by a and respawns 3 s later.
		place(a, openX, openY)
		place(b, openX+40, openY)
		s.Tick()
		a.SendLine("TURN 0")
		for i := 0; !g.tanks[g.players[b.ID()].tank.id].dead(); i++ {
			if i > 10*rate {
				t.Fatal("b was not destroyed")
			}
			a.SendLine("FIRE")
			s.Tick()
		}
		if l := b.SkipTo("INFO destroyed by "); !strings.HasSuffix(l, "; respawning in 3 s") {
			t.Fatalf("b was told %q", l)
		}
		b.SkipTo("GONE ")
		a.Drain()
		b.Drain()
		for n := 1; ; n++ {
			s.Tick()
			if spawned := func() bool {
				for _, l := range b.Drain() {
					if strings.HasPrefix(l, "SPAWN ") {
						return true
					}
				}
				return false
			}(); spawned {
				if secs := float64(n) / float64(rate); secs != RespawnDelay.Seconds() {
					t.Errorf("respawned %v s after being destroyed, want %v", secs, RespawnDelay)
				}
				break
			}
			if n > 10*rate {
				t.Fatal("b never respawned")
			}
		}
	})
}

// WHO on one server lists its players; a flood of it is rate limited
// (1 a second, burst 2) rather than answered line by line.
func TestWhoListsPlayersAndIsRateLimited(t *testing.T) {
	reg := msg.NewRegistry()
	Register(reg)
	g := New(WithBots(0))
	s := servertest.New(t, server.Config{Registry: reg}, g)
	a, b := s.Dial(msg.Text), s.Dial(msg.Text)
	wa, wb := a.Login(), b.Login()
	a.Drain()
	a.SendLine("@3 WHO")
	s.Tick()
	l := a.SkipTo("@3 ")
	if !strings.HasPrefix(l, "@3 INFO online: 2:") || !strings.Contains(l, wa.Name) || !strings.Contains(l, wb.Name) {
		t.Fatalf("WHO answered %q", l)
	}
	for i := 0; i < 20; i++ {
		a.SendLine("WHO")
	}
	s.Tick()
	lines := a.Drain()
	if n := countPrefix(lines, "INFO online"); n > 2 {
		t.Fatalf("a WHO flood got %d answers, want at most the burst of 2: %q", n, lines)
	}
	if countPrefix(lines, "ERR rate_limited WHO") == 0 {
		t.Fatalf("a WHO flood was not told it is rate limited: %q", lines)
	}
}
