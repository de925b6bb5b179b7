package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// epoch is the bots' clock origin: MOVE t values are microseconds since it,
// measured on the monotonic clock.
var epoch = time.Now()

func nowNS() int64 { return int64(time.Since(epoch)) }

const numShards = 8

// shard holds delivery counters for a subset of the bots, to keep readers on
// different CPUs off each other's cache lines.
type shard struct {
	delivered atomic.Int64
	hist      histogram
	_         [64]byte
}

type roomState struct {
	name  string
	alive atomic.Int64 // registered bots not yet dead

	mu      sync.Mutex
	members []*bot // registered bots, guarded by mu
}

func (rs *roomState) hasMember(id uint64) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, m := range rs.members {
		if m.id == id {
			return true
		}
	}
	return false
}

type bot struct {
	idx    int
	room   *roomState
	shard  *shard
	conn   botConn
	id     uint64        // written by the reader before joined is closed
	joined chan struct{} // closed by the reader on JOINED
	exited chan struct{} // closed when the reader returns

	stateMu    sync.Mutex
	registered bool        // counted in room.alive; guarded by stateMu
	dead       atomic.Bool // written under stateMu
	exitKind   string      // reader's exit reason before registration
	exitErr    error

	// Owned by the connecting goroutine, then by the bot's sender.
	lastWrite  int64 // nowNS of the last write
	deadlineAt int64 // nowNS when the write deadline was last set
	moves      int64
	lastT      int64
	x, y       int32

	// Owned by the reader goroutine.
	peers []peer
}

type peer struct {
	id uint64
	t  int64
}

func (b *bot) peer(id uint64) *peer {
	for i := range b.peers {
		if b.peers[i].id == id {
			return &b.peers[i]
		}
	}
	return nil
}

type runner struct {
	cfg     Config
	rooms   []*roomState
	bots    []*bot // index i is nil until bot i is launched
	shards  [numShards]shard
	senders []*sender

	moving     atomic.Bool
	closing    atomic.Bool
	windowNS   int64         // window start, set before startMoves is closed
	startMoves chan struct{} // closed at window start
	stopMoves  chan struct{} // closed at window end
	stopAll    chan struct{} // closed when the bots shut down

	movesStopped sync.WaitGroup // senders that have not yet seen stopMoves
	sendersDone  sync.WaitGroup
	readers      sync.WaitGroup

	connected    atomic.Int64
	failed       atomic.Int64
	disconnected atomic.Int64

	errMu      sync.Mutex
	errs       map[string]int64
	errSamples map[string]string
}

// addErr counts an error of the given kind, unless the run is shutting down
// (closing connections then produces errors that are not the server's).
func (r *runner) addErr(kind string, err error) {
	if !r.closing.Load() {
		r.recordErr(kind, err)
	}
}

func (r *runner) recordErr(kind string, err error) {
	r.errMu.Lock()
	r.errs[kind]++
	first := r.errs[kind] == 1
	if first {
		r.errSamples[kind] = err.Error()
	}
	r.errMu.Unlock()
	if first {
		r.cfg.Logger.Warn("loadtest: first error of its kind", "kind", kind, "err", err)
	}
}

func (r *runner) errorCount() int64 {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	var n int64
	for _, c := range r.errs {
		n += c
	}
	return n
}

func (r *runner) delivered() int64 {
	var n int64
	for i := range r.shards {
		n += r.shards[i].delivered.Load()
	}
	return n
}

func (r *runner) latency() *snapshot {
	s := new(snapshot)
	for i := range r.shards {
		s.add(&r.shards[i].hist)
	}
	return s
}

func (r *runner) movesAndExpected() (moves, expected int64) {
	for _, s := range r.senders {
		moves += s.moves.Load()
		expected += s.expected.Load()
	}
	return moves, expected
}

// markDead closes b's connection once and takes it out of its room's live
// count. kind, if not empty, is recorded as an error.
func (r *runner) markDead(b *bot, kind string, err error) {
	b.stateMu.Lock()
	if b.dead.Load() {
		b.stateMu.Unlock()
		return
	}
	b.dead.Store(true)
	registered := b.registered
	b.stateMu.Unlock()
	if registered {
		b.room.alive.Add(-1)
		if !r.closing.Load() {
			r.disconnected.Add(1)
		}
	}
	if kind != "" {
		r.addErr(kind, err)
	}
	b.conn.Close()
}

// Run performs one load run as described by cfg and the package
// documentation, printing progress to cfg.Progress. It stops by itself
// after about RampUp + Duration (every phase is bounded) or when ctx ends.
//
// Run returns an error if cfg is invalid or a resource check fails (then
// the Summary is empty), if no bot could connect, or if ctx ended before the
// run completed; in the latter two cases the Summary is still filled in.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	if lim, err := openFileLimit(); err == nil && uint64(cfg.N)+64 > lim {
		return Summary{}, fmt.Errorf("loadtest: %d bots need about %d open files, but RLIMIT_NOFILE is %d", cfg.N, cfg.N+64, lim)
	}
	if cfg.ServerPID != 0 {
		if _, err := procCPU(cfg.ServerPID); err != nil {
			return Summary{}, fmt.Errorf("loadtest: ServerPID: %w", err)
		}
	}
	maxSettle := max(2*time.Second, 10*cfg.Settle)
	ctx, cancel := context.WithTimeout(ctx, cfg.RampUp+2*cfg.ConnectTimeout+cfg.Duration+maxSettle+2*cfg.WriteTimeout+10*time.Second)
	defer cancel()

	r := &runner{
		cfg:        cfg,
		bots:       make([]*bot, cfg.N),
		startMoves: make(chan struct{}),
		stopMoves:  make(chan struct{}),
		stopAll:    make(chan struct{}),
		errs:       make(map[string]int64),
		errSamples: make(map[string]string),
	}
	runID := rand.Uint32() & 0xffffff
	for i := 0; i < cfg.N; i += cfg.RoomSize {
		r.rooms = append(r.rooms, &roomState{name: fmt.Sprintf("lt%06x-%d", runID, len(r.rooms))})
	}
	nSenders := max(1, min(runtime.GOMAXPROCS(0), 8, cfg.N))
	for i := range nSenders {
		s := &sender{r: r, idx: i, n: nSenders, rng: rand.New(rand.NewPCG(uint64(runID), uint64(i)))}
		r.senders = append(r.senders, s)
		r.movesStopped.Add(1)
		r.sendersDone.Add(1)
		go s.run(ctx)
	}
	prog := startProgress(r)

	sum := Summary{
		Addr: cfg.Addr, Transport: cfg.Transport, Encoding: cfg.Encoding,
		Bots: cfg.N, RoomSize: cfg.RoomSize, Rooms: len(r.rooms),
		MoveRate: cfg.MoveRate, Idle: cfg.Idle,
	}
	if cfg.Idle {
		sum.MoveRate = 0
	}

	// Connect phase.
	t0 := time.Now()
	prog.setPhase("connect")
	r.connectAll(ctx)
	sum.ConnectSeconds = round6(time.Since(t0).Seconds())
	cfg.Logger.Info("loadtest: connect phase done", "connected", r.connected.Load(), "failed", r.failed.Load(), "took", time.Since(t0))

	// Measured window.
	var srvCPU0, botCPU0 float64
	if cfg.ServerPID != 0 {
		srvCPU0, _ = procCPU(cfg.ServerPID)
	}
	botCPU0, _ = procCPU(0)
	delivered0 := r.delivered()
	w0 := time.Now()
	prog.setPhase("run")
	r.windowNS = int64(w0.Sub(epoch))
	r.moving.Store(true)
	close(r.startMoves)
	if r.connected.Load() > 0 {
		select {
		case <-time.After(cfg.Duration):
		case <-ctx.Done():
		}
	}
	r.moving.Store(false)
	close(r.stopMoves)
	r.movesStopped.Wait()
	sum.WindowSeconds = round6(time.Since(w0).Seconds())

	// Settle: wait at least Settle, then until POS lines stop arriving.
	prog.setPhase("settle")
	s0 := time.Now()
	if r.connected.Load() > 0 && ctx.Err() == nil {
		sleepCtx(ctx, cfg.Settle)
		for last := r.delivered(); time.Since(s0) < maxSettle; {
			if !sleepCtx(ctx, 50*time.Millisecond) {
				break
			}
			d := r.delivered()
			if d == last {
				break
			}
			last = d
		}
	}
	sum.SettleSeconds = round6(time.Since(s0).Seconds())
	measured := time.Since(w0).Seconds()
	deliveredInWindow := r.delivered() - delivered0
	if cfg.ServerPID != 0 {
		cpu1, err1 := procCPU(cfg.ServerPID)
		rss, err2 := procRSS(cfg.ServerPID)
		if err := errors.Join(err1, err2); err != nil {
			r.addErr("server_stats", err)
		}
		su := &ServerUsage{PID: cfg.ServerPID, RSSBytes: rss}
		if err1 == nil {
			su.CPUSeconds = round6(cpu1 - srvCPU0)
			su.CPUCores = ratio(su.CPUSeconds, measured)
			su.CPUSecondsPerMillionDelivered = ratio(su.CPUSeconds, float64(deliveredInWindow)/1e6)
		}
		sum.Server = su
	}
	if botCPU1, err := procCPU(0); err == nil {
		sum.BotCPUSeconds = round6(botCPU1 - botCPU0)
		sum.BotCPUCores = ratio(sum.BotCPUSeconds, measured)
	}
	sum.BotRSSBytes, _ = procRSS(0)

	// Shut down: remember who is alive, then close everything.
	prog.setPhase("close")
	alive := make([]bool, len(r.bots))
	for i, b := range r.bots {
		alive[i] = b != nil && b.isRegistered() && !b.dead.Load()
	}
	r.closing.Store(true)
	close(r.stopAll)
	r.sendersDone.Wait()
	for _, b := range r.bots {
		if b != nil && b.conn != nil {
			r.markDead(b, "", nil)
		}
	}
	readersDone := make(chan struct{})
	go func() { r.readers.Wait(); close(readersDone) }()
	readersOK := true
	select {
	case <-readersDone:
	case <-time.After(5 * time.Second):
		readersOK = false
	}
	prog.stop()

	// Results.
	sum.Connected = int(r.connected.Load())
	sum.FailedConnects = int(r.failed.Load())
	sum.Disconnected = int(r.disconnected.Load())
	sum.MovesSent, sum.Expected = r.movesAndExpected()
	sum.Delivered = r.delivered()
	sum.DeliveredRatio = ratio(float64(sum.Delivered), float64(sum.Expected))
	sum.MovesPerSecond = ratio(float64(sum.MovesSent), sum.WindowSeconds)
	sum.DeliveredPerSecond = ratio(float64(deliveredInWindow), sum.WindowSeconds)
	sum.Latency = latencyOf(r.latency())
	if readersOK {
		sum.FinalStatePairs, sum.FinalStateMismatches = r.finalState(alive)
		// With no bot connected nothing was checked: not a success.
		sum.FinalStateCorrect = sum.Connected > 0 && sum.FinalStateMismatches == 0
	} else {
		r.recordErr("reader_stuck", errors.New("readers did not exit within 5s of close; final state not checked"))
	}
	r.errMu.Lock()
	sum.Errors = r.errs
	if len(r.errSamples) > 0 {
		sum.ErrorSamples = r.errSamples
	}
	r.errMu.Unlock()

	switch {
	case ctx.Err() != nil:
		sum.Interrupted = true
		return sum, fmt.Errorf("loadtest: run cut short: %w", context.Cause(ctx))
	case sum.Connected == 0 && cfg.N > 0:
		return sum, fmt.Errorf("loadtest: no bot could connect to %s: %s", cfg.Addr, whyNoBot(sum.Errors, sum.ErrorSamples))
	}
	return sum, nil
}

// whyNoBot explains, from the errors of a run in which no bot connected,
// what went wrong, naming what the server said, and what to try.
func whyNoBot(errs map[string]int64, samples map[string]string) string {
	const relay = "the load tool speaks the room-relay protocol (JOIN, MOVE): run go run ./examples/relay (it listens on 127.0.0.1:7777)"
	// A server's refusal says the most, then the other kinds in turn.
	for _, k := range sortedKinds(errs) {
		if !strings.HasPrefix(k, "server_") {
			continue
		}
		said := strings.TrimPrefix(samples[k], "server: ")
		if k == "server_unknown_message" {
			return fmt.Sprintf("the server answered JOIN with %q: is this the relay example? The server does not know JOIN; %s "+
				"(the demo arena of tickwire serve is another game)", said, relay)
		}
		return fmt.Sprintf("the server answered JOIN with %q", said)
	}
	for _, c := range []struct{ kind, why string }{
		{"dial", "could not connect (%s): is a server listening there? " + relay},
		{"handshake", "the WebSocket handshake failed (%s): is it a tickwire server's /ws?"},
		{"eof", "the server closed the connection before JOINED (%s)"},
		{"join_timeout", "no JOINED came (%s): is this a room-relay server? " + relay},
	} {
		if errs[c.kind] > 0 {
			return fmt.Sprintf(c.why, samples[c.kind])
		}
	}
	return fmt.Sprintf("errors: %v", samples)
}

// sortedKinds returns the error kinds of errs in order.
func sortedKinds(errs map[string]int64) []string {
	kinds := make([]string, 0, len(errs))
	for k := range errs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

func (b *bot) isRegistered() bool {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	return b.registered
}

// finalState compares, for every pair of live room mates, the receiver's
// last seen t with the sender's last sent t. It must run after the readers
// and senders have exited.
func (r *runner) finalState(alive []bool) (pairs, mismatches int64) {
	for _, rs := range r.rooms {
		for _, recv := range rs.members {
			if !alive[recv.idx] {
				continue
			}
			for _, send := range rs.members {
				if send == recv || !alive[send.idx] || send.moves == 0 {
					continue
				}
				pairs++
				if p := recv.peer(send.id); p == nil || p.t != send.lastT {
					mismatches++
				}
			}
		}
	}
	return pairs, mismatches
}

// sleepCtx sleeps for d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// connectAll launches the bots' connection attempts, evenly spread over
// RampUp and at most MaxConnecting at a time, and waits for them. The phase
// is bounded by RampUp + 2*ConnectTimeout.
func (r *runner) connectAll(ctx context.Context) {
	cfg := r.cfg
	phaseCtx, cancel := context.WithTimeout(ctx, cfg.RampUp+2*cfg.ConnectTimeout)
	defer cancel()
	start := time.Now()
	sem := make(chan struct{}, cfg.MaxConnecting)
	var wg sync.WaitGroup
	launched := 0
launch:
	for i := range cfg.N {
		if cfg.RampUp > 0 {
			due := start.Add(time.Duration(int64(cfg.RampUp) * int64(i) / int64(cfg.N)))
			if d := time.Until(due); d > time.Millisecond && !sleepCtx(phaseCtx, d) {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-phaseCtx.Done():
			break launch
		}
		b := &bot{
			idx:    i,
			room:   r.rooms[i/cfg.RoomSize],
			shard:  &r.shards[i%numShards],
			joined: make(chan struct{}),
			exited: make(chan struct{}),
			lastT:  -1,
		}
		r.bots[i] = b
		launched++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.connect(phaseCtx, b)
		}()
	}
	wg.Wait()
	if missed := cfg.N - launched; missed > 0 {
		r.failed.Add(int64(missed))
		err := fmt.Errorf("%d bots not launched within the connect phase (RampUp+2*ConnectTimeout = %v)", missed, cfg.RampUp+2*cfg.ConnectTimeout)
		if ctx.Err() != nil {
			err = fmt.Errorf("%d bots not launched: %w", missed, context.Cause(ctx))
		}
		r.addErr("connect_phase_timeout", err)
	}
}

// joinMessage is the bot's first write: JOIN in its encoding, preceded by
// the switch to MessagePack on TCP.
func (r *runner) joinMessage(b *bot) []byte {
	if r.cfg.Encoding != EncodingMsgPack {
		return []byte("JOIN " + b.room.name + "\n")
	}
	if r.cfg.Transport == TransportWS {
		return appendMPJoin(nil, b.room.name)
	}
	return appendMPJoin([]byte(mpUseMsgPack), b.room.name)
}

// connect dials one bot, sends JOIN and waits for JOINED.
func (r *runner) connect(ctx context.Context, b *bot) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	fail := func(kind string, err error) {
		r.failed.Add(1)
		r.addErr(kind, err)
	}
	var err error
	if r.cfg.Transport == TransportWS {
		sub := WSSubprotocol
		if r.cfg.Encoding == EncodingMsgPack {
			sub = WSSubprotocolMsgPack
		}
		b.conn, err = dialWS(ctx, r.cfg.wsURL(), sub)
	} else {
		b.conn, err = dialTCP(ctx, r.cfg.Addr)
	}
	if err != nil {
		fail(kindOf(err, "dial"), err)
		return
	}
	r.readers.Add(1)
	go r.readLoop(b)
	dl, _ := ctx.Deadline()
	_ = b.conn.SetWriteDeadline(dl)
	if err := b.conn.Write(r.joinMessage(b)); err != nil {
		fail("write", err)
		r.markDead(b, "", nil)
		return
	}
	b.lastWrite = nowNS()
	select {
	case <-b.joined:
	case <-b.exited:
		fail(b.exitKind, b.exitErr)
		r.markDead(b, "", nil)
		return
	case <-ctx.Done():
		fail("join_timeout", fmt.Errorf("no JOINED within ConnectTimeout (%v): %w", r.cfg.ConnectTimeout, ctx.Err()))
		r.markDead(b, "", nil)
		return
	}
	b.stateMu.Lock()
	if b.dead.Load() {
		b.stateMu.Unlock()
		<-b.exited
		fail(b.exitKind, b.exitErr)
		return
	}
	b.registered = true
	b.room.alive.Add(1)
	b.stateMu.Unlock()
	b.room.mu.Lock()
	b.room.members = append(b.room.members, b)
	b.room.mu.Unlock()
	r.connected.Add(1)
	r.senders[b.idx%len(r.senders)].add(b)
}
