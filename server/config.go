package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
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
	// AutoLogin logs every connection in as a guest as soon as it is
	// accepted, with no AUTH: for benchmark workloads such as the relay.
	// Default false.
	AutoLogin bool
	// Authenticator checks "AUTH <user> <secret>". Nil means only guests
	// can log in.
	Authenticator Authenticator
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
	// LogRate and LogBurst limit client LOG lines per connection (lines per
	// second, burst). Defaults DefaultLogRate and DefaultLogBurst.
	LogRate  float64
	LogBurst int
}

// withDefaults returns c with zero fields replaced by defaults, or an error
// naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
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
	}
	for _, n := range ints {
		if *n.p == 0 {
			*n.p = n.def
		}
		if *n.p < 1 {
			return c, fmt.Errorf("server: %s %d must be positive", n.name, *n.p)
		}
	}
	if c.LogRate == 0 {
		c.LogRate = DefaultLogRate
	}
	if c.LogRate < 0 {
		return c, errors.New("server: LogRate must not be negative")
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
