package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tickwire/tickwire/codegen"
	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
)

func init() {
	register(&command{name: "gen", summary: "generate the demo arena's client code: gen ts | gen vectors (your game's: codegen.WriteTypeScript)", run: runGen})
}

// genUsage explains whose messages gen generates, and how a game
// generates its own.
const genUsage = `usage: tickwire gen [-o file] ts|vectors

Generates client code from the messages of the demo arena (demo/arena):
what web/sdk/src/messages.ts and web/sdk/test/vectors.json hold.

  ts       the TypeScript message module (types, schema, text/JSON/MessagePack codecs)
  vectors  JSON test vectors: every message in every encoding, as the Go codecs write it

Your own game's messages are not the arena's. Generate them from your
registry in your module's go generate, with codegen.WriteTypeScript (and
codegen.WriteVectors): a line

  //go:generate go run ./gen

next to your main, and a gen/main.go that builds your registry and calls

  codegen.WriteTypeScript(reg, "web/messages.ts")

"tickwire new <dir>" writes a game module with exactly that set up; run
"go generate ./..." in it.

flags:`

// genOut is where gen writes its usage and, with -o -, its output.
var genOut io.Writer = os.Stdout

// demoRegistry is the message registry of the demo arena.
func demoRegistry() *msg.Registry {
	reg := msg.NewRegistry()
	arena.Register(reg)
	return reg
}

func runGen(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(genOut)
	out := fs.String("o", "-", "output file, - for standard output")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), genUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Accept flags after the generator name too: "gen ts -o file".
	if fs.NArg() > 1 {
		what := fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
		if fs.NArg() != 0 {
			fs.Usage()
			return fmt.Errorf("unexpected arguments %q", fs.Args())
		}
		return generate(what, *out)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("want one of: ts, vectors")
	}
	return generate(fs.Arg(0), *out)
}

func generate(what, out string) error {
	reg := demoRegistry()
	var data []byte
	switch what {
	case "ts":
		data = codegen.TypeScript(reg)
	case "vectors":
		var err error
		if data, err = codegen.VectorsJSON(reg); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown generator %q: want ts or vectors (for your own game's messages, see tickwire gen --help)", what)
	}
	if out == "-" {
		_, err := genOut.Write(data)
		return err
	}
	return os.WriteFile(out, data, 0o644)
}
