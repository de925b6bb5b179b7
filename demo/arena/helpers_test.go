package arena

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/tickwire/tickwire/internal/testutil"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
)

// fakePeer stands in for a server.Player: it records what it is sent,
// keeps a replica.Model of it, and logs into a shared buffer.
type fakePeer struct {
	id      uint64
	name    string
	enc     msg.Encoding
	log     *slog.Logger
	got     []any
	strikes []string
	model   *replica.Model
	reports []replica.DesyncReport
	// delay, when set, holds messages back: see deliver.
	delayed bool
	inbox   []any
}

func (p *fakePeer) ID() uint64             { return p.id }
func (p *fakePeer) Name() string           { return p.name }
func (p *fakePeer) Encoding() msg.Encoding { return p.enc }
func (p *fakePeer) Logger() *slog.Logger   { return p.log }
func (p *fakePeer) Strike(reason string)   { p.strikes = append(p.strikes, reason) }
func (p *fakePeer) Send(m any) {
	p.got = append(p.got, m)
	if p.delayed {
		p.inbox = append(p.inbox, m)
		return
	}
	p.apply(m)
}

func (p *fakePeer) apply(m any) {
	if p.model == nil {
		return
	}
	if d := p.model.Apply(m); d != nil {
		p.reports = append(p.reports, d.Reports...)
	}
}

// take returns and forgets what the peer was sent so far.
func (p *fakePeer) take() []any {
	got := p.got
	p.got = nil
	return got
}

// harness drives a Game tick by tick with fake players.
type harness struct {
	t      testing.TB
	g      *Game
	n      uint64
	logs   *testutil.LogBuffer
	log    *slog.Logger
	nextID uint64
	queue  []queued
	// errs records refusals per peer id.
	errs map[uint64][]*msg.Err
}

type queued struct {
	p *fakePeer
	m any
}

func newHarness(t testing.TB, opts ...Option) *harness {
	t.Helper()
	logs := &testutil.LogBuffer{}
	h := &harness{t: t, g: New(append([]Option{WithBots(0)}, opts...)...), logs: logs,
		log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), errs: map[uint64][]*msg.Err{}}
	return h
}

// join adds a fake player in sync mode (a MessagePack program) with a
// model.
func (h *harness) join(name string) *fakePeer {
	return h.joinAs(name, msg.MsgPack)
}

// joinHuman adds a fake player on a text connection: human mode.
func (h *harness) joinHuman(name string) *fakePeer {
	return h.joinAs(name, msg.Text)
}

func (h *harness) joinAs(name string, enc msg.Encoding) *fakePeer {
	h.nextID++
	p := &fakePeer{id: h.nextID, name: name, enc: enc, log: h.log.With("player", name), model: replica.NewModel()}
	h.g.join(p)
	return p
}

// notes returns the texts of the INFO lines among msgs.
func notes(msgs []any) []string {
	var out []string
	for _, n := range ofType[msg.Notice](msgs) {
		out = append(out, n.Text)
	}
	return out
}

// send queues an input for the next tick.
func (h *harness) send(p *fakePeer, m any) { h.queue = append(h.queue, queued{p, m}) }

// tick runs one tick with the queued inputs, as server.Server would.
func (h *harness) tick() {
	h.n++
	h.g.begin(h.n, tickDuration)
	q := h.queue
	h.queue = nil
	for _, in := range q {
		if err := h.g.handle(in.p, in.m); err != nil {
			var r *server.Refusal
			e := &msg.Err{Code: "refused", Text: err.Error()}
			if errors.As(err, &r) {
				e = &msg.Err{Code: r.Code, Text: r.Text}
			}
			in.p.Send(e)
			h.errs[in.p.id] = append(h.errs[in.p.id], e)
		}
	}
	h.g.end()
}

func (h *harness) ticks(n int) {
	for i := 0; i < n; i++ {
		h.tick()
	}
}

// place puts p's tank at x, y of zone.
func (h *harness) place(p *fakePeer, zone int, x, y int32) {
	pl := h.g.players[p.id]
	pl.tank.zone = h.g.zones[zone]
	h.g.w.SetZone(pl.tank.id, zone, x, y)
}

func (h *harness) tankOf(p *fakePeer) replica.EntityID { return h.g.players[p.id].tank.id }

func (h *harness) posOf(p *fakePeer) Point { return h.g.pos(h.tankOf(p)) }

func ofType[T any](msgs []any) []*T {
	var out []*T
	for _, m := range msgs {
		if x, ok := m.(*T); ok {
			out = append(out, x)
		}
	}
	return out
}

// encodeAll encodes msgs in enc as they would go on the wire.
func encodeAll(t testing.TB, enc msg.Encoding, msgs []any) []byte {
	t.Helper()
	reg := msg.NewRegistry()
	Register(reg)
	c := reg.NewCodec(enc)
	var out []byte
	for _, m := range msgs {
		var err error
		if out, err = c.Append(out, m, 0); err != nil {
			t.Fatalf("encode %T: %v", m, err)
		}
	}
	return out
}

// tokens splits text or JSON output into its words and numbers.
func tokens(b []byte) map[string]bool {
	out := map[string]bool{}
	for _, f := range bytes.FieldsFunc(b, func(r rune) bool { return strings.ContainsRune(" ,\n\"{}[]:", r) }) {
		out[string(f)] = true
	}
	return out
}
