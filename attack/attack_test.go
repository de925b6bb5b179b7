package attack

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:5001", "127.9.8.7:1", "localhost:8080", "[::ffff:127.0.0.1]:5001"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1:5001", "0.0.0.0:5001", "[::1]:5001", "example.com:80", "127.0.0.1", "127.0.0.1:0", ":5001", "192.168.1.1:443"} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestNewSuite(t *testing.T) {
	if _, err := NewSuite(Config{Addr: "10.1.2.3:5001"}); err == nil {
		t.Error("non-loopback game address accepted")
	}
	if _, err := NewSuite(Config{Addr: "127.0.0.1:5001", Auth: "8.8.8.8:443"}); err == nil {
		t.Error("non-loopback auth address accepted")
	}
	if _, err := NewSuite(Config{Addr: "127.0.0.1:5001", AddrBase: netip.MustParseAddr("127.0.0.1")}); err == nil {
		t.Error("the honest player's address accepted as an attacker base")
	}
	if _, err := NewSuite(Config{Addr: "127.0.0.1:5001", AddrBase: netip.MustParseAddr("10.0.0.2")}); err == nil {
		t.Error("an attacker base outside 127/8 accepted")
	}
	s, err := NewSuite(Config{Addr: "127.0.0.1:5001", AddrBase: netip.MustParseAddr("127.3.0.254")})
	if err != nil {
		t.Fatal(err)
	}
	// Addresses count up, skip .0 and .255, and never leave 127/8.
	want := []string{"127.3.0.254", "127.3.1.1", "127.3.1.2"}
	for _, w := range want {
		if a := s.newAddr(); a.String() != w {
			t.Errorf("newAddr = %v, want %s", a, w)
		}
	}
	s.next = netip.MustParseAddr("127.255.255.254")
	s.newAddr()
	if a := s.newAddr(); a.As4()[0] != 127 || a == netip.MustParseAddr("127.0.0.1") {
		t.Errorf("wrapped to %v", a)
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	p50, p99, mx := percentiles(d)
	if p50 != 50*time.Millisecond || p99 != 99*time.Millisecond || mx != 100*time.Millisecond {
		t.Errorf("percentiles = %v %v %v", p50, p99, mx)
	}
	if a, b, c := percentiles(nil); a != 0 || b != 0 || c != 0 {
		t.Error("empty input")
	}
	if _, p99, _ := percentiles([]time.Duration{3, 1, 2}); p99 != 3 {
		t.Errorf("p99 of 3 samples = %v", p99)
	}
}

func TestMessagePack(t *testing.T) {
	// ERR (id 12) with rid 5: code "too_long", text "x".
	p := []byte{12<<1 | 1, 5, 0xa8}
	p = append(p, "too_long"...)
	p = append(p, 0xa1, 'x')
	id, s, ok := mpMessage(p)
	if !ok || id != idErr || s != "too_long" {
		t.Errorf("mpMessage = %d %q %v", id, s, ok)
	}
	// BYE (id 7) with a str8 reason.
	p = append([]byte{idBye << 1, 0xd9, 7}, "timeout"...)
	if id, s, ok := mpMessage(p); !ok || id != idBye || s != "timeout" {
		t.Errorf("mpMessage = %d %q %v", id, s, ok)
	}
	if _, _, ok := mpMessage([]byte{idErr << 1, 0xa5, 'a'}); ok {
		t.Error("truncated string accepted")
	}
}

func TestParseMetric(t *testing.T) {
	text := "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_goroutines_extra 7\n"
	if v, err := parseMetric(strings.NewReader(text), "go_goroutines"); err != nil || v != 42 {
		t.Errorf("parseMetric = %v, %v", v, err)
	}
	if _, err := parseMetric(strings.NewReader(text), "nope"); err == nil {
		t.Error("missing metric found")
	}
}

func TestResultLine(t *testing.T) {
	r := Result{Name: "garbage", Observed: []string{"closed"}, Failures: []string{"too slow"},
		Honest: HonestStats{Pings: 10, Pongs: 10, P50: time.Millisecond, P99: 2 * time.Millisecond, Max: 3 * time.Millisecond, Limit: 100 * time.Millisecond}}
	l := r.Line()
	for _, want := range []string{"garbage", "FAIL", "p50 1.0ms", "p99 2.0ms", "max 3.0ms", "stayed connected", "observed: closed", "FAILED: too slow"} {
		if !strings.Contains(l, want) {
			t.Errorf("line lacks %q: %s", want, l)
		}
	}
	r = Result{Name: "x", Skipped: "needs --http", Pass: true}
	if l := r.Line(); !strings.Contains(l, "SKIP") || !strings.Contains(l, "needs --http") {
		t.Errorf("skipped line: %s", l)
	}
}

func TestAttackNames(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range Attacks() {
		if a.Name == "" || a.Summary == "" || a.run == nil || seen[a.Name] {
			t.Errorf("bad attack %+v", a.Name)
		}
		seen[a.Name] = true
	}
	for name := range longOnly {
		if !seen[name] {
			t.Errorf("long-only %q is not an attack", name)
		}
	}
	s, _ := NewSuite(Config{Addr: "127.0.0.1:1"})
	if _, err := s.RunAll(t.Context(), []string{"nope"}, nil); err == nil {
		t.Error("unknown attack name accepted")
	}
}
