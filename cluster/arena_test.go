package cluster_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// arenaNode is the demo arena served as a node of a test cluster.
type arenaNode struct {
	addr string
	node *cluster.Node
	kill func() // a crash: NATS first, so nothing more is written
}

func startArenaNode(t *testing.T, url string, cfg cluster.Config) *arenaNode {
	t.Helper()
	reg := msg.NewRegistry()
	arena.Register(reg)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Conn, cfg.Addr = nc, ln.Addr().String()
	node, err := cluster.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := arena.New(arena.WithCluster(node))
	srv, err := server.New(server.Config{Registry: reg, Logger: slog.New(slog.DiscardHandler), Locate: node.Locate, GuestPrefix: "guest-" + cfg.Node + "-",
		AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, g)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	go srv.Serve(ln)
	if err := node.Start(srv, g); err != nil {
		t.Fatal(err)
	}
	an := &arenaNode{addr: ln.Addr().String(), node: node}
	var killed bool
	an.kill = func() {
		if killed {
			return
		}
		killed = true
		nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.Close(ctx)
		_ = srv.Shutdown(ctx)
	}
	t.Cleanup(an.kill)
	return an
}

// TestArenaResumeThenCrash: a resume gives the player a new seat token,
// and the arena commits it before the client hears it; so when the node
// dies right after, the node that restores the zone expects the token the
// client holds, not the one it held at the last periodic checkpoint.
func TestArenaResumeThenCrash(t *testing.T) {
	url, cl := natsURL(t), clusterName(t)
	n1 := startArenaNode(t, url, fastConfig("n1", cl, "1", "2", "3"))
	waitFor(t, 10*time.Second, "n1 runs the arena's zones", func() bool { return len(n1.node.Owned()) == 3 })
	n2 := startArenaNode(t, url, fastConfig("n2", cl))

	c, name, token := login(t, n1.addr)
	c.Conn().Close() // a dropped connection: the seat is held
	c2 := resume(t, n1.addr, name, token)
	seat := c2.SkipTo("SEAT ")
	n1.kill() // before its next checkpoint (every 100 ms), most likely
	waitFor(t, 5*time.Second, "n2 takes zone 1 over", func() bool { return n2.node.Owns("1") })
	resume(t, n2.addr, name, fieldAt(seat, 1))
}

func fieldAt(line string, i int) string {
	f := strings.Fields(line)
	if i >= len(f) {
		return ""
	}
	return f[i]
}
