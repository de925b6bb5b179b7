package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
)

// Sending: messages, requests with answers, login, client logs.

// Send queues m, a registered message value or pointer that may travel to
// the server, for the writer. It never blocks: it fails with ErrQueueFull
// when the outbound queue is full, and with ErrDisconnected while the
// client is reconnecting (the message is not kept for later). m is
// validated and encoded before Send returns, so the caller may reuse it at
// once.
func (c *Client) Send(m any) error {
	if err := c.check(m); err != nil {
		return err
	}
	_, err := c.enqueue(m, 0, true)
	return err
}

// check refuses what the server would refuse.
func (c *Client) check(m any) error {
	t, err := c.reg.TypeOf(m)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if t.Dir&msg.ToServer == 0 {
		return fmt.Errorf("client: %s may not be sent to the server", t.Name)
	}
	if t.ID == msg.IDUse {
		return errors.New("client: choose the encoding with Options.Encoding, not USE")
	}
	if err := c.reg.Validate(m); err != nil {
		return fmt.Errorf("client: %s: %w", t.Name, err)
	}
	return nil
}

// enqueue encodes m into the outbound buffer of the current connection,
// which it returns, and wakes the writer. The game's messages (user) are
// refused from a drop until Poll delivered the resume; the client's own
// (pings) go to any live connection.
func (c *Client) enqueue(m any, rid uint32, user bool) (*link, error) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.isDone() {
		return nil, c.err
	}
	if c.cur == nil || (user && !c.open) {
		return nil, ErrDisconnected
	}
	if c.outMsgs >= c.opts.OutboundQueue {
		return nil, ErrQueueFull
	}
	start := len(c.out)
	out, err := c.enc.Append(c.out, m, rid)
	if err != nil {
		c.out = out[:start]
		return nil, fmt.Errorf("client: %w", err)
	}
	if payloadLen(out[start:], c.enc.Encoding()) > int(c.maxMsg.Load()) {
		c.out = out[:start]
		return nil, ErrTooLong
	}
	c.out = out
	c.outMsgs++
	c.msgsOut.Add(1)
	signal(c.wake)
	return c.cur, nil
}

// signal wakes whoever waits on ch, if nobody already did.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// payloadLen returns the size of one encoded frame without its line
// terminator or length prefix.
func payloadLen(f []byte, e msg.Encoding) int {
	if e.FrameMode() == frame.Binary {
		for i, b := range f {
			if b < 0x80 { // the last byte of the uvarint length prefix
				return len(f) - (i + 1)
			}
		}
		return len(f)
	}
	return len(f) - 1
}

// register reserves a request id whose answer goes to fn, called on the
// reader goroutine.
func (c *Client) register(fn func(msg.Envelope)) (uint32, error) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if len(c.pending) >= MaxPendingRequests {
		return 0, ErrTooManyRequests
	}
	for {
		rid := c.lastRID.Add(1)
		if rid == 0 {
			continue // 0 means "no request id"
		}
		if _, taken := c.pending[rid]; !taken {
			c.pending[rid] = fn
			return rid, nil
		}
	}
}

func (c *Client) unregister(rid uint32) {
	c.pmu.Lock()
	delete(c.pending, rid)
	c.pmu.Unlock()
}

// resolve hands env to the request waiting for its id, if any.
func (c *Client) resolve(env msg.Envelope) bool {
	c.pmu.Lock()
	fn, ok := c.pending[env.RID]
	delete(c.pending, env.RID)
	c.pmu.Unlock()
	if ok {
		fn(env)
	}
	return ok
}

// roundTrip sends m with a fresh request id and waits for the envelope
// delivered to ch (by the id, or by Login's WELCOME).
func (c *Client) roundTrip(ctx context.Context, m any, ch chan msg.Envelope) (msg.Envelope, error) {
	if err := c.check(m); err != nil {
		return msg.Envelope{}, err
	}
	rid, err := c.register(func(env msg.Envelope) {
		select {
		case ch <- env:
		default:
		}
	})
	if err != nil {
		return msg.Envelope{}, err
	}
	defer c.unregister(rid)
	l, err := c.enqueue(m, rid, true)
	if err != nil {
		return msg.Envelope{}, err
	}
	select {
	case env := <-ch:
		return env, nil
	case <-ctx.Done():
		return msg.Envelope{}, ctx.Err()
	case <-l.lost:
		select {
		case env := <-ch:
			return env, nil
		default:
		}
		return msg.Envelope{}, ErrDisconnected
	case <-c.done:
		select {
		case env := <-ch:
			return env, nil
		default:
		}
		return msg.Envelope{}, c.err
	}
}

// Request sends m tagged with a fresh request id and waits for the
// server's answer carrying that id (Player.Reply on the server). The answer
// does not go through Poll, so Request works from any goroutine while the
// game loop polls, but it needs the inbound queue not to be full. An ERR
// answer is returned as the reply (*msg.Err) together with a *ServerError.
func (c *Client) Request(ctx context.Context, m any) (any, error) {
	env, err := c.roundTrip(ctx, m, make(chan msg.Envelope, 1))
	if err != nil {
		return nil, err
	}
	if e, ok := env.Msg.(*msg.Err); ok {
		return e, &ServerError{Code: e.Code, Text: e.Text}
	}
	return env.Msg, nil
}

// Login logs in with AUTH user secret (secret is a one-time token from the
// auth service, see FetchToken) and waits for WELCOME, which the server
// sends once the game has admitted the player, or for the refusal. It
// returns the player's id and display name.
func (c *Client) Login(ctx context.Context, user, secret string) (id uint64, name string, err error) {
	ch := make(chan msg.Envelope, 2)
	c.pmu.Lock()
	if c.loginWait != nil {
		c.pmu.Unlock()
		return 0, "", errors.New("client: a login is already in progress")
	}
	c.loginWait = ch
	c.pmu.Unlock()
	defer func() {
		c.pmu.Lock()
		if c.loginWait == ch {
			c.loginWait = nil
		}
		c.pmu.Unlock()
	}()
	env, err := c.roundTrip(ctx, &msg.Auth{User: user, Secret: secret}, ch)
	if err != nil {
		return 0, "", err
	}
	switch m := env.Msg.(type) {
	case *msg.Welcome:
		return m.ID, m.Name, nil
	case *msg.Err:
		return 0, "", &ServerError{Code: m.Code, Text: m.Text}
	}
	return 0, "", fmt.Errorf("client: unexpected answer %s to AUTH", env.Type.Name)
}

// LoginGuest logs in as a guest (AUTH guest); the server names the player
// guest-<id>.
func (c *Client) LoginGuest(ctx context.Context) (id uint64, name string, err error) {
	return c.Login(ctx, "guest", "")
}

// Log ships a line to the server's log with LOG, at level (mapped to
// debug, info, warn or error). Text longer than the protocol's 512 bytes is
// cut. The server rate-limits LOG lines.
func (c *Client) Log(level slog.Level, text string) error {
	lv := "error"
	switch {
	case level < slog.LevelInfo:
		lv = "debug"
	case level < slog.LevelWarn:
		lv = "info"
	case level < slog.LevelError:
		lv = "warn"
	}
	if len(text) > maxLogText {
		cut := maxLogText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	return c.Send(&msg.Log{Level: lv, Text: text})
}

// RTT returns the smoothed round-trip time measured with PING, or 0 before
// the first answer (or with pings disabled).
func (c *Client) RTT() time.Duration { return time.Duration(c.srtt.Load()) }
