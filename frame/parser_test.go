package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// feedAll feeds data to p in chunks of the given sizes (cycled; 0 means
// all at once) and collects the messages and the first error.
func feedAll(p *Parser, data []byte, chunks []int) (msgs []string, err error) {
	emit := func(m []byte) error { msgs = append(msgs, string(m)); return nil }
	i := 0
	for len(data) > 0 {
		n := len(data)
		if len(chunks) > 0 {
			n = max(1, min(chunks[i%len(chunks)], len(data)))
			i++
		}
		if err := p.Feed(data[:n], emit); err != nil {
			return msgs, err
		}
		data = data[n:]
	}
	return msgs, nil
}

func TestParserText(t *testing.T) {
	for _, chunk := range []int{0, 1, 2, 3, 7} {
		p := NewParser(64)
		keepalives := 0
		p.OnKeepalive = func() { keepalives++ }
		msgs, err := feedAll(p, []byte("AUTH guest\r\n\r\n\nPING 1\nPAR"), []int{chunk})
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if strings.Join(msgs, "|") != "AUTH guest|PING 1" || keepalives != 2 {
			t.Fatalf("chunk %d: %q, %d keepalives", chunk, msgs, keepalives)
		}
		if p.Buffered() != 3 {
			t.Fatalf("chunk %d: buffered %d, want 3", chunk, p.Buffered())
		}
		msgs, err = feedAll(p, []byte("T\n"), nil)
		if err != nil || len(msgs) != 1 || msgs[0] != "PART" || p.Buffered() != 0 || p.buf != nil {
			t.Fatalf("chunk %d: %q %v buffered %d", chunk, msgs, err, p.Buffered())
		}
	}
}

func TestParserTextTooLong(t *testing.T) {
	p := NewParser(64)
	msgs, err := feedAll(p, []byte("OK\n"+strings.Repeat("x", 66)), []int{5})
	if !errors.Is(err, ErrTooLong) || len(msgs) != 1 || msgs[0] != "OK" {
		t.Fatalf("%q %v", msgs, err)
	}
	if p.buf != nil {
		t.Fatal("buffer kept after an error")
	}
	// Exactly max bytes with CRLF is fine.
	p = NewParser(64)
	msgs, err = feedAll(p, []byte(strings.Repeat("y", 64)+"\r\n"), []int{1})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d msgs, %v", len(msgs), err)
	}
}

func TestParserBinary(t *testing.T) {
	var data []byte
	data = AppendBinary(data, []byte("abc"))
	data = AppendBinary(data, nil)
	data = AppendBinary(data, bytes.Repeat([]byte{7}, 200))
	for _, chunk := range []int{0, 1, 2, 100} {
		p := NewParser(256)
		p.SetMode(Binary)
		keepalives := 0
		p.OnKeepalive = func() { keepalives++ }
		msgs, err := feedAll(p, data, []int{chunk})
		if err != nil || len(msgs) != 2 || msgs[0] != "abc" || len(msgs[1]) != 200 || keepalives != 1 {
			t.Fatalf("chunk %d: %d msgs, %v, %d keepalives", chunk, len(msgs), err, keepalives)
		}
	}
	p := NewParser(64)
	p.SetMode(Binary)
	if _, err := feedAll(p, binary.AppendUvarint(nil, 65), nil); !errors.Is(err, ErrTooLong) {
		t.Fatalf("long prefix: %v", err)
	}
	p = NewParser(64)
	p.SetMode(Binary)
	if _, err := feedAll(p, []byte{0x80, 0x80, 0x80, 0x01}, []int{1}); !errors.Is(err, ErrBadPrefix) {
		t.Fatalf("bad prefix: %v", err)
	}
}

// A USE switch inside one Feed applies to the frames after it.
func TestParserModeSwitchInsideFeed(t *testing.T) {
	data := append([]byte("USE msgpack\n"), AppendBinary(nil, []byte("bin"))...)
	p := NewParser(64)
	var got []string
	err := p.Feed(data, func(m []byte) error {
		got = append(got, string(m))
		if string(m) == "USE msgpack" {
			p.SetMode(Binary)
		}
		return nil
	})
	if err != nil || strings.Join(got, "|") != "USE msgpack|bin" {
		t.Fatalf("%q %v", got, err)
	}
}

// When emit stops, the rest is kept and a later Feed(nil) continues.
func TestParserStopAndResume(t *testing.T) {
	errFull := errors.New("full")
	p := NewParser(64)
	var got []string
	stop := true
	emit := func(m []byte) error {
		got = append(got, string(m))
		if stop {
			return errFull
		}
		return nil
	}
	if err := p.Feed([]byte("A\nB\nC"), emit); err != errFull {
		t.Fatal(err)
	}
	if p.Buffered() != 5 {
		t.Fatalf("buffered %d", p.Buffered())
	}
	p.Hold([]byte("\nD"))
	stop = false
	if err := p.Feed(nil, emit); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "") != "AABC" || p.Buffered() != 1 {
		t.Fatalf("%q buffered %d", got, p.Buffered())
	}
}

func TestParserZeroAllocs(t *testing.T) {
	p := NewParser(0)
	data := []byte("MOVE 1 2 3\nMOVE 4 5 6\nMO")
	rest := []byte("VE 7 8 9\n")
	emit := func([]byte) error { return nil }
	allocs := testing.AllocsPerRun(100, func() {
		_ = p.Feed(data, emit)
		_ = p.Feed(rest, emit)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per run", allocs)
	}
}

func BenchmarkParserText(b *testing.B) {
	data := textPattern()
	p := NewParser(0)
	emit := func([]byte) error { return nil }
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Feed(data, emit)
	}
}

// readerAll reads data through a Reader with the given chunking and
// returns the messages, the keepalive count and the error (nil at EOF).
func readerAll(mode Mode, data []byte, max int, chunks []int) ([]string, int, error) {
	r := NewReader(&splitReader{data: data, chunks: chunks}, max)
	r.SetMode(mode)
	ka := 0
	r.OnKeepalive(func() { ka++ })
	var msgs []string
	for {
		m, err := r.Next()
		if err == io.EOF {
			return msgs, ka, nil
		}
		if err != nil {
			return msgs, ka, err
		}
		msgs = append(msgs, string(m))
	}
}

type splitReader struct {
	data   []byte
	chunks []int
	i      int
}

func (c *splitReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data))
	if len(c.chunks) > 0 {
		n = min(n, max(1, c.chunks[c.i%len(c.chunks)]))
		c.i++
	}
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// fuzzAgree checks that a Parser fed data in the chunks split gives and a
// Reader reading it in other chunks agree on messages, keepalives and
// error.
func fuzzAgree(t *testing.T, mode Mode, data []byte, maxMsg uint16, split []byte) {
	chunks := make([]int, len(split))
	for i, b := range split {
		chunks[i] = int(b)
	}
	wantMsgs, wantKA, wantErr := readerAll(mode, data, int(maxMsg), []int{7, 1, 300})
	p := NewParser(int(maxMsg))
	p.SetMode(mode)
	ka := 0
	p.OnKeepalive = func() { ka++ }
	msgs, err := feedAll(p, data, chunks)
	if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
		t.Fatalf("parser error %v, reader %v", err, wantErr)
	}
	if strings.Join(msgs, "\x00|") != strings.Join(wantMsgs, "\x00|") || len(msgs) != len(wantMsgs) {
		t.Fatalf("parser %q, reader %q", msgs, wantMsgs)
	}
	if ka != wantKA {
		t.Fatalf("parser %d keepalives, reader %d", ka, wantKA)
	}
	if p.Buffered() > p.Max()+maxPrefix+2 {
		t.Fatalf("parser holds %d bytes for a cap of %d", p.Buffered(), p.Max())
	}
}

func FuzzParserText(f *testing.F) {
	f.Add([]byte("AUTH guest\r\n\r\nMOVE 1 2\n"), uint16(0), []byte{1, 3, 5})
	f.Add([]byte("OK\n"+strings.Repeat("x", 200)+"\n"), uint16(64), []byte{0})
	f.Add([]byte(strings.Repeat("y", 64)+"\r\n"), uint16(64), []byte{65, 1})
	f.Fuzz(func(t *testing.T, data []byte, maxMsg uint16, split []byte) {
		fuzzAgree(t, Text, data, maxMsg, split)
	})
}

func FuzzParserBinary(f *testing.F) {
	f.Add(AppendBinary(AppendBinary(nil, []byte("abc")), nil), uint16(0), []byte{1})
	f.Add([]byte{0x80, 0x80, 0x80, 0x01}, uint16(64), []byte{2})
	f.Add(append(AppendBinary(nil, make([]byte, 64)), 0x41, 0x00), uint16(64), []byte{3, 60})
	f.Fuzz(func(t *testing.T, data []byte, maxMsg uint16, split []byte) {
		fuzzAgree(t, Binary, data, maxMsg, split)
	})
}
