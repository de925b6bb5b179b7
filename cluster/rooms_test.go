package cluster_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/examples/relay/relay"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/servertest"
	"github.com/tickwire/tickwire/transport"
)

// startRelayNode runs the room relay as one node of cluster cl.
func startRelayNode(t *testing.T, url, cl, name string) (addr string, node *cluster.Node) {
	t.Helper()
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(name, cl)
	cfg.Addr = ln.Addr().String()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Conn = nc
	node, err = cluster.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := msg.NewRegistry()
	relayproto.Register(reg)
	game := relay.New(relay.WithRooms(node))
	srv, err := server.New(server.Config{Registry: reg, Logger: slog.New(slog.DiscardHandler), TickRate: 50,
		GuestPrefix: "guest-" + name + "-", Locate: node.Locate}, game)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	go srv.Serve(ln)
	if err := node.Start(srv, game); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.Close(ctx)
		_ = srv.Shutdown(ctx)
		nc.Close()
	})
	return ln.Addr().String(), node
}

// joinRoom logs a guest in at addr and joins room, following a MOVED;
// it returns the connection the player ends up on and the node address.
func joinRoom(t *testing.T, addr, room string) (*servertest.LineConn, string) {
	t.Helper()
	c := servertest.DialLine(t, addr)
	c.Send("AUTH guest")
	name := strings.Fields(c.SkipTo("WELCOME "))[2]
	c.Send("JOIN " + room)
	for {
		l := c.ReadLine()
		switch {
		case strings.HasPrefix(l, "JOINED "+room):
			return c, addr
		case strings.HasPrefix(l, "MOVED "):
			f := strings.Fields(l)
			addr = f[1]
			c = servertest.DialLine(t, addr)
			c.Send("RESUME " + name + " " + f[len(f)-1])
		case strings.HasPrefix(l, "ERR"):
			t.Fatalf("JOIN %s: %s", room, l)
		}
	}
}

func TestRoomsLiveOnOneNodeAndJoinsFindThem(t *testing.T) {
	url, cl := natsURL(t), clusterName(t)
	a1, n1 := startRelayNode(t, url, cl, "n1")
	a2, n2 := startRelayNode(t, url, cl, "n2")
	waitFor(t, 5*time.Second, "both nodes see each other", func() bool { return len(n1.Nodes()) == 2 && len(n2.Nodes()) == 2 })

	// Three players join room r1 through different nodes: they all end
	// up on one node, and hear each other.
	c1, at1 := joinRoom(t, a1, "r1")
	c2, at2 := joinRoom(t, a2, "r1")
	c3, at3 := joinRoom(t, a1, "r1")
	if at1 != at2 || at2 != at3 {
		t.Fatalf("room r1 is on several nodes: %s %s %s", at1, at2, at3)
	}
	c1.Send("MOVE 10 20 1")
	if l := c2.SkipTo("POS "); !strings.HasSuffix(l, " 10 20 1") {
		t.Fatalf("room mate got %q", l)
	}
	c3.SkipTo("POS ")

	// A second room may go elsewhere; each join of it finds the same node.
	_, b1 := joinRoom(t, a2, "r2")
	_, b2 := joinRoom(t, a1, "r2")
	if b1 != b2 {
		t.Fatalf("room r2 on two nodes: %s %s", b1, b2)
	}
}

func TestRoomJoinAbuse(t *testing.T) {
	url, cl := natsURL(t), clusterName(t)
	a1, _ := startRelayNode(t, url, cl, "n1")
	c := servertest.DialLine(t, a1)
	c.Send("AUTH guest")
	c.SkipTo("WELCOME ")
	c.Send("JOIN ../../etc")
	if l := c.SkipTo("ERR "); !strings.HasPrefix(l, "ERR bad_field") {
		t.Fatalf("bad room name: %q", l)
	}
	// A flood of JOINs while one waits for the directory: refused, not queued.
	for i := 0; i < 5; i++ {
		c.Send("JOIN r9")
	}
	c.SkipTo("JOINED r9")
}
