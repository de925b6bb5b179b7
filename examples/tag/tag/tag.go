// Package tag is a game of tag on a grid, written with tickwire's public
// API only. Players STEP n, s, e or w, one cell at a time; each step is
// answered with AT (tagged with the request's id) and shown to the others
// as POS. One player is "it" (announced with IT to everyone); "it" tags a
// player by touching them (same or next cell, not diagonally), and the one
// tagged is "it" from then on. A player who has just stopped being "it"
// cannot be tagged back for a second.
package tag

import (
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
)

// The field and the rules.
const (
	Width, Height = 16, 16
	// ImmuneSeconds is how long a player who has just tagged someone is
	// safe from being tagged back.
	ImmuneSeconds = 1
)

// Step moves one cell: Dir is n, s, e or w.
type Step struct {
	Dir string `tw:"dir,max=1"`
}

// At answers a Step: where the stepper is now.
type At struct {
	X int32 `tw:"x"`
	Y int32 `tw:"y"`
}

// Pos is where a player is (every player's, yours included, on joining).
type Pos struct {
	ID uint64 `tw:"id"`
	X  int32  `tw:"x"`
	Y  int32  `tw:"y"`
}

// It names the player who is "it".
type It struct {
	ID   uint64 `tw:"id"`
	Name string `tw:"name,max=64"`
}

// Left says a player has gone.
type Left struct {
	ID uint64 `tw:"id"`
}

// Register defines the game's messages in reg.
func Register(reg *msg.Registry) {
	msg.Define[Step](reg, msg.Info{ID: msg.FirstGameID, Name: "STEP", Dir: msg.ToServer, Doc: "step one cell: STEP n|s|e|w",
		Causes: []string{"AT", "POS"}, Rate: 10, Burst: 10})
	msg.Define[At](reg, msg.Info{ID: msg.FirstGameID + 1, Name: "AT", Dir: msg.ToClient, Doc: "where your step took you"})
	msg.Define[Pos](reg, msg.Info{ID: msg.FirstGameID + 2, Name: "POS", Dir: msg.ToClient, Doc: "where a player is"})
	msg.Define[It](reg, msg.Info{ID: msg.FirstGameID + 3, Name: "IT", Dir: msg.ToClient, Doc: "who is it"})
	msg.Define[Left](reg, msg.Info{ID: msg.FirstGameID + 4, Name: "LEFT", Dir: msg.ToClient, Doc: "a player has gone"})
}

// cell is a player's place on the field (Player.Data).
type cell struct{ x, y int32 }

var dirs = map[string]cell{"n": {0, -1}, "s": {0, 1}, "e": {1, 0}, "w": {-1, 0}}

// Game is the tag game. Create it with New.
type Game struct {
	h           server.Handlers
	it          *server.Player
	immune      *server.Player // the last "it", safe until immuneUntil
	immuneUntil uint64         // a tick number
	immuneTicks uint64         // ImmuneSeconds in ticks, from Init
}

// New returns a game with nobody on the field.
func New() *Game {
	g := &Game{}
	server.HandleInput(&g.h, g.step)
	return g
}

// Init converts the rules from seconds to ticks at the server's rate.
func (g *Game) Init(s server.Settings) error {
	g.immuneTicks = uint64(ImmuneSeconds * s.TickRate)
	return nil
}

// Join places the newcomer on the first free cell, every other column and
// row from the top left, and tells everyone.
func (g *Game) Join(t *server.Tick, p *server.Player) error {
	c, ok := g.freeCell(t)
	if !ok {
		return server.Refuse("full", "the field is full")
	}
	p.Data = &c
	for _, q := range t.Players() { // p is not among them yet
		qc := q.Data.(*cell)
		p.Send(&Pos{ID: q.ID(), X: qc.x, Y: qc.y})
		q.Send(&Pos{ID: p.ID(), X: c.x, Y: c.y})
	}
	p.Send(&Pos{ID: p.ID(), X: c.x, Y: c.y})
	if g.it == nil {
		g.it = p
		t.Broadcast(&It{ID: p.ID(), Name: p.Name()}, nil)
	}
	p.Send(&It{ID: g.it.ID(), Name: g.it.Name()})
	return nil
}

func (g *Game) freeCell(t *server.Tick) (cell, bool) {
	for y := int32(0); y < Height; y += 2 {
		for x := int32(0); x < Width; x += 2 {
			if !g.taken(t, cell{x, y}) {
				return cell{x, y}, true
			}
		}
	}
	return cell{}, false
}

func (g *Game) taken(t *server.Tick, c cell) bool {
	for _, q := range t.Players() {
		if *q.Data.(*cell) == c {
			return true
		}
	}
	return false
}

// Update moves the players, then lets "it" tag.
func (g *Game) Update(t *server.Tick) {
	g.h.Dispatch(t)
	if g.it == nil {
		return
	}
	at := *g.it.Data.(*cell)
	for _, q := range t.Players() {
		if q == g.it || q == g.immune && t.N < g.immuneUntil {
			continue
		}
		if c := *q.Data.(*cell); abs(c.x-at.x)+abs(c.y-at.y) <= 1 {
			g.immune, g.immuneUntil = g.it, t.N+g.immuneTicks
			g.setIt(t, q)
			return
		}
	}
}

func (g *Game) setIt(t *server.Tick, p *server.Player) {
	g.it = p
	t.Broadcast(msg.NewShared(&It{ID: p.ID(), Name: p.Name()}), nil)
}

// Leave tells the others; if "it" left, the longest-standing player is it.
func (g *Game) Leave(t *server.Tick, p *server.Player, reason error) {
	t.Broadcast(&Left{ID: p.ID()}, nil) // p is already out of t.Players()
	if g.immune == p {
		g.immune = nil
	}
	if g.it == p {
		g.it = nil
		if players := t.Players(); len(players) > 0 {
			g.setIt(t, players[0])
		}
	}
}

// step moves the sender one cell, answers AT and shows the others POS.
func (g *Game) step(t *server.Tick, in server.Input, m *Step) error {
	d, ok := dirs[m.Dir]
	if !ok {
		return server.Refuse(msg.CodeBadField, "STEP n, s, e or w")
	}
	c := in.Player.Data.(*cell)
	next := cell{c.x + d.x, c.y + d.y}
	if next.x < 0 || next.y < 0 || next.x >= Width || next.y >= Height {
		return server.Refuse("blocked", "the field ends there")
	}
	*c = next
	in.Player.Reply(in, &At{X: c.x, Y: c.y})
	t.Broadcast(&Pos{ID: in.Player.ID(), X: c.x, Y: c.y}, in.Player)
	return nil
}

func abs(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}
