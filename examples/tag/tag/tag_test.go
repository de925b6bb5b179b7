package tag_test

import (
	"fmt"
	"testing"

	"github.com/tickwire/tickwire/examples/tag/tag"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/servertest"
)

func start(t *testing.T, tickRate int) *servertest.Server {
	t.Helper()
	reg := msg.NewRegistry()
	tag.Register(reg)
	return servertest.New(t, server.Config{Registry: reg, TickRate: tickRate}, tag.New())
}

// two logs in a (who is "it", at 0 0) and then b (at 2 0), and checks what
// each is told.
func two(t *testing.T, s *servertest.Server, encA, encB msg.Encoding) (a, b *servertest.Client) {
	t.Helper()
	a = s.Dial(encA)
	a.Login()
	a.Expect(&tag.Pos{ID: a.ID(), X: 0, Y: 0})
	a.Expect(&tag.It{ID: a.ID(), Name: a.Name()})
	b = s.Dial(encB)
	b.Login()
	b.Expect(&tag.Pos{ID: a.ID(), X: 0, Y: 0})
	b.Expect(&tag.Pos{ID: b.ID(), X: 2, Y: 0})
	b.Expect(&tag.It{ID: a.ID(), Name: a.Name()})
	a.Expect(&tag.Pos{ID: b.ID(), X: 2, Y: 0})
	a.ExpectNothing()
	return a, b
}

// "it" steps next to b: the step is answered with the request's id, and
// everyone hears that b is it now. In every encoding, mixed.
func TestTouchTags(t *testing.T) {
	for _, enc := range []msg.Encoding{msg.Text, msg.JSON, msg.MsgPack} {
		t.Run(enc.String(), func(t *testing.T) {
			s := start(t, 0)
			a, b := two(t, s, enc, msg.Text)
			a.SendLine("@9 STEP e")
			s.Tick()
			a.ExpectLine("@9 AT 1 0")
			a.Expect(&tag.It{ID: b.ID(), Name: b.Name()})
			b.Expect(&tag.Pos{ID: a.ID(), X: 1, Y: 0})
			b.Expect(&tag.It{ID: b.ID(), Name: b.Name()})
			a.ExpectNothing()
			b.ExpectNothing()
		})
	}
}

// The player who has just tagged cannot be tagged back for
// tag.ImmuneSeconds, at any tick rate: the rule is in seconds.
func TestNoTagBackForASecond(t *testing.T) {
	for _, rate := range []int{10, 20, 60} {
		t.Run(fmt.Sprint(rate, "Hz"), func(t *testing.T) {
			s := start(t, rate)
			a, b := two(t, s, msg.JSON, msg.MsgPack)
			a.SendRID(&tag.Step{Dir: "e"}, 1)
			s.Tick()
			a.ExpectReply(1, &tag.At{X: 1, Y: 0})
			a.Expect(&tag.It{ID: b.ID(), Name: b.Name()})
			b.Drain() // b is it, next to a
			s.Ticks(rate*tag.ImmuneSeconds - 1)
			a.ExpectNothing()
			s.Tick()
			a.Expect(&tag.It{ID: a.ID(), Name: a.Name()})
			b.Expect(&tag.It{ID: a.ID(), Name: a.Name()})
		})
	}
}

func TestRefusedSteps(t *testing.T) {
	s := start(t, 0)
	a := s.Dial(msg.Text)
	a.Login()
	a.Drain()
	a.SendLine("@3 STEP w")
	a.SendLine("@4 STEP x")
	a.SendLine("@5 STEP ne")
	// The codec refuses "ne" (longer than the field's max) as it arrives;
	// the game answers the others in the tick.
	a.ExpectLine("@5 ERR bad_field STEP dir")
	s.Tick()
	a.ExpectLine("@3 ERR blocked")
	a.ExpectLine("@4 ERR bad_field")
	a.ExpectNothing()
}

// When "it" leaves, everyone hears it, and the longest-standing player is
// it.
func TestItLeaves(t *testing.T) {
	s := start(t, 0)
	a, b := two(t, s, msg.Text, msg.JSON)
	c := s.Dial(msg.MsgPack)
	c.Login()
	c.Drain()
	a.Drain()
	b.Drain()
	a.Close()
	s.Tick()
	for _, p := range []*servertest.Client{b, c} {
		p.Expect(&tag.Left{ID: a.ID()})
		p.Expect(&tag.It{ID: b.ID(), Name: b.Name()})
		p.ExpectNothing()
	}
	// A dropped player's seat is held (the default), so a drop is not a
	// leave until the hold ends.
	c.Drop()
	s.Tick()
	b.ExpectNothing()
	s.Advance(server.DefaultSeatHold)
	s.Tick()
	b.Expect(&tag.Left{ID: c.ID()})
}
