package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/store"
	"github.com/tickwire/tickwire/transport"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// tickwireBinary builds ./cmd/tickwire once per test run.
func tickwireBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tickwire-deploy-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tickwire")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/tickwire").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// unit is a parsed systemd unit file: section -> key -> values (in order).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	sec := ""
	// Join continuation lines.
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			sec = strings.Trim(l, "[]")
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("%s: bad line %q", path, l)
			}
			u[sec][k] = append(u[sec][k], v)
		}
	}
	return u
}

func (u unit) get(sec, key string) string {
	v := u[sec][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// execArgs splits ExecStart into the program and its flags.
func (u unit) execArgs() []string { return strings.Fields(u.get("Service", "ExecStart")) }

// flagsOf returns the flags "tickwire <command> --help" lists.
func flagsOf(t *testing.T, bin, command string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(bin, command, "--help").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("tickwire %s --help listed no flags:\n%s", command, out)
	}
	return flags
}

// TestSystemdUnits checks the units in deploy/systemd: the sandboxing the
// guide promises, flags the binary has, "systemd-analyze verify" without a
// warning, and the backup service's command against a real database.
func TestSystemdUnits(t *testing.T) {
	const dataDir = "/var/lib/tickwire"
	svc := parseUnit(t, filepath.Join("systemd", "tickwire.service"))
	bak := parseUnit(t, filepath.Join("systemd", "tickwire-backup.service"))
	timer := parseUnit(t, filepath.Join("systemd", "tickwire-backup.timer"))
	for name, u := range map[string]unit{"tickwire.service": svc, "tickwire-backup.service": bak} {
		for key, want := range map[string]string{
			"User": "tickwire", "Group": "tickwire", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
			"ProtectHome": "yes", "PrivateTmp": "yes", "StateDirectory": "tickwire", "UMask": "0077",
		} {
			if got := u.get("Service", key); got != want {
				t.Errorf("%s: %s=%q, want %q", name, key, got, want)
			}
		}
		if rw := u["Service"]["ReadWritePaths"]; len(rw) != 1 || rw[0] != dataDir {
			t.Errorf("%s: ReadWritePaths %q, want only %s", name, rw, dataDir)
		}
		args := u.execArgs()
		if len(args) < 2 || args[0] != "/usr/local/bin/tickwire" {
			t.Fatalf("%s: ExecStart %q", name, args)
		}
		if i := indexOf(args, "--data-dir"); i < 0 || args[i+1] != dataDir {
			t.Errorf("%s: ExecStart does not use --data-dir %s: %q", name, dataDir, args)
		}
	}
	if n, err := strconv.Atoi(svc.get("Service", "LimitNOFILE")); err != nil || n < 65536 {
		t.Errorf("LimitNOFILE=%q, want at least 65536", svc.get("Service", "LimitNOFILE"))
	}
	if caps := svc.get("Service", "CapabilityBoundingSet"); caps != "CAP_NET_BIND_SERVICE" {
		t.Errorf("CapabilityBoundingSet=%q", caps)
	}
	if a := svc.execArgs(); indexOf(a, "--admin") < 0 || !strings.HasPrefix(a[indexOf(a, "--admin")+1], "127.0.0.1:") {
		t.Errorf("the console must listen on loopback only: %q", a)
	}
	if timer.get("Timer", "OnCalendar") == "" || timer.get("Timer", "Persistent") != "true" {
		t.Errorf("timer: %v", timer)
	}

	// Every flag in ExecStart exists.
	bin := tickwireBinary(t)
	for name, u := range map[string]unit{"tickwire.service": svc, "tickwire-backup.service": bak} {
		args := u.execArgs()
		known := flagsOf(t, bin, args[1])
		for _, a := range args[2:] {
			if f, ok := strings.CutPrefix(a, "--"); ok && !known[f] {
				t.Errorf("%s: tickwire %s has no flag --%s", name, args[1], f)
			}
		}
	}

	// The backup service's command, pointed at a scratch data directory.
	scratch := t.TempDir()
	st, err := store.Open(context.Background(), store.ResolveDSN(scratch, ""))
	if err != nil {
		t.Fatal(err)
	}
	st.CreateAccount(context.Background(), "alice", "h", time.Now())
	st.Close()
	args := bak.execArgs()
	for i := range args {
		args[i] = strings.ReplaceAll(args[i], dataDir, scratch)
	}
	out, err := exec.Command(bin, args[1:]...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "backup written: "+filepath.Join(scratch, "backups", "tickwire-")) || !strings.Contains(string(out), "1 accounts") {
		t.Fatalf("backup service command: %v\n%s", err, out)
	}

	t.Run("systemd-analyze", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("systemd-analyze not installed (apt-get install -y systemd): units not verified")
		}
		// verify checks that ExecStart's program exists: point it at the
		// binary just built.
		dir := t.TempDir()
		for _, f := range []string{"tickwire.service", "tickwire-backup.service", "tickwire-backup.timer"} {
			raw, err := os.ReadFile(filepath.Join("systemd", f))
			if err != nil {
				t.Fatal(err)
			}
			raw = bytes.ReplaceAll(raw, []byte("/usr/local/bin/tickwire"), []byte(bin))
			if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(analyze, "verify", "./tickwire.service", "./tickwire-backup.service", "./tickwire-backup.timer")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		// verify exits 0 on unknown keys and bad values, warning only:
		// any output at all fails the test.
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
		cmd = exec.Command(analyze, "security", "--offline=yes", "./tickwire.service")
		cmd.Dir = dir
		out, _ = cmd.CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for tickwire.service: ([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Logf("systemd-analyze security --offline is not supported here:\n%s", out)
			return
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("systemd-analyze security: exposure %.1f", score)
		if score > 2.5 {
			t.Errorf("exposure level %.1f, want at most 2.5 (\"OK\")", score)
		}
	})
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s && i+1 < len(list) {
			return i
		}
	}
	return -1
}

// failregexes returns the failregex lines of a fail2ban filter.
func failregexes(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(l, "failregex ="):
			in = true
			out = append(out, strings.TrimSpace(strings.TrimPrefix(l, "failregex =")))
		case in && strings.HasPrefix(l, " ") && strings.TrimSpace(l) != "":
			out = append(out, strings.TrimSpace(l))
		default:
			in = false
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no failregex", path)
	}
	if !strings.Contains(string(raw), "journalmatch = _SYSTEMD_UNIT=tickwire.service") {
		t.Errorf("%s: its journalmatch is not the unit deploy/systemd/tickwire.service", path)
	}
	return out
}

// serverLog runs a game server and a guard logging through h, makes the
// server refuse a connection from 127.0.0.2 (over its per-address limit)
// and the guard ban 192.0.2.7 and 2001:db8::7, and returns the log.
func serverLog(t *testing.T, newHandler func(*bytes.Buffer) slog.Handler, with bool) string {
	t.Helper()
	var buf syncBuffer
	log := slog.New(newHandler(&buf.b))
	log = slog.New(&lockedHandler{h: log.Handler(), mu: &buf.mu})
	if with {
		log = log.With("component", "game", "node", "eu 1")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := guard.New(ctx, guard.Config{Store: st, Logger: log, RefreshInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	srv, err := server.New(server.Config{Registry: msg.NewRegistry(), Logger: log, Guard: g, MaxPreLoginPerAddr: 1, SeatHold: -1, Banner: "deploy test"}, quietGame{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	first, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	bufio.NewReader(first).ReadString('\n') // the banner: it is admitted
	second, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _ := second.Read(make([]byte, 1)); n != 0 {
		t.Fatal("the second connection from 127.0.0.2 was admitted")
	}
	second.Close()
	for _, ip := range []string{"192.0.2.7", "2001:db8::7"} {
		if _, err := g.Ban(ctx, netip.MustParseAddr(ip), time.Hour, banReason); err != nil {
			t.Fatal(err)
		}
	}
	buf.mu.Lock()
	defer buf.mu.Unlock()
	return buf.b.String()
}

// banReason is the reason of the test bans: text a filter must not take
// for the address or the message. (guard.Ban refuses "=" and '"' in a
// reason, so no reason can carry an ip= of its own into the line.)
const banReason = `manual, msg:tickwire refused 10.0.0.1`

type quietGame struct{}

func (quietGame) Join(t *server.Tick, p *server.Player) error          { return nil }
func (quietGame) Leave(t *server.Tick, p *server.Player, reason error) {}
func (quietGame) Update(t *server.Tick)                                {}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// lockedHandler serialises writes to a shared buffer.
type lockedHandler struct {
	h  slog.Handler
	mu *sync.Mutex
}

func (l *lockedHandler) Enabled(ctx context.Context, lv slog.Level) bool { return l.h.Enabled(ctx, lv) }
func (l *lockedHandler) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.Handle(ctx, r)
}
func (l *lockedHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &lockedHandler{h: l.h.WithAttrs(a), mu: l.mu}
}
func (l *lockedHandler) WithGroup(n string) slog.Handler {
	return &lockedHandler{h: l.h.WithGroup(n), mu: l.mu}
}

// TestFail2banFilters matches the shipped filters against the lines a
// real server and guard write, in both log formats: each ban line matches
// the tickwire filter and each refusal line the tickwire-refused one, with
// the right address, and no other line matches either.
func TestFail2banFilters(t *testing.T) {
	filters := map[string][]string{
		"tickwire":         failregexes(t, filepath.Join("fail2ban", "filter.d", "tickwire.conf")),
		"tickwire-refused": failregexes(t, filepath.Join("fail2ban", "filter.d", "tickwire-refused.conf")),
	}
	// The jails name the filters and read the unit's journal.
	jail, err := os.ReadFile(filepath.Join("fail2ban", "jail.d", "tickwire.local"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range filters {
		if !regexp.MustCompile(`(?m)^\[` + name + `\]\n(?:.*\n)*?filter\s*=\s*` + name + `\n`).Match(jail) {
			t.Errorf("jail.d/tickwire.local has no [%s] jail using filter %s", name, name)
		}
	}
	compiled := map[string][]*regexp.Regexp{}
	for name, res := range filters {
		for _, re := range res {
			c, err := guard.CompileFailRegex(re)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, re, err)
			}
			compiled[name] = append(compiled[name], c)
		}
	}
	wantByMsg := map[string]string{guard.LogMessage: "tickwire", server.RefusedLogMessage: "tickwire-refused"}
	for _, format := range []struct {
		name string
		h    func(*bytes.Buffer) slog.Handler
		msg  func(string) string
	}{
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }, func(m string) string { return `msg="` + m + `"` }},
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }, func(m string) string { return `"msg":"` + m + `"` }},
	} {
		for _, with := range []bool{false, true} {
			log := serverLog(t, format.h, with)
			seen := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
				want := ""
				for m, f := range wantByMsg {
					if strings.Contains(line, format.msg(m)) {
						want = f
					}
				}
				for name, res := range compiled {
					for _, re := range res {
						m := re.FindStringSubmatch(line)
						if m == nil {
							continue
						}
						if name != want {
							t.Errorf("%s/with=%v: filter %s matches %q", format.name, with, name, line)
							continue
						}
						host := m[re.SubexpIndex("host")]
						if !strings.Contains(line, host) || (host != "127.0.0.2" && host != "192.0.2.7" && host != "2001:db8::7") {
							t.Errorf("%s/with=%v: filter %s took host %q from %q", format.name, with, name, host, line)
						}
						seen[name+" "+host]++
					}
				}
			}
			for _, k := range []string{"tickwire-refused 127.0.0.2", "tickwire 192.0.2.7", "tickwire 2001:db8::7"} {
				if seen[k] != 1 {
					t.Errorf("%s/with=%v: %q matched %d times, want once, in:\n%s", format.name, with, k, seen[k], log)
				}
			}
		}
	}

	t.Run("fail2ban-regex", func(t *testing.T) {
		tool, err := exec.LookPath("fail2ban-regex")
		if err != nil {
			t.Skip("fail2ban-regex not installed (apt-get install -y fail2ban): the filters were checked with Go's regexp only")
		}
		dir := t.TempDir()
		logFile := filepath.Join(dir, "tickwire.log")
		os.WriteFile(logFile, []byte(serverLog(t, func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }, false)), 0o600)
		for name, want := range map[string]string{"tickwire": "2 matched", "tickwire-refused": "1 matched"} {
			out, err := exec.Command(tool, logFile, filepath.Join("fail2ban", "filter.d", name+".conf")).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Lines: ") || !strings.Contains(string(out), want) {
				t.Errorf("fail2ban-regex %s: %v\n%s", name, err, out)
			}
		}
	})
}
