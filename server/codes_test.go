package server_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestErrorCodesDocumented holds docs/PROTOCOL.md and the code to each
// other: every ERR code (and ERR auth subcode) the server, the codecs and
// the demo arena can send is documented, and every documented code is sent
// somewhere. The sources are read as text, so a code built at run time
// from a variable would escape it: codes are literals by convention.
func TestErrorCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|")
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}

	sent := map[string]string{} // code -> where
	scan := func(dir string, pats ...*regexp.Regexp) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pats {
				for _, m := range p.FindAllStringSubmatch(string(src), -1) {
					sent[m[1]] = f
				}
			}
		}
	}
	errCode := regexp.MustCompile(`msg\.Err\{Code: "([a-z_]+)"`)
	scan("../msg", regexp.MustCompile(`(?m)^\s*Code[A-Za-z]+\s*=\s*"([a-z_]+)"`))
	scan("../server", errCode, regexp.MustCompile(`(?m)^\s*code[A-Z][A-Za-z]*\s*=\s*"([a-z_]+)"`), regexp.MustCompile(`Error\(in, "([a-z_]+)"`))
	scan("../demo/arena", regexp.MustCompile(`Refuse\("([a-z_]+)"`), regexp.MustCompile(`reason = "([a-z_]+)"`))
	// The account Verifier's refusals reach the wire as ERR auth subcodes.
	authDefs, err := os.ReadFile("../auth/auth.go")
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := os.ReadFile("../auth/verifier.go")
	if err != nil {
		t.Fatal(err)
	}
	def := regexp.MustCompile(`(Err[A-Za-z]+)\s*=\s*&Error\{Code: "([a-z_]+)"`)
	for _, m := range def.FindAllStringSubmatch(string(authDefs), -1) {
		if regexp.MustCompile(`\b` + m[1] + `\b`).Match(verifier) {
			sent[m[2]] = "auth/verifier.go (" + m[1] + ")"
		}
	}
	if len(sent) < 20 {
		t.Fatalf("found only %d codes in the sources; the scan is broken", len(sent))
	}

	var undocumented, unsent []string
	for c, where := range sent {
		if !documented[c] {
			undocumented = append(undocumented, c+" ("+where+")")
		}
	}
	for c := range documented {
		if _, ok := sent[c]; !ok {
			unsent = append(unsent, c)
		}
	}
	// Rows of PROTOCOL.md's tables that name messages, not codes.
	unsent = slices.DeleteFunc(unsent, func(c string) bool { return c == "auth" && sent["auth"] != "" })
	slices.Sort(undocumented)
	slices.Sort(unsent)
	if len(undocumented) > 0 {
		t.Errorf("codes sent but not in docs/PROTOCOL.md: %s", strings.Join(undocumented, ", "))
	}
	if len(unsent) > 0 {
		t.Errorf("codes documented in docs/PROTOCOL.md but never sent: %s", strings.Join(unsent, ", "))
	}
}
