package alloc

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    Policy
		wantErr bool
	}{
		{"", PolicyFirstFit, false},
		{"first-fit", PolicyFirstFit, false},
		{"cheapest", PolicyCheapest, false},
		{"pack", PolicyPack, false},
		{"spread", PolicySpread, false},
		{"random", PolicyRandom, false},
		{"Cheapest", "", true},
		{"best-fit", "", true},
	}
	for _, tt := range tests {
		got, err := ParsePolicy(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrUnknownPolicy) {
			t.Errorf("ParsePolicy(%q): %v does not wrap ErrUnknownPolicy", tt.in, err)
		}
	}
}

// TestPolicies ranks one market with each policy. The market holds
// infeasible computers that every policy would otherwise prefer (cheapest,
// fullest, emptiest) and ties, which go to the earlier computer.
func TestPolicies(t *testing.T) {
	type spec struct {
		price    float64
		free     int
		feasible bool
	}
	market := []spec{
		{price: 0.9, free: 5, feasible: true},        // 0
		{price: 0.1, free: 1, feasible: false},       // 1: cheapest and fullest, but no software
		{price: 0.3, free: 2, feasible: true},        // 2
		{price: 0.3, free: 2, feasible: true},        // 3: ties 2
		{price: 0.5, free: 9, feasible: true},        // 4
		{price: 0.2, free: 50, feasible: false},      // 5: emptiest, but offline
		{price: 0.5, free: 9, feasible: true},        // 6: ties 4
		{price: math.NaN(), free: 3, feasible: true}, // 7: unknown price ranks last
	}
	build := func() []*Candidate {
		cands := make([]*Candidate, len(market))
		for i, s := range market {
			c := fitCandidate()
			c.ID = "COMP-" + string(rune('A'+i))
			c.Price, c.Free = s.price, s.free
			if !s.feasible {
				if i == 1 {
					c.Software = nil
				} else {
					c.LastContact = testNow.Add(-24 * time.Hour)
				}
			}
			cands[i] = c
		}
		return cands
	}
	tests := []struct {
		policy Policy
		want   int
	}{
		{PolicyFirstFit, 0},
		{"", 0},
		{"unknown-is-first-fit", 0},
		{PolicyCheapest, 2},
		{PolicyPack, 2},
		{PolicySpread, 4},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			opts := fitOptions()
			opts.Policy = tt.policy
			d, rej := Place(build(), fitRequest(), opts)
			if rej != nil || d.Index != tt.want {
				t.Fatalf("got %+v %v, want index %d", d, rej, tt.want)
			}
		})
	}
	t.Run("random", func(t *testing.T) {
		opts := fitOptions()
		opts.Policy = PolicyRandom
		seen := map[int]bool{}
		for _, key := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} {
			req := fitRequest()
			req.Key = key
			d, _ := checkPlace(t, build(), req, opts) // the oracle checks the draw
			seen[d.Index] = true
		}
		if seen[1] || seen[5] {
			t.Fatalf("random chose an infeasible computer: %v", seen)
		}
		if len(seen) < 3 {
			t.Fatalf("twelve keys chose only %v", seen)
		}
	})
	t.Run("cheapest/NaN only", func(t *testing.T) {
		cands := build()
		for _, c := range cands {
			c.Price = math.NaN()
		}
		opts := fitOptions()
		opts.Policy = PolicyCheapest
		if d, rej := checkPlace(t, cands, fitRequest(), opts); rej != nil || d.Index != 0 {
			t.Fatalf("got %+v %v, want index 0", d, rej)
		}
	})
	t.Run("pack/stops at one free partition", func(t *testing.T) {
		cands := build()
		cands[4].Free = 1
		cands[6].Free = 1
		opts := fitOptions()
		opts.Policy = PolicyPack
		if d, rej := checkPlace(t, cands, fitRequest(), opts); rej != nil || d.Index != 4 {
			t.Fatalf("got %+v %v, want index 4", d, rej)
		}
	})
}

func TestFNV64aMatchesHashFNV(t *testing.T) {
	// Known FNV-1a 64 values (from the reference test vectors).
	for _, tt := range []struct {
		in   string
		want uint64
	}{
		{"", 0xcbf29ce484222325},
		{"a", 0xaf63dc4c8601ec8c},
		{"foobar", 0x85944171f73967e8},
	} {
		if got := fnv64a(tt.in); got != tt.want {
			t.Errorf("fnv64a(%q) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}
