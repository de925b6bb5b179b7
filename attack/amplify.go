package attack

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// flooder is one logged-in connection flooding one message type.
type flooder struct {
	c       *gconn
	kind    string // SAY, PING, STATS, HELP
	line    string // what it sends
	answer  string // prefix of an answer line, after the rid tag is removed
	tag     string // "@n " tag the answers carry, if any
	answers atomic.Int64
	limited atomic.Int64 // ERR rate_limited lines
	badFmt  atomic.Int64 // ERR rate_limited lines not naming kind
	sent    atomic.Int64
	mu      sync.Mutex
	sample  string // the first ERR rate_limited line
}

func newFlooder(c *gconn, kind string) *flooder {
	f := &flooder{c: c, kind: kind}
	switch kind {
	case "SAY":
		f.line = "SAY " + strings.Repeat("flood ", 33) + "\n"
		f.answer = "CHAT " + c.name + " "
	case "PING":
		f.line, f.answer = "PING f\n", "PONG f"
	case "STATS":
		f.line, f.answer, f.tag = "@6 STATS\n", "SERVERSTATS ", "@6 "
	case "HELP":
		f.line, f.answer, f.tag = "@5 HELP\n", "INFO ", "@5 "
	}
	c.background(f.onLine)
	return f
}

func (f *flooder) onLine(l string) {
	if f.tag != "" && strings.HasPrefix(l, f.tag) && strings.HasPrefix(l[len(f.tag):], f.answer) {
		f.answers.Add(1)
		return
	}
	s := stripRID(l)
	switch {
	case f.tag == "" && strings.HasPrefix(s, f.answer):
		f.answers.Add(1)
	case strings.HasPrefix(s, "ERR rate_limited"):
		f.limited.Add(1)
		if fs := strings.Fields(s); len(fs) < 3 || fs[2] != f.kind {
			f.badFmt.Add(1)
		}
		f.mu.Lock()
		if f.sample == "" {
			f.sample = s
		}
		f.mu.Unlock()
	}
}

// flood sends per lines every 20 ms for d, or until the connection fails.
func (f *flooder) flood(ctx context.Context, d time.Duration, per int) {
	batch := strings.Repeat(f.line, per)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	end := time.Now().Add(d)
	for i := 0; i < 100000 && time.Now().Before(end); i++ {
		if f.c.serverClosed() || f.c.send(batch) != nil {
			return
		}
		f.sent.Add(int64(per))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check records the flooder's expectations: at most burst + rate × (T+1)
// answers, at least one and at most one a second (+2) ERR rate_limited
// lines naming the message.
func (f *flooder) check(e *Env, label string, rate, burst int, elapsed time.Duration, perAnswer int) {
	answers := int(f.answers.Load())
	if perAnswer > 1 {
		answers = int(math.Ceil(float64(answers) / float64(perAnswer)))
	}
	allowed := burst + int(math.Ceil(float64(rate)*(elapsed.Seconds()+1)))
	limited := int(f.limited.Load())
	maxLimited := int(math.Ceil(elapsed.Seconds())) + 2
	f.mu.Lock()
	sample := f.sample
	f.mu.Unlock()
	e.notef("%s: sent %d %s in %s, %d answered, %d ERR rate_limited (%q), BYE %q",
		label, f.sent.Load(), f.kind, secs(elapsed), answers, limited, sample, f.c.byeReason())
	e.expect(answers <= allowed, "%s: %d %s answered in %s; the limit (%d/s, burst %d) allows %d", label, answers, f.kind, secs(elapsed), rate, burst, allowed)
	e.expect(limited >= 1, "%s: no ERR rate_limited %s", label, f.kind)
	e.expect(limited <= maxLimited, "%s: %d ERR rate_limited in %s; want at most one a second", label, limited, secs(elapsed))
	e.expect(f.badFmt.Load() == 0, "%s: %d ERR rate_limited lines do not read \"ERR rate_limited %s\" (first: %q)", label, f.badFmt.Load(), f.kind, sample)
}

// receiver is one of the silent players.
type receiver struct {
	c     *gconn
	chats [2]atomic.Int64 // CHAT lines from the watched names
}

// attackAmplification: 200 silent logged-in players watch while flooders
// send SAY (broadcast to all), PING, STATS, HELP and 1,000 HELPs at once;
// then one address floods on three connections and must be banned.
func attackAmplification(ctx context.Context, e *Env) {
	const nReceivers = 200
	perAddr := max(min(25, e.lim.MaxPreLoginPerAddr-2, e.lim.ConnBurstPerAddr-2), 1)
	var watched [2]atomic.Pointer[string] // names whose CHAT lines receivers count
	recv := make([]*receiver, nReceivers)
	loginStart := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	// One address per perAddr receivers.
	rfrom := []netip.Addr{e.addr()}
	for i := perAddr; i < nReceivers; i += perAddr {
		rfrom = append(rfrom, e.addr())
	}
	var failed atomic.Int64
	var firstErr atomic.Pointer[string]
	for i := range nReceivers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := e.dialLogin(ctx, rfrom[i/perAddr])
			if err != nil {
				failed.Add(1)
				s := err.Error()
				firstErr.CompareAndSwap(nil, &s)
				return
			}
			r := &receiver{c: c}
			c.background(func(l string) {
				l = stripRID(l)
				if !strings.HasPrefix(l, "CHAT ") {
					return
				}
				for k := range watched {
					if n := watched[k].Load(); n != nil && strings.HasPrefix(l, "CHAT "+*n+" ") {
						r.chats[k].Add(1)
					}
				}
			})
			recv[i] = r
		}()
	}
	wg.Wait()
	var rs []*receiver
	for _, r := range recv {
		if r != nil {
			rs = append(rs, r)
		}
	}
	defer func() {
		for _, r := range rs {
			r.c.quit()
		}
	}()
	why := ""
	if p := firstErr.Load(); p != nil {
		why = " (" + *p + ")"
	}
	e.notef("%d/%d silent players logged in from %d addresses in %s%s", len(rs), nReceivers, len(rfrom), secs(time.Since(loginStart)), why)
	if !e.expect(len(rs) == nReceivers, "only %d of %d silent players could log in within the per-address limits%s", len(rs), nReceivers, why) || len(rs) == 0 {
		return
	}
	totalIn := func() int64 {
		var n int64
		for _, r := range rs {
			n += r.c.in.Load()
		}
		return n
	}
	dropped := func() int {
		n := 0
		for _, r := range rs {
			if r.c.serverClosed() {
				n++
			}
		}
		return n
	}

	// Baseline: what the receivers get with nobody flooding.
	sleep(ctx, time.Second)
	b0, t0 := totalIn(), time.Now()
	sleep(ctx, e.scaled(2*time.Second, time.Second))
	b1, t1 := totalIn(), time.Now()
	baseRate := float64(b1-b0) / t1.Sub(t0).Seconds() / float64(len(rs))
	e.notef("baseline: %.0f B/s per silent player", baseRate)

	// Phase 1: SAY, PING, STATS and HELP floods, each from its own address.
	kinds := []struct {
		kind        string
		per         int // lines per 20 ms
		rate, burst int
	}{{"SAY", 10, sayRate, sayBurst}, {"PING", 20, pingRate, pingBurst}, {"STATS", 5, statsRate, statsBurst}, {"HELP", 1, helpRate, helpBurst}}
	fl := make([]*flooder, len(kinds))
	for i, k := range kinds[:3] {
		c, err := e.dialLogin(ctx, e.addr())
		if err != nil {
			e.failf("%s flooder could not log in: %v", k.kind, err)
			return
		}
		fl[i] = newFlooder(c, k.kind)
		defer fl[i].c.quit()
	}
	perHelp := 0
	{
		// How many lines one HELP answer has; the burst has one to spare.
		c, err := e.dialLogin(ctx, e.addr())
		if err != nil {
			e.failf("HELP flooder could not log in: %v", err)
			return
		}
		perHelp = helpLines(c)
		e.notef("one HELP answer is %d INFO lines", perHelp)
		fl[3] = newFlooder(c, "HELP")
		defer fl[3].c.quit()
	}
	name := fl[0].c.name
	watched[0].Store(&name)
	T := e.scaled(4*time.Second, 2*time.Second)
	c0 := chats(rs, 0)
	f0, ft0 := totalIn(), time.Now()
	var fwg sync.WaitGroup
	for i, f := range fl {
		fwg.Go(func() { f.flood(ctx, T, kinds[i].per) })
	}
	fwg.Wait()
	sleep(ctx, 500*time.Millisecond) // answers in flight
	f1, ft1 := totalIn(), time.Now()
	elapsed := ft1.Sub(ft0)
	for i, f := range fl {
		per := 1
		if f.kind == "HELP" {
			per = max(perHelp, 1)
		}
		f.check(e, "phase 1 "+f.kind, kinds[i].rate, kinds[i].burst, elapsed, per)
	}
	maxChats, sumChats := int64(0), int64(0)
	for i, r := range rs {
		n := r.chats[0].Load() - c0[i]
		sumChats += n
		maxChats = max(maxChats, n)
	}
	allowedChats := sayBurst + int(math.Ceil(sayRate*(elapsed.Seconds()+1)))
	chatLine := len(fl[0].answer) + len(fl[0].line) - len("SAY ")
	floodRate := float64(f1-f0) / elapsed.Seconds() / float64(len(rs))
	allowedRate := baseRate + float64(allowedChats*chatLine)/elapsed.Seconds() + 1024
	e.notef("receivers: %.0f B/s per player during the floods (baseline %.0f), at most %d CHAT lines of the SAY flooder each (%d in all); %d receivers disconnected",
		floodRate, baseRate, maxChats, sumChats, dropped())
	e.expect(maxChats <= int64(allowedChats), "a receiver got %d CHAT lines of the SAY flooder in %s; SAY's limit (%d/s, burst %d) allows %d", maxChats, secs(elapsed), sayRate, sayBurst, allowedChats)
	e.expect(floodRate <= allowedRate, "receivers got %.0f B/s each during the flood; baseline %.0f B/s plus the allowed CHAT lines is %.0f B/s", floodRate, baseRate, allowedRate)
	e.expect(dropped() == 0, "%d silent players were disconnected during the flood", dropped())

	// Phase 2: 1,000 HELPs in one write.
	if c, err := e.dialLogin(ctx, e.addr()); err != nil {
		e.failf("phase 2: could not log in: %v", err)
	} else {
		f := newFlooder(c, "HELP")
		f.line = "@5 HELP\n"
		start := time.Now()
		if err := c.send(strings.Repeat("@5 HELP\n", 1000)); err == nil {
			f.sent.Add(1000)
		}
		sleep(ctx, 1500*time.Millisecond)
		f.check(e, "phase 2 (1,000 HELPs at once)", helpRate, helpBurst, time.Since(start), max(perHelp, 1))
		e.notef("phase 2: %d bytes came back for 8,000 sent", c.in.Load())
		c.quit()
	}

	// Phase 3: one address floods SAY, PING and HELP on three connections:
	// each earns a rate_limited strike, the address must be banned and
	// every one of its connections get BYE banned.
	baddr := e.addr()
	var bf []*flooder
	for _, kind := range []string{"SAY", "PING", "HELP"} {
		c, err := e.dialLogin(ctx, baddr)
		if err != nil {
			e.failf("phase 3: %s flooder could not log in: %v", kind, err)
			continue
		}
		bf = append(bf, newFlooder(c, kind))
	}
	if len(bf) > 0 {
		n := bf[0].c.name
		watched[1].Store(&n)
	}
	T3 := e.scaled(6*time.Second, 4*time.Second)
	start3 := time.Now()
	var bwg sync.WaitGroup
	for _, f := range bf {
		bwg.Go(func() { f.flood(ctx, T3, 10) })
	}
	bwg.Wait()
	byes := 0
	var reasons []string
	for _, f := range bf {
		f.c.waitClosed(time.Second)
		reasons = append(reasons, fmt.Sprintf("%s: BYE %q", f.kind, f.c.byeReason()))
		if f.c.byeReason() == "banned" {
			byes++
		}
	}
	isBanned, how, _ := e.waitBanned(ctx, baddr, time.Second)
	e.notef("phase 3: three flooders from one address for up to %s: %s; banned: %v (%s), after %s",
		secs(T3), strings.Join(reasons, ", "), isBanned, how, secs(time.Since(start3)))
	e.expect(isBanned, "phase 3: the flooding address is not banned after sustained flooding on 3 connections (%s)", how)
	e.expect(byes == len(bf), "phase 3: %d of %d flooding connections got BYE banned", byes, len(bf))
	for _, f := range bf {
		f.c.quit()
	}
	e.expect(dropped() == 0, "%d silent players were disconnected by the end", dropped())
}

// helpLines sends one tagged HELP and counts the INFO lines of the answer.
func helpLines(c *gconn) int {
	if c.send("@77 HELP\n") != nil {
		return 0
	}
	n := 0
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for i := 0; i < 10000; i++ {
		l, err := readLine(c.br)
		if err != nil {
			break
		}
		if strings.HasPrefix(l, "@77 INFO ") {
			n++
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		}
	}
	c.SetReadDeadline(time.Time{})
	return n
}

func chats(rs []*receiver, k int) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.chats[k].Load()
	}
	return out
}
