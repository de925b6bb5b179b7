package bot_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/demo/bot"
	"github.com/tickwire/tickwire/internal/testutil"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// arenaServer is the demo arena served on a loopback TCP port with real
// ticks, at the server's default rate (20 Hz) unless serverOpts.tick sets
// one.
type arenaServer struct {
	addr string
	game *arena.Game
	logs *testutil.LogBuffer
}

// serverOpts configures startArena.
type serverOpts struct {
	bots int
	sync replica.Config
	link transport.LinkConfig
	seed uint64
	tick int
}

// startArena starts the arena on 127.0.0.1:0; it shuts down at cleanup.
func startArena(t testing.TB, o serverOpts) *arenaServer {
	t.Helper()
	logs := &testutil.LogBuffer{}
	reg := msg.NewRegistry()
	arena.Register(reg)
	g := arena.New(arena.WithBots(o.bots), arena.WithSync(o.sync), arena.WithSeed(max(o.seed, 1)))
	srv, err := server.New(server.Config{Registry: reg, CheckCauses: true, TickRate: o.tick,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}, g)
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener = tcp
	if !o.link.IsZero() {
		ln = transport.Condition(tcp, o.link)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &arenaServer{addr: tcp.Addr().String(), game: g, logs: logs}
}

// result is one bot's run.
type result struct {
	rep bot.Report
	err error
}

// runBots runs one bot per config concurrently against addr, until ctx is
// done or each bot's Duration has passed, and returns their results.
func runBots(ctx context.Context, addr string, cfgs ...bot.Config) []result {
	out := make([]result, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		cfg.Addr = addr
		wg.Go(func() {
			rep, err := bot.Run(ctx, cfg)
			out[i] = result{rep, err}
		})
	}
	wg.Wait()
	return out
}

// oneStep is one step of the bot's tank at the tick rate of its run: the
// most its predicted position may move in a frame without a snap.
func oneStep(t testing.TB, r bot.Report) int32 {
	t.Helper()
	if r.TickRate < 1 {
		t.Errorf("%s: the report has no tick rate", r.Name)
		return 0
	}
	return arena.StepUnits(r.TickRate)
}

func dump(t testing.TB, r bot.Report) {
	t.Helper()
	b, _ := json.Marshal(r)
	t.Logf("%s", b)
}
