package msg_test

import (
	"strings"
	"testing"

	"github.com/tickwire/tickwire/msg"
)

// TestErrorsTeach holds the text encoding's refusals to naming what would
// have been valid: a person typing into nc reads them, so each one says
// what to type instead.
func TestErrorsTeach(t *testing.T) {
	reg := newRegistry()
	for _, c := range []struct {
		line, code string
		want       []string
	}{
		// A password on the game port: where passwords go instead.
		{"AUTH alice correct horse battery", msg.CodeBadSyntax,
			[]string{"AUTH: too many arguments (usage: AUTH user [secret])", "one-time token", "never a password", "HTTPS", "/v1/login", "AUTH guest"}},
		// Non-ASCII: how to send it.
		{"SAY héllo", msg.CodeBadSyntax,
			[]string{"byte 0xc3 at offset 5: text lines must be printable ASCII", `\xc3\xa9`, "double quotes", `SAY "caf\xc3\xa9"`, "USE json"}},
		{"PING a\tb", msg.CodeBadSyntax, []string{"byte 0x09", `\t inside double quotes`}},
		{"\x1b[A", msg.CodeBadSyntax, []string{"byte 0x1b at offset 0", "arrow"}},
		// A string too long for its field: the usage and the command's
		// description, which names the valid values.
		{"USE javascript-object-notation", msg.CodeBadField,
			[]string{"USE encoding: longer than 16 bytes (got 26)", "(usage: USE encoding)", "text|json|msgpack"}},
		// Numbers: the range.
		{"MOVE 2000 5", msg.CodeBadField, []string{"MOVE x: must be <= 1000, got 2000; valid: 0 to 1000", "(usage: MOVE x y)"}},
		{"MOVE 5 -1", msg.CodeBadField, []string{"MOVE y: must be >= 0, got -1; valid: 0 to 1000"}},
		{"MOVE east 5", msg.CodeBadField, []string{`MOVE x: want an integer, got "east"; valid: 0 to 1000`, "(usage: MOVE x y)"}},
		{"MOVE 1 99999999999", msg.CodeBadField, []string{"overflows int32; valid: 0 to 1000"}},
		{`MOVE "1" 1`, msg.CodeBadField, []string{`write 5, not "5"`}},
		{"MOVE 1", msg.CodeBadField, []string{"MOVE y: missing (usage: MOVE x y) - drive to x y"}},
		// Quoting.
		{`SAY "unfinished`, msg.CodeBadField, []string{"unterminated quoted string", `end it with a "`}},
		{`AUTH "\q"`, msg.CodeBadField, []string{"bad escape", `\xHH`}},
		{`AUTH a"b`, msg.CodeBadField, []string{"a quote may only start an argument", `write "a b"`}},
		{`KITCHEN 0 0 0 0 0 0 0 0 s "1,2" -`, msg.CodeBadField, []string{"a list is not quoted", "- for an empty list"}},
		// A typo: the nearest command.
		{"FIER", msg.CodeUnknownMessage, []string{`unknown command "FIER"; send HELP for the list; did you mean FIRE?`}},
		{"look", msg.CodeBadSyntax, nil}, // case-insensitive: LOOK decodes, see below
		{"xyzzy", msg.CodeUnknownMessage, []string{`unknown command "xyzzy"; send HELP for the list`}},
		{"@x PING", msg.CodeBadSyntax, []string{"bad request id", "e.g. @7 PING"}},
		{"@7", msg.CodeBadSyntax, []string{"missing message name", "[@n ]NAME"}},
		{"PING a b", msg.CodeBadSyntax, []string{"PING: too many arguments (usage: PING [token])", `"a b"`}},
	} {
		env, err := reg.Decode(msg.Text, []byte(c.line), msg.ToServer)
		if c.want == nil {
			if err != nil {
				t.Errorf("%q: %v", c.line, err)
			}
			_ = env
			continue
		}
		de, ok := err.(*msg.DecodeError)
		if !ok {
			t.Errorf("%q: decoded (%v), want %s", c.line, err, c.code)
			continue
		}
		if de.Code != c.code {
			t.Errorf("%q: code %s, want %s (%s)", c.line, de.Code, c.code, de.Text())
		}
		for _, w := range c.want {
			if !strings.Contains(de.Text(), w) {
				t.Errorf("%q: %q does not say %q", c.line, de.Text(), w)
			}
		}
		// The text goes out as ERR's rest field: printable ASCII, not
		// quoted, within ERR's 512 bytes.
		if len(de.Text()) > 512 || strings.ContainsFunc(de.Text(), func(r rune) bool { return r < ' ' || r > '~' }) {
			t.Errorf("%q: %d bytes, or not printable ASCII: %q", c.line, len(de.Text()), de.Text())
		}
	}
	// "xyzzy" is far from every command: no suggestion.
	if _, err := reg.Decode(msg.Text, []byte("xyzzy"), msg.ToServer); strings.Contains(err.Error(), "did you mean") {
		t.Errorf("xyzzy: %v", err)
	}
	// A huge bad token is not echoed whole.
	long := "MOVE " + strings.Repeat("9", 3000) + "x 1"
	if _, err := reg.Decode(msg.Text, []byte(long), msg.ToServer); err == nil || len(err.(*msg.DecodeError).Text()) > 512 {
		t.Errorf("long token: %v", err)
	}
}
