package arena

import (
	"testing"

	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
)

// lagTicks20 is the latency of a lagged client in ticks at 20 Hz, each
// way: 3 ticks of 50 ms. At other rates it is the same time, rounded up
// to whole ticks.
const lagTicks20 = 3

// lagged simulates a client 150 ms (round trip) away from the server,
// predicting its own tank with replica.Predictor.
type lagged struct {
	h       *harness
	p       *fakePeer
	pred    *replica.Predictor[Point, Control]
	latency int // one way, in ticks
	seq     uint32
	toSrv   [][]*Drive // inputs in flight, by tick of arrival
	toCli   [][]any    // server messages in flight
	shown   []Point    // predicted position at every frame
	acks    int
	refused int
}

func newLagged(h *harness, p *fakePeer, step func(Point, Control) Point) *lagged {
	p.delayed = true
	// Let the snapshot arrive first.
	for i := 0; i < 20; i++ {
		h.tick()
		for _, m := range p.inbox {
			p.apply(m)
		}
		p.inbox = nil
	}
	latency := (lagTicks20*h.rate + 19) / 20
	return &lagged{h: h, p: p, pred: replica.NewPredictor(h.posOf(p), step), latency: latency,
		toSrv: make([][]*Drive, latency), toCli: make([][]any, latency)}
}

// frame runs one client frame and one server tick.
func (l *lagged) frame(c *Control) {
	// Messages that have crossed the network arrive.
	for _, m := range l.toCli[0] {
		l.p.apply(m)
		if a, ok := m.(*replica.Ack); ok && a.ID != 0 {
			l.pred.Ack(a.Seq, Point{a.Vals[replica.FieldX], a.Vals[replica.FieldY]})
			l.acks++
		}
	}
	l.toCli = append(l.toCli[1:], nil)
	var sent []*Drive
	if c != nil {
		l.seq++
		s := l.pred.Input(l.seq, *c)
		sent = []*Drive{{X: s.X, Y: s.Y, Seq: l.seq}}
	}
	l.toSrv = append(l.toSrv, sent)
	for _, m := range l.toSrv[0] {
		l.h.send(l.p, m)
	}
	l.toSrv = l.toSrv[1:]
	l.h.tick()
	l.refused += len(l.h.errs[l.p.id])
	delete(l.h.errs, l.p.id)
	l.toCli[l.latency-1] = append(l.toCli[l.latency-1], l.p.inbox...)
	l.p.inbox = nil
	l.shown = append(l.shown, l.pred.State())
}

func (l *lagged) drain() {
	for i := 0; i < 3*l.latency; i++ {
		l.frame(nil)
	}
}

func jump(a, b Point) int32 { return max(abs32(a.X-b.X), abs32(a.Y-b.Y)) }

// TestPredictionSmoothUnder150ms drives a tank 150 ms away from the server
// round obstacles. The server accepts every move, so the predicted position
// never jumps by more than one step between frames, never snaps, and ends
// where the server has the tank. TestPredictionAtEveryRate runs it at
// other rates.
func TestPredictionSmoothUnder150ms(t *testing.T) { predictSmoothly(t, server.DefaultTickRate) }

func predictSmoothly(t *testing.T, rate int) {
	h := newHarnessAt(t, rate)
	p := h.join("laggy")
	h.place(p, 1, 205, 45) // tile 20,4
	var z TileMap = p.model
	l := newLagged(h, p, func(s Point, c Control) Point { return Step(z, s, c, h.rate) })
	start := l.pred.State()
	// Legs of n twentieths of a second, n*rate/20 frames each.
	route := []struct {
		c Control
		n int
	}{{Control{1, 0}, 40}, {Control{0, 1}, 30}, {Control{-1, 1}, 20}, {Control{-1, 0}, 25}, {Control{0, -1}, 40}}
	for _, leg := range route {
		for i := 0; i < leg.n*rate/20; i++ {
			c := leg.c
			l.frame(&c)
		}
	}
	l.drain()
	for i := 1; i < len(l.shown); i++ {
		if d := jump(l.shown[i-1], l.shown[i]); d > StepUnits(h.rate) {
			t.Fatalf("frame %d: predicted position jumped %d units (%v -> %v)", i, d, l.shown[i-1], l.shown[i])
		}
	}
	if l.pred.Snaps() != 0 || l.refused != 0 {
		t.Fatalf("%d snaps, %d refusals with a well-behaved client", l.pred.Snaps(), l.refused)
	}
	if l.acks < 5*rate || l.pred.State() != h.posOf(p) || l.pred.Pending() != 0 {
		t.Fatalf("%d acks; predicted %v, server %v", l.acks, l.pred.State(), h.posOf(p))
	}
	// The first leg drives east for 2 s: 2*Speed units at any rate.
	if moved := jump(start, l.shown[2*rate-1]); moved != 2*Speed {
		t.Fatalf("the tank drove %d units in the first 2 s, want %d", moved, 2*Speed)
	}
}

// TestPredictionSnapsBackOnRefusal uses a client whose step ignores walls
// (a bug or a cheat): the server refuses the move through the wall, and
// the predictor snaps back to the server's position.
func TestPredictionSnapsBackOnRefusal(t *testing.T) {
	h := newHarness(t)
	p := h.join("ghost")
	h.place(p, 1, 205, 125) // tile 20,12; the wall is at y 140-149
	l := newLagged(h, p, func(s Point, c Control) Point {
		return Point{s.X + int32(c.DX)*StepUnits(h.rate), s.Y + int32(c.DY)*StepUnits(h.rate)}
	})
	south := Control{0, 1}
	for i := 0; i < 12; i++ {
		l.frame(&south)
	}
	before := l.pred.State()
	l.drain()
	after := l.pred.State()
	server := h.posOf(p)
	if server.Y >= 140 || after != server {
		t.Fatalf("server has the tank at %v, predictor at %v", server, after)
	}
	if before.Y < 150 || l.pred.Snaps() == 0 || l.refused == 0 {
		t.Fatalf("predicted %v before the acks; %d snaps, %d refusals", before, l.pred.Snaps(), l.refused)
	}
	if len(h.logs.Lines("suspicious move", "reason=wall")) == 0 {
		t.Fatal("the refused move was not logged")
	}
}
