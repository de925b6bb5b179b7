// Package transport provides the byte streams tickwire serves: TCP sockets,
// WebSocket connections for browsers, and in-memory pipes for tests. Each
// is a net.Listener or net.Conn, so the server treats them alike.
package transport

import (
	"context"
	"net"
	"syscall"
)

// DefaultTCPAddr is where the game server listens by default.
const DefaultTCPAddr = "127.0.0.1:5001"

// ListenTCP listens on addr ("host:port"; port 0 picks a free port, read it
// back from Addr) with SO_REUSEADDR set, so a restarted server can bind at
// once instead of waiting out TIME_WAIT. Accepted connections have
// TCP_NODELAY set, since games send small messages that must not wait for
// Nagle's algorithm.
func ListenTCP(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: setReuseAddr}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return tcpListener{ln.(*net.TCPListener)}, nil
}

func setReuseAddr(network, address string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

type tcpListener struct{ *net.TCPListener }

// Accept returns the next connection with TCP_NODELAY set.
func (l tcpListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	// Go enables TCP_NODELAY by default; set it explicitly so the contract
	// does not depend on that default.
	if err := c.SetNoDelay(true); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
