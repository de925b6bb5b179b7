package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tickwire/tickwire/admin"
	"github.com/tickwire/tickwire/cluster"
	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/server"
)

// metricsHandler exposes the server's counters, the Go runtime's and the
// process's in the Prometheus text format, with extra collectors (the tick
// histogram and the console's counters, see consoleParts).
func metricsHandler(srv *server.Server, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(extra...)
	stat := func(f func(server.Stats) float64) func() float64 {
		return func() float64 { return f(srv.Stats()) }
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tickwire_connections", Help: "Open connections, logged in or not."},
			stat(func(s server.Stats) float64 { return float64(s.Conns) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tickwire_players", Help: "Players in the game."},
			stat(func(s server.Stats) float64 { return float64(s.Players) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tickwire_last_tick_seconds", Help: "How long the last tick took."},
			stat(func(s server.Stats) float64 { return s.LastTick.Seconds() })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_ticks_total", Help: "Ticks run."},
			stat(func(s server.Stats) float64 { return float64(s.Ticks) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_received_bytes_total", Help: "Bytes read from clients."},
			stat(func(s server.Stats) float64 { return float64(s.BytesIn) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_received_messages_total", Help: "Messages decoded from clients (including refused ones)."},
			stat(func(s server.Stats) float64 { return float64(s.MessagesIn) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_sent_bytes_total", Help: "Bytes written to clients."},
			stat(func(s server.Stats) float64 { return float64(s.BytesOut) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_dropped_client_logs_total", Help: "Client LOG lines dropped by the rate limit."},
			stat(func(s server.Stats) float64 { return float64(s.DroppedLogs) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_rate_limited_messages_total", Help: "Client messages dropped by per-type rate limits."},
			stat(func(s server.Stats) float64 { return float64(s.RateLimited) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_throttled_writes_total", Help: "Writes delayed by the per-connection outbound byte budget."},
			stat(func(s server.Stats) float64 { return float64(s.Throttled) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_refused_connections_total", Help: "Connections refused by per-address limits."},
			stat(func(s server.Stats) float64 { return float64(s.Refused) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tickwire_held_seats", Help: "Seats held for players whose connection dropped."},
			stat(func(s server.Stats) float64 { return float64(s.Held) })),
		closedCollector{srv},
		sessionsCollector{srv},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// closedCollector reports connections closed, by reason, as one counter
// with a reason label.
type closedCollector struct{ srv *server.Server }

var closedDesc = prometheus.NewDesc("tickwire_closed_connections_total", "Connections closed, by reason (quit, closed, timeout, slow_consumer, too_long, kicked, banned, shutdown, resumed, seat_expired, error).", []string{"reason"}, nil)

func (c closedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- closedDesc }

func (c closedCollector) Collect(ch chan<- prometheus.Metric) {
	for reason, n := range c.srv.Stats().Closed {
		ch <- prometheus.MustNewConstMetric(closedDesc, prometheus.CounterValue, float64(n), reason)
	}
}

// sessionsCollector reports the open connections by transport and
// encoding, counted from Server.Sessions at each scrape.
type sessionsCollector struct{ srv *server.Server }

var sessionsDesc = prometheus.NewDesc("tickwire_sessions", "Open connections by transport (tcp, tls, websocket) and encoding (text, json, msgpack).", []string{"transport", "encoding"}, nil)

func (c sessionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc }

func (c sessionsCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ transport, encoding string }
	n := map[key]int{}
	for _, si := range c.srv.Sessions() {
		n[key{si.Transport, si.Encoding}]++
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(v), k.transport, k.encoding)
	}
}

// tickBuckets are the upper bounds, in seconds, of the tick duration
// histogram: 100 µs to 250 ms, dense around a 50 ms (20 Hz) budget.
var tickBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.025, 0.05, 0.1, 0.25}

// newTickHistogram returns the histogram of tick durations, fed by
// admin.WatchTicks.
func newTickHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tickwire_tick_duration_seconds",
		Help:    "How long each tick took (sampled once per tick off the tick goroutine).",
		Buckets: tickBuckets,
	})
}

// rttBuckets span loopback to a bad mobile link, seconds.
var rttBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2}

func newRTTHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "tickwire_rtt_seconds",
		Help: "Round-trip times of the game connections' TCP sockets, as the kernel estimates them " +
			"(each connection read every 10 s by the admin console's sampler; none without the console).",
		Buckets: rttBuckets,
	})
}

// strikeCollector reports the strikes a StrikeLog saw and how many ended
// in a ban.
type strikeCollector struct{ l *admin.StrikeLog }

var (
	strikesDesc    = prometheus.NewDesc("tickwire_strikes_total", "Strikes against client addresses (offences counted by the guard).", nil, nil)
	strikeBansDesc = prometheus.NewDesc("tickwire_strike_bans_total", "Strikes that ended in a ban.", nil, nil)
)

func (c strikeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- strikesDesc
	ch <- strikeBansDesc
}

func (c strikeCollector) Collect(ch chan<- prometheus.Metric) {
	strikes, bans := c.l.Totals()
	ch <- prometheus.MustNewConstMetric(strikesDesc, prometheus.CounterValue, float64(strikes))
	ch <- prometheus.MustNewConstMetric(strikeBansDesc, prometheus.CounterValue, float64(bans))
}

// logCountCollector reports the log lines a LogRing counted, by message:
// bans of every source, failed and rate-limited account logins, refused
// connections.
type logCountCollector struct{ r *admin.LogRing }

var logCountDescs = map[string]*prometheus.Desc{
	guard.LogMessage:         prometheus.NewDesc("tickwire_bans_total", "Ban lines logged (\"tickwire ban\": strikes, manual and bans made by other processes).", nil, nil),
	admin.MsgAuthLoginFailed: prometheus.NewDesc("tickwire_auth_login_failures_total", "Failed logins at the account service.", nil, nil),
	admin.MsgAuthRateLimited: prometheus.NewDesc("tickwire_auth_rate_limited_total", "Account service requests refused by a rate limit.", nil, nil),
	server.RefusedLogMessage: prometheus.NewDesc("tickwire_refused_log_lines_total", "Connections refused by per-address limits (\"tickwire refused\" lines).", nil, nil),
}

func (c logCountCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range logCountDescs {
		ch <- d
	}
}

func (c logCountCollector) Collect(ch chan<- prometheus.Metric) {
	for m, d := range logCountDescs {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(c.r.Count(m)))
	}
}

// clusterCollectors are the cluster gauges and counters of a node (none
// without a cluster).
func clusterCollectors(n *cluster.Node) []prometheus.Collector {
	if n == nil {
		return nil
	}
	stat := func(f func(cluster.Stats) float64) func() float64 {
		return func() float64 { return f(n.Stats()) }
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tickwire_cluster_zones_owned", Help: "Zones this node runs."},
			stat(func(s cluster.Stats) float64 { return float64(s.Zones) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tickwire_cluster_nodes", Help: "Live nodes of the cluster, as of the last heartbeat."},
			func() float64 { return float64(len(n.Nodes())) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_cluster_handoffs_total", Help: "Players handed to another node."},
			stat(func(s cluster.Stats) float64 { return float64(s.HandoffsOut) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_cluster_handoffs_failed_total", Help: "Handoffs that failed and left the player here."},
			stat(func(s cluster.Stats) float64 { return float64(s.HandoffsFailed) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_cluster_arrivals_total", Help: "Players that arrived here by handoff or restore."},
			stat(func(s cluster.Stats) float64 { return float64(s.Arrivals) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_cluster_failovers_total", Help: "Zones taken over from a node whose lease lapsed."},
			stat(func(s cluster.Stats) float64 { return float64(s.Failovers) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_cluster_checkpoints_total", Help: "Zone checkpoints written."},
			stat(func(s cluster.Stats) float64 { return float64(s.Checkpoints) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_cluster_checkpoint_bytes_total", Help: "Bytes of zone checkpoints written."},
			stat(func(s cluster.Stats) float64 { return float64(s.CheckpointBytes) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_cluster_checkpoint_errors_total", Help: "Zone checkpoint writes that failed."},
			stat(func(s cluster.Stats) float64 { return float64(s.CheckpointErrors) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tickwire_cluster_fenced_total", Help: "Zones this node lost to another (fenced) or gave up (lease not renewed)."},
			stat(func(s cluster.Stats) float64 { return float64(s.Fenced + s.SelfFenced) })),
	}
}
