package bot

import (
	"testing"
	"time"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/replica"
)

// TestNoteTankComparable: what the bot notes at a drop marks as not
// comparable every part of the tank an unanswered action may have
// changed. Taking gold scores, so a recent TAKE makes the score moot as
// well as the inventory (a CI run failed on a gold TAKE applied unseen).
func TestNoteTankComparable(t *testing.T) {
	now := time.Now()
	long := now.Add(-10 * SettleTime)
	recent := now.Add(-SettleTime / 2)
	for _, c := range []struct {
		name               string
		shot, chest        time.Time
		pending            bool
		wantScore, wantInv bool
	}{
		{"settled", long, long, false, true, true},
		{"recent shot", recent, long, false, false, true},
		{"recent TAKE or PUT", long, recent, false, false, false},
		{"chest answer pending", long, long, true, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBot(Config{})
			b.m = replica.NewModel()
			b.m.Apply(&replica.Enter{ID: 5, Kind: 1, Vals: make([]int32, arena.TankInv0+arena.InvSlots)})
			b.tank = 5
			b.lastRecv, b.lastShot, b.lastChest = now, c.shot, c.chest
			b.chest.pending = c.pending
			b.noteTank()
			if !b.before.ok || b.before.scoreOK != c.wantScore || b.before.invOK != c.wantInv {
				t.Fatalf("ok %v, score comparable %v, inventory comparable %v; want true, %v, %v",
					b.before.ok, b.before.scoreOK, b.before.invOK, c.wantScore, c.wantInv)
			}
		})
	}
}
