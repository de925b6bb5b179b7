package codegen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tickwire/tickwire/msg"
)

// WriteTypeScript writes the TypeScript module for every message in reg
// (see TypeScript) to path, creating its directory. It is meant for a
// game's own go generate program (see the package doc). The file is
// replaced atomically, and only when its content changes, so a build that
// watches it does not rebuild for nothing.
func WriteTypeScript(reg *msg.Registry, path string) error {
	return writeFile(path, typeScript(reg, "codegen.WriteTypeScript"))
}

// WriteVectors writes the test vectors of every message in reg (see
// VectorsJSON) to path, like WriteTypeScript.
func WriteVectors(reg *msg.Registry, path string) error {
	data, err := VectorsJSON(reg)
	if err != nil {
		return err
	}
	return writeFile(path, data)
}

// writeFile replaces path with data unless it already holds it.
func writeFile(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("codegen: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("codegen: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("codegen: writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("codegen: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("codegen: %w", err)
	}
	return nil
}
