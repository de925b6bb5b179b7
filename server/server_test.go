package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
)

func TestMessageSplitAcrossReads(t *testing.T) {
	g := newTestGame()
	ts := startTCP(t, testConfig(), g)
	c := dial(t, ts)
	for _, b := range []byte("AUTH guest\n@5 ECHO split  in pieces\n") {
		c.write(string(b))
		time.Sleep(time.Millisecond) // let each byte go out as its own segment
	}
	c.expectRE(`^WELCOME \d+ guest-\d+$`)
	c.expect("LIMITS 50 4096")
	c.expectRE(`^@5 SAID guest-\d+ split  in pieces$`)
	in := g.waitInput(t)
	if in.Type != "ECHO" || in.Msg.(*Echo).Text != "split  in pieces" || in.RID != 5 {
		t.Fatalf("game saw %+v", in)
	}
}

func TestManyMessagesInOneWrite(t *testing.T) {
	g := newTestGame()
	cfg := testConfig()
	cfg.MessageBurst = 1000 // this test is about the inbound queue, not rate limits
	ts := startTCP(t, cfg, g)
	c := dial(t, ts)
	c.login()
	// More than MaxInbound (256): the reader must pause for the tick, not
	// drop or reorder anything.
	const n = 600
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "ECHO %d\n", i)
	}
	c.write(b.String())
	for i := 0; i < n; i++ {
		c.expectRE(fmt.Sprintf(`^SAID guest-\d+ %d$`, i))
		if in := g.waitInput(t); in.Msg.(*Echo).Text != fmt.Sprint(i) {
			t.Fatalf("game input %d was %q", i, in.Msg.(*Echo).Text)
		}
	}
}

func TestCRLFLines(t *testing.T) {
	g := newTestGame()
	ts := startTCP(t, testConfig(), g)
	c := dial(t, ts)
	c.write("PING crlf\r\n")
	c.expectRE(`^PONG crlf$`)
	c.write("AUTH guest\r\n\r\n")
	c.expectRE(`^WELCOME \d+ guest-\d+$`)
	c.expect("LIMITS ")
	c.write("ECHO windows line\r\n")
	c.expectRE(`^SAID guest-\d+ windows line$`)
}

func TestOverLongLine(t *testing.T) {
	g := newTestGame()
	cfg := testConfig()
	cfg.MaxMessage = 64
	ts := startTCP(t, cfg, g)
	c := dial(t, ts)
	name := strings.TrimPrefix(c.login(), "WELCOME ")
	name = name[strings.IndexByte(name, ' ')+1:]
	c.write("PING before\nECHO earlier message\n" + strings.Repeat("x", 200) + "\nPING after\n")
	// The reader answers PING itself; the game's SAID may or may not make
	// it out before the connection closes, so it is skipped.
	var got []string
	for _, l := range c.expectClosed() {
		if !strings.HasPrefix(l, "SAID ") {
			got = append(got, l)
		}
	}
	want := []string{"PONG before", "ERR too_long message longer than 64 bytes; closing", "BYE too_long"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The complete message before the long line reached the game.
	if in := g.waitInput(t); in.Type != "ECHO" || in.Msg.(*Echo).Text != "earlier message" {
		t.Fatalf("game saw %+v", in)
	}
	if l := g.waitLeave(t); l.Player != name || !errors.Is(l.Reason, server.ErrTooLong) {
		t.Fatalf("leave %+v", l)
	}
	g.noInputs(t) // nothing after the long line
}

func TestOverLongBinaryFrame(t *testing.T) {
	g := newTestGame()
	ts := startTCP(t, testConfig(), g)
	c := dial(t, ts)
	c.login()
	c.send(&msg.Use{Encoding: "msgpack"}, 0)
	c.expect("USING msgpack")
	// A 4 GiB length prefix: refused at once, nothing allocated for it.
	c.write("\x80\x80\x80\x80\x10")
	if env := c.msg(); env.Type.Name != "ERR" || env.Msg.(*msg.Err).Code != "too_long" {
		t.Fatalf("got %+v", env.Msg)
	}
	if env := c.msg(); env.Type.Name != "BYE" || env.Msg.(*msg.Bye).Reason != "too_long" {
		t.Fatalf("got %+v", env.Msg)
	}
	c.expectClosed()
}

func TestLoginTimeout(t *testing.T) {
	g := newTestGame()
	cfg := testConfig()
	cfg.LoginTimeout = 200 * time.Millisecond
	cfg.Banner = "welcome to the test"
	ts := startTCP(t, cfg, g)
	c := dial(t, ts)
	c.expect("INFO welcome to the test")
	c.expect("BYE timeout")
	c.expectClosed()
	waitFor(t, "the connection to be forgotten", func() bool { return ts.Stats().Conns == 0 })
	select {
	case l := <-g.leaves:
		t.Fatalf("Leave called for a connection that never logged in: %+v", l)
	default:
	}
}

func TestKeepalives(t *testing.T) {
	g := newTestGame()
	cfg := testConfig()
	cfg.IdleTimeout = 600 * time.Millisecond // the server's keepalive every 300 ms
	ts := startTCP(t, cfg, g)
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Read raw lines: blank ones are what we are after.
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		r := bufio.NewReader(nc)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines <- l
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("connection closed")
			}
			return l
		case <-time.After(readLimit):
			t.Fatal("nothing received")
			return ""
		}
	}
	if _, err := nc.Write([]byte("AUTH guest\n")); err != nil {
		t.Fatal(err)
	}
	if l := next(); !strings.HasPrefix(l, "WELCOME ") {
		t.Fatalf("got %q", l)
	}
	if l := next(); !strings.HasPrefix(l, "LIMITS ") {
		t.Fatalf("got %q", l)
	}
	// Stay idle but for keepalives, for two idle timeouts.
	blank := 0
	stop := time.After(2 * cfg.IdleTimeout)
	tick := time.NewTicker(cfg.IdleTimeout / 6)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
			if _, err := nc.Write([]byte("\n\r\n")); err != nil {
				t.Fatalf("keepalive write: %v", err)
			}
		case l, ok := <-lines:
			if !ok {
				t.Fatal("connection closed although the client sent keepalives")
			}
			if l != "\n" {
				t.Fatalf("unexpected line %q", l)
			}
			blank++
		case <-stop:
			done = true
		}
	}
	tick.Stop()
	if blank == 0 {
		t.Fatal("the server sent no keepalive while it had nothing else to send")
	}
	// Still alive.
	nc.Write([]byte("PING alive\n"))
	for l := next(); l != "PONG alive\n"; l = next() {
		if l != "\n" {
			t.Fatalf("got %q", l)
		}
	}
	g.noInputs(t) // blank lines never reach the game
	// Now silent: the server gives up after the idle timeout.
	for l := next(); l != "BYE timeout\n"; l = next() {
		if l != "\n" {
			t.Fatalf("got %q", l)
		}
	}
	if l := g.waitLeave(t); !errors.Is(l.Reason, server.ErrTimeout) {
		t.Fatalf("leave reason %v", l.Reason)
	}
}

// subscriber logs in, subscribes to per-tick messages and returns a
// channel of the tick numbers it receives.
func subscriber(t *testing.T, ts *testServer) (*client, chan uint64) {
	c := dial(t, ts)
	c.login()
	c.write("SUB\n")
	ticks := make(chan uint64, 10000)
	go func() {
		defer close(ticks)
		for {
			b, err := c.frame()
			if err != nil {
				return
			}
			var n uint64
			if _, err := fmt.Sscanf(string(b), "TICK %d", &n); err == nil {
				ticks <- n
			}
		}
	}()
	return c, ticks
}

func waitTicks(t *testing.T, ticks chan uint64, n int) uint64 {
	t.Helper()
	var last uint64
	for i := 0; i < n; i++ {
		select {
		case v, ok := <-ticks:
			if !ok {
				t.Fatal("subscriber disconnected")
			}
			if v <= last {
				t.Fatalf("tick %d after %d", v, last)
			}
			last = v
		case <-time.After(readLimit):
			t.Fatal("ticks stopped flowing")
		}
	}
	return last
}

func TestSlowConsumer(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  func(*server.Config)
		spam string
	}{
		// The queue overflows at once: 200 messages in one tick > 64.
		{"queue full", func(cfg *server.Config) { cfg.MaxOutbound = 64 }, "SPAM 200\n"},
		// The queue is large, but the socket stops taking data: the
		// write deadline cuts the client off.
		{"write stalls", func(cfg *server.Config) {
			cfg.MaxOutbound = 1 << 20
			cfg.WriteTimeout = 200 * time.Millisecond
		}, "SPAM 100\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newTestGame()
			cfg := testConfig()
			c.cfg(&cfg)
			ts := startTCP(t, cfg, g)
			_, ticks := subscriber(t, ts)
			waitTicks(t, ticks, 3)

			slow, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			slow.(*net.TCPConn).SetReadBuffer(4096)
			// Log in and ask for the flood; never read anything.
			slow.Write([]byte("AUTH guest\n" + c.spam))
			var leave gameLeave
			for deadline := time.After(waitLimit); leave.Player == ""; {
				select {
				case l := <-g.leaves:
					leave = l
				case _, ok := <-ticks: // keep draining the good client
					if !ok {
						t.Fatal("the good client was disconnected")
					}
				case <-deadline:
					t.Fatal("slow consumer not cut off")
				}
			}
			if !errors.Is(leave.Reason, server.ErrSlowConsumer) {
				t.Fatalf("leave reason %v, want ErrSlowConsumer", leave.Reason)
			}
			// The other client's ticks keep flowing afterwards.
			waitTicks(t, ticks, 5)
		})
	}
}

func TestAbruptReset(t *testing.T) {
	g := newTestGame()
	ts := startTCP(t, testConfig(), g)
	c := dial(t, ts)
	c.login()
	name := g.waitJoin(t)
	tcp := c.nc.(*net.TCPConn)
	tcp.SetLinger(0)
	tcp.Close() // sends RST
	l := g.waitLeave(t)
	if l.Player != name || l.Reason == nil {
		t.Fatalf("leave %+v", l)
	}
	waitFor(t, "the connection to be forgotten", func() bool { return ts.Stats().Conns == 0 })
	// The server carries on.
	c2 := dial(t, ts)
	c2.login()
}

func TestThousandClients(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sockets")
	}
	const n = 1000
	g := newTestGame()
	cfg := testConfig()
	cfg.LoginTimeout = 30 * time.Second
	ts := startTCP(t, cfg, g)
	type conn struct {
		nc net.Conn
		r  *bufio.Reader
	}
	conns := make([]conn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 64) // dial in waves, not in one SYN flood
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			nc, err := net.DialTimeout("tcp", ts.addr, waitLimit)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = conn{nc, bufio.NewReader(nc)}
			nc.SetDeadline(time.Now().Add(waitLimit))
			if _, err := nc.Write([]byte("AUTH guest\n")); err != nil {
				errs <- err
				return
			}
			l, err := conns[i].r.ReadString('\n')
			if err != nil || !strings.HasPrefix(l, "WELCOME ") {
				errs <- fmt.Errorf("client %d: %q, %v", i, l, err)
			}
			if l, err := conns[i].r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "LIMITS ") {
				errs <- fmt.Errorf("client %d: %q, %v", i, l, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.nc.Close()
		}
	}()
	if got := ts.Stats().Conns; got != n {
		t.Fatalf("%d connections, want %d", got, n)
	}
	for i := 0; i < n; i++ {
		g.waitJoin(t)
	}
	// Every one of them is told about the shutdown.
	ts.shutdown(t)
	for i, c := range conns {
		c.nc.SetDeadline(time.Now().Add(readLimit))
		if l, err := c.r.ReadString('\n'); l != "BYE shutdown\n" {
			t.Fatalf("client %d: %q, %v", i, l, err)
		}
	}
}

func TestShutdown(t *testing.T) {
	check := leakCheck(t)
	g := newTestGame()
	ts := startTCP(t, testConfig(), g)
	var players []*client
	names := map[string]bool{}
	for i := 0; i < 3; i++ {
		c := dial(t, ts)
		c.login()
		names[g.waitJoin(t)] = true
		players = append(players, c)
	}
	lurker := dial(t, ts) // connected, not logged in
	lurker.write("PING\n")
	lurker.expect("PONG")

	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Shutdown did not return")
	}
	for _, c := range append(players, lurker) {
		c.skipTo("BYE shutdown")
		c.expectClosed()
	}
	for range players {
		l := g.waitLeave(t)
		if !names[l.Player] || !errors.Is(l.Reason, server.ErrShutdown) {
			t.Fatalf("leave %+v", l)
		}
		delete(names, l.Player)
	}
	if err := <-ts.served; !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	ts.served <- server.ErrServerClosed
	if err := ts.Shutdown(context.Background()); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("second Shutdown: %v", err)
	}
	// Connections after shutdown are refused.
	if nc, err := net.Dial("tcp", ts.addr); err == nil {
		nc.SetReadDeadline(time.Now().Add(readLimit))
		if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatal("a connection after Shutdown was served")
		}
		nc.Close()
	}
	check()
}

func TestShutdownForcesStuckClients(t *testing.T) {
	g := newTestGame()
	cfg := testConfig()
	cfg.MaxOutbound = 1 << 20
	cfg.WriteTimeout = time.Minute // only the shutdown deadline can end it
	ts := startTCP(t, cfg, g)
	stuck, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	stuck.(*net.TCPConn).SetReadBuffer(4096)
	stuck.Write([]byte("AUTH guest\nSPAM 200\n"))
	g.waitJoin(t)
	// Wait until the writer is blocked: 200 x 900 bytes a tick fill the
	// socket buffers within a few ticks; give it several.
	waitFor(t, "the flood to back up", func() bool { return ts.Stats().Ticks > 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = ts.Shutdown(ctx)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if l := g.waitLeave(t); !errors.Is(l.Reason, server.ErrShutdown) {
		t.Fatalf("leave %+v", l)
	}
}

func TestNoGoroutineLeaks(t *testing.T) {
	checkAll := leakCheck(t)
	g := newTestGame()
	ts := startTCP(t, testConfig(), g)
	c := dial(t, ts) // make sure the server is up before the snapshot
	c.write("PING\n")
	c.expect("PONG")
	c.nc.Close()
	waitFor(t, "the first connection to go", func() bool { return ts.Stats().Conns == 0 })

	checkConns := leakCheck(t)
	// Clients leaving every way there is.
	quit := dial(t, ts)
	quit.login()
	quit.write("QUIT\n")
	quit.skipTo("BYE quit")
	quit.expectClosed()

	closer := dial(t, ts)
	closer.login()
	closer.nc.Close()

	reset := dial(t, ts)
	reset.login()
	reset.nc.(*net.TCPConn).SetLinger(0)
	reset.nc.Close()

	kicked := dial(t, ts)
	kicked.login()
	kicked.write("KICKME\n")
	kicked.skipTo("BYE kicked_by_request")
	kicked.expectClosed()

	unauth := dial(t, ts)
	unauth.write("HELP\n")
	unauth.expect("INFO ")
	unauth.nc.Close()

	for i := 0; i < 4; i++ {
		g.waitLeave(t)
	}
	waitFor(t, "every connection to go", func() bool { return ts.Stats().Conns == 0 })
	checkConns()

	// A client still connected at shutdown.
	last := dial(t, ts)
	last.login()
	ts.shutdown(t)
	last.skipTo("BYE shutdown")
	last.nc.Close()
	checkAll()
}

func TestControlBytesRefused(t *testing.T) {
	g := newTestGame()
	ts := startTCP(t, testConfig(), g)
	c := dial(t, ts)
	c.login()
	c.write("ECHO caf\xc3\xa9\n")
	c.expect("ERR bad_syntax byte 0xc3 at offset 8: text lines must be printable ASCII")
	c.write("ECHO bell\x07\n")
	c.expect("ERR bad_syntax byte 0x07 at offset 9")
	c.write("\x00\x01\x02\n")
	c.expect("ERR bad_syntax byte 0x00 at offset 0")
	c.write("PING still-open\n")
	c.expect("PONG still-open")
	g.noInputs(t)
}

func TestProtocol(t *testing.T) {
	g := newTestGame()
	ts := startTCP(t, testConfig(), g)
	c := dial(t, ts)

	// Before login.
	c.write("ECHO hi\n")
	c.expect("ERR not_logged_in log in first")
	c.write("@3 SUB\n")
	c.expect("@3 ERR not_logged_in")
	c.write("PING tok\n")
	c.expect("PONG tok")
	c.write("@7 PING x\n")
	c.expect("@7 PONG x")
	c.write("ping\n")
	c.expectRE("^PONG$")

	c.write("HELP\n")
	c.expect("INFO commands (one per line")
	var help []string
	for {
		l := c.line()
		help = append(help, l)
		if strings.HasPrefix(l, "INFO strings with spaces") {
			break
		}
	}
	joined := strings.Join(help, "\n")
	for _, want := range []string{"INFO HELP ", "INFO PING [token] ", "INFO AUTH user [secret] ", "INFO QUIT ",
		"INFO USE encoding ", "INFO LOG level text... ", "INFO ECHO text... ", "answer SAID with the text", "\nINFO STATE v\n", "\nINFO SUB\n"} {
		if !strings.Contains(joined, want) {
			t.Errorf("HELP lacks %q:\n%s", want, joined)
		}
	}
	for _, never := range []string{"INFO PONG", "INFO SAID", "INFO WELCOME"} { // server-to-client messages
		if strings.Contains(joined, never) {
			t.Errorf("HELP lists %q", never)
		}
	}
	c.write("@9 HELP\n")
	for l := c.expect("@9 INFO commands"); !strings.HasPrefix(l, "@9 INFO strings"); l = c.line() {
		if !strings.HasPrefix(l, "@9 INFO ") {
			t.Fatalf("untagged HELP line %q", l)
		}
	}

	// Errors.
	c.write("FLY away\n")
	c.expect(`ERR unknown_message unknown command "FLY"; send HELP for the list`)
	c.write("@4 FLY\n")
	c.expect("@4 ERR unknown_message")
	c.write("AUTH\n")
	c.expect("ERR bad_field AUTH user: missing (usage: AUTH user [secret])")
	c.write("PONG x\n")
	c.expect("ERR not_allowed PONG may not be sent to the server")
	c.write("USE xml\n")
	c.expect("ERR bad_field USE encoding: want text, json or msgpack")
	c.write("LOG info before login\n")
	c.expect("ERR not_logged_in log in first")
	c.write("AUTH bob secret\n")
	c.expect("ERR auth no_accounts this server has no accounts")
	c.write("AUTH bob\n")
	c.expect("ERR auth ")

	c.login()
	c.write("AUTH guest\n")
	c.expect("ERR already_logged_in")
	c.write("SPAM abc\n")
	c.expect(`ERR bad_field SPAM n: want an integer, got "abc"`)
	c.write("SPAM -1\n")
	c.expect("ERR bad_field SPAM n: must be >= 0")
	c.write("@12 SPAM\n")
	c.expect("@12 ERR bad_field SPAM n: missing")
	c.write("SUB extra\n")
	c.expect("ERR bad_syntax SUB: too many arguments (usage: SUB)")
	c.write(`ECHO "unterminated` + "\n")
	c.expect("ERR bad_field ECHO text: unterminated quoted string")
	// Handler refusals.
	c.write("@6 STATE -4\n")
	c.expect("@6 ERR negative state -4 is below zero")
	c.write("STATE 0\n")
	c.expect("ERR refused zero is not a state")
	c.write("LOG info a client log line\n")
	c.write("@8 PING end\n")
	c.expect("@8 PONG end")

	c.write("QUIT\n")
	c.expect("BYE quit")
	c.expectClosed()
	if l := g.waitLeave(t); !errors.Is(l.Reason, server.ErrQuit) {
		t.Fatalf("leave %+v", l)
	}
}

func TestEncodingSwitch(t *testing.T) {
	g := newTestGame()
	ts := startTCP(t, testConfig(), g)

	t.Run("json", func(t *testing.T) {
		c := dial(t, ts)
		c.login()
		c.send(&msg.Use{Encoding: "json"}, 2)
		c.expect("@2 USING json")
		if c.in.Encoding() != msg.JSON {
			t.Fatal("client did not follow the switch")
		}
		c.write(`{"type":"PING","rid":3,"token":"j"}` + "\n")
		if l := c.line(); l != `{"type":"PONG","rid":3,"token":"j"}` {
			t.Fatalf("got %s", l)
		}
		c.send(&Echo{Text: "in json"}, 0)
		if env := c.msg(); env.Type.Name != "SAID" || env.Msg.(*Said).Text != "in json" {
			t.Fatalf("got %+v", env.Msg)
		}
		c.write(`{"type":"ECHO"}` + "\n")
		if l := c.line(); l != `{"type":"ERR","code":"bad_field","text":"ECHO text: missing"}` {
			t.Fatalf("got %s", l)
		}
		// And back to text.
		c.send(&msg.Use{Encoding: "text"}, 0)
		if l := c.line(); l != `{"type":"USING","encoding":"text"}` {
			t.Fatalf("got %s", l)
		}
		c.write("PING back\n")
		c.expect("PONG back")
	})

	t.Run("msgpack", func(t *testing.T) {
		c := dial(t, ts)
		c.login()
		// The switch and the first binary frame in one write.
		use, _ := ts.Registry().Append(nil, msg.Text, &msg.Use{Encoding: "msgpack"}, 0)
		ping, _ := ts.Registry().Append(nil, msg.MsgPack, &msg.Ping{Token: "bin"}, 11)
		c.write(string(use) + string(ping))
		c.out.SetEncoding(msg.MsgPack)
		c.expect("USING msgpack") // a text line
		env := c.msg()            // then binary frames
		if p, ok := env.Msg.(*msg.Pong); !ok || p.Token != "bin" || env.RID != 11 {
			t.Fatalf("got %+v rid %d", env.Msg, env.RID)
		}
		c.send(&Echo{Text: "in msgpack"}, 4)
		env = c.msg()
		if s, ok := env.Msg.(*Said); !ok || s.Text != "in msgpack" || env.RID != 4 {
			t.Fatalf("got %+v", env.Msg)
		}
		// An undecodable binary frame is refused like a bad text line.
		c.write(string(frame.AppendBinary(nil, []byte{0xff, 0xff, 0x07})))
		env = c.msg()
		if e, ok := env.Msg.(*msg.Err); !ok || e.Code != msg.CodeBadSyntax {
			t.Fatalf("got %+v", env.Msg)
		}
		// Keepalive frames are ignored.
		c.write("\x00\x00")
		c.send(&msg.Quit{}, 0)
		env = c.msg()
		if b, ok := env.Msg.(*msg.Bye); !ok || b.Reason != "quit" {
			t.Fatalf("got %+v", env.Msg)
		}
		c.expectClosed()
	})
}

func TestGuard(t *testing.T) {
	t.Run("strikes", func(t *testing.T) {
		guard := &fakeGuard{}
		cfg := testConfig()
		cfg.Guard = guard
		cfg.MaxMessage = 64
		ts := startTCP(t, cfg, newTestGame())
		c := dial(t, ts)
		for i := 0; i < server.DecodeErrorsPerStrike; i++ {
			c.write("FLY\n")
			c.expect("ERR unknown_message")
		}
		c.write("AUTH bob secret\n")
		c.expect("ERR auth")
		c.write(strings.Repeat("y", 100) + "\n")
		c.expect("ERR too_long")
		c.expect("BYE too_long")
		c.expectClosed()
		if got := strings.Join(guard.list(), ","); got != "bad_message,auth_failed,too_long" {
			t.Fatalf("strikes %s", got)
		}
	})
	t.Run("refused at accept", func(t *testing.T) {
		guard := &fakeGuard{refuseAll: true}
		cfg := testConfig()
		cfg.Guard = guard
		cfg.Banner = "you should never see this"
		ts := startTCP(t, cfg, newTestGame())
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetReadDeadline(time.Now().Add(readLimit))
		buf := make([]byte, 100)
		n, err := nc.Read(buf)
		if n != 0 || err == nil {
			t.Fatalf("read %q, %v; want the connection closed before any byte", buf[:n], err)
		}
		if ts.Stats().Conns != 0 {
			t.Fatal("refused connection counted")
		}
	})
	t.Run("ban disconnects", func(t *testing.T) {
		guard := &fakeGuard{banAfter: 2}
		cfg := testConfig()
		cfg.Guard = guard
		g := newTestGame()
		ts := startTCP(t, cfg, g)
		c := dial(t, ts)
		c.login()
		// Two strikes: every DecodeErrorsPerStrike-th refused message.
		for i := 0; i < 2*server.DecodeErrorsPerStrike-1; i++ {
			c.write("FLY\n")
			c.expect("ERR unknown_message")
		}
		if n := len(guard.list()); n != 1 {
			t.Fatalf("%d strikes after %d refused messages, want 1", n, 2*server.DecodeErrorsPerStrike-1)
		}
		c.write("FLY\nPING ignored\n")
		c.expect("ERR unknown_message")
		c.skipTo("BYE banned")
		c.expectClosed()
		if l := g.waitLeave(t); !errors.Is(l.Reason, server.ErrBanned) {
			t.Fatalf("leave %+v", l)
		}
		// Now banned at accept, too.
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetReadDeadline(time.Now().Add(readLimit))
		if n, err := nc.Read(make([]byte, 10)); n != 0 || err == nil {
			t.Fatal("banned address served")
		}
	})
	t.Run("game strike", func(t *testing.T) {
		guard := &fakeGuard{banAfter: 1}
		cfg := testConfig()
		cfg.Guard = guard
		g := newTestGame()
		g.join = func(t *server.Tick, p *server.Player) error {
			p.Strike("impossible_move")
			return nil
		}
		ts := startTCP(t, cfg, g)
		c := dial(t, ts)
		c.write("AUTH guest\n")
		c.skipTo("BYE banned")
		c.expectClosed()
		if got := strings.Join(guard.list(), ","); got != "impossible_move" {
			t.Fatalf("strikes %s", got)
		}
	})
}

func TestJoinRefusedAndKick(t *testing.T) {
	g := newTestGame()
	g.join = func(t *server.Tick, p *server.Player) error {
		if p.ID()%2 == 0 {
			return errors.New("even ids may not play")
		}
		return nil
	}
	ts := startTCP(t, testConfig(), g)
	odd := dial(t, ts) // conn 1
	odd.login()
	even := dial(t, ts) // conn 2
	even.write("AUTH guest\n")
	even.expect("ERR join_refused even ids may not play")
	even.expect("BYE join_refused")
	even.expectClosed()

	odd.write("KICKME\nPING after\n")
	var lines []string
	for _, l := range odd.expectClosed() {
		if !strings.HasPrefix(l, "PONG") { // the reader may answer PING first
			lines = append(lines, l)
		}
	}
	if strings.Join(lines, "|") != "BYE kicked_by_request" {
		t.Fatalf("got %q", lines)
	}
	l := g.waitLeave(t)
	if !errors.Is(l.Reason, server.ErrKicked) {
		t.Fatalf("leave %+v", l)
	}
	select {
	case l := <-g.leaves:
		t.Fatalf("Leave for a refused player: %+v", l)
	default:
	}
}

type fakeAuth struct{}

func (fakeAuth) Authenticate(ctx context.Context, user, secret string, remote netip.Addr) (server.Identity, error) {
	if secret == "expired" {
		return server.Identity{}, &server.AuthError{Code: "token_expired", Text: "login token expired"}
	}
	if secret != "good" {
		return server.Identity{}, errors.New("bad token")
	}
	if !remote.IsLoopback() {
		return server.Identity{}, errors.New("remote " + remote.String())
	}
	return server.Identity{AccountID: 77, Name: "the-" + user}, nil
}

func TestLoginVariants(t *testing.T) {
	t.Run("authenticator", func(t *testing.T) {
		cfg := testConfig()
		cfg.Authenticator = fakeAuth{}
		cfg.DisableGuests = true
		ts := startTCP(t, cfg, newTestGame())
		c := dial(t, ts)
		c.write("AUTH guest\n")
		c.expect("ERR auth guests_disabled guest logins are disabled on this server")
		c.write("AUTH bob bad\n")
		c.expect("ERR auth refused bad token")
		c.write("AUTH bob\n")
		c.expect("ERR auth missing_token AUTH <user> <token>")
		c.write("AUTH bob expired\n")
		c.expect("ERR auth token_expired login token expired")
		c.write("AUTH bob good\n")
		c.expectRE(`^WELCOME \d+ the-bob$`)
	})
	t.Run("auto login", func(t *testing.T) {
		cfg := testConfig()
		cfg.AutoLogin = true
		cfg.Banner = "hello"
		ts := startTCP(t, cfg, newTestGame())
		c := dial(t, ts)
		c.expect("INFO hello")
		c.expectRE(`^WELCOME \d+ guest-\d+$`)
		c.expect("LIMITS ")
		c.write("ECHO no auth needed\n")
		c.expectRE(`^SAID guest-\d+ no auth needed$`)
	})
	t.Run("max conns", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxConns = 2
		ts := startTCP(t, cfg, newTestGame())
		a, b := dial(t, ts), dial(t, ts)
		a.login()
		b.login()
		c := dial(t, ts)
		c.expectClosed()
		b.nc.Close()
		waitFor(t, "a free slot", func() bool { return ts.Stats().Conns == 1 })
		d := dial(t, ts)
		d.login()
	})
}

func TestLogRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.LogRate = 0.001
	cfg.LogBurst = 2
	ts := startTCP(t, cfg, newTestGame())
	c := dial(t, ts)
	c.login()
	c.write("LOG loud hello\n")
	c.expect("ERR bad_field LOG level")
	c.write("LOG info 1\nLOG warn 2\nLOG error 3\nLOG debug 4\nLOG info 5\nPING\n")
	c.expect("PONG")
	if got := ts.Stats().DroppedLogs; got != 3 {
		t.Fatalf("%d dropped, want 3", got)
	}
}

func TestPlayerAndTickAPI(t *testing.T) {
	type seen struct {
		addr     netip.Addr
		ident    server.Identity
		enc      msg.Encoding
		players  int
		hasLog   bool
		dtPerSec time.Duration
	}
	got := make(chan seen, 10)
	g := newTestGame()
	g.join = func(t *server.Tick, p *server.Player) error {
		got <- seen{p.Addr(), p.Identity(), p.Encoding(), len(t.Players()), p.Logger() != nil && t.Logger() != nil, t.Dt * 50}
		return nil
	}
	ts := startTCP(t, testConfig(), g)
	c := dial(t, ts)
	c.write("USE json\n")
	c.expect("USING json")
	c.write(`{"type":"AUTH","user":"guest"}` + "\n")
	s := <-got
	if !s.addr.IsLoopback() || !s.ident.Guest || s.ident.AccountID != 0 || !strings.HasPrefix(s.ident.Name, "guest-") ||
		s.enc != msg.JSON || s.players != 0 || !s.hasLog || s.dtPerSec != time.Second {
		t.Fatalf("%+v", s)
	}
	c.msg() // WELCOME
	waitFor(t, "a tick to be counted", func() bool { return ts.Stats().Ticks > 0 })
	st := ts.Stats()
	if st.Ticks == 0 || st.BytesOut == 0 || st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	cyclic := msg.NewRegistry()
	type A struct{}
	type B struct{}
	msg.Define[A](cyclic, msg.Info{ID: 40, Name: "A", Causes: []string{"B"}})
	msg.Define[B](cyclic, msg.Info{ID: 41, Name: "B", Causes: []string{"A"}})
	for _, c := range []struct {
		cfg  server.Config
		game server.Game
		want string
	}{
		{server.Config{Registry: cyclic}, newTestGame(), "A -> B -> A"},
		{server.Config{TickRate: 500}, newTestGame(), "TickRate 500"},
		{server.Config{MaxMessage: 10}, newTestGame(), "MaxMessage 10"},
		{server.Config{LoginTimeout: time.Millisecond}, newTestGame(), "LoginTimeout"},
		{server.Config{MaxOutbound: -1}, newTestGame(), "MaxOutbound -1"},
		{server.Config{LogRate: -1}, newTestGame(), "LogRate"},
		{server.Config{}, nil, "nil Game"},
	} {
		_, err := server.New(c.cfg, c.game)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
	srv, err := server.New(server.Config{}, newTestGame())
	if err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config()
	if cfg.TickRate != server.DefaultTickRate || cfg.MaxMessage != frame.DefaultMaxMessage || cfg.LoginTimeout != server.DefaultLoginTimeout ||
		cfg.MaxOutbound != server.DefaultMaxOutbound || cfg.Registry == nil || srv.Registry() != cfg.Registry {
		t.Fatalf("defaults %+v", cfg)
	}
	// Shutdown of a server that never served.
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
