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
// 3, AIM <tank id>, FIRE, OPEN <chest id>, TAKE 0, APPLY medkit ... (HELP
// lists them all). A text connection starts in human mode: instead of the
// sync stream it gets readable lines (who comes into view, who hits you),
// and MODE sync turns the sync protocol on for programs. JSON and
// MessagePack connections get the sync protocol from the start. Clients
// that predict their movement send DRIVE seq x y instead of MOVE and
// reconcile on ACK (see Step).
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
// w, ne, nw, se, sw (or north, ..., southwest): a MOVE for people typing.
type Go struct {
	Dir   string `tw:"dir,max=9"`
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

// Mode switches what the connection receives: "human" (readable lines,
// the default for a text connection) or "sync" (the world-sync protocol
// of docs/SYNC.md, the default for JSON and MessagePack). Without Mode it
// tells the current mode.
type Mode struct {
	Mode string `tw:"mode,optional,max=8"`
}

// Aim turns your gun towards tank ID and keeps it on that tank while it
// stays in view, until you TURN or aim elsewhere; ID 0 aims at the
// nearest tank in view.
type Aim struct {
	ID uint32 `tw:"id,optional"`
}

// Apply uses an item of your inventory: Item is a slot, 0-3, or an item
// name (medkit, ammo, key).
type Apply struct {
	Item string `tw:"item,max=8"`
}

// Watch asks for a one-line status every Seconds seconds (0 stops it).
type Watch struct {
	Seconds int32 `tw:"seconds,min=0,max=600"`
}

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
	IDMode  = 55
	IDAim   = 56
	IDApply = 57
	IDWatch = 58
)

// Register defines the arena's messages, and replica's, in reg.
func Register(reg *msg.Registry) {
	replica.Register(reg)
	info := []string{"INFO", "ERR"}
	msg.Define[Move](reg, msg.Info{ID: IDMove, Name: "MOVE", Dir: msg.ToServer, Causes: []string{"POS", "SPAWN", "ERR", "INFO"},
		Doc: "drive to x y (units, 10 per tile; at most 60 a second, not through walls); answered by POS"})
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
	msg.Define[Drive](reg, msg.Info{ID: IDDrive, Name: "DRIVE", Dir: msg.ToServer, Causes: []string{"ACK", "POS", "SPAWN", "ERR", "INFO"},
		Doc: "MOVE as numbered input seq, for predicting clients: DRIVE seq x y; answered by ACK"})
	msg.Define[Go](reg, msg.Info{ID: IDGo, Name: "GO", Dir: msg.ToServer, Causes: []string{"POS", "SPAWN", "ERR", "INFO"},
		Doc: "drive n|s|e|w|ne|nw|se|sw (or north ... southwest), 1-6 tiles (default 1), stopping at walls; onto an O (portal) to change zone"})
	msg.Define[Turn](reg, msg.Info{ID: IDTurn, Name: "TURN", Dir: msg.ToServer, Causes: []string{"ERR"},
		Doc: "aim at deg degrees: 0 east, 90 south, 180 west, 270 north"})
	msg.Define[Fire](reg, msg.Info{ID: IDFire, Name: "FIRE", Dir: msg.ToServer, Causes: info,
		Doc: "shoot along your heading: the first tank within 10 tiles loses 25 hp (twice a second); at 0 hp it is destroyed and respawns 3 s later"})
	msg.Define[Open](reg, msg.Info{ID: IDOpen, Name: "OPEN", Dir: msg.ToServer, Causes: info,
		Doc: "open chest id (within 2.5 tiles and in sight; a locked chest needs a key)"})
	msg.Define[Close](reg, msg.Info{ID: IDClose, Name: "CLOSE", Dir: msg.ToServer, Causes: info,
		Doc: "close your open chest"})
	msg.Define[Take](reg, msg.Info{ID: IDTake, Name: "TAKE", Dir: msg.ToServer, Causes: info,
		Doc: "take the item in chest slot 0-5: gold scores 1 and a gem 3, the rest goes to your inventory"})
	msg.Define[Put](reg, msg.Info{ID: IDPut, Name: "PUT", Dir: msg.ToServer, Causes: info,
		Doc: "put the item in inventory slot 0-3 into the open chest"})
	// LOOK answers with a screenful of INFO lines.
	msg.Define[Look](reg, msg.Info{ID: IDLook, Name: "LOOK", Dir: msg.ToServer, Causes: []string{"INFO"},
		Doc: "describe what you see (12 tiles around you, not through walls), with a map", Rate: 2, Burst: 4})
	msg.Define[Mode](reg, msg.Info{ID: IDMode, Name: "MODE", Dir: msg.ToServer, Causes: []string{"INFO", "ERR", "SPAWN"},
		Doc: "MODE human: readable lines (the default on a text connection); MODE sync: the world-sync protocol for programs (docs/SYNC.md)", Rate: 1, Burst: 4})
	msg.Define[Aim](reg, msg.Info{ID: IDAim, Name: "AIM", Dir: msg.ToServer, Causes: info,
		Doc: "turn your gun to tank id and keep it there while it is in view (no id: the nearest tank); then FIRE"})
	msg.Define[Apply](reg, msg.Info{ID: IDApply, Name: "APPLY", Dir: msg.ToServer, Causes: info,
		Doc: "use an item of your inventory, by slot 0-3 or name: a medkit heals 50, ammo loads 3 heavy shells (50 damage a hit)"})
	msg.Define[Watch](reg, msg.Info{ID: IDWatch, Name: "WATCH", Dir: msg.ToServer, Causes: []string{"INFO"},
		Doc: "a one-line status every seconds seconds; WATCH 0 stops it", Rate: 1, Burst: 4})
}

// Banner is the line new connections see, for a server with the default
// login and idle timeouts: BannerFor(addr, 0, 0).
func Banner(addr string) string { return BannerFor(addr, 0, 0) }

// BannerFor is the line new connections see: where they are, how long
// they have to log in (the server's login timeout) and how to stay
// connected (its idle timeout). Zero durations stand for the server's
// defaults.
func BannerFor(addr string, login, idle time.Duration) string {
	if login <= 0 {
		login = server.DefaultLoginTimeout
	}
	if idle <= 0 {
		idle = server.DefaultIdleTimeout
	}
	return fmt.Sprintf("tickwire arena on %s: type AUTH guest within %s to play, then LOOK; HELP lists commands; "+
		"a connection silent for %s is closed, and a blank line counts", addr, human(login), human(idle))
}

// human writes a duration for people: 5 s, 2 min, 1.5 s.
func human(d time.Duration) string {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	}
	return fmt.Sprintf("%g s", d.Seconds())
}

// DefaultBots is how many server-driven tanks roam the arena by default.
const DefaultBots = 6

type options struct {
	bots int
	sync replica.Config
	seed uint64
	idle time.Duration
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

// WithIdleTimeout tells the arena the server's idle timeout (default
// server.DefaultIdleTimeout), so that it can warn a player in human mode
// who has typed nothing for a while.
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idle = d } }

// Game is the arena, a server.Game. Create it with New.
type Game struct {
	sim
}

// New returns an arena with its zones, chests and bots in place. It panics
// if the embedded maps are broken, which a test catches.
func New(opts ...Option) *Game {
	o := options{bots: DefaultBots, seed: 1, idle: server.DefaultIdleTimeout}
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
