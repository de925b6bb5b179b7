package msg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/tickwire/tickwire/frame"
)

// The MessagePack encoding. Each message is one binary frame (see package
// frame) whose payload is
//
//	uvarint(id<<1 | hasRID) [uvarint(rid)] field1 field2 ...
//
// with every field, in declaration order, as one MessagePack value (ints in
// their smallest form, slices as arrays). There is no per-message map or
// array header: both sides know the field list from the registry, which keeps
// a position update at a handful of bytes.

// mpState is the per-codec MessagePack scratch state.
type mpState struct {
	w   appendWriter
	enc *msgpack.Encoder
	br  bytes.Reader
	dec *msgpack.Decoder
}

// appendWriter lets a msgpack.Encoder append to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *appendWriter) WriteByte(c byte) error      { w.b = append(w.b, c); return nil }
func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

func (c *Codec) mpack() *mpState {
	if c.mp == nil {
		st := &mpState{}
		st.enc = msgpack.NewEncoder(&st.w)
		st.dec = msgpack.NewDecoder(&st.br)
		c.mp = st
	}
	return c.mp
}

func (c *Codec) appendMsgPack(dst []byte, t *Type, v reflect.Value, rid uint32) ([]byte, error) {
	st := c.mpack()
	out, start := frame.BeginBinary(dst)
	head := uint64(t.ID) << 1
	if rid != 0 {
		head |= 1
	}
	out = binary.AppendUvarint(out, head)
	if rid != 0 {
		out = binary.AppendUvarint(out, uint64(rid))
	}
	st.w.b = out
	for i := range t.fields {
		f := &t.fields[i]
		fv := v.Field(f.index)
		var err error
		switch f.Kind {
		case KindString:
			err = st.enc.EncodeString(fv.String())
		case KindSlice:
			err = st.enc.EncodeArrayLen(fv.Len())
			for j := 0; err == nil && j < fv.Len(); j++ {
				err = encodeMPScalar(st.enc, f.Elem, f.Bits, fv.Index(j))
			}
		default:
			err = encodeMPScalar(st.enc, f.Kind, f.Bits, fv)
		}
		if err != nil {
			st.w.b = nil
			return dst, err
		}
	}
	out = st.w.b
	st.w.b = nil
	return frame.EndBinary(out, start), nil
}

func encodeMPScalar(e *msgpack.Encoder, k Kind, bits int, v reflect.Value) error {
	switch k {
	case KindBool:
		return e.EncodeBool(v.Bool())
	case KindInt:
		return e.EncodeInt(v.Int())
	case KindUint:
		return e.EncodeUint(v.Uint())
	case KindFloat:
		if bits == 32 {
			return e.EncodeFloat32(float32(v.Float()))
		}
		return e.EncodeFloat64(v.Float())
	}
	return nil
}

func (c *Codec) decodeMsgPack(data []byte) (Envelope, error) {
	var env Envelope
	head, w := binary.Uvarint(data)
	if w <= 0 || head>>1 > MaxID {
		return env, badSyntax(0, "bad message header")
	}
	data = data[w:]
	if head&1 != 0 {
		rid, w := binary.Uvarint(data)
		if w <= 0 || rid == 0 || rid > MaxRID {
			return env, badSyntax(0, "bad request id")
		}
		env.RID = uint32(rid)
		data = data[w:]
	}
	t, ok := c.reg.ByID(uint16(head >> 1))
	if !ok {
		return env, &DecodeError{Code: CodeUnknownMessage, RID: env.RID, Reason: fmt.Sprintf("unknown message id %d", head>>1)}
	}
	env.Type = t
	ptr, v := t.newValue()
	env.Msg = ptr
	st := c.mpack()
	st.br.Reset(data)
	st.dec.Reset(&st.br)
	for i := range t.fields {
		f := &t.fields[i]
		if st.br.Len() == 0 {
			return env, fieldErr(t, env.RID, &FieldError{f.Name, "missing"})
		}
		if err := decodeMPField(st, data, f, v.Field(f.index)); err != nil {
			return env, fieldErr(t, env.RID, err)
		}
	}
	if st.br.Len() != 0 {
		return env, badSyntax(env.RID, "%s: %d trailing bytes", t.Name, st.br.Len())
	}
	return env, nil
}

// mpLen reads the length in the header of a str, bin or array value that
// starts at data[pos] without consuming anything, so limits are checked
// before the decoder allocates.
func mpLen(data []byte, pos int) (n int, ok bool) {
	if pos >= len(data) {
		return 0, false
	}
	c := data[pos]
	rest := data[pos+1:]
	switch {
	case msgpcode.IsFixedString(c):
		return int(c & msgpcode.FixedStrMask), true
	case msgpcode.IsFixedArray(c):
		return int(c & msgpcode.FixedArrayMask), true
	case c == msgpcode.Str8 || c == msgpcode.Bin8:
		if len(rest) < 1 {
			return 0, false
		}
		return int(rest[0]), true
	case c == msgpcode.Str16 || c == msgpcode.Bin16 || c == msgpcode.Array16:
		if len(rest) < 2 {
			return 0, false
		}
		return int(binary.BigEndian.Uint16(rest)), true
	case c == msgpcode.Str32 || c == msgpcode.Bin32 || c == msgpcode.Array32:
		if len(rest) < 4 {
			return 0, false
		}
		return int(binary.BigEndian.Uint32(rest)), true
	}
	return 0, false
}

func decodeMPField(st *mpState, data []byte, f *field, fv reflect.Value) error {
	pos := len(data) - st.br.Len()
	switch f.Kind {
	case KindString:
		n, ok := mpLen(data, pos)
		if !ok {
			return &FieldError{f.Name, "want a string"}
		}
		if err := f.checkLen(n); err != nil {
			return err
		}
		if n > st.br.Len() {
			return &FieldError{f.Name, "truncated"}
		}
		s, err := st.dec.DecodeString()
		if err != nil {
			return &FieldError{f.Name, "want a string"}
		}
		fv.SetString(s)
		return nil
	case KindSlice:
		n, ok := mpLen(data, pos)
		if !ok || !msgpcode.IsFixedArray(data[pos]) && data[pos] != msgpcode.Array16 && data[pos] != msgpcode.Array32 {
			return &FieldError{f.Name, "want an array"}
		}
		if err := f.checkLen(n); err != nil {
			return err
		}
		if n > st.br.Len() { // every element takes at least one byte
			return &FieldError{f.Name, "truncated"}
		}
		if _, err := st.dec.DecodeArrayLen(); err != nil {
			return &FieldError{f.Name, "want an array"}
		}
		sl := reflect.MakeSlice(fv.Type(), n, n)
		for i := 0; i < n; i++ {
			if err := decodeMPScalar(st, data, f, f.Elem, sl.Index(i)); err != nil {
				return err
			}
		}
		fv.Set(sl)
		return nil
	}
	return decodeMPScalar(st, data, f, f.Kind, fv)
}

func isMPNegative(c byte) bool {
	return msgpcode.IsFixedNum(c) && int8(c) < 0 ||
		c == msgpcode.Int8 || c == msgpcode.Int16 || c == msgpcode.Int32 || c == msgpcode.Int64
}

func isMPInt(c byte) bool {
	return msgpcode.IsFixedNum(c) || c >= msgpcode.Uint8 && c <= msgpcode.Int64
}

func decodeMPScalar(st *mpState, data []byte, f *field, k Kind, fv reflect.Value) error {
	pos := len(data) - st.br.Len()
	if pos >= len(data) {
		return &FieldError{f.Name, "truncated"}
	}
	c := data[pos]
	switch k {
	case KindBool:
		b, err := st.dec.DecodeBool()
		if err != nil {
			return &FieldError{f.Name, "want a bool"}
		}
		fv.SetBool(b)
	case KindInt:
		if !isMPInt(c) {
			return &FieldError{f.Name, "want an integer"}
		}
		if c == msgpcode.Uint64 {
			u, err := st.dec.DecodeUint64()
			if err != nil {
				return &FieldError{f.Name, "want an integer"}
			}
			if u > 1<<63-1 {
				return &FieldError{f.Name, fmt.Sprintf("%d overflows int%d", u, f.Bits)}
			}
			if err := f.checkInt(int64(u), f.Bits); err != nil {
				return err
			}
			fv.SetInt(int64(u))
			return nil
		}
		n, err := st.dec.DecodeInt64()
		if err != nil {
			return &FieldError{f.Name, "want an integer"}
		}
		if err := f.checkInt(n, f.Bits); err != nil {
			return err
		}
		fv.SetInt(n)
	case KindUint:
		if !isMPInt(c) {
			return &FieldError{f.Name, "want an unsigned integer"}
		}
		if isMPNegative(c) {
			// The error must be checked: a negative int cut short (e.g. an
			// int32 code with fewer than 4 bytes after it) used to decode
			// as 0 and be accepted.
			n, err := st.dec.DecodeInt64()
			if err != nil {
				return &FieldError{f.Name, "want an unsigned integer"}
			}
			if n < 0 {
				return &FieldError{f.Name, fmt.Sprintf("%d is negative", n)}
			}
			if err := f.checkUint(uint64(n), f.Bits); err != nil {
				return err
			}
			fv.SetUint(uint64(n))
			return nil
		}
		n, err := st.dec.DecodeUint64()
		if err != nil {
			return &FieldError{f.Name, "want an unsigned integer"}
		}
		if err := f.checkUint(n, f.Bits); err != nil {
			return err
		}
		fv.SetUint(n)
	case KindFloat:
		if c != msgpcode.Float && c != msgpcode.Double && !isMPInt(c) {
			return &FieldError{f.Name, "want a number"}
		}
		x, err := st.dec.DecodeFloat64()
		if err != nil {
			return &FieldError{f.Name, "want a number"}
		}
		if err := f.checkFloat(x); err != nil {
			return err
		}
		// A float64 beyond float32's range would be stored as an infinity
		// in a float32 field; the text and JSON decoders refuse it (via
		// strconv.ParseFloat's bit size), so refuse it here too.
		if f.Bits == 32 && math.IsInf(float64(float32(x)), 0) {
			return &FieldError{f.Name, fmt.Sprintf("%g overflows float32", x)}
		}
		fv.SetFloat(x)
	}
	return nil
}
