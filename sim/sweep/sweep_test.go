package sweep

import (
	"bytes"
	"context"
	"encoding/csv"
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
	var buf bytes.Buffer
	if err := WriteCSV(&buf, params, outcomes); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || strings.Join(rows[0][:4], ",") != "point,master.policy,seed,trace_hash" || rows[2][1] != "first-fit" || rows[2][2] != "2" {
		t.Errorf("csv = %v", rows[:min(len(rows), 3)])
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
