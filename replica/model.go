package replica

import (
	"strings"
)

// ModelEntity is an entity as a client holds it.
type ModelEntity struct {
	ID   EntityID
	Kind uint8
	Name string
	// Vals holds the fields in number order; fields the client may not see
	// are zero.
	Vals [MaxFields]int32
}

// ModelKind is an entity kind as announced by KIND.
type ModelKind struct {
	Num    uint8
	Name   string
	Fields []string
	Events []string
}

// Field returns the number of the field called name, or -1.
func (k ModelKind) Field(name string) int {
	for i, f := range k.Fields {
		if f == name {
			return i
		}
	}
	return -1
}

// ZoneInfo describes the zone a client is in.
type ZoneInfo struct {
	ID   int
	W, H int
	Unit int32
}

// Desync lists what a Model found wrong while applying one message. Send
// each report to the server (it logs them): every one means a sync bug.
// The Model has already repaired itself.
type Desync struct {
	Reports []DesyncReport
}

func (d *Desync) add(r DesyncReport) *Desync {
	if d == nil {
		d = &Desync{}
	}
	d.Reports = append(d.Reports, r)
	return d
}

// Model is the client side of replica: the client's copy of the zone and
// of the entities the server shows it, kept by applying the server's
// replica messages in order. It does no I/O: feed it every message the
// connection receives with Apply. It verifies snapshot and resync
// checksums, repairs itself from resync slices, and returns a Desync when
// it had to. It is not safe for concurrent use.
type Model struct {
	kinds   map[uint8]*ModelKind
	zone    ZoneInfo
	tiles   []uint8
	ents    map[EntityID]*ModelEntity
	loading bool
	snap    uint32
	own     EntityID
	lastAck uint32
	slice   map[EntityID]struct{}
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{kinds: map[uint8]*ModelKind{}, ents: map[EntityID]*ModelEntity{}, slice: map[EntityID]struct{}{}, zone: ZoneInfo{ID: -1}}
}

func (m *Model) nfields(kind uint8) int {
	if k, ok := m.kinds[kind]; ok {
		return min(len(k.Fields), MaxFields)
	}
	return MaxFields
}

func (m *Model) hash(e *ModelEntity) uint32 {
	return EntityHash(e.ID, e.Kind, e.Vals[:m.nfields(e.Kind)], e.Name)
}

// Apply applies one message received from the server: a pointer to any
// replica message (others are ignored, so a client may pass everything it
// receives). It returns what it found out of sync, or nil.
func (m *Model) Apply(x any) *Desync {
	switch x := x.(type) {
	case *KindInfo:
		k := &ModelKind{Num: x.Kind, Name: x.Name, Fields: strings.Split(x.Fields, ",")}
		if x.Events != "" {
			k.Events = strings.Split(x.Events, ",")
		}
		m.kinds[x.Kind] = k
	case *ZoneStart:
		m.zone = ZoneInfo{ID: int(x.Zone), W: int(x.W), H: int(x.H), Unit: int32(x.Unit)}
		m.tiles = make([]uint8, int(x.W)*int(x.H))
		clear(m.ents)
		clear(m.slice)
		m.loading, m.snap = true, x.Snap
	case *Tiles:
		if int(x.Y) < m.zone.H && int(x.X)+len(x.Tiles) <= m.zone.W {
			copy(m.tiles[int(x.Y)*m.zone.W+int(x.X):], x.Tiles)
		}
	case *Enter:
		m.put(EntityID(x.ID), x.Kind, x.Vals, x.Name)
	case *Delta:
		e := m.ents[EntityID(x.ID)]
		if e == nil {
			return (*Desync)(nil).add(DesyncReport{ID: x.ID, Mask: x.Mask, Reason: ReasonUnknown})
		}
		i := 0
		for mask := x.Mask; mask != 0 && i < len(x.Vals); mask &= mask - 1 {
			f := 0
			for mask&(1<<f) == 0 {
				f++
			}
			e.Vals[f] += x.Vals[i] // relative; int32 wraps round as on the server
			i++
		}
	case *Remove:
		delete(m.ents, EntityID(x.ID))
	case *Ack:
		m.own, m.lastAck = EntityID(x.ID), x.Seq
		if e := m.ents[EntityID(x.ID)]; e != nil && len(x.Vals) > 0 {
			n := min(len(x.Vals), MaxFields)
			copy(e.Vals[:n], x.Vals[:n])
		}
	case *SnapEnd:
		m.loading = false
		sum := TilesHash(m.zone.W, m.zone.H, m.tiles)
		for _, e := range m.ents {
			sum += m.hash(e)
		}
		if sum != x.Sum || uint32(len(m.ents)) != x.Count {
			return (*Desync)(nil).add(DesyncReport{Reason: ReasonSnapshot})
		}
	case *State:
		return m.state(x)
	case *SliceEnd:
		return m.sliceEnd(x)
	}
	return nil
}

func (m *Model) put(id EntityID, kind uint8, vals []int32, name string) *ModelEntity {
	e := m.ents[id]
	if e == nil {
		e = &ModelEntity{}
		m.ents[id] = e
	}
	*e = ModelEntity{ID: id, Kind: kind, Name: name}
	copy(e.Vals[:], vals)
	return e
}

func (m *Model) state(x *State) *Desync {
	id := EntityID(x.ID)
	m.slice[id] = struct{}{}
	e := m.ents[id]
	if e == nil {
		m.put(id, x.Kind, x.Vals, x.Name)
		return (*Desync)(nil).add(DesyncReport{ID: x.ID, Mask: uint16(1<<m.nfields(x.Kind) - 1), Reason: ReasonMissing})
	}
	var want [MaxFields]int32
	copy(want[:], x.Vals)
	var diff uint16
	for i := 0; i < m.nfields(x.Kind); i++ {
		if e.Vals[i] != want[i] {
			diff |= 1 << i
		}
	}
	if e.Kind != x.Kind {
		diff = uint16(1<<m.nfields(x.Kind) - 1)
	}
	if diff == 0 && e.Name == x.Name {
		return nil
	}
	m.put(id, x.Kind, x.Vals, x.Name)
	return (*Desync)(nil).add(DesyncReport{ID: x.ID, Mask: diff, Reason: ReasonFields})
}

func (m *Model) sliceEnd(x *SliceEnd) *Desync {
	var d *Desync
	var sum uint32
	for id, e := range m.ents {
		if uint32(id)%x.Mod != x.Rem {
			continue
		}
		if _, ok := m.slice[id]; !ok {
			delete(m.ents, id)
			d = d.add(DesyncReport{ID: uint32(id), Reason: ReasonExtra})
			continue
		}
		sum += m.hash(e)
	}
	clear(m.slice)
	if sum != x.Sum {
		d = d.add(DesyncReport{Reason: ReasonChecksum})
	}
	return d
}

// Entity returns a copy of entity id.
func (m *Model) Entity(id EntityID) (ModelEntity, bool) {
	e, ok := m.ents[id]
	if !ok {
		return ModelEntity{}, false
	}
	return *e, true
}

// Each calls fn for every entity held, in no particular order, until fn
// returns false.
func (m *Model) Each(fn func(e ModelEntity) bool) {
	for _, e := range m.ents {
		if !fn(*e) {
			return
		}
	}
}

// Len returns the number of entities held.
func (m *Model) Len() int { return len(m.ents) }

// Kind returns the entity kind numbered k, as announced by KIND.
func (m *Model) Kind(k uint8) (ModelKind, bool) {
	kd, ok := m.kinds[k]
	if !ok {
		return ModelKind{}, false
	}
	return *kd, true
}

// Zone describes the current zone; its ID is -1 before the first ZONE.
func (m *Model) Zone() ZoneInfo { return m.zone }

// Tile returns the tile at column x, row y, and false outside the zone.
func (m *Model) Tile(x, y int) (uint8, bool) {
	if x < 0 || y < 0 || x >= m.zone.W || y >= m.zone.H {
		return 0, false
	}
	return m.tiles[y*m.zone.W+x], true
}

// Loading reports whether a snapshot has started and not yet completed.
func (m *Model) Loading() bool { return m.loading }

// Own returns the client's own entity, as named by the last ACK, or 0.
func (m *Model) Own() EntityID { return m.own }

// LastAck returns the sequence number of the last ACK applied.
func (m *Model) LastAck() uint32 { return m.lastAck }
