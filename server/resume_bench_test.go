package server_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// resumeBenchLimit bounds every wait of BenchmarkResume, so a broken
// server fails the benchmark instead of hanging it.
const resumeBenchLimit = 10 * time.Second

// resumeBench is the demo arena on a loopback TCP port with manual ticks,
// and the raw text-protocol connection of one player.
type resumeBench struct {
	b     *testing.B
	srv   *server.Server
	addr  string
	nc    net.Conn
	r     *bufio.Reader
	name  string
	token string
	polls int // PendingInbound calls while a measured request waits for its tick
}

// dial opens a new connection for the player.
func (rb *resumeBench) dial() {
	rb.b.Helper()
	nc, err := net.Dial("tcp", rb.addr)
	if err != nil {
		rb.b.Fatal(err)
	}
	rb.nc, rb.r = nc, bufio.NewReader(nc)
}

func (rb *resumeBench) write(s string) {
	rb.b.Helper()
	if _, err := rb.nc.Write([]byte(s + "\n")); err != nil {
		rb.b.Fatal(err)
	}
}

func (rb *resumeBench) line() string {
	rb.b.Helper()
	rb.nc.SetReadDeadline(time.Now().Add(resumeBenchLimit))
	s, err := rb.r.ReadString('\n')
	if err != nil {
		rb.b.Fatalf("reading: %v (got %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

// until polls cond (spinning: the bench measures microseconds), failing
// after resumeBenchLimit.
func (rb *resumeBench) until(what string, cond func() bool) {
	rb.b.Helper()
	deadline := time.Now().Add(resumeBenchLimit)
	for !cond() {
		if time.Now().After(deadline) {
			rb.b.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// tickWhenPosted waits until the connection's message (RESUME, AUTH, or a
// leave) has reached the tick's queue, then runs the tick and returns how
// long the tick took.
func (rb *resumeBench) tickWhenPosted(what string) time.Duration {
	rb.until(what, func() bool { rb.polls++; return rb.srv.PendingInbound() > 0 })
	start := time.Now()
	rb.srv.RunTick()
	return time.Since(start)
}

// answer reads the answer to a login or resume: WELCOME, SEAT (keeping its
// token), LIMITS, then the game's first line, and returns that line.
func (rb *resumeBench) answer() string {
	rb.b.Helper()
	for {
		s := rb.line()
		f := strings.Fields(s)
		switch {
		case len(f) == 0:
		case f[0] == "WELCOME":
			rb.name = f[2]
		case f[0] == "SEAT":
			rb.token = f[1]
		case f[0] == "LIMITS":
		case f[0] == "ERR" || f[0] == "BYE":
			rb.b.Fatalf("refused: %s", s)
		default:
			return s
		}
	}
}

// sample is one measured login or resume.
type sample struct {
	latency, tick time.Duration
	allocs        uint64
	polls         int // of which the benchmark's own polls allocated some
}

// measure runs one login or resume whose request is line: from the write
// to the arrival of the game's first line (the snapshot begins: SPAWN, in
// the same write as WELCOME and SEAT), with the tick that handles it and
// the heap allocations of the whole process meanwhile.
func (rb *resumeBench) measure(line, what string) sample {
	var m0, m1 runtime.MemStats
	rb.polls = 0
	runtime.ReadMemStats(&m0)
	start := time.Now()
	rb.write(line)
	tick := rb.tickWhenPosted(what)
	first := rb.answer()
	latency := time.Since(start)
	runtime.ReadMemStats(&m1)
	if !strings.HasPrefix(first, "SPAWN ") {
		rb.b.Fatalf("%s: the game's first line is %q, want SPAWN", what, first)
	}
	return sample{latency, tick, m1.Mallocs - m0.Mallocs, rb.polls}
}

// drop closes the player's connection as a network failure would, and
// ticks until the server holds the seat.
func (rb *resumeBench) drop(conns int) {
	rb.nc.Close()
	rb.until("the drop to reach the tick", func() bool { return rb.srv.PendingInbound() > 0 })
	rb.srv.RunTick()
	rb.until("the seat to be held", func() bool { st := rb.srv.Stats(); return st.Held == 1 && st.Conns == conns })
}

// quit ends a guest's session politely and ticks until it has left.
func (rb *resumeBench) quit(players int) {
	rb.write("QUIT")
	for !strings.HasPrefix(rb.line(), "BYE") {
	}
	rb.nc.Close()
	rb.until("the guest to leave", func() bool {
		if rb.srv.PendingInbound() > 0 {
			rb.srv.RunTick()
		}
		return rb.srv.Stats().Players == players
	})
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// BenchmarkResume measures what resuming a held seat costs the server, in
// the demo arena (6 bots roaming, chests, three zones), against a fresh
// guest login measured in the same run: from the RESUME (or AUTH guest)
// line written on a new loopback TCP connection to the arrival of the
// game's first line after WELCOME, SEAT and LIMITS (SPAWN, the start of
// the snapshot), with ticks run by hand as soon as the request reached the
// tick's queue, so no tick period is waited for: the figure is the
// server's work (read, decode, seat lookup, the tick's resume or join and
// the arena's snapshot start, the write) plus loopback. Each iteration
// drops the player (closing its connection; the server holds the seat),
// resumes it, then logs a guest in and out.
//
// Reported: resume-p50-us, resume-p99-us and the same for login; the
// ratios resume/login-p50 and -p99; resume-tick-us and login-tick-us, the
// median tick that handled each; resume-allocs and login-allocs, the mean
// heap allocations of the whole process (the server, and this reader's
// lines) from the write to the first line, less the benchmark's own
// polling for the request to reach the tick queue.
func BenchmarkResume(b *testing.B) {
	reg := msg.NewRegistry()
	arena.Register(reg)
	g := arena.New(arena.WithSeed(1))
	srv, err := server.New(server.Config{
		Registry:        reg,
		Logger:          slog.New(slog.DiscardHandler),
		SeatHold:        time.Minute,
		AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}, g)
	if err != nil {
		b.Fatal(err)
	}
	srv.ManualTicks()
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})

	// The player who drops and resumes.
	p := &resumeBench{b: b, srv: srv, addr: ln.Addr().String()}
	p.dial()
	p.write("AUTH guest")
	p.tickWhenPosted("the login")
	p.answer()
	// A guest who logs in and out each iteration: the baseline.
	g2 := &resumeBench{b: b, srv: srv, addr: p.addr}

	var resumes, logins []sample
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.drop(0)
		p.dial()
		p.until("the connection to be accepted", func() bool { return srv.Stats().Conns == 1 })
		resumes = append(resumes, p.measure(fmt.Sprintf("RESUME %s %s", p.name, p.token), "the resume"))

		g2.dial()
		g2.until("the connection to be accepted", func() bool { return srv.Stats().Conns == 2 })
		logins = append(logins, g2.measure("AUTH guest", "the login"))
		g2.quit(1)
	}
	b.StopTimer()
	lat := func(s []sample) []time.Duration {
		out := make([]time.Duration, len(s))
		for i, x := range s {
			out[i] = x.latency
		}
		return out
	}
	ticks := func(s []sample) []time.Duration {
		out := make([]time.Duration, len(s))
		for i, x := range s {
			out[i] = x.tick
		}
		return out
	}
	// The benchmark's own polling while a request waits for its tick
	// allocates too: take it out, at its measured rate.
	pollAllocs := testing.AllocsPerRun(100, func() { srv.PendingInbound() })
	allocs := func(s []sample) float64 {
		var n float64
		for _, x := range s {
			n += float64(x.allocs) - float64(x.polls)*pollAllocs
		}
		return n / float64(len(s))
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	r50, r99 := percentile(lat(resumes), 0.50), percentile(lat(resumes), 0.99)
	l50, l99 := percentile(lat(logins), 0.50), percentile(lat(logins), 0.99)
	b.ReportMetric(us(r50), "resume-p50-us")
	b.ReportMetric(us(r99), "resume-p99-us")
	b.ReportMetric(us(l50), "login-p50-us")
	b.ReportMetric(us(l99), "login-p99-us")
	b.ReportMetric(float64(r50)/float64(l50), "resume/login-p50")
	b.ReportMetric(float64(r99)/float64(l99), "resume/login-p99")
	b.ReportMetric(us(percentile(ticks(resumes), 0.5)), "resume-tick-us")
	b.ReportMetric(us(percentile(ticks(logins), 0.5)), "login-tick-us")
	b.ReportMetric(allocs(resumes), "resume-allocs")
	b.ReportMetric(allocs(logins), "login-allocs")
}
