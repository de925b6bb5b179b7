package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/tickwire/tickwire/codegen"
	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
)

func init() {
	register(&command{name: "gen", summary: "generate client code from the demo's messages: gen ts | gen vectors", run: runGen})
}

// demoRegistry is the message registry of the demo arena.
func demoRegistry() *msg.Registry {
	reg := msg.NewRegistry()
	arena.Register(reg)
	return reg
}

func runGen(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	out := fs.String("o", "-", "output file, - for standard output")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: tickwire gen [-o file] ts|vectors\n\n  ts       the TypeScript message module (types, schema, text/JSON/MessagePack codecs)\n  vectors  JSON test vectors: every message in every encoding, as the Go codecs write it")
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
		args = append([]string{what}, fs.Args()...)
		fs.Parse(nil)
		if len(args) != 1 {
			fs.Usage()
			return fmt.Errorf("unexpected arguments %q", args[1:])
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
		return fmt.Errorf("unknown generator %q: want ts or vectors", what)
	}
	if out == "-" {
		_, err := os.Stdout.Write(data)
		return err
	}
	return os.WriteFile(out, data, 0o644)
}
