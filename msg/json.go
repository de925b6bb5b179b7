package msg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// The JSON encoding: one object per line,
//
//	{"type":"NAME","rid":7,"field":value,...}
//
// "type" is required, "rid" optional; every other key must be a field of the
// message. Missing optional fields keep their zero value. Strings are UTF-8.

func appendJSON(dst []byte, t *Type, v reflect.Value, rid uint32) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"type":"`...)
	dst = append(dst, t.Name...)
	dst = append(dst, '"')
	if rid != 0 {
		dst = append(dst, `,"rid":`...)
		dst = strconv.AppendUint(dst, uint64(rid), 10)
	}
	for i := range t.fields {
		f := &t.fields[i]
		fv := v.Field(f.index)
		dst = append(dst, ',', '"')
		dst = append(dst, f.Name...)
		dst = append(dst, '"', ':')
		var err error
		switch f.Kind {
		case KindString:
			dst = appendJSONString(dst, fv.String())
		case KindSlice:
			dst = append(dst, '[')
			for j := 0; j < fv.Len(); j++ {
				if j > 0 {
					dst = append(dst, ',')
				}
				if dst, err = appendJSONScalar(dst, f, f.Elem, fv.Index(j)); err != nil {
					return dst[:start], err
				}
			}
			dst = append(dst, ']')
		default:
			if dst, err = appendJSONScalar(dst, f, f.Kind, fv); err != nil {
				return dst[:start], err
			}
		}
	}
	return append(dst, '}', '\n'), nil
}

func appendJSONScalar(dst []byte, f *field, k Kind, v reflect.Value) ([]byte, error) {
	switch k {
	case KindBool:
		return strconv.AppendBool(dst, v.Bool()), nil
	case KindInt:
		return strconv.AppendInt(dst, v.Int(), 10), nil
	case KindUint:
		return strconv.AppendUint(dst, v.Uint(), 10), nil
	case KindFloat:
		x := v.Float()
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dst, &FieldError{f.Name, "cannot encode a non-finite number in JSON"}
		}
		return strconv.AppendFloat(dst, x, 'g', -1, f.Bits), nil
	}
	return dst, nil
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < ' ' || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func (r *Registry) decodeJSON(data []byte) (Envelope, error) {
	var env Envelope
	var obj map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil {
		return env, badSyntax(0, "invalid JSON: %v", err)
	}
	// Only white space may follow the object. Decoder.More alone is not
	// enough: it reports false before a stray ']' or '}'.
	end := int(d.InputOffset())
	if !jsonSpaceOnly(data[end:]) {
		return env, badSyntax(0, "trailing data after the JSON object")
	}
	if obj == nil {
		return env, badSyntax(0, "want a JSON object")
	}
	// encoding/json keeps the last of repeated keys. Two values for one
	// key (a second "type" or "rid" included) mean different things to
	// different parsers, so they are refused: a map holding fewer entries
	// than the object has members had a repeated key. Counting members is
	// one pass over bytes the decoder already checked; only a refused
	// object pays for finding which key repeats.
	if jsonMembers(data[:end]) != len(obj) {
		return env, badSyntax(0, "duplicate key %s", quoteKey(jsonDuplicateKey(data[:end])))
	}
	if raw, ok := obj["rid"]; ok {
		var rid uint64
		if err := json.Unmarshal(raw, &rid); err != nil || rid == 0 || rid > MaxRID {
			return env, badSyntax(0, "rid must be an integer 1..%d", uint64(MaxRID))
		}
		env.RID = uint32(rid)
	}
	var name string
	if err := json.Unmarshal(obj["type"], &name); err != nil || name == "" {
		return env, badSyntax(env.RID, `missing or non-string "type"`)
	}
	t, ok := r.ByName(name)
	if !ok {
		return env, &DecodeError{Code: CodeUnknownMessage, RID: env.RID, Reason: "unknown message type " + strconv.Quote(name)}
	}
	env.Type = t
	ptr, v := t.newValue()
	env.Msg = ptr
	known := 0
	for i := range t.fields {
		f := &t.fields[i]
		raw, ok := obj[f.Name]
		if !ok {
			if f.Optional {
				continue
			}
			return env, fieldErr(t, env.RID, &FieldError{f.Name, "missing"})
		}
		known++
		if err := setJSONField(f, v.Field(f.index), raw); err != nil {
			return env, fieldErr(t, env.RID, err)
		}
	}
	extra := len(obj) - known - 1 // "type"
	if _, ok := obj["rid"]; ok {
		extra--
	}
	if extra > 0 {
		for k := range obj {
			if k == "type" || k == "rid" {
				continue
			}
			if !t.hasField(k) {
				return env, fieldErr(t, env.RID, &FieldError{k, "unknown field"})
			}
		}
	}
	return env, nil
}

// maxKeyInError bounds how much of a refused key an error message quotes,
// so that a hostile multi-kilobyte key does not come back in the ERR line.
const maxKeyInError = 40

// quoteKey quotes key for an error message, shortened to maxKeyInError
// bytes.
func quoteKey(key string) string {
	if len(key) > maxKeyInError {
		return strconv.Quote(key[:maxKeyInError]) + "..."
	}
	return strconv.Quote(key)
}

// jsonSpaceOnly reports whether b holds only JSON white space.
func jsonSpaceOnly(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// jsonMembers counts the members of the top-level object in b, which must
// be valid JSON (checked by encoding/json first): every member has exactly
// one ':' at nesting depth 1 outside strings.
func jsonMembers(b []byte) int {
	n, depth := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// Skip the string; a backslash escapes the byte after it, so
			// an escaped quote does not end it.
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ':':
			if depth == 1 {
				n++
			}
		}
	}
	return n
}

// jsonDuplicateKey returns the first key of the top-level object in b (valid
// JSON) that repeats an earlier one, compared after unescaping as
// encoding/json does ("typ\u0065" repeats "type"). It is the slow path of
// a refused object.
func jsonDuplicateKey(b []byte) string {
	d := json.NewDecoder(bytes.NewReader(b))
	if _, err := d.Token(); err != nil { // '{'
		return ""
	}
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		k, _ := tok.(string)
		if seen[k] {
			return k
		}
		seen[k] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

func (t *Type) hasField(name string) bool {
	for i := range t.fields {
		if t.fields[i].Name == name {
			return true
		}
	}
	return false
}

func setJSONField(f *field, fv reflect.Value, raw json.RawMessage) error {
	switch f.Kind {
	case KindString:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return &FieldError{f.Name, "want a string"}
		}
		if err := f.checkLen(len(s)); err != nil {
			return err
		}
		fv.SetString(s)
		return nil
	case KindSlice:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return &FieldError{f.Name, "want an array"}
		}
		if err := f.checkLen(len(items)); err != nil {
			return err
		}
		sl := reflect.MakeSlice(fv.Type(), len(items), len(items))
		for i, it := range items {
			if err := setJSONScalar(f, f.Elem, sl.Index(i), it); err != nil {
				return err
			}
		}
		fv.Set(sl)
		return nil
	}
	return setJSONScalar(f, f.Kind, fv, raw)
}

func setJSONScalar(f *field, k Kind, fv reflect.Value, raw json.RawMessage) error {
	if k == KindBool {
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return &FieldError{f.Name, "want true or false"}
		}
		fv.SetBool(b)
		return nil
	}
	// json.Number also accepts a quoted number ("7"); the protocol does not,
	// and neither do the other clients' decoders.
	var num json.Number
	if len(raw) > 0 && raw[0] == '"' || json.Unmarshal(raw, &num) != nil {
		return &FieldError{f.Name, "want a number"}
	}
	switch k {
	case KindInt:
		n, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return &FieldError{f.Name, fmt.Sprintf("want an integer, got %s", num)}
		}
		if err := f.checkInt(n, f.Bits); err != nil {
			return err
		}
		fv.SetInt(n)
	case KindUint:
		n, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return &FieldError{f.Name, fmt.Sprintf("want an unsigned integer, got %s", num)}
		}
		if err := f.checkUint(n, f.Bits); err != nil {
			return err
		}
		fv.SetUint(n)
	case KindFloat:
		x, err := strconv.ParseFloat(string(num), f.Bits)
		if err != nil {
			return &FieldError{f.Name, fmt.Sprintf("want a number, got %s", num)}
		}
		if err := f.checkFloat(x); err != nil {
			return err
		}
		fv.SetFloat(x)
	}
	return nil
}
