package loadtest

import "math"

// Summary is the result of a run. It marshals to JSON with snake_case keys.
type Summary struct {
	// Addr, Transport and Encoding echo the configuration.
	Addr      string `json:"addr"`
	Transport string `json:"transport"`
	Encoding  string `json:"encoding"`
	// Bots is the number of bots attempted (Config.N).
	Bots int `json:"bots"`
	// RoomSize and Rooms describe the room layout.
	RoomSize int `json:"room_size"`
	Rooms    int `json:"rooms"`
	// MoveRate is the configured MOVE rate per bot per second.
	MoveRate float64 `json:"move_rate"`
	// Idle reports whether this was an idle (keepalive-only) run.
	Idle bool `json:"idle"`
	// Interrupted is set when the run was cut short by its context.
	Interrupted bool `json:"interrupted,omitempty"`

	// ConnectSeconds is the length of the connect phase.
	ConnectSeconds float64 `json:"connect_seconds"`
	// WindowSeconds is the actual length of the measured window.
	WindowSeconds float64 `json:"window_seconds"`
	// SettleSeconds is how long the bots waited after the window for the
	// last POS lines.
	SettleSeconds float64 `json:"settle_seconds"`

	// Connected is the number of bots that connected and got JOINED.
	Connected int `json:"connected"`
	// FailedConnects is the number of bots that did not (see Errors).
	FailedConnects int `json:"failed_connects"`
	// Disconnected is the number of connected bots lost before the end.
	Disconnected int `json:"disconnected"`

	// MovesSent is the number of MOVE lines written.
	MovesSent int64 `json:"moves_sent"`
	// Delivered is the number of POS lines received from room mates.
	Delivered int64 `json:"delivered"`
	// Expected is Σ over moves sent of (live members of the room − 1).
	Expected int64 `json:"expected"`
	// DeliveredRatio is Delivered/Expected (0 when Expected is 0).
	DeliveredRatio float64 `json:"delivered_ratio"`
	// MovesPerSecond and DeliveredPerSecond are rates over the window.
	MovesPerSecond     float64 `json:"moves_per_second"`
	DeliveredPerSecond float64 `json:"delivered_per_second"`
	// Latency is the MOVE-to-POS latency distribution.
	Latency Latency `json:"latency_ms"`

	// FinalStateCorrect reports whether, after the bots stopped moving,
	// every receiver's last seen t for every other live member equals that
	// member's last sent t. It is false if the check could not be made,
	// and when no bot connected.
	FinalStateCorrect bool `json:"final_state_correct"`
	// FinalStatePairs is the number of (receiver, sender) pairs checked.
	FinalStatePairs int64 `json:"final_state_pairs"`
	// FinalStateMismatches is the number of pairs that disagreed.
	FinalStateMismatches int64 `json:"final_state_mismatches"`

	// Errors counts errors by kind: "dial", "handshake", "join_timeout",
	// "connect_phase_timeout", "read", "write", "eof", "line_too_long",
	// "unexpected_line", "own_pos", "foreign_pos", "pos_out_of_order",
	// "pos_duplicate", "reader_stuck", "server_stats", and "server_<code>" for
	// ERR lines from the server.
	Errors map[string]int64 `json:"errors"`
	// ErrorSamples holds the first error message of each kind.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`

	// Server is the server's resource use; present when ServerPID was set.
	Server *ServerUsage `json:"server,omitempty"`
	// BotCPUSeconds is the CPU time this (bot) process used over the same
	// interval as ServerUsage.CPUSeconds: the window plus the settle wait.
	BotCPUSeconds float64 `json:"bot_cpu_seconds"`
	// BotCPUCores is BotCPUSeconds divided by that interval's wall time.
	BotCPUCores float64 `json:"bot_cpu_cores"`
	// BotRSSBytes is this process's resident set size at the end.
	BotRSSBytes int64 `json:"bot_rss_bytes"`
}

// Latency summarises latencies in milliseconds.
type Latency struct {
	// Samples is the number of POS lines measured.
	Samples int64 `json:"samples"`
	// Mean, P50, P90, P99, P999 and Max are in milliseconds; percentiles
	// are accurate to about 2%.
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// ServerUsage is the server process's resource use.
type ServerUsage struct {
	// PID is the server's process id.
	PID int `json:"pid"`
	// CPUSeconds is user+system CPU time consumed during the window plus
	// the settle wait (10 ms resolution).
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUCores is CPUSeconds divided by that interval's wall time.
	CPUCores float64 `json:"cpu_cores"`
	// RSSBytes is the server's resident set size at the end of the run,
	// with all bots still connected.
	RSSBytes int64 `json:"rss_bytes"`
	// CPUSecondsPerMillionDelivered is CPUSeconds per million POS lines
	// delivered in that interval (0 when none were).
	CPUSecondsPerMillionDelivered float64 `json:"cpu_seconds_per_million_delivered"`
}

func latencyOf(s *snapshot) Latency {
	ms := func(us float64) float64 { return math.Round(us) / 1000 }
	return Latency{
		Samples: int64(s.total),
		Mean:    ms(s.mean()),
		P50:     ms(s.quantile(0.50)),
		P90:     ms(s.quantile(0.90)),
		P99:     ms(s.quantile(0.99)),
		P999:    ms(s.quantile(0.999)),
		Max:     ms(float64(s.max)),
	}
}

// ratio returns a/b, or 0 when b is 0, rounded to 6 significant decimals.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round6(a / b)
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }
