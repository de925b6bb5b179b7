package arena

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// syncMessages returns the replica (world-sync) messages among msgs.
func syncMessages(msgs []any) []any {
	var out []any
	for _, m := range msgs {
		if reflect.TypeOf(m).Elem().PkgPath() == reflect.TypeOf(replica.Enter{}).PkgPath() {
			out = append(out, m)
		}
	}
	return out
}

// filter returns the lines that start with prefix.
func filter(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func countPrefix(lines []string, sub string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// TestHumanModeNarrates: a player on a text connection gets no sync stream,
// but a line when a tank comes into view and one when it has left, however
// often it flickers at the edge of sight in between.
func TestHumanModeNarrates(t *testing.T) {
	h := newHarness(t)
	a := h.joinHuman("alice")
	b := h.join("bob")
	h.place(a, 1, northX, northY)
	h.place(b, 1, southX, southY) // behind the long wall
	h.ticks(20)
	got := a.take()
	if s := syncMessages(got); len(s) != 0 {
		t.Fatalf("human mode got %d sync messages, e.g. %T", len(s), s[0])
	}
	if !h.g.players[a.id].human || h.g.players[b.id].human {
		t.Fatal("modes: a text player must start human, a MessagePack one sync")
	}
	if n := notes(got); countPrefix(n, "in view: ") != 1 || countPrefix(n, "bob") != 0 {
		t.Fatalf("after the snapshot: %q", n)
	}
	bid := h.tankOf(b)
	visible, hidden := Point{105, 145}, Point{southX, southY}
	h.place(b, 1, visible.X, visible.Y)
	h.tick()
	want := fmt.Sprintf("bob (tank %d) comes into view at tile 10,14, ", bid)
	if n := notes(a.take()); len(n) != 1 || !strings.HasPrefix(n[0], want) || !strings.HasSuffix(n[0], "tiles w") {
		t.Fatalf("bob in sight: %q, want %q...", n, want)
	}
	// Flicker at the edge of sight: in and out every few ticks, for less
	// than LeaveDelay each time out.
	var flicker []any
	for i := 0; i < 8; i++ {
		h.place(b, 1, hidden.X, hidden.Y)
		h.ticks(5)
		h.place(b, 1, visible.X, visible.Y)
		h.ticks(3)
		flicker = append(flicker, a.take()...)
	}
	if n := notes(flicker); len(n) != 0 {
		t.Fatalf("flickering told: %q", n)
	}
	if len(syncMessages(flicker)) != 0 {
		t.Fatal("sync messages in human mode")
	}
	// Out for good: one line, LeaveDelay later.
	h.place(b, 1, hidden.X, hidden.Y)
	h.ticks(int(h.g.ticksFor(LeaveDelay)) - 1)
	if n := notes(a.take()); len(n) != 0 {
		t.Fatalf("told too early: %q", n)
	}
	h.ticks(2)
	if n := notes(a.take()); len(n) != 1 || n[0] != fmt.Sprintf("bob (tank %d) left your view", bid) {
		t.Fatalf("bob gone: %q", n)
	}
	// A program in sync mode got the stream and none of this.
	if n := notes(b.take()); countPrefix(n, "comes into view") != 0 {
		t.Fatalf("sync player narrated: %q", n)
	}
}

// TestHumanHitDestroyedRespawn: the readable lines of a fight, for the tank
// hit, for an observer, and the respawn.
func TestHumanHitDestroyedRespawn(t *testing.T) {
	h := newHarness(t)
	victim, shooter, obs := h.joinHuman("victim"), h.join("shooter"), h.joinHuman("obs")
	h.place(victim, 1, 255, 215)
	h.place(shooter, 1, 305, 215)
	h.place(obs, 1, 255, 245)
	h.send(shooter, &Turn{Deg: 180})
	h.ticks(10)
	victim.take()
	obs.take()
	sid, vid := h.tankOf(shooter), h.tankOf(victim)
	for i := 1; i <= 4; i++ {
		h.send(shooter, &Fire{})
		h.tick()
		n := notes(victim.take())
		if i < 4 {
			want := fmt.Sprintf("you are hit by shooter (tank %d) for 25, hp %d; AIM %d then FIRE to shoot back", sid, 100-25*i, sid)
			if len(n) != 1 || n[0] != want {
				t.Fatalf("hit %d: %q, want %q", i, n, want)
			}
		} else if len(n) != 1 || n[0] != "destroyed by shooter; respawning in 3 s" {
			t.Fatalf("destroyed: %q", n)
		}
		h.ticks(h.ticksOf(FireCooldown) - 1)
	}
	if n := notes(obs.take()); countPrefix(n, fmt.Sprintf("victim (tank %d) was destroyed by shooter (tank %d)", vid, sid)) != 1 {
		t.Fatalf("observer: %q", n)
	}
	h.ticks(h.ticksOf(RespawnDelay))
	got := victim.take()
	if len(ofType[Spawn](got)) != 1 || countPrefix(notes(got), "your tank is back: respawned at tile ") != 1 {
		t.Fatalf("respawn: %q", notes(got))
	}
}

// TestAimFollowsAndHits: AIM keeps the gun on a moving tank, so that FIRE
// typed later still hits; the refusals say what to do.
func TestAimFollowsAndHits(t *testing.T) {
	h := newHarness(t)
	a, b, c := h.joinHuman("a"), h.join("b"), h.join("c")
	h.place(a, 1, 255, 215)
	h.place(b, 1, 305, 215)
	h.place(c, 1, 205, 115) // elsewhere, out of a's view
	h.ticks(10)
	a.take()
	bid := h.tankOf(b)
	h.send(a, &Aim{ID: uint32(bid)})
	h.tick()
	n := notes(a.take())
	if len(n) != 1 || !strings.HasPrefix(n[0], fmt.Sprintf("aiming at b (tank %d), 5.0 tiles e, heading 0; in range: FIRE to shoot", bid)) {
		t.Fatalf("AIM: %q", n)
	}
	// b drives south-east; the gun follows.
	for i := 1; i <= 10; i++ {
		h.send(b, &Drive{Seq: uint32(i), X: 305 + 2*int32(i), Y: 215 + 3*int32(i)})
		h.tick()
	}
	if got, want := h.g.w.Get(h.tankOf(a), TankHeading), Heading(h.posOf(a), h.posOf(b)); got != want || want == 0 {
		t.Fatalf("heading %d, want %d (towards b)", got, want)
	}
	h.send(a, &Fire{})
	h.tick()
	if n := notes(a.take()); len(n) != 1 || !strings.HasPrefix(n[0], fmt.Sprintf("hit b (tank %d) for 25: hp 75", bid)) {
		t.Fatalf("FIRE: %q", n)
	}
	// TURN lets go.
	h.send(a, &Turn{Deg: 90})
	h.tick()
	if h.g.players[a.id].tank.aim != 0 {
		t.Fatal("TURN kept the aim")
	}
	// AIM with no id: the nearest tank.
	h.send(a, &Aim{})
	h.tick()
	if n := notes(a.take()); len(n) != 1 || !strings.HasPrefix(n[0], fmt.Sprintf("aiming at b (tank %d)", bid)) {
		t.Fatalf("AIM: %q", n)
	}
	var chestID replica.EntityID
	for id := range h.g.chests {
		if h.g.players[a.id].view.Sees(id) {
			chestID = id
		}
	}
	if chestID == 0 {
		t.Fatal("no chest in a's view")
	}
	for _, c := range []struct {
		id   replica.EntityID
		text string
	}{
		{h.tankOf(a), "is your own"},
		{h.tankOf(c), "no tank"},
		{999999, "no tank 999999 in view; LOOK lists the tanks you see"},
		{chestID, "is a chest, not a tank"},
	} {
		h.send(a, &Aim{ID: uint32(c.id)})
		h.tick()
		errs := h.errs[a.id]
		if e := errs[len(errs)-1]; e.Code != "no_target" || !strings.Contains(e.Text, c.text) {
			t.Errorf("AIM %d: %+v, want no_target %q", c.id, e, c.text)
		}
	}
	// Out of view: the gun lets go, and says so.
	h.send(a, &Aim{ID: uint32(bid)})
	h.tick()
	a.take()
	h.place(b, 1, southX, southY)
	h.ticks(2)
	if n := notes(a.take()); countPrefix(n, fmt.Sprintf("your gun lost b (tank %d): out of view", bid)) != 1 {
		t.Fatalf("lost target: %q", n)
	}
	h.place(b, 1, 255, 245)
	h.place(c, 1, 55, 55)
	h.ticks(3)
	// Nobody in view: AIM alone is refused.
	h.place(b, 1, southX, southY)
	h.ticks(2)
	h.send(a, &Aim{})
	h.tick()
	if errs := h.errs[a.id]; errs[len(errs)-1].Code != "no_target" {
		t.Fatalf("AIM with nobody in view: %+v", errs[len(errs)-1])
	}
}

// chestAt returns the chest at x, y.
func chestAt(t *testing.T, h *harness, x, y int32) replica.EntityID {
	t.Helper()
	for id := range h.g.chests {
		if h.g.pos(id) == (Point{x, y}) {
			return id
		}
	}
	t.Fatalf("no chest at %d,%d", x, y)
	return 0
}

func lastErr(h *harness, p *fakePeer) *msg.Err {
	errs := h.errs[p.id]
	if len(errs) == 0 {
		return &msg.Err{}
	}
	return errs[len(errs)-1]
}

// TestItemsDoSomething: gold and gems score, a medkit heals, ammo makes
// hits count double, a key opens a locked chest, and chests refill.
func TestItemsDoSomething(t *testing.T) {
	h := newHarness(t)
	a, target := h.joinHuman("a"), h.join("target")
	chestID := chestAt(t, h, 265, 175)
	for s, item := range []int32{ItemGold, ItemGem, ItemMedkit, ItemAmmo, ItemKey, 0} {
		h.g.w.Set(chestID, ChestSlot0+s, item)
	}
	h.place(a, 1, 255, 175)
	h.place(target, 1, 305, 175)
	h.ticks(5)
	a.take()
	aid := h.tankOf(a)
	inv := func(i int) int32 { return h.g.w.Get(aid, TankInv0+i) }
	h.send(a, &Open{ID: uint32(chestID)})
	h.tick()
	if n := notes(a.take()); len(n) != 1 || !strings.HasPrefix(n[0], fmt.Sprintf("chest %d: 0:gold 1:gem 2:medkit 3:ammo 4:key 5:-; TAKE", chestID)) {
		t.Fatalf("OPEN: %q", n)
	}
	h.send(a, &Take{Slot: 0})
	h.send(a, &Take{Slot: 1})
	h.tick()
	if n := notes(a.take()); len(n) != 2 || n[0] != "took gold: score +1, now 1" || n[1] != "took gem: score +3, now 4" {
		t.Fatalf("treasure: %q", n)
	}
	if h.g.w.Get(aid, TankScore) != GoldScore+GemScore || inv(0) != 0 {
		t.Fatal("treasure went to the inventory, or did not score")
	}
	h.send(a, &Take{Slot: 2}) // medkit -> inventory slot 0
	h.send(a, &Take{Slot: 3}) // ammo -> slot 1
	h.send(a, &Take{Slot: 4}) // key -> slot 2
	h.tick()
	if inv(0) != ItemMedkit || inv(1) != ItemAmmo || inv(2) != ItemKey {
		t.Fatalf("inventory %d %d %d", inv(0), inv(1), inv(2))
	}
	if n := notes(a.take()); countPrefix(n, "APPLY medkit heals 50 hp") != 1 || countPrefix(n, "locked chest") != 1 {
		t.Fatalf("take hints: %q", n)
	}
	// Medkit: refused at full health, heals when hurt.
	h.send(a, &Apply{Item: "medkit"})
	h.tick()
	if e := lastErr(h, a); e.Code != "no_effect" {
		t.Fatalf("medkit at full hp: %+v", e)
	}
	h.g.w.Set(aid, TankHP, 40)
	h.send(a, &Apply{Item: "0"})
	h.tick()
	if hp := h.g.w.Get(aid, TankHP); hp != 90 || inv(0) != 0 {
		t.Fatalf("hp %d after the medkit, slot 0 = %d", hp, inv(0))
	}
	// Ammo: three hits of 50.
	h.send(a, &Apply{Item: "AMMO"})
	h.tick()
	if sh := h.g.players[a.id].tank.shells; sh != HeavyShells || inv(1) != 0 {
		t.Fatalf("%d shells", sh)
	}
	h.send(a, &Aim{ID: uint32(h.tankOf(target))})
	h.tick()
	h.send(a, &Fire{})
	h.tick()
	if hp := h.g.w.Get(h.tankOf(target), TankHP); hp != MaxHP-2*Damage {
		t.Fatalf("heavy shell: target hp %d", hp)
	}
	if n := notes(a.take()); countPrefix(n, "for 50 with a heavy shell (2 left): hp 50") != 1 {
		t.Fatalf("heavy hit: %q", n)
	}
	// The key does nothing by itself, and refusals name what is valid.
	for _, c := range []struct{ item, code, text string }{
		{"key", "no_effect", "OPEN <chest id>"},
		{"gold", "empty", "you have no gold"},
		{"7", msg.CodeBadField, "want an inventory slot 0-3 or an item name"},
		{"banana", msg.CodeBadField, `got "banana"`},
		{"3", "empty", "inventory slot 3 is empty"},
	} {
		h.send(a, &Apply{Item: c.item})
		h.tick()
		if e := lastErr(h, a); e.Code != c.code || !strings.Contains(e.Text, c.text) {
			t.Errorf("APPLY %s: %+v, want %s %q", c.item, e, c.code, c.text)
		}
	}
	// The key opens a locked chest in the vault, once.
	var vault replica.EntityID
	for _, id := range h.g.chestIDs {
		if h.g.chests[id].lockable {
			vault = id
			break
		}
	}
	if vault == 0 || h.g.w.Get(vault, ChestLocked) != 1 {
		t.Fatal("no locked chest in the vault")
	}
	vp := h.g.pos(vault)
	b := h.joinHuman("b")
	h.place(b, 3, vp.X-10, vp.Y)
	h.ticks(3)
	h.send(b, &Open{ID: uint32(vault)})
	h.tick()
	if e := lastErr(h, b); e.Code != "locked" || !strings.Contains(e.Text, "with a key") {
		t.Fatalf("locked chest without a key: %+v", e)
	}
	h.send(a, &Close{})
	h.tick()
	h.place(a, 3, vp.X+10, vp.Y)
	h.ticks(3)
	a.take()
	h.send(a, &Open{ID: uint32(vault)})
	h.tick()
	n := notes(a.take())
	if len(n) != 2 || !strings.HasPrefix(n[0], fmt.Sprintf("you unlock chest %d with your key", vault)) || !strings.HasPrefix(n[1], fmt.Sprintf("chest %d: ", vault)) {
		t.Fatalf("unlock: %q", n)
	}
	if h.g.w.Get(vault, ChestLocked) != 0 || inv(2) != 0 {
		t.Fatal("the chest is still locked, or the key was kept")
	}
	h.send(b, &Open{ID: uint32(vault)}) // unlocked: anyone opens it now
	h.tick()
	if h.g.players[b.id].open != vault {
		t.Fatalf("b could not open the unlocked chest: %+v", lastErr(h, b))
	}
	// Restock: closed chests get an item and lock again.
	h.send(a, &Close{})
	h.send(b, &Close{})
	h.tick()
	for s := 0; s < ChestSlots; s++ {
		h.g.w.Set(chestID, ChestSlot0+s, 0)
	}
	for h.n%h.g.ticksFor(RestockPeriod) != 0 {
		h.tick()
	}
	h.tick()
	if h.g.w.Get(chestID, ChestSlot0) == 0 || h.g.w.Get(vault, ChestLocked) != 1 {
		t.Fatalf("restock: slot 0 = %d, vault locked = %d", h.g.w.Get(chestID, ChestSlot0), h.g.w.Get(vault, ChestLocked))
	}
}

// TestLookEdges draws LOOK in the corners and the middle of a zone and on
// a map smaller than the window: the rulers name the columns drawn, every
// row is labelled with its own y, off-map cells are walls, the player's @
// is where the header says, and no line would go out quoted.
func TestLookEdges(t *testing.T) {
	h := newHarness(t)
	a := h.joinHuman("a")
	pl := h.g.players[a.id]
	codec := func() *msg.Codec {
		reg := msg.NewRegistry()
		Register(reg)
		return reg.NewCodec(msg.Text)
	}()
	check := func(name string, z *zoneMap, tx, ty int, wantX0, wantY0 int) {
		t.Helper()
		pl.tank.zone = z
		h.g.w.SetPos(pl.tank.id, center(tx), center(ty))
		lines := h.g.lookLines(pl)
		var header int
		for i, l := range lines {
			if strings.HasPrefix(l, "map x ") {
				header = i
			}
			b, err := codec.Append(nil, &msg.Notice{Text: l}, 0)
			if err != nil || strings.HasPrefix(string(b), `INFO "`) || len(l) > maxNote {
				t.Fatalf("%s: line %q goes out as %q (%v)", name, l, b, err)
			}
		}
		want := fmt.Sprintf("map x %d to %d, y %d to %d (you see 12 tiles", wantX0, wantX0+lookSide-1, wantY0, wantY0+lookSide-1)
		if !strings.HasPrefix(lines[header], want) {
			t.Fatalf("%s: header %q, want %q", name, lines[header], want)
		}
		rulers := lines[header+1 : header+3]
		rows := lines[header+3 : header+3+lookSide]
		if strings.HasPrefix(lines[header+3+lookSide], "y ") || !strings.HasPrefix(rows[0], "y ") {
			t.Fatalf("%s: %d rows", name, lookSide)
		}
		bar := strings.Index(rulers[0], "|")
		for c := 0; c < lookSide; c++ {
			x := wantX0 + c
			tens, ones := byte('-'), byte('-')
			if x >= 0 && x < z.w {
				tens, ones = byte('0'+x/10%10), byte('0'+x%10)
			}
			if rulers[0][bar+1+c] != tens || rulers[1][bar+1+c] != ones {
				t.Fatalf("%s: column %d (x %d) ruled %c%c", name, c, x, rulers[0][bar+1+c], rulers[1][bar+1+c])
			}
		}
		for r, row := range rows {
			y := wantY0 + r
			label, cells, ok := strings.Cut(row, "|")
			if !ok || len(cells) != lookSide || len(label) != bar {
				t.Fatalf("%s: row %q", name, row)
			}
			wantLabel := fmt.Sprintf("y %0*d", bar-2, y)
			if y < 0 || y >= z.h {
				wantLabel = "y " + strings.Repeat("-", bar-2)
			}
			if label != wantLabel {
				t.Fatalf("%s: row %d labelled %q, want %q", name, r, label, wantLabel)
			}
			for c := 0; c < lookSide; c++ {
				x := wantX0 + c
				tl, in := z.Tile(x, y)
				want := byte(markFloor)
				switch {
				case x == tx && y == ty:
					want = markYou
				case !in || tl == TileWall:
					want = markWall
				case tl == TilePortal:
					want = markPortal
				}
				if cells[c] != want && !(want == markFloor && strings.IndexByte("TxCL", cells[c]) >= 0) {
					t.Fatalf("%s: %d,%d drawn %c, want %c\n%s", name, x, y, cells[c], want, strings.Join(rows, "\n"))
				}
			}
		}
	}
	z1 := h.g.zones[1]
	check("top left", z1, 1, 1, 0, 0)
	check("bottom right", z1, 46, 30, 23, 7)
	check("middle", z1, 28, 8, 16, 0)
	check("portal", z1, 45, 15, 23, 3)
	// A map smaller than the window: the window stays centred, and
	// everything outside the map is wall.
	tiny := &zoneMap{id: 1, name: "tiny", w: 10, h: 8, tiles: make([]uint8, 80)}
	for x := 0; x < 10; x++ {
		tiny.tiles[x] = TileWall
	}
	check("tiny", tiny, 5, 4, 5-lookSide/2, 4-lookSide/2)
	pl.tank.zone = z1

	// Everything listed is drawn, and everything drawn is in view.
	h.place(a, 1, northX, northY)
	b := h.join("b")
	h.place(b, 1, northX-30, northY+20)
	h.ticks(3)
	lines := h.g.lookLines(pl)
	you := fmt.Sprintf("you see tank %d b at tile 17,13, 3.6 tiles sw, hp 100", h.tankOf(b))
	if countPrefix(lines, you) != 1 {
		t.Fatalf("LOOK does not list b: %q", lines)
	}
}

// TestModeSwitch: MODE sync gives a text player the sync protocol (a
// snapshot its model loads, SPAWN for its predictor); MODE human stops it;
// a USE to JSON or MessagePack switches to sync by itself.
func TestModeSwitch(t *testing.T) {
	h := newHarness(t)
	a, b := h.joinHuman("a"), h.join("b")
	h.place(a, 1, northX, northY)
	h.place(b, 1, northX+20, northY)
	h.ticks(5)
	a.take()
	h.send(a, &Mode{})
	h.tick()
	if n := notes(a.take()); len(n) != 1 || !strings.HasPrefix(n[0], "mode human") {
		t.Fatalf("MODE: %q", n)
	}
	h.send(a, &Mode{Mode: "SYNC"})
	h.ticks(20)
	got := a.take()
	if len(ofType[Spawn](got)) != 1 || countPrefix(notes(got), "sync mode: the world follows as KIND, ZONE, TILES") != 1 {
		t.Fatalf("MODE sync: %q", notes(got))
	}
	if a.model.Loading() || a.model.Zone().ID != 1 || !hasEntity(a.model, h.tankOf(b)) || len(a.reports) != 0 {
		t.Fatalf("the snapshot after MODE sync: zone %+v, loading %v, reports %v", a.model.Zone(), a.model.Loading(), a.reports)
	}
	h.send(a, &Mode{Mode: "sync"})
	h.tick()
	if n := notes(a.take()); len(n) != 1 || n[0] != "already in sync mode" {
		t.Fatalf("MODE sync twice: %q", n)
	}
	h.send(a, &Mode{Mode: "human"})
	h.tick()
	a.take()
	for i := 0; i < 10; i++ {
		h.send(b, &Drive{Seq: uint32(i + 1), X: northX + 20 + 3*int32(i+1), Y: northY})
		h.tick()
	}
	if s := syncMessages(a.take()); len(s) != 0 {
		t.Fatalf("human mode after MODE human: %d sync messages", len(s))
	}
	h.send(a, &Mode{Mode: "binary"})
	h.tick()
	if e := lastErr(h, a); e.Code != msg.CodeBadField || !strings.Contains(e.Text, "want human or sync") {
		t.Fatalf("MODE binary: %+v", e)
	}
	// A text connection that switches to JSON is a program.
	a.enc = msg.JSON
	h.ticks(20)
	if h.g.players[a.id].human || len(syncMessages(a.take())) == 0 {
		t.Fatal("USE json did not switch to sync")
	}
}

// TestResumeKeepsTheMode: a held seat keeps its mode for a text
// connection; a resume in JSON or MessagePack is a program: sync.
func TestResumeKeepsTheMode(t *testing.T) {
	h := newHarness(t)
	a := h.joinHuman("a")
	h.ticks(3)
	h.g.disconnect(a)
	h.ticks(3)
	a2 := &fakePeer{id: a.id, name: "a", enc: msg.Text, log: a.log, model: replica.NewModel()}
	h.g.reconnect(a2)
	h.ticks(10)
	if !h.g.players[a.id].human || len(syncMessages(a2.take())) != 0 {
		t.Fatal("a text resume left human mode")
	}
	h.g.disconnect(a2)
	a3 := &fakePeer{id: a.id, name: "a", enc: msg.MsgPack, log: a.log, model: replica.NewModel()}
	h.g.reconnect(a3)
	h.ticks(10)
	if h.g.players[a.id].human || a3.model.Loading() || !hasEntity(a3.model, h.tankOf(a)) {
		t.Fatal("a MessagePack resume did not get the sync protocol")
	}
}

// TestIdleWarningAndWatch: a quiet human player is warned once before the
// server's idle timeout; WATCH sends a status line on a period.
func TestIdleWarningAndWatch(t *testing.T) {
	h := newHarness(t, WithIdleTimeout(4*time.Second))
	a, b := h.joinHuman("a"), h.join("b")
	warnAfter := int(h.g.ticksFor(3 * time.Second)) // three quarters of the timeout
	h.ticks(warnAfter - 1)
	if n := countPrefix(notes(a.take()), "you have sent no command"); n != 0 {
		t.Fatal("warned early")
	}
	h.ticks(2)
	if n := notes(a.take()); countPrefix(n, "you have sent no command for 3 s: the server closes a connection silent for 4 s; send any line (a blank one will do) to stay") != 1 {
		t.Fatalf("warning: %q", n)
	}
	h.ticks(3 * warnAfter)
	if n := countPrefix(notes(a.take()), "you have sent no command"); n != 0 {
		t.Fatal("warned twice without input")
	}
	if n := countPrefix(notes(b.take()), "you have sent no command"); n != 0 {
		t.Fatal("a program was warned")
	}
	h.send(a, &Watch{Seconds: 1})
	h.tick()
	if n := notes(a.take()); len(n) != 2 || !strings.HasPrefix(n[1], "status: hp 100, score 0, tile ") {
		t.Fatalf("WATCH 1: %q", n)
	}
	h.ticks(5 * int(h.g.ticksFor(time.Second)))
	if n := countPrefix(notes(a.take()), "status: "); n != 5 {
		t.Fatalf("%d status lines in 5 s", n)
	}
	// WATCH 0 stops the lines, and, being input, restarts the idle
	// clock: the next warning comes a full period after it.
	h.send(a, &Watch{Seconds: 0})
	h.ticks(warnAfter)
	if n := notes(a.take()); countPrefix(n, "status: ") != 0 || countPrefix(n, "you have sent no command") != 0 {
		t.Fatalf("after WATCH 0: %q", n)
	}
	h.ticks(2)
	if n := countPrefix(notes(a.take()), "you have sent no command"); n != 1 {
		t.Fatal("no second warning")
	}
}

// TestGoSaysWhy: GO takes the long names, refuses others by listing the
// valid ones, and says why it stopped short.
func TestGoSaysWhy(t *testing.T) {
	h := newHarness(t)
	a := h.joinHuman("a")
	h.place(a, 1, northX, northY)
	h.ticks(30)
	h.send(a, &Go{Dir: "North", Tiles: 2})
	h.tick()
	if p := h.posOf(a); p != (Point{northX, northY - 20}) {
		t.Fatalf("GO North 2: at %v", p)
	}
	h.send(a, &Go{Dir: "up"})
	h.tick()
	if e := lastErr(h, a); e.Code != msg.CodeBadField || !strings.Contains(e.Text, "want n, s, e, w, ne, nw, se or sw") {
		t.Fatalf("GO up: %+v", e)
	}
	h.ticks(30)
	a.take()
	h.send(a, &Go{Dir: "w", Tiles: 4})
	h.send(a, &Go{Dir: "w", Tiles: 6})
	h.send(a, &Go{Dir: "w", Tiles: 6})
	h.tick()
	if n := filter(notes(a.take()), "stopped"); len(n) != 1 || !regexp.MustCompile(`^stopped after 2\.0 of 6 tiles: the tank drives at most 6 tiles a second; GO again in a moment$`).MatchString(n[0]) {
		t.Fatalf("second GO: %q", n)
	}
	if e := lastErr(h, a); e.Code != "blocked" || !strings.Contains(e.Text, "yet: the tank drives at most 6 tiles a second") {
		t.Fatalf("third GO: %+v", e)
	}
	h.place(a, 1, 225, 115) // tile 22,11, west of the wall in column 23
	h.ticks(30)
	h.send(a, &Go{Dir: "e", Tiles: 3})
	h.tick()
	if n := filter(notes(a.take()), "stopped"); len(n) != 1 || !strings.HasSuffix(n[0], "of 3 tiles: a wall is in the way") {
		t.Fatalf("GO into a wall: %q", n)
	}
	h.send(a, &Go{Dir: "e"})
	h.tick()
	if e := lastErr(h, a); e.Code != "blocked" || !strings.Contains(e.Text, "a wall is in the way") {
		t.Fatalf("GO against a wall: %+v", e)
	}
}

// TestHelpSections: HELP lists the game commands first, explains the game,
// then lists the protocol commands; every client command once, and every
// line goes out unquoted.
func TestHelpSections(t *testing.T) {
	reg := msg.NewRegistry()
	Register(reg)
	lines := Help(reg)
	all := strings.Join(lines, "\n")
	game := strings.Index(all, "game commands")
	how := strings.Index(all, "how it works:")
	proto := strings.Index(all, "protocol commands")
	if game != 0 || how < game || proto < how {
		t.Fatalf("sections out of order:\n%s", all)
	}
	for _, typ := range reg.Types() {
		if typ.Dir&msg.ToServer == 0 {
			continue
		}
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, typ.Usage()+" ") || l == typ.Usage() {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s listed %d times", typ.Name, n)
		}
		inGame := strings.Index(all, "\n"+typ.Usage()+" ") < proto
		if want := !strings.Contains("AUTH RESUME PING STATS USE LOG DRIVE DESYNC", typ.Name); inGame != want {
			t.Errorf("%s: in the game section %v, want %v", typ.Name, inGame, want)
		}
	}
	for _, want := range []string{"12 tiles", "respawns 3 s later", "portals: an O on the map", "medkit heals 50", "a key opens a locked chest",
		"KIND, ZONE, TILES, ENTER, DELTA, EVENT, REMOVE, SNAPEND, STATE, RSLICE, ACK", "strings with spaces"} {
		if !strings.Contains(all, want) {
			t.Errorf("HELP does not explain %q", want)
		}
	}
	for _, l := range lines {
		if l != strings.TrimSpace(l) || len(l) > maxNote || strings.HasPrefix(l, `"`) {
			t.Errorf("line %q would go out quoted or cut", l)
		}
	}
}

func TestBanner(t *testing.T) {
	if b := Banner("127.0.0.1:5001"); !strings.Contains(b, "127.0.0.1:5001") || !strings.Contains(b, "AUTH guest within 5 s") ||
		!strings.Contains(b, "silent for 2 min is closed, and a blank line counts") {
		t.Errorf("Banner: %q", b)
	}
	if b := BannerFor("x", 1500*time.Millisecond, 90*time.Second); !strings.Contains(b, "within 1.5 s") || !strings.Contains(b, "silent for 90 s") {
		t.Errorf("BannerFor: %q", b)
	}
}

// TestNewCommandsRefuseGarbage: MODE, AIM, APPLY and WATCH with garbage
// arguments are refused with what would be valid, by the codec or by the
// game; none of it is a strike; and flipping MODE a hundred times in a
// tick leaves one viewer sending to the player.
func TestNewCommandsRefuseGarbage(t *testing.T) {
	reg := msg.NewRegistry()
	Register(reg)
	for _, c := range []struct{ line, code, text string }{
		{"AIM -5", msg.CodeBadField, "want an unsigned integer"},
		{"AIM 1 2", msg.CodeBadSyntax, "too many arguments (usage: AIM [id])"},
		{"AIM 99999999999", msg.CodeBadField, "overflows uint32"},
		{"WATCH", msg.CodeBadField, "missing (usage: WATCH seconds)"},
		{"WATCH 601", msg.CodeBadField, "must be <= 600, got 601; valid: 0 to 600"},
		{"WATCH soon", msg.CodeBadField, `want an integer, got "soon"; valid: 0 to 600`},
		{"MODE telepathic", msg.CodeBadField, "longer than 8 bytes"},
		{"MODE a b", msg.CodeBadSyntax, "too many arguments"},
		{"APPLY", msg.CodeBadField, "missing (usage: APPLY item)"},
		{"APPLY " + strings.Repeat("x", 300), msg.CodeBadField, "longer than 8 bytes (got 300)"},
		{"GO northwestward", msg.CodeBadField, "n|s|e|w|ne|nw|se|sw"},
	} {
		_, err := reg.Decode(msg.Text, []byte(c.line), msg.ToServer)
		de, ok := err.(*msg.DecodeError)
		if !ok || de.Code != c.code || !strings.Contains(de.Text(), c.text) {
			t.Errorf("%q: %v, want %s %q", c.line, err, c.code, c.text)
		}
	}
	h := newHarness(t)
	a := h.joinHuman("a")
	h.ticks(3)
	for _, m := range []any{&Mode{Mode: "???"}, &Apply{Item: "-1"}, &Apply{Item: ""}, &Aim{ID: 1 << 31}, &Go{Dir: ""}, &Go{Dir: "nne"}} {
		h.send(a, m)
		h.tick()
		if e := lastErr(h, a); e.Code == "" || e.Code == "refused" || e.Text == "" {
			t.Errorf("%T %+v: %+v", m, m, e)
		}
	}
	if len(a.strikes) != 0 {
		t.Errorf("strikes %v for refused commands", a.strikes)
	}
	for i := 0; i < 100; i++ {
		h.send(a, &Mode{Mode: []string{"sync", "human"}[i%2]})
		h.send(a, &Watch{Seconds: int32(i % 3)})
	}
	h.send(a, &Mode{Mode: "sync"})
	h.tick()
	// Every viewer made in the tick starts its snapshot at its Flush: one
	// ZONE means one viewer.
	if n := len(ofType[replica.ZoneStart](a.take())); n != 1 {
		t.Fatalf("after 101 switches: %d ZONE messages, want 1 (viewers leaked)", n)
	}
	h.ticks(30)
	if n := len(ofType[replica.ZoneStart](a.take())); n != 0 {
		t.Fatalf("%d snapshots after the flips settled", n)
	}
	h.send(a, &Mode{Mode: "human"})
	h.send(a, &Mode{Mode: "sync"})
	h.tick()
	if n := len(ofType[replica.ZoneStart](a.take())); n != 1 {
		t.Fatalf("one switch to sync: %d ZONE messages, want 1 (a viewer leaked?)", n)
	}
}
