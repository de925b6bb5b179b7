package bot_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/bot"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// TestBotsAtEveryTickRate has two bots play the arena served at 10, 20,
// 30 and 60 Hz (each rate a short run of its own, in parallel): each bot
// takes the rate from LIMITS and predicts its steps at it (arena.Step), so
// the server refuses none of its moves, its prediction never snaps back,
// and its model never disagrees with the server's world.
func TestBotsAtEveryTickRate(t *testing.T) {
	t.Parallel()
	for _, rate := range []int{10, 20, 30, 60} {
		t.Run(fmt.Sprintf("%dHz", rate), func(t *testing.T) {
			t.Parallel()
			s := startArena(t, serverOpts{bots: 4, tick: rate, seed: uint64(rate), sync: replica.Config{ResyncPeriod: time.Second}})
			done := func(reps []bot.Report) bool {
				for _, r := range reps {
					if r.ResyncCycles < 2 || r.Distance < 100 {
						return false
					}
				}
				return true
			}
			res := playUntil(t, s.addr, 3*time.Second, 12*time.Second, done,
				bot.Config{Seed: uint64(rate), Encoding: msg.MsgPack},
				bot.Config{Seed: uint64(rate + 1), Encoding: msg.Text})
			checkClean(t, s, res)
			for _, r := range res {
				rep := r.rep
				if rep.TickRate != rate {
					t.Errorf("%s predicted at %d Hz on a %d Hz server", rep.Name, rep.TickRate, rate)
				}
				if rep.ResyncCycles < 2 || rep.Distance < 100 {
					t.Errorf("%s: %d full resyncs verified, %d units driven in %v; want 2 and 100", rep.Name, rep.ResyncCycles, rep.Distance, rep.Elapsed)
				}
				if n := rep.Refusals["too_fast"] + rep.Refusals["wall"] + rep.Refusals["out_of_bounds"]; n != 0 {
					t.Errorf("%s: %d moves refused: %v", rep.Name, n, rep.Refusals)
				}
				// A destroyed tank's inputs in flight are refused as "dead" and
				// their ACKs correct the prediction: the only snaps allowed.
				if rep.Snaps > rep.Refusals["dead"] || rep.Deaths == 0 && rep.Snaps != 0 {
					t.Errorf("%s: %d prediction snaps (%d deaths, %d moves refused as dead)", rep.Name, rep.Snaps, rep.Deaths, rep.Refusals["dead"])
				}
			}
			if l := s.logs.Lines("suspicious move"); len(l) > 0 {
				t.Errorf("the server found %d moves suspicious, first: %s", len(l), l[0])
			}
		})
	}
}
