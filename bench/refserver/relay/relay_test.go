package relay

import (
	"bufio"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// start runs a server on a loopback port and returns it with its address.
func start(t *testing.T, tick time.Duration) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(tick, nil)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (partial %q)", err, line)
	}
	return strings.TrimRight(line, "\r\n")
}

// join joins room and returns the entity id from JOINED.
func (c *client) join(room string) string {
	c.t.Helper()
	c.send("JOIN " + room)
	got := c.read()
	f := strings.Fields(got)
	if len(f) != 3 || f[0] != "JOINED" || f[1] != room {
		c.t.Fatalf("JOIN %s: got %q", room, got)
	}
	return f[2]
}

// sync sends a PING and returns every line received before the PONG, which
// proves the server has processed everything sent before it.
func (c *client) sync(token string) []string {
	c.t.Helper()
	c.send("PING " + token)
	var before []string
	for {
		l := c.read()
		if l == "PONG "+token {
			return before
		}
		before = append(before, l)
	}
}

func TestRelaySupersedeSelfAndIsolation(t *testing.T) {
	s, addr := start(t, time.Hour) // ticks are driven by hand below
	a, b, c, other := dial(t, addr), dial(t, addr), dial(t, addr), dial(t, addr)
	ida := a.join("r1")
	idb := b.join("r1")
	idc := c.join("r1")
	other.join("r2")

	a.send("MOVE 1 2 100", "MOVE 3 4 200") // same tick: only the latest counts
	b.send("MOVE -5 6 300")
	a.sync("a")
	b.sync("b")
	s.flushAll(nil, nil, nil)

	want := map[string][]string{
		"a": {"POS " + idb + " -5 6 300"},
		"b": {"POS " + ida + " 3 4 200"},
		"c": {"POS " + ida + " 3 4 200", "POS " + idb + " -5 6 300"},
	}
	for name, cl := range map[string]*client{"a": a, "b": b, "c": c} {
		got := cl.sync(name)
		if strings.Join(sorted(got), "|") != strings.Join(sorted(want[name]), "|") {
			t.Errorf("%s got %q, want %q", name, got, want[name])
		}
	}
	if got := other.sync("o"); len(got) != 0 {
		t.Errorf("member of another room got %q", got)
	}

	// Nothing moved since: the next tick sends nothing.
	s.flushAll(nil, nil, nil)
	for _, cl := range []*client{a, b, c} {
		if got := cl.sync("idle"); len(got) != 0 {
			t.Errorf("idle tick sent %q", got)
		}
	}

	// Leaving (disconnecting) removes a member from the room.
	c.nc.Close()
	for deadline := time.Now().Add(5 * time.Second); members(s, "r1") != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("room r1 has %d members after a disconnect, want 2", members(s, "r1"))
		}
	}
	a.send("MOVE 7 8 400")
	a.sync("a2")
	s.flushAll(nil, nil, nil)
	if got := b.sync("b2"); len(got) != 1 || got[0] != "POS "+ida+" 7 8 400" {
		t.Errorf("b got %q", got)
	}
	_ = idc
	a.nc.Close()
	b.nc.Close()
	other.nc.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		n := len(s.rooms)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rooms left after everyone disconnected", n)
		}
	}
}

func members(s *Server, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}

func TestRelayTicking(t *testing.T) {
	_, addr := start(t, 10*time.Millisecond)
	a, b := dial(t, addr), dial(t, addr)
	ida := a.join("room_1")
	b.join("room_1")
	for i := 1; i <= 3; i++ {
		a.send("MOVE 10 20 " + string(rune('0'+i)))
		want := "POS " + ida + " 10 20 " + string(rune('0'+i))
		if got := b.read(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestRelayErrors(t *testing.T) {
	_, addr := start(t, 10*time.Millisecond)
	a := dial(t, addr)
	a.send("MOVE 1 2 3")
	if got := a.read(); !strings.HasPrefix(got, "ERR not_joined ") {
		t.Errorf("MOVE before JOIN: %q", got)
	}
	a.send("DANCE now")
	if got := a.read(); !strings.HasPrefix(got, "ERR unknown_command ") {
		t.Errorf("unknown command: %q", got)
	}
	a.send("JOIN bad room!")
	if got := a.read(); !strings.HasPrefix(got, "ERR bad_room ") {
		t.Errorf("bad room: %q", got)
	}
	a.send("JOIN " + strings.Repeat("x", 33))
	if got := a.read(); !strings.HasPrefix(got, "ERR bad_room ") {
		t.Errorf("long room: %q", got)
	}
	a.send("", "PING", "PING tok 1") // blank keepalive is ignored
	if got := a.read(); got != "PONG" {
		t.Errorf("PING: %q", got)
	}
	if got := a.read(); got != "PONG tok 1" {
		t.Errorf("PING tok: %q", got)
	}
	// CRLF is accepted.
	if _, err := a.nc.Write([]byte("JOIN crlf\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := a.read(); !strings.HasPrefix(got, "JOINED crlf ") {
		t.Errorf("CRLF JOIN: %q", got)
	}
	for _, bad := range []string{"MOVE 1 2", "MOVE 1 2 x", "MOVE 2147483648 0 0", "MOVE 1 2 3 4"} {
		a.send(bad)
		if got := a.read(); !strings.HasPrefix(got, "ERR bad_request ") {
			t.Errorf("%q: %q", bad, got)
		}
	}
	a.send("MOVE -2147483648 2147483647 -9223372036854775808")
	if got := a.sync("ok"); len(got) != 0 {
		t.Errorf("extreme MOVE: %q", got)
	}
	// An over-long line gets an error and the connection is closed.
	if _, err := a.nc.Write([]byte(strings.Repeat("A", MaxLine))); err != nil {
		t.Fatal(err)
	}
	if got := a.read(); !strings.HasPrefix(got, "ERR line_too_long ") {
		t.Errorf("long line: %q", got)
	}
	if _, err := a.br.ReadString('\n'); err == nil {
		t.Error("connection still open after over-long line")
	}
}

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bits uint
		want int64
		ok   bool
	}{
		{"0", 32, 0, true}, {"-1", 32, -1, true}, {"2147483647", 32, 2147483647, true},
		{"-2147483648", 32, -2147483648, true}, {"2147483648", 32, 0, false},
		{"9223372036854775807", 64, 9223372036854775807, true},
		{"-9223372036854775808", 64, -9223372036854775808, true},
		{"9223372036854775808", 64, 0, false}, {"99999999999999999999", 64, 0, false},
		{"", 32, 0, false}, {"-", 32, 0, false}, {"+1", 32, 0, false}, {"1x", 32, 0, false},
	} {
		got, ok := parseInt([]byte(tc.in), tc.bits)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseInt(%q, %d) = %d, %v; want %d, %v", tc.in, tc.bits, got, ok, tc.want, tc.ok)
		}
	}
}

func sorted(s []string) []string {
	return slices.Sorted(slices.Values(s))
}

func TestMoveDoesNotAllocate(t *testing.T) {
	s := New(time.Hour, nil)
	c := &conn{s: s, id: 1, room: &room{name: "r"}}
	c.room.members = []*conn{c}
	line := []byte("MOVE -12 345 1234567890")
	var reply []byte
	allocs := testing.AllocsPerRun(1000, func() {
		reply = c.handle(line, reply[:0])
		c.room.dirty = c.room.dirty[:0]
		c.dirty = false
	})
	if allocs != 0 || len(reply) != 0 {
		t.Errorf("MOVE: %v allocations, reply %q", allocs, reply)
	}
}
