package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickwire/tickwire/server"
)

// A handoff moves a player from a zone this node runs (the source) to a
// zone another node runs (the target), exactly once:
//
//  1. prepare: the source freezes the player and sends its state to the
//     target, which Expects it (keyed by the handoff id, so a retry is
//     harmless), writes its zone's checkpoint with the arrival in it, and
//     answers with a single-use ticket. A zone that changes owner under a
//     prepare may take the arrival with it: the source then asks the next
//     owner with the same id (see prepare). Until step 2 the player's
//     state is in both zones' checkpoints, but only the source's copy can
//     be claimed: the ticket has not left the source, and the target
//     accepts no other token yet.
//  2. commit: the source takes the player out of its zone and writes its
//     checkpoint (compare-and-set on the zone's revision) with a Departure
//     record. This write is the commit point. If it fails, the handoff is
//     aborted: the target drops the arrival, and the player stays (or,
//     if the zone was lost, lives on in the new owner's copy).
//  3. move: the source sends MOVED with the ticket, and tells the target
//     the player's own seat tokens, so that a client whose MOVED was lost
//     can still resume there (through any node's Locator).
//
// A crash of the source before step 2 leaves the player in the source
// zone's last checkpoint and an arrival on the target that no client can
// claim and that expires. A crash after step 2 leaves the player only on
// the target. A crash of the target after step 1 is covered by its
// checkpoint: the arrival is restored with the zone.

// prepareReq is the source's step 1.
type prepareReq struct {
	ID    string          `json:"id"`
	Zone  string          `json:"zone"` // the target zone
	From  string          `json:"from"` // the source zone
	Ident server.Identity `json:"ident"`
	Data  []byte          `json:"data"`
	// Node is set by SendTo: the target is this node, not a zone's owner,
	// and there is no zone to check or commit (a room).
	Node string `json:"node,omitempty"`
}

// prepareResp is the target's answer.
type prepareResp struct {
	Ticket string `json:"ticket,omitempty"`
	Owner  Owner  `json:"owner"`
	Error  string `json:"error,omitempty"`
}

// commitMsg is step 3's note to the target (and abort's).
type commitMsg struct {
	ID   string           `json:"id"`
	Keys []server.SeatKey `json:"keys,omitempty"`
}

// Prepared is a handoff the target has accepted: the ticket that claims
// the player there, and where the target is.
type Prepared struct {
	ID     string
	Ticket string
	To     Owner
	Zone   string
}

// Handoff starts moving p's player from zone from (which this node runs)
// to zone to, run by another node; data is the game's state for the
// player. It returns at once; done runs on the tick goroutine with the
// prepared handoff, or an error (the target could not be found or refused:
// the player stays). On success the game must take the player out of its
// zone and call Depart, which commits and sends MOVED. Tick only.
func (n *Node) Handoff(t *server.Tick, p *server.Player, from, to string, data []byte, done func(t *server.Tick, h Prepared, err error)) {
	// The id names the source zone, so that a target can later tell
	// whether the source committed (Committed).
	id := from + "/" + newID()
	req := prepareReq{ID: id, Zone: to, From: from, Ident: p.Identity(), Data: data}
	go func() {
		h, err := n.prepare(req)
		if err != nil {
			n.handoffsFailed.Add(1)
			n.log.Info("handoff not prepared; the player stays", "id", id, "player", req.Ident.Name, "to_zone", to, "err", err)
		}
		n.answer(id, h, err, done)
	}()
}

// answer hands a prepare's outcome to the game on the tick. It is posted,
// not called: answers to many handoffs at once must all reach the game,
// or their players would stay frozen. Only a closing server or 4096
// waiting functions refuse it; the target's arrival is then dropped.
func (n *Node) answer(id string, h Prepared, err error, done func(t *server.Tick, h Prepared, err error)) {
	if perr := n.srv.Post(func(t *server.Tick) { done(t, h, err) }); perr != nil {
		n.log.Warn("handoff answer not delivered to the tick", "id", id, "err", perr)
		if err == nil {
			n.abort(h)
		}
	}
}

// prepare sends step 1. A target that answers "not the owner" (the zone
// is moving: handed over, failing over, or still settling on its new
// owner) is asked again, with the same id, once the zone's record names
// the next owner: a target may have stored the arrival in the zone's
// last checkpoint before the zone left it, and the next owner restores
// it under that id, so asking it again returns that arrival's ticket
// instead of leaving a second copy of the player there. It gives up after
// a failover's worth of time (LeaseTTL plus two ClaimEvery) or
// maxPrepareAttempts.
func (n *Node) prepare(req prepareReq) (h Prepared, err error) {
	var lastErr error
	asked := map[string]bool{}
	defer func() {
		if err != nil {
			// A node that got the request may have stored the arrival
			// although its answer was lost: tell it to drop it.
			for node := range asked {
				n.abort(Prepared{ID: req.ID, To: Owner{Node: node}})
			}
		}
	}()
	deadline := time.Now().Add(n.cfg.LeaseTTL + 2*n.cfg.ClaimEvery)
	var pause time.Duration
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt >= maxPrepareAttempts || time.Now().Add(pause).After(deadline) {
				return Prepared{}, lastErr
			}
			time.Sleep(pause)
		}
		o, live, err := n.Owner(context.Background(), req.Zone)
		if err != nil {
			return Prepared{}, err
		}
		if !live {
			lastErr = fmt.Errorf("zone %s has no live owner", req.Zone)
			pause = n.cfg.ClaimEvery
			continue
		}
		body, _ := json.Marshal(req)
		asked[o.Node] = true
		reply, err := n.nc.Request(n.subject("node", o.Node, "prepare"), body, 2*n.cfg.OpTimeout)
		if err != nil {
			lastErr = fmt.Errorf("node %s: %w", o.Node, err)
			pause = 0
			continue // same id: a retry is idempotent on the target
		}
		var resp prepareResp
		if err := json.Unmarshal(reply.Data, &resp); err != nil {
			return Prepared{}, fmt.Errorf("node %s: bad answer: %w", o.Node, err)
		}
		if resp.Error != "" {
			lastErr = fmt.Errorf("node %s: %s", o.Node, resp.Error)
			if resp.Error == ErrNotOwner.Error() {
				pause = n.cfg.ClaimEvery / 4
				continue
			}
			return Prepared{}, lastErr
		}
		return Prepared{ID: req.ID, Ticket: resp.Ticket, To: resp.Owner, Zone: req.Zone}, nil
	}
}

// onPrepare is the target's step 1. It runs on a goroutine of its own (at
// most maxPreparing at once; beyond, the request is refused and the
// source keeps the player), so one handoff waiting for the tick does not
// hold up the next.
func (n *Node) onPrepare(m *nats.Msg) {
	select {
	case n.preparing <- struct{}{}:
	default:
		data, _ := json.Marshal(prepareResp{Error: "busy"})
		_ = m.Respond(data)
		return
	}
	go func() {
		defer func() { <-n.preparing }()
		n.prepareHere(m)
	}()
}

func (n *Node) prepareHere(m *nats.Msg) {
	var req prepareReq
	answer := func(r prepareResp) {
		data, _ := json.Marshal(r)
		_ = m.Respond(data)
	}
	if err := json.Unmarshal(m.Data, &req); err != nil || req.ID == "" || req.Ident.Name == "" {
		answer(prepareResp{Error: "bad request"})
		return
	}
	direct := req.Node != ""
	if direct && req.Node != n.cfg.Node {
		answer(prepareResp{Error: "bad request"})
		return
	}
	// A zone still settling on a new owner may yet restore this very
	// arrival from its last owner's checkpoint: the source asks again.
	if !direct && !n.settled(req.Zone) {
		answer(prepareResp{Error: ErrNotOwner.Error()})
		return
	}
	ticket, err := n.srv.Expect(server.Arrival{ID: req.ID, Ident: req.Ident, Data: req.Data, Tag: req.Zone,
		Until: time.Now().Add(n.cfg.ArrivalHold)})
	if err != nil {
		answer(prepareResp{Error: err.Error()})
		return
	}
	if direct {
		answer(prepareResp{Ticket: ticket, Owner: n.Self()})
		return
	}
	// The arrival must survive this node's death before the source
	// commits: write the zone now (one write for every arrival that came
	// in meanwhile).
	if serr := n.saveSoon(req.Zone); serr != nil {
		n.srv.Unexpect(req.ID)
		if errors.Is(serr, ErrNotOwner) || errors.Is(serr, ErrFenced) {
			// The zone left this node after Expect: its last checkpoint
			// may hold the arrival, and then so will its next owner.
			// "Not the owner" makes the source ask that owner with the
			// same id, which finds it there (or makes it anew).
			answer(prepareResp{Error: ErrNotOwner.Error()})
			return
		}
		answer(prepareResp{Error: "checkpoint: " + serr.Error()})
		return
	}
	answer(prepareResp{Ticket: ticket, Owner: n.Self()})
}

// saveWait is a checkpoint that callers off the tick wait for together.
type saveWait struct {
	done chan struct{}
	err  error
}

// saveSoon checkpoints zone on the next tick and waits for it. Callers
// that come while one is scheduled share it: what each of them changed
// before calling is in the state it writes. Not on the tick goroutine.
func (n *Node) saveSoon(zone string) error {
	n.mu.Lock()
	w := n.saving[zone]
	start := w == nil
	if start {
		w = &saveWait{done: make(chan struct{})}
		n.saving[zone] = w
	}
	n.mu.Unlock()
	if start {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL)
		var once atomic.Int32 // 0 queued, 1 ran, 2 abandoned (see claim)
		finished := make(chan struct{})
		err := n.srv.Call(ctx, func(t *server.Tick) {
			if !once.CompareAndSwap(0, 1) {
				return
			}
			defer close(finished)
			n.mu.Lock()
			delete(n.saving, zone)
			n.mu.Unlock()
			w.err = n.save(t, zone)
		})
		cancel()
		if err != nil {
			if once.CompareAndSwap(0, 2) {
				n.mu.Lock()
				if n.saving[zone] == w {
					delete(n.saving, zone)
				}
				n.mu.Unlock()
				w.err = err
			} else {
				<-finished
			}
		}
		close(w.done)
	}
	<-w.done
	return w.err
}

// Depart is step 2 and 3, on the tick, after the game took p's player out
// of zone from: it writes the zone's checkpoint with the departure, and
// on success sends p MOVED with the ticket. On an error the handoff is
// aborted and the game must put the player back (or, with ErrFenced, let
// it go: the zone is no longer this node's, and its new owner has the
// player from the last checkpoint). Tick only.
//
// from "" is a player with no state on this node (one that just logged
// in on a node that does not run its zone): there is nothing to commit,
// and it is moved at once.
func (n *Node) Depart(t *server.Tick, p *server.Player, from string, h Prepared) error {
	if from == "" {
		n.move(p, h)
		return nil
	}
	n.mu.Lock()
	l := n.leases[from]
	if l != nil {
		l.rec.Departed = append(l.rec.Departed, Departure{ID: h.ID, Player: p.Name(), Zone: h.Zone, At: time.Now().UnixMilli(), Keys: p.SeatKeys()})
	}
	n.mu.Unlock()
	if l == nil {
		n.abort(h)
		n.handoffsFailed.Add(1)
		return ErrNotOwner
	}
	if err := n.save(t, from); err != nil {
		n.abort(h)
		n.handoffsFailed.Add(1)
		if errors.Is(err, ErrFenced) {
			return err
		}
		// Not written: the departure must not be remembered either.
		n.mu.Lock()
		if l := n.leases[from]; l != nil && len(l.rec.Departed) > 0 {
			l.rec.Departed = l.rec.Departed[:len(l.rec.Departed)-1]
		}
		n.mu.Unlock()
		return err
	}
	n.move(p, h)
	return nil
}

// move sends p to the target of h and tells the target the player's own
// seat tokens.
func (n *Node) move(p *server.Player, h Prepared) {
	keys := p.SeatKeys()
	p.Move(h.To.Addr, h.To.WS, h.Ticket)
	n.handoffsOut.Add(1)
	body, _ := json.Marshal(commitMsg{ID: h.ID, Keys: keys})
	if err := n.nc.Publish(n.subject("node", h.To.Node, "commit"), body); err != nil {
		n.log.Warn("handoff commit note not sent; the client still has its ticket", "id", h.ID, "err", err)
	}
	n.Track(p.Name(), h.Zone)
}

// Abort abandons a prepared handoff whose player the game will not move
// after all (it left, or its zone was released, before the answer came):
// the target drops the arrival. Any goroutine.
func (n *Node) Abort(h Prepared) { n.abort(h) }

// Committed reports whether the handoff that made arrival a was committed
// by its source (the source zone's record lists it as departed), for a
// game deciding what an unclaimed arrival's expiry means: a committed
// player leaves the world; an uncommitted one still lives in its source
// zone. Arrivals that are not handoffs (restored players, rooms) count as
// committed. It reads NATS (up to OpTimeout); an unreadable record counts
// as committed.
func (n *Node) Committed(a server.Arrival) bool {
	from, _, ok := strings.Cut(a.ID, "/")
	if !ok || from == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	defer cancel()
	e, err := n.zkv.Get(ctx, zoneKey(from))
	if err != nil {
		return true
	}
	var rec zoneRecord
	if json.Unmarshal(e.Value(), &rec) != nil {
		return true
	}
	for _, d := range rec.Departed {
		if d.ID == a.ID {
			return true
		}
	}
	return false
}

func (n *Node) abort(h Prepared) {
	if h.To.Node == "" {
		return
	}
	body, _ := json.Marshal(commitMsg{ID: h.ID})
	_ = n.nc.Publish(n.subject("node", h.To.Node, "abort"), body)
}

// onCommit is step 3 on the target: the player's own seat tokens may now
// claim the arrival too.
func (n *Node) onCommit(m *nats.Msg) {
	var c commitMsg
	if json.Unmarshal(m.Data, &c) != nil || c.ID == "" {
		return
	}
	n.srv.AddKeys(c.ID, c.Keys)
}

// onAbort drops an arrival whose source could not commit.
func (n *Node) onAbort(m *nats.Msg) {
	var c commitMsg
	if json.Unmarshal(m.Data, &c) != nil || c.ID == "" {
		return
	}
	if n.srv.Unexpect(c.ID) {
		n.log.Info("handoff aborted by its source", "id", c.ID)
	}
}

// Arrived records that a player arrived here (Arriver.Arrive) into zone:
// it counts it and updates the player's location. The game should Commit
// the zone after it. Any goroutine.
func (n *Node) Arrived(name, zone string) {
	n.arrivals.Add(1)
	n.Track(name, zone)
}

// Track records, in the background, that the player called name is in
// zone now; the Locator uses it to send a client that comes to the wrong
// node to the right one. Any goroutine; never blocks.
func (n *Node) Track(name, zone string) {
	select {
	case n.track <- trackJob{name, zone}:
	default:
		n.log.Warn("player location queue full; location not recorded", "player", name)
	}
}

// Forget records, in the background, that the player left the world.
func (n *Node) Forget(name string) { n.Track(name, "") }

func (n *Node) trackLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case j := <-n.track:
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
			key := "player." + playerKey(j.name)
			var err error
			if j.zone == "" {
				err = n.pkv.Delete(ctx, key)
			} else {
				_, err = n.pkv.PutString(ctx, key, j.zone)
			}
			cancel()
			if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				n.log.Debug("player location not written", "player", j.name, "err", err)
			}
		}
	}
}

// playerKey makes a name safe as a KV key token.
func playerKey(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

// Locate is a server.Locator: it finds the node that runs the zone the
// player was last recorded in. A player whose zone has no live owner is
// told to retry (a failover is under way).
//
// A handoff arrival for user waiting here whose source committed after
// this node restored the zone (so the commit note, with the player's own
// seat keys, went to the zone's previous owner) first takes those keys
// from the source's departure record: the server then finds the token and
// tells the client to retry, which resumes it.
func (n *Node) Locate(user string) (server.Location, bool) {
	if n.takeDepartedKeys(func(a server.Arrival) bool { return a.Ident.Name == user }) {
		return server.Location{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.OpTimeout)
	defer cancel()
	e, err := n.pkv.Get(ctx, "player."+playerKey(user))
	if err != nil {
		return server.Location{}, false
	}
	zone := string(e.Value())
	o, live, err := n.Owner(ctx, zone)
	if err != nil || !live {
		return server.Location{Retry: true}, true
	}
	if o.Node == n.cfg.Node {
		if n.settled(zone) {
			return server.Location{}, false // here, and no seat: nothing to find
		}
		return server.Location{Retry: true}, true // being restored here
	}
	return server.Location{Addr: o.Addr, WS: o.WS}, true
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
