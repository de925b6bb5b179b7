// Package relayproto defines the room-relay workload protocol: the
// messages, their ids and the room-name rule that every relay server and
// the load generator share. Clients JOIN a room, then send MOVE x y t;
// every tick each member of a room receives one POS per other member whose
// position changed, carrying only the latest position and the opaque t its
// owner sent.
//
// It is a package of its own because three unrelated programs speak the
// protocol and none should import another: the load generator in the
// tickwire binary (package loadtest, which encodes MessagePack by hand from
// these ids), the tickwire implementation (examples/relay) and the tests of
// the hand-written reference server (bench/refserver). It depends only on
// package msg.
package relayproto

import "github.com/tickwire/tickwire/msg"

// Join enters a room.
type Join struct {
	Room string `tw:"room,max=32"`
}

// Joined confirms a Join: the room and your entity id.
type Joined struct {
	Room string `tw:"room,max=32"`
	ID   uint64 `tw:"id"`
}

// Move sets your position; T is echoed to the other members.
type Move struct {
	X int32 `tw:"x"`
	Y int32 `tw:"y"`
	T int64 `tw:"t"`
}

// Pos is another member's latest position.
type Pos struct {
	ID uint64 `tw:"id"`
	X  int32  `tw:"x"`
	Y  int32  `tw:"y"`
	T  int64  `tw:"t"`
}

// The relay's message ids, from msg.FirstGameID. Load generators that
// encode MessagePack by hand use these rather than repeating the numbers.
const (
	IDJoin   = msg.FirstGameID
	IDJoined = msg.FirstGameID + 1
	IDMove   = msg.FirstGameID + 2
	IDPos    = msg.FirstGameID + 3
)

// MaxRoom is the longest room name, in bytes.
const MaxRoom = 32

// Register defines the relay's messages in reg.
func Register(reg *msg.Registry) {
	msg.Define[Join](reg, msg.Info{ID: IDJoin, Name: "JOIN", Dir: msg.ToServer, Doc: "enter a room: JOIN <room>", Causes: []string{"JOINED"}})
	msg.Define[Joined](reg, msg.Info{ID: IDJoined, Name: "JOINED", Dir: msg.ToClient, Doc: "you are in the room: JOINED <room> <id>"})
	// MOVE is state: of several in one tick only the newest matters.
	msg.Define[Move](reg, msg.Info{ID: IDMove, Name: "MOVE", Dir: msg.ToServer, Latest: true, Doc: "set your position: MOVE <x> <y> <t>", Causes: []string{"POS"}})
	msg.Define[Pos](reg, msg.Info{ID: IDPos, Name: "POS", Dir: msg.ToClient, Doc: "a member's latest position: POS <id> <x> <y> <t>"})
}

// ValidRoom reports whether s is a room name: 1 to MaxRoom of A-Z a-z 0-9
// _ and -.
func ValidRoom(s string) bool {
	if s == "" || len(s) > MaxRoom {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
