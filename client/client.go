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
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/transport"
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
	epoch  time.Time                                   // RTT tokens are monotonic nanoseconds since epoch
	redial func(ctx context.Context) (net.Conn, error) // opens a reconnect's connection; nil: none
	ctx    context.Context                             // canceled when the client ends: bounds redials
	cancel context.CancelFunc

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

	reconnects, resumes atomic.Uint64

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

// initialEncoder is implemented by transports that choose the first
// encoding (a WebSocket subprotocol), as on the server.
type initialEncoder interface{ InitialEncoding() string }

// messageTyper is a message-oriented transport (WebSocket) that must be
// told whether the next writes carry text lines or binary frames.
type messageTyper interface{ SetBinary(bool) }

// Dial connects to a server's TCP address ("host:port") and starts the
// client. With Options.TLS it speaks TLS. With Options.Encoding other than
// text it sends USE at once; the switch completes in the background. ctx
// bounds the connect (and the TLS handshake) only. Reconnects dial the same
// address the same way.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	cfg := opts.TLS
	dial := func(ctx context.Context) (net.Conn, error) { return dialTCP(ctx, addr, cfg) }
	conn, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	c, err := newClient(conn, opts, dial)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// dialTCP connects to addr, with TLS when cfg is set.
func dialTCP(ctx context.Context, addr string, cfg *tls.Config) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true) // small game messages must not wait for Nagle
	}
	if cfg != nil {
		if conn, err = startTLS(ctx, conn, addr, cfg); err != nil {
			return nil, err
		}
	}
	return conn, nil
}

// Subprotocol returns the WebSocket subprotocol that selects enc
// (transport.SubprotocolText, SubprotocolJSON or SubprotocolMsgPack).
func Subprotocol(enc msg.Encoding) string {
	switch enc {
	case msg.JSON:
		return transport.SubprotocolJSON
	case msg.MsgPack:
		return transport.SubprotocolMsgPack
	}
	return transport.SubprotocolText
}

// DialWebSocket connects to a server's WebSocket endpoint (e.g.
// "ws://127.0.0.1:8080/ws"), offering the subprotocol of Options.Encoding,
// and starts the client. If the server picks no subprotocol the client
// falls back to USE. ctx bounds the handshake only. Reconnects dial the
// same URL the same way.
func DialWebSocket(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	dial := func(ctx context.Context) (net.Conn, error) {
		ws, _, err := websocket.Dial(ctx, rawURL, &websocket.DialOptions{
			HTTPClient:   o.HTTPClient,
			Subprotocols: []string{Subprotocol(o.Encoding)},
		})
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		ws.SetReadLimit(o.WebSocketReadLimit)
		return transport.NewWebSocketConn(ws, u.Host, "client"), nil
	}
	conn, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	c, err := newClient(conn, opts, dial)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// New starts a client on an established connection: a TCP socket, a
// transport.WebSocketConn, or one end of an in-memory pipe
// (transport.PipeListener.Dial) in tests. The client owns conn from now on
// and closes it on Close. It reconnects only with Options.Reconnect.Dial.
func New(conn net.Conn, opts Options) (*Client, error) {
	return newClient(conn, opts, nil)
}

// initialEncoding is the encoding a new connection starts in: text, or
// what the transport chose (a WebSocket subprotocol), as on the server.
func initialEncoding(conn net.Conn) msg.Encoding {
	if ie, ok := conn.(initialEncoder); ok {
		if e, err := msg.ParseEncoding(ie.InitialEncoding()); err == nil {
			return e
		}
	}
	return msg.Text
}

func newClient(conn net.Conn, opts Options, redial func(context.Context) (net.Conn, error)) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Reconnect.Dial != nil {
		redial = o.Reconnect.Dial
	}
	initial := initialEncoding(conn)
	l := newLink(conn)
	c := &Client{
		opts:     o,
		reg:      o.Registry,
		log:      o.Logger.With("peer", conn.RemoteAddr().String()),
		epoch:    time.Now(),
		redial:   redial,
		cur:      l,
		open:     true,
		enc:      o.Registry.NewCodec(initial),
		switchAt: -1,
		wake:     make(chan struct{}, 1),
		inSpace:  make(chan struct{}, 1),
		handlers: map[reflect.Type]func(any){},
		pending:  map[uint32]func(msg.Envelope){},
		done:     make(chan struct{}),
	}
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

// Send queues m, a registered message value or pointer that may travel to
// the server, for the writer. It never blocks: it fails with ErrQueueFull
// when the outbound queue is full, and with ErrDisconnected while the
// client is reconnecting (the message is not kept for later). m is
// validated and encoded before Send returns, so the caller may reuse it at
// once.
func (c *Client) Send(m any) error {
	if err := c.check(m); err != nil {
		return err
	}
	_, err := c.enqueue(m, 0, true)
	return err
}

// check refuses what the server would refuse.
func (c *Client) check(m any) error {
	t, err := c.reg.TypeOf(m)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if t.Dir&msg.ToServer == 0 {
		return fmt.Errorf("client: %s may not be sent to the server", t.Name)
	}
	if t.ID == msg.IDUse {
		return errors.New("client: choose the encoding with Options.Encoding, not USE")
	}
	if err := c.reg.Validate(m); err != nil {
		return fmt.Errorf("client: %s: %w", t.Name, err)
	}
	return nil
}

// enqueue encodes m into the outbound buffer of the current connection,
// which it returns, and wakes the writer. The game's messages (user) are
// refused from a drop until Poll delivered the resume; the client's own
// (pings) go to any live connection.
func (c *Client) enqueue(m any, rid uint32, user bool) (*link, error) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.isDone() {
		return nil, c.err
	}
	if c.cur == nil || (user && !c.open) {
		return nil, ErrDisconnected
	}
	if c.outMsgs >= c.opts.OutboundQueue {
		return nil, ErrQueueFull
	}
	start := len(c.out)
	out, err := c.enc.Append(c.out, m, rid)
	if err != nil {
		c.out = out[:start]
		return nil, fmt.Errorf("client: %w", err)
	}
	if payloadLen(out[start:], c.enc.Encoding()) > int(c.maxMsg.Load()) {
		c.out = out[:start]
		return nil, ErrTooLong
	}
	c.out = out
	c.outMsgs++
	c.msgsOut.Add(1)
	signal(c.wake)
	return c.cur, nil
}

// signal wakes whoever waits on ch, if nobody already did.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// payloadLen returns the size of one encoded frame without its line
// terminator or length prefix.
func payloadLen(f []byte, e msg.Encoding) int {
	if e.FrameMode() == frame.Binary {
		for i, b := range f {
			if b < 0x80 { // the last byte of the uvarint length prefix
				return len(f) - (i + 1)
			}
		}
		return len(f)
	}
	return len(f) - 1
}

// register reserves a request id whose answer goes to fn, called on the
// reader goroutine.
func (c *Client) register(fn func(msg.Envelope)) (uint32, error) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if len(c.pending) >= MaxPendingRequests {
		return 0, ErrTooManyRequests
	}
	for {
		rid := c.lastRID.Add(1)
		if rid == 0 {
			continue // 0 means "no request id"
		}
		if _, taken := c.pending[rid]; !taken {
			c.pending[rid] = fn
			return rid, nil
		}
	}
}

func (c *Client) unregister(rid uint32) {
	c.pmu.Lock()
	delete(c.pending, rid)
	c.pmu.Unlock()
}

// resolve hands env to the request waiting for its id, if any.
func (c *Client) resolve(env msg.Envelope) bool {
	c.pmu.Lock()
	fn, ok := c.pending[env.RID]
	delete(c.pending, env.RID)
	c.pmu.Unlock()
	if ok {
		fn(env)
	}
	return ok
}

// roundTrip sends m with a fresh request id and waits for the envelope
// delivered to ch (by the id, or by Login's WELCOME).
func (c *Client) roundTrip(ctx context.Context, m any, ch chan msg.Envelope) (msg.Envelope, error) {
	if err := c.check(m); err != nil {
		return msg.Envelope{}, err
	}
	rid, err := c.register(func(env msg.Envelope) {
		select {
		case ch <- env:
		default:
		}
	})
	if err != nil {
		return msg.Envelope{}, err
	}
	defer c.unregister(rid)
	l, err := c.enqueue(m, rid, true)
	if err != nil {
		return msg.Envelope{}, err
	}
	select {
	case env := <-ch:
		return env, nil
	case <-ctx.Done():
		return msg.Envelope{}, ctx.Err()
	case <-l.lost:
		select {
		case env := <-ch:
			return env, nil
		default:
		}
		return msg.Envelope{}, ErrDisconnected
	case <-c.done:
		select {
		case env := <-ch:
			return env, nil
		default:
		}
		return msg.Envelope{}, c.err
	}
}

// Request sends m tagged with a fresh request id and waits for the
// server's answer carrying that id (Player.Reply on the server). The answer
// does not go through Poll, so Request works from any goroutine while the
// game loop polls, but it needs the inbound queue not to be full. An ERR
// answer is returned as the reply (*msg.Err) together with a *ServerError.
func (c *Client) Request(ctx context.Context, m any) (any, error) {
	env, err := c.roundTrip(ctx, m, make(chan msg.Envelope, 1))
	if err != nil {
		return nil, err
	}
	if e, ok := env.Msg.(*msg.Err); ok {
		return e, &ServerError{Code: e.Code, Text: e.Text}
	}
	return env.Msg, nil
}

// Login logs in with AUTH user secret (secret is a one-time token from the
// auth service, see FetchToken) and waits for WELCOME, which the server
// sends once the game has admitted the player, or for the refusal. It
// returns the player's id and display name.
func (c *Client) Login(ctx context.Context, user, secret string) (id uint64, name string, err error) {
	ch := make(chan msg.Envelope, 2)
	c.pmu.Lock()
	if c.loginWait != nil {
		c.pmu.Unlock()
		return 0, "", errors.New("client: a login is already in progress")
	}
	c.loginWait = ch
	c.pmu.Unlock()
	defer func() {
		c.pmu.Lock()
		if c.loginWait == ch {
			c.loginWait = nil
		}
		c.pmu.Unlock()
	}()
	env, err := c.roundTrip(ctx, &msg.Auth{User: user, Secret: secret}, ch)
	if err != nil {
		return 0, "", err
	}
	switch m := env.Msg.(type) {
	case *msg.Welcome:
		return m.ID, m.Name, nil
	case *msg.Err:
		return 0, "", &ServerError{Code: m.Code, Text: m.Text}
	}
	return 0, "", fmt.Errorf("client: unexpected answer %s to AUTH", env.Type.Name)
}

// LoginGuest logs in as a guest (AUTH guest); the server names the player
// guest-<id>.
func (c *Client) LoginGuest(ctx context.Context) (id uint64, name string, err error) {
	return c.Login(ctx, "guest", "")
}

// Log ships a line to the server's log with LOG, at level (mapped to
// debug, info, warn or error). Text longer than the protocol's 512 bytes is
// cut. The server rate-limits LOG lines.
func (c *Client) Log(level slog.Level, text string) error {
	lv := "error"
	switch {
	case level < slog.LevelInfo:
		lv = "debug"
	case level < slog.LevelWarn:
		lv = "info"
	case level < slog.LevelError:
		lv = "warn"
	}
	if len(text) > maxLogText {
		cut := maxLogText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	return c.Send(&msg.Log{Level: lv, Text: text})
}

// RTT returns the smoothed round-trip time measured with PING, or 0 before
// the first answer (or with pings disabled).
func (c *Client) RTT() time.Duration { return time.Duration(c.srtt.Load()) }

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
	Resumes                 uint64        // seats resumed on a new connection
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
	}
}

// write writes buf to l with the write deadline; false means l has
// ended.
func (c *Client) write(l *link, buf []byte) bool {
	if len(buf) == 0 {
		return true
	}
	if err := l.conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout)); err != nil {
		l.end(fmt.Errorf("client: write: %w", err), true)
		return false
	}
	n, err := l.conn.Write(buf)
	c.bytesOut.Add(uint64(n))
	if err != nil {
		// The reader sees the connection closed and takes it from here.
		l.end(fmt.Errorf("client: write: %w", err), true)
		return false
	}
	return true
}

// writeLoop runs on l's writer goroutine: it writes what Send encoded, one
// write per flush, sends a PING every PingInterval and a keepalive when
// nothing was written for Keepalive. It ends with l, or when l is no
// longer the current connection.
func (c *Client) writeLoop(l *link) {
	defer c.wg.Done()
	var kaC, pingC <-chan time.Time
	var ka *time.Timer
	if c.opts.Keepalive > 0 {
		ka = time.NewTimer(c.opts.Keepalive)
		defer ka.Stop()
		kaC = ka.C
	}
	if c.opts.PingInterval > 0 {
		t := time.NewTicker(c.opts.PingInterval)
		defer t.Stop()
		pingC = t.C
		c.ping()
	}
	mt, _ := l.conn.(messageTyper)
	var buf []byte
	for {
		idle := false
		select {
		case <-c.done:
			return
		case <-l.done:
			return
		case <-c.wake:
		case <-kaC:
			idle = true
		case <-pingC:
			c.ping()
		}
		c.outMu.Lock()
		if c.cur != l {
			c.outMu.Unlock()
			signal(c.wake) // the wake may have been meant for the new connection's writer
			return
		}
		buf, c.out = c.out, buf[:0]
		c.outMsgs = 0
		split, binary := c.switchAt, c.switchBinary
		c.switchAt = -1
		mode := c.enc.Encoding().FrameMode()
		c.outMu.Unlock()
		if len(buf) == 0 {
			if !idle {
				continue
			}
			buf = append(buf, frame.Keepalive(mode)...)
		}
		if split >= 0 && mt != nil {
			// A message transport carries one framing per message: what
			// precedes the switch goes in its own message.
			if !c.write(l, buf[:split]) {
				return
			}
			mt.SetBinary(binary)
			buf = buf[split:]
		}
		if !c.write(l, buf) {
			return
		}
		if ka != nil {
			ka.Reset(c.opts.Keepalive)
		}
		if cap(buf) > maxFlushBuffer {
			buf = nil
		}
	}
}

// ping queues a PING whose token is the send time.
func (c *Client) ping() {
	token := rttTokenPrefix + strconv.FormatInt(int64(time.Since(c.epoch)), 10)
	if _, err := c.enqueue(&msg.Ping{Token: token}, 0, false); err != nil && !c.isDone() && !errors.Is(err, ErrDisconnected) {
		c.log.Debug("ping not sent", "err", err)
	}
}

// pong records an RTT sample from one of the client's own PONGs.
func (c *Client) pong(m *msg.Pong) bool {
	s, ok := strings.CutPrefix(m.Token, rttTokenPrefix)
	if !ok {
		return false
	}
	sent, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return false
	}
	sample := int64(time.Since(c.epoch)) - sent
	if sample < 0 {
		return true
	}
	c.lastRTT.Store(sample)
	if old := c.srtt.Load(); old == 0 {
		c.srtt.Store(sample)
	} else {
		c.srtt.Store(old + (sample-old)/rttSmoothing)
	}
	return true
}

// deadlineReader refreshes the read deadline of l before every read and
// counts bytes in.
type deadlineReader struct {
	c *Client
	l *link
}

// Read reads from the connection with a fresh read deadline.
func (r deadlineReader) Read(p []byte) (int, error) {
	c := r.c
	if d := c.readTimeout(); d > 0 {
		if err := r.l.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
			return 0, err
		}
	}
	n, err := r.l.conn.Read(p)
	c.bytesIn.Add(uint64(n))
	return n, err
}

// readLoop runs on l's reader goroutine: it decodes, answers what the
// client handles itself (USING, PONG, WELCOME, SEAT, LIMITS, BYE, request
// answers, the answer to RESUME) and queues the rest for Poll. When l ends it hands
// over to linkDown, which resumes or ends the client.
func (c *Client) readLoop(l *link, initial msg.Encoding) {
	defer c.wg.Done()
	dec := c.reg.NewCodec(initial)
	fr := frame.NewReader(deadlineReader{c, l}, c.opts.MaxReceive)
	fr.SetMode(initial.FrameMode())
	var bye *ByeError
	var lastErr *msg.Err // the latest ERR without a request id, for BYE's detail
	for {
		data, err := fr.Next()
		if err != nil {
			rerr, resumable := c.readError(err, bye, l)
			l.end(rerr, resumable)
			// A link still resuming belongs to its reconnect attempt.
			if l.phase.Load() == phaseLive {
				c.linkDown(l)
			}
			return
		}
		env, err := dec.Decode(data, msg.ToClient)
		if err != nil {
			c.undecodable.Add(1)
			c.log.Warn("undecodable message from the server (do the registries match?)", "err", err)
			continue
		}
		c.msgsIn.Add(1)
		switch m := env.Msg.(type) {
		case *msg.Using:
			e, err := msg.ParseEncoding(m.Encoding)
			if err != nil {
				c.fail(fmt.Errorf("client: server switched to %q: %w", m.Encoding, err))
				return
			}
			// Everything after USING is in the new encoding.
			dec.SetEncoding(e)
			fr.SetMode(e.FrameMode())
			if env.RID != 0 {
				c.resolve(env)
			}
			continue
		case *msg.Pong:
			if c.pong(m) {
				continue
			}
		case *msg.Bye:
			bye = &ByeError{Reason: m.Reason}
			if lastErr != nil {
				bye.Detail = lastErr.Text
			}
			continue
		case *msg.Seat:
			if m.HoldMS > 0 && m.Token != "" {
				c.seat.Store(&seatInfo{token: m.Token, hold: time.Duration(m.HoldMS) * time.Millisecond})
			}
			continue
		case *msg.Limits:
			c.limits.Store(&Limits{TickRate: int(m.TickRate), MaxMessage: int(m.MaxMessage)})
			if n := int64(m.MaxMessage); n >= frame.MinMessageLimit && n <= frame.MaxMessageLimit {
				c.maxMsg.Store(n)
			}
			continue
		case *msg.Welcome:
			if l.phase.Load() == phaseResuming {
				c.resumed(l, m)
				continue
			}
			c.id.Store(m.ID)
			name := m.Name
			c.name.Store(&name)
			if c.deliverLogin(env) {
				continue
			}
		case *msg.Err:
			if l.phase.Load() == phaseResuming && (env.RID == l.resumeRID || m.Code == "resume") {
				l.refusedResume(m)
				continue
			}
			if env.RID == 0 {
				lastErr = m
			}
		}
		if env.RID != 0 && c.resolve(env) {
			continue
		}
		if !c.post(env) {
			return
		}
	}
}

// readError turns the reader's final error into why l ended, and whether
// the server holds the seat after it: not after a BYE that releases it
// (quit, a kick, banned, shutdown, too_long, resumed, seat_expired, ...),
// nor after a message too long for MaxReceive, which a new connection
// would meet again.
func (c *Client) readError(err error, bye *ByeError, l *link) (error, bool) {
	switch {
	case c.isDone():
		return c.err, false
	case l.ended():
		return l.err, l.resumable // Sever, or the writer failed
	case c.quitting.Load() && (bye == nil || bye.Reason == "quit"):
		return ErrClosed, false
	case bye != nil:
		return bye, bye.Reason == "timeout" || bye.Reason == "slow_consumer"
	case errors.Is(err, frame.ErrTooLong):
		return fmt.Errorf("client: server sent a message longer than MaxReceive (%d bytes): %w", c.opts.MaxReceive, err), false
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("client: server silent for %v: %w", c.readTimeout(), err), true
	case errors.Is(err, io.EOF):
		return fmt.Errorf("client: connection closed by the server: %w", err), true
	}
	return fmt.Errorf("client: read: %w", err), true
}

// deliverLogin hands WELCOME to a waiting Login.
func (c *Client) deliverLogin(env msg.Envelope) bool {
	c.pmu.Lock()
	ch := c.loginWait
	c.loginWait = nil
	c.pmu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case ch <- env:
	default:
	}
	return true
}

// post queues env for Poll, waiting while the queue is full.
func (c *Client) post(env msg.Envelope) bool {
	for {
		c.inMu.Lock()
		if len(c.inbox) < c.opts.InboundQueue {
			c.inbox = append(c.inbox, env)
			c.inMu.Unlock()
			return true
		}
		c.inMu.Unlock()
		select {
		case <-c.inSpace:
		case <-c.done:
			return false
		}
	}
}
