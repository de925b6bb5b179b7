// Package loadtest drives many simulated players ("bots") against a server
// speaking the room-relay workload protocol and reports throughput, delivery
// and latency. It backs the "tickwire bots" command.
//
// # Workload
//
// The protocol is newline-delimited text over TCP or WebSocket. Bot i joins
// room i/RoomSize with "JOIN <room>" and waits for "JOINED <room> <id>".
// Once every bot has connected (the connect phase, spread over RampUp), the
// measured window starts: for Duration each bot sends "MOVE <x> <y> <t>" at
// MoveRate per second, where t is the send time in microseconds on the bot
// process's monotonic clock. The server relays, once per tick, the latest
// position of every member that moved to every other member of its room as
// "POS <id> <x> <y> <t>". Bots measure latency as receive time − t.
// In Idle mode the bots only JOIN and then send blank keepalive lines, to
// measure what holding many connections costs the server.
//
// # Delivery accounting
//
// Expected deliveries are Σ over moves sent of (live members of the sender's
// room − 1). The ratio Delivered/Expected is below 1 only when messages are
// lost, or when the server legitimately supersedes an older move by a newer
// one from the same sender within one tick: at MoveRate ≤ tick rate/2 that
// happens only when scheduling jitter puts two moves into the same tick, so
// a ratio a little under 1 (e.g. ≥ 0.98 at 10 moves/s and 20 Hz) is healthy;
// at MoveRate above the tick rate it is at most tick rate/MoveRate by design.
// After the window the bots stop moving, wait Settle (≈3 ticks) until POS
// lines stop arriving, and then check the final state: every receiver's last
// seen t for each other live member must equal that member's last sent t.
//
// # Efficiency
//
// Each connection has one reader goroutine (blocked in Read, it costs only
// its stack and a small bufio buffer); all writes are done by one sender
// goroutine per CPU that paces the moves of many bots from a single loop.
// Latencies go into fixed, sharded log-linear histograms.
package loadtest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/tickwire/tickwire/transport"
)

// Config describes one load run. Zero fields take the documented defaults.
type Config struct {
	// Addr is the server's host:port (required). For the "ws" transport the
	// URL is ws://Addr/ws unless Addr is itself a ws:// URL.
	Addr string
	// N is the number of bots (default 100).
	N int
	// RoomSize is the number of bots per room (default 10); the last room
	// may be smaller.
	RoomSize int
	// MoveRate is the MOVE messages per second sent by each bot during the
	// measured window (default 10).
	MoveRate float64
	// Duration is the length of the measured window (default 10s).
	Duration time.Duration
	// RampUp spreads the connection attempts evenly over this long
	// (default 0: connect as fast as MaxConnecting allows).
	RampUp time.Duration
	// Transport is "tcp" (default) or "ws" (WebSocket, subprotocol
	// "tickwire.text", one line per client message).
	Transport string
	// Encoding is the wire encoding: "text" (default) or "msgpack". With
	// msgpack over TCP each bot sends "USE msgpack" first; over WebSocket it
	// offers the subprotocol tickwire.msgpack. The reference server speaks
	// text only.
	Encoding string
	// Idle makes bots connect, JOIN and then only send keepalives.
	Idle bool
	// ServerPID, if non-zero, is the server's process id on this machine;
	// its CPU time during the window (plus the settle wait) and its RSS at
	// the end are then reported, read from /proc (Linux only).
	ServerPID int
	// Progress, if non-nil, receives a status line once per second (a
	// single overwritten line when it is a terminal).
	Progress io.Writer
	// Logger receives the first occurrence of each kind of error and the
	// end of the connect phase (default: discard).
	Logger *slog.Logger

	// ConnectTimeout bounds one bot's connect + handshake + JOINED
	// (default 5s). The whole connect phase is bounded by
	// RampUp + 2*ConnectTimeout; bots not connected by then count as
	// failed.
	ConnectTimeout time.Duration
	// MaxConnecting is the most connection attempts in flight (default 64).
	MaxConnecting int
	// KeepAlive is how long a bot may send nothing before it sends a blank
	// keepalive line (default 30s).
	KeepAlive time.Duration
	// Settle is the minimum wait after the last MOVE before the final state
	// is checked (default 250ms, ≈3 ticks at 20 Hz plus margin); the wait is
	// extended while POS lines still arrive, up to max(2s, 10*Settle).
	Settle time.Duration
	// WriteTimeout bounds one write to a bot's connection (default 5s).
	WriteTimeout time.Duration
}

const (
	// TransportTCP is plain TCP.
	TransportTCP = "tcp"
	// TransportWS is WebSocket at ws://Addr/ws with subprotocol
	// WSSubprotocol.
	TransportWS = "ws"
	// WSSubprotocol is the WebSocket subprotocol of the text protocol.
	WSSubprotocol = transport.SubprotocolText
	// EncodingText is the newline-delimited text protocol.
	EncodingText = "text"
	// EncodingMsgPack is tickwire's MessagePack encoding.
	EncodingMsgPack = "msgpack"
	// WSSubprotocolMsgPack is the WebSocket subprotocol of MessagePack.
	WSSubprotocolMsgPack = transport.SubprotocolMsgPack
)

// withDefaults fills zero fields and validates c.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		return c, errors.New("loadtest: Addr is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.N == 0 {
		c.N = 100
	}
	if c.RoomSize == 0 {
		c.RoomSize = 10
	}
	if c.MoveRate == 0 {
		c.MoveRate = 10
	}
	def(&c.Duration, 10*time.Second)
	def(&c.ConnectTimeout, 5*time.Second)
	def(&c.KeepAlive, 30*time.Second)
	def(&c.Settle, 250*time.Millisecond)
	def(&c.WriteTimeout, 5*time.Second)
	if c.MaxConnecting == 0 {
		c.MaxConnecting = 64
	}
	if c.Transport == "" {
		c.Transport = TransportTCP
	}
	if c.Encoding == "" {
		c.Encoding = EncodingText
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.N < 0 || c.RoomSize < 1 || c.MaxConnecting < 1:
		return c, fmt.Errorf("loadtest: N (%d), RoomSize (%d) and MaxConnecting (%d) must be positive", c.N, c.RoomSize, c.MaxConnecting)
	case c.MoveRate < 0 || c.MoveRate > 1e6:
		return c, fmt.Errorf("loadtest: MoveRate %v out of range (0, 1e6]", c.MoveRate)
	case c.Duration < 0 || c.RampUp < 0 || c.ConnectTimeout < 0 || c.KeepAlive < 0 || c.Settle < 0 || c.WriteTimeout < 0:
		return c, errors.New("loadtest: durations must not be negative")
	case c.Transport != TransportTCP && c.Transport != TransportWS:
		return c, fmt.Errorf("loadtest: unknown Transport %q (want tcp or ws)", c.Transport)
	case c.Encoding != EncodingText && c.Encoding != EncodingMsgPack:
		return c, fmt.Errorf("loadtest: unknown Encoding %q (want text or msgpack)", c.Encoding)
	case c.ServerPID < 0:
		return c, fmt.Errorf("loadtest: bad ServerPID %d", c.ServerPID)
	}
	if c.Transport == TransportTCP || !strings.Contains(c.Addr, "://") {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return c, fmt.Errorf("loadtest: Addr: %w", err)
		}
	}
	return c, nil
}

// wsURL is the WebSocket URL for c.Addr.
func (c Config) wsURL() string {
	if strings.Contains(c.Addr, "://") {
		return c.Addr
	}
	return "ws://" + c.Addr + "/ws"
}
