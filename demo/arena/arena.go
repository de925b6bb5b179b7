// Package arena is tickwire's demo game: players move on a bounded map and
// chat. All rules run on the server; clients only send intentions.
package arena

import (
	"fmt"
	"math"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
)

// Map and movement rules.
const (
	// Width and Height bound the map: positions are 0..Width, 0..Height.
	Width, Height = 1000, 1000
	// Speed is the fastest a player may move, in map units per second.
	Speed = 300
	// MaxBank caps how much unused movement a player may save up, in
	// seconds of Speed, so an idle player cannot teleport.
	MaxBank = 1.0
)

// Move asks to move your entity to (X, Y).
type Move struct {
	X int32 `tw:"x,min=0,max=1000"`
	Y int32 `tw:"y,min=0,max=1000"`
}

// Say is a chat line.
type Say struct {
	Text string `tw:"text,max=200,rest"`
}

// Pos is an entity's position.
type Pos struct {
	ID uint64 `tw:"id"`
	X  int32  `tw:"x"`
	Y  int32  `tw:"y"`
}

// Spawn announces an entity: its id, owner name and position.
type Spawn struct {
	ID   uint64 `tw:"id"`
	Name string `tw:"name,max=64"`
	X    int32  `tw:"x"`
	Y    int32  `tw:"y"`
}

// Gone removes an entity.
type Gone struct {
	ID uint64 `tw:"id"`
}

// Chat is a chat line from a player.
type Chat struct {
	From string `tw:"from,max=64"`
	Text string `tw:"text,max=200,rest"`
}

// Register defines the arena's messages in reg.
func Register(reg *msg.Registry) {
	msg.Define[Move](reg, msg.Info{ID: 40, Name: "MOVE", Dir: msg.ToServer, Doc: "move to x y (0-1000); too far is refused", Causes: []string{"POS"}})
	msg.Define[Say](reg, msg.Info{ID: 41, Name: "SAY", Dir: msg.ToServer, Doc: "chat to everyone", Causes: []string{"CHAT"}})
	msg.Define[Pos](reg, msg.Info{ID: 42, Name: "POS", Dir: msg.ToClient, Doc: "an entity's position: id x y"})
	msg.Define[Spawn](reg, msg.Info{ID: 43, Name: "SPAWN", Dir: msg.ToClient, Doc: "an entity appears: id name x y"})
	msg.Define[Gone](reg, msg.Info{ID: 44, Name: "GONE", Dir: msg.ToClient, Doc: "an entity is gone: id"})
	msg.Define[Chat](reg, msg.Info{ID: 45, Name: "CHAT", Dir: msg.ToClient, Doc: "a chat line: from text"})
}

type entity struct {
	id     uint64
	name   string
	x, y   int32
	bank   float64 // movement allowance in map units
	moved  bool
	player *server.Player
}

// Game is the arena. Create it with New.
type Game struct {
	handlers server.Handlers
	ents     map[uint64]*entity
	order    []*entity
}

// New returns an empty arena.
func New() *Game {
	g := &Game{ents: map[uint64]*entity{}}
	server.Handle(&g.handlers, g.move)
	server.Handle(&g.handlers, g.say)
	return g
}

// Join places the player's entity at a spawn point and tells everyone.
func (g *Game) Join(t *server.Tick, p *server.Player) error {
	n := len(g.order)
	e := &entity{id: p.ID(), name: p.Name(), player: p,
		x: int32(100 + (n*137)%800), y: int32(100 + (n*251)%800), bank: Speed * MaxBank}
	for _, o := range g.order {
		p.Send(&Spawn{ID: o.id, Name: o.name, X: o.x, Y: o.y})
	}
	g.ents[e.id] = e
	g.order = append(g.order, e)
	spawn := &Spawn{ID: e.id, Name: e.name, X: e.x, Y: e.y}
	p.Send(spawn) // the new player is not in t.Players() until Join returns
	t.Broadcast(spawn, nil)
	return nil
}

// Update applies this tick's moves and chat, then sends each player the
// latest position of every entity that moved.
func (g *Game) Update(t *server.Tick) {
	refill := Speed * t.Dt.Seconds()
	for _, e := range g.order {
		e.bank = math.Min(e.bank+refill, Speed*MaxBank)
	}
	g.handlers.Dispatch(t)
	for _, e := range g.order {
		if !e.moved {
			continue
		}
		e.moved = false
		pos := &Pos{ID: e.id, X: e.x, Y: e.y}
		for _, o := range g.order {
			if o != e {
				o.player.SendLatest(e.id, pos)
			}
		}
	}
}

// Leave removes the player's entity.
func (g *Game) Leave(t *server.Tick, p *server.Player, reason error) {
	e, ok := g.ents[p.ID()]
	if !ok {
		return
	}
	delete(g.ents, e.id)
	for i, o := range g.order {
		if o == e {
			g.order = append(g.order[:i], g.order[i+1:]...)
			break
		}
	}
	t.Broadcast(&Gone{ID: e.id}, p)
}

func (g *Game) move(t *server.Tick, p *server.Player, m *Move) error {
	e := g.ents[p.ID()]
	dist := math.Hypot(float64(m.X-e.x), float64(m.Y-e.y))
	if dist > e.bank {
		// Refused: tell the client where it really is.
		p.Reply(server.Input{}, &Pos{ID: e.id, X: e.x, Y: e.y})
		p.Logger().Info("suspicious move", "from_x", e.x, "from_y", e.y, "to_x", m.X, "to_y", m.Y, "dist", int(dist), "allowed", int(e.bank))
		return server.Refuse("too_fast", "%.0f units is more than the %.0f you may move now", dist, e.bank)
	}
	e.bank -= dist
	e.x, e.y = m.X, m.Y
	e.moved = true
	return nil
}

func (g *Game) say(t *server.Tick, p *server.Player, m *Say) error {
	if m.Text == "" {
		return server.Refuse(msg.CodeBadField, "SAY text: empty")
	}
	t.Broadcast(&Chat{From: p.Name(), Text: m.Text}, nil)
	return nil
}

// Banner is the line new connections see.
func Banner(addr string) string {
	return fmt.Sprintf("tickwire arena on %s: AUTH guest to play, HELP for commands", addr)
}
