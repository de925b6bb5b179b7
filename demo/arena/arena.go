// Package arena is tickwire's demo game: tanks in three walled zones linked
// by portals. Tanks move, turn and fire; a destroyed tank respawns; chests
// hold items that tanks take and put back, and everyone with a chest open
// sees its contents change. Every rule runs on the server; clients send
// intentions and proposed moves, which the server validates.
//
// The world is synchronised with package replica: the arena sets entity
// fields and replica sends each player only what it may see (within
// ViewRadius and not behind a wall), with snapshots on entering a zone,
// deltas, merged events, periodic resync and input acknowledgements for
// client-side prediction (see Step).
//
// It is playable from nc in the text encoding: AUTH guest, then LOOK, GO e
// 3, MOVE 120 40, TURN 90, FIRE, OPEN <chest id>, TAKE 0 ... (HELP lists
// them all). Clients that predict their movement send DRIVE seq x y instead
// of MOVE and reconcile on ACK (see Step).
package arena

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
)

// Move asks to drive your tank to X, Y (units; a tile is 10): the form for
// people typing. The server answers POS with where the tank is.
type Move struct {
	X int32 `tw:"x,min=0,max=1000"`
	Y int32 `tw:"y,min=0,max=1000"`
}

// Drive is Move for clients that predict their own movement: input number
// Seq proposes the position X, Y. The server answers ACK Seq with the
// tank's authoritative fields, after applying or refusing the move.
type Drive struct {
	Seq uint32 `tw:"seq"`
	X   int32  `tw:"x,min=0,max=1000"`
	Y   int32  `tw:"y,min=0,max=1000"`
}

// Pos tells a player where its tank is: the answer to MOVE and GO.
type Pos struct {
	ID uint64 `tw:"id"`
	X  int32  `tw:"x"`
	Y  int32  `tw:"y"`
}

// Spawn tells a player its tank appeared: on joining, respawning or coming
// through a portal.
type Spawn struct {
	ID   uint64 `tw:"id"`
	Name string `tw:"name,max=64"`
	X    int32  `tw:"x"`
	Y    int32  `tw:"y"`
}

// Gone tells a player its tank was destroyed; it respawns after
// RespawnTicks.
type Gone struct {
	ID uint64 `tw:"id"`
}

// Go moves your tank Tiles tiles (default 1) towards Dir, one of n, s, e,
// w, ne, nw, se, sw: a MOVE for people typing.
type Go struct {
	Dir   string `tw:"dir,max=2"`
	Tiles int32  `tw:"tiles,optional,min=0,max=6"`
}

// Turn points your gun at Deg degrees: 0 east, 90 south, 180 west, 270
// north.
type Turn struct {
	Deg int32 `tw:"deg,min=0,max=359"`
}

// Fire shoots along your heading.
type Fire struct{}

// Open opens chest ID, which must be within reach and in sight.
type Open struct {
	ID uint32 `tw:"id"`
}

// Close closes the chest you have open.
type Close struct{}

// Take moves the item in slot Slot of your open chest to your inventory.
type Take struct {
	Slot int32 `tw:"slot,min=0,max=5"`
}

// Put moves the item in slot Slot of your inventory to your open chest.
type Put struct {
	Slot int32 `tw:"slot,min=0,max=3"`
}

// Look asks for a text description of what you see.
type Look struct{}

// Say sends a chat line to everyone.
type Say struct {
	Text string `tw:"text,max=200,rest"`
}

// Chat is a chat line from a player.
type Chat struct {
	From string `tw:"from,max=64"`
	Text string `tw:"text,max=200,rest"`
}

// Arena message ids. 40-45 are those of the first arena, kept stable.
const (
	IDMove  = 40
	IDSay   = 41
	IDPos   = 42
	IDSpawn = 43
	IDGone  = 44
	IDChat  = 45
	IDDrive = 46
	IDGo    = 47
	IDTurn  = 48
	IDFire  = 49
	IDOpen  = 50
	IDClose = 51
	IDTake  = 52
	IDPut   = 53
	IDLook  = 54
)

// Register defines the arena's messages, and replica's, in reg.
func Register(reg *msg.Registry) {
	replica.Register(reg)
	info := []string{"INFO", "ERR"}
	msg.Define[Move](reg, msg.Info{ID: IDMove, Name: "MOVE", Dir: msg.ToServer, Causes: []string{"POS", "SPAWN", "ERR"},
		Doc: "drive to x y (units, 10 per tile; at most 60/s, not through walls); answered by POS"})
	// SAY is sent to every player: its limit bounds what one flooder
	// makes everyone else receive.
	msg.Define[Say](reg, msg.Info{ID: IDSay, Name: "SAY", Dir: msg.ToServer, Causes: []string{"CHAT", "ERR"},
		Doc: "chat to everyone", Rate: 2, Burst: 5})
	msg.Define[Pos](reg, msg.Info{ID: IDPos, Name: "POS", Dir: msg.ToClient,
		Doc: "where your tank is: id x y"})
	msg.Define[Spawn](reg, msg.Info{ID: IDSpawn, Name: "SPAWN", Dir: msg.ToClient,
		Doc: "your tank appeared (join, respawn, portal): id name x y"})
	msg.Define[Gone](reg, msg.Info{ID: IDGone, Name: "GONE", Dir: msg.ToClient,
		Doc: "your tank was destroyed: id"})
	msg.Define[Chat](reg, msg.Info{ID: IDChat, Name: "CHAT", Dir: msg.ToClient,
		Doc: "a chat line: from text"})
	msg.Define[Drive](reg, msg.Info{ID: IDDrive, Name: "DRIVE", Dir: msg.ToServer, Causes: []string{"ACK", "SPAWN", "ERR"},
		Doc: "MOVE as numbered input seq, for predicting clients: DRIVE seq x y; answered by ACK"})
	msg.Define[Go](reg, msg.Info{ID: IDGo, Name: "GO", Dir: msg.ToServer, Causes: []string{"POS", "SPAWN", "ERR"},
		Doc: "drive n|s|e|w|ne|nw|se|sw, 1-6 tiles (default 1), stopping at walls"})
	msg.Define[Turn](reg, msg.Info{ID: IDTurn, Name: "TURN", Dir: msg.ToServer, Causes: []string{"ERR"},
		Doc: "aim at deg degrees: 0 east, 90 south, 180 west, 270 north"})
	msg.Define[Fire](reg, msg.Info{ID: IDFire, Name: "FIRE", Dir: msg.ToServer, Causes: info,
		Doc: "shoot along your heading (range 10 tiles, 25 damage, twice a second)"})
	msg.Define[Open](reg, msg.Info{ID: IDOpen, Name: "OPEN", Dir: msg.ToServer, Causes: info,
		Doc: "open chest id (within 2.5 tiles); its contents then arrive as DELTA"})
	msg.Define[Close](reg, msg.Info{ID: IDClose, Name: "CLOSE", Dir: msg.ToServer, Causes: info,
		Doc: "close your open chest"})
	msg.Define[Take](reg, msg.Info{ID: IDTake, Name: "TAKE", Dir: msg.ToServer, Causes: info,
		Doc: "take the item in chest slot 0-5 into your inventory"})
	msg.Define[Put](reg, msg.Info{ID: IDPut, Name: "PUT", Dir: msg.ToServer, Causes: info,
		Doc: "put the item in inventory slot 0-3 into the open chest"})
	// LOOK answers with a screenful of INFO lines.
	msg.Define[Look](reg, msg.Info{ID: IDLook, Name: "LOOK", Dir: msg.ToServer, Causes: []string{"INFO"},
		Doc: "describe what you see, with a map around you", Rate: 2, Burst: 4})
}

// Banner is the line new connections see.
func Banner(addr string) string {
	return fmt.Sprintf("tickwire arena on %s: AUTH guest to play, then LOOK; HELP lists commands", addr)
}

// DefaultBots is how many server-driven tanks roam the arena by default.
const DefaultBots = 6

type options struct {
	bots int
	sync replica.Config
	seed uint64
}

// Option configures New.
type Option func(*options)

// WithBots sets how many server-driven tanks roam the zones (default
// DefaultBots).
func WithBots(n int) Option { return func(o *options) { o.bots = max(n, 0) } }

// WithSync tunes world synchronisation: budget, resync period, tick rate.
// The arena sets Radius, Visible and FieldMask itself; Drop is kept (a test
// hook).
func WithSync(cfg replica.Config) Option { return func(o *options) { o.sync = cfg } }

// WithSeed seeds the bots' choices and the chests' contents (default 1).
func WithSeed(seed uint64) Option { return func(o *options) { o.seed = seed } }

// Game is the arena, a server.Game. Create it with New.
type Game struct {
	sim
}

// New returns an arena with its zones, chests and bots in place. It panics
// if the embedded maps are broken, which a test catches.
func New(opts ...Option) *Game {
	o := options{bots: DefaultBots, seed: 1}
	for _, f := range opts {
		f(&o)
	}
	g := &Game{}
	if err := g.init(o); err != nil {
		panic(err)
	}
	return g
}

// World returns the replicated world, for tools and tests.
func (g *Game) World() *replica.World { return g.w }

// Join gives the player a tank at a spawn point of the first zone.
func (g *Game) Join(t *server.Tick, p *server.Player) error {
	g.join(p)
	return nil
}

// Update applies this tick's inputs in arrival order, runs the world (bots,
// respawns, chests) and sends every player its view.
func (g *Game) Update(t *server.Tick) {
	g.begin(t.N, t.Dt)
	for _, in := range t.Inputs {
		if err := g.handle(in.Player, in.Msg); err != nil {
			var r *server.Refusal
			if errors.As(err, &r) {
				in.Player.Error(in, r.Code, r.Text)
			} else {
				in.Player.Error(in, "refused", err.Error())
			}
		}
	}
	g.end()
}

// Leave removes the player's tank.
func (g *Game) Leave(t *server.Tick, p *server.Player, reason error) {
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
}

var _ server.SeatHolder = (*Game)(nil)

// peer is what the arena needs of a player: *server.Player provides it,
// and tests and benchmarks provide fakes.
type peer interface {
	ID() uint64
	Name() string
	Send(m any)
	Encoding() msg.Encoding
	Logger() *slog.Logger
	Strike(reason string)
}

var _ peer = (*server.Player)(nil)

// tickDuration is the default tick period, for code that runs outside a
// server tick.
const tickDuration = time.Second / 20
