//go:build linux

package loadtest

import (
	"os"
	"testing"
	"time"
)

func TestProcReadings(t *testing.T) {
	pid := os.Getpid()
	cpu0, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	self0, err := procCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	// Burn about 100 ms of CPU: at 10 ms resolution that must show.
	x := 0
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
		for i := range 1000 {
			x += i
		}
	}
	_ = x
	cpu1, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	if d := cpu1 - cpu0; d < 0.02 || d > 60 {
		t.Errorf("CPU seconds went from %v to %v", cpu0, cpu1)
	}
	if self1, _ := procCPU(0); self1 <= self0 {
		t.Errorf("self CPU seconds went from %v to %v", self0, self1)
	}
	rss, err := procRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<40 {
		t.Errorf("RSS %d bytes is implausible", rss)
	}
	if _, err := procCPU(1 << 30); err == nil {
		t.Error("no error for a nonexistent pid")
	}
}
