package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tickwire/tickwire/servertest"
)

// The command serves the game on TCP, on its own clock: play it as nc
// would.
func TestServesOverTCP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", "127.0.0.1:0", 50, slog.New(slog.DiscardHandler), func(tcp, ws string) {
			if ws == "" {
				t.Error("no WebSocket address")
			}
			addrs <- tcp
		})
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		cancel()
		t.Fatalf("run ended before serving: %v", err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	c := servertest.DialLine(t, addr)
	c.ExpectLine("INFO tickwire tag: AUTH guest")
	welcome := c.Login()
	id := strings.Fields(welcome)[1]
	c.ExpectLine("POS " + id + " 0 0")
	c.ExpectLine("IT " + id + " guest-")
	c.Send("@7 STEP s")
	c.ExpectLine("@7 AT 0 1")
	c.Send("QUIT")
	c.ExpectClosed()
}
