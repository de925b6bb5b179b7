package arena

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
)

type tank struct {
	id        replica.EntityID
	owner     *player // nil for a bot
	zone      *zoneMap
	bank      float64 // movement allowance in units: Speed a second, at most MaxBank seconds of it
	respawnAt uint64  // tick; 0 while alive
	readyAt   uint64  // tick the gun may fire again
	ctl       Control
	ctlUntil  uint64
	shells    int              // heavy shells loaded (APPLY ammo)
	aim       replica.EntityID // the tank the gun follows (AIM), or 0
}

type player struct {
	peer         peer
	tank         *tank
	view         *replica.Viewer
	lastSeq      uint32
	offences     int
	firstOffence uint64
	open         replica.EntityID // open chest, or 0
	leaving      bool             // a handoff to another node is under way
	dropped      bool             // taken out of the world (handed off, zone released)

	// Human mode (human.go): the viewer's output goes to narr, which
	// turns it into readable lines, instead of to the connection.
	human     bool
	narr      *narrator
	connected bool   // false while the seat is held
	lastInput uint64 // tick of the last game message
	warned    bool   // the idle warning went out since lastInput
	watch     uint64 // WATCH period in ticks, or 0
	nextWatch uint64 // tick of the next WATCH line
}

type chest struct {
	id       replica.EntityID
	zone     *zoneMap
	lockable bool // relocks when it is restocked
}

// sim is the arena's rules engine, independent of server.Player so that
// tests and benchmarks can drive it with fake players. Game drives it: begin,
// a handler per input, end, once a tick.
type sim struct {
	opts     options
	w        *replica.World
	zones    map[int]*zoneMap
	zoneByID []*zoneMap
	players  map[uint64]*player
	order    []*player
	tanks    map[replica.EntityID]*tank
	tankList []*tank
	chests   map[replica.EntityID]*chest
	chestIDs []replica.EntityID // in creation order, for restocking
	rng      *rand.Rand
	loot     *rand.Rand // restocking, apart from rng so bots drive as before
	n        uint64
	now      time.Time // the tick's time
	rate     int       // ticks per second: the server's
	// The rules' times in ticks at rate.
	cooldownTicks, respawnTicks, strikeTicks, restockTicks uint64

	// In a cluster (cluster.go).
	tick    *server.Tick // the tick being run, inside Update
	running map[int]bool // zones this node runs
	ledgers map[int]*ledger
}

// init builds the world at rate ticks per second: the zones (already
// loaded into g.zones), their chests and the bots.
func (g *sim) init(rate int) error {
	o := g.opts
	zones := g.zones
	g.rate = rate
	g.cooldownTicks = g.ticksFor(FireCooldown)
	g.respawnTicks = g.ticksFor(RespawnDelay)
	g.strikeTicks = g.ticksFor(StrikeWindow)
	g.restockTicks = g.ticksFor(RestockPeriod)
	g.zoneByID = make([]*zoneMap, len(zones)+1)
	for id, z := range zones {
		g.zoneByID[id] = z
	}
	cfg := o.sync
	cfg.TickRate = rate
	if cfg.ResyncPeriod == 0 {
		cfg.ResyncPeriod = ResyncPeriod
	}
	cfg.Radius = ViewRadius
	cfg.Visible = g.visible
	cfg.FieldMask = g.fieldMask
	var err error
	g.w, err = replica.NewWorld(cfg, Kinds...)
	if err != nil {
		return err
	}
	g.players = map[uint64]*player{}
	g.tanks = map[replica.EntityID]*tank{}
	g.chests = map[replica.EntityID]*chest{}
	g.rng = rand.New(rand.NewPCG(o.seed, 0x7a11))
	g.loot = rand.New(rand.NewPCG(o.seed, 0x100f))
	for id := 1; id <= len(zones); id++ {
		z := zones[id]
		if err := g.w.AddZone(replica.ZoneDef{ID: id, W: z.w, H: z.h, Unit: Unit, Tiles: z.tiles}); err != nil {
			return err
		}
		for _, c := range z.chests {
			cid := g.w.Spawn(KindChest, id, center(c.x), center(c.y), "chest")
			for s := 0; s < ChestSlots; s++ {
				if g.rng.IntN(2) == 0 {
					item := int32(1 + g.rng.IntN(len(ItemNames)-1))
					if c.locked && item == ItemGold {
						item = ItemGem // a locked chest is worth the key
					}
					g.w.Set(cid, ChestSlot0+s, item)
					g.created(z, item)
				}
			}
			if c.locked {
				g.w.Set(cid, ChestLocked, 1)
			}
			g.chests[cid] = &chest{id: cid, zone: z, lockable: c.locked}
			g.chestIDs = append(g.chestIDs, cid)
		}
	}
	for i := 0; i < o.bots; i++ {
		z := zones[1+i%len(zones)]
		g.spawnTank(z, fmt.Sprintf("bot-%d", i+1), nil)
	}
	g.w.Flush()
	return nil
}

func (g *sim) spawnTank(z *zoneMap, name string, owner *player) *tank {
	x, y := z.spawnPoint()
	id := g.w.Spawn(KindTank, z.id, x, y, name)
	g.w.Set(id, TankHP, MaxHP)
	t := &tank{id: id, owner: owner, zone: z, bank: Speed * MaxBank}
	g.tanks[id] = t
	g.tankList = append(g.tankList, t)
	return t
}

// visible is the replica Visible hook: line of sight on the tile map.
func (g *sim) visible(v *replica.Viewer, e replica.Entity) bool {
	z := g.zoneByID[e.Zone]
	vx, vy := v.Pos()
	ax, ay := z.tileXY(vx, vy)
	bx, by := z.tileXY(e.X, e.Y)
	return z.seesXY(ax, ay, bx, by)
}

// fieldMask is the replica FieldMask hook: inventories are private to
// their owner, chest contents to the tanks that have the chest open.
func (g *sim) fieldMask(v *replica.Viewer, e replica.Entity) uint16 {
	switch e.Kind {
	case KindTank:
		if e.ID == v.Followed() {
			return 0xFFFF
		}
		return tankPublic
	case KindChest:
		if pl, ok := v.Data.(*player); ok && pl.open == e.ID {
			return 0xFFFF
		}
		return chestPublic
	}
	return 0xFFFF
}

func (g *sim) pos(id replica.EntityID) Point {
	return Point{g.w.Get(id, replica.FieldX), g.w.Get(id, replica.FieldY)}
}

func (t *tank) dead() bool { return t.respawnAt != 0 }

// join gives p a tank. A text connection starts in human mode, JSON and
// MessagePack ones in sync mode.
func (g *sim) join(p peer) *player {
	pl := &player{peer: p, human: p.Encoding() == msg.Text, connected: true, lastInput: g.n}
	pl.tank = g.spawnTank(g.zones[1], p.Name(), pl)
	g.attach(pl)
	g.players[p.ID()] = pl
	g.order = append(g.order, pl)
	g.tellSpawn(pl)
	at := g.pos(pl.tank.id)
	p.Send(&msg.Notice{Text: fmt.Sprintf("you drive tank %d in zone 1 (%s) at tile %d,%d; LOOK to look around, HELP for commands",
		pl.tank.id, g.zones[1].name, at.X/Unit, at.Y/Unit)})
	if pl.human {
		p.Send(&msg.Notice{Text: "human mode: you get readable lines, not the sync stream (MODE sync turns it on); AIM <tank id> then FIRE to shoot, OPEN <chest id> to open a chest"})
	}
	return pl
}

// attach gives pl a viewer that follows its tank: its output goes to the
// connection in sync mode, or to a narrator in human mode.
func (g *sim) attach(pl *player) {
	var out replica.Sender = pl.peer
	pl.narr = nil
	if pl.human {
		pl.narr = newNarrator(g, pl)
		out = pl.narr
	}
	pl.view = g.w.AddViewer(out)
	pl.view.Data = pl
	pl.view.Follow(pl.tank.id)
}

func (g *sim) leave(p peer) {
	pl := g.players[p.ID()]
	if pl == nil {
		return
	}
	g.closeChest(pl, false)
	// What the tank carried leaves the world with its player.
	for i := 0; i < InvSlots; i++ {
		g.gone(pl.tank.zone, g.w.Get(pl.tank.id, TankInv0+i))
	}
	g.w.Remove(pl.tank.id)
	g.w.RemoveViewer(pl.view)
	delete(g.tanks, pl.tank.id)
	g.tankList = deleteItem(g.tankList, pl.tank)
	delete(g.players, p.ID())
	g.order = deleteItem(g.order, pl)
	if n := g.opts.node; n != nil && g.tick != nil {
		n.Forget(p.Name())
		g.commit(g.tick, pl.tank.zone)
	}
}

// disconnect is called when p's connection drops and its seat is held:
// the tank stays where it is and can be shot (it moves only on its
// player's input), any open chest closes, and the player's view stops.
func (g *sim) disconnect(p peer) {
	pl := g.players[p.ID()]
	if pl == nil {
		return
	}
	g.closeChest(pl, false)
	// A removed viewer is sent nothing; Ack on it (a respawn) is harmless.
	g.w.RemoveViewer(pl.view)
	pl.connected = false
}

// reconnect is called when p resumed its seat on a new connection, whose
// client holds nothing: a fresh viewer sends it a full snapshot of what
// it may see, and, if its tank is alive, the SPAWN tells its predictor
// where it is. The owner of a destroyed tank learns it from the snapshot
// (the tank's dead field) and gets SPAWN when it respawns.
func (g *sim) reconnect(p peer) {
	pl := g.players[p.ID()]
	if pl == nil {
		return
	}
	g.w.RemoveViewer(pl.view)
	pl.peer = p
	pl.connected, pl.lastInput, pl.warned = true, g.n, false
	if p.Encoding() != msg.Text {
		pl.human = false // a program resumed: JSON and MessagePack get sync
	}
	g.attach(pl)
	pl.view.Ack(pl.lastSeq)
	at := g.pos(pl.tank.id)
	if pl.tank.dead() {
		p.Send(&msg.Notice{Text: fmt.Sprintf("welcome back: your tank %d is destroyed and respawns in %s", pl.tank.id, g.secondsLeft(pl.tank.respawnAt))})
		return
	}
	g.tellSpawn(pl)
	p.Send(&msg.Notice{Text: fmt.Sprintf("welcome back: you drive tank %d at %d,%d", pl.tank.id, at.X, at.Y)})
}

func deleteItem[T comparable](s []T, x T) []T {
	for i, y := range s {
		if y == x {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// begin starts tick n, which runs at now: movement allowances refill for
// the time since the last tick (Speed a second, in real time: a tick the
// server's clock skipped under load does not cost a tank its movement)
// and destroyed tanks whose time is up respawn.
func (g *sim) begin(n uint64, now time.Time) {
	elapsed := time.Second / time.Duration(g.rate) // the first tick
	if !g.now.IsZero() {
		elapsed = min(max(now.Sub(g.now), 0), time.Duration(MaxBank*float64(time.Second)))
	}
	g.n, g.now = n, now
	refill := Speed * elapsed.Seconds()
	for _, t := range g.tankList {
		t.bank = math.Min(t.bank+refill, Speed*MaxBank)
	}
	for _, pl := range g.order {
		if pl.human && pl.connected && pl.peer.Encoding() != msg.Text {
			// A program switched encoding with USE: it wants sync.
			g.setMode(pl, false)
		}
	}
	for _, t := range g.tankList {
		if t.respawnAt != 0 && n >= t.respawnAt && g.live(t.zone) {
			t.respawnAt = 0
			x, y := t.zone.spawnPoint()
			g.w.SetPos(t.id, x, y)
			g.w.Set(t.id, TankHP, MaxHP)
			g.w.Set(t.id, TankDead, 0)
			if pl := t.owner; pl != nil {
				// Tell the client's predictor where it is now.
				pl.view.Ack(pl.lastSeq)
				g.tellSpawn(pl)
				if pl.human {
					g.note(pl, "your tank is back: respawned at tile %d,%d in zone %d (%s) with %d hp", x/Unit, y/Unit, t.zone.id, t.zone.name, MaxHP)
				}
			}
		}
	}
	if n%g.restockTicks == 0 && !g.opts.noRestock {
		g.restock()
	}
}

// end finishes the tick: bots drive, chests out of reach close, and every
// player is sent its view.
func (g *sim) end() {
	for _, t := range g.tankList {
		if t.owner == nil && !t.dead() && g.live(t.zone) {
			g.driveBot(t)
		}
	}
	for _, pl := range g.order {
		if pl.open != 0 && !g.canReach(pl, pl.open) {
			g.closeChest(pl, true)
		}
		g.track(pl)
	}
	g.w.Flush()
	for _, pl := range g.order {
		if pl.connected {
			g.afterFlush(pl)
		}
	}
}

// ticksFor converts d to ticks at the server's tick rate, rounding up (a
// rule never runs sooner than it says), and at least 1. It works from the
// integer rate, so that 0.5 s is exactly 30 ticks at 60 Hz although a
// 60 Hz tick is no whole number of nanoseconds.
func (g *sim) ticksFor(d time.Duration) uint64 {
	n := (uint64(max(d, 0))*uint64(g.rate) + uint64(time.Second) - 1) / uint64(time.Second)
	return max(n, 1)
}

// secondsLeft says, for people, how long until tick n: "2.5 s".
func (g *sim) secondsLeft(n uint64) string {
	left := uint64(0)
	if n > g.n {
		left = n - g.n
	}
	return fmt.Sprintf("%.1f s", float64(left)/float64(g.rate))
}

// note sends pl one INFO line, cut to INFO's limit.
func (g *sim) note(pl *player, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if len(text) > maxNote {
		text = text[:maxNote-3] + "..."
	}
	pl.peer.Send(&msg.Notice{Text: text})
}

// maxNote is the longest INFO text the arena sends (INFO allows 1024).
const maxNote = 1000

func (g *sim) driveBot(t *tank) {
	if g.n >= t.ctlUntil {
		for t.ctl == (Control{}) || g.rng.IntN(3) == 0 {
			t.ctl = Control{int8(g.rng.IntN(3) - 1), int8(g.rng.IntN(3) - 1)}
		}
		t.ctlUntil = g.n + g.ticksFor(BotSteer) + uint64(g.rng.IntN(int(g.ticksFor(BotSteerSpread))))
	}
	from := g.pos(t.id)
	to := Step(t.zone, from, t.ctl, g.rate)
	if tl, _ := t.zone.Tile(int(to.X/Unit), int(to.Y/Unit)); to == from || tl == TilePortal {
		t.ctl, t.ctlUntil = Control{}, 0 // blocked: pick another way next tick
		return
	}
	// Bots keep to the speed limit too: above Speed ticks a second a Step
	// is faster than Speed, and the allowance paces it.
	d := math.Hypot(float64(to.X-from.X), float64(to.Y-from.Y))
	if d > t.bank+1e-6 {
		return
	}
	t.bank -= d
	g.w.SetPos(t.id, to.X, to.Y)
	g.w.Set(t.id, TankHeading, Heading(from, to))
}

// The handlers of the client messages (Game.register). Each applies one
// input from pl; a returned error is the refusal the server answers with
// ERR.

func (g *sim) onMove(pl *player, in server.Input, m *Move) error {
	err := g.move(pl, Point{m.X, m.Y}, 0)
	g.tellPos(pl)
	return err
}

func (g *sim) onDrive(pl *player, in server.Input, m *Drive) error {
	pl.lastSeq = m.Seq
	pl.view.Ack(m.Seq)
	err := g.move(pl, Point{m.X, m.Y}, m.Seq)
	if pl.human {
		g.tellPos(pl) // the ACK goes to the narrator: answer as MOVE does
	}
	return err
}

func (g *sim) onGo(pl *player, in server.Input, m *Go) error { return g.goDir(pl, m) }

func (g *sim) onTurn(pl *player, in server.Input, m *Turn) error {
	if pl.tank.dead() {
		return errDead
	}
	pl.tank.aim = 0
	g.w.Set(pl.tank.id, TankHeading, m.Deg)
	return nil
}

func (g *sim) onAim(pl *player, in server.Input, m *Aim) error {
	return g.aimAt(pl, replica.EntityID(m.ID))
}

func (g *sim) onApply(pl *player, in server.Input, m *Apply) error { return g.apply(pl, m.Item) }

func (g *sim) onMode(pl *player, in server.Input, m *Mode) error { return g.mode(pl, m.Mode) }

func (g *sim) onWatch(pl *player, in server.Input, m *Watch) error {
	g.setWatch(pl, m.Seconds)
	return nil
}

func (g *sim) onFire(pl *player, in server.Input, m *Fire) error { return g.fire(pl) }

func (g *sim) onOpen(pl *player, in server.Input, m *Open) error {
	return g.openChest(pl, in, replica.EntityID(m.ID))
}

func (g *sim) onClose(pl *player, in server.Input, m *Close) error {
	if pl.open == 0 {
		return server.Refuse("no_chest", "you have no chest open")
	}
	g.closeChest(pl, true)
	return nil
}

func (g *sim) onTake(pl *player, in server.Input, m *Take) error { return g.take(pl, int(m.Slot)) }

func (g *sim) onPut(pl *player, in server.Input, m *Put) error { return g.put(pl, int(m.Slot)) }

func (g *sim) onLook(pl *player, in server.Input, m *Look) error {
	g.look(pl)
	return nil
}

func (g *sim) onSay(pl *player, in server.Input, m *Say) error {
	if strings.TrimSpace(m.Text) == "" {
		return server.Refuse(msg.CodeBadField, "SAY text: empty")
	}
	c := &Chat{From: pl.peer.Name(), Text: m.Text}
	if n := g.opts.node; n != nil {
		// Every node's players hear it, this node's through OnChat too.
		if err := n.Chat(c.From, c.Text); err != nil {
			return server.Refuse("unavailable", "chat is down just now: %v", err)
		}
		return nil
	}
	for _, o := range g.order {
		o.peer.Send(c)
	}
	return nil
}

func (g *sim) onDesync(pl *player, in server.Input, m *replica.DesyncReport) error {
	g.w.ReportDesync(pl.peer.Logger(), pl.view, m)
	return nil
}

var errDead = server.Refuse("dead", "your tank is destroyed; wait for it to respawn")

func (g *sim) tellPos(pl *player) {
	at := g.pos(pl.tank.id)
	pl.peer.Send(&Pos{ID: uint64(pl.tank.id), X: at.X, Y: at.Y})
}

func (g *sim) tellSpawn(pl *player) {
	at := g.pos(pl.tank.id)
	pl.peer.Send(&Spawn{ID: uint64(pl.tank.id), Name: g.w.Name(pl.tank.id), X: at.X, Y: at.Y})
}

// move validates and applies a proposed move: inside the map, no faster
// than the tank's allowance, and not through a wall. A refused move is
// logged as suspicious; repeated ones are struck.
func (g *sim) move(pl *player, to Point, seq uint32) error {
	t := pl.tank
	if t.dead() {
		return errDead
	}
	z := t.zone
	from := g.pos(t.id)
	dist := math.Hypot(float64(to.X-from.X), float64(to.Y-from.Y))
	reason := ""
	switch {
	case to.X < 0 || to.Y < 0 || to.X >= int32(z.w*Unit) || to.Y >= int32(z.h*Unit):
		reason = "out_of_bounds"
	case dist > t.bank+1e-6:
		reason = "too_fast"
	case !PathClear(z, from, to):
		reason = "wall"
	}
	if reason != "" {
		pl.peer.Logger().Warn("suspicious move", "reason", reason, "seq", seq, "zone", z.id,
			"from_x", from.X, "from_y", from.Y, "to_x", to.X, "to_y", to.Y,
			"dist", int(math.Round(dist)), "allowed", int(t.bank))
		if pl.offences == 0 || g.n-pl.firstOffence > g.strikeTicks {
			pl.offences, pl.firstOffence = 0, g.n
		}
		pl.offences++
		if pl.offences >= StrikeAfter {
			pl.offences = 0
			pl.peer.Strike("impossible_move")
		}
		texts := map[string]string{
			"out_of_bounds": "outside the map",
			"too_fast":      fmt.Sprintf("%.0f units is more than the %.0f you may drive now", dist, t.bank),
			"wall":          "a wall is in the way",
		}
		return server.Refuse(reason, "move to %d,%d refused: %s; you are at %d,%d", to.X, to.Y, texts[reason], from.X, from.Y)
	}
	t.bank -= dist
	if h := Heading(from, to); h >= 0 {
		g.w.Set(t.id, TankHeading, h)
	}
	g.w.SetPos(t.id, to.X, to.Y)
	if p, ok := z.portals[z.tileIndex(to.X, to.Y)]; ok {
		g.closeChest(pl, true)
		nz := g.zones[p.zone]
		if !g.live(nz) {
			if g.tick != nil {
				g.crossPortal(g.tick, pl, nz, p.x, p.y)
			}
			return nil
		}
		t.zone = nz
		g.w.SetZone(t.id, nz.id, p.x, p.y)
		if n := g.opts.node; n != nil {
			// Both zones run here: no handoff, but the cluster must know
			// where to send this player if it reconnects elsewhere, and
			// both zones' checkpoints must say where it is now (the new
			// one first: a crash between the two writes leaves the player
			// in both, never in neither).
			n.Track(pl.peer.Name(), zoneName(nz.id))
			if g.tick != nil {
				g.commit(g.tick, nz)
				g.commit(g.tick, z)
			}
		}
		pl.peer.Send(&msg.Notice{Text: fmt.Sprintf("through portal %c to zone %d (%s)", p.letter, nz.id, nz.name)})
		g.tellSpawn(pl)
	}
	return nil
}

var directions = map[string]Control{
	"n": {0, -1}, "s": {0, 1}, "e": {1, 0}, "w": {-1, 0},
	"ne": {1, -1}, "nw": {-1, -1}, "se": {1, 1}, "sw": {-1, 1},
	"north": {0, -1}, "south": {0, 1}, "east": {1, 0}, "west": {-1, 0},
	"northeast": {1, -1}, "northwest": {-1, -1}, "southeast": {1, 1}, "southwest": {-1, 1},
}

// goDir drives up to n tiles in a direction, stopping at walls and at the
// edge of the tank's allowance: a server-side intention, never suspicious.
// When it stops short it says why.
func (g *sim) goDir(pl *player, m *Go) error {
	c, ok := directions[strings.ToLower(m.Dir)]
	if !ok {
		return server.Refuse(msg.CodeBadField, "GO dir: want n, s, e, w, ne, nw, se or sw (or north, south, east, west, northeast, northwest, southeast, southwest), got %q", m.Dir)
	}
	if pl.tank.dead() {
		return errDead
	}
	tiles := max(m.Tiles, 1)
	from := g.pos(pl.tank.id)
	to := from
	scale := 1.0
	if c.DX != 0 && c.DY != 0 {
		scale = math.Sqrt2
	}
	why := ""
	for i := int32(1); i <= tiles*Unit; i++ {
		next := Point{from.X + int32(c.DX)*i, from.Y + int32(c.DY)*i}
		if float64(i)*scale > pl.tank.bank {
			why = fmt.Sprintf("the tank drives at most %d tiles a second; GO again in a moment", Speed/Unit)
			break
		}
		if !PathClear(pl.tank.zone, to, next) {
			why = "a wall is in the way"
			break
		}
		to = next
	}
	if to == from {
		if why == "a wall is in the way" {
			return server.Refuse("blocked", "cannot drive %s from %d,%d (tile %d,%d): a wall is in the way; LOOK shows the map", m.Dir, from.X, from.Y, from.X/Unit, from.Y/Unit)
		}
		return server.Refuse("blocked", "cannot drive %s from %d,%d yet: %s", m.Dir, from.X, from.Y, why)
	}
	err := g.move(pl, to, 0)
	g.tellPos(pl)
	if err == nil && why != "" {
		moved := float64(max(abs32(to.X-from.X), abs32(to.Y-from.Y))) / Unit
		g.note(pl, "stopped after %.1f of %d tiles: %s", moved, tiles, why)
	}
	return err
}

func (g *sim) fire(pl *player) error {
	t := pl.tank
	if t.dead() {
		return errDead
	}
	if g.n < t.readyAt {
		return server.Refuse("reloading", "the gun is ready in %.2f s (it fires %s)", float64(t.readyAt-g.n)/float64(g.rate), howOften(FireCooldown))
	}
	t.readyAt = g.n + g.cooldownTicks
	g.track(pl) // aim at where the target is now
	target := g.shoot(t)
	if target == nil {
		g.w.Emit(t.id, EvFire, 0)
		hint := "AIM <tank id> or TURN first"
		if t.aim != 0 {
			hint = "the tank you aim at is out of range or behind a wall"
		}
		g.note(pl, "missed: no tank within %d tiles along heading %d; %s", FireRange/Unit, g.w.Get(t.id, TankHeading), hint)
		return nil
	}
	g.w.Emit(t.id, EvFire, int32(target.id))
	dmg := int32(Damage)
	heavy := ""
	if t.shells > 0 {
		t.shells--
		dmg *= 2
		heavy = fmt.Sprintf(" with a heavy shell (%d left)", t.shells)
	}
	hp := g.damage(t, target, dmg)
	name := g.w.Name(target.id)
	if hp == 0 {
		g.note(pl, "destroyed %s (tank %d)%s: score %d", name, target.id, heavy, g.w.Get(t.id, TankScore))
	} else {
		g.note(pl, "hit %s (tank %d) for %d%s: hp %d", name, target.id, dmg, heavy, hp)
	}
	return nil
}

// shoot returns the nearest live tank on t's line of fire within
// FireRange and in sight, or nil.
func (g *sim) shoot(t *tank) *tank {
	from := g.pos(t.id)
	rad := float64(g.w.Get(t.id, TankHeading)) * math.Pi / 180
	hx, hy := math.Cos(rad), math.Sin(rad)
	z := t.zone
	var best *tank
	bestT := math.Inf(1)
	g.w.Near(z.id, from.X, from.Y, FireRange, func(e replica.Entity) bool {
		o := g.tanks[e.ID]
		if e.Kind != KindTank || e.ID == t.id || o == nil || o.dead() {
			return true
		}
		rx, ry := float64(e.X-from.X), float64(e.Y-from.Y)
		along := rx*hx + ry*hy
		if along < 0 || along > FireRange || math.Abs(rx*hy-ry*hx) > HitRadius || along >= bestT {
			return true
		}
		if z.sees(z.tileIndex(from.X, from.Y), z.tileIndex(e.X, e.Y)) {
			best, bestT = o, along
		}
		return true
	})
	return best
}

// damage applies one hit of dmg by shooter to target and returns
// target's hp.
func (g *sim) damage(shooter, target *tank, dmg int32) int32 {
	hp := max(g.w.Get(target.id, TankHP)-dmg, 0)
	g.w.Set(target.id, TankHP, hp)
	g.w.Emit(target.id, EvHit, dmg)
	if pl := target.owner; pl != nil && pl.human && hp > 0 {
		g.note(pl, "you are hit by %s (tank %d) for %d, hp %d; AIM %d then FIRE to shoot back", g.w.Name(shooter.id), shooter.id, dmg, hp, shooter.id)
	}
	if hp == 0 {
		g.w.Set(target.id, TankDead, 1)
		g.w.Emit(target.id, EvDie, int32(shooter.id))
		g.w.Set(shooter.id, TankScore, g.w.Get(shooter.id, TankScore)+1)
		target.respawnAt = g.n + g.respawnTicks
		target.aim, target.shells = 0, 0
		if g.opts.node != nil && g.tick != nil {
			// A kill changes a score: committed like an item, so a
			// failover never takes a point back.
			g.commit(g.tick, shooter.zone)
		}
		if target.owner != nil {
			g.closeChest(target.owner, true)
			target.owner.peer.Send(&msg.Notice{Text: fmt.Sprintf("destroyed by %s; respawning in %s", g.w.Name(shooter.id), human(RespawnDelay))})
			target.owner.peer.Send(&Gone{ID: uint64(target.id)})
		}
	}
	return hp
}

func (g *sim) canReach(pl *player, id replica.EntityID) bool {
	c := g.chests[id]
	if c == nil || c.zone != pl.tank.zone || pl.tank.dead() {
		return false
	}
	a, b := g.pos(pl.tank.id), g.pos(id)
	if math.Hypot(float64(a.X-b.X), float64(a.Y-b.Y)) > ChestReach {
		return false
	}
	z := c.zone
	return z.sees(z.tileIndex(a.X, a.Y), z.tileIndex(b.X, b.Y))
}

// openChest opens chest id for pl and answers in, the OPEN, with the
// chest's slots.
func (g *sim) openChest(pl *player, in server.Input, id replica.EntityID) error {
	if g.chests[id] == nil {
		return server.Refuse("no_chest", "%d is not a chest; LOOK lists the chests you see (C on the map)", id)
	}
	if !g.canReach(pl, id) {
		if !pl.view.Sees(id) || pl.tank.dead() {
			return server.Refuse("too_far", "chest %d is out of reach: not in sight", id)
		}
		at, c := g.pos(pl.tank.id), g.pos(id)
		return server.Refuse("too_far", "chest %d is out of reach: it is %s, and OPEN reaches %s tiles; GO closer",
			id, relative(at, c), tiles(ChestReach))
	}
	if pl.open == id {
		pl.peer.Reply(in, g.chestNotice(pl))
		return nil
	}
	if g.w.Get(id, ChestLocked) != 0 {
		slot := g.findItem(pl.tank, ItemKey)
		if slot < 0 {
			return server.Refuse("locked", "chest %d is locked: OPEN it again with a key in your inventory (keys are in other chests)", id)
		}
		g.w.Set(pl.tank.id, TankInv0+slot, 0)
		g.gone(pl.tank.zone, ItemKey)
		g.w.Set(id, ChestLocked, 0)
		g.note(pl, "you unlock chest %d with your key (it locks again when it is restocked)", id)
	}
	g.closeChest(pl, false)
	pl.open = id
	g.w.Set(pl.tank.id, TankOpen, int32(id))
	g.w.Set(id, ChestUsers, g.w.Get(id, ChestUsers)+1)
	pl.peer.Reply(in, g.chestNotice(pl))
	return nil
}

func (g *sim) closeChest(pl *player, tell bool) {
	if pl.open == 0 {
		return
	}
	id := pl.open
	pl.open = 0
	g.w.Set(pl.tank.id, TankOpen, 0)
	g.w.Set(id, ChestUsers, max(g.w.Get(id, ChestUsers)-1, 0))
	if tell {
		pl.peer.Send(&msg.Notice{Text: fmt.Sprintf("chest %d closed", id)})
	}
}

func (g *sim) items(id replica.EntityID, first, n int) string {
	names := make([]string, n)
	for i := range names {
		it := g.w.Get(id, first+i)
		if it < 0 || int(it) >= len(ItemNames) {
			it = 0
		}
		names[i] = fmt.Sprintf("%d:%s", i, ItemNames[it])
	}
	return strings.Join(names, " ")
}

// chestNotice is the INFO line that tells pl what its open chest holds.
func (g *sim) chestNotice(pl *player) *msg.Notice {
	hint := ""
	if pl.human {
		hint = "; TAKE <slot> takes an item, PUT <slot> puts one of yours in, CLOSE when done"
	}
	return &msg.Notice{Text: fmt.Sprintf("chest %d: %s%s", pl.open, g.items(pl.open, ChestSlot0, ChestSlots), hint)}
}

func (g *sim) take(pl *player, slot int) error {
	if pl.open == 0 {
		return server.Refuse("no_chest", "open a chest first: OPEN <chest id> within %s tiles (LOOK lists the chests you see)", tiles(ChestReach))
	}
	item := g.w.Get(pl.open, ChestSlot0+slot)
	if item == 0 {
		return server.Refuse("empty", "chest slot %d is empty; chest %d: %s", slot, pl.open, g.items(pl.open, ChestSlot0, ChestSlots))
	}
	if item == ItemGold || item == ItemGem {
		// Treasure goes to the score, not the inventory.
		points := int32(GoldScore)
		if item == ItemGem {
			points = GemScore
		}
		score := g.w.Get(pl.tank.id, TankScore) + points
		g.w.Set(pl.tank.id, TankScore, score)
		g.w.Set(pl.open, ChestSlot0+slot, 0)
		g.gone(pl.tank.zone, item) // scored
		g.note(pl, "took %s: score +%d, now %d", ItemNames[item], points, score)
		return nil
	}
	if i := g.findItem(pl.tank, 0); i >= 0 {
		g.w.Set(pl.tank.id, TankInv0+i, item)
		g.w.Set(pl.open, ChestSlot0+slot, 0)
		g.note(pl, "took %s; inventory %s%s", ItemNames[item], g.items(pl.tank.id, TankInv0, InvSlots), itemHint(item))
		return nil
	}
	return server.Refuse("inventory_full", "your inventory is full (%s): APPLY or PUT something first", g.items(pl.tank.id, TankInv0, InvSlots))
}

func (g *sim) put(pl *player, slot int) error {
	if pl.open == 0 {
		return server.Refuse("no_chest", "open a chest first: OPEN <chest id> within %s tiles (LOOK lists the chests you see)", tiles(ChestReach))
	}
	item := g.w.Get(pl.tank.id, TankInv0+slot)
	if item == 0 {
		return server.Refuse("empty", "inventory slot %d is empty; inventory %s", slot, g.items(pl.tank.id, TankInv0, InvSlots))
	}
	for i := 0; i < ChestSlots; i++ {
		if g.w.Get(pl.open, ChestSlot0+i) == 0 {
			g.w.Set(pl.open, ChestSlot0+i, item)
			g.w.Set(pl.tank.id, TankInv0+slot, 0)
			pl.peer.Send(&msg.Notice{Text: fmt.Sprintf("put %s into chest %d", ItemNames[item], pl.open)})
			return nil
		}
	}
	return server.Refuse("chest_full", "chest %d is full: TAKE something first", pl.open)
}
