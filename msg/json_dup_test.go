package msg_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
)

// BenchmarkDecodeJSON decodes typical JSON messages: a small position
// update, a chat line with escapes and the every-kind Kitchen message. It
// measures the cost of the duplicate-key check on the normal path (run
// with: go test -run '^$' -bench JSON ./msg).
func BenchmarkDecodeJSON(b *testing.B) {
	reg := newRegistry()
	cases := []struct {
		name string
		m    any
	}{
		{"Pos", &arena.Pos{ID: 12, X: 345, Y: 678}},
		{"Say", &arena.Say{Text: `hello "world" \ caf` + "\u00e9"}},
		{"Kitchen", &Kitchen{B: true, I8: -128, I16: 1000, I: -1 << 40, U8: 255, U: 1 << 50, F32: 1.5e-7,
			F64: -0.25, S: "sixteen chars ok", L: []int32{1, -2, 3}, FL: []float32{0.1, 2, -3e10}, UL: []uint16{65535}, Opt: "rest of it"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			codec := reg.NewCodec(msg.JSON)
			frame, err := codec.Append(nil, c.m, 7)
			if err != nil {
				b.Fatal(err)
			}
			p := payload(b, msg.JSON, frame)
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if _, err := codec.Decode(p, msg.Both); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestJSONDuplicateKeys: an object naming a key twice is refused as a
// syntax error, whichever key it is, however the second one is spelled
// (escapes are compared after unescaping), and before any other check
// could pick one of the two values.
func TestJSONDuplicateKeys(t *testing.T) {
	reg := newRegistry()
	cases := []struct{ in, key string }{
		{`{"type":"PING","token":"a","token":"b"}`, "token"},
		{`{"type":"PING","type":"SAY","text":"x"}`, "type"},
		{`{"type":"SAY","text":"x","type":"PING"}`, "type"},
		{`{"type":"PING","typ\u0065":"SAY","text":"x"}`, "type"},
		{`{"type":"PING","rid":1,"rid":2}`, "rid"},
		{`{"rid":1,"type":"PING","rid":1}`, "rid"}, // equal values too
		{`{"type":"MOVE","x":1,"y":2,"x":1000}`, "x"},
		{`{"type":"MOVE","x":1,"y":2,"\u0078":3}`, "x"},
		{`{"type":"PING","zz":1,"zz":2}`, "zz"}, // unknown keys too: a duplicate is reported first
		{`{"type":"FLY","a":1,"a":2}`, "a"},     // and before the type is looked up
		{` { "type" : "PING" , "token" : "a" , "token" : null } `, "token"},
		{`{"type":"KITCHEN","b":true,"i8":0,"i16":0,"i":0,"u8":0,"u":0,"f32":0,"f64":0,"s":"","l":[1,2],"fl":[],"l":[3]}`, "l"},
		{`{"":1,"":2}`, ""},
		{`{"type":"PING","token":"{\"token\":1}","token":"[:]"}`, "token"},
	}
	for _, c := range cases {
		de := decodeErr(t, reg, msg.JSON, []byte(c.in), msg.Both)
		want := "duplicate key " + strconv.Quote(c.key)
		if de.Code != msg.CodeBadSyntax || de.Reason != want || de.RID != 0 || de.Name != "" || de.Field != "" {
			t.Errorf("%s: got %+v, want %s %q", c.in, de, msg.CodeBadSyntax, want)
		}
	}

	// A hostile long key is quoted only in part.
	long := strings.Repeat("k", 5000)
	de := decodeErr(t, reg, msg.JSON, []byte(`{"type":"PING","`+long+`":1,"`+long+`":2}`), msg.Both)
	if de.Code != msg.CodeBadSyntax || !strings.HasPrefix(de.Reason, `duplicate key "kkkk`) || len(de.Error()) > 200 {
		t.Errorf("long duplicate key: %d-byte error %q", len(de.Error()), de.Error())
	}
}

// TestJSONNoFalseDuplicates: colons, commas, quotes, brackets and
// backslashes inside strings and nested values are not members of the
// top-level object.
func TestJSONNoFalseDuplicates(t *testing.T) {
	reg := newRegistry()
	ok := []struct {
		in   string
		want any
	}{
		{`{"type":"PING","token":"\"token\":\"x\""}`, &msg.Ping{Token: `"token":"x"`}},
		{`{"type":"PING","token":"a\\"}`, &msg.Ping{Token: `a\`}},
		{`{"type":"PING","token":"\\\":{[,"}`, &msg.Ping{Token: `\":{[,`}},
		{`{"type":"PING","token":"}}]]:"}`, &msg.Ping{Token: `}}]]:`}},
		{"{\"type\":\"SAY\",\"text\":\"caf\u00e9 : \\u003a\"}", &arena.Say{Text: "café : :"}},
		{`{"type":"KITCHEN","b":true,"i8":0,"i16":0,"i":0,"u8":0,"u":0,"f32":0,"f64":0,"s":":,","l":[1,2],"fl":[0.5],"ul":[]}`,
			&Kitchen{B: true, S: ":,", L: []int32{1, 2}, FL: []float32{0.5}}},
		{"\t{\"type\":\"PING\"}\r\n ", &msg.Ping{}},
	}
	for _, c := range ok {
		env, err := reg.Decode(msg.JSON, []byte(c.in), msg.Both)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if !sameMsg(env.Msg, c.want) {
			t.Errorf("%s = %#v", c.in, env.Msg)
		}
	}
	// Nested objects are values, not members: an unknown field holding an
	// object with repeated keys is reported as the unknown field.
	de := decodeErr(t, reg, msg.JSON, []byte(`{"type":"PING","zz":{"a":1,"a":2,"b":[{"c":1}]}}`), msg.Both)
	if de.Code != msg.CodeBadField || de.Field != "zz" {
		t.Errorf("nested object: %+v", de)
	}
}

// TestJSONDuplicateEveryField takes every sample and a high and low value
// of every registered message, checks that its JSON (compact and
// re-indented) decodes, then repeats each of its keys in turn and checks
// that the copy is refused naming that key.
func TestJSONDuplicateEveryField(t *testing.T) {
	reg := newRegistry()
	all := samples()
	for _, typ := range reg.Types() {
		hi, lo := generated(typ)
		all = append(all, hi, lo)
	}
	checked := 0
	for _, m := range all {
		if !validUTF8(m) {
			continue
		}
		b, err := reg.Append(nil, msg.JSON, m, 9)
		if err != nil {
			t.Fatal(err)
		}
		obj := bytes.TrimSpace(b)
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, obj, " ", "\t"); err != nil {
			t.Fatal(err)
		}
		for _, in := range [][]byte{obj, pretty.Bytes()} {
			if _, err := reg.Decode(msg.JSON, in, msg.Both); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(obj, &members); err != nil {
			t.Fatal(err)
		}
		for k, v := range members {
			kq, _ := json.Marshal(k)
			dup := append(append(append(append(obj[:len(obj)-1:len(obj)-1], ','), kq...), ':'), v...)
			dup = append(dup, '}')
			de := decodeErr(t, reg, msg.JSON, dup, msg.Both)
			if de.Code != msg.CodeBadSyntax || de.Reason != "duplicate key "+strconv.Quote(k) {
				t.Errorf("%s: %+v", dup, de)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Fatalf("only %d duplicates checked", checked)
	}
}

// TestJSONTrailingData: only white space may follow the object; a stray
// closing bracket or brace used to be accepted.
func TestJSONTrailingData(t *testing.T) {
	reg := newRegistry()
	for _, in := range []string{`{"type":"PING"}]`, `{"type":"PING"}}`, `{"type":"PING"} ]`, `{"type":"PING"},`, `{"type":"PING"}:`, `{"type":"PING"}` + "\x00", `{"type":"PING"}"`} {
		de := decodeErr(t, reg, msg.JSON, []byte(in), msg.Both)
		if de.Code != msg.CodeBadSyntax || !strings.Contains(de.Reason, "trailing data") {
			t.Errorf("%q: %+v", in, de)
		}
	}
}

// refDuplicateKey is an independent reference for the fuzz target: it
// walks the top-level object of a valid JSON document with the token API
// and reports whether a key repeats.
func refDuplicateKey(data []byte) (isObject, dup bool) {
	if !json.Valid(data) {
		return false, false
	}
	d := json.NewDecoder(bytes.NewReader(data))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return false, false
	}
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return false, false
		}
		k := tok.(string)
		if seen[k] {
			dup = true
		}
		seen[k] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return false, false
		}
	}
	return true, dup
}

// FuzzJSONDuplicateKeys checks the decoder's duplicate detection against
// the token-walking reference: a valid object with a repeated key is
// always refused with bad_syntax, and nothing that decodes repeats a key.
func FuzzJSONDuplicateKeys(f *testing.F) {
	reg := newRegistry()
	for _, s := range []string{
		`{"type":"PING","token":"a","token":"b"}`, `{"type":"PING","typ\u0065":"SAY"}`, `{"rid":1,"type":"PING","rid":2}`,
		`{"type":"PING","token":"\":\",\"token\":"}`, `{"type":"PING","zz":{"a":1,"a":2}}`, `{"type":"PING"}]`,
		`{"type":"MOVE","x":1,"y":2}`, `{"type":"PING","token":"a\\"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		isObj, dup := refDuplicateKey(data)
		_, err := reg.Decode(msg.JSON, data, msg.Both)
		if dup {
			var de *msg.DecodeError
			if !errors.As(err, &de) || de.Code != msg.CodeBadSyntax || !strings.HasPrefix(de.Reason, "duplicate key ") {
				t.Fatalf("%q repeats a key but decoded with error %v", data, err)
			}
		}
		if err == nil && (!isObj || dup) {
			t.Fatalf("%q decoded but the reference says object=%v duplicate=%v", data, isObj, dup)
		}
	})
}
