package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBucketBits sets the histogram's precision: every power of two is cut
// into 2^subBucketBits buckets, so a recorded value is known within
// 1/2^subBucketBits (0.8%) of itself, as in an HDR histogram with two
// significant digits.
const subBucketBits = 7

const (
	subBuckets = 1 << subBucketBits
	// histBuckets covers every non-negative int64: values below subBuckets
	// have a bucket each, then each of the 63-subBucketBits remaining powers
	// of two has subBuckets buckets.
	histBuckets = subBuckets + (63-subBucketBits)*subBuckets
)

// Histogram counts durations in logarithmic buckets of bounded relative
// width (see subBucketBits). Record is safe for concurrent use and does not
// allocate or lock: the load generator's node goroutines record into one
// histogram at once. The zero value is ready to use.
//
// NB: reading (Quantile, Count, …) while others record sees a consistent
// enough picture for progress lines; take the figures of a finished phase
// only after its recorders stopped.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Int64 // nanoseconds
	min    atomic.Int64 // nanoseconds+1, 0 when empty
	max    atomic.Int64
}

// bucketOf returns the index of the bucket holding v (v >= 0).
func bucketOf(v int64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBucketBits - 1
	mantissa := v >> shift // in [subBuckets, 2*subBuckets)
	return (shift+1)*subBuckets + int(mantissa-subBuckets)
}

// bucketUpper is the highest value bucket i holds.
func bucketUpper(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	shift := i/subBuckets - 1
	mantissa := int64(i%subBuckets + subBuckets)
	return (mantissa+1)<<shift - 1
}

// Record counts one duration; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	h.lowerMin(v)
	h.raiseMax(v)
}

// lowerMin makes v the minimum if it is below the current one.
func (h *Histogram) lowerMin(v int64) {
	for {
		m := h.min.Load()
		if m != 0 && m-1 <= v || h.min.CompareAndSwap(m, v+1) {
			return
		}
	}
}

// raiseMax makes v the maximum if it is above the current one.
func (h *Histogram) raiseMax(v int64) {
	for {
		m := h.max.Load()
		if m >= v || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Min is the smallest recorded duration (0 when empty).
func (h *Histogram) Min() time.Duration {
	m := h.min.Load()
	if m == 0 {
		return 0
	}
	return time.Duration(m - 1)
}

// Max is the largest recorded duration.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the exact mean of the recorded durations (0 when empty).
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the duration below or at which a fraction q of the
// recorded durations lie (q in [0, 1]): the upper bound of the bucket
// holding the ceil(q·n)-th smallest value, clipped to the largest value
// recorded, so it overstates the true quantile by less than 1%. An empty
// histogram answers 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	rank := uint64(math.Ceil(q * float64(n)))
	if rank == 0 {
		return h.Min()
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(time.Duration(bucketUpper(i)), h.Max())
		}
	}
	return h.Max()
}

// Latency is a histogram's summary as reports print it.
type Latency struct {
	Count uint64        `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
	// Bins is the distribution in bins of a quarter of a power of two
	// (non-empty bins only), for plots.
	Bins []HistBin `json:"bins,omitempty"`
}

// HistBin counts the durations in (previous bin's UpTo, UpTo].
type HistBin struct {
	UpTo  time.Duration `json:"up_to_ns"`
	Count uint64        `json:"count"`
}

// binBuckets is how many histogram buckets one HistBin gathers: a quarter
// of a power of two.
const binBuckets = subBuckets / 4

// Bins returns the non-empty bins of a quarter of a power of two.
func (h *Histogram) Bins() []HistBin {
	var bins []HistBin
	for i := 0; i < histBuckets; i += binBuckets {
		var n uint64
		for j := i; j < i+binBuckets; j++ {
			n += h.counts[j].Load()
		}
		if n > 0 {
			bins = append(bins, HistBin{UpTo: time.Duration(bucketUpper(i + binBuckets - 1)), Count: n})
		}
	}
	return bins
}

// Summary returns the histogram's count, mean and quantiles.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.Count(),
		Mean:  h.Mean(),
		P50:   h.Quantile(0.50),
		P90:   h.Quantile(0.90),
		P99:   h.Quantile(0.99),
		P999:  h.Quantile(0.999),
		Max:   h.Max(),
		Bins:  h.Bins(),
	}
}
