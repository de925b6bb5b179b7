package msg

import "sync"

// Shared wraps a message that many connections receive in the same tick,
// such as one entity's position sent to every player who can see it. Each
// encoding of it is computed once, by the first connection that needs it,
// and copied for the rest, instead of being encoded per recipient.
//
// Pass a *Shared wherever a message is accepted for sending (for instance
// server.Player.Send). The wrapped message must not change after NewShared:
// its encodings may be computed at any time until the last recipient has
// been written to.
type Shared struct {
	Msg  any
	once [len(encodingNames)]sync.Once
	enc  [len(encodingNames)][]byte
	err  [len(encodingNames)]error
}

var encodingNames = [...]string{Text: "text", JSON: "json", MsgPack: "msgpack"}

// NewShared wraps m, a registered message value or pointer.
func NewShared(m any) *Shared { return &Shared{Msg: m} }

// appendShared appends s's encoding in c's encoding, computing it on first
// use. A request id cannot be shared: with rid != 0 the message is encoded
// for this recipient alone.
func (c *Codec) appendShared(dst []byte, s *Shared, rid uint32) ([]byte, error) {
	if rid != 0 || int(c.enc) >= len(s.enc) {
		return c.Append(dst, s.Msg, rid)
	}
	i := c.enc
	s.once[i].Do(func() { s.enc[i], s.err[i] = c.Append(nil, s.Msg, 0) })
	if s.err[i] != nil {
		return dst, s.err[i]
	}
	return append(dst, s.enc[i]...), nil
}
