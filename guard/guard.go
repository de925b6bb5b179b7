// Package guard keeps abusive addresses away from tickwire: it counts
// strikes (offences such as oversized lines, malformed messages or failed
// logins) per IP address and bans an address that collects too many within
// a window. Bans grow longer for repeat offenders, are persisted in the
// store so they survive restarts and are shared by every process using the
// same database, and are cached in memory so that Admit, called for every
// accepted connection, never touches the database.
//
// Each ban is logged as one line with the message "tickwire ban" followed
// by ip=<address>, which the fail2ban filter shipped in deploy/fail2ban
// matches (see FailRegexText and docs/AUTH.md).
//
// A Guard satisfies the game server's Guard interface:
//
//	Admit(remote netip.Addr) error
//	Strike(remote netip.Addr, reason string)
package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickwire/tickwire/store"
)

// Defaults of Config. Each applies when the corresponding field is zero.
const (
	// DefaultStrikeLimit is the number of strikes within StrikeWindow that
	// bans an address.
	DefaultStrikeLimit = 3
	// DefaultStrikeWindow is how long a strike counts.
	DefaultStrikeWindow = 10 * time.Minute
	// DefaultBaseBan is the length of a first ban.
	DefaultBaseBan = 15 * time.Minute
	// DefaultBanGrowth multiplies the ban length for each earlier ban of the
	// address within HistoryWindow: 15m, 1h, 4h, 16h, 64h, then the cap.
	DefaultBanGrowth = 4
	// DefaultMaxBan caps the ban length.
	DefaultMaxBan = 7 * 24 * time.Hour
	// DefaultHistoryWindow is how far back earlier bans count as previous
	// offences; older ones are forgotten (and purged from the store).
	DefaultHistoryWindow = 30 * 24 * time.Hour
	// DefaultRefreshInterval is how often the ban cache is reloaded from the
	// store, which is how bans and unbans made by another process (the
	// "tickwire ban" command, another game server) take effect here.
	DefaultRefreshInterval = 5 * time.Second
)

// MaxTrackedAddrs bounds the number of addresses with pending strikes kept
// in memory; strikes of further addresses are dropped until old entries
// expire.
const MaxTrackedAddrs = 100_000

// MaxReasonLen is the longest strike reason code kept; longer or malformed
// codes are recorded as "other".
const MaxReasonLen = 32

// writeQueueLen is the number of strike bans that may wait to be written to
// the store. When it is full a ban still applies in memory but is not
// persisted.
const writeQueueLen = 1024

// storeTimeout bounds each database operation done in the background.
const storeTimeout = 10 * time.Second

// purgeInterval is how often expired bans, tokens and old ban history are
// deleted from the store.
const purgeInterval = time.Hour

// LogMessage is the message of the log line written for each ban; the
// fail2ban filter matches it.
const LogMessage = "tickwire ban"

// ErrBanned is matched (errors.Is) by the *BannedError Admit returns.
var ErrBanned = errors.New("guard: address banned")

// BannedError is returned by Admit for a banned address.
type BannedError struct {
	IP     netip.Addr
	Until  time.Time
	Reason string
}

// Error says which address is banned until when.
func (e *BannedError) Error() string {
	return fmt.Sprintf("guard: %s is banned until %s", e.IP, e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrBanned) true.
func (e *BannedError) Is(target error) bool { return target == ErrBanned }

// Config configures a Guard. The zero value of every field except Store
// selects the documented default; New refuses negative values.
type Config struct {
	// Store persists bans. Required.
	Store store.Store
	// Logger receives the ban lines and errors. Default: slog.Default().
	Logger *slog.Logger
	// StrikeLimit strikes within StrikeWindow ban the address. Default 3.
	StrikeLimit int
	// StrikeWindow is how long a strike counts. Default 10m.
	StrikeWindow time.Duration
	// BaseBan is the length of a first ban. Default 15m.
	BaseBan time.Duration
	// BanGrowth multiplies the ban length per earlier ban within
	// HistoryWindow. Default 4.
	BanGrowth int
	// MaxBan caps the ban length. Default 7 days.
	MaxBan time.Duration
	// HistoryWindow is how far back earlier bans count. Default 30 days.
	HistoryWindow time.Duration
	// RefreshInterval is how often bans are reloaded from the store.
	// Default 5s.
	RefreshInterval time.Duration
	// AllowList holds prefixes that are never banned nor struck (for
	// example a monitoring host). Default: empty; loopback is not exempt.
	AllowList []netip.Prefix
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// OnBan, if set, is called (on the goroutine that banned) with every
	// ban this guard makes, by strikes or by Ban, so that a cluster can
	// tell its other nodes at once (Apply) rather than at their next
	// refresh from the store. Default nil.
	OnBan func(b store.Ban)
}

// withDefaults returns c with zero fields set to their defaults, or an
// error naming the first field set to an invalid (negative) value: a bad
// setting is refused, never silently replaced.
func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	ints := []struct {
		name string
		p    *int
		def  int
	}{
		{"StrikeLimit", &c.StrikeLimit, DefaultStrikeLimit},
		{"BanGrowth", &c.BanGrowth, DefaultBanGrowth},
	}
	for _, f := range ints {
		if *f.p < 0 {
			return c, fmt.Errorf("guard: %s %d must not be negative", f.name, *f.p)
		}
		if *f.p == 0 {
			*f.p = f.def
		}
	}
	durs := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"StrikeWindow", &c.StrikeWindow, DefaultStrikeWindow},
		{"BaseBan", &c.BaseBan, DefaultBaseBan},
		{"MaxBan", &c.MaxBan, DefaultMaxBan},
		{"HistoryWindow", &c.HistoryWindow, DefaultHistoryWindow},
		{"RefreshInterval", &c.RefreshInterval, DefaultRefreshInterval},
	}
	for _, f := range durs {
		if *f.p < 0 {
			return c, fmt.Errorf("guard: %s %v must not be negative", f.name, *f.p)
		}
		if *f.p == 0 {
			*f.p = f.def
		}
	}
	if c.MaxBan < c.BaseBan {
		return c, fmt.Errorf("guard: MaxBan %v is shorter than BaseBan %v", c.MaxBan, c.BaseBan)
	}
	return c, nil
}

// BanDuration returns the length of the ban for an address's n-th offence
// (n = 1 for a first ban) under c's policy: BaseBan × BanGrowth^(n-1),
// capped at MaxBan.
func (c Config) BanDuration(n int) time.Duration {
	c, err := c.withDefaults()
	if err != nil {
		return DefaultBaseBan // New refuses such a config; this is for callers that never built one
	}
	d := c.BaseBan
	for i := 1; i < n && d < c.MaxBan; i++ {
		d *= time.Duration(c.BanGrowth)
	}
	return min(d, c.MaxBan)
}

type strikeRecord struct {
	times   []time.Time // oldest first, at most StrikeLimit
	reasons []string    // matching times
}

type banJob struct {
	ip      netip.Addr
	reason  string
	created time.Time
}

// Guard counts strikes and enforces bans. Create it with New and release it
// with Close. All methods are safe for concurrent use.
type Guard struct {
	cfg Config
	log *slog.Logger

	mu      sync.RWMutex
	bans    map[netip.Addr]store.Ban // what Admit consults: stored ∪ pending
	pending map[netip.Addr]store.Ban // strike bans not yet written
	peer    map[netip.Addr]store.Ban // bans heard from other nodes (Apply), until the store has them
	gen     uint64                   // bumped by Ban and Unban, so a refresh racing them is dropped
	version atomic.Uint64            // bumped on every change to bans; see BansVersion

	strikeMu sync.Mutex
	strikes  map[netip.Addr]*strikeRecord

	jobs      chan banJob
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New loads the active bans from cfg.Store and starts the background
// goroutines that persist strike bans and refresh the cache. ctx bounds only
// the initial load.
func New(ctx context.Context, cfg Config) (*Guard, error) {
	if cfg.Store == nil {
		return nil, errors.New("guard: Config.Store is required")
	}
	for _, p := range cfg.AllowList {
		if !p.IsValid() {
			return nil, fmt.Errorf("guard: invalid allow-list prefix %v", p)
		}
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Guard{
		cfg:     cfg,
		log:     cfg.Logger,
		bans:    map[netip.Addr]store.Ban{},
		pending: map[netip.Addr]store.Ban{},
		strikes: map[netip.Addr]*strikeRecord{},
		jobs:    make(chan banJob, writeQueueLen),
		done:    make(chan struct{}),
	}
	list, err := cfg.Store.ListBans(ctx, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("guard: load bans: %w", err)
	}
	for _, b := range list {
		g.bans[b.IP] = b
	}
	g.log.Info("guard started", "active_bans", len(list), "strike_limit", cfg.StrikeLimit,
		"strike_window", cfg.StrikeWindow, "refresh", cfg.RefreshInterval)
	g.wg.Add(2)
	go g.writer()
	go g.refresher()
	return g, nil
}

// Close stops the background goroutines after writing queued bans. The
// Guard must not be used afterwards.
func (g *Guard) Close() error {
	g.closeOnce.Do(func() { close(g.done) })
	g.wg.Wait()
	return nil
}

// now returns the clock's time at the store's millisecond precision, so a
// ban read back from the store equals the one cached.
func (g *Guard) now() time.Time { return time.UnixMilli(g.cfg.Now().UnixMilli()).UTC() }

func canonical(ip netip.Addr) netip.Addr { return ip.Unmap().WithZone("") }

func (g *Guard) allowed(ip netip.Addr) bool {
	for _, p := range g.cfg.AllowList {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Admit reports whether remote may connect: it returns a *BannedError
// (matching ErrBanned) while the address is banned, and nil otherwise. It
// only reads the in-memory cache. Invalid addresses (for example of a Unix
// socket peer) are admitted.
func (g *Guard) Admit(remote netip.Addr) error {
	if !remote.IsValid() {
		return nil
	}
	ip := canonical(remote)
	if g.allowed(ip) {
		return nil
	}
	g.mu.RLock()
	b, ok := g.bans[ip]
	g.mu.RUnlock()
	if ok && b.Active(g.cfg.Now()) {
		return &BannedError{IP: ip, Until: b.ExpiresAt, Reason: b.Reason}
	}
	return nil
}

// BansVersion counts changes to the set of banned addresses known here (a
// strike ban, Ban, Unban, or a refresh that found bans made elsewhere). A
// server compares it between sweeps to find the live sessions of newly
// banned addresses without scanning every connection every time.
func (g *Guard) BansVersion() uint64 { return g.version.Load() }

// Banned reports whether ip is banned now, and until when.
func (g *Guard) Banned(ip netip.Addr) (until time.Time, banned bool) {
	var be *BannedError
	if errors.As(g.Admit(ip), &be) {
		return be.Until, true
	}
	return time.Time{}, false
}

// cleanReason keeps reason if it is a short snake_case code.
func cleanReason(reason string) string {
	if reason == "" || len(reason) > MaxReasonLen {
		return "other"
	}
	for _, r := range reason {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return "other"
		}
	}
	return reason
}

// Strike records one offence by remote. When the address reaches
// StrikeLimit strikes within StrikeWindow it is banned at once in memory,
// and the ban is written to the store in the background. Strike never
// blocks on I/O; strikes against allow-listed or already banned addresses
// are ignored.
func (g *Guard) Strike(remote netip.Addr, reason string) {
	if !remote.IsValid() {
		return
	}
	ip := canonical(remote)
	if g.allowed(ip) {
		return
	}
	now := g.now()
	g.mu.RLock()
	b, banned := g.bans[ip]
	g.mu.RUnlock()
	if banned && b.Active(now) {
		return
	}
	reason = cleanReason(reason)

	g.strikeMu.Lock()
	rec := g.strikes[ip]
	if rec == nil {
		if len(g.strikes) >= MaxTrackedAddrs {
			g.sweepStrikesLocked(now)
			if len(g.strikes) >= MaxTrackedAddrs {
				g.strikeMu.Unlock()
				return
			}
		}
		rec = &strikeRecord{}
		g.strikes[ip] = rec
	}
	cutoff := now.Add(-g.cfg.StrikeWindow)
	for len(rec.times) > 0 && !rec.times[0].After(cutoff) {
		rec.times, rec.reasons = rec.times[1:], rec.reasons[1:]
	}
	rec.times = append(rec.times, now)
	rec.reasons = append(rec.reasons, reason)
	if n := len(rec.times); n < g.cfg.StrikeLimit {
		g.strikeMu.Unlock()
		g.log.Debug("guard strike", "ip", ip.String(), "reason", reason, "strikes", n)
		return
	}
	reasons := slices.Compact(slices.Sorted(slices.Values(rec.reasons)))
	delete(g.strikes, ip)
	g.strikeMu.Unlock()

	banReason := "strikes:" + strings.Join(reasons, ",")
	// Ban at once with the first-offence length; the writer replaces it
	// with the escalated length once it has read the address's history.
	prov := store.Ban{IP: ip, Reason: banReason, CreatedAt: now, ExpiresAt: now.Add(g.cfg.BaseBan), Offences: 1}
	g.mu.Lock()
	g.bans[ip] = prov
	g.pending[ip] = prov
	g.version.Add(1)
	g.mu.Unlock()
	if g.cfg.OnBan != nil {
		g.cfg.OnBan(prov)
	}
	select {
	case g.jobs <- banJob{ip: ip, reason: banReason, created: now}:
	default:
		g.log.Error("guard: ban write queue full; ban kept in memory only", "ip", ip.String())
		g.logBan(prov, "strikes", false)
	}
}

func (g *Guard) sweepStrikesLocked(now time.Time) {
	cutoff := now.Add(-g.cfg.StrikeWindow)
	for ip, rec := range g.strikes {
		if n := len(rec.times); n == 0 || !rec.times[n-1].After(cutoff) {
			delete(g.strikes, ip)
		}
	}
}

// logBan writes the line fail2ban matches. ip must stay the first attribute.
func (g *Guard) logBan(b store.Ban, source string, persisted bool) {
	g.log.Warn(LogMessage,
		"ip", b.IP.String(),
		"reason", b.Reason,
		"offences", b.Offences,
		"duration", b.ExpiresAt.Sub(b.CreatedAt).Round(time.Second).String(),
		"until", b.ExpiresAt.UTC().Format(time.RFC3339),
		"source", source,
		"persisted", persisted,
	)
}

// offences returns the ordinal of a new ban of ip, counting earlier bans
// within the history window.
func (g *Guard) offences(ctx context.Context, ip netip.Addr, now time.Time) (int, error) {
	hist, err := g.cfg.Store.BanHistory(ctx, ip, now.Add(-g.cfg.HistoryWindow))
	if err != nil {
		return 1, err
	}
	return len(hist) + 1, nil
}

func (g *Guard) writer() {
	defer g.wg.Done()
	for {
		select {
		case j := <-g.jobs:
			g.persist(j)
		case <-g.done:
			for {
				select {
				case j := <-g.jobs:
					g.persist(j)
				default:
					return
				}
			}
		}
	}
}

// persist writes a strike ban with its escalated length.
func (g *Guard) persist(j banJob) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	n, err := g.offences(ctx, j.ip, j.created)
	if err != nil {
		g.log.Error("guard: read ban history", "ip", j.ip.String(), "err", err)
	}
	b := store.Ban{IP: j.ip, Reason: j.reason, CreatedAt: j.created, ExpiresAt: j.created.Add(g.cfg.BanDuration(n)), Offences: n}
	werr := g.cfg.Store.AddBan(ctx, b)
	if werr != nil {
		g.log.Error("guard: write ban", "ip", j.ip.String(), "err", werr)
	}
	g.mu.Lock()
	if cur, ok := g.pending[j.ip]; ok && cur.CreatedAt.Equal(j.created) {
		g.bans[j.ip] = b
		if werr == nil {
			delete(g.pending, j.ip)
		} else {
			g.pending[j.ip] = b
		}
	}
	g.mu.Unlock()
	g.logBan(b, "strikes", werr == nil)
}

// Ban bans ip for d (or, if d is 0, for the escalating length its offence
// history calls for) and writes the ban to the store before returning.
func (g *Guard) Ban(ctx context.Context, ip netip.Addr, d time.Duration, reason string) (store.Ban, error) {
	if !ip.IsValid() {
		return store.Ban{}, errors.New("guard: invalid IP address")
	}
	if d < 0 {
		return store.Ban{}, errors.New("guard: negative ban duration")
	}
	ip = canonical(ip)
	if reason == "" {
		reason = "manual"
	}
	if len(reason) > 200 || strings.ContainsAny(reason, "=\"\n\r") {
		// The reason goes into the ban line fail2ban parses: no way to
		// smuggle a second ip= into it.
		return store.Ban{}, errors.New(`guard: a ban reason is at most 200 bytes, without =, " or line breaks`)
	}
	now := g.now()
	n, err := g.offences(ctx, ip, now)
	if err != nil {
		return store.Ban{}, fmt.Errorf("guard: %w", err)
	}
	if d == 0 {
		d = g.cfg.BanDuration(n)
	}
	b := store.Ban{IP: ip, Reason: reason, CreatedAt: now, ExpiresAt: now.Add(d), Offences: n}
	if err := g.cfg.Store.AddBan(ctx, b); err != nil {
		return store.Ban{}, fmt.Errorf("guard: %w", err)
	}
	g.mu.Lock()
	g.bans[ip] = b
	delete(g.pending, ip)
	g.gen++
	g.version.Add(1)
	g.mu.Unlock()
	g.logBan(b, "manual", true)
	if g.cfg.OnBan != nil {
		g.cfg.OnBan(b)
	}
	return b, nil
}

// Apply adds a ban another node made (heard through the cluster) to this
// guard's cache, so Admit refuses the address and the server's ban sweep
// ends its sessions here too, without waiting for the next refresh. The
// ban is not written: the node that made it does that, and the store stays
// the record. An expired ban, an allow-listed address or a shorter ban
// than one already held changes nothing.
func (g *Guard) Apply(b store.Ban) {
	if !b.IP.IsValid() {
		return
	}
	b.IP = canonical(b.IP)
	now := g.now()
	if !b.Active(now) || g.allowed(b.IP) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, ok := g.bans[b.IP]; ok && cur.Active(now) && !cur.ExpiresAt.Before(b.ExpiresAt) {
		return
	}
	g.bans[b.IP] = b
	if g.peer == nil {
		g.peer = map[netip.Addr]store.Ban{}
	}
	g.peer[b.IP] = b
	g.version.Add(1)
	g.logBan(b, "cluster", false)
}

// Unban lifts the ban of ip in the store and the cache and forgets its
// strikes. It returns an error matching store.ErrNotFound if ip was not
// banned in the store. With forget, the address's ban history is cleared
// too, so its next ban counts as a first offence.
func (g *Guard) Unban(ctx context.Context, ip netip.Addr, forget bool) error {
	if !ip.IsValid() {
		return errors.New("guard: invalid IP address")
	}
	ip = canonical(ip)
	g.mu.Lock()
	_, inPending := g.pending[ip]
	_, inPeer := g.peer[ip]
	inPending = inPending || inPeer
	delete(g.bans, ip)
	delete(g.pending, ip)
	delete(g.peer, ip)
	g.gen++
	g.mu.Unlock()
	g.strikeMu.Lock()
	delete(g.strikes, ip)
	g.strikeMu.Unlock()
	err := g.cfg.Store.RemoveBan(ctx, ip)
	if forget {
		if herr := g.cfg.Store.ClearBanHistory(ctx, ip); herr != nil {
			return fmt.Errorf("guard: %w", herr)
		}
	}
	if errors.Is(err, store.ErrNotFound) && inPending {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("guard: unban %s: %w", ip, err)
	}
	g.log.Info("tickwire unban", "ip", ip.String())
	return nil
}

// Bans returns the active bans known to this Guard, ordered by expiry.
func (g *Guard) Bans() []store.Ban {
	now := g.cfg.Now()
	g.mu.RLock()
	out := make([]store.Ban, 0, len(g.bans))
	for _, b := range g.bans {
		if b.Active(now) {
			out = append(out, b)
		}
	}
	g.mu.RUnlock()
	slices.SortFunc(out, func(a, b store.Ban) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
	return out
}

// Refresh reloads the active bans from the store now. The Guard does this
// every RefreshInterval by itself; bans found that this Guard did not know
// are logged as ban lines with source=store, so fail2ban on this host also
// sees bans made elsewhere.
func (g *Guard) Refresh(ctx context.Context) error {
	now := g.now()
	g.mu.RLock()
	gen := g.gen
	g.mu.RUnlock()
	list, err := g.cfg.Store.ListBans(ctx, now)
	if err != nil {
		return fmt.Errorf("guard: refresh bans: %w", err)
	}
	fresh := make(map[netip.Addr]store.Ban, len(list))
	for _, b := range list {
		fresh[b.IP] = b
	}
	var added []store.Ban
	var lifted []netip.Addr
	g.mu.Lock()
	if g.gen != gen {
		// A Ban or Unban ran meanwhile; list may predate it. The next
		// refresh will catch up.
		g.mu.Unlock()
		return nil
	}
	for ip, b := range g.pending {
		if cur, ok := fresh[ip]; !ok || cur.ExpiresAt.Before(b.ExpiresAt) {
			fresh[ip] = b
		}
	}
	for ip, b := range g.peer {
		if _, stored := fresh[ip]; stored || !b.Active(now) {
			delete(g.peer, ip) // the store has it now, or it is over
			continue
		}
		fresh[ip] = b
	}
	for ip, b := range fresh {
		if old, ok := g.bans[ip]; !ok || !old.Active(now) || !old.CreatedAt.Equal(b.CreatedAt) {
			added = append(added, b)
		}
	}
	for ip, old := range g.bans {
		if _, ok := fresh[ip]; !ok && old.Active(now) {
			lifted = append(lifted, ip)
		}
	}
	g.bans = fresh
	if len(added) > 0 || len(lifted) > 0 {
		g.version.Add(1)
	}
	g.mu.Unlock()
	for _, b := range added {
		g.logBan(b, "store", true)
	}
	for _, ip := range lifted {
		g.log.Info("tickwire unban", "ip", ip.String(), "source", "store")
	}
	return nil
}

func (g *Guard) refresher() {
	defer g.wg.Done()
	tick := time.NewTicker(g.cfg.RefreshInterval)
	defer tick.Stop()
	lastPurge := time.Now()
	for {
		select {
		case <-g.done:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		if err := g.Refresh(ctx); err != nil {
			g.log.Error("guard: refresh", "err", err)
		}
		now := g.cfg.Now()
		g.strikeMu.Lock()
		g.sweepStrikesLocked(now)
		g.strikeMu.Unlock()
		if time.Since(lastPurge) >= purgeInterval {
			lastPurge = time.Now()
			if n, err := g.cfg.Store.PurgeExpired(ctx, now, now.Add(-g.cfg.HistoryWindow)); err != nil {
				g.log.Error("guard: purge expired rows", "err", err)
			} else if n > 0 {
				g.log.Info("guard: purged expired rows", "rows", n)
			}
		}
		cancel()
	}
}
