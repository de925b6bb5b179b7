package bot_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/demo/bot"
	"github.com/tickwire/tickwire/internal/testutil"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// LongTestsEnv, set to 1, enables the long runs (TestSixtySeconds).
const LongTestsEnv = "TICKWIRE_LONG_TESTS"

// goal says when a run has shown enough: it gets every bot's latest
// report.
type goal func(reps []bot.Report) bool

// playUntil runs one bot per config against addr for at least minDur and
// until done holds (or maxDur passes), and returns their results.
func playUntil(t *testing.T, addr string, minDur, maxDur time.Duration, done goal, cfgs ...bot.Config) []result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), maxDur)
	defer cancel()
	var mu sync.Mutex
	latest := make([]bot.Report, len(cfgs))
	for i := range cfgs {
		cfgs[i].Progress = func(r bot.Report) {
			mu.Lock()
			defer mu.Unlock()
			latest[i] = r
			if r.Elapsed < minDur {
				return
			}
			for _, l := range latest {
				if l.Elapsed < minDur {
					return
				}
			}
			if done == nil || done(latest) {
				cancel()
			}
		}
	}
	res := runBots(ctx, addr, cfgs...)
	for _, r := range res {
		dump(t, r.rep)
	}
	return res
}

// checkClean fails the test for errors, desyncs, undecodable or unhandled
// messages, snaps the server did not cause, or a desync logged by the
// server.
func checkClean(t *testing.T, s *arenaServer, res []result) {
	t.Helper()
	for _, r := range res {
		rep := r.rep
		if r.err != nil {
			t.Errorf("%s: %v", rep.Name, r.err)
		}
		if rep.Desyncs != 0 || rep.DesyncsDropped != 0 {
			t.Errorf("%s: %d DESYNC reports (%d dropped)", rep.Name, rep.Desyncs, rep.DesyncsDropped)
		}
		if rep.Undecodable != 0 || rep.Unhandled != 0 || rep.SendErrors != 0 {
			t.Errorf("%s: %d undecodable, %d unhandled messages, %d send errors", rep.Name, rep.Undecodable, rep.Unhandled, rep.SendErrors)
		}
		if rep.Snaps > rep.MovesRefused {
			t.Errorf("%s: the prediction snapped %d times but only %d moves were refused", rep.Name, rep.Snaps, rep.MovesRefused)
		}
		if rep.Snaps == 0 && rep.MaxFrameJump > oneStep(t, rep) {
			t.Errorf("%s: the predicted position jumped %d units in one frame without a snap", rep.Name, rep.MaxFrameJump)
		}
		if rep.Inputs == 0 || rep.Distance == 0 {
			t.Errorf("%s: did not move (%d inputs, %d units)", rep.Name, rep.Inputs, rep.Distance)
		}
		if rep.Messages["ACK"] == 0 || rep.Messages["DELTA"]+rep.Messages["ENTER"] == 0 || rep.Snapshots == 0 {
			t.Errorf("%s: received no entity updates: %v", rep.Name, rep.Messages)
		}
	}
	if l := s.logs.Lines("client reported desync"); len(l) > 0 {
		t.Errorf("the server logged %d desyncs, first: %s", len(l), l[0])
	}
}

// sawEachOther reports whether every bot saw every other.
func sawEachOther(reps []bot.Report) bool {
	for _, a := range reps {
		for _, b := range reps {
			if a.Name != b.Name && !slices.Contains(a.TanksSeen, b.Name) {
				return false
			}
		}
	}
	return true
}

func sum(reps []bot.Report, f func(bot.Report) int) int {
	n := 0
	for _, r := range reps {
		n += f(r)
	}
	return n
}

// TestTwoBotsPlay has two bots play the arena over loopback TCP with real
// 20 Hz ticks and a 2 s resync period, so that every bot's model is
// verified whole several times: no DESYNC, no error, both move, fire and
// open chests, and the server accepts what they do.
func TestTwoBotsPlay(t *testing.T) {
	t.Parallel()
	s := startArena(t, serverOpts{bots: 6, sync: replica.Config{ResyncPeriod: 2 * time.Second}})
	done := func(reps []bot.Report) bool {
		for _, r := range reps {
			if r.ResyncCycles < 3 {
				return false
			}
		}
		return sum(reps, func(r bot.Report) int { return r.Shots }) > 0 &&
			sum(reps, func(r bot.Report) int { return r.ChestsOpened }) > 0 &&
			sum(reps, func(r bot.Report) int { return r.ItemsTaken + r.ItemsPut }) > 0 && sawEachOther(reps)
	}
	res := playUntil(t, s.addr, 8*time.Second, 25*time.Second, done,
		bot.Config{Seed: 1, Encoding: msg.MsgPack, ChatEvery: 2 * time.Second},
		bot.Config{Seed: 2, Encoding: msg.Text, ChatEvery: 2 * time.Second})
	checkClean(t, s, res)
	reps := []bot.Report{res[0].rep, res[1].rep}
	for _, r := range reps {
		if r.ResyncCycles < 3 {
			t.Errorf("%s: %d full resyncs verified, want 3 or more", r.Name, r.ResyncCycles)
		}
		// A tank destroyed with an input in flight has it refused as
		// "dead"; anything else means the bot's moves broke the rules.
		if n := r.Refusals["too_fast"] + r.Refusals["wall"] + r.Refusals["out_of_bounds"]; n != 0 {
			t.Errorf("%s: %d impossible moves refused over a fast link: %v", r.Name, n, r.Refusals)
		}
		if r.ChatsSent == 0 || r.ChatsReceived < r.ChatsSent {
			t.Errorf("%s: chats sent %d, received %d", r.Name, r.ChatsSent, r.ChatsReceived)
		}
	}
	if n := sum(reps, func(r bot.Report) int { return r.Shots }); n == 0 {
		t.Error("no shot fired (FIRE accepted) by either bot")
	}
	if n := sum(reps, func(r bot.Report) int { return r.ChestsOpened }); n == 0 {
		t.Error("no chest opened (OPEN accepted) by either bot")
	}
	if n := sum(reps, func(r bot.Report) int { return r.ItemsTaken + r.ItemsPut }); n == 0 {
		t.Error("no item taken or put by either bot")
	}
	if !sawEachOther(reps) {
		t.Logf("the bots did not meet in %v (seen: %v, %v)", reps[0].Elapsed, reps[0].TanksSeen, reps[1].TanksSeen)
	}
	if l := s.logs.Lines("suspicious move"); len(l) > 0 {
		t.Errorf("the server found %d moves suspicious, first: %s", len(l), l[0])
	}
}

// TestPlayUnder150msLatency runs two bots behind a link conditioner on the
// server's listener adding 150 ms each way (300 ms round trip): still no
// DESYNC, and the predicted movement stays smooth, one step at most per
// frame, never snapping back unless the server refused a move.
func TestPlayUnder150msLatency(t *testing.T) {
	t.Parallel()
	s := startArena(t, serverOpts{bots: 6, sync: replica.Config{ResyncPeriod: 2 * time.Second},
		link: transport.LinkConfig{Latency: 150 * time.Millisecond, Jitter: 5 * time.Millisecond, Seed: 1}})
	done := func(reps []bot.Report) bool {
		for _, r := range reps {
			if r.ResyncCycles < 3 || r.Inputs < 60 {
				return false
			}
		}
		return true
	}
	res := playUntil(t, s.addr, 8*time.Second, 25*time.Second, done,
		bot.Config{Seed: 3, Encoding: msg.MsgPack},
		bot.Config{Seed: 4, Encoding: msg.JSON})
	checkClean(t, s, res)
	for _, r := range res {
		rep := r.rep
		if rep.RTTP50 < 290*time.Millisecond || rep.RTTSamples < 5 {
			t.Errorf("%s: RTT p50 %v over %d samples; the link adds 300 ms", rep.Name, rep.RTTP50, rep.RTTSamples)
		}
		if rep.ResyncCycles < 3 {
			t.Errorf("%s: %d full resyncs verified, want 3 or more", rep.Name, rep.ResyncCycles)
		}
		if rep.Inputs < 60 {
			t.Errorf("%s: only %d predicted inputs", rep.Name, rep.Inputs)
		}
		if rep.MaxFrameJump > oneStep(t, rep) && rep.Snaps == 0 {
			t.Errorf("%s: jumped %d units in a frame", rep.Name, rep.MaxFrameJump)
		}
	}
}

// TestDesyncInjected breaks sync on purpose with the replica Drop hook,
// which loses every live update of other entities on the way to the
// client: the bot's model must notice at the next resync and report DESYNC,
// so that the zero-desync checks above mean something.
func TestDesyncInjected(t *testing.T) {
	t.Parallel()
	drop := func(v *replica.Viewer, m any) bool {
		switch m := m.(type) {
		case *replica.Delta:
			return replica.EntityID(m.ID) != v.Followed()
		case *replica.Enter:
			return replica.EntityID(m.ID) != v.Followed()
		}
		return false
	}
	s := startArena(t, serverOpts{bots: 6, sync: replica.Config{ResyncPeriod: 2 * time.Second, Drop: drop}})
	res := playUntil(t, s.addr, 0, 20*time.Second, func(reps []bot.Report) bool { return reps[0].Desyncs > 0 },
		bot.Config{Seed: 5, Encoding: msg.MsgPack})
	r := res[0]
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.rep.Desyncs == 0 {
		t.Fatalf("no DESYNC reported in %v with updates dropped", r.rep.Elapsed)
	}
	// The server receives the reports and logs them.
	deadline := time.Now().Add(5 * time.Second)
	for len(s.logs.Lines("client reported desync", "reason=")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the server logged no desync")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSixtySeconds is the long run: two bots, one in MessagePack and one
// in JSON, play for a minute with the default resync period (30 s), so
// that each model is verified whole twice, without a single DESYNC. It
// runs only with TICKWIRE_LONG_TESTS=1. The bots keep to zone 1: a trip
// through a portal restarts the resync cycle with a fresh snapshot.
func TestSixtySeconds(t *testing.T) {
	if os.Getenv(LongTestsEnv) != "1" {
		t.Skipf("the 60 s run is long: set %s=1 to run it", LongTestsEnv)
	}
	t.Parallel()
	s := startArena(t, serverOpts{bots: 6})
	// The first cycle ends 30 s after the snapshot, the second 60 s after:
	// a little over a minute of play covers both.
	const play = 62 * time.Second
	res := runBots(context.Background(), s.addr,
		bot.Config{Seed: 11, Encoding: msg.MsgPack, Duration: play, PortalChance: -1},
		bot.Config{Seed: 12, Encoding: msg.JSON, Duration: play, PortalChance: -1})
	for _, r := range res {
		dump(t, r.rep)
	}
	checkClean(t, s, res)
	for _, r := range res {
		if r.rep.ResyncCycles < 2 {
			t.Errorf("%s: %d full resyncs verified in %v, want 2", r.rep.Name, r.rep.ResyncCycles, r.rep.Elapsed)
		}
	}
}

// TestWebSocket plays one bot over the server's WebSocket endpoint in
// JSON.
func TestWebSocket(t *testing.T) {
	t.Parallel()
	reg := msg.NewRegistry()
	arena.Register(reg)
	logs := &testutil.LogBuffer{}
	srv, err := server.New(server.Config{Registry: reg, CheckCauses: true, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))},
		arena.New(arena.WithBots(2), arena.WithSync(replica.Config{ResyncPeriod: time.Second})))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(transport.WebSocketHandler(transport.WebSocketConfig{Logger: slog.New(slog.DiscardHandler)}, srv.ServeConn))
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	rep, err := bot.Run(context.Background(), bot.Config{URL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws",
		Encoding: msg.JSON, Seed: 6, Duration: 3 * time.Second})
	dump(t, rep)
	s := &arenaServer{logs: logs}
	checkClean(t, s, []result{{rep, err}})
	if rep.Encoding != "json" || rep.ResyncCycles < 1 {
		t.Errorf("encoding %s, %d resyncs", rep.Encoding, rep.ResyncCycles)
	}
}

// TestRunEnds checks how a run ends: on the server's BYE with the reason,
// and at once for bad configurations and unreachable servers.
func TestRunEnds(t *testing.T) {
	t.Parallel()
	for _, cfg := range []bot.Config{
		{},
		{Addr: "127.0.0.1:1", URL: "ws://127.0.0.1:1/ws"},
		{Addr: "127.0.0.1:1", FrameRate: -1},
		{Addr: "127.0.0.1:1", Encoding: msg.Encoding(9)},
	} {
		if rep, err := bot.Run(context.Background(), cfg); err == nil || rep.Error == "" {
			t.Errorf("Run(%+v) = %v, report error %q", cfg, err, rep.Error)
		}
	}
	// Nothing listens on port 1.
	if _, err := bot.Run(context.Background(), bot.Config{Addr: "127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("Run against a closed port = %v", err)
	}

	// A server shutting down says BYE shutdown; the report covers the play
	// until then. The bot runs on an in-memory pipe (Config.Conn).
	reg := msg.NewRegistry()
	arena.Register(reg)
	srv, err := server.New(server.Config{Registry: reg, CheckCauses: true, Logger: slog.New(slog.DiscardHandler)}, arena.New(arena.WithBots(0)))
	if err != nil {
		t.Fatal(err)
	}
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	conn, err := ln.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(time.Second)
		srv.Shutdown(context.Background())
	}()
	rep, err := bot.Run(context.Background(), bot.Config{Conn: conn, Encoding: msg.MsgPack})
	var bye *client.ByeError
	if !errors.As(err, &bye) || bye.Reason != "shutdown" {
		t.Fatalf("Run = %v, want BYE shutdown", err)
	}
	if rep.Frames == 0 || rep.Name == "" || rep.Error == "" || rep.Tank == 0 {
		t.Fatalf("report %+v", rep)
	}
}

// TestReportJSON checks the JSON form of a report.
func TestReportJSON(t *testing.T) {
	r := bot.Report{Name: "guest-1", Elapsed: 1500 * time.Millisecond, RTTP50: 1234567 * time.Nanosecond, RTTMax: 3 * time.Millisecond}
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name":"guest-1"`, `"elapsed_s":1.5`, `"rtt_p50_ms":1.235`, `"rtt_max_ms":3`, `"desyncs":0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	if strings.Contains(string(b), "Elapsed") || strings.Contains(string(b), `"error"`) {
		t.Errorf("%s", b)
	}
}
