package arena

import (
	"fmt"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// Move asks to drive your tank to X, Y (units; a tile is Unit): the form
// for people typing. The server answers POS with where the tank is.
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
// RespawnDelay.
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

// Open opens chest ID, which must be within reach and in sight. The
// answer (to the request's id) is an INFO line with the chest's slots.
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

// Who asks who is online: on every node of the cluster, or on this server.
type Who struct{}

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
	IDWho   = 59
)

// Register defines the arena's messages, and replica's, in reg. Each
// client message's Causes lists every message its handler may send, to
// the sender or to anyone else (the tests run with
// server.Config.CheckCauses); its Doc, which HELP shows, takes the rules'
// numbers from their constants.
func Register(reg *msg.Registry) {
	replica.Register(reg)
	info := []string{"INFO", "ERR"}
	// A move may take the tank through a portal (SPAWN, INFO) and close
	// its chest (INFO).
	moved := []string{"POS", "SPAWN", "ERR", "INFO"}
	msg.Define[Move](reg, msg.Info{ID: IDMove, Name: "MOVE", Dir: msg.ToServer, Causes: moved,
		Doc: fmt.Sprintf("drive to x y (units, %d per tile; at most %d a second, not through walls); answered by POS", Unit, Speed)})
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
	msg.Define[Drive](reg, msg.Info{ID: IDDrive, Name: "DRIVE", Dir: msg.ToServer, Causes: append([]string{"ACK"}, moved...),
		Doc: "MOVE as numbered input seq, for predicting clients: DRIVE seq x y; answered by ACK"})
	msg.Define[Go](reg, msg.Info{ID: IDGo, Name: "GO", Dir: msg.ToServer, Causes: moved,
		Doc: fmt.Sprintf("drive n|s|e|w|ne|nw|se|sw (or north ... southwest), 1-%d tiles (default 1), stopping at walls; onto an O (portal) to change zone", maxGoTiles)})
	msg.Define[Turn](reg, msg.Info{ID: IDTurn, Name: "TURN", Dir: msg.ToServer, Causes: []string{"ERR"},
		Doc: "aim at deg degrees: 0 east, 90 south, 180 west, 270 north"})
	// A shot tells the tank it destroys (GONE, INFO).
	msg.Define[Fire](reg, msg.Info{ID: IDFire, Name: "FIRE", Dir: msg.ToServer, Causes: []string{"INFO", "GONE", "ERR"},
		Doc: fmt.Sprintf("shoot along your heading: the first tank within %d tiles loses %d hp (%s); at 0 hp it is destroyed and respawns %s later",
			FireRange/Unit, Damage, howOften(FireCooldown), human(RespawnDelay))})
	msg.Define[Open](reg, msg.Info{ID: IDOpen, Name: "OPEN", Dir: msg.ToServer, Causes: info,
		Doc: fmt.Sprintf("open chest id (within %s tiles and in sight; a locked chest needs a key)", tiles(ChestReach))})
	msg.Define[Close](reg, msg.Info{ID: IDClose, Name: "CLOSE", Dir: msg.ToServer, Causes: info,
		Doc: "close your open chest"})
	msg.Define[Take](reg, msg.Info{ID: IDTake, Name: "TAKE", Dir: msg.ToServer, Causes: info,
		Doc: fmt.Sprintf("take the item in chest slot 0-%d: gold scores %d and a gem %d, the rest goes to your inventory", ChestSlots-1, GoldScore, GemScore)})
	msg.Define[Put](reg, msg.Info{ID: IDPut, Name: "PUT", Dir: msg.ToServer, Causes: info,
		Doc: fmt.Sprintf("put the item in inventory slot 0-%d into the open chest", InvSlots-1)})
	// LOOK answers with a screenful of INFO lines.
	msg.Define[Look](reg, msg.Info{ID: IDLook, Name: "LOOK", Dir: msg.ToServer, Causes: []string{"INFO"},
		Doc: fmt.Sprintf("describe what you see (%d tiles around you, not through walls), with a map", ViewRadius/Unit), Rate: 2, Burst: 4})
	msg.Define[Mode](reg, msg.Info{ID: IDMode, Name: "MODE", Dir: msg.ToServer, Causes: []string{"INFO", "ERR", "SPAWN"},
		Doc: "MODE human: readable lines (the default on a text connection); MODE sync: the world-sync protocol for programs (docs/SYNC.md)", Rate: 1, Burst: 4})
	msg.Define[Aim](reg, msg.Info{ID: IDAim, Name: "AIM", Dir: msg.ToServer, Causes: info,
		Doc: "turn your gun to tank id and keep it there while it is in view (no id: the nearest tank); then FIRE"})
	msg.Define[Apply](reg, msg.Info{ID: IDApply, Name: "APPLY", Dir: msg.ToServer, Causes: info,
		Doc: fmt.Sprintf("use an item of your inventory, by slot 0-%d or name: a medkit heals %d, ammo loads %d heavy shells (%d damage a hit)", InvSlots-1, MedkitHeal, HeavyShells, 2*Damage)})
	msg.Define[Watch](reg, msg.Info{ID: IDWatch, Name: "WATCH", Dir: msg.ToServer, Causes: []string{"INFO"},
		Doc: "a one-line status every seconds seconds; WATCH 0 stops it", Rate: 1, Burst: 4})
	msg.Define[Who](reg, msg.Info{ID: IDWho, Name: "WHO", Dir: msg.ToServer, Causes: []string{"INFO"},
		Doc: "list the players online, on every server of the cluster", Rate: 1, Burst: 2})
}

// maxGoTiles is the most tiles one GO drives (Go.Tiles' max).
const maxGoTiles = 6
