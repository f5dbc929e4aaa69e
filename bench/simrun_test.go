package bench

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/sim/scenario"
)

func TestParseSimSize(t *testing.T) {
	tests := []struct {
		in   string
		want SimSize
		bad  bool
	}{
		{in: "1000", want: SimSize{Nodes: 1000}},
		{in: " 5000:6h", want: SimSize{Nodes: 5000, Virtual: 6 * time.Hour}},
		{in: "100:2d", want: SimSize{Nodes: 100, Virtual: 48 * time.Hour}},
		{in: "0", bad: true},
		{in: "x", bad: true},
		{in: "10:", bad: true},
		{in: "10:-1h", bad: true},
	}
	for _, tc := range tests {
		got, err := ParseSimSize(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseSimSize(%q) accepted it", tc.in)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSimSize(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back, err := ParseSimSize(got.String()); err != nil || back != got {
			t.Errorf("%+v.String() = %q does not read back", got, got.String())
		}
	}
}

// TestRunSimLive runs the real `slapgo sim run` on a tiny baseline.
func TestRunSimLive(t *testing.T) {
	testenv.Short(t, "runs the simulator binary")
	bin := slapgoBinary(t)
	if out, err := exec.Command(bin, "sim", "run", "--help").CombinedOutput(); err != nil {
		t.Fatalf("%s sim run --help: %v: %s", bin, err, bytes.TrimSpace(out))
	}
	cfg := DefaultSimConfig()
	cfg.Bin, cfg.Scenario, cfg.Out = bin, baselineScenario, t.TempDir()
	cfg.Sizes = []SimSize{{Nodes: 6, Virtual: time.Hour}}
	res, err := RunSim(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(res.Runs))
	}
	run := res.Runs[0]
	if run.Nodes != 6 || run.Virtual != time.Hour || run.Events == 0 || run.EventsPerSecond <= 0 || run.PeakRSS <= 0 || run.TraceHash == "" {
		t.Fatalf("run %+v: want 6 nodes for 1h, events, a rate, a peak RSS and a trace hash", run)
	}
	if run.Policy != "first-fit" {
		t.Errorf("run at 6 nodes used policy %q, want the scenario's first-fit", run.Policy)
	}
	if !strings.Contains(run.Command, "duration=1h") || strings.Contains(run.Command, "--out") {
		t.Errorf("reproduce command %q: want the duration override and no temporary --out", run.Command)
	}
	sec := res.Section("slapgo bench sim --nodes 6:1h")
	if len(sec.Tables) != 1 || len(sec.Tables[0].Rows) != 1 {
		t.Fatalf("section tables %+v", sec.Tables)
	}
}

// From SimSpreadNodes nodes on the run spreads requests, unless the
// caller's own overrides say otherwise.
func TestSimOverridesPolicy(t *testing.T) {
	base, err := scenario.Load(baselineScenario, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		nodes int
		set   []string
		want  string
	}{
		{1000, nil, "first-fit"},
		{SimSpreadNodes - 1, nil, "first-fit"},
		{SimSpreadNodes, nil, "spread"},
		{SimLargeTargetNodes, nil, "spread"},
		{SimLargeTargetNodes, []string{"master.policy=first-fit"}, "first-fit"},
	} {
		cfg := DefaultSimConfig()
		cfg.Set = tc.set
		sets, err := simOverrides(base, SimSize{Nodes: tc.nodes, Virtual: time.Hour}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := scenario.Load(baselineScenario, sets)
		if err != nil {
			t.Fatalf("%d nodes: %v", tc.nodes, err)
		}
		if sc.Master.Policy != tc.want || sc.Duration.D() != time.Hour {
			t.Errorf("%d nodes, set %v: policy %q for %s, want %q for 1h", tc.nodes, tc.set, sc.Master.Policy, sc.Duration.D(), tc.want)
		}
	}
}
