package replica

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestTimesFollowTheTickRate: a World turns its times into ticks at
// Config.TickRate, the rate of the server it runs under. A resync cycle
// of ResyncPeriod takes ResyncPeriod*TickRate ticks, and ReportDesync's
// window (at least 30 s) is counted in the same ticks; 0 means
// DefaultTickRate.
func TestTimesFollowTheTickRate(t *testing.T) {
	if w := newTestWorld(t, Config{}); w.Config().TickRate != DefaultTickRate {
		t.Fatalf("default tick rate %d", w.Config().TickRate)
	}
	if _, err := NewWorld(Config{TickRate: -1}, testKinds...); err == nil {
		t.Fatal("a negative tick rate was accepted")
	}
	for _, rate := range []int{10, 20, 30, 60} {
		t.Run(fmt.Sprintf("%dHz", rate), func(t *testing.T) {
			w := newTestWorld(t, Config{TickRate: rate, ResyncPeriod: 2 * time.Second, SliceSize: 1})
			me := w.Spawn(1, 1, 100, 100, "me")
			w.Spawn(1, 1, 120, 100, "other")
			r := &rec{enc: 0}
			v := w.AddViewer(r)
			v.Follow(me)
			snapEnd, slices := -1, []int{}
			for tick := 0; len(slices) < 4; tick++ {
				if tick > 10*rate {
					t.Fatalf("%d resync slices in 10 s", len(slices))
				}
				w.Flush()
				for _, m := range r.end() {
					switch m.(type) {
					case *SnapEnd:
						snapEnd = tick
					case *SliceEnd:
						slices = append(slices, tick)
					}
				}
			}
			// Two entities, one a slice (SliceSize 1): a slice every
			// ResyncPeriod/2, the first one that long after the snapshot.
			want := rate // ticks in ResyncPeriod/2 = 1 s
			if snapEnd < 0 || slices[0]-snapEnd != want {
				t.Errorf("snapshot at tick %d, first slice at %d; want %d ticks (1 s) later", snapEnd, slices[0], want)
			}
			for i := 1; i < len(slices); i++ {
				if d := slices[i] - slices[i-1]; d != want {
					t.Errorf("slices %d ticks apart, want %d (1 s)", d, want)
				}
			}

			// ReportDesync logs at most 10 reports a window of 30 s.
			var logs strings.Builder
			log := slog.New(slog.NewTextHandler(&logs, nil))
			logged := func() int {
				n := 0
				for range 11 {
					if w.ReportDesync(log, v, &DesyncReport{ID: uint32(me), Reason: ReasonFields}) {
						n++
					}
				}
				return n
			}
			first := logged()
			// 20 s later: the same window, whatever the rate.
			for range 20 * rate {
				w.Flush()
			}
			second := logged()
			// The start of the next 30 s window.
			for w.tick%uint32(30*rate) != 0 {
				w.Flush()
			}
			if third := logged(); first != 10 || second != 0 || third != 10 {
				t.Errorf("logged %d of 11 reports, 20 s later %d, in the next 30 s window %d; want 10, 0 and 10", first, second, third)
			}
		})
	}
}
