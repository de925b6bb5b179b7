package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/servertest"
	"github.com/tickwire/tickwire/transport"
)

// natsURL starts an embedded NATS server with JetStream for the test, or
// uses TICKWIRE_TEST_NATS (a real one) with a cluster name of the test's
// own so tests do not share buckets.
func natsURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TICKWIRE_TEST_NATS"); u != "" {
		return u
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// clusterName is a name no other test run uses, so tests against a real
// NATS do not see each other's buckets.
func clusterName(t *testing.T) string {
	n := strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	if len(n) > 40 {
		n = n[:40]
	}
	return "t" + n + "-" + time.Now().Format("150405.000")[7:]
}

// Test messages: COINS is a player's balance, EARN adds one (committed
// before the answer), CROSS moves to another zone.
type Earn struct{}
type Cross struct {
	Zone string `tw:"zone,max=64"`
}
type Coins struct {
	N    int32  `tw:"n"`
	Zone string `tw:"zone,max=64"`
}

func registry() *msg.Registry {
	reg := msg.NewRegistry()
	msg.Define[Earn](reg, msg.Info{ID: 32, Name: "EARN", Dir: msg.ToServer, Causes: []string{"COINS", "ERR"}})
	msg.Define[Cross](reg, msg.Info{ID: 33, Name: "CROSS", Dir: msg.ToServer, Causes: []string{"ERR", "COINS", "MOVED", "BYE"}})
	msg.Define[Coins](reg, msg.Info{ID: 34, Name: "COINS", Dir: msg.ToClient})
	return reg
}

// coinGame is a cluster.Game with zones of players who hold coins: enough
// to see state travel, survive failover and never double.
type coinGame struct {
	h       server.Handlers
	node    *cluster.Node
	zones   []string
	running map[string]bool
	players map[uint64]*coinPlayer
	// gone counts the coins that left the world with a player that quit.
	gone map[string]int32
}

type coinPlayer struct {
	p       *server.Player
	zone    string
	coins   int32
	leaving bool
}

type coinState struct {
	Players  []coinHolder `json:"players"`
	Arrivals []coinHolder `json:"arrivals"`
	Gone     int32        `json:"gone"`
}

type coinHolder struct {
	ID    string           `json:"id,omitempty"`
	Ident server.Identity  `json:"ident"`
	Keys  []server.SeatKey `json:"keys"`
	Coins int32            `json:"coins"`
	Until int64            `json:"until,omitempty"`
}

func newCoinGame(zones ...string) *coinGame {
	g := &coinGame{zones: zones, running: map[string]bool{}, players: map[uint64]*coinPlayer{}, gone: map[string]int32{}}
	server.HandleInput(&g.h, func(t *server.Tick, in server.Input, m *Earn) error {
		cp := g.players[in.Player.ID()]
		if cp == nil || cp.leaving {
			return server.Refuse("moving", "wait")
		}
		cp.coins++
		if err := g.node.Commit(t, cp.zone); err != nil {
			cp.coins--
			return server.Refuse("unavailable", "%v", err)
		}
		in.Player.Reply(in, &Coins{N: cp.coins, Zone: cp.zone})
		return nil
	})
	server.HandleInput(&g.h, func(t *server.Tick, in server.Input, m *Cross) error {
		cp := g.players[in.Player.ID()]
		if cp == nil || cp.leaving {
			return server.Refuse("moving", "wait")
		}
		if m.Zone == cp.zone {
			return server.Refuse("here", "already in %s", m.Zone)
		}
		data, _ := json.Marshal(cp.coins)
		cp.leaving = true
		from := cp.zone
		g.node.Handoff(t, in.Player, from, m.Zone, data, func(t *server.Tick, h cluster.Prepared, err error) {
			cp.leaving = false
			if g.players[cp.p.ID()] != cp {
				return
			}
			if err != nil {
				cp.p.Send(&msg.Err{Code: "portal_closed", Text: err.Error()})
				return
			}
			delete(g.players, cp.p.ID())
			if err := g.node.Depart(t, cp.p, from, h); err != nil {
				g.players[cp.p.ID()] = cp
				cp.p.Send(&msg.Err{Code: "portal_closed", Text: err.Error()})
			}
		})
		return nil
	})
	return g
}

func (g *coinGame) Join(t *server.Tick, p *server.Player) error {
	for _, z := range g.zones {
		if g.running[z] {
			g.players[p.ID()] = &coinPlayer{p: p, zone: z}
			p.Send(&Coins{Zone: z})
			g.node.Track(p.Name(), z)
			return nil
		}
	}
	return server.Refuse("no_zone", "this node runs no zone")
}

func (g *coinGame) Update(t *server.Tick) { g.h.Dispatch(t) }

func (g *coinGame) Leave(t *server.Tick, p *server.Player, reason error) {
	cp := g.players[p.ID()]
	if cp == nil {
		return
	}
	delete(g.players, p.ID())
	g.gone[cp.zone] += cp.coins
	_ = g.node.Commit(t, cp.zone)
}

func (g *coinGame) Arrive(t *server.Tick, p *server.Player, a server.Arrival) error {
	if !g.running[a.Tag] {
		return fmt.Errorf("zone %s is not here: %w", a.Tag, server.ErrArrivalGone)
	}
	var coins int32
	if err := json.Unmarshal(a.Data, &coins); err != nil {
		return err
	}
	g.players[p.ID()] = &coinPlayer{p: p, zone: a.Tag, coins: coins}
	p.Send(&Coins{N: coins, Zone: a.Tag})
	g.node.Arrived(p.Name(), a.Tag)
	_ = g.node.Commit(t, a.Tag)
	return nil
}

func (g *coinGame) ArrivalExpired(t *server.Tick, a server.Arrival) {
	var coins int32
	_ = json.Unmarshal(a.Data, &coins)
	g.gone[a.Tag] += coins
	_ = g.node.Commit(t, a.Tag)
}

func (g *coinGame) Zones() []string { return g.zones }

func (g *coinGame) Checkpoint(t *server.Tick, zone string) ([]byte, error) {
	st := coinState{Gone: g.gone[zone]}
	for _, cp := range g.players {
		if cp.zone == zone {
			st.Players = append(st.Players, coinHolder{Ident: cp.p.Identity(), Keys: cp.p.SeatKeys(), Coins: cp.coins})
		}
	}
	for _, a := range g.node.Server().Arrivals() {
		if a.Tag == zone {
			var coins int32
			_ = json.Unmarshal(a.Data, &coins)
			st.Arrivals = append(st.Arrivals, coinHolder{ID: a.ID, Ident: a.Ident, Keys: a.Keys, Coins: coins, Until: a.Until.UnixMilli()})
		}
	}
	sort.Slice(st.Players, func(i, j int) bool { return st.Players[i].Ident.Name < st.Players[j].Ident.Name })
	return json.Marshal(st)
}

func (g *coinGame) Restore(t *server.Tick, zone string, state []byte) error {
	g.running[zone] = true
	if state == nil {
		return nil
	}
	var st coinState
	if err := json.Unmarshal(state, &st); err != nil {
		return err
	}
	g.gone[zone] = st.Gone
	srv := g.node.Server()
	for _, h := range st.Players {
		data, _ := json.Marshal(h.Coins)
		if _, err := srv.Expect(server.Arrival{ID: "restore-" + h.Ident.Name, Ident: h.Ident, Keys: h.Keys, Data: data, Tag: zone}); err != nil {
			return err
		}
	}
	for _, h := range st.Arrivals {
		data, _ := json.Marshal(h.Coins)
		if _, err := srv.Expect(server.Arrival{ID: h.ID, Ident: h.Ident, Keys: h.Keys, Data: data, Tag: zone, Until: time.UnixMilli(h.Until)}); err != nil {
			return err
		}
	}
	return nil
}

func (g *coinGame) Release(t *server.Tick, zone string, to cluster.Owner) {
	delete(g.running, zone)
	for id, cp := range g.players {
		if cp.zone != zone {
			continue
		}
		delete(g.players, id)
		if to.Addr != "" {
			cp.p.Move(to.Addr, to.WS, "-")
		} else {
			cp.p.Kick("zone_lost")
		}
	}
	for _, a := range g.node.Server().Arrivals() {
		if a.Tag == zone {
			g.node.Server().Unexpect(a.ID)
		}
	}
}

// testNode is one node: a server on a TCP port, its game and its cluster
// membership, on a NATS connection of its own (closing it is how a test
// kills the node as far as the cluster can tell).
type testNode struct {
	name string
	addr string
	srv  *server.Server
	game *coinGame
	node *cluster.Node
	nc   *nats.Conn
	ln   net.Listener
	once sync.Once
}

// fastConfig makes failover quick enough for unit tests.
func fastConfig(name, cl string, zones ...string) cluster.Config {
	return cluster.Config{Name: cl, Node: name, Zones: zones, CheckpointEvery: 100 * time.Millisecond,
		LeaseTTL: 500 * time.Millisecond, ClaimEvery: 100 * time.Millisecond, OpTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
}

func startNode(t *testing.T, url string, cfg cluster.Config, allZones []string) *testNode {
	return startNodeWith(t, url, cfg, allZones, nil)
}

// startNodeWith is startNode with a last say on the server's Config, once
// the node exists (to wire a guard to it, say).
func startNodeWith(t *testing.T, url string, cfg cluster.Config, allZones []string, mod func(*server.Config, *cluster.Node)) *testNode {
	t.Helper()
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{name: cfg.Node, addr: ln.Addr().String(), ln: ln}
	tn.game = newCoinGame(allZones...)
	tn.nc, err = nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Conn = tn.nc
	cfg.Addr = tn.addr
	node, err := cluster.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn.node = node
	tn.game.node = node
	scfg := server.Config{Registry: registry(), Logger: slog.New(slog.DiscardHandler), TickRate: 50,
		GuestPrefix: "guest-" + cfg.Node + "-", CheckCauses: true, Locate: node.Locate}
	if mod != nil {
		mod(&scfg, node)
	}
	srv, err := server.New(scfg, tn.game)
	if err != nil {
		t.Fatal(err)
	}
	tn.srv = srv
	srv.Start()
	go srv.Serve(ln)
	if err := node.Start(srv, tn.game); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.kill)
	return tn
}

// kill ends the node without a word to the cluster: its NATS connection
// drops, then its server stops (its players see the connection end).
func (tn *testNode) kill() {
	tn.once.Do(func() {
		tn.nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tn.node.Close(ctx)
		_ = tn.srv.Shutdown(ctx)
	})
}

// leave ends the node cleanly: its zones are handed over first.
func (tn *testNode) leave(t *testing.T) {
	tn.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tn.node.Close(ctx); err != nil {
			t.Errorf("node %s Close: %v", tn.name, err)
		}
		_ = tn.srv.Shutdown(ctx)
		tn.nc.Close()
	})
}

// waitFor polls cond every 20 ms for up to d; the test fails with what
// if it never holds.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after %v: %s", d, what)
	return 0
}

// owners maps each zone to the node that runs it, as the nodes see it.
func owners(nodes ...*testNode) map[string][]string {
	out := map[string][]string{}
	for _, n := range nodes {
		for _, z := range n.node.Owned() {
			out[z] = append(out[z], n.name)
		}
	}
	return out
}

// login logs a guest in over TCP and returns the connection, its name and
// its seat token.
func login(t *testing.T, addr string) (c *servertest.LineConn, name, token string) {
	t.Helper()
	c = servertest.DialLine(t, addr)
	c.Send("AUTH guest")
	w := strings.Fields(c.SkipTo("WELCOME "))
	seat := strings.Fields(c.SkipTo("SEAT "))
	return c, w[2], seat[1]
}

var _ = io.EOF

// resume sends RESUME name token to addr as a client does: it retries
// while the server answers "unavailable" (the zone is between owners), for
// up to 5 s, and returns the connection once WELCOME arrives.
func resume(t *testing.T, addr, name, token string) *servertest.LineConn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := servertest.DialLine(t, addr)
		c.Send("RESUME " + name + " " + token)
		l := c.SkipTo("")
		for !strings.HasPrefix(l, "WELCOME ") && !strings.HasPrefix(l, "ERR ") {
			l = c.ReadLine()
		}
		if strings.HasPrefix(l, "WELCOME ") {
			return c
		}
		if !strings.HasPrefix(l, "ERR resume unavailable") || time.Now().After(deadline) {
			t.Fatalf("RESUME %s at %s: %s", name, addr, l)
		}
		c.Conn().Close()
		time.Sleep(100 * time.Millisecond)
	}
}
