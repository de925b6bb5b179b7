package msg_test

import (
	"errors"
	"testing"

	"github.com/tickwire/tickwire/msg"
)

// checkDecode is the property every fuzz target checks: decoding never
// panics and fails only with a *DecodeError; whatever decodes obeys its
// limits and survives a round trip through every encoding that can carry
// it (JSON cannot carry invalid UTF-8).
func checkDecode(t *testing.T, reg *msg.Registry, enc msg.Encoding, data []byte) {
	env, err := reg.Decode(enc, data, msg.Both)
	if err != nil {
		var de *msg.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("%q: error %v is not a *DecodeError", data, err)
		}
		return
	}
	if err := reg.Validate(env.Msg); err != nil {
		t.Fatalf("%q decoded to %#v, which breaks its limits: %v", data, env.Msg, err)
	}
	for _, e2 := range msg.Encodings {
		if e2 == msg.JSON && !validUTF8(env.Msg) {
			continue
		}
		b, err := reg.Append(nil, e2, env.Msg, env.RID)
		if err != nil {
			t.Fatalf("%q decoded to %#v, which does not encode in %v: %v", data, env.Msg, e2, err)
		}
		env2, err := reg.Decode(e2, payload(t, e2, b), msg.Both)
		if err != nil {
			t.Fatalf("%v %q decoded to %#v; re-encoded in %v as %q, which does not decode: %v", enc, data, env.Msg, e2, b, err)
		}
		if env2.Type != env.Type || env2.RID != env.RID || !sameMsg(env2.Msg, env.Msg) {
			t.Fatalf("%v %q decoded to %#v rid %d; through %v (%q) it became %#v rid %d",
				enc, data, env.Msg, env.RID, e2, b, env2.Msg, env2.RID)
		}
	}
}

// fuzzSeeds adds the sample messages and a high and a low value of every
// registered message, encoded in enc, to the corpus.
func fuzzSeeds(f *testing.F, reg *msg.Registry, enc msg.Encoding) {
	all := samples()
	for _, typ := range reg.Types() {
		hi, lo := generated(typ)
		all = append(all, hi, lo)
	}
	for _, m := range all {
		for _, rid := range []uint32{0, 3} {
			b, err := reg.Append(nil, enc, m, rid)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(payload(f, enc, b))
		}
	}
}

func FuzzDecodeText(f *testing.F) {
	reg := newRegistry()
	fuzzSeeds(f, reg, msg.Text)
	for _, s := range []string{
		"ping", "@7 PING x", `AUTH "a\x20b" "\\\""`, "SAY   spaced  ", `SAY "x" y`, "MOVE 1001 0",
		"KITCHEN 1 -128 -1000 -9223372036854775808 255 18446744073709551615 3.4028235e38 1 abc 1,2,-3 -1e-3,0 - x",
		"KITCHEN 0 0 0 0 0 0 NaN 0 s - - 1,2", "@0 X", "\xff", `"`, "POS 1 2 3",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode(t, reg, msg.Text, data) })
}

func FuzzDecodeJSON(f *testing.F) {
	reg := newRegistry()
	fuzzSeeds(f, reg, msg.JSON)
	for _, s := range []string{
		`{"type":"PING"}`, `{"type":"ping","rid":4294967295,"token":null}`, `{"type":"SAY","text":"\u00e9\ud800"}`,
		`{"type":"MOVE","x":1e2,"y":0}`, `{"type":"KITCHEN","b":true,"i8":0,"i16":0,"i":0,"u8":0,"u":0,"f32":1e39,"f64":0,"s":"","l":[],"fl":[]}`,
		`null`, `{"type":"MOVE","x":1,"y":2,"z":3}`, `{"type":"MOVE","x":"7","y":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode(t, reg, msg.JSON, data) })
}

func FuzzDecodeMsgPack(f *testing.F) {
	reg := newRegistry()
	fuzzSeeds(f, reg, msg.MsgPack)
	for _, b := range [][]byte{
		mpPayload(44, 0, []byte{0xd2, 0x00}),
		mpPayload(41, 0, []byte{0xdb, 0xff, 0xff, 0xff, 0xff}),
		mpPayload(IDKitchen, 0, true, 0, 0, 0, 0, 0, 1e39, 0.0, "", []int{}, []float64{}),
		mpPayload(IDKitchen, 7, false, -1, -1, -1, 1, 1, 0.5, 0.5, "s", []int{1}, []float64{1e39}, []int{1}, "x"),
		{0xff, 0xff, 0x07}, {0x05}, {},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode(t, reg, msg.MsgPack, data) })
}
