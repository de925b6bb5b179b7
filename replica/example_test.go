package replica_test

import (
	"fmt"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// printer is a replica.Sender that prints each message in the text
// encoding, as an nc user would see it.
type printer struct{ c *msg.Codec }

func newPrinter() *printer {
	reg := msg.NewRegistry()
	replica.Register(reg)
	return &printer{reg.NewCodec(msg.Text)}
}

func (p *printer) Send(m any) {
	b, _ := p.c.Append(nil, m, 0)
	fmt.Print(string(b))
}

func (p *printer) Encoding() msg.Encoding { return msg.Text }

// A game declares its entity kinds and zones, sets fields during a tick and
// calls Flush at its end; replica sends each viewer what it may see.
func ExampleWorld() {
	const hp = replica.FieldFirst // the first field after x and y
	w, _ := replica.NewWorld(replica.Config{Radius: 50},
		replica.KindDef{Name: "tank", Fields: []string{"hp"},
			Events: []replica.EventDef{{Name: "hit", Merge: replica.MergeSum}}})
	w.AddZone(replica.ZoneDef{ID: 1, W: 4, H: 2, Unit: 10, Tiles: []uint8{1, 1, 1, 1, 0, 0, 0, 0}})
	me := w.Spawn(1, 1, 5, 15, "me")
	foe := w.Spawn(1, 1, 25, 15, "foe")
	w.Set(foe, hp, 100)
	v := w.AddViewer(newPrinter())
	v.Follow(me)
	w.Flush() // tick 1: the snapshot

	w.Set(foe, hp, 75) // sent as the difference: -25
	w.Emit(foe, 0, 20) // two hits in one tick...
	w.Emit(foe, 0, 5)
	w.Flush() // ...arrive as one event

	w.SetPos(foe, 95, 15) // out of view
	w.Flush()
	// Output:
	// KIND 1 tank x,y,hp hit
	// ZONE 1 1 4 2 10
	// ENTER 1 1 5,15 me
	// ENTER 2 1 25,15,100 foe
	// TILES 0 0 1,1,1,1
	// TILES 1 0 0,0,0,0
	// SNAPEND 1 2 1443379204
	// DELTA 2 4 -25
	// EVENT 2 0 25
	// REMOVE 2
}

// A client feeds every message it receives to its Model, and sends back
// whatever Desync it returns.
func ExampleModel() {
	m := replica.NewModel()
	for _, x := range []any{
		&replica.KindInfo{Kind: 1, Name: "tank", Fields: "x,y,hp"},
		&replica.ZoneStart{Zone: 1, Snap: 1, W: 1, H: 1, Unit: 10},
		&replica.Tiles{Y: 0, X: 0, Tiles: []uint8{0}},
		&replica.Enter{ID: 7, Kind: 1, Vals: []int32{5, 5, 100}, Name: "foe"},
		&replica.Delta{ID: 7, Mask: 1 << 2, Vals: []int32{-40}}, // hp 100 - 40: 60
		// A resync slice says hp is 40: an update was lost.
		&replica.State{ID: 7, Kind: 1, Vals: []int32{5, 5, 40}, Name: "foe"},
	} {
		if d := m.Apply(x); d != nil {
			for _, r := range d.Reports {
				fmt.Printf("DESYNC %d %d %s\n", r.ID, r.Mask, r.Reason)
			}
		}
	}
	e, _ := m.Entity(7)
	fmt.Println(e.Name, "hp", e.Vals[2])
	// Output:
	// DESYNC 7 4 fields
	// foe hp 40
}

// A Predictor applies inputs at once and reconciles with the server's
// acknowledgements, snapping back when the server disagreed.
func ExamplePredictor() {
	step := func(x int32, dx int32) int32 { return x + dx }
	p := replica.NewPredictor(int32(0), step)
	p.Input(1, 3)
	p.Input(2, 3)
	fmt.Println(p.Input(3, 3)) // predicted at once: 9
	s, snapped := p.Ack(1, 3)  // the server agrees
	fmt.Println(s, snapped)
	s, snapped = p.Ack(2, 3) // the server refused input 2
	fmt.Println(s, snapped)  // 3 + replayed input 3
	// Output:
	// 9
	// 9 false
	// 6 true
}
