package replica

import (
	"fmt"
	"testing"

	"github.com/tickwire/tickwire/msg"
)

// fieldSet is the alternative design DELTA was chosen over: one message per
// changed field.
type fieldSet struct {
	ID    uint32 `tw:"id"`
	Field uint8  `tw:"field"`
	Value int32  `tw:"value"`
}

// TestDeltaWireSize compares one DELTA per entity with one message per
// field, for typical changes of a moving tank (ids in the thousands,
// positions in the hundreds), with values relative (what DELTA carries)
// and absolute (what it carried before): DELTA is never larger when two or
// more fields change, and costs at most its mask and array header when one
// does. docs/SYNC.md quotes these numbers.
func TestDeltaWireSize(t *testing.T) {
	reg := msg.NewRegistry()
	Register(reg)
	// A reserved id, like DELTA's own, so both headers are one byte.
	msg.DefineReserved[fieldSet](reg, msg.Info{ID: 31, Name: "SET", Dir: msg.ToClient})
	cases := []struct {
		name     string
		mask     uint16
		rel, abs []int32
	}{
		{"hp", 1 << 3, []int32{-25}, []int32{75}},
		{"x,y", 3, []int32{3, -3}, []int32{347, 212}},
		{"x,y,heading", 7, []int32{3, -3, 45}, []int32{347, 212, 270}},
	}
	for _, enc := range msg.Encodings {
		c := reg.NewCodec(enc)
		for _, tc := range cases {
			for _, vals := range [][]int32{tc.rel, tc.abs} {
				d, _ := c.Append(nil, &Delta{ID: 4321, Mask: tc.mask, Vals: vals}, 0)
				var per []byte
				i := 0
				for m := tc.mask; m != 0; m &= m - 1 {
					f := 0
					for m&(1<<f) == 0 {
						f++
					}
					per, _ = c.Append(per, &fieldSet{ID: 4321, Field: uint8(f), Value: vals[i]}, 0)
					i++
				}
				t.Logf("%-8s %-12s %-14s DELTA %3d bytes, per field %3d bytes", enc, tc.name, fmt.Sprint(vals), len(d), len(per))
				if len(vals) >= 2 && len(d) > len(per) {
					t.Errorf("%s %s: DELTA %d > per-field %d", enc, tc.name, len(d), len(per))
				}
			}
		}
	}
}

// TestPositionDeltaWireSize measures the DELTA of one tank moving 3 units
// in x and y (its speed per tick in the arena) at coordinates above 300,
// for ids above 127 (two bytes in MessagePack) and in the thousands
// (three): the whole MessagePack frame, length prefix included, must be at
// most 9 bytes. With absolute values it was 12-13 bytes, each coordinate
// costing 3 bytes instead of 1.
func TestPositionDeltaWireSize(t *testing.T) {
	reg := msg.NewRegistry()
	Register(reg)
	codecs := map[msg.Encoding]*msg.Codec{}
	for _, enc := range msg.Encodings {
		codecs[enc] = reg.NewCodec(enc)
	}
	for _, minID := range []EntityID{128, 4321} {
		w := newTestWorld(t, Config{Radius: 120})
		for w.nextID < minID-2 {
			w.Remove(w.Spawn(2, 1, 0, 0, ""))
		}
		w.Flush()
		me := w.Spawn(1, 1, 330, 300, "me")
		tank := w.Spawn(1, 1, 347, 312, "tank")
		if tank < minID {
			t.Fatalf("tank id %d < %d", tank, minID)
		}
		r := &rec{enc: msg.MsgPack}
		v := w.AddViewer(r)
		v.Follow(me)
		model := NewModel()
		settle(t, w, v, r, model)
		for i, step := range [][2]int32{{3, 3}, {3, -3}, {-3, -3}, {-3, 3}} {
			_, x, y, _ := w.Pos(tank)
			w.SetPos(tank, x+step[0], y+step[1])
			w.Flush()
			got := r.end()
			if len(got) != 1 {
				t.Fatalf("id %d: a move sent %v", tank, got)
			}
			d := got[0].(*Delta)
			abs := &Delta{ID: d.ID, Mask: d.Mask, Vals: []int32{x + step[0], y + step[1]}} // what DELTA carried before
			sizes := map[msg.Encoding][2]int{}
			for _, enc := range msg.Encodings {
				rel, err := codecs[enc].Append(nil, d, 0)
				if err != nil {
					t.Fatal(err)
				}
				old, _ := codecs[enc].Append(nil, abs, 0)
				sizes[enc] = [2]int{len(rel), len(old)}
			}
			if i == 0 {
				for _, enc := range msg.Encodings {
					t.Logf("id %d at %d,%d moving %v: %-8s DELTA %2d bytes (absolute values: %2d)", tank, x, y, step, enc, sizes[enc][0], sizes[enc][1])
				}
			}
			if n := sizes[msg.MsgPack][0]; n > 9 {
				t.Errorf("id %d: a 3-unit move is a %d-byte MessagePack DELTA %+v, want at most 9", tank, n, d)
			}
			for _, m := range wire(t, msg.MsgPack, got) {
				model.Apply(m)
			}
			if e, _ := model.Entity(tank); e.Vals[FieldX] != x+step[0] || e.Vals[FieldY] != y+step[1] {
				t.Fatalf("model at %d,%d, want %d,%d", e.Vals[FieldX], e.Vals[FieldY], x+step[0], y+step[1])
			}
		}
	}
}
