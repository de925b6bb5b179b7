package arena

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// Spots of zone 1 used by the tests (see maps/1.txt): row 14 is a wall from
// column 12 to 35, and column 23 a wall from row 10 to 19.
const (
	northX, northY = 205, 115 // tile 20,11: north of the long wall
	southX, southY = 205, 175 // tile 20,17: south of it, 60 units away
)

func TestMapsLoad(t *testing.T) {
	zones, err := loadZones()
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != 3 {
		t.Fatalf("%d zones", len(zones))
	}
	for id, z := range zones {
		if z.w != 48 || z.h != 32 || len(z.chests) == 0 || len(z.portals) < 2 {
			t.Errorf("zone %d: %dx%d, %d chests, %d portals", id, z.w, z.h, len(z.chests), len(z.portals))
		}
		for _, p := range z.portals {
			nz := zones[p.zone]
			if tl, _ := nz.Tile(int(p.x/Unit), int(p.y/Unit)); tl != TileFloor {
				t.Errorf("zone %d: portal %c arrives on tile %d", id, p.letter, tl)
			}
		}
	}
}

func TestJoinGetsSnapshot(t *testing.T) {
	h := newHarness(t)
	a := h.join("alice")
	h.ticks(20)
	if a.model.Loading() || a.model.Zone().ID != 1 || a.model.Zone().W != 48 {
		t.Fatalf("model zone %+v loading %v", a.model.Zone(), a.model.Loading())
	}
	if len(a.reports) != 0 {
		t.Fatalf("desync: %+v", a.reports)
	}
	me, ok := a.model.Entity(h.tankOf(a))
	if !ok || me.Vals[TankHP] != MaxHP || me.Name != "alice" {
		t.Fatalf("own tank in model: %+v %v", me, ok)
	}
	k, _ := a.model.Kind(KindTank)
	if k.Name != "tank" || k.Field("hp") != TankHP || k.Field("inv0") != TankInv0 {
		t.Fatalf("kind %+v", k)
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 48; x++ {
			got, _ := a.model.Tile(x, y)
			want, _ := h.g.zones[1].Tile(x, y)
			if got != want {
				t.Fatalf("tile %d,%d = %d, want %d", x, y, got, want)
			}
		}
	}
}

func TestSpeedHackRefusedLoggedStruck(t *testing.T) {
	h := newHarness(t)
	a := h.join("speedy")
	h.place(a, 1, northX, northY)
	h.ticks(30) // allowance full
	for i := 1; i <= StrikeAfter; i++ {
		a.take()
		h.send(a, &Drive{X: northX, Y: northY - 90, Seq: uint32(i)}) // 90 units in one go
		h.tick()
		got := a.take()
		errs := ofType[msg.Err](got)
		if len(errs) != 1 || errs[0].Code != "too_fast" {
			t.Fatalf("move %d: errors %+v", i, errs)
		}
		acks := ofType[replica.Ack](got)
		if len(acks) != 1 || acks[0].Seq != uint32(i) || acks[0].Vals[replica.FieldX] != northX || acks[0].Vals[replica.FieldY] != northY {
			t.Fatalf("move %d: ack %+v, want the unchanged position", i, acks)
		}
	}
	if p := h.posOf(a); p != (Point{northX, northY}) {
		t.Fatalf("tank moved to %v", p)
	}
	if got := h.logs.Lines("level=WARN", "suspicious move", "reason=too_fast", "player=speedy", "to_y=25", "dist=90"); len(got) != StrikeAfter {
		t.Fatalf("suspicious-move log lines: %q\nall:\n%s", got, h.logs)
	}
	if len(a.strikes) != 1 || a.strikes[0] != "impossible_move" {
		t.Fatalf("strikes %v, want one impossible_move after %d offences", a.strikes, StrikeAfter)
	}
	// A legal move still works.
	h.send(a, &Drive{X: northX, Y: northY - 30, Seq: 9})
	h.tick()
	if p := h.posOf(a); p != (Point{northX, northY - 30}) {
		t.Fatalf("legal move refused: at %v, errors %v", p, h.errs[a.id])
	}
}

func TestWallClippingRefused(t *testing.T) {
	h := newHarness(t)
	a := h.join("clipper")
	h.place(a, 1, 205, 135) // tile 20,13, just north of the wall
	h.ticks(30)
	for i := 1; i <= StrikeAfter; i++ {
		h.send(a, &Drive{X: 205, Y: 155, Seq: uint32(i)}) // 20 units, through row 14
		h.tick()
	}
	if p := h.posOf(a); p != (Point{205, 135}) {
		t.Fatalf("went through the wall to %v", p)
	}
	if errs := h.errs[a.id]; len(errs) != StrikeAfter || errs[0].Code != "wall" {
		t.Fatalf("errors %+v", errs)
	}
	if got := h.logs.Lines("suspicious move", "reason=wall", "from_y=135", "to_y=155"); len(got) != StrikeAfter {
		t.Fatalf("log: %s", h.logs)
	}
	if len(a.strikes) != 1 {
		t.Fatalf("strikes %v", a.strikes)
	}
	// Out of the map is refused too.
	h.send(a, &Drive{X: 999, Y: 135, Seq: 10})
	h.tick()
	if errs := h.errs[a.id]; errs[len(errs)-1].Code != "out_of_bounds" {
		t.Fatalf("errors %+v", errs)
	}
}

// TestHiddenBehindWallNeverSent puts two tanks 60 units apart (within view
// range) on either side of a wall and checks, at the byte level in every
// encoding, that neither learns the other's id, name or position, until
// one drives round the wall.
func TestHiddenBehindWallNeverSent(t *testing.T) {
	for _, enc := range msg.Encodings {
		t.Run(enc.String(), func(t *testing.T) {
			h := newHarness(t, WithSync(replica.Config{ResyncPeriod: time.Second}))
			for i := 0; i < 70000; i++ { // make the ids distinctive
				h.g.w.Remove(h.g.w.Spawn(KindChest, 1, 0, 0, ""))
				if i%5000 == 0 {
					h.g.w.Flush()
				}
			}
			a := h.join("alice")
			b := h.join("hidden-bob")
			a.enc = enc
			h.place(a, 1, northX, northY)
			h.place(b, 1, southX+12, southY+8) // 217,183
			h.ticks(10)
			a.take()
			for i := 0; i < 60; i++ { // bob moves about behind the wall, fires, chats
				if i%2 == 0 {
					h.send(b, &Move{X: southX + 12 + int32(i%6), Y: southY + 8})
				}
				h.send(b, &Fire{})
				h.tick()
			}
			bid := uint32(h.tankOf(b))
			stream := encodeAll(t, enc, a.take())
			if len(stream) == 0 {
				t.Fatal("alice was sent nothing")
			}
			if enc == msg.MsgPack {
				needle := []byte{0xce, byte(bid >> 24), byte(bid >> 16), byte(bid >> 8), byte(bid)}
				if bytes.Contains(stream, needle) || bytes.Contains(stream, []byte("hidden-bob")) || bytes.Contains(stream, []byte{0xcc, 217, 0xcc, 183}) {
					t.Fatalf("bob's id, name or position is in alice's stream")
				}
			} else {
				tok := tokens(stream)
				for _, n := range []string{strconv.Itoa(int(bid)), "hidden-bob", "217", "183"} {
					if tok[n] {
						t.Fatalf("%q is in alice's %d bytes", n, len(stream))
					}
				}
			}
			if a.model.Len() == 0 || hasEntity(a.model, h.tankOf(b)) {
				t.Fatal("alice's model is wrong")
			}
			// Bob comes round the end of the wall (column 11 is open):
			// alice now sees him whole.
			h.place(b, 1, 105, 145)
			h.tick()
			en := ofType[replica.Enter](a.take())
			if len(en) != 1 || en[0].ID != bid || en[0].Name != "hidden-bob" {
				t.Fatalf("bob in sight: enters %+v", en)
			}
		})
	}
}

func hasEntity(m *replica.Model, id replica.EntityID) bool {
	_, ok := m.Entity(id)
	return ok
}

// TestTwoAttackersOneDamageEvent has two tanks hit a third in the same
// tick: everyone who sees it gets one EVENT hit with the total.
func TestTwoAttackersOneDamageEvent(t *testing.T) {
	h := newHarness(t)
	a, b, target, obs := h.join("a"), h.join("b"), h.join("target"), h.join("observer")
	h.place(a, 1, 255, 215)
	h.place(b, 1, 355, 215)
	h.place(target, 1, 305, 215)
	h.place(obs, 1, 305, 245)
	h.ticks(10)
	h.send(a, &Turn{Deg: 0})
	h.send(b, &Turn{Deg: 180})
	h.tick()
	for _, p := range []*fakePeer{a, b, target, obs} {
		p.take()
	}
	h.send(a, &Fire{})
	h.send(b, &Fire{})
	h.tick()
	tid := uint32(h.tankOf(target))
	for _, p := range []*fakePeer{target, obs, a} {
		var hits []*replica.Event
		for _, e := range ofType[replica.Event](p.take()) {
			if e.ID == tid && e.Event == EvHit {
				hits = append(hits, e)
			}
		}
		if len(hits) != 1 || hits[0].Value != 2*Damage {
			t.Fatalf("%s got hit events %+v, want one of %d", p.name, hits, 2*Damage)
		}
		if e, _ := p.model.Entity(h.tankOf(target)); e.Vals[TankHP] != MaxHP-2*Damage {
			t.Fatalf("%s sees hp %d", p.name, e.Vals[TankHP])
		}
	}
	// Two more volleys destroy it; it respawns later.
	for i := 0; i < 2; i++ {
		h.ticks(h.ticksOf(FireCooldown))
		h.send(a, &Fire{})
		h.send(b, &Fire{})
	}
	h.tick()
	if h.g.w.Get(h.tankOf(target), TankDead) != 1 || h.g.w.Get(h.tankOf(a), TankScore)+h.g.w.Get(h.tankOf(b), TankScore) != 1 {
		t.Fatalf("target not destroyed: hp %d", h.g.w.Get(h.tankOf(target), TankHP))
	}
	h.send(target, &Drive{X: 306, Y: 215, Seq: 1})
	h.tick()
	if e := h.errs[target.id]; len(e) == 0 || e[len(e)-1].Code != "dead" {
		t.Fatalf("a destroyed tank moved: %v", e)
	}
	h.ticks(h.ticksOf(RespawnDelay))
	if h.g.w.Get(h.tankOf(target), TankHP) != MaxHP || h.g.w.Get(h.tankOf(target), TankDead) != 0 {
		t.Fatal("no respawn")
	}
}

// TestChestSharedAndDesyncRepaired opens a chest from two tanks; a third
// nearby does not see its contents. A sync bug is injected that drops the
// chest update to one opener: the next resync repairs that player's model,
// it reports DESYNC, and the server logs it at error level.
func TestChestSharedAndDesyncRepaired(t *testing.T) {
	var dropFor uint64
	h := newHarness(t, WithSync(replica.Config{ResyncPeriod: 2 * time.Second, Drop: func(v *replica.Viewer, m any) bool {
		d, ok := m.(*replica.Delta)
		return ok && dropFor != 0 && v.Data.(*player).peer.ID() == dropFor && d.Mask&^chestPublic != 0
	}}))
	var chestID replica.EntityID
	for id, c := range h.g.chests {
		if c.zone.id == 1 && h.g.pos(id) == (Point{265, 175}) {
			chestID = id
		}
	}
	a, b, c := h.join("a"), h.join("b"), h.join("c")
	h.place(a, 1, 255, 175)
	h.place(b, 1, 275, 175)
	h.place(c, 1, 265, 195)
	h.ticks(10)
	h.send(a, &Open{ID: uint32(chestID)})
	h.send(b, &Open{ID: uint32(chestID)})
	h.tick()
	slot := -1
	for s := 0; s < ChestSlots && slot < 0; s++ {
		if h.g.w.Get(chestID, ChestSlot0+s) != 0 {
			slot = s
		}
	}
	if slot < 0 {
		t.Fatal("the chest is empty")
	}
	item := h.g.w.Get(chestID, ChestSlot0+slot)
	for _, p := range []*fakePeer{a, b} {
		if e, _ := p.model.Entity(chestID); e.Vals[ChestSlot0+slot] != item || e.Vals[ChestUsers] != 2 {
			t.Fatalf("%s's model of the open chest: %+v", p.name, e)
		}
	}
	if e, _ := c.model.Entity(chestID); e.Vals[ChestSlot0+slot] != 0 || e.Vals[ChestUsers] != 2 {
		t.Fatalf("c (chest closed) sees %+v", e)
	}

	// a takes the item; b sees it go.
	h.send(a, &Take{Slot: int32(slot)})
	h.tick()
	if e, _ := b.model.Entity(chestID); e.Vals[ChestSlot0+slot] != 0 {
		t.Fatal("b did not see the item go")
	}
	if e, _ := a.model.Entity(h.tankOf(a)); e.Vals[TankInv0] != item {
		t.Fatalf("a's inventory %+v", e)
	}
	if e, _ := b.model.Entity(h.tankOf(a)); e.Vals[TankInv0] != 0 {
		t.Fatal("b sees a's inventory")
	}

	// The bug: b misses a's putting it back.
	dropFor = b.id
	h.send(a, &Put{Slot: 0})
	h.tick()
	dropFor = 0
	if e, _ := b.model.Entity(chestID); e.Vals[ChestSlot0+slot] != 0 {
		t.Fatal("the injected drop did not happen")
	}
	for i := 0; i < 41 && len(b.reports) == 0; i++ {
		h.tick()
	}
	if len(b.reports) != 1 {
		t.Fatalf("b's reports %+v", b.reports)
	}
	r := b.reports[0]
	if r.ID != uint32(chestID) || r.Reason != replica.ReasonFields || r.Mask != 1<<(ChestSlot0+slot) {
		t.Fatalf("report %+v, want chest %d slot %d", r, chestID, slot)
	}
	if e, _ := b.model.Entity(chestID); e.Vals[ChestSlot0+slot] != item {
		t.Fatal("b's model not repaired")
	}
	if len(a.reports) != 0 || len(c.reports) != 0 {
		t.Fatalf("false reports: %+v %+v", a.reports, c.reports)
	}
	h.send(b, &r)
	h.tick()
	lines := h.logs.Lines("level=ERROR", "desync", "player=b", fmt.Sprintf("entity=%d", chestID), fmt.Sprintf("fields=slot%d", slot), "kind=chest")
	if len(lines) != 1 {
		t.Fatalf("error log lines %q; log:\n%s", lines, h.logs)
	}
}

// TestOpenFieldIsTheOwners opens a chest: OPEN is answered with its
// request id, and the tank's open field holds the chest's id for its owner
// only (other viewers read 0, like the inventory), until CLOSE or a chest
// out of reach closes it.
func TestOpenFieldIsTheOwners(t *testing.T) {
	h := newHarness(t)
	chest := chestAt(t, h, 265, 175)
	a, b := h.join("a"), h.join("b")
	h.place(a, 1, 255, 175)
	h.place(b, 1, 275, 175)
	h.ticks(10)
	h.request(a, 9, &Open{ID: uint32(chest)})
	h.tick()
	if len(a.replies) != 1 || a.rids[0] != 9 || !strings.HasPrefix(a.replies[0].(*msg.Notice).Text, fmt.Sprintf("chest %d: 0:", chest)) {
		t.Fatalf("OPEN answered %+v with request ids %v", a.replies, a.rids)
	}
	if e, _ := a.model.Entity(h.tankOf(a)); e.Vals[TankOpen] != int32(chest) {
		t.Fatalf("a's own tank: open %d, want %d", e.Vals[TankOpen], chest)
	}
	if e, _ := b.model.Entity(h.tankOf(a)); e.Vals[TankOpen] != 0 {
		t.Fatalf("b sees a's open chest %d", e.Vals[TankOpen])
	}
	if tankPublic&(1<<TankOpen) != 0 {
		t.Fatal("open is a public field")
	}
	h.send(a, &Close{})
	h.tick()
	if e, _ := a.model.Entity(h.tankOf(a)); e.Vals[TankOpen] != 0 {
		t.Fatalf("after CLOSE: open %d", e.Vals[TankOpen])
	}
	// Driving out of reach closes it too.
	h.send(a, &Open{ID: uint32(chest)})
	h.tick()
	if e, _ := a.model.Entity(h.tankOf(a)); e.Vals[TankOpen] != int32(chest) {
		t.Fatalf("reopened: open %d", e.Vals[TankOpen])
	}
	h.place(a, 1, 205, 175)
	h.tick()
	if e, _ := a.model.Entity(h.tankOf(a)); e.Vals[TankOpen] != 0 || h.g.players[a.id].open != 0 {
		t.Fatalf("out of reach: open %d", e.Vals[TankOpen])
	}
}

// TestResumeSpawnsOnlyALiveTank resumes a player twice: with its tank
// alive it gets SPAWN, with its tank destroyed it does not (the snapshot
// says the tank is dead) until the tank respawns.
func TestResumeSpawnsOnlyALiveTank(t *testing.T) {
	h := newHarness(t)
	a, b := h.join("a"), h.join("b")
	h.place(a, 1, openX, openY)
	h.place(b, 1, openX+40, openY)
	h.ticks(3)
	resume := func() *fakePeer {
		h.g.disconnect(b)
		h.tick()
		b2 := &fakePeer{id: b.id, name: "b", enc: msg.MsgPack, log: b.log, model: replica.NewModel()}
		h.peers = append(h.peers, b2)
		h.g.reconnect(b2)
		b = b2
		return b2
	}
	b2 := resume()
	h.tick()
	if len(ofType[Spawn](b2.take())) != 1 {
		t.Fatal("a resume with a live tank: no SPAWN")
	}
	h.send(a, &Turn{Deg: 0})
	for i := 0; !h.g.tanks[h.tankOf(b)].dead(); i++ {
		if i > 10*h.rate {
			t.Fatal("b was not destroyed")
		}
		h.send(a, &Fire{})
		h.tick()
	}
	b3 := resume()
	h.tick()
	got := b3.take()
	if len(ofType[Spawn](got)) != 0 {
		t.Fatal("a resume with a destroyed tank got SPAWN")
	}
	if e, ok := b3.model.Entity(h.tankOf(b)); !ok || e.Vals[TankDead] != 1 {
		t.Fatalf("the snapshot does not show the tank destroyed: %+v", e)
	}
	if !containsNote(got, "is destroyed and respawns in ") {
		t.Fatalf("resumed while destroyed: %q", notes(got))
	}
	for i := 0; len(ofType[Spawn](b3.take())) == 0; i++ {
		if i > h.ticksOf(RespawnDelay) {
			t.Fatal("no SPAWN at the respawn")
		}
		h.tick()
	}
}

func TestPortalSendsNewZone(t *testing.T) {
	h := newHarness(t)
	a := h.join("traveller")
	h.place(a, 1, 455, 155) // tile 45,15, next to portal A at 46,15
	h.ticks(10)
	h.send(a, &Drive{X: 465, Y: 155, Seq: 1})
	h.tick()
	if z := h.g.players[a.id].tank.zone.id; z != 2 {
		t.Fatalf("in zone %d", z)
	}
	h.ticks(10)
	if a.model.Zone().ID != 2 || a.model.Loading() || len(a.reports) != 0 {
		t.Fatalf("model zone %+v, reports %v", a.model.Zone(), a.reports)
	}
	if tl, _ := a.model.Tile(1, 15); tl != TilePortal {
		t.Fatal("zone 2 tiles not loaded")
	}
}

func TestTextCommandsReadable(t *testing.T) {
	h := newHarness(t)
	a := h.join("nc")
	h.place(a, 1, northX, northY)
	h.ticks(5)
	a.take()
	h.send(a, &Go{Dir: "e", Tiles: 2})
	h.send(a, &Look{})
	h.tick()
	got := a.take()
	if ps := ofType[Pos](got); len(ps) != 1 || ps[0].X != 225 || ps[0].Y != 115 || ps[0].ID != uint64(h.tankOf(a)) {
		t.Fatalf("GO answered %+v", ps)
	}
	var text []string
	for _, n := range ofType[msg.Notice](got) {
		text = append(text, n.Text)
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{"you: tank", "inventory:", "map x ", "@"} {
		if !strings.Contains(all, want) {
			t.Fatalf("missing %q in:\n%s", want, all)
		}
	}
	h.send(a, &Go{Dir: "e", Tiles: 6}) // stops at the wall in column 23
	h.tick()
	if p := h.posOf(a); p.X != 229 || len(h.errs[a.id]) != 0 {
		t.Fatalf("GO into a wall: at %v, errors %v", p, h.errs[a.id])
	}
	if len(a.strikes) != 0 || len(h.logs.Lines("suspicious")) != 0 {
		t.Fatal("GO counted as suspicious")
	}
	// MOVE is the typed form of DRIVE: answered by POS, refused with ERR.
	h.ticks(20)
	a.take()
	h.send(a, &Move{X: 229, Y: 100})
	h.send(a, &Move{X: 229, Y: 145})
	h.tick()
	got = a.take()
	ps := ofType[Pos](got)
	if len(ps) != 2 || ps[0].Y != 100 || ps[1].Y != 100 || len(h.errs[a.id]) != 1 || h.errs[a.id][0].Code != "wall" {
		t.Fatalf("MOVE answers %+v, errors %+v", ps, h.errs[a.id])
	}
}

// TestModelsMatchServerWithoutResync plays the arena with resync off, so
// that nothing would repair a wrong relative DELTA: tanks (players and
// bots) drive, turn and fire, players open chests, take and put items and
// close them or drive out of reach (so chest slots and inventories become
// visible and hidden). After every tick each player's model must hold
// exactly what the server shows that player, hidden fields as 0.
func TestModelsMatchServerWithoutResync(t *testing.T) {
	h := newHarness(t, WithBots(4), WithSync(replica.Config{ResyncPeriod: -1}), WithSeed(3))
	var chestID replica.EntityID
	for id, c := range h.g.chests {
		if c.zone.id == 1 && h.g.pos(id) == (Point{265, 175}) {
			chestID = id
		}
	}
	peers := []*fakePeer{h.join("a"), h.join("b"), h.join("c")}
	h.place(peers[0], 1, 255, 175)
	h.place(peers[1], 1, 275, 175)
	h.place(peers[2], 1, 265, 195)
	h.ticks(10)
	rng := rand.New(rand.NewPCG(5, 6))
	seq := map[*fakePeer]uint32{}
	ctl := map[*fakePeer]Control{}
	var deltas, opened int
	for tick := 0; tick < 600; tick++ {
		for _, p := range peers {
			pl := h.g.players[p.id]
			switch r := rng.IntN(20); {
			case r < 8:
				if rng.IntN(10) == 0 {
					ctl[p] = Control{int8(rng.IntN(3) - 1), int8(rng.IntN(3) - 1)}
				}
				seq[p]++
				to := Step(pl.tank.zone, h.posOf(p), ctl[p], h.rate)
				if h.posOf(p).X > 320 || h.posOf(p).X < 210 || h.posOf(p).Y > 230 || h.posOf(p).Y < 130 {
					to = Step(pl.tank.zone, h.posOf(p), Control{int8(sign(265 - h.posOf(p).X)), int8(sign(175 - h.posOf(p).Y))}, h.rate)
				}
				h.send(p, &Drive{Seq: seq[p], X: to.X, Y: to.Y})
			case r < 10:
				h.send(p, &Open{ID: uint32(chestID)})
			case r < 12:
				h.send(p, &Take{Slot: rng.Int32N(ChestSlots)})
			case r < 14:
				h.send(p, &Put{Slot: rng.Int32N(InvSlots)})
			case r < 15:
				h.send(p, &Close{})
			case r < 17:
				h.send(p, &Turn{Deg: rng.Int32N(360)})
			case r < 18:
				h.send(p, &Fire{})
			}
		}
		h.tick()
		for _, p := range peers {
			pl := h.g.players[p.id]
			if pl.open != 0 {
				opened++
			}
			deltas += len(ofType[replica.Delta](p.take()))
			if len(p.reports) != 0 {
				t.Fatalf("tick %d: %s reported %+v", tick, p.name, p.reports)
			}
			held := 0
			check := func(id replica.EntityID) {
				e, ok := p.model.Entity(id)
				if !pl.view.Sees(id) {
					if ok {
						t.Fatalf("tick %d: %s holds %d, which it does not see", tick, p.name, id)
					}
					return
				}
				held++
				ent, _ := h.g.w.Lookup(id)
				mask := h.g.fieldMask(pl.view, ent)
				for f := 0; f < replica.MaxFields; f++ {
					want := int32(0)
					if mask&(1<<f) != 0 {
						want = h.g.w.Get(id, f)
					}
					if !ok || e.Vals[f] != want {
						t.Fatalf("tick %d: %s's model of %d (kind %d): field %d = %d, want %d (%+v)", tick, p.name, id, ent.Kind, f, e.Vals[f], want, e)
					}
				}
			}
			for id := range h.g.tanks {
				check(id)
			}
			for id := range h.g.chests {
				check(id)
			}
			if held != p.model.Len() {
				t.Fatalf("tick %d: %s's model holds %d entities, the server shows it %d", tick, p.name, p.model.Len(), held)
			}
		}
	}
	if deltas < 500 || opened < 100 {
		t.Fatalf("too little happened: %d DELTAs, %d player-ticks with a chest open", deltas, opened)
	}
	t.Logf("%d DELTAs, %d player-ticks with the chest open", deltas, opened)
}

func sign(v int32) int32 {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
