package relay

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

type peer struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func start(t *testing.T) *transport.PipeListener {
	t.Helper()
	reg := msg.NewRegistry()
	Register(reg)
	srv, err := server.New(server.Config{Registry: reg, AutoLogin: true, AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, TickRate: 50,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, New())
	if err != nil {
		t.Fatal(err)
	}
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln
}

func dial(t *testing.T, ln *transport.PipeListener) *peer {
	t.Helper()
	c, err := ln.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &peer{t: t, c: c, br: bufio.NewReader(c)}
	p.expect("WELCOME ")
	return p
}

func (p *peer) send(line string) {
	p.t.Helper()
	p.c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(p.c, line+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

// expect reads lines until one starts with prefix and returns it; it fails
// on a timeout.
func (p *peer) expect(prefix string) string {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		line, err := p.br.ReadString('\n')
		if err != nil {
			p.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
}

func TestRelayDeliversLatestPositionToRoomMatesOnly(t *testing.T) {
	ln := start(t)
	a, b, other := dial(t, ln), dial(t, ln), dial(t, ln)
	a.send("JOIN r1")
	b.send("JOIN r1")
	other.send("JOIN r2")
	idA := strings.Fields(a.expect("JOINED r1 "))[2]
	b.expect("JOINED r1 ")
	other.expect("JOINED r2 ")

	// Several moves; whatever ticks they land in, b's last POS for a
	// carries the last one.
	for i := 1; i <= 5; i++ {
		a.send("MOVE 10 20 " + string(rune('0'+i)))
	}
	for {
		f := strings.Fields(b.expect("POS " + idA + " "))
		if f[4] == "5" {
			if f[2] != "10" || f[3] != "20" {
				t.Fatalf("POS %v: wrong position", f)
			}
			break
		}
	}
	// The mover never hears its own POS, and the other room hears nothing:
	// a PING round trip flushes anything that was going to arrive.
	for _, p := range []*peer{a, other} {
		p.send("PING sync")
		p.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			line, err := p.br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "POS ") {
				t.Fatalf("unexpected %q", line)
			}
			if strings.HasPrefix(line, "PONG sync") {
				break
			}
		}
	}
}

func TestRelayRefusals(t *testing.T) {
	ln := start(t)
	p := dial(t, ln)
	p.send("MOVE 1 2 3")
	if got := p.expect("ERR "); !strings.HasPrefix(got, "ERR not_joined") {
		t.Errorf("MOVE before JOIN: %q", got)
	}
	p.send("JOIN bad/room")
	if got := p.expect("ERR "); !strings.HasPrefix(got, "ERR bad_field") {
		t.Errorf("bad room: %q", got)
	}
}
