package alloc

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// TestPlaceMatchesOracle: on many random grids and requests, every decision
// is feasible and ranked first by its policy, and every rejection is exact.
func TestPlaceMatchesOracle(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			placed, rejected := 0, 0
			for range 500 {
				cands := genCandidates(r, r.IntN(40))
				req, opts := genRequest(r, cands)
				if _, rej := checkPlace(t, cands, req, opts); rej == nil {
					placed++
				} else {
					rejected++
				}
			}
			// The generators must exercise both outcomes.
			if placed < 25 || rejected < 25 {
				t.Fatalf("weak generator: %d placed, %d rejected", placed, rejected)
			}
		})
	}
}

// TestFeasibleAgreesWithPipeline: the cost-ordered success path and the
// pipeline-ordered explanation path accept exactly the same candidates.
func TestFeasibleAgreesWithPipeline(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 7))
	var buf [maxStackAttrs]attrCond
	for range 20000 {
		cands := genCandidates(r, 1)
		req, opts := genRequest(r, cands)
		q := compile(&req, &opts, buf[:0])
		id, _ := q.firstFailure(cands[0])
		if got, want := q.feasible(cands[0]), id == filterNone; got != want {
			t.Fatalf("feasible=%v but first failure %v for %+v, request %+v", got, id, *cands[0], req)
		}
	}
}

// TestRepeatedPlacementNeverOverAllocates places the same request again and
// again, taking a partition each time, until it is rejected: no computer
// gives more partitions than it had free, and every partition of the
// computers that fit (but for their free partitions) gets used.
func TestRepeatedPlacementNeverOverAllocates(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 3))
	for trial := range 300 {
		cands := genCandidates(r, 1+r.IntN(30))
		for _, c := range cands {
			c.Free = r.IntN(6)
		}
		req, opts := genRequest(r, cands)
		capacity := 0
		initial := make([]int, len(cands))
		for i, c := range cands {
			initial[i] = c.Free
			if v := violations(c, req, opts); len(v) == 0 || len(v) == 1 && v[0] == "no free partition" {
				capacity += c.Free
			}
		}
		taken := make([]int, len(cands))
		placements := 0
		for {
			d, rej := checkPlace(t, cands, req, opts)
			if rej != nil {
				break
			}
			placements++
			taken[d.Index]++
			cands[d.Index].Free--
			if placements > capacity {
				t.Fatalf("trial %d: %d placements for a capacity of %d", trial, placements, capacity)
			}
		}
		for i := range cands {
			if taken[i] > initial[i] {
				t.Fatalf("trial %d: %s gave %d partitions, had %d free", trial, cands[i].ID, taken[i], initial[i])
			}
		}
		if placements != capacity {
			t.Fatalf("trial %d (%s): %d placements, capacity %d", trial, opts.Policy, placements, capacity)
		}
	}
}

// TestPlaceIsDeterministic: equal inputs (even on copies) give equal results.
func TestPlaceIsDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 1000 {
		cands := genCandidates(r, r.IntN(30))
		req, opts := genRequest(r, cands)
		d1, rej1 := Place(cands, req, opts)
		d2, rej2 := Place(cloneCandidates(cands), req, opts)
		if d1 != d2 || !reflect.DeepEqual(rej1, rej2) {
			t.Fatalf("two runs differ: %+v %v / %+v %v", d1, rej1, d2, rej2)
		}
		if rej1 != nil && rej1.Error() != rej2.Error() {
			t.Fatalf("rejection strings differ: %q / %q", rej1, rej2)
		}
	}
}

// TestRandomPolicyIsUniform: over many request keys each of ten equal
// computers is chosen about as often (deterministic: fixed keys).
func TestRandomPolicyIsUniform(t *testing.T) {
	const n, draws = 10, 20000
	cands := make([]*Candidate, n+2)
	for i := range cands {
		cands[i] = &Candidate{ID: fmt.Sprintf("COMP-%02d", i), Scope: model.ScopeOpen, Free: 1,
			Software: map[string]bool{"sr": true}}
	}
	cands[3].Free = 0       // infeasible: never chosen
	cands[7].Software = nil // infeasible: never chosen
	counts := make([]int, len(cands))
	for k := range draws {
		d, rej := Place(cands, Request{SoftwareRelease: "sr", Key: fmt.Sprintf("instance-%d", k)}, Options{Policy: PolicyRandom})
		if rej != nil {
			t.Fatal(rej)
		}
		counts[d.Index]++
	}
	for i, c := range counts {
		switch {
		case i == 3 || i == 7:
			if c != 0 {
				t.Errorf("infeasible %s chosen %d times", cands[i].ID, c)
			}
		case c < draws/n*85/100 || c > draws/n*115/100:
			t.Errorf("%s chosen %d times of %d, want about %d", cands[i].ID, c, draws, draws/n)
		}
	}
}

// TestPlaceSuccessDoesNotAllocate: the master places on every request; the
// success path must stay allocation-free for every policy.
func TestPlaceSuccessDoesNotAllocate(t *testing.T) {
	cands := genBenchGrid(200, 300, 50)
	req := Request{Person: "PERSON-1", SoftwareRelease: benchSoftware, Key: "instance-1",
		TreeNetworks: map[string]bool{"lan0": true},
		SLA: model.SLA{Region: "eu", Arch: "x86_64", MinRAM: 4096, MaxPrice: 1, UniqueByNetwork: true,
			Attributes: map[string]string{"ssd": "yes"}}}
	for _, p := range Policies() {
		opts := Options{Policy: p, Now: benchNow, OnlineWithin: time.Hour}
		if _, rej := checkPlace(t, cands, req, opts); rej != nil {
			t.Fatalf("%s: %v", p, rej)
		}
		if n := testing.AllocsPerRun(50, func() { Place(cands, req, opts) }); n != 0 {
			t.Errorf("%s: %v allocations per successful placement, want 0", p, n)
		}
	}
}

// TestChooseExplainFeasibleMatchPlace: Choose decides as Place does,
// Explain gives Place's rejection, and Feasible of one candidate is Place's
// answer on that candidate alone.
func TestChooseExplainFeasibleMatchPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for range 3000 {
		cands := genCandidates(r, r.IntN(20))
		req, opts := genRequest(r, cands)
		d, rej := Place(cands, req, opts)
		cd, ok := Choose(cands, req, opts)
		if ok != (rej == nil) || cd != d {
			t.Fatalf("Choose = %+v, %v; Place = %+v, %v", cd, ok, d, rej)
		}
		if !ok && !reflect.DeepEqual(Explain(cands, req, opts), rej) {
			t.Fatalf("Explain = %v, Place rejected with %v", Explain(cands, req, opts), rej)
		}
		for _, c := range cands {
			_, one := Place([]*Candidate{c}, req, opts)
			if Feasible(c, req, opts) != (one == nil) {
				t.Fatalf("Feasible(%s) = %v, Place on it alone: %v", c.ID, Feasible(c, req, opts), one)
			}
		}
	}
}
