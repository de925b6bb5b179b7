package arena

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
)

// benchPeer counts what it is sent; the bytes are counted outside the
// timed part of the benchmark.
type benchPeer struct {
	fakePeer
	out []any
}

func (p *benchPeer) Send(m any) { p.out = append(p.out, m) }

func (p *benchPeer) Reply(in server.Input, m any) { p.Send(m) }

// BenchmarkTick measures one arena tick with 1,000 entities (500 player
// tanks, bots and chests) and 500 clients at 20 Hz: every player sends a
// move each tick and fires now and then; the tick includes the game rules,
// interest management (grid and line of sight) and building every
// client's sync messages. It reports the 99th percentile tick time and the
// bytes each client receives per second in MessagePack (what the
// connection writers would encode).
func BenchmarkTick(b *testing.B) {
	const players, entities = 500, 1000
	const rate = 20
	g := New(WithBots(0), WithSeed(7))
	if err := g.Init(server.Settings{TickRate: rate, TickPeriod: time.Second / rate}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rng := rand.New(rand.NewPCG(1, 2))
	var floor []struct {
		z    int
		x, y int32
	}
	for id := 1; id <= 3; id++ {
		z := g.zones[id]
		for i, t := range z.tiles {
			if t == TileFloor {
				floor = append(floor, struct {
					z    int
					x, y int32
				}{id, center(i % z.w), center(i / z.w)})
			}
		}
	}
	place := func(t *tank) {
		f := floor[rng.IntN(len(floor))]
		t.zone = g.zones[f.z]
		g.w.SetZone(t.id, f.z, f.x, f.y)
	}
	peers := make([]*benchPeer, players)
	for i := range peers {
		p := &benchPeer{fakePeer: fakePeer{id: uint64(i + 1), name: "p" + itoa(i), enc: msg.MsgPack, log: log}}
		peers[i] = p
		place(g.join(p).tank)
	}
	for g.w.Len() < entities {
		place(g.spawnTank(g.zones[1], "bot", nil))
	}
	ctl := make([]Control, players)
	seq := uint32(0)
	n := uint64(0)
	tick := func() {
		n++
		g.begin(n, start.Add(time.Duration(n)*time.Second/rate))
		seq++
		for i, p := range peers {
			pl := g.players[p.id]
			if n%30 == uint64(i%30) || ctl[i] == (Control{}) {
				ctl[i] = Control{int8(rng.IntN(3) - 1), int8(rng.IntN(3) - 1)}
			}
			to := Step(pl.tank.zone, g.pos(pl.tank.id), ctl[i], rate)
			g.handle(p, &Drive{X: to.X, Y: to.Y, Seq: seq}, 0)
			if n%40 == uint64(i%40) {
				g.handle(p, &Fire{}, 0)
			}
		}
		g.end()
	}
	codec := func() *msg.Codec { reg := msg.NewRegistry(); Register(reg); return reg.NewCodec(msg.MsgPack) }()
	var buf []byte
	count := func() (bytes, msgs int) {
		for _, p := range peers {
			for _, m := range p.out {
				buf, _ = codec.Append(buf[:0], m, 0)
				bytes += len(buf)
			}
			msgs += len(p.out)
			clear(p.out)
			p.out = p.out[:0]
		}
		return
	}
	for i := 0; i < 100; i++ { // snapshots done, steady state
		tick()
		count()
	}
	times := make([]time.Duration, 0, b.N)
	var total, totalMsgs int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		tick()
		times = append(times, time.Since(start))
		b.StopTimer()
		by, ms := count()
		total += by
		totalMsgs += ms
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms/tick")
	b.ReportMetric(float64(total)/float64(b.N)/players*rate, "B/client/s")
	b.ReportMetric(float64(totalMsgs)/float64(b.N)/players, "msgs/client/tick")
	var held int
	for _, p := range peers {
		held += g.players[p.id].view.Holds()
	}
	b.ReportMetric(float64(held)/players, "seen/client")
	_ = replica.MaxFields
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
