package attack

import (
	"net"
	"net/netip"
	"syscall"
	"time"
)

// slowDialer returns a dialer from local whose sockets have a small
// receive buffer and a small MSS, so that a client that stops reading
// fills the server's socket buffers quickly instead of after megabytes
// (on loopback the MSS is 64 KiB and send buffers grow with it).
func slowDialer(local netip.Addr) *net.Dialer {
	d := bind(local, 3*time.Second)
	d.Control = func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048); serr != nil {
				return
			}
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536)
		})
		if err != nil {
			return err
		}
		return serr
	}
	return d
}
