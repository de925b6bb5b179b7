package relayproto_test

import (
	"strings"
	"testing"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
)

// The wire format the load generator writes by hand: the ids and the text
// lines are fixed.
func TestWireFormat(t *testing.T) {
	reg := msg.NewRegistry()
	relayproto.Register(reg)
	for _, tc := range []struct {
		m    any
		id   uint16
		text string
	}{
		{&relayproto.Join{Room: "r1"}, relayproto.IDJoin, "JOIN r1\n"},
		{&relayproto.Joined{Room: "r1", ID: 7}, relayproto.IDJoined, "JOINED r1 7\n"},
		{&relayproto.Move{X: -1, Y: 2, T: 3}, relayproto.IDMove, "MOVE -1 2 3\n"},
		{&relayproto.Pos{ID: 7, X: -1, Y: 2, T: 3}, relayproto.IDPos, "POS 7 -1 2 3\n"},
	} {
		typ, err := reg.TypeOf(tc.m)
		if err != nil || typ.ID != tc.id {
			t.Errorf("%T: id %v, %v; want %d", tc.m, typ, err, tc.id)
			continue
		}
		if b, _ := reg.Append(nil, msg.Text, tc.m, 0); string(b) != tc.text {
			t.Errorf("%T: %q, want %q", tc.m, b, tc.text)
		}
	}
	if mv, _ := reg.ByName("MOVE"); !mv.Latest {
		t.Error("MOVE is not Latest")
	}
	if relayproto.IDJoin != msg.FirstGameID {
		t.Error("the ids do not start at msg.FirstGameID")
	}
}

func TestValidRoom(t *testing.T) {
	for room, ok := range map[string]bool{
		"r1": true, "A-b_9": true, strings.Repeat("x", relayproto.MaxRoom): true,
		"": false, "bad room": false, "bad/room": false, "é": false, strings.Repeat("x", relayproto.MaxRoom+1): false,
	} {
		if relayproto.ValidRoom(room) != ok {
			t.Errorf("ValidRoom(%q) = %v", room, !ok)
		}
	}
}
