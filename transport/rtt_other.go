//go:build !linux

package transport

import (
	"syscall"
	"time"
)

// socketRTT has no portable source outside Linux's TCP_INFO.
func socketRTT(syscall.Conn) (time.Duration, bool) { return 0, false }
