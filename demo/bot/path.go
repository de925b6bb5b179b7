package bot

import "github.com/tickwire/tickwire/demo/arena"

// planner finds paths on a zone's tile map: a breadth-first search from
// the bot's tile over floor tiles, in eight directions, cutting a corner
// only where both tiles beside the diagonal are floor (so a straight
// drive from centre to centre never touches a wall). Portal tiles may end
// a path but never lie on one, so a bot goes through a portal only when it
// means to.
type planner struct {
	w, h  int
	start int
	dist  []int32 // steps from the start; -1 unreached
	prev  []int32 // the tile before, on a shortest path
	queue []int32
}

var dirs = [8][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {1, 1}, {1, -1}, {-1, 1}, {-1, -1}}

// search runs the breadth-first search from tile sx, sy of m, a w x h map.
func (p *planner) search(m arena.TileMap, w, h, sx, sy int) {
	n := w * h
	p.w, p.h = w, h
	if cap(p.dist) < n {
		p.dist, p.prev = make([]int32, n), make([]int32, n)
	}
	p.dist, p.prev = p.dist[:n], p.prev[:n]
	for i := range p.dist {
		p.dist[i], p.prev[i] = -1, -1
	}
	p.start = -1
	if sx < 0 || sy < 0 || sx >= w || sy >= h {
		return
	}
	floor := func(x, y int) bool {
		t, ok := m.Tile(x, y)
		return ok && t == arena.TileFloor
	}
	s := sy*w + sx
	p.start = s
	p.dist[s] = 0
	p.queue = append(p.queue[:0], int32(s))
	for len(p.queue) > 0 {
		i := int(p.queue[0])
		p.queue = p.queue[1:]
		x, y := i%w, i/w
		if i != s && !floor(x, y) {
			continue // a portal: an end, not a way through
		}
		for _, d := range dirs {
			nx, ny := x+d[0], y+d[1]
			t, ok := m.Tile(nx, ny)
			if !ok || t == arena.TileWall {
				continue
			}
			if d[0] != 0 && d[1] != 0 && (!floor(x+d[0], y) || !floor(x, y+d[1])) {
				continue
			}
			j := ny*w + nx
			if p.dist[j] >= 0 {
				continue
			}
			p.dist[j] = p.dist[i] + 1
			p.prev[j] = int32(i)
			p.queue = append(p.queue, int32(j))
		}
	}
}

// reached reports whether tile index i can be reached from the start.
func (p *planner) reached(i int) bool { return i >= 0 && i < len(p.dist) && p.dist[i] >= 0 }

// path appends to buf the tiles from the start (included, so the bot first
// centres itself on its tile) to goal, which must be reached.
func (p *planner) path(goal int, buf []int) []int {
	if !p.reached(goal) {
		return buf[:0]
	}
	n := int(p.dist[goal]) + 1
	buf = append(buf[:0], make([]int, n)...)
	for i, k := goal, n-1; k >= 0; k-- {
		buf[k] = i
		i = int(p.prev[i])
	}
	return buf
}
