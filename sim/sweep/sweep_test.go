package sweep

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGridAndShards(t *testing.T) {
	params := []Param{{Key: "master.policy", Values: []string{"first-fit", "spread"}}, {Key: "seed", Values: []string{"1", "2", "3"}}}
	pts := Grid(params, 9)
	if len(pts) != 6 {
		t.Fatalf("%d points, want 6", len(pts))
	}
	// The last parameter varies fastest; "seed" sets the point's seed.
	if got := pts[1].Label(params); got != "master.policy=first-fit seed=2" || pts[1].Seed != 2 {
		t.Errorf("point 1 = %q seed %d", got, pts[1].Seed)
	}
	if got := pts[3].Overrides(params); !slices.Equal(got, []string{"master.policy=spread"}) {
		t.Errorf("point 3 overrides = %v", got)
	}
	// The shards partition the grid.
	seen := map[int]int{}
	for i := range 4 {
		for _, p := range (Shard{I: i, N: 4}).Select(pts) {
			seen[p.Index]++
			if p.Index%4 != i {
				t.Errorf("shard %d/4 has point %d", i, p.Index)
			}
		}
	}
	for i := range pts {
		if seen[i] != 1 {
			t.Errorf("point %d is in %d shards", i, seen[i])
		}
	}
	if got := Grid(nil, 4); len(got) != 1 || got[0].Seed != 4 {
		t.Errorf("empty grid = %+v, want one point with the base seed", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"", "key", "key=", "=a,b", "key=a,,b", "seed=1,x"} {
		if _, err := ParseParam(s); err == nil {
			t.Errorf("ParseParam(%q) accepted", s)
		}
	}
	for _, s := range []string{"", "1", "1/0", "4/4", "-1/3", "a/b"} {
		if _, err := ParseShard(s); err == nil {
			t.Errorf("ParseShard(%q) accepted", s)
		}
	}
	if sh, err := ParseShard("2/5"); err != nil || sh != (Shard{I: 2, N: 5}) {
		t.Errorf("ParseShard(2/5) = %v, %v", sh, err)
	}
}

const tiny = `duration: 2h
sample_every: 10m
software:
  - url: https://lab.slapgo.example/software/a.cfg
nodes:
  - {name: eu, count: 3, partitions: 20, region: eu}
workload: {requesters: 10, initial: 20, rate_per_hour: 20}
`

func TestRunWritesEveryPoint(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(file, []byte(tiny), 0o644); err != nil {
		t.Fatal(err)
	}
	params := []Param{{Key: "master.policy", Values: []string{"first-fit", "spread"}}, {Key: "seed", Values: []string{"1", "2"}}}
	out := filepath.Join(dir, "out")
	var done []int
	outcomes := Run(context.Background(), Config{File: file, Params: params, Points: Grid(params, 1), Workers: 2, OutDir: out,
		Done: func(o Outcome) { done = append(done, o.Point.Index) }})
	if len(outcomes) != 4 || len(done) != 4 {
		t.Fatalf("%d outcomes, %d reported", len(outcomes), len(done))
	}
	hashes := map[string]bool{}
	for _, o := range outcomes {
		if o.Err != nil {
			t.Fatalf("point %d: %v", o.Point.Index, o.Err)
		}
		hashes[o.Summary.TraceHash] = true
		for _, f := range []string{"summary.json", "timeseries.csv"} {
			if _, err := os.Stat(filepath.Join(PointDir(out, o.Point), f)); err != nil {
				t.Error(err)
			}
		}
	}
	if len(hashes) != 4 {
		t.Errorf("%d distinct traces over 4 different points", len(hashes))
	}
	// One worker or two: the same results.
	again := Run(context.Background(), Config{File: file, Params: params, Points: Grid(params, 1), Workers: 1, OutDir: filepath.Join(dir, "again")})
	for i := range again {
		if again[i].Summary.TraceHash != outcomes[i].Summary.TraceHash {
			t.Errorf("point %d: trace %s with 1 worker, %s with 2", i, again[i].Summary.TraceHash, outcomes[i].Summary.TraceHash)
		}
	}
	rows := RunRows(params, outcomes)
	if len(rows) != 5 || strings.Join(rows[0][:4], ",") != "point,master.policy,seed,trace_hash" || rows[2][1] != "first-fit" || rows[2][2] != "2" {
		t.Errorf("runs = %v", rows[:min(len(rows), 3)])
	}
	agg, err := Aggregate(params, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(agg.Points) != 2 || agg.Points[0].Runs != 2 || agg.Points[1].Values[0] != "spread" {
		t.Errorf("aggregate = %+v", agg.Points)
	}
}

func TestRunReportsBadPoints(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(file, []byte(tiny), 0o644); err != nil {
		t.Fatal(err)
	}
	params := []Param{{Key: "master.policy", Values: []string{"spread", "nonsense"}}}
	outcomes := Run(context.Background(), Config{File: file, Params: params, Points: Grid(params, 1), OutDir: dir})
	if outcomes[0].Err != nil || outcomes[1].Err == nil || !strings.Contains(outcomes[1].Err.Error(), "master.policy") {
		t.Errorf("errors: %v / %v", outcomes[0].Err, outcomes[1].Err)
	}
}

func TestMeanCI(t *testing.T) {
	for _, tc := range []struct {
		xs       []float64
		mean, ci float64
	}{
		{[]float64{5}, 5, 0},
		{[]float64{1, 3}, 2, 12.706 * math.Sqrt2 / math.Sqrt2}, // sd √2, n 2: t·√2/√2
		{[]float64{2, 4, 6}, 4, 4.303 * 2 / math.Sqrt(3)},
		{[]float64{7, 7, 7, 7}, 7, 0},
	} {
		m, ci := meanCI(tc.xs)
		if math.Abs(m-tc.mean) > 1e-12 || math.Abs(ci-tc.ci) > 1e-12 {
			t.Errorf("meanCI(%v) = %v ± %v, want %v ± %v", tc.xs, m, ci, tc.mean, tc.ci)
		}
	}
	if m, _ := meanCI(nil); !math.IsNaN(m) {
		t.Errorf("mean of nothing = %v", m)
	}
	if t975(100) != 2.0 || t975(1000) != 1.98 || t975(3) != 3.182 {
		t.Error("t975")
	}
}

func TestDefaultX(t *testing.T) {
	ps := []Param{{Key: "variant", Values: []string{"a", "b"}}, {Key: "master.provisioning_delay", Values: []string{"0s", "15m"}},
		{Key: "policy", Values: []string{"x"}}, {Key: "seed", Values: []string{"1"}}}
	if got := DefaultX(ps); got != "master.provisioning_delay" {
		t.Errorf("DefaultX = %q", got)
	}
	if got := DefaultX(ps[:1]); got != "variant" {
		t.Errorf("DefaultX(variant) = %q", got)
	}
	if got := DefaultX(ps[3:]); got != "" {
		t.Errorf("DefaultX(seed) = %q", got)
	}
}
