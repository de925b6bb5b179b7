package bot_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/demo/bot"
	"github.com/tickwire/tickwire/internal/testutil"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// handoff is the arena with a door to another server: once go is set, the
// next tick hands every player to the other server (Expect there with the
// player's seat keys, then Player.Move). The other server's arena admits
// them with Join, as new tanks. The methods forward by hand so that the
// server sees a plain Game (the arena's own cluster hooks stay out of
// this test).
type handoff struct {
	g      *arena.Game
	to     *server.Server
	toAddr string
	now    atomic.Bool
	mu     sync.Mutex
	ps     map[*server.Player]bool
}

func (h *handoff) Init(s server.Settings) error                    { return h.g.Init(s) }
func (h *handoff) Leave(t *server.Tick, p *server.Player, e error) { h.forget(p); h.g.Leave(t, p, e) }
func (h *handoff) Join(t *server.Tick, p *server.Player) error {
	h.mu.Lock()
	h.ps[p] = true
	h.mu.Unlock()
	return h.g.Join(t, p)
}

func (h *handoff) forget(p *server.Player) {
	h.mu.Lock()
	delete(h.ps, p)
	h.mu.Unlock()
}

func (h *handoff) Update(t *server.Tick) {
	h.g.Update(t)
	if h.to == nil || !h.now.CompareAndSwap(true, false) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for p := range h.ps {
		ticket, err := h.to.Expect(server.Arrival{Ident: p.Identity(), Keys: p.SeatKeys()})
		if err != nil {
			continue
		}
		p.Move(h.toAddr, "", ticket)
	}
}

// startHandoff serves an arena behind a handoff to to (nil: none) on a
// loopback port.
func startHandoff(t *testing.T, to *server.Server, toAddr string) (*handoff, *server.Server, string) {
	t.Helper()
	reg := msg.NewRegistry()
	arena.Register(reg)
	h := &handoff{g: arena.New(arena.WithSeed(3)), to: to, toAddr: toAddr, ps: map[*server.Player]bool{}}
	srv, err := server.New(server.Config{Registry: reg, CheckCauses: true,
		Logger: slog.New(slog.NewTextHandler(&testutil.LogBuffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))}, h)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return h, srv, ln.Addr().String()
}

// TestBotKeepsPlayingAfterMove: the server hands a playing bot to another
// server. The bot follows MOVED, counts the move (not a drop, not a
// resume), takes its new tank and the new server's snapshot, and keeps
// driving there, with no DESYNC and no prediction snap.
func TestBotKeepsPlayingAfterMove(t *testing.T) {
	_, b, bAddr := startHandoff(t, nil, "")
	a, _, aAddr := startHandoff(t, b, bAddr)
	var inputsAtMove atomic.Int64
	inputsAtMove.Store(-1)
	cfg := bot.Config{Addr: aAddr, Encoding: msg.MsgPack, Seed: 5, Duration: 4 * time.Second, ChatEvery: -1,
		Progress: func(r bot.Report) {
			if r.Inputs > 0 && r.Moves == 0 {
				a.now.Store(true) // driving: move it
			}
			if r.Moves == 1 && inputsAtMove.Load() < 0 {
				inputsAtMove.Store(int64(r.Inputs))
			}
		}}
	rep, err := bot.Run(context.Background(), cfg)
	dump(t, rep)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Moves != 1 || rep.Drops != 0 || rep.Resumes != 0 || rep.SeatsLost != 0 {
		t.Fatalf("moves %d drops %d resumes %d lost %d; want one move and nothing else", rep.Moves, rep.Drops, rep.Resumes, rep.SeatsLost)
	}
	if rep.Desyncs != 0 || rep.Snaps != 0 || rep.Undecodable != 0 {
		t.Fatalf("desyncs %d snaps %d undecodable %d across the move", rep.Desyncs, rep.Snaps, rep.Undecodable)
	}
	if at := inputsAtMove.Load(); at < 0 || int64(rep.Inputs) <= at {
		t.Fatalf("inputs: %d at the move, %d at the end: the bot stopped driving", at, rep.Inputs)
	}
	if rep.MaxFrameJump > oneStep(t, rep) {
		t.Fatalf("the predicted position jumped %d in a frame (a step is %d)", rep.MaxFrameJump, oneStep(t, rep))
	}
}
