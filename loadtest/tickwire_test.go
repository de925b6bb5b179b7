package loadtest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	twrelay "github.com/tickwire/tickwire/examples/relay/relay"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/relayproto"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// startTickwireRelay runs examples/relay on tickwire over TCP and WebSocket
// and returns both addresses.
func startTickwireRelay(t *testing.T) (tcpAddr, httpAddr string) {
	t.Helper()
	reg := msg.NewRegistry()
	relayproto.Register(reg)
	srv, err := server.New(server.Config{Registry: reg, AutoLogin: true, AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, twrelay.New())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: transport.WebSocketHandler(transport.WebSocketConfig{}, srv.ServeConn)}
	go hs.Serve(hl)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String(), hl.Addr().String()
}

// The bots drive the tickwire relay in every transport and encoding, and
// every receiver ends with every room mate's last position.
func TestRunAgainstTickwireRelay(t *testing.T) {
	tcpAddr, httpAddr := startTickwireRelay(t)
	for _, tc := range []struct{ transport, encoding, addr string }{
		{TransportTCP, EncodingText, tcpAddr},
		{TransportTCP, EncodingMsgPack, tcpAddr},
		{TransportWS, EncodingText, httpAddr},
		{TransportWS, EncodingMsgPack, httpAddr},
	} {
		t.Run(tc.transport+"_"+tc.encoding, func(t *testing.T) {
			sum, err := Run(context.Background(), Config{
				Addr: tc.addr, Transport: tc.transport, Encoding: tc.encoding,
				N: 20, RoomSize: 5, MoveRate: 10, Duration: time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Connected != 20 || len(sum.Errors) != 0 {
				t.Fatalf("connected %d, errors %v", sum.Connected, sum.Errors)
			}
			if !sum.FinalStateCorrect {
				t.Errorf("final state wrong: %d mismatches", sum.FinalStateMismatches)
			}
			// Moves of one bot that land in the same tick are superseded,
			// so delivered may fall short of expected, never exceed it.
			if sum.Delivered == 0 || sum.Delivered > sum.Expected {
				t.Errorf("delivered %d of %d", sum.Delivered, sum.Expected)
			}
		})
	}
}

func TestMsgPackIntRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 32, -1, -32, -33, -128, -129, -32768, -32769, -1 << 31, -1<<31 - 1, 1<<62 + 3} {
		r := mpReader{b: appendMPInt(nil, n)}
		if got := r.int(); got != n || r.err || len(r.b) != 0 {
			t.Errorf("%d: got %d (err %v, %d left)", n, got, r.err, len(r.b))
		}
		// The Go codec must read the same bytes as the same number.
		reg := msg.NewRegistry()
		relayproto.Register(reg)
		frame := appendMPMove(nil, 1, 2, n)
		env, err := reg.Decode(msg.MsgPack, frame[1:], msg.ToServer)
		if err != nil || env.Msg.(*relayproto.Move).T != n {
			t.Errorf("%d: codec decodes %v, %v", n, env.Msg, err)
		}
	}
}

// TestRunAgainstTheArena points the bots at the wrong server, the demo
// arena: the error names what the server answered and what to run
// instead, and the summary claims no success.
func TestRunAgainstTheArena(t *testing.T) {
	reg := msg.NewRegistry()
	arena.Register(reg)
	srv, err := server.New(server.Config{Registry: reg, Banner: arena.Banner("test"), Logger: slog.New(slog.DiscardHandler),
		AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, arena.New(arena.WithBots(0)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	for _, enc := range []string{EncodingText, EncodingMsgPack} {
		sum, err := Run(context.Background(), Config{Addr: ln.Addr().String(), Encoding: enc, N: 3, Duration: time.Second, ConnectTimeout: 2 * time.Second})
		if err == nil || sum.Connected != 0 || sum.FinalStateCorrect {
			t.Fatalf("%s: err %v, connected %d, final state correct %v", enc, err, sum.Connected, sum.FinalStateCorrect)
		}
		for _, want := range []string{"the server answered JOIN with \"ERR unknown_message unknown ", ": is this the relay example?", "go run ./examples/relay", "127.0.0.1:7777"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", enc, err, want)
			}
		}
	}
}
