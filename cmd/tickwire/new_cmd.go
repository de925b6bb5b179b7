package main

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/template"
)

func init() {
	register(&command{name: "new", summary: "write a new game module: new [--module path] <dir>", run: runNew})
}

// tickwireModule is the module path of tickwire itself.
const tickwireModule = "github.com/tickwire/tickwire"

//go:embed template
var templates embed.FS

const newUsage = `usage: tickwire new [--module path] [--tickwire dir] <dir>

Writes a runnable game module in dir (which must be empty or not exist):
a tiny game (game/), its servertest test, a main serving it on TCP (text
protocol, nc-playable) and WebSocket, a go generate program writing its
TypeScript types, and a README. Then:

  cd <dir> && go test ./... && go run .

Until tickwire is published, the module's go.mod points at the tickwire
checkout this command runs from (a replace line, explained in the
generated README).

flags:`

// newOut is where new writes its usage and report.
var newOut io.Writer = os.Stdout

func runNew(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("new", flag.ContinueOnError)
	fs.SetOutput(newOut)
	module := fs.String("module", "", "module path (default: the directory's name)")
	checkout := fs.String("tickwire", "", "tickwire checkout for the replace line (default: the one this command was built from)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), newUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Accept flags after the directory too: "new mygame --module x/y".
	if fs.NArg() > 1 {
		dir := fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
		if fs.NArg() != 0 {
			fs.Usage()
			return fmt.Errorf("unexpected arguments %q", fs.Args())
		}
		return newModule(dir, *module, *checkout)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want the directory to write the game in")
	}
	return newModule(fs.Arg(0), *module, *checkout)
}

// modulePathRE is what a module path here may be: letters, digits and
// -._~ in slash-separated elements.
var modulePathRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]*(/[A-Za-z0-9._~-]+)*$`)

// newData is what the templates are filled with.
type newData struct {
	Module    string   // module path
	Name      string   // its last element: the program's name
	GoVersion string   // the go line
	Version   string   // the tickwire version required
	Indirect  []string // tickwire's own requirements, "path version"
	Replace   string   // the tickwire checkout, or "" for a published version
}

func newModule(dir, module, checkout string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if ents, err := os.ReadDir(abs); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if module == "" {
		module = filepath.Base(abs)
	}
	if !modulePathRE.MatchString(module) || strings.Contains(module, "..") {
		return fmt.Errorf("%q is not a module path I can use: give one with --module (letters, digits, - . _ ~, elements separated by /)", module)
	}
	data := newData{Module: module, Name: path.Base(module)}
	var sum []byte
	if checkout == "" {
		checkout = findCheckout()
	}
	switch {
	case checkout != "":
		root, err := filepath.Abs(checkout)
		if err != nil {
			return err
		}
		goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
		if err != nil {
			return fmt.Errorf("tickwire checkout %s: %w", root, err)
		}
		if modulePath(goMod) != tickwireModule {
			return fmt.Errorf("%s is not a tickwire checkout: its go.mod is not module %s", root, tickwireModule)
		}
		data.Replace = root
		data.Version = "v0.0.0-00010101000000-000000000000"
		data.GoVersion, data.Indirect = goModRequirements(goMod)
		slices.Sort(data.Indirect)
		// The game needs what tickwire needs: the same checksums, so the
		// module builds at once with no download and no go mod tidy.
		if sum, err = os.ReadFile(filepath.Join(root, "go.sum")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	default:
		v := publishedVersion()
		if v == "" {
			return errors.New("cannot tell where tickwire is: this binary was not built from a tickwire checkout nor installed at a version; pass --tickwire <checkout>")
		}
		data.Version = v
		data.GoVersion = strings.TrimPrefix(runtime.Version(), "go")
	}
	if data.GoVersion == "" {
		data.GoVersion = strings.TrimPrefix(runtime.Version(), "go")
	}

	files := map[string][]byte{}
	err = fs.WalkDir(templates, "template", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, "template/"), ".tmpl")
		out := b.Bytes()
		if strings.HasSuffix(name, ".go") {
			if out, err = format.Source(out); err != nil {
				return fmt.Errorf("template %s: %w", p, err)
			}
		}
		files[name] = out
		return nil
	})
	if err != nil {
		return err
	}
	if sum != nil {
		files["go.sum"] = sum
	}
	for name, content := range files {
		p := filepath.Join(abs, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(newOut, "wrote the game module %s in %s\n\n  cd %s\n  go test ./...\n  go run .\n\nthen play: nc 127.0.0.1 5000, AUTH guest, MOVE 3 2\n", module, dir, dir)
	return nil
}

// findCheckout returns the tickwire checkout this binary was built from:
// the source directory this file was compiled from (go run and go build
// from a checkout record it), or else one the working directory is in. It
// returns "" if neither is a checkout. A copy in the module cache (a
// binary installed with go install ...@version) is not a checkout: the
// game then requires that version instead.
func findCheckout() string {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) && !inModuleCache(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
				if modulePath(b) == tickwireModule {
					return dir
				}
				break // another module: not inside a checkout
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return ""
}

// inModuleCache reports whether a source file is in the module cache,
// whose directories are named path@version.
func inModuleCache(file string) bool {
	return strings.Contains(filepath.ToSlash(file), "/pkg/mod/"+tickwireModule+"@")
}

// publishedVersion is tickwire's version when this binary was installed
// with go install at a version, else "".
func publishedVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Path != tickwireModule || bi.Main.Version == "" || bi.Main.Version == "(devel)" || strings.HasSuffix(bi.Main.Version, "+dirty") {
		return ""
	}
	return bi.Main.Version
}

// modulePath returns the module line of a go.mod.
func modulePath(goMod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(goMod))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// goModRequirements returns the go version and every requirement ("path
// version") of a go.mod.
func goModRequirements(goMod []byte) (goVersion string, reqs []string) {
	sc := bufio.NewScanner(bytes.NewReader(goMod))
	inBlock := false
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case inBlock && f[0] == ")":
			inBlock = false
		case inBlock && len(f) == 2:
			reqs = append(reqs, f[0]+" "+f[1])
		case f[0] == "go" && len(f) == 2:
			goVersion = f[1]
		case f[0] == "require" && len(f) == 2 && f[1] == "(":
			inBlock = true
		case f[0] == "require" && len(f) == 3:
			reqs = append(reqs, f[1]+" "+f[2])
		}
	}
	return goVersion, reqs
}
