package servertest_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/servertest"
	"github.com/tickwire/tickwire/transport"
)

// The examples' game: HELLO is answered with GREETING, tagged with the
// request id; everyone hears ARRIVED when a player joins.
type (
	Hello struct {
		Name string `tw:"name,max=32"`
	}
	Greeting struct {
		Text string `tw:"text,max=100,rest"`
	}
	Arrived struct {
		Name string `tw:"name,max=64"`
	}
)

func helloRegistry() *msg.Registry {
	reg := msg.NewRegistry()
	msg.Define[Hello](reg, msg.Info{ID: msg.FirstGameID, Name: "HELLO", Dir: msg.ToServer, Causes: []string{"GREETING"}})
	msg.Define[Greeting](reg, msg.Info{ID: msg.FirstGameID + 1, Name: "GREETING", Dir: msg.ToClient})
	msg.Define[Arrived](reg, msg.Info{ID: msg.FirstGameID + 2, Name: "ARRIVED", Dir: msg.ToClient})
	return reg
}

type hello struct{ h server.Handlers }

func newHello() *hello {
	g := &hello{}
	server.HandleInput(&g.h, func(t *server.Tick, in server.Input, m *Hello) error {
		in.Player.Reply(in, &Greeting{Text: "hello " + m.Name + ", I am " + in.Player.Name()})
		return nil
	})
	return g
}

func (g *hello) Join(t *server.Tick, p *server.Player) error {
	t.Broadcast(&Arrived{Name: p.Name()}, nil) // everyone but p, who is not in yet
	return nil
}
func (g *hello) Update(t *server.Tick)                                { g.h.Dispatch(t) }
func (g *hello) Leave(t *server.Tick, p *server.Player, reason error) {}

// test runs body as go test runs a test function. In a real test there is
// no need for it: body's t is the *testing.T the test is given.
func test(body func(t testing.TB)) {
	t := &exampleT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.cleanup()
		body(t)
	}()
	<-done
}

// exampleT stands in for a *testing.T outside go test: it prints failures.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (t *exampleT) Helper()                           {}
func (t *exampleT) Log(args ...any)                   {}
func (t *exampleT) Logf(format string, args ...any)   {}
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Errorf(format string, args ...any) { fmt.Printf("FAIL: "+format+"\n", args...) }
func (t *exampleT) Fatalf(format string, args ...any) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	runtime.Goexit()
}

func (t *exampleT) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// A game author's test: two players in different encodings, one tick at a
// time.
func Example() {
	test(func(t testing.TB) { // func TestHello(t *testing.T) {
		s := servertest.New(t, server.Config{Registry: helloRegistry()}, newHello())
		ann, bob := s.Dial(msg.Text), s.Dial(msg.MsgPack)
		ann.Login()
		bob.Login()
		ann.Expect(&Arrived{Name: bob.Name()})

		bob.SendLine("@9 HELLO bob")
		ann.ExpectNothing() // HELLO waits for the next tick
		s.Tick()
		fmt.Println(bob.ExpectLine("@9 GREETING"))
		ann.ExpectNothing()
	})
	// Output:
	// @9 GREETING hello bob, I am guest-2
}

func ExampleNew() {
	test(func(t testing.TB) {
		cfg := server.Config{Registry: helloRegistry(), TickRate: 30}
		s := servertest.New(t, cfg, newHello())
		fmt.Println(s.Server().Config().TickRate, s.Server().Config().CheckCauses)
	})
	// Output:
	// 30 true
}

func ExampleServer_Tick() {
	test(func(t testing.TB) {
		start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		s := servertest.New(t, server.Config{Registry: helloRegistry()}, newHello(), servertest.StartAt(start))
		c := s.Dial(msg.JSON)
		c.Login() // runs the first tick
		c.Send(&Hello{Name: "ann"})
		c.Send(&Hello{Name: "bob"})
		s.Tick() // both HELLOs are in this tick
		c.Expect(&Greeting{Text: "hello ann, I am guest-1"})
		c.Expect(&Greeting{Text: "hello bob, I am guest-1"})
		fmt.Println(s.Now().Sub(start)) // two ticks at 20 Hz
	})
	// Output:
	// 100ms
}

func ExampleServer_Dial() {
	test(func(t testing.TB) {
		s := servertest.New(t, server.Config{Registry: helloRegistry()}, newHello())
		for _, enc := range []msg.Encoding{msg.Text, msg.JSON, msg.MsgPack} {
			c := s.Dial(enc)
			w := c.Login()
			c.SendRID(&Hello{Name: "you"}, 3)
			s.Tick()
			c.Drain() // the ARRIVED of later players
			fmt.Println(enc, w.Name, c.Encoding())
		}
	})
	// Output:
	// text guest-1 text
	// json guest-2 json
	// msgpack guest-3 msgpack
}

func ExampleClient_Expect() {
	test(func(t testing.TB) {
		s := servertest.New(t, server.Config{Registry: helloRegistry()}, newHello())
		c := s.Dial(msg.Text)
		c.Login()
		c.SendRID(&Hello{Name: "ann"}, 4)
		s.Tick()
		c.Expect(&Greeting{Text: "wrong"}) // fails, showing what came
	})
	// Output:
	// FAIL: servertest: client guest-1 (text): Expect GREETING wrong
	// 	got:  @4 GREETING hello ann, I am guest-1
}

func ExampleClient_ExpectReply() {
	test(func(t testing.TB) {
		s := servertest.New(t, server.Config{Registry: helloRegistry()}, newHello())
		c := s.Dial(msg.MsgPack)
		c.Login()
		c.SendLine("@4 HELLO ann") // a MessagePack client sends the line's message in MessagePack
		s.Tick()
		env := c.ExpectReply(4, &Greeting{Text: "hello ann, I am guest-1"})
		fmt.Println(env.Type.Name, env.RID)
	})
	// Output:
	// GREETING 4
}

func ExampleClient_ExpectLine() {
	test(func(t testing.TB) {
		s := servertest.New(t, server.Config{Registry: helloRegistry()}, newHello())
		c := s.Dial(msg.JSON)
		c.Login()
		c.SendLine("@5 HELLO ann") // sent as {"type":"HELLO","rid":5,"name":"ann"}
		s.Tick()
		fmt.Println(c.ExpectLine("@5 GREETING")) // the JSON answer, as a text line
	})
	// Output:
	// @5 GREETING hello ann, I am guest-1
}

func ExampleClient_ExpectNothing() {
	test(func(t testing.TB) {
		s := servertest.New(t, server.Config{Registry: helloRegistry()}, newHello())
		ann := s.Dial(msg.Text)
		ann.Login()
		bob := s.Dial(msg.Text)
		bob.Login()
		ann.ExpectNothing()
	})
	// Output:
	// FAIL: servertest: client guest-1 (text): ExpectNothing, but these arrived:
	// 	      ARRIVED guest-2
}

func ExampleClient_Drop() {
	test(func(t testing.TB) {
		s := servertest.New(t, server.Config{Registry: helloRegistry(), SeatHold: time.Minute}, newHello())
		c := s.Dial(msg.Text)
		w := c.Login()
		c.Drop()
		s.Tick() // the server holds the seat
		again := c.Resume()
		fmt.Println(again.ID == w.ID, again.Name)
	})
	// Output:
	// true guest-1
}

func ExampleReceive() {
	test(func(t testing.TB) {
		s := servertest.New(t, server.Config{Registry: helloRegistry()}, newHello())
		ann := s.Dial(msg.Text)
		ann.Login()
		s.Dial(msg.JSON).Login()
		a := servertest.Receive[Arrived](ann)
		fmt.Println(a.Name)
	})
	// Output:
	// guest-2
}

func ExampleDialLine() {
	test(func(t testing.TB) {
		// A server on its own clock, as a program's main runs it.
		srv, err := server.New(server.Config{Registry: helloRegistry(), Logger: slog.New(slog.DiscardHandler)}, newHello())
		if err != nil {
			t.Fatalf("%v", err)
		}
		ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatalf("%v", err)
		}
		go srv.Serve(ln)
		defer srv.Shutdown(context.Background())

		c := servertest.DialLine(t, ln.Addr().String())
		fmt.Println(c.Login())
		c.Send("@1 HELLO nc")
		fmt.Println(c.ReadLine())
		c.Send("QUIT")
		fmt.Println(c.ExpectClosed())
	})
	// Output:
	// WELCOME 1 guest-1
	// @1 GREETING hello nc, I am guest-1
	// [BYE quit]
}

// leaver is the hello game telling when players leave.
type leaver struct{ *hello }

func (g leaver) Leave(t *server.Tick, p *server.Player, reason error) {
	fmt.Printf("tick %d: %s left: %v\n", t.N, p.Name(), reason)
}

func ExampleServer_Advance() {
	test(func(t testing.TB) {
		cfg := server.Config{Registry: helloRegistry(), SeatHold: 30 * time.Second}
		s := servertest.New(t, cfg, leaver{newHello()})
		c := s.Dial(msg.Text)
		c.Login()
		c.Drop()
		s.Tick() // the seat is held for 30 s of the manual clock
		s.Advance(29 * time.Second)
		s.Tick()
		s.Advance(time.Second)
		s.Tick()
	})
	// Output:
	// tick 4: guest-1 left: seat_expired
}

func ExampleClient_Close() {
	test(func(t testing.TB) {
		s := servertest.New(t, server.Config{Registry: helloRegistry()}, leaver{newHello()})
		c := s.Dial(msg.JSON)
		c.Login()
		c.Close()
		s.Tick()
		fmt.Println("closed")
	})
	// Output:
	// tick 2: guest-1 left: quit
	// closed
}
