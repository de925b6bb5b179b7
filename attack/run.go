package attack

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

const (
	// defaultMaxP99 is the honest player's p99 round trip an attack allows
	// unless it says otherwise.
	defaultMaxP99 = 100 * time.Millisecond
	// attackTimeout bounds one attack, whatever it does.
	attackTimeout = 4 * time.Minute
	// settleConns and settleGoroutines are how long the server has, after
	// an attack, to bring its connection and goroutine counts back.
	settleConns      = 6 * time.Second
	settleGoroutines = 8 * time.Second
	// goroutineSlack is how many goroutines above the level before the
	// attack still count as back (timers, lingering writers, the metrics
	// scrape itself).
	goroutineSlack = 10
	// minWindow is the shortest time the honest player measures, however
	// quick the attack.
	minWindow = time.Second
)

// longOnly are the attacks that run only with Config.Long, and why.
var longOnly = map[string]string{
	"conn_flood": "logs in MaxConnsPerAddr connections at the per-address connection rate (about 15 s); run with long mode (TICKWIRE_LONG_TESTS=1 or --long)",
}

// Run runs the attack named name with an honest player measuring, checks
// that nothing was left behind, and returns the result.
func (s *Suite) Run(ctx context.Context, name string) Result {
	r := Result{Name: name}
	a, ok := find(name)
	if !ok {
		r.Failures = []string{"no such attack"}
		return r
	}
	switch {
	case a.needs&needHTTP != 0 && s.cfg.HTTP == "":
		r.Skipped, r.Pass = "needs the web listener address (--http)", true
		return r
	case a.needs&needAuth != 0 && s.cfg.Auth == "":
		r.Skipped, r.Pass = "needs the account service address (--auth)", true
		return r
	case longOnly[name] != "" && !s.cfg.Long:
		r.Skipped, r.Pass = longOnly[name], true
		return r
	}
	if s.cfg.Progress != nil {
		fmt.Fprintf(s.cfg.Progress, "attack: %s: %s\n", a.Name, a.Summary)
	}
	start := time.Now()
	r.Honest.Limit = a.maxP99
	if r.Honest.Limit == 0 {
		r.Honest.Limit = defaultMaxP99
	}
	h, err := startHonest(ctx, s.cfg.Addr)
	if err != nil {
		r.Failures = []string{"honest player could not log in: " + err.Error()}
		r.Elapsed = time.Since(start)
		return r
	}
	e := &Env{s: s, cfg: &s.cfg, lim: s.lim, h: h}

	conns0, connErr := h.serverConns(ctx)
	gor0, gorErr := -1, error(nil)
	if s.cfg.Goroutines != nil {
		gor0, gorErr = s.cfg.Goroutines(ctx)
	}
	mark := h.mark()
	attackStart := time.Now()
	actx, cancel := context.WithTimeout(ctx, attackTimeout)
	func() {
		defer func() {
			if p := recover(); p != nil {
				e.failf("attack panicked: %v\n%s", p, debug.Stack())
			}
		}()
		a.run(actx, e)
	}()
	cancel()
	if d := time.Since(attackStart); d < minWindow {
		sleep(ctx, minWindow-d) // let the honest player measure something
	}
	r.Honest = withLimit(h.window(mark), r.Honest.Limit)
	r.LeftOpen = e.finish()
	if r.LeftOpen > 0 {
		e.failf("%d attacker sockets still open at the end, not closed by the server", r.LeftOpen)
	}

	// Nothing left behind on the server: connections and goroutines back
	// to their levels before the attack.
	if connErr == nil {
		n, ok := settle(ctx, settleConns, func() (int, error) { return h.serverConns(ctx) }, conns0)
		if ok {
			e.notef("server connections back to %d (before: %d)", n, conns0)
		} else {
			e.failf("server connections %d, %ds after the attack (before: %d)", n, int(settleConns.Seconds()), conns0)
		}
	} else {
		e.notef("server connection count unknown: %v", connErr)
	}
	if s.cfg.Goroutines != nil && gorErr == nil {
		n, ok := settle(ctx, settleGoroutines, func() (int, error) { return s.cfg.Goroutines(ctx) }, gor0+goroutineSlack)
		if ok {
			e.notef("server goroutines %d (before: %d)", n, gor0)
		} else {
			e.failf("server goroutines %d, %ds after the attack (before: %d, slack %d)", n, int(settleGoroutines.Seconds()), gor0, goroutineSlack)
		}
	} else if gorErr != nil {
		e.notef("server goroutine count unknown: %v", gorErr)
	}
	if lost, why := h.disconnected(); lost && !r.Honest.Disconnected {
		r.Honest.Disconnected, r.Honest.Reason = true, why+" (after the attack)"
	}
	h.stop()

	if r.Honest.Disconnected {
		e.failf("the honest player was disconnected: %s", r.Honest.Reason)
	}
	if r.Honest.Pongs == 0 {
		e.failf("the honest player got no PONG at all")
	} else if r.Honest.P99 >= r.Honest.Limit {
		e.failf("honest p99 %s is not under %s", ms(r.Honest.P99), ms(r.Honest.Limit))
	}
	e.mu.Lock()
	r.Observed, r.Failures = e.observed, e.failures
	e.mu.Unlock()
	r.Pass = len(r.Failures) == 0
	r.Elapsed = time.Since(start)
	return r
}

func withLimit(s HonestStats, limit time.Duration) HonestStats {
	s.Limit = limit
	return s
}

// settle polls get until it returns at most want or within passes; it
// returns the last value and whether it got there.
func settle(ctx context.Context, within time.Duration, get func() (int, error), want int) (int, bool) {
	deadline := time.Now().Add(within)
	last := -1
	for i := 0; i < 1000; i++ {
		v, err := get()
		if err == nil {
			last = v
			if v <= want {
				return v, true
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return last, false
		}
		sleep(ctx, 250*time.Millisecond)
	}
	return last, false
}
