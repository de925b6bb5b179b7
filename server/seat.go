package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/tickwire/tickwire/msg"
)

// Seats: a logged-in player whose connection drops (EOF, reset, a timeout,
// a slow consumer cut) stays in the game for Config.SeatHold, and a new
// connection that presents the player's latest seat token (RESUME <name>
// <token>) takes the seat back: same player, same id, same entity. The
// game hears Disconnected and Reconnected (SeatHolder) instead of Leave and
// Join. QUIT, a kick, a ban and shutdown release the seat at once.
//
// A seat token is 256 random bits, sent once in SEAT after WELCOME and
// replaced on every resume. The server keeps only its SHA-256, so a token
// cannot be read back from memory dumps or logs, and a stolen one is
// useless once the seat is released or resumed.

// SeatHolder is implemented by a Game that wants to know when a player's
// connection drops and comes back within the seat hold. Both are called on
// the tick goroutine. A Game that does not implement it keeps held players
// as they are; everything sent to a held player is dropped, so Reconnected
// is where a game sends the returning client its fresh state.
type SeatHolder interface {
	// Disconnected tells the game that p's connection dropped (reason is
	// one of the Err* reasons or an I/O error). p stays in t.Players() and
	// p.Connected() is false until Reconnected or, if the hold ends
	// without a resume, Leave with ErrSeatExpired.
	Disconnected(t *Tick, p *Player, reason error)
	// Reconnected tells the game that p resumed on a new connection
	// (perhaps another transport and encoding). The client has dropped
	// everything it knew: send it a full snapshot.
	Reconnected(t *Tick, p *Player)
}

// seatTokenBytes is the entropy of a seat token.
const seatTokenBytes = 32

// seats maps token hashes to the players holding them. Readers claim
// tokens; the tick issues and drops them.
type seats struct {
	mu     sync.Mutex
	byHash map[[sha256.Size]byte]*Player

	// Arrivals (move.go): by id, and by every key that claims one.
	arrivals    map[string]*arrival
	arrivalKeys map[SeatKey]*arrival
	// claiming are arrivals a connection has claimed whose player the
	// game has not been given yet (Arrive runs at the next tick). They
	// are still listed by Arrivals, so that a checkpoint taken meanwhile
	// keeps the player.
	claiming map[string]*arrival
}

// holdable reports whether a connection that ended for reason keeps its
// player's seat: drops the player did not choose and did not earn.
func holdable(reason error) bool {
	for _, e := range []error{ErrQuit, ErrKicked, ErrBanned, ErrShutdown, ErrTooLong, ErrResumed, ErrMoved} {
		if reason == e {
			return false
		}
	}
	return true
}

// issueSeat gives p a new seat token, replacing its old one, and queues
// SEAT. Tick goroutine only.
func (s *Server) issueSeat(p *Player) {
	if seat := s.newSeat(p); seat != nil {
		p.queue(outItem{m: seat})
	}
}

// newSeat gives p a new seat token, replacing its old one, and returns the
// SEAT message that carries it (nil if no token could be made). Tick only.
func (s *Server) newSeat(p *Player) *msg.Seat {
	var raw [seatTokenBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		p.Logger().Error("no seat token: the system random source failed", "err", err)
		return nil
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	h := sha256.Sum256([]byte(token))
	s.seats.mu.Lock()
	if p.hasSeat && s.seats.byHash[p.seat] == p {
		delete(s.seats.byHash, p.seat)
	}
	if s.seats.byHash == nil {
		s.seats.byHash = map[[sha256.Size]byte]*Player{}
	}
	s.seats.byHash[h] = p
	p.seat, p.hasSeat = h, true
	s.seats.mu.Unlock()
	return &msg.Seat{Token: token, HoldMS: uint32(s.cfg.SeatHold / time.Millisecond)}
}

// dropSeat forgets p's seat tokens. Tick goroutine only.
func (s *Server) dropSeat(p *Player) {
	s.seats.mu.Lock()
	defer s.seats.mu.Unlock()
	if p.hasSeat && s.seats.byHash[p.seat] == p {
		delete(s.seats.byHash, p.seat)
	}
	if p.hasPrev && s.seats.byHash[p.prevSeat] == p {
		delete(s.seats.byHash, p.prevSeat)
	}
	p.hasSeat, p.hasPrev = false, false
}

// claimSeat finds the seat of user with token and takes its tokens out of
// the table, so a token works once. It returns nil if there is no such
// seat. Reader goroutines call it.
//
// Besides the token of the latest SEAT, the token that won the previous
// resume is accepted while the seat is held: if the connection died after
// the server took a RESUME but before the new SEAT reached the client, the
// client can only retry with the token it has. It is never accepted while
// the player is connected, so it cannot take a live seat over.
func (s *Server) claimSeat(user, token string) *Player {
	h := sha256.Sum256([]byte(token))
	s.seats.mu.Lock()
	defer s.seats.mu.Unlock()
	p := s.seats.byHash[h]
	if p == nil || p.ident.Name != user {
		return nil
	}
	current := p.hasSeat && subtle.ConstantTimeCompare(p.seat[:], h[:]) == 1
	previous := p.hasPrev && subtle.ConstantTimeCompare(p.prevSeat[:], h[:]) == 1 && p.heldNow.Load()
	if !current && !previous {
		return nil
	}
	delete(s.seats.byHash, p.seat)
	if p.hasPrev {
		delete(s.seats.byHash, p.prevSeat)
	}
	p.hasPrev = false
	p.claimed = h
	return p
}

// keepClaimed keeps the token p was resumed with valid as its previous
// token (see claimSeat). Tick only, after newSeat.
func (s *Server) keepClaimed(p *Player) {
	s.seats.mu.Lock()
	defer s.seats.mu.Unlock()
	if p.claimed == p.seat {
		return
	}
	p.prevSeat, p.hasPrev = p.claimed, true
	s.seats.byHash[p.claimed] = p
}

// hold keeps p in the game after its connection c dropped. Tick only.
func (s *Server) hold(t *Tick, p *Player, reason error) {
	p.held = true
	p.heldNow.Store(true)
	p.heldUntil = t.Now.Add(s.cfg.SeatHold)
	p.pending, p.dirty = p.pending[:0], false
	clear(p.latestIx)
	s.held = append(s.held, p)
	s.mu.Lock()
	delete(s.conns, p.c.id)
	counted := p.c.countedAddr
	s.releaseAddrLocked(p.c)
	p.heldAddr = counted
	if counted {
		s.addrLocked(p.c.remote).held++
	}
	s.heldTotal++
	s.mu.Unlock()
	p.Logger().Info("seat held", "reason", reason.Error(), "hold", s.cfg.SeatHold)
	if sh, ok := s.game.(SeatHolder); ok {
		sh.Disconnected(t, p, reason)
	}
}

// unhold takes p off the held list. Tick only.
func (s *Server) unhold(p *Player) {
	p.held = false
	p.heldNow.Store(false)
	for i, q := range s.held {
		if q == p {
			s.held = append(s.held[:i], s.held[i+1:]...)
			break
		}
	}
	s.mu.Lock()
	if p.heldAddr {
		p.heldAddr = false
		if st := s.addrs[addrKey(p.c.remote)]; st != nil {
			st.held--
		}
	}
	s.heldTotal--
	s.mu.Unlock()
}

// expireSeats releases held seats whose hold is over, and, once a second,
// those of addresses banned meanwhile. Tick only.
func (s *Server) expireSeats(t *Tick) {
	if t.N%uint64(s.cfg.TickRate) == 0 {
		s.expireArrivals(t)
	}
	if len(s.held) == 0 {
		return
	}
	checkBans := s.cfg.Guard != nil && t.N%uint64(s.cfg.TickRate) == 0
	for i := 0; i < len(s.held); {
		p := s.held[i]
		var reason error
		switch {
		case p.moveRelease:
			reason = ErrMoved
		case !t.Now.Before(p.heldUntil):
			reason = ErrSeatExpired
		case checkBans && p.c.remote.IsValid() && s.cfg.Guard.Admit(p.c.remote) != nil:
			reason = ErrBanned
		}
		if reason == nil {
			i++
			continue
		}
		s.unhold(p)
		p.Logger().Info("seat released", "reason", reason.Error())
		s.removePlayer(t, p, reason)
	}
}

// resume puts player p back on connection c. Tick only. It returns false
// (and tells the client) when the seat went away after the token was
// claimed.
func (s *Server) resume(c *conn, p *Player) bool {
	if p.moveRelease {
		// The game moved the held player to another server after this
		// RESUME claimed the seat (a cluster handed its zone over in
		// this tick): the seat lives there now. Retry, not refused.
		c.send(&msg.Err{Code: "resume", Text: codeResumeUnavailable + " your seat moved to another server as you came back; retry in a second"}, 0)
		c.bye("moved", ErrMoved)
		return false
	}
	if s.players[p.id] != p || p.gone {
		c.send(&msg.Err{Code: "resume", Text: codeBadToken + " the seat was released"}, 0)
		c.bye("seat_expired", ErrSeatExpired)
		return false
	}
	if p.held {
		s.unhold(p)
	} else if old := p.c; old != c {
		old.player = nil // its leave must not touch p
		old.bye("resumed", ErrResumed)
	}
	p.c, c.player = c, p
	c.playerID.Store(p.id)
	p.log = nil
	p.pending = p.pending[:0]
	clear(p.latestIx)
	p.queue(outItem{m: &msg.Welcome{ID: p.id, Name: p.ident.Name}})
	s.issueSeat(p)
	s.keepClaimed(p)
	p.queue(outItem{m: s.limits()})
	p.Logger().Info("seat resumed")
	return true
}

// codeBadToken is the subcode of ERR resume for a token that names no
// held seat.
const codeBadToken = "bad_token"
