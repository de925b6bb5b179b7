package arena

import "github.com/tickwire/tickwire/replica"

// ZoneStat is what the arena reports about one of its zones, for an admin
// console's Zones tab. It is the arena's own type because the arena sits
// below the console package and must not import it: cmd/tickwire adapts
// it to admin.ZoneStat.
type ZoneStat struct {
	// ID is the zone's number (1 plains, 2 maze, 3 vault), which is also
	// its name in a cluster.
	ID int
	// Name is the zone's name, as players are told it.
	Name string
	// Players is the players whose tanks are in the zone, those whose
	// seats are held after a lost connection included; bots are not
	// players.
	Players int
	// ZoneStats is the world sync's account of the zone: its entities
	// (tanks, bots' included, and chests), its viewers, and the sync
	// bytes, snapshots, resyncs and DESYNC reports since the start. A
	// player in human mode, whose view is narrated as lines, counts with
	// the MessagePack its sync stream would take.
	replica.ZoneStats
}

// ZoneStats returns one ZoneStat per zone this game runs, by zone number:
// every zone standalone, only the zones this node runs in a cluster. Nil
// before Init. It reads the world without locks, so call it on the tick
// goroutine only (the admin console does, through server.Server.Call).
func (g *Game) ZoneStats() []ZoneStat {
	if g.w == nil {
		return nil
	}
	players := make([]int, len(g.zoneByID))
	for _, pl := range g.order {
		players[pl.tank.zone.id]++
	}
	var out []ZoneStat
	for id := 1; id < len(g.zoneByID); id++ {
		z := g.zoneByID[id]
		if !g.live(z) {
			continue
		}
		st, _ := g.w.ZoneStats(id)
		out = append(out, ZoneStat{ID: id, Name: z.name, Players: players[id], ZoneStats: st})
	}
	return out
}
