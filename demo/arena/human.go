package arena

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
)

// Human mode: a person on nc reads lines, not the sync stream. The
// player's replica viewer still decides what it sees (so a person learns
// exactly what a program would, and nothing more), but its output goes to
// a narrator, which turns it into a few readable lines: who comes into
// view and leaves it (once, however often an entity flickers at the edge
// of sight), who was destroyed, and a summary after each snapshot. Hits
// on the player's own tank, respawns and the rest are told by the rules
// where they happen.

// Modes for MODE.
const (
	ModeHuman = "human"
	ModeSync  = "sync"
)

// narrator is a human-mode player's replica.Sender.
type narrator struct {
	g  *sim
	pl *player
	// told holds the entities the player was told are in view; leaving
	// those that went out of view since the tick given, and are announced
	// as gone LeaveDelay later unless they come back first.
	told     map[replica.EntityID]bool
	leaving  map[replica.EntityID]uint64
	snapping bool
	snapped  []replica.EntityID // ENTERs of the snapshot in progress
}

func newNarrator(g *sim, pl *player) *narrator {
	return &narrator{g: g, pl: pl, told: map[replica.EntityID]bool{}, leaving: map[replica.EntityID]uint64{}}
}

// Encoding is what the viewer's byte budget is counted in; nothing is
// encoded for a narrator.
func (n *narrator) Encoding() msg.Encoding { return msg.MsgPack }

// Send takes the viewer's sync messages. Those that matter to a person
// become lines; DELTA, STATE, RSLICE, TILES, KIND and ACK say nothing new
// to someone who can LOOK.
func (n *narrator) Send(m any) {
	switch m := m.(type) {
	case *replica.ZoneStart:
		// A new snapshot: the player joined, resumed or went through a
		// portal. What was in view before is gone without a word.
		clear(n.told)
		clear(n.leaving)
		n.snapping, n.snapped = true, n.snapped[:0]
	case *replica.Enter:
		n.enter(replica.EntityID(m.ID))
	case *replica.SnapEnd:
		n.snapping = false
		n.summary()
	case *replica.Remove:
		id := replica.EntityID(m.ID)
		if n.told[id] {
			if _, ok := n.leaving[id]; !ok {
				n.leaving[id] = n.g.n
			}
		}
	case *replica.Event:
		n.event(m)
	}
}

func (n *narrator) enter(id replica.EntityID) {
	if id == n.pl.tank.id {
		return
	}
	if n.snapping {
		n.snapped = append(n.snapped, id)
		n.told[id] = true
		return
	}
	if _, ok := n.leaving[id]; ok {
		delete(n.leaving, id) // back before it was announced gone
		return
	}
	if n.told[id] {
		return // renamed, or sent again: nothing new
	}
	n.told[id] = true
	n.g.note(n.pl, "%s comes into view %s", n.g.describe(id), n.g.where(n.pl, id))
}

// summary lists what the player sees when a snapshot is complete.
func (n *narrator) summary() {
	g, pl := n.g, n.pl
	if len(n.snapped) == 0 {
		g.note(pl, "in view: nothing; explore with GO, LOOK draws the map")
		return
	}
	slices.SortFunc(n.snapped, func(a, b replica.EntityID) int { return g.compareDist(pl, a, b) })
	parts := make([]string, 0, len(n.snapped))
	for i, id := range n.snapped {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("and %d more (LOOK lists them)", len(n.snapped)-i))
			break
		}
		parts = append(parts, g.describe(id)+" "+g.where(pl, id))
	}
	g.note(pl, "in view: %s", strings.Join(parts, "; "))
	n.snapped = n.snapped[:0]
}

// event tells of the destruction of a tank in view (the player's own is
// told by damage).
func (n *narrator) event(e *replica.Event) {
	g, id := n.g, replica.EntityID(e.ID)
	if e.Event != EvDie || id == n.pl.tank.id {
		return
	}
	if t := g.tanks[id]; t == nil {
		return
	}
	by := fmt.Sprintf("tank %d", e.Value)
	if shooter := replica.EntityID(e.Value); shooter == n.pl.tank.id {
		return // the shooter was told by fire
	} else if n.pl.view.Sees(shooter) {
		by = fmt.Sprintf("%s (tank %d)", g.w.Name(shooter), shooter)
	}
	g.note(n.pl, "%s (tank %d) was destroyed by %s", g.w.Name(id), id, by)
}

// flush announces the entities that stayed out of view for LeaveDelay.
func (n *narrator) flush() {
	if len(n.leaving) == 0 {
		return
	}
	delay := n.g.ticksFor(LeaveDelay)
	var gone []replica.EntityID
	for id, since := range n.leaving {
		if n.g.n-since >= delay {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		delete(n.leaving, id)
		delete(n.told, id)
		if !n.g.w.Exists(id) {
			n.g.note(n.pl, "tank %d left the game", id)
			continue
		}
		n.g.note(n.pl, "%s left your view", n.g.describe(id))
	}
}

// describe names an entity for a person: "guest-3 (tank 22)", "chest 7".
func (g *sim) describe(id replica.EntityID) string {
	if c := g.chests[id]; c != nil {
		if g.w.Get(id, ChestLocked) != 0 {
			return fmt.Sprintf("locked chest %d", id)
		}
		return fmt.Sprintf("chest %d", id)
	}
	if t := g.tanks[id]; t != nil && t.dead() {
		return fmt.Sprintf("the wreck of %s (tank %d)", g.w.Name(id), id)
	}
	return fmt.Sprintf("%s (tank %d)", g.w.Name(id), id)
}

// where says where entity id is for pl: "at tile 12,8, 5 tiles ne".
func (g *sim) where(pl *player, id replica.EntityID) string {
	p := g.pos(id)
	return fmt.Sprintf("at tile %d,%d, %s", p.X/Unit, p.Y/Unit, relative(g.pos(pl.tank.id), p))
}

// relative says where b is seen from a: "5 tiles ne", "here".
func relative(a, b Point) string {
	dx, dy := float64(b.X-a.X), float64(b.Y-a.Y)
	d := math.Hypot(dx, dy) / Unit
	switch {
	case d < 0.5:
		return "here"
	case d < 15:
		// Ranges (FIRE 10 tiles, OPEN 2.5) are decided in tenths.
		return fmt.Sprintf("%.1f tiles %s", d, compass(dx, dy))
	}
	return fmt.Sprintf("%.0f tiles %s", d, compass(dx, dy))
}

// compass names the direction of dx, dy (y grows southwards) as GO spells
// it.
func compass(dx, dy float64) string {
	deg := math.Atan2(dy, dx) * 180 / math.Pi // 0 east, 90 south
	i := int(math.Round(deg/45)+8) % 8
	return [...]string{"e", "se", "s", "sw", "w", "nw", "n", "ne"}[i]
}

// compareDist orders entities by distance from pl's tank, then id.
func (g *sim) compareDist(pl *player, a, b replica.EntityID) int {
	at := g.pos(pl.tank.id)
	da, db := dist2(at, g.pos(a)), dist2(at, g.pos(b))
	switch {
	case da < db:
		return -1
	case da > db:
		return 1
	}
	return int(a) - int(b)
}

func dist2(a, b Point) int64 {
	dx, dy := int64(b.X-a.X), int64(b.Y-a.Y)
	return dx*dx + dy*dy
}

// mode answers MODE: tells the mode, or switches it.
func (g *sim) mode(pl *player, m string) error {
	switch strings.ToLower(m) {
	case "":
		if pl.human {
			g.note(pl, "mode human: readable lines; MODE sync switches to the world-sync protocol (docs/SYNC.md)")
		} else {
			g.note(pl, "mode sync: the world-sync protocol (docs/SYNC.md); MODE human switches to readable lines")
		}
	case ModeHuman:
		g.setMode(pl, true)
	case ModeSync:
		g.setMode(pl, false)
	default:
		return server.Refuse(msg.CodeBadField, "MODE mode: want human or sync, got %q", m)
	}
	return nil
}

// setMode puts pl in human mode or sync mode. Switching gives the player a
// fresh viewer, so the new mode starts with a full snapshot (in sync mode
// the ZONE, TILES, ENTER... SNAPEND of docs/SYNC.md).
func (g *sim) setMode(pl *player, human bool) {
	if pl.human == human {
		if human {
			g.note(pl, "already in human mode")
		} else {
			g.note(pl, "already in sync mode")
		}
		return
	}
	g.w.RemoveViewer(pl.view)
	pl.human = human
	g.attach(pl)
	if human {
		g.note(pl, "human mode: readable lines from now on; LOOK draws the map, MODE sync switches back")
		return
	}
	pl.view.Ack(pl.lastSeq)
	g.note(pl, "sync mode: the world follows as KIND, ZONE, TILES, ENTER, DELTA, EVENT, REMOVE, SNAPEND, STATE, RSLICE and ACK (docs/SYNC.md); MODE human switches back")
	if !pl.tank.dead() {
		g.tellSpawn(pl) // where a predicting client starts from
	}
}

// setWatch answers WATCH: a status line every seconds seconds.
func (g *sim) setWatch(pl *player, seconds int32) {
	if seconds == 0 {
		pl.watch = 0
		g.note(pl, "watch off")
		return
	}
	pl.watch = g.ticksFor(secondsDur(seconds))
	pl.nextWatch = g.n + pl.watch
	g.note(pl, "watch: a status line every %d s; WATCH 0 stops it", seconds)
	g.status(pl)
}

// status sends pl one line: its tank and what it sees.
func (g *sim) status(pl *player) {
	t := pl.tank
	at := g.pos(t.id)
	state := fmt.Sprintf("hp %d", g.w.Get(t.id, TankHP))
	if t.dead() {
		state = "destroyed, back in " + g.secondsLeft(t.respawnAt)
	}
	seen := g.inView(pl)
	parts := make([]string, 0, len(seen))
	for i, id := range seen {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("%d more (LOOK)", len(seen)-i))
			break
		}
		parts = append(parts, g.describe(id)+" "+relative(at, g.pos(id)))
	}
	view := "nothing"
	if len(parts) > 0 {
		view = strings.Join(parts, "; ")
	}
	g.note(pl, "status: %s, score %d, tile %d,%d in zone %d, heading %d; in view: %s",
		state, g.w.Get(t.id, TankScore), at.X/Unit, at.Y/Unit, t.zone.id, g.w.Get(t.id, TankHeading), view)
}

// inView returns what pl's client holds besides its own tank, nearest
// first.
func (g *sim) inView(pl *player) []replica.EntityID {
	var ids []replica.EntityID
	at := g.pos(pl.tank.id)
	g.w.Near(pl.tank.zone.id, at.X, at.Y, ViewRadius, func(e replica.Entity) bool {
		if e.ID != pl.tank.id && pl.view.Sees(e.ID) {
			ids = append(ids, e.ID)
		}
		return true
	})
	slices.SortFunc(ids, func(a, b replica.EntityID) int { return g.compareDist(pl, a, b) })
	return ids
}

// afterFlush runs after the tick's Flush for each connected player: the
// narrator's delayed lines, the WATCH line and the idle warning.
func (g *sim) afterFlush(pl *player) {
	if pl.narr != nil {
		pl.narr.flush()
	}
	if pl.watch != 0 && g.n >= pl.nextWatch {
		pl.nextWatch = g.n + pl.watch
		g.status(pl)
	}
	if pl.human && !pl.warned && g.opts.idle > 0 {
		warnAt := g.opts.idle * 3 / 4
		if g.n-pl.lastInput >= g.ticksFor(warnAt) {
			pl.warned = true
			g.note(pl, "you have sent no command for %s: the server closes a connection silent for %s; send any line (a blank one will do) to stay",
				human(warnAt), human(g.opts.idle))
		}
	}
}

// aimAt answers AIM: the gun turns to tank id (0: the nearest tank in
// view) and follows it.
func (g *sim) aimAt(pl *player, id replica.EntityID) error {
	t := pl.tank
	if t.dead() {
		return errDead
	}
	if id == 0 {
		for _, o := range g.inView(pl) {
			if ot := g.tanks[o]; ot != nil && !ot.dead() {
				id = o
				break
			}
		}
		if id == 0 {
			return server.Refuse("no_target", "no tank in view; explore with GO, LOOK draws the map")
		}
	}
	switch target := g.tanks[id]; {
	case id == t.id:
		return server.Refuse("no_target", "tank %d is your own", id)
	case !pl.view.Sees(id):
		return server.Refuse("no_target", "no tank %d in view; LOOK lists the tanks you see", id)
	case target == nil:
		return server.Refuse("no_target", "%d is a chest, not a tank", id)
	case target.dead():
		return server.Refuse("no_target", "%s (tank %d) is a wreck; it respawns soon", g.w.Name(id), id)
	}
	t.aim = id
	g.track(pl)
	from, to := g.pos(t.id), g.pos(id)
	d := math.Sqrt(float64(dist2(from, to))) / Unit
	verdict := "in range: FIRE to shoot"
	switch {
	case d > FireRange/Unit:
		verdict = fmt.Sprintf("out of range: FIRE reaches %d tiles, GO closer", FireRange/Unit)
	case !t.zone.sees(t.zone.tileIndex(from.X, from.Y), t.zone.tileIndex(to.X, to.Y)):
		verdict = "a wall is in the line of fire"
	}
	g.note(pl, "aiming at %s (tank %d), %s, heading %d; %s; the gun follows it until you TURN",
		g.w.Name(id), id, relative(from, to), g.w.Get(t.id, TankHeading), verdict)
	return nil
}

// track turns pl's gun to the tank it aims at, or lets go of it when it is
// out of view or destroyed.
func (g *sim) track(pl *player) {
	t := pl.tank
	if t.aim == 0 {
		return
	}
	target := g.tanks[t.aim]
	if target == nil || target.dead() || t.dead() {
		t.aim = 0
		return
	}
	if !pl.view.Sees(t.aim) || target.zone != t.zone {
		g.note(pl, "your gun lost %s (tank %d): out of view", g.w.Name(t.aim), t.aim)
		t.aim = 0
		return
	}
	if h := Heading(g.pos(t.id), g.pos(target.id)); h >= 0 {
		g.w.Set(t.id, TankHeading, h)
	}
}

func secondsDur(s int32) time.Duration { return time.Duration(s) * time.Second }
