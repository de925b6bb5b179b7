package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickwire/tickwire/server"
)

// Game is what a game implements to run in a cluster: its world is cut
// into zones, and each zone can be written down and taken up again on
// another node. Every method runs on the tick goroutine.
type Game interface {
	// Zones lists every zone of the world.
	Zones() []string
	// Checkpoint writes zone's state down: everything another node needs
	// to run it, including its players (with their server.SeatKeys, so
	// they can resume there) and the server.Arrivals tagged with the zone.
	Checkpoint(t *server.Tick, zone string) ([]byte, error)
	// Restore starts running zone from state (nil: a fresh zone, never
	// run before). Players in state are not connected here: the game
	// Expects them (server.Server.Expect with their keys) so that they can
	// resume.
	Restore(t *server.Tick, zone string, state []byte) error
	// Release stops running zone: this node lost it (another node took it
	// over, or this node could not renew its lease). The game drops the
	// zone's entities and moves its players to to (the zone's new owner
	// if known, else another live node, which will redirect them), with
	// the ticket "-": the new owner restored them from the last
	// checkpoint. to is the zero Owner when no other node is known.
	Release(t *server.Tick, zone string, to Owner)
}

// Owner is a node as clients reach it.
type Owner struct {
	Node string `json:"node"`
	Addr string `json:"addr"`
	WS   string `json:"ws,omitempty"`
}

// zoneRecord is a zone's entry in the zones bucket: its lease and its last
// checkpoint, in one key, so that every checkpoint is also a lease renewal
// and every write is a compare-and-set on the key's revision. The
// revision is the fencing token: a node that lost the zone cannot write
// its state, because its revision is stale.
type zoneRecord struct {
	Owner      string      `json:"owner"`
	Addr       string      `json:"addr"`
	WS         string      `json:"ws,omitempty"`
	Epoch      uint64      `json:"epoch"`       // +1 on every change of owner
	LeaseUntil int64       `json:"lease_until"` // unix ms; 0: released
	Seq        uint64      `json:"seq"`         // checkpoints written in this epoch
	Saved      int64       `json:"saved"`       // unix ms of the checkpoint
	State      []byte      `json:"state,omitempty"`
	Departed   []Departure `json:"departed,omitempty"`
}

// Departure records a player that left a zone by a committed handoff.
type Departure struct {
	ID     string `json:"id"`
	Player string `json:"player"`
	Zone   string `json:"zone"` // where it went
	At     int64  `json:"at"`   // unix ms
	// Keys are the player's own seat keys (hashes of its tokens) at the
	// commit. The target learns them from the commit note; a node that
	// restores the target zone after its owner died learns them here.
	Keys []server.SeatKey `json:"keys,omitempty"`
}

// nodeRecord is a node's entry in the nodes bucket, rewritten every
// CheckpointEvery; a node not seen for LeaseTTL is not live.
type nodeRecord struct {
	Owner
	Configured []string `json:"configured,omitempty"` // Config.Zones
	Zones      int      `json:"zones"`
	Players    int      `json:"players"`
	Seen       int64    `json:"seen"` // unix ms
}

// lease is a zone this node runs.
type lease struct {
	rev       uint64 // the key's revision after our last write
	rec       zoneRecord
	lastWrite time.Time
	// settling is set from the restore of a claimed zone until its
	// arrivals have the seat keys their sources committed
	// (addDepartedKeys): Locate answers "retry" meanwhile rather than
	// "no seat here".
	settling bool
}

// Stats are a node's counters.
type Stats struct {
	Zones            int    // zones owned now
	Checkpoints      uint64 // checkpoints written
	CheckpointBytes  uint64 // bytes of the last checkpoint records, summed
	CheckpointErrors uint64 // checkpoint writes that failed
	Fenced           uint64 // zones lost because another node had taken them
	SelfFenced       uint64 // zones given up because the lease could not be renewed
	Claims           uint64 // zones claimed (fresh or taken over)
	Failovers        uint64 // zones taken over from another node's lapsed lease
	HandoffsOut      uint64 // players handed to another node (committed)
	HandoffsFailed   uint64 // handoffs that failed and left the player here
	Arrivals         uint64 // players that arrived by handoff or restore
}

// Node is this process's membership in a cluster. Create it with New
// before the server starts ticking, hand it to the game, then Start it.
type Node struct {
	cfg  Config
	log  *slog.Logger
	nc   *nats.Conn
	own  bool // nc is ours to close
	js   jetstream.JetStream
	zkv  jetstream.KeyValue // zones: lease + checkpoint
	nkv  jetstream.KeyValue // nodes: heartbeats
	pkv  jetstream.KeyValue // players: name -> zone, a hint for the Locator
	rkv  jetstream.KeyValue // rooms: room -> owner
	srv  *server.Server
	game Game

	mu     sync.Mutex
	leases map[string]*lease // zones we run; tick goroutine writes, others read under mu
	saving map[string]*saveWait
	// preparing bounds the handoffs being prepared here at once.
	preparing chan struct{}
	nodes     map[string]nodeRecord

	started time.Time
	subs    []*nats.Subscription
	track   chan trackJob
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  atomic.Bool

	chat   func(from, text string) // set by OnChat; called on a NATS goroutine
	banner Banner                  // set by ShareBans

	checkpoints, cpBytes, cpErrors, fenced, selfFenced, claims, failovers atomic.Uint64
	handoffsOut, handoffsFailed, arrivals                                 atomic.Uint64
	seq                                                                   atomic.Uint64
}

type trackJob struct{ name, zone string }

// ErrFenced is returned by Commit when another node has taken the zone:
// this node must not run it any more, and has released it.
var ErrFenced = errors.New("cluster: zone taken over by another node")

// ErrNotOwner is returned when an operation needs a zone this node does
// not run.
var ErrNotOwner = errors.New("cluster: this node does not run the zone")

// New connects to NATS and opens (creating if needed) the cluster's
// buckets. The node does nothing until Start: create it first, hand it to
// the game (which may set OnChat) and to the server's Config (Locate),
// then Start it with both.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Verify(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Node),
		leases: map[string]*lease{}, nodes: map[string]nodeRecord{}, saving: map[string]*saveWait{},
		preparing: make(chan struct{}, maxPreparing),
		track:     make(chan trackJob, maxTrackQueue), stop: make(chan struct{})}
	n.nc = cfg.Conn
	if n.nc == nil {
		nc, err := nats.Connect(cfg.URL, nats.Name("tickwire "+cfg.Node),
			nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
		if err != nil {
			return nil, fmt.Errorf("cluster: connect to NATS %s: %w", cfg.URL, err)
		}
		n.nc, n.own = nc, true
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		n.closeConn()
		return nil, fmt.Errorf("cluster: JetStream: %w", err)
	}
	n.js = js
	open := func(suffix, desc string, history uint8) (jetstream.KeyValue, error) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: cfg.Name + "-" + suffix, Description: desc, History: history,
			MaxValueSize: MaxStateBytes + 64<<10, Storage: jetstream.FileStorage,
		})
		if err != nil {
			return nil, fmt.Errorf("cluster: bucket %s-%s: %w", cfg.Name, suffix, err)
		}
		return kv, nil
	}
	for _, b := range []struct {
		kv          *jetstream.KeyValue
		suffix, doc string
	}{
		{&n.zkv, "zones", "tickwire zone leases and checkpoints"},
		{&n.nkv, "nodes", "tickwire node heartbeats"},
		{&n.pkv, "players", "tickwire player locations (hints)"},
		{&n.rkv, "rooms", "tickwire room directory"},
	} {
		if *b.kv, err = open(b.suffix, b.doc, 1); err != nil {
			n.closeConn()
			return nil, err
		}
	}
	return n, nil
}

func (n *Node) closeConn() {
	if n.own {
		n.nc.Close()
	}
}

func (n *Node) subject(parts ...string) string {
	s := n.cfg.Name
	for _, p := range parts {
		s += "." + p
	}
	return s
}

// Server is the server this node serves.
func (n *Node) Server() *server.Server { return n.srv }

// Self is this node as clients reach it.
func (n *Node) Self() Owner { return Owner{Node: n.cfg.Node, Addr: n.cfg.Addr, WS: n.cfg.WS} }

// Start begins the node's work for srv, which runs game: heartbeats,
// claiming zones, checkpoints, handoff and service subscriptions. The
// server must be ticking. Start may be called once.
func (n *Node) Start(srv *server.Server, game Game) error {
	if n.srv != nil {
		return errors.New("cluster: Start called twice")
	}
	if srv == nil || game == nil {
		return errors.New("cluster: Start needs the server and its game")
	}
	n.srv, n.game = srv, game
	subs := []struct {
		subj string
		fn   nats.MsgHandler
	}{
		{n.subject("node", n.cfg.Node, "prepare"), n.onPrepare},
		{n.subject("node", n.cfg.Node, "commit"), n.onCommit},
		{n.subject("node", n.cfg.Node, "abort"), n.onAbort},
		{n.subject("who"), n.onWho},
		{n.subject("chat"), n.onChat},
		{n.subject("ban"), n.onBan},
	}
	for _, s := range subs {
		sub, err := n.nc.Subscribe(s.subj, s.fn)
		if err != nil {
			n.unsubscribe()
			return fmt.Errorf("cluster: subscribe %s: %w", s.subj, err)
		}
		n.subs = append(n.subs, sub)
	}
	n.started = time.Now()
	n.heartbeat()
	n.wg.Add(3)
	go n.claimLoop()
	go n.checkpointLoop()
	go n.trackLoop()
	n.log.Info("cluster node started", "cluster", n.cfg.Name, "addr", n.cfg.Addr, "ws", n.cfg.WS, "zones", n.cfg.Zones)
	return nil
}

func (n *Node) unsubscribe() {
	for _, s := range n.subs {
		_ = s.Unsubscribe()
	}
	n.subs = nil
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	zones := len(n.leases)
	n.mu.Unlock()
	return Stats{Zones: zones, Checkpoints: n.checkpoints.Load(), CheckpointBytes: n.cpBytes.Load(),
		CheckpointErrors: n.cpErrors.Load(), Fenced: n.fenced.Load(), SelfFenced: n.selfFenced.Load(),
		Claims: n.claims.Load(), Failovers: n.failovers.Load(), HandoffsOut: n.handoffsOut.Load(),
		HandoffsFailed: n.handoffsFailed.Load(), Arrivals: n.arrivals.Load()}
}

// Owns reports whether this node runs zone now. Any goroutine.
func (n *Node) Owns(zone string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leases[zone] != nil
}

// settled reports whether this node runs zone and has finished restoring
// it (its arrivals hold every seat key they will get).
func (n *Node) settled(zone string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.leases[zone]
	return l != nil && !l.settling
}

// Owned lists the zones this node runs, sorted.
func (n *Node) Owned() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.leases))
	for z := range n.leases {
		out = append(out, z)
	}
	slices.Sort(out)
	return out
}

func zoneKey(zone string) string { return "zone." + zone }

// Owner looks up who runs zone now (one NATS read). live is false when
// the zone has no owner or its lease has lapsed. Not for the tick
// goroutine's hot path: it waits for NATS up to OpTimeout.
func (n *Node) Owner(ctx context.Context, zone string) (o Owner, live bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.OpTimeout)
	defer cancel()
	e, err := n.zkv.Get(ctx, zoneKey(zone))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Owner{}, false, nil
	}
	if err != nil {
		return Owner{}, false, err
	}
	var rec zoneRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return Owner{}, false, fmt.Errorf("cluster: zone %s record: %w", zone, err)
	}
	return Owner{Node: rec.Owner, Addr: rec.Addr, WS: rec.WS}, rec.Owner != "" && time.Now().UnixMilli() < rec.LeaseUntil, nil
}

// Commit writes zone's checkpoint now, on the tick goroutine, and returns
// once JetStream has it: call it after an event that must survive this
// node's death (an item changing hands, a player arriving) and before the
// player hears of it. ErrFenced means the zone is no longer this node's
// (it has been released); any other error means the write did not happen
// and the game should refuse the event.
func (n *Node) Commit(t *server.Tick, zone string) error {
	return n.save(t, zone)
}

// save checkpoints zone with a compare-and-set on its revision. Tick only.
func (n *Node) save(t *server.Tick, zone string) error {
	n.mu.Lock()
	l := n.leases[zone]
	n.mu.Unlock()
	if l == nil {
		return ErrNotOwner
	}
	state, err := n.game.Checkpoint(t, zone)
	if err == nil && len(state) > MaxStateBytes {
		err = fmt.Errorf("%d bytes, more than %d", len(state), MaxStateBytes)
	}
	if err != nil {
		// Nothing can be written: the lease is not renewed either.
		n.cpErrors.Add(1)
		n.fenceIfLapsing(t, zone, l)
		return fmt.Errorf("cluster: checkpoint of zone %s: %w", zone, err)
	}
	now := time.Now()
	rec := l.rec
	rec.LeaseUntil = now.Add(n.cfg.LeaseTTL).UnixMilli()
	rec.Seq++
	rec.Saved = now.UnixMilli()
	rec.State = state
	rec.Departed = pruneDeparted(rec.Departed, now)
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	// The write must land before the lease it renews lapses.
	deadline := now.Add(n.cfg.OpTimeout)
	if lapse := time.UnixMilli(l.rec.LeaseUntil); lapse.Before(deadline) {
		deadline = lapse
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	rev, err := n.zkv.Update(ctx, zoneKey(zone), data, l.rev)
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyNotFound) {
		// A timeout does not say whether the write landed: read the key
		// back. Taking a landed write for a lost one would abort a
		// committed handoff and lose its player.
		if landed, r := n.landed(zone, rec); landed {
			rev, err = r, nil
		}
	}
	if err != nil {
		n.cpErrors.Add(1)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyNotFound) {
			n.fenced.Add(1)
			n.log.Warn("zone taken over by another node: releasing it", "zone", zone)
			n.release(t, zone)
			return ErrFenced
		}
		if n.fenceIfLapsing(t, zone, l) {
			return ErrFenced
		}
		return fmt.Errorf("cluster: checkpoint of zone %s not written: %w", zone, err)
	}
	l.rev, l.rec, l.lastWrite = rev, rec, now
	l.rec.State = nil // the game holds the live state; keep no copy
	n.checkpoints.Add(1)
	n.cpBytes.Add(uint64(len(data)))
	return nil
}

// landed reports whether the key holds rec (our write, whose answer was
// lost), and its revision.
func (n *Node) landed(zone string, rec zoneRecord) (bool, uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	defer cancel()
	e, err := n.zkv.Get(ctx, zoneKey(zone))
	if err != nil {
		return false, 0
	}
	var cur zoneRecord
	if json.Unmarshal(e.Value(), &cur) != nil {
		return false, 0
	}
	return cur.Owner == rec.Owner && cur.Epoch == rec.Epoch && cur.Seq == rec.Seq, e.Revision()
}

// fenceIfLapsing releases zone if its lease could lapse before the next
// checkpoint round lands (this write failed, the next may take up to
// OpTimeout, CheckpointEvery from now): another node may claim it then, so
// this node stops first. Tick only.
func (n *Node) fenceIfLapsing(t *server.Tick, zone string, l *lease) bool {
	if time.Now().Add(n.cfg.CheckpointEvery+n.cfg.OpTimeout).UnixMilli() < l.rec.LeaseUntil {
		return false
	}
	n.selfFenced.Add(1)
	n.log.Error("zone lease could not be renewed: releasing it before it lapses", "zone", zone)
	n.mu.Lock()
	delete(n.leases, zone)
	n.mu.Unlock()
	// No NATS lookup here: NATS is what failed. Players go to another live
	// node, which redirects them once the zone has a new owner.
	n.game.Release(t, zone, n.anyOtherNode())
	return true
}

func pruneDeparted(d []Departure, now time.Time) []Departure {
	cut := now.Add(-departedKeep).UnixMilli()
	i := 0
	for i < len(d) && (d[i].At < cut || len(d)-i > maxDeparted) {
		i++
	}
	return d[i:]
}

// release forgets zone and tells the game where its players should go.
// Tick only.
func (n *Node) release(t *server.Tick, zone string) {
	n.mu.Lock()
	if n.leases[zone] == nil {
		n.mu.Unlock()
		return
	}
	delete(n.leases, zone)
	n.mu.Unlock()
	to, live, err := n.Owner(context.Background(), zone)
	if err != nil || !live || to.Node == n.cfg.Node {
		to = n.anyOtherNode()
	}
	n.game.Release(t, zone, to)
}

// anyOtherNode is a live node other than this one, from the last
// heartbeats, or the zero Owner.
func (n *Node) anyOtherNode() Owner {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now().UnixMilli()
	names := make([]string, 0, len(n.nodes))
	for name, r := range n.nodes {
		if name != n.cfg.Node && now-r.Seen < n.cfg.LeaseTTL.Milliseconds() {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return Owner{}
	}
	slices.Sort(names)
	return n.nodes[names[0]].Owner
}

// checkpointLoop checkpoints every zone this node runs, every
// CheckpointEvery, on the tick goroutine.
func (n *Node) checkpointLoop() {
	defer n.wg.Done()
	tk := time.NewTicker(n.cfg.CheckpointEvery)
	defer tk.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-tk.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL)
		err := n.srv.Call(ctx, func(t *server.Tick) {
			for _, z := range n.Owned() {
				if err := n.save(t, z); err != nil && !errors.Is(err, ErrFenced) {
					n.log.Warn("checkpoint failed", "zone", z, "err", err)
				}
			}
		})
		cancel()
		if err != nil && !errors.Is(err, server.ErrServerClosed) {
			n.log.Warn("checkpoint round not run", "err", err)
		}
		n.heartbeat()
	}
}

// heartbeat writes this node's record and reads every other's.
func (n *Node) heartbeat() {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	defer cancel()
	rec := nodeRecord{Owner: n.Self(), Configured: n.cfg.Zones, Zones: len(n.Owned()), Players: n.srv.Stats().Players, Seen: time.Now().UnixMilli()}
	data, _ := json.Marshal(rec)
	if _, err := n.nkv.Put(ctx, "node."+n.cfg.Node, data); err != nil {
		n.log.Warn("heartbeat not written", "err", err)
	}
	n.readNodes(ctx)
}

// readNodes reads every node's heartbeat.
func (n *Node) readNodes(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.OpTimeout)
	defer cancel()
	keys, err := n.nkv.ListKeys(ctx)
	if err != nil {
		return
	}
	seen := map[string]nodeRecord{}
	for k := range keys.Keys() {
		e, err := n.nkv.Get(ctx, k)
		if err != nil {
			continue
		}
		var r nodeRecord
		if json.Unmarshal(e.Value(), &r) == nil && r.Node != "" {
			seen[r.Node] = r
		}
	}
	n.mu.Lock()
	n.nodes = seen
	n.mu.Unlock()
}

// Nodes returns the live nodes as of the last heartbeat, sorted by name.
func (n *Node) Nodes() []Owner {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now().UnixMilli()
	var out []Owner
	for _, r := range n.nodes {
		if now-r.Seen < n.cfg.LeaseTTL.Milliseconds() {
			out = append(out, r.Owner)
		}
	}
	slices.SortFunc(out, func(a, b Owner) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// leastLoaded reports whether this node has the fewest zones among the
// live nodes (ties go to the smaller name).
func (n *Node) leastLoaded() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	mine := len(n.leases)
	now := time.Now().UnixMilli()
	for name, r := range n.nodes {
		if name == n.cfg.Node || now-r.Seen >= n.cfg.LeaseTTL.Milliseconds() {
			continue
		}
		if r.Zones < mine || (r.Zones == mine && name < n.cfg.Node) {
			return false
		}
	}
	return true
}

// claimLoop looks for zones without a live owner and claims those this
// node should run.
func (n *Node) claimLoop() {
	defer n.wg.Done()
	tk := time.NewTicker(n.cfg.ClaimEvery)
	defer tk.Stop()
	orphanSince := map[string]time.Time{}
	for {
		n.claimRound(orphanSince)
		select {
		case <-n.stop:
			return
		case <-tk.C:
		}
	}
}

// configuredElsewhere returns the live node, other than this one, that
// is configured to run zone, if any.
func (n *Node) configuredElsewhere(zone string) (nodeRecord, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now().UnixMilli()
	for name, r := range n.nodes {
		if name != n.cfg.Node && now-r.Seen < n.cfg.LeaseTTL.Milliseconds() && slices.Contains(r.Configured, zone) {
			return r, true
		}
	}
	return nodeRecord{}, false
}

func (n *Node) claimRound(orphanSince map[string]time.Time) {
	// For one lease after start, claim only our configured zones: the
	// other nodes of a cluster starting together get to say which zones
	// are theirs first.
	grace := time.Since(n.started) < n.cfg.LeaseTTL+n.cfg.ClaimEvery
	for _, zone := range n.game.Zones() {
		if n.closed.Load() {
			return
		}
		configuredHere := slices.Contains(n.cfg.Zones, zone)
		if n.Owns(zone) {
			// A zone configured for another live node, and not for us,
			// goes to that node: hand it over cleanly.
			if r, other := n.configuredElsewhere(zone); other && !configuredHere {
				// Its players go straight to that node, which claims the
				// zone at its next round; until then it answers their
				// RESUME with "unavailable", and they retry. The tick
				// does not wait.
				ctx, cancel := context.WithTimeout(context.Background(), 2*n.cfg.LeaseTTL)
				_ = n.srv.Call(ctx, func(t *server.Tick) { n.handOver(t, zone, r.Owner) })
				cancel()
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
		e, err := n.zkv.Get(ctx, zoneKey(zone))
		cancel()
		var rec zoneRecord
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			continue
		default:
			if json.Unmarshal(e.Value(), &rec) != nil {
				n.log.Error("zone record unreadable; not claiming it", "zone", zone)
				continue
			}
			rev = e.Revision()
			if rec.Owner != "" && rec.Owner != n.cfg.Node && time.Now().UnixMilli() < rec.LeaseUntil {
				delete(orphanSince, zone)
				continue // live elsewhere
			}
		}
		// A zone its owner handed over (Close) is anyone's at once.
		handedOver := rev != 0 && rec.Owner == "" && rec.LeaseUntil == 0
		if !configuredHere && !handedOver {
			if grace {
				continue
			}
			if _, other := n.configuredElsewhere(zone); other {
				continue // its node claims it
			}
		}
		if _, ok := orphanSince[zone]; !ok {
			orphanSince[zone] = time.Now()
		}
		// Our configured zones and our own lapsed leases (a restart) we
		// claim at once; others when we are the least loaded, or when
		// the zone has waited two rounds (the least loaded may be gone).
		mine := configuredHere || rec.Owner == n.cfg.Node
		if !mine && !n.leastLoaded() && time.Since(orphanSince[zone]) < 2*n.cfg.ClaimEvery+n.cfg.CheckpointEvery {
			continue
		}
		if n.claim(zone, rec, rev) {
			delete(orphanSince, zone)
		}
	}
}

// claim takes zone over with a compare-and-set on its revision (rev 0: a
// zone never run) and restores it on the tick.
func (n *Node) claim(zone string, old zoneRecord, rev uint64) bool {
	now := time.Now()
	rec := zoneRecord{Owner: n.cfg.Node, Addr: n.cfg.Addr, WS: n.cfg.WS, Epoch: old.Epoch + 1,
		LeaseUntil: now.Add(n.cfg.LeaseTTL).UnixMilli(), Saved: old.Saved, State: old.State, Departed: old.Departed}
	data, err := json.Marshal(rec)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	var newRev uint64
	if rev == 0 {
		newRev, err = n.zkv.Create(ctx, zoneKey(zone), data)
	} else {
		newRev, err = n.zkv.Update(ctx, zoneKey(zone), data, rev)
	}
	cancel()
	if err != nil {
		return false // another node was quicker, or NATS is down
	}
	state := old.State
	rec.State = nil
	l := &lease{rev: newRev, rec: rec, lastWrite: now, settling: true}
	ctx, cancel = context.WithTimeout(context.Background(), n.cfg.LeaseTTL)
	defer cancel()
	var rerr error
	// Call may give up waiting (ctx) after the function was queued: the
	// function then must not run late, or a zone left to lapse would be
	// restored after all. once decides which of the two happens.
	var once atomic.Int32 // 0 queued, 1 ran, 2 abandoned
	finished := make(chan struct{})
	err = n.srv.Call(ctx, func(t *server.Tick) {
		if !once.CompareAndSwap(0, 1) {
			return
		}
		defer close(finished)
		n.mu.Lock()
		n.leases[zone] = l
		n.mu.Unlock()
		if rerr = n.game.Restore(t, zone, state); rerr != nil {
			n.mu.Lock()
			delete(n.leases, zone)
			n.mu.Unlock()
			return
		}
		// Write at once: the restore is now the zone's state, and the
		// lease is renewed from here.
		if err := n.save(t, zone); err != nil {
			n.log.Warn("first checkpoint after claim failed", "zone", zone, "err", err)
		}
	})
	if err != nil && !once.CompareAndSwap(0, 2) {
		<-finished // it runs now: wait for its outcome
		err = nil
	}
	if err == nil {
		err = rerr
	}
	if err != nil {
		n.log.Error("zone claimed but not restored; leaving it to lapse", "zone", zone, "err", err)
		return false
	}
	n.addDepartedKeys(zone)
	n.mu.Lock()
	l.settling = false
	n.mu.Unlock()
	n.claims.Add(1)
	took := old.Owner != "" && old.Owner != n.cfg.Node && old.LeaseUntil != 0
	if took {
		n.failovers.Add(1)
	}
	if old.Saved != 0 {
		n.log.Info("zone claimed", "zone", zone, "epoch", rec.Epoch, "from", old.Owner, "failover", took,
			"checkpoint_age_ms", max(0, now.UnixMilli()-old.Saved), "state_bytes", len(state))
	} else {
		n.log.Info("zone claimed", "zone", zone, "epoch", rec.Epoch, "fresh", true)
	}
	return true
}

// addDepartedKeys lets the players' own seat tokens claim the arrivals the
// restore of zone made for handoffs their source zones committed. The
// target of a handoff learns those tokens from the commit note (onCommit);
// when the target died before its next checkpoint, the node restoring the
// zone learns them from the source zone's departure record, so that a
// player moving when the node died resumes with its own token. It reads
// NATS, one record per source zone.
func (n *Node) addDepartedKeys(zone string) {
	n.takeDepartedKeys(func(a server.Arrival) bool { return a.Tag == zone })
}

// takeDepartedKeys adds to the waiting handoff arrivals that match, the
// player's seat keys their source zones' departure records hold (those
// whose source committed). It reads NATS, one record per source zone, and
// reports whether any arrival took keys.
func (n *Node) takeDepartedKeys(match func(server.Arrival) bool) bool {
	bySource := map[string][]string{}    // source zone -> arrival ids
	has := map[string][]server.SeatKey{} // arrival id -> its keys now
	for _, a := range n.srv.Arrivals() {
		if from, _, ok := strings.Cut(a.ID, "/"); ok && from != "" && from != a.Tag && match(a) {
			bySource[from] = append(bySource[from], a.ID)
			has[a.ID] = a.Keys
		}
	}
	took := false
	for from, ids := range bySource {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
		e, err := n.zkv.Get(ctx, zoneKey(from))
		cancel()
		if err != nil {
			continue
		}
		var rec zoneRecord
		if json.Unmarshal(e.Value(), &rec) != nil {
			continue
		}
		for _, d := range rec.Departed {
			if len(d.Keys) == 0 || !slices.Contains(ids, d.ID) || !slices.ContainsFunc(d.Keys, func(k server.SeatKey) bool { return !slices.Contains(has[d.ID], k) }) {
				continue // not ours, or it has them already
			}
			if n.srv.AddKeys(d.ID, d.Keys) {
				took = true
				n.log.Info("handoff arrival takes the player's own seat token", "id", d.ID, "player", d.Player)
			}
		}
	}
	return took
}

// Close leaves the cluster cleanly: every zone this node runs gets a last
// checkpoint and its lease released, so another node claims it at its
// next ClaimEvery instead of waiting for the lease to lapse; the game's
// Release moves the players there. Call it before the server shuts down.
func (n *Node) Close(ctx context.Context) error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	if n.srv == nil { // never started
		n.closeConn()
		return nil
	}
	close(n.stop)
	n.wg.Wait()
	n.readNodes(ctx)
	to := n.anyOtherNode()
	err := n.srv.Call(ctx, func(t *server.Tick) {
		// Every zone is written and released at once, its players sent to
		// another live node, which redirects them once the zone has its
		// new owner: no zone waits for another's hand-over.
		for _, z := range n.Owned() {
			n.handOver(t, z, to)
		}
	})
	n.unsubscribe()
	dctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	_ = n.nkv.Delete(dctx, "node."+n.cfg.Node)
	cancel()
	if n.own {
		_ = n.nc.Drain()
	}
	return err
}

// handOver writes zone's last checkpoint with a released lease and
// releases the zone to node to (zero: no other node is live; the players
// are told their zone is gone). Tick only.
func (n *Node) handOver(t *server.Tick, zone string, to Owner) {
	n.mu.Lock()
	l := n.leases[zone]
	n.mu.Unlock()
	if l == nil {
		return
	}
	if err := n.save(t, zone); err != nil {
		n.log.Warn("last checkpoint failed; the zone fails over from the previous one", "zone", zone, "err", err)
		n.release(t, zone)
		return
	}
	rec := l.rec
	rec.LeaseUntil = 0
	rec.Owner = ""
	// Keep the state just written: re-read it rather than keep a copy.
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	defer cancel()
	e, err := n.zkv.Get(ctx, zoneKey(zone))
	if err == nil && e.Revision() == l.rev {
		var cur zoneRecord
		if json.Unmarshal(e.Value(), &cur) == nil {
			cur.Owner, cur.LeaseUntil = "", 0
			if data, err := json.Marshal(cur); err == nil {
				_, _ = n.zkv.Update(ctx, zoneKey(zone), data, l.rev)
			}
		}
	}
	n.mu.Lock()
	delete(n.leases, zone)
	n.mu.Unlock()
	n.log.Info("zone handed over", "zone", zone, "to", to.Node)
	n.game.Release(t, zone, to)
}
