package frame

import (
	"encoding/binary"
	"sync"
)

// Parser is the push-based counterpart of Reader, for event loops that are
// handed bytes as they arrive instead of reading them. It applies the same
// rules: newline-terminated text with CRLF tolerated, blank lines and
// zero-length binary frames as keepalives (reported to OnKeepalive, never
// emitted), varint-length-prefixed binary frames, and the message cap, past
// which it fails with ErrTooLong (ErrBadPrefix for a malformed prefix) after
// emitting every message completed before the offending one.
//
// A Parser holds a buffer only while it has unconsumed bytes: the start of a
// frame not yet complete, or what was left when emit stopped it. The buffer
// comes from a shared pool and goes back to it as soon as it is empty, so an
// idle connection's Parser holds no memory beyond the struct. Complete
// frames inside the bytes passed to Feed are emitted straight from them,
// without a copy.
//
// It is not safe for concurrent use.
type Parser struct {
	buf  *[]byte // unconsumed bytes, from bufPool; nil when there are none
	max  int
	mode Mode

	// OnKeepalive, when set, is called for every keepalive Feed skips.
	OnKeepalive func()
}

// parserBuffer is the capacity of a pooled Parser buffer; a buffer that grew
// past maxPooled for a long message is left to the garbage collector rather
// than kept in the pool.
const (
	parserBuffer = 512
	maxPooled    = 16 << 10
)

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, parserBuffer)
	return &b
}}

// NewParser returns a Parser that refuses messages longer than max bytes,
// clamped as NewReader clamps it (0 means DefaultMaxMessage).
func NewParser(max int) *Parser {
	p := &Parser{}
	p.Reset(max)
	return p
}

// Reset readies p for a new stream with the given cap, in text mode,
// dropping whatever it held. The zero Parser must be Reset before use.
func (p *Parser) Reset(max int) {
	switch {
	case max == 0:
		max = DefaultMaxMessage
	case max < MinMessageLimit:
		max = MinMessageLimit
	case max > MaxMessageLimit:
		max = MaxMessageLimit
	}
	p.release()
	p.max, p.mode = max, Text
}

// Max returns the message size cap.
func (p *Parser) Max() int { return p.max }

// Mode returns the current framing.
func (p *Parser) Mode() Mode { return p.mode }

// SetMode switches the framing. Called from emit, it applies from the next
// frame on, including frames of the same Feed.
func (p *Parser) SetMode(m Mode) { p.mode = m }

// Buffered returns how many bytes p holds: the start of an incomplete frame
// or, after emit stopped a Feed, the bytes it did not get to.
func (p *Parser) Buffered() int {
	if p.buf == nil {
		return 0
	}
	return len(*p.buf)
}

// Hold appends data to what p holds without parsing it, for a consumer
// that has stopped (see Feed); the next Feed parses it.
func (p *Parser) Hold(data []byte) {
	if len(data) == 0 {
		return
	}
	if p.buf == nil {
		p.buf = bufPool.Get().(*[]byte)
		*p.buf = (*p.buf)[:0]
	}
	*p.buf = append(*p.buf, data...)
}

// Release drops whatever p holds and returns its buffer to the pool.
func (p *Parser) Release() { p.release() }

func (p *Parser) release() {
	if p.buf == nil {
		return
	}
	b := p.buf
	p.buf = nil
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// Feed parses data after whatever p holds, calling emit with every complete
// message in order. The slice emit gets is valid only during the call.
//
// If emit returns an error, Feed stops, keeps that message and the bytes
// after it (a later Feed, with nil data to add nothing, emits that message
// again and continues), and returns the error: an event loop whose
// consumer is full stops this way and resumes when it has room. A framing error (ErrTooLong, ErrBadPrefix) is returned
// once every message before it has been emitted; the stream cannot be
// resynchronised after it.
func (p *Parser) Feed(data []byte, emit func(msg []byte) error) error {
	if p.buf != nil {
		*p.buf = append(*p.buf, data...)
		data = *p.buf
	}
	off := 0
	var err error
	for off < len(data) {
		msg, n, perr := p.next(data[off:])
		if perr != nil {
			p.release()
			return perr
		}
		if n == 0 {
			break // incomplete
		}
		if len(msg) == 0 {
			off += n
			if p.OnKeepalive != nil {
				p.OnKeepalive()
			}
			continue
		}
		if err = emit(msg); err != nil {
			break
		}
		off += n
	}
	p.keep(data, off)
	return err
}

// keep makes data[off:] the bytes p holds. data is either the caller's
// slice or p's own buffer.
func (p *Parser) keep(data []byte, off int) {
	rest := len(data) - off
	if rest == 0 {
		p.release()
		return
	}
	if p.buf == nil {
		p.buf = bufPool.Get().(*[]byte)
		*p.buf = append((*p.buf)[:0], data[off:]...)
		return
	}
	// data is *p.buf: move the rest to the front.
	n := copy(*p.buf, data[off:])
	*p.buf = (*p.buf)[:n]
}

// next extracts one frame from the front of data: the message (empty for a
// keepalive) and how many bytes it took, or n == 0 if data holds no
// complete frame.
func (p *Parser) next(data []byte) (msg []byte, n int, err error) {
	if p.mode == Text {
		for i, c := range data {
			if c == '\n' {
				line := data[:i]
				if len(line) > 0 && line[len(line)-1] == '\r' {
					line = line[:len(line)-1]
				}
				if len(line) > p.max {
					return nil, 0, ErrTooLong
				}
				return line, i + 1, nil
			}
		}
		// As Reader: one byte of slack for a "\r" before the "\n".
		if len(data) > p.max+1 {
			return nil, 0, ErrTooLong
		}
		return nil, 0, nil
	}
	size, w := binary.Uvarint(data)
	switch {
	case w == 0:
		if len(data) >= maxPrefix {
			return nil, 0, ErrBadPrefix
		}
		return nil, 0, nil
	case w < 0 || w > maxPrefix:
		return nil, 0, ErrBadPrefix
	case size > uint64(p.max):
		return nil, 0, ErrTooLong
	}
	if len(data) < w+int(size) {
		return nil, 0, nil
	}
	return data[w : w+int(size)], w + int(size), nil
}
