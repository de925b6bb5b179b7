package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
)

// Defaults and bounds for Config. Every limit the server enforces is one of
// these or the value configured in its place.
const (
	// DefaultTickRate is the simulation rate in ticks per second.
	DefaultTickRate = 20
	// MinTickRate and MaxTickRate bound Config.TickRate.
	MinTickRate, MaxTickRate = 1, 120
	// DefaultLoginTimeout is how long a connection may stay silent before it
	// has logged in: short, so idle sockets cannot pile up (the seed rule).
	DefaultLoginTimeout = 5 * time.Second
	// DefaultIdleTimeout is how long a logged-in connection may stay silent.
	// Clients send a blank line (a keepalive) when they have nothing to say.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultWriteTimeout is how long one write may take before the client is
	// cut off as a slow consumer.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMaxOutbound is how many messages may wait for one connection's
	// writer. A client that falls this far behind is cut off as a slow
	// consumer rather than slowing the tick or growing memory.
	DefaultMaxOutbound = 4096
	// DefaultMaxInbound is how many messages one connection may have
	// waiting for the next tick. When full, the connection's reader stops
	// reading until the tick drains it, so TCP pushes back on the client.
	DefaultMaxInbound = 256
	// DefaultMaxConns caps simultaneous connections (before and after
	// login); further accepts are closed at once with a log line.
	DefaultMaxConns = 16384
	// DefaultAuthTimeout bounds one call to the Authenticator.
	DefaultAuthTimeout = 5 * time.Second
	// DefaultLogRate and DefaultLogBurst limit client LOG lines per
	// connection; excess lines are dropped and counted.
	DefaultLogRate  = 5
	DefaultLogBurst = 20
	// DefaultShutdownGrace is how long Shutdown waits for BYE to be written
	// when its context has no deadline.
	DefaultShutdownGrace = 2 * time.Second
	// DefaultFrameTimeout is how long a frame may take to arrive once its
	// first byte has: a peer trickling a line byte by byte is cut off
	// instead of holding the connection open with fragments.
	DefaultFrameTimeout = 10 * time.Second

	// DefaultMaxConnsPerAddr caps the connections (and held seats) of one
	// address (an IPv6 /64). High enough for a school or café behind one
	// NAT address, low enough that one host cannot fill MaxConns.
	DefaultMaxConnsPerAddr = 128
	// DefaultMaxPreLoginPerAddr caps one address's connections that have
	// not logged in yet. Honest clients log in within a round trip or two,
	// so even a large NAT rarely has more than a few waiting at once.
	DefaultMaxPreLoginPerAddr = 32
	// DefaultConnRatePerAddr and DefaultConnBurstPerAddr limit how fast one
	// address may open connections: a burst of 40, then 10 a second.
	DefaultConnRatePerAddr  = 10
	DefaultConnBurstPerAddr = 40
	// RefusalsPerStrike: every this many refused connections of one
	// address count as one guard strike (reason "conn_limit"), so an
	// address that keeps hammering past its limits ends up banned.
	RefusalsPerStrike = 10

	// DecodeErrorsPerStrike: every this many messages of one connection
	// refused as malformed (bad_syntax, bad_field, unknown_message,
	// not_allowed) is one strike ("bad_message"). Typos by a person on nc
	// are forgiven; garbage is not.
	DecodeErrorsPerStrike = 5

	// DefaultMessageRate and DefaultMessageBurst limit, per connection, each
	// message type that declares no msg.Info Rate of its own: a burst of
	// 120, then 60 a second.
	DefaultMessageRate  = 60
	DefaultMessageBurst = 120
	// RateStrikeDrops: every this many messages one connection has had
	// dropped by rate limits is one strike ("rate_limited"), at most one
	// per RateStrikeSpacing: a client bumping into a limit now and then is
	// not punished, one that floods is banned.
	RateStrikeDrops   = 100
	RateStrikeSpacing = 10 * time.Second

	// DefaultMaxOutboundBytes caps what one connection may have waiting
	// to be written, in bytes (see Config.MaxOutboundBytes).
	DefaultMaxOutboundBytes = 4 << 20

	// DefaultMaxOutboundBytesPerSec is the outbound byte budget of one
	// connection, a token bucket of one second's worth: past it the
	// connection's writer waits, and what is queued meanwhile counts
	// against MaxOutbound and MaxOutboundBytes.
	DefaultMaxOutboundBytesPerSec = 256 << 10

	// DefaultLogRatePerAddr and DefaultLogBurstPerAddr limit client LOG
	// lines per address, over all its connections.
	DefaultLogRatePerAddr  = 10
	DefaultLogBurstPerAddr = 40

	// DefaultSeatHold is how long a player whose connection dropped keeps
	// its seat in the game, waiting for a RESUME.
	DefaultSeatHold = 30 * time.Second
	// MaxSeatHold bounds Config.SeatHold.
	MaxSeatHold = 10 * time.Minute

	// EngineGoroutine and EngineEventLoop are the values of Config.Engine.
	EngineGoroutine = "goroutine"
	EngineEventLoop = "eventloop"

	// sweepInterval is how often the server looks for connections of newly
	// banned addresses, expired seats and idle per-address entries.
	sweepInterval = time.Second
)

// Config configures a Server. The zero value is valid: every zero field
// takes the default named in its comment.
type Config struct {
	// TickRate is ticks per second, 1-120. Default DefaultTickRate (20).
	TickRate int
	// MaxMessage caps one inbound message in bytes, in every encoding.
	// Default frame.DefaultMaxMessage (4096); allowed 64 B to 1 MiB.
	MaxMessage int
	// LoginTimeout closes a connection that sends nothing for this long
	// before logging in. Default DefaultLoginTimeout (5 s).
	LoginTimeout time.Duration
	// IdleTimeout closes a logged-in connection that sends nothing for this
	// long. The server sends a keepalive whenever it has sent nothing for
	// half of it. Default DefaultIdleTimeout (2 min).
	IdleTimeout time.Duration
	// WriteTimeout cuts off a client whose socket accepts no data for this
	// long. Default DefaultWriteTimeout (10 s).
	WriteTimeout time.Duration
	// MaxOutbound is the per-connection outbound queue, in messages; a
	// client that overflows it is disconnected as a slow consumer.
	// Default DefaultMaxOutbound (4096).
	MaxOutbound int
	// MaxInbound is the per-connection inbound queue between ticks, in
	// messages; when full, reading pauses until the next tick.
	// Default DefaultMaxInbound (256).
	MaxInbound int
	// MaxConns caps simultaneous connections. Default DefaultMaxConns.
	MaxConns int
	// DisableGuests refuses "AUTH guest". Default false: guests may play.
	DisableGuests bool
	// GuestPrefix starts a guest's name, which ends with its connection
	// id. Default "guest-". The servers of a cluster each need their own
	// (tickwire serve uses "guest-<node>-"), or two nodes would give two
	// players one name.
	GuestPrefix string
	// AutoLogin logs every connection in as a guest as soon as it is
	// accepted, with no AUTH: for benchmark workloads such as the relay.
	// Default false.
	AutoLogin bool
	// Authenticator checks "AUTH <user> <secret>". Nil means only guests
	// can log in.
	Authenticator Authenticator

	// Locate, if set, is asked where a player lives when a RESUME names
	// no seat or arrival here: a cluster answers with the server that
	// runs the player's zone, and the client gets MOVED to it instead of
	// ERR resume. If an arrival for the name and token appeared here while
	// Locate ran (the zone was being restored here), the client is told to
	// retry (ERR resume unavailable) rather than refused. Default nil (a
	// single server: ERR resume).
	Locate Locator
	// AuthTimeout bounds one Authenticator call. Default DefaultAuthTimeout.
	AuthTimeout time.Duration
	// Guard refuses banned addresses at accept and counts strikes. Nil
	// means no bans and no strikes.
	Guard Guard
	// Registry holds the message types the game speaks. Nil means
	// msg.NewRegistry() (built-in messages only). The registry's flow graph
	// is checked by New.
	Registry *msg.Registry
	// Logger receives the server's log. Nil means slog.Default().
	Logger *slog.Logger
	// Banner, when not empty, is sent as an INFO line to every new
	// connection, e.g. "tickwire arena: AUTH guest to play, HELP for help".
	Banner string
	// Help, when not empty, is HELP's answer, one INFO line each, instead
	// of the generated list of every command (the demo arena's arena.Help
	// groups game and protocol commands and explains the rules). Lines
	// must not start or end with a space, or they go out quoted.
	Help []string
	// LogRate and LogBurst limit client LOG lines per connection (lines per
	// second, burst). Defaults DefaultLogRate and DefaultLogBurst.
	LogRate  float64
	LogBurst int
	// LogRatePerAddr and LogBurstPerAddr limit client LOG lines per address
	// over all its connections. Defaults DefaultLogRatePerAddr and
	// DefaultLogBurstPerAddr.
	LogRatePerAddr  float64
	LogBurstPerAddr int

	// FrameTimeout closes a connection whose frame has started to arrive
	// but is not complete this long after. Default DefaultFrameTimeout.
	FrameTimeout time.Duration
	// MaxConnsPerAddr caps one address's connections and held seats.
	// Default DefaultMaxConnsPerAddr (128).
	MaxConnsPerAddr int
	// MaxPreLoginPerAddr caps one address's connections that have not
	// logged in. Default DefaultMaxPreLoginPerAddr (32).
	MaxPreLoginPerAddr int
	// ConnRatePerAddr and ConnBurstPerAddr limit new connections per
	// address (per second, burst). Defaults DefaultConnRatePerAddr (10)
	// and DefaultConnBurstPerAddr (40).
	ConnRatePerAddr  float64
	ConnBurstPerAddr int
	// AddrLimitExempt lists prefixes the per-address limits do not apply
	// to (a monitoring host, a same-host proxy that cannot pass addresses
	// on). Default: none.
	AddrLimitExempt []netip.Prefix
	// MessageRate and MessageBurst limit, per connection, each message type
	// that declares no rate in its msg.Info. Defaults DefaultMessageRate
	// (60/s) and DefaultMessageBurst (120).
	MessageRate  float64
	MessageBurst int
	// MaxOutboundBytesPerSec is one connection's outbound byte budget.
	// Default DefaultMaxOutboundBytesPerSec (256 KiB/s); negative turns it
	// off.
	MaxOutboundBytesPerSec int
	// MaxOutboundBytes caps the bytes one connection's writer may have
	// to write at once (what queued while its socket was full); a client
	// that falls this far behind is cut off as a slow consumer, however
	// few messages that is. Default DefaultMaxOutboundBytes (4 MiB).
	MaxOutboundBytes int
	// CheckCauses makes a typed handler (Handle, HandleInput) panic when it
	// sends a message its input's msg.Info.Causes does not list (ERR and
	// BYE excepted: any message may be refused or end in a kick), so tests
	// keep the declared message-flow graph true. Default false; the
	// servertest package turns it on.
	CheckCauses bool
	// SeatHold is how long a logged-in player whose connection dropped
	// (without QUIT, kick or ban) stays in the game waiting for a RESUME;
	// see docs/PROTOCOL.md §5.1. Default DefaultSeatHold (30 s); negative
	// turns seat holding off; at most MaxSeatHold.
	SeatHold time.Duration
	// Engine is how connections are served: EngineGoroutine (a reader
	// goroutine per connection, a writer goroutine while it has output)
	// or EngineEventLoop (epoll through github.com/lesismal/nbio: no
	// goroutine and no buffer per idle connection, output written by one
	// worker per core). Default "": the TICKWIRE_ENGINE environment
	// variable if set (so a test suite can run on either), else
	// EngineGoroutine. On the event loop, connections the loop cannot poll
	// (TLS, PROXY protocol, in-memory pipes, anything given to ServeConn)
	// are served by the goroutine engine; see BENCHMARKS.md.
	Engine string
}

// AuthError is a refused login with a machine-readable code. An
// Authenticator returns it (or wraps it) to have the client see
// ERR auth <Code> <Text>; other errors are sent with code "refused".
type AuthError struct {
	Code string // snake_case, listed in docs/PROTOCOL.md §4.1
	Text string // for people
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Text }

// withDefaults returns c with zero fields replaced by defaults, or an error
// naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if len(c.GuestPrefix) > 40 || strings.ContainsAny(c.GuestPrefix, " \t\r\n\"") {
		return c, fmt.Errorf("server: GuestPrefix %q: at most 40 bytes, without spaces or quotes", c.GuestPrefix)
	}
	if c.TickRate == 0 {
		c.TickRate = DefaultTickRate
	}
	if c.TickRate < MinTickRate || c.TickRate > MaxTickRate {
		return c, fmt.Errorf("server: TickRate %d out of range %d-%d", c.TickRate, MinTickRate, MaxTickRate)
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = frame.DefaultMaxMessage
	}
	if c.MaxMessage < frame.MinMessageLimit || c.MaxMessage > frame.MaxMessageLimit {
		return c, fmt.Errorf("server: MaxMessage %d out of range %d-%d", c.MaxMessage, frame.MinMessageLimit, frame.MaxMessageLimit)
	}
	durations := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"LoginTimeout", &c.LoginTimeout, DefaultLoginTimeout},
		{"IdleTimeout", &c.IdleTimeout, DefaultIdleTimeout},
		{"WriteTimeout", &c.WriteTimeout, DefaultWriteTimeout},
		{"AuthTimeout", &c.AuthTimeout, DefaultAuthTimeout},
		{"FrameTimeout", &c.FrameTimeout, DefaultFrameTimeout},
	}
	for _, d := range durations {
		if *d.p == 0 {
			*d.p = d.def
		}
		if *d.p < 10*time.Millisecond {
			return c, fmt.Errorf("server: %s %v is too short (minimum 10ms)", d.name, *d.p)
		}
	}
	ints := []struct {
		name string
		p    *int
		def  int
	}{
		{"MaxOutbound", &c.MaxOutbound, DefaultMaxOutbound},
		{"MaxInbound", &c.MaxInbound, DefaultMaxInbound},
		{"MaxConns", &c.MaxConns, DefaultMaxConns},
		{"LogBurst", &c.LogBurst, DefaultLogBurst},
		{"LogBurstPerAddr", &c.LogBurstPerAddr, DefaultLogBurstPerAddr},
		{"MaxConnsPerAddr", &c.MaxConnsPerAddr, DefaultMaxConnsPerAddr},
		{"MaxPreLoginPerAddr", &c.MaxPreLoginPerAddr, DefaultMaxPreLoginPerAddr},
		{"ConnBurstPerAddr", &c.ConnBurstPerAddr, DefaultConnBurstPerAddr},
		{"MessageBurst", &c.MessageBurst, DefaultMessageBurst},
		{"MaxOutboundBytes", &c.MaxOutboundBytes, DefaultMaxOutboundBytes},
	}
	for _, n := range ints {
		if *n.p == 0 {
			*n.p = n.def
		}
		if *n.p < 1 {
			return c, fmt.Errorf("server: %s %d must be positive", n.name, *n.p)
		}
	}
	rates := []struct {
		name string
		p    *float64
		def  float64
	}{
		{"LogRate", &c.LogRate, DefaultLogRate},
		{"LogRatePerAddr", &c.LogRatePerAddr, DefaultLogRatePerAddr},
		{"ConnRatePerAddr", &c.ConnRatePerAddr, DefaultConnRatePerAddr},
		{"MessageRate", &c.MessageRate, DefaultMessageRate},
	}
	for _, r := range rates {
		if *r.p == 0 {
			*r.p = r.def
		}
		if *r.p < 0 {
			return c, fmt.Errorf("server: %s must not be negative", r.name)
		}
	}
	if c.MaxOutboundBytesPerSec == 0 {
		c.MaxOutboundBytesPerSec = DefaultMaxOutboundBytesPerSec
	}
	if c.MaxOutboundBytesPerSec > 0 && c.MaxOutboundBytesPerSec < 4*c.MaxMessage {
		return c, fmt.Errorf("server: MaxOutboundBytesPerSec %d is below 4 messages of MaxMessage", c.MaxOutboundBytesPerSec)
	}
	if c.SeatHold == 0 {
		c.SeatHold = DefaultSeatHold
	}
	if c.SeatHold > MaxSeatHold {
		return c, fmt.Errorf("server: SeatHold %v above the maximum %v", c.SeatHold, MaxSeatHold)
	}
	for _, p := range c.AddrLimitExempt {
		if !p.IsValid() {
			return c, fmt.Errorf("server: AddrLimitExempt: invalid prefix %v", p)
		}
	}
	if c.Engine == "" {
		c.Engine = os.Getenv("TICKWIRE_ENGINE")
	}
	switch c.Engine {
	case "":
		c.Engine = EngineGoroutine
	case EngineGoroutine, EngineEventLoop:
	default:
		return c, fmt.Errorf("server: Engine %q: want %q or %q", c.Engine, EngineGoroutine, EngineEventLoop)
	}
	if c.Registry == nil {
		c.Registry = msg.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Identity is who a connection logged in as.
type Identity struct {
	AccountID int64  // 0 for guests
	Name      string // unique display name
	Guest     bool
}

// Authenticator checks a game login ("AUTH <user> <secret>"). It is called
// on the connection's reader goroutine, never on the tick goroutine, so it
// may do database I/O; ctx carries Config.AuthTimeout.
type Authenticator interface {
	Authenticate(ctx context.Context, user, secret string, remote netip.Addr) (Identity, error)
}

// Guard decides at accept time whether an address may connect, and counts
// strikes against addresses that misbehave.
type Guard interface {
	// Admit is called right after accept, before any byte is read; a
	// non-nil error refuses the connection (it is closed at once). It is
	// also called after each strike: an error then disconnects the client.
	Admit(remote netip.Addr) error
	// Strike records one offence. reason is a short code: too_long,
	// bad_message, auth_failed, impossible_move, or a game's own. It must
	// not block.
	Strike(remote netip.Addr, reason string)
}
