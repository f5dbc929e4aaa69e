package sim

import (
	"math/rand/v2"
	"testing"
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
