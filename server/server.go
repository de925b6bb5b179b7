// Package server is tickwire's fixed-tick authoritative game server.
//
// One goroutine, the tick goroutine, owns the world. Every tick (Config.
// TickRate times a second) it admits players who logged in, hands the Game
// every message that arrived since the previous tick as one batch, lets the
// Game update the world, writes each player's output with one write, and
// removes connections that died, telling the Game why (or, for a player
// whose connection dropped, holding its seat for a RESUME: see SeatHolder).
//
// Each connection has a reader goroutine, which frames and decodes input and
// answers the protocol messages that need no game (PING, HELP, USE, QUIT,
// AUTH, RESUME, LOG), and, only while there is output to write, a writer
// goroutine, which encodes and writes it. An idle connection is one reader
// parked in the runtime's network poller and one timer (its deadlines and
// keepalive): it costs no CPU per tick, since the tick only visits
// connections that sent input or were sent output.
//
// With Config.Engine = EngineEventLoop, connections live on an epoll event
// loop instead (engine.go): an idle connection has no goroutine and no
// buffer, input is pushed through the same checks by the loop's pollers,
// and output is written by one worker per core. Serve puts plain TCP
// sockets on it and WebSocketHandler upgraded WebSockets; TLS, PROXY
// protocol and ServeConn connections stay on goroutines.
//
// Every queue is bounded: the inbound queue of a connection (Config.
// MaxInbound) pauses reading when full; the outbound queue (Config.
// MaxOutbound messages, Config.MaxOutboundBytes bytes) disconnects the
// client as a slow consumer when full. Every client message type has a rate
// limit (msg.Info Rate and Burst), every address has connection limits, and
// every connection an outbound byte budget.
//
// The wire protocol, every limit and every error code are specified in
// docs/PROTOCOL.md.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickwire/tickwire/msg"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Server runs one Game. Create it with New, feed it listeners with Serve or
// single connections with ServeConn, and stop it with Shutdown.
type Server struct {
	cfg  Config
	game Game
	log  *slog.Logger

	startOnce sync.Once
	stopping  chan struct{} // closed when Shutdown starts
	tickDone  chan struct{} // closed when the tick goroutine has finished
	connWG    sync.WaitGroup

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[uint64]*conn
	addrs     map[netip.Addr]*addrState // per-address accounting (addr.go)
	closed    bool
	nextID    atomic.Uint64
	sweeperWG sync.WaitGroup
	rttMu     sync.Mutex
	rtts      map[*conn]rttSample // Sessions' last RTT readings
	rttGen    uint64              // Sessions calls, to forget closed connections
	guardSeen uint64              // the Guard's ban version last swept for; sweeper only

	// sweep is closed and replaced once a second by the tick goroutine; idle
	// writers wait on it to decide when to exit.
	sweep atomic.Pointer[chan struct{}]

	readyMu    sync.Mutex
	ready      []*conn // connections with inbound events, in arrival order
	readySpare []*conn

	seats     seats // seat tokens (seat.go)
	callMu    sync.Mutex
	calls     []call // Call's and Post's functions for the next tick (admin.go)
	waiting   int    // Calls waiting for their function to run; guarded by callMu
	heldTotal int    // seats held, counted against MaxConns; guarded by mu

	// Tick goroutine state.
	cause      *msg.Type // the input a typed handler is handling, for CheckCauses
	held       []*Player // players whose connection dropped, waiting for RESUME
	players    map[uint64]*Player
	playerList []*Player
	dirty      []*Player
	tickN      uint64
	scratch    tickScratch

	// Counters, readable from any goroutine via Stats.
	ticks       atomic.Uint64
	bytesOut    atomic.Uint64
	droppedLogs atomic.Uint64
	lastTickNs  atomic.Int64
	nPlayers    atomic.Int64
	bytesIn     atomic.Uint64
	msgsIn      atomic.Uint64
	rateDropped atomic.Uint64
	throttled   atomic.Uint64
	refused     atomic.Uint64
	closedBy    [12]atomic.Uint64 // by closeIndex: closeReasons, then "error" (one more than closeReasons)

	eng *engine // the event loop (Config.Engine), started on first use
}

type tickScratch struct {
	joins   []*Player
	resumed []*Player
	inputs  []Input
	leaves  []leave
	events  []event
}

type leave struct {
	p      *Player
	c      *conn // the connection that ended; p may have moved on from it
	reason error
}

// New returns a server running game with cfg. It checks cfg and the
// registry's message-flow graph and returns an error if either is invalid.
func New(cfg Config, game Game) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if game == nil {
		return nil, errors.New("server: nil Game")
	}
	if err := cfg.Registry.CheckFlow(); err != nil {
		return nil, err
	}
	if in, ok := game.(Initializer); ok {
		err := in.Init(Settings{
			TickRate:   cfg.TickRate,
			TickPeriod: time.Second / time.Duration(cfg.TickRate),
			MaxMessage: cfg.MaxMessage,
			SeatHold:   max(cfg.SeatHold, 0),
			Registry:   cfg.Registry,
			Logger:     cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("server: game Init: %w", err)
		}
	}
	s := &Server{
		cfg:       cfg,
		game:      game,
		log:       cfg.Logger,
		stopping:  make(chan struct{}),
		tickDone:  make(chan struct{}),
		listeners: map[net.Listener]struct{}{},
		conns:     map[uint64]*conn{},
		addrs:     map[netip.Addr]*addrState{},
		players:   map[uint64]*Player{},
	}
	s.eng = &engine{s: s}
	sweep := make(chan struct{})
	s.sweep.Store(&sweep)
	return s, nil
}

// sweepSignal returns the channel the next once-a-second sweep closes.
func (s *Server) sweepSignal() <-chan struct{} { return *s.sweep.Load() }

// Registry returns the message registry the server speaks.
func (s *Server) Registry() *msg.Registry { return s.cfg.Registry }

// Config returns the server's configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Start starts the tick goroutine. Serve and ServeConn call it; calling it
// again does nothing.
func (s *Server) Start() {
	s.startOnce.Do(func() {
		s.sweeperWG.Add(1)
		go s.tickLoop()
		go s.sweeper()
	})
}

// Serve accepts connections on ln until Shutdown, then returns
// ErrServerClosed. Accept errors are logged and retried with a short
// back-off, so a burst of "too many open files" does not kill the server.
func (s *Server) Serve(ln net.Listener) error {
	s.Start()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	s.log.Info("listening", "addr", ln.Addr().String())
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.stopping:
				return ErrServerClosed
			default:
			}
			// Shutdown closes the listeners before it closes s.stopping, so
			// the Accept it interrupts usually gets here first: s.closed,
			// set before the listeners are closed, tells that case apart
			// from a listener closed by someone else.
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("accept failed; retrying", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-s.stopping:
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		if s.cfg.Engine == EngineEventLoop && s.serveLoop(nc) {
			// A plain socket: admitted at once (its address needs no
			// read) and served by the event loop.
			continue
		}
		// Admission asks the connection for its address, which a PROXY
		// protocol or TLS wrapper may have to read from the peer: do it on
		// the connection's goroutine so no peer can stall the accept loop.
		go func() {
			if c := s.admit(nc); c != nil {
				c.readLoop()
			}
		}()
	}
}

// ServeConn serves one already-accepted connection (a WebSocket, say) and
// returns when it has ended. The address guard and connection cap apply as
// for accepted sockets.
func (s *Server) ServeConn(nc net.Conn) {
	s.Start()
	c := s.admit(nc)
	if c == nil {
		return
	}
	c.readLoop()
	<-c.done
}

// admit registers a new connection, or closes it and returns nil when the
// address is banned or over its per-address limits, or the server is full
// or shutting down.
func (s *Server) admit(nc net.Conn) *conn {
	id := s.nextID.Add(1)
	remote := addrOf(nc.RemoteAddr())
	if g := s.cfg.Guard; g != nil && remote.IsValid() {
		if err := g.Admit(remote); err != nil {
			s.log.Info("connection refused", "conn", id, "peer", nc.RemoteAddr().String(), "reason", err.Error())
			nc.Close()
			return nil
		}
	}
	s.mu.Lock()
	if s.closed || len(s.conns)+s.heldTotal >= s.cfg.MaxConns {
		full := !s.closed
		s.mu.Unlock()
		if full {
			s.log.Warn("connection refused: server full", "conn", id, "peer", nc.RemoteAddr().String(), "max_conns", s.cfg.MaxConns)
		}
		nc.Close()
		return nil
	}
	counted := !s.limitsExempt(remote)
	if counted {
		if reason, strike := s.admitAddrLocked(remote, time.Now()); reason != "" {
			s.mu.Unlock()
			s.refused.Add(1)
			// Logged before the close, so the line is written by the time
			// the peer sees the connection end. ip first: the fail2ban
			// filter matches this line.
			s.log.Warn(RefusedLogMessage, "ip", remote.String(), "reason", reason, "conn", id)
			nc.Close()
			if strike && s.cfg.Guard != nil {
				s.cfg.Guard.Strike(remote, "conn_limit")
			}
			return nil
		}
	}
	c := s.newConn(nc, id, remote)
	c.countedAddr, c.countedPreLogin = counted, counted
	s.conns[id] = c
	s.connWG.Add(1) // its reader; writers count themselves while they run
	s.mu.Unlock()
	c.logger().Info("connection accepted")
	return c
}

// forget drops a closed connection from the server's set.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.id)
	s.releaseAddrLocked(c)
	s.mu.Unlock()
}

// sweeper runs once a second until Shutdown: it ends the sessions of
// addresses banned since the last sweep and forgets idle per-address
// entries. It never runs on the tick goroutine.
func (s *Server) sweeper() {
	defer s.sweeperWG.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopping:
			return
		case now := <-t.C:
			s.sweepBanned()
			s.mu.Lock()
			s.sweepAddrsLocked(now)
			s.mu.Unlock()
		}
	}
}

// bansVersioner is a Guard that counts changes to its set of bans, so the
// sweep can skip the connection scan when nothing changed.
type bansVersioner interface{ BansVersion() uint64 }

// sweepBanned sends BYE banned to every connection whose address the Guard
// now refuses: a ban ends the address's live sessions, not only its next
// connection.
func (s *Server) sweepBanned() {
	g := s.cfg.Guard
	if g == nil {
		return
	}
	if v, ok := g.(bansVersioner); ok {
		ver := v.BansVersion()
		if ver == s.guardSeen {
			return
		}
		s.guardSeen = ver
	}
	var banned []*conn
	s.mu.Lock()
	for _, c := range s.conns {
		if c.remote.IsValid() && g.Admit(c.remote) != nil {
			banned = append(banned, c)
		}
	}
	s.mu.Unlock()
	for _, c := range banned {
		c.logger().Info("address banned; ending its session")
		c.bye("banned", ErrBanned)
	}
}

func (s *Server) markReady(c *conn) {
	s.readyMu.Lock()
	s.ready = append(s.ready, c)
	s.readyMu.Unlock()
}

// Stats is a snapshot of server counters.
type Stats struct {
	Conns       int           // open connections, logged in or not
	Players     int           // players in the game
	BytesIn     uint64        // bytes read from clients
	MessagesIn  uint64        // messages decoded from clients
	Ticks       uint64        // ticks run
	BytesOut    uint64        // bytes written to clients
	DroppedLogs uint64        // client LOG lines dropped by the rate limit
	LastTick    time.Duration // how long the last tick took
	RateLimited uint64        // client messages dropped by per-type rate limits
	Throttled   uint64        // writes delayed by the outbound byte budget
	Refused     uint64        // connections refused by per-address limits
	Held        int           // seats held for dropped players
	// Closed counts closed connections by reason: quit, closed (by the
	// client), timeout, slow_consumer, too_long, kicked, banned, shutdown,
	// resumed, seat_expired, and error (I/O errors).
	Closed map[string]uint64
}

// Stats returns current counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n, held := len(s.conns), s.heldTotal
	s.mu.Unlock()
	closed := make(map[string]uint64, len(s.closedBy))
	for i := range s.closedBy {
		name := "error"
		if i < len(closeReasons) {
			name = closeReasons[i].Error()
		}
		closed[name] = s.closedBy[i].Load()
	}
	return Stats{
		Held:        held,
		Closed:      closed,
		Conns:       n,
		Players:     int(s.nPlayers.Load()),
		BytesIn:     s.bytesIn.Load(),
		MessagesIn:  s.msgsIn.Load(),
		Ticks:       s.ticks.Load(),
		BytesOut:    s.bytesOut.Load(),
		DroppedLogs: s.droppedLogs.Load(),
		LastTick:    time.Duration(s.lastTickNs.Load()),
		RateLimited: s.rateDropped.Load(),
		Throttled:   s.throttled.Load(),
		Refused:     s.refused.Load(),
	}
}

func (s *Server) tickLoop() {
	defer close(s.tickDone)
	period := time.Second / time.Duration(s.cfg.TickRate)
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case now := <-ticker.C:
			s.tick(now, period)
			if s.tickN%uint64(s.cfg.TickRate) == 0 {
				s.trimIdle()
				next := make(chan struct{})
				close(*s.sweep.Swap(&next))
			}
		case <-s.stopping:
			s.finalTick(period)
			return
		}
	}
}

// tick runs one step: collect input, Join, Update, Leave, flush.
func (s *Server) tick(now time.Time, period time.Duration) {
	start := time.Now()
	s.tickN++
	t := &Tick{N: s.tickN, Now: now, Dt: period, s: s}
	sc := &s.scratch

	if s.hasCalls() {
		s.runCalls(t)
	}
	s.readyMu.Lock()
	ready := s.ready
	s.ready, s.readySpare = s.readySpare[:0], nil
	s.readyMu.Unlock()

	for _, c := range ready {
		c.inMu.Lock()
		sc.events, c.inbox = c.inbox, sc.events[:0]
		c.queued = false
		c.inMu.Unlock()
		select {
		case c.inSpace <- struct{}{}:
		default:
		}
		if c.lp != nil && c.lp.full.Load() {
			go c.lp.resume() // its input waited for this room
		}
		first := len(sc.inputs)
		for i := range sc.events {
			ev := &sc.events[i]
			switch ev.kind {
			case evJoin, evArrive:
				p := &Player{c: c, id: c.id, ident: ev.ident, arriving: ev.arrival}
				c.player = p
				c.playerID.Store(p.id)
				sc.joins = append(sc.joins, p)
			case evMsg:
				if c.player == nil || c.player.gone {
					continue
				}
				in := Input{Player: c.player, Type: ev.env.Type, Msg: ev.env.Msg, RID: ev.env.RID}
				if in.Type.Latest {
					supersede(sc.inputs[first:], in.Type)
				}
				sc.inputs = append(sc.inputs, in)
			case evLeave:
				if c.player != nil {
					sc.leaves = append(sc.leaves, leave{c.player, c, ev.reason})
				} else {
					s.forget(c) // its seat was resumed elsewhere, or the resume failed
				}
			case evResume:
				if s.resume(c, ev.player) {
					sc.resumed = append(sc.resumed, ev.player)
				}
			}
			*ev = event{}
		}
	}
	s.readySpare = ready[:0]
	clear(ready)

	for _, p := range sc.joins {
		// The seat token exists before the game hears of the player, so
		// that a checkpoint the game writes in Join or Arrive (a cluster
		// commit) already carries the player's SeatKeys.
		var seat *msg.Seat
		if s.cfg.SeatHold > 0 && !s.cfg.AutoLogin {
			seat = s.newSeat(p)
		}
		var err error
		if a := p.arriving; a != nil {
			p.arriving = nil
			s.arriving(a.ID)
			if ar, ok := s.game.(Arriver); ok {
				err = ar.Arrive(t, p, *a)
			} else {
				err = s.game.Join(t, p)
			}
		} else {
			err = s.game.Join(t, p)
		}
		if errors.Is(err, ErrArrivalGone) {
			s.dropSeat(p)
			p.Send(&msg.Err{Code: "resume", Text: codeResumeUnavailable + " your place moved to another server as you arrived; retry in a second"})
			p.Kick("moved")
			continue
		}
		if err != nil {
			s.dropSeat(p)
			p.Send(&msg.Err{Code: "join_refused", Text: err.Error()})
			p.Kick("join_refused")
			continue
		}
		s.players[p.id] = p
		s.playerList = append(s.playerList, p)
		// WELCOME, SEAT and LIMITS go before whatever Join sent.
		prefix := []outItem{{m: &msg.Welcome{ID: p.id, Name: p.ident.Name}}}
		if seat != nil {
			prefix = append(prefix, outItem{m: seat})
		}
		prefix = append(prefix, outItem{m: s.limits()})
		p.pending = append(prefix, p.pending...)
		// Shift the SendLatest indexes recorded during Join, or a
		// SendLatest later this tick would overwrite the wrong item (the
		// WELCOME itself for the first key).
		for k := range p.latestIx {
			p.latestIx[k] += len(prefix)
		}
		// And put the player on the flush list: a Join that sends nothing
		// left it off, and the WELCOME was never written.
		if !p.dirty {
			p.dirty = true
			s.dirty = append(s.dirty, p)
		}
	}
	if sh, ok := s.game.(SeatHolder); ok {
		for _, p := range sc.resumed {
			if s.players[p.id] == p && !p.held {
				sh.Reconnected(t, p)
			}
		}
	}
	inputs := sc.inputs[:0]
	for _, in := range sc.inputs {
		if in.Msg != nil && s.players[in.Player.id] == in.Player {
			inputs = append(inputs, in)
		}
	}
	t.Inputs = inputs
	s.game.Update(t)
	t.Inputs = nil
	for _, l := range sc.leaves {
		switch {
		case l.p.c != l.c:
			s.forget(l.c) // the player resumed on another connection
		case l.p.hasSeat && holdable(l.reason) && !l.p.gone && s.players[l.p.id] == l.p:
			s.hold(t, l.p, l.reason)
		default:
			s.removePlayer(t, l.p, l.reason)
		}
	}
	s.expireSeats(t)
	s.flush()

	clear(sc.inputs)
	clear(sc.resumed)
	sc.joins, sc.inputs, sc.leaves, sc.resumed = sc.joins[:0], sc.inputs[:0], sc.leaves[:0], sc.resumed[:0]
	s.ticks.Add(1)
	s.nPlayers.Store(int64(len(s.playerList)))
	s.lastTickNs.Store(int64(time.Since(start)))
}

// limits is the LIMITS message every logged-in client gets.
func (s *Server) limits() *msg.Limits {
	return &msg.Limits{TickRate: uint16(s.cfg.TickRate), MaxMessage: uint32(s.cfg.MaxMessage)}
}

// checkOut returns m if it is a registered message that may be sent to a
// client, and panics otherwise (see Player.Send).
func (s *Server) checkOut(m any) any {
	v := m
	if sh, ok := m.(*msg.Shared); ok {
		v = sh.Msg
	}
	t, err := s.cfg.Registry.TypeOf(v)
	if err != nil {
		panic(fmt.Sprintf("server: Send of %T: not a registered message (msg.Define it)", v))
	}
	if t.Dir&msg.ToClient == 0 {
		panic(fmt.Sprintf("server: Send of %s: declared Dir: msg.ToServer, so it may not be sent to a client", t.Name))
	}
	return m
}

// checkCause panics if the handler of s.cause sends m although its
// msg.Info.Causes does not list m's type (Config.CheckCauses).
func (s *Server) checkCause(m any) {
	v := m
	if sh, ok := m.(*msg.Shared); ok {
		v = sh.Msg
	}
	t, err := s.cfg.Registry.TypeOf(v)
	if err != nil {
		return // checkOut reports it
	}
	if t.ID == msg.IDErr || t.ID == msg.IDBye || t.ID == msg.IDMoved {
		// Refusals, kicks and moves may answer any message (a move: the
		// cluster may take the player's zone away during any rule), and
		// cause nothing.
		return
	}
	for _, c := range s.cause.Causes {
		if c == t.Name {
			return
		}
	}
	panic(fmt.Sprintf("server: the handler of %s sent %s, which its msg.Info.Causes %v does not list", s.cause.Name, t.Name, s.cause.Causes))
}

func (s *Server) hasCalls() bool {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	return len(s.calls) > 0
}

// supersede blanks earlier inputs of type t from the same connection, for
// message types marked Latest.
func supersede(inputs []Input, t *msg.Type) {
	for i := range inputs {
		if inputs[i].Type == t {
			inputs[i].Msg = nil
		}
	}
}

func (s *Server) removePlayer(t *Tick, p *Player, reason error) {
	if s.players[p.id] == p {
		delete(s.players, p.id)
		for i, q := range s.playerList {
			if q == p {
				s.playerList = append(s.playerList[:i], s.playerList[i+1:]...)
				break
			}
		}
		p.gone = true
		s.dropSeat(p)
		s.game.Leave(t, p, reason)
	}
	p.gone = true
	s.forget(p.c)
}

// flush hands every player's output for this tick to its writer.
func (s *Server) flush() {
	for _, p := range s.dirty {
		if len(p.pending) > 0 {
			p.c.enqueue(p.pending...)
			p.c.lastOut = uint32(s.tickN)
		}
		clear(p.pending)
		p.pending = p.pending[:0]
		clear(p.latestIx)
		p.dirty = false
	}
	clear(s.dirty)
	s.dirty = s.dirty[:0]
}

// trimIdle runs once a second on the tick goroutine: players sent nothing
// for a second give back their output queues' memory (the pending slice,
// the SendLatest index, the connection's queue and its spare), which a
// busy player keeps from tick to tick. Idle connections are most
// connections, and each would otherwise keep its largest burst's arrays.
func (s *Server) trimIdle() {
	now := uint32(s.tickN)
	for _, p := range s.playerList {
		c := p.c
		if now-c.lastOut < uint32(s.cfg.TickRate) || p.dirty {
			continue
		}
		if len(p.pending) == 0 {
			p.pending = nil
		}
		if len(p.latestIx) == 0 {
			p.latestIx = nil
		}
		if !c.outCap.Load() {
			continue // nothing to give back: skip the lock
		}
		c.outMu.Lock()
		if !c.writing && len(c.out) == 0 {
			c.out, c.spare = nil, nil
			c.outCap.Store(false)
		}
		c.outMu.Unlock()
	}
}

// finalTick runs when Shutdown starts: every connection gets BYE shutdown,
// and the game is told every player left.
func (s *Server) finalTick(period time.Duration) {
	s.tickN++
	t := &Tick{N: s.tickN, Now: time.Now(), Dt: period, s: s}
	for _, p := range append([]*Player(nil), s.playerList...) {
		delete(s.players, p.id)
		p.gone = true
		s.dropSeat(p)
		s.game.Leave(t, p, ErrShutdown)
	}
	s.held = nil
	s.playerList = nil
	s.flush()
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.bye("shutdown", ErrShutdown)
	}
}

// Shutdown stops accepting, sends every connection BYE shutdown, waits until
// those are written or ctx ends (at most DefaultShutdownGrace when ctx has no
// deadline), then closes whatever is left. The game's Leave is called for
// every player with ErrShutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.Start() // so tickDone is closed even if nothing was ever served
	close(s.stopping)
	<-s.tickDone
	s.sweeperWG.Wait()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultShutdownGrace)
		defer cancel()
	}
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var err error
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			err = fmt.Errorf("server: shutdown: %w", ctx.Err())
			c.close(ErrShutdown)
		}
	}
	// Every connection is closed now, so its goroutines are finishing.
	s.connWG.Wait()
	s.eng.shutdown()
	s.mu.Lock()
	clear(s.conns)
	s.mu.Unlock()
	return err
}
