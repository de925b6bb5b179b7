package arena

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
)

// The arena in a cluster (package cluster): every node builds the whole
// world, but runs only the zones it owns. A zone it does not own is
// frozen: its bots stand still, its chests are not restocked, and no
// player is in it. Its state arrives with Restore, when the node takes
// the zone (fresh, or from another node's checkpoint), and leaves with
// Release.
//
// A portal into a zone another node runs is a handoff: the tank freezes
// on the portal, its state (position on the other side, hp, score,
// inventory, shells, mode, counters) goes to the other node, and once
// that node has it and this zone's checkpoint no longer has the tank, the
// client gets MOVED and continues there.
//
// Items are conserved across all of this: every event that moves an item
// (TAKE, PUT, APPLY, a key used, a player arriving or leaving the world)
// is committed (cluster.Node.Commit) before the player hears of it, and
// each zone keeps a ledger of the items created (chests filled, restocks)
// and gone (used, scored, carried out of the world by a leaving player),
// so that Census can check, over every zone's checkpoint, that nothing
// was duplicated and nothing lost.

// WithCluster runs the arena as one node of a cluster: n decides which
// zones this node runs (see package cluster). Without it every zone runs
// here. The node must be created with this Game and the same server.
func WithCluster(n *cluster.Node) Option { return func(o *options) { o.node = n } }

// WithoutRestock stops chests from being refilled (for tests that count
// items).
func WithoutRestock() Option { return func(o *options) { o.noRestock = true } }

// ledger counts a zone's items by kind: created there (a chest filled at
// start or restocked) and gone from the world there (used, scored, carried
// away by a player who left the world).
type ledger struct {
	Created []int64 `json:"created"`
	Gone    []int64 `json:"gone"`
}

func newLedger() *ledger {
	return &ledger{Created: make([]int64, len(ItemNames)), Gone: make([]int64, len(ItemNames))}
}

func (l *ledger) fix() *ledger {
	for len(l.Created) < len(ItemNames) {
		l.Created = append(l.Created, 0)
	}
	for len(l.Gone) < len(ItemNames) {
		l.Gone = append(l.Gone, 0)
	}
	return l
}

// gone records that item left the world in zone z.
func (g *sim) gone(z *zoneMap, item int32) {
	if item > 0 && int(item) < len(ItemNames) {
		g.ledgerOf(z).Gone[item]++
	}
}

func (g *sim) created(z *zoneMap, item int32) {
	if item > 0 && int(item) < len(ItemNames) {
		g.ledgerOf(z).Created[item]++
	}
}

func (g *sim) ledgerOf(z *zoneMap) *ledger {
	if g.ledgers == nil {
		g.ledgers = map[int]*ledger{}
	}
	l := g.ledgers[z.id]
	if l == nil {
		l = newLedger()
		g.ledgers[z.id] = l
	}
	return l
}

// live reports whether zone z runs on this node.
func (g *sim) live(z *zoneMap) bool { return g.opts.node == nil || g.running[z.id] }

// tankState is a tank as it travels: in a handoff, and in a checkpoint.
type tankState struct {
	X         int32   `json:"x"`
	Y         int32   `json:"y"`
	Heading   int32   `json:"heading"`
	HP        int32   `json:"hp"`
	Dead      bool    `json:"dead,omitempty"`
	RespawnIn uint64  `json:"respawn_in,omitempty"` // ticks left
	Score     int32   `json:"score"`
	Inv       []int32 `json:"inv"`
	Shells    int     `json:"shells,omitempty"`
	Human     bool    `json:"human,omitempty"`
	Name      string  `json:"name"`
}

// playerState is a player in a checkpoint: who, the keys of its seat
// tokens (so it can resume on the node that restores the zone), and its
// tank.
type playerState struct {
	Ident server.Identity  `json:"ident"`
	Keys  []server.SeatKey `json:"keys"`
	Tank  tankState        `json:"tank"`
}

// arrivalState is an arrival waiting here, in a checkpoint.
type arrivalState struct {
	ID    string           `json:"id"`
	Ident server.Identity  `json:"ident"`
	Keys  []server.SeatKey `json:"keys"`
	Tank  tankState        `json:"tank"`
	Until int64            `json:"until"` // unix ms
}

type chestState struct {
	ID     uint32  `json:"id"`
	Slots  []int32 `json:"slots"`
	Locked bool    `json:"locked,omitempty"`
}

type botState struct {
	Name string    `json:"name"`
	Tank tankState `json:"tank"`
}

// zoneState is a zone's checkpoint.
type zoneState struct {
	Zone     int            `json:"zone"`
	Chests   []chestState   `json:"chests"`
	Bots     []botState     `json:"bots"`
	Players  []playerState  `json:"players"`
	Arrivals []arrivalState `json:"arrivals"`
	Ledger   *ledger        `json:"ledger"`
}

func (g *sim) exportTank(t *tank) tankState {
	at := g.pos(t.id)
	s := tankState{X: at.X, Y: at.Y, Heading: g.w.Get(t.id, TankHeading), HP: g.w.Get(t.id, TankHP),
		Dead: t.dead(), Score: g.w.Get(t.id, TankScore), Shells: t.shells, Name: g.w.Name(t.id)}
	if t.dead() && t.respawnAt > g.n {
		s.RespawnIn = t.respawnAt - g.n
	}
	for i := 0; i < InvSlots; i++ {
		s.Inv = append(s.Inv, g.w.Get(t.id, TankInv0+i))
	}
	if t.owner != nil {
		s.Human = t.owner.human
	}
	return s
}

// importTank sets t from s.
func (g *sim) importTank(t *tank, s tankState) {
	g.w.SetPos(t.id, s.X, s.Y)
	g.w.Set(t.id, TankHeading, s.Heading)
	g.w.Set(t.id, TankHP, s.HP)
	g.w.Set(t.id, TankScore, s.Score)
	for i := 0; i < InvSlots && i < len(s.Inv); i++ {
		g.w.Set(t.id, TankInv0+i, s.Inv[i])
	}
	t.shells = s.Shells
	t.respawnAt = 0
	g.w.Set(t.id, TankDead, 0)
	if s.Dead {
		t.respawnAt = g.n + max(s.RespawnIn, 1)
		g.w.Set(t.id, TankDead, 1)
	}
}

func zoneName(id int) string { return strconv.Itoa(id) }

func (g *sim) zoneOf(name string) (*zoneMap, error) {
	id, err := strconv.Atoi(name)
	if err != nil || id < 1 || id >= len(g.zoneByID) {
		return nil, fmt.Errorf("arena: no zone %q", name)
	}
	return g.zoneByID[id], nil
}

// Zones lists the arena's zones: "1", "2", "3" (cluster.Game).
func (g *Game) Zones() []string {
	out := make([]string, 0, len(g.zones))
	for id := 1; id <= len(g.zones); id++ {
		out = append(out, zoneName(id))
	}
	return out
}

// Checkpoint writes zone down (cluster.Game): its chests, bots, players
// (with their seat keys) and the arrivals waiting for it, and its ledger.
func (g *Game) Checkpoint(t *server.Tick, zone string) ([]byte, error) {
	z, err := g.zoneOf(zone)
	if err != nil {
		return nil, err
	}
	st := zoneState{Zone: z.id, Ledger: g.ledgerOf(z)}
	for _, id := range g.chestIDs {
		c := g.chests[id]
		if c.zone != z {
			continue
		}
		cs := chestState{ID: uint32(id), Locked: g.w.Get(id, ChestLocked) != 0}
		for s := 0; s < ChestSlots; s++ {
			cs.Slots = append(cs.Slots, g.w.Get(id, ChestSlot0+s))
		}
		st.Chests = append(st.Chests, cs)
	}
	for _, tk := range g.tankList {
		if tk.zone != z {
			continue
		}
		if tk.owner == nil {
			st.Bots = append(st.Bots, botState{Name: g.w.Name(tk.id), Tank: g.exportTank(tk)})
			continue
		}
		sp, ok := tk.owner.peer.(*server.Player)
		if !ok {
			continue
		}
		st.Players = append(st.Players, playerState{Ident: sp.Identity(), Keys: sp.SeatKeys(), Tank: g.exportTank(tk)})
	}
	for _, a := range g.server().Arrivals() {
		if a.Tag != zone {
			continue
		}
		var ts tankState
		if err := json.Unmarshal(a.Data, &ts); err != nil {
			continue
		}
		st.Arrivals = append(st.Arrivals, arrivalState{ID: a.ID, Ident: a.Ident, Keys: a.Keys, Tank: ts, Until: a.Until.UnixMilli()})
	}
	return json.Marshal(st)
}

// Restore starts running zone (cluster.Game): from state if there is one
// (another node's checkpoint, or this node's own before a restart), as
// built by Init if not. The players in state are expected here: each
// resumes with the seat token it already has.
func (g *Game) Restore(t *server.Tick, zone string, state []byte) error {
	z, err := g.zoneOf(zone)
	if err != nil {
		return err
	}
	if state == nil {
		if g.running == nil {
			g.running = map[int]bool{}
		}
		g.running[z.id] = true
		return nil
	}
	var st zoneState
	if err := json.Unmarshal(state, &st); err != nil {
		return fmt.Errorf("arena: zone %s checkpoint: %w", zone, err)
	}
	for _, cs := range st.Chests {
		id := replica.EntityID(cs.ID)
		if c := g.chests[id]; c == nil || c.zone != z {
			return fmt.Errorf("arena: zone %s checkpoint names chest %d, which this world does not have there", zone, id)
		}
		for s := 0; s < ChestSlots && s < len(cs.Slots); s++ {
			g.w.Set(id, ChestSlot0+s, cs.Slots[s])
		}
		g.w.Set(id, ChestLocked, b2i(cs.Locked))
		g.w.Set(id, ChestUsers, 0)
	}
	bots := map[string]*tank{}
	for _, tk := range g.tankList {
		if tk.owner == nil {
			bots[g.w.Name(tk.id)] = tk
		}
	}
	for _, b := range st.Bots {
		tk := bots[b.Name]
		if tk == nil {
			continue
		}
		if tk.zone != z {
			tk.zone = z
			g.w.SetZone(tk.id, z.id, b.Tank.X, b.Tank.Y)
		}
		g.importTank(tk, b.Tank)
	}
	if st.Ledger != nil {
		g.ledgers[z.id] = st.Ledger.fix()
	}
	until := time.Now().Add(g.opts.arrivalHold())
	for _, p := range st.Players {
		data, _ := json.Marshal(p.Tank)
		if _, err := g.server().Expect(server.Arrival{ID: "restore-" + zone + "-" + rand.Text(), Ident: p.Ident, Keys: p.Keys,
			Data: data, Tag: zone, Until: until}); err != nil {
			return err
		}
	}
	for _, a := range st.Arrivals {
		data, _ := json.Marshal(a.Tank)
		if _, err := g.server().Expect(server.Arrival{ID: a.ID, Ident: a.Ident, Keys: a.Keys, Data: data, Tag: zone,
			Until: time.UnixMilli(a.Until)}); err != nil {
			return err
		}
	}
	if g.running == nil {
		g.running = map[int]bool{}
	}
	g.running[z.id] = true
	t.Logger().Info("arena zone restored", "zone", zone, "players", len(st.Players), "arrivals", len(st.Arrivals), "bots", len(st.Bots))
	return nil
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// Release stops running zone (cluster.Game): its players go to the node
// that has it now (to), where they resume from the last checkpoint; its
// arrivals are dropped here (the checkpoint has them too).
func (g *Game) Release(t *server.Tick, zone string, to cluster.Owner) {
	z, err := g.zoneOf(zone)
	if err != nil {
		return
	}
	delete(g.running, z.id)
	for _, pl := range append([]*player(nil), g.order...) {
		if pl.tank.zone != z {
			continue
		}
		sp, _ := pl.peer.(*server.Player)
		g.drop(pl)
		if sp == nil {
			continue
		}
		if to.Addr != "" {
			sp.Move(to.Addr, to.WS, "-")
		} else {
			sp.Kick("zone_lost")
		}
	}
	for _, a := range g.server().Arrivals() {
		if a.Tag == zone {
			g.server().Unexpect(a.ID)
		}
	}
}

// server is the server the cluster node serves.
func (g *sim) server() *server.Server { return g.opts.node.Server() }

// joinElsewhere sends a player who logged in on a node that does not run
// the first zone to the node that does: a handoff of a fresh tank (no
// state here to commit), so the client sees WELCOME, then MOVED.
func (g *Game) joinElsewhere(t *server.Tick, p *server.Player) error {
	data, _ := json.Marshal(tankState{Name: p.Name(), Human: p.Encoding() == msg.Text})
	g.opts.node.Handoff(t, p, "", zoneName(1), data, func(t *server.Tick, h cluster.Prepared, err error) {
		if err != nil {
			p.Send(&msg.Err{Code: "unavailable", Text: "no server runs the first zone just now; try again in a few seconds"})
			p.Kick("unavailable")
			return
		}
		if err := g.opts.node.Depart(t, p, "", h); err != nil {
			p.Kick("unavailable")
		}
	})
	return nil
}

// deliverChat hands the cluster's chat lines that came in since the last
// tick to this node's players. Tick only.
func (g *Game) deliverChat() {
	g.chatMu.Lock()
	lines := g.chatIn
	g.chatIn = nil
	g.chatMu.Unlock()
	for _, c := range lines {
		for _, pl := range g.order {
			pl.peer.Send(c)
		}
	}
}

// hearChat queues a chat line from the cluster (cluster.Node.OnChat; a
// NATS goroutine) for the next tick; beyond maxChatQueue lines a tick,
// lines are dropped.
func (g *Game) hearChat(from, text string) {
	g.chatMu.Lock()
	if len(g.chatIn) < maxChatQueue {
		g.chatIn = append(g.chatIn, &Chat{From: from, Text: text})
	}
	g.chatMu.Unlock()
}

// maxChatQueue bounds the cluster chat lines waiting for a tick.
const maxChatQueue = 256

// drop takes pl out of the world without touching the ledger: its state
// lives on elsewhere.
func (g *sim) drop(pl *player) {
	g.closeChest(pl, false)
	g.w.Remove(pl.tank.id)
	g.w.RemoveViewer(pl.view)
	delete(g.tanks, pl.tank.id)
	g.tankList = deleteItem(g.tankList, pl.tank)
	delete(g.players, pl.peer.ID())
	g.order = deleteItem(g.order, pl)
	pl.dropped = true
}

// Arrive takes a player handed over by another node, or restored from a
// checkpoint (server.Arriver): its tank appears as it was, where it
// arrives, and the zone is committed at once so that the player is in its
// checkpoint rather than as an arrival.
func (g *Game) Arrive(t *server.Tick, p *server.Player, a server.Arrival) error {
	z, err := g.zoneOf(a.Tag)
	if err != nil {
		return err
	}
	if !g.live(z) {
		// Handed over after the client claimed the arrival: the zone's
		// last checkpoint took the arrival along, and the client, told
		// to retry, is sent there.
		return fmt.Errorf("arena: zone %s is not run here any more: %w", a.Tag, server.ErrArrivalGone)
	}
	var ts tankState
	if err := json.Unmarshal(a.Data, &ts); err != nil {
		return fmt.Errorf("arena: arrival %s: %w", a.ID, err)
	}
	pl := &player{peer: p, human: ts.Human && p.Encoding() == msg.Text, connected: true, lastInput: g.n}
	pl.tank = g.spawnTank(z, p.Name(), pl)
	if ts.X == 0 && ts.Y == 0 {
		ts.X, ts.Y = g.pos(pl.tank.id).X, g.pos(pl.tank.id).Y // a fresh player: the spawn point
		ts.HP = MaxHP
	}
	g.importTank(pl.tank, ts)
	g.attach(pl)
	g.players[p.ID()] = pl
	g.order = append(g.order, pl)
	p.Logger().Info("arena player arrived", "zone", z.id, "arrival", a.ID, "score", ts.Score, "inv", fmt.Sprint(ts.Inv), "hp", ts.HP)
	if !pl.tank.dead() {
		g.tellSpawn(pl)
	}
	at := g.pos(pl.tank.id)
	p.Send(&msg.Notice{Text: fmt.Sprintf("you drive tank %d in zone %d (%s) at tile %d,%d", pl.tank.id, z.id, z.name, at.X/Unit, at.Y/Unit)})
	if n := g.opts.node; n != nil {
		n.Arrived(p.Name(), a.Tag)
		if err := n.Commit(t, a.Tag); err != nil && !errors.Is(err, cluster.ErrFenced) {
			t.Logger().Warn("arrival not committed; the checkpoint still holds it as an arrival", "player", p.Name(), "err", err)
		}
	}
	return nil
}

// ArrivalExpired: a player handed over or restored here never came back;
// what it carried leaves the world (server.Arriver).
func (g *Game) ArrivalExpired(t *server.Tick, a server.Arrival) {
	z, err := g.zoneOf(a.Tag)
	if err != nil || !g.live(z) {
		return
	}
	// A handoff its source never committed: the player still lives in
	// the source zone, items and all. Otherwise it left the world.
	if g.opts.node.Committed(a) {
		var ts tankState
		if json.Unmarshal(a.Data, &ts) == nil {
			for _, item := range ts.Inv {
				g.gone(z, item)
			}
		}
	}
	g.commit(t, z)
}

// commit checkpoints z now if the arena runs in a cluster. Tick only. It
// reports whether the state is safe (or there is no cluster).
func (g *sim) commit(t *server.Tick, z *zoneMap) error {
	n := g.opts.node
	if n == nil {
		return nil
	}
	err := n.Commit(t, zoneName(z.id))
	if err != nil && !errors.Is(err, cluster.ErrFenced) {
		t.Logger().Warn("zone not committed", "zone", z.id, "err", err)
	}
	return err
}

// durable runs an item rule for pl and commits the zone before the player
// hears of it. If the commit fails, the change is undone and the player
// is told to retry: an item the player was told it has is never lost.
func (g *Game) durable(t *server.Tick, pl *player, rule func() error) error {
	if g.opts.node == nil {
		return rule()
	}
	z := pl.tank.zone
	undo := g.snapshotItems(pl)
	if err := rule(); err != nil {
		return err
	}
	err := g.commit(t, z)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrFenced):
		return nil // the zone is gone, the player moved; the new owner has the last checkpoint
	default:
		undo()
		return server.Refuse("unavailable", "the world could not be saved just now; nothing changed, try again")
	}
}

// snapshotItems returns a function that puts back pl's tank and open
// chest and the zone's ledger as they are now.
func (g *sim) snapshotItems(pl *player) func() {
	t := pl.tank
	inv := make([]int32, InvSlots)
	for i := range inv {
		inv[i] = g.w.Get(t.id, TankInv0+i)
	}
	score, hp, shells := g.w.Get(t.id, TankScore), g.w.Get(t.id, TankHP), t.shells
	led := g.ledgerOf(t.zone)
	created, gone := append([]int64(nil), led.Created...), append([]int64(nil), led.Gone...)
	chest := pl.open
	var slots []int32
	var locked int32
	if chest != 0 {
		for s := 0; s < ChestSlots; s++ {
			slots = append(slots, g.w.Get(chest, ChestSlot0+s))
		}
		locked = g.w.Get(chest, ChestLocked)
	}
	return func() {
		for i, v := range inv {
			g.w.Set(t.id, TankInv0+i, v)
		}
		g.w.Set(t.id, TankScore, score)
		g.w.Set(t.id, TankHP, hp)
		t.shells = shells
		led.Created, led.Gone = created, gone
		if chest != 0 {
			for s, v := range slots {
				g.w.Set(chest, ChestSlot0+s, v)
			}
			g.w.Set(chest, ChestLocked, locked)
		}
	}
}

// crossPortal starts the handoff of pl's tank to zone to, on another
// node, arriving at x, y. The tank stands frozen on the portal meanwhile.
func (g *sim) crossPortal(t *server.Tick, pl *player, to *zoneMap, x, y int32) {
	sp, ok := pl.peer.(*server.Player)
	if !ok {
		return
	}
	from := pl.tank.zone
	ts := g.exportTank(pl.tank)
	ts.X, ts.Y = x, y
	data, _ := json.Marshal(ts)
	back := g.exportTank(pl.tank) // where it stands: on the portal
	pl.leaving = true
	g.opts.node.Handoff(t, sp, zoneName(from.id), zoneName(to.id), data, func(t *server.Tick, h cluster.Prepared, err error) {
		pl.leaving = false
		if pl.dropped || g.players[sp.ID()] != pl {
			if err == nil {
				g.opts.node.Abort(h) // gone meanwhile (quit, or the zone was released)
			}
			return
		}
		if err != nil {
			pl.peer.Send(&msg.Notice{Text: fmt.Sprintf("portal to zone %d is closed just now (%s); step off and try again", to.id, shortErr(err))})
			return
		}
		// Take the tank out; the commit in Depart makes it final.
		g.drop(pl)
		if err := g.opts.node.Depart(t, sp, zoneName(from.id), h); err != nil {
			if errors.Is(err, cluster.ErrFenced) {
				return // the zone was released; the player went with it
			}
			g.undrop(pl, back)
			pl.peer.Send(&msg.Notice{Text: fmt.Sprintf("portal to zone %d is closed just now (%s); step off and try again", to.id, shortErr(err))})
		}
	})
}

// undrop puts back a player whose handoff was aborted after its tank was
// taken out, at the portal it stood on.
func (g *sim) undrop(pl *player, ts tankState) {
	pl.dropped = false
	pl.tank = g.spawnTank(pl.tank.zone, pl.peer.Name(), pl)
	g.importTank(pl.tank, ts)
	g.attach(pl)
	g.players[pl.peer.ID()] = pl
	g.order = append(g.order, pl)
	g.tellSpawn(pl)
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 80 {
		return s[i+2:]
	}
	return s
}

// Who answers WHO with the players of every node (in a cluster) or of
// this server.
func (g *Game) who(t *server.Tick, p *server.Player, in server.Input) {
	n := g.opts.node
	if n == nil {
		names := make([]string, 0, len(g.order))
		for _, pl := range g.order {
			names = append(names, pl.peer.Name())
		}
		p.Reply(in, &msg.Notice{Text: fmt.Sprintf("online: %d: %s", len(names), strings.Join(names, " "))})
		return
	}
	srv := g.server()
	id := p.ID()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		nodes, err := n.Who(ctx)
		var lines []string
		if err != nil {
			lines = []string{"who: the cluster did not answer: " + err.Error()}
		} else {
			total := 0
			for _, o := range nodes {
				total += len(o.Players) + o.More
			}
			lines = append(lines, fmt.Sprintf("online: %d on %d nodes", total, len(nodes)))
			for _, o := range nodes {
				more := ""
				if o.More > 0 {
					more = fmt.Sprintf(" and %d more", o.More)
				}
				lines = append(lines, fmt.Sprintf("%s: %s%s", o.Node, strings.Join(o.Players, " "), more))
			}
		}
		_ = srv.Call(ctx, func(t *server.Tick) {
			pl := g.players[id]
			if pl == nil || pl.peer != p {
				return
			}
			for _, l := range lines {
				p.Reply(in, &msg.Notice{Text: l})
			}
		})
	}()
}

// Census is a count of a world's items by kind (index: item id; 0 is
// unused), from its zones' checkpoints.
type Census struct {
	// Held are the items in chests and in the inventories of players and
	// of arrivals waiting for their players.
	Held []int64
	// Created and Gone sum the zones' ledgers.
	Created, Gone []int64
	// Players counts the players by name over every zone, arrivals
	// included: each should be 1.
	Players map[string]int
}

// Balanced reports, for every item kind, whether what is held is what was
// created less what is gone: nothing duplicated, nothing lost.
func (c Census) Balanced() bool {
	for k := 1; k < len(c.Held); k++ {
		if c.Held[k] != c.Created[k]-c.Gone[k] {
			return false
		}
	}
	return true
}

// CensusOf counts the items and players in the given zone checkpoints
// (each what Checkpoint returned for one zone).
func CensusOf(states ...[]byte) (Census, error) {
	n := len(ItemNames)
	c := Census{Held: make([]int64, n), Created: make([]int64, n), Gone: make([]int64, n), Players: map[string]int{}}
	hold := func(items []int32) {
		for _, it := range items {
			if it > 0 && int(it) < n {
				c.Held[it]++
			}
		}
	}
	for _, s := range states {
		var st zoneState
		if err := json.Unmarshal(s, &st); err != nil {
			return c, err
		}
		for _, ch := range st.Chests {
			hold(ch.Slots)
		}
		for _, p := range st.Players {
			hold(p.Tank.Inv)
			c.Players[p.Ident.Name]++
		}
		for _, a := range st.Arrivals {
			hold(a.Tank.Inv)
			c.Players[a.Ident.Name]++
		}
		if st.Ledger != nil {
			l := st.Ledger.fix()
			for k := 1; k < n; k++ {
				c.Created[k] += l.Created[k]
				c.Gone[k] += l.Gone[k]
			}
		}
	}
	return c, nil
}
