package loadtest

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// sender does all writes (after JOIN) for the bots assigned to it: it paces
// their MOVEs during the window and sends keepalives. There are only a few
// senders (one per CPU), each driving many bots from one loop.
type sender struct {
	r    *runner
	idx  int // position among the n senders
	n    int
	rng  *rand.Rand
	buf  []byte
	bots []*bot // owned by run

	mu       sync.Mutex
	incoming []*bot // registered bots not yet picked up by run

	moves    atomic.Int64
	expected atomic.Int64
	_        [64]byte
}

// add hands a registered bot to the sender.
func (s *sender) add(b *bot) {
	s.mu.Lock()
	s.incoming = append(s.incoming, b)
	s.mu.Unlock()
}

func (s *sender) takeIncoming() {
	s.mu.Lock()
	s.bots = append(s.bots, s.incoming...)
	s.incoming = s.incoming[:0]
	s.mu.Unlock()
}

// pacer spreads the moves of a fixed set of bots evenly in time: the k-th
// move of the sender is due at base + k*gap and goes to bots[k%len(bots)].
type pacer struct {
	bots     []*bot
	base     float64 // ns since epoch
	gap      float64 // ns
	interval int64   // ns between two moves of one bot
	k        int64
}

// slack is how early a due move may be sent rather than sleeping for it.
const slack = 200 * time.Microsecond

func (s *sender) run(ctx context.Context) {
	r := s.r
	defer r.sendersDone.Done()
	kaEvery := min(max(r.cfg.KeepAlive/4, 10*time.Millisecond), time.Second)
	nextKA := nowNS() + int64(kaEvery)
	timer := time.NewTimer(kaEvery)
	defer timer.Stop()
	startCh, stopCh := r.startMoves, r.stopMoves
	var p *pacer
	for {
		select {
		case <-ctx.Done():
			if stopCh != nil {
				r.movesStopped.Done()
			}
			return
		case <-r.stopAll:
			return
		case <-startCh:
			startCh = nil
			p = s.newPacer()
		case <-stopCh:
			stopCh, p = nil, nil
			r.movesStopped.Done()
		case <-timer.C:
		}
		now := nowNS()
		if now >= nextKA {
			s.takeIncoming()
			s.keepalives(now)
			nextKA = now + int64(kaEvery)
		}
		next := nextKA
		if p != nil {
			next = min(next, s.sendDue(p))
		}
		timer.Reset(time.Duration(max(next-nowNS(), 0)))
	}
}

func (s *sender) newPacer() *pacer {
	r := s.r
	if r.cfg.Idle || r.cfg.MoveRate <= 0 {
		return nil
	}
	s.takeIncoming()
	p := &pacer{interval: int64(float64(time.Second) / r.cfg.MoveRate)}
	for _, b := range s.bots {
		if !b.dead.Load() {
			p.bots = append(p.bots, b)
		}
	}
	if len(p.bots) == 0 {
		return nil
	}
	p.gap = float64(p.interval) / float64(len(p.bots))
	// Offset the senders from each other so that their moves interleave.
	p.base = float64(r.windowNS) + p.gap*float64(s.idx)/float64(s.n)
	return p
}

// sendDue sends every move that is due (within slack) and returns when the
// next one is due. If the sender has fallen more than a whole interval
// behind, it skips the missed moves rather than bursting.
func (s *sender) sendDue(p *pacer) (next int64) {
	for s.r.moving.Load() {
		now := nowNS()
		due := int64(p.base + float64(p.k)*p.gap)
		if due > now+int64(slack) {
			return due
		}
		if now-due > p.interval {
			p.k = int64((float64(now) - p.base) / p.gap)
			continue
		}
		b := p.bots[p.k%int64(len(p.bots))]
		p.k++
		if !b.dead.Load() {
			s.sendMove(b, now)
		}
	}
	return nowNS() + int64(time.Hour)
}

func (s *sender) sendMove(b *bot, now int64) {
	b.x += int32(s.rng.IntN(11) - 5)
	b.y += int32(s.rng.IntN(11) - 5)
	t := nowNS() / 1e3
	var buf []byte
	if s.r.cfg.Encoding == EncodingMsgPack {
		buf = appendMPMove(s.buf[:0], b.x, b.y, t)
	} else {
		buf = append(s.buf[:0], "MOVE "...)
		buf = strconv.AppendInt(buf, int64(b.x), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(b.y), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, t, 10)
		buf = append(buf, '\n')
	}
	s.buf = buf
	if !s.write(b, buf, now) {
		return
	}
	b.lastT = t
	b.moves++
	s.moves.Add(1)
	s.expected.Add(b.room.alive.Load() - 1)
}

var (
	keepaliveLine  = []byte("\n")
	keepaliveFrame = []byte{0} // a zero-length binary frame
)

// keepalives sends a blank line to every bot that has been silent for
// KeepAlive, and forgets dead bots.
func (s *sender) keepalives(now int64) {
	live := s.bots[:0]
	for _, b := range s.bots {
		if b.dead.Load() {
			continue
		}
		live = append(live, b)
		if now-b.lastWrite >= int64(s.r.cfg.KeepAlive) {
			if s.r.cfg.Encoding == EncodingMsgPack {
				s.write(b, keepaliveFrame, now)
			} else {
				s.write(b, keepaliveLine, now)
			}
		}
	}
	clear(s.bots[len(live):])
	s.bots = live
}

// write writes one message to b, refreshing its write deadline at most a
// few times per WriteTimeout, and reports success.
func (s *sender) write(b *bot, p []byte, now int64) bool {
	wt := s.r.cfg.WriteTimeout
	if now-b.deadlineAt > int64(min(time.Second, wt/4)) {
		b.deadlineAt = now
		_ = b.conn.SetWriteDeadline(time.Now().Add(wt))
	}
	if err := b.conn.Write(p); err != nil {
		s.r.markDead(b, "write", err)
		return false
	}
	b.lastWrite = now
	return true
}
