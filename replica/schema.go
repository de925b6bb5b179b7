package replica

import (
	"fmt"
	"strings"
)

// EntityID names an entity for its whole life; ids are never reused.
type EntityID uint32

// Field numbers every kind shares: each entity's position. Kinds declare
// their other fields from FieldFirst on.
const (
	FieldX     = 0
	FieldY     = 1
	FieldFirst = 2
)

// Merge says how events of one kind on one entity within one tick combine
// into the single EVENT that is sent.
type Merge uint8

const (
	// MergeSum adds the values: two hits of 25 become one of 50.
	MergeSum Merge = iota
	// MergeMax keeps the largest value.
	MergeMax
	// MergeLast keeps the last value emitted.
	MergeLast
	// MergeCount counts the emissions, ignoring values.
	MergeCount
)

// EventDef declares an event kind of an entity kind.
type EventDef struct {
	Name  string
	Merge Merge
}

// KindDef declares an entity kind: its replicated fields and its events.
// Fields 0 and 1 are always x and y (the position used for interest); list
// only the others in Fields, which become fields 2, 3, ...
type KindDef struct {
	// Name is a short lower-case name, e.g. "tank".
	Name string
	// Fields names the int32 fields after x and y, at most MaxFields-2.
	Fields []string
	// Events declares the kind's events, at most MaxEvents.
	Events []EventDef
}

// kind is a KindDef resolved for the World.
type kind struct {
	num    uint8
	name   string
	fields []string // all fields, x and y included
	events []EventDef
	all    uint16 // mask of every field
	info   *KindInfo
}

func newKind(num int, d KindDef) (*kind, error) {
	if d.Name == "" || strings.ContainsAny(d.Name, " ,\"") {
		return nil, fmt.Errorf("replica: kind %d: bad name %q", num, d.Name)
	}
	if len(d.Fields)+FieldFirst > MaxFields {
		return nil, fmt.Errorf("replica: kind %s: %d fields, want at most %d besides x and y", d.Name, len(d.Fields), MaxFields-FieldFirst)
	}
	if len(d.Events) > MaxEvents {
		return nil, fmt.Errorf("replica: kind %s: %d events, want at most %d", d.Name, len(d.Events), MaxEvents)
	}
	k := &kind{num: uint8(num), name: d.Name, events: d.Events}
	k.fields = append([]string{"x", "y"}, d.Fields...)
	seen := map[string]bool{}
	for _, f := range k.fields {
		if f == "" || strings.ContainsAny(f, " ,\"") || seen[f] {
			return nil, fmt.Errorf("replica: kind %s: bad or repeated field name %q", d.Name, f)
		}
		seen[f] = true
	}
	evNames := make([]string, len(d.Events))
	for i, e := range d.Events {
		if e.Name == "" || strings.ContainsAny(e.Name, " ,\"") {
			return nil, fmt.Errorf("replica: kind %s: bad event name %q", d.Name, e.Name)
		}
		evNames[i] = e.Name
	}
	k.all = uint16(1<<len(k.fields) - 1)
	k.info = &KindInfo{Kind: k.num, Name: k.name, Fields: strings.Join(k.fields, ","), Events: strings.Join(evNames, ",")}
	return k, nil
}

// maskNames returns the names of the fields in mask, comma-separated.
func (k *kind) maskNames(mask uint16) string {
	var b strings.Builder
	for i, f := range k.fields {
		if mask&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f)
		}
	}
	return b.String()
}
