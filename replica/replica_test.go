package replica

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
)

// rec is a Sender that records what a viewer is sent, tick by tick.
type rec struct {
	enc  msg.Encoding
	cur  []any
	tick [][]any
}

func (r *rec) Send(m any)             { r.cur = append(r.cur, m) }
func (r *rec) Encoding() msg.Encoding { return r.enc }

// end closes the current tick and returns its messages.
func (r *rec) end() []any {
	t := r.cur
	r.tick = append(r.tick, t)
	r.cur = nil
	return t
}

func (r *rec) all() []any {
	var out []any
	for _, t := range r.tick {
		out = append(out, t...)
	}
	return append(out, r.cur...)
}

// Fields of the test kinds.
const (
	fHP      = FieldFirst
	fHeading = FieldFirst + 1
	evHit    = 0
	evFire   = 1
	evPing   = 2
)

var testKinds = []KindDef{
	{Name: "tank", Fields: []string{"hp", "heading"}, Events: []EventDef{{"hit", MergeSum}, {"fire", MergeLast}, {"ping", MergeCount}}},
	{Name: "chest", Fields: []string{"s0", "s1", "s2"}},
}

func newTestWorld(t testing.TB, cfg Config) *World {
	t.Helper()
	w, err := NewWorld(cfg, testKinds...)
	if err != nil {
		t.Fatal(err)
	}
	tiles := make([]uint8, 48*32)
	if err := w.AddZone(ZoneDef{ID: 1, W: 48, H: 32, Unit: 10, Tiles: tiles}); err != nil {
		t.Fatal(err)
	}
	return w
}

// wire round-trips every message through the codec of enc, as a client
// would receive it, and returns the decoded messages.
func wire(t testing.TB, enc msg.Encoding, msgs []any) []any {
	t.Helper()
	reg := msg.NewRegistry()
	Register(reg)
	c := reg.NewCodec(enc)
	var out []any
	for _, m := range msgs {
		b, err := c.Append(nil, m, 0)
		if err != nil {
			t.Fatalf("encode %T: %v", m, err)
		}
		payload := frameless(t, enc, b)
		env, err := c.Decode(payload, msg.ToClient)
		if err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		out = append(out, env.Msg)
	}
	return out
}

// frameless strips the line terminator or the length prefix.
func frameless(t testing.TB, enc msg.Encoding, b []byte) []byte {
	if enc != msg.MsgPack {
		return bytes.TrimSuffix(b, []byte("\n"))
	}
	n := 0
	for b[n]&0x80 != 0 {
		n++
	}
	return b[n+1:]
}

func ofType[T any](msgs []any) []*T {
	var out []*T
	for _, m := range msgs {
		if x, ok := m.(*T); ok {
			out = append(out, x)
		}
	}
	return out
}

// settle runs ticks until v's snapshot is complete, feeding model.
func settle(t testing.TB, w *World, v *Viewer, r *rec, model *Model) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		w.Flush()
		for _, m := range r.end() {
			if d := model.Apply(m); d != nil {
				t.Fatalf("desync while loading: %+v", d.Reports)
			}
		}
		if !v.Loading() {
			return
		}
	}
	t.Fatal("snapshot never completed")
}

func TestDeltaCarriesOnlyChangedFields(t *testing.T) {
	w := newTestWorld(t, Config{})
	me := w.Spawn(1, 1, 100, 100, "me")
	other := w.Spawn(1, 1, 120, 100, "other")
	w.Set(other, fHP, 100)
	r := &rec{enc: msg.MsgPack}
	v := w.AddViewer(r)
	v.Follow(me)
	model := NewModel()
	settle(t, w, v, r, model)

	w.Set(other, fHP, 75)
	w.Flush()
	got := r.end()
	if len(got) != 1 {
		t.Fatalf("one change: got %d messages %v", len(got), got)
	}
	d := got[0].(*Delta)
	if d.ID != uint32(other) || d.Mask != 1<<fHP || len(d.Vals) != 1 || d.Vals[0] != -25 {
		t.Fatalf("delta = %+v, want hp only, -25 (100 to 75)", d)
	}

	// Last write wins within a tick, relative to the value at the start of
	// the tick; a field set back is not sent.
	w.SetPos(other, 121, 100)
	w.SetPos(other, 122, 101)
	w.Set(other, fHP, 10)
	w.Set(other, fHP, 75)
	w.Flush()
	got = r.end()
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
	d = got[0].(*Delta)
	if d.Mask != 1<<FieldX|1<<FieldY || fmt.Sprint(d.Vals) != "[2 1]" {
		t.Fatalf("delta = %+v, want x y + 2 1 (120,100 to 122,101)", d)
	}

	// Nothing changed: nothing sent.
	w.Flush()
	if got := r.end(); len(got) != 0 {
		t.Fatalf("idle tick sent %v", got)
	}
	for _, m := range r.all() {
		model.Apply(m)
	}
	e, _ := model.Entity(other)
	if e.Vals[FieldX] != 122 || e.Vals[fHP] != 75 {
		t.Fatalf("model entity = %+v", e)
	}
}

func TestEventsMergedPerTick(t *testing.T) {
	w := newTestWorld(t, Config{})
	me := w.Spawn(1, 1, 100, 100, "me")
	tank := w.Spawn(1, 1, 110, 100, "tank")
	r := &rec{}
	v := w.AddViewer(r)
	v.Follow(me)
	settle(t, w, v, r, NewModel())

	w.Emit(tank, evHit, 25) // two attackers hit the same tank
	w.Emit(tank, evHit, 30)
	w.Emit(tank, evFire, 7)
	w.Emit(tank, evFire, 9)
	w.Emit(tank, evPing, 0)
	w.Emit(tank, evPing, 0)
	w.Emit(tank, evPing, 0)
	w.Emit(me, evHit, 5)
	w.Flush()
	evs := ofType[Event](r.end())
	want := map[[2]uint32]int32{
		{uint32(tank), evHit}: 55, {uint32(tank), evFire}: 9, {uint32(tank), evPing}: 3, {uint32(me), evHit}: 5,
	}
	if len(evs) != len(want) {
		t.Fatalf("events %v, want %d", evs, len(want))
	}
	for _, e := range evs {
		if want[[2]uint32{e.ID, uint32(e.Event)}] != e.Value {
			t.Errorf("event %+v, want value %d", e, want[[2]uint32{e.ID, uint32(e.Event)}])
		}
	}
	w.Flush()
	if got := r.end(); len(got) != 0 {
		t.Fatalf("events sent twice: %v", got)
	}
}

func TestEnterAndLeaveView(t *testing.T) {
	w := newTestWorld(t, Config{Radius: 50})
	me := w.Spawn(1, 1, 100, 100, "me")
	far := w.Spawn(1, 1, 300, 100, "far")
	r := &rec{}
	v := w.AddViewer(r)
	v.Follow(me)
	model := NewModel()
	settle(t, w, v, r, model)
	if v.Sees(far) {
		t.Fatal("sees an entity out of range")
	}
	w.Set(far, fHP, 42)
	w.SetPos(far, 140, 100)
	w.Flush()
	got := r.end()
	en := ofType[Enter](got)
	if len(got) != 1 || len(en) != 1 || en[0].ID != uint32(far) || en[0].Vals[fHP] != 42 || en[0].Name != "far" {
		t.Fatalf("entering view: got %v, want one whole ENTER", got)
	}
	w.SetPos(far, 400, 100)
	w.Flush()
	got = r.end()
	if rm := ofType[Remove](got); len(got) != 1 || len(rm) != 1 || rm[0].ID != uint32(far) {
		t.Fatalf("leaving view: got %v, want REMOVE", got)
	}
	w.Remove(me)
	w.Flush() // the viewer keeps its last position
	if got := r.end(); len(got) != 1 || ofType[Remove](got)[0].ID != uint32(me) {
		t.Fatalf("own entity removed: %v", got)
	}
}

func TestFieldMaskHidesPrivateFields(t *testing.T) {
	open := false
	var chest EntityID
	w := newTestWorld(t, Config{FieldMask: func(v *Viewer, e Entity) uint16 {
		if e.ID == chest && !open {
			return 1<<FieldX | 1<<FieldY
		}
		return 0xFFFF
	}})
	me := w.Spawn(1, 1, 100, 100, "me")
	chest = w.Spawn(2, 1, 110, 100, "chest")
	w.Set(chest, FieldFirst, 7)
	r := &rec{}
	v := w.AddViewer(r)
	v.Follow(me)
	model := NewModel()
	settle(t, w, v, r, model)
	if e, _ := model.Entity(chest); e.Vals[FieldFirst] != 0 {
		t.Fatalf("closed chest contents leaked: %+v", e)
	}
	w.Set(chest, FieldFirst+1, 8)
	w.Flush()
	if got := r.end(); len(got) != 0 {
		t.Fatalf("hidden change sent: %v", got)
	}
	open = true
	w.Flush()
	got := r.end()
	for _, m := range got {
		model.Apply(m)
	}
	if e, _ := model.Entity(chest); e.Vals[FieldFirst] != 7 || e.Vals[FieldFirst+1] != 8 {
		t.Fatalf("opened chest: model %+v from %v", e, got)
	}
	open = false
	w.Flush()
	for _, m := range r.end() {
		model.Apply(m)
	}
	if e, _ := model.Entity(chest); e.Vals[FieldFirst] != 0 || e.Vals[FieldFirst+1] != 0 {
		t.Fatalf("closed chest still shows contents: %+v", e)
	}
}

// TestFieldMaskDeltasRelativeToHeld checks DELTA values when a viewer's
// FieldMask changes: the difference is taken from what that client holds
// (0 while hidden, the value at the start of the tick while visible), a
// field that becomes hidden is brought to 0, a field that reads 0 either
// way is left out, and viewers whose view did not change keep sharing one
// message.
func TestFieldMaskDeltasRelativeToHeld(t *testing.T) {
	const s0, s1, s2 = FieldFirst, FieldFirst + 1, FieldFirst + 2
	open := map[*Viewer]bool{}
	var chest EntityID
	w := newTestWorld(t, Config{ResyncPeriod: -1, FieldMask: func(v *Viewer, e Entity) uint16 {
		if e.ID == chest && !open[v] {
			return 1<<FieldX | 1<<FieldY
		}
		return 0xFFFF
	}})
	chest = w.Spawn(2, 1, 300, 300, "chest")
	w.Set(chest, s0, 7)
	w.Set(chest, s2, 9)
	type client struct {
		v     *Viewer
		r     *rec
		model *Model
	}
	var cs []*client
	for i := 0; i < 3; i++ {
		c := &client{r: &rec{enc: msg.Encodings[i]}, model: NewModel()}
		c.v = w.AddViewer(c.r)
		c.v.Follow(w.Spawn(1, 1, int32(290+10*i), 310, "t"+strconv.Itoa(i)))
		cs = append(cs, c)
		settle(t, w, c.v, c.r, c.model)
	}
	a, b := cs[0], cs[1]
	// step flushes and returns each client's DELTA of the chest (nil if
	// none), after applying everything through the wire to its model and
	// checking the model holds what the server shows that client.
	step := func(what string) []*Delta {
		t.Helper()
		w.Flush()
		out := make([]*Delta, len(cs))
		for i, c := range cs {
			got := c.r.end()
			for _, d := range ofType[Delta](got) {
				if d.ID == uint32(chest) {
					out[i] = d
				}
			}
			for _, m := range wire(t, c.r.enc, got) {
				if d := c.model.Apply(m); d != nil {
					t.Fatalf("%s: client %d: desync %+v", what, i, d.Reports)
				}
			}
			e, _ := c.model.Entity(chest)
			for f := 0; f < 5; f++ {
				want := w.Get(chest, f)
				if f >= FieldFirst && !open[c.v] {
					want = 0
				}
				if e.Vals[f] != want {
					t.Fatalf("%s: client %d holds field %d = %d, want %d", what, i, f, e.Vals[f], want)
				}
			}
		}
		return out
	}
	expect := func(what string, d *Delta, mask uint16, vals string) {
		t.Helper()
		if mask == 0 {
			if d != nil {
				t.Fatalf("%s: got %+v, want no DELTA", what, d)
			}
			return
		}
		if d == nil || d.Mask != mask || fmt.Sprint(d.Vals) != vals {
			t.Fatalf("%s: got %+v, want mask %b vals %s", what, d, mask, vals)
		}
	}

	// The chest moves while a opens it: a gets the visible slots from 0
	// (slot 1 is 0 either way: left out); b and c, whose view did not
	// change, share one message.
	open[a.v] = true
	w.SetPos(chest, 301, 300)
	got := step("open")
	expect("open: a", got[0], 1<<FieldX|1<<s0|1<<s2, "[1 7 9]")
	expect("open: b", got[1], 1<<FieldX, "[1]")
	if got[1] != got[2] {
		t.Fatal("b and c, whose view did not change, did not share the DELTA")
	}

	// A move and a change of a slot a sees: a gets the change relative to
	// what it holds.
	w.SetPos(chest, 302, 300)
	w.Set(chest, s2, 10)
	got = step("slot 2")
	expect("slot 2: a", got[0], 1<<FieldX|1<<s2, "[1 1]")
	expect("slot 2: b", got[1], 1<<FieldX, "[1]")

	// Only a slot changes: only a, which sees it, gets a DELTA.
	w.Set(chest, s0, 5)
	got = step("slot 0")
	expect("slot 0: a", got[0], 1<<s0, "[-2]")
	expect("slot 0: b", got[1], 0, "")

	// a closes it while slot 2 changes again: the slots a held go to 0 from
	// what a held (10 for slot 2, not the new 12).
	open[a.v] = false
	w.Set(chest, s2, 11)
	w.Set(chest, s2, 12)
	got = step("close")
	expect("close: a", got[0], 1<<s0|1<<s2, "[-5 -10]")
	expect("close: b", got[1], 0, "")

	// b opens it while slot 1 changes from 0 and slot 0 is set back.
	open[b.v] = true
	w.Set(chest, s1, 3)
	w.Set(chest, s0, 4)
	w.Set(chest, s0, 5)
	got = step("b opens")
	expect("b opens: a", got[0], 0, "")
	expect("b opens: b", got[1], 1<<s0|1<<s1|1<<s2, "[5 3 12]")
	expect("b opens: c", got[2], 0, "")

	// A move alone: one message shared by all three, whatever they see.
	w.SetPos(chest, 299, 297)
	got = step("move")
	expect("move", got[0], 1<<FieldX|1<<FieldY, "[-3 -3]")
	if got[0] != got[1] || got[1] != got[2] {
		t.Fatal("a move was not one shared DELTA")
	}

	// Nothing changes: nothing is sent.
	got = step("idle")
	for i := range got {
		expect("idle", got[i], 0, "")
	}
}

// TestDeltaValuesWrap checks relative DELTA values at the ends of int32:
// the difference wraps round on the server and the sum on the client, in
// every encoding.
func TestDeltaValuesWrap(t *testing.T) {
	const minI, maxI = -1 << 31, 1<<31 - 1
	steps := []struct {
		hp, heading int32
		want        string // the DELTA's values
	}{
		{maxI, minI, "[2147483647 -2147483648]"},
		{minI, maxI, "[1 -1]"}, // max to min is +1, min to max is -1
		{maxI, 0, "[-1 -2147483647]"},
		{-5, -100, "[2147483644 -100]"}, // -5 - max wraps round
		{3, -103, "[8 -3]"},             // negative values, positive and negative steps
		{-2147483000, 2147483000, "[-2147483003 2147483103]"},
		{2147483000, -2147483000, "[-1296 1296]"}, // each wraps round the other way
	}
	for _, enc := range msg.Encodings {
		w := newTestWorld(t, Config{ResyncPeriod: -1})
		me := w.Spawn(1, 1, 100, 100, "me")
		other := w.Spawn(1, 1, 110, 100, "other")
		r := &rec{enc: enc}
		v := w.AddViewer(r)
		v.Follow(me)
		model := NewModel()
		settle(t, w, v, r, model)
		for _, st := range steps {
			w.Set(other, fHP, st.hp)
			w.Set(other, fHeading, st.heading)
			w.Flush()
			got := r.end()
			if len(got) != 1 || got[0].(*Delta).Mask != 1<<fHP|1<<fHeading || fmt.Sprint(got[0].(*Delta).Vals) != st.want {
				t.Fatalf("%s: to %d %d: got %+v, want DELTA vals %s", enc, st.hp, st.heading, got, st.want)
			}
			for _, m := range wire(t, enc, got) {
				model.Apply(m)
			}
			if e, _ := model.Entity(other); e.Vals[fHP] != st.hp || e.Vals[fHeading] != st.heading {
				t.Fatalf("%s: model holds %d %d, want %d %d", enc, e.Vals[fHP], e.Vals[fHeading], st.hp, st.heading)
			}
		}
	}
}

// TestModelAppliesRelativeDelta checks Model.Apply alone: DELTA values are
// added to the fields held, wrapping round; a later resync compares the
// absolute values and repairs any drift.
func TestModelAppliesRelativeDelta(t *testing.T) {
	m := NewModel()
	for _, x := range []any{
		&KindInfo{Kind: 1, Name: "tank", Fields: "x,y,hp,heading"},
		&ZoneStart{Zone: 1, Snap: 1, W: 1, H: 1, Unit: 10},
		&Enter{ID: 300, Kind: 1, Vals: []int32{347, 212, 2147483647, -2147483648}},
		&Delta{ID: 300, Mask: 0b1111, Vals: []int32{3, -3, 1, -1}},
		&Delta{ID: 300, Mask: 0b0101, Vals: []int32{-350, 5}},
		&Delta{ID: 300, Mask: 0b1010, Vals: []int32{0}}, // fewer values than bits: y only
	} {
		if d := m.Apply(x); d != nil {
			t.Fatalf("%T: %+v", x, d.Reports)
		}
	}
	e, _ := m.Entity(300)
	if got := fmt.Sprint(e.Vals[:4]); got != "[0 209 -2147483643 2147483647]" {
		t.Fatalf("model holds %s", got)
	}
	// A lost DELTA leaves the model off by its difference until a resync.
	d := m.Apply(&State{ID: 300, Kind: 1, Vals: []int32{3, 209, -2147483643, 2147483647}})
	if d == nil || len(d.Reports) != 1 || d.Reports[0] != (DesyncReport{ID: 300, Mask: 1, Reason: ReasonFields}) {
		t.Fatalf("resync reports %+v", d)
	}
	if e, _ := m.Entity(300); e.Vals[FieldX] != 3 {
		t.Fatalf("not repaired: %+v", e)
	}
}

func TestAckCarriesOwnState(t *testing.T) {
	w := newTestWorld(t, Config{})
	me := w.Spawn(1, 1, 100, 100, "me")
	r := &rec{}
	v := w.AddViewer(r)
	v.Follow(me)
	model := NewModel()
	settle(t, w, v, r, model)
	w.SetPos(me, 103, 100)
	v.Ack(1)
	w.SetPos(me, 106, 100)
	v.Ack(2)
	w.Flush()
	got := r.end()
	if len(got) != 1 {
		t.Fatalf("got %v, want only ACK (it carries the own entity)", got)
	}
	a := got[0].(*Ack)
	if a.Seq != 2 || a.ID != uint32(me) || a.Vals[FieldX] != 106 {
		t.Fatalf("ack = %+v", a)
	}
	model.Apply(a)
	if e, _ := model.Entity(me); e.Vals[FieldX] != 106 || model.Own() != me || model.LastAck() != 2 {
		t.Fatalf("model after ack: %+v", e)
	}
}

// TestSnapshotWithinBudget enters a large zone with many entities while
// one nearby entity moves every tick: the snapshot must arrive in pieces,
// never exceeding the budget per tick, while that entity's live updates
// arrive every tick; the model must end up identical to the server.
func TestSnapshotWithinBudget(t *testing.T) {
	for _, enc := range msg.Encodings {
		t.Run(enc.String(), func(t *testing.T) {
			const budget = 1024
			w, err := NewWorld(Config{Budget: budget, Radius: 400, ResyncPeriod: -1}, testKinds...)
			if err != nil {
				t.Fatal(err)
			}
			const W, H = 200, 150
			tiles := make([]uint8, W*H)
			for i := range tiles {
				tiles[i] = uint8(i * 7 % 5)
			}
			w.AddZone(ZoneDef{ID: 1, W: 48, H: 32, Unit: 10, Tiles: make([]uint8, 48*32)})
			w.AddZone(ZoneDef{ID: 2, W: W, H: H, Unit: 10, Tiles: tiles})
			me := w.Spawn(1, 1, 50, 50, "me")
			mover := w.Spawn(1, 2, 1000, 1000, "mover")
			for i := 0; i < 300; i++ {
				id := w.Spawn(1, 2, int32(700+i%30*20), int32(700+i/30*20), "tank"+strconv.Itoa(i))
				w.Set(id, fHP, int32(i))
			}
			r := &rec{enc: enc}
			v := w.AddViewer(r)
			v.Follow(me)
			model := NewModel()
			settle(t, w, v, r, model)

			w.SetZone(me, 2, 1010, 1000)
			reg := msg.NewRegistry()
			Register(reg)
			codec := reg.NewCodec(enc)
			ticks, sawMoverLive := 0, 0
			for done := false; !done; ticks++ {
				if ticks > 500 {
					t.Fatal("snapshot did not complete")
				}
				w.SetPos(mover, 1000+int32(ticks%7), 1000)
				w.Flush()
				out := r.end()
				bulk, live := 0, 0
				for _, m := range out {
					b, _ := codec.Append(nil, m, 0)
					switch x := m.(type) {
					case *Tiles, *SnapEnd, *ZoneStart:
						bulk += len(b)
					case *Enter:
						if x.ID == uint32(mover) || x.ID == uint32(me) {
							live += len(b)
						} else {
							bulk += len(b)
						}
					case *Delta:
						if x.ID == uint32(mover) {
							sawMoverLive++
						}
						live += len(b)
					default:
						live += len(b)
					}
					if d := model.Apply(m); d != nil {
						t.Fatalf("desync: %+v", d.Reports)
					}
					if _, ok := m.(*SnapEnd); ok {
						done = true
					}
				}
				if bulk+live > budget {
					t.Fatalf("tick %d: %d bulk + %d live bytes > budget %d", ticks, bulk, live, budget)
				}
			}
			if ticks < 10 {
				t.Fatalf("a %dx%d zone with 300 entities arrived in %d ticks: not in pieces", W, H, ticks)
			}
			// The mover entered early (it is near) and was updated live in
			// (almost) every tick of the snapshot.
			if sawMoverLive < ticks-3 {
				t.Fatalf("mover updated live in %d of %d ticks", sawMoverLive, ticks)
			}
			if model.Len() != v.Holds() || model.Len() < 250 || model.Loading() {
				t.Fatalf("model holds %d entities, loading %v", model.Len(), model.Loading())
			}
			if tl, _ := model.Tile(199, 149); tl != tiles[149*W+199] {
				t.Fatal("tiles differ")
			}
			t.Logf("%s: snapshot of %dx%d tiles + 301 entities took %d ticks", enc, W, H, ticks)
		})
	}
}

// TestHiddenEntityNeverSent checks least knowledge at the byte level: an
// entity the Visible hook hides never has its id or position in anything
// sent to the viewer, in any encoding, through spawn, moves, events,
// snapshots and resyncs.
func TestHiddenEntityNeverSent(t *testing.T) {
	var hidden EntityID
	w := newTestWorld(t, Config{ResyncPeriod: time.Second, Visible: func(v *Viewer, e Entity) bool { return e.ID != hidden }})
	for i := 0; i < 70000; i++ { // push ids to a distinctive value
		w.Remove(w.Spawn(2, 1, 0, 0, ""))
		if i%1000 == 0 {
			w.Flush()
		}
	}
	w.Flush()
	me := w.Spawn(1, 1, 200, 200, "me")
	hidden = w.Spawn(1, 1, 217, 219, "ghost")
	visible := w.Spawn(1, 1, 180, 200, "seen")
	hx, hy := int32(223), int32(229)
	w.SetPos(hidden, hx, hy)
	for _, enc := range msg.Encodings {
		r := &rec{enc: enc}
		v := w.AddViewer(r)
		v.Follow(me)
		for i := 0; i < 60; i++ {
			w.Emit(hidden, evHit, 31)
			w.Set(hidden, fHP, int32(i))
			w.Set(visible, fHP, int32(i))
			w.Flush()
		}
		w.RemoveViewer(v)
		reg := msg.NewRegistry()
		Register(reg)
		codec := reg.NewCodec(enc)
		var stream []byte
		for _, m := range r.all() {
			stream, _ = codec.Append(stream, m, 0)
		}
		if len(ofType[State](r.all())) == 0 || len(ofType[Enter](r.all())) == 0 {
			t.Fatalf("%s: test saw no ENTER or resync", enc)
		}
		var needles [][]byte
		switch enc {
		case msg.MsgPack:
			id := uint32(hidden)
			needles = [][]byte{
				{0xce, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, // uint32 id
				{0xcc, byte(hx), 0xcc, byte(hy)},                                // x y as uint8 pair
				[]byte("ghost"),
			}
		default:
			// Whole words and numbers, so a checksum cannot match by chance.
			words := map[string]bool{}
			for _, f := range bytes.FieldsFunc(stream, func(r rune) bool { return strings.ContainsRune(" ,\n\"{}[]:", r) }) {
				words[string(f)] = true
			}
			for _, n := range []string{strconv.Itoa(int(hidden)), "223", "229", "ghost"} {
				if words[n] {
					t.Errorf("%s: hidden entity's %q found in the %d bytes sent", enc, n, len(stream))
				}
			}
		}
		for _, n := range needles {
			if bytes.Contains(stream, n) {
				t.Errorf("%s: hidden entity's %q found in the %d bytes sent", enc, n, len(stream))
			}
		}
		if !bytes.Contains(stream, []byte("seen")) {
			t.Errorf("%s: visible entity missing from the stream", enc)
		}
	}
}

// TestResyncRepairsAndReportsDesync drops one live update (a sync bug) and
// checks that the periodic resync repairs the client's model and reports
// the entity and field.
func TestResyncRepairsAndReportsDesync(t *testing.T) {
	var drop func(m any) bool
	w := newTestWorld(t, Config{ResyncPeriod: 2 * time.Second, SliceSize: 2, Drop: func(v *Viewer, m any) bool {
		return drop != nil && drop(m)
	}})
	me := w.Spawn(1, 1, 100, 100, "me")
	var ids []EntityID
	for i := 0; i < 9; i++ {
		ids = append(ids, w.Spawn(2, 1, int32(110+i*5), 100, "chest"))
	}
	chest := ids[4]
	ghost := ids[7]
	for _, enc := range msg.Encodings {
		r := &rec{enc: enc}
		v := w.AddViewer(r)
		v.Follow(me)
		model := NewModel()
		settle(t, w, v, r, model)
		drop = func(m any) bool {
			switch x := m.(type) {
			case *Delta:
				return x.ID == uint32(chest)
			case *Remove:
				return x.ID == uint32(ghost)
			}
			return false
		}
		w.Set(chest, FieldFirst+1, 5)
		w.SetPos(ghost, 400, 400) // leaves view; the REMOVE is lost
		w.Flush()
		drop = nil
		for _, m := range wire(t, enc, r.end()) {
			model.Apply(m)
		}
		if e, _ := model.Entity(chest); e.Vals[FieldFirst+1] != 0 {
			t.Fatal("the drop did not happen")
		}
		var reports []DesyncReport
		for i := 0; i < 41; i++ { // one whole resync period
			w.Flush()
			for _, m := range wire(t, enc, r.end()) {
				if d := model.Apply(m); d != nil {
					reports = append(reports, d.Reports...)
				}
			}
		}
		want := []DesyncReport{{ID: uint32(chest), Mask: 1 << (FieldFirst + 1), Reason: ReasonFields}, {ID: uint32(ghost), Reason: ReasonExtra}}
		if len(reports) != 2 || !containsReport(reports, want[0]) || !containsReport(reports, want[1]) {
			t.Fatalf("%s: reports %+v, want %+v", enc, reports, want)
		}
		if e, _ := model.Entity(chest); e.Vals[FieldFirst+1] != 5 {
			t.Fatalf("%s: not repaired: %+v", enc, e)
		}
		if _, ok := model.Entity(ghost); ok {
			t.Fatalf("%s: ghost not removed", enc)
		}
		w.RemoveViewer(v)
		w.SetPos(ghost, 145, 100)
		w.Set(chest, FieldFirst+1, 0)
		w.Flush()
	}
}

func containsReport(rs []DesyncReport, r DesyncReport) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// TestModelMatchesWorld runs a busy world through every encoding and checks
// that the client's model is exactly the server's visible state, with no
// desync reported by snapshots or resyncs.
func TestModelMatchesWorld(t *testing.T) {
	for _, enc := range msg.Encodings {
		w := newTestWorld(t, Config{Radius: 120, ResyncPeriod: time.Second})
		me := w.Spawn(1, 1, 240, 160, "me")
		var ids []EntityID
		for i := 0; i < 60; i++ {
			ids = append(ids, w.Spawn(1, 1, int32(i*8), int32(i*5%320), fmt.Sprintf("t%d", i)))
		}
		r := &rec{enc: enc}
		v := w.AddViewer(r)
		v.Follow(me)
		model := NewModel()
		for tick := 0; tick < 200; tick++ {
			for i, id := range ids {
				if (tick+i)%3 == 0 {
					_, x, y, _ := w.Pos(id)
					w.SetPos(id, (x+int32(i%5)+1)%480, (y+int32(i%3))%320)
					w.Set(id, fHP, int32(tick+i))
				}
				if (tick+i)%17 == 0 {
					w.Emit(id, evHit, 1)
				}
			}
			if tick == 100 {
				w.Remove(ids[3])
				ids[3] = w.Spawn(1, 1, 230, 160, "new")
			}
			w.Flush()
			for _, m := range wire(t, enc, r.end()) {
				if d := model.Apply(m); d != nil {
					t.Fatalf("%s tick %d: desync %+v", enc, tick, d.Reports)
				}
			}
		}
		n := 0
		for _, id := range append(ids, me) {
			if !v.Sees(id) {
				if _, ok := model.Entity(id); ok {
					t.Fatalf("%s: model holds %d, which the viewer does not see", enc, id)
				}
				continue
			}
			n++
			e, ok := model.Entity(id)
			if !ok {
				t.Fatalf("%s: model lacks %d", enc, id)
			}
			for f := 0; f < 4; f++ {
				if e.Vals[f] != w.Get(id, f) {
					t.Fatalf("%s: entity %d field %d: model %d, server %d", enc, id, f, e.Vals[f], w.Get(id, f))
				}
			}
		}
		if n != model.Len() || n < 5 {
			t.Fatalf("%s: model holds %d, viewer sees %d", enc, model.Len(), n)
		}
	}
}

// TestRelativeDeltasTrackWorld runs a busy world with resync off, so that
// nothing would repair a wrong difference: entities move in and out of
// view, fields jump across the int32 range, each viewer's FieldMask changes
// at random, inputs are acknowledged, entities are renamed, removed and
// spawned. After every tick each client's model must hold exactly what the
// server shows that client.
func TestRelativeDeltasTrackWorld(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	masks := map[[2]int]uint16{} // (viewer, entity id) -> mask this tick
	idx := map[*Viewer]int{}
	fieldMask := func(v *Viewer, e Entity) uint16 { return masks[[2]int{idx[v], int(e.ID)}] }
	w := newTestWorld(t, Config{Radius: 80, ResyncPeriod: -1, FieldMask: fieldMask})
	type client struct {
		v     *Viewer
		r     *rec
		model *Model
		me    EntityID
	}
	var cs []*client
	var ids []EntityID
	for i := 0; i < 6; i++ {
		c := &client{r: &rec{enc: msg.Encodings[i%3]}, model: NewModel()}
		c.me = w.Spawn(1, 1, int32(100+40*i), 160, "p"+strconv.Itoa(i))
		c.v = w.AddViewer(c.r)
		c.v.Follow(c.me)
		idx[c.v] = i
		cs = append(cs, c)
		ids = append(ids, c.me)
	}
	for i := 0; i < 40; i++ {
		ids = append(ids, w.Spawn(uint8(1+i%2), 1, rng.Int32N(480), rng.Int32N(320), ""))
	}
	value := func() int32 {
		switch rng.IntN(4) {
		case 0:
			return rng.Int32N(7) - 3
		case 1:
			return int32(rng.Uint32()) // anywhere in int32
		case 2:
			return 1<<31 - 1 - rng.Int32N(3)
		}
		return -1<<31 + rng.Int32N(3)
	}
	totalHeld := 0
	for tick := 0; tick < 400; tick++ {
		for _, c := range cs {
			for _, id := range ids {
				k := [2]int{idx[c.v], int(id)}
				if tick == 0 || rng.IntN(10) == 0 {
					masks[k] = 1<<FieldX | 1<<FieldY | uint16(rng.IntN(8))<<FieldFirst
				}
			}
			if rng.IntN(4) == 0 {
				c.v.Ack(uint32(tick))
			}
		}
		for i, id := range ids {
			if !w.Exists(id) {
				continue
			}
			if rng.IntN(3) == 0 {
				_, x, y, _ := w.Pos(id)
				w.SetPos(id, min(max(x+rng.Int32N(13)-6, 0), 479), min(max(y+rng.Int32N(13)-6, 0), 319))
			}
			if rng.IntN(3) == 0 {
				e, _ := w.Lookup(id)
				extra := len(testKinds[e.Kind-1].Fields)
				for n := rng.IntN(3); n >= 0; n-- {
					w.Set(id, FieldFirst+rng.IntN(extra), value())
				}
			}
			if rng.IntN(50) == 0 {
				w.SetName(id, "n"+strconv.Itoa(tick))
			}
			if i >= len(cs) && rng.IntN(200) == 0 {
				w.Remove(id)
				ids[i] = w.Spawn(uint8(1+i%2), 1, rng.Int32N(480), rng.Int32N(320), "")
			}
		}
		w.Flush()
		for ci, c := range cs {
			for _, m := range wire(t, c.r.enc, c.r.end()) {
				if d := c.model.Apply(m); d != nil {
					t.Fatalf("tick %d client %d: desync %+v", tick, ci, d.Reports)
				}
			}
			held := 0
			for _, id := range ids {
				e, ok := c.model.Entity(id)
				if !c.v.Sees(id) {
					if ok {
						t.Fatalf("tick %d client %d: holds %d, which it does not see", tick, ci, id)
					}
					continue
				}
				if !ok {
					t.Fatalf("tick %d client %d: lacks %d", tick, ci, id)
				}
				held++
				mask := masks[[2]int{ci, int(id)}]
				for f := 0; f < MaxFields; f++ {
					want := int32(0)
					if mask&(1<<f) != 0 {
						want = w.Get(id, f)
					}
					if e.Vals[f] != want {
						t.Fatalf("tick %d client %d: entity %d field %d = %d, want %d (mask %b)", tick, ci, id, f, e.Vals[f], want, mask)
					}
				}
			}
			if held != c.model.Len() {
				t.Fatalf("tick %d client %d: model holds %d, sees %d", tick, ci, c.model.Len(), held)
			}
			totalHeld += held
		}
	}
	if totalHeld < 400*len(cs)*3 {
		t.Fatalf("clients held %d entities over the run: too few to test anything", totalHeld)
	}
}

func TestPredictor(t *testing.T) {
	step := func(x int, dx int) int { return x + dx }
	p := NewPredictor(0, step)
	for seq := uint32(1); seq <= 5; seq++ {
		p.Input(seq, 1)
	}
	if s, snapped := p.Ack(2, 2); s != 5 || snapped {
		t.Fatalf("accepted ack: %d %v", s, snapped)
	}
	// The server refused input 3: the entity stayed at 2.
	if s, snapped := p.Ack(3, 2); s != 4 || !snapped || p.Pending() != 2 {
		t.Fatalf("refused input: state %d snapped %v pending %d, want 4 true 2", s, snapped, p.Pending())
	}
	if s, snapped := p.Ack(5, 4); s != 4 || snapped || p.Pending() != 0 {
		t.Fatalf("after replay: %d %v", s, snapped)
	}
	if s, _ := p.Ack(4, 100); s != 4 {
		t.Fatal("stale ack applied")
	}
	// The server moves the entity by itself and repeats the last ack.
	if s, snapped := p.Ack(5, 50); s != 50 || !snapped {
		t.Fatalf("repeated ack: %d %v", s, snapped)
	}
	if p.Snaps() != 2 {
		t.Fatalf("snaps = %d", p.Snaps())
	}
}

func TestRegisterIdempotent(t *testing.T) {
	reg := msg.NewRegistry()
	Register(reg)
	Register(reg)
	if err := reg.CheckFlow(); err != nil {
		t.Fatal(err)
	}
	for id := IDKind; id <= IDDesync; id++ {
		if _, ok := reg.ByID(uint16(id)); !ok {
			t.Fatalf("id %d not registered", id)
		}
	}
}
