package alloc

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// This file holds the brute-force oracle the property and fuzz tests compare
// Place with. It is written from the package documentation, not from the
// package code: every condition spelled out, no fast path.

// violations lists, in pipeline order, every condition c breaks for req.
func violations(c *Candidate, req Request, opts Options) []string {
	var v []string
	s := req.SLA
	if s.ComputerGUID != "" && c.ID != s.ComputerGUID {
		v = append(v, "computer_guid!="+s.ComputerGUID)
	}
	ownerPin := s.ComputerGUID != "" && s.ComputerGUID == c.ID && req.Person != "" && req.Person == c.Owner
	if c.Scope != model.ScopeOpen && c.Scope != "" && !ownerPin {
		v = append(v, "closed scope")
	}
	if opts.OnlineWithin > 0 && c.LastContact.Add(opts.OnlineWithin).Before(opts.Now) {
		v = append(v, "offline")
	}
	if !c.Software[req.SoftwareRelease] {
		v = append(v, "software not supplied")
	}
	if c.Free < 1 {
		v = append(v, "no free partition")
	}
	if s.Region != "" && c.Region != s.Region {
		v = append(v, "region!="+s.Region)
	}
	if s.Arch != "" && c.Arch != s.Arch {
		v = append(v, "arch!="+s.Arch)
	}
	if s.MinRAM > 0 && c.RAM < s.MinRAM {
		v = append(v, fmt.Sprintf("ram<%d", s.MinRAM))
	}
	if s.MinCPU > 0 && c.CPU < s.MinCPU {
		v = append(v, fmt.Sprintf("cpu<%d", s.MinCPU))
	}
	if s.MinDisk > 0 && c.Disk < s.MinDisk {
		v = append(v, fmt.Sprintf("disk<%d", s.MinDisk))
	}
	if s.MaxPrice > 0 && (math.IsNaN(c.Price) || c.Price > s.MaxPrice) {
		v = append(v, "price>"+strconv.FormatFloat(s.MaxPrice, 'g', -1, 64))
	}
	if s.Network != "" && c.Network != s.Network {
		v = append(v, "network!="+s.Network)
	}
	if s.UniqueByNetwork && req.TreeNetworks[c.Network] {
		v = append(v, "network used by tree")
	}
	for _, k := range slices.Sorted(maps.Keys(s.Attributes)) {
		if got, ok := c.Attributes[k]; !ok || got != s.Attributes[k] {
			v = append(v, "attr."+k+"!="+s.Attributes[k])
		}
	}
	return v
}

func priceRank(c *Candidate) float64 {
	if math.IsNaN(c.Price) {
		return math.Inf(1)
	}
	return c.Price
}

// expectedIndex is the oracle's choice among the feasible indexes (in slice
// order), or -1.
func expectedIndex(cands []*Candidate, feasible []int, req Request, policy Policy) int {
	if len(feasible) == 0 {
		return -1
	}
	best := feasible[0]
	for _, i := range feasible[1:] {
		switch policy {
		case PolicyCheapest:
			if priceRank(cands[i]) < priceRank(cands[best]) {
				best = i
			}
		case PolicyPack:
			if cands[i].Free < cands[best].Free {
				best = i
			}
		case PolicySpread:
			if cands[i].Free > cands[best].Free {
				best = i
			}
		}
	}
	if policy == PolicyRandom {
		// As documented: up to 32 uniform probes among all candidates,
		// then the r-th feasible one, from the keyed PCG stream.
		h := fnv.New64a()
		h.Write([]byte(req.Key))
		seed := h.Sum64()
		r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		for range 32 {
			if i := int(r.Uint64N(uint64(len(cands)))); slices.Contains(feasible, i) {
				return i
			}
		}
		return feasible[r.Uint64N(uint64(len(feasible)))]
	}
	return best
}

func cloneCandidates(cands []*Candidate) []*Candidate {
	out := make([]*Candidate, len(cands))
	for i, c := range cands {
		cc := *c
		cc.Attributes = maps.Clone(c.Attributes)
		cc.Software = maps.Clone(c.Software)
		out[i] = &cc
	}
	return out
}

// sameCandidate is reflect.DeepEqual with NaN prices equal.
func sameCandidate(a, b *Candidate) bool {
	x, y := *a, *b
	if math.IsNaN(x.Price) && math.IsNaN(y.Price) {
		x.Price, y.Price = 0, 0
	}
	return reflect.DeepEqual(x, y)
}

// checkPlace runs Place and checks it against the oracle: a decision is
// feasible and the one the policy ranks first; a rejection happens only when
// nothing is feasible, counts each considered candidate once at its first
// violation, and adds up. Place must not change the candidates. It returns
// Place's results.
func checkPlace(t testing.TB, cands []*Candidate, req Request, opts Options) (Decision, *Rejection) {
	t.Helper()
	before := cloneCandidates(cands)
	d, rej := Place(cands, req, opts)
	for i := range cands {
		if !sameCandidate(before[i], cands[i]) {
			t.Fatalf("Place changed candidate %d: %+v, was %+v", i, *cands[i], *before[i])
		}
	}
	var feasible []int
	tally := map[string]int{}
	considered := 0
	pinned := -1
	if pin := req.SLA.ComputerGUID; pin != "" {
		pinned = slices.IndexFunc(cands, func(c *Candidate) bool { return c.ID == pin })
	}
	for i, c := range cands {
		v := violations(c, req, opts)
		if len(v) == 0 {
			feasible = append(feasible, i)
		}
		if pinned < 0 || i == pinned {
			considered++
			if len(v) > 0 {
				tally[v[0]]++
			}
		}
	}
	policy := opts.Policy
	if policy == "" {
		policy = PolicyFirstFit
	}
	want := expectedIndex(cands, feasible, req, policy)
	if rej == nil {
		if want < 0 {
			t.Fatalf("Place chose %+v, the oracle finds no feasible computer", d)
		}
		if d.Index < 0 || d.Index >= len(cands) || cands[d.Index].ID != d.ComputerID {
			t.Fatalf("decision %+v does not point at its computer", d)
		}
		if v := violations(cands[d.Index], req, opts); len(v) > 0 {
			t.Fatalf("Place chose %s which violates %v", d.ComputerID, v)
		}
		if d.Index != want {
			t.Fatalf("policy %s chose index %d, the oracle ranks %d first (feasible %v)", policy, d.Index, want, feasible)
		}
		return d, rej
	}
	if want >= 0 {
		t.Fatalf("Place rejected (%v) but %s is feasible", rej, cands[want].ID)
	}
	if d.Index != -1 {
		t.Fatalf("a rejection comes with Index -1, got %+v", d)
	}
	if !errors.Is(rej, ErrNoPlacement) {
		t.Fatalf("rejection does not unwrap to ErrNoPlacement")
	}
	sum := 0
	for _, n := range rej.Counts {
		sum += n
	}
	if rej.Considered != considered || sum != considered {
		t.Fatalf("considered %d, counts add up to %d, want %d (counts %v)", rej.Considered, sum, considered, rej.Counts)
	}
	if !reflect.DeepEqual(rej.Counts, tally) {
		t.Fatalf("counts %v, oracle %v", rej.Counts, tally)
	}
	return d, rej
}

// The generators below draw grids and requests from small value sets so
// that every condition both holds and fails often.

var (
	genNow      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	genPersons  = []string{"", "PERSON-1", "PERSON-2"}
	genRegions  = []string{"", "eu", "jp", "us"}
	genNetworks = []string{"", "lan1", "lan2", "lan3"}
	genArchs    = []string{"", "x86_64", "arm64"}
	genSoftware = []string{"https://sr/a.cfg", "https://sr/b.cfg", "https://sr/c.cfg"}
	genRAM      = []int64{0, 1024, 2048, 4096, 8192}
	genPrices   = []float64{0, 0.1, 0.25, 0.5, 1, math.NaN()}
	genScopes   = []model.Scope{"", model.ScopeOpen, model.ScopeOpen, model.ScopeClosed}
	genAttrKeys = []string{"gpu", "ssd", "zone"}
	genAttrVals = []string{"", "yes", "no"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func genCandidates(r *rand.Rand, n int) []*Candidate {
	cands := make([]*Candidate, n)
	for i := range cands {
		c := &Candidate{
			ID:          fmt.Sprintf("COMP-%03d", i),
			Owner:       pick(r, genPersons[1:]),
			Region:      pick(r, genRegions),
			Network:     pick(r, genNetworks),
			Arch:        pick(r, genArchs),
			CPU:         r.Int64N(9),
			RAM:         pick(r, genRAM),
			Disk:        r.Int64N(5) * 50,
			Price:       pick(r, genPrices),
			Scope:       pick(r, genScopes),
			LastContact: genNow.Add(-time.Duration(r.IntN(20)) * time.Minute),
			Free:        r.IntN(4),
		}
		c.Total = c.Free + r.IntN(3)
		if r.IntN(8) > 0 {
			c.Software = map[string]bool{}
			for _, s := range genSoftware {
				if r.IntN(2) == 0 {
					c.Software[s] = r.IntN(6) > 0
				}
			}
		}
		if r.IntN(3) > 0 {
			c.Attributes = map[string]string{}
			for _, k := range genAttrKeys {
				if r.IntN(2) == 0 {
					c.Attributes[k] = pick(r, genAttrVals)
				}
			}
		}
		cands[i] = c
	}
	return cands
}

func genRequest(r *rand.Rand, cands []*Candidate) (Request, Options) {
	often := func() bool { return r.IntN(3) == 0 }
	req := Request{
		Person:          pick(r, genPersons),
		SoftwareRelease: pick(r, genSoftware),
		Key:             fmt.Sprintf("req-%d", r.Uint32()),
	}
	s := &req.SLA
	switch {
	case r.IntN(8) == 0 && len(cands) > 0:
		s.ComputerGUID = pick(r, cands).ID
	case r.IntN(30) == 0:
		s.ComputerGUID = "COMP-999"
	}
	if often() {
		s.Region = pick(r, genRegions[1:])
	}
	if often() {
		s.Arch = pick(r, genArchs[1:])
	}
	if often() {
		s.Network = pick(r, genNetworks[1:])
	}
	if often() {
		s.MinRAM = pick(r, genRAM)
	}
	if often() {
		s.MinCPU = r.Int64N(9)
	}
	if often() {
		s.MinDisk = r.Int64N(5) * 50
	}
	if often() {
		s.MaxPrice = pick(r, genPrices)
	}
	if often() {
		s.UniqueByNetwork = true
		req.TreeNetworks = map[string]bool{}
		for _, n := range genNetworks {
			if r.IntN(3) == 0 {
				req.TreeNetworks[n] = true
			}
		}
	}
	if often() {
		s.Attributes = map[string]string{}
		for _, k := range genAttrKeys {
			if r.IntN(2) == 0 {
				s.Attributes[k] = pick(r, genAttrVals)
			}
		}
	}
	if r.IntN(10) == 0 {
		s.InstanceGUID, s.RetentionDelay = "SOFTINST-1", 3600 // not the allocator's business
	}
	opts := Options{Policy: pick(r, append(Policies(), "")), Now: genNow}
	if r.IntN(2) == 0 {
		opts.OnlineWithin = 10 * time.Minute
	}
	return req, opts
}
