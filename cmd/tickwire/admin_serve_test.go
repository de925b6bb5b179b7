package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// consoleClient is a browser stand-in for the console: a cookie jar, the
// console's own Origin on posts, and the CSRF token of the session.
type consoleClient struct {
	t      *testing.T
	base   string
	origin string
	hc     *http.Client
	csrf   string
}

func newConsoleClient(t *testing.T, base string, hc *http.Client) *consoleClient {
	jar, _ := cookiejar.New(nil)
	if hc == nil {
		hc = &http.Client{}
	}
	hc.Jar = jar
	hc.Timeout = 20 * time.Second
	return &consoleClient{t: t, base: strings.TrimSuffix(base, "/"), origin: strings.TrimSuffix(base, "/"), hc: hc}
}

func (c *consoleClient) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	r, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if method == "POST" {
		r.Header.Set("Origin", c.origin)
		r.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.hc.Do(r)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c *consoleClient) login(name, password string) {
	c.t.Helper()
	status, body := c.do("POST", "/api/login", `{"name":"`+name+`","password":"`+password+`"}`)
	if status != 200 {
		c.t.Fatalf("console login: %d %s", status, body)
	}
	var s struct{ CSRF string }
	json.Unmarshal(body, &s)
	c.csrf = s.CSRF
}

// TestServeConsole runs "tickwire serve --admin" and uses the console as
// the page does: log in, see a player, watch the live samples, kick; and
// checks the metrics the console adds to /metrics.
func TestServeConsole(t *testing.T) {
	game, web, console, c := serveConsole(t)
	if status, body := c.do("GET", "/", ""); status != 200 || !strings.Contains(string(body), "tickwire console") {
		t.Fatalf("page: %d", status)
	}

	// A player connects; the console lists it and can kick it.
	_, rd, name := dialGuest(t, game)
	var players struct {
		Players []struct {
			ConnID    uint64 `json:"conn_id"`
			Name      string
			Transport string
			Guest     bool
			RTT       float64 `json:"rtt_ms"`
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(players.Players) == 0 || players.Players[0].Name != name {
		if time.Now().After(deadline) {
			t.Fatalf("the console never listed %s: %+v", name, players)
		}
		time.Sleep(100 * time.Millisecond)
		_, body := c.do("GET", "/api/players", "")
		json.Unmarshal(body, &players)
	}
	if p := players.Players[0]; !p.Guest || p.Transport != "tcp" || (runtime.GOOS == "linux" && (p.RTT <= 0 || p.RTT >= 1000)) {
		t.Fatalf("player %+v (RTT: the kernel's estimate in ms)", p)
	}

	// The live stream: samples with the tick durations from WatchTicks.
	req, _ := http.NewRequest("GET", "http://"+console+"/api/events", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ev := bufio.NewReader(resp.Body)
	var smp struct{ Ticks, Players int }
	for smp.Ticks == 0 || smp.Players != 1 {
		l, err := ev.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "data: ") && !strings.HasPrefix(l, `data: {"samples"`) {
			json.Unmarshal([]byte(strings.TrimPrefix(l, "data: ")), &smp)
		}
	}
	resp.Body.Close()

	if status, body := c.do("POST", "/api/kick", `{"conn_id":`+jsonNum(players.Players[0].ConnID)+`,"reason":"test kick"}`); status != 200 {
		t.Fatalf("kick: %d %s", status, body)
	}
	for {
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("no BYE: %v", err)
		}
		if strings.HasPrefix(l, "BYE") {
			if l != "BYE \"kicked: test kick\"\n" {
				t.Fatalf("got %q", l)
			}
			break
		}
	}

	// The console answers only for this machine's names.
	r, _ := http.NewRequest("GET", "http://"+console+"/", nil)
	r.Host = "rebound.example"
	if resp, err := http.DefaultClient.Do(r); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("foreign Host: %v %v", resp, err)
	}

	// /metrics, on the page's listener and the console's: the tick
	// histogram, sessions by transport, the counters.
	mresp, err := http.Get("http://" + web + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if cresp, err := http.Get("http://" + console + "/metrics"); err != nil || cresp.StatusCode != 200 {
		t.Fatalf("/metrics on the console's listener: %v %v", cresp, err)
	} else {
		b, _ := io.ReadAll(cresp.Body)
		cresp.Body.Close()
		if !strings.Contains(string(b), "tickwire_tick_duration_seconds_count ") {
			t.Fatalf("console /metrics lacks the tick histogram")
		}
	}
	for _, want := range []string{"tickwire_tick_duration_seconds_bucket{le=\"0.001\"}", "tickwire_tick_duration_seconds_count ",
		"tickwire_strikes_total ", "tickwire_bans_total ", "tickwire_auth_login_failures_total ", "tickwire_closed_connections_total{reason=\"kicked\"} 1"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(metrics), "tickwire_tick_duration_seconds_count 0\n") {
		t.Error("the tick histogram saw no tick")
	}
	// The player's RTT was read by the console's sampler and observed.
	if runtime.GOOS == "linux" && !regexp.MustCompile(`(?m)^tickwire_rtt_seconds_count [1-9]`).Match(metrics) {
		t.Error("the RTT histogram saw no reading")
	}
}

// serveConsole runs "tickwire serve --admin" on free ports with the admin
// account root, and returns the game's, the page's and the console's
// addresses and a console client logged in as root.
func serveConsole(t *testing.T) (game, web, console string, c *consoleClient) {
	t.Helper()
	dir := t.TempDir()
	if _, err := runAdminCapture(t, "correct horse battery\n", "add", "root", "--create", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	console = freeAddr(t)
	game, web, _ = startServe(t, "--data-dir", dir, "--admin", console)
	waitListening(t, console, nil) // bound after the game's and the page's listeners
	c = newConsoleClient(t, "http://"+console, nil)
	c.login("root", "correct horse battery")
	return game, web, console, c
}

// dialGuest logs a guest in over TCP at game and returns the connection
// (closed when the test ends), its reader and the guest's name.
func dialGuest(t *testing.T, game string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	nc, err := net.Dial("tcp", game)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.Write([]byte("AUTH guest\n"))
	rd := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(l); len(f) == 3 && f[0] == "WELCOME" {
			return nc, rd, f[2]
		}
	}
}

func jsonNum(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// TestServeConsoleTLS: on an address other than loopback the console is
// HTTPS with the account service's certificate, and its cookie is Secure;
// without the account service it does not start.
func TestServeConsoleTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := runServe(ctx, []string{"--addr", freeAddr(t), "--http", "", "--auth", "", "--data-dir", t.TempDir(), "--log-level", "error", "--admin", "192.0.2.1:8081"})
	if err == nil || !strings.Contains(err.Error(), "--auth") {
		t.Fatalf("console off loopback without TLS: %v", err)
	}
	var ip net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip = n.IP
			break
		}
	}
	if ip == nil {
		t.Skip("no non-loopback IPv4 address on this machine to serve the console on")
	}
	l, err := net.Listen("tcp", ip.String()+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	console := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	runAdminCapture(t, "correct horse battery\n", "add", "root", "--create", "--data-dir", dir)
	startServe(t, "--data-dir", dir, "--admin", console)
	waitListening(t, console, nil)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: devPin(t, dir)}}
	c := newConsoleClient(t, "https://"+console, hc)
	status, _ := c.do("POST", "/api/login", `{"name":"root","password":"correct horse battery"}`)
	if status != 200 {
		t.Fatalf("login over TLS: %d", status)
	}
	r, _ := http.NewRequest("POST", "https://"+console+"/api/login", strings.NewReader(`{"name":"root","password":"correct horse battery"}`))
	r.Header.Set("Origin", "https://"+console)
	resp, err := hc.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ck := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(ck, "__Host-tickwire-admin=") || !strings.Contains(ck, "Secure") {
		t.Fatalf("cookie over TLS: %q", ck)
	}
	// Plain HTTP to the TLS listener never reaches the console.
	if resp, err := http.Get("http://" + console + "/api/session"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			t.Fatal("the console answered plain HTTP")
		}
	}
}
