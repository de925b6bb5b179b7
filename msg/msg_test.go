package msg_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
)

func TestRoundTripGenerated(t *testing.T) {
	reg := newRegistry()
	for _, typ := range reg.Types() {
		hi, lo := generated(typ)
		for _, m := range []any{hi, lo} {
			if err := reg.Validate(m); err != nil {
				t.Fatalf("generated %s %#v breaks its limits: %v", typ.Name, m, err)
			}
			var got []any
			for _, enc := range msg.Encodings {
				for _, rid := range []uint32{0, msg.MaxRID} {
					env := roundTrip(t, reg, enc, m, rid)
					if env.Type != typ || env.RID != rid || !sameMsg(env.Msg, m) {
						t.Errorf("%v: %s %#v rid %d came back as %s %#v rid %d", enc, typ.Name, m, rid, env.Type.Name, env.Msg, env.RID)
					}
					if rid == 0 {
						got = append(got, env.Msg)
					}
				}
			}
			// Cross-encoding: the three decodings are the same value.
			if !sameMsg(got[0], got[1]) || !sameMsg(got[1], got[2]) {
				t.Errorf("%s: text %#v, json %#v, msgpack %#v", typ.Name, got[0], got[1], got[2])
			}
		}
	}
}

func TestRoundTripEveryMessage(t *testing.T) {
	reg := newRegistry()
	for _, enc := range msg.Encodings {
		for _, m := range samples() {
			if enc == msg.JSON && !validUTF8(m) {
				continue // covered by TestJSONInvalidUTF8
			}
			for _, rid := range []uint32{0, 7, msg.MaxRID} {
				env := roundTrip(t, reg, enc, m, rid)
				if !sameMsg(env.Msg, m) {
					t.Errorf("%v rid %d: %#v came back as %#v", enc, rid, m, env.Msg)
				}
				if env.RID != rid {
					t.Errorf("%v: rid %d came back as %d", enc, rid, env.RID)
				}
				if want, _ := reg.TypeOf(m); env.Type != want {
					t.Errorf("%v: type %s came back as %s", enc, want.Name, env.Type.Name)
				}
				if err := reg.Validate(env.Msg); err != nil {
					t.Errorf("%v: decoded %#v does not validate: %v", enc, env.Msg, err)
				}
			}
		}
	}
}

func TestCrossEncoding(t *testing.T) {
	reg := newRegistry()
	for _, m := range samples() {
		if !validUTF8(m) {
			continue
		}
		var got []any
		for _, enc := range msg.Encodings {
			got = append(got, roundTrip(t, reg, enc, m, 9).Msg)
		}
		if !sameMsg(got[0], got[1]) || !sameMsg(got[1], got[2]) {
			t.Errorf("%#v: text %#v, json %#v, msgpack %#v", m, got[0], got[1], got[2])
		}
	}
	// Values typed by hand in each encoding decode to the same message.
	same := [][3][]byte{
		{[]byte("MOVE 10 20"), []byte(`{"type":"MOVE","x":10,"y":20}`), mpPayload(40, 0, 10, 20)},
		{[]byte("@5 say hello  world"), []byte(`{"rid":5,"text":"hello  world","type":"say"}`), mpPayload(41, 5, "hello  world")},
		{[]byte(`AUTH "a b"`), []byte(`{"type":"AUTH","user":"a b"}`), mpPayload(4, 0, "a b", "")},
		{[]byte("POS 18446744073709551615 -1 0"), []byte(`{"type":"POS","id":18446744073709551615,"x":-1,"y":0}`),
			mpPayload(42, 0, uint64(math.MaxUint64), -1, 0)},
	}
	for _, c := range same {
		var envs []msg.Envelope
		for i, enc := range msg.Encodings {
			env, err := reg.Decode(enc, c[i], msg.Both)
			if err != nil {
				t.Fatalf("%v %q: %v", enc, c[i], err)
			}
			envs = append(envs, env)
		}
		for i := 1; i < 3; i++ {
			if !reflect.DeepEqual(envs[0], envs[i]) {
				t.Errorf("%q: text %+v, %v %+v", c[0], envs[0], msg.Encodings[i], envs[i])
			}
		}
	}
}

func TestWireBytesOfPos(t *testing.T) {
	reg := newRegistry()
	pos := arena.Pos{ID: 7, X: 100, Y: 200}
	want := map[msg.Encoding]string{
		msg.Text:    "POS 7 100 200\n",
		msg.JSON:    `{"type":"POS","id":7,"x":100,"y":200}` + "\n",
		msg.MsgPack: "\x05\x54\x07\x64\xcc\xc8", // len, id 42<<1, 7, 100, uint8 200
	}
	for _, enc := range msg.Encodings {
		b, err := reg.Append([]byte("prefix"), enc, pos, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b[len("prefix"):]); got != want[enc] {
			t.Errorf("%v: %q, want %q", enc, got, want[enc])
		}
	}
	// With a request id.
	b, _ := reg.Append(nil, msg.Text, &msg.Pong{Token: "x"}, 7)
	if string(b) != "@7 PONG x\n" {
		t.Errorf("text with rid: %q", b)
	}
	b, _ = reg.Append(nil, msg.JSON, &msg.Pong{Token: "x"}, 7)
	if string(b) != `{"type":"PONG","rid":7,"token":"x"}`+"\n" {
		t.Errorf("json with rid: %q", b)
	}
	b, _ = reg.Append(nil, msg.MsgPack, &msg.Pong{Token: "x"}, 7)
	if string(b) != "\x04\x07\x07\xa1x" {
		t.Errorf("msgpack with rid: %q", b)
	}
}

func TestTextQuoting(t *testing.T) {
	reg := newRegistry()
	for _, c := range []struct {
		m    any
		line string
	}{
		{&msg.Auth{User: "guest"}, "AUTH guest"},
		{&msg.Auth{User: "a b", Secret: "x"}, `AUTH "a b" x`},
		{&msg.Auth{User: `q"uote`}, `AUTH "q\"uote"`},
		{&msg.Auth{User: `back\slash`}, `AUTH "back\\slash"`},
		{&msg.Auth{User: ""}, `AUTH ""`},
		{&msg.Auth{User: "", Secret: "s"}, `AUTH "" s`},
		{&msg.Auth{User: "t\tn\nr\r"}, `AUTH "t\tn\nr\r"`},
		{&msg.Auth{User: "é\x01\x7f"}, `AUTH "\xc3\xa9\x01\x7f"`},
		{&msg.Auth{User: "-"}, "AUTH -"},
		{&msg.Auth{User: "@7"}, "AUTH @7"},
		// rest fields: verbatim when unambiguous, quoted otherwise.
		{&arena.Say{Text: "hello  there"}, "SAY hello  there"},
		{&arena.Say{Text: `a"b\c`}, `SAY a"b\c`},
		{&arena.Say{Text: " lead"}, `SAY " lead"`},
		{&arena.Say{Text: "trail "}, `SAY "trail "`},
		{&arena.Say{Text: `"quoted"`}, `SAY "\"quoted\""`},
		{&arena.Say{Text: ""}, `SAY ""`},
		{&arena.Say{Text: "naïve"}, `SAY "na\xc3\xafve"`},
		{&arena.Chat{From: "guest 1", Text: "hi"}, `CHAT "guest 1" hi`},
		// Trailing optional zero fields are left out.
		{&msg.Err{Code: "x"}, "ERR x"},
		{&msg.Ping{}, "PING"},
		{&Kitchen{L: []int32{}, FL: []float32{1.5}, F32: 0.1}, "KITCHEN false 0 0 0 0 0 0.1 0 \"\" - 1.5"},
		{&Kitchen{L: []int32{}, FL: []float32{}, UL: []uint16{1, 2}, S: "s"}, "KITCHEN false 0 0 0 0 0 0 0 s - - 1,2"},
		{&Kitchen{L: []int32{}, FL: []float32{}, Opt: "x y"}, "KITCHEN false 0 0 0 0 0 0 0 \"\" - - - x y"},
	} {
		b, err := reg.Append(nil, msg.Text, c.m, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(string(b), "\n"); got != c.line {
			t.Errorf("%#v encodes as %s, want %s", c.m, got, c.line)
		}
		env, err := reg.Decode(msg.Text, []byte(c.line), msg.Both)
		if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		if !sameMsg(env.Msg, c.m) {
			t.Errorf("%s decodes as %#v, want %#v", c.line, env.Msg, c.m)
		}
	}
}

func TestTextDecodeEdgeCases(t *testing.T) {
	reg := newRegistry()
	ok := []struct {
		line string
		want any
		rid  uint32
	}{
		{"ping", &msg.Ping{}, 0},
		{"PiNg   tok  ", &msg.Ping{Token: "tok"}, 0},
		{"  PING x", &msg.Ping{Token: "x"}, 0},
		{`AUTH "\x41\x4a" "\"\\"`, &msg.Auth{User: "AJ", Secret: `"\`}, 0},
		{`AUTH "" ""`, &msg.Auth{}, 0},
		{"SAY   spaced  out   ", &arena.Say{Text: "spaced  out"}, 0},
		{`SAY "  kept  "`, &arena.Say{Text: "  kept  "}, 0},
		{`SAY "x"   `, &arena.Say{Text: "x"}, 0},
		{"@4294967295 QUIT", &msg.Quit{}, msg.MaxRID},
		{"@1 HELP", &msg.Help{}, 1},
		{`"PING" x`, &msg.Ping{Token: "x"}, 0},
		{"KITCHEN 1 -128 -1000 -9223372036854775808 255 18446744073709551615 3.4028235e38 1 abc 1,2,-3 -1e-3,0 -",
			&Kitchen{B: true, I8: -128, I16: -1000, I: math.MinInt64, U8: 255, U: math.MaxUint64, F32: math.MaxFloat32, F64: 1, S: "abc",
				L: []int32{1, 2, -3}, FL: []float32{-1e-3, 0}}, 0},
	}
	for _, c := range ok {
		env, err := reg.Decode(msg.Text, []byte(c.line), msg.Both)
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		if !sameMsg(env.Msg, c.want) || env.RID != c.rid {
			t.Errorf("%q = %#v rid %d, want %#v rid %d", c.line, env.Msg, env.RID, c.want, c.rid)
		}
	}
	bad := []struct {
		line, code, field, reason string
	}{
		{"", msg.CodeBadSyntax, "", "missing message name"},
		{"@7", msg.CodeBadSyntax, "", "missing message name"},
		{"@0 PING", msg.CodeBadSyntax, "", "bad request id"},
		{"@4294967296 PING", msg.CodeBadSyntax, "", "bad request id"},
		{"@x PING", msg.CodeBadSyntax, "", "bad request id"},
		{"FLY 1", msg.CodeUnknownMessage, "", `unknown command "FLY"`},
		{"PING a b", msg.CodeBadSyntax, "", "too many arguments (usage: PING [token])"},
		{"AUTH", msg.CodeBadField, "user", "missing (usage: AUTH user [secret])"},
		{`AUTH "abc`, msg.CodeBadField, "user", "unterminated"},
		{`AUTH "abc\`, msg.CodeBadField, "user", "unterminated"},
		{`AUTH "a"b`, msg.CodeBadField, "user", "followed by a space"},
		{`AUTH a"b`, msg.CodeBadField, "user", "a quote may only start an argument"},
		{`AUTH "\q"`, msg.CodeBadField, "user", "bad escape"},
		{`AUTH "\xZZ"`, msg.CodeBadField, "user", "bad escape"},
		{`AUTH "\x4"`, msg.CodeBadField, "user", "bad escape"},
		{`SAY "x" y`, msg.CodeBadField, "text", "unexpected text after the quoted string"},
		{"MOVE 1", msg.CodeBadField, "y", "missing"},
		{"MOVE a 1", msg.CodeBadField, "x", `want an integer, got "a"`},
		{`MOVE "1" 1`, msg.CodeBadField, "x", "not quoted"},
		{"MOVE 1.5 1", msg.CodeBadField, "x", "want an integer"},
		{"MOVE 1001 1", msg.CodeBadField, "x", "must be <= 1000"},
		{"MOVE 1 -1", msg.CodeBadField, "y", "must be >= 0"},
		{"MOVE 1 99999999999", msg.CodeBadField, "y", "overflows int32"},
		{"POS -1 0 0", msg.CodeBadField, "id", "want an unsigned integer"},
		{"KITCHEN maybe 0 0 0 0 0 0 0 s -", msg.CodeBadField, "b", "want true or false"},
		{`KITCHEN 0 0 0 0 0 0 0 0 s "1,2" -`, msg.CodeBadField, "l", "a list is not quoted"},
		{"KITCHEN 0 0 0 0 0 0 0 0 s 1,,2 -", msg.CodeBadField, "l", "want an integer"},
		{"KITCHEN 0 0 0 0 0 0 0 0 s 1,2,3,4,5 -", msg.CodeBadField, "l", "longer than 4 elements"},
		{"PING tab\there", msg.CodeBadSyntax, "", "byte 0x09 at offset 8"},
		{"PING caf\xc3\xa9", msg.CodeBadSyntax, "", "byte 0xc3 at offset 8"},
		{"PING \x1b[2J", msg.CodeBadSyntax, "", "byte 0x1b"},
		{"PING x\r", msg.CodeBadSyntax, "", "byte 0x0d"},
	}
	for _, c := range bad {
		de := decodeErr(t, reg, msg.Text, []byte(c.line), msg.Both)
		if de.Code != c.code || de.Field != c.field || !strings.Contains(de.Reason, c.reason) {
			t.Errorf("%q: got %s %q %q, want %s %q containing %q", c.line, de.Code, de.Field, de.Reason, c.code, c.field, c.reason)
		}
	}
	// The request id survives errors after it, so the answer can be tagged.
	if de := decodeErr(t, reg, msg.Text, []byte("@9 MOVE x 1"), msg.Both); de.RID != 9 {
		t.Errorf("rid of a failed decode = %d, want 9", de.RID)
	}
	if de := decodeErr(t, reg, msg.Text, []byte("@9 NOPE"), msg.Both); de.RID != 9 || de.Code != msg.CodeUnknownMessage {
		t.Errorf("unknown with rid: %+v", de)
	}
}

// One-field messages for limit checks.
type (
	LimI8 struct {
		V int8 `tw:"v"`
	}
	LimI16 struct {
		V int16 `tw:"v"`
	}
	LimI32 struct {
		V int32 `tw:"v"`
	}
	LimI64 struct {
		V int64 `tw:"v"`
	}
	LimU8 struct {
		V uint8 `tw:"v"`
	}
	LimU16 struct {
		V uint16 `tw:"v"`
	}
	LimU32 struct {
		V uint32 `tw:"v"`
	}
	LimU64 struct {
		V uint64 `tw:"v"`
	}
	LimF32 struct {
		V float32 `tw:"v"`
	}
	LimF64 struct {
		V float64 `tw:"v"`
	}
	LimIRng struct {
		V int32 `tw:"v,min=-5,max=5"`
	}
	LimFRng struct {
		V float64 `tw:"v,min=0,max=1"`
	}
	LimStr struct {
		V string `tw:"v,max=4"`
	}
	LimDef struct {
		V string `tw:"v"`
	}
	LimList struct {
		V []int16 `tw:"v,max=3"`
	}
	LimBool struct {
		V bool `tw:"v"`
	}
)

func limitRegistry() *msg.Registry {
	reg := msg.NewRegistry()
	msg.Define[LimI8](reg, msg.Info{ID: 101, Name: "I8"})
	msg.Define[LimI16](reg, msg.Info{ID: 102, Name: "I16"})
	msg.Define[LimI32](reg, msg.Info{ID: 103, Name: "I32"})
	msg.Define[LimI64](reg, msg.Info{ID: 104, Name: "I64"})
	msg.Define[LimU8](reg, msg.Info{ID: 105, Name: "U8"})
	msg.Define[LimU16](reg, msg.Info{ID: 106, Name: "U16"})
	msg.Define[LimU32](reg, msg.Info{ID: 107, Name: "U32"})
	msg.Define[LimU64](reg, msg.Info{ID: 108, Name: "U64"})
	msg.Define[LimF32](reg, msg.Info{ID: 109, Name: "F32"})
	msg.Define[LimF64](reg, msg.Info{ID: 110, Name: "F64"})
	msg.Define[LimIRng](reg, msg.Info{ID: 111, Name: "IRNG"})
	msg.Define[LimFRng](reg, msg.Info{ID: 112, Name: "FRNG"})
	msg.Define[LimStr](reg, msg.Info{ID: 113, Name: "STR"})
	msg.Define[LimDef](reg, msg.Info{ID: 114, Name: "DEFSTR"})
	msg.Define[LimList](reg, msg.Info{ID: 115, Name: "LIST"})
	msg.Define[LimBool](reg, msg.Info{ID: 116, Name: "BOOL"})
	return reg
}

// wire is one value written in each encoding; a nil entry skips that
// encoding (it cannot express the value).
type wire struct {
	text, json string
	mp         []byte // MessagePack field bytes
}

func w(text, json string, mp []byte) wire { return wire{text, json, mp} }

func mpv(v any) []byte { return mpPayload(0, 0, v)[1:] }

func TestLimits(t *testing.T) {
	reg := limitRegistry()
	f64bits := func(x float64) []byte {
		b := []byte{0xcb}
		u := math.Float64bits(x)
		for i := 7; i >= 0; i-- {
			b = append(b, byte(u>>(8*i)))
		}
		return b
	}
	cases := []struct {
		name   string
		v      wire
		reason string // "" means accepted
	}{
		{"I8", w("127", "127", mpv(127)), ""},
		{"I8", w("-128", "-128", mpv(-128)), ""},
		{"I8", w("128", "128", mpv(128)), "128 overflows int8"},
		{"I8", w("-129", "-129", mpv(-129)), "-129 overflows int8"},
		{"I16", w("32767", "32767", mpv(32767)), ""},
		{"I16", w("32768", "32768", mpv(32768)), "overflows int16"},
		{"I16", w("-32769", "-32769", mpv(-32769)), "overflows int16"},
		{"I32", w("2147483647", "2147483647", mpv(2147483647)), ""},
		{"I32", w("2147483648", "2147483648", mpv(2147483648)), "overflows int32"},
		{"I32", w("-2147483649", "-2147483649", mpv(-2147483649)), "overflows int32"},
		{"I64", w("9223372036854775807", "9223372036854775807", mpv(int64(math.MaxInt64))), ""},
		{"I64", w("-9223372036854775808", "-9223372036854775808", mpv(int64(math.MinInt64))), ""},
		{"I64", w("9223372036854775808", "9223372036854775808", mpv(uint64(1<<63))), "9223372036854775808"},
		{"U8", w("255", "255", mpv(255)), ""},
		{"U8", w("256", "256", mpv(256)), "256 overflows uint8"},
		{"U8", w("-1", "-1", mpv(-1)), "-1"},
		{"U16", w("65535", "65535", mpv(65535)), ""},
		{"U16", w("65536", "65536", mpv(65536)), "overflows uint16"},
		{"U32", w("4294967295", "4294967295", mpv(4294967295)), ""},
		{"U32", w("4294967296", "4294967296", mpv(4294967296)), "overflows uint32"},
		{"U64", w("18446744073709551615", "18446744073709551615", mpv(uint64(math.MaxUint64))), ""},
		{"U64", w("18446744073709551616", "18446744073709551616", nil), "want an unsigned integer"},
		{"U64", w("-5", "-5", mpv(-5)), "-5"},
		{"IRNG", w("5", "5", mpv(5)), ""},
		{"IRNG", w("-5", "-5", mpv(-5)), ""},
		{"IRNG", w("6", "6", mpv(6)), "must be <= 5"},
		{"IRNG", w("-6", "-6", mpv(-6)), "must be >= -5"},
		{"F64", w("1e308", "1e308", f64bits(1e308)), ""},
		{"F64", w("NaN", "", f64bits(math.NaN())), "must be a finite number"},
		{"F64", w("+Inf", "", f64bits(math.Inf(1))), "must be a finite number"},
		{"F64", w("-Inf", "", f64bits(math.Inf(-1))), "must be a finite number"},
		{"F64", w("1e999", "1e999", nil), "want a number"},
		{"F64", w("12", "12", mpv(12)), ""}, // integers are numbers
		{"F32", w("3.4028235e38", "3.4028235e38", f64bits(math.MaxFloat32)), ""},
		{"F32", w("1e39", "1e39", f64bits(1e39)), ""}, // checked below: refused
		{"F32", w("NaN", "", []byte{0xca, 0x7f, 0xc0, 0, 0}), "must be a finite number"},
		{"FRNG", w("1", "1", f64bits(1)), ""},
		{"FRNG", w("1.5", "1.5", f64bits(1.5)), "must be <= 1"},
		{"FRNG", w("-0.001", "-0.001", f64bits(-0.001)), "must be >= 0"},
		{"STR", w("abcd", `"abcd"`, mpv("abcd")), ""},
		{"STR", w("abcde", `"abcde"`, mpv("abcde")), "longer than 4 bytes"},
		{"STR", w(`"\xc3\xa9\xc3\xa9\xc3\xa9"`, `"ééé"`, mpv("ééé")), "longer than 4 bytes"}, // bytes, not runes
		{"DEFSTR", w(strings.Repeat("s", msg.DefaultMaxString), `"`+strings.Repeat("s", msg.DefaultMaxString)+`"`,
			mpv(strings.Repeat("s", msg.DefaultMaxString))), ""},
		{"DEFSTR", w(strings.Repeat("s", msg.DefaultMaxString+1), `"`+strings.Repeat("s", msg.DefaultMaxString+1)+`"`,
			mpv(strings.Repeat("s", msg.DefaultMaxString+1))), "longer than 256 bytes"},
		{"LIST", w("1,2,3", "[1,2,3]", mpv([]int{1, 2, 3})), ""},
		{"LIST", w("-", "[]", mpv([]int{})), ""},
		{"LIST", w("1,2,3,4", "[1,2,3,4]", mpv([]int{1, 2, 3, 4})), "longer than 3 elements"},
		{"LIST", w("40000", "[40000]", mpv([]int{40000})), "40000 overflows int16"},
		{"BOOL", w("true", "true", mpv(true)), ""},
		{"BOOL", w("yes", `"yes"`, mpv("yes")), "want"},
	}
	for _, c := range cases {
		typ, _ := reg.ByName(c.name)
		inputs := map[msg.Encoding][]byte{
			msg.Text: []byte(c.name + " " + c.v.text),
			msg.JSON: []byte(`{"type":"` + c.name + `","v":` + c.v.json + `}`),
		}
		if c.v.json == "" {
			delete(inputs, msg.JSON) // JSON has no NaN or infinity
		}
		if c.v.mp != nil {
			inputs[msg.MsgPack] = append(mpPayload(typ.ID, 0), c.v.mp...)
		}
		for enc, data := range inputs {
			reason := c.reason
			if c.name == "F32" && c.v.text == "1e39" {
				reason = "float32" // out of float32 range in every encoding
				if enc != msg.MsgPack {
					reason = "want a number"
				}
			}
			env, err := reg.Decode(enc, data, msg.Both)
			if reason == "" {
				if err != nil {
					t.Errorf("%v %q: %v", enc, data, err)
				} else if err := reg.Validate(env.Msg); err != nil {
					t.Errorf("%v %q decoded to %#v, which does not validate: %v", enc, data, env.Msg, err)
				}
				continue
			}
			var de *msg.DecodeError
			if !errors.As(err, &de) {
				t.Errorf("%v %q: decoded to %#v (err %v); want a bad_field error %q", enc, data, env.Msg, err, reason)
				continue
			}
			if de.Code != msg.CodeBadField || de.Field != "v" || de.Name != c.name || !strings.Contains(de.Reason, reason) {
				t.Errorf("%v %q: %s %s %q %q, want bad_field %s v %q", enc, data, de.Code, de.Name, de.Field, de.Reason, c.name, reason)
			}
		}
	}
	// JSON cannot carry NaN: that is a syntax error.
	if de := decodeErr(t, reg, msg.JSON, []byte(`{"type":"F64","v":NaN}`), msg.Both); de.Code != msg.CodeBadSyntax {
		t.Errorf("JSON NaN: %+v", de)
	}
}

func TestValidate(t *testing.T) {
	reg := limitRegistry()
	for _, c := range []struct {
		m   any
		bad bool
	}{
		{LimIRng{V: 5}, false}, {&LimIRng{V: 6}, true}, {LimFRng{V: math.NaN()}, true},
		{LimStr{V: "abcde"}, true}, {LimList{V: []int16{1, 2, 3, 4}}, true}, {LimList{V: []int16{1}}, false},
		{LimF32{V: float32(math.Inf(1))}, true},
	} {
		err := reg.Validate(c.m)
		if (err != nil) != c.bad {
			t.Errorf("Validate(%#v) = %v", c.m, err)
		}
		var fe *msg.FieldError
		if err != nil && (!errors.As(err, &fe) || fe.Field != "v") {
			t.Errorf("Validate(%#v) error %v is not a FieldError for v", c.m, err)
		}
	}
	if err := reg.Validate(struct{}{}); err == nil {
		t.Error("Validate accepted an unregistered type")
	}
}

func TestJSONEncodeNonFinite(t *testing.T) {
	reg := limitRegistry()
	dst := []byte("keep")
	out, err := reg.Append(dst, msg.JSON, LimF64{V: math.Inf(1)}, 0)
	if err == nil || string(out) != "keep" {
		t.Fatalf("Append(+Inf) = %q, %v; want an error and dst unchanged", out, err)
	}
}

func TestJSONDecode(t *testing.T) {
	reg := newRegistry()
	ok := []struct {
		in   string
		want any
		rid  uint32
	}{
		{`{"type":"PING"}`, &msg.Ping{}, 0},
		{` {"token":"t","type":"ping","rid":3} `, &msg.Ping{Token: "t"}, 3},
		{`{"type":"PING","token":null}`, &msg.Ping{}, 0},
		{`{"type":"SAY","text":"caf\u00e9 \"q\" \\ \n"}`, &arena.Say{Text: "café \"q\" \\ \n"}, 0},
	}
	for _, c := range ok {
		env, err := reg.Decode(msg.JSON, []byte(c.in), msg.Both)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if !sameMsg(env.Msg, c.want) || env.RID != c.rid {
			t.Errorf("%s = %#v rid %d", c.in, env.Msg, env.RID)
		}
	}
	bad := []struct{ in, code, field, reason string }{
		{`{"type":"MOVE","x":1.0e2,"y":0}`, msg.CodeBadField, "x", "want an integer"},
		{`not json`, msg.CodeBadSyntax, "", "invalid JSON"},
		{`[]`, msg.CodeBadSyntax, "", "invalid JSON"},
		{`null`, msg.CodeBadSyntax, "", "want a JSON object"},
		{`{"type":"PING"}{}`, msg.CodeBadSyntax, "", "trailing data"},
		{`{"type":"PING"} x`, msg.CodeBadSyntax, "", "trailing data"},
		{`{}`, msg.CodeBadSyntax, "", `missing or non-string "type"`},
		{`{"type":7}`, msg.CodeBadSyntax, "", `missing or non-string "type"`},
		{`{"type":"PING","rid":0}`, msg.CodeBadSyntax, "", "rid must be"},
		{`{"type":"PING","rid":4294967296}`, msg.CodeBadSyntax, "", "rid must be"},
		{`{"type":"PING","rid":"1"}`, msg.CodeBadSyntax, "", "rid must be"},
		{`{"type":"FLY"}`, msg.CodeUnknownMessage, "", `unknown message type "FLY"`},
		{`{"type":"MOVE","x":1}`, msg.CodeBadField, "y", "missing"},
		{`{"type":"MOVE","x":1,"y":2,"z":3}`, msg.CodeBadField, "z", "unknown field"},
		{`{"type":"MOVE","x":"a","y":2}`, msg.CodeBadField, "x", "want a number"},
		{`{"type":"SAY","text":5}`, msg.CodeBadField, "text", "want a string"},
		{`{"type":"KITCHEN","b":1,"i8":0,"i16":0,"i":0,"u8":0,"u":0,"f32":0,"f64":0,"s":"","l":[],"fl":[]}`, msg.CodeBadField, "b", "want true or false"},
		{`{"type":"KITCHEN","b":true,"i8":0,"i16":0,"i":0,"u8":0,"u":0,"f32":0,"f64":0,"s":"","l":5,"fl":[]}`, msg.CodeBadField, "l", "want an array"},
	}
	for _, c := range bad {
		de := decodeErr(t, reg, msg.JSON, []byte(c.in), msg.Both)
		if de.Code != c.code || de.Field != c.field || !strings.Contains(de.Reason, c.reason) {
			t.Errorf("%s: got %s %q %q, want %s %q %q", c.in, de.Code, de.Field, de.Reason, c.code, c.field, c.reason)
		}
	}
}

func TestJSONInvalidUTF8(t *testing.T) {
	reg := newRegistry()
	b, err := reg.Append(nil, msg.JSON, &arena.Say{Text: "a\xffb\x7f"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"SAY","text":"a\ufffdb\u007f"}` + "\n"; string(b) != want {
		t.Fatalf("%q, want %q", b, want)
	}
}

func TestMsgPackDecode(t *testing.T) {
	reg := newRegistry()
	bad := []struct {
		data              []byte
		code, field, text string
	}{
		{nil, msg.CodeBadSyntax, "", "bad message header"},
		{[]byte{0x80}, msg.CodeBadSyntax, "", "bad message header"},
		{[]byte{0xff, 0xff, 0x07}, msg.CodeBadSyntax, "", "bad message header"}, // id > MaxID
		{[]byte{0x05}, msg.CodeBadSyntax, "", "bad request id"},                 // rid flag, no rid
		{[]byte{0x05, 0x00}, msg.CodeBadSyntax, "", "bad request id"},           // rid 0
		{mpPayload(999, 0), msg.CodeUnknownMessage, "", "unknown message id 999"},
		{mpPayload(40, 0, 1), msg.CodeBadField, "y", "missing"},
		{mpPayload(40, 0, 1, 2, 3), msg.CodeBadSyntax, "", "1 trailing bytes"},
		{mpPayload(40, 0, "1", 2), msg.CodeBadField, "x", "want an integer"},
		{mpPayload(40, 0, 1.5, 2), msg.CodeBadField, "x", "want an integer"},
		{mpPayload(42, 0, 1.5, 2, 3), msg.CodeBadField, "id", "want an unsigned integer"},
		{mpPayload(41, 0, 5), msg.CodeBadField, "text", "want a string"},
		{mpPayload(41, 0, []byte{0xd9, 0x05, 'a'}), msg.CodeBadField, "text", "truncated"},
		{mpPayload(41, 0, []byte{0xdb, 0xff, 0xff, 0xff, 0xff}), msg.CodeBadField, "text", "longer than 200 bytes"},
		{mpPayload(IDKitchen, 0, true, 0, 0, 0, 0, 0, 0.0, 0.0, "", []byte{0xdd, 0x7f, 0xff, 0xff, 0xff}), msg.CodeBadField, "l", "longer than 4 elements"},
		{mpPayload(IDKitchen, 0, true, 0, 0, 0, 0, 0, 0.0, 0.0, "", []byte{0x93, 0x01}), msg.CodeBadField, "l", "truncated"},
		{mpPayload(IDKitchen, 0, true, 0, 0, 0, 0, 0, 0.0, 0.0, "", "x"), msg.CodeBadField, "l", "want an array"},
		{mpPayload(IDKitchen, 0, 1), msg.CodeBadField, "b", "want a bool"},
		// A negative int cut short in a uint field is refused, not read as 0.
		{mpPayload(44, 0, []byte{0xd2, 0x00}), msg.CodeBadField, "id", ""},
		{mpPayload(44, 0, []byte{0xd0}), msg.CodeBadField, "id", ""},
		{mpPayload(42, 0, []byte{0xcd, 0x01}), msg.CodeBadField, "id", "want an unsigned integer"},
	}
	for _, c := range bad {
		de := decodeErr(t, reg, msg.MsgPack, c.data, msg.Both)
		if de.Code != c.code || de.Field != c.field || !strings.Contains(de.Reason, c.text) {
			t.Errorf("% x: got %s %q %q, want %s %q %q", c.data, de.Code, de.Field, de.Reason, c.code, c.field, c.text)
		}
	}
	// Non-compact integer forms and bin strings decode.
	env, err := reg.Decode(msg.MsgPack, mpPayload(42, 0, []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 9}, []byte{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, []byte{0xd0, 5}), msg.Both)
	if err != nil || !sameMsg(env.Msg, &arena.Pos{ID: 9, X: -2, Y: 5}) {
		t.Errorf("long int forms: %#v, %v", env.Msg, err)
	}
	env, err = reg.Decode(msg.MsgPack, mpPayload(41, 0, []byte{0xc4, 2, 'h', 'i'}), msg.Both)
	if err != nil || !sameMsg(env.Msg, &arena.Say{Text: "hi"}) {
		t.Errorf("bin as string: %#v, %v", env.Msg, err)
	}
}

func TestDirection(t *testing.T) {
	reg := newRegistry()
	for _, enc := range msg.Encodings {
		b, _ := reg.Append(nil, enc, &msg.Pong{Token: "x"}, 4)
		de := decodeErr(t, reg, enc, payload(t, enc, b), msg.ToServer)
		if de.Code != msg.CodeNotAllowed || de.Name != "PONG" || de.RID != 4 || !strings.Contains(de.Reason, "to the server") {
			t.Errorf("%v: PONG to the server: %+v", enc, de)
		}
		b, _ = reg.Append(nil, enc, &arena.Move{X: 1, Y: 2}, 0)
		de = decodeErr(t, reg, enc, payload(t, enc, b), msg.ToClient)
		if de.Code != msg.CodeNotAllowed || de.Name != "MOVE" || !strings.Contains(de.Reason, "to a client") {
			t.Errorf("%v: MOVE to a client: %+v", enc, de)
		}
		// Both-way messages pass either way.
		b, _ = reg.Append(nil, enc, &Kitchen{}, 0)
		for _, d := range []msg.Dir{msg.ToServer, msg.ToClient} {
			if _, err := reg.Decode(enc, payload(t, enc, b), d); err != nil {
				t.Errorf("%v: KITCHEN %v: %v", enc, d, err)
			}
		}
	}
}

func TestDecodeErrorText(t *testing.T) {
	de := &msg.DecodeError{Code: msg.CodeBadField, Name: "MOVE", Field: "x", Reason: "must be <= 1000"}
	if de.Error() != "bad_field MOVE x: must be <= 1000" || de.Text() != "MOVE x: must be <= 1000" {
		t.Errorf("%q / %q", de.Error(), de.Text())
	}
	de = &msg.DecodeError{Code: msg.CodeBadSyntax, Reason: "nope"}
	if de.Error() != "bad_syntax nope" || de.Text() != "nope" {
		t.Errorf("%q / %q", de.Error(), de.Text())
	}
}

func TestEncodingNames(t *testing.T) {
	for _, enc := range msg.Encodings {
		got, err := msg.ParseEncoding(enc.String())
		if err != nil || got != enc {
			t.Errorf("ParseEncoding(%q) = %v, %v", enc, got, err)
		}
		up, err := msg.ParseEncoding(strings.ToUpper(enc.String()))
		if err != nil || up != enc {
			t.Errorf("ParseEncoding upper %q: %v", enc, err)
		}
	}
	if _, err := msg.ParseEncoding("xml"); err == nil {
		t.Error("ParseEncoding(xml) succeeded")
	}
	if msg.MsgPack.FrameMode() != frame.Binary || msg.JSON.FrameMode() != frame.Text || msg.Text.FrameMode() != frame.Text {
		t.Error("FrameMode")
	}
	if msg.Encoding(9).String() != "encoding(9)" || msg.Dir(9).String() != "dir(9)" || msg.Both.String() != "both" {
		t.Error("String of unknown values")
	}
	codec := newRegistry().NewCodec(msg.Encoding(9))
	if _, err := codec.Append(nil, &msg.Ping{}, 0); err == nil {
		t.Error("Append with a bad encoding succeeded")
	}
	if _, err := codec.Decode([]byte("PING"), msg.Both); err == nil {
		t.Error("Decode with a bad encoding succeeded")
	}
}

func TestCodecSwitch(t *testing.T) {
	reg := newRegistry()
	c := reg.NewCodec(msg.Text)
	if c.Registry() != reg || c.Encoding() != msg.Text {
		t.Fatal("codec accessors")
	}
	var out []byte
	out, _ = c.Append(out, &msg.Ping{Token: "a"}, 0)
	c.SetEncoding(msg.MsgPack)
	out, _ = c.Append(out, &msg.Ping{Token: "b"}, 0)
	c.SetEncoding(msg.JSON)
	out, _ = c.Append(out, &msg.Ping{Token: "c"}, 0)
	if want := "PING a\n\x03\x04\xa1b" + `{"type":"PING","token":"c"}` + "\n"; string(out) != want {
		t.Fatalf("%q, want %q", out, want)
	}
	if _, err := c.Append(nil, struct{ X int }{}, 0); err == nil {
		t.Fatal("Append of an unregistered type succeeded")
	}
}

func TestRegistryLookups(t *testing.T) {
	reg := newRegistry()
	if typ, ok := reg.ByName("move"); !ok || typ.Name != "MOVE" {
		t.Error("ByName is not case-insensitive")
	}
	if _, ok := reg.ByName("NOPE"); ok {
		t.Error("ByName(NOPE)")
	}
	if typ, ok := reg.ByID(42); !ok || typ.Name != "POS" || typ.GoType() != reflect.TypeFor[arena.Pos]() {
		t.Error("ByID(42)")
	}
	if typ, err := reg.TypeOf(arena.Pos{}); err != nil || typ.ID != 42 {
		t.Error("TypeOf(value)")
	}
	if _, err := reg.TypeOf(nil); err == nil {
		t.Error("TypeOf(nil)")
	}
	types := reg.Types()
	for i := 1; i < len(types); i++ {
		if types[i-1].ID >= types[i].ID {
			t.Fatal("Types not ordered by id")
		}
	}
	usage := map[string]string{
		"PING": "PING [token]", "AUTH": "AUTH user [secret]", "SAY": "SAY text...", "MOVE": "MOVE x y",
		"ERR": "ERR code [text...]", "HELP": "HELP",
	}
	for name, want := range usage {
		typ, _ := reg.ByName(name)
		if typ.Usage() != want {
			t.Errorf("%s usage %q, want %q", name, typ.Usage(), want)
		}
	}
	move, _ := reg.ByName("MOVE")
	f := move.Fields()
	if len(f) != 2 || f[0].Name != "x" || f[0].GoName != "X" || f[0].Kind != msg.KindInt || f[0].Bits != 32 ||
		!f[0].HasMin || f[0].Min != 0 || !f[0].HasMax || f[0].Max != 1000 {
		t.Errorf("MOVE fields %+v", f)
	}
	kit, _ := reg.ByName("KITCHEN")
	for _, fi := range kit.Fields() {
		switch fi.Name {
		case "s":
			if fi.MaxLen != 16 || fi.HasMax {
				t.Errorf("s: %+v", fi)
			}
		case "l":
			if fi.Kind != msg.KindSlice || fi.Elem != msg.KindInt || fi.MaxLen != 4 {
				t.Errorf("l: %+v", fi)
			}
		}
	}
	def, _ := limitRegistry().ByName("DEFSTR")
	if def.Fields()[0].MaxLen != msg.DefaultMaxString {
		t.Error("default string max")
	}
	for k, s := range map[msg.Kind]string{msg.KindBool: "bool", msg.KindInt: "int", msg.KindUint: "uint",
		msg.KindFloat: "float", msg.KindString: "string", msg.KindSlice: "slice", 0: "?"} {
		if k.String() != s {
			t.Errorf("Kind %d = %q", k, k.String())
		}
	}
}

// Flow-graph test messages.
type (
	FlowA struct{}
	FlowB struct{}
	FlowC struct{}
	FlowD struct{}
)

func TestCheckFlow(t *testing.T) {
	if err := newRegistry().CheckFlow(); err != nil {
		t.Fatalf("built-ins and arena: %v", err)
	}

	reg := msg.NewRegistry()
	msg.Define[FlowA](reg, msg.Info{ID: 200, Name: "A", Causes: []string{"B"}})
	msg.Define[FlowB](reg, msg.Info{ID: 201, Name: "B", Causes: []string{"PONG", "A"}})
	err := reg.CheckFlow()
	if !errors.Is(err, msg.ErrFlowCycle) || !strings.HasSuffix(err.Error(), ": A -> B -> A") {
		t.Fatalf("two-message loop: %v", err)
	}

	reg = msg.NewRegistry()
	msg.Define[FlowC](reg, msg.Info{ID: 200, Name: "C", Causes: []string{"C"}})
	if err := reg.CheckFlow(); !errors.Is(err, msg.ErrFlowCycle) || !strings.HasSuffix(err.Error(), ": C -> C") {
		t.Fatalf("self-loop: %v", err)
	}

	// A longer loop reached from outside it is named from where it closes.
	reg = msg.NewRegistry()
	msg.Define[FlowA](reg, msg.Info{ID: 200, Name: "A", Causes: []string{"B"}})
	msg.Define[FlowB](reg, msg.Info{ID: 201, Name: "B", Causes: []string{"C"}})
	msg.Define[FlowC](reg, msg.Info{ID: 202, Name: "C", Causes: []string{"D"}})
	msg.Define[FlowD](reg, msg.Info{ID: 203, Name: "D", Causes: []string{"B"}})
	if err := reg.CheckFlow(); !errors.Is(err, msg.ErrFlowCycle) || !strings.HasSuffix(err.Error(), ": B -> C -> D -> B") {
		t.Fatalf("three-message loop: %v", err)
	}

	// A diamond is not a cycle.
	reg = msg.NewRegistry()
	msg.Define[FlowA](reg, msg.Info{ID: 200, Name: "A", Causes: []string{"B", "C"}})
	msg.Define[FlowB](reg, msg.Info{ID: 201, Name: "B", Causes: []string{"D"}})
	msg.Define[FlowC](reg, msg.Info{ID: 202, Name: "C", Causes: []string{"D"}})
	msg.Define[FlowD](reg, msg.Info{ID: 203, Name: "D"})
	if err := reg.CheckFlow(); err != nil {
		t.Fatalf("diamond: %v", err)
	}

	reg = msg.NewRegistry()
	msg.Define[FlowA](reg, msg.Info{ID: 200, Name: "A", Causes: []string{"NOWHERE"}})
	if err := reg.CheckFlow(); err == nil || errors.Is(err, msg.ErrFlowCycle) || !strings.Contains(err.Error(), "NOWHERE") {
		t.Fatalf("unregistered cause: %v", err)
	}
}

// Definitions Define must refuse.
type (
	okMsg       struct{ A int32 }
	okMsg2      struct{ B int32 }
	badMap      struct{ M map[string]int }
	badStruct   struct{ S struct{ X int } }
	badStrSlice struct{ S []string }
	badPtr      struct{ P *int }
	restNotLast struct {
		T string `tw:"t,rest"`
		N int    `tw:"n"`
	}
	restOnInt struct {
		N int `tw:"n,rest"`
	}
	badOption struct {
		N int `tw:"n,maximum=3"`
	}
	badMin struct {
		N int `tw:"n,min=x"`
	}
	minOnString struct {
		S string `tw:"s,min=1"`
	}
	negMaxLen struct {
		S string `tw:"s,max=-1"`
	}
	fracMaxLen struct {
		S []int `tw:"s,max=1.5"`
	}
	upperField struct {
		N int `tw:"Num"`
	}
	reservedType struct {
		N int `tw:"type"`
	}
	reservedRID struct {
		N int `tw:"rid"`
	}
	dupWireName struct {
		A int `tw:"x"`
		B int `tw:"x"`
	}
	reqAfterOpt struct {
		A int `tw:"a,optional"`
		B int `tw:"b"`
	}
	skipped struct {
		A      int `tw:"a"`
		hidden int
		B      int `tw:"-"`
	}
)

func definePanic(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestDefinePanics(t *testing.T) {
	base := func() *msg.Registry {
		reg := msg.NewRegistry()
		msg.Define[okMsg](reg, msg.Info{ID: 100, Name: "OK"})
		return reg
	}
	cases := []struct {
		name string
		f    func(*msg.Registry)
		want string
	}{
		{"dup id", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: 100, Name: "OK2"}) }, "id 100 of OK2 already used by OK"},
		{"reserved id", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: 20, Name: "OK2"}) }, "id 20 is reserved for tickwire (1-31); games use 32-32767"},
		{"dup builtin id", func(r *msg.Registry) { msg.DefineReserved[okMsg2](r, msg.Info{ID: msg.IDPing, Name: "OK2"}) }, "already used by PING"},
		{"id 0 reserved path", func(r *msg.Registry) { msg.DefineReserved[okMsg2](r, msg.Info{ID: 0, Name: "OK2"}) }, "id 0 out of range"},
		{"rate without burst", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: 101, Name: "OK2", Rate: 5}) }, "Rate and Burst must both be positive"},
		{"dup name", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: 101, Name: "OK"}) }, "name OK defined twice"},
		{"dup Go type", func(r *msg.Registry) { msg.Define[okMsg](r, msg.Info{ID: 101, Name: "OK2"}) }, "already defined as OK"},
		{"lower-case name", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: 101, Name: "ok2"}) }, "bad message name"},
		{"digit first", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: 101, Name: "2OK"}) }, "bad message name"},
		{"empty name", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: 101}) }, "bad message name"},
		{"long name", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: 101, Name: strings.Repeat("A", 25)}) }, "bad message name"},
		{"space in name", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: 101, Name: "O K"}) }, "bad message name"},
		{"id 0", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: 0, Name: "OK2"}) }, "id 0 is reserved"},
		{"id too big", func(r *msg.Registry) { msg.Define[okMsg2](r, msg.Info{ID: msg.MaxID + 1, Name: "OK2"}) }, "out of range"},
		{"not a struct", func(r *msg.Registry) { msg.Define[int](r, msg.Info{ID: 101, Name: "INT"}) }, "not a struct"},
		{"map field", func(r *msg.Registry) { msg.Define[badMap](r, msg.Info{ID: 101, Name: "X"}) }, "field M: type map[string]int is not supported"},
		{"struct field", func(r *msg.Registry) { msg.Define[badStruct](r, msg.Info{ID: 101, Name: "X"}) }, "is not supported"},
		{"pointer field", func(r *msg.Registry) { msg.Define[badPtr](r, msg.Info{ID: 101, Name: "X"}) }, "is not supported"},
		{"string slice", func(r *msg.Registry) { msg.Define[badStrSlice](r, msg.Info{ID: 101, Name: "X"}) }, "slices of string are not supported"},
		{"rest not last", func(r *msg.Registry) { msg.Define[restNotLast](r, msg.Info{ID: 101, Name: "X"}) }, "rest must be the last field"},
		{"rest on int", func(r *msg.Registry) { msg.Define[restOnInt](r, msg.Info{ID: 101, Name: "X"}) }, "rest applies to strings only"},
		{"unknown option", func(r *msg.Registry) { msg.Define[badOption](r, msg.Info{ID: 101, Name: "X"}) }, `unknown tag option "maximum=3"`},
		{"bad min", func(r *msg.Registry) { msg.Define[badMin](r, msg.Info{ID: 101, Name: "X"}) }, `bad min="x"`},
		{"min on string", func(r *msg.Registry) { msg.Define[minOnString](r, msg.Info{ID: 101, Name: "X"}) }, "min does not apply to string"},
		{"negative max length", func(r *msg.Registry) { msg.Define[negMaxLen](r, msg.Info{ID: 101, Name: "X"}) }, "bad max length"},
		{"fractional max length", func(r *msg.Registry) { msg.Define[fracMaxLen](r, msg.Info{ID: 101, Name: "X"}) }, "bad max length"},
		{"upper-case field name", func(r *msg.Registry) { msg.Define[upperField](r, msg.Info{ID: 101, Name: "X"}) }, `bad wire name "Num"`},
		{"reserved type", func(r *msg.Registry) { msg.Define[reservedType](r, msg.Info{ID: 101, Name: "X"}) }, `bad wire name "type"`},
		{"reserved rid", func(r *msg.Registry) { msg.Define[reservedRID](r, msg.Info{ID: 101, Name: "X"}) }, `bad wire name "rid"`},
		{"dup wire name", func(r *msg.Registry) { msg.Define[dupWireName](r, msg.Info{ID: 101, Name: "X"}) }, `wire name "x" used twice`},
		{"required after optional", func(r *msg.Registry) { msg.Define[reqAfterOpt](r, msg.Info{ID: 101, Name: "X"}) }, "a required field cannot follow an optional one"},
	}
	for _, c := range cases {
		reg := base()
		got := definePanic(func() { c.f(reg) })
		if got == "" {
			t.Errorf("%s: Define did not panic", c.name)
		} else if !strings.Contains(got, c.want) {
			t.Errorf("%s: panic %q, want it to contain %q", c.name, got, c.want)
		}
		// A refused definition leaves the registry unchanged.
		if _, ok := reg.ByName("X"); ok {
			t.Errorf("%s: refused type was registered", c.name)
		}
	}
	// Unexported and "-" fields are skipped; an untagged field takes its
	// lower-cased name.
	reg := base()
	typ := msg.Define[skipped](reg, msg.Info{ID: 101, Name: "SKIP"})
	if f := typ.Fields(); len(f) != 1 || f[0].Name != "a" {
		t.Errorf("skipped fields: %+v", f)
	}
	ok, _ := reg.ByName("OK")
	if f := ok.Fields(); len(f) != 1 || f[0].Name != "a" || ok.Dir != msg.Both {
		t.Errorf("untagged field / default dir: %+v %v", f, ok.Dir)
	}
}

// A number written as a JSON string is refused, as the TypeScript decoder
// refuses it.
func TestJSONRefusesQuotedNumbers(t *testing.T) {
	reg := msg.NewRegistry()
	for _, line := range []string{`{"type":"WELCOME","id":"7","name":"x"}`, `{"type":"SERVERSTATS","tick_us":1,"tick_rate":"20","conns":1}`} {
		_, err := reg.Decode(msg.JSON, []byte(line), msg.Both)
		var de *msg.DecodeError
		if !errors.As(err, &de) || de.Code != msg.CodeBadField {
			t.Errorf("%s: got %v, want bad_field", line, err)
		}
	}
}

// A Shared message encodes like the message it wraps, in every encoding,
// once per encoding however many connections append it concurrently.
func TestSharedEncodesOncePerEncoding(t *testing.T) {
	reg := msg.NewRegistry()
	m := &msg.Welcome{ID: 7, Name: "alice smith"}
	shared := msg.NewShared(m)
	for _, enc := range msg.Encodings {
		want, err := reg.Append(nil, enc, m, 0)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan []byte)
		for range 8 {
			go func() {
				got, err := reg.NewCodec(enc).Append([]byte("x"), shared, 0)
				if err != nil {
					t.Error(err)
				}
				done <- got
			}()
		}
		for range 8 {
			if got := <-done; string(got) != "x"+string(want) {
				t.Errorf("%v: got %q, want %q", enc, got, want)
			}
		}
		// With a request id the message is encoded for that recipient.
		withRID, _ := reg.Append(nil, enc, shared, 9)
		direct, _ := reg.Append(nil, enc, m, 9)
		if string(withRID) != string(direct) {
			t.Errorf("%v: rid: got %q, want %q", enc, withRID, direct)
		}
	}
	if _, err := reg.Append(nil, msg.Text, msg.NewShared(struct{}{}), 0); err == nil {
		t.Error("a Shared unregistered message encoded")
	}
}

func BenchmarkSharedPos(b *testing.B) {
	reg := msg.NewRegistry()
	c := reg.NewCodec(msg.MsgPack)
	var buf []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := msg.NewShared(&msg.Welcome{ID: uint64(i), Name: "x"})
		for range 9 { // one position sent to nine room mates
			buf, _ = c.Append(buf[:0], s, 0)
		}
	}
}
