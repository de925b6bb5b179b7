package codegen

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
)

func demoRegistry() *msg.Registry {
	reg := msg.NewRegistry()
	arena.Register(reg)
	return reg
}

// The committed web SDK files must be what the generators write now, or the
// browser client has drifted from the server.
func TestCommittedFilesAreCurrent(t *testing.T) {
	reg := demoRegistry()
	vec, err := VectorsJSON(reg)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{
		"../web/sdk/src/messages.ts":   TypeScript(reg),
		"../web/sdk/test/vectors.json": vec,
	} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go run ./cmd/tickwire gen ts -o web/sdk/src/messages.ts` and `go run ./cmd/tickwire gen vectors -o web/sdk/test/vectors.json`", path)
		}
	}
}

// Every vector decodes back, in Go, to the value it was made from.
func TestVectorsRoundTripInGo(t *testing.T) {
	reg := demoRegistry()
	vecs, err := Vectors(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vecs {
		pack, err := base64.StdEncoding.DecodeString(v.MsgPack)
		if err != nil {
			t.Fatal(err)
		}
		var decoded []any
		for enc, b := range map[msg.Encoding][]byte{msg.Text: []byte(v.Text), msg.JSON: []byte(v.JSON), msg.MsgPack: pack} {
			payload, err := splitFrame(enc, b)
			if err != nil {
				t.Fatalf("%s %s: %v", v.Name, enc, err)
			}
			env, err := reg.Decode(enc, payload, msg.Both)
			if err != nil {
				t.Fatalf("%s %s: decode: %v", v.Name, enc, err)
			}
			if env.RID != v.RID || env.Type.Name != v.Name {
				t.Errorf("%s %s: got %s rid %d", v.Name, enc, env.Type.Name, env.RID)
			}
			decoded = append(decoded, env.Msg)
		}
		for _, d := range decoded[1:] {
			if !reflect.DeepEqual(normalize(d), normalize(decoded[0])) {
				t.Errorf("%s: encodings decode differently: %+v vs %+v", v.Name, d, decoded[0])
			}
		}
	}
}

// normalize maps empty and nil slices together, as the encodings do.
func normalize(m any) string {
	b, _ := json.Marshal(m)
	return strings.ReplaceAll(string(b), "null", "[]")
}

func TestTypeScriptDeclaresEveryMessage(t *testing.T) {
	reg := demoRegistry()
	ts := string(TypeScript(reg))
	for _, typ := range reg.Types() {
		if !strings.Contains(ts, "  "+typ.Name+": { id: ") {
			t.Errorf("schema entry for %s missing", typ.Name)
		}
	}
	if !strings.Contains(ts, "export function decodeMsgPack") {
		t.Error("runtime missing")
	}
}

func ExampleTypeScript() {
	reg := msg.NewRegistry()
	type Hello struct {
		Name string `tw:"name,max=16"`
	}
	msg.Define[Hello](reg, msg.Info{ID: 32, Name: "HELLO", Dir: msg.ToClient, Doc: "a greeting"})
	ts := string(TypeScript(reg))
	start := strings.Index(ts, "  /** a greeting */")
	os.Stdout.WriteString(ts[start : start+strings.Index(ts[start:], "\n  PING")])
	// Output:
	//   /** a greeting */
	//   HELLO: { name: string };
	// }
	//
	// /** Stable numeric ids, by name. */
	// export const IDs = {
	//   HELP: 1,
}
