package servertest_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/servertest"
	"github.com/tickwire/tickwire/transport"
)

// serveTCP runs the test game on a loopback port on its own clock, as a
// program's main would.
func serveTCP(t *testing.T, cfg server.Config) string {
	t.Helper()
	cfg.TickRate = 100
	srv, err := server.New(cfg, newGame())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestLineConn(t *testing.T) {
	cfg := config()
	cfg.Banner = "line test"
	addr := serveTCP(t, cfg)
	c := servertest.DialLine(t, addr)
	if c.Conn() == nil {
		t.Fatal("no Conn")
	}
	if w := c.Login(); !strings.HasPrefix(w, "WELCOME ") {
		t.Fatalf("Login returned %q", w)
	}
	c.ExpectLine("SAID game welcome guest-")
	c.Send("@5 ECHO hi", "@6 ECHO there")
	if got := c.ExpectLine("@5 SAID guest-"); !strings.HasSuffix(got, " hi") {
		t.Errorf("ExpectLine returned %q", got)
	}
	if got := c.ReadLine(); !strings.HasPrefix(got, "@6 SAID") {
		t.Errorf("ReadLine returned %q", got)
	}
	c.Send("@7 ECHO one", "@8 ECHO two")
	if got := c.SkipTo("@8 "); !strings.HasSuffix(got, " two") {
		t.Errorf("SkipTo returned %q", got)
	}
	c.Send("@9 PING x")
	if got := c.Sync(); len(got) != 1 || got[0] != "@9 PONG x" {
		t.Errorf("Sync returned %q", got)
	}
	c.ExpectNothing()
	c.Send("QUIT")
	if rest := c.ExpectClosed(); len(rest) != 1 || rest[0] != "BYE quit" {
		t.Errorf("ExpectClosed returned %q", rest)
	}
	c.Close()
}

func TestLineConnFailures(t *testing.T) {
	cfg := config()
	cfg.DisableGuests = true
	addr := serveTCP(t, cfg)
	f := newFake(t)
	c := servertest.DialLine(f, addr)
	mustFail(t, f, func() { c.Login() }, "servertest: line client of "+addr, "Login refused: ERR auth guests_disabled")
	c.Send("@1 PING a", "@2 PING b")
	mustFail(t, f, func() { c.ExpectLine("@2") }, `ExpectLine "@2"`, "got:  @1 PONG a")
	c.Send("PING c")
	mustFail(t, f, func() { c.ExpectNothing() }, "ExpectNothing, but these arrived", `"@2 PONG b" "PONG c"`)
	defer servertest.SetWaitLimit(servertest.SetWaitLimit(100 * time.Millisecond))
	mustFail(t, f, func() { c.ReadLine() }, "ReadLine: nothing arrived within 100ms, and the connection is still open")
	c.Send("QUIT")
	mustFail(t, f, func() { c.SkipTo("NOPE") }, `SkipTo "NOPE": the server closed the connection; skipped ["BYE quit"]`)
	mustFail(t, f, func() { c.ReadLine() }, "ReadLine: the server closed the connection")
	mustFail(t, f, func() { c.ExpectLine("X") }, `ExpectLine "X": the server closed the connection`)
	mustFail(t, f, func() { c.Sync() }, "Sync")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	mustFail(t, f, func() { servertest.DialLine(f, dead) }, "servertest: DialLine: dial tcp "+dead)
}
