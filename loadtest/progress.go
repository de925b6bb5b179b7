package loadtest

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress prints a status line to Config.Progress once per second.
type progress struct {
	r    *runner
	w    io.Writer
	tty  bool
	t0   time.Time
	done chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	phase string

	lastAt              time.Time
	lastMoves, lastDelv int64
}

func startProgress(r *runner) *progress {
	p := &progress{r: r, w: r.cfg.Progress, t0: time.Now(), done: make(chan struct{}), phase: "start"}
	if p.w == nil {
		return p
	}
	p.tty = isTerminal(p.w)
	p.lastAt = p.t0
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				p.print()
			}
		}
	}()
	return p
}

func (p *progress) setPhase(s string) {
	p.mu.Lock()
	p.phase = s
	p.mu.Unlock()
}

// stop prints a last line and waits for the printing goroutine.
func (p *progress) stop() {
	if p.w == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
	p.setPhase("done")
	p.print()
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) print() {
	r := p.r
	now := time.Now()
	moves, _ := r.movesAndExpected()
	delv := r.delivered()
	dt := now.Sub(p.lastAt).Seconds()
	if dt <= 0 {
		dt = 1
	}
	lat := r.latency()
	p.mu.Lock()
	phase := p.phase
	p.mu.Unlock()
	line := fmt.Sprintf("%5.1fs %-7s bots %d/%d (failed %d, lost %d) | moves/s %.0f | pos/s %.0f | p50 %.1fms p99 %.1fms | errors %d",
		now.Sub(p.t0).Seconds(), phase, r.connected.Load()-r.disconnected.Load(), r.cfg.N, r.failed.Load(), r.disconnected.Load(),
		float64(moves-p.lastMoves)/dt, float64(delv-p.lastDelv)/dt,
		lat.quantile(0.5)/1e3, lat.quantile(0.99)/1e3, r.errorCount())
	p.lastAt, p.lastMoves, p.lastDelv = now, moves, delv
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
