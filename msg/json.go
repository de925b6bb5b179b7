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
	if d.More() {
		return env, badSyntax(0, "trailing data after the JSON object")
	}
	if obj == nil {
		return env, badSyntax(0, "want a JSON object")
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
