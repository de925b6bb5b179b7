package attack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// honestAddr is where the honest player connects from: the one IPv4
// address "tickwire serve" exempts from bans and per-address limits.
var honestAddr = netip.MustParseAddr("127.0.0.1")

// pingEvery is the honest player's PING interval.
const pingEvery = 100 * time.Millisecond

// honest is the honest player: logged in as a guest from 127.0.0.1, it
// sends "PING <n>" every 100 ms and records every PONG's round trip. It
// also answers the suite's questions about the server's connection count
// with STATS.
type honest struct {
	c  net.Conn
	br *bufio.Reader

	wmu sync.Mutex // serialises writes

	mu    sync.Mutex
	sent  []time.Time     // by PING number
	rtt   []time.Duration // by PING number; 0 until answered
	stats map[uint32]chan int
	lost  string // why the connection was lost, if it was

	stopping atomic.Bool
	stopPing chan struct{}
	pingDone chan struct{}
	readDone chan struct{}
	nextRID  atomic.Uint32
}

// startHonest connects, logs in and starts pinging.
func startHonest(ctx context.Context, addr string) (*honest, error) {
	nc, err := bind(honestAddr, 3*time.Second).DialContext(ctx, "tcp4", dialTarget(addr))
	if err != nil {
		return nil, err
	}
	h := &honest{c: nc, br: bufio.NewReaderSize(nc, lineBuf), stats: map[uint32]chan int{},
		stopPing: make(chan struct{}), pingDone: make(chan struct{}), readDone: make(chan struct{})}
	h.nextRID.Store(1000000)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, "AUTH guest\n"); err != nil {
		nc.Close()
		return nil, err
	}
	for i := 0; ; i++ {
		l, err := readLine(h.br)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("honest login: %w", err)
		}
		l = stripRID(l)
		if strings.HasPrefix(l, "WELCOME ") {
			break
		}
		if strings.HasPrefix(l, "ERR ") || strings.HasPrefix(l, "BYE ") || i > 10000 {
			nc.Close()
			return nil, fmt.Errorf("honest login refused: %q", l)
		}
	}
	nc.SetDeadline(time.Time{})
	go h.readLoop()
	go h.pingLoop()
	return h, nil
}

func (h *honest) write(s string) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err := io.WriteString(h.c, s)
	return err
}

func (h *honest) setLost(why string) {
	h.mu.Lock()
	if h.lost == "" {
		h.lost = why
	}
	h.mu.Unlock()
}

func (h *honest) pingLoop() {
	defer close(h.pingDone)
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for n := 0; n < 1<<20; n++ { // about 29 hours: the suite stops it long before
		h.mu.Lock()
		h.sent = append(h.sent, time.Now())
		h.rtt = append(h.rtt, 0)
		h.mu.Unlock()
		if err := h.write("PING h" + strconv.Itoa(n) + "\n"); err != nil {
			if !h.stopping.Load() {
				h.setLost("write: " + err.Error())
			}
			return
		}
		select {
		case <-h.stopPing:
			return
		case <-t.C:
		}
	}
}

func (h *honest) readLoop() {
	defer close(h.readDone)
	for {
		l, err := readLine(h.br)
		now := time.Now()
		if err != nil {
			if !h.stopping.Load() {
				h.setLost("read: " + err.Error())
			}
			return
		}
		rid := uint32(0)
		if strings.HasPrefix(l, "@") {
			if i := strings.IndexByte(l, ' '); i > 0 {
				v, _ := strconv.ParseUint(l[1:i], 10, 32)
				rid = uint32(v)
				l = l[i+1:]
			}
		}
		switch {
		case strings.HasPrefix(l, "PONG h"):
			n, err := strconv.Atoi(strings.TrimSpace(l[len("PONG h"):]))
			h.mu.Lock()
			if err == nil && n >= 0 && n < len(h.sent) && h.rtt[n] == 0 {
				h.rtt[n] = max(now.Sub(h.sent[n]), time.Nanosecond)
			}
			h.mu.Unlock()
		case strings.HasPrefix(l, "SERVERSTATS "):
			f := strings.Fields(l)
			if len(f) >= 4 {
				v, err := strconv.Atoi(f[3])
				h.mu.Lock()
				ch := h.stats[rid]
				h.mu.Unlock()
				if err == nil && ch != nil {
					select {
					case ch <- v:
					default:
					}
				}
			}
		case strings.HasPrefix(l, "BYE "):
			if !h.stopping.Load() {
				h.setLost("BYE " + strings.TrimPrefix(l, "BYE "))
			}
		}
	}
}

// mark returns the number of the next PING, to start a window.
func (h *honest) mark() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sent)
}

// window returns the round trips of the PINGs sent from mark on, waiting
// up to a second for outstanding answers; unanswered PINGs count as the
// time they waited.
func (h *honest) window(from int) HonestStats {
	end := h.mark()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		pending := false
		for i := from; i < end; i++ {
			if h.rtt[i] == 0 {
				pending = true
				break
			}
		}
		lost := h.lost != ""
		h.mu.Unlock()
		if !pending || lost {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var s HonestStats
	var rtts []time.Duration
	now := time.Now()
	for i := from; i < end; i++ {
		s.Pings++
		if h.rtt[i] > 0 {
			s.Pongs++
			rtts = append(rtts, h.rtt[i])
		} else {
			rtts = append(rtts, now.Sub(h.sent[i]))
		}
	}
	s.P50, s.P99, s.Max = percentiles(rtts)
	s.Disconnected = h.lost != ""
	s.Reason = h.lost
	return s
}

// percentiles returns the 50th and 99th percentiles (nearest rank) and the
// maximum.
func percentiles(d []time.Duration) (p50, p99, maxd time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return rank(0.50), rank(0.99), s[len(s)-1]
}

// serverConns asks the server for its open connections (SERVERSTATS).
func (h *honest) serverConns(ctx context.Context) (int, error) {
	rid := h.nextRID.Add(1)
	ch := make(chan int, 1)
	h.mu.Lock()
	h.stats[rid] = ch
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.stats, rid)
		h.mu.Unlock()
	}()
	if err := h.write(fmt.Sprintf("@%d STATS\n", rid)); err != nil {
		return 0, err
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case v := <-ch:
		return v, nil
	case <-t.C:
		return 0, errors.New("no SERVERSTATS within 2 s")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// disconnected reports whether the connection was lost, and why.
func (h *honest) disconnected() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost != "", h.lost
}

// stop quits and closes the connection.
func (h *honest) stop() {
	h.stopping.Store(true)
	close(h.stopPing)
	<-h.pingDone
	h.write("QUIT\n")
	h.c.SetReadDeadline(time.Now().Add(time.Second))
	<-h.readDone
	h.c.Close()
}
