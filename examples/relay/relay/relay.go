// Package relay is the room-relay benchmark game on tickwire: a fixed
// workload any load generator can drive over the text protocol. Clients JOIN
// a room, then send MOVE x y t; every tick each member of a room receives one
// POS line per other member whose position changed, carrying only the latest
// position and the opaque t its owner sent. The messages are defined in
// package relayproto (register them with relayproto.Register), which the
// load generator shares.
package relay

import (
	"context"
	"strings"
	"time"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
	"github.com/tickwire/tickwire/server"
)

type member struct {
	p       *server.Player
	room    *room
	pos     relayproto.Pos
	moved   bool
	placing bool // a JOIN waits for the room directory
	gone    bool // left the game
}

type room struct {
	name    string
	members []*member
	moved   []*member
	dirty   bool
}

// Game is the relay. The zero value is not usable; call New.
type Game struct {
	h     server.Handlers
	rooms map[string]*room
	dirty []*room

	// In a cluster (WithRooms): the room directory, and the rooms this
	// node hosts (placed here by the directory).
	node   *cluster.Node
	hosted map[string]bool
}

// Option configures New.
type Option func(*Game)

// WithRooms spreads rooms over the nodes of a cluster: JOIN <room> on any
// node asks the cluster's room directory which node hosts the room (a new
// room goes to the node with the fewest players) and, if it is another,
// moves the player there (MOVED; the client resumes there and gets
// JOINED). Players must log in (AUTH guest) rather than be logged in on
// connect: RESUME needs a connection that is not logged in yet.
func WithRooms(n *cluster.Node) Option { return func(g *Game) { g.node = n } }

// New returns a relay with no rooms.
func New(opts ...Option) *Game {
	g := &Game{rooms: map[string]*room{}, hosted: map[string]bool{}}
	for _, o := range opts {
		o(g)
	}
	server.Handle(&g.h, g.join)
	server.Handle(&g.h, g.move)
	return g
}

// roomTag is the Arrival tag of a player sent here to join room.
const roomTag = "room:"

// Arrive takes a player another node sent here to join a room
// (server.Arriver).
func (g *Game) Arrive(t *server.Tick, p *server.Player, a server.Arrival) error {
	if err := g.Join(t, p); err != nil {
		return err
	}
	name, ok := strings.CutPrefix(a.Tag, roomTag)
	if !ok || !relayproto.ValidRoom(name) {
		return server.Refuse("bad_arrival", "no room in %q", a.Tag)
	}
	g.hosted[name] = true
	g.enter(p, name)
	return nil
}

// ArrivalExpired: a player sent here never came; nothing was kept for it.
func (g *Game) ArrivalExpired(t *server.Tick, a server.Arrival) {}

// Zones: a relay has no zones, only rooms (cluster.Game).
func (g *Game) Zones() []string { return nil }

// Checkpoint is never called: the relay has no zones (cluster.Game).
func (g *Game) Checkpoint(t *server.Tick, zone string) ([]byte, error) { return nil, nil }

// Restore is never called: the relay has no zones (cluster.Game).
func (g *Game) Restore(t *server.Tick, zone string, state []byte) error { return nil }

// Release is never called: the relay has no zones (cluster.Game).
func (g *Game) Release(t *server.Tick, zone string, to cluster.Owner) {}

// joinElsewhere asks the room directory where room lives and, on the
// tick, joins it here or sends the player there.
func (g *Game) joinElsewhere(srv *server.Server, p *server.Player, room string) {
	id := p.ID()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		host, err := g.node.PlaceRoom(ctx, room)
		_ = srv.Call(ctx, func(t *server.Tick) {
			m, ok := p.Data.(*member)
			if !ok || m.gone || p.ID() != id {
				return
			}
			m.placing = false
			switch {
			case err != nil:
				p.Send(&msg.Err{Code: "unavailable", Text: "the room directory did not answer; try again"})
			case host.Node == g.node.Self().Node:
				g.hosted[room] = true
				g.enter(p, room)
			default:
				g.node.SendTo(t, p, host, roomTag+room, nil, func(t *server.Tick, h cluster.Prepared, err error) {
					if m.gone {
						return
					}
					if err != nil {
						p.Send(&msg.Err{Code: "unavailable", Text: "the room's server did not answer; try again"})
						return
					}
					_ = g.node.Depart(t, p, "", h)
				})
			}
		})
	}()
}

// Join admits every player; they pick a room with JOIN.
func (g *Game) Join(t *server.Tick, p *server.Player) error {
	p.Data = &member{p: p, pos: relayproto.Pos{ID: p.ID()}}
	return nil
}

// Update applies moves, then sends each room's changes to its members.
func (g *Game) Update(t *server.Tick) {
	g.h.Dispatch(t)
	for _, r := range g.dirty {
		for _, m := range r.moved {
			// One copy per tick, encoded once per encoding for all the
			// room mates rather than once per recipient.
			pos := m.pos
			shared := msg.NewShared(&pos)
			for _, o := range r.members {
				if o != m {
					o.p.Send(shared)
				}
			}
			m.moved = false
		}
		clear(r.moved)
		r.moved = r.moved[:0]
		r.dirty = false
	}
	clear(g.dirty)
	g.dirty = g.dirty[:0]
}

// Leave removes the player from its room.
func (g *Game) Leave(t *server.Tick, p *server.Player, reason error) {
	m := p.Data.(*member)
	m.gone = true
	if m.room != nil {
		g.leaveRoom(m)
	}
}

func (g *Game) leaveRoom(m *member) {
	r := m.room
	for i, o := range r.members {
		if o == m {
			r.members = append(r.members[:i], r.members[i+1:]...)
			break
		}
	}
	for i, o := range r.moved {
		if o == m {
			r.moved = append(r.moved[:i], r.moved[i+1:]...)
			break
		}
	}
	m.room, m.moved = nil, false
	if len(r.members) == 0 && !r.dirty {
		delete(g.rooms, r.name)
		if g.node != nil && g.hosted[r.name] {
			delete(g.hosted, r.name)
			name := r.name
			g.node.ReleaseRoom(name, func() bool { return g.rooms[name] == nil })
		}
	}
}

func (g *Game) join(t *server.Tick, p *server.Player, j *relayproto.Join) error {
	if !relayproto.ValidRoom(j.Room) {
		return server.Refuse(msg.CodeBadField, "JOIN room: want 1-32 of A-Z a-z 0-9 _ -")
	}
	m := p.Data.(*member)
	if m.room != nil {
		g.leaveRoom(m)
	}
	if g.node != nil && !g.hosted[j.Room] {
		if m.placing {
			return server.Refuse("busy", "a JOIN is already on its way")
		}
		m.placing = true
		g.joinElsewhere(g.node.Server(), p, j.Room)
		return nil
	}
	g.enter(p, j.Room)
	return nil
}

// enter puts p's member in room name here and confirms it.
func (g *Game) enter(p *server.Player, name string) {
	m := p.Data.(*member)
	r := g.rooms[name]
	if r == nil {
		r = &room{name: name}
		g.rooms[name] = r
	}
	r.members = append(r.members, m)
	m.room = r
	p.Send(&relayproto.Joined{Room: r.name, ID: p.ID()})
}

func (g *Game) move(t *server.Tick, p *server.Player, mv *relayproto.Move) error {
	m := p.Data.(*member)
	if m.room == nil {
		return server.Refuse("not_joined", "JOIN a room first")
	}
	m.pos.X, m.pos.Y, m.pos.T = mv.X, mv.Y, mv.T
	if !m.moved {
		m.moved = true
		m.room.moved = append(m.room.moved, m)
		if !m.room.dirty {
			m.room.dirty = true
			g.dirty = append(g.dirty, m.room)
		}
	}
	return nil
}
