package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
)

// Defaults. Every limit of the cluster is one of these.
const (
	// DefaultName prefixes the cluster's buckets and subjects.
	DefaultName = "tickwire"
	// DefaultCheckpointEvery is how often a node writes each zone it runs
	// to JetStream. The write is also the zone's lease renewal, so it is
	// what a failover can lose: at most this much movement.
	DefaultCheckpointEvery = time.Second
	// DefaultLeaseTTL is how long a zone's lease lasts after its last
	// write. A node that could not write for this long stops running the
	// zone, and another node may claim it: failover takes LeaseTTL plus
	// one ClaimEvery plus the restore.
	DefaultLeaseTTL = 3 * time.Second
	// DefaultClaimEvery is how often a node looks for zones without a
	// live owner.
	DefaultClaimEvery = 500 * time.Millisecond
	// DefaultOpTimeout bounds one NATS operation. Checkpoints run on the
	// tick goroutine, so a slow NATS stalls the tick at most this long.
	DefaultOpTimeout = 500 * time.Millisecond
	// DefaultArrivalHold is how long a handed-off player's state waits on
	// the target for the client.
	DefaultArrivalHold = 30 * time.Second
	// MaxStateBytes caps one zone's checkpoint: a JetStream message (1 MiB
	// by default) holds it with room for the record around it.
	MaxStateBytes = 900 << 10
	// maxTrackQueue bounds the player-location writes waiting for NATS;
	// beyond it they are dropped (a location is a hint: a stale one costs
	// one extra MOVED).
	maxTrackQueue = 4096
	// maxPreparing bounds the handoffs a node prepares at once; beyond
	// it a source hears "busy" and its player stays where it is.
	maxPreparing = 256
	// maxPrepareAttempts bounds the prepare requests one handoff sends
	// while its target zone changes owner (see prepare).
	maxPrepareAttempts = 12
	// maxDeparted is how many recent handoffs a zone's record remembers
	// (for operators and tests: every committed handoff is accounted
	// for). It is rewritten with every checkpoint, so it is kept small.
	maxDeparted = 64
	// departedKeep is how long a zone remembers a departure.
	departedKeep = time.Minute
)

// Config configures a Node. Zero fields take the defaults above; Verify
// refuses what cannot work.
type Config struct {
	// URL is the NATS server (nats://host:4222). Required unless Conn is set.
	URL string
	// Conn is an open NATS connection to use instead of dialing URL. The
	// node does not close it.
	Conn *nats.Conn
	// Name is the cluster's name: nodes with the same name and NATS form
	// one cluster. It prefixes buckets ("<name>-zones") and subjects.
	// Default DefaultName.
	Name string
	// Node is this node's name, unique in the cluster and stable across
	// restarts (a restarted node reclaims its zones if their leases still
	// name it). Letters, digits, '-' and '_', at most 64. Required.
	Node string
	// Addr is the TCP host:port clients reach this node's game port at
	// (MOVED's addr). Required.
	Addr string
	// WS is the WebSocket URL clients reach this node at (ws:// or
	// wss://), or empty if it serves no WebSocket.
	WS string
	// Zones are the zones this node claims as soon as they have no live
	// owner. Other zones it claims only when it is the least-loaded live
	// node. Default none: every zone goes to the least loaded.
	Zones []string
	// CheckpointEvery, LeaseTTL, ClaimEvery, OpTimeout: see the Default*
	// constants. LeaseTTL must be at least twice CheckpointEvery.
	CheckpointEvery time.Duration
	LeaseTTL        time.Duration
	ClaimEvery      time.Duration
	OpTimeout       time.Duration
	// ArrivalHold: see DefaultArrivalHold.
	ArrivalHold time.Duration
	// Logger receives the node's log lines. Default slog.Default().
	Logger *slog.Logger
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Verify fills in defaults and reports the first setting that cannot
// work.
func (c *Config) Verify() error {
	if c.Conn == nil && c.URL == "" {
		return errors.New("cluster: Config.URL (the NATS server) is required")
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("cluster: Name %q: want 1-64 letters, digits, '-' or '_'", c.Name)
	}
	if !nameRE.MatchString(c.Node) {
		return fmt.Errorf("cluster: Node %q: want 1-64 letters, digits, '-' or '_'", c.Node)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil || c.Addr == "" {
		return fmt.Errorf("cluster: Addr %q: want the host:port clients dial", c.Addr)
	}
	if c.WS != "" {
		u, err := url.Parse(c.WS)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return fmt.Errorf("cluster: WS %q: want a ws:// or wss:// URL", c.WS)
		}
	}
	for _, z := range c.Zones {
		if !nameRE.MatchString(z) {
			return fmt.Errorf("cluster: zone %q: want 1-64 letters, digits, '-' or '_'", z)
		}
	}
	def := func(d *time.Duration, v time.Duration, name string) error {
		if *d < 0 {
			return fmt.Errorf("cluster: %s %v is negative", name, *d)
		}
		if *d == 0 {
			*d = v
		}
		return nil
	}
	for _, f := range []struct {
		d    *time.Duration
		v    time.Duration
		name string
	}{
		{&c.CheckpointEvery, DefaultCheckpointEvery, "CheckpointEvery"},
		{&c.LeaseTTL, DefaultLeaseTTL, "LeaseTTL"},
		{&c.ClaimEvery, DefaultClaimEvery, "ClaimEvery"},
		{&c.OpTimeout, DefaultOpTimeout, "OpTimeout"},
		{&c.ArrivalHold, DefaultArrivalHold, "ArrivalHold"},
	} {
		if err := def(f.d, f.v, f.name); err != nil {
			return err
		}
	}
	if c.LeaseTTL < 2*c.CheckpointEvery {
		return fmt.Errorf("cluster: LeaseTTL %v must be at least twice CheckpointEvery %v, or a lease lapses between renewals", c.LeaseTTL, c.CheckpointEvery)
	}
	if c.OpTimeout >= c.LeaseTTL {
		return fmt.Errorf("cluster: OpTimeout %v must be shorter than LeaseTTL %v", c.OpTimeout, c.LeaseTTL)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
