package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/demo/arena"
)

// TestThreeNodeProcesses is the cluster's integration test: three
// `tickwire serve` processes on a real NATS (TICKWIRE_TEST_NATS) and, if
// TICKWIRE_TEST_POSTGRES is set, one PostgreSQL database; bots from
// `tickwire play` roam every zone through portals for 60 s; node 2 is
// killed with SIGKILL at 20 s and started again at 40 s. It checks that no
// bot saw a DESYNC or lost its seat, every bot played to the end, every
// player exists exactly once, and the world's items balance (none
// duplicated, none lost). It needs TICKWIRE_LONG_TESTS=1.
func TestThreeNodeProcesses(t *testing.T) {
	url := os.Getenv("TICKWIRE_TEST_NATS")
	if url == "" || os.Getenv("TICKWIRE_LONG_TESTS") == "" {
		t.Skip("needs TICKWIRE_TEST_NATS (a NATS server with JetStream) and TICKWIRE_LONG_TESTS=1")
	}
	run := 60 * time.Second
	killAt, restartAt := 20*time.Second, 40*time.Second
	if s := os.Getenv("TICKWIRE_CLUSTER_SECONDS"); s != "" {
		var n int
		fmt.Sscan(s, &n)
		run = time.Duration(n) * time.Second
		killAt, restartAt = run/3, 2*run/3
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tickwire")
	build := exec.Command("go", "build", "-o", bin, "github.com/tickwire/tickwire/cmd/tickwire")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cl := clusterName(t)
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	nodeArgs := func(i int) []string {
		args := []string{"serve", "--addr", addrs[i], "--http", "", "--auth", "", "--admin", "",
			"--data-dir", filepath.Join(dir, fmt.Sprintf("n%d", i+1)), "--nats", url, "--cluster", cl,
			"--node", fmt.Sprintf("n%d", i+1), "--zone", fmt.Sprint(i + 1), "--no-restock", "--log-level", "info"}
		if pg := os.Getenv("TICKWIRE_TEST_POSTGRES"); pg != "" {
			args = append(args, "--db", pg)
		}
		return args
	}
	procs := make([]*exec.Cmd, 3)
	start := func(i int) {
		cmd := exec.Command(bin, nodeArgs(i)...)
		logf, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("n%d.log", i+1)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = cmd
		waitFor(t, 20*time.Second, "node "+addrs[i]+" listening", func() bool {
			c, err := net.DialTimeout("tcp", addrs[i], 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p != nil && p.ProcessState == nil {
				_ = p.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { _ = p.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					_ = p.Process.Kill()
				}
			}
		}
		if t.Failed() {
			for i := range procs {
				data, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("n%d.log", i+1)))
				lines := strings.Split(string(data), "\n")
				t.Logf("--- n%d log (last 40 lines):\n%s", i+1, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})
	for i := range procs {
		start(i) // one at a time: the first migrates the database
	}

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var kv jetstream.KeyValue
	waitFor(t, 10*time.Second, "zones bucket", func() bool {
		kv, err = js.KeyValue(context.Background(), cl+"-zones")
		return err == nil
	})
	waitFor(t, 15*time.Second, "every zone owned by its node and checkpointed", func() bool {
		z := zoneOwners(kv)
		return z["1"] == "n1" && z["2"] == "n2" && z["3"] == "n3" && checkpointed(kv)
	})
	before := census(t, kv)
	if !before.Balanced() || len(before.Players) != 0 {
		t.Fatalf("census at start: %+v", before)
	}
	t.Logf("items at start (created by kind): %v", before.Created)

	// The bots: 6, in every encoding, all through node 1, with the
	// others as seeds.
	report := filepath.Join(dir, "play.json")
	play := exec.Command(bin, "play", "--addr", addrs[0], "--seeds", addrs[1]+","+addrs[2], "-n", "6",
		"--duration", run.String(), "--encoding", "text,msgpack,json", "--json", report, "--quiet", "--chat-every", "5s",
		"--portal-chance", "0.6")
	playLog, _ := os.Create(filepath.Join(dir, "play.log"))
	play.Stdout, play.Stderr = playLog, playLog
	began := time.Now()
	if err := play.Start(); err != nil {
		t.Fatal(err)
	}
	playDone := make(chan error, 1)
	go func() { playDone <- play.Wait() }()

	sleepUntil(began.Add(killAt))
	_ = procs[1].Process.Signal(syscall.SIGKILL)
	_ = procs[1].Wait()
	killed := time.Now()
	took := waitFor(t, 15*time.Second, "zone 2 taken over after the kill", func() bool {
		o := zoneOwners(kv)["2"]
		return o != "" && o != "n2"
	})
	t.Logf("failover: zone 2 runs on %s %v after SIGKILL of n2 (lease %v)", zoneOwners(kv)["2"], took.Round(time.Millisecond), 3*time.Second)
	_ = killed

	sleepUntil(began.Add(restartAt))
	start(1)
	back := waitFor(t, 15*time.Second, "zone 2 back on n2", func() bool { return zoneOwners(kv)["2"] == "n2" })
	t.Logf("restart: zone 2 handed back to n2 %v after it listened", back.Round(time.Millisecond))

	// Near the end, freeze the bots and take a census with every player
	// still in the world: each must be in exactly one zone.
	sleepUntil(began.Add(run - 4*time.Second))
	_ = play.Process.Signal(syscall.SIGSTOP)
	time.Sleep(3 * time.Second) // handoffs in flight finish; checkpoints are written
	mid := census(t, kv)
	_ = play.Process.Signal(syscall.SIGCONT)
	t.Logf("census with the bots frozen: players %v, held %v, created %v, gone %v", mid.Players, mid.Held, mid.Created, mid.Gone)
	if len(mid.Players) != 6 {
		t.Errorf("players in the world with the bots frozen: %v, want 6", mid.Players)
	}
	for name, n := range mid.Players {
		if n != 1 {
			t.Errorf("player %s is in %d places", name, n)
		}
	}
	if !mid.Balanced() || !slices.Equal(mid.Created, before.Created) {
		t.Errorf("items do not balance with the bots frozen: held %v, created %v, gone %v (start: created %v)", mid.Held, mid.Created, mid.Gone, before.Created)
	}

	select {
	case err := <-playDone:
		if err != nil {
			data, _ := os.ReadFile(filepath.Join(dir, "play.log"))
			t.Errorf("tickwire play: %v\n%s", err, data)
			rep, _ := os.ReadFile(report)
			var r struct {
				Bots []struct {
					Name       string   `json:"name"`
					Mismatches []string `json:"resume_mismatches"`
				} `json:"bots"`
			}
			_ = json.Unmarshal(rep, &r)
			for _, b := range r.Bots {
				for _, m := range b.Mismatches {
					t.Logf("bot %s: %s", b.Name, m)
				}
			}
		}
	case <-time.After(run + time.Minute):
		_ = play.Process.Kill()
		t.Fatal("tickwire play did not finish")
	}
	var rep struct {
		Desyncs   int `json:"desyncs"`
		SeatsLost int `json:"seats_lost"`
		Errors    int `json:"errors"`
		Moves     int `json:"moves"`
		Bots      []struct {
			Name      string  `json:"name"`
			Elapsed   float64 `json:"elapsed_s"`
			Zones     []int   `json:"zones"`
			Moves     int     `json:"moves"`
			Desyncs   int     `json:"desyncs"`
			SeatsLost int     `json:"seats_lost"`
			Resumes   int     `json:"resumes"`
		} `json:"bots"`
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	zonesSeen := map[int]bool{}
	for _, b := range rep.Bots {
		t.Logf("bot %s: zones %v, moves %d, resumes %d, played %.0f s", b.Name, b.Zones, b.Moves, b.Resumes, b.Elapsed)
		if b.Elapsed < run.Seconds()-5 {
			t.Errorf("bot %s stopped playing at %.0f s", b.Name, b.Elapsed)
		}
		for _, z := range b.Zones {
			zonesSeen[z] = true
		}
	}
	if len(rep.Bots) != 6 || rep.Desyncs != 0 || rep.SeatsLost != 0 || rep.Errors != 0 {
		t.Errorf("play report: %d bots, %d desyncs, %d seats lost, %d errors", len(rep.Bots), rep.Desyncs, rep.SeatsLost, rep.Errors)
	}
	if len(zonesSeen) != 3 {
		t.Errorf("the bots visited zones %v, want all 3", zonesSeen)
	}
	t.Logf("moves (handoffs and redirects followed by clients): %d", rep.Moves)
	// Every handoff a zone committed is accounted for: one id each, a
	// player of ours, a zone of the world, and no more than the moves the
	// clients followed (a move is a handoff or a redirect).
	deps := departures(t, kv)
	ids := map[string]bool{}
	names := map[string]bool{}
	for _, b := range rep.Bots {
		names[b.Name] = true
	}
	for _, d := range deps {
		if ids[d.ID] {
			t.Errorf("handoff %s committed twice", d.ID)
		}
		ids[d.ID] = true
		if !names[d.Player] || (d.Zone != "1" && d.Zone != "2" && d.Zone != "3") {
			t.Errorf("handoff %+v: not one of our players or zones", d)
		}
	}
	if len(deps) > rep.Moves || len(deps) == 0 {
		t.Errorf("%d committed handoffs, %d moves followed by the bots", len(deps), rep.Moves)
	}
	t.Logf("committed handoffs remembered by the zones: %d", len(deps))

	// The bots quit: what they carried left the world, in the ledgers.
	time.Sleep(2 * time.Second)
	after := census(t, kv)
	if !after.Balanced() || !slices.Equal(after.Created, before.Created) {
		t.Errorf("items do not balance at the end: held %v, created %v, gone %v", after.Held, after.Created, after.Gone)
	}
	t.Logf("census at the end: held %v, gone %v, players left %v", after.Held, after.Gone, after.Players)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

type zoneRec struct {
	Owner      string              `json:"owner"`
	LeaseUntil int64               `json:"lease_until"`
	State      []byte              `json:"state"`
	Departed   []cluster.Departure `json:"departed"`
}

// zoneRecords reads the three zones' records; ok is false if one cannot
// be read.
func zoneRecords(kv jetstream.KeyValue) (recs []zoneRec, ok bool) {
	for _, z := range []string{"1", "2", "3"} {
		e, err := kv.Get(context.Background(), "zone."+z)
		if err != nil {
			return nil, false
		}
		var r zoneRec
		if json.Unmarshal(e.Value(), &r) != nil {
			return nil, false
		}
		recs = append(recs, r)
	}
	return recs, true
}

// mustRecords is zoneRecords for checks that need every record.
func mustRecords(t *testing.T, kv jetstream.KeyValue) []zoneRec {
	t.Helper()
	recs, ok := zoneRecords(kv)
	if !ok {
		t.Fatal("a zone record is missing or unreadable")
	}
	return recs
}

// departures lists the committed handoffs the zones remember.
func departures(t *testing.T, kv jetstream.KeyValue) []cluster.Departure {
	var out []cluster.Departure
	for _, r := range mustRecords(t, kv) {
		out = append(out, r.Departed...)
	}
	return out
}

// zoneOwners maps each zone to the node whose lease on it is live.
func zoneOwners(kv jetstream.KeyValue) map[string]string {
	out := map[string]string{}
	for _, z := range []string{"1", "2", "3"} {
		e, err := kv.Get(context.Background(), "zone."+z)
		if err != nil {
			continue
		}
		var r zoneRec
		if json.Unmarshal(e.Value(), &r) == nil && r.Owner != "" && time.Now().UnixMilli() < r.LeaseUntil {
			out[z] = r.Owner
		}
	}
	return out
}

// checkpointed reports whether every zone has a checkpoint.
func checkpointed(kv jetstream.KeyValue) bool {
	recs, ok := zoneRecords(kv)
	for _, r := range recs {
		ok = ok && r.State != nil
	}
	return ok
}

// census counts the world from the zones' last checkpoints.
func census(t *testing.T, kv jetstream.KeyValue) arena.Census {
	t.Helper()
	var states [][]byte
	for _, r := range mustRecords(t, kv) {
		if r.State != nil {
			states = append(states, r.State)
		}
	}
	c, err := arena.CensusOf(states...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
