package alloc

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

const benchSoftware = "https://lab.example.net/slapos/software/kvm/software.cfg"

var benchNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// genBenchGrid builds a realistic market: n computers of `partitions`
// partitions each, fill percent of them busy; mostly open and online, the
// benchmarked software supplied on 90% of them, three regions, two
// architectures, ten networks, prices from 0.10 to 1.00.
func genBenchGrid(n, partitions, fill int) []*Candidate {
	r := rand.New(rand.NewPCG(uint64(n), uint64(fill)))
	regions := []string{"eu", "eu", "jp", "us"}
	cands := make([]*Candidate, n)
	for i := range cands {
		c := &Candidate{
			ID:          fmt.Sprintf("COMP-%05d", i),
			Owner:       fmt.Sprintf("PERSON-%d", i%50),
			Region:      regions[r.IntN(len(regions))],
			Network:     fmt.Sprintf("lan%d", r.IntN(10)),
			Arch:        "x86_64",
			CPU:         4 << r.IntN(4),
			RAM:         2048 << r.IntN(6),
			Disk:        100 << r.IntN(4),
			Price:       float64(10+r.IntN(91)) / 100,
			Scope:       model.ScopeOpen,
			LastContact: benchNow.Add(-time.Duration(r.IntN(300)) * time.Second),
			Software:    map[string]bool{"https://lab.example.net/slapos/software/re6st/software.cfg": true},
			Attributes:  map[string]string{"ssd": "yes"},
			Total:       partitions,
			Free:        partitions * (100 - fill) / 100,
		}
		if r.IntN(5) == 0 {
			c.Arch = "arm64"
		}
		if r.IntN(10) > 0 {
			c.Software[benchSoftware] = true
		}
		if r.IntN(33) == 0 {
			c.Scope = model.ScopeClosed
		}
		if r.IntN(50) == 0 {
			c.LastContact = benchNow.Add(-48 * time.Hour)
		}
		if r.IntN(3) == 0 {
			c.Attributes["ssd"] = "no"
		}
		if r.IntN(10) == 0 {
			c.Attributes["gpu"] = "yes"
		}
		cands[i] = c
	}
	return cands
}

// benchRequests is the mix of requests the benchmark cycles through.
func benchRequests() []Request {
	base := Request{Person: "PERSON-7", SoftwareRelease: benchSoftware}
	slas := []model.SLA{
		{},
		{Region: "eu", MinRAM: 4096},
		{Arch: "x86_64", MaxPrice: 0.8, Attributes: map[string]string{"ssd": "yes"}},
		{UniqueByNetwork: true, MinCPU: 8},
	}
	reqs := make([]Request, len(slas))
	for i, s := range slas {
		reqs[i] = base
		reqs[i].SLA = s
		reqs[i].Key = fmt.Sprintf("instance-%d", i)
		if s.UniqueByNetwork {
			reqs[i].TreeNetworks = map[string]bool{"lan0": true, "lan1": true}
		}
	}
	return reqs
}

// BenchmarkAllocate places requests one after the other on a market of
// computers, taking a partition each time (and giving all back when the
// market is exhausted), so it measures placements as the master makes them.
func BenchmarkAllocate(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, fill := range []int{0, 50, 95} {
			for _, policy := range Policies() {
				name := fmt.Sprintf("computers=%d/partitions=300/fill=%d/policy=%s", n, fill, policy)
				b.Run(name, func(b *testing.B) { benchAllocate(b, n, 300, fill, policy, false) })
			}
		}
	}
}

// BenchmarkIndex compares, on large markets, a placement by Choose's scan
// of every candidate (how=scan) with one by an Index kept up to date as
// partitions are taken (how=index), for the policies the Index ranks.
func BenchmarkIndex(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, fill := range []int{0, 95} {
			for _, policy := range []Policy{PolicyFirstFit, PolicyPack, PolicySpread} {
				for _, how := range []string{"scan", "index"} {
					name := fmt.Sprintf("computers=%d/partitions=300/fill=%d/policy=%s/how=%s", n, fill, policy, how)
					b.Run(name, func(b *testing.B) { benchAllocate(b, n, 300, fill, policy, how == "index") })
				}
			}
		}
	}
}

// benchAllocate places with Place, or with an Index's Choose when indexed.
func benchAllocate(b *testing.B, n, partitions, fill int, policy Policy, indexed bool) {
	cands := genBenchGrid(n, partitions, fill)
	reqs := benchRequests()
	opts := Options{Policy: policy, Now: benchNow, OnlineWithin: time.Hour}
	for _, req := range reqs {
		if _, rej := checkPlace(b, cands, req, opts); rej != nil {
			b.Fatalf("request %+v does not fit the benchmark grid: %v", req.SLA, rej)
		}
	}
	// Every placement is a different instance, as at the master: distinct
	// keys (PolicyRandom's seed), made before the timed loop.
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("instance-%d", i)
	}
	initial := make([]int, len(cands))
	for i, c := range cands {
		initial[i] = c.Free
	}
	resets := 0
	x := NewIndex(cands)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := reqs[i%len(reqs)]
		req.Key = keys[i%len(keys)]
		var d Decision
		var rej *Rejection
		if indexed {
			var ok bool
			if d, ok = x.Choose(req, opts); !ok {
				rej = &Rejection{}
			}
		} else {
			d, rej = Place(cands, req, opts)
		}
		if rej != nil {
			for j, c := range cands {
				c.Free = initial[j]
				x.Update(c)
			}
			resets++
			continue
		}
		cands[d.Index].Free--
		x.Update(cands[d.Index])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "placements/s")
	b.ReportMetric(float64(resets), "resets")
}
