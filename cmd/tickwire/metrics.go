package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tickwire/tickwire/server"
)

// metricsHandler exposes the server's counters, the Go runtime's and the
// process's in the Prometheus text format.
func metricsHandler(srv *server.Server) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
