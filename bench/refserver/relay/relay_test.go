package relay

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
	"github.com/tickwire/tickwire/servertest"
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

// dial connects a line client; the server is on its own clock.
func dial(t *testing.T, addr string) *servertest.LineConn {
	t.Helper()
	return servertest.DialLine(t, addr)
}

// join joins room and returns the entity id from JOINED.
func join(t *testing.T, c *servertest.LineConn, room string) string {
	t.Helper()
	c.Send("JOIN " + room)
	got := c.ReadLine()
	f := strings.Fields(got)
	if len(f) != 3 || f[0] != "JOINED" || f[1] != room {
		t.Fatalf("JOIN %s: got %q", room, got)
	}
	return f[2]
}

func TestRelaySupersedeSelfAndIsolation(t *testing.T) {
	s, addr := start(t, time.Hour) // ticks are driven by hand below
	a, b, c, other := dial(t, addr), dial(t, addr), dial(t, addr), dial(t, addr)
	ida := join(t, a, "r1")
	idb := join(t, b, "r1")
	idc := join(t, c, "r1")
	join(t, other, "r2")

	a.Send("MOVE 1 2 100", "MOVE 3 4 200") // same tick: only the latest counts
	b.Send("MOVE -5 6 300")
	a.Sync()
	b.Sync()
	s.flushAll(nil, nil, nil)

	want := map[string][]string{
		"a": {"POS " + idb + " -5 6 300"},
		"b": {"POS " + ida + " 3 4 200"},
		"c": {"POS " + ida + " 3 4 200", "POS " + idb + " -5 6 300"},
	}
	for name, cl := range map[string]*servertest.LineConn{"a": a, "b": b, "c": c} {
		got := cl.Sync()
		if strings.Join(sorted(got), "|") != strings.Join(sorted(want[name]), "|") {
			t.Errorf("%s got %q, want %q", name, got, want[name])
		}
	}
	if got := other.Sync(); len(got) != 0 {
		t.Errorf("member of another room got %q", got)
	}

	// Nothing moved since: the next tick sends nothing.
	s.flushAll(nil, nil, nil)
	for _, cl := range []*servertest.LineConn{a, b, c} {
		if got := cl.Sync(); len(got) != 0 {
			t.Errorf("idle tick sent %q", got)
		}
	}

	// Leaving (disconnecting) removes a member from the room.
	c.Close()
	for deadline := time.Now().Add(5 * time.Second); members(s, "r1") != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("room r1 has %d members after a disconnect, want 2", members(s, "r1"))
		}
	}
	a.Send("MOVE 7 8 400")
	a.Sync()
	s.flushAll(nil, nil, nil)
	if got := b.Sync(); len(got) != 1 || got[0] != "POS "+ida+" 7 8 400" {
		t.Errorf("b got %q", got)
	}
	_ = idc
	a.Close()
	b.Close()
	other.Close()
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
	ida := join(t, a, "room_1")
	join(t, b, "room_1")
	for i := 1; i <= 3; i++ {
		a.Send("MOVE 10 20 " + string(rune('0'+i)))
		want := "POS " + ida + " 10 20 " + string(rune('0'+i))
		if got := b.ReadLine(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestRelayErrors(t *testing.T) {
	_, addr := start(t, 10*time.Millisecond)
	a := dial(t, addr)
	a.Send("MOVE 1 2 3")
	if got := a.ReadLine(); !strings.HasPrefix(got, "ERR not_joined ") {
		t.Errorf("MOVE before JOIN: %q", got)
	}
	a.Send("DANCE now")
	if got := a.ReadLine(); !strings.HasPrefix(got, "ERR unknown_command ") {
		t.Errorf("unknown command: %q", got)
	}
	a.Send("JOIN bad room!")
	if got := a.ReadLine(); !strings.HasPrefix(got, "ERR bad_room ") {
		t.Errorf("bad room: %q", got)
	}
	a.Send("JOIN " + strings.Repeat("x", 33))
	if got := a.ReadLine(); !strings.HasPrefix(got, "ERR bad_room ") {
		t.Errorf("long room: %q", got)
	}
	a.Send("", "PING", "PING tok 1") // blank keepalive is ignored
	if got := a.ReadLine(); got != "PONG" {
		t.Errorf("PING: %q", got)
	}
	if got := a.ReadLine(); got != "PONG tok 1" {
		t.Errorf("PING tok: %q", got)
	}
	// CRLF is accepted.
	if _, err := a.Conn().Write([]byte("JOIN crlf\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := a.ReadLine(); !strings.HasPrefix(got, "JOINED crlf ") {
		t.Errorf("CRLF JOIN: %q", got)
	}
	for _, bad := range []string{"MOVE 1 2", "MOVE 1 2 x", "MOVE 2147483648 0 0", "MOVE 1 2 3 4"} {
		a.Send(bad)
		if got := a.ReadLine(); !strings.HasPrefix(got, "ERR bad_request ") {
			t.Errorf("%q: %q", bad, got)
		}
	}
	a.Send("MOVE -2147483648 2147483647 -9223372036854775808")
	if got := a.Sync(); len(got) != 0 {
		t.Errorf("extreme MOVE: %q", got)
	}
	// An over-long line gets an error and the connection is closed.
	if _, err := a.Conn().Write([]byte(strings.Repeat("A", MaxLine))); err != nil {
		t.Fatal(err)
	}
	if got := a.ReadLine(); !strings.HasPrefix(got, "ERR line_too_long ") {
		t.Errorf("long line: %q", got)
	}
	if rest := a.ExpectClosed(); len(rest) != 0 {
		t.Errorf("after the over-long line: %q", rest)
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

// The reference server speaks the relay protocol as package relayproto
// defines it: its lines decode, in the text encoding, to the messages the
// load generator and the tickwire relay use, and the text its lines are
// parsed from is what tickwire's codec writes.
func TestSpeaksRelayproto(t *testing.T) {
	s, addr := start(t, time.Hour)
	reg := msg.NewRegistry()
	relayproto.Register(reg)
	a, b := dial(t, addr), dial(t, addr)
	a.Send(string(mustAppend(t, reg, &relayproto.Join{Room: "proto"})))
	joined := decode[relayproto.Joined](t, reg, a.ReadLine())
	if joined.Room != "proto" || joined.ID == 0 {
		t.Fatalf("JOINED %+v", joined)
	}
	join(t, b, "proto")
	a.Send(string(mustAppend(t, reg, &relayproto.Move{X: -7, Y: 1 << 30, T: -1 << 60})))
	a.Sync()
	s.flushAll(nil, nil, nil)
	pos := decode[relayproto.Pos](t, reg, b.ReadLine())
	if *pos != (relayproto.Pos{ID: joined.ID, X: -7, Y: 1 << 30, T: -1 << 60}) {
		t.Fatalf("POS %+v", pos)
	}
	if !relayproto.ValidRoom("proto") || relayproto.ValidRoom("bad room") || relayproto.ValidRoom(strings.Repeat("x", relayproto.MaxRoom+1)) {
		t.Error("relayproto.ValidRoom disagrees with the reference server's rule")
	}
}

// mustAppend writes m as a text line without its line ending.
func mustAppend(t *testing.T, reg *msg.Registry, m any) []byte {
	t.Helper()
	b, err := reg.Append(nil, msg.Text, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b[:len(b)-1]
}

// decode parses a line from the server as a T.
func decode[T any](t *testing.T, reg *msg.Registry, line string) *T {
	t.Helper()
	env, err := reg.Decode(msg.Text, []byte(line), msg.ToClient)
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	m, ok := env.Msg.(*T)
	if !ok {
		t.Fatalf("%q is a %s", line, env.Type.Name)
	}
	return m
}
