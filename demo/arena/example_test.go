package arena_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
)

// Running the arena: register its messages (and replica's) and hand the
// game to a server.
func ExampleNew() {
	reg := msg.NewRegistry()
	arena.Register(reg)
	srv, err := server.New(server.Config{Registry: reg, Banner: arena.Banner("127.0.0.1:7777"),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}, arena.New(arena.WithBots(4)))
	if err != nil {
		panic(err)
	}
	_ = srv // srv.Serve(listener)
}

// openField is a TileMap with no walls, standing in for a client's
// replica.Model.
type openField struct{}

func (openField) Tile(x, y int) (uint8, bool) {
	return arena.TileFloor, x >= 0 && y >= 0 && x < 48 && y < 32
}

// A predicting client steps its own tank with arena.Step at the server's
// tick rate (client.Client.Limits: the LIMITS message), sends each
// predicted position as DRIVE seq x y, and reconciles on ACK.
func ExampleStep() {
	var tiles arena.TileMap = openField{} // a client passes its *replica.Model
	rate := 20                            // a client reads it from LIMITS
	pred := replica.NewPredictor(arena.Point{X: 105, Y: 105}, func(p arena.Point, c arena.Control) arena.Point {
		return arena.Step(tiles, p, c, rate)
	})
	east := arena.Control{DX: 1}
	for seq := uint32(1); seq <= 3; seq++ {
		p := pred.Input(seq, east)
		fmt.Printf("DRIVE %d %d %d\n", seq, p.X, p.Y)
	}
	// ACK 2 arrives: the server agrees with input 2.
	p, snapped := pred.Ack(2, arena.Point{X: 111, Y: 105})
	fmt.Println(p, snapped, pred.Pending())
	// Output:
	// DRIVE 1 108 105
	// DRIVE 2 111 105
	// DRIVE 3 114 105
	// {114 105} false 1
}
