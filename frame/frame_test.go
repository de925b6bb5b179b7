package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns its data at most n bytes per Read, then io.EOF (or
// err, when set).
type chunkReader struct {
	data []byte
	n    int
	err  error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	k := min(max(c.n, 1), len(p), len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

// bufBound is the most buffer a Reader may ever hold for a given cap.
func bufBound(max int) int { return maxInt(initialBuffer, max+maxPrefix+2) }

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// readAll returns every message until the first error, checking the
// buffer bound after each call.
func readAll(t testing.TB, r *Reader) ([]string, error) {
	t.Helper()
	var out []string
	for i := 0; ; i++ {
		if i > 1<<20 {
			t.Fatal("reader does not terminate")
		}
		m, err := r.Next()
		if c := cap(r.buf); c > bufBound(r.max) {
			t.Fatalf("buffer capacity %d exceeds bound %d (max %d)", c, bufBound(r.max), r.max)
		}
		if err != nil {
			return out, err
		}
		if len(m) > r.max {
			t.Fatalf("message of %d bytes exceeds max %d", len(m), r.max)
		}
		out = append(out, string(m))
	}
}

func eqStrings(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages %q, want %d %q", len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("message %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestNewReaderClampsMax(t *testing.T) {
	for _, c := range []struct{ in, want int }{
		{0, DefaultMaxMessage}, {1, MinMessageLimit}, {MinMessageLimit, MinMessageLimit},
		{1000, 1000}, {MaxMessageLimit, MaxMessageLimit}, {MaxMessageLimit + 1, MaxMessageLimit}, {-5, MinMessageLimit},
	} {
		if got := NewReader(nil, c.in).Max(); got != c.want {
			t.Errorf("NewReader(max=%d).Max() = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestModeString(t *testing.T) {
	if Text.String() != "text" || Binary.String() != "binary" {
		t.Fatalf("Mode strings: %q %q", Text, Binary)
	}
	if !bytes.Equal(Keepalive(Text), []byte("\n")) || !bytes.Equal(Keepalive(Binary), []byte{0}) {
		t.Fatal("Keepalive frames")
	}
}

func TestTextByteByByte(t *testing.T) {
	data := "AUTH guest\nMOVE 10 20\nSAY hello there\n"
	r := NewReader(&chunkReader{data: []byte(data), n: 1}, 0)
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
	eqStrings(t, got, []string{"AUTH guest", "MOVE 10 20", "SAY hello there"})
}

func TestTextManyPerRead(t *testing.T) {
	var b strings.Builder
	var want []string
	for i := 0; i < 1000; i++ {
		line := "MOVE " + strings.Repeat("x", i%50) + string(rune('a'+i%26))
		want = append(want, line)
		b.WriteString(line + "\n")
	}
	// One big read, and reads of awkward sizes that split lines anywhere.
	for _, n := range []int{len(b.String()), 7, 511, 513} {
		r := NewReader(&chunkReader{data: []byte(b.String()), n: n}, 0)
		got, err := readAll(t, r)
		if err != io.EOF {
			t.Fatalf("chunk %d: err = %v", n, err)
		}
		eqStrings(t, got, want)
	}
}

func TestTextCRLF(t *testing.T) {
	r := NewReader(strings.NewReader("A\r\nB b\r\n\r\nC\nD\rE\n\r\r\n"), 0)
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	// Only one "\r" right before "\n" is dropped; others stay (the text
	// decoder refuses them as control bytes).
	eqStrings(t, got, []string{"A", "B b", "C", "D\rE", "\r"})
}

func TestKeepalivesSkipped(t *testing.T) {
	r := NewReader(strings.NewReader("\n\n\r\nX\n\n\r\n"), 0)
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	eqStrings(t, got, []string{"X"})

	var bin []byte
	bin = append(bin, 0, 0)
	bin = AppendBinary(bin, []byte("x"))
	bin = AppendBinary(bin, nil)
	bin = append(bin, 0x80, 0x00) // a non-minimal zero is a keepalive too
	r = NewReader(bytes.NewReader(bin), 0)
	r.SetMode(Binary)
	got, err = readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	eqStrings(t, got, []string{"x"})
}

func TestOnKeepaliveCountsSkippedKeepalives(t *testing.T) {
	r := NewReader(strings.NewReader("\n\r\nX\n\n"), 0)
	n := 0
	r.OnKeepalive(func() { n++ })
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	eqStrings(t, got, []string{"X"})
	if n != 3 {
		t.Fatalf("keepalives counted %d, want 3", n)
	}
	bin := AppendBinary(AppendBinary(nil, nil), []byte("y"))
	r = NewReader(bytes.NewReader(bin), 0)
	r.SetMode(Binary)
	n = 0
	r.OnKeepalive(func() { n++ })
	if _, err := readAll(t, r); err != io.EOF {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("binary keepalives counted %d, want 1", n)
	}
}

func TestTextLimits(t *testing.T) {
	const max = 64
	exact := strings.Repeat("a", max)
	for _, c := range []struct {
		name string
		data string
		want []string
		err  error
	}{
		{"exactly max", exact + "\n", []string{exact}, io.EOF},
		{"exactly max CRLF", exact + "\r\n", []string{exact}, io.EOF},
		{"max+1", exact + "b\n", nil, ErrTooLong},
		{"max+1 before CRLF", exact + "b\r\n", nil, ErrTooLong},
		{"earlier messages first", "ONE\nTWO 2\n" + strings.Repeat("x", 1000) + "\nLATER\n", []string{"ONE", "TWO 2"}, ErrTooLong},
		{"unterminated long", "ONE\n" + strings.Repeat("x", 10000), []string{"ONE"}, ErrTooLong},
		{"partial within slack at EOF", "ONE\n" + exact + "b", []string{"ONE"}, io.EOF},
	} {
		for _, n := range []int{1, 3, 1 << 20} {
			r := NewReader(&chunkReader{data: []byte(c.data), n: n}, max)
			got, err := readAll(t, r)
			if err != c.err {
				t.Fatalf("%s (chunk %d): err = %v, want %v", c.name, n, err, c.err)
			}
			eqStrings(t, got, c.want)
		}
	}
}

func TestTextTooLongReadsBounded(t *testing.T) {
	// An endless line: the reader must give up after about max bytes, not
	// read (or buffer) the whole stream.
	src := &countingReader{r: &repeatReader{pattern: []byte("x")}}
	r := NewReader(src, 100)
	if _, err := r.Next(); err != ErrTooLong {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
	if src.n > initialBuffer {
		t.Fatalf("read %d bytes before refusing a line over 100 bytes", src.n)
	}
	if cap(r.buf) > bufBound(100) {
		t.Fatalf("buffer grew to %d", cap(r.buf))
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestBinaryFrames(t *testing.T) {
	var data []byte
	want := []string{"a", strings.Repeat("b", 127), strings.Repeat("c", 128), strings.Repeat("d", 300)}
	for _, m := range want {
		data = AppendBinary(data, []byte(m))
	}
	for _, n := range []int{1, 2, 100, len(data)} {
		r := NewReader(&chunkReader{data: data, n: n}, 0)
		r.SetMode(Binary)
		got, err := readAll(t, r)
		if err != io.EOF {
			t.Fatalf("chunk %d: %v", n, err)
		}
		eqStrings(t, got, want)
	}
}

func TestBinaryTooLong(t *testing.T) {
	const max = 4096
	for _, c := range []struct {
		name   string
		prefix uint64
		want   []error
	}{
		{"max+1", max + 1, []error{ErrTooLong}},
		{"3-byte prefix above max", 2_000_000, []error{ErrTooLong}},
		// A 4 GiB prefix needs 5 varint bytes: refused as malformed (the
		// server answers both alike with too_long).
		{"4 GiB", 1 << 32, []error{ErrTooLong, ErrBadPrefix}},
		{"2^63", 1 << 63, []error{ErrTooLong, ErrBadPrefix}},
	} {
		var data []byte
		data = AppendBinary(data, []byte("ok"))
		data = binary.AppendUvarint(data, c.prefix)
		data = append(data, make([]byte, 100)...)
		r := NewReader(bytes.NewReader(data), max)
		r.SetMode(Binary)
		got, err := readAll(t, r)
		eqStrings(t, got, []string{"ok"})
		if !errors.Is(err, c.want[0]) && (len(c.want) < 2 || !errors.Is(err, c.want[1])) {
			t.Fatalf("%s: err = %v, want one of %v", c.name, err, c.want)
		}
		if cap(r.buf) > max+8 {
			t.Fatalf("%s: buffer capacity %d > max+8", c.name, cap(r.buf))
		}
	}
}

func TestBinaryHugePrefixAllocatesNothingBig(t *testing.T) {
	data := binary.AppendUvarint(nil, 1<<32)
	data = append(data, 1, 2, 3)
	var r Reader
	allocs := testing.AllocsPerRun(100, func() {
		r = Reader{src: bytes.NewReader(data), max: DefaultMaxMessage, mode: Binary}
		if _, err := r.Next(); err == nil {
			t.Fatal("no error for a 4 GiB prefix")
		}
	})
	// The bytes.Reader and the 512-byte initial buffer.
	if allocs > 2 {
		t.Fatalf("%v allocations for a refused 4 GiB frame", allocs)
	}
	if cap(r.buf) > DefaultMaxMessage+8 {
		t.Fatalf("buffer capacity %d", cap(r.buf))
	}
}

func TestBinaryMalformedPrefix(t *testing.T) {
	for _, data := range [][]byte{
		{0x80, 0x80, 0x80, 0x01},
		{0xff, 0xff, 0xff},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	} {
		r := NewReader(bytes.NewReader(data), 0)
		r.SetMode(Binary)
		if _, err := r.Next(); err != ErrBadPrefix {
			t.Fatalf("% x: err = %v, want ErrBadPrefix", data, err)
		}
	}
	// An incomplete prefix at EOF is a partial message, not malformed.
	r := NewReader(bytes.NewReader([]byte{0x80, 0x80}), 0)
	r.SetMode(Binary)
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("partial prefix: err = %v, want io.EOF", err)
	}
}

func TestModeSwitchMidBuffer(t *testing.T) {
	var data []byte
	data = append(data, "USE msgpack\n"...)
	data = AppendBinary(data, []byte("abc"))
	data = AppendBinary(data, []byte("line\nwith newline"))
	data = AppendBinary(data, []byte("USE text"))
	data = append(data, "BACK in text\n"...)
	r := NewReader(bytes.NewReader(data), 0) // one read holds everything
	next := func(want string) {
		t.Helper()
		m, err := r.Next()
		if err != nil || string(m) != want {
			t.Fatalf("Next = %q, %v; want %q", m, err, want)
		}
	}
	next("USE msgpack")
	if r.Buffered() != len(data)-len("USE msgpack\n") {
		t.Fatalf("Buffered = %d", r.Buffered())
	}
	r.SetMode(Binary)
	if r.Mode() != Binary {
		t.Fatal("mode not switched")
	}
	next("abc")
	next("line\nwith newline")
	next("USE text")
	r.SetMode(Text)
	next("BACK in text")
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("err = %v", err)
	}
}

func TestEOFWithPartialMessage(t *testing.T) {
	r := NewReader(strings.NewReader("A\nBC"), 0)
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	eqStrings(t, got, []string{"A"})

	data := AppendBinary(nil, []byte("abc"))
	data = append(data, 5, 'x')
	r = NewReader(bytes.NewReader(data), 0)
	r.SetMode(Binary)
	got, err = readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	eqStrings(t, got, []string{"abc"})

	// Data delivered together with the error is still returned first, and
	// the underlying error is passed on (sticky).
	boom := errors.New("boom")
	r = NewReader(iotest.DataErrReader(&chunkReader{data: []byte("X\nY\nZ"), n: 100, err: boom}), 0)
	got, err = readAll(t, r)
	if err != boom {
		t.Fatalf("err = %v, want boom", err)
	}
	eqStrings(t, got, []string{"X", "Y"})
	if _, err := r.Next(); err != boom {
		t.Fatalf("second Next err = %v, want boom again", err)
	}
}

type badCountReader struct{}

func (badCountReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestInvalidReadCount(t *testing.T) {
	if _, err := NewReader(badCountReader{}, 0).Next(); err == nil {
		t.Fatal("no error for a reader returning n > len(p)")
	}
}

func TestLongMessageMemoryReturned(t *testing.T) {
	big := strings.Repeat("y", 3000)
	r := NewReader(strings.NewReader(big+"\nsmall\n"), 0)
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	eqStrings(t, got, []string{big, "small"})
	if cap(r.buf) > initialBuffer {
		t.Fatalf("buffer still %d bytes after the long message passed", cap(r.buf))
	}
}

func TestBeginEndBinary(t *testing.T) {
	for _, n := range []int{0, 1, 126, 127, 128, 129, 300, 16382, 16383, 16384, 16385, 100000} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i*7 + n)
		}
		for _, prefix := range [][]byte{nil, []byte("earlier frame bytes")} {
			dst := append([]byte(nil), prefix...)
			dst, start := BeginBinary(dst)
			if start != len(prefix)+1 {
				t.Fatalf("start = %d", start)
			}
			dst = append(dst, payload...)
			dst = EndBinary(dst, start)
			want := AppendBinary(append([]byte(nil), prefix...), payload)
			if !bytes.Equal(dst, want) {
				t.Fatalf("n=%d prefix=%d: BeginBinary/EndBinary differs from AppendBinary", n, len(prefix))
			}
			// And it reads back.
			r := NewReader(bytes.NewReader(dst[len(prefix):]), MaxMessageLimit)
			r.SetMode(Binary)
			m, err := r.Next()
			if n == 0 {
				if err != io.EOF {
					t.Fatalf("empty frame: %v", err)
				}
				continue
			}
			if err != nil || !bytes.Equal(m, payload) {
				t.Fatalf("n=%d: read back %d bytes, %v", n, len(m), err)
			}
		}
	}
}

func TestAppendLine(t *testing.T) {
	if got := string(AppendLine([]byte("A\n"), []byte("B c"))); got != "A\nB c\n" {
		t.Fatalf("AppendLine = %q", got)
	}
}

// repeatReader returns its pattern over and over, forever.
type repeatReader struct {
	pattern []byte
	off     int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.pattern[r.off:])
		n += k
		r.off = (r.off + k) % len(r.pattern)
	}
	return n, nil
}

func textPattern() []byte {
	var b []byte
	for i := 0; i < 37; i++ { // not a divisor of the buffer size
		b = append(b, "POS 12 345 678\n"...)
	}
	return b
}

func binaryPattern() []byte {
	var b []byte
	for i := 0; i < 37; i++ {
		b = AppendBinary(b, []byte{0x54, 0x0c, 0xcd, 0x01, 0x59, 0xcd, 0x02, 0xa6})
	}
	return b
}

func TestReaderZeroAllocs(t *testing.T) {
	for _, c := range []struct {
		mode    Mode
		pattern []byte
	}{{Text, textPattern()}, {Binary, binaryPattern()}} {
		r := NewReader(&repeatReader{pattern: c.pattern}, 0)
		r.SetMode(c.mode)
		for i := 0; i < 100; i++ { // warm up: allocate the buffer
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(10000, func() {
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%v: %v allocations per message in steady state", c.mode, allocs)
		}
	}
}

func benchmarkReader(b *testing.B, mode Mode, pattern []byte) {
	r := NewReader(&repeatReader{pattern: pattern}, 0)
	r.SetMode(mode)
	b.SetBytes(int64(len(pattern) / 37))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReaderText(b *testing.B)   { benchmarkReader(b, Text, textPattern()) }
func BenchmarkReaderBinary(b *testing.B) { benchmarkReader(b, Binary, binaryPattern()) }

// refText is the reference model of text framing over a whole stream.
func refText(data []byte, max int) ([]string, error) {
	var out []string
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(data) > max+1 {
				return out, ErrTooLong
			}
			return out, io.EOF
		}
		line := data[:i]
		data = data[i+1:]
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > max {
			return out, ErrTooLong
		}
		if len(line) > 0 {
			out = append(out, string(line))
		}
	}
}

// refBinary is the reference model of binary framing over a whole stream.
func refBinary(data []byte, max int) ([]string, error) {
	var out []string
	for len(data) > 0 {
		n, w := binary.Uvarint(data)
		switch {
		case w == 0 && len(data) < maxPrefix:
			return out, io.EOF
		case w <= 0 || w > maxPrefix:
			return out, ErrBadPrefix
		case n > uint64(max):
			return out, ErrTooLong
		case uint64(len(data)-w) < n:
			return out, io.EOF
		}
		if n > 0 {
			out = append(out, string(data[w:w+int(n)]))
		}
		data = data[w+int(n):]
	}
	return out, io.EOF
}

func fuzzReader(t *testing.T, mode Mode, data []byte, max uint16, chunk uint8) {
	r := NewReader(&chunkReader{data: data, n: int(chunk)}, int(max))
	r.SetMode(mode)
	got, err := readAll(t, r)
	ref := refText
	if mode == Binary {
		ref = refBinary
	}
	want, wantErr := ref(data, r.Max())
	if err != wantErr {
		t.Fatalf("err = %v, reference %v", err, wantErr)
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages, reference %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("message %d = %q, reference %q", i, got[i], want[i])
		}
		if mode == Text && strings.ContainsRune(got[i], '\n') {
			t.Fatalf("text message %d contains a newline", i)
		}
	}
}

func FuzzReaderText(f *testing.F) {
	f.Add([]byte("AUTH guest\nMOVE 1 2\n"), uint16(0), uint8(1))
	f.Add([]byte("A\r\n\r\n\nB"), uint16(64), uint8(3))
	f.Add([]byte("OK\n"+strings.Repeat("x", 200)+"\n"), uint16(64), uint8(0))
	f.Add([]byte(strings.Repeat("y", 65)+"\r\n"), uint16(64), uint8(255))
	f.Add([]byte("\r\r\n\x00\xff\n"), uint16(100), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, max uint16, chunk uint8) {
		fuzzReader(t, Text, data, max, chunk)
	})
}

func FuzzReaderBinary(f *testing.F) {
	f.Add(AppendBinary(AppendBinary(nil, []byte("abc")), nil), uint16(0), uint8(1))
	f.Add(binary.AppendUvarint(nil, 1<<32), uint16(0), uint8(0))
	f.Add([]byte{0x80, 0x80, 0x80, 0x01}, uint16(64), uint8(2))
	f.Add(append(AppendBinary(nil, make([]byte, 64)), 0x41, 0x00), uint16(64), uint8(7))
	f.Add([]byte{0xc1, 0x00, 0x00}, uint16(300), uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, max uint16, chunk uint8) {
		fuzzReader(t, Binary, data, max, chunk)
	})
}
