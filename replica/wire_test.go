package replica

import (
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
// positions in the hundreds): DELTA is never larger when two or more
// fields change, and costs at most its mask and array header when one
// does. docs/SYNC.md quotes these numbers.
func TestDeltaWireSize(t *testing.T) {
	reg := msg.NewRegistry()
	Register(reg)
	msg.Define[fieldSet](reg, msg.Info{ID: 31, Name: "SET", Dir: msg.ToClient})
	cases := []struct {
		name string
		mask uint16
		vals []int32
	}{
		{"hp", 1 << 3, []int32{75}},
		{"x,y", 3, []int32{347, 212}},
		{"x,y,heading", 7, []int32{347, 212, 270}},
	}
	for _, enc := range msg.Encodings {
		c := reg.NewCodec(enc)
		for _, tc := range cases {
			d, _ := c.Append(nil, &Delta{ID: 4321, Mask: tc.mask, Vals: tc.vals}, 0)
			var per []byte
			i := 0
			for m := tc.mask; m != 0; m &= m - 1 {
				f := 0
				for m&(1<<f) == 0 {
					f++
				}
				per, _ = c.Append(per, &fieldSet{ID: 4321, Field: uint8(f), Value: tc.vals[i]}, 0)
				i++
			}
			t.Logf("%-8s %-12s DELTA %3d bytes, per field %3d bytes", enc, tc.name, len(d), len(per))
			if len(tc.vals) >= 2 && len(d) > len(per) {
				t.Errorf("%s %s: DELTA %d > per-field %d", enc, tc.name, len(d), len(per))
			}
		}
	}
}
