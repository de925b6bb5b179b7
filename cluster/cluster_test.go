package cluster_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/servertest"
	"github.com/tickwire/tickwire/store"
)

var zones = []string{"a", "b", "c", "d"}

func TestEveryZoneHasExactlyOneOwner(t *testing.T) {
	url, cl := natsURL(t), clusterName(t)
	n1 := startNode(t, url, fastConfig("n1", cl, "a"), zones)
	n2 := startNode(t, url, fastConfig("n2", cl, "b"), zones)
	n3 := startNode(t, url, fastConfig("n3", cl), zones)
	waitFor(t, 5*time.Second, "every zone owned once", func() bool {
		o := owners(n1, n2, n3)
		for _, z := range zones {
			if len(o[z]) != 1 {
				return false
			}
		}
		return true
	})
	o := owners(n1, n2, n3)
	if o["a"][0] != "n1" || o["b"][0] != "n2" {
		t.Errorf("configured zones went elsewhere: %v", o)
	}
	// Least loaded: n3 has no configured zone, so it takes at least one of
	// the others.
	if len(n3.node.Owned()) == 0 {
		t.Errorf("n3 got no zone: %v", o)
	}
}

func TestHandoffMovesThePlayerOnce(t *testing.T) {
	n1, n2 := pairOfNodes(t)

	c, name, _ := login(t, n1.addr)
	earn(c, 3)
	c.Send("CROSS b")
	moved := strings.Fields(c.SkipTo("MOVED "))
	if moved[1] != n2.addr {
		t.Fatalf("MOVED to %s, want n2 at %s", moved[1], n2.addr)
	}
	ticket := moved[len(moved)-1]
	c.SkipTo("BYE moved")

	c2 := servertest.DialLine(t, n2.addr)
	c2.Send("RESUME " + name + " " + ticket)
	c2.SkipTo("WELCOME ")
	c2.SkipTo("SEAT ")
	if got := c2.SkipTo("COINS "); got != "COINS 3 b" {
		t.Fatalf("on n2: %q, want COINS 3 b", got)
	}
	// The ticket works once.
	c3 := servertest.DialLine(t, n2.addr)
	c3.Send("RESUME " + name + " " + ticket)
	if l := c3.SkipTo("ERR "); !strings.HasPrefix(l, "ERR resume") {
		t.Fatalf("replayed ticket: %q", l)
	}
	// n1 no longer has the player; n2 does, once.
	waitFor(t, 2*time.Second, "player only on n2", func() bool {
		return countPlayers(n1) == 0 && countPlayers(n2) == 1
	})
	if s := n1.node.Stats(); s.HandoffsOut != 1 {
		t.Errorf("n1 HandoffsOut = %d, want 1", s.HandoffsOut)
	}
}

// pairOfNodes starts nodes n1 (zone a) and n2 (zone b) of a new cluster and
// waits until each runs its zone.
func pairOfNodes(t *testing.T) (n1, n2 *testNode) {
	t.Helper()
	url, cl := natsURL(t), clusterName(t)
	all := []string{"a", "b"}
	n1 = startNode(t, url, fastConfig("n1", cl, "a"), all)
	n2 = startNode(t, url, fastConfig("n2", cl, "b"), all)
	waitFor(t, 5*time.Second, "zones owned", func() bool { return n1.node.Owns("a") && n2.node.Owns("b") })
	return n1, n2
}

// earn waits for a new player's first COINS line, then earns n coins.
func earn(c *servertest.LineConn, n int) {
	c.SkipTo("COINS 0 a")
	for range n {
		c.Send("EARN")
		c.SkipTo("COINS ")
	}
}

func countPlayers(n *testNode) int { return n.srv.Stats().Players }

func TestHandoffToAZoneWithoutOwnerLeavesThePlayer(t *testing.T) {
	url, cl := natsURL(t), clusterName(t)
	// Only zone a exists as far as n1 claims; zone z is in the game but
	// no node may claim it (n1 is configured for a only and is not least
	// loaded against... itself, so run with a zone list where z is
	// claimed by nobody: a second game lists it, and no node runs it).
	n1 := startNode(t, url, fastConfig("n1", cl, "a"), []string{"a"})
	waitFor(t, 5*time.Second, "zone a owned", func() bool { return n1.node.Owns("a") })
	c, _, _ := login(t, n1.addr)
	c.SkipTo("COINS 0 a")
	c.Send("EARN")
	c.SkipTo("COINS 1 a")
	c.Send("CROSS nowhere")
	if l := c.SkipTo("ERR "); !strings.HasPrefix(l, "ERR portal_closed") {
		t.Fatalf("got %q, want ERR portal_closed", l)
	}
	c.Send("EARN")
	if l := c.SkipTo("COINS "); l != "COINS 2 a" {
		t.Fatalf("after a failed handoff: %q, want COINS 2 a", l)
	}
}

func TestFailoverRestoresPlayersFromTheCheckpoint(t *testing.T) {
	n1, n2 := pairOfNodes(t)

	c, name, token := login(t, n1.addr)
	earn(c, 5)
	killed := time.Now()
	n1.kill()
	took := waitFor(t, 5*time.Second, "n2 takes zone a over", func() bool { return n2.node.Owns("a") })
	t.Logf("failover: zone a owned by n2 %v after the kill (lease %v)", took, 500*time.Millisecond)
	_ = killed

	// The client resumes on n2 with the token it got on n1.
	c2 := servertest.DialLine(t, n2.addr)
	c2.Send("RESUME " + name + " " + token)
	c2.SkipTo("WELCOME ")
	if got := c2.SkipTo("COINS "); got != "COINS 5 a" {
		t.Fatalf("after failover: %q, want COINS 5 a (every committed coin kept)", got)
	}
	if s := n2.node.Stats(); s.Failovers != 1 {
		t.Errorf("n2 Failovers = %d, want 1", s.Failovers)
	}
}

func TestResumeOnTheWrongNodeIsRedirected(t *testing.T) {
	n1, n2 := pairOfNodes(t)
	c, name, token := login(t, n1.addr)
	c.SkipTo("COINS 0 a")
	// The location is written in the background.
	time.Sleep(300 * time.Millisecond)
	c.Conn().Close()

	c2 := servertest.DialLine(t, n2.addr)
	c2.Send("RESUME " + name + " " + token)
	moved := strings.Fields(c2.SkipTo("MOVED "))
	if moved[1] != n1.addr || moved[3] != "-" {
		t.Fatalf("redirect %v, want MOVED %s <ws> -", moved, n1.addr)
	}
	c3 := servertest.DialLine(t, n1.addr)
	c3.Send("RESUME " + name + " " + token)
	c3.SkipTo("WELCOME ")

	// A name the cluster never saw is refused as before (and is a strike).
	c4 := servertest.DialLine(t, n2.addr)
	c4.Send("RESUME nobody AAAA")
	if l := c4.SkipTo("ERR "); !strings.HasPrefix(l, "ERR resume bad_token") {
		t.Fatalf("unknown player: %q", l)
	}
}

func TestAFencedNodeCannotWriteTheZone(t *testing.T) {
	url, cl := natsURL(t), clusterName(t)
	n1 := startNode(t, url, fastConfig("n1", cl, "a"), []string{"a"})
	waitFor(t, 5*time.Second, "zone a owned", func() bool { return n1.node.Owns("a") })
	c, _, _ := login(t, n1.addr)
	c.SkipTo("COINS 0 a")

	// Another writer takes the key: n1's revision is stale now.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(context.Background(), cl+"-zones")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), "zone.a")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	_ = json.Unmarshal(e.Value(), &rec)
	rec["owner"] = "intruder"
	rec["lease_until"] = time.Now().Add(time.Hour).UnixMilli()
	data, _ := json.Marshal(rec)
	if _, err := kv.Update(context.Background(), "zone.a", data, e.Revision()); err != nil {
		t.Fatal(err)
	}
	// The player's next committed action finds the zone gone.
	c.Send("EARN")
	l := c.SkipTo("")
	for !strings.HasPrefix(l, "ERR") && !strings.HasPrefix(l, "BYE") && !strings.HasPrefix(l, "MOVED") {
		l = c.ReadLine()
	}
	waitFor(t, 2*time.Second, "n1 released zone a", func() bool { return !n1.node.Owns("a") })
	if s := n1.node.Stats(); s.Fenced == 0 {
		t.Errorf("Fenced = 0 after losing the key")
	}
	after, _ := kv.Get(context.Background(), "zone.a")
	var got map[string]any
	_ = json.Unmarshal(after.Value(), &got)
	if got["owner"] != "intruder" {
		t.Fatalf("n1 overwrote the zone after losing it: owner %v", got["owner"])
	}
}

func TestCleanLeaveHandsZonesOver(t *testing.T) {
	n1, n2 := pairOfNodes(t)
	c, name, token := login(t, n1.addr)
	c.SkipTo("COINS 0 a")
	c.Send("EARN")
	c.SkipTo("COINS 1 a")
	start := time.Now()
	go n1.leave(t)
	moved := strings.Fields(c.SkipTo("MOVED "))
	t.Logf("clean leave: MOVED after %v", time.Since(start))
	if moved[1] != n2.addr || moved[3] != "-" {
		t.Fatalf("MOVED %v, want to n2 with -", moved)
	}
	c2 := resume(t, n2.addr, name, token)
	if got := c2.SkipTo("COINS "); got != "COINS 1 a" {
		t.Fatalf("after hand-over: %q", got)
	}
}

func TestWhoAndChatSpanNodes(t *testing.T) {
	n1, n2 := pairOfNodes(t)
	_, name1, _ := login(t, n1.addr)
	_, name2, _ := login(t, n2.addr)
	online, err := n1.node.Who(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(online) != 2 || online[0].Players[0] != name1 || online[1].Players[0] != name2 {
		t.Fatalf("WHO: %+v", online)
	}
	heard := make(chan string, 4)
	n2.node.OnChat(func(from, text string) { heard <- from + ": " + text })
	if err := n1.node.Chat(name1, "hello all"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-heard:
		if got != name1+": hello all" {
			t.Fatalf("heard %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("n2 did not hear the chat line")
	}
}

type banSink chan store.Ban

func (b banSink) Apply(x store.Ban) { b <- x }

func TestBansReachEveryNode(t *testing.T) {
	url, cl := natsURL(t), clusterName(t)
	n1 := startNode(t, url, fastConfig("n1", cl, "a"), []string{"a"})
	n2 := startNode(t, url, fastConfig("n2", cl), []string{"a"})
	got := make(banSink, 1)
	n2.node.ShareBans(got)
	n1.node.ShareBans(make(banSink, 1))
	ip := netip.MustParseAddr("203.0.113.9")
	n1.node.AnnounceBan(store.Ban{IP: ip, Reason: "strikes:flood", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)})
	select {
	case b := <-got:
		if b.IP != ip || b.Reason != "strikes:flood" {
			t.Fatalf("n2 applied %+v", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("n2 never heard the ban")
	}
}

func TestGarbageOnTheNodeSubjectsIsRefused(t *testing.T) {
	url, cl := natsURL(t), clusterName(t)
	n1 := startNode(t, url, fastConfig("n1", cl, "a"), []string{"a"})
	waitFor(t, 5*time.Second, "zone a owned", func() bool { return n1.node.Owns("a") })
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, body := range []string{"", "{", `{"id":""}`, `{"id":"x","zone":"a","ident":{"Name":""}}`, strings.Repeat("x", 10000)} {
		reply, err := nc.Request(cl+".node.n1.prepare", []byte(body), 2*time.Second)
		if err != nil {
			t.Fatalf("prepare %q: %v", body[:min(len(body), 20)], err)
		}
		if !strings.Contains(string(reply.Data), `"error":"bad request"`) {
			t.Fatalf("prepare %q answered %s", body[:min(len(body), 20)], reply.Data)
		}
	}
	// A prepare for a zone this node does not run is refused.
	reply, err := nc.Request(cl+".node.n1.prepare", []byte(`{"id":"x1","zone":"zz","ident":{"Name":"eve"}}`), 2*time.Second)
	if err != nil || !strings.Contains(string(reply.Data), cluster.ErrNotOwner.Error()) {
		t.Fatalf("prepare for a foreign zone: %s %v", reply.Data, err)
	}
	// Commit and abort notes for unknown handoffs change nothing.
	_ = nc.Publish(cl+".node.n1.commit", []byte(`{"id":"nope","keys":[]}`))
	_ = nc.Publish(cl+".node.n1.abort", []byte(`garbage`))
	_ = nc.Flush()
	if len(n1.srv.Arrivals()) != 0 {
		t.Fatalf("arrivals after garbage: %v", n1.srv.Arrivals())
	}
}

func TestConfigVerify(t *testing.T) {
	for _, c := range []cluster.Config{
		{},
		{URL: "nats://x", Node: ""},
		{URL: "nats://x", Node: "n 1", Addr: "h:1"},
		{URL: "nats://x", Node: "n1", Addr: "nohostport"},
		{URL: "nats://x", Node: "n1", Addr: "h:1", WS: "http://x"},
		{URL: "nats://x", Node: "n1", Addr: "h:1", LeaseTTL: time.Second, CheckpointEvery: time.Second},
		{URL: "nats://x", Node: "n1", Addr: "h:1", CheckpointEvery: -1},
		{URL: "nats://x", Node: "n1", Addr: "h:1", Zones: []string{"a.b"}},
	} {
		if err := c.Verify(); err == nil {
			t.Errorf("Verify(%+v) = nil, want an error", c)
		}
	}
	c := cluster.Config{URL: "nats://x", Node: "n1", Addr: "h:1"}
	if err := c.Verify(); err != nil || c.LeaseTTL != cluster.DefaultLeaseTTL || c.Name != cluster.DefaultName {
		t.Fatalf("defaults: %v %+v", err, c)
	}
}

// TestTargetDiesMidHandoff: n2, the target of a committed handoff, dies
// before a checkpoint of its zone carries the player's own seat keys (it
// learns them from the commit note, after the checkpoint its prepare
// wrote). The node that takes zone b over restores the arrival and learns
// the keys from zone a's departure record, so the client, which could not
// reach n2 with its ticket, resumes there with its own token, coins kept.
// While the restored zone is settling, a RESUME is told to retry, never
// refused.
func TestTargetDiesMidHandoff(t *testing.T) {
	n1, n2 := pairOfNodes(t)
	c, name, token := login(t, n1.addr)
	earn(c, 3)
	c.Send("CROSS b")
	c.SkipTo("MOVED ")
	n2.kill() // before its next checkpoint (every 100 ms), most likely
	c.SkipTo("BYE moved")
	waitFor(t, 5*time.Second, "n1 takes zone b over", func() bool { return n1.node.Owns("b") })
	c2 := resume(t, n1.addr, name, token) // retries while the zone settles
	if got := c2.SkipTo("COINS "); got != "COINS 3 b" {
		t.Fatalf("after the handoff and the failover: %q, want COINS 3 b", got)
	}
}

// TestTargetZoneHandedOverMidPrepare: the target stores the arrival, and
// its zone is handed over (the arrival goes with the zone's last
// checkpoint) before the checkpoint the prepare waits for. The source must
// find that arrival on the zone's next owner under the same handoff id:
// the player moves once and is left in no second place (a CI run of the
// 3-process test found it in two).
func TestTargetZoneHandedOverMidPrepare(t *testing.T) {
	n1, n2 := pairOfNodes(t)
	c, name, _ := login(t, n1.addr)
	earn(c, 3)
	// n2's tick waits while the hand-over is queued first, then the
	// prepare's Expect happens and its checkpoint is queued behind it.
	release := blockTick(t, n2)
	if err := n2.node.PostHandOver("b", n1.node.Self()); err != nil {
		t.Fatal(err)
	}
	c.Send("CROSS b")
	waitFor(t, 5*time.Second, "the arrival stored on n2", func() bool { return len(arrivalsOf(n2, name)) == 1 })
	release()

	l := c.SkipTo("")
	for !strings.HasPrefix(l, "MOVED ") && !strings.HasPrefix(l, "ERR ") {
		l = c.ReadLine()
	}
	if !strings.HasPrefix(l, "MOVED ") {
		waitFor(t, 5*time.Second, "zone b owned again", func() bool { return n1.node.Owns("b") || n2.node.Owns("b") })
		time.Sleep(300 * time.Millisecond)
		t.Fatalf("the handoff failed (%q); arrivals left for %s: n1 %v, n2 %v", l, name, arrivalsOf(n1, name), arrivalsOf(n2, name))
	}
	moved := strings.Fields(l)
	c2 := resume(t, moved[1], name, moved[len(moved)-1])
	if got := c2.SkipTo("COINS "); got != "COINS 3 b" {
		t.Fatalf("after the handoff: %q, want COINS 3 b", got)
	}
	waitFor(t, 2*time.Second, "the player in one place, no arrival left", func() bool {
		return countPlayers(n1)+countPlayers(n2) == 1 && len(arrivalsOf(n1, name))+len(arrivalsOf(n2, name)) == 0
	})
}

// arrivalsOf lists the ids of n's arrivals for the player called name.
func arrivalsOf(n *testNode, name string) []string {
	var ids []string
	for _, a := range n.srv.Arrivals() {
		if a.Ident.Name == name {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// TestSourceCommitsAfterTargetZoneRestored: the target (n2) stored the
// arrival and answered, then died; another node (n1) restored the zone
// with the arrival before the source (n3) committed, so neither the
// commit note (sent to the dead n2) nor the departure record (read at the
// claim) gave n1 the player's own seat keys. A client that resumes on n1
// with its own token must still get its seat: n1 takes the keys from the
// source's departure record when the RESUME comes.
func TestSourceCommitsAfterTargetZoneRestored(t *testing.T) {
	url, cl := natsURL(t), clusterName(t)
	all := []string{"a", "b", "c", "d"}
	n1 := startNode(t, url, fastConfig("n1", cl, "a"), all)
	n2 := startNode(t, url, fastConfig("n2", cl, "b"), all)
	// n3 runs two zones (so n1 is the least loaded) and looks for more
	// only every 2 s: zone b goes to n1.
	cfg3 := fastConfig("n3", cl, "c", "d")
	cfg3.ClaimEvery, cfg3.LeaseTTL = 2*time.Second, 4*time.Second
	n3 := startNode(t, url, cfg3, all)
	waitFor(t, 5*time.Second, "zones owned", func() bool {
		return n1.node.Owns("a") && n2.node.Owns("b") && n3.node.Owns("c") && n3.node.Owns("d")
	})

	c, name, token := login(t, n3.addr)
	c.SkipTo("COINS 0 c")
	for range 3 {
		c.Send("EARN")
		c.SkipTo("COINS ")
	}
	// n2 stores the arrival while its tick waits; n3's tick then waits
	// too, so that its commit comes after n1 has restored zone b.
	release2 := blockTick(t, n2)
	c.Send("CROSS b")
	waitFor(t, 5*time.Second, "the arrival stored on n2", func() bool { return len(arrivalsOf(n2, name)) == 1 })
	release3 := blockTick(t, n3)
	saved := n2.node.Stats().Checkpoints
	release2()
	waitFor(t, 5*time.Second, "n2 writes the arrival", func() bool { return n2.node.Stats().Checkpoints > saved })
	time.Sleep(50 * time.Millisecond) // its answer goes out
	n2.kill()
	claims := n1.node.Stats().Claims
	waitFor(t, 5*time.Second, "n1 restores zone b", func() bool { return n1.node.Stats().Claims > claims && n1.node.Owns("b") })
	release3() // n3 commits the handoff now, and sends MOVED to the dead n2

	c.SkipTo("MOVED ")
	// A made-up token is still refused (and struck), keys taken or not.
	bad := servertest.DialLine(t, n1.addr)
	bad.Send("RESUME " + name + " AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if l := bad.SkipTo("ERR "); !strings.HasPrefix(l, "ERR resume bad_token") {
		t.Fatalf("a made-up token: %q, want ERR resume bad_token", l)
	}
	c2 := resume(t, n1.addr, name, token) // as a client whose target is gone: its own token, elsewhere
	if got := c2.SkipTo("COINS "); got != "COINS 3 b" {
		t.Fatalf("on n1: %q, want COINS 3 b", got)
	}
	waitFor(t, 2*time.Second, "the player in one place, no arrival left", func() bool {
		return countPlayers(n1)+countPlayers(n3) == 1 && len(arrivalsOf(n1, name))+len(arrivalsOf(n3, name)) == 0
	})
}

// TestClaimedArrivalZoneHandedOver: the client claims its arrival on the
// target in the tick the target hands the zone over, before the game is
// given the player. The zone's last checkpoint keeps the arrival, the
// client is told to retry, and it resumes where the zone went, with its
// coins (a CI run of the 3-process test lost such a player).
func TestClaimedArrivalZoneHandedOver(t *testing.T) {
	n1, n2 := pairOfNodes(t)
	c, name, token := login(t, n1.addr)
	earn(c, 3)
	c.Send("CROSS b")
	moved := strings.Fields(c.SkipTo("MOVED "))
	c.SkipTo("BYE moved")

	release := blockTick(t, n2)
	if err := n2.node.PostHandOver("b", n1.node.Self()); err != nil {
		t.Fatal(err)
	}
	c2 := servertest.DialLine(t, moved[1])
	c2.Send("RESUME " + name + " " + moved[len(moved)-1])
	c2.Send("RESUME " + name + " " + moved[len(moved)-1]) // answered once the first has claimed
	if l := c2.SkipTo("ERR "); !strings.HasPrefix(l, "ERR already_logged_in") {
		t.Fatalf("second RESUME: %q", l)
	}
	release()
	if l := c2.SkipTo("ERR "); !strings.HasPrefix(l, "ERR resume unavailable") {
		t.Fatalf("after the hand-over: %q, want ERR resume unavailable", l)
	}
	waitFor(t, 5*time.Second, "zone b owned again", func() bool { return n1.node.Owns("b") || n2.node.Owns("b") })
	at := n1
	if n2.node.Owns("b") {
		at = n2
	}
	c3 := resume(t, at.addr, name, token) // its own token, where the zone went
	if got := c3.SkipTo("COINS "); got != "COINS 3 b" {
		t.Fatalf("after the retry: %q, want COINS 3 b", got)
	}
	waitFor(t, 2*time.Second, "the player in one place, no arrival left", func() bool {
		return countPlayers(n1)+countPlayers(n2) == 1 && len(arrivalsOf(n1, name))+len(arrivalsOf(n2, name)) == 0
	})
}

// blockTick makes n's tick wait until the returned release is called (at
// the latest when the test ends), so a test can queue tick work in a known
// order around what other goroutines do meanwhile.
func blockTick(t *testing.T, n *testNode) (release func()) {
	t.Helper()
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	if err := n.srv.Post(func(*server.Tick) { <-ch }); err != nil {
		t.Fatal(err)
	}
	return release
}
