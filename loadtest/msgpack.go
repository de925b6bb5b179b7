package loadtest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
)

// The MessagePack encoding of the relay workload (docs/PROTOCOL.md §3.3):
// each message is a varint-length-prefixed frame holding uvarint(id<<1) and
// the fields as MessagePack values. The ids come from package relayproto and the
// msg package's built-ins; bots encode and parse by hand so the load
// generator spends as little CPU as possible.
const (
	mpHeadJoin    = relayproto.IDJoin << 1
	mpHeadJoined  = relayproto.IDJoined << 1
	mpHeadMove    = relayproto.IDMove << 1
	mpHeadPos     = relayproto.IDPos << 1
	mpHeadErr     = msg.IDErr << 1
	mpMaxFrame    = 4096
	mpUseMsgPack  = "USE msgpack\n"
	mpUsingPrefix = "USING msgpack"
)

// appendMPInt appends n in MessagePack's shortest integer form.
func appendMPInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= 0x7f, n < 0 && n >= -32:
		return append(b, byte(n))
	case n >= 0 && n <= math.MaxUint8:
		return append(b, 0xcc, byte(n))
	case n >= 0 && n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
	case n >= 0 && n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	case n >= 0:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(n))
	case n >= math.MinInt8:
		return append(b, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// mpFrame wraps a payload built in b[start:] with its length prefix; the
// payload is always shorter than 128 bytes here, so the prefix is one byte
// reserved at b[start-1].
func mpFrame(b []byte, start int) []byte {
	b[start-1] = byte(len(b) - start)
	return b
}

func appendMPMove(b []byte, x, y int32, t int64) []byte {
	b = append(b, 0, mpHeadMove)
	start := len(b) - 1
	b = appendMPInt(b, int64(x))
	b = appendMPInt(b, int64(y))
	b = appendMPInt(b, t)
	return mpFrame(b, start)
}

func appendMPJoin(b []byte, room string) []byte {
	b = append(b, 0, mpHeadJoin, 0xa0|byte(len(room))) // rooms are at most 32 bytes
	start := len(b) - 2
	b = append(b, room...)
	return mpFrame(b, start)
}

// mpReader reads one int or string from a payload.
type mpReader struct {
	b   []byte
	err bool
}

func (r *mpReader) int() int64 {
	if len(r.b) == 0 {
		r.err = true
		return 0
	}
	c := r.b[0]
	size, signed := 0, false
	switch {
	case c <= 0x7f:
		r.b = r.b[1:]
		return int64(c)
	case c >= 0xe0:
		r.b = r.b[1:]
		return int64(int8(c))
	case c >= 0xcc && c <= 0xcf:
		size = 1 << (c - 0xcc)
	case c >= 0xd0 && c <= 0xd3:
		size, signed = 1<<(c-0xd0), true
	default:
		r.err = true
		return 0
	}
	if len(r.b) < 1+size {
		r.err = true
		return 0
	}
	var u uint64
	for _, x := range r.b[1 : 1+size] {
		u = u<<8 | uint64(x)
	}
	r.b = r.b[1+size:]
	if signed {
		shift := 64 - 8*size
		return int64(u<<shift) >> shift
	}
	return int64(u)
}

func (r *mpReader) str() string {
	if len(r.b) == 0 {
		r.err = true
		return ""
	}
	c := r.b[0]
	n, hdr := 0, 1
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == 0xd9 && len(r.b) >= 2:
		n, hdr = int(r.b[1]), 2
	case c == 0xda && len(r.b) >= 3:
		n, hdr = int(binary.BigEndian.Uint16(r.b[1:])), 3
	default:
		r.err = true
		return ""
	}
	if len(r.b) < hdr+n {
		r.err = true
		return ""
	}
	s := string(r.b[hdr : hdr+n])
	r.b = r.b[hdr+n:]
	return s
}

// readMsgPackLoop reads binary frames after the switch to MessagePack.
func (r *runner) readMsgPackLoop(b *bot, br *bufio.Reader, joined *bool) {
	buf := make([]byte, mpMaxFrame)
	for {
		n, err := binary.ReadUvarint(br)
		if err == nil && n > mpMaxFrame {
			err = &errKind{"frame_too_long", fmt.Errorf("frame of %d bytes", n)}
		}
		if err == nil {
			_, err = io.ReadFull(br, buf[:n])
		}
		if err != nil {
			kind := kindOf(err, "read")
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				kind = "eof"
				err = fmt.Errorf("server closed the connection: %w", err)
			}
			r.readerExit(b, kind, err)
			return
		}
		if n == 0 {
			continue // keepalive
		}
		if err := r.handleFrame(b, buf[:n], joined); err != nil {
			r.readerExit(b, kindOf(err, "unexpected_frame"), err)
			return
		}
	}
}

// handleFrame is handleLine for MessagePack frames.
func (r *runner) handleFrame(b *bot, p []byte, joined *bool) error {
	head, w := binary.Uvarint(p)
	if w <= 0 {
		r.addErr("unexpected_frame", fmt.Errorf("bad frame header % x", p))
		return nil
	}
	rd := mpReader{b: p[w:]}
	if head&1 != 0 {
		_, w2 := binary.Uvarint(rd.b)
		if w2 <= 0 {
			r.addErr("unexpected_frame", fmt.Errorf("bad request id % x", p))
			return nil
		}
		rd.b = rd.b[w2:]
		head &^= 1
	}
	switch head {
	case mpHeadPos:
		now := nowNS() / 1e3
		id := rd.int()
		rd.int() // x
		rd.int() // y
		t := rd.int()
		if rd.err || len(rd.b) != 0 || id < 0 {
			r.addErr("unexpected_frame", fmt.Errorf("bad POS frame % x", p))
			return nil
		}
		r.handlePOS(b, uint64(id), t, now)
	case mpHeadJoined:
		room := rd.str()
		id := rd.int()
		if rd.err || *joined || room != b.room.name || id < 0 {
			r.addErr("unexpected_frame", fmt.Errorf("unexpected JOINED frame % x", p))
			return nil
		}
		*joined = true
		b.id = uint64(id)
		close(b.joined)
	case mpHeadErr:
		code := rd.str()
		said := fmt.Sprintf("ERR %s % x", code, p)
		if text := rd.str(); !rd.err {
			said = fmt.Sprintf("ERR %s %.200s", code, text) // as the text encoding has it
		}
		err := &errKind{"server_" + code, fmt.Errorf("server: %s", said)}
		if !*joined {
			return err
		}
		r.addErr(err.kind, err.err)
	}
	// Anything else (WELCOME, LIMITS, INFO, PONG, BYE) needs no action.
	return nil
}
