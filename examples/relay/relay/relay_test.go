package relay_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tickwire/tickwire/examples/relay/relay"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/servertest"
)

// start serves the relay under servertest's manual clock; connections log
// in on connect, as the relay's main has them.
func start(t *testing.T) *servertest.Server {
	t.Helper()
	reg := msg.NewRegistry()
	relayproto.Register(reg)
	return servertest.New(t, server.Config{Registry: reg, AutoLogin: true}, relay.New())
}

// join dials a client in enc and puts it in room, checking JOINED.
func join(t *testing.T, s *servertest.Server, enc msg.Encoding, room string) *servertest.Client {
	t.Helper()
	c := s.Dial(enc)
	c.Login()
	c.Send(&relayproto.Join{Room: room})
	s.Tick()
	c.Expect(&relayproto.Joined{Room: room, ID: c.ID()})
	return c
}

func TestRelayDeliversLatestPositionToRoomMatesOnly(t *testing.T) {
	for _, enc := range []msg.Encoding{msg.Text, msg.JSON, msg.MsgPack} {
		t.Run(enc.String(), func(t *testing.T) {
			s := start(t)
			a := join(t, s, enc, "r1")
			b := join(t, s, msg.Text, "r1")
			other := join(t, s, enc, "r2")

			// Five moves in one tick: MOVE is Latest, so only the last one
			// reaches the game and b hears exactly one POS.
			for i := 1; i <= 5; i++ {
				a.SendLine(fmt.Sprintf("MOVE 10 20 %d", i))
			}
			s.Tick()
			b.Expect(&relayproto.Pos{ID: a.ID(), X: 10, Y: 20, T: 5})
			b.ExpectNothing()
			a.ExpectNothing() // never its own POS
			other.ExpectNothing()

			// Nothing moved: the next tick sends nothing.
			s.Tick()
			b.ExpectNothing()

			// Both move in one tick: each hears the other.
			a.Send(&relayproto.Move{X: 1, Y: 2, T: 100})
			b.Send(&relayproto.Move{X: -5, Y: 6, T: 300})
			s.Tick()
			a.Expect(&relayproto.Pos{ID: b.ID(), X: -5, Y: 6, T: 300})
			b.Expect(&relayproto.Pos{ID: a.ID(), X: 1, Y: 2, T: 100})
			other.ExpectNothing()
		})
	}
}

// A member who leaves (or switches rooms) hears no more of the room, and
// the room keeps working for those who stay.
func TestRelayLeaving(t *testing.T) {
	s := start(t)
	a := join(t, s, msg.Text, "r1")
	b := join(t, s, msg.JSON, "r1")
	c := join(t, s, msg.MsgPack, "r1")
	c.Drop()
	b.SendLine("JOIN r2")
	a.SendLine("MOVE 7 8 400")
	s.Tick()
	b.Expect(&relayproto.Joined{Room: "r2", ID: b.ID()})
	b.ExpectNothing()

	d := join(t, s, msg.Text, "r1")
	a.SendLine("MOVE 9 9 401")
	s.Tick()
	d.Expect(&relayproto.Pos{ID: a.ID(), X: 9, Y: 9, T: 401})
	b.ExpectNothing()
}

func TestRelayRefusals(t *testing.T) {
	s := start(t)
	p := s.Dial(msg.Text)
	p.Login()
	p.SendLine("@1 MOVE 1 2 3")
	p.SendLine("@2 JOIN bad/room")
	s.Tick()
	p.ExpectLine("@1 ERR not_joined")
	p.ExpectLine("@2 ERR bad_field")
	p.SendLine("@3 JOIN " + strings.Repeat("x", 33))
	p.ExpectLine("@3 ERR bad_field JOIN room") // refused by the codec, before the game
}
