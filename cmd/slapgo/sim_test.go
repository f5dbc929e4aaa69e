package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/sim/scenario"
)

const tinyScenario = `duration: 2h
sample_every: 10m
software:
  - url: https://lab.slapgo.example/software/a.cfg
nodes:
  - {name: eu, count: 3, partitions: 20, region: eu}
workload: {requesters: 10, initial: 20, rate_per_hour: 20}
`

func simRoot() (*bytes.Buffer, *bytes.Buffer, func(args ...string) int) {
	var stdout, stderr bytes.Buffer
	return &stdout, &stderr, func(args ...string) int {
		stdout.Reset()
		stderr.Reset()
		root := newRootCmd()
		root.AddCommand(newSimCmd())
		return execute(context.Background(), root, args, &stdout, &stderr)
	}
}

func TestSimRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(file, []byte(tinyScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	stdout, stderr, run := simRoot()
	if code := run("sim", "run", file, "--seed", "3", "--out", out, "--set", "duration=1h"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(stdout.String(), "\n")
	if !strings.HasPrefix(lines[0], "slapgo sim: seed=3 scenario=tiny config={") || !strings.Contains(lines[0], `"duration":"1h0m0s"`) {
		t.Errorf("first line = %.120q", lines[0])
	}
	for _, want := range []string{"trace hash: ", "plots: " + filepath.Join(out, "busy.png")} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stderr.String(), "warning") {
		t.Errorf("stderr: %s", stderr)
	}
	first := stdout.String()
	// Same seed, same output (but for the wall-clock line), with or
	// without huge pages.
	if code := run("sim", "run", file, "--seed", "3", "--out", out, "--set", "duration=1h", "--quiet", "--huge-pages=false"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if hashLine(first) != hashLine(stdout.String()) || hashLine(first) == "" {
		t.Errorf("trace hash differs between two runs of seed 3")
	}
	// A bad override is a usage-level error naming the field.
	if code := run("sim", "run", file, "--set", "nodes[0].cuont=2"); code != 1 || !strings.Contains(stderr.String(), `field "cuont" is unknown in nodes[0]`) {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}

func hashLine(out string) string {
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(l, "trace hash: ") {
			return l
		}
	}
	return ""
}

func TestSimSweep(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(file, []byte(tinyScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	sweepArgs := []string{"sim", "sweep", file, "--param", "master.policy=first-fit,spread", "--param", "workload.rate_per_hour=10,40",
		"--param", "seed=1,2,3", "--workers", "2"}
	stdout, stderr, run := simRoot()
	one := filepath.Join(dir, "one")
	if code := run(append(sweepArgs, "--out", one)...); code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	// Three shards, merged: the same outputs, byte for byte.
	var shards []string
	for i := range 3 {
		sd := filepath.Join(dir, fmt.Sprintf("shard-%d", i))
		shards = append(shards, sd)
		if code := run(append(sweepArgs, "--shard", fmt.Sprintf("%d/3", i), "--out", sd)...); code != 0 {
			t.Fatalf("shard %d: exit %d: %s %s", i, code, stdout, stderr)
		}
		if _, err := os.Stat(filepath.Join(sd, "sweep.csv")); err == nil {
			t.Errorf("shard %d wrote an aggregate of part of the sweep", i)
		}
	}
	merged := filepath.Join(dir, "merged")
	if code := run(append([]string{"sim", "sweep", "merge", "--out", merged}, shards[2], shards[0], shards[1])...); code != 0 {
		t.Fatalf("merge: exit %d: %s %s", code, stdout, stderr)
	}
	for _, f := range []string{"runs.csv", "sweep.csv", "sweep.png", "sweep.svg", "sweep.json"} {
		a, err := os.ReadFile(filepath.Join(one, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(merged, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the merged shards differ from the single sweep (%d and %d bytes)", f, len(a), len(b))
		}
	}
	agg, err := os.ReadFile(filepath.Join(one, "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(agg)), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "master.policy,workload.rate_per_hour,runs,failed,placed_mean,placed_ci95,") ||
		!strings.HasPrefix(lines[1], "first-fit,10,3,0,") || !strings.Contains(lines[0], "provider_profit_eur_mean") {
		t.Errorf("sweep.csv:\n%s", agg)
	}
	// A missing shard is named.
	if code := run("sim", "sweep", "merge", "--out", filepath.Join(dir, "m2"), shards[0], shards[2]); code != 1 ||
		!strings.Contains(stderr.String(), "runs missing") {
		t.Errorf("merge without shard 1: exit %d, stderr %s", code, stderr)
	}
	if code := run("sim", "sweep", file, "--param", "master.policy=first-fit,bogus", "--out", filepath.Join(dir, "bad")); code != 1 ||
		!strings.Contains(stderr.String(), "point 1 (master.policy=bogus)") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}

func TestSimMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		in    string
		limit int64
		auto  bool
	}{
		{"auto", 0, true}, {"", 0, true}, {"off", math.MaxInt64, false},
		{"2GiB", 2 << 30, false}, {"1800MiB", 1800 << 20, false}, {"1800 mib", 1800 << 20, false},
		{"3GB", 3e9, false}, {"4096", 4096, false}, {"512KiB", 512 << 10, false},
	} {
		limit, auto, err := parseMemoryLimit(tt.in)
		if err != nil || limit != tt.limit || auto != tt.auto {
			t.Errorf("parseMemoryLimit(%q) = %d, %v, %v; want %d, %v", tt.in, limit, auto, err, tt.limit, tt.auto)
		}
	}
	for _, bad := range []string{"12XB", "-5", "0", "GiB", "1.5GiB", "99999999999TiB"} {
		if _, _, err := parseMemoryLimit(bad); err == nil || !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("parseMemoryLimit(%q): error %v, want one naming --memory-limit", bad, err)
		}
	}
	// 1,000 nodes of 300 partitions: 6.5 KiB each; a tiny grid gets the floor.
	big := &scenario.Scenario{Nodes: []scenario.NodeGroup{{Count: 400, Partitions: 300}, {Count: 600, Partitions: 300}}}
	if got, want := runMemoryLimit(big), int64(300_000*6656); got != want {
		t.Errorf("runMemoryLimit(1000×300) = %d, want %d", got, want)
	}
	tiny := &scenario.Scenario{Nodes: []scenario.NodeGroup{{Count: 3, Partitions: 20}}}
	if got := runMemoryLimit(tiny); got != 1<<30 {
		t.Errorf("runMemoryLimit(3×20) = %d, want 1 GiB", got)
	}
	// 10,000 nodes of 300 partitions would get 18.6 GiB: the ceiling keeps
	// the run under the 16 GiB of its target.
	huge := &scenario.Scenario{Nodes: []scenario.NodeGroup{{Count: 10000, Partitions: 300}}}
	if got := runMemoryLimit(huge); got != 14<<30 {
		t.Errorf("runMemoryLimit(10000×300) = %d, want 14 GiB", got)
	}
	// A bad limit is refused before the run, naming the flag.
	_, stderr, run := simRoot()
	if code := run("sim", "run", "--memory-limit", "lots", "no-such.yaml"); code == 0 || !strings.Contains(stderr.String(), `--memory-limit "lots"`) {
		t.Errorf("sim run --memory-limit lots: exit %d, stderr %q", code, stderr.String())
	}
}
