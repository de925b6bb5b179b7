// Package relay is the room-relay benchmark game on tickwire: a fixed
// workload any load generator can drive over the text protocol. Clients JOIN
// a room, then send MOVE x y t; every tick each member of a room receives one
// POS line per other member whose position changed, carrying only the latest
// position and the opaque t its owner sent. The messages are defined in
// package relayproto (register them with relayproto.Register), which the
// load generator shares.
package relay

import (
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
	"github.com/tickwire/tickwire/server"
)

type member struct {
	p     *server.Player
	room  *room
	pos   relayproto.Pos
	moved bool
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
}

// New returns a relay with no rooms.
func New() *Game {
	g := &Game{rooms: map[string]*room{}}
	server.Handle(&g.h, g.join)
	server.Handle(&g.h, g.move)
	return g
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
	r := g.rooms[j.Room]
	if r == nil {
		r = &room{name: j.Room}
		g.rooms[j.Room] = r
	}
	r.members = append(r.members, m)
	m.room = r
	p.Send(&relayproto.Joined{Room: r.name, ID: p.ID()})
	return nil
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
