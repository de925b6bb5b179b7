package replica

import (
	"cmp"
	"log/slog"
	"math/bits"
	"slices"

	"github.com/tickwire/tickwire/msg"
)

type pend struct {
	slot int32
	id   EntityID
}

// Viewer is one client's window on the World: where it looks from, what it
// holds, and its progress through snapshots and resyncs. Create one per
// player with World.AddViewer and make it Follow the player's entity.
type Viewer struct {
	// Data is the game's own per-viewer state; replica never touches it.
	Data any

	w          *World
	out        Sender
	follow     EntityID
	followSlot int32
	zone       int32 // index in World.zones, -1 for none
	shownZone  int32 // zone of the last snapshot started
	x, y       int32

	kindsSent bool
	known     knownTable

	// Snapshot progress.
	snapping   bool
	snap       uint32
	tileCursor int
	pending    []pend
	// pendingDirty is set when pending needs sorting.
	pendingDirty bool

	// Resync progress.
	nextSlice uint32
	sliceMod  uint32
	sliceRem  uint32
	postponed int

	ackDue bool
	ackSeq uint32

	// seen counts the known entities seen in the current Flush.
	seen int

	// measuring is set while a budget applies to the current Flush (a
	// snapshot or a resync slice is due): liveBytes then counts what the
	// live messages take in the viewer's encoding, which the budget needs.
	measuring bool
	liveBytes int
	// liveSync is what the live messages of the current Flush take in
	// MessagePack, for the zone's SyncBytes (see syncSize).
	liveSync int
	enc      int

	// Desync report rate limit.
	desyncWindow uint32
	desyncCount  int
	// desynced asks for a whole-view resync, in answer to a DESYNC report.
	desynced bool
}

// AddViewer adds a viewer whose messages go to out. It sees nothing until
// it follows an entity (Follow) or is placed (Place).
func (w *World) AddViewer(out Sender) *Viewer {
	v := &Viewer{w: w, out: out, zone: -1, shownZone: -1, followSlot: -1}
	w.viewers = append(w.viewers, v)
	return v
}

// RemoveViewer stops sending to v.
func (w *World) RemoveViewer(v *Viewer) {
	for i, o := range w.viewers {
		if o == v {
			w.viewers = append(w.viewers[:i], w.viewers[i+1:]...)
			break
		}
	}
	v.w = nil
}

// Follow makes v look from entity id, wherever it goes: a player's own
// entity. v always sees that entity, and gets a snapshot whenever it
// changes zone.
func (v *Viewer) Follow(id EntityID) { v.follow = id }

// Followed returns the entity v follows, or 0.
func (v *Viewer) Followed() EntityID { return v.follow }

// Place makes v look from x, y in zone, following nothing: a spectator.
func (v *Viewer) Place(zoneID int, x, y int32) {
	v.follow, v.followSlot = 0, -1
	zi, ok := v.w.zoneIndex[zoneID]
	if !ok {
		zi = -1
	}
	v.zone, v.x, v.y = zi, x, y
}

// Zone returns the id of the zone v looks at, and false if none.
func (v *Viewer) Zone() (int, bool) {
	if v.zone < 0 || v.w == nil {
		return 0, false
	}
	return v.w.zones[v.zone].ID, true
}

// Pos returns where v looks from, as of the last Flush.
func (v *Viewer) Pos() (x, y int32) { return v.x, v.y }

// Ack records that the client's input seq was applied. At the next Flush
// the client gets ACK seq with the authoritative fields of the entity v
// follows. Call it for each applied input; the last one wins.
func (v *Viewer) Ack(seq uint32) { v.ackDue, v.ackSeq = true, seq }

// Loading reports whether a snapshot is still being sent to v.
func (v *Viewer) Loading() bool { return v.snapping || v.zone != v.shownZone }

// Sees reports whether v's client holds entity id (it was sent whole and
// has not been removed).
func (v *Viewer) Sees(id EntityID) bool {
	if v.w == nil {
		return false
	}
	st := v.known.find(id)
	return st != nil && st.state() == stKnown
}

// Holds returns how many entities v's client holds.
func (v *Viewer) Holds() int { return v.known.known }

// send sends a live message and counts its size: in MessagePack for the
// zone's SyncBytes, and in the viewer's encoding while a budget applies. A
// message shared by viewers passes sizes, where its size in each encoding
// is kept (0 until measured), so it is measured once per tick, not once
// per viewer.
func (v *Viewer) send(m any, sizes *[3]int32) {
	if v.w.cfg.Drop != nil && v.w.cfg.Drop(v, m) {
		return
	}
	v.out.Send(m)
	v.liveSync += v.w.sizeOf(msg.MsgPack, m, sizes)
	if v.measuring {
		v.liveBytes += v.w.sizeOf(v.encoding(), m, sizes)
	}
}

// sizeOf is size, through the cache sizes of a shared message (nil: none).
func (w *World) sizeOf(enc msg.Encoding, m any, sizes *[3]int32) int {
	if sizes == nil {
		return w.size(enc, m)
	}
	c := &sizes[int(enc)%len(sizes)]
	if *c == 0 {
		*c = int32(w.size(enc, m))
	}
	return int(*c)
}

func (v *Viewer) encoding() msg.Encoding { return msg.Encoding(v.enc) }

// syncSize is what m, which takes n bytes in v's encoding, counts for in
// its zone's SyncBytes: its MessagePack size. Counting every viewer in one
// unit keeps the live updates cheap to count (mpSize works them out
// without encoding; measuring text and JSON exactly would encode each one
// twice on the tick goroutine).
func (w *World) syncSize(v *Viewer, m any, n int) int {
	if v.encoding() == msg.MsgPack {
		return n
	}
	return w.size(msg.MsgPack, m)
}

func (w *World) mask(v *Viewer, e *entity) uint16 {
	if w.cfg.FieldMask == nil {
		return e.all
	}
	return w.cfg.FieldMask(v, e.view()) & e.all
}

// maskedVals returns e's fields as a client with mask sees them, trailing
// zeros trimmed when trim is set.
func maskedVals(e *entity, mask uint16, trim bool) []int32 {
	n := len(e.kind.fields)
	if trim {
		for n > 0 && (e.vals[n-1] == 0 || mask&(1<<(n-1)) == 0) {
			n--
		}
	}
	out := make([]int32, n)
	for i := range out {
		if mask&(1<<i) != 0 {
			out[i] = e.vals[i]
		}
	}
	return out
}

func hashMasked(e *entity, mask uint16) uint32 {
	var buf [MaxFields]int32
	n := len(e.kind.fields)
	for i := 0; i < n; i++ {
		if mask&(1<<i) != 0 {
			buf[i] = e.vals[i]
		}
	}
	return EntityHash(e.id, e.kind.num, buf[:n], e.name)
}

func (w *World) flushViewer(v *Viewer) {
	v.enc = int(v.out.Encoding())
	v.followSlot = -1
	if v.follow != 0 {
		if s, ok := w.byID[v.follow]; ok {
			e := &w.ents[s]
			v.followSlot = s
			v.zone, v.x, v.y = e.zone, e.vals[FieldX], e.vals[FieldY]
		}
	}
	if !v.kindsSent {
		v.kindsSent = true
		for _, k := range w.kinds {
			v.out.Send(k.info)
			if v.zone >= 0 {
				w.zones[v.zone].syncBytes += uint64(w.size(msg.MsgPack, k.info))
			}
		}
	}
	v.liveBytes, v.liveSync = 0, 0
	if v.zone != v.shownZone {
		w.beginSnapshot(v)
	}
	if v.zone < 0 {
		return
	}
	tick := w.tick
	resyncDue := !v.snapping && w.resyncTicks > 0 && (v.desynced || tick >= v.nextSlice)
	v.measuring = v.snapping || resyncDue
	v.seen = 0

	// Who is visible now: enters and deltas.
	z := w.zones[v.zone]
	r := w.cfg.Radius
	r2 := int64(r) * int64(r)
	x0, y0 := min(max((v.x-r)/z.cell, 0), z.cols-1), min(max((v.y-r)/z.cell, 0), z.rows-1)
	x1, y1 := min(max((v.x+r)/z.cell, 0), z.cols-1), min(max((v.y+r)/z.cell, 0), z.rows-1)
	visible := w.cfg.Visible
	for cy := y0; cy <= y1; cy++ {
		for cx := x0; cx <= x1; cx++ {
			for _, s := range z.cells[cy*z.cols+cx] {
				e := &w.ents[s]
				if s != v.followSlot {
					dx, dy := int64(e.vals[FieldX]-v.x), int64(e.vals[FieldY]-v.y)
					if dx*dx+dy*dy > r2 {
						continue
					}
					if visible != nil && !visible(v, e.view()) {
						continue
					}
				}
				w.see(v, s, e)
			}
		}
	}

	// Who left: the known entities not seen this tick, if any.
	if v.seen < v.known.known {
		for i := range v.known.tab {
			st := &v.known.tab[i]
			if st.state() == stKnown && !st.seen(tick) {
				v.send(&Remove{ID: uint32(st.id)}, nil)
				v.known.del(st)
			}
		}
	}

	if v.ackDue {
		v.ackDue = false
		a := &Ack{Seq: v.ackSeq}
		if v.followSlot >= 0 {
			e := &w.ents[v.followSlot]
			a.ID = uint32(e.id)
			a.Vals = maskedVals(e, w.mask(v, e), false)
		}
		v.send(a, nil)
	}

	// The live messages; ZONE and the snapshot and resync pieces count
	// themselves.
	z.syncBytes += uint64(v.liveSync)
	if v.snapping {
		w.sendSnapshot(v)
	} else if resyncDue {
		w.sendSlice(v)
	}
	v.measuring = false
}

// see handles entity e (in slot s) being visible to v this tick.
func (w *World) see(v *Viewer, s int32, e *entity) {
	st := v.known.find(e.id)
	if st == nil {
		st = v.known.insert(e.id)
	}
	st.mark(w.tick)
	switch st.state() {
	case stQueued:
		return
	case stEmpty:
		if v.snapping {
			v.known.setState(st, stQueued)
			v.pending = append(v.pending, pend{s, e.id})
			v.pendingDirty = true
			return
		}
		m := w.mask(v, e)
		v.send(enterMsg(e, m), nil)
		v.known.setState(st, stKnown)
		st.mask = m
		v.seen++
		w.sendEvents(v, e)
		return
	}
	v.seen++
	m := w.mask(v, e)
	if e.nameDirty {
		v.send(enterMsg(e, m), nil)
		st.mask = m
		w.sendEvents(v, e)
		return
	}
	change := (e.dirty & m) | (m ^ st.mask)
	if s == v.followSlot && v.ackDue {
		change = 0 // the ACK carries every field of the viewer's own entity
	}
	if change != 0 {
		if change == e.dirty && m == st.mask {
			// Every changed field is visible to v, as it was at the last
			// Flush: the client holds each at its value from the start of
			// the tick, like every other viewer in this case, so they all
			// share one message.
			if e.delta == nil {
				e.delta = deltaMsg(e, e.dirty, m, m)
			}
			v.send(e.delta, &e.deltaSize)
		} else if d := deltaMsg(e, change, m, st.mask); d.Mask != 0 {
			v.send(d, nil)
		}
	}
	st.mask = m
	w.sendEvents(v, e)
}

func enterMsg(e *entity, m uint16) *Enter {
	return &Enter{ID: uint32(e.id), Kind: e.kind.num, Vals: maskedVals(e, m, true), Name: e.name}
}

// deltaMsg builds the DELTA of e's fields in change for a client that was
// last sent the fields in mask old and may now see those in mask m. Its
// values are relative: each is the difference, wrapping round in int32,
// between what the client should hold now (the field's value, or 0 if it
// is hidden from now on) and what it holds (the field's value at the start
// of the tick, which the last Flush left it with, or 0 if it was hidden).
// A field whose difference is 0 (one that reads 0 both before and after a
// change of visibility) is left out.
func deltaMsg(e *entity, change, m, old uint16) *Delta {
	d := &Delta{ID: uint32(e.id), Vals: make([]int32, 0, bits.OnesCount16(change))}
	for c := change; c != 0; c &= c - 1 {
		f := bits.TrailingZeros16(c)
		bit := uint16(1) << f
		var held, now int32
		if old&bit != 0 {
			held = e.start(f)
		}
		if m&bit != 0 {
			now = e.vals[f]
		}
		if now != held {
			d.Mask |= bit
			d.Vals = append(d.Vals, now-held) // wraps round, as the client's sum does
		}
	}
	return d
}

func (w *World) sendEvents(v *Viewer, e *entity) {
	if !e.hasEvents {
		return
	}
	if len(e.evMsgs) == 0 {
		for _, pe := range e.events {
			e.evMsgs = append(e.evMsgs, &Event{ID: uint32(e.id), Event: pe.ev, Value: pe.value})
		}
	}
	for _, m := range e.evMsgs {
		v.send(m, nil)
	}
}

func (w *World) beginSnapshot(v *Viewer) {
	v.known.reset()
	v.pending = v.pending[:0]
	v.shownZone = v.zone
	v.snapping = false
	v.desynced = false // the snapshot re-sends everything
	if v.zone < 0 {
		return
	}
	z := w.zones[v.zone]
	z.snapshots++
	v.snap++
	v.snapping = true
	v.tileCursor = 0
	m := &ZoneStart{Zone: uint16(z.ID), Snap: v.snap, W: uint16(z.W), H: uint16(z.H), Unit: uint16(z.Unit)}
	v.out.Send(m)
	n := w.size(v.encoding(), m)
	v.liveBytes += n
	z.syncBytes += uint64(w.syncSize(v, m, n))
}

// dist2 is the squared distance from v to the entity in slot s; the
// entity v follows is at distance -1.
func (w *World) dist2(v *Viewer, s int32) int64 {
	if s == v.followSlot {
		return -1
	}
	e := &w.ents[s]
	dx, dy := int64(e.vals[FieldX]-v.x), int64(e.vals[FieldY]-v.y)
	return dx*dx + dy*dy
}

// allowance is what v may be sent of snapshot or resync bytes this tick.
func (w *World) allowance(v *Viewer) int {
	return max(w.cfg.Budget-v.liveBytes, w.cfg.Budget/4)
}

func (w *World) sendSnapshot(v *Viewer) {
	z := w.zones[v.zone]
	allow := w.allowance(v)
	used := 0
	// fits is asked before each piece is sent, and counts what is.
	fits := func(m any) bool {
		n := w.size(v.encoding(), m)
		if used > 0 && used+n > allow {
			return false
		}
		used += n
		z.syncBytes += uint64(w.syncSize(v, m, n))
		return true
	}
	if v.pendingDirty {
		// Nearest first, the viewer's own entity before all.
		v.pendingDirty = false
		slices.SortStableFunc(v.pending, func(a, b pend) int {
			return cmp.Compare(w.dist2(v, a.slot), w.dist2(v, b.slot))
		})
	}
	for len(v.pending) > 0 {
		p := v.pending[0]
		st := v.known.find(p.id)
		e := &w.ents[p.slot]
		if st == nil || st.state() != stQueued || !st.seen(w.tick) || !e.alive || e.id != p.id {
			if st != nil && st.state() == stQueued {
				v.known.del(st)
			}
			v.pending = v.pending[1:]
			continue
		}
		m := w.mask(v, e)
		em := enterMsg(e, m)
		if !fits(em) {
			return
		}
		v.out.Send(em)
		v.known.setState(st, stKnown)
		st.mask = m
		v.pending = v.pending[1:]
	}
	perRow := (z.W + MaxTilesPerMsg - 1) / MaxTilesPerMsg
	for v.tileCursor < perRow*z.H {
		y, x := v.tileCursor/perRow, (v.tileCursor%perRow)*MaxTilesPerMsg
		end := min(x+MaxTilesPerMsg, z.W)
		m := &Tiles{Y: uint16(y), X: uint16(x), Tiles: z.Tiles[y*z.W+x : y*z.W+end]}
		if !fits(m) {
			return
		}
		v.out.Send(m)
		v.tileCursor++
	}
	sum := z.hash
	for i := range v.known.tab {
		if st := &v.known.tab[i]; st.state() == stKnown {
			if s, ok := w.byID[st.id]; ok {
				sum += hashMasked(&w.ents[s], st.mask)
			}
		}
	}
	end := &SnapEnd{Snap: v.snap, Count: uint32(v.known.known), Sum: sum}
	if !fits(end) {
		return
	}
	v.out.Send(end)
	v.snapping = false
	v.pending = nil
	v.sliceMod, v.sliceRem = 0, 0
	w.nextCycle(v)
}

// nextCycle schedules the next resync slice of v.
func (w *World) nextCycle(v *Viewer) {
	if w.resyncTicks == 0 {
		return
	}
	if v.sliceMod == 0 || v.sliceRem >= v.sliceMod {
		v.sliceMod = uint32(max((v.known.known+w.cfg.SliceSize-1)/w.cfg.SliceSize, 1))
		v.sliceRem = 0
	}
	v.nextSlice = w.tick + max(w.resyncTicks/v.sliceMod, 1)
}

// sendSlice sends v's next resync slice, or, when a DESYNC report asked
// for it, one slice of its whole view (mod 1), after which a new cycle
// starts.
func (w *World) sendSlice(v *Viewer) {
	mod, rem := v.sliceMod, v.sliceRem
	if v.desynced {
		mod, rem = 1, 0
	}
	var msgs []any
	var sum uint32
	size, sync := 0, 0
	for i := range v.known.tab {
		st := &v.known.tab[i]
		if st.state() != stKnown || uint32(st.id)%mod != rem {
			continue
		}
		s, ok := w.byID[st.id]
		if !ok {
			continue
		}
		e := &w.ents[s]
		m := &State{ID: uint32(e.id), Kind: e.kind.num, Vals: maskedVals(e, st.mask, true), Name: e.name}
		sum += hashMasked(e, st.mask)
		n := w.size(v.encoding(), m)
		size += n
		sync += w.syncSize(v, m, n)
		msgs = append(msgs, m)
	}
	end := &SliceEnd{Mod: mod, Rem: rem, Count: uint32(len(msgs)), Sum: sum}
	n := w.size(v.encoding(), end)
	size += n
	sync += w.syncSize(v, end, n)
	if size > w.allowance(v) && v.postponed < w.postpone {
		v.postponed++
		return
	}
	v.postponed = 0
	for _, m := range msgs {
		v.out.Send(m)
	}
	v.out.Send(end)
	z := w.zones[v.zone]
	z.syncBytes += uint64(sync)
	if v.desynced {
		v.desynced = false
		v.sliceMod = 0 // everything was just verified: a new cycle
		z.resyncs++
	} else {
		v.sliceRem++
	}
	w.nextCycle(v)
}

// ReportDesync logs a client's DESYNC report at error level, with what the
// server holds for the entity: it means a sync bug in the game or in
// replica. Reports are rate-limited per viewer (at most 10 per resync
// period, or per 30 s if that is longer), since a client may lie; it
// returns whether it logged. A logged report also asks for a resync of
// v's whole view: at a following Flush (as soon as the budget allows, or
// within a second) v is sent one resync slice of every entity it holds,
// so a client whose copy went wrong is repaired at once rather than over
// a resync period. Reports that arrive while a snapshot is being sent
// need none: the snapshot re-sends everything. Resync disabled (a
// negative ResyncPeriod) disables this too. Every report, logged or not,
// counts in the Desyncs of v's zone (see ZoneStats).
func (w *World) ReportDesync(log *slog.Logger, v *Viewer, r *DesyncReport) bool {
	if v.zone >= 0 && int(v.zone) < len(w.zones) {
		w.zones[v.zone].desyncs++
	}
	window := w.tick / max(w.resyncTicks, w.desyncTicks)
	if window != v.desyncWindow {
		v.desyncWindow, v.desyncCount = window, 0
	}
	v.desyncCount++
	if v.desyncCount > 10 {
		return false
	}
	if w.resyncTicks > 0 && !v.Loading() {
		v.desynced = true
	}
	attrs := []any{"entity", r.ID, "reason", r.Reason, "mask", r.Mask}
	if e := w.ent(EntityID(r.ID)); e != nil {
		attrs = append(attrs, "kind", e.kind.name, "fields", e.kind.maskNames(r.Mask))
		vals := make([]int32, len(e.kind.fields))
		copy(vals, e.vals[:])
		attrs = append(attrs, "server_vals", vals, "client_sees", v.Sees(e.id))
	} else {
		attrs = append(attrs, "server_has", false)
	}
	log.Error("client reported desync: a sync bug", attrs...)
	return true
}
