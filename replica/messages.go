package replica

import (
	"fmt"
	"reflect"

	"github.com/tickwire/tickwire/msg"
)

// The replica messages. Their ids are 16-27, inside the range msg reserves
// for tickwire (1-31), so they never collide with a game's own messages.
// docs/SYNC.md describes when each is sent.

// Message ids of the replica protocol.
const (
	IDKind     = 16
	IDZone     = 17
	IDTiles    = 18
	IDEnter    = 19
	IDDelta    = 20
	IDEvent    = 21
	IDRemove   = 22
	IDSnapEnd  = 23
	IDState    = 24
	IDSliceEnd = 25
	IDAck      = 26
	IDDesync   = 27
)

// Wire limits of the replica messages.
const (
	// MaxFields is the most int32 fields an entity kind may have; a field
	// mask is 16 bits.
	MaxFields = 16
	// MaxEvents is the most event kinds an entity kind may declare.
	MaxEvents = 16
	// MaxZoneSide is the largest zone width or height, in tiles.
	MaxZoneSide = 1024
	// MaxTilesPerMsg is the most tiles one TILES message carries.
	MaxTilesPerMsg = 64
	// MaxName is the longest entity name, in bytes.
	MaxName = 64
)

// KindInfo (KIND) describes an entity kind: its number, name, field names
// and event names, each list comma-separated in number order. The server
// sends every kind once, before the first ZONE.
type KindInfo struct {
	Kind   uint8  `tw:"kind"`
	Name   string `tw:"name,max=24"`
	Fields string `tw:"fields,max=400"`
	Events string `tw:"events,optional,max=400"`
}

// ZoneStart (ZONE) starts a snapshot: the client drops every entity and
// tile it holds and prepares a W x H tile map. Unit is the size of one
// tile in position units. Snap numbers the snapshot; its SNAPEND carries
// the same number.
type ZoneStart struct {
	Zone uint16 `tw:"zone"`
	Snap uint32 `tw:"snap"`
	W    uint16 `tw:"w,min=1,max=1024"`
	H    uint16 `tw:"h,min=1,max=1024"`
	Unit uint16 `tw:"unit,min=1"`
}

// Tiles (TILES) carries up to MaxTilesPerMsg tiles of row Y starting at
// column X, as part of a snapshot.
type Tiles struct {
	Y     uint16  `tw:"y,max=1023"`
	X     uint16  `tw:"x,max=1023"`
	Tiles []uint8 `tw:"tiles,max=64"`
}

// Enter (ENTER) gives a whole entity: it entered the client's view, or is
// part of a snapshot, or its name changed. Vals holds its fields in number
// order; trailing zero fields are left out, and fields the client may not
// see are zero.
type Enter struct {
	ID   uint32  `tw:"id,min=1"`
	Kind uint8   `tw:"kind"`
	Vals []int32 `tw:"vals,max=16"`
	Name string  `tw:"name,optional,max=64"`
}

// Delta (DELTA) carries the fields of one entity that changed this tick:
// bit i of Mask set means field i changed, and Vals holds, for the set bits
// lowest first, how much each changed: the new value minus the value the
// client holds, wrapping round in int32. The client adds it, wrapping round
// too. Relative values keep a moving entity's DELTA small: a coordinate in
// the hundreds that moves by 3 costs one byte in MessagePack, not three.
type Delta struct {
	ID   uint32  `tw:"id,min=1"`
	Mask uint16  `tw:"mask"`
	Vals []int32 `tw:"vals,max=16"`
}

// Event (EVENT) is something that happened to an entity this tick, such as
// damage. Events of one kind on one entity in one tick are merged into one
// (see Merge). Event numbers index the kind's event list.
type Event struct {
	ID    uint32 `tw:"id,min=1"`
	Event uint8  `tw:"event"`
	Value int32  `tw:"value"`
}

// Remove (REMOVE) says an entity left the client's view or the world.
type Remove struct {
	ID uint32 `tw:"id,min=1"`
}

// SnapEnd (SNAPEND) completes snapshot Snap: the client should now hold
// Count entities, and Sum is the checksum of the tile map plus those
// entities (see EntityHash and TilesHash).
type SnapEnd struct {
	Snap  uint32 `tw:"snap"`
	Count uint32 `tw:"count"`
	Sum   uint32 `tw:"sum"`
}

// State (STATE) is one entity of a periodic resync slice, whole, as the
// client should hold it. Unlike ENTER, a client compares it with its copy
// and reports a difference with DESYNC before repairing.
type State struct {
	ID   uint32  `tw:"id,min=1"`
	Kind uint8   `tw:"kind"`
	Vals []int32 `tw:"vals,max=16"`
	Name string  `tw:"name,optional,max=64"`
}

// SliceEnd (RSLICE) closes a resync slice: the slice holds every entity the
// client should have whose id modulo Mod is Rem; Count were sent as STATE,
// with checksum Sum. A client drops (and reports) the entities of the slice
// it holds but was not sent.
type SliceEnd struct {
	Mod   uint32 `tw:"mod,min=1"`
	Rem   uint32 `tw:"rem"`
	Count uint32 `tw:"count"`
	Sum   uint32 `tw:"sum"`
}

// Ack (ACK) acknowledges the client's input Seq, the last one the server
// applied, with the authoritative fields of the client's own entity ID
// after applying it (same layout as ENTER's Vals, untrimmed).
type Ack struct {
	Seq  uint32  `tw:"seq"`
	ID   uint32  `tw:"id"`
	Vals []int32 `tw:"vals,max=16"`
}

// DesyncReport (DESYNC) is sent by a client whose model differed from a
// resync: entity ID, the fields that differed (Mask), and Reason: fields,
// missing (the client lacked the entity), extra (the client had an entity
// the server does not show it), unknown (a DELTA for an entity it lacks),
// or checksum / snapshot (a checksum failed).
type DesyncReport struct {
	ID     uint32 `tw:"id"`
	Mask   uint16 `tw:"mask"`
	Reason string `tw:"reason,max=16"`
}

// Desync reasons carried by DesyncReport.Reason.
const (
	ReasonFields   = "fields"
	ReasonMissing  = "missing"
	ReasonExtra    = "extra"
	ReasonUnknown  = "unknown"
	ReasonChecksum = "checksum"
	ReasonSnapshot = "snapshot"
)

// Register defines the replica messages in reg. It is idempotent, so both a
// game's Register and a client may call it.
func Register(reg *msg.Registry) {
	defs := []struct {
		goType reflect.Type
		info   msg.Info
		define func(*msg.Registry, msg.Info) *msg.Type
	}{
		{reflect.TypeFor[KindInfo](), msg.Info{ID: IDKind, Name: "KIND", Dir: msg.ToClient, Doc: "an entity kind: kind name fields events"}, msg.DefineReserved[KindInfo]},
		{reflect.TypeFor[ZoneStart](), msg.Info{ID: IDZone, Name: "ZONE", Dir: msg.ToClient, Doc: "snapshot start: zone snap w h unit (drop what you hold)"}, msg.DefineReserved[ZoneStart]},
		{reflect.TypeFor[Tiles](), msg.Info{ID: IDTiles, Name: "TILES", Dir: msg.ToClient, Doc: "tiles of row y from column x"}, msg.DefineReserved[Tiles]},
		{reflect.TypeFor[Enter](), msg.Info{ID: IDEnter, Name: "ENTER", Dir: msg.ToClient, Doc: "a whole entity: id kind vals [name]"}, msg.DefineReserved[Enter]},
		{reflect.TypeFor[Delta](), msg.Info{ID: IDDelta, Name: "DELTA", Dir: msg.ToClient, Doc: "changed fields: id mask vals (differences to add)"}, msg.DefineReserved[Delta]},
		{reflect.TypeFor[Event](), msg.Info{ID: IDEvent, Name: "EVENT", Dir: msg.ToClient, Doc: "an event on an entity: id event value"}, msg.DefineReserved[Event]},
		{reflect.TypeFor[Remove](), msg.Info{ID: IDRemove, Name: "REMOVE", Dir: msg.ToClient, Doc: "an entity left your view: id"}, msg.DefineReserved[Remove]},
		{reflect.TypeFor[SnapEnd](), msg.Info{ID: IDSnapEnd, Name: "SNAPEND", Dir: msg.ToClient, Doc: "snapshot complete: snap count checksum"}, msg.DefineReserved[SnapEnd]},
		{reflect.TypeFor[State](), msg.Info{ID: IDState, Name: "STATE", Dir: msg.ToClient, Doc: "resync of an entity: id kind vals [name]"}, msg.DefineReserved[State]},
		{reflect.TypeFor[SliceEnd](), msg.Info{ID: IDSliceEnd, Name: "RSLICE", Dir: msg.ToClient, Doc: "resync slice end: mod rem count checksum"}, msg.DefineReserved[SliceEnd]},
		{reflect.TypeFor[Ack](), msg.Info{ID: IDAck, Name: "ACK", Dir: msg.ToClient, Doc: "input seq applied; your entity's fields: seq id vals"}, msg.DefineReserved[Ack]},
		{reflect.TypeFor[DesyncReport](), msg.Info{ID: IDDesync, Name: "DESYNC", Dir: msg.ToServer, Doc: "client model differed from a resync: id mask reason"}, msg.DefineReserved[DesyncReport]},
	}
	for _, d := range defs {
		if t, ok := reg.ByID(d.info.ID); ok {
			if t.GoType() != d.goType {
				panic(fmt.Sprintf("replica: message id %d is taken by %s", d.info.ID, t.Name))
			}
			continue
		}
		d.define(reg, d.info)
	}
}
