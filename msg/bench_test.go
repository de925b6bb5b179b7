package msg_test

import (
	"testing"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
)

// BenchmarkEncodePos encodes one arena position update.
func BenchmarkEncodePos(b *testing.B) {
	reg := newRegistry()
	pos := &arena.Pos{ID: 12, X: 345, Y: 678}
	for _, enc := range msg.Encodings {
		b.Run(enc.String(), func(b *testing.B) {
			c := reg.NewCodec(enc)
			buf := make([]byte, 0, 256)
			var n int
			b.ReportAllocs()
			for b.Loop() {
				out, err := c.Append(buf[:0], pos, 0)
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.ReportMetric(float64(n), "wire-bytes")
		})
	}
}

// BenchmarkDecodePos decodes one arena position update.
func BenchmarkDecodePos(b *testing.B) {
	reg := newRegistry()
	for _, enc := range msg.Encodings {
		b.Run(enc.String(), func(b *testing.B) {
			c := reg.NewCodec(enc)
			frame, _ := c.Append(nil, &arena.Pos{ID: 12, X: 345, Y: 678}, 0)
			p := payload(b, enc, frame)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Decode(p, msg.ToClient); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(frame)), "wire-bytes")
		})
	}
}

// BenchmarkEncodeTick100 encodes the output of a tick in which 100
// entities moved: 100 POS messages in one buffer, as the server's writer
// does for one player.
func BenchmarkEncodeTick100(b *testing.B) {
	reg := newRegistry()
	var updates [100]arena.Pos
	for i := range updates {
		updates[i] = arena.Pos{ID: uint64(1000 + i), X: int32(100 + 7*i), Y: int32(900 - 5*i)}
	}
	for _, enc := range msg.Encodings {
		b.Run(enc.String(), func(b *testing.B) {
			c := reg.NewCodec(enc)
			buf := make([]byte, 0, 8192)
			var n int
			b.ReportAllocs()
			for b.Loop() {
				out := buf[:0]
				for i := range updates {
					var err error
					if out, err = c.Append(out, &updates[i], 0); err != nil {
						b.Fatal(err)
					}
				}
				n = len(out)
			}
			b.ReportMetric(float64(n), "wire-bytes")
		})
	}
}
