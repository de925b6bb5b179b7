package transport_test

import (
	"bufio"
	"context"
	"fmt"
	"net"

	"github.com/tickwire/tickwire/transport"
)

func ExampleListenTCP() {
	// Port 0 picks a free port; read it back from Addr.
	ln, err := transport.ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept() // TCP_NODELAY is set
		if err != nil {
			return
		}
		defer conn.Close()
		line, _ := bufio.NewReader(conn).ReadString('\n')
		fmt.Fprintf(conn, "you said %s", line)
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "hello\n")
	reply, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Print(reply)
	// Output: you said hello
}

func ExampleNewPipeListener() {
	// An in-memory listener: a server's Serve takes it like any other, and
	// Dial returns the client end. No sockets, no ports.
	ln := transport.NewPipeListener()
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		line, _ := bufio.NewReader(conn).ReadString('\n')
		fmt.Fprintf(conn, "%s says %s", conn.RemoteAddr(), line)
	}()

	conn, err := ln.Dial(context.Background())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "hi\n")
	reply, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Print(reply)
	// Output: pipe:1 says hi
}
