package msg

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// The text encoding: one message per line,
//
//	[@RID ]NAME[ ARG]*
//
// NAME is matched case-insensitively. Arguments are separated by one or more
// spaces. A string argument is either bare (no spaces, quotes, backslashes;
// not empty) or double-quoted with the escapes \" \\ \n \r \t and \xHH. A
// `rest` string field takes the remainder of the line verbatim unless it
// starts with a quote. A slice is its elements joined by commas, or "-" when
// empty. Only printable ASCII (0x20-0x7E) may appear in a text line.

// appendText appends the text line for v (a struct of type t).
func appendText(dst []byte, t *Type, v reflect.Value, rid uint32) []byte {
	if rid != 0 {
		dst = append(dst, '@')
		dst = strconv.AppendUint(dst, uint64(rid), 10)
		dst = append(dst, ' ')
	}
	dst = append(dst, t.Name...)
	// Trailing optional fields holding zero values are left out.
	last := len(t.fields) - 1
	for last >= 0 && t.fields[last].Optional && isZeroField(v.Field(t.fields[last].index)) {
		last--
	}
	for i := 0; i <= last; i++ {
		f := &t.fields[i]
		dst = append(dst, ' ')
		fv := v.Field(f.index)
		switch f.Kind {
		case KindString:
			if f.Rest {
				dst = appendRest(dst, fv.String())
			} else {
				dst = appendTextString(dst, fv.String())
			}
		case KindSlice:
			if fv.Len() == 0 {
				dst = append(dst, '-')
			}
			for j := 0; j < fv.Len(); j++ {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendTextScalar(dst, f.Elem, f.Bits, fv.Index(j))
			}
		default:
			dst = appendTextScalar(dst, f.Kind, f.Bits, fv)
		}
	}
	return append(dst, '\n')
}

// isZeroField reports whether an optional field may be left out: its zero
// value, or an empty slice (nil or not, so both encode alike).
func isZeroField(v reflect.Value) bool {
	if v.Kind() == reflect.Slice {
		return v.Len() == 0
	}
	return v.IsZero()
}

func appendTextScalar(dst []byte, k Kind, bits int, v reflect.Value) []byte {
	switch k {
	case KindBool:
		return strconv.AppendBool(dst, v.Bool())
	case KindInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case KindUint:
		return strconv.AppendUint(dst, v.Uint(), 10)
	case KindFloat:
		return strconv.AppendFloat(dst, v.Float(), 'g', -1, bits)
	}
	return dst
}

func isBare(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func appendTextString(dst []byte, s string) []byte {
	if isBare(s) {
		return append(dst, s...)
	}
	return appendQuoted(dst, s)
}

func appendRest(dst []byte, s string) []byte {
	ok := s != "" && s[0] != '"' && s[0] != ' ' && s[len(s)-1] != ' '
	for i := 0; ok && i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			ok = false
		}
	}
	if ok {
		return append(dst, s...)
	}
	return appendQuoted(dst, s)
}

const hexDigits = "0123456789abcdef"

func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < ' ' || c > '~':
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// textScanner walks one text line.
type textScanner struct {
	line string
	pos  int
}

func (s *textScanner) skipSpaces() {
	for s.pos < len(s.line) && s.line[s.pos] == ' ' {
		s.pos++
	}
}

func (s *textScanner) done() bool {
	s.skipSpaces()
	return s.pos >= len(s.line)
}

// token returns the next bare or quoted token. quoted reports whether it was
// quoted (so "-" can be told from a quoted "-").
func (s *textScanner) token() (tok string, quoted bool, err error) {
	s.skipSpaces()
	if s.pos < len(s.line) && s.line[s.pos] == '"' {
		tok, err = s.quoted()
		return tok, true, err
	}
	start := s.pos
	for s.pos < len(s.line) && s.line[s.pos] != ' ' {
		if s.line[s.pos] == '"' {
			return "", false, errQuoteInToken
		}
		s.pos++
	}
	return s.line[start:s.pos], false, nil
}

type textErr string

func (e textErr) Error() string { return string(e) }

const (
	errQuoteInToken = textErr(`a quote may only start an argument: write "a b", not a"b"`)
	errUnterminated = textErr(`unterminated quoted string: end it with a " before the end of the line`)
	errBadEscape    = textErr(`bad escape in quoted string: inside quotes use \" \\ \n \r \t or \xHH (two hex digits)`)
	errAfterQuote   = textErr(`a quoted string must be followed by a space or the end of the line`)
)

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// quoted parses a quoted string starting at s.pos (the opening quote).
func (s *textScanner) quoted() (string, error) {
	s.pos++ // opening quote
	var b []byte
	start := s.pos
	for s.pos < len(s.line) {
		c := s.line[s.pos]
		switch c {
		case '"':
			var out string
			if b == nil {
				out = s.line[start:s.pos]
			} else {
				out = string(b)
			}
			s.pos++
			if s.pos < len(s.line) && s.line[s.pos] != ' ' {
				return "", errAfterQuote
			}
			return out, nil
		case '\\':
			if b == nil {
				b = append(make([]byte, 0, len(s.line)-start), s.line[start:s.pos]...)
			}
			if s.pos+1 >= len(s.line) {
				return "", errUnterminated
			}
			e := s.line[s.pos+1]
			s.pos += 2
			switch e {
			case '"', '\\':
				b = append(b, e)
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'x':
				if s.pos+2 > len(s.line) {
					return "", errBadEscape
				}
				hi, ok1 := unhex(s.line[s.pos])
				lo, ok2 := unhex(s.line[s.pos+1])
				if !ok1 || !ok2 {
					return "", errBadEscape
				}
				b = append(b, hi<<4|lo)
				s.pos += 2
			default:
				return "", errBadEscape
			}
		default:
			if b != nil {
				b = append(b, c)
			}
			s.pos++
		}
	}
	return "", errUnterminated
}

// checkASCII reports the first byte that is not printable ASCII.
func checkASCII(data []byte) (int, bool) {
	for i, c := range data {
		if c < ' ' || c > '~' {
			return i, false
		}
	}
	return 0, true
}

func (r *Registry) decodeText(data []byte) (Envelope, error) {
	var env Envelope
	if i, ok := checkASCII(data); !ok {
		return env, badSyntax(0, "%s", notASCII(data, i))
	}
	s := textScanner{line: string(data)}
	name, _, err := s.token()
	if err != nil {
		return env, badSyntax(0, "%v", err)
	}
	if strings.HasPrefix(name, "@") {
		rid, perr := strconv.ParseUint(name[1:], 10, 32)
		if perr != nil || rid == 0 {
			return env, badSyntax(0, "bad request id %s: want @1..@%d before the command, e.g. @7 PING", clip(name), uint64(MaxRID))
		}
		env.RID = uint32(rid)
		if name, _, err = s.token(); err != nil {
			return env, badSyntax(env.RID, "%v", err)
		}
	}
	if name == "" {
		return env, badSyntax(env.RID, "missing message name: a line is [@n ]NAME [args...], e.g. @7 PING")
	}
	t, ok := r.ByName(name)
	if !ok {
		return env, &DecodeError{Code: CodeUnknownMessage, RID: env.RID,
			Reason: "unknown command " + clip(name) + "; send HELP for the list" + r.suggest(name)}
	}
	env.Type = t
	ptr, v := t.newValue()
	env.Msg = ptr
	for i := range t.fields {
		f := &t.fields[i]
		if s.done() {
			if f.Optional {
				break
			}
			return env, &DecodeError{Code: CodeBadField, Name: t.Name, Field: f.Name, RID: env.RID,
				Reason: withUsage(t, "missing")}
		}
		if f.Rest {
			var val string
			if s.line[s.pos] == '"' {
				val, err = s.quoted()
				if err == nil && !s.done() {
					err = textErr("unexpected text after the quoted string")
				}
			} else {
				val = strings.TrimRight(s.line[s.pos:], " ")
				s.pos = len(s.line)
			}
			if err != nil {
				return env, textFieldErr(t, env.RID, &FieldError{f.Name, err.Error()})
			}
			if err := f.checkLen(len(val)); err != nil {
				return env, textFieldErr(t, env.RID, err)
			}
			v.Field(f.index).SetString(val)
			continue
		}
		tok, quoted, err := s.token()
		if err != nil {
			return env, textFieldErr(t, env.RID, &FieldError{f.Name, err.Error()})
		}
		if err := setTextField(f, v.Field(f.index), tok, quoted); err != nil {
			return env, textFieldErr(t, env.RID, err)
		}
	}
	if !s.done() {
		return env, badSyntax(env.RID, "%s: %s", t.Name, tooMany(t))
	}
	return env, nil
}

// Error texts. Every refusal of a text line says what would have been
// valid: the command's usage and what it does, the range of a number, the
// escapes of a quoted string. They are for people typing; programs go by
// the ERR code.

// maxEcho is how much of a refused token an error text repeats.
const maxEcho = 24

// clip quotes s for an error text, cut to maxEcho bytes.
func clip(s string) string {
	if len(s) > maxEcho {
		return strconv.Quote(s[:maxEcho]) + "..."
	}
	return strconv.Quote(s)
}

// withUsage appends t's usage and, when it has one, its description to an
// error reason, so the text names what the command takes.
func withUsage(t *Type, reason string) string {
	reason += " (usage: " + t.Usage() + ")"
	if t.Doc != "" {
		reason += " - " + t.Doc
	}
	return reason
}

// textFieldErr is fieldErr for the text encoding: the reason ends with the
// command's usage and description.
func textFieldErr(t *Type, rid uint32, err error) *DecodeError {
	de := fieldErr(t, rid, err)
	de.Reason = withUsage(t, de.Reason)
	return de
}

// tooMany explains a line with more arguments than t has fields.
func tooMany(t *Type) string {
	if t.ID == IDAuth {
		// The classic mistake: a password typed on the game port.
		return "too many arguments (usage: " + t.Usage() + ") - AUTH takes a user name and a one-time token, " +
			"never a password: passwords go to the account service over HTTPS (POST /v1/login), which answers " +
			"with the token; or log in with AUTH guest"
	}
	reason := withUsage(t, "too many arguments")
	if n := len(t.fields); n > 0 && t.fields[n-1].Kind == KindString && !t.fields[n-1].Rest {
		reason += `; put a string with spaces in double quotes: "a b"`
	}
	return reason
}

// notASCII explains a text line holding byte data[i], which is not
// printable ASCII.
func notASCII(data []byte, i int) string {
	c := data[i]
	s := fmt.Sprintf("byte 0x%02x at offset %d: text lines must be printable ASCII", c, i)
	switch {
	case c == '\t':
		return s + `; a tab is \t inside double quotes, or use spaces`
	case c == 0x1b:
		return s + "; that was an escape sequence (an arrow or other special key?): type commands and arguments only"
	case c < ' ' || c == 0x7f:
		return s + "; control characters cannot be typed on a text line"
	}
	// A UTF-8 character: show its escapes.
	n := 1
	for n < 4 && i+n < len(data) && data[i+n]&0xc0 == 0x80 {
		n++
	}
	var esc strings.Builder
	for _, b := range data[i : i+n] {
		fmt.Fprintf(&esc, `\x%02x`, b)
	}
	return s + fmt.Sprintf(`; write other characters inside double quotes as \xHH escapes of their UTF-8 bytes (here %s), e.g. SAY "caf\xc3\xa9", or switch to JSON (USE json), whose strings are UTF-8`, esc.String())
}

// suggest returns "; did you mean X?" for the client command closest to
// name, or "".
func (r *Registry) suggest(name string) string {
	if len(name) > 24 {
		return ""
	}
	up := strings.ToUpper(name)
	best, bestD := "", 3
	for _, t := range r.Types() {
		if t.Dir&ToServer == 0 {
			continue
		}
		d := editDistance(up, t.Name)
		if strings.HasPrefix(t.Name, up) && len(up) >= 2 {
			d = min(d, 1)
		}
		if d < bestD || (d == bestD && best != "" && t.Name < best) {
			best, bestD = t.Name, d
		}
	}
	if best == "" || bestD > max(1, len(up)/4) {
		return ""
	}
	return "; did you mean " + best + "?"
}

// editDistance is the optimal string alignment distance between a and b
// (ASCII): insertions, deletions, substitutions and swaps of two adjacent
// letters each count one.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func setTextField(f *field, fv reflect.Value, tok string, quoted bool) error {
	switch f.Kind {
	case KindString:
		if err := f.checkLen(len(tok)); err != nil {
			return err
		}
		fv.SetString(tok)
		return nil
	case KindSlice:
		if quoted {
			return &FieldError{f.Name, "a list is not quoted: write 1,2,3, or - for an empty list"}
		}
		if tok == "-" {
			fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
			return nil
		}
		n := strings.Count(tok, ",") + 1
		if err := f.checkLen(n); err != nil {
			return err
		}
		sl := reflect.MakeSlice(fv.Type(), n, n)
		for i := 0; i < n; i++ {
			var el string
			el, tok, _ = strings.Cut(tok, ",")
			if err := setTextScalar(f, f.Elem, sl.Index(i), el); err != nil {
				return err
			}
		}
		fv.Set(sl)
		return nil
	}
	if quoted {
		return &FieldError{f.Name, "a " + f.Kind.String() + " is not quoted: write 5, not \"5\""}
	}
	return setTextScalar(f, f.Kind, fv, tok)
}

func setTextScalar(f *field, k Kind, fv reflect.Value, tok string) error {
	switch k {
	case KindBool:
		switch tok {
		case "true", "1":
			fv.SetBool(true)
		case "false", "0":
			fv.SetBool(false)
		default:
			return &FieldError{f.Name, "want true or false, got " + clip(tok)}
		}
	case KindInt:
		n, err := strconv.ParseInt(tok, 10, 64)
		if err != nil {
			return &FieldError{f.Name, "want an integer, got " + clip(tok) + f.rangeText()}
		}
		if err := f.checkInt(n, f.Bits); err != nil {
			return err
		}
		fv.SetInt(n)
	case KindUint:
		n, err := strconv.ParseUint(tok, 10, 64)
		if err != nil {
			return &FieldError{f.Name, "want an unsigned integer, got " + clip(tok) + f.rangeText()}
		}
		if err := f.checkUint(n, f.Bits); err != nil {
			return err
		}
		fv.SetUint(n)
	case KindFloat:
		x, err := strconv.ParseFloat(tok, f.Bits)
		if err != nil {
			return &FieldError{f.Name, "want a number, got " + clip(tok) + f.rangeText()}
		}
		if err := f.checkFloat(x); err != nil {
			return err
		}
		fv.SetFloat(x)
	}
	return nil
}
