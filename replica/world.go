package replica

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/tickwire/tickwire/msg"
)

// Defaults of Config.
const (
	// DefaultBudget is the per-viewer byte budget per tick for snapshot and
	// resync traffic.
	DefaultBudget = 1024
	// DefaultResyncPeriod is how long one resync cycle, re-sending a
	// viewer's whole visible state slice by slice, takes.
	DefaultResyncPeriod = 30 * time.Second
	// DefaultSliceSize is the target number of entities in one resync
	// slice.
	DefaultSliceSize = 16
	// DefaultRadius is the view radius in position units.
	DefaultRadius = 100
	// DefaultTickRate is the tick rate a World assumes when its
	// Config.TickRate is 0: the default of server.Config.TickRate, right
	// only for a standalone World (a test, a tool) or a server left at its
	// default rate. A game sets Config.TickRate from its server's settings
	// (server.Settings.TickRate, given to a server.Initializer).
	DefaultTickRate = 20
	// maxPostpone is how long a resync slice may wait for budget before
	// it is sent regardless; desyncWindow the least window of
	// ReportDesync's limit.
	maxPostpone  = time.Second
	desyncWindow = 30 * time.Second
)

// Sender is where a viewer's messages go. *server.Player satisfies it; a
// test can record the messages instead.
type Sender interface {
	// Send queues m for the current tick's output.
	Send(m any)
	// Encoding is the encoding the messages will be written in; it is used
	// to count bytes against the budget.
	Encoding() msg.Encoding
}

// Entity is a read-only view of an entity, passed to the interest hooks.
type Entity struct {
	ID   EntityID
	Kind uint8
	Zone int
	X, Y int32
}

// Config tunes a World. The zero value is valid: every zero field takes the
// default named in its comment.
type Config struct {
	// TickRate is the game's ticks per second: the World's times
	// (ResyncPeriod, how long a resync slice may wait for budget, the
	// window of ReportDesync's limit) are turned into ticks at this rate.
	// Set it to the server's rate, which a server.Initializer learns in
	// Init (server.Settings.TickRate): a World at another rate than its
	// server resyncs too often or too seldom. 0 means DefaultTickRate (20),
	// for a standalone World.
	TickRate int
	// Budget is how many bytes of snapshot and resync messages a viewer is
	// sent per tick, minus the live updates of that tick (but never less
	// than a quarter of it, so a snapshot always progresses). At least one
	// piece goes each tick. Default DefaultBudget (1 KiB).
	Budget int
	// ResyncPeriod is the time over which a viewer's whole visible state is
	// re-sent, slice by slice, with a checksum per slice. Default
	// DefaultResyncPeriod (30 s); negative disables resync.
	ResyncPeriod time.Duration
	// SliceSize is the target number of entities per resync slice.
	// Default DefaultSliceSize.
	SliceSize int
	// Radius is how far a viewer sees, in position units. Default
	// DefaultRadius.
	Radius int32
	// CellSize is the side of the spatial grid's cells in position units.
	// Default Radius/2.
	CellSize int32
	// Visible, when set, is asked about every entity within Radius of a
	// viewer (except the entity the viewer follows, which it always sees);
	// returning false hides the entity from it, e.g. behind a wall. It
	// runs every tick, so it should be cheap.
	Visible func(v *Viewer, e Entity) bool
	// FieldMask, when set, returns the fields of e that v may see (bit i
	// for field i); the others read as zero on the client. Nil means every
	// field. Use it for private state, such as a chest's contents that only
	// players who opened it may see.
	FieldMask func(v *Viewer, e Entity) uint16
	// Drop is a test hook that simulates sync bugs: returning true drops
	// the live message m (ENTER, DELTA, EVENT or REMOVE) for v, while the
	// World goes on believing it was sent. Leave it nil in production.
	Drop func(v *Viewer, m any) bool
}

func (c Config) withDefaults() (Config, error) {
	if c.TickRate == 0 {
		c.TickRate = DefaultTickRate
	}
	if c.Budget == 0 {
		c.Budget = DefaultBudget
	}
	if c.ResyncPeriod == 0 {
		c.ResyncPeriod = DefaultResyncPeriod
	}
	if c.SliceSize == 0 {
		c.SliceSize = DefaultSliceSize
	}
	if c.Radius == 0 {
		c.Radius = DefaultRadius
	}
	if c.CellSize == 0 {
		c.CellSize = max(c.Radius/2, 1)
	}
	switch {
	case c.TickRate < 1:
		return c, errors.New("replica: TickRate must be positive")
	case c.Budget < 64:
		return c, errors.New("replica: Budget must be at least 64 bytes")
	case c.SliceSize < 1:
		return c, errors.New("replica: SliceSize must be positive")
	case c.Radius < 1 || c.CellSize < 1:
		return c, errors.New("replica: Radius and CellSize must be positive")
	}
	return c, nil
}

// ZoneDef declares a zone: a tile map and the space its entities live in.
type ZoneDef struct {
	// ID is the game's number for the zone, 0-65535.
	ID int
	// W and H are the size in tiles, 1-MaxZoneSide.
	W, H int
	// Unit is the side of one tile in position units; a zone spans
	// W*Unit by H*Unit.
	Unit int32
	// Tiles holds W*H tile codes, row by row. The World keeps it and never
	// changes it; the game must not change it either.
	Tiles []uint8
}

type zone struct {
	ZoneDef
	hash       uint32
	cell       int32
	cols, rows int32
	cells      [][]int32 // entity slots per cell

	// Counters reported by World.ZoneStats: kept here as plain integers,
	// since the World belongs to one goroutine and Flush must stay cheap.
	entities                               int
	syncBytes, snapshots, resyncs, desyncs uint64
}

// ZoneStats is what a World reports about one zone, for a game's admin
// console or metrics. Entities and Viewers are as of now; the counters are
// cumulative since the zone was added, so a reader derives rates from two
// readings.
type ZoneStats struct {
	// Entities is the number of live entities in the zone.
	Entities int
	// Viewers is the number of viewers looking at the zone as of the last
	// Flush: players following an entity there, and spectators placed
	// there.
	Viewers int
	// SyncBytes is the bytes of every replica message sent to viewers
	// while they looked at the zone: KIND (once per viewer), snapshots,
	// live updates (ENTER, DELTA, EVENT, REMOVE, ACK) and resync slices,
	// each as the MessagePack codec frames it (its length prefix
	// included; WebSocket and TLS add their own). For MessagePack viewers
	// that is what was sent; text and JSON viewers are counted in the same
	// unit (their wire bytes are more), because measuring them exactly
	// would encode every update twice on the tick goroutine. Messages the
	// Config.Drop test hook drops are not counted.
	SyncBytes uint64
	// Snapshots is the snapshots begun in the zone: one each time a
	// viewer enters it or first looks at it.
	Snapshots uint64
	// Resyncs is the whole-view resyncs sent in the zone in answer to a
	// client's DESYNC report (see World.ReportDesync); the periodic
	// resync slices are not counted here.
	Resyncs uint64
	// Desyncs is the DESYNC reports received from viewers looking at the
	// zone, rate-limited or not: each means a sync bug, or a lying client.
	Desyncs uint64
}

// ZoneStats returns the statistics of zone zoneID, and false if the World
// has no such zone. Like the rest of the World it must be called on the
// tick goroutine; it takes time in proportion to the number of viewers,
// not entities.
func (w *World) ZoneStats(zoneID int) (ZoneStats, bool) {
	zi, ok := w.zoneIndex[zoneID]
	if !ok {
		return ZoneStats{}, false
	}
	z := w.zones[zi]
	st := ZoneStats{Entities: z.entities, SyncBytes: z.syncBytes, Snapshots: z.snapshots, Resyncs: z.resyncs, Desyncs: z.desyncs}
	for _, v := range w.viewers {
		if v.zone == zi {
			st.Viewers++
		}
	}
	return st, true
}

func (z *zone) cellOf(x, y int32) int32 {
	cx := min(max(x/z.cell, 0), z.cols-1)
	cy := min(max(y/z.cell, 0), z.rows-1)
	return cy*z.cols + cx
}

type pendingEvent struct {
	ev    uint8
	n     int32 // emissions
	value int32
}

type entity struct {
	// Hot fields first: the per-viewer interest pass reads only the
	// first cache line of an entity that did not change.
	id        EntityID
	zoneID    uint16 // the game's zone id
	knum      uint8  // kind number
	alive     bool
	dirty     uint16
	all       uint16 // mask of every field of the kind
	nameDirty bool
	hasEvents bool
	touched   bool // in World.touched
	vals      [MaxFields]int32

	kind *kind
	zone int32 // index in World.zones
	cell int32
	name string
	prev [MaxFields]int32 // value before the first change this tick

	events []pendingEvent

	// Per-tick shared messages, built on first use and sent to every
	// viewer that sees the whole change.
	delta     *Delta
	deltaSize [3]int32
	evMsgs    []*Event
}

// start returns field f as it was at the start of the tick, which is what
// the last Flush sent.
func (e *entity) start(f int) int32 {
	if e.dirty&(1<<f) != 0 {
		return e.prev[f]
	}
	return e.vals[f]
}

func (e *entity) view() Entity {
	return Entity{ID: e.id, Kind: e.knum, Zone: int(e.zoneID), X: e.vals[FieldX], Y: e.vals[FieldY]}
}

// World is the replicated state of a game: zones with tile maps, and
// entities with typed int32 fields. Game code changes it with Spawn, Set,
// SetPos, SetZone, Emit and Remove during a tick and calls Flush once at
// the end of the tick; Flush works out what each Viewer may see and what
// changed, and sends it. A World is not safe for concurrent use: it belongs
// to the tick goroutine, like the rest of a tickwire game.
type World struct {
	cfg         Config
	kinds       []*kind // by number-1
	zones       []*zone
	zoneIndex   map[int]int32
	ents        []entity // by slot
	byID        map[EntityID]int32
	free        []int32
	freeLater   []int32
	nextID      EntityID
	touched     []int32
	viewers     []*Viewer
	tick        uint32
	resyncTicks uint32 // ResyncPeriod in ticks; 0: no resync
	postpone    int    // maxPostpone in ticks
	desyncTicks uint32 // desyncWindow in ticks
	codecs      [3]*msg.Codec
	scratch     []byte
}

// NewWorld returns an empty world with the given entity kinds, numbered
// from 1 in the order given.
func NewWorld(cfg Config, kinds ...KindDef) (*World, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(kinds) == 0 || len(kinds) > 255 {
		return nil, fmt.Errorf("replica: %d kinds, want 1-255", len(kinds))
	}
	w := &World{cfg: cfg, zoneIndex: map[int]int32{}, byID: map[EntityID]int32{}}
	for i, d := range kinds {
		k, err := newKind(i+1, d)
		if err != nil {
			return nil, err
		}
		w.kinds = append(w.kinds, k)
	}
	if cfg.ResyncPeriod > 0 {
		w.resyncTicks = uint32(ticks(cfg.ResyncPeriod, cfg.TickRate))
	}
	w.postpone = int(ticks(maxPostpone, cfg.TickRate))
	w.desyncTicks = uint32(ticks(desyncWindow, cfg.TickRate))
	reg := msg.NewRegistry()
	Register(reg)
	for _, e := range msg.Encodings {
		w.codecs[e] = reg.NewCodec(e)
	}
	return w, nil
}

// ticks converts d to ticks at rate ticks per second, truncated, and at
// least 1.
func ticks(d time.Duration, rate int) int64 {
	return max(int64(d)*int64(rate)/int64(time.Second), 1)
}

// Config returns the world's configuration with defaults filled in.
func (w *World) Config() Config { return w.cfg }

// AddZone adds a zone. Its tile map is immutable from then on.
func (w *World) AddZone(d ZoneDef) error {
	if d.ID < 0 || d.ID > 0xFFFF {
		return fmt.Errorf("replica: zone id %d out of range 0-65535", d.ID)
	}
	if _, dup := w.zoneIndex[d.ID]; dup {
		return fmt.Errorf("replica: zone %d added twice", d.ID)
	}
	if d.W < 1 || d.H < 1 || d.W > MaxZoneSide || d.H > MaxZoneSide || len(d.Tiles) != d.W*d.H {
		return fmt.Errorf("replica: zone %d: bad size %dx%d with %d tiles", d.ID, d.W, d.H, len(d.Tiles))
	}
	if d.Unit < 1 || d.Unit > 0xFFFF {
		return fmt.Errorf("replica: zone %d: unit %d out of range 1-65535", d.ID, d.Unit)
	}
	z := &zone{ZoneDef: d, hash: TilesHash(d.W, d.H, d.Tiles), cell: w.cfg.CellSize}
	z.cols = max((int32(d.W)*d.Unit+z.cell-1)/z.cell, 1)
	z.rows = max((int32(d.H)*d.Unit+z.cell-1)/z.cell, 1)
	z.cells = make([][]int32, z.cols*z.rows)
	w.zoneIndex[d.ID] = int32(len(w.zones))
	w.zones = append(w.zones, z)
	return nil
}

// Tile returns the tile at column x, row y of zone, and false outside it.
func (w *World) Tile(zoneID, x, y int) (uint8, bool) {
	zi, ok := w.zoneIndex[zoneID]
	if !ok {
		return 0, false
	}
	z := w.zones[zi]
	if x < 0 || y < 0 || x >= z.W || y >= z.H {
		return 0, false
	}
	return z.Tiles[y*z.W+x], true
}

// Kinds returns the number of entity kinds.
func (w *World) Kinds() int { return len(w.kinds) }

// FieldNames returns the names of the fields of kind k set in mask,
// comma-separated: for logs.
func (w *World) FieldNames(k uint8, mask uint16) string {
	if k == 0 || int(k) > len(w.kinds) {
		return ""
	}
	return w.kinds[k-1].maskNames(mask)
}

// Spawn creates an entity of kind k (numbered from 1) at x, y in zone and
// returns its id. Its other fields start at zero. It panics on an unknown
// kind or zone, which are programming errors.
func (w *World) Spawn(k uint8, zoneID int, x, y int32, name string) EntityID {
	if k == 0 || int(k) > len(w.kinds) {
		panic(fmt.Sprintf("replica: Spawn: unknown kind %d", k))
	}
	zi, ok := w.zoneIndex[zoneID]
	if !ok {
		panic(fmt.Sprintf("replica: Spawn: unknown zone %d", zoneID))
	}
	if len(name) > MaxName {
		name = name[:MaxName]
	}
	var s int32
	if n := len(w.free); n > 0 {
		s = w.free[n-1]
		w.free = w.free[:n-1]
	} else {
		s = int32(len(w.ents))
		w.ents = append(w.ents, entity{})
	}
	w.nextID++
	e := &w.ents[s]
	kd := w.kinds[k-1]
	*e = entity{id: w.nextID, knum: kd.num, all: kd.all, zoneID: uint16(zoneID), kind: kd, zone: zi, alive: true, name: name, events: e.events[:0], evMsgs: e.evMsgs[:0]}
	e.vals[FieldX], e.vals[FieldY] = x, y
	z := w.zones[zi]
	e.cell = z.cellOf(x, y)
	z.cells[e.cell] = append(z.cells[e.cell], s)
	z.entities++
	w.byID[e.id] = s
	return e.id
}

func (w *World) ent(id EntityID) *entity {
	s, ok := w.byID[id]
	if !ok {
		return nil
	}
	return &w.ents[s]
}

// Exists reports whether entity id is alive.
func (w *World) Exists(id EntityID) bool { return w.ent(id) != nil }

// Lookup returns a view of entity id.
func (w *World) Lookup(id EntityID) (Entity, bool) {
	e := w.ent(id)
	if e == nil {
		return Entity{}, false
	}
	return e.view(), true
}

// Name returns entity id's name.
func (w *World) Name(id EntityID) string {
	if e := w.ent(id); e != nil {
		return e.name
	}
	return ""
}

// Get returns field f of entity id, or 0 if there is no such entity.
func (w *World) Get(id EntityID, f int) int32 {
	e := w.ent(id)
	if e == nil || f < 0 || f >= MaxFields {
		return 0
	}
	return e.vals[f]
}

// Set sets field f of entity id to v. Only the last value set in a tick
// counts: it is sent (as its difference from the value at the start of the
// tick) only if it differs from that value.
// Setting x or y moves the entity (see SetPos). It reports whether the
// entity exists; it panics if f is not a field of the entity's kind.
func (w *World) Set(id EntityID, f int, v int32) bool {
	s, ok := w.byID[id]
	if !ok {
		return false
	}
	w.set(s, &w.ents[s], f, v)
	return true
}

func (w *World) set(s int32, e *entity, f int, v int32) {
	if f < 0 || f >= len(e.kind.fields) {
		panic(fmt.Sprintf("replica: Set: kind %s has no field %d", e.kind.name, f))
	}
	if e.vals[f] == v {
		return
	}
	bit := uint16(1) << f
	if e.dirty&bit == 0 {
		e.prev[f] = e.vals[f]
		e.dirty |= bit
	}
	e.vals[f] = v
	w.touch(s, e)
	if f <= FieldY {
		w.regrid(s, e)
	}
}

func (w *World) touch(s int32, e *entity) {
	if !e.touched {
		e.touched = true
		w.touched = append(w.touched, s)
	}
}

func (w *World) regrid(s int32, e *entity) {
	z := w.zones[e.zone]
	c := z.cellOf(e.vals[FieldX], e.vals[FieldY])
	if c == e.cell {
		return
	}
	removeSlot(&z.cells[e.cell], s)
	e.cell = c
	z.cells[c] = append(z.cells[c], s)
}

func removeSlot(list *[]int32, s int32) {
	l := *list
	for i, x := range l {
		if x == s {
			l[i] = l[len(l)-1]
			*list = l[:len(l)-1]
			return
		}
	}
}

// SetPos moves entity id to x, y within its zone.
func (w *World) SetPos(id EntityID, x, y int32) bool {
	s, ok := w.byID[id]
	if !ok {
		return false
	}
	e := &w.ents[s]
	w.set(s, e, FieldX, x)
	w.set(s, e, FieldY, y)
	return true
}

// Pos returns entity id's zone and position.
func (w *World) Pos(id EntityID) (zoneID int, x, y int32, ok bool) {
	e := w.ent(id)
	if e == nil {
		return 0, 0, 0, false
	}
	return w.zones[e.zone].ID, e.vals[FieldX], e.vals[FieldY], true
}

// SetZone moves entity id to x, y in another zone. Viewers of the old zone
// see it leave, viewers of the new one see it enter, and a viewer that
// follows it gets a snapshot of the new zone.
func (w *World) SetZone(id EntityID, zoneID int, x, y int32) bool {
	s, ok := w.byID[id]
	if !ok {
		return false
	}
	zi, ok := w.zoneIndex[zoneID]
	if !ok {
		panic(fmt.Sprintf("replica: SetZone: unknown zone %d", zoneID))
	}
	e := &w.ents[s]
	if zi != e.zone {
		z := w.zones[e.zone]
		removeSlot(&z.cells[e.cell], s)
		z.entities--
		e.zone, e.zoneID = zi, uint16(zoneID)
		nz := w.zones[zi]
		e.cell = nz.cellOf(e.vals[FieldX], e.vals[FieldY])
		nz.cells[e.cell] = append(nz.cells[e.cell], s)
		nz.entities++
	}
	w.set(s, e, FieldX, x)
	w.set(s, e, FieldY, y)
	return true
}

// SetName renames entity id; viewers that see it get it whole again.
func (w *World) SetName(id EntityID, name string) bool {
	s, ok := w.byID[id]
	if !ok {
		return false
	}
	if len(name) > MaxName {
		name = name[:MaxName]
	}
	e := &w.ents[s]
	if e.name != name {
		e.name = name
		e.nameDirty = true
		w.touch(s, e)
	}
	return true
}

// Emit records event ev (numbered from 0 in the kind's Events) with value
// on entity id. Events of one kind on one entity in one tick are merged by
// the event's Merge rule and sent once, to the viewers that see the entity.
func (w *World) Emit(id EntityID, ev int, value int32) bool {
	s, ok := w.byID[id]
	if !ok {
		return false
	}
	e := &w.ents[s]
	if ev < 0 || ev >= len(e.kind.events) {
		panic(fmt.Sprintf("replica: Emit: kind %s has no event %d", e.kind.name, ev))
	}
	w.touch(s, e)
	e.hasEvents = true
	for i := range e.events {
		pe := &e.events[i]
		if int(pe.ev) != ev {
			continue
		}
		pe.n++
		switch e.kind.events[ev].Merge {
		case MergeSum:
			pe.value += value
		case MergeMax:
			pe.value = max(pe.value, value)
		case MergeLast:
			pe.value = value
		case MergeCount:
			pe.value = pe.n
		}
		return true
	}
	if e.kind.events[ev].Merge == MergeCount {
		value = 1
	}
	e.events = append(e.events, pendingEvent{ev: uint8(ev), n: 1, value: value})
	return true
}

// Remove deletes entity id; viewers that saw it get REMOVE at the next
// Flush.
func (w *World) Remove(id EntityID) bool {
	s, ok := w.byID[id]
	if !ok {
		return false
	}
	e := &w.ents[s]
	z := w.zones[e.zone]
	removeSlot(&z.cells[e.cell], s)
	z.entities--
	delete(w.byID, id)
	e.alive = false
	w.freeLater = append(w.freeLater, s)
	return true
}

// Near calls fn for every entity of zone within r of x, y, until fn
// returns false. The order is unspecified.
func (w *World) Near(zoneID int, x, y, r int32, fn func(e Entity) bool) {
	zi, ok := w.zoneIndex[zoneID]
	if !ok {
		return
	}
	z := w.zones[zi]
	r2 := int64(r) * int64(r)
	x0, y0 := min(max((x-r)/z.cell, 0), z.cols-1), min(max((y-r)/z.cell, 0), z.rows-1)
	x1, y1 := min(max((x+r)/z.cell, 0), z.cols-1), min(max((y+r)/z.cell, 0), z.rows-1)
	for cy := y0; cy <= y1; cy++ {
		for cx := x0; cx <= x1; cx++ {
			for _, s := range z.cells[cy*z.cols+cx] {
				e := &w.ents[s]
				dx, dy := int64(e.vals[FieldX]-x), int64(e.vals[FieldY]-y)
				if dx*dx+dy*dy <= r2 && !fn(e.view()) {
					return
				}
			}
		}
	}
}

// Len returns the number of live entities.
func (w *World) Len() int { return len(w.byID) }

// size returns the encoded size of m in enc, framing included.
func (w *World) size(enc msg.Encoding, m any) int {
	if int(enc) >= len(w.codecs) {
		enc = msg.MsgPack
	}
	if enc == msg.MsgPack {
		if n, ok := mpSize(m); ok {
			return n
		}
	}
	b, err := w.codecs[enc].Append(w.scratch[:0], m, 0)
	if err != nil {
		panic("replica: cannot encode " + fmt.Sprintf("%T: %v", m, err))
	}
	w.scratch = b[:0]
	return len(b)
}

// Flush ends the tick: for every viewer it works out which entities it may
// see now, and sends what entered its view (whole), what left it (REMOVE),
// the changed fields of the rest (DELTA), the tick's merged events, the
// acknowledgement of its last input, and as much of a pending snapshot or
// resync slice as its byte budget allows. Then it forgets the tick's
// changes. Call it once per tick, after the game has updated the world.
func (w *World) Flush() {
	w.tick++
	for _, s := range w.touched {
		e := &w.ents[s]
		for m := e.dirty; m != 0; m &= m - 1 {
			f := bits.TrailingZeros16(m)
			if e.vals[f] == e.prev[f] {
				e.dirty &^= 1 << f // changed and changed back: nothing to send
			}
		}
	}
	for _, v := range w.viewers {
		w.flushViewer(v)
	}
	for _, s := range w.touched {
		e := &w.ents[s]
		e.touched, e.nameDirty, e.hasEvents, e.dirty = false, false, false, 0
		e.events = e.events[:0]
		clear(e.evMsgs)
		e.evMsgs = e.evMsgs[:0]
		e.delta = nil
		e.deltaSize = [3]int32{}
	}
	w.touched = w.touched[:0]
	for _, s := range w.freeLater {
		w.ents[s].name = ""
		w.free = append(w.free, s)
	}
	w.freeLater = w.freeLater[:0]
}

// mpSize returns the size of m as the MessagePack codec frames it (length
// prefix, header, then each field, integers in their shortest form),
// worked out without encoding it. Flush counts every live message it
// sends, for the zones' SyncBytes; encoding each one just to measure it
// cost a fifth of a busy tick. It knows the messages a Flush sends to
// viewers one by one (ENTER, DELTA, EVENT, REMOVE, ACK); ok is false for
// the others, which the codec measures. TestMPSizeMatchesCodec holds it
// to the codec.
func mpSize(m any) (n int, ok bool) {
	switch m := m.(type) {
	case *Delta:
		n = mpUint(uint64(m.ID)) + mpUint(uint64(m.Mask)) + mpInts(m.Vals)
	case *Enter:
		n = mpUint(uint64(m.ID)) + mpUint(uint64(m.Kind)) + mpInts(m.Vals) + mpStrLen(len(m.Name)) + len(m.Name)
	case *Event:
		n = mpUint(uint64(m.ID)) + mpUint(uint64(m.Event)) + mpInt(int64(m.Value))
	case *Remove:
		n = mpUint(uint64(m.ID))
	case *Ack:
		n = mpUint(uint64(m.Seq)) + mpUint(uint64(m.ID)) + mpInts(m.Vals)
	default:
		return 0, false
	}
	n++ // the header, the message id (16-27) shifted left: one uvarint byte
	prefix := 1
	for x := n; x >= 0x80; x >>= 7 {
		prefix++
	}
	return prefix + n, true
}

func mpUint(x uint64) int {
	switch {
	case x <= math.MaxInt8:
		return 1
	case x <= math.MaxUint8:
		return 2
	case x <= math.MaxUint16:
		return 3
	case x <= math.MaxUint32:
		return 5
	}
	return 9
}

func mpInt(x int64) int {
	switch {
	case x >= 0:
		return mpUint(uint64(x))
	case x >= -32:
		return 1
	case x >= math.MinInt8:
		return 2
	case x >= math.MinInt16:
		return 3
	case x >= math.MinInt32:
		return 5
	}
	return 9
}

func mpInts(vals []int32) int {
	n := 1 // array header, up to 15 values
	if len(vals) >= 16 {
		n = 3
	}
	for _, x := range vals {
		n += mpInt(int64(x))
	}
	return n
}

func mpStrLen(l int) int {
	switch {
	case l < 32:
		return 1
	case l < 256:
		return 2
	case l <= math.MaxUint16:
		return 3
	}
	return 5
}
