package codegen

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
)

// Vector is one message with its bytes in every encoding, as the Go codecs
// produce them. Clients in other languages test against these: decoding each
// encoding must give Value, and encoding Value must give the same bytes.
type Vector struct {
	Name    string         `json:"name"`
	RID     uint32         `json:"rid"`
	Value   map[string]any `json:"value"`
	Text    string         `json:"text"`
	JSON    string         `json:"json"`
	MsgPack string         `json:"msgpack"` // base64 of the whole frame, length prefix included
}

// Vectors returns two vectors per registered message: one with zero values
// and one with values chosen to exercise quoting, signs, limits and floats.
func Vectors(reg *msg.Registry) ([]Vector, error) {
	var out []Vector
	for _, t := range reg.Types() {
		for variant := 0; variant < 2; variant++ {
			v := reflect.New(t.GoType()).Elem()
			vals := map[string]any{}
			for i, f := range t.Fields() {
				x := sample(f, variant, int(t.ID)+i)
				fv := v.FieldByName(f.GoName)
				setValue(fv, x)
				vals[f.Name] = x
			}
			m := v.Addr().Interface()
			if err := reg.Validate(m); err != nil {
				return nil, fmt.Errorf("codegen: sample %s: %w", t.Name, err)
			}
			rid := uint32(0)
			if variant == 1 {
				rid = uint32(t.ID) * 1000
			}
			vec := Vector{Name: t.Name, RID: rid, Value: vals}
			for _, enc := range msg.Encodings {
				b, err := reg.Append(nil, enc, m, rid)
				if err != nil {
					return nil, fmt.Errorf("codegen: encode %s: %w", t.Name, err)
				}
				switch enc {
				case msg.Text:
					vec.Text = string(b)
				case msg.JSON:
					vec.JSON = string(b)
				case msg.MsgPack:
					vec.MsgPack = base64.StdEncoding.EncodeToString(b)
				}
			}
			out = append(out, vec)
		}
	}
	return out, nil
}

// VectorsJSON returns Vectors as indented JSON.
func VectorsJSON(reg *msg.Registry) ([]byte, error) {
	v, err := Vectors(reg)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(v, "", " ")
	return append(b, '\n'), err
}

var sampleStrings = []string{`hello world`, `say "hi" \ bye`, "caf\u00e9 \u2603", `x`, `-`, ` padded `}

func sample(f msg.FieldInfo, variant, seed int) any {
	if variant == 0 {
		switch f.Kind {
		case msg.KindBool:
			return false
		case msg.KindString:
			return ""
		case msg.KindSlice:
			return []any{}
		}
		return clamp(f, 0)
	}
	switch f.Kind {
	case msg.KindBool:
		return true
	case msg.KindString:
		s := sampleStrings[seed%len(sampleStrings)]
		if len(s) > f.MaxLen {
			s = s[:f.MaxLen]
		}
		return s
	case msg.KindSlice:
		n := min(3, f.MaxLen)
		out := make([]any, n)
		for i := range out {
			out[i] = scalarSample(f, f.Elem, seed+i)
		}
		return out
	}
	return scalarSample(f, f.Kind, seed)
}

func scalarSample(f msg.FieldInfo, k msg.Kind, seed int) any {
	switch k {
	case msg.KindBool:
		return seed%2 == 0
	case msg.KindInt:
		return clamp(f, float64(-(seed*seed)%40000-3))
	case msg.KindUint:
		return clamp(f, float64((seed*seed*37)%70000+200))
	case msg.KindFloat:
		vals := []float64{1.5, -0.000012, 1234567.25, 0.1, 3e-7}
		x := vals[seed%len(vals)]
		if f.Bits == 32 {
			x = float64(float32(x))
		}
		return clamp(f, x)
	}
	return nil
}

func clamp(f msg.FieldInfo, x float64) float64 {
	if f.HasMin && x < f.Min {
		x = f.Min
	}
	if f.HasMax && x > f.Max {
		x = f.Max
	}
	if f.Kind == msg.KindUint || f.Elem == msg.KindUint {
		x = math.Abs(x)
		if f.Bits < 64 {
			x = math.Min(x, float64(uint64(1)<<f.Bits-1))
		}
	}
	if (f.Kind == msg.KindInt || f.Elem == msg.KindInt) && f.Bits < 64 {
		lim := float64(int64(1) << (f.Bits - 1))
		x = math.Max(math.Min(x, lim-1), -lim)
	}
	return x
}

func setValue(fv reflect.Value, x any) {
	switch fv.Kind() {
	case reflect.Slice:
		items := x.([]any)
		sl := reflect.MakeSlice(fv.Type(), len(items), len(items))
		for i, it := range items {
			setValue(sl.Index(i), it)
		}
		fv.Set(sl)
	case reflect.Bool:
		fv.SetBool(x.(bool))
	case reflect.String:
		fv.SetString(x.(string))
	case reflect.Float32, reflect.Float64:
		fv.SetFloat(x.(float64))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		fv.SetInt(int64(x.(float64)))
	default:
		fv.SetUint(uint64(x.(float64)))
	}
}

// splitFrame strips the line terminator or length prefix from one encoded
// frame, for decoding it back.
func splitFrame(enc msg.Encoding, b []byte) ([]byte, error) {
	fr := frame.NewReader(strings.NewReader(string(b)), frame.MaxMessageLimit)
	fr.SetMode(enc.FrameMode())
	return fr.Next()
}
