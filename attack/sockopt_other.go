//go:build !linux

package attack

import (
	"net"
	"net/netip"
	"time"
)

// slowDialer returns a dialer from local. (On Linux it also shrinks the
// socket's receive buffer and MSS so the slow consumer is found sooner.)
func slowDialer(local netip.Addr) *net.Dialer { return bind(local, 3*time.Second) }
