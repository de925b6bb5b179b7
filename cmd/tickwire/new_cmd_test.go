package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/servertest"
)

// runNewCapture runs "tickwire new args..." and returns what it printed.
func runNewCapture(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	old := newOut
	newOut = &out
	defer func() { newOut = old }()
	err := runNew(context.Background(), args)
	return out.String(), err
}

// goTool returns the go command of the toolchain running the test.
func goTool(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the generated module with")
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// The generated module builds, vets, passes its test and generates its
// TypeScript with the module cache alone (GOPROXY=off) and go.mod as
// written (-mod=readonly: no go mod tidy needed), and its binary serves a
// game a line client can log in to and play.
func TestNewWritesARunnableGame(t *testing.T) {
	goBin := goTool(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "mygame")
	out, err := runNewCapture(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "go test ./...") || !strings.Contains(out, "go run .") {
		t.Errorf("new printed %q", out)
	}
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"module mygame\n", "require github.com/tickwire/tickwire v0.0.0-", "replace github.com/tickwire/tickwire => " + root + "\n", "golang.org/x/time "} {
		if !strings.Contains(string(goMod), want) {
			t.Errorf("go.mod lacks %q:\n%s", want, goMod)
		}
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	for _, want := range []string{"go test ./...\ngo run .\n", "## The `replace` line in go.mod", root} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks %q", want)
		}
	}

	env := append(os.Environ(), "GOFLAGS=-mod=readonly -buildvcs=false", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	gocmd := func(args ...string) {
		t.Helper()
		args = append(args[:1:1], append(raceFlags, args[1:]...)...)
		cmd := exec.Command(goBin, args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	gocmd("vet", "./...") // builds every package, tests included
	gocmd("test", "./...")
	gocmd("generate", "./...")
	ts, err := os.ReadFile(filepath.Join(dir, "web", "messages.ts"))
	if err != nil || !bytes.Contains(ts, []byte(`MOVE: { id: 32, name: "MOVE"`)) {
		t.Fatalf("go generate did not write the game's messages.ts: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "mygame")
	gocmd("build", "-o", bin, ".")

	// Run it and play.
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-http", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("the game printed nothing; stderr:\n%s", stderr.String())
	}
	first := lines.Text() // mygame: game on 127.0.0.1:NNNN (nc ..., then AUTH guest)
	addr, ok := strings.CutPrefix(first, "mygame: game on ")
	addr, _, _ = strings.Cut(addr, " ")
	if !ok || addr == "" {
		t.Fatalf("first line %q", first)
	}
	go func() {
		for lines.Scan() { // keep the pipe drained
		}
	}()
	c := servertest.DialLine(t, addr)
	c.ExpectLine("INFO mygame: AUTH guest")
	id := strings.Fields(c.Login())[1]
	c.ExpectLine("POS " + id + " 0 0")
	c.Send("MOVE 1 0")
	c.ExpectLine("POS " + id + " 1 0")
	c.Send("QUIT")
	c.ExpectClosed()

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the deferred wait
		if err != nil {
			t.Fatalf("the game exited with %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the game did not exit on SIGINT; stderr:\n%s", stderr.String())
	}
}

func TestNewFlagsAndRefusals(t *testing.T) {
	out, err := runNewCapture(t, "--help")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out, "usage: tickwire new") || !strings.Contains(out, "replace line") {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	if _, err := runNewCapture(t); err == nil {
		t.Error("no directory: no error")
	}

	// --module names the module (and the imports), after the directory too.
	dir := filepath.Join(t.TempDir(), "x")
	if _, err := runNewCapture(t, dir, "--module", "example.com/me/tag-game"); err != nil {
		t.Fatal(err)
	}
	goMod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	mainGo, _ := os.ReadFile(filepath.Join(dir, "main.go"))
	if !bytes.HasPrefix(goMod, []byte("module example.com/me/tag-game\n")) || !bytes.Contains(mainGo, []byte(`"example.com/me/tag-game/game"`)) || !bytes.Contains(mainGo, []byte(`"tag-game: AUTH guest`)) {
		t.Errorf("--module: go.mod\n%s\nmain.go\n%s", goMod, mainGo)
	}
	if !fileExists(filepath.Join(dir, "go.sum")) || !fileExists(filepath.Join(dir, "game", "game_test.go")) || !fileExists(filepath.Join(dir, "gen", "main.go")) {
		t.Error("files missing")
	}

	// A directory with something in it is left alone.
	if _, err := runNewCapture(t, dir); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("non-empty directory: %v", err)
	}
	if _, err := runNewCapture(t, filepath.Join(t.TempDir(), "my game")); err == nil || !strings.Contains(err.Error(), "--module") {
		t.Errorf("a name with a space: %v", err)
	}
	if _, err := runNewCapture(t, "--module", "../up", filepath.Join(t.TempDir(), "y")); err == nil {
		t.Error("module path with ..: no error")
	}
	if _, err := runNewCapture(t, "--tickwire", t.TempDir(), filepath.Join(t.TempDir(), "z")); err == nil || !strings.Contains(err.Error(), "tickwire checkout") {
		t.Errorf("--tickwire at no checkout: %v", err)
	}
	if _, err := runNewCapture(t, "a", "b"); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Errorf("two directories: %v", err)
	}
}

func TestGoModRequirements(t *testing.T) {
	v, reqs := goModRequirements([]byte("module m\n\ngo 1.26.8\n\nrequire a.b/c v1.2.3\n\nrequire (\n\tx.y/z v0.1.0 // indirect\n\t// a comment\n\tp.q/r v2.0.0+incompatible\n)\n"))
	if v != "1.26.8" || strings.Join(reqs, ",") != "a.b/c v1.2.3,x.y/z v0.1.0,p.q/r v2.0.0+incompatible" {
		t.Errorf("%q %q", v, reqs)
	}
	if got := modulePath([]byte("// x\nmodule \"a/b\"\n")); got != "a/b" {
		t.Errorf("modulePath %q", got)
	}
}

func TestInModuleCache(t *testing.T) {
	if !inModuleCache("/home/a/go/pkg/mod/github.com/tickwire/tickwire@v1.2.0/cmd/tickwire/new_cmd.go") || inModuleCache("/work/main/cmd/tickwire/new_cmd.go") {
		t.Error("inModuleCache is wrong")
	}
	if got := findCheckout(); got == "" || !fileExists(filepath.Join(got, "cmd", "tickwire", "new_cmd.go")) {
		t.Errorf("findCheckout = %q", got)
	}
}
