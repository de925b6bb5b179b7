package msg

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/tickwire/tickwire/frame"
)

// Encoding is one of the three wire encodings of a message.
type Encoding uint8

const (
	// Text is `NAME arg arg...` lines, typeable with nc.
	Text Encoding = iota
	// JSON is one JSON object per line: {"type":"NAME",...}.
	JSON
	// MsgPack is length-prefixed binary frames holding the numeric id and
	// the fields as MessagePack values.
	MsgPack
)

// Encodings lists every encoding, in order.
var Encodings = []Encoding{Text, JSON, MsgPack}

// String returns the encoding's protocol name: "text", "json" or "msgpack".
func (e Encoding) String() string {
	switch e {
	case Text:
		return "text"
	case JSON:
		return "json"
	case MsgPack:
		return "msgpack"
	}
	return fmt.Sprintf("encoding(%d)", uint8(e))
}

// ParseEncoding maps a protocol name to an Encoding.
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "text", "TEXT":
		return Text, nil
	case "json", "JSON":
		return JSON, nil
	case "msgpack", "MSGPACK":
		return MsgPack, nil
	}
	return 0, fmt.Errorf("msg: unknown encoding %q (want text, json or msgpack)", s)
}

// FrameMode is the framing an encoding travels in.
func (e Encoding) FrameMode() frame.Mode {
	if e == MsgPack {
		return frame.Binary
	}
	return frame.Text
}

// Envelope is a decoded message.
type Envelope struct {
	Type *Type
	// Msg is a pointer to a new value of the registered struct type.
	Msg any
	// RID is the request correlation id the sender attached, or 0.
	RID uint32
}

// Error codes carried by DecodeError and sent to peers in ERR messages.
const (
	CodeBadSyntax      = "bad_syntax"      // the bytes do not parse in this encoding
	CodeUnknownMessage = "unknown_message" // no message with that name or id
	CodeBadField       = "bad_field"       // a field is missing, malformed or out of range
	CodeNotAllowed     = "not_allowed"     // the message may not be sent in this direction
	// CodeRateLimited answers a message dropped by its type's rate limit
	// (msg.Info Rate and Burst); the ERR text is the message name.
	CodeRateLimited = "rate_limited"
)

// DecodeError explains why a frame was refused. Code is one of the Code
// constants; Name is the message name when it was recognised; RID is the
// correlation id when it could be read, so the error can be answered to the
// right request.
type DecodeError struct {
	Code   string
	Name   string
	Field  string
	Reason string
	RID    uint32
}

func (e *DecodeError) Error() string {
	s := e.Code
	if e.Name != "" {
		s += " " + e.Name
	}
	if e.Field != "" {
		s += " " + e.Field + ":"
	}
	return s + " " + e.Reason
}

// Text returns the human part of the error, for an ERR message.
func (e *DecodeError) Text() string {
	s := ""
	if e.Name != "" {
		s = e.Name + " "
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Reason
}

func badSyntax(rid uint32, format string, args ...any) *DecodeError {
	return &DecodeError{Code: CodeBadSyntax, Reason: fmt.Sprintf(format, args...), RID: rid}
}

func fieldErr(t *Type, rid uint32, err error) *DecodeError {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &DecodeError{Code: CodeBadField, Name: t.Name, Field: fe.Field, Reason: fe.Reason, RID: rid}
	}
	return &DecodeError{Code: CodeBadField, Name: t.Name, Reason: err.Error(), RID: rid}
}

// Codec encodes and decodes messages in one encoding. It keeps scratch
// state, so it is not safe for concurrent use: give each goroutine (each
// connection's reader and writer) its own.
type Codec struct {
	reg *Registry
	enc Encoding
	mp  *mpState // allocated on first MessagePack use
}

// NewCodec returns a codec for enc.
func (r *Registry) NewCodec(enc Encoding) *Codec { return &Codec{reg: r, enc: enc} }

// Registry returns the registry the codec encodes from.
func (c *Codec) Registry() *Registry { return c.reg }

// Encoding returns the codec's current encoding.
func (c *Codec) Encoding() Encoding { return c.enc }

// SetEncoding switches the codec to another encoding.
func (c *Codec) SetEncoding(e Encoding) { c.enc = e }

// Append appends m, a registered message value or pointer (or a *Shared
// wrapping one), as one complete frame (line terminator or length prefix included) to dst. rid, when not 0,
// is the correlation id of the request this answers.
func (c *Codec) Append(dst []byte, m any, rid uint32) ([]byte, error) {
	if s, ok := m.(*Shared); ok {
		return c.appendShared(dst, s, rid)
	}
	t, err := c.reg.TypeOf(m)
	if err != nil {
		return dst, err
	}
	v := structValue(m)
	switch c.enc {
	case Text:
		return appendText(dst, t, v, rid), nil
	case JSON:
		return appendJSON(dst, t, v, rid)
	case MsgPack:
		return c.appendMsgPack(dst, t, v, rid)
	}
	return dst, fmt.Errorf("msg: bad encoding %d", c.enc)
}

// Decode decodes one frame payload (without its line terminator or length
// prefix) into a new value of its registered type. want is the direction the
// receiver accepts: ToServer on a server, ToClient on a client. Every field
// limit is checked; on failure the error is a *DecodeError.
func (c *Codec) Decode(data []byte, want Dir) (Envelope, error) {
	var env Envelope
	var err error
	switch c.enc {
	case Text:
		env, err = c.reg.decodeText(data)
	case JSON:
		env, err = c.reg.decodeJSON(data)
	case MsgPack:
		env, err = c.decodeMsgPack(data)
	default:
		return env, fmt.Errorf("msg: bad encoding %d", c.enc)
	}
	if err != nil {
		return env, err
	}
	if env.Type.Dir&want == 0 {
		return env, &DecodeError{Code: CodeNotAllowed, Name: env.Type.Name, RID: env.RID,
			Reason: "may not be sent " + map[Dir]string{ToServer: "to the server", ToClient: "to a client"}[want]}
	}
	return env, nil
}

// Append encodes m in enc; see Codec.Append. It allocates a codec per call:
// hot paths should keep a Codec.
func (r *Registry) Append(dst []byte, enc Encoding, m any, rid uint32) ([]byte, error) {
	return r.NewCodec(enc).Append(dst, m, rid)
}

// Decode decodes one frame payload in enc; see Codec.Decode.
func (r *Registry) Decode(enc Encoding, data []byte, want Dir) (Envelope, error) {
	return r.NewCodec(enc).Decode(data, want)
}

// newValue allocates a zero value of t's struct and returns the pointer and
// the addressable struct value.
func (t *Type) newValue() (any, reflect.Value) {
	p := reflect.New(t.goType)
	return p.Interface(), p.Elem()
}
