package admin

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/store"
	"github.com/tickwire/tickwire/transport"
)

// BenchPos is the position update the benchmark's game sends every
// player every tick.
type BenchPos struct {
	ID uint64 `tw:"id"`
	X  int32  `tw:"x"`
	Y  int32  `tw:"y"`
}

// moverGame moves one entity a tick and tells every player.
type moverGame struct{ x int32 }

func (g *moverGame) Join(t *server.Tick, p *server.Player) error          { return nil }
func (g *moverGame) Leave(t *server.Tick, p *server.Player, reason error) {}
func (g *moverGame) Update(t *server.Tick) {
	g.x = (g.x + 1) % 1000
	pos := &BenchPos{ID: 1, X: g.x, Y: 1000 - g.x}
	for _, p := range t.Players() {
		p.Send(pos)
	}
}

// benchPhase is one measured stretch: the ticks' durations and the
// process's CPU time.
type benchPhase struct {
	ticks []time.Duration
	cpu   time.Duration
	wall  time.Duration
}

func (p benchPhase) p99() time.Duration {
	s := slices.Clone(p.ticks)
	slices.Sort(s)
	return s[max(int(float64(len(s))*0.99+0.5)-1, 0)]
}

// BenchmarkConsoleCost measures what the console costs a server with 500
// players (each sent a position every tick, 20 ticks a second): the
// tick's p99 and the process's CPU without the console, then with it
// sampling every second, feeding tick durations through WatchTicks, one
// browser's event stream open and its players table fetched every 2 s.
// Phases alternate (off, on, off, on) to spread the noise of a shared
// machine; TICKWIRE_CONSOLE_BENCH_SECONDS sets each phase's length
// (default 2, for a quick run; the figures in the report used 10).
func BenchmarkConsoleCost(b *testing.B) {
	const players = 500
	phaseLen := 2 * time.Second
	if v, err := strconv.Atoi(os.Getenv("TICKWIRE_CONSOLE_BENCH_SECONDS")); err == nil && v > 0 {
		phaseLen = time.Duration(v) * time.Second
	}
	reg := msg.NewRegistry()
	msg.Define[BenchPos](reg, msg.Info{ID: 40, Name: "POS", Dir: msg.ToClient})
	quiet := slog.New(slog.DiscardHandler)
	srv, err := server.New(server.Config{Registry: reg, Logger: quiet, AutoLogin: true, TickRate: 20, SeatHold: -1}, &moverGame{})
	if err != nil {
		b.Fatal(err)
	}
	srv.ManualTicks()
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	for i := 0; i < players; i++ {
		nc, err := ln.Dial(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			defer nc.Close()
			io.Copy(io.Discard, nc)
		}()
	}
	for srv.PendingInbound() < players {
		time.Sleep(time.Millisecond)
	}
	srv.RunTick()

	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	pool, _ := auth.NewHashPool(auth.HashPoolConfig{Params: fastParams})
	h, _ := auth.HashPassword(adminPass, fastParams)
	a, _ := st.CreateAccount(context.Background(), adminName, h, time.Now())
	st.SetRole(context.Background(), a.ID, store.RoleAdmin)

	// run ticks at 20 Hz for d and measures them.
	run := func(d time.Duration) benchPhase {
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		var p benchPhase
		cpu0, t0 := processCPU(), time.Now()
		for time.Since(t0) < d {
			<-tk.C
			srv.RunTick()
			p.ticks = append(p.ticks, srv.Stats().LastTick)
		}
		p.cpu, p.wall = processCPU()-cpu0, time.Since(t0)
		return p
	}
	// withConsole runs a phase with the console and a browser's load.
	withConsole := func(d time.Duration) benchPhase {
		c, err := New(Config{Server: srv, Store: st, HashPool: pool, Logger: quiet, Params: fastParams})
		if err != nil {
			b.Fatal(err)
		}
		ts := httptest.NewServer(c.Handler())
		jar := newBenchClient(b, ts)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // the event stream
			defer wg.Done()
			req, _ := http.NewRequest("GET", ts.URL+"/api/events", nil)
			req.AddCookie(jar.cookie)
			resp, err := ts.Client().Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			go func() { <-stop; resp.Body.Close() }()
			br := bufio.NewReader(resp.Body)
			for {
				if _, err := br.ReadString('\n'); err != nil {
					return
				}
			}
		}()
		go func() { // the players table
			defer wg.Done()
			tk := time.NewTicker(2 * time.Second)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					req, _ := http.NewRequest("GET", ts.URL+"/api/players", nil)
					req.AddCookie(jar.cookie)
					if resp, err := ts.Client().Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			}
		}()
		p := run(d)
		close(stop)
		c.Close()
		wg.Wait()
		ts.Close()
		return p
	}

	var off, on benchPhase
	add := func(dst *benchPhase, p benchPhase) {
		dst.ticks = append(dst.ticks, p.ticks...)
		dst.cpu += p.cpu
		dst.wall += p.wall
	}
	for b.Loop() {
		for i := 0; i < 2; i++ {
			add(&off, run(phaseLen))
			add(&on, withConsole(phaseLen))
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	pct := func(p benchPhase) float64 { return 100 * p.cpu.Seconds() / p.wall.Seconds() }
	b.ReportMetric(ms(off.p99()), "p99-off-ms")
	b.ReportMetric(ms(on.p99()), "p99-on-ms")
	b.ReportMetric(ms(on.p99()-off.p99()), "p99-delta-ms")
	b.ReportMetric(pct(off), "cpu-off-%")
	b.ReportMetric(pct(on), "cpu-on-%")
	b.ReportMetric(pct(on)-pct(off), "cpu-delta-%")
}

type benchClient struct{ cookie *http.Cookie }

func newBenchClient(b *testing.B, ts *httptest.Server) benchClient {
	req, _ := http.NewRequest("POST", ts.URL+"/api/login", strings.NewReader(`{"name":"`+adminName+`","password":"`+adminPass+`"}`))
	req.Header.Set("Origin", ts.URL)
	resp, err := ts.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName {
			return benchClient{cookie: ck}
		}
	}
	b.Fatalf("login: %s", resp.Status)
	return benchClient{}
}

// BenchmarkSamplerStep measures one second's sample of a server with 500
// connections: Stats, Sessions, the rates and runtime metrics, the JSON
// for the event streams. It runs once a second off the tick goroutine, so
// ns/op divided by 1e9 is the console's share of one core for sampling.
func BenchmarkSamplerStep(b *testing.B) {
	const players = 500
	srv, err := server.New(server.Config{Registry: msg.NewRegistry(), Logger: slog.New(slog.DiscardHandler), AutoLogin: true, SeatHold: -1}, plainGame{})
	if err != nil {
		b.Fatal(err)
	}
	srv.ManualTicks()
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	for i := 0; i < players; i++ {
		nc, err := ln.Dial(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		go func() { defer nc.Close(); io.Copy(io.Discard, nc) }()
	}
	for srv.PendingInbound() < players {
		time.Sleep(time.Millisecond)
	}
	srv.RunTick()
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	pool, _ := auth.NewHashPool(auth.HashPoolConfig{Params: fastParams})
	c, err := New(Config{Server: srv, Store: st, HashPool: pool, Logger: slog.New(slog.DiscardHandler), ExternalTicks: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		for i := 0; i < 20; i++ {
			c.ObserveTick(time.Duration(i) * time.Millisecond)
		}
		c.sm.step(now)
	}
	if p := c.sm.lastPlayers(); len(p) != players {
		b.Fatalf("%d players sampled", len(p))
	}
}
