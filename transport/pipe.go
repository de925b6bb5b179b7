package transport

import (
	"context"
	"errors"
	"net"
	"sync"
)

// PipeListener is an in-memory net.Listener: Dial returns the client end of
// a synchronous net.Pipe whose server end is returned by Accept. Tests run a
// whole server and its clients this way without sockets.
type PipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	next      int
	mu        sync.Mutex
}

// NewPipeListener returns an open PipeListener.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// PipeAddr is the address of both ends of a pipe connection.
type PipeAddr struct{ ID int }

// Network returns "pipe".
func (PipeAddr) Network() string { return "pipe" }

// String returns "pipe:N".
func (a PipeAddr) String() string { return "pipe:" + itoa(a.ID) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Accept waits for a Dial.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Dial connects to the listener. It blocks until Accept takes the
// connection, ctx ends, or the listener closes.
func (l *PipeListener) Dial(ctx context.Context) (net.Conn, error) {
	l.mu.Lock()
	l.next++
	id := l.next
	l.mu.Unlock()
	server, client := net.Pipe()
	addr := PipeAddr{id}
	s, c := &pipeConn{server, addr}, &pipeConn{client, addr}
	select {
	case l.conns <- s:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, errors.New("transport: pipe listener closed")
	}
}

// Close stops Accept and Dial.
func (l *PipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

// Addr returns a PipeAddr.
func (l *PipeListener) Addr() net.Addr { return PipeAddr{} }

// pipeConn gives each pipe a distinct address for logs.
type pipeConn struct {
	net.Conn
	addr PipeAddr
}

func (c *pipeConn) LocalAddr() net.Addr  { return c.addr }
func (c *pipeConn) RemoteAddr() net.Addr { return c.addr }
