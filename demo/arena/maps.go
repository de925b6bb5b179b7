package arena

import (
	"embed"
	"fmt"
	"strings"
)

// Zone maps are text files, one character per tile:
//
//	#  wall           .  floor
//	s  spawn point    c  chest (on floor)
//	$  locked chest: OPEN needs a key
//	A-Z portal: the two tiles with the same letter, in two zones, lead to
//	    each other
//
//go:embed maps/*.txt
var mapFiles embed.FS

// Tile codes sent in TILES messages.
const (
	TileFloor  = 0
	TileWall   = 1
	TilePortal = 2
)

// zoneNames names the zones, by id; map file N.txt is zone N.
var zoneNames = map[int]string{1: "plains", 2: "maze", 3: "vault"}

type point struct{ x, y int }

// chestSpot is where a map puts a chest.
type chestSpot struct {
	point
	locked bool
}

type zoneMap struct {
	id      int
	name    string
	w, h    int
	tiles   []uint8
	spawns  []point
	chests  []chestSpot
	portals map[int]portal // by tile index
	nextSp  int
	los     losCache
}

type portal struct {
	letter byte
	zone   int
	x, y   int32 // arrival position in the other zone
}

// Tile returns the tile at column x, row y: it makes a zoneMap a TileMap.
func (z *zoneMap) Tile(x, y int) (uint8, bool) {
	if x < 0 || y < 0 || x >= z.w || y >= z.h {
		return 0, false
	}
	return z.tiles[y*z.w+x], true
}

// loadZones parses the embedded maps and links their portals.
func loadZones() (map[int]*zoneMap, error) {
	zones := map[int]*zoneMap{}
	type spot struct {
		z *zoneMap
		p point
	}
	letters := map[byte][]spot{}
	for id := 1; id <= len(zoneNames); id++ {
		data, err := mapFiles.ReadFile(fmt.Sprintf("maps/%d.txt", id))
		if err != nil {
			return nil, err
		}
		rows := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		z := &zoneMap{id: id, name: zoneNames[id], w: len(rows[0]), h: len(rows), portals: map[int]portal{}}
		z.tiles = make([]uint8, z.w*z.h)
		for y, row := range rows {
			if len(row) != z.w {
				return nil, fmt.Errorf("arena: map %d row %d: %d tiles, want %d", id, y, len(row), z.w)
			}
			for x := 0; x < z.w; x++ {
				c := row[x]
				t := uint8(TileFloor)
				switch {
				case c == '#':
					t = TileWall
				case c == 's':
					z.spawns = append(z.spawns, point{x, y})
				case c == 'c' || c == '$':
					z.chests = append(z.chests, chestSpot{point{x, y}, c == '$'})
				case c >= 'A' && c <= 'Z':
					t = TilePortal
					letters[c] = append(letters[c], spot{z, point{x, y}})
				case c == '.':
				default:
					return nil, fmt.Errorf("arena: map %d: bad tile %q at %d,%d", id, c, x, y)
				}
				z.tiles[y*z.w+x] = t
			}
		}
		if len(z.spawns) == 0 {
			return nil, fmt.Errorf("arena: map %d has no spawn point", id)
		}
		z.los = newLOSCache(z.w * z.h)
		zones[id] = z
	}
	for c, spots := range letters {
		if len(spots) != 2 || spots[0].z == spots[1].z {
			return nil, fmt.Errorf("arena: portal %c must appear once in each of two zones", c)
		}
		for i, from := range spots {
			to := spots[1-i]
			ax, ay, ok := to.z.arrival(to.p)
			if !ok {
				return nil, fmt.Errorf("arena: portal %c in zone %d has no floor next to it", c, to.z.id)
			}
			from.z.portals[from.p.y*from.z.w+from.p.x] = portal{letter: c, zone: to.z.id, x: ax, y: ay}
		}
	}
	return zones, nil
}

// arrival is where a tank coming through the portal at p appears: the
// centre of the first floor tile next to it.
func (z *zoneMap) arrival(p point) (int32, int32, bool) {
	for _, d := range []point{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
		if t, ok := z.Tile(p.x+d.x, p.y+d.y); ok && t == TileFloor {
			return center(p.x + d.x), center(p.y + d.y), true
		}
	}
	return 0, 0, false
}

// center is the position of the centre of tile column or row i.
func center(i int) int32 { return int32(i)*Unit + Unit/2 }

// spawnPoint returns the next spawn point of the zone, in turn.
func (z *zoneMap) spawnPoint() (int32, int32) {
	p := z.spawns[z.nextSp%len(z.spawns)]
	z.nextSp++
	return center(p.x), center(p.y)
}
