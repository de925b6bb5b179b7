// Package msg defines typed messages once and derives their encodings and
// dispatch from that single definition.
//
// A message is a plain Go struct. A game registers it with Define, giving a
// stable upper-case name (used by the text and JSON encodings) and a stable
// numeric id (used by MessagePack). Field names and limits come from `tw`
// struct tags:
//
//	type Move struct {
//		X int32 `tw:"x,min=0,max=4095"`
//		Y int32 `tw:"y,min=0,max=4095"`
//	}
//	msg.Define[Move](reg, msg.Info{ID: 40, Name: "MOVE", Dir: msg.ToServer})
//
// From then on the Registry encodes any *Move or Move in the text, JSON or
// MessagePack encoding (Registry.Append) and decodes any of them back into a
// *Move (Registry.Decode), checking every limit before allocating anything
// sized by the peer. Nobody writes per-message encoders, decoders or switches.
//
// Tag options, after the field's wire name:
//
//	min=N, max=N   numeric range (inclusive); for strings and slices max is the
//	               maximum length in bytes or elements
//	optional       may be omitted at the end of a text line or from a JSON
//	               object (it then keeps its zero value)
//	rest           text encoding only: the last string field takes the rest
//	               of the line verbatim, so `SAY hello there` needs no quotes
//
// Supported field kinds: bool, all int and uint sizes, float32, float64,
// string, and slices of those scalars (not of strings). Strings default to
// DefaultMaxString bytes and slices to DefaultMaxSlice elements when no max
// is given. Unexported fields and fields tagged `tw:"-"` are not sent.
//
// The wire formats are specified in docs/PROTOCOL.md.
package msg

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Limits on definitions and decoded values.
const (
	// DefaultMaxString is the length cap, in bytes, of a string field with no
	// explicit max.
	DefaultMaxString = 256
	// DefaultMaxSlice is the element cap of a slice field with no explicit max.
	DefaultMaxSlice = 64
	// MaxID is the largest message id. Ids are sent as a varint shifted left
	// by one bit, so ids up to 63 take one byte on the wire.
	MaxID = 1<<15 - 1
	// MaxRID is the largest request correlation id.
	MaxRID = 1<<32 - 1
)

// Dir says which way a message may travel. Decoding on the server refuses
// messages a client may not send.
type Dir uint8

const (
	// ToServer messages are sent by clients.
	ToServer Dir = 1 << iota
	// ToClient messages are sent by the server.
	ToClient
	// Both directions.
	Both = ToServer | ToClient
)

// String returns "to_server", "to_client" or "both".
func (d Dir) String() string {
	switch d {
	case ToServer:
		return "to_server"
	case ToClient:
		return "to_client"
	case Both:
		return "both"
	}
	return fmt.Sprintf("dir(%d)", uint8(d))
}

// Info is everything about a message type that is not in its Go struct.
type Info struct {
	// ID is the stable numeric id used by the MessagePack encoding,
	// 1..MaxID. Ids 1-31 are reserved for tickwire's built-in messages.
	ID uint16
	// Name is the stable name used by the text and JSON encodings: 1-24
	// characters, upper-case letters, digits and '_', starting with a letter.
	Name string
	// Dir says who may send it. Zero means Both.
	Dir Dir
	// Doc is a one-line description shown by HELP and in generated code.
	Doc string
	// Causes names the messages that handling this one may send. The
	// Registry refuses a cycle in this graph (see Registry.CheckFlow).
	Causes []string
	// Latest marks state messages: when a connection sends several of this
	// type within one tick, only the newest is delivered to the game, since
	// it supersedes the others.
	Latest bool
	// Rate and Burst limit how many messages of this type one connection
	// may send: Burst at once, then Rate a second (a token bucket). Past
	// the limit the server drops the message and answers ERR rate_limited
	// (docs/PROTOCOL.md §4.4). Zero takes the server's default for types
	// that declare none (server.DefaultMessageRate, DefaultMessageBurst).
	// Only meaningful for messages a client sends.
	Rate  float64
	Burst int
}

// Type is a registered message type.
type Type struct {
	Info
	goType reflect.Type
	fields []field
	// restField is the index in fields of the `rest` string, or -1.
	restField int
}

// GoType returns the struct type this message decodes into.
func (t *Type) GoType() reflect.Type { return t.goType }

// Fields describes the message's fields, in wire order.
func (t *Type) Fields() []FieldInfo {
	out := make([]FieldInfo, len(t.fields))
	for i, f := range t.fields {
		out[i] = f.FieldInfo
	}
	return out
}

// Usage returns the text-encoding syntax, e.g. "MOVE x y" or
// "PING [token]".
func (t *Type) Usage() string {
	var b strings.Builder
	b.WriteString(t.Name)
	for _, f := range t.fields {
		b.WriteByte(' ')
		name := f.Name
		if f.Rest {
			name += "..."
		}
		if f.Optional {
			b.WriteString("[" + name + "]")
		} else {
			b.WriteString(name)
		}
	}
	return b.String()
}

// Registry holds the message types one protocol knows. It is safe for
// concurrent use once definitions are done; Define is meant for start-up.
type Registry struct {
	mu     sync.RWMutex
	byID   map[uint16]*Type
	byName map[string]*Type
	byGo   map[reflect.Type]*Type
}

// NewRegistry returns a registry holding tickwire's built-in protocol
// messages (see builtin.go).
func NewRegistry() *Registry {
	r := &Registry{
		byID:   map[uint16]*Type{},
		byName: map[string]*Type{},
		byGo:   map[reflect.Type]*Type{},
	}
	defineBuiltins(r)
	return r
}

var namePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,23}$`)

// Define registers T, a struct type, under info and returns its Type. It
// panics if the definition is invalid (a bad name or id, a duplicate, an
// unsupported field kind, a bad tag): those are programming errors found at
// start-up, like registering an HTTP handler twice.
//
// Ids: 1-31 are reserved for tickwire (1-15 and 28-31 the built-in
// protocol messages, 16-27 the replica package's world sync); a game uses
// FirstGameID (32) to MaxID. Define refuses reserved ids.
//
// Fields: every exported field is part of the message, in declaration
// order. Its wire name is the first element of its `tw` tag, or, without
// one, the Go name in lower case (X -> "x", HoldMS -> "holdms"); give a tag
// whenever the lower-cased name would not read well. See the package doc for
// the tag options.
func Define[T any](r *Registry, info Info) *Type {
	if info.ID < FirstGameID {
		panic(fmt.Sprintf("msg: %s: id %d is reserved for tickwire (1-%d); games use %d-%d", info.Name, info.ID, FirstGameID-1, FirstGameID, MaxID))
	}
	return DefineReserved[T](r, info)
}

// DefineReserved is Define for tickwire's own packages, which use the
// reserved ids below FirstGameID (the replica package's world-sync
// messages). Games use Define.
func DefineReserved[T any](r *Registry, info Info) *Type {
	t, err := r.define(reflect.TypeFor[T](), info)
	if err != nil {
		panic(err)
	}
	return t
}

func (r *Registry) define(gt reflect.Type, info Info) (*Type, error) {
	if gt.Kind() != reflect.Struct {
		return nil, fmt.Errorf("msg: %v is not a struct", gt)
	}
	if !namePattern.MatchString(info.Name) {
		return nil, fmt.Errorf("msg: bad message name %q: want 1-24 of A-Z 0-9 _ starting with a letter", info.Name)
	}
	if info.ID == 0 || info.ID > MaxID {
		return nil, fmt.Errorf("msg: %s: id %d out of range 1..%d", info.Name, info.ID, MaxID)
	}
	if info.Dir == 0 {
		info.Dir = Both
	}
	if info.Rate < 0 || info.Burst < 0 || (info.Rate > 0) != (info.Burst > 0) {
		return nil, fmt.Errorf("msg: %s: Rate and Burst must both be positive, or both zero for the server's default", info.Name)
	}
	fields, err := parseFields(gt)
	if err != nil {
		return nil, fmt.Errorf("msg: %s: %w", info.Name, err)
	}
	t := &Type{Info: info, goType: gt, fields: fields, restField: -1}
	for i, f := range fields {
		if f.Rest {
			t.restField = i
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, dup := r.byID[info.ID]; dup {
		return nil, fmt.Errorf("msg: id %d of %s already used by %s", info.ID, info.Name, old.Name)
	}
	if _, dup := r.byName[info.Name]; dup {
		return nil, fmt.Errorf("msg: name %s defined twice", info.Name)
	}
	if old, dup := r.byGo[gt]; dup {
		return nil, fmt.Errorf("msg: %v already defined as %s", gt, old.Name)
	}
	r.byID[info.ID] = t
	r.byName[info.Name] = t
	r.byGo[gt] = t
	return t, nil
}

// ByName returns the type with the given name (case-insensitive).
func (r *Registry) ByName(name string) (*Type, bool) {
	r.mu.RLock()
	t, ok := r.byName[name]
	if !ok {
		t, ok = r.byName[strings.ToUpper(name)]
	}
	r.mu.RUnlock()
	return t, ok
}

// ByID returns the type with the given id.
func (r *Registry) ByID(id uint16) (*Type, bool) {
	r.mu.RLock()
	t, ok := r.byID[id]
	r.mu.RUnlock()
	return t, ok
}

// TypeOf returns the registered type of m, which may be a struct value or a
// pointer to one.
func (r *Registry) TypeOf(m any) (*Type, error) {
	gt := reflect.TypeOf(m)
	if gt != nil && gt.Kind() == reflect.Pointer {
		gt = gt.Elem()
	}
	r.mu.RLock()
	t, ok := r.byGo[gt]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("msg: %v is not a registered message", gt)
	}
	return t, nil
}

// Types returns every registered type, ordered by id.
func (r *Registry) Types() []*Type {
	r.mu.RLock()
	out := make([]*Type, 0, len(r.byID))
	for _, t := range r.byID {
		out = append(out, t)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// CheckFlow verifies the declared message-flow graph: every name in Causes
// must be registered and the graph must have no cycle, because a cycle (A
// causes B causes A) lets client and server flood each other. The error names
// the loop, e.g. "OPEN -> INVENTORY -> OPEN".
func (r *Registry) CheckFlow() error {
	types := r.Types()
	for _, t := range types {
		for _, c := range t.Causes {
			if _, ok := r.ByName(c); !ok {
				return fmt.Errorf("msg: %s declares it causes %s, which is not registered", t.Name, c)
			}
		}
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case active:
			i := len(path) - 1
			for path[i] != name {
				i--
			}
			loop := append(append([]string{}, path[i:]...), name)
			return fmt.Errorf("%w: %s", ErrFlowCycle, strings.Join(loop, " -> "))
		case done:
			return nil
		}
		state[name] = active
		path = append(path, name)
		t, _ := r.ByName(name)
		causes := append([]string(nil), t.Causes...)
		sort.Strings(causes)
		for _, c := range causes {
			if err := visit(c); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	for _, t := range types {
		if err := visit(t.Name); err != nil {
			return err
		}
	}
	return nil
}

// ErrFlowCycle is wrapped by CheckFlow's error when the flow graph loops.
var ErrFlowCycle = errors.New("msg: message flow graph has a cycle")
