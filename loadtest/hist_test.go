package loadtest

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketsRoundTrip(t *testing.T) {
	prevHi := uint64(0)
	for i := range histNumBuckets {
		lo, hi := bucketRange(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d] maps back to %d, %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= 64 && float64(hi-lo+1)/float64(lo) > 1.0/32+1e-9 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/32", i, lo, hi)
		}
		prevHi = hi
	}
	if prevHi != 1<<histMaxBits-1 {
		t.Fatalf("last bucket ends at %d", prevHi)
	}
	if bucketOf(math.MaxUint64) != histNumBuckets-1 {
		t.Fatal("huge values are not capped into the last bucket")
	}
}

func TestQuantiles(t *testing.T) {
	var h histogram
	var s snapshot
	s.add(&h)
	if s.quantile(0.5) != 0 || s.mean() != 0 {
		t.Fatal("empty histogram should report 0")
	}

	// Small values are exact.
	h = histogram{}
	for _, v := range []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10} {
		h.record(v)
	}
	s = snapshot{}
	s.add(&h)
	for q, want := range map[float64]float64{0: 1, 0.1: 1, 0.5: 5, 0.51: 6, 0.9: 9, 0.99: 10, 1: 10} {
		if got := s.quantile(q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if s.mean() != 5.5 || s.max != 10 || s.total != 10 {
		t.Errorf("mean %v max %v total %v", s.mean(), s.max, s.total)
	}

	// Random values, split over two histograms and merged, against the
	// exact order statistics.
	var a, b histogram
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]uint64, 100000)
	for i := range vals {
		v := uint64(math.Exp(rng.Float64() * math.Log(2e6))) // 1 µs .. 2 s, log-uniform
		vals[i] = v
		if i%2 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	slices.Sort(vals)
	s = snapshot{}
	s.add(&a)
	s.add(&b)
	if s.total != uint64(len(vals)) || s.max != vals[len(vals)-1] {
		t.Fatalf("total %d max %d", s.total, s.max)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := float64(vals[int(math.Ceil(q*float64(len(vals))))-1])
		got := s.quantile(q)
		if math.Abs(got-exact) > exact/64+0.5 {
			t.Errorf("quantile(%v) = %v, exact %v: error over 1/64", q, got, exact)
		}
	}
	var sum float64
	for _, v := range vals {
		sum += float64(v)
	}
	if math.Abs(s.mean()-sum/float64(len(vals))) > 1e-6*sum {
		t.Errorf("mean %v, exact %v", s.mean(), sum/float64(len(vals)))
	}
	l := latencyOf(&s)
	if l.Samples != int64(len(vals)) || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max || l.Max != float64(s.max)/1000 {
		t.Errorf("latencyOf: %+v", l)
	}
}
