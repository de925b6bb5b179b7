package client

import (
	"fmt"
	"reflect"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// On registers fn as the callback for messages of type T, the struct type
// of a message defined in the client's registry (a game message, or a
// built-in such as msg.Notice, msg.Err or msg.Pong). Poll calls fn with the
// decoded *T on Poll's goroutine, in arrival order. A later On for the same
// T replaces fn; a nil fn removes it. It panics if T is not a registered
// message, a programming error found at start-up.
//
// The client handles some messages itself and does not queue them: USING,
// BYE (Poll returns it as a *ByeError), the PONGs of its RTT pings, WELCOME
// while Login waits for it or after RESUME, SEAT (the seat token, kept for
// a reconnect), LIMITS (see Client.Limits), and answers to Request and
// RESUME.
func On[T any](c *Client, fn func(m *T)) {
	if _, err := c.reg.TypeOf((*T)(nil)); err != nil {
		panic(fmt.Sprintf("client: On: %v", err))
	}
	key := reflect.TypeFor[T]()
	c.hMu.Lock()
	defer c.hMu.Unlock()
	if fn == nil {
		delete(c.handlers, key)
		return
	}
	c.handlers[key] = func(m any) { fn(m.(*T)) }
}

// Poll dispatches every message received since the previous Poll, in
// order, and returns at once: it never waits for the network. Call it once
// per frame from the game loop. For each message it feeds the replica
// model (Options.Replica) and a Predicted's ACK hook, then calls
// Options.OnMessage, then the callback registered with On for its type;
// messages nobody takes are counted in Stats.Unhandled and dropped.
//
// Poll also delivers the client's reconnect events (OnReconnecting,
// OnResumed, OnLost) in their place among the messages; they do not count
// in n.
//
// n counts the messages something took. err is the first of: an ERR that
// no On[msg.Err] callback took (as a *ServerError), or, once every message
// received before the client ended has been dispatched, why it ended: a
// *ByeError with the server's reason, a *LostError when a reconnect gave
// up, ErrClosed after Close or Quit, or the I/O error. A connection that
// drops while the client can resume its seat is not an end. After the end
// every Poll returns (0, that error).
func (c *Client) Poll() (n int, err error) {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	// Checked before draining: once the connection has ended, the reader
	// has queued everything it will.
	finished := c.isDone()
	c.inMu.Lock()
	batch := c.inbox
	c.inbox = c.spare[:0]
	c.inMu.Unlock()
	if len(batch) > 0 {
		select {
		case c.inSpace <- struct{}{}:
		default:
		}
	}
	c.desyncs = 0
	for i := range batch {
		env := batch[i]
		batch[i] = msg.Envelope{} // drop references for the GC
		took, derr := c.dispatch(env)
		if took {
			n++
		}
		if derr != nil && err == nil {
			err = derr
		}
	}
	c.spare = batch[:0]
	if err == nil && finished {
		err = c.err
	}
	return n, err
}

// replicaPkg is the import path of the replica messages.
var replicaPkg = reflect.TypeFor[replica.Ack]().PkgPath()

// isReplica reports whether t is one of the replica package's messages.
func isReplica(t *msg.Type) bool { return t.GoType().PkgPath() == replicaPkg }

// dispatch hands one message to the model, the hooks and its callback.
func (c *Client) dispatch(env msg.Envelope) (took bool, err error) {
	if ev, ok := env.Msg.(*clientEvent); ok && env.Type == nil {
		c.event(ev)
		return false, nil
	}
	c.hMu.RLock()
	fn := c.handlers[env.Type.GoType()]
	onAck := c.onAck
	c.hMu.RUnlock()
	if c.model != nil && isReplica(env.Type) {
		if d := c.model.Apply(env.Msg); d != nil {
			c.reportDesync(d)
		}
		took = true
	}
	if a, ok := env.Msg.(*replica.Ack); ok && onAck != nil {
		onAck(a)
		took = true
	}
	if c.opts.OnMessage != nil && c.opts.OnMessage(env) {
		return true, nil
	}
	if fn != nil {
		fn(env.Msg)
		return true, nil
	}
	if took {
		return true, nil
	}
	c.unhandled.Add(1)
	if e, ok := env.Msg.(*msg.Err); ok {
		return false, &ServerError{Code: e.Code, Text: e.Text}
	}
	return false, nil
}

// reportDesync sends a Model's reports as DESYNC messages, at most
// MaxDesyncPerPoll per Poll.
func (c *Client) reportDesync(d *replica.Desync) {
	for i := range d.Reports {
		r := d.Reports[i]
		c.log.Debug("replica desync", "id", r.ID, "mask", r.Mask, "reason", r.Reason)
		if c.desyncs >= MaxDesyncPerPoll {
			c.desyncDrops.Add(1)
			continue
		}
		if err := c.Send(&r); err != nil {
			c.desyncDrops.Add(1)
			continue
		}
		c.desyncs++
		c.desyncSent.Add(1)
	}
}

// Model returns the replica model Poll keeps (Options.Replica), or nil.
// The model changes only inside Poll: read it from Poll's goroutine, e.g.
// to render between two Polls.
func (c *Client) Model() *replica.Model { return c.model }

// Predicted couples a replica.Predictor with a client, for the player's
// own entity: Input applies an input locally at once and sends it with a
// sequence number, and every ACK Poll receives reconciles the prediction
// with the server's authoritative state (replaying the inputs still in
// flight). When the client resumes its seat after a dropped connection,
// the inputs still in flight are dropped (the server never received them,
// or its ACK for them was lost with the connection) rather than replayed:
// the prediction keeps its state until the next ACK snaps it to the
// server's. Sequence numbers keep increasing. Use it from Poll's goroutine.
type Predicted[S comparable, I any] struct {
	c      *Client
	p      *replica.Predictor[S, I]
	encode func(seq uint32, in I) any
	seq    uint32
}

// Predict couples p with c and returns the coupling. encode builds the
// game's input message for input in numbered seq (the server hands seq to
// replica's Viewer.Ack once it applied the input); state extracts the
// authoritative state from an ACK, usually from its Vals. A client has one
// ACK hook: a second Predict replaces the first.
func Predict[S comparable, I any](c *Client, p *replica.Predictor[S, I], encode func(seq uint32, in I) any, state func(a *replica.Ack) S) *Predicted[S, I] {
	pp := &Predicted[S, I]{c: c, p: p, encode: encode}
	c.hMu.Lock()
	c.onAck = func(a *replica.Ack) { p.Ack(a.Seq, state(a)) }
	c.onResume = func() { p.Reset(p.State()) }
	c.hMu.Unlock()
	return pp
}

// Input numbers in with the next sequence number, sends encode(seq, in)
// and, once it is queued, applies in to the prediction. It returns the
// predicted state; when Send fails (ErrDisconnected while reconnecting)
// the input is not predicted either.
func (pp *Predicted[S, I]) Input(in I) (S, error) {
	seq := pp.seq + 1
	if err := pp.c.Send(pp.encode(seq, in)); err != nil {
		return pp.p.State(), err
	}
	pp.seq = seq
	return pp.p.Input(seq, in), nil
}

// Predictor returns the coupled predictor, e.g. for State and Pending.
func (pp *Predicted[S, I]) Predictor() *replica.Predictor[S, I] { return pp.p }

// Seq returns the sequence number of the last input sent.
func (pp *Predicted[S, I]) Seq() uint32 { return pp.seq }
