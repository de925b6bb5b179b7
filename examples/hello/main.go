// Command hello is the game of the README's "Writing a game", compiled and
// tested here so the README's code stays true: players move, and everyone
// else sees them move.
package main

import (
	"context"
	"log"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// Move asks to move to x y.
type Move struct {
	X int32 `tw:"x,min=0,max=1000"`
	Y int32 `tw:"y,min=0,max=1000"`
}

// Pos says where a player is.
type Pos struct {
	ID uint64 `tw:"id"`
	X  int32  `tw:"x"`
	Y  int32  `tw:"y"`
}

func register(reg *msg.Registry) {
	msg.Define[Move](reg, msg.Info{ID: msg.FirstGameID, Name: "MOVE", Dir: msg.ToServer, Doc: "move to x y", Causes: []string{"POS"}})
	msg.Define[Pos](reg, msg.Info{ID: msg.FirstGameID + 1, Name: "POS", Dir: msg.ToClient, Doc: "where a player is"})
}

type game struct{ h server.Handlers }

func newGame() *game {
	g := &game{}
	server.HandleInput(&g.h, func(t *server.Tick, in server.Input, m *Move) error {
		pos := Pos{ID: in.Player.ID(), X: m.X, Y: m.Y}
		in.Player.Reply(in, pos)    // "@9 MOVE 10 20" is answered "@9 POS 1 10 20"
		t.Broadcast(pos, in.Player) // and everyone else hears "POS 1 10 20"
		return nil
	})
	return g
}

func (g *game) Join(t *server.Tick, p *server.Player) error          { return nil }
func (g *game) Update(t *server.Tick)                                { g.h.Dispatch(t) }
func (g *game) Leave(t *server.Tick, p *server.Player, reason error) {}

func main() {
	reg := msg.NewRegistry()
	register(reg)
	srv, err := server.New(server.Config{Registry: reg}, newGame())
	if err != nil {
		log.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:5003")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(srv.Serve(ln))
}
