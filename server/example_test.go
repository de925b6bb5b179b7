package server_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// Hello is a message a client sends; Greeting the game's answer.
type Hello struct {
	Name string `tw:"name,max=32"`
}

type Greeting struct {
	Text string `tw:"text,max=100,rest"`
}

// greeter is a complete Game: it answers HELLO with a GREETING.
type greeter struct{ h server.Handlers }

func (g *greeter) Join(t *server.Tick, p *server.Player) error { return nil }
func (g *greeter) Update(t *server.Tick)                       { g.h.Dispatch(t) }
func (g *greeter) Leave(t *server.Tick, p *server.Player, reason error) {
}

func ExampleNew() {
	reg := msg.NewRegistry()
	msg.Define[Hello](reg, msg.Info{ID: 32, Name: "HELLO", Dir: msg.ToServer, Doc: "say hello", Causes: []string{"GREETING"}})
	msg.Define[Greeting](reg, msg.Info{ID: 33, Name: "GREETING", Dir: msg.ToClient})
	g := &greeter{}
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Hello) error {
		p.Send(&Greeting{Text: "hello " + m.Name + ", you are " + p.Name()})
		return nil
	})
	srv, err := server.New(server.Config{Registry: reg, Logger: slog.New(slog.DiscardHandler)}, g)
	if err != nil {
		panic(err)
	}
	ln := transport.NewPipeListener() // or transport.ListenTCP
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	// A client: what nc would show.
	conn, err := ln.Dial(context.Background())
	if err != nil {
		panic(err)
	}
	r := bufio.NewReader(conn)
	fmt.Fprint(conn, "AUTH guest\nHELLO ann\n")
	for i := 0; i < 4; i++ {
		line, _ := r.ReadString('\n')
		fmt.Print(redactSeat(line))
	}
	fmt.Fprint(conn, "QUIT\n")
	line, _ := r.ReadString('\n')
	fmt.Print(line)
	// Output:
	// WELCOME 1 guest-1
	// SEAT <token> 30000
	// LIMITS 20 4096
	// GREETING hello ann, you are guest-1
	// BYE quit
}

// redactSeat hides the random seat token, so the example's output is the
// same every run.
func redactSeat(line string) string {
	if f := strings.Fields(line); len(f) == 3 && f[0] == "SEAT" {
		return "SEAT <token> " + f[2] + "\n"
	}
	return line
}

// Jump asks to jump; Jumped confirms it. Wave has no handler.
type Jump struct {
	Height int32 `tw:"height,min=0"`
}

type Jumped struct {
	Height int32 `tw:"height"`
}

type Wave struct{}

type jumper struct{ h server.Handlers }

func (g *jumper) Join(t *server.Tick, p *server.Player) error { return nil }
func (g *jumper) Update(t *server.Tick)                       { g.h.Dispatch(t) }
func (g *jumper) Leave(t *server.Tick, p *server.Player, reason error) {
}

func ExampleHandle() {
	reg := msg.NewRegistry()
	msg.Define[Jump](reg, msg.Info{ID: 32, Name: "JUMP", Dir: msg.ToServer, Causes: []string{"JUMPED", "ERR"}})
	msg.Define[Jumped](reg, msg.Info{ID: 33, Name: "JUMPED", Dir: msg.ToClient})
	msg.Define[Wave](reg, msg.Info{ID: 34, Name: "WAVE", Dir: msg.ToServer})

	// One typed function per message instead of a switch. A *Refusal
	// becomes ERR <code> <text>, answering the request's @id.
	g := &jumper{}
	server.Handle(&g.h, func(t *server.Tick, p *server.Player, m *Jump) error {
		if m.Height > 3 {
			return server.Refuse("too_high", "%d is higher than 3", m.Height)
		}
		p.Send(&Jumped{Height: m.Height})
		return nil
	})

	srv, err := server.New(server.Config{Registry: reg, Logger: slog.New(slog.DiscardHandler)}, g)
	if err != nil {
		panic(err)
	}
	ln := transport.NewPipeListener()
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	conn, err := ln.Dial(context.Background())
	if err != nil {
		panic(err)
	}
	r := bufio.NewReader(conn)
	fmt.Fprint(conn, "AUTH guest\nJUMP 2\n@5 JUMP 9\nWAVE\n")
	for i := 0; i < 6; i++ {
		line, _ := r.ReadString('\n')
		fmt.Print(redactSeat(line))
	}
	fmt.Fprint(conn, "QUIT\n")
	line, _ := r.ReadString('\n')
	fmt.Print(line)
	// Output:
	// WELCOME 1 guest-1
	// SEAT <token> 30000
	// LIMITS 20 4096
	// JUMPED 2
	// @5 ERR too_high 9 is higher than 3
	// ERR unhandled WAVE is not handled by this game
	// BYE quit
}

// Post hands work from another goroutine (a network answer, say) to the
// tick, without waiting for it.
func ExampleServer_Post() {
	srv, err := server.New(server.Config{Logger: slog.New(slog.DiscardHandler)}, &greeter{})
	if err != nil {
		panic(err)
	}
	srv.ManualTicks() // this example runs the ticks itself
	answered := make(chan struct{})
	go func() {
		srv.Post(func(t *server.Tick) { fmt.Println("on the tick: the world is ours to change") })
		close(answered)
	}()
	<-answered
	srv.RunTick()
	srv.Shutdown(context.Background())
	// Output: on the tick: the world is ours to change
}
