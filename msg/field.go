package msg

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// Kind is the wire kind of a field.
type Kind uint8

// Field kinds.
const (
	KindBool Kind = iota + 1
	KindInt
	KindUint
	KindFloat
	KindString
	KindSlice // slice of a scalar kind, given by FieldInfo.Elem
)

// String returns the kind's name as used in docs/PROTOCOL.md.
func (k Kind) String() string {
	switch k {
	case KindBool:
		return "bool"
	case KindInt:
		return "int"
	case KindUint:
		return "uint"
	case KindFloat:
		return "float"
	case KindString:
		return "string"
	case KindSlice:
		return "slice"
	}
	return "?"
}

// FieldInfo describes one field of a message.
type FieldInfo struct {
	Name     string // wire name
	GoName   string // struct field name
	Kind     Kind
	Elem     Kind // element kind of a slice
	Bits     int  // size in bits of numeric kinds (or of slice elements)
	Min, Max float64
	HasMin   bool
	HasMax   bool
	MaxLen   int // strings: bytes; slices: elements
	Optional bool
	Rest     bool
}

type field struct {
	FieldInfo
	index int
}

var fieldNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// reservedFieldNames cannot be used as field names because the JSON
// encoding uses them for the envelope.
var reservedFieldNames = map[string]bool{"type": true, "rid": true}

func scalarKind(k reflect.Kind) (Kind, int, bool) {
	switch k {
	case reflect.Bool:
		return KindBool, 1, true
	case reflect.Int8:
		return KindInt, 8, true
	case reflect.Int16:
		return KindInt, 16, true
	case reflect.Int32:
		return KindInt, 32, true
	case reflect.Int, reflect.Int64:
		return KindInt, 64, true
	case reflect.Uint8:
		return KindUint, 8, true
	case reflect.Uint16:
		return KindUint, 16, true
	case reflect.Uint32:
		return KindUint, 32, true
	case reflect.Uint, reflect.Uint64:
		return KindUint, 64, true
	case reflect.Float32:
		return KindFloat, 32, true
	case reflect.Float64:
		return KindFloat, 64, true
	case reflect.String:
		return KindString, 0, true
	}
	return 0, 0, false
}

func parseFields(gt reflect.Type) ([]field, error) {
	var out []field
	seen := map[string]bool{}
	for i := 0; i < gt.NumField(); i++ {
		sf := gt.Field(i)
		tag, hasTag := sf.Tag.Lookup("tw")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		f := field{index: i}
		f.GoName = sf.Name
		parts := strings.Split(tag, ",")
		f.Name = parts[0]
		if !hasTag || f.Name == "" {
			f.Name = strings.ToLower(sf.Name)
		}
		if !fieldNamePattern.MatchString(f.Name) || reservedFieldNames[f.Name] {
			return nil, fmt.Errorf("field %s: bad wire name %q", sf.Name, f.Name)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("field %s: wire name %q used twice", sf.Name, f.Name)
		}
		seen[f.Name] = true
		k, bits, ok := scalarKind(sf.Type.Kind())
		switch {
		case ok:
			f.Kind, f.Bits = k, bits
		case sf.Type.Kind() == reflect.Slice:
			ek, ebits, eok := scalarKind(sf.Type.Elem().Kind())
			if !eok || ek == KindString {
				return nil, fmt.Errorf("field %s: slices of %v are not supported", sf.Name, sf.Type.Elem())
			}
			f.Kind, f.Elem, f.Bits = KindSlice, ek, ebits
		default:
			return nil, fmt.Errorf("field %s: type %v is not supported", sf.Name, sf.Type)
		}
		for _, opt := range parts[1:] {
			key, val, _ := strings.Cut(opt, "=")
			switch key {
			case "optional":
				f.Optional = true
			case "rest":
				if f.Kind != KindString {
					return nil, fmt.Errorf("field %s: rest applies to strings only", sf.Name)
				}
				f.Rest = true
			case "min", "max":
				v, err := strconv.ParseFloat(val, 64)
				if err != nil {
					return nil, fmt.Errorf("field %s: bad %s=%q", sf.Name, key, val)
				}
				if key == "min" {
					f.Min, f.HasMin = v, true
				} else {
					f.Max, f.HasMax = v, true
				}
			default:
				return nil, fmt.Errorf("field %s: unknown tag option %q", sf.Name, opt)
			}
		}
		if f.Kind == KindString || f.Kind == KindSlice {
			if f.HasMin {
				return nil, fmt.Errorf("field %s: min does not apply to %v", sf.Name, f.Kind)
			}
			f.MaxLen = DefaultMaxString
			if f.Kind == KindSlice {
				f.MaxLen = DefaultMaxSlice
			}
			if f.HasMax {
				if f.Max < 0 || f.Max > math.MaxInt32 || f.Max != math.Trunc(f.Max) {
					return nil, fmt.Errorf("field %s: bad max length %v", sf.Name, f.Max)
				}
				f.MaxLen = int(f.Max)
				f.HasMax = false // for strings and slices max is a length
			}
		}
		out = append(out, f)
	}
	for i, f := range out {
		if f.Rest && i != len(out)-1 {
			return nil, fmt.Errorf("field %s: rest must be the last field", f.GoName)
		}
		if !f.Optional && i > 0 && out[i-1].Optional {
			return nil, fmt.Errorf("field %s: a required field cannot follow an optional one", f.GoName)
		}
	}
	return out, nil
}

// FieldError is a decoded value that breaks a field's limits, or a field
// that cannot be parsed.
type FieldError struct {
	Field  string // wire name
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func intRange(bits int) (int64, int64) {
	if bits == 64 {
		return math.MinInt64, math.MaxInt64
	}
	return -1 << (bits - 1), 1<<(bits-1) - 1
}

func uintMax(bits int) uint64 {
	if bits == 64 {
		return math.MaxUint64
	}
	return 1<<bits - 1
}

// checkInt validates an integer for a field (or slice element) of f.
func (f *field) checkInt(v int64, bits int) error {
	lo, hi := intRange(bits)
	if v < lo || v > hi {
		return &FieldError{f.Name, fmt.Sprintf("%d overflows int%d%s", v, bits, f.rangeOr(float64(lo), float64(hi)))}
	}
	return f.checkRange(float64(v))
}

func (f *field) checkUint(v uint64, bits int) error {
	if v > uintMax(bits) {
		return &FieldError{f.Name, fmt.Sprintf("%d overflows uint%d%s", v, bits, f.rangeOr(0, float64(uintMax(bits))))}
	}
	return f.checkRange(float64(v))
}

func (f *field) checkFloat(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return &FieldError{f.Name, "must be a finite number" + f.rangeText()}
	}
	return f.checkRange(v)
}

func (f *field) checkRange(v float64) error {
	if f.HasMin && v < f.Min {
		return &FieldError{f.Name, fmt.Sprintf("must be >= %s, got %s%s", fmtNum(f.Min), fmtNum(v), f.rangeText())}
	}
	if f.HasMax && v > f.Max {
		return &FieldError{f.Name, fmt.Sprintf("must be <= %s, got %s%s", fmtNum(f.Max), fmtNum(v), f.rangeText())}
	}
	return nil
}

// rangeText names the values f's limits allow, for an error text:
// "; valid: 0 to 1000", or "" when the field declares no limits.
func (f *field) rangeText() string {
	switch {
	case f.HasMin && f.HasMax:
		return "; valid: " + fmtNum(f.Min) + " to " + fmtNum(f.Max)
	case f.HasMin:
		return "; valid: " + fmtNum(f.Min) + " or more"
	case f.HasMax:
		return "; valid: up to " + fmtNum(f.Max)
	}
	return ""
}

// rangeOr is rangeText, or the range lo to hi of the field's type when it
// declares no limits.
func (f *field) rangeOr(lo, hi float64) string {
	if r := f.rangeText(); r != "" {
		return r
	}
	return "; valid: " + fmtNum(lo) + " to " + fmtNum(hi)
}

func (f *field) checkLen(n int) error {
	if n > f.MaxLen {
		unit := "bytes"
		if f.Kind == KindSlice {
			unit = "elements"
		}
		return &FieldError{f.Name, fmt.Sprintf("longer than %d %s (got %d)", f.MaxLen, unit, n)}
	}
	return nil
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Validate checks every field of m, a registered message value or pointer,
// against its limits. Decode calls it on everything it returns; a game may
// call it on messages it builds.
func (r *Registry) Validate(m any) error {
	t, err := r.TypeOf(m)
	if err != nil {
		return err
	}
	return t.validate(structValue(m))
}

func structValue(m any) reflect.Value {
	v := reflect.ValueOf(m)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return v
}

func (t *Type) validate(v reflect.Value) error {
	for i := range t.fields {
		f := &t.fields[i]
		fv := v.Field(f.index)
		var err error
		switch f.Kind {
		case KindInt:
			err = f.checkInt(fv.Int(), f.Bits)
		case KindUint:
			err = f.checkUint(fv.Uint(), f.Bits)
		case KindFloat:
			err = f.checkFloat(fv.Float())
		case KindString:
			err = f.checkLen(fv.Len())
		case KindSlice:
			err = f.checkLen(fv.Len())
			for j := 0; err == nil && j < fv.Len(); j++ {
				ev := fv.Index(j)
				switch f.Elem {
				case KindInt:
					err = f.checkInt(ev.Int(), f.Bits)
				case KindUint:
					err = f.checkUint(ev.Uint(), f.Bits)
				case KindFloat:
					err = f.checkFloat(ev.Float())
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
