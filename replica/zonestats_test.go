package replica

import (
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tickwire/tickwire/msg"
)

// TestMPSizeMatchesCodec: the sizes Flush works out for the live messages
// in MessagePack, without encoding them, are what the codec writes, for
// values at every boundary of MessagePack's integer, array and string
// forms and of the frame's length prefix.
func TestMPSizeMatchesCodec(t *testing.T) {
	reg := msg.NewRegistry()
	Register(reg)
	c := reg.NewCodec(msg.MsgPack)
	rng := rand.New(rand.NewPCG(3, 4))
	edges := []int64{0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, math.MaxInt32, math.MaxUint32,
		-1, -31, -32, -33, -127, -128, -129, -32768, -32769, math.MinInt32}
	u32 := func() uint32 {
		for {
			if x := edges[rng.IntN(len(edges))]; x >= 0 {
				return uint32(x)
			}
		}
	}
	i32 := func() int32 {
		x := edges[rng.IntN(len(edges))]
		if x > math.MaxInt32 {
			x = math.MaxInt32
		}
		return int32(x)
	}
	vals := func() []int32 {
		v := make([]int32, rng.IntN(MaxFields+1))
		for i := range v {
			v[i] = i32()
		}
		return v
	}
	name := func() string { return strings.Repeat("n", []int{0, 1, 31, 32, MaxName}[rng.IntN(5)]) }
	for i := 0; i < 20000; i++ {
		var m any
		switch i % 5 {
		case 0:
			m = &Delta{ID: u32(), Mask: uint16(u32()), Vals: vals()}
		case 1:
			m = &Enter{ID: u32(), Kind: uint8(u32()), Vals: vals(), Name: name()}
		case 2:
			m = &Event{ID: u32(), Event: uint8(u32()), Value: i32()}
		case 3:
			m = &Remove{ID: u32()}
		case 4:
			m = &Ack{Seq: u32(), ID: u32(), Vals: vals()}
		}
		b, err := c.Append(nil, m, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := mpSize(m); !ok || n != len(b) {
			t.Fatalf("%T %+v: mpSize %d, %v; the codec writes %d bytes", m, m, n, ok, len(b))
		}
	}
	if _, ok := mpSize(&SnapEnd{}); ok {
		t.Fatal("mpSize claims to know SNAPEND")
	}
}

// statsWorld returns a World with zones 1 and 2 (empty 48x32 maps) and no
// periodic resync due during a test unless cfg sets one.
func statsWorld(t *testing.T, cfg Config) *World {
	t.Helper()
	w := newTestWorld(t, cfg)
	if err := w.AddZone(ZoneDef{ID: 2, W: 48, H: 32, Unit: 10, Tiles: make([]uint8, 48*32)}); err != nil {
		t.Fatal(err)
	}
	return w
}

func zoneStats(t *testing.T, w *World, id int) ZoneStats {
	t.Helper()
	st, ok := w.ZoneStats(id)
	if !ok {
		t.Fatalf("no stats for zone %d", id)
	}
	return st
}

// encodedSize is what msgs count for in a zone's SyncBytes: their size
// as the MessagePack codec frames them, whatever the viewer's encoding.
func encodedSize(t *testing.T, msgs []any) uint64 {
	t.Helper()
	reg := msg.NewRegistry()
	Register(reg)
	c := reg.NewCodec(msg.MsgPack)
	var n uint64
	for _, m := range msgs {
		b, err := c.Append(nil, m, 0)
		if err != nil {
			t.Fatalf("encode %T: %v", m, err)
		}
		n += uint64(len(b))
	}
	return n
}

// TestZoneStats follows one viewer, in each encoding, from zone 1 to zone
// 2 and checks every counter against what it was sent: the entities and
// viewers of each zone, one snapshot per zone entered, the sync bytes
// exactly what the MessagePack codec writes for every message it got while
// looking at the zone (the unit of SyncBytes in every encoding), and a DESYNC report counted and answered with one
// resync of the whole view (one slice, mod 1, of every entity it holds),
// which the client's model accepts.
func TestZoneStats(t *testing.T) {
	for _, enc := range msg.Encodings {
		t.Run(enc.String(), func(t *testing.T) {
			w := statsWorld(t, Config{})
			if _, ok := w.ZoneStats(3); ok {
				t.Fatal("stats for zone 3, which does not exist")
			}
			me := w.Spawn(1, 1, 100, 100, "me")
			w.Spawn(1, 1, 120, 100, "near")
			w.Spawn(2, 1, 100, 130, "chest")
			w.Spawn(1, 2, 100, 100, "far")
			if got, want := zoneStats(t, w, 1), (ZoneStats{Entities: 3}); got != want {
				t.Fatalf("zone 1 before any viewer: %+v, want %+v", got, want)
			}
			r := &rec{enc: enc}
			v := w.AddViewer(r)
			v.Follow(me)
			model := NewModel()
			settle(t, w, v, r, model)
			for i := 0; i < 5; i++ {
				w.SetPos(me, 100+int32(i), 100)
				w.Emit(me, evHit, 3)
				w.Flush()
			}
			inZone1 := encodedSize(t, r.all())
			if inZone1 == 0 {
				t.Fatal("nothing sent")
			}
			want1 := ZoneStats{Entities: 3, Viewers: 1, SyncBytes: inZone1, Snapshots: 1}
			if got := zoneStats(t, w, 1); got != want1 {
				t.Fatalf("zone 1 after the snapshot and 5 ticks: %+v, want %+v", got, want1)
			}
			if got, want := zoneStats(t, w, 2), (ZoneStats{Entities: 1}); got != want {
				t.Fatalf("zone 2 before the move: %+v, want %+v", got, want)
			}

			// Through a portal: zone 2 counts what follows.
			for _, m := range wire(t, enc, r.end()) {
				model.Apply(m)
			}
			w.SetZone(me, 2, 110, 100)
			settle(t, w, v, r, model)
			w.SetPos(me, 111, 100)
			w.Flush()
			inZone2 := encodedSize(t, r.all()) - inZone1
			want1 = ZoneStats{Entities: 2, SyncBytes: inZone1, Snapshots: 1}
			if got := zoneStats(t, w, 1); got != want1 {
				t.Fatalf("zone 1 after the viewer left: %+v, want %+v", got, want1)
			}
			want2 := ZoneStats{Entities: 2, Viewers: 1, SyncBytes: inZone2, Snapshots: 1}
			if got := zoneStats(t, w, 2); got != want2 {
				t.Fatalf("zone 2 after the move: %+v, want %+v", got, want2)
			}
			for _, m := range wire(t, enc, r.end()) {
				if d := model.Apply(m); d != nil {
					t.Fatalf("desync: %+v", d.Reports)
				}
			}

			// Two DESYNC reports before the next Flush: both counted, one
			// resync of the whole view.
			log := discardLogger()
			for range 2 {
				if !w.ReportDesync(log, v, &DesyncReport{ID: uint32(me), Reason: ReasonChecksum}) {
					t.Fatal("report not logged")
				}
			}
			want2.Desyncs = 2
			if got := zoneStats(t, w, 2); got != want2 {
				t.Fatalf("zone 2 after 2 reports, before the Flush: %+v, want %+v", got, want2)
			}
			w.Flush()
			got := r.end()
			ends := ofType[SliceEnd](got)
			if len(ends) != 1 || ends[0].Mod != 1 || ends[0].Rem != 0 || int(ends[0].Count) != v.Holds() || len(ofType[State](got)) != v.Holds() || v.Holds() != 2 {
				t.Fatalf("the resync after the reports: %d RSLICE %+v, %d STATE, viewer holds %d", len(ends), ends, len(ofType[State](got)), v.Holds())
			}
			for _, m := range wire(t, enc, got) {
				if d := model.Apply(m); d != nil {
					t.Fatalf("the resync found a desync: %+v", d.Reports)
				}
			}
			want2.Resyncs = 1
			want2.SyncBytes += encodedSize(t, got)
			if st := zoneStats(t, w, 2); st != want2 {
				t.Fatalf("zone 2 after the resync: %+v, want %+v", st, want2)
			}
			w.Flush()
			if n := len(ofType[SliceEnd](r.end())); n != 0 || zoneStats(t, w, 2).Resyncs != 1 {
				t.Fatalf("%d more slices, %d resyncs after one resync", n, zoneStats(t, w, 2).Resyncs)
			}
			if zoneStats(t, w, 1) != want1 {
				t.Fatal("zone 1 counted zone 2's traffic")
			}
		})
	}
}

// TestDesyncResyncRepairs: a client that missed an update reports it, and
// the resync that answers the report repairs its copy at the next Flush,
// not a resync period (here 30 s) later. Reports beyond the rate limit
// are counted but ask for nothing, and a world without resync does not
// answer reports with one.
func TestDesyncResyncRepairs(t *testing.T) {
	var dropping bool
	w := statsWorld(t, Config{Drop: func(v *Viewer, m any) bool { _, ok := m.(*Delta); return dropping && ok }})
	me := w.Spawn(1, 1, 100, 100, "me")
	other := w.Spawn(1, 1, 120, 100, "other")
	r := &rec{enc: msg.MsgPack}
	v := w.AddViewer(r)
	v.Follow(me)
	model := NewModel()
	settle(t, w, v, r, model)
	dropping = true
	w.Set(other, fHP, 40)
	w.Flush()
	dropping = false
	for _, m := range r.end() {
		model.Apply(m)
	}
	if e, _ := model.Entity(other); e.Vals[fHP] != 0 {
		t.Fatal("the drop did not happen")
	}
	log := discardLogger()
	for range 12 {
		w.ReportDesync(log, v, &DesyncReport{ID: uint32(other), Reason: ReasonUnknown})
	}
	w.Flush()
	var reports []DesyncReport
	for _, m := range r.end() {
		if d := model.Apply(m); d != nil {
			reports = append(reports, d.Reports...)
		}
	}
	if e, _ := model.Entity(other); e.Vals[fHP] != 40 {
		t.Fatalf("not repaired at the next Flush: %+v", e)
	}
	if len(reports) != 1 || reports[0] != (DesyncReport{ID: uint32(other), Mask: 1 << fHP, Reason: ReasonFields}) {
		t.Fatalf("the resync found %+v", reports)
	}
	if st := zoneStats(t, w, 1); st.Desyncs != 12 || st.Resyncs != 1 {
		t.Fatalf("12 reports (2 over the limit): %d desyncs, %d resyncs; want 12 and 1", st.Desyncs, st.Resyncs)
	}
	// Over the limit: counted, not answered.
	w.ReportDesync(log, v, &DesyncReport{ID: uint32(other), Reason: ReasonUnknown})
	w.Flush()
	if n := len(ofType[SliceEnd](r.end())); n != 0 {
		t.Fatalf("a report over the limit was answered with %d slices", n)
	}
	if st := zoneStats(t, w, 1); st.Desyncs != 13 || st.Resyncs != 1 {
		t.Fatalf("%d desyncs, %d resyncs; want 13 and 1", st.Desyncs, st.Resyncs)
	}

	// No resync at all.
	w = statsWorld(t, Config{ResyncPeriod: -1})
	me = w.Spawn(1, 1, 100, 100, "me")
	r = &rec{enc: msg.MsgPack}
	v = w.AddViewer(r)
	v.Follow(me)
	settle(t, w, v, r, NewModel())
	w.ReportDesync(log, v, &DesyncReport{ID: uint32(me), Reason: ReasonChecksum})
	w.Flush()
	if n := len(ofType[SliceEnd](r.end())); n != 0 {
		t.Fatalf("resync disabled, yet a report was answered with %d slices", n)
	}
	if st := zoneStats(t, w, 1); st.Desyncs != 1 || st.Resyncs != 0 {
		t.Fatalf("resync disabled: %d desyncs, %d resyncs; want 1 and 0", st.Desyncs, st.Resyncs)
	}
}

// TestZoneStatsCounts: entities are counted where they are, through
// spawns, moves between zones and removals; a spectator counts as a
// viewer of the zone it is placed in, and a removed viewer no more.
func TestZoneStatsCounts(t *testing.T) {
	w := statsWorld(t, Config{})
	a := w.Spawn(1, 1, 10, 10, "a")
	b := w.Spawn(1, 1, 20, 10, "b")
	w.Spawn(2, 2, 20, 10, "c")
	w.SetZone(a, 2, 30, 30)
	w.SetZone(a, 2, 40, 30) // within zone 2
	w.Remove(b)
	if s1, s2 := zoneStats(t, w, 1), zoneStats(t, w, 2); s1.Entities != 0 || s2.Entities != 2 {
		t.Fatalf("entities %d and %d, want 0 and 2", s1.Entities, s2.Entities)
	}
	v := w.AddViewer(&rec{})
	v.Place(2, 30, 30)
	if st := zoneStats(t, w, 2); st.Viewers != 1 || st.Snapshots != 0 {
		t.Fatalf("a placed viewer before any Flush: %+v", st)
	}
	w.Flush()
	if st := zoneStats(t, w, 2); st.Viewers != 1 || st.Snapshots != 1 || st.SyncBytes == 0 {
		t.Fatalf("a spectator after a Flush: %+v", st)
	}
	w.RemoveViewer(v)
	if st := zoneStats(t, w, 2); st.Viewers != 0 {
		t.Fatalf("%d viewers after RemoveViewer", st.Viewers)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
