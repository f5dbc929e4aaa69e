package alloc

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestIndexChoosesAsChoose: on random grids (up to 200 computers, so that
// bitsets span several words) and random sequences of partitions taken and
// freed, the indexed choice is Choose's linear scan, for every policy.
func TestIndexChoosesAsChoose(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 14))
			placed, rejected := 0, 0
			for range 40 {
				cands := genCandidates(r, r.IntN(200))
				x := NewIndex(cands)
				for range 200 {
					req, opts := genRequest(r, cands)
					want, wantOK := Choose(cands, req, opts)
					got, ok := x.Choose(req, opts)
					if got != want || ok != wantOK {
						t.Fatalf("%s %+v: index chose %+v, %v; scan %+v, %v", opts.Policy, req.SLA, got, ok, want, wantOK)
					}
					switch {
					case ok:
						placed++
						cands[got.Index].Free--
						x.Update(cands[got.Index])
					default:
						rejected++
					}
					if len(cands) > 0 && r.IntN(2) == 0 { // a partition freed, or the computer reconfigured
						c := pick(r, cands)
						if r.IntN(4) == 0 {
							c.Free = r.IntN(6)
						} else {
							c.Free++
						}
						x.Update(c)
					}
				}
			}
			if placed < 1000 || rejected < 1000 {
				t.Fatalf("weak generator: %d placed, %d rejected", placed, rejected)
			}
		})
	}
}

// TestIndexIgnoresUnknownCandidate: Update of a candidate outside the
// indexed slice changes nothing.
func TestIndexIgnoresUnknownCandidate(t *testing.T) {
	a := &Candidate{ID: "COMP-1", Free: 1, Software: map[string]bool{"sr": true}}
	x := NewIndex([]*Candidate{a})
	x.Update(&Candidate{ID: "COMP-2", Free: 5, Software: map[string]bool{"sr": true}})
	d, ok := x.Choose(Request{SoftwareRelease: "sr"}, Options{Policy: PolicySpread})
	if !ok || d.ComputerID != "COMP-1" {
		t.Fatalf("chose %+v, %v; want COMP-1", d, ok)
	}
}
