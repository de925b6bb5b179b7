package admin

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Limits of a LogRing.
const (
	// DefaultLogRecords is how many records a LogRing keeps when
	// NewLogRing is given 0.
	DefaultLogRecords = 1000
	// MaxLogRecords caps the size of a LogRing.
	MaxLogRecords = 100_000
	// MaxLogMessageLen and MaxLogAttrsLen cap, in bytes, the message and
	// the formatted attributes kept per record.
	MaxLogMessageLen = 256
	MaxLogAttrsLen   = 1024
	// MaxCountedMessages bounds the distinct messages a LogRing counts.
	MaxCountedMessages = 64
	// CountLevel is the lowest level of the records a LogRing counts,
	// whatever the level of the handler it wraps: a server logging only
	// warnings still counts failed logins (logged at info).
	CountLevel = slog.LevelInfo
)

// LogRecord is one log record kept by a LogRing.
type LogRecord struct {
	Seq   uint64    `json:"seq"` // 1, 2, ... in arrival order
	Time  time.Time `json:"time"`
	Level string    `json:"level"` // DEBUG, INFO, WARN, ERROR
	Msg   string    `json:"msg"`
	Attrs string    `json:"attrs"` // key=value pairs as the text handler writes them
}

// LogRing keeps the most recent warnings and errors of a process in a
// bounded ring, for the console's log tail, and counts the records of a
// few chosen messages at any level (failed logins, bans) for its plots.
// Install it with Handler, wrapping the process's handler. It is safe for
// concurrent use.
type LogRing struct {
	min    slog.Level
	counts map[string]*atomic.Uint64 // fixed at creation: read without a lock

	mu   sync.Mutex
	buf  []LogRecord
	next int // where the next record goes
	seq  uint64
}

// NewLogRing returns a ring keeping the last size records (0:
// DefaultLogRecords, at most MaxLogRecords) at level minLevel and above, and
// counting the records whose message is one of count (at most
// MaxCountedMessages) at CountLevel and above.
func NewLogRing(size int, minLevel slog.Level, count ...string) *LogRing {
	if size <= 0 {
		size = DefaultLogRecords
	}
	size = min(size, MaxLogRecords)
	r := &LogRing{min: minLevel, buf: make([]LogRecord, 0, size), counts: map[string]*atomic.Uint64{}}
	for i, m := range count {
		if i >= MaxCountedMessages {
			break
		}
		r.counts[m] = new(atomic.Uint64)
	}
	return r
}

// Count returns how many records with message msg were seen (0 for a
// message the ring was not asked to count).
func (r *LogRing) Count(msg string) uint64 {
	if c := r.counts[msg]; c != nil {
		return c.Load()
	}
	return 0
}

// LogFilter selects records from a LogRing.
type LogFilter struct {
	// MinLevel keeps records at this level and above.
	MinLevel slog.Level
	// Contains, if not empty, keeps records whose message or attributes
	// contain it (case-insensitive).
	Contains string
	// AfterSeq keeps records with a larger Seq: the last Seq seen.
	AfterSeq uint64
	// Limit keeps the newest Limit records (<= 0: all).
	Limit int
}

// Records returns the kept records f selects, oldest first.
func (r *LogRing) Records(f LogFilter) []LogRecord {
	needle := strings.ToLower(f.Contains)
	r.mu.Lock()
	all := make([]LogRecord, 0, len(r.buf))
	if len(r.buf) == cap(r.buf) {
		all = append(all, r.buf[r.next:]...)
		all = append(all, r.buf[:r.next]...)
	} else {
		all = append(all, r.buf...)
	}
	r.mu.Unlock()
	out := all[:0]
	for _, rec := range all {
		if rec.Seq <= f.AfterSeq || levelOf(rec.Level) < f.MinLevel {
			continue
		}
		if needle != "" && !strings.Contains(strings.ToLower(rec.Msg), needle) && !strings.Contains(strings.ToLower(rec.Attrs), needle) {
			continue
		}
		out = append(out, rec)
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out
}

func levelOf(s string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(s)) != nil {
		return slog.LevelInfo
	}
	return l
}

func (r *LogRing) add(rec LogRecord) {
	r.mu.Lock()
	r.seq++
	rec.Seq = r.seq
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, rec)
	} else {
		r.buf[r.next] = rec
		r.next = (r.next + 1) % cap(r.buf)
	}
	r.mu.Unlock()
}

// Handler returns a handler that passes every record to next, as next
// would have handled it, and keeps the records at the ring's level in the
// ring (even when next is not enabled for them) and counts the chosen
// messages.
func (r *LogRing) Handler(next slog.Handler) slog.Handler {
	return &ringHandler{ring: r, next: next}
}

type ringHandler struct {
	ring   *LogRing
	next   slog.Handler
	prefix string // attributes from WithAttrs, formatted
	group  string // open groups, "a.b."
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.ring.min || (l >= CountLevel && len(h.ring.counts) > 0) || h.next.Enabled(ctx, l)
}

func (h *ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	if c := h.ring.counts[rec.Message]; c != nil && rec.Level >= CountLevel {
		c.Add(1)
	}
	if rec.Level >= h.ring.min {
		var b strings.Builder
		b.WriteString(h.prefix)
		rec.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, h.group, a)
			return b.Len() < MaxLogAttrsLen
		})
		h.ring.add(LogRecord{
			Time:  rec.Time.UTC(),
			Level: rec.Level.String(),
			Msg:   clip(rec.Message, MaxLogMessageLen),
			Attrs: clip(strings.TrimSpace(b.String()), MaxLogAttrsLen),
		})
	}
	if h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *ringHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range attrs {
		appendAttr(&b, h.group, a)
	}
	return &ringHandler{ring: h.ring, next: h.next.WithAttrs(attrs), prefix: clip(b.String(), MaxLogAttrsLen), group: h.group}
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &ringHandler{ring: h.ring, next: h.next.WithGroup(name), prefix: h.prefix, group: h.group + name + "."}
}

// appendAttr writes " key=value" as the text handler would (values with
// spaces or quotes quoted).
func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, sub := range a.Value.Group() {
			appendAttr(b, g, sub)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(group)
	b.WriteString(a.Key)
	b.WriteByte('=')
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \"=\t\n") {
		b.WriteString(quote(v))
	} else {
		b.WriteString(v)
	}
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
