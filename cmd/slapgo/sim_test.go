package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	first := stdout.String()
	// Same seed, same output (but for the wall-clock line).
	if code := run("sim", "run", file, "--seed", "3", "--out", out, "--set", "duration=1h", "--quiet"); code != 0 {
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
	out := filepath.Join(dir, "sweep")
	stdout, stderr, run := simRoot()
	code := run("sim", "sweep", file, "--param", "master.policy=first-fit,spread", "--param", "seed=1,2",
		"--shard", "1/2", "--workers", "2", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "sweep-shard-1-of-2.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(string(data), "\n"); rows != 3 {
		t.Errorf("%d CSV lines, want a header and 2 points:\n%s", rows, data)
	}
	for _, p := range []string{"point-0001", "point-0003"} {
		if _, err := os.Stat(filepath.Join(out, p, "summary.json")); err != nil {
			t.Error(err)
		}
	}
	if code := run("sim", "sweep", file, "--param", "master.policy=first-fit,bogus", "--out", out); code != 1 ||
		!strings.Contains(stderr.String(), "point 1 (master.policy=bogus)") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}
