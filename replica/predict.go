package replica

// Predictor is the client side of input prediction and reconciliation. A
// client applies each input at once with a deterministic step function (the
// same rules the server applies), so the player's own entity moves without
// waiting a round trip, and keeps the inputs the server has not yet
// acknowledged. On each ACK it drops the acknowledged inputs; if the
// server's state differs from what was predicted for that input (the server
// refused a move, or something else moved the entity), it snaps to the
// server's state and replays the inputs still in flight on top of it.
//
// S is the predicted state (e.g. a position) and must be comparable; I is
// an input. A Predictor does no I/O and is not safe for concurrent use.
type Predictor[S comparable, I any] struct {
	step    func(S, I) S
	state   S
	pending []predicted[S, I]
	acked   uint32
	snaps   int
}

type predicted[S comparable, I any] struct {
	seq   uint32
	in    I
	after S // predicted state after applying in
}

// NewPredictor returns a predictor starting at state, stepping with step.
func NewPredictor[S comparable, I any](state S, step func(S, I) S) *Predictor[S, I] {
	return &Predictor[S, I]{step: step, state: state}
}

// Input applies input in, numbered seq, to the predicted state, remembers it
// until acknowledged, and returns the new predicted state. Sequence numbers
// must increase.
func (p *Predictor[S, I]) Input(seq uint32, in I) S {
	p.state = p.step(p.state, in)
	p.pending = append(p.pending, predicted[S, I]{seq: seq, in: in, after: p.state})
	return p.state
}

// Ack applies the server's acknowledgement of input seq with the
// authoritative state after it. It returns the new predicted state and
// whether it snapped, that is whether the server disagreed with the
// prediction. An ack older than the last one is ignored; a repeated one
// (the server moved the entity by itself, e.g. a respawn) is a correction.
func (p *Predictor[S, I]) Ack(seq uint32, state S) (S, bool) {
	if seq < p.acked {
		return p.state, false
	}
	p.acked = seq
	n := 0
	var guess S
	found := false
	for n < len(p.pending) && p.pending[n].seq <= seq {
		if p.pending[n].seq == seq {
			guess, found = p.pending[n].after, true
		}
		n++
	}
	p.pending = append(p.pending[:0], p.pending[n:]...)
	if found && guess == state {
		return p.state, false
	}
	old := p.state
	s := state
	for i := range p.pending {
		s = p.step(s, p.pending[i].in)
		p.pending[i].after = s
	}
	p.state = s
	snapped := found || s != old
	if snapped {
		p.snaps++
	}
	return s, snapped
}

// Reset drops every pending input and sets the state, e.g. after a
// teleport or a new zone.
func (p *Predictor[S, I]) Reset(state S) {
	p.state = state
	p.pending = p.pending[:0]
}

// State returns the predicted state.
func (p *Predictor[S, I]) State() S { return p.state }

// Pending returns how many inputs await acknowledgement.
func (p *Predictor[S, I]) Pending() int { return len(p.pending) }

// Snaps counts the acks that corrected the prediction.
func (p *Predictor[S, I]) Snaps() int { return p.snaps }
