package server

import "time"

// Manual ticking, for tests (the servertest package builds on it).

// ManualTicks keeps the server from ticking by itself, so a test decides
// exactly which inputs share a tick: call it before Serve or ServeConn, then
// drive the world with RunTick from one goroutine. Shutdown still works: the
// final tick runs on a goroutine that waits for it. The once-a-second
// sweeper (bans, per-address bookkeeping) still runs on the wall clock.
func (s *Server) ManualTicks() {
	s.startOnce.Do(func() {
		s.sweeperWG.Add(1)
		go s.sweeper()
		go func() {
			defer close(s.tickDone)
			<-s.stopping
			s.finalTick(s.period())
		}()
	})
}

// RunTick runs one tick now, at the wall clock's time. Only for servers in
// ManualTicks mode, from one goroutine.
func (s *Server) RunTick() { s.tick(time.Now(), s.period()) }

// RunTickAt runs one tick as if it were now: a manual clock for rules that
// read Tick.Now (seat holds, timers). Only in ManualTicks mode.
func (s *Server) RunTickAt(now time.Time) { s.tick(now, s.period()) }

func (s *Server) period() time.Duration { return time.Second / time.Duration(s.cfg.TickRate) }

// PendingInbound counts the events (joins, messages, leaves) waiting for the
// next tick, over every connection. A test waits for it to reach the number
// it sent before running a tick.
func (s *Server) PendingInbound() int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range conns {
		c.inMu.Lock()
		n += len(c.inbox)
		c.inMu.Unlock()
	}
	return n
}
