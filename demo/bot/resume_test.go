package bot_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
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

// resumeWithin is the bound: a player whose network comes back
// has its seat back within a second.
const resumeWithin = time.Second

// cutProxy is the network between one player and the server: a TCP
// forwarder the test can cut. While it is down it closes every connection
// it accepts, as a network without a route would make a dial fail; cut
// closes both sides of every connection it carries, so the client and
// the server each see theirs end.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// cut takes the network down: every connection through it ends.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// restore brings the network back and returns when.
func (p *cutProxy) restore() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
	return time.Now()
}

// watcher is the other player: a plain client that stands still and
// watches the cut player's tank.
type watcher struct {
	t       *testing.T
	c       *client.Client
	m       *replica.Model
	tank    replica.EntityID
	removed map[replica.EntityID][]time.Time
}

func newWatcher(t *testing.T, addr string) *watcher {
	t.Helper()
	reg := msg.NewRegistry()
	arena.Register(reg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Options{Registry: reg, Encoding: msg.MsgPack, Replica: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w := &watcher{t: t, c: c, m: c.Model(), removed: map[replica.EntityID][]time.Time{}}
	client.On(c, func(s *arena.Spawn) { w.tank = replica.EntityID(s.ID) })
	client.On(c, func(r *replica.Remove) {
		w.removed[replica.EntityID(r.ID)] = append(w.removed[replica.EntityID(r.ID)], time.Now())
	})
	if _, _, err := c.LoginGuest(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// poll polls the watcher until cond holds; it fails after limit.
func (w *watcher) poll(what string, limit time.Duration, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if _, err := w.c.Poll(); err != nil {
			var se *client.ServerError
			if !errors.As(err, &se) {
				w.t.Fatalf("the watcher's connection: %v", err)
			}
		}
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// alive reports whether the watcher's own tank is alive.
func (w *watcher) alive() bool {
	e, ok := w.m.Entity(w.tank)
	return ok && e.Vals[arena.TankDead] == 0 && e.Vals[arena.TankHP] > 0
}

// player returns the tank of the player named like prefix (other than the
// watcher's own) that the watcher sees.
func (w *watcher) player(prefix string) (replica.ModelEntity, bool) {
	var found replica.ModelEntity
	ok := false
	w.m.Each(func(e replica.ModelEntity) bool {
		if e.Kind == arena.KindTank && e.ID != w.tank && strings.HasPrefix(e.Name, prefix) {
			found, ok = e, true
			return false
		}
		return true
	})
	return found, ok
}

// arenaWithProxy serves the arena with server bots on TCP (and WebSocket
// when ws), and puts a cut proxy in front of the port the cut player uses.
type arenaWithProxy struct {
	s      *arenaServer
	direct string // TCP, for the watcher
	proxy  *cutProxy
	url    string // the cut player's WebSocket URL through the proxy, when ws
}

func startArenaWithProxy(t *testing.T, ws bool) *arenaWithProxy {
	t.Helper()
	logs := &testutil.LogBuffer{}
	reg := msg.NewRegistry()
	arena.Register(reg)
	g := arena.New(arena.WithBots(3), arena.WithSync(replica.Config{ResyncPeriod: time.Second}), arena.WithSeed(1))
	srv, err := server.New(server.Config{Registry: reg, CheckCauses: true, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}, g)
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(tcp)
	a := &arenaWithProxy{s: &arenaServer{addr: tcp.Addr().String(), game: g, logs: logs}, direct: tcp.Addr().String()}
	target := a.direct
	if ws {
		hs := httptest.NewServer(transport.WebSocketHandler(transport.WebSocketConfig{Logger: slog.New(slog.DiscardHandler)}, srv.ServeConn))
		t.Cleanup(hs.Close)
		target = strings.TrimPrefix(hs.URL, "http://")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	a.proxy = startCutProxy(t, target)
	if ws {
		a.url = "ws://" + a.proxy.addr() + "/ws"
	}
	return a
}

// TestResumeAfterCutTCP and TestResumeAfterCutWebSocket cut a bot's
// connection twice in the middle of a game, for half a second each time,
// while the other player (standing still, alive) has its tank in view.
// The bot must have its seat back within a second of the network's
// return, as the same tank with the same score and inventory, with its
// prediction agreeing with the server on its first input after the
// resume; the other player's view must keep the tank all along (no
// REMOVE); and no DESYNC anywhere.
func TestResumeAfterCutTCP(t *testing.T) {
	t.Parallel()
	testResumeAfterCut(t, false)
}

func TestResumeAfterCutWebSocket(t *testing.T) {
	t.Parallel()
	testResumeAfterCut(t, true)
}

func testResumeAfterCut(t *testing.T, ws bool) {
	// Attempts start no sooner than 50, 150, 350 ms after the drop (each
	// back-off wait is at least half of 100, 200, 400 ms...), so after a
	// 300 ms outage the next one starts within 400 ms of the return.
	const outage = 300 * time.Millisecond
	a := startArenaWithProxy(t, ws)
	// Three server bots take the first spawn point of each zone, the
	// watcher the second of zone 1, the cut player the third. The watcher
	// drives 6 tiles west, to overlook the cut player's spawn point.
	w := newWatcher(t, a.direct)
	w.poll("the watcher's tank", 10*time.Second, func() bool { return w.tank != 0 && !w.m.Loading() && w.m.Zone().ID == 1 })
	var moved bool
	client.On(w.c, func(*arena.Pos) { moved = true })
	if err := w.c.Send(&arena.Go{Dir: "w", Tiles: 6}); err != nil {
		t.Fatal(err)
	}
	w.poll("the watcher's move", 10*time.Second, func() bool { return moved })

	cfg := bot.Config{Seed: 21, Encoding: msg.MsgPack, PortalChance: -1, ChatEvery: -1}
	if ws {
		cfg.URL, cfg.Encoding = a.url, msg.JSON
	} else {
		cfg.Addr = a.proxy.addr()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		rep, err := bot.Run(ctx, cfg)
		done <- result{rep, err}
	}()

	var (
		restored []time.Time
		inView   []bool
		tankID   replica.EntityID
		name     string
	)
	w.poll("the cut player's tank in the watcher's view", 15*time.Second, func() bool {
		e, ok := w.player("guest-")
		tankID, name = e.ID, e.Name
		return ok
	})
	joined := time.Now()
	for cut := range 2 {
		// Mid-game: the bot has its snapshot and is driving and firing.
		// It spawns in the watcher's view and, driving 60 units a second,
		// is still in it a second later, or comes back later: the first
		// cut waits for a moment when its tank is in the watcher's view
		// and the watcher alive. The second prefers such a moment too, but
		// happens anyway 8 s on.
		earliest := joined.Add(time.Second)
		if cut > 0 {
			earliest = restored[0].Add(1500 * time.Millisecond)
		}
		latest := earliest.Add(8 * time.Second)
		visible := false
		w.poll("the moment to cut", 20*time.Second, func() bool {
			_, ok := w.m.Entity(tankID)
			visible = ok && w.alive()
			now := time.Now()
			return !now.Before(earliest) && (visible || cut > 0 && now.After(latest))
		})
		if !visible && cut == 0 {
			t.Fatal("the cut player's tank left the watcher's view")
		}
		inView = append(inView, visible)
		t.Logf("cut %d at %v after the bot's tank appeared", cut+1, time.Since(joined).Round(time.Millisecond))
		removedBefore := len(w.removed[tankID])
		cutAt := time.Now()
		a.proxy.cut()
		// The player's tank stays, standing still, in the watcher's view
		// while its seat is held.
		w.poll("the end of the outage", 5*time.Second, func() bool {
			if visible {
				if _, ok := w.m.Entity(tankID); !ok {
					t.Fatalf("cut %d: %s's tank %d vanished from the watcher's model %v into the outage", cut+1, name, tankID, time.Since(cutAt))
				}
			}
			return time.Since(cutAt) >= outage
		})
		if visible && len(w.removed[tankID]) != removedBefore {
			t.Fatalf("cut %d: the watcher got REMOVE %d while the player's seat was held", cut+1, tankID)
		}
		restored = append(restored, a.proxy.restore())
	}
	// Play on a little after the second resume, then stop.
	w.poll("play after the resumes", 10*time.Second, func() bool { return time.Since(restored[1]) > 1500*time.Millisecond })
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot did not stop")
	}
	dump(t, r.rep)
	checkClean(t, a.s, []result{r})
	rep := r.rep
	if rep.Drops != 2 || rep.Resumes != 2 || rep.SeatsLost != 0 || len(rep.ResumedAt) != 2 {
		t.Fatalf("%d drops, %d resumes, %d seats lost; want 2, 2, 0", rep.Drops, rep.Resumes, rep.SeatsLost)
	}
	for i, at := range rep.ResumedAt {
		d := at.Sub(restored[i])
		t.Logf("cut %d (tank in the watcher's view: %v): resumed %v after the network returned, %v after the drop, %d attempts in all",
			i+1, inView[i], d.Round(time.Millisecond), rep.ResumeTimes[i].Round(time.Millisecond), rep.Reconnects)
		if d > resumeWithin {
			t.Errorf("cut %d: resumed %v after the network returned, want within %v", i+1, d, resumeWithin)
		}
	}
	if uint32(tankID) != rep.Tank {
		t.Errorf("the bot drives tank %d after the resumes, the watcher saw %d", rep.Tank, tankID)
	}
	if len(rep.ResumeMismatches) > 0 {
		t.Errorf("the tank changed across a resume: %v", rep.ResumeMismatches)
	}
	t.Logf("%d of 2 resumes compared in full (score and inventory)", rep.ResumesVerified)
	if rep.ResumePredictionsChecked == 0 || rep.ResumePredictionError > oneStep(t, rep) {
		t.Errorf("prediction after the resume off by %d units over %d checks; want at most %d", rep.ResumePredictionError, rep.ResumePredictionsChecked, oneStep(t, rep))
	}
	if st := w.c.Stats(); st.DesyncsSent+st.DesyncsDropped != 0 {
		t.Errorf("the watcher reported %d desyncs", st.DesyncsSent+st.DesyncsDropped)
	}
}

// outageRun plays two bots behind a link with periodic outages (both
// bots' connections die at each; see transport.LinkConfig.Outage) and
// checks that every outage costs nothing: no seat lost, no DESYNC, the
// same tank after every resume, and a prediction within one tick's
// movement of the server's on the first input after each.
func outageRun(t *testing.T, link transport.LinkConfig, play time.Duration, outages int) {
	s := startArena(t, serverOpts{bots: 6, sync: replica.Config{ResyncPeriod: 2 * time.Second}, link: link})
	done := func(reps []bot.Report) bool {
		for _, r := range reps {
			if r.Resumes < outages {
				return false
			}
		}
		return true
	}
	res := playUntil(t, s.addr, play, play+30*time.Second, done,
		bot.Config{Seed: 31, Encoding: msg.MsgPack},
		bot.Config{Seed: 32, Encoding: msg.Text})
	checkClean(t, s, res)
	for _, r := range res {
		rep := r.rep
		if rep.SeatsLost != 0 || rep.Resumes < outages || rep.Drops != rep.Resumes {
			t.Errorf("%s: %d drops, %d resumes, %d seats lost; want %d outages survived", rep.Name, rep.Drops, rep.Resumes, rep.SeatsLost, outages)
		}
		if len(rep.ResumeMismatches) > 0 {
			t.Errorf("%s: the tank changed across a resume: %v", rep.Name, rep.ResumeMismatches)
		}
		if rep.ResumePredictionsChecked < outages-1 || rep.ResumePredictionError > oneStep(t, rep) {
			t.Errorf("%s: prediction after a resume off by %d units (%d checks); want at most %d", rep.Name, rep.ResumePredictionError, rep.ResumePredictionsChecked, oneStep(t, rep))
		}
		t.Logf("%s: %d outages survived, drop to resume %v, %d verified, prediction error %d", rep.Name, rep.Resumes, rep.ResumeTimes, rep.ResumesVerified, rep.ResumePredictionError)
	}
}

// TestOutagesShort: two 1.5 s outages, 5 s apart, in the default suite.
func TestOutagesShort(t *testing.T) {
	t.Parallel()
	outageRun(t, transport.LinkConfig{Outage: 1500 * time.Millisecond, OutageEvery: 5 * time.Second}, 11500*time.Millisecond, 2)
}

// TestOutagesTwoMinutes: a 5 s outage every 20 s for two minutes; with
// TICKWIRE_LONG_TESTS=1 only.
func TestOutagesTwoMinutes(t *testing.T) {
	if os.Getenv(LongTestsEnv) != "1" {
		t.Skipf("the 2-minute outage run is long: set %s=1 to run it", LongTestsEnv)
	}
	t.Parallel()
	outageRun(t, transport.LinkConfig{Outage: 5 * time.Second, OutageEvery: 20 * time.Second}, 2*time.Minute, 5)
}

// TestDropEvery: a bot that severs its own connection every second
// resumes each time and reports it.
func TestDropEvery(t *testing.T) {
	t.Parallel()
	s := startArena(t, serverOpts{bots: 2, sync: replica.Config{ResyncPeriod: time.Second}})
	res := runBots(context.Background(), s.addr, bot.Config{Seed: 41, Encoding: msg.MsgPack, DropEvery: time.Second, Duration: 4500 * time.Millisecond})
	dump(t, res[0].rep)
	checkClean(t, s, res)
	rep := res[0].rep
	if rep.Severed < 3 || rep.Resumes != rep.Severed || rep.Drops != rep.Severed || rep.SeatsLost != 0 {
		t.Fatalf("severed %d, drops %d, resumes %d, seats lost %d", rep.Severed, rep.Drops, rep.Resumes, rep.SeatsLost)
	}
	if len(rep.ResumeMismatches) > 0 || rep.ResumePredictionError > oneStep(t, rep) {
		t.Fatalf("mismatches %v, prediction error %d", rep.ResumeMismatches, rep.ResumePredictionError)
	}
}

// TestSeatLostEndsRun: a bot whose seat cannot be resumed (the server
// holds none) ends its run with the client's error, and reports it.
func TestSeatLostEndsRun(t *testing.T) {
	t.Parallel()
	reg := msg.NewRegistry()
	arena.Register(reg)
	srv, err := server.New(server.Config{Registry: reg, CheckCauses: true, Logger: slog.New(slog.DiscardHandler), SeatHold: 300 * time.Millisecond}, arena.New(arena.WithBots(0)))
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(tcp)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	p := startCutProxy(t, tcp.Addr().String())
	go func() {
		time.Sleep(time.Second)
		p.cut() // down for good: the hold passes
	}()
	rep, err := bot.Run(context.Background(), bot.Config{Addr: p.addr(), Seed: 51, Duration: 20 * time.Second})
	var le *client.LostError
	if !errors.As(err, &le) || !errors.Is(err, client.ErrSeatHoldPassed) {
		t.Fatalf("Run = %v, want the lost seat", err)
	}
	if rep.SeatsLost != 1 || rep.Drops != 1 || rep.Resumes != 0 || rep.Error == "" {
		t.Fatalf("report: %d seats lost, %d drops, %d resumes, error %q", rep.SeatsLost, rep.Drops, rep.Resumes, rep.Error)
	}
}
