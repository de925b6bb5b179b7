package arena

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
)

// DefaultBots is how many server-driven tanks roam the arena by default.
const DefaultBots = 6

type options struct {
	bots      int
	sync      replica.Config
	seed      uint64
	idle      time.Duration
	node      *cluster.Node
	noRestock bool
}

// arrivalHold is how long a restored player may take to come back.
func (o options) arrivalHold() time.Duration { return cluster.DefaultArrivalHold }

// Option configures New.
type Option func(*options)

// WithBots sets how many server-driven tanks roam the zones (default
// DefaultBots).
func WithBots(n int) Option { return func(o *options) { o.bots = max(n, 0) } }

// WithSync tunes world synchronisation: budget, resync period (default
// ResyncPeriod), slice size. The arena sets TickRate (the server's),
// Radius, Visible and FieldMask itself; Drop is kept (a test hook). A
// TickRate other than 0 or the server's makes Init fail.
func WithSync(cfg replica.Config) Option { return func(o *options) { o.sync = cfg } }

// WithSeed seeds the bots' choices and the chests' contents (default 1).
func WithSeed(seed uint64) Option { return func(o *options) { o.seed = seed } }

// WithIdleTimeout tells the arena the server's idle timeout (default
// server.DefaultIdleTimeout), so that it can warn a player in human mode
// who has typed nothing for a while.
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idle = d } }

// Game is the arena, a server.Game. Create it with New and hand it to
// server.New, which calls Init with the server's settings: the world, its
// chests and bots are built there, at the server's tick rate.
type Game struct {
	sim
	handlers server.Handlers
	// direct holds the same handlers by message type, for drivers with
	// players that are not *server.Player (see handle).
	direct map[reflect.Type]func(p peer, in server.Input) error
	inited bool
	// durableRules are the message types whose rules move items.
	durableRules map[reflect.Type]bool
	// Chat lines from the cluster, waiting for the tick.
	chatMu sync.Mutex
	chatIn []*Chat
}

// New returns an arena; server.New initialises it (Init) at the server's
// tick rate. It panics if the embedded maps are broken, which a test
// catches.
func New(opts ...Option) *Game {
	o := options{bots: DefaultBots, seed: 1, idle: server.DefaultIdleTimeout}
	for _, f := range opts {
		f(&o)
	}
	zones, err := loadZones()
	if err != nil {
		panic(err)
	}
	g := &Game{direct: map[reflect.Type]func(peer, server.Input) error{}}
	g.opts, g.zones = o, zones
	g.register()
	if o.node != nil {
		o.node.OnChat(g.hearChat)
	}
	return g
}

// Init builds the world at the server's tick rate (server.Initializer):
// the rules' times become ticks at s.TickRate, and the replica.World syncs
// at the same rate. A Game serves one server: a second Init fails.
func (g *Game) Init(s server.Settings) error {
	if g.inited {
		return errors.New("arena: Init called twice; a Game serves one server")
	}
	if s.TickRate < 1 {
		return fmt.Errorf("arena: tick rate %d: want 1 or more ticks per second", s.TickRate)
	}
	if r := g.opts.sync.TickRate; r != 0 && r != s.TickRate {
		return fmt.Errorf("arena: WithSync's TickRate %d differs from the server's %d; leave it 0", r, s.TickRate)
	}
	if err := g.init(s.TickRate); err != nil {
		return err
	}
	g.inited = true
	return nil
}

var _ server.Initializer = (*Game)(nil)

// World returns the replicated world, for tools and tests; nil before
// Init.
func (g *Game) World() *replica.World { return g.w }

// TickRate returns the tick rate the rules run at (the server's, from
// Init); 0 before Init.
func (g *Game) TickRate() int { return g.rate }

// Join gives the player a tank at a spawn point of the first zone.
func (g *Game) Join(t *server.Tick, p *server.Player) error {
	if n := g.opts.node; n != nil {
		if !g.running[1] {
			return g.joinElsewhere(t, p)
		}
		g.join(p)
		// Recorded and committed at once: if this node dies, the player
		// is in the zone's checkpoint, and any node can send it there.
		n.Track(p.Name(), zoneName(1))
		g.commit(t, g.zones[1])
		return nil
	}
	g.join(p)
	return nil
}

// Update refills movement allowances and respawns tanks, runs this tick's
// inputs through the typed handlers in arrival order, then runs the world
// (bots, chests) and sends every player its view.
func (g *Game) Update(t *server.Tick) {
	g.tick = t
	if g.opts.node != nil {
		g.deliverChat()
	}
	g.begin(t.N, t.Now)
	g.handlers.Dispatch(t)
	g.end()
	g.tick = nil
}

// Leave removes the player's tank.
func (g *Game) Leave(t *server.Tick, p *server.Player, reason error) {
	g.tick = t
	defer func() { g.tick = nil }()
	g.leave(p)
}

// Disconnected keeps the player's tank in the world, standing still, while
// the server holds the seat (server.SeatHolder).
func (g *Game) Disconnected(t *server.Tick, p *server.Player, reason error) {
	g.disconnect(p)
}

// Reconnected sends a resumed player a fresh snapshot of its view.
func (g *Game) Reconnected(t *server.Tick, p *server.Player) {
	g.reconnect(p)
	if g.opts.node != nil {
		// The resume gave the player a new seat token; commit it before
		// the client hears it (SEAT goes out after this tick), so that a
		// node dying now is restored with the token the client holds.
		if pl := g.players[p.ID()]; pl != nil {
			g.commit(t, pl.tank.zone)
		}
	}
}

var _ server.SeatHolder = (*Game)(nil)

// register declares the arena's handler for every message a client may
// send (the arena's, and replica's DESYNC).
func (g *Game) register() {
	on(g, (*sim).onMove)
	on(g, (*sim).onDrive)
	on(g, (*sim).onGo)
	on(g, (*sim).onTurn)
	on(g, (*sim).onAim)
	on(g, (*sim).onApply)
	on(g, (*sim).onMode)
	on(g, (*sim).onWatch)
	on(g, (*sim).onFire)
	on(g, (*sim).onOpen)
	on(g, (*sim).onClose)
	on(g, (*sim).onTake)
	on(g, (*sim).onPut)
	on(g, (*sim).onLook)
	on(g, (*sim).onSay)
	on(g, (*sim).onDesync)
	server.HandleInput(&g.handlers, func(t *server.Tick, in server.Input, m *Who) error {
		if g.players[in.Player.ID()] == nil {
			return nil
		}
		g.who(t, in.Player, in)
		return nil
	})
	// Items change hands only through these; each is committed before the
	// player hears of it (durable).
	g.durableRules = map[reflect.Type]bool{reflect.TypeFor[Take](): true, reflect.TypeFor[Put](): true,
		reflect.TypeFor[Apply](): true, reflect.TypeFor[Open](): true}
}

// on registers rule as the handler of messages of type T with
// server.HandleInput: the server answers a refusal it returns with ERR,
// tagged with the request's id. The rule gets the sender's player (an
// input from a player the arena no longer has is ignored) and the Input,
// whose request id a rule answers with peer.Reply; in.Player and in.Type
// may be nil (see handle), so rules use neither.
func on[T any](g *Game, rule func(g *sim, pl *player, in server.Input, m *T) error) {
	call := func(p peer, in server.Input, m *T) error {
		pl := g.players[p.ID()]
		if pl == nil {
			return nil
		}
		pl.lastInput, pl.warned = g.n, false
		if pl.leaving {
			return server.Refuse("moving", "your tank is crossing to another zone; wait a moment")
		}
		if g.tick != nil && g.durableRules[reflect.TypeFor[T]()] {
			return g.durable(g.tick, pl, func() error { return rule(&g.sim, pl, in, m) })
		}
		return rule(&g.sim, pl, in, m)
	}
	server.HandleInput(&g.handlers, func(t *server.Tick, in server.Input, m *T) error {
		return call(in.Player, in, m)
	})
	g.direct[reflect.TypeFor[T]()] = func(p peer, in server.Input) error { return call(p, in, in.Msg.(*T)) }
}

// handle runs the handler of m, with request id rid, from p: what Update
// does through server.Handlers, for tests and benchmarks that drive the
// rules with fake players instead of a server. The caller answers a
// returned refusal as the server would.
func (g *Game) handle(p peer, m any, rid uint32) error {
	fn := g.direct[reflect.TypeOf(m).Elem()]
	if fn == nil {
		return server.Refuse("unhandled", "%T is not handled by the arena", m)
	}
	return fn(p, server.Input{Msg: m, RID: rid})
}

// peer is what the arena needs of a player: *server.Player provides it,
// and tests and benchmarks provide fakes.
type peer interface {
	ID() uint64
	Name() string
	Send(m any)
	Reply(in server.Input, m any)
	Encoding() msg.Encoding
	Logger() *slog.Logger
	Strike(reason string)
}

var _ peer = (*server.Player)(nil)
