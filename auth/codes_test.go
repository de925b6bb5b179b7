package auth

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docErrorTable parses the table under "## Error codes" in docs/AUTH.md
// into code → HTTP status column.
func docErrorTable(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "docs", "AUTH.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]string{}
	in, table := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Error codes"
		case in && strings.HasPrefix(line, "|"):
			table = true
			cells := strings.Split(strings.Trim(line, "|"), "|")
			code := strings.TrimSpace(cells[0])
			if code == "code" || strings.HasPrefix(code, "---") {
				continue
			}
			if len(cells) != 4 || !strings.HasPrefix(code, "`") || !strings.HasSuffix(code, "`") {
				t.Fatalf("docs/AUTH.md error table: malformed row %q", line)
			}
			code = strings.Trim(code, "`")
			if _, dup := rows[code]; dup {
				t.Fatalf("docs/AUTH.md error table lists %q twice", code)
			}
			rows[code] = strings.TrimSpace(cells[1])
		case in && table:
			in = false // the first table of the section is the one
		}
	}
	if len(rows) == 0 {
		t.Fatal(`docs/AUTH.md has no table under "## Error codes"`)
	}
	return rows
}

// sourceErrorCodes returns the Code of every Error composite literal in
// the package's non-test source, so that an *Error defined anywhere in
// the package (exported or not) cannot be missing from Codes.
func sourceErrorCodes(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "Error" {
				return true
			}
			for _, el := range lit.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok || kv.Key.(*ast.Ident).Name != "Code" {
					continue
				}
				bl, ok := kv.Value.(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: an Error's Code is not a string literal", fset.Position(kv.Pos()))
				}
				code, _ := strconv.Unquote(bl.Value)
				codes = append(codes, code)
			}
			return true
		})
	}
	slices.Sort(codes)
	return codes
}

// TestErrorCodesDocumented: docs/AUTH.md's error code table lists exactly
// the codes the package defines, each with the HTTP status it is sent
// with; every Error literal in the source is in Codes; codes are unique
// snake_case words, fit for "ERR auth <code> <message>".
func TestErrorCodesDocumented(t *testing.T) {
	codes := Codes()
	doc := docErrorTable(t)
	for _, c := range codes {
		if _, ok := doc[c]; !ok {
			t.Errorf("code %q is not in docs/AUTH.md's error table", c)
		}
	}
	for c := range doc {
		if !slices.Contains(codes, c) {
			t.Errorf("docs/AUTH.md's error table lists %q, which the code does not define", c)
		}
	}
	seen := map[string]bool{}
	for _, e := range allErrors {
		if seen[e.Code] {
			t.Errorf("two errors share the code %q", e.Code)
		}
		seen[e.Code] = true
		if got, want := doc[e.Code], strconv.Itoa(e.Status); got != want {
			t.Errorf("docs/AUTH.md gives %q HTTP status %q; the code sends %s", e.Code, got, want)
		}
		if e.Message == "" || strings.ContainsAny(e.Message, "\n\r") {
			t.Errorf("%q: message %q", e.Code, e.Message)
		}
	}
	if doc[CodeInternal] != "—" {
		t.Errorf("docs/AUTH.md gives internal HTTP status %q; the HTTP API never sends it", doc[CodeInternal])
	}
	for _, c := range sourceErrorCodes(t) {
		if !slices.Contains(codes, c) {
			t.Errorf("an Error with code %q is defined in the source but missing from allErrors/Codes", c)
		}
	}
	for _, c := range codes {
		for _, r := range c {
			if !(r >= 'a' && r <= 'z' || r == '_') {
				t.Errorf("code %q is not snake_case", c)
				break
			}
		}
	}
	for _, c := range []string{"bad_token", "token_expired", "wrong_user", "busy", "rate_limited", "internal"} {
		if !slices.Contains(codes, c) {
			t.Errorf("Codes() lacks %q", c)
		}
	}
}
