package servertest

import "time"

// SetWaitLimit shortens the bound on every wait, for tests of failures
// that only show when a wait runs out. It returns the old limit.
func SetWaitLimit(d time.Duration) time.Duration {
	old := waitLimit
	waitLimit = d
	return old
}
