package server

import "time"

// Test hooks for package server_test. They exist only in test builds.

// ManualTicks keeps the server from ticking by itself, so a test decides
// exactly which inputs share a tick: call it before Serve or ServeConn, then
// drive the world with RunTick from one goroutine. Shutdown still works: the
// final tick runs on a goroutine that waits for it.
func (s *Server) ManualTicks() {
	s.startOnce.Do(func() {
		go func() {
			defer close(s.tickDone)
			<-s.stopping
			s.finalTick(s.period())
		}()
	})
}

// RunTick runs one tick now. Only for servers in ManualTicks mode.
func (s *Server) RunTick() { s.tick(time.Now(), s.period()) }

func (s *Server) period() time.Duration { return time.Second / time.Duration(s.cfg.TickRate) }

// PendingInbound counts the events (joins, messages, leaves) waiting for the
// next tick, over every connection.
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
