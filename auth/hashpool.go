package auth

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults and bounds of the password-hashing pool. argon2id is meant to
// be expensive: with DefaultParams one hash takes 19 MiB and one core for
// 20-50 ms. Run without a bound, a burst of 100 registrations in the game
// process raised its RSS by 160-186 MB and pushed a player's p99 round trip
// from milliseconds to 72-937 ms, so hashing waits its turn instead.
const (
	// DefaultHashConcurrency is how many hashes run at once: one, because
	// the small 1-2 core servers tickwire targets can spare one core for
	// logins and no more without slowing the game's tick.
	DefaultHashConcurrency = 1
	// DefaultHashMemoryBudget caps the memory of the hashes running at
	// once, in bytes: 64 MiB, three DefaultParams hashes. The concurrency
	// is lowered until it fits.
	DefaultHashMemoryBudget = 64 << 20
	// DefaultHashQueue is how many requests may wait for a hashing slot.
	// With one slot and 20-50 ms per hash, 32 waiting requests clear in
	// about 0.6-1.6 s; anything beyond is answered 503 at once rather than
	// piling up connections and goroutines.
	DefaultHashQueue = 32
	// MaxHashConcurrency bounds HashConcurrency: more parallel hashes than
	// this only means more memory, never more logins per second.
	MaxHashConcurrency = 64
	// MaxHashQueue bounds HashQueue: each waiting request holds a
	// connection and a goroutine for up to RequestTimeout.
	MaxHashQueue = 4096
	// MinBusyRetryAfter and MaxBusyRetryAfter clamp the Retry-After of a
	// busy answer, which estimates when the queue will have drained.
	MinBusyRetryAfter = time.Second
	MaxBusyRetryAfter = 30 * time.Second
)

// errHashTooBig is returned for a stored hash whose parameters need more
// memory than the whole budget: it can never be checked in this process.
var errHashTooBig = errors.New("auth: password hash needs more memory than the hashing budget")

// HashPoolConfig sizes a HashPool. Zero fields take the documented
// defaults.
type HashPoolConfig struct {
	// Concurrency is the most hashes running at once. Default
	// DefaultHashConcurrency (1); at most MaxHashConcurrency. It is lowered
	// so that Concurrency × Params.Memory fits MemoryBudget.
	Concurrency int
	// MemoryBudget is the most memory, in bytes, the running hashes may
	// use together. Default DefaultHashMemoryBudget (64 MiB). It must hold
	// at least one hash with Params.
	MemoryBudget int64
	// Queue is how many requests may wait for a slot; more are refused at
	// once with ErrBusy. Default DefaultHashQueue (32); negative means no
	// waiting at all; at most MaxHashQueue.
	Queue int
	// Params are the parameters of the hashes the pool will mostly run,
	// used to size the concurrency against the budget. Default
	// DefaultParams.
	Params Params
}

// AddFlags defines the command-line flags of the pool on fs, as "tickwire
// auth" and "tickwire serve" take them: --hash-concurrency (hashes at
// once, >= 1), --hash-memory-mib (budget in MiB, >= 1) and --hash-queue
// (waiting requests, >= 0; 0 means none). Flags not given leave their
// field zero, which means the default.
func (c *HashPoolConfig) AddFlags(fs *flag.FlagSet) {
	atLeast := func(s string, lo int) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < lo {
			return 0, fmt.Errorf("want a whole number >= %d", lo)
		}
		return n, nil
	}
	fs.Func("hash-concurrency", fmt.Sprintf("password hashes (argon2id) run at once; lowered to fit --hash-memory-mib (default %d)", DefaultHashConcurrency),
		func(s string) (err error) {
			c.Concurrency, err = atLeast(s, 1)
			return err
		})
	fs.Func("hash-memory-mib", fmt.Sprintf("memory budget of the password hashes running at once, in MiB (default %d)", DefaultHashMemoryBudget>>20),
		func(s string) error {
			n, err := atLeast(s, 1)
			c.MemoryBudget = int64(n) << 20
			return err
		})
	fs.Func("hash-queue", fmt.Sprintf("logins and registrations that may wait for a hashing slot; more get 503 busy at once; 0: none (default %d)", DefaultHashQueue),
		func(s string) error {
			n, err := atLeast(s, 0)
			c.Queue = n
			if n == 0 {
				c.Queue = -1 // in the struct, 0 means the default
			}
			return err
		})
}

// withDefaults returns c with zero fields set to their defaults.
func (c HashPoolConfig) withDefaults() HashPoolConfig {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultHashConcurrency
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = DefaultHashMemoryBudget
	}
	if c.Queue == 0 {
		c.Queue = DefaultHashQueue
	}
	if c.Params == (Params{}) {
		c.Params = DefaultParams
	}
	return c
}

// check validates c after defaults.
func (c HashPoolConfig) check() error {
	var errs []error
	if c.Concurrency < 1 || c.Concurrency > MaxHashConcurrency {
		errs = append(errs, fmt.Errorf("HashConcurrency must be 1..%d", MaxHashConcurrency))
	}
	if c.Queue > MaxHashQueue {
		errs = append(errs, fmt.Errorf("HashQueue must be at most %d", MaxHashQueue))
	}
	if err := c.Params.check(); err != nil {
		errs = append(errs, err)
	} else if need := int64(c.Params.Memory) << 10; c.MemoryBudget < need {
		errs = append(errs, fmt.Errorf("HashMemoryBudget %d bytes cannot hold one hash of %d KiB", c.MemoryBudget, c.Params.Memory))
	}
	return errors.Join(errs...)
}

// HashPool runs argon2id computations with bounded concurrency, memory and
// waiting. Requests are served in arrival order; one that finds the queue
// full gets ErrBusy at once, and one whose context ends while waiting gets
// ErrBusy too. A Service and a Verifier in one process can share a pool
// (Config.HashPool, VerifierConfig.HashPool) so that the bounds hold for
// the process. It is safe for concurrent use.
type HashPool struct {
	slots     int    // effective concurrency
	budgetKiB uint64 // memory budget
	queueMax  int    // most waiting requests; 0 for none

	mu      sync.Mutex
	running int    // slots in use
	usedKiB uint64 // memory of the running hashes
	waiting []*hashWaiter
	avg     time.Duration // moving average of a hash's duration, for Retry-After

	// wrap, if set (tests only), runs each job: it must call run once. It
	// lets a test observe how many hashes run at once and hold one.
	wrap func(run func())
}

type hashWaiter struct {
	slots   int
	kib     uint64
	ready   chan struct{}
	granted bool // set under HashPool.mu when ready is closed
}

// NewHashPool returns a pool sized by c.
func NewHashPool(c HashPoolConfig) (*HashPool, error) {
	c = c.withDefaults()
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	per := uint64(c.Params.Memory)
	budget := uint64(c.MemoryBudget >> 10)
	p := &HashPool{
		slots:     min(c.Concurrency, int(budget/per)),
		budgetKiB: budget,
		queueMax:  max(c.Queue, 0),
		avg:       50 * time.Millisecond, // a slow VPS's hash until measured
	}
	return p, nil
}

// Concurrency returns the most hashes the pool runs at once: the
// configured concurrency, lowered to fit the memory budget.
func (p *HashPool) Concurrency() int { return p.slots }

// Hash hashes password with params (see HashPassword) in the pool.
func (p *HashPool) Hash(ctx context.Context, password string, params Params) (string, error) {
	if err := params.check(); err != nil {
		return "", err
	}
	var enc string
	var herr error
	if err := p.run(ctx, params, func() { enc, herr = HashPassword(password, params) }); err != nil {
		return "", err
	}
	return enc, herr
}

// Matches reports, in the pool, whether password derives h's key (see
// Hash.Matches).
func (p *HashPool) Matches(ctx context.Context, h Hash, password string) (bool, error) {
	var ok bool
	if err := p.run(ctx, h.Params, func() { ok = h.Matches(password) }); err != nil {
		return false, err
	}
	return ok, nil
}

// run waits for room for one hash with params, then runs fn.
func (p *HashPool) run(ctx context.Context, params Params, fn func()) error {
	// A hash with p lanes keeps p cores busy, so it takes p slots (at most
	// all of them, or it could never run).
	slots := min(max(int(params.Threads), 1), p.slots)
	kib := uint64(params.Memory)
	if kib > p.budgetKiB {
		return errHashTooBig
	}
	if err := p.acquire(ctx, slots, kib); err != nil {
		return err
	}
	start := time.Now()
	defer func() { p.release(slots, kib, time.Since(start)) }()
	if p.wrap != nil {
		p.wrap(fn)
	} else {
		fn()
	}
	return nil
}

func (p *HashPool) fits(slots int, kib uint64) bool {
	return p.running+slots <= p.slots && p.usedKiB+kib <= p.budgetKiB
}

func (p *HashPool) acquire(ctx context.Context, slots int, kib uint64) error {
	p.mu.Lock()
	// Nobody jumps the queue: a request that would fit still waits if
	// others are waiting, so a stream of small hashes cannot starve one.
	if len(p.waiting) == 0 && p.fits(slots, kib) {
		p.running += slots
		p.usedKiB += kib
		p.mu.Unlock()
		return nil
	}
	if len(p.waiting) >= p.queueMax {
		err := p.busyLocked()
		p.mu.Unlock()
		return err
	}
	w := &hashWaiter{slots: slots, kib: kib, ready: make(chan struct{})}
	p.waiting = append(p.waiting, w)
	p.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.granted {
		// The slot came as the context ended; pass it on.
		p.releaseLocked(slots, kib)
	} else {
		p.waiting = slices.DeleteFunc(p.waiting, func(x *hashWaiter) bool { return x == w })
	}
	return p.busyLocked()
}

func (p *HashPool) release(slots int, kib uint64, took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Exponential moving average with weight 1/8: steady under one odd
	// hash, current within a burst.
	p.avg += (took - p.avg) / 8
	p.releaseLocked(slots, kib)
}

func (p *HashPool) releaseLocked(slots int, kib uint64) {
	p.running -= slots
	p.usedKiB -= kib
	for len(p.waiting) > 0 && p.fits(p.waiting[0].slots, p.waiting[0].kib) {
		w := p.waiting[0]
		p.waiting = p.waiting[1:]
		p.running += w.slots
		p.usedKiB += w.kib
		w.granted = true
		close(w.ready)
	}
}

// busyLocked returns ErrBusy with a Retry-After estimating when the
// running and waiting hashes will be done.
func (p *HashPool) busyLocked() error {
	ahead := time.Duration(p.running + len(p.waiting))
	wait := p.avg * ahead / time.Duration(p.slots)
	e := *ErrBusy
	e.RetryAfter = min(max(wait, MinBusyRetryAfter), MaxBusyRetryAfter)
	return &e
}

// load returns the slots in use and the number of waiting requests.
func (p *HashPool) load() (running, waiting int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running, len(p.waiting)
}
