package arena

import (
	"fmt"
	"strings"
)

// lookSide is the side of the LOOK map in tiles: it covers the view radius
// in every direction.
const lookSide = 2*ViewRadius/Unit + 1

// Map characters of LOOK.
const (
	markYou    = '@'
	markTank   = 'T'
	markWreck  = 'x'
	markChest  = 'C'
	markLocked = 'L'
	markWall   = '#' // also outside the map
	markPortal = 'O'
	markFloor  = '.'
)

// lookWindow returns the first column and row of the LOOK map of a tank
// at tile cx, cy of z: centred on the tank, and moved inside the map when
// the map is larger than the window, so that it never wastes columns on
// what is outside. It still covers every tile within the view radius that
// is inside the map.
func lookWindow(z *zoneMap, cx, cy int) (x0, y0 int) {
	place := func(c, size int) int {
		o := c - lookSide/2
		if size >= lookSide {
			o = min(max(o, 0), size-lookSide)
		}
		return o
	}
	return place(cx, z.w), place(cy, z.h)
}

// look answers LOOK with INFO lines: the player's tank, inventory, a map
// around it covering the view radius, and the entities it sees, nearest
// first. It shows only what the player's client was sent, so it reveals
// nothing the protocol hides.
func (g *sim) look(pl *player) {
	for _, l := range g.lookLines(pl) {
		g.note(pl, "%s", l)
	}
}

func (g *sim) lookLines(pl *player) []string {
	t := pl.tank
	z := t.zone
	at := g.pos(t.id)
	w := g.w
	state := "alive"
	if t.dead() {
		state = "destroyed, back in " + g.secondsLeft(t.respawnAt)
	}
	aim := ""
	if t.aim != 0 {
		aim = fmt.Sprintf(", aiming at tank %d", t.aim)
	}
	lines := []string{
		fmt.Sprintf("you: tank %d %s in zone %d (%s) at tile %d,%d (position %d,%d); heading %d%s, hp %d, score %d, %s",
			t.id, w.Name(t.id), z.id, z.name, at.X/Unit, at.Y/Unit, at.X, at.Y,
			w.Get(t.id, TankHeading), aim, w.Get(t.id, TankHP), w.Get(t.id, TankScore), state),
		fmt.Sprintf("inventory: %s; heavy shells %d", g.items(t.id, TankInv0, InvSlots), t.shells),
	}
	if pl.open != 0 {
		lines = append(lines, fmt.Sprintf("open chest %d: %s", pl.open, g.items(pl.open, ChestSlot0, ChestSlots)))
	}
	cx, cy := int(at.X/Unit), int(at.Y/Unit)
	x0, y0 := lookWindow(z, cx, cy)
	grid := make([][]byte, lookSide)
	for r := range grid {
		grid[r] = make([]byte, lookSide)
		for c := range grid[r] {
			tl, ok := z.Tile(x0+c, y0+r)
			switch {
			case !ok || tl == TileWall:
				grid[r][c] = markWall
			case tl == TilePortal:
				grid[r][c] = markPortal
			default:
				grid[r][c] = markFloor
			}
		}
	}
	put := func(p Point, mark byte) {
		c, r := int(p.X/Unit)-x0, int(p.Y/Unit)-y0
		if r >= 0 && r < lookSide && c >= 0 && c < lookSide {
			grid[r][c] = mark
		}
	}
	seen := g.inView(pl)
	// Chests first, so that a tank standing on a chest shows.
	for _, id := range seen {
		if g.chests[id] != nil {
			mark := byte(markChest)
			if w.Get(id, ChestLocked) != 0 {
				mark = markLocked
			}
			put(g.pos(id), mark)
		}
	}
	var list []string
	for _, id := range seen {
		p := g.pos(id)
		where := fmt.Sprintf("at tile %d,%d, %s", p.X/Unit, p.Y/Unit, relative(at, p))
		if g.chests[id] != nil {
			lock := ""
			if w.Get(id, ChestLocked) != 0 {
				lock = ", locked"
			}
			list = append(list, fmt.Sprintf("chest %d %s (%d open%s)", id, where, w.Get(id, ChestUsers), lock))
			continue
		}
		if o := g.tanks[id]; o != nil && o.dead() {
			put(p, markWreck)
			list = append(list, fmt.Sprintf("tank %d %s %s, destroyed", id, w.Name(id), where))
			continue
		}
		put(p, markTank)
		list = append(list, fmt.Sprintf("tank %d %s %s, hp %d", id, w.Name(id), where, w.Get(id, TankHP)))
	}
	put(at, markYou)

	lines = append(lines, fmt.Sprintf("map x %d to %d, y %d to %d (you see %d tiles, not through walls): %c you, %c tank, %c wreck, %c chest, %c locked chest, %c portal, %c wall",
		x0, x0+lookSide-1, y0, y0+lookSide-1, ViewRadius/Unit, markYou, markTank, markWreck, markChest, markLocked, markPortal, markWall))
	label := len(fmt.Sprint(max(y0+lookSide-1, 10)))
	tens, ones := make([]byte, lookSide), make([]byte, lookSide)
	for c := range lookSide {
		x := x0 + c
		if x < 0 || x >= z.w {
			tens[c], ones[c] = '-', '-'
			continue
		}
		tens[c], ones[c] = byte('0'+x/10%10), byte('0'+x%10)
	}
	pad := strings.Repeat(" ", label)
	lines = append(lines, "x "+pad+"|"+string(tens), "x "+pad+"|"+string(ones))
	for r, row := range grid {
		y := y0 + r
		lab := fmt.Sprintf("%0*d", label, y)
		if y < 0 || y >= z.h {
			lab = strings.Repeat("-", label)
		}
		lines = append(lines, "y "+lab+"|"+string(row))
	}
	switch {
	case len(list) == 0:
		lines = append(lines, "you see nobody")
	default:
		for i, l := range list {
			if i == 20 {
				lines = append(lines, fmt.Sprintf("and %d more", len(list)-i))
				break
			}
			lines = append(lines, "you see "+l)
		}
	}
	return lines
}
