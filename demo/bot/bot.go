// Package bot is a headless player of the demo arena (package
// demo/arena), built only on the public API of package client: it knows
// nothing of the server's internals, so what it sees and does is what any
// game client would.
//
// A bot connects (TCP, WebSocket or a given connection), logs in as a
// guest or with an account token, and keeps the replica model of the world
// in sync (client.Options.Replica), which reports every inconsistency to
// the server as DESYNC. It then plays as a person would, polling once per
// frame at Config.FrameRate:
//
//   - it drives its tank with client-side prediction: each step is
//     arena.Step on the tile map it received, at the tick rate the server
//     announced in LIMITS (client.Client.Limits), sent as DRIVE seq x y
//     through client.Predict, and reconciled on every ACK. Steps are paced
//     under the arena's speed limit (PaceShare of arena.Speed, whatever
//     the tick rate), so the server never has reason to refuse one and
//     the prediction never snaps back unless it does;
//   - it wanders towards targets (random spots, chests it saw, tanks it
//     sees, and sometimes a portal to another zone), planning its way round
//     walls on the tile map;
//   - it turns towards a live tank in range and in sight and fires;
//   - it opens chests it passes, takes and puts items, and closes them;
//   - it chats now and then.
//
// When its connection drops, the client resumes the seat by itself
// (client.Options.Reconnect); the bot stops acting until the resume and
// the fresh snapshot have arrived, then checks that it came back as itself:
// the same tank with the same score and inventory, and a prediction that
// agrees with the server on the first input after the resume.
// Config.DropEvery severs the connection now and then on purpose.
//
// Run returns a Report of what it saw: DESYNC reports sent, prediction
// snaps, refusals, messages by type, round-trip times, resyncs, kills and
// deaths, drops and resumes. Its choices come from Config.Seed; the
// network's timing makes a run only as deterministic as the server's
// answers allow.
//
// The "tickwire play" command runs bots against a running demo server.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/replica"
)

// Defaults and pacing.
const (
	// DefaultFrameRate is how many frames per second a bot runs, polling
	// the connection once per frame.
	DefaultFrameRate = 60
	// MaxFrameRate caps Config.FrameRate.
	MaxFrameRate = 1000
	// DefaultChatEvery is the mean time between two chat lines.
	DefaultChatEvery = 20 * time.Second
	// DefaultPortalChance is the probability that a new wander target is a
	// portal (which leads to another zone).
	DefaultPortalChance = 0.1
	// ConnectTimeout bounds connecting and logging in.
	ConnectTimeout = 10 * time.Second
	// QuitTimeout bounds the polite goodbye (QUIT, then the server's BYE)
	// at the end of a run.
	QuitTimeout = 2 * time.Second
	// PaceShare is the share of arena.Speed a bot drives at: its own
	// movement allowance refills at PaceShare*arena.Speed units a second
	// and each DRIVE step spends its length, so its moves always fit the
	// server's allowance (arena.Speed a second, arena.MaxBank seconds of
	// it saved up) whatever the tick rate and the network's jitter.
	PaceShare = 0.9
	// PaceBank is the most movement, in seconds of PaceShare*arena.Speed,
	// a bot saves up while it stands: well within the server's
	// arena.MaxBank.
	PaceBank = 0.25
	// FireInterval is the least time between two shots: the gun's
	// cooldown (arena.FireCooldown) with a margin for network jitter.
	FireInterval = arena.FireCooldown + 200*time.Millisecond
	// ChestRevisit is how long a bot leaves a chest alone after opening it.
	ChestRevisit = 30 * time.Second
	// SettleTime is how long the results of an action (a shot, an item
	// taken or put) may take to come back: a resume after a drop that
	// followed an action by less than this (before the last message from
	// the server) is not compared, since the server may have applied it
	// and the answer been lost with the connection.
	SettleTime = time.Second
)

// Config configures a bot. Exactly one of Addr, URL and Conn must be set;
// every other field has a usable zero value.
type Config struct {
	// Addr is the server's TCP address, host:port.
	Addr string
	// URL is the server's WebSocket endpoint, e.g. ws://127.0.0.1:8080/ws.
	URL string
	// Conn is an established connection to the server (one end of a
	// transport.PipeListener in tests, say). Run owns it and closes it.
	Conn net.Conn
	// Encoding is the wire encoding: msg.Text (the zero value), msg.JSON
	// or msg.MsgPack.
	Encoding msg.Encoding
	// Name and Token log in to an account: Name is the account name and
	// Token a one-time token from the auth service (client.FetchToken).
	// With no Token the bot logs in as a guest and the server names it.
	Name, Token string
	// Seed seeds the bot's choices: where to go, when to chat, which item
	// to take.
	Seed uint64
	// FrameRate is how many frames per second the bot runs; it polls once
	// per frame. Default DefaultFrameRate (60).
	FrameRate int
	// Duration ends the run after this long of play (from the login on);
	// 0 plays until ctx is done.
	Duration time.Duration
	// ChatEvery is the mean time between two chat lines. Default
	// DefaultChatEvery; negative never chats.
	ChatEvery time.Duration
	// PortalChance is the probability that a new wander target is a
	// portal. Default DefaultPortalChance; negative never takes a portal.
	PortalChance float64
	// DropEvery, when positive, severs the bot's connection every
	// DropEvery of play (client.Client.Sever), as a network failure would:
	// the client must resume the seat. Report.Severed counts the cuts.
	DropEvery time.Duration
	// Reconnect configures the client's reconnection (the zero value: on,
	// with the client's defaults).
	Reconnect client.ReconnectOptions
	// Progress, when set, is called about once a second from Run's
	// goroutine with the report so far (Report.Elapsed is the time played).
	Progress func(Report)
	// Logger receives the client's log. Nil discards it.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	n := 0
	for _, set := range []bool{c.Addr != "", c.URL != "", c.Conn != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return c, errors.New("bot: set exactly one of Config.Addr, Config.URL and Config.Conn")
	}
	switch c.Encoding {
	case msg.Text, msg.JSON, msg.MsgPack:
	default:
		return c, fmt.Errorf("bot: unknown encoding %v", c.Encoding)
	}
	if c.FrameRate == 0 {
		c.FrameRate = DefaultFrameRate
	}
	if c.FrameRate < 1 || c.FrameRate > MaxFrameRate {
		return c, fmt.Errorf("bot: FrameRate %d out of range 1-%d", c.FrameRate, MaxFrameRate)
	}
	if c.Duration < 0 || c.DropEvery < 0 {
		return c, errors.New("bot: Duration and DropEvery must not be negative")
	}
	if c.ChatEvery == 0 {
		c.ChatEvery = DefaultChatEvery
	}
	if c.PortalChance == 0 {
		c.PortalChance = DefaultPortalChance
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Run connects a bot, logs it in and plays until ctx is done or
// Config.Duration has passed, then leaves politely (QUIT) and returns what
// it saw. The error is nil for a run that ended that way; otherwise it says
// why the bot could not connect or log in, or why the connection ended
// early (a *client.ByeError when the server said BYE), and the report
// covers the play until then, with Report.Error set to the error's text.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		if cfg.Conn != nil {
			cfg.Conn.Close()
		}
		return Report{Error: err.Error()}, err
	}
	b := newBot(cfg)
	rep, err := b.run(ctx)
	if err != nil {
		rep.Error = err.Error()
	}
	return rep, err
}

// bot is one player's state. Everything but run's setup happens on Run's
// goroutine, inside Poll callbacks or between Polls.
type bot struct {
	cfg  Config
	rng  *rand.Rand
	c    *client.Client
	m    *replica.Model
	pred *replica.Predictor[arena.Point, arena.Control]
	pp   *client.Predicted[arena.Point, arena.Control]
	now  time.Time

	tank        replica.EntityID
	dead        bool
	teleporting bool      // drove onto a portal; waiting for the SPAWN on the other side
	teleportAt  time.Time // when
	waitZone    bool      // came through a portal; waiting for the new zone's snapshot
	waitZoneAt  time.Time
	reset       bool // the prediction was reset this frame (spawn, portal): not a jump
	prev        arena.Point
	havePrev    bool
	// rate is the server's tick rate (LIMITS), which arena.Step needs; 0
	// until the first SPAWN.
	rate int
	fail error // ends the run at the next frame

	// Driving.
	plan       planner
	path       []int // tile indexes still to reach; path[0] is the next waypoint
	portalGoal bool
	hunting    replica.EntityID // the tank the path leads to, if any
	repathAt   time.Time
	pauseUntil time.Time
	allowance  float64   // units the bot may drive now (PaceShare)
	paced      time.Time // when allowance was last refilled

	// Fighting, chests, chat.
	nextShot time.Time
	chests   map[replica.EntityID]chestInfo // chests seen in the current zone
	chest    chestSession
	nextChat time.Time
	nextLook int // frame of the next sightings scan
	lastRTT  time.Duration
	rtts     []time.Duration
	zones    map[int]bool
	seen     map[string]bool // names of the other tanks seen

	// Drops and resumes.
	offline   bool      // the connection dropped; waiting for the resume
	droppedAt time.Time // wall clock, when Poll reported the drop
	before    tankState // the tank as the model held it at the drop
	verify    bool      // compare the tank with before at the next SNAPEND
	lastRecv  time.Time // the latest message from the server
	lastShot  time.Time // the latest FIRE sent
	lastChest time.Time // the latest TAKE or PUT sent
	nextDrop  time.Time // DropEvery's next cut
	moved     bool      // OnMoved came: the resume that follows is on another server
	seamless  bool      // and the connection did not drop before it (a MOVED followed at once)
	verifyMv  bool      // the pending verification is of a move: the tank id changes
	// The first inputs after a resume, by sequence number, with the
	// position predicted after each: the first ACK of one of them
	// measures the prediction error.
	afterResume map[uint32]arena.Point

	rep Report
}

// tankState is what must survive a resume: the tank, its score and its
// inventory. ok is false when it could not be read; scoreOK and invOK
// are false when that part is not comparable (an action that changes it
// may have been applied unseen).
type tankState struct {
	id             replica.EntityID
	score          int32
	inv            [arena.InvSlots]int32
	ok             bool
	scoreOK, invOK bool
}

// chestInfo is what a bot remembers of a chest it saw.
type chestInfo struct {
	at      arena.Point
	visited time.Time
}

// chestSession is an open (or opening) chest.
type chestSession struct {
	id       replica.EntityID // 0: none
	open     bool             // the server confirmed the OPEN
	pending  bool             // a TAKE or PUT awaits its answer
	left     int              // actions still to do before closing
	next     time.Time        // the next action, not before
	deadline time.Time        // give up waiting for an answer
}

func newBot(cfg Config) *bot {
	return &bot{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0xb07b07)),
		chests: map[replica.EntityID]chestInfo{},
		zones:  map[int]bool{},
		seen:   map[string]bool{},
		rep: Report{
			Encoding: cfg.Encoding.String(),
			Seed:     cfg.Seed,
			Messages: map[string]int{},
			Refusals: map[string]int{},
		},
	}
}

// run connects, logs in and runs the frame loop.
func (b *bot) run(ctx context.Context) (Report, error) {
	reg := msg.NewRegistry()
	arena.Register(reg)
	opts := client.Options{
		Registry:  reg,
		Encoding:  b.cfg.Encoding,
		Logger:    b.cfg.Logger,
		Replica:   true,
		OnMessage: b.count,
		Reconnect: b.cfg.Reconnect,
	}
	cctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	var c *client.Client
	var err error
	switch {
	case b.cfg.Conn != nil:
		c, err = client.New(b.cfg.Conn, opts)
		if err != nil {
			b.cfg.Conn.Close()
		}
	case b.cfg.URL != "":
		c, err = client.DialWebSocket(cctx, b.cfg.URL, opts)
	default:
		c, err = client.Dial(cctx, b.cfg.Addr, opts)
	}
	if err != nil {
		return b.rep, fmt.Errorf("bot: connect: %w", err)
	}
	defer c.Close()
	b.c, b.m = c, c.Model()
	b.handle()
	var id uint64
	var name string
	if b.cfg.Token != "" {
		id, name, err = c.Login(cctx, b.cfg.Name, b.cfg.Token)
	} else {
		id, name, err = c.LoginGuest(cctx)
	}
	if err != nil {
		return b.report(0), fmt.Errorf("bot: login: %w", err)
	}
	b.rep.PlayerID, b.rep.Name = id, name
	// The arena narrates for people on text connections; a program asks
	// for the sync stream. The mode belongs to the seat: resumes keep it.
	if b.cfg.Encoding == msg.Text {
		if err := c.Send(&arena.Mode{Mode: arena.ModeSync}); err != nil {
			return b.report(0), fmt.Errorf("bot: MODE sync: %w", err)
		}
	}

	frame := time.Second / time.Duration(b.cfg.FrameRate)
	ticker := time.NewTicker(frame)
	defer ticker.Stop()
	var end <-chan time.Time
	if b.cfg.Duration > 0 {
		t := time.NewTimer(b.cfg.Duration)
		defer t.Stop()
		end = t.C
	}
	start := time.Now()
	nextProgress := start.Add(time.Second)
	b.nextChat = start.Add(b.chatDelay())
	if b.cfg.DropEvery > 0 {
		b.nextDrop = start.Add(b.cfg.DropEvery)
	}
	for {
		select {
		case <-ctx.Done():
			return b.finish(start)
		case <-end:
			return b.finish(start)
		case <-ticker.C:
		}
		if err := b.frame(time.Now()); err != nil {
			return b.report(time.Since(start)), err
		}
		if b.cfg.Progress != nil && !b.now.Before(nextProgress) {
			nextProgress = nextProgress.Add(time.Second)
			b.cfg.Progress(b.report(b.now.Sub(start)))
		}
	}
}

// finish leaves politely and returns the final report.
func (b *bot) finish(start time.Time) (Report, error) {
	elapsed := time.Since(start)
	// A last Poll: what arrived since the last frame still counts.
	if _, err := b.c.Poll(); err != nil {
		return b.report(elapsed), err
	}
	qctx, cancel := context.WithTimeout(context.Background(), QuitTimeout)
	defer cancel()
	b.c.Quit(qctx) // the report is complete either way
	return b.report(elapsed), nil
}

// frame runs one frame: poll, then act.
func (b *bot) frame(now time.Time) error {
	b.now = now
	b.reset = false
	if _, err := b.c.Poll(); err != nil {
		return fmt.Errorf("bot: %w", err)
	}
	if b.fail != nil {
		return b.fail
	}
	b.rep.Frames++
	if st := b.c.Stats(); st.LastRTT != 0 && st.LastRTT != b.lastRTT {
		b.lastRTT = st.LastRTT
		b.rtts = append(b.rtts, st.LastRTT)
	}
	if b.teleporting && now.Sub(b.teleportAt) > 3*time.Second {
		// The portal step was refused (the prediction has snapped back):
		// carry on in this zone.
		b.teleporting = false
	}
	if b.waitZone && now.Sub(b.waitZoneAt) > 5*time.Second {
		b.waitZone = false
	}
	if b.rep.Frames >= b.nextLook {
		b.nextLook = b.rep.Frames + max(b.cfg.FrameRate/10, 1)
		b.look()
	}
	if b.ready() {
		b.think()
	}
	b.track()
	if !b.nextDrop.IsZero() && !now.Before(b.nextDrop) {
		b.nextDrop = b.nextDrop.Add(b.cfg.DropEvery)
		if !b.offline {
			b.rep.Severed++
			b.c.Sever()
		}
	}
	return nil
}

// ready reports whether the bot can act: it is connected, it has a live
// tank and the whole tile map of its zone.
func (b *bot) ready() bool {
	return b.pred != nil && !b.offline && !b.dead && !b.teleporting && !b.waitZone &&
		b.m.Zone().ID >= 0 && !b.m.Loading()
}

// track measures how far the predicted position moved this frame.
func (b *bot) track() {
	if b.pred == nil {
		return
	}
	p := b.pred.State()
	if b.havePrev && !b.reset {
		d := max(abs32(p.X-b.prev.X), abs32(p.Y-b.prev.Y))
		b.rep.MaxFrameJump = max(b.rep.MaxFrameJump, d)
		b.rep.Distance += int64(d)
	}
	b.prev, b.havePrev = p, true
}

// look records which tanks and chests are in view.
func (b *bot) look() {
	zone := b.m.Zone().ID
	if zone < 0 || b.m.Loading() {
		return
	}
	b.m.Each(func(e replica.ModelEntity) bool {
		switch {
		case e.Kind == arena.KindTank && e.ID != b.tank:
			b.seen[e.Name] = true
		case e.Kind == arena.KindChest:
			ci := b.chests[e.ID]
			ci.at = pos(e)
			b.chests[e.ID] = ci
		}
		return true
	})
}

func pos(e replica.ModelEntity) arena.Point {
	return arena.Point{X: e.Vals[replica.FieldX], Y: e.Vals[replica.FieldY]}
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// send sends m; what could not be queued is simply not done, and counted:
// in Report.DisconnectedSends when the connection had just dropped (the
// bot stops acting once Poll reports it), else in Report.SendErrors (the
// outbound queue is full).
func (b *bot) send(m any) bool {
	if err := b.c.Send(m); err != nil {
		b.sendFailed(err)
		return false
	}
	return true
}

func (b *bot) sendFailed(err error) {
	if errors.Is(err, client.ErrDisconnected) {
		b.rep.DisconnectedSends++
	} else {
		b.rep.SendErrors++
	}
}

// onReconnecting: the connection dropped (attempt 1) and the client is
// resuming the seat. The bot stops acting and notes its tank as it was.
func (b *bot) onReconnecting(attempt int, err error) {
	if attempt != 1 {
		return
	}
	b.offline = true
	b.droppedAt = time.Now()
	b.rep.Drops++
	b.noteTank()
}

// noteTank notes the tank as it is, before the connection changes, for
// verifyResume.
func (b *bot) noteTank() {
	b.before = b.tankState()
	// An action whose answer may not have arrived makes that part of the
	// comparison moot: the server may have applied it.
	// A shot scores a kill; a TAKE of gold or a gem scores too, and any
	// TAKE or PUT changes the inventory.
	settled := b.lastRecv.Add(-SettleTime)
	chestSettled := !b.lastChest.After(settled) && !b.chest.pending
	b.before.scoreOK = b.before.ok && !b.lastShot.After(settled) && chestSettled
	b.before.invOK = b.before.ok && chestSettled
}

// onMoved: the client resumed the seat on another server of a cluster
// (MOVED, or a seed after the server died); OnResumed follows at once.
// A MOVED followed at once is no drop: the bot notes its tank here, as
// onReconnecting does for a drop, and the resume that follows is counted
// as a move only. The player id is the new server's.
func (b *bot) onMoved(addr string) {
	b.rep.Moves++
	b.rep.PlayerID = b.c.ID()
	b.moved = true
	b.seamless = !b.offline
	if b.seamless {
		b.noteTank()
	}
}

// onResumed: the seat is back. The bot waits for the fresh snapshot,
// then compares its tank with what it was, and measures the prediction on
// the first input it sends. After a move it does the same, on the new
// server: a new zone, a new tank id, the prediction restarting at SPAWN.
func (b *bot) onResumed() {
	now := time.Now()
	b.offline = false
	if !(b.moved && b.seamless) {
		b.rep.Resumes++
		b.rep.ResumedAt = append(b.rep.ResumedAt, now)
		b.rep.ResumeTimes = append(b.rep.ResumeTimes, now.Sub(b.droppedAt))
	}
	// A resume that landed on another server of a cluster (its node died
	// and a seed took the player in without a MOVED) is a move too: ids
	// are that server's.
	if id := b.c.ID(); id != b.rep.PlayerID {
		b.rep.PlayerID = id
		b.moved = true
	}
	b.verify, b.verifyMv = true, b.moved
	b.moved, b.seamless = false, false
	// The server closed any chest; the view comes anew.
	b.waitZone, b.waitZoneAt = true, b.now
	b.teleporting, b.path, b.hunting, b.chest = false, nil, 0, chestSession{}
	b.afterResume = map[uint32]arena.Point{}
}

// onLost: the client gave up the seat; Poll returns the error next.
func (b *bot) onLost(err error) {
	b.offline = true
	b.rep.SeatsLost++
}

// tankState reads the bot's tank from the model.
func (b *bot) tankState() tankState {
	e, ok := b.m.Entity(b.tank)
	if !ok || b.tank == 0 {
		return tankState{id: b.tank}
	}
	s := tankState{id: b.tank, score: e.Vals[arena.TankScore], ok: true}
	for i := range s.inv {
		s.inv[i] = e.Vals[arena.TankInv0+i]
	}
	return s
}

// verifyResume compares the tank after a resume's snapshot with the tank
// before the drop.
func (b *bot) verifyResume() {
	b.verify = false
	if e, ok := b.m.Entity(b.tank); ok {
		b.dead = e.Vals[arena.TankDead] != 0
	}
	before, after := b.before, b.tankState()
	if before.id == 0 {
		return // no tank before the drop: nothing to compare
	}
	if b.verifyMv {
		if !after.ok {
			// On another server the tank has a new id, which only a
			// SPAWN names, and a destroyed tank gets none until it
			// respawns: nothing to compare with yet.
			return
		}
		// Entity ids are per server: the tank is the one SPAWN named.
		before.id = after.id
	}
	if after.id != before.id || !after.ok || before.scoreOK && after.score != before.score || before.invOK && after.inv != before.inv {
		b.rep.ResumeMismatches = append(b.rep.ResumeMismatches,
			fmt.Sprintf("tank %d score %d inventory %v before the drop (score comparable %v, inventory %v); tank %d score %d inventory %v (in view %v) after the resume",
				before.id, before.score, before.inv, before.scoreOK, before.invOK, after.id, after.score, after.inv, after.ok))
		return
	}
	if before.scoreOK && before.invOK {
		b.rep.ResumesVerified++
	}
}
