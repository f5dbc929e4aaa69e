package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []int64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64}
	for range 10000 {
		values = append(values, r.Int64N(1<<uint(r.IntN(62)+1)))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, histBuckets)
		}
		hi := bucketUpper(i)
		if hi < v {
			t.Fatalf("bucketUpper(bucketOf(%d)) = %d, below the value", v, hi)
		}
		if i > 0 && bucketUpper(i-1) >= v {
			t.Fatalf("value %d also fits bucket %d (upper %d)", v, i-1, bucketUpper(i-1))
		}
		if rel := float64(hi-v) / float64(max(v, 1)); v >= subBuckets && rel > 1.0/subBuckets {
			t.Fatalf("bucket of %d reaches %d: relative width %.4f > 1/%d", v, hi, rel, subBuckets)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one value", []time.Duration{3 * time.Millisecond}, 0.5, 3 * time.Millisecond},
		{"one value p100", []time.Duration{3 * time.Millisecond}, 1, 3 * time.Millisecond},
		{"min", []time.Duration{5, 7, 9}, 0, 5},
		{"small exact", []time.Duration{5, 7, 9}, 0.5, 7},
		{"max clipped", []time.Duration{time.Second, time.Second + 1}, 1, time.Second + 1},
		{"negative counts as zero", []time.Duration{-5, 10}, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.Record(v)
			}
			if got := h.Quantile(tc.q); got != tc.want {
				t.Fatalf("Quantile(%g) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

// TestHistogramAgainstSort compares quantiles with the exact order
// statistics of random latency-like samples: within the bucket precision,
// never below the true value.
func TestHistogramAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var h Histogram
	vals := make([]time.Duration, 100000)
	for i := range vals {
		// lognormal around 2ms with a heavy tail
		vals[i] = time.Duration(math.Exp(math.Log(2e6) + 0.8*r.NormFloat64()))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/subBuckets {
			t.Errorf("q=%g: histogram %v, exact %v: off by more than 1/%d", q, got, exact, subBuckets)
		}
	}
	if h.Count() != uint64(len(vals)) {
		t.Errorf("Count = %d, want %d", h.Count(), len(vals))
	}
	if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
		t.Errorf("Min, Max = %v, %v, want %v, %v", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
	}
	var sum time.Duration
	for _, v := range vals {
		sum += v
	}
	if want := sum / time.Duration(len(vals)); h.Mean() != want {
		t.Errorf("Mean = %v, want %v", h.Mean(), want)
	}
}

func TestHistogramConcurrentRecord(t *testing.T) {
	var a Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				a.Record(time.Duration(g*1000+i+1) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if a.Count() != 8000 || a.Min() != time.Microsecond || a.Max() != 8000*time.Microsecond {
		t.Fatalf("after concurrent records: count %d min %v max %v, want 8000, 1µs, 8ms", a.Count(), a.Min(), a.Max())
	}
	if p50 := a.Quantile(0.5); p50 < 3960*time.Microsecond || p50 > 4040*time.Microsecond {
		t.Fatalf("p50 = %v, want about 4ms", p50)
	}
}

func TestSummarise(t *testing.T) {
	tests := []struct {
		xs                         []float64
		median, lo, hi, wantSpread float64
	}{
		{nil, 0, 0, 0, 0},
		{[]float64{10}, 10, 10, 10, 0},
		{[]float64{30, 10, 20}, 20, 10, 30, 1},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4, 1.2},
	}
	for _, tc := range tests {
		m, lo, hi, sp := summarise(tc.xs)
		if m != tc.median || lo != tc.lo || hi != tc.hi || math.Abs(sp-tc.wantSpread) > 1e-12 {
			t.Errorf("summarise(%v) = %g %g %g %g, want %g %g %g %g", tc.xs, m, lo, hi, sp, tc.median, tc.lo, tc.hi, tc.wantSpread)
		}
	}
}

func TestHistogramBins(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{time.Millisecond, time.Millisecond, 1100 * time.Microsecond, 50 * time.Millisecond} {
		h.Record(d)
	}
	bins := h.Bins()
	var total uint64
	for i, b := range bins {
		total += b.Count
		if i > 0 && b.UpTo <= bins[i-1].UpTo {
			t.Fatalf("bins not increasing: %+v", bins)
		}
	}
	if total != 4 || len(bins) != 3 || bins[0].Count != 2 || bins[0].UpTo < time.Millisecond || bins[0].UpTo > 1200*time.Microsecond || bins[2].UpTo < 50*time.Millisecond {
		t.Fatalf("bins %+v: want 2 around 1ms, 1 at 1.1ms, 1 at 50ms", bins)
	}
}
