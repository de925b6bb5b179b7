package servertest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/tickwire/tickwire/frame"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/transport"
)

// Client is an in-memory connection to a Server, speaking one of the
// encodings. It reads everything the server sends into a queue as it
// arrives; the Expect methods take messages from the front of that queue.
// Create it with Server.Dial.
type Client struct {
	s     *Server
	n     int          // dial order, naming the client before it logs in
	enc   msg.Encoding // the encoding it was dialled in
	out   *msg.Codec   // encodes what it sends, in its current encoding
	conn  *conn        // the current connection (a new one after Resume)
	conns []*conn      // every connection it had, for the cleanup
	name  string
	id    uint64
	seat  string // the latest seat token
	syncs uint32
}

// conn is one connection of a Client: the client end of a pipe whose
// server end is served by ServeConn on its own goroutine.
type conn struct {
	nc     net.Conn
	served chan struct{} // closed when ServeConn has returned
	gone   bool          // closed by the test (Drop, Close); test goroutine only

	mu     sync.Mutex
	signal chan struct{} // closed and replaced whenever the state below changes
	queue  []item
	acked  uint32 // the latest sync answered
	ended  bool   // the reader hit the end of the stream (or an error)
	endErr error
	bye    string // the reason of the last BYE received
}

// item is one message received.
type item struct {
	env   msg.Envelope
	text  string // the message in the text encoding, with "@rid " when tagged
	plain string // the same without the request id
	err   error  // the frame did not decode
}

// Dial connects a new client in enc (msg.Text, msg.JSON or msg.MsgPack)
// and returns once the server has admitted the connection, so clients get
// their ids (and guest names) in the order they were dialled. A client in
// JSON or MessagePack sends USE first and waits for USING, as any TCP
// client would. It is not logged in: call Login (with Config.AutoLogin,
// Login reads the WELCOME).
func (s *Server) Dial(enc msg.Encoding) *Client {
	s.t.Helper()
	if s.down {
		s.t.Fatalf("servertest: Dial after the server was shut down")
	}
	if enc != msg.Text && enc != msg.JSON && enc != msg.MsgPack {
		s.t.Fatalf("servertest: Dial: unknown encoding %v", enc)
	}
	s.dialled++
	c := &Client{s: s, n: s.dialled, enc: enc}
	s.clients = append(s.clients, c)
	c.connect()
	return c
}

// connect opens a new connection for c and switches it to c's encoding.
func (c *Client) connect() {
	c.s.t.Helper()
	srvEnd, cliEnd := net.Pipe()
	cc := &conn{nc: cliEnd, served: make(chan struct{}), signal: make(chan struct{})}
	addr := transport.PipeAddr{ID: c.n}
	c.s.do(func() {
		go func() {
			defer close(cc.served)
			c.s.srv.ServeConn(pipeEnd{srvEnd, addr})
		}()
		go cc.read(c.s.cfg.Registry)
	})
	c.conn = cc
	c.conns = append(c.conns, cc)
	c.out = c.s.cfg.Registry.NewCodec(msg.Text)
	if c.enc != msg.Text {
		c.send("Dial", &msg.Use{Encoding: c.enc.String()}, 0)
		c.takeUsing()
	} else {
		// Once the server answers, it has admitted the connection: clients
		// get their ids (and guest names) in the order they were dialled.
		c.sync()
	}
}

// pipeEnd is the server's end of a client's pipe, with an address for the
// server's logs.
type pipeEnd struct {
	net.Conn
	addr net.Addr
}

func (p pipeEnd) LocalAddr() net.Addr  { return p.addr }
func (p pipeEnd) RemoteAddr() net.Addr { return p.addr }

// read runs on the connection's reader goroutine: it decodes what the
// server sends, following USING, keeps sync answers to itself and queues
// the rest.
func (cc *conn) read(reg *msg.Registry) {
	in := reg.NewCodec(msg.Text)
	text := reg.NewCodec(msg.Text)
	fr := frame.NewReader(cc.nc, frame.MaxMessageLimit)
	for {
		b, err := fr.Next()
		if err != nil {
			cc.update(func() { cc.ended, cc.endErr = true, err })
			return
		}
		env, err := in.Decode(b, msg.ToClient)
		if err != nil {
			q := fmt.Sprintf("%q", b)
			cc.update(func() { cc.queue = append(cc.queue, item{text: q, plain: q, err: err}) })
			continue
		}
		if e, ok := env.Msg.(*msg.Err); ok && env.RID >= FirstReservedRID && e.Code == msg.CodeNotAllowed {
			cc.update(func() { cc.acked = env.RID })
			continue
		}
		if u, ok := env.Msg.(*msg.Using); ok {
			if e, err := msg.ParseEncoding(u.Encoding); err == nil {
				in.SetEncoding(e)
				fr.SetMode(e.FrameMode())
			}
		}
		it := item{env: env}
		line, _ := text.Append(nil, env.Msg, env.RID)
		it.text = strings.TrimSuffix(string(line), "\n")
		it.plain = it.text
		if env.RID != 0 {
			_, it.plain, _ = strings.Cut(it.text, " ")
		}
		cc.update(func() {
			cc.queue = append(cc.queue, it)
			if bye, ok := env.Msg.(*msg.Bye); ok {
				cc.bye = bye.Reason
			}
		})
	}
}

// update changes the connection's state under its lock and wakes waiters.
func (cc *conn) update(f func()) {
	cc.mu.Lock()
	f()
	close(cc.signal)
	cc.signal = make(chan struct{})
	cc.mu.Unlock()
}

// wait waits until cond (called with the lock held) holds, and reports
// false if it did not within waitLimit.
func (cc *conn) wait(cond func() bool) bool {
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		cc.mu.Lock()
		ok, ch := cond(), cc.signal
		cc.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

func (cc *conn) pop() (item, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.queue) == 0 {
		return item{}, false
	}
	it := cc.queue[0]
	cc.queue = cc.queue[1:]
	return it, true
}

func (cc *conn) isEnded() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.ended
}

// who names the client in failure messages.
func (c *Client) who() string {
	name := c.name
	if name == "" {
		name = fmt.Sprintf("#%d", c.n)
	}
	return fmt.Sprintf("%s (%s)", name, c.enc)
}

func (c *Client) fatalf(format string, args ...any) {
	c.s.t.Helper()
	c.s.t.Fatalf("servertest: client %s: %s", c.who(), fmt.Sprintf(format, args...))
}

// ID is the player id from the client's WELCOME (0 before Login).
func (c *Client) ID() uint64 { return c.id }

// Name is the player name from the client's WELCOME ("" before Login).
func (c *Client) Name() string { return c.name }

// Encoding is the encoding the client was dialled in.
func (c *Client) Encoding() msg.Encoding { return c.enc }

// live returns the current connection, failing if the test closed it.
func (c *Client) live(what string) *conn {
	c.s.t.Helper()
	if c.conn.gone {
		c.fatalf("%s: the connection was closed by Drop or Close; Resume first", what)
	}
	return c.conn
}

// write writes b to the server; what names the caller for failures.
func (c *Client) write(what string, b []byte) {
	c.s.t.Helper()
	cc := c.live(what)
	cc.nc.SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := cc.nc.Write(b); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.fatalf("%s: the server read nothing for %v: its reader waits for a tick (more than MaxInbound = %d messages sent since the last Tick?)", what, waitLimit, c.s.cfg.MaxInbound)
		}
		cc.wait(func() bool { return cc.ended })
		c.fatalf("%s: the connection is closed%s", what, c.closedHow())
	}
}

// closedHow says how the server ended the connection, when it did.
func (c *Client) closedHow() string {
	cc := c.conn
	cc.mu.Lock()
	defer cc.mu.Unlock()
	switch {
	case cc.bye != "":
		return " (the server sent BYE " + cc.bye + ")"
	case cc.ended:
		return " (by the server, without BYE)"
	}
	return ""
}

// send encodes m (rid tags it) in the client's encoding and writes it.
func (c *Client) send(what string, m any, rid uint32) {
	c.s.t.Helper()
	b, err := c.out.Append(nil, m, rid)
	if err != nil {
		c.fatalf("%s %T: %v", what, m, err)
	}
	c.write(what, b)
	c.followUse(m)
}

// followUse switches the client's own encoding after it sends USE: the
// server reads everything after USE in the new encoding.
func (c *Client) followUse(m any) {
	var name string
	switch u := m.(type) {
	case *msg.Use:
		name = u.Encoding
	case msg.Use:
		name = u.Encoding
	default:
		return
	}
	if e, err := msg.ParseEncoding(name); err == nil {
		c.out.SetEncoding(e)
	}
}

// Send sends m, a registered message value or pointer, in the client's
// encoding. It returns once the server has read the bytes; the game sees
// the message at the next Tick. Sending USE switches the client's encoding
// (its USING then arrives like any message).
func (c *Client) Send(m any) {
	c.s.t.Helper()
	c.send("Send", m, 0)
}

// SendRID sends m tagged with request id rid, as "@rid" does in the text
// encoding. Answers to it (Player.Reply, ERR) carry the same id.
func (c *Client) SendRID(m any, rid uint32) {
	c.s.t.Helper()
	c.send("SendRID", m, rid)
}

// SendLine sends one line of the text protocol, such as "@9 STEP s". A
// text client sends it byte for byte, so it may be malformed on purpose; a
// JSON or MessagePack client sends the message the line describes in its
// own encoding (the line must then be valid), so one script tests every
// encoding.
func (c *Client) SendLine(line string) {
	c.s.t.Helper()
	if strings.ContainsAny(line, "\r\n") {
		c.fatalf("SendLine %q: one line, without its line ending (SendRaw sends anything)", line)
	}
	env, err := c.s.cfg.Registry.Decode(msg.Text, []byte(line), msg.Both)
	if c.out.Encoding() == msg.Text {
		c.write("SendLine", []byte(line+"\n"))
	} else {
		if err != nil {
			c.fatalf("SendLine %q: %v (only a text client sends lines that do not parse)", line, err)
		}
		b, err := c.out.Append(nil, env.Msg, env.RID)
		if err != nil {
			c.fatalf("SendLine %q: %v", line, err)
		}
		c.write("SendLine", b)
	}
	if err == nil {
		c.followUse(env.Msg)
	}
}

// SendRaw writes b as it is: whole frames in the client's current framing,
// or anything at all to test the server's defences. Leaving a binary frame
// incomplete stalls the next Tick (the server waits for the rest of it).
func (c *Client) SendRaw(b []byte) {
	c.s.t.Helper()
	c.write("SendRaw", b)
}

// startSync writes a sync frame and returns its request id, or 0 if the
// connection has ended.
func (c *Client) startSync() uint32 {
	c.s.t.Helper()
	cc := c.conn
	if cc.isEnded() {
		return 0
	}
	c.syncs++
	rid := uint32(FirstReservedRID) | c.syncs&(1<<28-1)
	var b []byte
	if c.out.Encoding() == msg.Text {
		// A newline first ends any partial line a SendRaw left, so the
		// sync frame is read as a frame of its own.
		b = append(b, '\n')
	}
	b, err := c.out.Append(b, &msg.Pong{Token: "servertest"}, rid)
	if err != nil {
		c.fatalf("sync: %v", err)
	}
	cc.nc.SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := cc.nc.Write(b); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.fatalf("the server read nothing for %v: its reader waits for a tick (more than MaxInbound = %d messages sent since the last Tick?)", waitLimit, c.s.cfg.MaxInbound)
		}
		return 0 // the server closed the connection
	}
	return rid
}

// finishSync waits for the answer to sync rid, or, if the connection is
// closing, for the server to finish with it.
func (c *Client) finishSync(rid uint32) {
	c.s.t.Helper()
	cc := c.conn
	if !cc.wait(func() bool { return (rid != 0 && cc.acked >= rid) || cc.ended }) {
		c.fatalf("no answer to servertest's sync frame within %v: the server's reader is stuck (more than MaxInbound = %d messages sent since the last Tick, or half a binary frame sent with SendRaw?)", waitLimit, c.s.cfg.MaxInbound)
	}
	if rid != 0 && !cc.isEnded() {
		return
	}
	if !waitClosed(cc.served) {
		c.fatalf("the connection ended but the server did not finish with it within %v", waitLimit)
	}
}

// sync makes sure everything the server sent before now has arrived.
func (c *Client) sync() {
	c.s.t.Helper()
	if c.conn.gone {
		return // closed by the test: the reader has read all there was
	}
	c.finishSync(c.startSync())
}

// next takes the next message, syncing first if none is waiting; it fails
// the test if none arrives.
func (c *Client) next(what string) item {
	c.s.t.Helper()
	if it, ok := c.conn.pop(); ok {
		return it
	}
	c.sync()
	if it, ok := c.conn.pop(); ok {
		return it
	}
	hint := c.closedHow()
	if hint == "" {
		hint = " (the server has sent nothing more: does the game need another Tick?)"
	}
	c.fatalf("%s: nothing arrived%s", what, hint)
	return item{}
}

// after lists what waits in the queue, for failure messages. It syncs
// first, so the list holds everything the server has sent.
func (c *Client) after() string {
	c.s.t.Helper()
	c.sync()
	cc := c.conn
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.queue) == 0 {
		return ""
	}
	var b strings.Builder
	for i, it := range cc.queue {
		if i == 5 {
			fmt.Fprintf(&b, "\n\t      ... and %d more", len(cc.queue)-i)
			break
		}
		fmt.Fprintf(&b, "\n\tthen: %s", it.text)
	}
	return b.String()
}

// render writes m in the text encoding, for comparisons and messages.
func (c *Client) render(what string, m any, rid uint32) string {
	c.s.t.Helper()
	b, err := c.s.text.Append(nil, m, rid)
	if err != nil {
		c.fatalf("%s %T: %v", what, m, err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// Next takes the next message, whatever it is, syncing first if none is
// waiting. It fails the test if nothing arrives or the message does not
// decode.
func (c *Client) Next() msg.Envelope {
	c.s.t.Helper()
	it := c.next("Next")
	if it.err != nil {
		c.fatalf("Next: %s does not decode: %v", it.text, it.err)
	}
	return it.env
}

// Expect takes the next message and fails the test unless it equals m (a
// registered message value or pointer), whatever its request id. It
// compares the messages as the text encoding writes them, so the failure
// shows both, and what else is waiting. It returns the message received.
func (c *Client) Expect(m any) msg.Envelope {
	c.s.t.Helper()
	want := c.render("Expect", m, 0)
	it := c.next("Expect " + want)
	if it.err != nil || it.plain != want {
		c.fatalf("Expect %s\n\tgot:  %s%s", want, it.text, c.after())
	}
	return it.env
}

// ExpectReply is Expect for an answer: the message must also carry request
// id rid.
func (c *Client) ExpectReply(rid uint32, m any) msg.Envelope {
	c.s.t.Helper()
	want := c.render("ExpectReply", m, rid)
	it := c.next("ExpectReply " + want)
	if it.err != nil || it.text != want {
		c.fatalf("ExpectReply %s\n\tgot:  %s%s", want, it.text, c.after())
	}
	return it.env
}

// ExpectLine takes the next message and fails the test unless, written in
// the text encoding ("@9 AT 1 0" for a tagged answer), it starts with
// prefix. It returns that line. It works in every encoding.
func (c *Client) ExpectLine(prefix string) string {
	c.s.t.Helper()
	it := c.next(fmt.Sprintf("ExpectLine %q", prefix))
	if !strings.HasPrefix(it.text, prefix) {
		c.fatalf("ExpectLine %q\n\tgot:  %s%s", prefix, it.text, c.after())
	}
	return it.text
}

// SkipTo takes messages until one, in the text encoding, starts with
// prefix, and returns it. It fails the test if none does.
func (c *Client) SkipTo(prefix string) string {
	c.s.t.Helper()
	var skipped []string
	for {
		if it, ok := c.conn.pop(); ok {
			if strings.HasPrefix(it.text, prefix) {
				return it.text
			}
			skipped = append(skipped, it.text)
			continue
		}
		c.sync()
		if c.conn.len() == 0 {
			c.fatalf("SkipTo %q: no such message%s; skipped %q", prefix, c.closedHow(), skipped)
		}
	}
}

func (cc *conn) len() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.queue)
}

// ExpectNothing fails the test if any message has arrived that has not
// been taken, listing them. It syncs first, so it also catches messages
// still on their way.
func (c *Client) ExpectNothing() {
	c.s.t.Helper()
	c.sync()
	if c.conn.len() > 0 {
		c.fatalf("ExpectNothing, but these arrived:%s", strings.ReplaceAll(c.after(), "then: ", "      "))
	}
}

// Drain takes every message that has arrived (syncing first) and returns
// them in the text encoding.
func (c *Client) Drain() []string {
	c.s.t.Helper()
	c.sync()
	var out []string
	for {
		it, ok := c.conn.pop()
		if !ok {
			return out
		}
		out = append(out, it.text)
	}
}

// ExpectClosed fails the test unless the server closes the connection
// (waiting for it) and every message it sent has been taken.
func (c *Client) ExpectClosed() {
	c.s.t.Helper()
	cc := c.conn
	if !cc.wait(func() bool { return cc.ended }) {
		c.fatalf("ExpectClosed: the connection is still open after %v", waitLimit)
	}
	if cc.gone {
		c.fatalf("ExpectClosed: the test closed the connection itself (Drop or Close)")
	}
	if cc.len() > 0 {
		c.fatalf("ExpectClosed: closed, but these arrived first and were not taken:%s", strings.ReplaceAll(c.after(), "then: ", "      "))
	}
}

// Login logs the client in as a guest (with Config.AutoLogin the server
// has already done that), runs a Tick so the game admits the player, and
// reads WELCOME, SEAT (when the server holds seats) and LIMITS, skipping
// the Config.Banner INFO. Whatever the game sent in Join stays in the queue.
// It fails the test if the login is refused.
func (c *Client) Login() *msg.Welcome {
	c.s.t.Helper()
	if c.name != "" {
		c.fatalf("Login: already logged in as %s", c.name)
	}
	if !c.s.cfg.AutoLogin {
		c.send("Login", &msg.Auth{User: "guest"}, 0)
	}
	c.s.Tick()
	return c.welcome("Login")
}

// welcome reads the messages that open a session.
func (c *Client) welcome(what string) *msg.Welcome {
	c.s.t.Helper()
	it := c.next(what + ": WELCOME")
	if n, ok := it.env.Msg.(*msg.Notice); ok && c.s.cfg.Banner != "" && n.Text == c.s.cfg.Banner {
		it = c.next(what + ": WELCOME")
	}
	w, ok := it.env.Msg.(*msg.Welcome)
	if !ok {
		c.fatalf("%s: got %s, want WELCOME%s", what, it.text, c.after())
	}
	if c.s.cfg.SeatHold > 0 && !c.s.cfg.AutoLogin {
		seat := Receive[msg.Seat](c)
		c.seat = seat.Token
	}
	Receive[msg.Limits](c)
	c.name, c.id = w.Name, w.ID
	return w
}

// Close quits politely: it sends QUIT, waits for BYE quit and for the
// server to finish with the connection. The game's Leave (with
// server.ErrQuit) runs at the next Tick. Messages that arrived before the
// BYE stay in the queue.
func (c *Client) Close() {
	c.s.t.Helper()
	cc := c.live("Close")
	c.send("Close", &msg.Quit{}, 0)
	if !cc.wait(func() bool { return cc.ended }) {
		c.fatalf("Close: the server did not close the connection within %v of QUIT", waitLimit)
	}
	cc.gone = true
	cc.nc.Close()
	if !waitClosed(cc.served) {
		c.fatalf("Close: the server did not finish with the connection within %v", waitLimit)
	}
	cc.mu.Lock()
	n := len(cc.queue)
	quit := n > 0 && cc.bye == "quit"
	if quit {
		cc.queue = cc.queue[:n-1] // the BYE quit itself
	}
	cc.mu.Unlock()
	if !quit {
		c.fatalf("Close: the connection ended without BYE quit%s", c.after())
	}
}

// Drop closes the connection abruptly, as a lost network would, and waits
// for the server to notice. At the next Tick the game's Leave runs with
// server.ErrClosed or, when the server holds seats, the seat is held (the
// game's SeatHolder hears Disconnected) until Resume or the hold's end.
func (c *Client) Drop() {
	c.s.t.Helper()
	cc := c.live("Drop")
	cc.gone = true
	cc.nc.Close()
	if !waitClosed(cc.served) {
		c.fatalf("Drop: the server did not notice within %v", waitLimit)
	}
}

// Resume reconnects a dropped client on a new connection in its encoding,
// sends RESUME with its name and latest seat token, runs a Tick and reads
// WELCOME (which must carry the same player id), SEAT and LIMITS. Messages
// left unread on the old connection are discarded. Whatever the game sends
// a returning player (SeatHolder.Reconnected) stays in the queue.
func (c *Client) Resume() *msg.Welcome {
	c.s.t.Helper()
	if c.seat == "" {
		c.fatalf("Resume: no seat token: Login first, on a server that holds seats (SeatHold > 0, no AutoLogin)")
	}
	if !c.conn.gone && !c.conn.isEnded() {
		c.fatalf("Resume: the connection is still open: Drop it first")
	}
	if old := c.conn; !old.gone {
		old.gone = true
		old.nc.Close()
		if !waitClosed(old.served) {
			c.fatalf("Resume: the server did not finish with the old connection within %v", waitLimit)
		}
	}
	id := c.id
	c.connect()
	c.send("Resume", &msg.Resume{User: c.name, Token: c.seat}, 0)
	c.s.Tick()
	w := c.welcome("Resume")
	if w.ID != id {
		c.fatalf("Resume: WELCOME %d %s, want the seat's player id %d", w.ID, w.Name, id)
	}
	return w
}

// takeUsing waits for the USING that answers Dial's USE and removes it
// from the queue.
func (c *Client) takeUsing() {
	c.s.t.Helper()
	cc := c.conn
	var using *msg.Using
	ok := cc.wait(func() bool {
		for i, it := range cc.queue {
			if u, ok := it.env.Msg.(*msg.Using); ok {
				using = u
				cc.queue = append(cc.queue[:i:i], cc.queue[i+1:]...)
				return true
			}
		}
		return cc.ended
	})
	switch {
	case !ok:
		c.fatalf("Dial: no USING within %v of USE %s", waitLimit, c.enc)
	case using == nil:
		c.fatalf("Dial: the connection ended before USING%s%s", c.closedHow(), c.after())
	case using.Encoding != c.enc.String():
		c.fatalf("Dial: USING %s, want %s", using.Encoding, c.enc)
	}
}

// Receive takes the next message from c and fails the test unless it is a
// T (the struct type, e.g. servertest.Receive[Pos](c)). It returns it for
// checks on fields Expect cannot predict.
func Receive[T any](c *Client) *T {
	c.s.t.Helper()
	name := reflect.TypeFor[T]().Name()
	if t, err := c.s.cfg.Registry.TypeOf(new(T)); err == nil {
		name = t.Name
	}
	it := c.next("Receive " + name)
	m, ok := it.env.Msg.(*T)
	if !ok {
		c.fatalf("Receive %s\n\tgot:  %s%s", name, it.text, c.after())
	}
	return m
}
