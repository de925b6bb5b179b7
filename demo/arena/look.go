package arena

import (
	"fmt"
	"strings"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// Size of the LOOK map window, in tiles.
const lookW, lookH = 31, 15

// look answers LOOK with INFO lines: the player's tank, inventory, a map
// around it and the entities it sees. It shows only what the player's
// client was sent, so it reveals nothing the protocol hides.
func (g *sim) look(pl *player) {
	t := pl.tank
	z := t.zone
	at := g.pos(t.id)
	w := g.w
	state := "alive"
	if t.dead() {
		state = "destroyed"
	}
	lines := []string{
		fmt.Sprintf("you: tank %d %s in zone %d (%s) at %d,%d = tile %d,%d; heading %d, hp %d, score %d, %s",
			t.id, w.Name(t.id), z.id, z.name, at.X, at.Y, at.X/Unit, at.Y/Unit,
			w.Get(t.id, TankHeading), w.Get(t.id, TankHP), w.Get(t.id, TankScore), state),
		"inventory: " + g.items(t.id, TankInv0, InvSlots),
	}
	if pl.open != 0 {
		lines = append(lines, fmt.Sprintf("open chest %d: %s", pl.open, g.items(pl.open, ChestSlot0, ChestSlots)))
	}
	cx, cy := int(at.X/Unit), int(at.Y/Unit)
	x0, y0 := cx-lookW/2, cy-lookH/2
	grid := make([][]byte, lookH)
	for r := range grid {
		grid[r] = make([]byte, lookW)
		for c := range grid[r] {
			tl, ok := z.Tile(x0+c, y0+r)
			switch {
			case !ok:
				grid[r][c] = ' '
			case tl == TileWall:
				grid[r][c] = '#'
			case tl == TilePortal:
				grid[r][c] = 'O'
			default:
				grid[r][c] = '.'
			}
		}
	}
	var seen []string
	w.Near(z.id, at.X, at.Y, ViewRadius, func(e replica.Entity) bool {
		if e.ID != t.id && !pl.view.Sees(e.ID) {
			return true
		}
		c, r := int(e.X/Unit)-x0, int(e.Y/Unit)-y0
		mark := byte('T')
		desc := ""
		switch e.Kind {
		case KindTank:
			desc = fmt.Sprintf("tank %d %s at %d,%d hp %d", e.ID, w.Name(e.ID), e.X, e.Y, w.Get(e.ID, TankHP))
			if w.Get(e.ID, TankDead) != 0 {
				mark, desc = 'x', desc+" (destroyed)"
			}
		case KindChest:
			mark = 'C'
			desc = fmt.Sprintf("chest %d at %d,%d (%d open)", e.ID, e.X, e.Y, w.Get(e.ID, ChestUsers))
		}
		if e.ID == t.id {
			mark = '@'
		} else {
			seen = append(seen, desc)
		}
		if r >= 0 && r < lookH && c >= 0 && c < lookW {
			grid[r][c] = mark
		}
		return true
	})
	lines = append(lines, fmt.Sprintf("map from tile %d,%d (@ you, T tank, x wreck, C chest, # wall, O portal):", max(x0, 0), max(y0, 0)))
	for _, row := range grid {
		if s := strings.TrimRight(string(row), " "); s != "" {
			lines = append(lines, s)
		}
	}
	if len(seen) == 0 {
		lines = append(lines, "you see nobody")
	} else {
		lines = append(lines, "you see: "+strings.Join(seen, "; "))
	}
	for _, l := range lines {
		pl.peer.Send(&msg.Notice{Text: l})
	}
}
