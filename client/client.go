// Package client is the Go client library of a tickwire game server: what
// a game (or a headless bot) links to talk to a server.Server.
//
// A Client owns one connection and two goroutines. The reader decodes what
// the server sends into a bounded inbound queue; the writer encodes nothing
// itself but writes, in one call per flush, everything Send queued since the
// last flush, plus keepalives and RTT pings. The game never blocks on the
// network: it calls Poll once per frame, which hands every queued message
// to the callback registered for its type with On, on the game's own
// goroutine:
//
//	reg := msg.NewRegistry()
//	mygame.Register(reg) // the same messages the server defines
//	c, err := client.Dial(ctx, "127.0.0.1:5001", client.Options{Registry: reg, Encoding: msg.MsgPack})
//	if err != nil { ... }
//	defer c.Close()
//	if _, _, err := c.LoginGuest(ctx); err != nil { ... }
//	client.On(c, func(p *mygame.Pos) { world.Move(p.ID, p.X, p.Y) })
//	for running {
//		if _, err := c.Poll(); err != nil { ... } // e.g. *client.ByeError
//		c.Send(&mygame.Move{X: x, Y: y})
//		render()
//	}
//
// The client mirrors the server's connection handling (server/conn.go):
// framing and codecs come from packages frame and msg, an encoding switch
// is a USE request answered by USING, a blank line or zero-length frame is a
// keepalive, and the server's BYE ends the connection with a reason, which
// Poll returns as a *ByeError.
//
// Login needs a one-time token from the auth service for accounts
// (FetchToken), or nothing for guests (LoginGuest).
//
// With Options.Replica the client also keeps a replica.Model of the world
// the server replicates, fed by Poll, reports what it finds out of sync
// with DESYNC, and can reconcile a replica.Predictor on every ACK (see
// Predicted).
//
// # Reconnect
//
// A server that holds seats (server.Config.SeatHold, 30 s by default)
// sends SEAT with a single-use token after WELCOME; the client keeps it,
// and never logs it. When the connection then drops without a BYE that
// releases the seat (an EOF, a reset, a write error, a server silent for
// ReconnectOptions.SilenceTimeout while pings go unanswered, or the
// server's BYE timeout or BYE slow_consumer), the client reconnects by
// itself on a background goroutine: it dials again the same way (the same
// TCP address, with TLS if Options.TLS is set, or the same WebSocket URL and
// subprotocol), switches to Options.Encoding, sends RESUME with the player's
// name and the token, and carries on as the same player with the same id.
// Attempts back off from 100 ms, doubling up to 2 s with jitter, and stop
// when the server refuses the RESUME or the seat hold has passed
// (ReconnectOptions; Disabled turns it all off). A BYE quit, kicked,
// banned, shutdown, too_long or resumed ends the client as before.
//
// Poll stays non-blocking and keeps the order of things: it delivers every
// message received before the drop, then OnReconnecting (attempt 1 and why
// the connection dropped, then one call per further attempt), then
// OnResumed followed by what the new connection brings, or OnLost followed
// by the *LostError that Poll returns from then on. In between, the rules
// are:
//
//   - Send, Request and Login return ErrDisconnected, from the drop until
//     Poll has delivered OnResumed; nothing is queued for later, so no
//     stale input reaches the server after the gap. A Request whose
//     connection dropped before its answer returns ErrDisconnected too.
//   - A Predicted drops, on resume, the inputs the server never
//     acknowledged, without replaying them: the prediction snaps to the
//     server's state on the next ACK (the arena sends one, and SPAWN, right
//     after the resume), and carries on from there.
//   - The replica model keeps the last world during the gap, so a game can
//     keep drawing it; the server's fresh snapshot after the resume starts
//     with ZONE, which drops what the model held, so no DESYNC is reported
//     for what changed meanwhile.
//   - Request ids keep increasing across connections; Stats counts bytes,
//     messages, reconnect attempts and resumes over all of them.
//
// # Moving between servers
//
// A server of a cluster may send MOVED: the player now lives on another
// server (docs/PROTOCOL.md §5.3). The client follows it at once, without
// OnReconnecting or a back-off: it dials the new server's TCP address (or
// WebSocket URL, for a client from DialWebSocket) the same way, sends
// RESUME with the MOVED's ticket (or its own seat token for "-") and
// carries on as after a resume, with the new server's player id and seat
// token; Poll delivers OnMoved, then OnResumed. A MOVED that answers a
// RESUME is followed the same way. ReconnectOptions.Seeds lists other
// servers of the cluster, tried in turn when the current one cannot be
// reached; the one reached sends the client on with MOVED if the player
// lives elsewhere. A MOVED whose address is not usable (not host:port, not
// a ws:// or wss:// URL) is logged and not dialled: the connection counts
// as dropped. More than MaxMoves MOVED within MoveWindow give the seat up
// with ErrMoveLoop.
//
// Close stops a reconnect at once, whatever it is doing (waiting, dialing,
// waiting for the answer), and returns once every goroutine has ended.
// Sever cuts the connection as a network failure would, for tests and
// drills.
//
// The wire protocol is specified in docs/PROTOCOL.md.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// Defaults and limits. Every limit a Client enforces is one of these or the
// value configured in its place.
const (
	// DefaultKeepalive is how long the client may send nothing before it
	// sends a keepalive. The server's default idle timeout is 2 min; pings
	// (DefaultPingInterval) normally keep the connection busy well within
	// it. Before login keepalives do not help: the server gives a new
	// connection 5 s (server.DefaultLoginTimeout) to log in, whatever it
	// sends, so dial when the player is ready to log in, not before.
	DefaultKeepalive = 30 * time.Second
	// DefaultPingInterval is how often the client sends PING with a
	// timestamp token to measure the round-trip time.
	DefaultPingInterval = time.Second
	// DefaultReadTimeout is how long the server may stay silent before the
	// client gives the connection up. The server sends a keepalive at least
	// every half of its idle timeout (1 min by default) and answers every
	// PING at once.
	DefaultReadTimeout = 2 * time.Minute
	// DefaultWriteTimeout is how long one write may block before the
	// connection is given up.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMaxMessage is the default cap on a message the client sends, in
	// bytes: the server's default cap (server.Config.MaxMessage), which it
	// enforces by closing the connection.
	DefaultMaxMessage = frame.DefaultMaxMessage
	// DefaultMaxReceive is the default cap on a message the client accepts
	// from the server, in bytes. Servers send state, which may be larger
	// than input; the largest allowed is frame.MaxMessageLimit.
	DefaultMaxReceive = 64 << 10
	// DefaultInboundQueue is how many received messages may wait for Poll.
	// It matches the server's outbound queue (server.DefaultMaxOutbound).
	// When it is full the reader stops reading, so TCP pushes back on the
	// server, which eventually cuts the client off as a slow consumer: call
	// Poll every frame.
	DefaultInboundQueue = 4096
	// DefaultOutboundQueue is how many messages Send may queue between two
	// flushes of the writer; past it Send fails with ErrQueueFull.
	DefaultOutboundQueue = 1024
	// DefaultWebSocketReadLimit caps one WebSocket message from the server,
	// in bytes. The server writes everything one tick sends to a connection
	// as one message, so it must hold a busy tick.
	DefaultWebSocketReadLimit = 1 << 20
	// MaxPendingRequests caps the Request and Login calls waiting for an
	// answer at once; more fail with ErrTooManyRequests.
	MaxPendingRequests = 1024
	// MaxDesyncPerPoll caps the DESYNC reports one Poll sends; further
	// reports are counted in Stats.DesyncsDropped. A badly broken model
	// must not flood the server.
	MaxDesyncPerPoll = 16
	// maxLogText is the longest LOG text the server accepts (msg.Log).
	maxLogText = 512
	// rttTokenPrefix marks the client's own PING tokens.
	rttTokenPrefix = "rtt-"
	// rttSmoothing is the weight divisor of the smoothed RTT (new samples
	// count 1/rttSmoothing, as TCP's SRTT).
	rttSmoothing = 8
	// maxFlushBuffer is the largest write buffer the writer keeps between
	// flushes; a burst's larger buffer is dropped.
	maxFlushBuffer = 64 << 10
)

// Errors.
var (
	// ErrClosed is returned once the client was closed with Close or Quit.
	ErrClosed = errors.New("client: closed")
	// ErrQueueFull is returned by Send when DefaultOutboundQueue (or
	// Options.OutboundQueue) messages are already waiting to be written.
	ErrQueueFull = errors.New("client: outbound queue full")
	// ErrTooLong is returned by Send for a message whose encoding exceeds
	// Options.MaxMessage, or the server's cap from LIMITS once announced;
	// the server would close the connection for it.
	ErrTooLong = errors.New("client: message longer than MaxMessage")
	// ErrTooManyRequests is returned when MaxPendingRequests requests
	// already wait for an answer.
	ErrTooManyRequests = errors.New("client: too many pending requests")
)

// ByeError is the error of a connection the server ended with BYE.
type ByeError struct {
	// Reason is BYE's reason: quit, timeout, kicked reasons of the game,
	// too_long, slow_consumer, banned, shutdown, join_refused...
	Reason string
	// Detail is the text of the ERR the server sent just before BYE, if
	// any (for join_refused and too_long it says why).
	Detail string
}

// Error says the server closed the connection, and why.
func (e *ByeError) Error() string {
	if e.Detail != "" {
		return "client: server said BYE " + e.Reason + ": " + e.Detail
	}
	return "client: server said BYE " + e.Reason
}

// ServerError is an ERR the server sent: the answer to a Request or Login,
// or, from Poll, an ERR no On[msg.Err] callback took.
type ServerError struct {
	Code string // snake_case, e.g. auth, unhandled, bad_field
	Text string // human-readable explanation
}

// Error returns the code and text.
func (e *ServerError) Error() string { return "client: server refused: " + e.Code + ": " + e.Text }

// Options configures a Client. The zero value is valid: every zero field
// takes the default named in its comment.
type Options struct {
	// Registry holds the messages the game speaks: the same definitions as
	// the server's. Nil means msg.NewRegistry() (built-in messages only).
	Registry *msg.Registry
	// Encoding is the wire encoding, msg.Text (the zero value), msg.JSON or
	// msg.MsgPack. A TCP connection starts in text and switches with USE
	// right after connecting; DialWebSocket asks for it as a subprotocol.
	Encoding msg.Encoding
	// MaxMessage caps one message the client sends, in bytes; Send refuses
	// longer ones with ErrTooLong. It holds until the server announces its
	// own cap in LIMITS after login, which then replaces it (see Limits).
	// Default DefaultMaxMessage (4096), the server's default.
	MaxMessage int
	// MaxReceive caps one message accepted from the server, in bytes; a
	// longer one ends the connection. Default DefaultMaxReceive (64 KiB);
	// at most frame.MaxMessageLimit.
	MaxReceive int
	// Keepalive: when the client has sent nothing for this long it sends a
	// keepalive. Default
	// DefaultKeepalive (30 s); negative disables keepalives altogether.
	Keepalive time.Duration
	// PingInterval is how often PING measures the round-trip time (RTT).
	// Default DefaultPingInterval (1 s); negative disables (RTT stays 0).
	PingInterval time.Duration
	// ReadTimeout gives the connection up when the server sends nothing
	// for this long. Default DefaultReadTimeout (2 min); negative disables.
	ReadTimeout time.Duration
	// WriteTimeout gives the connection up when one write blocks this
	// long. Default DefaultWriteTimeout (10 s).
	WriteTimeout time.Duration
	// InboundQueue bounds the received messages waiting for Poll. Default
	// DefaultInboundQueue (4096).
	InboundQueue int
	// OutboundQueue bounds the messages waiting to be written. Default
	// DefaultOutboundQueue (1024).
	OutboundQueue int
	// WebSocketReadLimit caps one WebSocket message, for DialWebSocket.
	// Default DefaultWebSocketReadLimit (1 MiB).
	WebSocketReadLimit int64
	// HTTPClient makes DialWebSocket's handshake (set its TLS config for a
	// wss:// server with a private certificate). Nil means
	// http.DefaultClient.
	HTTPClient *http.Client
	// TLS, when set, makes Dial speak TLS to a game port served with TLS
	// (tickwire serve --game-tls): PinnedTLS(fingerprint) for a development
	// or other self-signed certificate, or a config with the usual
	// verification (ServerName defaults to the dialled host). Nil means
	// plain TCP. DialWebSocket ignores it (use HTTPClient).
	TLS *tls.Config
	// Logger receives the client's log. Nil means slog.Default().
	Logger *slog.Logger
	// OnMessage, when set, sees every message Poll dispatches, before the
	// typed callbacks (and after the replica model). Returning true stops
	// the message there. It runs on Poll's goroutine. Use it for generic
	// handling (recording, a scripting bridge) or to feed another
	// replication layer.
	OnMessage func(env msg.Envelope) bool
	// Replica, when true, defines the replica messages in Registry (see
	// replica.Register) and keeps a replica.Model of the replicated world:
	// Poll applies every message to it and sends the DESYNC reports it
	// produces. Read it with Client.Model. Default false.
	Replica bool
	// Reconnect configures automatic reconnection after a dropped
	// connection (see the package documentation). The zero value turns it
	// on with the defaults.
	Reconnect ReconnectOptions
}

func (o Options) withDefaults() (Options, error) {
	if o.Registry == nil {
		o.Registry = msg.NewRegistry()
	}
	switch o.Encoding {
	case msg.Text, msg.JSON, msg.MsgPack:
	default:
		return o, fmt.Errorf("client: unknown encoding %v", o.Encoding)
	}
	if o.MaxMessage == 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.MaxMessage < frame.MinMessageLimit || o.MaxMessage > frame.MaxMessageLimit {
		return o, fmt.Errorf("client: MaxMessage %d out of range %d-%d", o.MaxMessage, frame.MinMessageLimit, frame.MaxMessageLimit)
	}
	if o.MaxReceive == 0 {
		o.MaxReceive = DefaultMaxReceive
	}
	if o.MaxReceive < frame.MinMessageLimit || o.MaxReceive > frame.MaxMessageLimit {
		return o, fmt.Errorf("client: MaxReceive %d out of range %d-%d", o.MaxReceive, frame.MinMessageLimit, frame.MaxMessageLimit)
	}
	durations := []struct {
		p   *time.Duration
		def time.Duration
	}{
		{&o.Keepalive, DefaultKeepalive},
		{&o.PingInterval, DefaultPingInterval},
		{&o.ReadTimeout, DefaultReadTimeout},
		{&o.WriteTimeout, DefaultWriteTimeout},
	}
	for _, d := range durations {
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if o.WriteTimeout < 0 {
		return o, errors.New("client: WriteTimeout must not be negative")
	}
	if o.InboundQueue == 0 {
		o.InboundQueue = DefaultInboundQueue
	}
	if o.OutboundQueue == 0 {
		o.OutboundQueue = DefaultOutboundQueue
	}
	if o.InboundQueue < 1 || o.OutboundQueue < 1 {
		return o, errors.New("client: queue bounds must be positive")
	}
	if o.WebSocketReadLimit == 0 {
		o.WebSocketReadLimit = DefaultWebSocketReadLimit
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Replica {
		replica.Register(o.Registry)
	}
	r, err := o.Reconnect.withDefaults()
	if err != nil {
		return o, err
	}
	o.Reconnect = r
	return o, nil
}

// Client is a connection to a tickwire server. Its methods are safe for
// concurrent use, except that Poll (and so every callback) is meant to be
// called from one goroutine, the game loop.
type Client struct {
	opts   Options
	reg    *msg.Registry
	log    *slog.Logger
	epoch  time.Time       // RTT tokens are monotonic nanoseconds since epoch
	ctx    context.Context // canceled when the client ends: bounds redials
	cancel context.CancelFunc

	// Reconnecting (move.go): dialAddr opens a connection to an address
	// of the client's transport (nil: none); fixedDial is
	// ReconnectOptions.Dial, used for origin, the address the client was
	// made with ("" for New), until it moves.
	dialAddr  func(ctx context.Context, addr string) (net.Conn, error)
	fixedDial func(ctx context.Context) (net.Conn, error)
	origin    string
	ws        bool // addresses are WebSocket URLs
	addr      atomic.Pointer[string]
	moveLog   moveLog

	// Outbound: Send encodes into out; the writer of the current link
	// swaps it out and writes.
	outMu        sync.Mutex
	cur          *link // the current connection; nil while reconnecting
	open         bool  // Send accepted: false from a drop until Poll delivered the resume
	enc          *msg.Codec
	out          []byte
	outMsgs      int
	switchAt     int  // offset in out after a USE frame; -1 when none
	switchBinary bool // the framing after switchAt
	wake         chan struct{}

	// Inbound: the reader appends, Poll drains.
	inMu    sync.Mutex
	inbox   []msg.Envelope
	inSpace chan struct{}
	pollMu  sync.Mutex
	spare   []msg.Envelope

	hMu            sync.RWMutex
	handlers       map[reflect.Type]func(any) // by message struct type
	onReconnecting func(attempt int, err error)
	onResumed      func()
	onLost         func(err error)
	onMoved        func(addr string)
	onResume       func() // a Predicted's: drop the unacknowledged inputs

	// Requests waiting for an answer, by request id.
	pmu       sync.Mutex
	pending   map[uint32]func(msg.Envelope)
	loginWait chan msg.Envelope
	lastRID   atomic.Uint32

	// Replication. model and desyncs belong to Poll's goroutine; onAck is
	// guarded by hMu.
	model   *replica.Model
	onAck   func(*replica.Ack)
	desyncs int // reports sent during the current Poll

	id     atomic.Uint64
	name   atomic.Pointer[string]
	seat   atomic.Pointer[seatInfo] // the latest SEAT; nil: none, or spent
	limits atomic.Pointer[Limits]   // the latest LIMITS
	maxMsg atomic.Int64             // Send's cap: Options.MaxMessage, then LIMITS'

	reconnects, resumes, moves atomic.Uint64

	bytesIn, bytesOut       atomic.Uint64
	msgsIn, msgsOut         atomic.Uint64
	undecodable, unhandled  atomic.Uint64
	desyncSent, desyncDrops atomic.Uint64
	srtt, lastRTT           atomic.Int64

	quitting  atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
	err       error // why the connection ended; set before done is closed
	wg        sync.WaitGroup
}

// newClient starts a client on conn, which was dialled to origin ("" when
// unknown); dialAddr dials other addresses of the same transport (nil:
// none).
func newClient(conn net.Conn, opts Options, origin string, dialAddr func(context.Context, string) (net.Conn, error)) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Reconnect.DialAddr != nil {
		dialAddr = o.Reconnect.DialAddr
	}
	initial := initialEncoding(conn)
	l := newLink(conn)
	_, ws := conn.(messageTyper)
	l.addr = origin
	c := &Client{
		opts:      o,
		reg:       o.Registry,
		log:       o.Logger.With("peer", conn.RemoteAddr().String()),
		epoch:     time.Now(),
		dialAddr:  dialAddr,
		fixedDial: o.Reconnect.Dial,
		origin:    origin,
		ws:        ws,
		cur:       l,
		open:      true,
		enc:       o.Registry.NewCodec(initial),
		switchAt:  -1,
		wake:      make(chan struct{}, 1),
		inSpace:   make(chan struct{}, 1),
		handlers:  map[reflect.Type]func(any){},
		pending:   map[uint32]func(msg.Envelope){},
		done:      make(chan struct{}),
	}
	c.addr.Store(&origin)
	seeds := o.Reconnect.Seeds[:0:0]
	for _, s := range o.Reconnect.Seeds {
		if err := c.checkAddr(s); err != nil {
			return nil, fmt.Errorf("client: Reconnect.Seeds: %q: %v", s, err)
		}
		if !slices.Contains(seeds, s) {
			seeds = append(seeds, s)
		}
	}
	c.opts.Reconnect.Seeds = seeds
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.maxMsg.Store(int64(o.MaxMessage))
	empty := ""
	c.name.Store(&empty)
	if o.Replica {
		c.model = replica.NewModel()
	}
	if o.Encoding != initial {
		rid, err := c.useRID(o.Encoding)
		if err == nil {
			c.outMu.Lock()
			err = c.queueUseLocked(o.Encoding, rid)
			signal(c.wake)
			c.outMu.Unlock()
		}
		if err != nil {
			c.cancel()
			return nil, err
		}
	}
	c.wg.Add(2)
	go c.readLoop(l, initial)
	go c.writeLoop(l)
	return c, nil
}

// useRID reserves the request id of a USE e, whose refusal ends the
// client.
func (c *Client) useRID(e msg.Encoding) (uint32, error) {
	return c.register(func(env msg.Envelope) {
		if m, ok := env.Msg.(*msg.Err); ok {
			c.fail(fmt.Errorf("client: server refused USE %s: %s", e, m.Text))
		}
	})
}

// queueUseLocked queues USE e with request id rid in the current encoding
// and switches the encoder, so everything queued after it is in the new
// encoding, as the server expects. Call with outMu held.
func (c *Client) queueUseLocked(e msg.Encoding, rid uint32) error {
	out, err := c.enc.Append(c.out, &msg.Use{Encoding: e.String()}, rid)
	if err != nil {
		return err
	}
	c.out = out
	c.outMsgs++
	c.enc.SetEncoding(e)
	c.switchAt, c.switchBinary = len(c.out), e.FrameMode() == frame.Binary
	return nil
}

// fail ends the client; the first reason wins.
func (c *Client) fail(err error) {
	c.closeOnce.Do(func() {
		c.err = err
		close(c.done)
		c.cancel()
		c.outMu.Lock()
		l := c.cur
		c.outMu.Unlock()
		if l != nil {
			l.end(err, false)
		}
		if err == ErrClosed {
			c.log.Debug("client closed")
		} else {
			c.log.Info("connection ended", "reason", err.Error())
		}
	})
}

func (c *Client) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Done returns a channel closed when the client has ended: its connection
// ended and it will not reconnect (or gave up reconnecting).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client ended (a *ByeError, a *LostError, ErrClosed,
// or an I/O error), or nil while it is connected or reconnecting.
func (c *Client) Err() error {
	if c.isDone() {
		return c.err
	}
	return nil
}

// Close closes the connection at once, dropping queued output, stops a
// reconnect in progress, and waits for the client's goroutines to end. Poll
// then returns ErrClosed. To leave politely, use Quit.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// Quit sends QUIT after everything queued, waits until the server has
// answered BYE and closed the connection (or ctx ends), then closes the
// client. Poll then returns ErrClosed. While the client is reconnecting
// there is no connection to say QUIT on: Quit closes the client at once,
// and the server releases the seat when its hold ends.
func (c *Client) Quit(ctx context.Context) error {
	c.quitting.Store(true)
	_, err := c.enqueue(&msg.Quit{}, 0, true)
	if errors.Is(err, ErrDisconnected) {
		err = nil
	} else if err == nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	c.Close()
	if errors.Is(err, ErrClosed) {
		err = nil
	}
	return err
}

// Registry returns the registry the client encodes and decodes with.
func (c *Client) Registry() *msg.Registry { return c.reg }

// Encoding returns the encoding the client currently sends in.
func (c *Client) Encoding() msg.Encoding {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	return c.enc.Encoding()
}

// Limits are the settings a server announces in LIMITS after every login
// and resume.
type Limits struct {
	// TickRate is the server's ticks per second: a predicting client
	// steps its simulation at this rate.
	TickRate int
	// MaxMessage is the largest message the server accepts, in bytes;
	// Send now refuses longer ones with ErrTooLong.
	MaxMessage int
}

// Limits returns what the server announced in LIMITS, and false before
// login or with a server that sends none. Safe from any goroutine.
func (c *Client) Limits() (Limits, bool) {
	if l := c.limits.Load(); l != nil {
		return *l, true
	}
	return Limits{}, false
}

// ID returns the player id from WELCOME, or 0 before login.
func (c *Client) ID() uint64 { return c.id.Load() }

// Name returns the player name from WELCOME, or "" before login.
func (c *Client) Name() string { return *c.name.Load() }

// Stats is a snapshot of a client's counters, over every connection the
// client has had.
type Stats struct {
	BytesIn, BytesOut       uint64        // bytes read and written, framing included
	MessagesIn, MessagesOut uint64        // messages decoded, and queued to send (pings included)
	Undecodable             uint64        // received messages that did not decode (a registry mismatch)
	Unhandled               uint64        // messages Poll dropped: no callback for their type
	DesyncsSent             uint64        // DESYNC reports sent (Options.Replica)
	DesyncsDropped          uint64        // DESYNC reports over MaxDesyncPerPoll or not queued
	RTT                     time.Duration // smoothed round-trip time
	LastRTT                 time.Duration // the latest sample
	Reconnects              uint64        // reconnect attempts made (Options.Reconnect)
	Resumes                 uint64        // seats resumed on a new connection, moves included
	Moves                   uint64        // seats resumed on another server (OnMoved)
}

// Stats returns the client's counters. Safe from any goroutine.
func (c *Client) Stats() Stats {
	return Stats{
		BytesIn:        c.bytesIn.Load(),
		BytesOut:       c.bytesOut.Load(),
		MessagesIn:     c.msgsIn.Load(),
		MessagesOut:    c.msgsOut.Load(),
		Undecodable:    c.undecodable.Load(),
		Unhandled:      c.unhandled.Load(),
		DesyncsSent:    c.desyncSent.Load(),
		DesyncsDropped: c.desyncDrops.Load(),
		RTT:            time.Duration(c.srtt.Load()),
		LastRTT:        time.Duration(c.lastRTT.Load()),
		Reconnects:     c.reconnects.Load(),
		Resumes:        c.resumes.Load(),
		Moves:          c.moves.Load(),
	}
}
