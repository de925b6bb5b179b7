package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// The example game's messages, defined once and shared by server and
// client.

// Say is a chat line a player sends.
type Say struct {
	Text string `tw:"text,max=200,rest"`
}

// Said is a chat line the server relays to everyone.
type Said struct {
	From string `tw:"from,max=64"`
	Text string `tw:"text,max=200,rest"`
}

func register(reg *msg.Registry) {
	msg.Define[Say](reg, msg.Info{ID: 40, Name: "SAY", Dir: msg.ToServer, Causes: []string{"SAID"}})
	msg.Define[Said](reg, msg.Info{ID: 41, Name: "SAID", Dir: msg.ToClient})
}

// chat is the example game: it relays every SAY to every player.
type chat struct{}

func (chat) Join(t *server.Tick, p *server.Player) error          { return nil }
func (chat) Leave(t *server.Tick, p *server.Player, reason error) {}
func (chat) Update(t *server.Tick) {
	for _, in := range t.Inputs {
		if m, ok := in.Msg.(*Say); ok {
			t.Broadcast(&Said{From: in.Player.Name(), Text: m.Text}, nil)
		}
	}
}

// A whole game client against an in-memory server: log in, register a
// typed callback, send, and poll once per frame.
func Example() {
	reg := msg.NewRegistry()
	register(reg)
	srv, err := server.New(server.Config{Registry: reg, Logger: slog.New(slog.DiscardHandler)}, chat{})
	if err != nil {
		log.Fatal(err)
	}
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := ln.Dial(ctx)
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(conn, client.Options{Registry: reg, Encoding: msg.MsgPack, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, name, err := c.LoginGuest(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in as", name)

	done := false
	client.On(c, func(m *Said) {
		fmt.Printf("%s says: %s\n", m.From, m.Text)
		done = true
	})
	if err := c.Send(&Say{Text: "hello"}); err != nil {
		log.Fatal(err)
	}
	for !done { // the game loop
		if _, err := c.Poll(); err != nil {
			log.Fatal(err)
		}
		if ctx.Err() != nil {
			log.Fatal("no answer")
		}
		time.Sleep(time.Second / 60) // render a frame
	}
	// Output:
	// logged in as guest-1
	// guest-1 says: hello
}

// Dial a server over TCP in MessagePack and log in as a guest.
func ExampleDial() {
	reg := msg.NewRegistry()
	register(reg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, transport.DefaultTCPAddr, client.Options{Registry: reg, Encoding: msg.MsgPack})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	id, name, err := c.LoginGuest(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("playing as", id, name)
}

// Register one callback per message type; Poll calls them, no switch
// needed.
func ExampleOn() {
	reg := msg.NewRegistry()
	register(reg)
	c, err := client.Dial(context.Background(), transport.DefaultTCPAddr, client.Options{Registry: reg})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	client.On(c, func(m *Said) { fmt.Println(m.From+":", m.Text) })
	client.On(c, func(m *msg.Notice) { fmt.Println("server:", m.Text) })
	client.On(c, func(m *msg.Err) { fmt.Println("refused:", m.Code, m.Text) })
}

// Poll once per frame; a BYE from the server ends the loop with its
// reason.
func ExampleClient_Poll() {
	reg := msg.NewRegistry()
	register(reg)
	ctx := context.Background()
	c, err := client.Dial(ctx, transport.DefaultTCPAddr, client.Options{Registry: reg})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.LoginGuest(ctx); err != nil {
		log.Fatal(err)
	}
	frame := time.NewTicker(time.Second / 60)
	defer frame.Stop()
	for range frame.C {
		if _, err := c.Poll(); err != nil {
			var bye *client.ByeError
			if errors.As(err, &bye) {
				fmt.Println("server closed the connection:", bye.Reason)
			}
			return
		}
		// ... update and render; Send inputs ...
		fmt.Printf("rtt %v\n", c.RTT())
	}
}

// Log in with an account: fetch a one-time token from the auth service,
// pinning its self-signed development certificate, then AUTH with it.
func ExampleFetchToken() {
	ctx := context.Background()
	// The fingerprint the auth service logs at start
	// ("sha256_fingerprint=...").
	pin := client.PinnedTLS("3A:1F:...:9C")
	token, err := client.FetchToken(ctx, "https://127.0.0.1:8443", "ana", "correct horse battery", pin)
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Dial(ctx, transport.DefaultTCPAddr, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Login(ctx, "ana", token); err != nil {
		log.Fatal(err)
	}
}

// A dropped connection is resumed by itself; the game only shows it. Poll
// keeps running every frame meanwhile: the world drawn is the last one
// received until the server's fresh snapshot replaces it.
func ExampleClient_OnReconnecting() {
	reg := msg.NewRegistry()
	register(reg)
	ctx := context.Background()
	c, err := client.Dial(ctx, transport.DefaultTCPAddr, client.Options{
		Registry:  reg,
		Reconnect: client.ReconnectOptions{MaxDelay: time.Second}, // the defaults otherwise
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	banner := ""
	c.OnReconnecting(func(attempt int, err error) { banner = fmt.Sprintf("reconnecting (attempt %d: %v)", attempt, err) })
	c.OnResumed(func() { banner = "" })
	c.OnLost(func(err error) { banner = "connection lost: " + err.Error() })
	if _, _, err := c.LoginGuest(ctx); err != nil {
		log.Fatal(err)
	}
	for {
		if _, err := c.Poll(); err != nil {
			var lost *client.LostError
			if errors.As(err, &lost) {
				log.Printf("the seat is gone after %d attempts: log in again", lost.Attempts)
			}
			return
		}
		if banner != "" {
			fmt.Println(banner) // draw it over the frozen world
		}
		time.Sleep(time.Second / 60)
	}
}

// portal is the chat of the OnMoved example: a player who says "portal"
// is handed to the other server.
type portal struct {
	to     *server.Server // where players go
	toAddr string
}

func (portal) Join(t *server.Tick, p *server.Player) error          { return nil }
func (portal) Leave(t *server.Tick, p *server.Player, reason error) {}
func (g portal) Update(t *server.Tick) {
	for _, in := range t.Inputs {
		m, ok := in.Msg.(*Say)
		if !ok {
			continue
		}
		if m.Text == "portal" && g.to != nil {
			ticket, err := g.to.Expect(server.Arrival{Ident: in.Player.Identity(), Keys: in.Player.SeatKeys()})
			if err != nil {
				in.Player.Error(in, "portal", err.Error())
				continue
			}
			in.Player.Move(g.toAddr, "", ticket) // MOVED, then BYE moved
			continue
		}
		t.Broadcast(&Said{From: in.Player.Name(), Text: m.Text}, nil)
	}
}

// A server of a cluster sends the player to another one with MOVED; the
// client follows it by itself, as a resume on the other server, and
// reports it with OnMoved. Here two servers on in-memory listeners stand
// for two addresses; ReconnectOptions.DialAddr reaches them (Dial and
// DialWebSocket need none), and Seeds would list the cluster's servers to
// try if the current one died.
func ExampleClient_OnMoved() {
	quiet := slog.New(slog.DiscardHandler)
	reg := msg.NewRegistry()
	register(reg)
	listeners := map[string]*transport.PipeListener{
		"a.example:5001": transport.NewPipeListener(),
		"b.example:5001": transport.NewPipeListener(),
	}
	b, err := server.New(server.Config{Registry: reg, Logger: quiet}, portal{})
	if err != nil {
		log.Fatal(err)
	}
	a, err := server.New(server.Config{Registry: reg, Logger: quiet}, portal{to: b, toAddr: "b.example:5001"})
	if err != nil {
		log.Fatal(err)
	}
	go a.Serve(listeners["a.example:5001"])
	go b.Serve(listeners["b.example:5001"])
	defer a.Shutdown(context.Background())
	defer b.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := listeners["a.example:5001"].Dial(ctx)
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(conn, client.Options{Registry: reg, Logger: quiet, Reconnect: client.ReconnectOptions{
		Dial: listeners["a.example:5001"].Dial,
		DialAddr: func(ctx context.Context, addr string) (net.Conn, error) {
			if ln := listeners[addr]; ln != nil {
				return ln.Dial(ctx)
			}
			return nil, fmt.Errorf("no server at %s", addr)
		},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.LoginGuest(ctx); err != nil {
		log.Fatal(err)
	}
	moved, said := false, false
	c.OnMoved(func(addr string) {
		fmt.Println("moved to", addr)
		moved = true
		c.Send(&Say{Text: "hello from the other side"}) // Send works from OnResumed (and OnMoved) on
	})
	client.On(c, func(m *Said) {
		fmt.Printf("%s says: %s\n", m.From, m.Text)
		said = true
	})
	c.Send(&Say{Text: "portal"})
	for !moved || !said { // the game loop
		if _, err := c.Poll(); err != nil {
			log.Fatal(err)
		}
		if ctx.Err() != nil {
			log.Fatal("no move")
		}
		time.Sleep(time.Second / 60)
	}
	fmt.Println("now on", c.Addr(), "with", c.Stats().Moves, "move")
	// Output:
	// moved to b.example:5001
	// guest-1 says: hello from the other side
	// now on b.example:5001 with 1 move
}
