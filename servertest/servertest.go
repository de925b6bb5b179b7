// Package servertest runs a game under a manual clock for its author's
// tests: a real tickwire server, real connections and real encodings, with
// ticks that happen only when the test says so.
//
//	s := servertest.New(t, server.Config{Registry: reg}, newGame())
//	a, b := s.Dial(msg.Text), s.Dial(msg.JSON)
//	a.Login()
//	b.Login()
//	a.SendLine("@9 STEP e")
//	s.Tick()
//	a.ExpectLine("@9 AT 1 0")
//	b.Expect(&Pos{ID: a.ID(), X: 1, Y: 0})
//
// # The clock
//
// New serves the game in server.Server's manual-tick mode: nothing happens
// between ticks except what the connections' readers do on their own (PING,
// HELP, USE, AUTH and decoding errors are answered at once). Tick runs one
// tick at the manual clock's time, then moves the clock on by one tick
// period; Advance moves it further (to expire a seat hold, say). Tick.Now is
// therefore exact and the same every run.
//
// # Settling: what Tick waits for
//
// Tick first settles every client: it writes each client's connection a
// sync frame (a PONG, which clients may not send, so the server's reader
// answers it with ERR not_allowed carrying a request id from
// FirstReservedRID up; the client keeps that answer to itself) and waits for
// the answers. A connection's reader handles its frames in order, and its
// writer writes its output in order, so once the answer is back
//
//   - every message the client wrote before has been handed to the tick
//     (joins included: Login's AUTH, Dial's AutoLogin);
//   - everything the server sent the client before has arrived.
//
// A connection that is closing (the client dropped it, QUIT, a kick) never
// answers; Tick then waits until the server has finished with the
// connection, so the player's Leave (or its seat hold) happens in this tick.
// Nothing sleeps and nothing is timed: the waits are bounded (10 s) only to
// turn a hang into a failure. Expect, ExpectLine and ExpectNothing use the
// same sync when no message is waiting, so "nothing arrived" is a fact, not
// a guess.
//
// Everything about a Server and its clients is used from the test's
// goroutine. Sync frames count in Stats().MessagesIn and reset the idle
// timeout like any frame.
//
// # Checks
//
// New turns Config.CheckCauses on (a typed handler that sends a message its
// input's msg.Info.Causes does not list panics, and Tick reports it as a
// failure), logs the server's warnings and errors with t.Log, and registers
// a cleanup that shuts the server down and fails the test if a goroutine
// the server, the game or servertest started is still running.
//
// For tests against a server on a real socket (a program's main, another
// implementation of a protocol), DialLine is a plain line-protocol client.
package servertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
)

// waitLimit bounds every wait, so a broken test fails instead of hanging.
// Nothing asserts how fast anything is. servertest's own tests shorten it
// to see its failures quickly.
var waitLimit = 10 * time.Second

// FirstReservedRID is the first request id servertest reserves for its sync
// frames (see the package doc). A test must not tag its own messages with
// ids from here up.
const FirstReservedRID = 0xF000_0000

// An Option changes how New sets the server up.
type Option func(*options)

type options struct {
	noCauses bool
	start    time.Time
}

// WithoutCauseCheck leaves Config.CheckCauses as the caller set it instead
// of turning it on.
func WithoutCauseCheck() Option { return func(o *options) { o.noCauses = true } }

// StartAt sets the time of the first tick (default: the wall clock when New
// is called).
func StartAt(t time.Time) Option { return func(o *options) { o.start = t } }

// Server is a game served under a manual clock. Create it with New; its
// clients with Dial.
type Server struct {
	t      testing.TB
	srv    *server.Server
	cfg    server.Config
	labels pprof.LabelSet
	label  string
	logs   *testLog

	period time.Duration
	now    time.Time
	ticks  uint64

	text    *msg.Codec // renders messages for failure texts; test goroutine only
	clients []*Client
	dialled int
	down    bool
}

var servers atomic.Uint64

// New serves game with cfg under a manual clock and shuts it down when the
// test ends. It fails the test if server.New refuses cfg or the game.
//
// A nil cfg.Logger logs the server's warnings and errors with t.Log.
// cfg.CheckCauses is turned on unless the WithoutCauseCheck option is given.
func New(t testing.TB, cfg server.Config, game server.Game, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	if !o.noCauses {
		cfg.CheckCauses = true
	}
	logs := &testLog{t: t}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg.Logger = slog.New(syncFilter{cfg.Logger.Handler()})
	id := strconv.FormatUint(servers.Add(1), 10)
	s := &Server{
		t:      t,
		labels: pprof.Labels(labelKey, id),
		label:  fmt.Sprintf("%q:%q", labelKey, id),
		logs:   logs,
		now:    o.start,
	}
	var err error
	s.do(func() { s.srv, err = server.New(cfg, game) }) // the game's Init too is labelled
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	s.cfg = s.srv.Config()
	s.period = time.Second / time.Duration(s.cfg.TickRate)
	if s.now.IsZero() {
		s.now = time.Now()
	}
	s.text = s.cfg.Registry.NewCodec(msg.Text)
	s.do(s.srv.ManualTicks)
	t.Cleanup(s.shutdown)
	return s
}

// labelKey is the profiler label every goroutine of a Server carries, so
// the leak check counts its goroutines and no other test's.
const labelKey = "tickwire-servertest"

// do runs f with the server's profiler label: goroutines f starts (and
// those they start) carry it.
func (s *Server) do(f func()) {
	pprof.Do(context.Background(), s.labels, func(context.Context) { f() })
}

// Server returns the server.Server underneath, for its Stats, Config and
// Registry. Do not call its RunTick: Tick settles the clients first.
func (s *Server) Server() *server.Server { return s.srv }

// Now returns the time the next tick will run at.
func (s *Server) Now() time.Time { return s.now }

// Advance moves the manual clock forward by d without ticking: the next
// tick runs d later than it would have. Seat holds and a game's own timers
// read the clock through Tick.Now.
func (s *Server) Advance(d time.Duration) {
	s.t.Helper()
	if d < 0 {
		s.t.Fatalf("servertest: Advance(%v): the clock does not go back", d)
	}
	s.now = s.now.Add(d)
}

// Tick runs one tick once every client has settled (see the package doc):
// the game's Join, Update and Leave see everything the clients wrote before
// the call. The tick runs at Now; the clock then moves on by one tick
// period. A panic in the game fails the test with the panic and its stack.
func (s *Server) Tick() {
	s.t.Helper()
	if s.down {
		s.t.Fatalf("servertest: Tick after the server was shut down")
	}
	s.settle()
	s.runTick()
}

// Ticks calls Tick n times.
func (s *Server) Ticks(n int) {
	s.t.Helper()
	for range n {
		s.Tick()
	}
}

func (s *Server) runTick() {
	s.t.Helper()
	now := s.now
	s.now = now.Add(s.period)
	s.ticks++
	var panicked any
	var stack []byte
	s.do(func() {
		defer func() {
			if r := recover(); r != nil {
				panicked, stack = r, debug.Stack()
			}
		}()
		s.srv.RunTickAt(now)
	})
	if panicked != nil {
		s.t.Fatalf("servertest: tick %d panicked: %v\n\n%s", s.ticks, panicked, stack)
	}
}

// settle syncs every client that has a connection: see the package doc.
// The sync frames all go out before any answer is awaited.
func (s *Server) settle() {
	s.t.Helper()
	var live []*Client
	var rids []uint32
	for _, c := range s.clients {
		if !c.conn.gone {
			live, rids = append(live, c), append(rids, c.startSync())
		}
	}
	for i, c := range live {
		c.finishSync(rids[i])
	}
}

// shutdown runs when the test ends: it shuts the server down, closes every
// client and checks that every goroutine the server started has ended.
func (s *Server) shutdown() {
	s.t.Helper()
	defer s.logs.close()
	s.down = true
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var err error
	s.do(func() { err = s.srv.Shutdown(ctx) })
	if err != nil && !errors.Is(err, server.ErrServerClosed) {
		s.t.Errorf("servertest: Shutdown: %v", err)
	}
	for _, c := range s.clients {
		for _, cc := range c.conns {
			cc.nc.Close()
			if !waitClosed(cc.served) {
				s.t.Errorf("servertest: client %s: the server did not finish with its connection within %v of Shutdown", c.who(), waitLimit)
			}
		}
	}
	if stacks := s.leftover(); stacks != "" {
		s.t.Errorf("servertest: goroutines still running %v after Shutdown:\n\n%s", waitLimit, stacks)
	}
}

func waitClosed(ch <-chan struct{}) bool {
	t := time.NewTimer(waitLimit)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// leftover waits until no goroutine carries the server's label, and
// returns the stacks of those that still do when the wait ends.
func (s *Server) leftover() string {
	deadline := time.Now().Add(waitLimit)
	for {
		stacks := labelled(s.label)
		if stacks == "" || time.Now().After(deadline) {
			return stacks
		}
		time.Sleep(time.Millisecond)
	}
}

// labelled returns the goroutine profile records whose labels include
// label (`"key":"value"`).
func labelled(label string) string {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	var out []string
	for _, rec := range strings.Split(b.String(), "\n\n") {
		for _, line := range strings.Split(rec, "\n") {
			if strings.HasPrefix(line, "# labels: ") && strings.Contains(line, label) {
				out = append(out, strings.TrimSpace(rec))
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}

// testLog writes log lines with t.Log until the test's cleanup is over.
type testLog struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

var _ io.Writer = (*testLog)(nil)

// syncFilter drops the server's debug line about each sync frame it
// refuses, so a debug-level test log shows the test's own traffic. (The
// line does not carry the request id, so a PONG the test sends itself is
// not logged either.)
type syncFilter struct{ h slog.Handler }

func (f syncFilter) Enabled(ctx context.Context, l slog.Level) bool { return f.h.Enabled(ctx, l) }

func (f syncFilter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelDebug && r.Message == "refused message" {
		sync := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" && strings.HasPrefix(a.Value.String(), syncRefusal) {
				sync = true
				return false
			}
			return true
		})
		if sync {
			return nil
		}
	}
	return f.h.Handle(ctx, r)
}

func (f syncFilter) WithAttrs(as []slog.Attr) slog.Handler { return syncFilter{f.h.WithAttrs(as)} }
func (f syncFilter) WithGroup(name string) slog.Handler    { return syncFilter{f.h.WithGroup(name)} }

// syncRefusal starts the error the server logs for a sync frame.
const syncRefusal = msg.CodeNotAllowed + " PONG "
