package admin

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/server"
)

// Sampling.
const (
	// SampleInterval is the time between two samples of the console's
	// plots.
	SampleInterval = time.Second
	// HistoryLen is how many samples the console keeps: 15 minutes.
	HistoryLen = 15 * 60
	// MaxTicksPerSample bounds the tick durations kept for one sample's
	// mean, p99 and max (the tick rate is at most 120); more still count
	// toward the max and the mean.
	MaxTicksPerSample = 256
	// tickRetry is how long WatchTicks waits when the server has too many
	// calls waiting for the tick.
	tickRetry = 10 * time.Millisecond
)

// Log messages of package auth the console counts (LogRing): an account
// service login that failed, and a request refused by a rate limit.
// TestAuthMessagesCounted checks them against the account service.
const (
	MsgAuthLoginFailed = "auth login failed"
	MsgAuthRateLimited = "auth rate limited"
)

// CountedMessages are the log messages a LogRing given to the console
// should count (see NewLogRing): bans, the account service's failed and
// rate-limited logins, and refused connections.
var CountedMessages = []string{guard.LogMessage, MsgAuthLoginFailed, MsgAuthRateLimited, server.RefusedLogMessage}

// Sample is one second of the server's life, as the console plots it.
// Rates are per second over the sample's interval.
type Sample struct {
	T int64 `json:"t"` // end of the second, Unix milliseconds
	// Tick durations in milliseconds over the ticks observed in the
	// second (Ticks of them).
	Ticks    int     `json:"ticks"`
	TickMean float64 `json:"tick_mean_ms"`
	TickP99  float64 `json:"tick_p99_ms"`
	TickMax  float64 `json:"tick_max_ms"`

	Players    int            `json:"players"`
	Conns      int            `json:"conns"`
	Held       int            `json:"held"`
	Transports map[string]int `json:"transports"` // open connections by transport
	Encodings  map[string]int `json:"encodings"`  // and by encoding

	MsgsIn   float64 `json:"msgs_in"`   // messages per second from clients
	BytesIn  float64 `json:"bytes_in"`  // bytes per second read
	BytesOut float64 `json:"bytes_out"` // bytes per second written

	// Events in the second.
	SlowConsumer uint64 `json:"slow_consumer"` // slow-consumer cuts
	Kicked       uint64 `json:"kicked"`
	Strikes      uint64 `json:"strikes"`
	Bans         uint64 `json:"bans"`         // "tickwire ban" lines (needs a LogRing), else strike bans
	Refused      uint64 `json:"refused"`      // connections refused by per-address limits
	RateLimited  uint64 `json:"rate_limited"` // client messages dropped by rate limits
	AuthFailed   uint64 `json:"auth_failed"`  // failed account logins (needs a LogRing)
	AuthLimited  uint64 `json:"auth_limited"` // account logins refused by rate limits (needs a LogRing)

	GCPauseMax   float64 `json:"gc_pause_max_ms"`   // longest stop-the-world GC pause in the second, ms (histogram bucket bound)
	GCPauseTotal float64 `json:"gc_pause_total_ms"` // their sum, ms (from bucket midpoints)
	GCCycles     uint64  `json:"gc_cycles"`
	HeapMiB      float64 `json:"heap_mib"`      // heap objects, MiB
	HeapGoalMiB  float64 `json:"heap_goal_mib"` // the GC's heap goal, MiB
	Goroutines   int     `json:"goroutines"`
	CPU          float64 `json:"cpu"` // process CPU, percent of one core (-1: unknown)
}

// TickServer is what WatchTicks needs: *server.Server has it.
type TickServer interface {
	Call(ctx context.Context, fn func(*server.Tick)) error
	Stats() server.Stats
}

// WatchTicks observes the duration of (nearly) every tick of srv and
// passes it to each observer, until ctx is done or the server shuts down.
// It synchronises with the tick by a Server.Call of an empty function
// once per tick, then reads Stats().LastTick off the tick goroutine, so
// it costs the tick one function call. A tick is missed only when this
// goroutine was not scheduled for a whole tick period.
func WatchTicks(ctx context.Context, srv TickServer, observers ...func(time.Duration)) error {
	noop := func(*server.Tick) {}
	var last uint64
	for {
		if err := srv.Call(ctx, noop); err != nil {
			if errors.Is(err, server.ErrBusy) {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(tickRetry):
				}
				continue
			}
			return err
		}
		st := srv.Stats()
		if st.Ticks != last && st.Ticks > 0 {
			last = st.Ticks
			for _, o := range observers {
				o(st.LastTick)
			}
		}
	}
}

// tickAgg collects the tick durations of the current second.
type tickAgg struct {
	mu    sync.Mutex
	durs  []time.Duration
	n     int
	sum   time.Duration
	max   time.Duration
	spare []time.Duration
}

func (a *tickAgg) observe(d time.Duration) {
	a.mu.Lock()
	if len(a.durs) < MaxTicksPerSample {
		a.durs = append(a.durs, d)
	}
	a.n++
	a.sum += d
	a.max = max(a.max, d)
	a.mu.Unlock()
}

// take returns the second's count, mean, p99 and max in milliseconds and
// starts the next second.
func (a *tickAgg) take() (n int, mean, p99, mx float64) {
	a.mu.Lock()
	durs := a.durs
	a.durs = a.spare[:0]
	n, sum, m := a.n, a.sum, a.max
	a.n, a.sum, a.max = 0, 0, 0
	a.mu.Unlock()
	defer func() { a.mu.Lock(); a.spare = durs[:0]; a.mu.Unlock() }()
	if n == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(durs)
	// Nearest rank: with 20 ticks a second the p99 is the slowest tick.
	rank := int(math.Ceil(0.99*float64(len(durs)))) - 1
	return n, ms(sum) / float64(n), ms(durs[max(rank, 0)]), ms(m)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// counters are the monotonic counts a sample takes differences of.
type counters struct {
	at                                     time.Time
	bytesIn, bytesOut, msgsIn              uint64
	slow, kicked, strikes, bans            uint64
	refused, rateLimited, authFail, authRL uint64
	cpu                                    time.Duration
	gcCycles                               uint64
	pauses                                 []uint64
}

// runtime/metrics names the sampler reads.
const (
	metricPauses     = "/sched/pauses/total/gc:seconds"
	metricHeap       = "/memory/classes/heap/objects:bytes"
	metricHeapGoal   = "/gc/heap/goal:bytes"
	metricGoroutines = "/sched/goroutines:goroutines"
	metricGCCycles   = "/gc/cycles/total:gc-cycles"
)

// sampler makes one Sample a second and keeps the last HistoryLen.
type sampler struct {
	c     *Console
	ticks tickAgg
	rt    []metrics.Sample

	prev     counters
	prevConn map[uint64]connSample // per connection at the last sample

	mu      sync.Mutex
	ring    []Sample
	next    int
	latest  []byte        // the last sample as JSON, for the event streams
	players []PlayerInfo  // the sessions at the last sample
	pub     chan struct{} // closed and replaced at each sample
}

func newSampler(c *Console) *sampler {
	s := &sampler{c: c, ring: make([]Sample, 0, HistoryLen), pub: make(chan struct{}), prevConn: map[uint64]connSample{}}
	for _, name := range []string{metricPauses, metricHeap, metricHeapGoal, metricGoroutines, metricGCCycles} {
		s.rt = append(s.rt, metrics.Sample{Name: name})
	}
	s.prev = s.counters(c.now())
	return s
}

// cpuTime returns the process's user and system CPU time, or -1.
var cpuTime = processCPU

func (s *sampler) counters(now time.Time) counters {
	st := s.c.cfg.Server.Stats()
	k := counters{
		at: now, bytesIn: st.BytesIn, bytesOut: st.BytesOut, msgsIn: st.MessagesIn,
		slow: st.Closed["slow_consumer"], kicked: st.Closed["kicked"],
		refused: st.Refused, rateLimited: st.RateLimited, cpu: cpuTime(),
	}
	if sl := s.c.cfg.Strikes; sl != nil {
		var strikeBans uint64
		k.strikes, strikeBans = sl.Totals()
		k.bans = strikeBans
	}
	if lr := s.c.cfg.Logs; lr != nil {
		k.bans = lr.Count(guard.LogMessage)
		k.authFail = lr.Count(MsgAuthLoginFailed)
		k.authRL = lr.Count(MsgAuthRateLimited)
	}
	metrics.Read(s.rt)
	for _, m := range s.rt {
		switch m.Name {
		case metricGCCycles:
			if m.Value.Kind() == metrics.KindUint64 {
				k.gcCycles = m.Value.Uint64()
			}
		case metricPauses:
			if m.Value.Kind() == metrics.KindFloat64Histogram {
				k.pauses = slices.Clone(m.Value.Float64Histogram().Counts)
			}
		}
	}
	return k
}

func delta(a, b uint64) uint64 {
	if a < b {
		return 0 // a counter from a restarted source
	}
	return a - b
}

// step makes the sample of the second ending at now.
func (s *sampler) step(now time.Time) Sample {
	cur := s.counters(now)
	prev := s.prev
	s.prev = cur
	secs := now.Sub(prev.at).Seconds()
	if secs <= 0 {
		secs = SampleInterval.Seconds()
	}
	st := s.c.cfg.Server.Stats()
	smp := Sample{
		T:            now.UnixMilli(),
		Players:      st.Players,
		Conns:        st.Conns,
		Held:         st.Held,
		Transports:   map[string]int{},
		Encodings:    map[string]int{},
		MsgsIn:       float64(delta(cur.msgsIn, prev.msgsIn)) / secs,
		BytesIn:      float64(delta(cur.bytesIn, prev.bytesIn)) / secs,
		BytesOut:     float64(delta(cur.bytesOut, prev.bytesOut)) / secs,
		SlowConsumer: delta(cur.slow, prev.slow),
		Kicked:       delta(cur.kicked, prev.kicked),
		Strikes:      delta(cur.strikes, prev.strikes),
		Bans:         delta(cur.bans, prev.bans),
		Refused:      delta(cur.refused, prev.refused),
		RateLimited:  delta(cur.rateLimited, prev.rateLimited),
		AuthFailed:   delta(cur.authFail, prev.authFail),
		AuthLimited:  delta(cur.authRL, prev.authRL),
		GCCycles:     delta(cur.gcCycles, prev.gcCycles),
		CPU:          -1,
	}
	smp.Ticks, smp.TickMean, smp.TickP99, smp.TickMax = s.ticks.take()
	if cur.cpu >= 0 && prev.cpu >= 0 {
		smp.CPU = 100 * (cur.cpu - prev.cpu).Seconds() / secs
	}
	for _, m := range s.rt {
		switch m.Name {
		case metricHeap:
			if m.Value.Kind() == metrics.KindUint64 {
				smp.HeapMiB = float64(m.Value.Uint64()) / (1 << 20)
			}
		case metricHeapGoal:
			if m.Value.Kind() == metrics.KindUint64 {
				smp.HeapGoalMiB = float64(m.Value.Uint64()) / (1 << 20)
			}
		case metricGoroutines:
			if m.Value.Kind() == metrics.KindUint64 {
				smp.Goroutines = int(m.Value.Uint64())
			}
		case metricPauses:
			if m.Value.Kind() == metrics.KindFloat64Histogram && len(prev.pauses) == len(cur.pauses) {
				smp.GCPauseMax, smp.GCPauseTotal = pauseDelta(m.Value.Float64Histogram().Buckets, prev.pauses, cur.pauses)
			}
		}
	}
	if smp.Goroutines == 0 {
		smp.Goroutines = runtime.NumGoroutine()
	}

	// The sessions: counts by transport and encoding, and each one's
	// bytes per second for the players table.
	sessions := s.c.cfg.Server.Sessions()
	players := make([]PlayerInfo, 0, len(sessions))
	conns := make(map[uint64]connSample, len(sessions))
	for _, si := range sessions {
		smp.Transports[si.Transport]++
		smp.Encodings[si.Encoding]++
		p := PlayerInfo{
			ConnID: si.ConnID, PlayerID: si.PlayerID, Name: si.Name, Addr: hostOf(si.Addr),
			Transport: si.Transport, Encoding: si.Encoding, Since: si.Since.UTC(),
			BytesIn: si.BytesIn, BytesOut: si.BytesOut, RTT: millis(si.RTT),
			Guest: strings.HasPrefix(si.Name, guestPrefix),
		}
		old, seen := s.prevConn[si.ConnID]
		if seen {
			p.InRate = float64(delta(si.BytesIn, old.in)) / secs
			p.OutRate = float64(delta(si.BytesOut, old.out)) / secs
		}
		cur := connSample{in: si.BytesIn, out: si.BytesOut}
		if si.RTT > 0 {
			cur.rttAt = si.RTTAt.UnixNano()
			if cur.rttAt != old.rttAt && s.c.cfg.ObserveRTT != nil {
				s.c.cfg.ObserveRTT(si.RTT) // a new reading
			}
		}
		conns[si.ConnID] = cur
		players = append(players, p)
	}
	s.prevConn = conns

	js, _ := json.Marshal(smp)
	s.mu.Lock()
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, smp)
	} else {
		s.ring[s.next] = smp
		s.next = (s.next + 1) % cap(s.ring)
	}
	s.latest = js
	s.players = players
	close(s.pub)
	s.pub = make(chan struct{})
	s.mu.Unlock()
	return smp
}

// connSample is what the sampler keeps of a connection between samples.
type connSample struct {
	in, out uint64 // bytes read and written
	rttAt   int64  // when its RTT was read (unix ns; 0: none)
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pauseDelta returns the longest pause (its bucket's upper bound) and the
// total pause time (bucket midpoints) of the pauses between two readings
// of the pause histogram, in milliseconds.
func pauseDelta(buckets []float64, prev, cur []uint64) (maxMS, totalMS float64) {
	for i := range cur {
		n := delta(cur[i], prev[i])
		if n == 0 {
			continue
		}
		lo, hi := buckets[i], buckets[i+1]
		if math.IsInf(lo, -1) {
			lo = 0
		}
		if math.IsInf(hi, 1) {
			hi = lo
		}
		maxMS = hi * 1000
		totalMS += float64(n) * (lo + hi) / 2 * 1000
	}
	return maxMS, totalMS
}

// history returns the kept samples, oldest first.
func (s *sampler) history() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sample, 0, len(s.ring))
	out = append(out, s.ring[s.next:]...)
	return append(out, s.ring[:s.next]...)
}

// wait returns a channel closed at the next sample, and the last sample's
// JSON.
func (s *sampler) wait() (<-chan struct{}, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pub, s.latest
}

func (s *sampler) lastPlayers() []PlayerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.players
}

func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.step(s.c.now())
		}
	}
}
