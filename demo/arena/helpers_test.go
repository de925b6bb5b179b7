package arena

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

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
	// replies are the messages sent with Reply, and the request ids they
	// answered.
	replies []any
	rids    []uint32
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

func (p *fakePeer) Reply(in server.Input, m any) {
	p.replies = append(p.replies, m)
	p.rids = append(p.rids, in.RID)
	p.Send(m)
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

// harness drives a Game tick by tick with fake players, as a server at
// rate ticks per second would: Init with the rate, then begin, the
// handler of every queued input (Game.handle, the handlers Update
// dispatches) and end, once a tick, at the times a server's clock would
// give.
type harness struct {
	t      testing.TB
	g      *Game
	rate   int
	start  time.Time
	n      uint64
	logs   *testutil.LogBuffer
	log    *slog.Logger
	reg    *msg.Registry
	nextID uint64
	peers  []*fakePeer
	queue  []queued
	// errs records refusals per peer id.
	errs map[uint64][]*msg.Err
}

type queued struct {
	p   *fakePeer
	m   any
	rid uint32
}

// newHarness returns a harness at the server's default tick rate, with
// no bots unless opts add some.
func newHarness(t testing.TB, opts ...Option) *harness {
	t.Helper()
	return newHarnessAt(t, server.DefaultTickRate, opts...)
}

// newHarnessAt returns a harness at rate ticks per second.
func newHarnessAt(t testing.TB, rate int, opts ...Option) *harness {
	t.Helper()
	logs := &testutil.LogBuffer{}
	reg := msg.NewRegistry()
	Register(reg)
	h := &harness{t: t, g: New(append([]Option{WithBots(0)}, opts...)...), rate: rate, start: time.Unix(1_700_000_000, 0), logs: logs,
		log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), reg: reg, errs: map[uint64][]*msg.Err{}}
	if err := h.g.Init(server.Settings{TickRate: rate, TickPeriod: time.Second / time.Duration(rate), Registry: reg, Logger: h.log}); err != nil {
		t.Fatal(err)
	}
	return h
}

// ticksOf is d in ticks at the harness's rate, as the arena counts it.
func (h *harness) ticksOf(d time.Duration) int { return int(h.g.ticksFor(d)) }

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
	h.peers = append(h.peers, p)
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
func (h *harness) send(p *fakePeer, m any) { h.queue = append(h.queue, queued{p: p, m: m}) }

// request queues an input tagged with request id rid for the next tick.
func (h *harness) request(p *fakePeer, rid uint32, m any) {
	h.queue = append(h.queue, queued{p: p, m: m, rid: rid})
}

// tick runs one tick with the queued inputs, as server.Server would, and
// checks, as Config.CheckCauses does, that each input's handler sent
// (to anyone) only messages its msg.Info.Causes lists, ERR excepted.
func (h *harness) tick() {
	h.n++
	h.g.begin(h.n, h.start.Add(time.Duration(h.n)*time.Second/time.Duration(h.rate)))
	q := h.queue
	h.queue = nil
	for _, in := range q {
		before := make([]int, len(h.peers))
		for i, p := range h.peers {
			before[i] = len(p.got)
		}
		if err := h.g.handle(in.p, in.m, in.rid); err != nil {
			var r *server.Refusal
			e := &msg.Err{Code: "refused", Text: err.Error()}
			if errors.As(err, &r) {
				e = &msg.Err{Code: r.Code, Text: r.Text}
			}
			in.p.Send(e)
			h.errs[in.p.id] = append(h.errs[in.p.id], e)
		}
		h.checkCauses(in.m, before)
	}
	h.g.end()
}

// checkCauses fails the test if the handler of input sent any peer a
// message (other than ERR) that input's Causes does not list; before holds
// how many messages each peer had been sent before the handler ran.
func (h *harness) checkCauses(input any, before []int) {
	h.t.Helper()
	it, err := h.reg.TypeOf(input)
	if err != nil {
		h.t.Fatalf("input %T: %v", input, err)
	}
	for i, p := range h.peers {
		if i >= len(before) {
			break // joined during the handler
		}
		for _, m := range p.got[min(before[i], len(p.got)):] {
			mt, err := h.reg.TypeOf(m)
			if err != nil {
				h.t.Fatalf("%s was sent %T: %v", p.name, m, err)
			}
			if mt.ID != msg.IDErr && !slices.Contains(it.Causes, mt.Name) {
				h.t.Errorf("the handler of %s sent %s to %s, which its Causes %v do not list", it.Name, mt.Name, p.name, it.Causes)
			}
		}
	}
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
