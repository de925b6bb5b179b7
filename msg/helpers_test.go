package msg_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
)

// Kitchen has a field of every supported kind, for round trips and fuzzing.
type Kitchen struct {
	B   bool      `tw:"b"`
	I8  int8      `tw:"i8"`
	I16 int16     `tw:"i16,min=-1000,max=1000"`
	I   int       `tw:"i"`
	U8  uint8     `tw:"u8"`
	U   uint      `tw:"u"`
	F32 float32   `tw:"f32"`
	F64 float64   `tw:"f64,min=-1,max=1"`
	S   string    `tw:"s,max=16"`
	L   []int32   `tw:"l,max=4"`
	FL  []float32 `tw:"fl,max=3"`
	UL  []uint16  `tw:"ul,optional,max=4"`
	Opt string    `tw:"opt,optional,rest,max=40"`
}

// IDKitchen is the test-only id of Kitchen.
const IDKitchen = 100

// newRegistry returns the built-ins, the arena's messages and Kitchen.
func newRegistry() *msg.Registry {
	reg := msg.NewRegistry()
	arena.Register(reg)
	msg.Define[Kitchen](reg, msg.Info{ID: IDKitchen, Name: "KITCHEN", Doc: "every kind of field"})
	return reg
}

// samples has at least one value of every message in newRegistry.
func samples() []any {
	return []any{
		&msg.Help{},
		&msg.Ping{}, &msg.Ping{Token: "t-1"}, &msg.Ping{Token: "with space"},
		&msg.Pong{Token: "1712345678"}, &msg.Pong{},
		&msg.Auth{User: "guest"}, &msg.Auth{User: "bob", Secret: "s3cr3t/+="}, &msg.Auth{User: "a b", Secret: `q"uote\`},
		&msg.Welcome{ID: 42, Name: "guest-42"}, &msg.Welcome{ID: math.MaxUint64, Name: "é"},
		&msg.Quit{},
		&msg.Bye{Reason: "too_long"}, &msg.Bye{Reason: ""},
		&msg.Use{Encoding: "msgpack"}, &msg.Using{Encoding: "json"},
		&msg.Log{Level: "info", Text: "hello  world"}, &msg.Log{Level: "warn", Text: " leading and trailing "},
		&msg.Notice{Text: "tickwire arena: AUTH guest to play"}, &msg.Notice{Text: ""},
		&msg.Err{Code: "bad_field", Text: "MOVE x: must be <= 1000"}, &msg.Err{Code: "x"}, &msg.Err{Code: "q", Text: `"starts with a quote`},
		&arena.Move{X: 0, Y: 1000}, &arena.Move{X: 500, Y: 1},
		&arena.Say{Text: "hi there"}, &arena.Say{Text: "tab\there\nnewline \x00\xff"},
		&arena.Pos{ID: 1 << 40, X: -5, Y: 7}, &arena.Pos{ID: 1, X: math.MaxInt32, Y: math.MinInt32},
		&arena.Spawn{ID: 3, Name: "guest-3", X: 100, Y: 100},
		&arena.Gone{ID: 3},
		&arena.Chat{From: "guest-1", Text: "gg wp"},
		&Kitchen{B: true, I8: -128, I16: 1000, I: math.MinInt64, U8: 255, U: math.MaxUint64, F32: 1.5e-7,
			F64: -0.25, S: "", L: []int32{1, -2, 3}, FL: []float32{0.1, 2, -3e10}, UL: []uint16{65535}, Opt: "rest of it"},
		&Kitchen{L: []int32{}, FL: []float32{}},
	}
}

// generated returns two values of typ built from its field limits: one at
// the top of every range (longest strings, with spaces, quotes and
// backslashes; longest slices; largest numbers) and one at the bottom
// (smallest numbers, empty strings and slices). Every registered message,
// including ones added later, is covered this way.
func generated(typ *msg.Type) (hi, lo any) {
	return genValue(typ, true), genValue(typ, false)
}

func genValue(typ *msg.Type, high bool) any {
	p := reflect.New(typ.GoType())
	v := p.Elem()
	for _, fi := range typ.Fields() {
		fv := v.FieldByName(fi.GoName)
		switch fi.Kind {
		case msg.KindString:
			s := ""
			if high {
				pattern := `a "b\ c`
				if fi.Rest {
					pattern = ` r "e\st `
				}
				for len(s) < fi.MaxLen {
					s += pattern
				}
				s = s[:fi.MaxLen]
			}
			fv.SetString(s)
		case msg.KindSlice:
			n := 0
			if high {
				n = min(fi.MaxLen, 3)
			}
			sl := reflect.MakeSlice(fv.Type(), n, n)
			for i := 0; i < n; i++ {
				setScalar(sl.Index(i), fi, fi.Elem, high)
			}
			fv.Set(sl)
		default:
			setScalar(fv, fi, fi.Kind, high)
		}
	}
	return p.Interface()
}

func setScalar(fv reflect.Value, fi msg.FieldInfo, k msg.Kind, high bool) {
	switch k {
	case msg.KindBool:
		fv.SetBool(high)
	case msg.KindInt:
		lo, hi := float64(math.MinInt64), float64(math.MaxInt64)
		if fi.Bits < 64 {
			lo, hi = -float64(int64(1)<<(fi.Bits-1)), float64(int64(1)<<(fi.Bits-1)-1)
		}
		if fi.HasMin {
			lo = math.Max(lo, fi.Min)
		}
		if fi.HasMax {
			hi = math.Min(hi, fi.Max)
		}
		switch {
		case high && hi == math.MaxInt64:
			fv.SetInt(math.MaxInt64)
		case high:
			fv.SetInt(int64(hi))
		case lo == math.MinInt64:
			fv.SetInt(math.MinInt64)
		default:
			fv.SetInt(int64(lo))
		}
	case msg.KindUint:
		var hi uint64 = math.MaxUint64
		if fi.Bits < 64 {
			hi = 1<<fi.Bits - 1
		}
		if fi.HasMax && fi.Max < float64(hi) {
			hi = uint64(fi.Max)
		}
		var lo uint64
		if fi.HasMin && fi.Min > 0 {
			lo = uint64(math.Ceil(fi.Min))
		}
		if high {
			fv.SetUint(hi)
		} else {
			fv.SetUint(lo)
		}
	case msg.KindFloat:
		limit := math.MaxFloat64
		if fi.Bits == 32 {
			limit = math.MaxFloat32
		}
		x := -limit
		if high {
			x = limit
			if fi.HasMax {
				x = fi.Max
			}
		} else if fi.HasMin {
			x = fi.Min
		}
		if fi.Bits == 32 { // stay inside the limit after rounding to float32
			f := float32(x)
			if float64(f) > x {
				f = math.Nextafter32(f, float32(math.Inf(-1)))
			} else if float64(f) < x {
				f = math.Nextafter32(f, float32(math.Inf(1)))
			}
			x = float64(f)
		}
		fv.SetFloat(x)
	}
}

// sameMsg compares two decoded messages field by field, treating nil and
// empty slices alike (the wire cannot tell them apart).
func sameMsg(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() == reflect.Pointer {
		va = va.Elem()
	}
	if vb.Kind() == reflect.Pointer {
		vb = vb.Elem()
	}
	if va.Type() != vb.Type() {
		return false
	}
	for i := 0; i < va.NumField(); i++ {
		fa, fb := va.Field(i), vb.Field(i)
		if fa.Kind() == reflect.Slice {
			if fa.Len() != fb.Len() {
				return false
			}
			for j := 0; j < fa.Len(); j++ {
				if !reflect.DeepEqual(fa.Index(j).Interface(), fb.Index(j).Interface()) {
					return false
				}
			}
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			return false
		}
	}
	return true
}

// validUTF8 reports whether every string field of m is valid UTF-8 (the
// JSON encoding replaces invalid bytes, so only such values survive it).
func validUTF8(m any) bool {
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.String && !utf8.ValidString(f.String()) {
			return false
		}
	}
	return true
}

// payload splits one complete frame produced by Append into its payload,
// checking that the frame is exactly one message.
func payload(t testing.TB, enc msg.Encoding, b []byte) []byte {
	t.Helper()
	r := frame.NewReader(bytes.NewReader(b), frame.MaxMessageLimit)
	r.SetMode(enc.FrameMode())
	p, err := r.Next()
	if err != nil {
		t.Fatalf("%v: frame %q: %v", enc, b, err)
	}
	if r.Buffered() != 0 {
		t.Fatalf("%v: %d bytes after the first frame of %q", enc, r.Buffered(), b)
	}
	return append([]byte(nil), p...)
}

// roundTrip encodes m in enc and decodes it back.
func roundTrip(t testing.TB, reg *msg.Registry, enc msg.Encoding, m any, rid uint32) msg.Envelope {
	t.Helper()
	b, err := reg.Append(nil, enc, m, rid)
	if err != nil {
		t.Fatalf("%v: Append(%#v): %v", enc, m, err)
	}
	env, err := reg.Decode(enc, payload(t, enc, b), msg.Both)
	if err != nil {
		t.Fatalf("%v: Decode(%q) of %#v: %v", enc, b, m, err)
	}
	return env
}

// mpPayload builds a MessagePack payload: the header for id (and rid), then
// each value. A []byte value is appended verbatim; others are encoded with
// the msgpack library in their smallest form.
func mpPayload(id uint16, rid uint32, vals ...any) []byte {
	head := uint64(id) << 1
	if rid != 0 {
		head |= 1
	}
	b := binary.AppendUvarint(nil, head)
	if rid != 0 {
		b = binary.AppendUvarint(b, uint64(rid))
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.UseCompactFloats(false)
	for _, v := range vals {
		if raw, ok := v.([]byte); ok {
			buf.Write(raw)
			continue
		}
		if err := enc.Encode(v); err != nil {
			panic(err)
		}
	}
	return append(b, buf.Bytes()...)
}

// decodeErr decodes data and returns the DecodeError it must fail with.
func decodeErr(t testing.TB, reg *msg.Registry, enc msg.Encoding, data []byte, want msg.Dir) *msg.DecodeError {
	t.Helper()
	env, err := reg.Decode(enc, data, want)
	if err == nil {
		t.Fatalf("%v: %q decoded to %#v; want an error", enc, data, env.Msg)
	}
	var de *msg.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("%v: %q: error %v is not a *DecodeError", enc, data, err)
	}
	return de
}
