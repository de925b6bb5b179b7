package cluster_test

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/store"
)

// guarded wires a guard on its own database to the node, as tickwire
// serve does: the node announces this guard's bans and applies the
// others'.
func guarded(t *testing.T, g **guard.Guard) func(*server.Config, *cluster.Node) {
	return func(c *server.Config, n *cluster.Node) {
		st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "tickwire.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		gd, err := guard.New(context.Background(), guard.Config{Store: st, Logger: slog.New(slog.DiscardHandler), OnBan: n.AnnounceBan})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { gd.Close() })
		n.ShareBans(gd)
		c.Guard = gd
		*g = gd
	}
}

// A ban made on one node ends the address's sessions on every node within
// about a second, though each node has its own database here: the ban
// travels over NATS.
func TestABanOnOneNodeEndsSessionsOnEveryNode(t *testing.T) {
	url, cl := natsURL(t), clusterName(t)
	var g1, g2 *guard.Guard
	n1 := startNodeWith(t, url, fastConfig("n1", cl, "a"), []string{"a", "b"}, guarded(t, &g1))
	n2 := startNodeWith(t, url, fastConfig("n2", cl, "b"), []string{"a", "b"}, guarded(t, &g2))
	waitFor(t, 5*time.Second, "zones owned", func() bool { return n1.node.Owns("a") && n2.node.Owns("b") })
	c, _, _ := login(t, n2.addr)
	c.SkipTo("COINS 0 b")

	start := time.Now()
	if _, err := g1.Ban(context.Background(), netip.MustParseAddr("127.0.0.1"), time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	if l := c.SkipTo("BYE "); l != "BYE banned" {
		t.Fatalf("the session on n2 ended with %q", l)
	}
	t.Logf("session on the other node ended %v after the ban", time.Since(start).Round(time.Millisecond))
	if err := g2.Admit(netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Fatal("n2 admits the banned address")
	}
}
