//go:build !linux

package loadtest

import "errors"

var errNoProc = errors.New("loadtest: process CPU/RSS readings need Linux /proc")

func procCPU(pid int) (float64, error) { return 0, errNoProc }
func procRSS(pid int) (int64, error)   { return 0, errNoProc }
func openFileLimit() (uint64, error)   { return 0, errNoProc }
