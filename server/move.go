package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tickwire/tickwire/msg"
)

// Moving players between servers. A cluster (package cluster) runs one
// world on several servers; a player crosses from one to another as a
// resume on the other server:
//
//   - the server the player leaves asks the other to Expect it: an Arrival
//     carries the player's identity and the game's state for it, and
//     Expect returns a single-use ticket;
//   - the game calls Player.Move: the client gets MOVED <addr> <ws>
//     <ticket> and the connection closes (Game.Leave with ErrMoved);
//   - the client connects to the other server and sends RESUME <name>
//     <ticket>; that server admits a new Player and calls Arriver.Arrive
//     with the state instead of Game.Join.
//
// The server holds no cluster logic: who owns what, and when state is safe
// to move, is the cluster's business. This file is only the two ends.

// ErrMoved is the reason a player leaves when the game moved it to another
// server (Player.Move). Its seat is not held: it lives on elsewhere.
var ErrMoved = errors.New("moved")

// SeatKey names a seat token without holding it: the token's SHA-256. A
// checkpoint keeps a player's SeatKeys so that, after a failover, the
// player can resume on another server with the token it already has.
type SeatKey [sha256.Size]byte

// KeyOf returns the SeatKey of a token (a SEAT token or a ticket).
func KeyOf(token string) SeatKey { return sha256.Sum256([]byte(token)) }

// Arrival is a player this server expects: handed over by another server,
// or restored from a checkpoint after the server that ran it died.
type Arrival struct {
	// ID names the arrival (a handoff id). Expect with an ID that is
	// already expected changes nothing and returns the same ticket, so a
	// sender may retry.
	ID string
	// Ident is who arrives. RESUME must name Ident.Name.
	Ident Identity
	// Keys are tokens, besides the ticket, that claim the arrival: the
	// player's seat tokens on the server it comes from, so a client that
	// lost its connection before MOVED reached it can still resume here.
	Keys []SeatKey
	// Data is the game's state for the player, handed to Arriver.Arrive.
	Data []byte
	// Tag is the game's own label (such as the zone the player enters);
	// the server only keeps it.
	Tag string
	// Until is when an unclaimed arrival is dropped (then
	// Arriver.ArrivalExpired). Zero: SeatHold from Expect, at least
	// MinArrivalHold.
	Until time.Time
}

// guestName is the name of a guest on connection id.
func (s *Server) guestName(id uint64) string {
	prefix := s.cfg.GuestPrefix
	if prefix == "" {
		prefix = "guest-"
	}
	return prefix + strconv.FormatUint(id, 10)
}

// MaxArrivalKeys caps the keys that may claim one arrival (its ticket, the
// player's seat tokens, a restore's tokens).
const MaxArrivalKeys = 8

// MinArrivalHold is the least time an arrival waits for its player.
const MinArrivalHold = 30 * time.Second

// Arriver is implemented by a Game that takes players from other servers.
// Both methods run on the tick goroutine.
type Arriver interface {
	// Arrive is called instead of Join for a player that claimed an
	// Arrival; a.Data is the state the other server sent. An error
	// refuses the player as a Join error does; ErrArrivalGone says the
	// arrival's place left this server after the claim (a cluster handed
	// the zone over, the arrival in its checkpoint), and the client is
	// told to retry rather than refused.
	Arrive(t *Tick, p *Player, a Arrival) error
	// ArrivalExpired tells the game an arrival was never claimed and is
	// dropped: its player left the world.
	ArrivalExpired(t *Tick, a Arrival)
}

// ErrArrivalGone is what Arriver.Arrive returns when the arrival's place
// is no longer on this server: its zone left after the client claimed the
// arrival, and the checkpoint that took the zone away took the arrival
// along (Arrivals lists claimed arrivals until Arrive). The client gets
// `ERR resume unavailable` and its connection ends; it retries, and the
// cluster sends it to the arrival's new place. Its seat here is dropped.
var ErrArrivalGone = errors.New("server: the arrival's place left this server")

type arrival struct {
	Arrival
	ticket string // kept for idempotent Expect
}

// Expect registers an arrival and returns the ticket that claims it. Any
// goroutine may call it. Expect fails when the name is empty or the
// system's random source fails.
func (s *Server) Expect(a Arrival) (ticket string, err error) {
	if a.Ident.Name == "" {
		return "", errors.New("server: Expect: the arrival has no name")
	}
	s.seats.mu.Lock()
	defer s.seats.mu.Unlock()
	if len(a.Keys) > MaxArrivalKeys {
		return "", fmt.Errorf("server: Expect: %d keys, at most %d", len(a.Keys), MaxArrivalKeys)
	}
	if a.ID != "" {
		if old := s.seats.arrivals[a.ID]; old != nil {
			// A retry of the same arrival gets the same ticket; anything
			// else naming its id gets nothing.
			if old.Ident != a.Ident || old.Tag != a.Tag {
				return "", errors.New("server: Expect: that arrival id is taken")
			}
			return old.ticket, nil
		}
		if s.seats.claiming[a.ID] != nil {
			return "", errors.New("server: Expect: that arrival is being claimed")
		}
	}
	var raw [seatTokenBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	ticket = base64.RawURLEncoding.EncodeToString(raw[:])
	if a.ID == "" {
		a.ID = ticket[:16]
	}
	if a.Until.IsZero() {
		a.Until = time.Now().Add(max(s.cfg.SeatHold, MinArrivalHold))
	}
	// The ticket's key is one of the arrival's keys, so a checkpoint that
	// keeps the arrival keeps what claims it.
	a.Keys = append(append([]SeatKey(nil), a.Keys...), KeyOf(ticket))
	ar := &arrival{Arrival: a, ticket: ticket}
	if s.seats.arrivals == nil {
		s.seats.arrivals = map[string]*arrival{}
		s.seats.arrivalKeys = map[SeatKey]*arrival{}
	}
	s.seats.arrivals[a.ID] = ar
	for _, k := range a.Keys {
		s.seats.arrivalKeys[k] = ar
	}
	return ticket, nil
}

// Arrivals returns the arrivals still waiting for their players, and
// those claimed by a connection whose player the game has not been given
// yet (Arrive comes at the next tick), for a game's checkpoint: a player
// between the two is in no zone of the game and must not drop out of one
// written meanwhile. Any goroutine.
func (s *Server) Arrivals() []Arrival {
	s.seats.mu.Lock()
	defer s.seats.mu.Unlock()
	out := make([]Arrival, 0, len(s.seats.arrivals)+len(s.seats.claiming))
	for _, a := range s.seats.arrivals {
		out = append(out, a.Arrival)
	}
	for _, a := range s.seats.claiming {
		out = append(out, a.Arrival)
	}
	return out
}

// AddKeys lets more tokens claim a waiting arrival (the player's own seat
// tokens, once the server it leaves has committed the move). It reports
// whether the arrival was still waiting.
func (s *Server) AddKeys(id string, keys []SeatKey) bool {
	s.seats.mu.Lock()
	defer s.seats.mu.Unlock()
	a := s.seats.arrivals[id]
	if a == nil {
		return false
	}
	for _, k := range keys {
		if len(a.Keys) >= MaxArrivalKeys {
			break
		}
		if _, taken := s.seats.arrivalKeys[k]; !taken {
			a.Keys = append(a.Keys, k)
			s.seats.arrivalKeys[k] = a
		}
	}
	return true
}

// Unexpect drops a waiting arrival (its handoff was abandoned, or the
// game let its zone go). It reports whether the arrival was still
// waiting: false if it was claimed or never expected. An arrival claimed
// whose player the game has not been given yet leaves Arrivals too; the
// game still gets Arrive for it, and may refuse it (ErrArrivalGone).
func (s *Server) Unexpect(id string) bool {
	s.seats.mu.Lock()
	defer s.seats.mu.Unlock()
	delete(s.seats.claiming, id)
	return s.dropArrivalLocked(id) != nil
}

// arriving takes the arrival id off the claiming list: the game is given
// its player now, and lists the player itself from here on. Tick only.
func (s *Server) arriving(id string) {
	s.seats.mu.Lock()
	delete(s.seats.claiming, id)
	s.seats.mu.Unlock()
}

func (s *Server) dropArrivalLocked(id string) *arrival {
	a := s.seats.arrivals[id]
	if a == nil {
		return nil
	}
	delete(s.seats.arrivals, id)
	for k, v := range s.seats.arrivalKeys {
		if v == a {
			delete(s.seats.arrivalKeys, k)
		}
	}
	return a
}

// claimArrival takes the arrival that user's token claims out of the
// table (a ticket works once). Reader goroutines call it.
func (s *Server) claimArrival(user, token string) *Arrival {
	k := KeyOf(token)
	s.seats.mu.Lock()
	defer s.seats.mu.Unlock()
	a := s.seats.arrivalKeys[k]
	if a == nil || a.Ident.Name != user {
		return nil
	}
	s.dropArrivalLocked(a.ID)
	if s.seats.claiming == nil {
		s.seats.claiming = map[string]*arrival{}
	}
	s.seats.claiming[a.ID] = a
	return &a.Arrival
}

// expectsArrival reports whether an arrival for user claimable with token
// is waiting, without claiming it.
func (s *Server) expectsArrival(user, token string) bool {
	k := KeyOf(token)
	s.seats.mu.Lock()
	defer s.seats.mu.Unlock()
	a := s.seats.arrivalKeys[k]
	return a != nil && a.Ident.Name == user
}

// expireArrivals drops arrivals whose time is up and tells the game.
// Tick only.
func (s *Server) expireArrivals(t *Tick) {
	s.seats.mu.Lock()
	var gone []*arrival
	for id, a := range s.seats.arrivals {
		if !t.Now.Before(a.Until) {
			gone = append(gone, s.dropArrivalLocked(id))
		}
	}
	s.seats.mu.Unlock()
	ar, _ := s.game.(Arriver)
	for _, a := range gone {
		s.log.Info("arrival expired", "id", a.ID, "player", a.Ident.Name)
		if ar != nil {
			ar.ArrivalExpired(t, a.Arrival)
		}
	}
}

// SeatKeys returns the keys of the player's seat tokens (the latest, and
// the one its last resume used while that is still accepted), for a
// checkpoint or a handoff. Tick only.
func (p *Player) SeatKeys() []SeatKey {
	s := p.c.srv
	s.seats.mu.Lock()
	defer s.seats.mu.Unlock()
	var keys []SeatKey
	if p.hasSeat {
		keys = append(keys, p.seat)
	}
	if p.hasPrev {
		keys = append(keys, p.prevSeat)
	}
	// A RESUME that claimed the seat with its previous token, not yet
	// resumed: a checkpoint written meanwhile (its zone handed over in
	// this tick) must let that token claim the seat where it goes.
	if p.hasSeat && p.claimed != ([32]byte{}) && p.claimed != p.seat && !(p.hasPrev && p.claimed == p.prevSeat) {
		keys = append(keys, p.claimed)
	}
	return keys
}

// Move tells the player's client to continue on another server (MOVED
// addr ws ticket) and closes the connection once this tick's output is
// written; Game.Leave follows with ErrMoved and the seat is not held. The
// game must already have handed the player's state over (Expect on the
// other server returned ticket). A ticket of "-" tells the client to
// resume with its own seat token, which the other server must expect
// (Arrival.Keys). A held player is released at once: it cannot hear
// MOVED, and resumes through the other server's Arrival.Keys.
func (p *Player) Move(addr, ws, ticket string) {
	if p.gone {
		return
	}
	if p.held {
		// Released at the end of the tick (expireSeats), not from inside
		// the game's own call; its seat goes now, so no RESUME takes it
		// meanwhile (the client resumes where it was moved).
		p.moveRelease = true
		p.c.srv.dropSeat(p)
		return
	}
	// The seat goes at once: a RESUME that races the close must not take
	// it (it is redirected by the Locator instead), and however the
	// connection then ends (MOVED may never be written), it ends as moved,
	// not as a drop whose seat would be held.
	moved := ErrMoved
	p.c.byeErr.CompareAndSwap(nil, &moved)
	p.c.srv.dropSeat(p)
	p.queue(outItem{m: &msg.Moved{Addr: addr, WS: ws, Ticket: ticket}})
	p.queue(outItem{m: &msg.Bye{Reason: "moved"}})
	p.queue(outItem{ctl: ctlClose, reason: ErrMoved})
	p.gone = true
}

// Locator finds where a player lives when a RESUME names a seat this
// server does not hold: on another server of the cluster. found false
// means the cluster knows nothing of the player (the client gets ERR
// resume bad_token). It runs on the connection's reader goroutine and
// should answer within milliseconds.
type Locator func(user string) (loc Location, found bool)

// Location is where a Locator found a player.
type Location struct {
	// Addr and WS are the server the client should resume on (MOVED).
	Addr, WS string
	// Retry means the player's place is being moved (its server died and
	// no other has taken its zone over yet): the client gets ERR resume
	// unavailable and should retry shortly. Not a strike.
	Retry bool
}

// relocate answers a RESUME for a player the Locator found elsewhere: the
// client is sent there with its own token, or told to retry. Not a
// strike: a failover or a lost MOVED sends honest clients here.
func (c *conn) relocate(user string, rid uint32, at Location) {
	if at.Retry {
		c.send(&msg.Err{Code: "resume", Text: codeResumeUnavailable + " your seat is moving between servers; retry in a second"}, rid)
		return
	}
	c.logger().Info("resume redirected", "user", user, "to", at.Addr)
	c.enqueue(outItem{m: &msg.Moved{Addr: at.Addr, WS: at.WS, Ticket: "-"}, rid: rid})
	c.bye("moved", ErrMoved)
}

// resumeRefused answers a RESUME that names no seat here or elsewhere.
func (c *conn) resumeRefused(user string, rid uint32) {
	c.send(&msg.Err{Code: "resume", Text: codeBadToken + " no seat is held for that name and token: it was used, released, or never issued; log in again"}, rid)
	c.logger().Info("resume refused", "user", user)
	c.strike("resume_failed")
}

// codeUnavailable is the subcode of ERR resume when the player's seat is
// being moved between servers: try again in a second.
const codeResumeUnavailable = "unavailable"
