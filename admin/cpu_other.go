//go:build !unix

package admin

import "time"

// processCPU returns -1: the process's CPU time is read only on Unix.
func processCPU() time.Duration { return -1 }
