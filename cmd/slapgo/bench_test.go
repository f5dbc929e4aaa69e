package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchAllocCommand runs a tiny real `slapgo bench alloc`, as text and
// as JSON.
func TestBenchAllocCommand(t *testing.T) {
	args := []string{"bench", "alloc", "--computers", "20", "--partitions", "10", "--fill", "50",
		"--policy", "first-fit,spread", "--reps", "2", "--rep-time", "5ms", "--warmup", "1ms"}
	tests := []struct {
		name  string
		json  bool
		check func(t *testing.T, out string)
	}{
		{"text", false, func(t *testing.T, out string) {
			for _, want := range []string{"machine: ", "== alloc:", "slapgo bench alloc --computers 20 --fill 50 --partitions 10 --policy first-fit,spread --rep-time 5ms --reps 2 --warmup 1ms",
				"placements/s", ">= 50,000/s", "first-fit", "spread"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		}},
		{"json", true, func(t *testing.T, out string) {
			var rep struct {
				Machine struct {
					Cores int `json:"cores"`
				} `json:"machine"`
				Sections []struct {
					Name   string `json:"name"`
					Result struct {
						Cells []struct {
							Policy string  `json:"policy"`
							Median float64 `json:"median_per_s"`
						} `json:"cells"`
					} `json:"result"`
				} `json:"sections"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("--json output does not decode: %v\n%s", err, out)
			}
			if rep.Machine.Cores < 1 || len(rep.Sections) != 1 || len(rep.Sections[0].Result.Cells) != 2 || rep.Sections[0].Result.Cells[1].Policy != "spread" || rep.Sections[0].Result.Cells[0].Median <= 0 {
				t.Fatalf("decoded %+v", rep)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := newRootCmd()
			root.AddCommand(newBenchCmd())
			a := args
			if tc.json {
				a = append(append([]string{}, args...), "--json")
			}
			var stdout, stderr bytes.Buffer
			if code := execute(context.Background(), root, a, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			tc.check(t, stdout.String())
		})
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "alloc", "--policy", "cheapest-first"},
		{"bench", "sim", "--nodes", "lots"},
		{"bench", "all", "--sim-nodes", "10:forever"},
		{"bench", "compare", "--new", "slapgo", "alloc"},
		{"bench", "compare", "--base", "slapgo", "--new", "slapgo"},
		{"bench", "compare", "--base", "slapgo", "--new", "slapgo", "all"},
		{"bench", "poll", "--reconnect-storm", "--identity", "admin"},
		{"bench", "storm", "--live-runs", "0"},
		{"bench", "storm", "--cpuprofile", "/nonexistent/storm.prof"},
	} {
		root := newRootCmd()
		root.AddCommand(newBenchCmd())
		var stdout, stderr bytes.Buffer
		if code := execute(context.Background(), root, args, &stdout, &stderr); code == 0 {
			t.Errorf("%v: exit 0, want an error", args)
		} else if !strings.Contains(stderr.String(), "slapgo: ") {
			t.Errorf("%v: stderr %q lacks the error", args, stderr.String())
		}
	}
}
