package transport

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func socketRTT(sc syscall.Conn) (time.Duration, bool) {
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info *unix.TCPInfo
	cerr := raw.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if cerr != nil || err != nil || info.Rtt == 0 {
		return 0, false // not TCP (a Unix socket), closed, or no sample yet
	}
	return time.Duration(info.Rtt) * time.Microsecond, true
}
