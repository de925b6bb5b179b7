package arena

import (
	"fmt"
	"math"
	"time"
)

// Rules shared by the server and by clients that predict their own
// movement: Step is the deterministic movement step a client replays in a
// replica.Predictor, and PathClear is the wall check both sides apply.
//
// Every rule is written in units, seconds and units per second; none in
// ticks. The arena converts them at the server's tick rate (Game.Init),
// and a client converts them at the rate the server announces in LIMITS.

// Units, speeds and ranges. Positions are in units; a tile is Unit units.
const (
	// Unit is the side of a tile in position units.
	Unit = 10
	// Speed is the fastest a tank may move, in units per second.
	Speed = 60
	// MaxBank caps the movement a tank may save up, in seconds of Speed,
	// so bursts of delayed inputs pass but teleporting does not.
	MaxBank = 1.0
	// ViewRadius is how far a tank sees (when no wall is in the way).
	ViewRadius = 12 * Unit
	// FireRange is the reach of a shot; HitRadius how close to the line of
	// fire a tank must be to be hit.
	FireRange = 10 * Unit
	HitRadius = 6
	// Damage is what one hit takes off; MaxHP what a tank starts with.
	Damage = 25
	MaxHP  = 100
	// ChestReach is how near a tank must be to a chest to open it.
	ChestReach = 25
	// MedkitHeal is what APPLY medkit heals; HeavyShells how many heavy
	// shells APPLY ammo loads (each hit with one does twice Damage, and
	// a tank holds at most MaxShells); GoldScore and GemScore what taking
	// gold and a gem adds to the score (a kill adds 1).
	MedkitHeal  = 50
	HeavyShells = 3
	MaxShells   = 9
	GoldScore   = 1
	GemScore    = 3
	// StrikeAfter impossible moves within StrikeWindow earn one
	// Player.Strike("impossible_move").
	StrikeAfter = 3
)

// Times of the arena's rules. The arena turns each into ticks at the
// server's tick rate, rounding up (Game.Init): a rule never runs sooner
// than it says.
const (
	// FireCooldown is the least time between two shots of a tank's gun.
	FireCooldown = 500 * time.Millisecond
	// RespawnDelay is how long a destroyed tank waits before it reappears.
	RespawnDelay = 3 * time.Second
	// StrikeWindow is the window StrikeAfter impossible moves must fall in
	// to earn a strike.
	StrikeWindow = 10 * time.Second
	// ResyncPeriod is the arena's replica.Config.ResyncPeriod (unless
	// WithSync sets one): how long one resync cycle of a player's view
	// takes.
	ResyncPeriod = 30 * time.Second
	// BotSteer is how long a server-driven tank keeps a direction at
	// least; it keeps it up to BotSteer+BotSteerSpread.
	BotSteer       = time.Second
	BotSteerSpread = 2 * time.Second
	// RestockPeriod is how often every closed chest gets one new item in
	// an empty slot, and a chest that was unlocked locks again.
	RestockPeriod = 30 * time.Second
	// LeaveDelay is how long a tank or chest must stay out of sight before
	// a player in human mode is told it left the view: at the edge of
	// sight an entity comes and goes, and the player hears of it once.
	LeaveDelay = 2 * time.Second
)

// TileMap is a zone's tiles: a *replica.Model satisfies it on a client.
type TileMap interface {
	Tile(x, y int) (uint8, bool)
}

// Point is a position in units.
type Point struct{ X, Y int32 }

// Control is one tick of a player's stick: DX and DY are -1, 0 or 1.
type Control struct{ DX, DY int8 }

// Passable reports whether a tank may stand at x, y: inside the map and not
// in a wall.
func Passable(m TileMap, x, y int32) bool {
	if x < 0 || y < 0 {
		return false
	}
	t, ok := m.Tile(int(x/Unit), int(y/Unit))
	return ok && t != TileWall
}

// PathClear reports whether a tank can go straight from a to b: every point
// of the segment, sampled at least once per unit, is passable.
func PathClear(m TileMap, a, b Point) bool {
	dx, dy := b.X-a.X, b.Y-a.Y
	n := max(abs32(dx), abs32(dy))
	if n == 0 {
		return Passable(m, a.X, a.Y)
	}
	for i := int32(0); i <= n; i++ {
		if !Passable(m, a.X+dx*i/n, a.Y+dy*i/n) {
			return false
		}
	}
	return true
}

// StepUnits returns how far a straight Step moves along its axis at rate
// ticks per second: Speed times the tick period (1/rate s) in whole units,
// that is Speed/rate in integer division (truncated, so a straight Step is
// never faster than Speed), but at least 1 (faster than Speed above
// Speed ticks per second, where the movement allowance paces a tank). It
// is computed from the integer rate, never from a rounded period: 6 at
// 10 Hz, 3 at 20 Hz, 2 at 30 Hz, 1 at 60 Hz. It panics if rate < 1.
func StepUnits(rate int) int32 {
	if rate < 1 {
		panic(fmt.Sprintf("arena: tick rate %d: want 1 or more ticks per second", rate))
	}
	if rate > Speed {
		return 1
	}
	return Speed / int32(rate)
}

// DiagonalUnits returns how far a diagonal Step moves along each axis at
// rate ticks per second: two thirds of StepUnits(rate), truncated
// (2*StepUnits(rate)/3 in integer division, so the step is at most
// 2/3*sqrt(2), about 0.94, of a straight one), but at least 1.
func DiagonalUnits(rate int) int32 {
	return max(1, StepUnits(rate)*2/3)
}

// Step moves p one tick at rate ticks per second in the direction of c:
// StepUnits(rate) along one axis, DiagonalUnits(rate) along each on a
// diagonal, sliding along a wall when only one axis is blocked and staying
// put when both are. Server and clients must pass the same rate: the
// server's (server.Settings.TickRate; LIMITS on the wire).
func Step(m TileMap, p Point, c Control, rate int) Point {
	u := StepUnits(rate)
	if c.DX != 0 && c.DY != 0 {
		u = DiagonalUnits(rate)
	}
	sx, sy := int32(sign8(c.DX))*u, int32(sign8(c.DY))*u
	for _, q := range []Point{{p.X + sx, p.Y + sy}, {p.X + sx, p.Y}, {p.X, p.Y + sy}} {
		if q != p && PathClear(m, p, q) {
			return q
		}
	}
	return p
}

// Heading returns the direction from a to b in whole degrees, 0 east and
// 90 south (y grows downwards), or -1 if they are the same point.
func Heading(a, b Point) int32 {
	if a == b {
		return -1
	}
	d := math.Atan2(float64(b.Y-a.Y), float64(b.X-a.X)) * 180 / math.Pi
	return (int32(math.Round(d)) + 360) % 360
}

func sign8(v int8) int8 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// LineOfSight reports whether tile b can be seen from tile a: no wall on
// the Bresenham line between them (the end tiles themselves excluded).
func LineOfSight(m TileMap, ax, ay, bx, by int) bool {
	dx, dy := bx-ax, by-ay
	sx, sy := 1, 1
	if dx < 0 {
		sx, dx = -1, -dx
	}
	if dy < 0 {
		sy, dy = -1, -dy
	}
	err := dx - dy
	x, y := ax, ay
	for {
		if x == bx && y == by {
			return true
		}
		if x != ax || y != ay {
			if t, ok := m.Tile(x, y); !ok || t == TileWall {
				return false
			}
		}
		e2 := 2 * err
		if e2 > -dy {
			err -= dy
			x += sx
		}
		if e2 < dx {
			err += dx
			y += sy
		}
	}
}

// losCache memoises LineOfSight on a static map: for each tile, a bitmap
// of the tiles within losReach of it that it sees, computed on first use.
// One viewer's lookups then touch a single 80-byte bitmap.
type losCache struct {
	done []bool
	bits []uint64 // losWords per tile
}

const (
	losReach = ViewRadius/Unit + 1
	losSide  = 2*losReach + 1
	losWords = (losSide*losSide + 63) / 64
)

func newLOSCache(tiles int) losCache {
	return losCache{done: make([]bool, tiles), bits: make([]uint64, tiles*losWords)}
}

// sees reports whether tile index b is visible from tile index a of z.
func (z *zoneMap) sees(a, b int) bool {
	return z.seesXY(a%z.w, a/z.w, b%z.w, b/z.w)
}

// seesXY reports whether tile bx, by is visible from tile ax, ay, both
// inside z.
func (z *zoneMap) seesXY(ax, ay, bx, by int) bool {
	a := ay*z.w + ax
	dx, dy := bx-ax+losReach, by-ay+losReach
	if dx < 0 || dy < 0 || dx >= losSide || dy >= losSide {
		return LineOfSight(z, ax, ay, bx, by)
	}
	c := &z.los
	m := c.bits[a*losWords : (a+1)*losWords]
	if !c.done[a] {
		c.done[a] = true
		for oy := 0; oy < losSide; oy++ {
			for ox := 0; ox < losSide; ox++ {
				tx, ty := ax+ox-losReach, ay+oy-losReach
				if tx >= 0 && ty >= 0 && tx < z.w && ty < z.h && LineOfSight(z, ax, ay, tx, ty) {
					i := oy*losSide + ox
					m[i/64] |= 1 << (i % 64)
				}
			}
		}
	}
	i := dy*losSide + dx
	return m[i/64]&(1<<(i%64)) != 0
}

// tileXY returns the tile column and row holding position x, y, clamped to
// the map.
func (z *zoneMap) tileXY(x, y int32) (int, int) {
	return min(max(int(x/Unit), 0), z.w-1), min(max(int(y/Unit), 0), z.h-1)
}

// tileIndex returns the index of the tile holding position x, y (clamped
// to the map).
func (z *zoneMap) tileIndex(x, y int32) int {
	tx := min(max(int(x/Unit), 0), z.w-1)
	ty := min(max(int(y/Unit), 0), z.h-1)
	return ty*z.w + tx
}
