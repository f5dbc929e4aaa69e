package sim

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The heap gives events in (at, seq) order whatever order they were
// pushed in, with ties on at broken by seq, interleaving pushes and pops
// as the engine does.
func TestEventHeapOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		spans int64 // times drawn in [0, spans): small spans make ties
	}{
		{"one", 1, 1},
		{"ties", 200, 3},
		{"spread", 5000, 1 << 40},
	} {
		r := rand.New(rand.NewPCG(1, uint64(tc.n)))
		var h eventHeap
		var seq uint64
		var last event
		popped := 0
		for pushed := 0; pushed < tc.n || len(h) > 0; {
			if pushed < tc.n && (len(h) == 0 || r.IntN(3) > 0) {
				seq++
				h.push(event{at: last.at + r.Int64N(tc.spans), seq: seq})
				pushed++
				continue
			}
			e := h.pop()
			if popped > 0 && e.before(&last) {
				t.Fatalf("%s: popped %+v after %+v", tc.name, e, last)
			}
			last = e
			popped++
		}
		if popped != tc.n {
			t.Errorf("%s: popped %d events, pushed %d", tc.name, popped, tc.n)
		}
	}
}

// The queue gives the events in the order one heap does, pushes and pops
// interleaved as the engine does: events due now, within the window, days
// ahead, at the end of time, and ties across the horizon.
func TestEventQueueIsOneHeap(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		far  int64 // delays drawn in [0, far)
	}{
		{"near only", 2000, int64(time.Minute)},
		{"window", 5000, 3 * nearWindow},
		{"days", 20000, int64(30 * 24 * time.Hour)},
		{"ties", 5000, 4},
	} {
		r := rand.New(rand.NewPCG(2, uint64(tc.n)))
		var q eventQueue
		var h eventHeap
		var seq uint64
		var now int64
		refills := 0
		for pushed := 0; pushed < tc.n || q.len() > 0; {
			if pushed < tc.n && (q.len() == 0 || r.IntN(2) > 0) {
				seq++
				at := now + r.Int64N(tc.far)
				switch r.IntN(50) {
				case 0:
					at = now // due at once
				case 1:
					at = math.MaxInt64 - r.Int64N(3) // the end of time
				case 2:
					at = q.horizon // on the horizon
				}
				e := event{at: at, seq: seq, ref: int32(pushed)}
				q.push(e)
				h.push(e)
				pushed++
				continue
			}
			if len(q.near) == 0 {
				refills++
			}
			if got, want := *q.first(), h[0]; got != want {
				t.Fatalf("%s: first %+v, one heap's %+v", tc.name, got, want)
			}
			got, want := q.pop(), h.pop()
			if got != want {
				t.Fatalf("%s: popped %+v, one heap %+v", tc.name, got, want)
			}
			if q.len() != len(h) {
				t.Fatalf("%s: %d events queued, one heap holds %d", tc.name, q.len(), len(h))
			}
			now = got.at
		}
		if refills < 2 {
			t.Errorf("%s: %d refills of the near heap: the far heap was not exercised", tc.name, refills)
		}
	}
}

// BenchmarkEventQueue: one pop and one push with the baseline's schedule:
// 3,000 events within the next minute (duties, work), 190,000 up to 60
// days ahead (lifetime ends); the queue, and one heap for comparison.
func BenchmarkEventQueue(b *testing.B) {
	type queue interface {
		push(event)
		pop() event
	}
	for _, tc := range []struct {
		name string
		q    queue
	}{{"queue", &eventQueue{}}, {"one-heap", &eventHeap{}}} {
		b.Run(tc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			q := tc.q
			var seq uint64
			for i := range 193_000 {
				seq++
				d := r.Int64N(int64(time.Minute))
				if i >= 3000 {
					d = r.Int64N(int64(60 * 24 * time.Hour))
				}
				q.push(event{at: d, seq: seq})
			}
			b.ReportAllocs()
			for b.Loop() {
				e := q.pop()
				seq++
				q.push(event{at: e.at + r.Int64N(int64(time.Minute)), seq: seq})
			}
		})
	}
}

// BenchmarkEventHeap: one pop and one push on a heap of 300,000 events,
// the size of the baseline's (a node's duty and work, the workload).
func BenchmarkEventHeap(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const size = 300_000
	h := make(eventHeap, 0, size+1)
	var seq uint64
	for range size {
		seq++
		h.push(event{at: r.Int64N(int64(size) << 20), seq: seq})
	}
	b.ReportAllocs()
	for b.Loop() {
		e := h.pop()
		seq++
		h.push(event{at: e.at + r.Int64N(int64(size)<<20), seq: seq})
	}
}
