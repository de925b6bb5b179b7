package bot

import (
	"strings"
	"testing"

	"github.com/tickwire/tickwire/demo/arena"
)

// textMap is a TileMap drawn as text: # wall, O portal, anything else
// floor.
type textMap []string

func (m textMap) Tile(x, y int) (uint8, bool) {
	if y < 0 || y >= len(m) || x < 0 || x >= len(m[y]) {
		return 0, false
	}
	switch m[y][x] {
	case '#':
		return arena.TileWall, true
	case 'O':
		return arena.TilePortal, true
	}
	return arena.TileFloor, true
}

// TestPlannerAvoidsWallsAndPortals plans round a wall, never cutting a
// corner or crossing a portal, and reaches a portal only as a goal. A
// drive along the path with arena.Step, as the bot does, gets there.
func TestPlannerAvoidsWallsAndPortals(t *testing.T) {
	m := textMap{
		"#########",
		"#s..#...#",
		"#...#.#.#",
		"#.O.#.#g#",
		"#.....#.#",
		"#########",
	}
	find := func(c byte) int {
		for y, row := range m {
			if x := strings.IndexByte(row, c); x >= 0 {
				return y*len(row) + x
			}
		}
		t.Fatalf("no %c", c)
		return 0
	}
	w, h := len(m[0]), len(m)
	var p planner
	s := find('s')
	p.search(m, w, h, s%w, s/w)
	path := p.path(find('g'), nil)
	if len(path) == 0 || path[0] != s || path[len(path)-1] != find('g') {
		t.Fatalf("path %v", path)
	}
	for i, ti := range path {
		x, y := ti%w, ti/w
		if c := m[y][x]; c == '#' || c == 'O' {
			t.Fatalf("path step %d on %c at %d,%d", i, c, x, y)
		}
		if i > 0 {
			px, py := path[i-1]%w, path[i-1]/w
			if x != px && y != py && (m[py][x] == '#' || m[y][px] == '#') {
				t.Fatalf("path cuts the corner between %d,%d and %d,%d", px, py, x, y)
			}
		}
	}
	if portal := p.path(find('O'), nil); len(portal) == 0 {
		t.Fatal("the portal is not reachable as a goal")
	}
	// Drive it as the bot does, at every tick rate: the steps differ
	// (arena.StepUnits), the bot reaches every waypoint all the same.
	for _, rate := range []int{10, 20, 30, 60} {
		at := center(s, w)
		tol := arrived(rate)
		steps := 0
		for _, ti := range path {
			wp := center(ti, w)
			for n := 0; abs32(wp.X-at.X) > tol || abs32(wp.Y-at.Y) > tol; n++ {
				next := arena.Step(m, at, arena.Control{DX: towards(wp.X-at.X, tol), DY: towards(wp.Y-at.Y, tol)}, rate)
				if next == at || n > 20 {
					t.Fatalf("%d Hz: stuck at %v on the way to %v", rate, at, wp)
				}
				if tl, _ := m.Tile(int(next.X/arena.Unit), int(next.Y/arena.Unit)); tl != arena.TileFloor {
					t.Fatalf("%d Hz: drove onto tile %d at %v", rate, tl, next)
				}
				at = next
				steps++
			}
		}
		if end := center(path[len(path)-1], w); abs32(end.X-at.X) > tol || abs32(end.Y-at.Y) > tol {
			t.Fatalf("%d Hz: ended at %v, not at %v", rate, at, end)
		}
		t.Logf("%d Hz: %d steps of %d units", rate, steps, arena.StepUnits(rate))
	}
	// Walled in: nothing but the start is reachable.
	p.search(textMap{"###", "#.#", "###"}, 3, 3, 1, 1)
	if p.reached(0) || !p.reached(4) || len(p.path(4, nil)) != 1 {
		t.Fatal("walled-in search")
	}
}
