// Package frame splits a byte stream into messages and joins messages back
// into a byte stream.
//
// tickwire speaks two framings on one connection, switching at a message
// boundary:
//
//   - Text: each message is a line ending in "\n"; a "\r" before the "\n" is
//     dropped, so CRLF clients (telnet, PuTTY, Windows nc) work. An empty line
//     is a keepalive and is never returned as a message.
//   - Binary: each message is an unsigned LEB128 varint length followed by
//     that many bytes. A zero length is a keepalive.
//
// A Reader never holds more than the configured maximum message size (plus a
// few bytes of framing) in memory, whatever the peer sends: a line that grows
// past the limit, or a binary length prefix above it, fails with ErrTooLong
// before anything proportional to the claimed size is allocated. Messages
// completed before the offending one are still returned first, in order.
//
// The exact wire format is specified in docs/PROTOCOL.md.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Limits and defaults. Every limit a Reader enforces is one of these or a
// value configured in its place.
const (
	// DefaultMaxMessage is the default cap on one message's payload, in
	// bytes, excluding the line terminator or length prefix.
	DefaultMaxMessage = 4096
	// MaxMessageLimit is the largest cap a Reader accepts. A game that needs
	// larger messages should split them: large messages block the queue.
	MaxMessageLimit = 1 << 20
	// MinMessageLimit is the smallest cap a Reader accepts.
	MinMessageLimit = 64
	// maxPrefix is the longest varint length prefix accepted: 3 bytes carry
	// up to 2,097,151, which covers MaxMessageLimit.
	maxPrefix = 3
	// initialBuffer is the capacity a Reader starts with. Idle connections
	// keep only this much; the buffer grows only while a long message is
	// being read.
	initialBuffer = 256
)

// Mode selects how the byte stream is split.
type Mode uint8

const (
	// Text frames are "\n"-terminated lines.
	Text Mode = iota
	// Binary frames are varint-length-prefixed.
	Binary
)

// String returns "text" or "binary".
func (m Mode) String() string {
	if m == Binary {
		return "binary"
	}
	return "text"
}

// ErrTooLong is returned by Reader.Next when the next message exceeds the
// maximum size. The stream cannot be resynchronised after it: close the
// connection.
var ErrTooLong = errors.New("frame: message too long")

// ErrBadPrefix is returned when a binary length prefix is malformed (longer
// than maxPrefix bytes).
var ErrBadPrefix = errors.New("frame: malformed length prefix")

// Reader reads messages from an io.Reader. It is not safe for concurrent
// use: one goroutine (the connection's reader) owns it.
type Reader struct {
	src   io.Reader
	buf   []byte
	start int // first unconsumed byte in buf
	end   int // one past the last byte read into buf
	max   int
	mode  Mode
	err   error // sticky read error, returned once buffered messages are drained

	onKeepalive func() // called for each keepalive skipped by Next; may be nil
}

// NewReader returns a Reader that reads from src and refuses messages longer
// than max bytes. A max outside [MinMessageLimit, MaxMessageLimit] is clamped
// into that range; 0 means DefaultMaxMessage.
func NewReader(src io.Reader, max int) *Reader {
	switch {
	case max == 0:
		max = DefaultMaxMessage
	case max < MinMessageLimit:
		max = MinMessageLimit
	case max > MaxMessageLimit:
		max = MaxMessageLimit
	}
	return &Reader{src: src, max: max}
}

// Max returns the message size cap.
func (r *Reader) Max() int { return r.max }

// Mode returns the current framing.
func (r *Reader) Mode() Mode { return r.mode }

// SetMode switches the framing. Bytes already buffered after the last
// returned message are parsed in the new mode, so a peer may send the switch
// request and its first binary frame in one write.
func (r *Reader) SetMode(m Mode) { r.mode = m }

// Buffered returns how many bytes have been read but not yet returned.
// Called between Next calls, a non-zero count is the start of a frame that
// has not arrived whole.
func (r *Reader) Buffered() int { return r.end - r.start }

// OnKeepalive sets a function that Next calls for every keepalive it skips,
// so a caller can count keepalives as activity (an idle timer, say) although
// they are never returned as messages. nil removes it.
func (r *Reader) OnKeepalive(f func()) { r.onKeepalive = f }

// Next returns the next message. The returned slice aliases the Reader's
// buffer and is valid only until the next call. Keepalives (blank lines,
// zero-length frames) are skipped. At the end of the stream Next returns
// io.EOF (or the underlying read error) once every complete buffered message
// has been returned; a partial message left at EOF is discarded.
func (r *Reader) Next() ([]byte, error) {
	for {
		msg, ok, err := r.parse()
		if err != nil {
			return nil, err
		}
		if ok {
			if len(msg) == 0 {
				if r.onKeepalive != nil {
					r.onKeepalive()
				}
				continue // keepalive
			}
			return msg, nil
		}
		if r.err != nil {
			return nil, r.err
		}
		if err := r.fill(); err != nil {
			r.err = err
		}
	}
}

// parse extracts one frame from the buffer if a complete one is there.
func (r *Reader) parse() (msg []byte, ok bool, err error) {
	data := r.buf[r.start:r.end]
	if r.mode == Text {
		for i, c := range data {
			if c == '\n' {
				line := data[:i]
				if len(line) > 0 && line[len(line)-1] == '\r' {
					line = line[:len(line)-1]
				}
				if len(line) > r.max {
					return nil, false, ErrTooLong
				}
				r.start += i + 1
				return line, true, nil
			}
		}
		// No terminator yet: the line may still end in "\r\n", so allow one
		// byte of slack for the "\r" before declaring it too long.
		if len(data) > r.max+1 {
			return nil, false, ErrTooLong
		}
		return nil, false, nil
	}
	n, w := binary.Uvarint(data)
	switch {
	case w == 0: // need more bytes
		if len(data) >= maxPrefix {
			return nil, false, ErrBadPrefix
		}
		return nil, false, nil
	case w < 0 || w > maxPrefix:
		return nil, false, ErrBadPrefix
	case n > uint64(r.max):
		return nil, false, ErrTooLong
	}
	if len(data) < w+int(n) {
		return nil, false, nil
	}
	r.start += w + int(n)
	return data[w : w+int(n)], true, nil
}

// fill reads more bytes, compacting or growing the buffer as needed but never
// beyond the cap plus framing overhead.
func (r *Reader) fill() error {
	if r.start == r.end {
		r.start, r.end = 0, 0
		if cap(r.buf) > 4*initialBuffer {
			// A long message passed through; give the memory back so idle
			// connections stay small.
			r.buf = nil
		}
	}
	if r.buf == nil {
		r.buf = make([]byte, initialBuffer)
	}
	if r.end == len(r.buf) {
		if r.start > 0 {
			copy(r.buf, r.buf[r.start:r.end])
			r.end -= r.start
			r.start = 0
		} else {
			limit := r.max + maxPrefix + 2
			if len(r.buf) >= limit {
				// Unreachable while parse enforces the cap, but keep the
				// invariant explicit rather than growing without bound.
				return ErrTooLong
			}
			size := 2 * len(r.buf)
			if size > limit {
				size = limit
			}
			nb := make([]byte, size)
			copy(nb, r.buf[:r.end])
			r.buf = nb
		}
	}
	n, err := r.src.Read(r.buf[r.end:])
	if n < 0 || n > len(r.buf)-r.end {
		return fmt.Errorf("frame: reader returned invalid count %d", n)
	}
	r.end += n
	if err != nil {
		return err
	}
	if n == 0 {
		return nil // a zero read with no error: try again
	}
	return nil
}

// AppendLine appends msg and a "\n" to dst. msg must not contain "\n".
func AppendLine(dst, msg []byte) []byte {
	dst = append(dst, msg...)
	return append(dst, '\n')
}

// AppendBinary appends msg with its length prefix to dst.
func AppendBinary(dst, msg []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(msg)))
	return append(dst, msg...)
}

// BeginBinary reserves room for a length prefix at the end of dst and returns
// the extended slice and the offset where the payload starts. Append the
// payload to the returned slice, then call EndBinary. This lets encoders
// write a frame in place without a scratch buffer.
func BeginBinary(dst []byte) ([]byte, int) {
	dst = append(dst, 0)
	return dst, len(dst)
}

// EndBinary finishes a frame started with BeginBinary: it writes the length
// prefix for the payload at dst[start:], moving the payload if the prefix
// needs more than one byte.
func EndBinary(dst []byte, start int) []byte {
	n := len(dst) - start
	if n < 0x80 {
		dst[start-1] = byte(n)
		return dst
	}
	var pre [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(pre[:], uint64(n))
	dst = append(dst, pre[:w-1]...) // grow by the extra prefix bytes
	copy(dst[start-1+w:], dst[start:start+n])
	copy(dst[start-1:], pre[:w])
	return dst
}

// Keepalive returns the keepalive frame for a mode: a blank line or a
// zero-length binary frame.
func Keepalive(m Mode) []byte {
	if m == Binary {
		return []byte{0}
	}
	return []byte{'\n'}
}
