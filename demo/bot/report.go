package bot

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Report is what a bot saw and did during a run. Its JSON form (see
// MarshalJSON) has the same fields in snake_case, with durations in
// seconds or milliseconds.
type Report struct {
	// Name and PlayerID are what the server's WELCOME said; Tank is the
	// bot's tank entity.
	Name     string `json:"name"`
	PlayerID uint64 `json:"player_id"`
	Tank     uint32 `json:"tank"`
	// Encoding is the wire encoding; Seed the seed of the bot's choices.
	Encoding string `json:"encoding"`
	Seed     uint64 `json:"seed"`
	// TickRate is the server's ticks per second (from LIMITS), the rate
	// the bot predicted its steps at (arena.Step); 0 before its tank
	// spawned.
	TickRate int `json:"tick_rate"`
	// Elapsed is the time played, from the login to the end of the run.
	Elapsed time.Duration `json:"-"`
	// Frames counts the frames run (one Poll each).
	Frames int `json:"frames"`

	// Traffic, from client.Stats.
	MessagesIn  uint64 `json:"messages_in"`
	MessagesOut uint64 `json:"messages_out"`
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
	// Messages counts the messages Poll dispatched, by type name (ENTER,
	// DELTA, ACK, INFO, CHAT...).
	Messages map[string]int `json:"messages"`
	// Undecodable and Unhandled come from client.Stats; both should be 0.
	Undecodable uint64 `json:"undecodable"`
	Unhandled   uint64 `json:"unhandled"`
	// SendErrors counts messages the client could not queue (a full
	// outbound queue); DisconnectedSends those it refused because the
	// connection had just dropped, before the bot knew.
	SendErrors        int `json:"send_errors"`
	DisconnectedSends int `json:"disconnected_sends"`

	// Drops counts the connections that dropped while the bot held a seat
	// (the client then resumes it); Severed those the bot cut itself
	// (Config.DropEvery). Reconnects counts the client's reconnect
	// attempts, Resumes the seats resumed, SeatsLost the seats given up
	// (the run then ends with the client's *client.LostError). Moves
	// counts the seats resumed on another server of a cluster (MOVED, or
	// a seed after a server died; client.Client.OnMoved): a MOVED followed
	// at once is a move and not a drop or a resume; a drop whose resume
	// landed on another server is all three. PlayerID is then the latest
	// server's id.
	Moves      int    `json:"moves"`
	Drops      int    `json:"drops"`
	Severed    int    `json:"severed"`
	Reconnects uint64 `json:"reconnects"`
	Resumes    int    `json:"resumes"`
	SeatsLost  int    `json:"seats_lost"`
	// ResumeTimes is, for each resume, the time from the drop (when Poll
	// reported it) to the resume (when Poll delivered it); ResumedAt is
	// when each resume was delivered.
	ResumeTimes []time.Duration `json:"-"`
	ResumedAt   []time.Time     `json:"-"`
	// ResumesVerified counts the resumes after which the tank was the same
	// as before the drop: the same entity, score and inventory, read from
	// the fresh snapshot. ResumeMismatches describes those where it was
	// not: a bug. The entity is always compared; the score only if no
	// shot, TAKE or PUT was sent within SettleTime of the last message
	// before the drop (a kill scores, and so does treasure taken from a
	// chest), the inventory only if no TAKE or PUT was (the server may
	// have applied it unseen); ResumesVerified counts those where all
	// three were.
	ResumesVerified  int      `json:"resumes_verified"`
	ResumeMismatches []string `json:"resume_mismatches,omitempty"`
	// ResumePredictionError is the largest difference, in units along an
	// axis, between the predicted and the acknowledged position of the
	// first input acknowledged after a resume, over
	// ResumePredictionsChecked resumes: at most one step
	// (arena.StepUnits(TickRate)) when the prediction dropped the lost
	// inputs and restarted from the server's state.
	ResumePredictionError    int32 `json:"resume_prediction_error"`
	ResumePredictionsChecked int   `json:"resume_predictions_checked"`

	// Desyncs counts the DESYNC reports the replica model sent (and
	// DesyncsDropped those over the client's per-Poll cap): every one is a
	// sync bug.
	Desyncs        uint64 `json:"desyncs"`
	DesyncsDropped uint64 `json:"desyncs_dropped"`
	// Snapshots counts the zone snapshots completed (SNAPEND),
	// ResyncSlices the resync slices verified (RSLICE) and ResyncCycles the
	// full resync cycles (the last slice of a cycle).
	Snapshots    int `json:"snapshots"`
	ResyncSlices int `json:"resync_slices"`
	ResyncCycles int `json:"resync_cycles"`

	// Inputs counts the DRIVE inputs sent. Snaps counts the ACKs that
	// corrected the prediction: with a well-behaved bot only moves the
	// server refused (MovesRefused: too_fast, wall, out_of_bounds, or
	// dead while an input was in flight) cause one. Portals and respawns
	// reset the prediction and are not snaps.
	Inputs       int `json:"inputs"`
	Snaps        int `json:"snaps"`
	MovesRefused int `json:"moves_refused"`
	// Refusals counts every ERR the server sent, by code.
	Refusals map[string]int `json:"refusals"`
	// MaxFrameJump is the largest change of the predicted position between
	// two frames, in units (teleports excepted): at most one step,
	// arena.StepUnits(TickRate), while no snap happened. Distance sums
	// those changes.
	MaxFrameJump int32 `json:"max_frame_jump"`
	Distance     int64 `json:"distance"`

	// Round-trip times measured by the client's pings.
	RTTSamples int           `json:"rtt_samples"`
	RTTP50     time.Duration `json:"-"`
	RTTMax     time.Duration `json:"-"`

	// Zones lists the zones visited, in order of first visit; Portals
	// counts the trips through a portal.
	Zones   []int `json:"zones"`
	Portals int   `json:"portals"`
	// TanksSeen lists the names of the other tanks seen, sorted.
	TanksSeen []string `json:"tanks_seen"`

	// FiresSent counts FIRE sent, Shots those the server carried out (the
	// tank's fire event), Hits the shots that hit a tank. Kills counts the
	// tanks this bot destroyed, Deaths the times its own was destroyed.
	FiresSent int `json:"fires_sent"`
	Shots     int `json:"shots"`
	Hits      int `json:"hits"`
	Kills     int `json:"kills"`
	Deaths    int `json:"deaths"`

	// ChestsOpened, ItemsTaken and ItemsPut count chest actions the server
	// accepted.
	ChestsOpened int `json:"chests_opened"`
	ItemsTaken   int `json:"items_taken"`
	ItemsPut     int `json:"items_put"`

	// ChatsSent counts SAY lines sent, ChatsReceived the CHAT lines
	// received (the bot's own included).
	ChatsSent     int `json:"chats_sent"`
	ChatsReceived int `json:"chats_received"`

	// Error is the text of the error Run returned, if any.
	Error string `json:"error,omitempty"`
}

// MarshalJSON encodes the report with Elapsed in seconds (elapsed_s), the
// round-trip times in milliseconds (rtt_p50_ms, rtt_max_ms) and the resume
// times in milliseconds (resume_ms, resume_max_ms).
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	resumes := make([]float64, len(r.ResumeTimes))
	var longest time.Duration
	for i, d := range r.ResumeTimes {
		resumes[i] = ms(d)
		longest = max(longest, d)
	}
	return json.Marshal(struct {
		plain
		ElapsedS    float64   `json:"elapsed_s"`
		RTTP50ms    float64   `json:"rtt_p50_ms"`
		RTTMaxms    float64   `json:"rtt_max_ms"`
		ResumeMS    []float64 `json:"resume_ms"`
		ResumeMaxMS float64   `json:"resume_max_ms"`
	}{plain(r), round3(r.Elapsed.Seconds()), ms(r.RTTP50), ms(r.RTTMax), resumes, ms(longest)})
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// report returns a snapshot of the bot's counters; its maps and slices
// are copies.
func (b *bot) report(elapsed time.Duration) Report {
	r := b.rep
	r.Elapsed = elapsed
	r.Tank = uint32(b.tank)
	r.TickRate = b.rate
	r.Messages = maps.Clone(b.rep.Messages)
	r.Refusals = maps.Clone(b.rep.Refusals)
	r.Zones = slices.Clone(b.rep.Zones)
	r.ResumeTimes = slices.Clone(b.rep.ResumeTimes)
	r.ResumedAt = slices.Clone(b.rep.ResumedAt)
	r.ResumeMismatches = slices.Clone(b.rep.ResumeMismatches)
	r.TanksSeen = slices.Sorted(maps.Keys(b.seen))
	if b.c != nil {
		st := b.c.Stats()
		r.MessagesIn, r.MessagesOut = st.MessagesIn, st.MessagesOut
		r.BytesIn, r.BytesOut = st.BytesIn, st.BytesOut
		r.Undecodable, r.Unhandled = st.Undecodable, st.Unhandled
		r.Desyncs, r.DesyncsDropped = st.DesyncsSent, st.DesyncsDropped
		r.Reconnects = st.Reconnects
	}
	if b.pred != nil {
		r.Snaps = b.pred.Snaps()
	}
	r.RTTSamples = len(b.rtts)
	if len(b.rtts) > 0 {
		s := slices.Clone(b.rtts)
		slices.Sort(s)
		r.RTTP50 = s[(len(s)-1)/2]
		r.RTTMax = s[len(s)-1]
	}
	return r
}
