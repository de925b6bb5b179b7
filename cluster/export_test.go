package cluster

import "github.com/tickwire/tickwire/server"

// PostHandOver queues zone's hand-over to node to on the tick, as Close
// does, and returns at once: a test can order it before other work the
// tick will do.
func (n *Node) PostHandOver(zone string, to Owner) error {
	return n.srv.Post(func(t *server.Tick) { n.handOver(t, zone, to) })
}
