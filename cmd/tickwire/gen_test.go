package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tickwire/tickwire/codegen"
)

// runGenCapture runs "tickwire gen args..." and returns what it printed.
func runGenCapture(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	old := genOut
	genOut = &out
	defer func() { genOut = old }()
	err := runGen(context.Background(), args)
	return out.String(), err
}

func TestGenHelpSaysWhoseMessages(t *testing.T) {
	out, err := runGenCapture(t, "--help")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"demo arena", "codegen.WriteTypeScript", "//go:generate go run ./gen", "tickwire new", "-o"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help does not mention %q:\n%s", want, out)
		}
	}
}

func TestGenWritesTheArenasModule(t *testing.T) {
	out, err := runGenCapture(t, "ts")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(codegen.TypeScript(demoRegistry())) {
		t.Error("gen ts printed something other than the arena's module")
	}
	path := filepath.Join(t.TempDir(), "vectors.json")
	if _, err := runGenCapture(t, "vectors", "-o", path); err != nil {
		t.Fatal(err)
	}
	want, err := codegen.VectorsJSON(demoRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Errorf("gen vectors -o: %v", err)
	}
	if _, err := runGenCapture(t, "-o", path, "ts"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, codegen.TypeScript(demoRegistry())) {
		t.Error("gen -o file ts wrote something else")
	}
}

func TestGenRefusals(t *testing.T) {
	if _, err := runGenCapture(t, "go"); err == nil || !strings.Contains(err.Error(), `unknown generator "go"`) {
		t.Errorf("unknown generator: %v", err)
	}
	if _, err := runGenCapture(t); err == nil {
		t.Error("no generator: no error")
	}
	if _, err := runGenCapture(t, "ts", "-o", "x", "extra"); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Errorf("extra argument: %v", err)
	}
}
