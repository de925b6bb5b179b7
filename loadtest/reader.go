package loadtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
)

// readBufSize is the per-connection read buffer: a few ticks' worth of POS
// lines for a room of 10. Longer lines are counted and skipped.
const readBufSize = 1024

// readLoop is the bot's only reader: it parses server lines until the
// connection fails or is closed.
func (r *runner) readLoop(b *bot) {
	defer r.readers.Done()
	defer close(b.exited)
	br := bufio.NewReaderSize(b.conn, readBufSize)
	joined := false
	if r.cfg.Encoding == EncodingMsgPack && r.cfg.Transport == TransportWS {
		r.readMsgPackLoop(b, br, &joined)
		return
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			r.addErr("line_too_long", fmt.Errorf("line longer than %d bytes: %.60q...", readBufSize, line))
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == nil {
				continue
			}
		}
		if err != nil {
			kind := "read"
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				kind = "eof"
				err = fmt.Errorf("server closed the connection: %w", err)
			}
			r.readerExit(b, kind, err)
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		if r.cfg.Encoding == EncodingMsgPack && bytes.Equal(line, []byte(mpUsingPrefix)) {
			// Everything after this line is binary frames.
			r.readMsgPackLoop(b, br, &joined)
			return
		}
		if err := r.handleLine(b, line, &joined); err != nil {
			r.readerExit(b, kindOf(err, "unexpected_line"), err)
			return
		}
	}
}

// readerExit records why the reader stopped. Before the bot is registered
// the connecting goroutine reports the failure; afterwards it is a
// disconnect.
func (r *runner) readerExit(b *bot, kind string, err error) {
	b.stateMu.Lock()
	if !b.registered && !b.dead.Load() {
		b.exitKind, b.exitErr = kind, err
		b.dead.Store(true)
		b.stateMu.Unlock()
		b.conn.Close()
		return
	}
	registered := b.registered
	b.stateMu.Unlock()
	if registered {
		r.markDead(b, kind, err)
	}
}

var (
	prefixPOS    = []byte("POS ")
	prefixJOINED = []byte("JOINED ")
	prefixERR    = []byte("ERR ")
	prefixPONG   = []byte("PONG")
	// tickwire servers greet with these; the reference server does not.
	prefixWELCOME = []byte("WELCOME ")
	prefixLIMITS  = []byte("LIMITS ")
	prefixINFO    = []byte("INFO ")
)

// handleLine processes one line (without its line ending). A non-nil error
// ends the connection; that happens only for an ERR before JOINED.
func (r *runner) handleLine(b *bot, line []byte, joined *bool) error {
	switch {
	case len(line) == 0: // keepalive
	case bytes.HasPrefix(line, prefixPOS):
		now := nowNS() / 1e3
		id, t, ok := parsePOS(line[len(prefixPOS):])
		if !ok {
			r.addErr("unexpected_line", fmt.Errorf("bad POS line %.80q", line))
			return nil
		}
		r.handlePOS(b, id, t, now)
	case bytes.HasPrefix(line, prefixJOINED):
		room, idb, _ := bytes.Cut(line[len(prefixJOINED):], []byte{' '})
		id, ok := parseUint(idb)
		if *joined || !ok || string(room) != b.room.name {
			r.addErr("unexpected_line", fmt.Errorf("unexpected JOINED line %.80q (room %s)", line, b.room.name))
			return nil
		}
		*joined = true
		b.id = id
		close(b.joined)
	case bytes.HasPrefix(line, prefixERR):
		code, _, _ := bytes.Cut(line[len(prefixERR):], []byte{' '})
		err := &errKind{"server_" + string(code), fmt.Errorf("server: %.200s", line)}
		if !*joined {
			return err
		}
		r.addErr(err.kind, err.err)
	case bytes.HasPrefix(line, prefixPONG), bytes.HasPrefix(line, prefixWELCOME), bytes.HasPrefix(line, prefixLIMITS), bytes.HasPrefix(line, prefixINFO):
	default:
		r.addErr("unexpected_line", fmt.Errorf("unexpected line %.80q", line))
	}
	return nil
}

// handlePOS records the delivery of room mate id's move sent at t (µs);
// now is the receive time in µs.
func (r *runner) handlePOS(b *bot, id uint64, t, now int64) {
	p := b.peer(id)
	if p == nil {
		switch {
		case id == b.id:
			r.addErr("own_pos", fmt.Errorf("bot %d (id %d) got its own POS", b.idx, id))
			return
		case !b.room.hasMember(id):
			r.addErr("foreign_pos", fmt.Errorf("bot %d in room %s got POS from id %d, not a member", b.idx, b.room.name, id))
			return
		}
		b.peers = append(b.peers, peer{id: id, t: -1})
		p = &b.peers[len(b.peers)-1]
	}
	switch {
	case t == p.t:
		r.addErr("pos_duplicate", fmt.Errorf("bot %d got POS id %d t %d twice", b.idx, id, t))
		return
	case t < p.t:
		r.addErr("pos_out_of_order", fmt.Errorf("bot %d got POS id %d t %d after t %d", b.idx, id, t, p.t))
	default:
		p.t = t
	}
	b.shard.delivered.Add(1)
	b.shard.hist.record(uint64(max(now-t, 0)))
}

// parsePOS parses "<id> <x> <y> <t>", returning id and t.
func parsePOS(b []byte) (id uint64, t int64, ok bool) {
	idb, rest, ok1 := bytes.Cut(b, []byte{' '})
	_, rest, ok2 := bytes.Cut(rest, []byte{' '}) // x
	_, tb, ok3 := bytes.Cut(rest, []byte{' '})   // y
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, false
	}
	id, ok = parseUint(idb)
	if !ok {
		return 0, 0, false
	}
	neg := len(tb) > 0 && tb[0] == '-'
	if neg {
		tb = tb[1:]
	}
	u, ok := parseUint(tb)
	if !ok || u > 1<<63-1 {
		return 0, 0, false
	}
	t = int64(u)
	if neg {
		t = -t
	}
	return id, t, true
}

// parseUint parses a non-empty decimal of at most 19 digits.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	return u, true
}
