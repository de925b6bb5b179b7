package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickwire/tickwire/server"
)

// Rooms: a directory of rooms in the rooms bucket, for games whose unit is
// a room created on demand (a match, a lobby) rather than a fixed zone.
// JOIN <room> on any node finds the node that hosts the room, or places a
// new room on the least-loaded live node, and the player is sent there.
// A room holds no state the cluster keeps: if its node dies, the next
// JOIN places it again elsewhere.

type roomRecord struct {
	Owner
	Since int64 `json:"since"` // unix ms
}

func roomKey(room string) string { return "room." + playerKey(room) }

// PlaceRoom returns the node that hosts room. A room no live node hosts is
// placed on the live node with the fewest players (this one if it is the
// only one), with a compare-and-set, so two nodes placing it at once
// agree. It waits for NATS: not on the tick goroutine.
func (n *Node) PlaceRoom(ctx context.Context, room string) (Owner, error) {
	for attempt := 0; attempt < 4; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, n.cfg.OpTimeout)
		e, err := n.rkv.Get(cctx, roomKey(room))
		cancel()
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return Owner{}, err
		default:
			var r roomRecord
			if json.Unmarshal(e.Value(), &r) == nil && n.isLive(r.Node) {
				if r.Node == n.cfg.Node {
					// Ours: touch it, so that a ReleaseRoom of the room
					// read before this JOIN cannot delete it (its
					// revision is stale now).
					data, _ := json.Marshal(roomRecord{Owner: r.Owner, Since: time.Now().UnixMilli()})
					cctx, cancel := context.WithTimeout(ctx, n.cfg.OpTimeout)
					_, err := n.rkv.Update(cctx, roomKey(room), data, e.Revision())
					cancel()
					if err != nil {
						continue // it changed meanwhile: read it again
					}
				}
				return r.Owner, nil
			}
			rev = e.Revision() // its host is gone: place it again
		}
		host := n.leastPlayers()
		data, _ := json.Marshal(roomRecord{Owner: host, Since: time.Now().UnixMilli()})
		cctx, cancel = context.WithTimeout(ctx, n.cfg.OpTimeout)
		if rev == 0 {
			_, err = n.rkv.Create(cctx, roomKey(room), data)
		} else {
			_, err = n.rkv.Update(cctx, roomKey(room), data, rev)
		}
		cancel()
		if err == nil {
			return host, nil
		}
		// Another node placed it first: read its choice.
	}
	return Owner{}, fmt.Errorf("cluster: room %q could not be placed", room)
}

// ReleaseRoom removes room from the directory if this node hosts it and
// empty, run on the tick, still says it is empty: a JOIN that placed the
// room here meanwhile touched the entry, and the delete (a compare-and-set
// on the entry's revision) then fails. It does not wait; any goroutine.
func (n *Node) ReleaseRoom(room string, empty func() bool) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL)
		defer cancel()
		e, err := n.rkv.Get(ctx, roomKey(room))
		if err != nil {
			return
		}
		var r roomRecord
		if json.Unmarshal(e.Value(), &r) != nil || r.Node != n.cfg.Node {
			return
		}
		still := false
		if err := n.srv.Call(ctx, func(t *server.Tick) { still = empty() }); err != nil || !still {
			return
		}
		_ = n.rkv.Delete(ctx, roomKey(room), jetstream.LastRevision(e.Revision()))
	}()
}

func (n *Node) isLive(node string) bool {
	if node == n.cfg.Node {
		return !n.closed.Load()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.nodes[node]
	return ok && time.Now().UnixMilli()-r.Seen < n.cfg.LeaseTTL.Milliseconds()
}

// leastPlayers is the live node with the fewest players, as of the last
// heartbeats (this node counts its own players now).
func (n *Node) leastPlayers() Owner {
	best, bestN := n.Self(), n.srv.Stats().Players
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now().UnixMilli()
	for name, r := range n.nodes {
		if name == n.cfg.Node || now-r.Seen >= n.cfg.LeaseTTL.Milliseconds() {
			continue
		}
		if r.Players < bestN || (r.Players == bestN && name < best.Node) {
			best, bestN = r.Owner, r.Players
		}
	}
	return best
}

// SendTo moves p to node to, where it arrives tagged tag with data (an
// Arrival; for a room: the room's name): like Handoff, without a zone to
// commit on either side. done runs on the tick with the prepared move,
// which the game completes with Depart(t, p, "", h). Tick only.
func (n *Node) SendTo(t *server.Tick, p *server.Player, to Owner, tag string, data []byte, done func(t *server.Tick, h Prepared, err error)) {
	req := prepareReq{ID: newID(), Zone: tag, Ident: p.Identity(), Data: data, Node: to.Node}
	go func() {
		h, err := n.prepareAt(to.Node, req)
		n.answer(req.ID, h, err, done)
	}()
}

// prepareAt sends a prepare straight to node.
func (n *Node) prepareAt(node string, req prepareReq) (Prepared, error) {
	body, _ := json.Marshal(req)
	reply, err := n.nc.Request(n.subject("node", node, "prepare"), body, 2*n.cfg.OpTimeout)
	if err != nil {
		n.handoffsFailed.Add(1)
		return Prepared{}, fmt.Errorf("node %s: %w", node, err)
	}
	var resp prepareResp
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return Prepared{}, fmt.Errorf("node %s: bad answer: %w", node, err)
	}
	if resp.Error != "" {
		n.handoffsFailed.Add(1)
		return Prepared{}, fmt.Errorf("node %s: %s", node, resp.Error)
	}
	return Prepared{ID: req.ID, Ticket: resp.Ticket, To: resp.Owner, Zone: req.Zone}, nil
}
