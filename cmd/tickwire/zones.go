package main

import (
	"strconv"

	"github.com/tickwire/tickwire/admin"
	"github.com/tickwire/tickwire/demo/arena"
)

// consoleGame is what the admin console gets as its Game: the arena
// wrapped so that it is an admin.ZoneStater, any other game as it is.
func consoleGame(g any) any {
	if a, ok := g.(*arena.Game); ok {
		return arenaZones{a}
	}
	return g
}

// arenaZones is the arena as the console sees it. The arena reports its
// zones in its own type, since it must not import admin, which sits above
// it; this adapts them here, at the top. The arena's other methods are
// promoted, so any other hook the console looks for still finds them.
type arenaZones struct{ *arena.Game }

var _ admin.ZoneStater = arenaZones{}

// ZoneStats implements admin.ZoneStater. The console calls it on the tick
// goroutine, as arena.Game.ZoneStats requires.
func (a arenaZones) ZoneStats() []admin.ZoneStat {
	zs := a.Game.ZoneStats()
	out := make([]admin.ZoneStat, len(zs))
	for i, z := range zs {
		out[i] = admin.ZoneStat{
			ID: strconv.Itoa(z.ID), Name: z.Name, Players: z.Players, Entities: z.Entities,
			SyncBytes: z.SyncBytes, Snapshots: z.Snapshots, Resyncs: z.Resyncs, Desyncs: z.Desyncs,
		}
	}
	return out
}
