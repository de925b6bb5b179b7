package transport

import (
	"context"
	"net"
	"syscall"
	"time"
)

// RTT returns the kernel's smoothed round-trip time estimate for the TCP
// socket under nc (TCP_INFO's tcpi_rtt on Linux): what the server sees of
// the path to the client, measured by TCP's own acknowledgements, with no
// message of its own on the wire. It looks through TLS, the PROXY protocol
// and WebSocket (event-loop WebSockets always; WebSockets on goroutines when
// the HTTP server's ConnContext is ConnContext). ok is false when there is
// no TCP socket under nc (pipes, the link conditioner, a WebSocket whose
// socket is unknown), when the kernel has no estimate yet, and on systems
// other than Linux.
//
// Behind a reverse proxy the socket is the proxy's, so RTT is the time to
// the proxy. The call is one system call: read it now and then (the server
// caches it for rttRefresh), not per message.
func RTT(nc net.Conn) (time.Duration, bool) {
	for range 8 { // layers: TLS over PROXY over TCP is three
		switch c := nc.(type) {
		case interface{ RTT() (time.Duration, bool) }: // the event loop's
			return c.RTT()
		case syscall.Conn:
			return socketRTT(c)
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
			if nc == nil {
				return 0, false
			}
		default:
			return 0, false
		}
	}
	return 0, false
}

// rawConnKey is ConnContext's context key.
type rawConnKey struct{}

// ConnContext is for http.Server.ConnContext: it keeps the accepted socket
// in the request's context, so that WebSocketHandler's connections can
// report their RTT. Without it they report none.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, rawConnKey{}, c)
}

// rawConn returns the socket ConnContext kept for a request, or nil.
func rawConn(ctx context.Context) net.Conn {
	c, _ := ctx.Value(rawConnKey{}).(net.Conn)
	return c
}
