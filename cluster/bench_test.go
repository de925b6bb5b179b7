package cluster_test

// Benchmarks of the cluster (issue 15): what a player sees of a handoff,
// how many handoffs a node sustains, what NATS carries per handoff and per
// checkpoint, how long a failover takes with the default lease, and what
// NATS itself can carry on this machine (for BENCHMARKS.md's projection).
// They run against TICKWIRE_TEST_NATS when it is set (the machine's NATS),
// else against an embedded one. Nothing here asserts a time: the figures
// are reported with b.ReportMetric. See BENCHMARKS.md "Cluster (issue 15)".

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

var benchClusters atomic.Uint64

// benchCluster returns a cluster name no other run uses and deletes its
// buckets when the benchmark ends (after its nodes are gone), so that the
// machine's NATS is left as it was.
func benchCluster(b testing.TB, url string) string {
	b.Helper()
	cl := fmt.Sprintf("bench-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, benchClusters.Add(1))
	b.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		for _, s := range []string{"zones", "nodes", "players", "rooms"} {
			_ = js.DeleteKeyValue(context.Background(), cl+"-"+s)
		}
	})
	return cl
}

// benchConfig is the default cluster Config (checkpoint every 1 s, lease
// 3 s, claim every 500 ms, op timeout 500 ms, arrivals held 30 s) with a
// silent logger.
func benchConfig(node, cl string, zones ...string) cluster.Config {
	return cluster.Config{Name: cl, Node: node, Zones: zones, Logger: slog.New(slog.DiscardHandler)}
}

// startBenchNode is startNode for benchmarks: the server at tickRate
// (server.DefaultTickRate unless told), with the per-address limits off
// for loopback, as tickwire serve has them for 127.0.0.1 (every benchmark
// client comes from there).
func startBenchNode(b testing.TB, url string, cfg cluster.Config, allZones []string, tickRate int) *testNode {
	b.Helper()
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	tn := &testNode{name: cfg.Node, addr: ln.Addr().String(), ln: ln}
	tn.game = newCoinGame(allZones...)
	var node *cluster.Node
	srv, err := server.New(server.Config{Registry: registry(), Logger: slog.New(slog.DiscardHandler), TickRate: tickRate,
		GuestPrefix: "guest-" + cfg.Node + "-", AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Locate: func(user string) (server.Location, bool) { return node.Locate(user) }}, tn.game)
	if err != nil {
		b.Fatal(err)
	}
	tn.srv = srv
	srv.Start()
	go srv.Serve(ln)
	tn.nc, err = nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Conn = tn.nc
	cfg.Addr = tn.addr
	node, err = cluster.New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	tn.node = node
	tn.game.node = node
	if err := node.Start(srv, tn.game); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tn.kill)
	return tn
}

// logCount is a slog.Handler that counts the node's warnings and errors
// by message, so that a benchmark can say why handoffs failed.
type logCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *logCount) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *logCount) Handle(_ context.Context, r slog.Record) error {
	key := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			e := a.Value.String()
			if i := strings.Index(e, ": "); i >= 0 && strings.HasPrefix(e, "node ") {
				e = e[i+2:] // "node n2: busy" -> "busy"
			}
			key += " (" + e + ")"
		}
		return true
	})
	h.mu.Lock()
	h.n[key]++
	h.mu.Unlock()
	return nil
}
func (h *logCount) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCount) WithGroup(string) slog.Handler      { return h }

func (h *logCount) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]string, 0, len(h.n))
	for k := range h.n {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q: %d; ", k, h.n[k])
	}
	return b.String()
}

// twoNodes starts n1 (zone a) and n2 (zone b) and waits for both zones.
func twoNodes(b testing.TB, url, cl string, tickRate int, logs ...*logCount) (*testNode, *testNode) {
	b.Helper()
	all := []string{"a", "b"}
	c1, c2 := benchConfig("n1", cl, "a"), benchConfig("n2", cl, "b")
	if len(logs) > 0 {
		c1.Logger, c2.Logger = slog.New(logs[0]), slog.New(logs[0])
	}
	n1 := startBenchNode(b, url, c1, all, tickRate)
	n2 := startBenchNode(b, url, c2, all, tickRate)
	waitUntil(b, 10*time.Second, "zones a and b owned", func() bool { return n1.node.Owns("a") && n2.node.Owns("b") })
	return n1, n2
}

func waitUntil(b testing.TB, d time.Duration, what string, cond func() bool) {
	b.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			b.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lineClient is a line-protocol client that reports errors instead of
// failing the benchmark, so that many can run on goroutines.
type lineClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialLine(addr string) (*lineClient, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &lineClient{c: c, br: bufio.NewReader(c)}, nil
}

func (l *lineClient) send(line string) error {
	_ = l.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(l.c, line+"\n")
	return err
}

// errLine is a line the client did not want: an ERR or a BYE.
type errLine string

func (e errLine) Error() string { return string(e) }

// skipTo reads up to the line that starts with prefix; an ERR or BYE line
// that does not is returned as an errLine.
func (l *lineClient) skipTo(prefix string) (string, error) {
	_ = l.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		s, err := l.br.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("waiting for %q: %w", prefix, err)
		}
		s = strings.TrimRight(s, "\r\n")
		if strings.HasPrefix(s, prefix) {
			return s, nil
		}
		if strings.HasPrefix(s, "ERR ") || strings.HasPrefix(s, "BYE ") {
			return s, errLine(s)
		}
	}
}

func (l *lineClient) close() {
	if l != nil {
		_ = l.c.Close()
	}
}

// benchPlayer is a guest logged in on one node of the cluster.
type benchPlayer struct {
	lc    *lineClient
	name  string
	token string // the seat token of the current connection
	zone  string
	coins int32
}

func loginPlayer(addr string) (*benchPlayer, error) {
	lc, err := dialLine(addr)
	if err != nil {
		return nil, err
	}
	if err := lc.send("AUTH guest"); err != nil {
		return nil, err
	}
	w, err := lc.skipTo("WELCOME ")
	if err != nil {
		return nil, err
	}
	seat, err := lc.skipTo("SEAT ")
	if err != nil {
		return nil, err
	}
	coins, err := lc.skipTo("COINS ")
	if err != nil {
		return nil, err
	}
	p := &benchPlayer{lc: lc, name: strings.Fields(w)[2], token: strings.Fields(seat)[1]}
	f := strings.Fields(coins)
	p.zone = f[2]
	return p, nil
}

// earn adds a coin (a committed checkpoint) and waits for its answer.
func (p *benchPlayer) earn() error {
	if err := p.lc.send("EARN"); err != nil {
		return err
	}
	if _, err := p.lc.skipTo("COINS "); err != nil {
		return err
	}
	p.coins++
	return nil
}

// crossTimes are the moments of one handoff as the client sees them.
type crossTimes struct {
	start, moved, welcome, first time.Time
}

// cross moves p to zone to by a handoff: CROSS, MOVED, dial the target,
// RESUME with the ticket, WELCOME, SEAT, and the first game message
// (COINS, which must carry p's coins: the state travelled).
func (p *benchPlayer) cross(to string) (crossTimes, error) {
	var ct crossTimes
	ct.start = time.Now()
	if err := p.lc.send("CROSS " + to); err != nil {
		return ct, err
	}
	line, err := p.lc.skipTo("MOVED ")
	if err != nil {
		return ct, err
	}
	ct.moved = time.Now()
	f := strings.Fields(line) // MOVED <addr> <ws> <ticket>
	if len(f) != 4 {
		return ct, fmt.Errorf("bad MOVED %q", line)
	}
	p.lc.close()
	lc, err := dialLine(f[1])
	if err != nil {
		return ct, err
	}
	p.lc = lc
	if err := lc.send("RESUME " + p.name + " " + f[3]); err != nil {
		return ct, err
	}
	if _, err := lc.skipTo("WELCOME "); err != nil {
		return ct, err
	}
	ct.welcome = time.Now()
	seat, err := lc.skipTo("SEAT ")
	if err != nil {
		return ct, err
	}
	p.token = strings.Fields(seat)[1]
	coins, err := lc.skipTo("COINS ")
	if err != nil {
		return ct, err
	}
	ct.first = time.Now()
	if want := fmt.Sprintf("COINS %d %s", p.coins, to); coins != want {
		return ct, fmt.Errorf("after the handoff: %q, want %q", coins, want)
	}
	p.zone = to
	return ct, nil
}

// resumeHere drops p's connection and resumes on addr with its own seat
// token (a plain same-node resume, the baseline of a handoff). It returns
// the time from the dial to WELCOME.
func (p *benchPlayer) resumeHere(addr string) (time.Duration, error) {
	p.lc.close()
	start := time.Now()
	lc, err := dialLine(addr)
	if err != nil {
		return 0, err
	}
	p.lc = lc
	if err := lc.send("RESUME " + p.name + " " + p.token); err != nil {
		return 0, err
	}
	if _, err := lc.skipTo("WELCOME "); err != nil {
		return 0, err
	}
	took := time.Since(start)
	seat, err := lc.skipTo("SEAT ")
	if err != nil {
		return 0, err
	}
	p.token = strings.Fields(seat)[1]
	if _, err := lc.skipTo("LIMITS "); err != nil {
		return 0, err
	}
	return took, nil
}

func other(zone string) string {
	if zone == "a" {
		return "b"
	}
	return "a"
}

// pct returns the q-quantile of ds in milliseconds.
func pct(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q * float64(len(s)-1))
	return float64(s[i]) / float64(time.Millisecond)
}

// natsTotals sums the NATS connection counters of nodes.
type natsTotals struct{ inB, outB, inM, outM uint64 }

func natsOf(nodes ...*testNode) natsTotals {
	var t natsTotals
	for _, n := range nodes {
		s := n.nc.Stats()
		t.inB += s.InBytes
		t.outB += s.OutBytes
		t.inM += s.InMsgs
		t.outM += s.OutMsgs
	}
	return t
}

func (a natsTotals) minus(b natsTotals) natsTotals {
	return natsTotals{a.inB - b.inB, a.outB - b.outB, a.inM - b.inM, a.outM - b.outM}
}

func (a natsTotals) bytes() float64 { return float64(a.inB + a.outB) }
func (a natsTotals) msgs() float64  { return float64(a.inM + a.outM) }

func checkpointsOf(nodes ...*testNode) (n, bytes uint64) {
	for _, tn := range nodes {
		s := tn.node.Stats()
		n += s.Checkpoints
		bytes += s.CheckpointBytes
	}
	return
}

// serverSide watches the handoff subjects and the reply inboxes on a
// NATS connection of its own: prepare is the target's step 1 (request to
// reply: Expect plus the target zone's checkpoint), commit the source's
// step 2 (the reply to the commit note: the source zone's checkpoint and
// MOVED written).
type serverSide struct {
	mu       sync.Mutex
	reqAt    map[string]time.Time // reply inbox -> request seen
	replyAt  map[string]time.Time // handoff id -> reply seen
	inboxID  map[string]string
	prepare  []time.Duration
	commit   []time.Duration
	nc       *nats.Conn
	subs     []*nats.Subscription
	observed atomic.Int64
}

func watchHandoffs(b testing.TB, url, cl string) *serverSide {
	b.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	w := &serverSide{reqAt: map[string]time.Time{}, replyAt: map[string]time.Time{}, inboxID: map[string]string{}, nc: nc}
	sub := func(subj string, fn nats.MsgHandler) {
		s, err := nc.Subscribe(subj, fn)
		if err != nil {
			b.Fatal(err)
		}
		s.SetPendingLimits(-1, -1)
		w.subs = append(w.subs, s)
	}
	sub(cl+".node.*.prepare", func(m *nats.Msg) {
		var r struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(m.Data, &r)
		w.mu.Lock()
		w.reqAt[m.Reply] = time.Now()
		w.inboxID[m.Reply] = r.ID
		w.mu.Unlock()
	})
	sub("_INBOX.>", func(m *nats.Msg) {
		now := time.Now()
		w.mu.Lock()
		if at, ok := w.reqAt[m.Subject]; ok {
			w.prepare = append(w.prepare, now.Sub(at))
			w.replyAt[w.inboxID[m.Subject]] = now
			delete(w.reqAt, m.Subject)
			delete(w.inboxID, m.Subject)
		}
		w.mu.Unlock()
	})
	sub(cl+".node.*.commit", func(m *nats.Msg) {
		now := time.Now()
		var c struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(m.Data, &c)
		w.mu.Lock()
		if at, ok := w.replyAt[c.ID]; ok {
			w.commit = append(w.commit, now.Sub(at))
			delete(w.replyAt, c.ID)
			w.observed.Add(1)
		}
		w.mu.Unlock()
	})
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return w
}

func (w *serverSide) stop() {
	for _, s := range w.subs {
		_ = s.Unsubscribe()
	}
}

// BenchmarkClusterHandoff moves one player back and forth between zone a
// on n1 and zone b on n2 (default cluster Config, the server's default
// tick rate unless the sub-benchmark says otherwise), one handoff per
// iteration, each followed by a plain same-node resume (the baseline).
// Metrics:
//   - handoff_p50_ms/p99: CROSS sent to the target's first game message
//     (COINS, after WELCOME, SEAT and LIMITS) read: what the player sees;
//   - welcome_p50_ms/p99: CROSS sent to WELCOME read on the target;
//   - cross_to_moved_p50_ms: CROSS sent to MOVED read (server side plus
//     one loopback round trip and the wait for the source's tick);
//   - moved_to_welcome_p50_ms: dial of the target, RESUME, WELCOME;
//   - prepare_p50_ms, commit_p50_ms: the server-side steps seen on NATS
//     (target: Expect + checkpoint; source: checkpoint + MOVED);
//   - resume_p50_ms: a plain RESUME on the same node, dial to WELCOME;
//   - nats_B/handoff, nats_msgs/handoff: the two nodes' NATS traffic (in
//   - out) per handoff, less their idle traffic over the same time;
//   - checkpoints/handoff: zone writes per handoff beyond the periodic;
//   - idle_cp/s/zone, idle_nats_B/s/node: with the player standing still.
func BenchmarkClusterHandoff(b *testing.B) {
	for _, rate := range []int{server.DefaultTickRate, 60} {
		b.Run(fmt.Sprintf("tick=%d", rate), func(b *testing.B) { benchHandoff(b, rate) })
	}
}

func benchHandoff(b *testing.B, rate int) {
	url := natsURL(b)
	cl := benchCluster(b, url)
	n1, n2 := twoNodes(b, url, cl, rate)
	addrOf := map[string]string{"a": n1.addr, "b": n2.addr}
	p, err := loginPlayer(n1.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer p.lc.close()
	for range 3 {
		if err := p.earn(); err != nil {
			b.Fatal(err)
		}
	}
	// Warm up: a few handoffs, so that both nodes' NATS subscriptions and
	// connections are in use.
	for range 4 {
		if _, err := p.cross(other(p.zone)); err != nil {
			b.Fatal(err)
		}
	}
	// Idle traffic over 3 s: the periodic checkpoints and heartbeats.
	idleStart, idleCP := natsOf(n1, n2), func() uint64 { n, _ := checkpointsOf(n1, n2); return n }()
	t0 := time.Now()
	time.Sleep(3 * time.Second)
	idleSecs := time.Since(t0).Seconds()
	idle := natsOf(n1, n2).minus(idleStart)
	idleCPs := float64(func() uint64 { n, _ := checkpointsOf(n1, n2); return n }()-idleCP) / idleSecs
	idleBps := idle.bytes() / idleSecs
	idleMps := idle.msgs() / idleSecs

	w := watchHandoffs(b, url, cl)
	var total, welcome, toMoved, movedToWelcome, resume []time.Duration
	startNats := natsOf(n1, n2)
	startCP, startCPB := checkpointsOf(n1, n2)
	// Each step starts at a random point of the tick, as a player's would:
	// without it the client falls in step with the ticks.
	tick := time.Second / time.Duration(cmp.Or(rate, server.DefaultTickRate))
	jitter := func() { time.Sleep(rand.N(tick)) }
	var pause time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		t0 := time.Now()
		jitter()
		pause += time.Since(t0)
		b.StartTimer()
		ct, err := p.cross(other(p.zone))
		if err != nil {
			b.Fatal(err)
		}
		total = append(total, ct.first.Sub(ct.start))
		welcome = append(welcome, ct.welcome.Sub(ct.start))
		toMoved = append(toMoved, ct.moved.Sub(ct.start))
		movedToWelcome = append(movedToWelcome, ct.welcome.Sub(ct.moved))
		b.StopTimer()
		t0 = time.Now()
		jitter()
		pause += time.Since(t0)
		b.StartTimer()
		d, err := p.resumeHere(addrOf[p.zone])
		if err != nil {
			b.Fatal(err)
		}
		resume = append(resume, d)
	}
	b.StopTimer()
	elapsed := (b.Elapsed() + pause).Seconds()
	traffic := natsOf(n1, n2).minus(startNats)
	endCP, endCPB := checkpointsOf(n1, n2)
	time.Sleep(100 * time.Millisecond) // the last commit note reaches the watcher
	w.stop()
	w.mu.Lock()
	prepare, commit := w.prepare, w.commit
	w.mu.Unlock()

	n := float64(b.N)
	b.ReportMetric(pct(total, 0.5), "handoff_p50_ms")
	b.ReportMetric(pct(total, 0.99), "handoff_p99_ms")
	b.ReportMetric(pct(welcome, 0.5), "welcome_p50_ms")
	b.ReportMetric(pct(welcome, 0.99), "welcome_p99_ms")
	b.ReportMetric(pct(toMoved, 0.5), "cross_to_moved_p50_ms")
	b.ReportMetric(pct(movedToWelcome, 0.5), "moved_to_welcome_p50_ms")
	b.ReportMetric(pct(prepare, 0.5), "prepare_p50_ms")
	b.ReportMetric(pct(prepare, 0.99), "prepare_p99_ms")
	b.ReportMetric(pct(commit, 0.5), "commit_p50_ms")
	b.ReportMetric(pct(commit, 0.99), "commit_p99_ms")
	b.ReportMetric(pct(resume, 0.5), "resume_p50_ms")
	b.ReportMetric(pct(resume, 0.99), "resume_p99_ms")
	b.ReportMetric(pct(total, 0.5)/max(pct(resume, 0.5), 1e-9), "handoff/resume_p50")
	b.ReportMetric((traffic.bytes()-idleBps*elapsed)/n, "nats_B/handoff")
	b.ReportMetric((traffic.msgs()-idleMps*elapsed)/n, "nats_msgs/handoff")
	b.ReportMetric((float64(endCP-startCP)-idleCPs*elapsed)/n, "checkpoints/handoff")
	b.ReportMetric(float64(endCPB-startCPB)/float64(endCP-startCP), "record_B")
	b.ReportMetric(idleCPs/2, "idle_cp/s/zone")
	b.ReportMetric(idleBps/2, "idle_nats_B/s/node")
	b.ReportMetric(idleMps/2, "idle_nats_msgs/s/node")
}

// BenchmarkClusterCheckpoint reports what one periodic checkpoint of a
// zone costs on NATS, with players standing in it: the zone record's
// size, and the node's NATS bytes and messages per checkpoint (heartbeat
// and directory reads included: they run once per checkpoint round).
// One node runs zone a with the players; the benchmark watches it idle
// for 5 s per iteration.
func BenchmarkClusterCheckpoint(b *testing.B) {
	for _, players := range []int{0, 10, 100} {
		b.Run(fmt.Sprintf("players=%d", players), func(b *testing.B) {
			url := natsURL(b)
			cl := benchCluster(b, url)
			n1 := startBenchNode(b, url, benchConfig("n1", cl, "a"), []string{"a"}, 0)
			waitUntil(b, 10*time.Second, "zone a owned", func() bool { return n1.node.Owns("a") })
			var ps []*benchPlayer
			for range players {
				p, err := loginPlayer(n1.addr)
				if err != nil {
					b.Fatal(err)
				}
				ps = append(ps, p)
			}
			defer func() {
				for _, p := range ps {
					p.lc.close()
				}
			}()
			time.Sleep(1500 * time.Millisecond) // the player locations are written
			b.ResetTimer()
			var cps, bytes uint64
			var traffic natsTotals
			for range b.N {
				s0, cp0, cb0 := natsOf(n1), n1.node.Stats().Checkpoints, n1.node.Stats().CheckpointBytes
				time.Sleep(5 * time.Second)
				traffic = natsTotals{}.plus(traffic, natsOf(n1).minus(s0))
				st := n1.node.Stats()
				cps += st.Checkpoints - cp0
				bytes += st.CheckpointBytes - cb0
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(bytes)/float64(cps), "record_B")
			b.ReportMetric(float64(cps)/secs, "cp/s/zone")
			b.ReportMetric(traffic.bytes()/float64(cps), "nats_B/cp")
			b.ReportMetric(traffic.msgs()/float64(cps), "nats_msgs/cp")
			b.ReportMetric(float64(traffic.outB)/float64(cps), "nats_out_B/cp")
		})
	}
}

func (natsTotals) plus(a, b natsTotals) natsTotals {
	return natsTotals{a.inB + b.inB, a.outB + b.outB, a.inM + b.inM, a.outM + b.outM}
}

// BenchmarkClusterHandoffRate runs many clients crossing back and forth
// between n1 and n2 as fast as they can for TICKWIRE_CLUSTER_BENCH_SECONDS
// (default 10, 2 under CI) per iteration. Each node is the source of half the
// handoffs and the target of the other half, so handoffs/s/node is what
// one node sustains in both roles. failures counts handoffs refused
// (ERR portal_closed, ERR moving) or broken; stuck counts clients that
// stopped getting an answer.
func BenchmarkClusterHandoffRate(b *testing.B) {
	for _, clients := range []int{16, 64, 128, 256} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchHandoffRate(b, clients) })
	}
}

func benchHandoffRate(b *testing.B, clients int) {
	secs := 10
	if os.Getenv("CI") != "" {
		secs = 2 // .ci/run runs every benchmark once: keep it short
	}
	if v, err := strconv.Atoi(os.Getenv("TICKWIRE_CLUSTER_BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	url := natsURL(b)
	cl := benchCluster(b, url)
	logs := &logCount{n: map[string]int{}}
	n1, n2 := twoNodes(b, url, cl, 0, logs)
	var ps []*benchPlayer
	for i := range clients {
		addr := n1.addr
		if i%2 == 1 {
			addr = n2.addr
		}
		p, err := loginPlayer(addr)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.earn(); err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
	}
	defer func() {
		for _, p := range ps {
			p.lc.close()
		}
	}()
	b.ResetTimer()
	var done, failed, refused, broken atomic.Int64
	var lat []time.Duration
	var latMu sync.Mutex
	var firstErr atomic.Value
	var traffic natsTotals
	var cps uint64
	st0 := [2]cluster.Stats{n1.node.Stats(), n2.node.Stats()}
	for range b.N {
		s0 := natsOf(n1, n2)
		c0, _ := checkpointsOf(n1, n2)
		end := time.Now().Add(time.Duration(secs) * time.Second)
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(end) && p.lc != nil {
					ct, err := p.cross(other(p.zone))
					var el errLine
					switch {
					case err == nil:
						done.Add(1)
						mine = append(mine, ct.first.Sub(ct.start))
					case errors.As(err, &el) && strings.HasPrefix(string(el), "ERR "):
						// Refused: the player stays where it is.
						failed.Add(1)
						refused.Add(1)
						time.Sleep(10 * time.Millisecond)
					default:
						failed.Add(1)
						broken.Add(1)
						firstErr.CompareAndSwap(nil, err)
						p.lc.close()
						p.lc = nil
					}
				}
				latMu.Lock()
				lat = append(lat, mine...)
				latMu.Unlock()
			}()
		}
		wg.Wait()
		traffic = natsTotals{}.plus(traffic, natsOf(n1, n2).minus(s0))
		c1, _ := checkpointsOf(n1, n2)
		cps += c1 - c0
	}
	b.StopTimer()
	el := float64(b.N * secs)
	st1 := [2]cluster.Stats{n1.node.Stats(), n2.node.Stats()}
	alive := 0
	for _, p := range ps {
		if p.lc != nil {
			alive++
		}
	}
	if e := firstErr.Load(); e != nil {
		b.Logf("first broken handoff: %v", e)
	}
	b.Logf("n1 %+v\nn2 %+v\nnode log lines: %s", st1[0], st1[1], logs)
	b.ReportMetric(float64(done.Load())/el, "handoffs/s")
	b.ReportMetric(float64(done.Load())/el/2, "handoffs/s/node")
	b.ReportMetric(float64(failed.Load()), "failures")
	b.ReportMetric(float64(refused.Load()), "refused")
	b.ReportMetric(float64(clients-alive), "clients_lost")
	b.ReportMetric(pct(lat, 0.5), "handoff_p50_ms")
	b.ReportMetric(pct(lat, 0.99), "handoff_p99_ms")
	b.ReportMetric(float64(cps)/el/2, "cp/s/zone")
	if d := done.Load(); d > 0 {
		b.ReportMetric(traffic.bytes()/float64(d), "nats_B/handoff")
		b.ReportMetric(traffic.msgs()/float64(d), "nats_msgs/handoff")
	}
	var hf uint64
	for i := range st1 {
		hf += st1[i].HandoffsFailed - st0[i].HandoffsFailed
	}
	b.ReportMetric(float64(hf), "node_handoffs_failed")
}

// BenchmarkClusterFailover kills n1 (its NATS connection closes, then its
// server stops: testNode.kill) with the default LeaseTTL (3 s), ClaimEvery
// (500 ms) and CheckpointEvery (1 s), and measures from the kill until n2
// owns n1's zone (claimed_ms) and until the player that was on n1 is back
// (resumed_ms: a RESUME with its seat token, retried every 50 ms on n2,
// answered WELCOME and its coins). Each iteration is a fresh cluster; the
// kill comes at a random point of the checkpoint period.
func BenchmarkClusterFailover(b *testing.B) {
	url := natsURL(b)
	var claimed, resumed []time.Duration
	tries := 0
	for i := range b.N {
		b.StopTimer()
		cl := benchCluster(b, url)
		n1, n2 := twoNodes(b, url, cl, 0)
		p, err := loginPlayer(n1.addr)
		if err != nil {
			b.Fatal(err)
		}
		for range 3 {
			if err := p.earn(); err != nil {
				b.Fatal(err)
			}
		}
		// Let the location be written, and kill at a point of the
		// checkpoint period that differs from run to run.
		time.Sleep(1200*time.Millisecond + time.Duration(i*337%1000)*time.Millisecond)
		b.StartTimer()
		killed := time.Now()
		n1.kill()
		p.lc.close()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !n2.node.Owns("a") {
				if time.Since(killed) > 20*time.Second {
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
			claimed = append(claimed, time.Since(killed))
		}()
		ok := false
		for time.Since(killed) < 20*time.Second {
			tries++
			lc, err := dialLine(n2.addr)
			if err != nil {
				b.Fatal(err)
			}
			_ = lc.send("RESUME " + p.name + " " + p.token)
			_, err = lc.skipTo("WELCOME ")
			if err == nil {
				resumed = append(resumed, time.Since(killed))
				c, err := lc.skipTo("COINS ")
				if err != nil || c != "COINS 3 a" {
					b.Fatalf("after failover: %q %v, want COINS 3 a", c, err)
				}
				lc.close()
				ok = true
				break
			}
			lc.close()
			time.Sleep(50 * time.Millisecond)
		}
		wg.Wait()
		b.StopTimer()
		if !ok {
			b.Fatal("the player never resumed on n2")
		}
		n2.kill()
	}
	b.ReportMetric(pct(claimed, 0.5), "claimed_p50_ms")
	b.ReportMetric(slices.Max(durMs(claimed)), "claimed_max_ms")
	b.ReportMetric(pct(resumed, 0.5), "resumed_p50_ms")
	b.ReportMetric(slices.Max(durMs(resumed)), "resumed_max_ms")
	b.ReportMetric(slices.Min(durMs(resumed)), "resumed_min_ms")
	b.ReportMetric(float64(tries)/float64(b.N), "resume_tries/op")
}

func durMs(ds []time.Duration) []float64 {
	out := []float64{0}
	if len(ds) > 0 {
		out = out[:0]
	}
	for _, d := range ds {
		out = append(out, float64(d)/float64(time.Millisecond))
	}
	return out
}

// BenchmarkNATSCapacity measures the NATS server itself, for the
// projection: the rate of JetStream KV compare-and-set updates (what a
// checkpoint is) of a record of a given size, from one writer (one zone
// written back to back, like a node's tick) and from 16 writers on 16
// keys (many zones at once), and the rate of plain publishes to a
// subscriber (what handoff notes, chat and bans are). Its own bucket,
// deleted at the end.
func BenchmarkNATSCapacity(b *testing.B) {
	for _, size := range []int{512, 8 << 10, 64 << 10} {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("kv-update/size=%d/writers=%d", size, writers), func(b *testing.B) {
				benchKV(b, size, writers)
			})
		}
	}
	b.Run("publish/size=256", func(b *testing.B) {
		url := natsURL(b)
		pub, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		defer pub.Close()
		sub, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Close()
		subj := fmt.Sprintf("bench.%d.pub", os.Getpid())
		var got atomic.Int64
		s, err := sub.Subscribe(subj, func(*nats.Msg) { got.Add(1) })
		if err != nil {
			b.Fatal(err)
		}
		s.SetPendingLimits(-1, -1)
		_ = sub.Flush()
		data := make([]byte, 256)
		b.ResetTimer()
		for range b.N {
			if err := pub.Publish(subj, data); err != nil {
				b.Fatal(err)
			}
		}
		_ = pub.Flush()
		end := time.Now().Add(30 * time.Second)
		for got.Load() < int64(b.N) && time.Now().Before(end) {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		b.ReportMetric(float64(got.Load())/b.Elapsed().Seconds(), "msgs/s")
		b.ReportMetric(float64(b.N-int(got.Load())), "lost")
	})
}

func benchKV(b *testing.B, size, writers int) {
	url := natsURL(b)
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	bucket := fmt.Sprintf("bench-kv-%d-%d", os.Getpid(), benchClusters.Add(1))
	kv, err := js.CreateOrUpdateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: bucket, History: 1,
		MaxValueSize: cluster.MaxStateBytes + 64<<10, Storage: jetstream.FileStorage})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = js.DeleteKeyValue(context.Background(), bucket) }()
	data := []byte(strings.Repeat("x", size))
	revs := make([]uint64, writers)
	for w := range writers {
		if revs[w], err = kv.Put(context.Background(), fmt.Sprintf("zone.%d", w), data); err != nil {
			b.Fatal(err)
		}
	}
	s0 := nc.Stats()
	var lat []time.Duration
	var mu sync.Mutex
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("zone.%d", w)
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				rev, err := kv.Update(ctx, key, data, revs[w])
				cancel()
				if err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
				revs[w] = rev
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	s1 := nc.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	b.ReportMetric(float64(b.N)*float64(size)/b.Elapsed().Seconds()/1e6, "MB/s")
	b.ReportMetric(pct(lat, 0.5), "p50_ms")
	b.ReportMetric(pct(lat, 0.99), "p99_ms")
	b.ReportMetric(float64(s1.OutBytes-s0.OutBytes+s1.InBytes-s0.InBytes)/float64(b.N)-float64(size), "overhead_B/update")
}

// BenchmarkArenaCheckpointSize runs the arena (demo/arena, its default
// map and bots) as a one-node cluster with N guests logged in over TCP,
// and reports its checkpoint (the sum over its zones of what
// arena.Game.Checkpoint writes) and what each player adds to it.
func BenchmarkArenaCheckpointSize(b *testing.B) {
	url := natsURL(b)
	size := func(b *testing.B, players int) (total int, perZone map[string]int) {
		cl := benchCluster(b, url)
		reg := msg.NewRegistry()
		arena.Register(reg)
		nc, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		cfg := benchConfig("arena", cl, "1", "2", "3")
		cfg.Conn, cfg.Addr = nc, ln.Addr().String()
		node, err := cluster.New(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		g := arena.New(arena.WithCluster(node))
		srv, err := server.New(server.Config{Registry: reg, Logger: slog.New(slog.DiscardHandler),
			AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, g)
		if err != nil {
			b.Fatal(err)
		}
		srv.Start()
		go srv.Serve(ln)
		if err := node.Start(srv, g); err != nil {
			b.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			nc.Close()
			_ = node.Close(ctx)
			_ = srv.Shutdown(ctx)
		}()
		waitUntil(b, 10*time.Second, "the arena's zones owned", func() bool { return len(node.Owned()) == 3 })
		var conns []*lineClient
		defer func() {
			for _, c := range conns {
				c.close()
			}
		}()
		for range players {
			c, err := dialLine(ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			if err := c.send("AUTH guest"); err != nil {
				b.Fatal(err)
			}
			if _, err := c.skipTo("SEAT "); err != nil {
				b.Fatal(err)
			}
		}
		waitUntil(b, 10*time.Second, "players in", func() bool { return srv.Stats().Players == players })
		time.Sleep(200 * time.Millisecond)
		perZone = map[string]int{}
		err = srv.Call(context.Background(), func(t *server.Tick) {
			for _, z := range g.Zones() {
				data, err := g.Checkpoint(t, z)
				if err != nil {
					b.Error(err)
					return
				}
				perZone[z] = len(data)
				total += len(data)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		return total, perZone
	}
	for range b.N {
		base, z0 := size(b, 0)
		full, z1 := size(b, 50)
		b.Logf("arena checkpoint: 0 players %d B %v; 50 players %d B %v", base, z0, full, z1)
		b.ReportMetric(float64(base), "B_0_players")
		b.ReportMetric(float64(full), "B_50_players")
		b.ReportMetric(float64(full-base)/50, "B/player")
	}
}
