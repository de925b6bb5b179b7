package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/tickwire/tickwire/msg"
)

// Game is the code a game author writes. The server calls it from a single
// goroutine, the tick goroutine, which owns the world: a Game needs no locks.
// Each tick the server calls Join for players who logged in since the last
// tick, then Update once with every message that arrived, then Leave for
// players who left.
//
// Membership: during Join the newcomer is not yet in t.Players() and a
// Broadcast does not reach it (send to it with p.Send); it is in from the
// end of Join. During Leave the leaver is already out of t.Players() and
// can be sent nothing. A player whose connection dropped stays in
// t.Players() while its seat is held (p.Connected() is false; see
// SeatHolder).
//
// A Game may also implement Initializer (to learn the tick rate before the
// first tick) and SeatHolder (to hear about dropped and resumed
// connections).
type Game interface {
	// Join admits a player who just logged in. Returning an error refuses
	// the player: it gets ERR join_refused with the error text and is
	// disconnected.
	Join(t *Tick, p *Player) error
	// Update advances the world one tick. t.Inputs holds every message
	// received since the previous tick, in arrival order per player.
	Update(t *Tick)
	// Leave tells the game a player is gone, and why (see the Err*
	// reasons). The player can no longer be sent anything.
	Leave(t *Tick, p *Player, reason error)
}

// Settings are the server settings a game's rules depend on.
type Settings struct {
	// TickRate is ticks per second; TickPeriod is one tick's duration. A
	// game writes its rules in seconds and units per second and converts
	// with these, so they hold at any tick rate.
	TickRate   int
	TickPeriod time.Duration
	// MaxMessage is the largest message a client may send, in bytes.
	MaxMessage int
	// SeatHold is how long a dropped player's seat is held (0: never).
	SeatHold time.Duration
	// Registry holds the messages the server speaks.
	Registry *msg.Registry
	// Logger is the server's logger.
	Logger *slog.Logger
}

// Initializer is implemented by a Game that needs the server's Settings
// before the first tick. New calls Init once; an error makes New fail.
type Initializer interface {
	Init(s Settings) error
}

// Reasons a player leaves, passed to Game.Leave. Errors not listed here are
// I/O errors from the connection.
var (
	ErrQuit         = errors.New("quit")          // the client sent QUIT
	ErrClosed       = errors.New("closed")        // the client closed the connection
	ErrTimeout      = errors.New("timeout")       // the client was silent too long
	ErrSlowConsumer = errors.New("slow_consumer") // the client did not read fast enough
	ErrTooLong      = errors.New("too_long")      // the client sent an over-long message
	ErrKicked       = errors.New("kicked")        // the game called Player.Kick
	ErrBanned       = errors.New("banned")        // the client's address was banned
	ErrShutdown     = errors.New("shutdown")      // the server is shutting down
	ErrResumed      = errors.New("resumed")       // a RESUME on another connection took the seat over
	ErrSeatExpired  = errors.New("seat_expired")  // the connection dropped and no RESUME came within the seat hold
)

// Input is one message from a player.
type Input struct {
	Player *Player
	Type   *msg.Type
	// Msg is a pointer to the decoded message struct, e.g. *Move.
	Msg any
	// RID is the request id the client attached, 0 if none. Player.Reply
	// echoes it.
	RID uint32
}

// Tick is one step of the world. It is valid only during the call it is
// passed to.
type Tick struct {
	// N counts ticks from 1.
	N uint64
	// Now is the tick's start time; Dt the fixed tick period.
	Now time.Time
	Dt  time.Duration
	// Inputs is set during Update; empty during Join and Leave.
	Inputs []Input
	s      *Server
}

// Players returns every player currently in the game, in join order. The
// slice is shared: do not modify it or keep it past the call.
func (t *Tick) Players() []*Player { return t.s.playerList }

// Broadcast sends m to every player except the given one (nil for none).
func (t *Tick) Broadcast(m any, except *Player) {
	for _, p := range t.s.playerList {
		if p != except {
			p.Send(m)
		}
	}
}

// Logger is the server's logger.
func (t *Tick) Logger() *slog.Logger { return t.s.log }

// Player is a logged-in connection as the game sees it. Its methods must be
// called only from the tick goroutine (inside Game methods).
type Player struct {
	// Data is the game's own per-player state; tickwire never touches it.
	Data any

	c        *conn
	id       uint64
	ident    Identity
	gone     bool
	dirty    bool
	pending  []outItem
	latestIx map[uint64]int // SendLatest key -> index in pending
	log      *slog.Logger   // built on first use

	// Seat (seat.go). Tokens are kept only as hashes, guarded by
	// Server.seats.mu.
	seat      [32]byte
	hasSeat   bool
	prevSeat  [32]byte // the token the last resume used, valid while held
	hasPrev   bool
	claimed   [32]byte    // the token of the RESUME being handled
	heldNow   atomic.Bool // held, for claimSeat on reader goroutines
	held      bool        // the connection dropped; waiting for RESUME
	heldUntil time.Time   // when the hold ends
	heldAddr  bool        // counted in its address's held seats

	moveRelease bool     // Move was called while held: release with ErrMoved
	arriving    *Arrival // the arrival claimed, until Arrive is called
}

// ID is the player's id, unique for the server's lifetime. It is the id
// of the connection the player logged in on, and stays the same when the
// player resumes on another connection.
func (p *Player) ID() uint64 { return p.id }

// Connected reports whether the player has a live connection. It is false
// while the seat is held after a drop (see SeatHolder); messages sent then
// are dropped.
func (p *Player) Connected() bool { return !p.held }

// Name is the player's display name.
func (p *Player) Name() string { return p.ident.Name }

// Identity is who the player logged in as.
func (p *Player) Identity() Identity { return p.ident }

// Addr is the player's network address.
func (p *Player) Addr() netip.Addr { return p.c.remote }

// Encoding is the player's current wire encoding.
func (p *Player) Encoding() msg.Encoding { return msg.Encoding(p.c.encoding.Load()) }

// Logger returns a logger tagged with the player's connection and name.
func (p *Player) Logger() *slog.Logger {
	if p.log == nil {
		p.log = p.c.logger()
	}
	return p.log
}

// Send queues m, a registered message value or pointer, for this tick's
// flush. Everything sent to one player in one tick leaves in one write. To
// send one message to many players, wrap it once in msg.NewShared: it is
// then encoded once per encoding instead of once per player.
//
// Send panics if m's type is not registered, or may not be sent to a
// client: a programming error, reported where it is made rather than later
// as a log line from the connection's writer.
//
// m is encoded after the tick, on the connection's writer goroutine: send
// a value, or a pointer to something the game no longer changes, never a
// pointer into live game state.
func (p *Player) Send(m any) { p.queue(outItem{m: p.c.srv.checkOut(m)}) }

// Reply sends m as the answer to in, echoing its request id. It panics
// like Send.
func (p *Player) Reply(in Input, m any) { p.queue(outItem{m: p.c.srv.checkOut(m), rid: in.RID}) }

// SendLatest sends m unless a later SendLatest with the same key in the same
// tick replaces it: use it for state, such as an entity's position, where
// only the newest value matters. The message keeps the place of the first
// send with that key.
func (p *Player) SendLatest(key uint64, m any) {
	if p.gone || p.held {
		return
	}
	m = p.c.srv.checkOut(m)
	if i, ok := p.latestIx[key]; ok {
		p.pending[i].m = m
		return
	}
	if p.latestIx == nil {
		p.latestIx = make(map[uint64]int)
	}
	p.latestIx[key] = len(p.pending)
	p.queue(outItem{m: m})
}

// Error sends ERR code text in answer to in.
func (p *Player) Error(in Input, code, text string) {
	p.Reply(in, &msg.Err{Code: code, Text: text})
}

// Kick sends BYE reason and disconnects the player once this tick's output
// is written. Game.Leave follows in a later tick with ErrKicked.
func (p *Player) Kick(reason string) {
	if p.gone {
		return
	}
	p.queue(outItem{m: &msg.Bye{Reason: reason}})
	p.queue(outItem{ctl: ctlClose, reason: ErrKicked})
	p.gone = true
}

// Strike counts an offence (such as impossible movement) against the
// player's address; with a Guard configured, enough strikes ban it.
func (p *Player) Strike(reason string) { p.c.strike(reason) }

func (p *Player) queue(it outItem) {
	if p.gone || p.held {
		return
	}
	if s := p.c.srv; s.cause != nil && s.cfg.CheckCauses && it.m != nil {
		s.checkCause(it.m)
	}
	p.pending = append(p.pending, it)
	if !p.dirty {
		p.dirty = true
		p.c.srv.dirty = append(p.c.srv.dirty, p)
	}
}

// Refusal is an error a handler returns to answer the sender with
// ERR <Code> <Text>.
type Refusal struct {
	Code string
	Text string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Text }

// Refuse builds a Refusal with a formatted text.
func Refuse(code, format string, args ...any) error {
	return &Refusal{Code: code, Text: fmt.Sprintf(format, args...)}
}

// Handlers dispatches inputs to typed handler functions, one per message
// type, replacing a hand-written switch. Build it once at start-up with
// Handle; call Dispatch from Game.Update.
type Handlers struct {
	byType map[reflect.Type]func(t *Tick, in Input) error
}

// Handle registers fn for messages of type T (the struct type, which must
// be registered in the server's msg.Registry). fn gets the decoded *T. A
// returned *Refusal is sent to the player as ERR with its code; any other
// error as ERR refused. Both carry the request's id. To answer with the
// request id yourself (p.Reply), use HandleInput.
func Handle[T any](h *Handlers, fn func(t *Tick, p *Player, m *T) error) {
	HandleInput(h, func(t *Tick, in Input, m *T) error { return fn(t, in.Player, m) })
}

// HandleInput is Handle with the whole Input, so fn can answer with
// in.Player.Reply(in, answer), which echoes the request id ("@9 STEP" is
// answered "@9 ...").
func HandleInput[T any](h *Handlers, fn func(t *Tick, in Input, m *T) error) {
	if h.byType == nil {
		h.byType = map[reflect.Type]func(*Tick, Input) error{}
	}
	gt := reflect.TypeFor[T]()
	if _, dup := h.byType[gt]; dup {
		panic("server: two handlers for " + gt.String())
	}
	h.byType[gt] = func(t *Tick, in Input) error { return fn(t, in, in.Msg.(*T)) }
}

// Dispatch runs the handler of every input in t.Inputs, in order. An input
// with no handler is answered with ERR unhandled.
func (h *Handlers) Dispatch(t *Tick) {
	for _, in := range t.Inputs {
		h.Run(t, in)
	}
}

// Run runs the handler of one input and answers a refusal with ERR.
func (h *Handlers) Run(t *Tick, in Input) {
	fn, ok := h.byType[in.Type.GoType()]
	if !ok {
		in.Player.Error(in, "unhandled", in.Type.Name+" is not handled by this game")
		return
	}
	t.s.cause = in.Type
	err := fn(t, in)
	t.s.cause = nil
	if err != nil {
		var r *Refusal
		if errors.As(err, &r) {
			in.Player.Error(in, r.Code, r.Text)
		} else {
			in.Player.Error(in, "refused", err.Error())
		}
	}
}
