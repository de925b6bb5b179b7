package bot

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// chatLines are what bots say.
var chatLines = []string{
	"gl hf", "anyone in the maze?", "nice shot", "this chest had gold",
	"heading for the portal", "who took my gem?", "gg", "brb, reloading",
}

// count is the client's OnMessage hook: it counts every message by type.
func (b *bot) count(env msg.Envelope) bool {
	b.rep.Messages[env.Type.Name]++
	b.lastRecv = b.now
	return false
}

// handle registers the bot's callbacks; Poll calls them.
func (b *bot) handle() {
	c := b.c
	client.On(c, b.onSpawn)
	client.On(c, func(g *arena.Gone) {
		if replica.EntityID(g.ID) != b.tank {
			return
		}
		b.dead = true
		b.rep.Deaths++
		b.path, b.chest = nil, chestSession{} // the server closed the chest
	})
	client.On(c, func(*arena.Chat) { b.rep.ChatsReceived++ })
	client.On(c, func(*arena.Pos) {})
	client.On(c, b.onNotice)
	client.On(c, b.onErr)
	client.On(c, b.onEvent)
	client.On(c, func(z *replica.ZoneStart) {
		b.waitZone = false
		if !b.zones[int(z.Zone)] {
			b.zones[int(z.Zone)] = true
			b.rep.Zones = append(b.rep.Zones, int(z.Zone))
		}
		clear(b.chests) // chests of another zone
		b.path = nil
	})
	client.On(c, func(*replica.SnapEnd) {
		b.rep.Snapshots++
		if b.verify {
			b.verifyResume()
		}
	})
	c.OnReconnecting(b.onReconnecting)
	c.OnResumed(b.onResumed)
	c.OnMoved(b.onMoved)
	c.OnLost(b.onLost)
	client.On(c, func(s *replica.SliceEnd) {
		b.rep.ResyncSlices++
		if s.Rem+1 == s.Mod {
			b.rep.ResyncCycles++
		}
	})
}

// onSpawn: the bot's tank appeared (join, respawn, portal). The prediction
// starts, or restarts, there, stepping at the tick rate the server
// announced in LIMITS (which comes before anything of the game's).
func (b *bot) onSpawn(s *arena.Spawn) {
	l, ok := b.c.Limits()
	if !ok || l.TickRate < 1 {
		b.fail = errors.New("bot: the server announced no tick rate (LIMITS) before SPAWN: arena.Step needs it")
		return
	}
	b.rate = l.TickRate
	b.tank = replica.EntityID(s.ID)
	at := arena.Point{X: s.X, Y: s.Y}
	if b.pred == nil {
		b.pred = replica.NewPredictor(at, b.step)
		b.pp = client.Predict(b.c, b.pred, b.encode, b.ackState)
	} else {
		b.pred.Reset(at)
	}
	if b.teleporting {
		b.teleporting = false
		b.rep.Portals++
		b.waitZone, b.waitZoneAt = true, b.now
	}
	b.dead = false
	b.reset = true
	b.path, b.hunting, b.chest = nil, 0, chestSession{}
}

// step is the prediction's step: the arena's own rule on the tile map the
// server sent, at the server's tick rate, so that prediction and server
// agree.
func (b *bot) step(p arena.Point, c arena.Control) arena.Point {
	return arena.Step(b.m, p, c, b.rate)
}

// encode builds the DRIVE for input c numbered seq: the position the
// prediction reaches with it (Predicted.Input applies c right after).
func (b *bot) encode(seq uint32, c arena.Control) any {
	to := b.step(b.pred.State(), c)
	if b.afterResume != nil && len(b.afterResume) < 64 {
		b.afterResume[seq] = to
	}
	return &arena.Drive{Seq: seq, X: to.X, Y: to.Y}
}

// ackState extracts the authoritative position from an ACK. The first ACK
// of an input sent after a resume measures how far the prediction was
// from the server's state.
func (b *bot) ackState(a *replica.Ack) arena.Point {
	if len(a.Vals) <= replica.FieldY {
		return b.pred.State()
	}
	at := arena.Point{X: a.Vals[replica.FieldX], Y: a.Vals[replica.FieldY]}
	if to, ok := b.afterResume[a.Seq]; ok {
		d := max(abs32(to.X-at.X), abs32(to.Y-at.Y))
		b.rep.ResumePredictionError = max(b.rep.ResumePredictionError, d)
		b.rep.ResumePredictionsChecked++
		b.afterResume = nil
	}
	return at
}

// onEvent counts the bot's shots, hits and kills.
func (b *bot) onEvent(e *replica.Event) {
	if b.tank == 0 {
		return
	}
	switch {
	case replica.EntityID(e.ID) == b.tank && e.Event == arena.EvFire:
		b.rep.Shots++
		if e.Value != 0 {
			b.rep.Hits++
		}
	case replica.EntityID(e.ID) != b.tank && e.Event == arena.EvDie && replica.EntityID(e.Value) == b.tank:
		b.rep.Kills++
	}
}

// onNotice reads the arena's INFO lines about the bot's chest.
func (b *bot) onNotice(n *msg.Notice) {
	t := n.Text
	switch {
	case strings.HasPrefix(t, "chest ") && strings.HasSuffix(t, " closed"):
		// "chest 12 closed": closed by us, or by the server (out of reach).
		if id, ok := chestID(t); ok && id == b.chest.id {
			b.endChest()
		}
	case strings.HasPrefix(t, "chest "):
		// "chest 12: 0:gold 1:- ...": the chest is open.
		if id, ok := chestID(t); ok && id == b.chest.id && !b.chest.open {
			b.chest.open = true
			b.chest.left = 1 + b.rng.IntN(3)
			b.chest.next = b.now.Add(400 * time.Millisecond)
			b.chest.deadline = b.now.Add(5 * time.Second)
			b.rep.ChestsOpened++
		}
	case strings.HasPrefix(t, "took "):
		b.rep.ItemsTaken++
		b.chestDone()
	case strings.HasPrefix(t, "put "):
		b.rep.ItemsPut++
		b.chestDone()
	}
}

// chestID parses the id of "chest <id>..." lines.
func chestID(t string) (replica.EntityID, bool) {
	f := strings.FieldsFunc(strings.TrimPrefix(t, "chest "), func(r rune) bool { return r == ' ' || r == ':' })
	if len(f) == 0 {
		return 0, false
	}
	id, err := strconv.ParseUint(f[0], 10, 32)
	return replica.EntityID(id), err == nil && id != 0
}

// onErr counts the server's refusals and reacts to those about the chest.
func (b *bot) onErr(e *msg.Err) {
	b.rep.Refusals[e.Code]++
	switch e.Code {
	case "too_fast", "wall", "out_of_bounds", "dead":
		b.rep.MovesRefused++
	case "empty", "inventory_full", "chest_full":
		b.chestDone()
	case "no_chest", "too_far", "locked":
		if b.chest.id != 0 {
			b.endChest()
		}
	case "reloading":
		b.nextShot = b.now.Add(FireInterval)
	}
}

// think decides what to do this frame: carry on with an open chest, fire
// at a tank, open a chest within reach, chat, or drive on.
func (b *bot) think() {
	me := b.pred.State()
	if b.chest.id != 0 {
		b.chestStep()
		return
	}
	if b.cfg.ChatEvery > 0 && !b.now.Before(b.nextChat) {
		b.nextChat = b.now.Add(b.chatDelay())
		if b.send(&arena.Say{Text: chatLines[b.rng.IntN(len(chatLines))]}) {
			b.rep.ChatsSent++
		}
	}
	if b.fire(me) || b.open(me) {
		return
	}
	if b.now.Before(b.pauseUntil) {
		return
	}
	b.drive(me)
}

// chatDelay is a random wait between two chat lines, ChatEvery on average.
func (b *bot) chatDelay() time.Duration {
	if b.cfg.ChatEvery <= 0 {
		return 0
	}
	return time.Duration(float64(b.cfg.ChatEvery) * (0.5 + b.rng.Float64()))
}

// tileOf returns the tile column and row of p.
func tileOf(p arena.Point) (int, int) { return int(p.X / arena.Unit), int(p.Y / arena.Unit) }

// inSight reports whether b is in sight from a by the arena's rule (no
// wall on the line between their tiles).
func (b *bot) inSight(a, p arena.Point) bool {
	ax, ay := tileOf(a)
	bx, by := tileOf(p)
	return arena.LineOfSight(b.m, ax, ay, bx, by)
}

func dist(a, b arena.Point) float64 {
	return math.Hypot(float64(a.X-b.X), float64(a.Y-b.Y))
}

// enemy returns the nearest live tank other than the bot's within r and in
// sight.
func (b *bot) enemy(me arena.Point, r float64) (replica.ModelEntity, bool) {
	var best replica.ModelEntity
	bestD := math.Inf(1)
	b.m.Each(func(e replica.ModelEntity) bool {
		if e.Kind != arena.KindTank || e.ID == b.tank || e.Vals[arena.TankDead] != 0 {
			return true
		}
		if d := dist(me, pos(e)); d <= r && d < bestD && b.inSight(me, pos(e)) {
			best, bestD = e, d
		}
		return true
	})
	return best, !math.IsInf(bestD, 1)
}

// fire turns towards the nearest tank in range and shoots, when the gun is
// ready. TURN and FIRE leave together and the server applies them in
// order, after every DRIVE sent before: the shot goes from where the bot
// predicts to be, towards where it last saw the target.
func (b *bot) fire(me arena.Point) bool {
	if b.now.Before(b.nextShot) {
		return false
	}
	e, ok := b.enemy(me, arena.FireRange-5)
	if !ok {
		return false
	}
	deg := arena.Heading(me, pos(e))
	if deg < 0 {
		return false
	}
	b.nextShot = b.now.Add(FireInterval + time.Duration(b.rng.IntN(300))*time.Millisecond)
	if b.send(&arena.Turn{Deg: deg}) && b.send(&arena.Fire{}) {
		b.rep.FiresSent++
		b.lastShot = b.now
	}
	return true
}

// open opens a chest within reach that the bot has not opened lately.
func (b *bot) open(me arena.Point) bool {
	// In id order, not map order: the same seed makes the same choices.
	for _, id := range slices.Sorted(maps.Keys(b.chests)) {
		ci := b.chests[id]
		if !ci.visited.IsZero() && b.now.Sub(ci.visited) < ChestRevisit {
			continue
		}
		if _, inView := b.m.Entity(id); !inView || dist(me, ci.at) > arena.ChestReach-3 || !b.inSight(me, ci.at) {
			continue
		}
		ci.visited = b.now
		b.chests[id] = ci
		if !b.send(&arena.Open{ID: uint32(id)}) {
			return false
		}
		b.chest = chestSession{id: id, deadline: b.now.Add(3 * time.Second)}
		b.path = nil
		return true
	}
	return false
}

// chestStep takes or puts one item, or closes the chest, once the answer
// to the previous action has arrived.
func (b *bot) chestStep() {
	s := &b.chest
	if b.now.After(s.deadline) { // no answer: give up on this chest
		if s.open {
			b.send(&arena.Close{})
		}
		b.endChest()
		return
	}
	if !s.open || s.pending || b.now.Before(s.next) {
		return
	}
	own, ok1 := b.m.Entity(b.tank)
	ch, ok2 := b.m.Entity(s.id)
	if s.left <= 0 || !ok1 || !ok2 {
		b.send(&arena.Close{})
		b.endChest()
		return
	}
	var takes, puts []int32
	freeInv, freeChest := false, false
	for i := 0; i < arena.InvSlots; i++ {
		freeInv = freeInv || own.Vals[arena.TankInv0+i] == 0
	}
	for j := 0; j < arena.ChestSlots; j++ {
		freeChest = freeChest || ch.Vals[arena.ChestSlot0+j] == 0
	}
	for j := 0; j < arena.ChestSlots; j++ {
		if freeInv && ch.Vals[arena.ChestSlot0+j] != 0 {
			takes = append(takes, int32(j))
		}
	}
	for i := 0; i < arena.InvSlots; i++ {
		if freeChest && own.Vals[arena.TankInv0+i] != 0 {
			puts = append(puts, int32(i))
		}
	}
	switch {
	case len(takes) > 0 && (len(puts) == 0 || b.rng.IntN(3) < 2):
		if !b.send(&arena.Take{Slot: takes[b.rng.IntN(len(takes))]}) {
			return
		}
	case len(puts) > 0:
		if !b.send(&arena.Put{Slot: puts[b.rng.IntN(len(puts))]}) {
			return
		}
	default:
		s.left = 0
		return
	}
	s.pending = true
	b.lastChest = b.now
	s.deadline = b.now.Add(5 * time.Second)
}

// chestDone notes the answer to a TAKE or PUT.
func (b *bot) chestDone() {
	s := &b.chest
	if s.id == 0 || !s.pending {
		return
	}
	s.pending = false
	s.left--
	s.next = b.now.Add(time.Duration(300+b.rng.IntN(400)) * time.Millisecond)
	s.deadline = b.now.Add(5 * time.Second)
}

// endChest forgets the chest session; the bot lingers a moment.
func (b *bot) endChest() {
	b.chest = chestSession{}
	b.pauseUntil = b.now.Add(time.Duration(b.rng.IntN(500)) * time.Millisecond)
}

// pace refills the bot's movement allowance for the time since the last
// refill: PaceShare*arena.Speed units a second, at most PaceBank seconds
// of it.
func (b *bot) pace() {
	const rate = PaceShare * arena.Speed
	if !b.paced.IsZero() {
		b.allowance = min(b.allowance+rate*b.now.Sub(b.paced).Seconds(), rate*PaceBank)
	}
	b.paced = b.now
}

// drive takes the next step along the path, one a frame at most, when the
// allowance covers it (see pace), choosing a new target when there is
// none.
func (b *bot) drive(me arena.Point) {
	b.pace()
	if b.hunting != 0 && !b.now.Before(b.repathAt) {
		b.path = nil // the quarry moved: plan again
	}
	if len(b.path) == 0 {
		b.target(me)
		if len(b.path) == 0 {
			b.pauseUntil = b.now.Add(300 * time.Millisecond)
			return
		}
	}
	w := b.m.Zone().W
	tol := arrived(b.rate)
	for len(b.path) > 0 {
		wp := center(b.path[0], w)
		if abs32(wp.X-me.X) <= tol && abs32(wp.Y-me.Y) <= tol {
			b.path = b.path[1:]
			continue
		}
		break
	}
	if len(b.path) == 0 { // arrived: look around a moment
		b.hunting = 0
		b.pauseUntil = b.now.Add(time.Duration(b.rng.IntN(800)) * time.Millisecond)
		return
	}
	wp := center(b.path[0], w)
	c := arena.Control{DX: towards(wp.X-me.X, tol), DY: towards(wp.Y-me.Y, tol)}
	next := b.step(me, c)
	if next == me {
		b.path = nil // stuck: plan again
		return
	}
	cost := dist(me, next)
	if cost > b.allowance {
		return // wait for the allowance
	}
	if t, _ := b.m.Tile(tileOf(next)); t == arena.TilePortal {
		if !b.portalGoal {
			b.path = nil
			return
		}
		b.teleporting, b.teleportAt = true, b.now
	}
	if _, err := b.pp.Input(c); err != nil {
		b.sendFailed(err)
		b.teleporting = false
		return
	}
	b.allowance -= cost
	b.rep.Inputs++
}

// arrived is how near a waypoint, in units along each axis, the bot must
// come at rate ticks per second: half a step (arena.StepUnits), so that a
// step never overshoots it for good (a 6-unit step at 10 Hz cannot end
// within 1 unit of every point).
func arrived(rate int) int32 { return arena.StepUnits(rate) / 2 }

// towards returns the stick direction that closes the gap d, or 0 when it
// is within tol, which a step cannot close without overshooting past the
// centre.
func towards(d, tol int32) int8 {
	switch {
	case d > tol:
		return 1
	case d < -tol:
		return -1
	}
	return 0
}

// center is the centre of tile index i of a zone w tiles wide.
func center(i, w int) arena.Point {
	return arena.Point{X: int32(i%w)*arena.Unit + arena.Unit/2, Y: int32(i/w)*arena.Unit + arena.Unit/2}
}

// target picks where to go next and plans the path there: a portal now
// and then, a tank in view, a chest it remembers, or a random spot.
func (b *bot) target(me arena.Point) {
	z := b.m.Zone()
	sx, sy := tileOf(me)
	b.plan.search(b.m, z.W, z.H, sx, sy)
	b.portalGoal, b.hunting = false, 0
	goal := -1
	r := b.rng.Float64()
	switch {
	case r < b.cfg.PortalChance:
		var portals []int
		for i := range z.W * z.H {
			if t, _ := b.m.Tile(i%z.W, i/z.W); t == arena.TilePortal && b.plan.reached(i) {
				portals = append(portals, i)
			}
		}
		if len(portals) > 0 {
			goal = portals[b.rng.IntN(len(portals))]
			b.portalGoal = true
		}
	case r < b.cfg.PortalChance+0.4:
		if e, ok := b.enemy(me, arena.ViewRadius); ok {
			if i := b.tileIndex(pos(e)); b.plan.reached(i) {
				goal, b.hunting = i, e.ID
				b.repathAt = b.now.Add(time.Second)
			}
		}
	case r < b.cfg.PortalChance+0.8:
		var ids []replica.EntityID
		for id, ci := range b.chests {
			if (ci.visited.IsZero() || b.now.Sub(ci.visited) >= ChestRevisit) && b.plan.reached(b.tileIndex(ci.at)) {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			// Map order is random: pick by id for determinism.
			slices.Sort(ids)
			goal = b.tileIndex(b.chests[ids[b.rng.IntN(len(ids))]].at)
		}
	}
	for try := 0; goal < 0 && try < 40; try++ {
		i := b.rng.IntN(z.W * z.H)
		if t, _ := b.m.Tile(i%z.W, i/z.W); t == arena.TileFloor && b.plan.reached(i) && b.plan.dist[i] >= 4 {
			goal = i
		}
	}
	if goal >= 0 {
		b.path = b.plan.path(goal, b.path[:0])
	}
}

// tileIndex returns the index of the tile holding p in the current zone.
func (b *bot) tileIndex(p arena.Point) int {
	x, y := tileOf(p)
	return y*b.m.Zone().W + x
}
