// Command report measures tickwire against the minimal reference relay and
// rewrites the results section of BENCHMARKS.md.
//
//	go run ./bench/report            # full run, about 15 minutes
//	go run ./bench/report -quick     # smaller, for trying the script
//
// It builds both servers, runs each as its own process, drives them with
// the load tool (loadtest.Run, in this process) over loopback, and reads the
// server's CPU time and RSS from /proc. Every figure for tickwire is shown
// with the reference server's figure from the same run and their ratio.
// Only the text between the results markers in BENCHMARKS.md is replaced.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tickwire/tickwire/loadtest"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
)

const (
	beginMarker = "<!-- results:begin (written by go run ./bench/report) -->"
	endMarker   = "<!-- results:end -->"
)

var (
	quick     = flag.Bool("quick", false, "fewer and shorter runs")
	out       = flag.String("o", "BENCHMARKS.md", "file whose results section is rewritten")
	window    = flag.Duration("window", 10*time.Second, "measured window of each relay run")
	codecsOut = flag.String("codecs", "docs/CODECS.md", "file whose codec results section is rewritten")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

type serverKind struct {
	name string
	bin  string
	args func(addr, httpAddr string) []string
	env  []string // extra environment, e.g. GOGC=50
}

func run() error {
	dir, err := os.MkdirTemp("", "tickwire-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ref := serverKind{name: "reference", bin: filepath.Join(dir, "refserver"), args: func(a, _ string) []string { return []string{"-addr", a, "-tick", "20"} }}
	tw := serverKind{name: "tickwire", bin: filepath.Join(dir, "relay"), args: func(a, h string) []string {
		args := []string{"-addr", a, "-tick", "20", "-max-conns", "19500"}
		if h != "" {
			args = append(args, "-http", h)
		}
		return args
	}}
	twEngine := func(engine string) serverKind {
		k := tw
		k.name = "tickwire " + engine
		k.args = func(a, h string) []string { return append(tw.args(a, h), "-engine", engine) }
		return k
	}
	twGo, twLoop := twEngine("goroutine"), twEngine("eventloop")
	for pkg, bin := range map[string]string{"./bench/refserver": ref.bin, "./examples/relay": tw.bin} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	var rep bytes.Buffer
	started := time.Now()
	machine(&rep)

	sizes := []int{1000, 2000, 4000}
	ladder := []int{6000, 8000}
	idleN := 15000
	if *quick {
		sizes, ladder, idleN = []int{500, 1000}, []int{2000}, 2000
		*window = 4 * time.Second
	}

	// 1. Relay comparison, interleaved so drift hits both servers alike.
	fmt.Fprintf(&rep, "\n### Relay: rooms of 10, 10 moves/s per client, 20 Hz tick, text over TCP\n\n")
	fmt.Fprintf(&rep, "Each row is one run of %v with every client connected. CPU is the server process's user+system time over the window; \"CPU s per M\" is that per million delivered POS lines. Ratio = tickwire / reference (lower is better for CPU and latency).\n\n", *window)
	fmt.Fprintln(&rep, "| N | server | delivered / expected | final state | server CPU (cores) | CPU s per M delivered | p50 ms | p99 ms | max ms | server RSS MB | bots CPU (cores) |")
	fmt.Fprintln(&rep, "|---|---|---|---|---|---|---|---|---|---|---|")
	var ratios []string
	for _, n := range sizes {
		r, err := relayRun(ref, n, loadtest.TransportTCP, loadtest.EncodingText, "", "")
		if err != nil {
			return err
		}
		t, err := relayRun(tw, n, loadtest.TransportTCP, loadtest.EncodingText, "", "")
		if err != nil {
			return err
		}
		row(&rep, n, ref.name, r)
		row(&rep, n, tw.name, t)
		ratios = append(ratios, fmt.Sprintf("| %d | %.2f | %.2f | %.2f |", n,
			safeDiv(perM(t), perM(r)), safeDiv(t.Latency.P99, r.Latency.P99), safeDiv(float64(t.Server.RSSBytes), float64(r.Server.RSSBytes))))
	}
	fmt.Fprintln(&rep, "\nRatios, tickwire / reference, same run:\n\n| N | CPU per M delivered | p99 latency | RSS |\n|---|---|---|---|")
	for _, l := range ratios {
		fmt.Fprintln(&rep, l)
	}

	// 2. Encodings and WebSocket on tickwire.
	mid := sizes[len(sizes)/2]
	fmt.Fprintf(&rep, "\n### tickwire relay by transport and encoding, N = %d\n\n", mid)
	fmt.Fprintln(&rep, "| transport | encoding | delivered / expected | final state | server CPU (cores) | CPU s per M delivered | p99 ms | bots CPU (cores) |")
	fmt.Fprintln(&rep, "|---|---|---|---|---|---|---|---|")
	for _, c := range [][2]string{{"tcp", "text"}, {"tcp", "msgpack"}, {"ws", "text"}, {"ws", "msgpack"}} {
		s, err := relayRun(tw, mid, c[0], c[1], "", "")
		if err != nil {
			return err
		}
		fmt.Fprintf(&rep, "| %s | %s | %.4f | %v | %.3f | %.2f | %.1f | %.3f |\n", c[0], c[1], s.DeliveredRatio, s.FinalStateCorrect,
			s.Server.CPUCores, perM(s), s.Latency.P99, s.BotCPUCores)
	}

	// 2b. Engines: the WebSocket + MessagePack path against TCP text, on
	// each engine, interleaved run by run.
	engineSizes := []int{1000, 2000}
	if *quick {
		engineSizes = []int{500}
	}
	fmt.Fprintf(&rep, "\n### Engines: WebSocket + MessagePack against TCP text (issue 14)\n\n")
	fmt.Fprintf(&rep, "Each row is one run of %v; for each N the four runs are interleaved (goroutine TCP, goroutine WebSocket, event loop TCP, event loop WebSocket), each server in a fresh process. \"goroutine\" is `Config.Engine = \"goroutine\"` (a reader goroutine per connection), \"eventloop\" is the nbio event loop.\n\n", *window)
	fmt.Fprintln(&rep, "| N | engine | transport / encoding | delivered / expected | final state | server CPU (cores) | CPU s per M delivered | p50 ms | p99 ms | server RSS MB | bots CPU (cores) |")
	fmt.Fprintln(&rep, "|---|---|---|---|---|---|---|---|---|---|---|")
	var engRatios []string
	for _, n := range engineSizes {
		var res [2][2]loadtest.Summary // [engine][tcp, ws]
		for e, k := range []serverKind{twGo, twLoop} {
			for i, c := range [][2]string{{"tcp", "text"}, {"ws", "msgpack"}} {
				s, err := relayRun(k, n, c[0], c[1], "", "")
				if err != nil {
					return err
				}
				res[e][i] = s
				fmt.Fprintf(&rep, "| %d | %s | %s / %s | %.4f | %v | %.3f | %.2f | %.1f | %.1f | %.1f | %.3f |\n", n, strings.TrimPrefix(k.name, "tickwire "), c[0], c[1],
					s.DeliveredRatio, s.FinalStateCorrect, s.Server.CPUCores, perM(s), s.Latency.P50, s.Latency.P99, float64(s.Server.RSSBytes)/1e6, s.BotCPUCores)
			}
		}
		engRatios = append(engRatios, fmt.Sprintf("| %d | %.2f | %.2f | %.2f | %.2f | %.2f / %.2f |", n,
			safeDiv(perM(res[0][1]), perM(res[0][0])), safeDiv(perM(res[1][1]), perM(res[1][0])),
			safeDiv(perM(res[1][0]), perM(res[0][0])), safeDiv(perM(res[1][1]), perM(res[0][1])),
			safeDiv(res[1][0].Latency.P99, res[0][0].Latency.P99), safeDiv(res[1][1].Latency.P99, res[0][1].Latency.P99)))
	}
	fmt.Fprintln(&rep, "\nRatios of CPU per delivered update, same run (target: WebSocket + MessagePack at most 1.15x TCP text):\n\n| N | WS / TCP, goroutine | WS / TCP, event loop | event loop / goroutine, TCP | event loop / goroutine, WS | p99 event loop / goroutine, TCP / WS |\n|---|---|---|---|---|---|")
	for _, l := range engRatios {
		fmt.Fprintln(&rep, l)
	}

	// 3. Pinned: server on CPU 0, load generator on CPU 1.
	fmt.Fprintf(&rep, "\n### Pinned: server on CPU 0, load generator on CPU 1, N = %d\n\n", mid)
	fmt.Fprintln(&rep, "| server | delivered / expected | server CPU (cores) | CPU s per M delivered | p99 ms | bots CPU (cores) |\n|---|---|---|---|---|---|")
	if err := pinSelf("1"); err != nil {
		fmt.Fprintf(&rep, "\n(pinning unavailable: %v)\n", err)
	} else {
		var pr, pt loadtest.Summary
		if pr, err = relayRun(ref, mid, "tcp", "text", "0", ""); err != nil {
			return err
		}
		if pt, err = relayRun(tw, mid, "tcp", "text", "0", ""); err != nil {
			return err
		}
		pinSelf(fmt.Sprintf("0-%d", runtime.NumCPU()-1))
		for _, x := range []struct {
			n string
			s loadtest.Summary
		}{{ref.name, pr}, {tw.name, pt}} {
			fmt.Fprintf(&rep, "| %s | %.4f | %.3f | %.2f | %.1f | %.3f |\n", x.n, x.s.DeliveredRatio, x.s.Server.CPUCores, perM(x.s), x.s.Latency.P99, x.s.BotCPUCores)
		}
		fmt.Fprintf(&rep, "\nRatio tickwire / reference, pinned: CPU per M delivered %.2f, p99 %.2f.\n", safeDiv(perM(pt), perM(pr)), safeDiv(pt.Latency.P99, pr.Latency.P99))
	}

	// 4. Ladder: the largest N each server holds.
	fmt.Fprintln(&rep, "\n### Largest N held\n\n\"Held\" means: every client connected, no errors, final state correct, at least 99% of expected POS lines delivered (the rest superseded within a tick), and p99 latency at most two tick periods (100 ms).\n\n| N | server | held | delivered / expected | p99 ms | server CPU (cores) | bots CPU (cores) |\n|---|---|---|---|---|---|---|")
	for _, n := range append(append([]int{}, sizes...), ladder...) {
		if n <= sizes[len(sizes)-1] {
			continue // already measured above
		}
		for _, r := range []struct {
			k         serverKind
			transport string
			encoding  string
		}{{ref, "tcp", "text"}, {tw, "tcp", "text"}, {twLoop, "tcp", "text"}, {twGo, "ws", "msgpack"}, {twLoop, "ws", "msgpack"}} {
			s, err := relayRun(r.k, n, r.transport, r.encoding, "", "")
			if err != nil {
				return err
			}
			name := r.k.name
			if r.transport == "ws" {
				name += ", WebSocket + MessagePack"
			}
			fmt.Fprintf(&rep, "| %d | %s | %v | %.4f | %.1f | %.3f | %.3f |\n", n, name, held(s, n), s.DeliveredRatio, s.Latency.P99, s.Server.CPUCores, s.BotCPUCores)
		}
	}

	// 5. Idle scale.
	fmt.Fprintf(&rep, "\n### Idle: %d logged-in clients, each sending a keepalive every 30 s (the Go client's default; the server's idle timeout is 2 min), measured over 60 s\n\n", idleN)
	fmt.Fprintln(&rep, "| server | connected | server CPU (% of a core) | RSS growth per connection (KB) | server RSS MB |\n|---|---|---|---|---|")
	twLowGC := tw
	twLowGC.name, twLowGC.env = "tickwire (GOGC=50)", []string{"GOGC=50"}
	for _, r := range []struct {
		k         serverKind
		transport string
	}{{ref, "tcp"}, {tw, "tcp"}, {twLowGC, "tcp"}, {twLoop, "tcp"}, {twGo, "ws"}, {twLoop, "ws"}} {
		s, base, err := idleRun(r.k, idleN, r.transport)
		if err != nil {
			return err
		}
		name := r.k.name
		if r.transport == "ws" {
			name += ", WebSocket"
		} else if r.k.name != ref.name {
			name += ", TCP"
		}
		fmt.Fprintf(&rep, "| %s | %d | %.2f | %.1f | %.1f |\n", name, s.Connected, 100*s.Server.CPUCores,
			float64(s.Server.RSSBytes-base)/float64(max(s.Connected, 1))/1024, float64(s.Server.RSSBytes)/1e6)
	}

	// 6. Wire size.
	fmt.Fprintln(&rep, "\n### Wire size of one position update\n\n| message | text | JSON | MessagePack |\n|---|---|---|---|")
	reg := msg.NewRegistry()
	relayproto.Register(reg)
	for _, m := range []struct {
		name string
		v    any
	}{
		{"relay POS id=42 x=300 y=-20 t=0", &relayproto.Pos{ID: 42, X: 300, Y: -20}},
		{"relay POS id=1234 x=300 y=400 t=1700000000000", &relayproto.Pos{ID: 1234, X: 300, Y: 400, T: 1700000000000}},
	} {
		var sz [3]int
		for i, e := range msg.Encodings {
			b, _ := reg.Append(nil, e, m.v, 0)
			sz[i] = len(b)
		}
		fmt.Fprintf(&rep, "| %s | %d | %d | %d |\n", m.name, sz[0], sz[1], sz[2])
	}

	// 7. Micro-benchmarks.
	fmt.Fprintln(&rep, "\n### Micro-benchmarks\n\n`go test -run '^$' -bench . -benchmem ./frame ./msg ./server ./replica ./demo/arena`:\n\n```")
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem"}
	if *quick {
		args = append(args, "-benchtime", "200ms")
	}
	args = append(args, "./frame", "./msg", "./server", "./replica", "./demo/arena")
	bout, _ := exec.Command("go", args...).CombinedOutput()
	for _, l := range strings.Split(string(bout), "\n") {
		if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "ok") || strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "---") {
			fmt.Fprintln(&rep, l)
		}
	}
	fmt.Fprintln(&rep, "```")
	codecs := codecTable(string(bout))
	fmt.Fprintf(&rep, "\n### Codecs\n\n%s", codecs)
	stamp := fmt.Sprintf("\nGenerated %s in %v.\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), time.Since(started).Round(time.Second))
	rep.WriteString(stamp)
	if err := splice(*codecsOut, codecs+stamp); err != nil {
		return err
	}
	return splice(*out, rep.String())
}

// codecTable turns the msg benchmarks' output into a table: per encoding,
// the cost and size of one position update and of a tick of 100.
func codecTable(benchOut string) string {
	type cell struct{ ns, allocs, bytes string }
	cells := map[string]cell{}
	for _, l := range strings.Split(benchOut, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		var c cell
		for i := 2; i+1 < len(f); i += 2 {
			switch f[i+1] {
			case "ns/op":
				c.ns = f[i]
			case "allocs/op":
				c.allocs = f[i]
			case "wire-bytes":
				c.bytes = f[i]
			}
		}
		cells[name] = c
	}
	var b strings.Builder
	b.WriteString("One arena `Pos` update (id, x, y) and a tick of 100 of them, from `go test -run '^$' -bench . -benchmem ./msg` (encode appends to a reused buffer; decode allocates the message):\n\n")
	b.WriteString("| encoding | encode ns/op | encode allocs | decode ns/op | decode allocs | bytes on the wire | 100 updates: encode ns/op | 100 updates: bytes |\n|---|---|---|---|---|---|---|---|\n")
	for _, e := range []string{"text", "json", "msgpack"} {
		enc, dec, tick := cells["EncodePos/"+e], cells["DecodePos/"+e], cells["EncodeTick100/"+e]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", e, enc.ns, enc.allocs, dec.ns, dec.allocs, enc.bytes, tick.ns, tick.bytes)
	}
	return b.String()
}

func machine(w *bytes.Buffer) {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	goVer, _ := exec.Command("go", "version").Output()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "Machine: %d CPUs (%s), kernel %s, %s. Load average at start: %s. Server and load generator share the machine and talk over loopback.\n",
		runtime.NumCPU(), model, strings.TrimSpace(string(kernel)), strings.TrimSpace(string(goVer)), strings.Join(strings.Fields(string(load))[:3], " "))
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs k on fresh ports, optionally pinned to the CPUs in pin,
// and waits until it accepts connections.
func startServer(k serverKind, pin string, ws bool) (cmd *exec.Cmd, addr, httpAddr string, err error) {
	addr = freePort()
	if ws {
		httpAddr = freePort()
	}
	args := k.args(addr, httpAddr)
	if pin != "" {
		cmd = exec.Command("taskset", append([]string{"-c", pin, k.bin}, args...)...)
	} else {
		cmd = exec.Command(k.bin, args...)
	}
	cmd.Env = append(os.Environ(), k.env...)
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		return nil, "", "", err
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd, addr, httpAddr, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, "", "", fmt.Errorf("%s did not start", k.name)
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func relayRun(k serverKind, n int, transport, encoding, pin, _ string) (loadtest.Summary, error) {
	cmd, addr, httpAddr, err := startServer(k, pin, transport == loadtest.TransportWS)
	if err != nil {
		return loadtest.Summary{}, err
	}
	defer stop(cmd)
	if transport == loadtest.TransportWS {
		addr = httpAddr
	}
	fmt.Fprintf(os.Stderr, "run: %s N=%d %s/%s pin=%q\n", k.name, n, transport, encoding, pin)
	s, err := loadtest.Run(context.Background(), loadtest.Config{
		Addr: addr, N: n, RoomSize: 10, MoveRate: 10, Duration: *window,
		RampUp: time.Duration(n) * time.Millisecond, Transport: transport, Encoding: encoding,
		ServerPID: cmd.Process.Pid, MaxConnecting: 128,
	})
	if s.Server == nil {
		s.Server = &loadtest.ServerUsage{}
	}
	if err != nil && s.Connected == 0 {
		return s, fmt.Errorf("%s N=%d: %w", k.name, n, err)
	}
	return s, nil
}

func idleRun(k serverKind, n int, transport string) (loadtest.Summary, int64, error) {
	ws := transport == loadtest.TransportWS
	cmd, addr, httpAddr, err := startServer(k, "", ws)
	if err != nil {
		return loadtest.Summary{}, 0, err
	}
	defer stop(cmd)
	if ws {
		addr = httpAddr
	}
	base := rss(cmd.Process.Pid)
	fmt.Fprintf(os.Stderr, "run: %s idle N=%d %s\n", k.name, n, transport)
	dur, keepalive := 60*time.Second, 30*time.Second
	if *quick {
		dur, keepalive = 5*time.Second, 2*time.Second
	}
	s, err := loadtest.Run(context.Background(), loadtest.Config{
		Addr: addr, N: n, RoomSize: 10, Duration: dur, Idle: true, KeepAlive: keepalive, Transport: transport,
		RampUp: time.Duration(n) * time.Millisecond, ServerPID: cmd.Process.Pid, MaxConnecting: 128,
	})
	if s.Server == nil {
		s.Server = &loadtest.ServerUsage{}
	}
	if err != nil && s.Connected == 0 {
		return s, 0, err
	}
	return s, base, nil
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// pinSelf restricts every thread of this process to cpus.
func pinSelf(cpus string) error {
	out, err := exec.Command("taskset", "-a", "-cp", cpus, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func perM(s loadtest.Summary) float64 { return s.Server.CPUSecondsPerMillionDelivered }

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func held(s loadtest.Summary, n int) bool {
	return s.Connected == n && len(s.Errors) == 0 && s.FinalStateCorrect && s.DeliveredRatio >= 0.99 && s.Latency.P99 <= 100
}

func row(w *bytes.Buffer, n int, name string, s loadtest.Summary) {
	fmt.Fprintf(w, "| %d | %s | %.4f | %v | %.3f | %.2f | %.1f | %.1f | %.1f | %.1f | %.3f |\n", n, name, s.DeliveredRatio, s.FinalStateCorrect,
		s.Server.CPUCores, perM(s), s.Latency.P50, s.Latency.P99, s.Latency.Max, float64(s.Server.RSSBytes)/1e6, s.BotCPUCores)
}

// splice replaces the results section of path with body.
func splice(path, body string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if i < 0 || j < i {
		return errors.New(path + ": results markers not found")
	}
	s = s[:i+len(beginMarker)] + "\n" + body + "\n" + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}
