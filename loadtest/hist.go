package loadtest

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// Latencies are histogrammed in microseconds into log-linear buckets: exact
// below 64 µs, then 32 buckets per power of two, so a bucket is at most
// 1/32 (≈3%) of its value wide and reported percentiles (bucket midpoints)
// are within ≈1.6% of the true sample. Values are capped at 2^40 µs.
const (
	histSubBits    = 5
	histSub        = 1 << histSubBits
	histMaxBits    = 40
	histNumBuckets = (histMaxBits-histSubBits-1)*histSub + 2*histSub
)

// histogram is a fixed-size, lock-free latency histogram.
type histogram struct {
	counts [histNumBuckets]atomic.Uint64
	sum    atomic.Uint64 // µs
	max    atomic.Uint64 // µs
}

func bucketOf(v uint64) int {
	if v >= 1<<histMaxBits {
		v = 1<<histMaxBits - 1
	}
	e := bits.Len64(v) - histSubBits - 1
	if e < 0 {
		e = 0
	}
	return e*histSub + int(v>>uint(e))
}

// bucketRange returns the smallest and largest value mapped to bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*histSub {
		return uint64(i), uint64(i)
	}
	e := i/histSub - 1
	m := uint64(i - e*histSub)
	return m << uint(e), (m+1)<<uint(e) - 1
}

func (h *histogram) record(us uint64) {
	h.counts[bucketOf(us)].Add(1)
	h.sum.Add(us)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// snapshot is a merged, non-atomic copy of one or more histograms.
type snapshot struct {
	counts [histNumBuckets]uint64
	total  uint64
	sum    uint64
	max    uint64
}

func (s *snapshot) add(h *histogram) {
	for i := range h.counts {
		c := h.counts[i].Load()
		s.counts[i] += c
		s.total += c
	}
	s.sum += h.sum.Load()
	s.max = max(s.max, h.max.Load())
}

// quantile returns the value (µs) at quantile q in [0, 1]: the midpoint of
// the bucket holding the ceil(q*total)-th smallest sample, clamped to the
// exact maximum. It returns 0 for an empty snapshot.
func (s *snapshot) quantile(q float64) float64 {
	if s.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.total)))
	rank = min(max(rank, 1), s.total)
	var seen uint64
	for i, c := range s.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			return math.Min(float64(lo+hi)/2, float64(s.max))
		}
	}
	return float64(s.max)
}

func (s *snapshot) mean() float64 {
	if s.total == 0 {
		return 0
	}
	return float64(s.sum) / float64(s.total)
}
