package replica

// knownTable is what one viewer knows: an open-addressing hash table from
// entity id to its state for that viewer, small and contiguous so that the
// per-tick interest pass stays in cache however many entities the world
// has.
type knownTable struct {
	tab   []slotState
	bits  uint
	used  int // entries that are not empty (live or deleted)
	live  int // entries in stQueued or stKnown
	known int // entries in stKnown
}

// Entry states, kept in the low two bits of slotState.stamp.
const (
	stEmpty  uint16 = iota
	stQueued        // waiting to be sent whole as part of a snapshot
	stKnown         // the client holds it
	stGone          // deleted (a tombstone)
)

// slotState is what a viewer knows about one entity, in 8 bytes so that a
// viewer's whole table fits in a few cache lines. stamp holds the low 14
// bits of the tick the entity was last visible and, below them, the state.
// A known entry is checked every tick, so 14 bits cannot wrap round for it;
// a queued one waits at most for the rest of a snapshot.
type slotState struct {
	id    EntityID
	stamp uint16
	mask  uint16 // fields the client may see, as last sent
}

func (st *slotState) state() uint16 { return st.stamp & 3 }

// seen reports whether the entry was stamped in tick.
func (st *slotState) seen(tick uint32) bool { return st.stamp>>2 == uint16(tick&0x3FFF) }

// mark stamps the entry with tick, keeping its state.
func (st *slotState) mark(tick uint32) { st.stamp = uint16(tick&0x3FFF)<<2 | st.stamp&3 }

func (t *knownTable) home(id EntityID) int {
	return int((uint32(id) * 2654435761) >> (32 - t.bits))
}

// find returns the entry of id, or nil.
func (t *knownTable) find(id EntityID) *slotState {
	if t.live == 0 {
		return nil
	}
	mask := len(t.tab) - 1
	for i := t.home(id); ; i = (i + 1) & mask {
		st := &t.tab[i]
		if st.id == id && (st.state() == stQueued || st.state() == stKnown) {
			return st
		}
		if st.state() == stEmpty {
			return nil
		}
	}
}

// insert adds id, which must not be present, and returns its entry.
func (t *knownTable) insert(id EntityID) *slotState {
	if (t.used+1)*2 > len(t.tab) {
		t.rehash()
	}
	mask := len(t.tab) - 1
	for i := t.home(id); ; i = (i + 1) & mask {
		st := &t.tab[i]
		if st.state() == stEmpty || st.state() == stGone {
			if st.state() == stEmpty {
				t.used++
			}
			t.live++
			*st = slotState{id: id}
			return st
		}
	}
}

// setState moves an entry between stQueued and stKnown, keeping counts.
func (t *knownTable) setState(st *slotState, s uint16) {
	if st.state() == stKnown {
		t.known--
	}
	if s == stKnown {
		t.known++
	}
	st.stamp = st.stamp&^3 | s
}

// del deletes an entry.
func (t *knownTable) del(st *slotState) {
	if st.state() == stKnown {
		t.known--
	}
	st.stamp = st.stamp&^3 | stGone
	t.live--
}

func (t *knownTable) rehash() {
	old := t.tab
	n := 16
	for n < t.live*3 {
		n *= 2
	}
	t.tab = make([]slotState, n)
	t.bits = 0
	for 1<<t.bits < n {
		t.bits++
	}
	t.used, t.live, t.known = 0, 0, 0
	for i := range old {
		if s := old[i].state(); s == stQueued || s == stKnown {
			st := t.insert(old[i].id)
			*st = old[i]
			if s == stKnown {
				t.known++
			}
		}
	}
}

// reset empties the table.
func (t *knownTable) reset() {
	clear(t.tab)
	t.used, t.live, t.known = 0, 0, 0
}
