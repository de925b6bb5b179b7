package arena

import (
	"testing"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// syncBytes is what the replica messages among msgs take in MessagePack,
// framed as the connection writes them.
func syncBytes(t *testing.T, h *harness, msgs []any) uint64 {
	t.Helper()
	var sync []any
	for _, m := range msgs {
		mt, err := h.reg.TypeOf(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if mt.ID >= replica.IDKind && mt.ID <= replica.IDDesync {
			sync = append(sync, m)
		}
	}
	return uint64(len(encodeAll(t, msg.MsgPack, sync)))
}

// zoneStat returns the entry of zone id in h's ZoneStats.
func zoneStat(t *testing.T, h *harness, id int) ZoneStat {
	t.Helper()
	for _, z := range h.g.ZoneStats() {
		if z.ID == id {
			return z
		}
	}
	t.Fatalf("no zone %d in %+v", id, h.g.ZoneStats())
	return ZoneStat{}
}

// TestZoneStats: the arena reports its three zones, named; a player who
// joins counts in zone 1 with its tank, a snapshot and exactly the sync
// bytes it was sent; through a portal it counts in zone 2 instead, which
// counts the bytes from then on; a DESYNC report counts in its zone and
// is answered with a resync. In a cluster only the zones this node runs
// are reported.
func TestZoneStats(t *testing.T) {
	h := newHarness(t)
	chests := func(id int) int { return len(h.g.zones[id].chests) }
	got := h.g.ZoneStats()
	if len(got) != 3 {
		t.Fatalf("%d zones reported, want 3: %+v", len(got), got)
	}
	for i, name := range []string{"plains", "maze", "vault"} {
		want := ZoneStat{ID: i + 1, Name: name, ZoneStats: replica.ZoneStats{Entities: chests(i + 1)}}
		if got[i] != want {
			t.Errorf("before anyone joined: %+v, want %+v", got[i], want)
		}
	}

	a := h.join("traveller")
	h.place(a, 1, 455, 155) // tile 45,15, next to portal A at 46,15
	h.ticks(10)
	if a.model.Loading() {
		t.Fatal("the snapshot is not complete after 10 ticks")
	}
	inZone1 := syncBytes(t, h, a.take())
	want1 := ZoneStat{ID: 1, Name: "plains", Players: 1,
		ZoneStats: replica.ZoneStats{Entities: chests(1) + 1, Viewers: 1, SyncBytes: inZone1, Snapshots: 1}}
	if got := zoneStat(t, h, 1); got != want1 {
		t.Fatalf("zone 1 with a player:\n%+v, want\n%+v", got, want1)
	}
	if got := zoneStat(t, h, 2); got.Players != 0 || got.SyncBytes != 0 || got.Snapshots != 0 {
		t.Fatalf("zone 2 counted zone 1's player: %+v", got)
	}

	// Through portal A to the maze.
	h.send(a, &Drive{X: 465, Y: 155, Seq: 1})
	h.ticks(10)
	if z := h.g.players[a.id].tank.zone.id; z != 2 || a.model.Loading() {
		t.Fatalf("in zone %d, loading %v", z, a.model.Loading())
	}
	inZone2 := syncBytes(t, h, a.take())
	want1 = ZoneStat{ID: 1, Name: "plains", ZoneStats: replica.ZoneStats{Entities: chests(1), SyncBytes: inZone1, Snapshots: 1}}
	if got := zoneStat(t, h, 1); got != want1 {
		t.Fatalf("zone 1 after the player left:\n%+v, want\n%+v", got, want1)
	}
	want2 := ZoneStat{ID: 2, Name: "maze", Players: 1,
		ZoneStats: replica.ZoneStats{Entities: chests(2) + 1, Viewers: 1, SyncBytes: inZone2, Snapshots: 1}}
	if got := zoneStat(t, h, 2); got != want2 {
		t.Fatalf("zone 2 after the portal:\n%+v, want\n%+v", got, want2)
	}

	// A DESYNC report, as a client with a sync bug sends it.
	h.send(a, &replica.DesyncReport{ID: uint32(h.tankOf(a)), Reason: replica.ReasonChecksum})
	h.tick()
	msgs := a.take()
	if ends := ofType[replica.SliceEnd](msgs); len(ends) != 1 || ends[0].Mod != 1 {
		t.Fatalf("the report was answered with %+v, want one whole-view slice", ends)
	}
	want2.Desyncs, want2.Resyncs = 1, 1
	want2.SyncBytes += syncBytes(t, h, msgs)
	if got := zoneStat(t, h, 2); got != want2 {
		t.Fatalf("zone 2 after a DESYNC report:\n%+v, want\n%+v", got, want2)
	}
	if len(a.reports) != 0 {
		t.Fatalf("the resync found %+v", a.reports)
	}

	// A cluster node that runs only the maze reports only the maze.
	h.g.opts.node, h.g.running = &cluster.Node{}, map[int]bool{2: true}
	got = h.g.ZoneStats()
	h.g.opts.node, h.g.running = nil, nil
	if len(got) != 1 || got[0] != want2 {
		t.Fatalf("a node running zone 2: %+v, want only %+v", got, want2)
	}
}
