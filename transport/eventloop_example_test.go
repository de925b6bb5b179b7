package transport_test

import (
	"bufio"
	"context"
	"fmt"
	"net"

	"github.com/tickwire/tickwire/transport"
)

// upper answers every piece of input with its upper-case form.
type upper struct{ lc *transport.LoopConn }

func (u upper) OnOpen() {}
func (u upper) OnData(p []byte) {
	// Room for a WebSocket header in front, so WriteMessage never copies.
	buf := make([]byte, transport.WebSocketHeaderRoom, transport.WebSocketHeaderRoom+len(p))
	for _, c := range p {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf = append(buf, c)
	}
	u.lc.WriteMessage(buf, transport.WebSocketHeaderRoom)
}
func (u upper) OnClose(error) {}

func ExampleNewLoop() {
	loop, err := transport.NewLoop()
	if err != nil {
		panic(err)
	}
	defer loop.Stop()
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		// From here the socket has no goroutine of its own.
		loop.Add(nc, func(lc *transport.LoopConn) transport.LoopHandler { return upper{lc} })
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "hello\n")
	reply, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Print(reply)
	// Output: HELLO
}
