package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/model"
)

// AllocTarget is the allocator's target: placements per second on one core
// (issue: alloc >= 50,000/s).
const AllocTarget = 50_000

// AllocConfig is the grid of `slapgo bench alloc`: every combination of
// computers × partitions × fill × policy is measured Repetitions times.
type AllocConfig struct {
	Computers   []int          // market sizes (default 100, 1000)
	Partitions  []int          // partitions per computer (default 300)
	Fills       []int          // percent of partitions busy at the start (default 0, 50, 95)
	Policies    []alloc.Policy // default every policy
	Repetitions int            // timed repetitions per cell (default 5)
	RepTime     time.Duration  // length of one repetition (default 200ms)
	Warmup      time.Duration  // untimed placements before the first repetition (default 50ms)
}

// DefaultAllocConfig is the grid.
func DefaultAllocConfig() AllocConfig {
	return AllocConfig{
		Computers:   []int{100, 1000},
		Partitions:  []int{300},
		Fills:       []int{0, 50, 95},
		Policies:    alloc.Policies(),
		Repetitions: 5,
		RepTime:     200 * time.Millisecond,
		Warmup:      50 * time.Millisecond,
	}
}

// AllocCell is the measure of one combination.
type AllocCell struct {
	Computers  int    `json:"computers"`
	Partitions int    `json:"partitions"`
	Fill       int    `json:"fill_percent"`
	Policy     string `json:"policy"`
	// Rates are the placements per second of each repetition; Median,
	// Min and Max summarise them, Spread is (Max-Min)/Median.
	Rates       []float64 `json:"rates"`
	Median      float64   `json:"median_per_s"`
	Min         float64   `json:"min_per_s"`
	Max         float64   `json:"max_per_s"`
	Spread      float64   `json:"spread"`
	Placements  int64     `json:"placements"`    // successful placements timed
	Resets      int64     `json:"resets"`        // times the market was exhausted and refilled
	AllocsPerOp float64   `json:"allocs_per_op"` // heap allocations per placement
	// Status is PASS, MISS or no verdict (Why: a spread above MaxSpread).
	Status string `json:"status"`
	Why    string `json:"why,omitempty"`
}

// AllocResult is the outcome of RunAlloc.
type AllocResult struct {
	Config struct {
		Repetitions int           `json:"repetitions"`
		RepTime     time.Duration `json:"rep_time_ns"`
		Warmup      time.Duration `json:"warmup_ns"`
	} `json:"config"`
	Cells []AllocCell `json:"cells"`
}

// RunAlloc measures core/alloc.Place on every cell of the grid, one cell
// after the other on the calling goroutine (one core). Each repetition
// starts from the market at the cell's fill; each placement takes the
// chosen partition, as the master does; when the market is exhausted every
// computer gets its initial free partitions back (counted in Resets). It fails if one of the request kinds cannot be placed on a fresh
// market: the figures would measure rejections, not placements.
func RunAlloc(ctx context.Context, cfg AllocConfig) (AllocResult, error) {
	var res AllocResult
	res.Config.Repetitions, res.Config.RepTime, res.Config.Warmup = cfg.Repetitions, cfg.RepTime, cfg.Warmup
	if cfg.Repetitions < 1 || cfg.RepTime <= 0 {
		return res, fmt.Errorf("bench: alloc needs at least one repetition of a positive length, got %d × %s", cfg.Repetitions, cfg.RepTime)
	}
	for _, n := range cfg.Computers {
		for _, parts := range cfg.Partitions {
			for _, fill := range cfg.Fills {
				if n < 1 || parts < 1 || fill < 0 || fill >= 100 {
					return res, fmt.Errorf("bench: alloc cell computers=%d partitions=%d fill=%d%%: expected computers, partitions >= 1 and fill in [0, 100)", n, parts, fill)
				}
				for _, pol := range cfg.Policies {
					if err := ctx.Err(); err != nil {
						return res, err
					}
					cell, err := measureAllocCell(n, parts, fill, pol, cfg)
					if err != nil {
						return res, err
					}
					res.Cells = append(res.Cells, cell)
				}
			}
		}
	}
	return res, nil
}

// allocSoftware is the software every benchmark request asks for.
const allocSoftware = "https://lab.example.net/slapos/software/kvm/software.cfg"

// allocNow is the market's current time (computers have contacted the
// master within the last five minutes of it, a few are long silent).
var allocNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// AllocMarket builds a market of n computers with `partitions` partitions
// each, fill percent busy: three regions, two architectures, ten networks,
// hourly prices from 0.10 to 1.00, mostly open and online, the requested
// software supplied on nine computers in ten, a few closed or silent. It
// is deterministic in (n, partitions, fill) and sorted by computer ID, as
// core/alloc requires.
func AllocMarket(n, partitions, fill int) []*alloc.Candidate {
	r := rand.New(rand.NewPCG(uint64(n)*1_000_003+uint64(partitions), uint64(fill)))
	regions := []string{"eu", "eu", "jp", "us"}
	cands := make([]*alloc.Candidate, n)
	for i := range cands {
		c := &alloc.Candidate{
			ID:          fmt.Sprintf("COMP-%06d", i),
			Owner:       fmt.Sprintf("PERSON-%03d", i%40),
			Region:      regions[r.IntN(len(regions))],
			Network:     fmt.Sprintf("lan%d", r.IntN(10)),
			Arch:        "x86_64",
			CPU:         4 << r.IntN(4),
			RAM:         4096 << r.IntN(5),
			Disk:        100 << r.IntN(4),
			Price:       float64(10+r.IntN(91)) / 100,
			Scope:       model.ScopeOpen,
			LastContact: allocNow.Add(-time.Duration(r.IntN(300)) * time.Second),
			Software:    map[string]bool{"https://lab.example.net/slapos/software/re6st/software.cfg": true},
			Attributes:  map[string]string{"ssd": "yes"},
			Total:       partitions,
			Free:        partitions - partitions*fill/100,
		}
		if r.IntN(5) == 0 {
			c.Arch = "arm64"
		}
		if r.IntN(10) > 0 {
			c.Software[allocSoftware] = true
		}
		if r.IntN(40) == 0 {
			c.Scope = model.ScopeClosed
		}
		if r.IntN(50) == 0 {
			c.LastContact = allocNow.Add(-72 * time.Hour)
		}
		if r.IntN(3) == 0 {
			c.Attributes["ssd"] = "no"
		}
		cands[i] = c
	}
	return cands
}

// AllocRequests is the request mix the benchmark cycles through: no
// condition, a region and a memory floor, an architecture with a price cap
// and an attribute, and unique_by_network with a CPU floor.
func AllocRequests() []alloc.Request {
	slas := []model.SLA{
		{},
		{Region: "eu", MinRAM: 8192},
		{Arch: "x86_64", MaxPrice: 0.75, Attributes: map[string]string{"ssd": "yes"}},
		{UniqueByNetwork: true, MinCPU: 8},
	}
	reqs := make([]alloc.Request, len(slas))
	for i, sla := range slas {
		reqs[i] = alloc.Request{Person: "PERSON-900", SoftwareRelease: allocSoftware, SLA: sla, Key: fmt.Sprintf("bench-%d", i)}
		if sla.UniqueByNetwork {
			reqs[i].TreeNetworks = map[string]bool{"lan0": true, "lan1": true, "lan2": true}
		}
	}
	return reqs
}

// allocKeys are distinct request keys (PolicyRandom's seed), made before
// timing, so every placement is a different instance as at the master.
var allocKeys = func() []string {
	k := make([]string, 4096)
	for i := range k {
		k[i] = fmt.Sprintf("SOFTINST-%06d", i)
	}
	return k
}()

func measureAllocCell(n, parts, fill int, pol alloc.Policy, cfg AllocConfig) (AllocCell, error) {
	cell := AllocCell{Computers: n, Partitions: parts, Fill: fill, Policy: string(pol)}
	cands := AllocMarket(n, parts, fill)
	reqs := AllocRequests()
	opts := alloc.Options{Policy: pol, Now: allocNow, OnlineWithin: time.Hour}
	for _, req := range reqs {
		if _, rej := alloc.Place(cands, req, opts); rej != nil {
			return cell, fmt.Errorf("bench: alloc computers=%d fill=%d%% policy=%s: request with SLA %+v does not fit a fresh market: %v", n, fill, pol, req.SLA, rej)
		}
	}
	initial := make([]int, len(cands))
	for i, c := range cands {
		initial[i] = c.Free
	}
	refill := func() {
		for j, c := range cands {
			c.Free = initial[j]
		}
	}
	var i int
	var resets int64
	// place runs placements until d has passed (checking the clock every
	// 256 placements) and returns how many succeeded.
	place := func(d time.Duration) (ok int64, elapsed time.Duration) {
		start := time.Now()
		for {
			for range 256 {
				req := reqs[i%len(reqs)]
				req.Key = allocKeys[i%len(allocKeys)]
				i++
				dec, rej := alloc.Place(cands, req, opts)
				if rej != nil {
					refill()
					resets++
					continue
				}
				cands[dec.Index].Free--
				ok++
			}
			if elapsed = time.Since(start); elapsed >= d {
				return ok, elapsed
			}
		}
	}
	// Every repetition starts from the same market, so that they measure
	// the same thing (first-fit, say, slows down as the first computers
	// fill up) and their spread is the machine's noise.
	place(cfg.Warmup)
	resets = 0
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range cfg.Repetitions {
		refill()
		ok, elapsed := place(cfg.RepTime)
		cell.Placements += ok
		cell.Rates = append(cell.Rates, float64(ok)/elapsed.Seconds())
	}
	runtime.ReadMemStats(&after)
	cell.Resets = resets
	if cell.Placements > 0 {
		cell.AllocsPerOp = float64(after.Mallocs-before.Mallocs) / float64(cell.Placements)
	}
	cell.Median, cell.Min, cell.Max, cell.Spread = summarise(cell.Rates)
	cell.Status, cell.Why = Judge(AtLeast(AllocTarget, UnitPerSecond), cell.Median, nil, Noise{Spread: cell.Spread})
	return cell, nil
}

// summarise returns the median, minimum, maximum and relative spread
// ((max-min)/median) of repeated measures.
func summarise(xs []float64) (median, lo, hi, spread float64) {
	if len(xs) == 0 {
		return 0, 0, 0, 0
	}
	s := slices.Sorted(slices.Values(xs))
	lo, hi = s[0], s[len(s)-1]
	if len(s)%2 == 1 {
		median = s[len(s)/2]
	} else {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if median > 0 {
		spread = (hi - lo) / median
	}
	return median, lo, hi, spread
}

// Section lays the result out for reports.
func (r AllocResult) Section(command string) Section {
	target := AtLeast(AllocTarget, UnitPerSecond)
	t := Table{
		Title:   fmt.Sprintf("placements/s, median of %d × %s on one core (spread = (max-min)/median)", r.Config.Repetitions, r.Config.RepTime),
		Columns: []string{"computers", "partitions", "fill", "policy", "placements/s", "spread", "allocs/op", "target", "status"},
	}
	var worst *AllocCell
	var headline *AllocCell
	for i := range r.Cells {
		c := &r.Cells[i]
		t.Rows = append(t.Rows, []string{
			fmt.Sprint(c.Computers), fmt.Sprint(c.Partitions), fmt.Sprintf("%d%%", c.Fill), c.Policy,
			formatNumber(c.Median), formatPercent(c.Spread), formatNumber(c.AllocsPerOp), target.String(), c.Status + map[bool]string{true: " (spread)", false: ""}[c.Status == StatusNoVerdict],
		})
		if worst == nil || c.Median < worst.Median {
			worst = c
		}
		if c.Computers == 1000 && c.Partitions == 300 && c.Fill == 50 && c.Policy == string(alloc.PolicyFirstFit) {
			headline = c
		}
	}
	s := Section{Name: "alloc", Title: "core/alloc placements per second", Command: command, Tables: []Table{t}, Result: r}
	if headline != nil {
		s.Figures = append(s.Figures, JudgedFigure("placements/s", headline.Median, UnitPerSecond, &target, nil, Noise{Spread: headline.Spread},
			fmt.Sprintf("1,000 computers × 300 partitions, 50%% full, first-fit; spread %s", formatPercent(headline.Spread))))
	}
	if worst != nil {
		s.Figures = append(s.Figures, JudgedFigure("slowest cell placements/s", worst.Median, UnitPerSecond, &target, nil, Noise{Spread: worst.Spread},
			fmt.Sprintf("%s computers × %d partitions, %d%% full, %s; spread %s", formatNumber(float64(worst.Computers)), worst.Partitions, worst.Fill, worst.Policy, formatPercent(worst.Spread))))
	}
	s.Notes = append(s.Notes, fmt.Sprintf("a cell whose spread exceeds %s gets no verdict: the machine's noise is larger than what a verdict could tell", formatPercent(MaxSpread)))
	s.Notes = append(s.Notes, "every repetition starts from the market at the stated fill; each placement takes a partition; a market that runs out is refilled inside the timed loop")
	return s
}
