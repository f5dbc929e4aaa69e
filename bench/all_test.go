package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/alloc"
)

// TestRunAllWritesResults runs `bench all` with every section but a tiny
// allocator grid skipped, and reads back latest.md and latest.json.
func TestRunAllWritesResults(t *testing.T) {
	c := DefaultAllConfig()
	c.Out, c.Settle = t.TempDir(), 0
	c.Skip = []string{"poll", "poll-nodes", "poll-storm", "poll-moonshot", "storm", "storm-privileged", "sim"}
	c.Alloc = AllocConfig{Computers: []int{10}, Partitions: []int{10}, Fills: []int{0}, Policies: []alloc.Policy{alloc.PolicyPack},
		Repetitions: 2, RepTime: 2 * time.Millisecond, Warmup: time.Millisecond}
	rep, err := RunAll(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	// A figure that could not be measured must not break the JSON.
	rep.Sections[0].Figures = append(rep.Sections[0].Figures, NewFigure("unmeasured", math.NaN(), UnitNodes, nil, ""))
	if err := WriteResults(c.Out, rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Sections) != 1 || rep.Sections[0].Name != "alloc" || rep.Sections[0].Wall <= 0 {
		t.Fatalf("sections %+v: want the alloc section only, timed", rep.Sections)
	}
	md, err := os.ReadFile(filepath.Join(c.Out, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# slapgo benchmarks: latest run", "Machine: ", "## alloc:", "`slapgo bench alloc --computers 10 --partitions 10 --fill 0 --reps 2 --rep-time 2ms`", "| pack |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("latest.md lacks %q:\n%s", want, md)
		}
	}
	js, err := os.ReadFile(filepath.Join(c.Out, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil || len(back.Sections) != 1 || back.Machine.Cores < 1 {
		t.Fatalf("latest.json: %v, %+v", err, back)
	}
	figs := back.Sections[0].Figures
	if last := figs[len(figs)-1]; last.Name != "unmeasured" || !math.IsNaN(last.Value) || figs[0].Value <= 0 {
		t.Fatalf("figures read back as %+v: want the measured ones and NaN for the unmeasured one", figs)
	}
}

func TestPollCommandLine(t *testing.T) {
	c := DefaultAllConfig()
	got := pollCommand(c.PollMax)
	for _, want := range []string{"slapgo bench poll --nodes 1000 --partitions 30 --fill 0.1 --interval 1m --compress 30", "--identity admin --conns 32", "--find-max --max-p99 100ms"} {
		if !strings.Contains(got, want) {
			t.Errorf("pollCommand = %q, lacks %q", got, want)
		}
	}
	if got := pollCommand(c.PollNodes); !strings.Contains(got, "--nodes 10000") || !strings.Contains(got, "--identity computer --warmup 1m5s --duration 2m0s --runs 3") {
		t.Errorf("pollCommand = %q", got)
	}
	if got, want := pollCommand(c.PollStorm), "slapgo bench poll --nodes 10000 --partitions 10 --fill 0.1 --identity computer --reconnect-storm --storm-within 10s --storm-timeout 2m"; got != want {
		t.Errorf("pollCommand = %q, want %q", got, want)
	}
}

// TestPrivilegedStormNotRun: not as root, bench all reports the privileged
// storm's target n/a and says why, in the summary table too.
func TestPrivilegedStormNotRun(t *testing.T) {
	c := DefaultAllConfig()
	if got, want := stormCommand(c.StormPrivileged), "slapgo bench storm --partitions 300 --software fixtures/software/busybox-httpd/software.cfg --poll-interval 10s --live-runs 5 --incremental-only --privileged"; got != want {
		t.Errorf("stormCommand = %q, want %q", got, want)
	}
	rep := Report{Sections: []Section{privilegedStormNotRun(stormCommand(c.StormPrivileged), 0.5)}}
	rep.Sections[0].ApplyLoadBound(2)
	var md strings.Builder
	if err := rep.WriteSummaryMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| storm-privileged | storm: time to converge | n/a | <= 30.0s | n/a: not run: bench all was not run as root"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, md.String())
		}
	}
}

// TestMoonshotOthers: the moonshot section keeps its figures but those
// judged against the 10,000-node and 304/s targets, and its p99 unjudged.
func TestMoonshotOthers(t *testing.T) {
	nodes, p99 := AtLeast(PollNodesTarget, UnitNodes), AtMost(0.1, UnitSeconds)
	figs := []Figure{
		JudgedFigure("nodes polling every 1m held with p99 < 100ms", 19000, UnitNodes, &nodes, []Condition{{Name: "runs", Met: false}}, quiet, ""),
		NewFigure("conditional GETs answered 304/s sustained over 19,000 connections (p99 < 100ms)", 300, UnitPerSecond, &nodes, ""),
		NewFigure("poll latency p50", 0.002, UnitSeconds, nil, ""),
		JudgedFigure("poll latency p99", 0.02, UnitSeconds, &p99, []Condition{{Name: "runs", Met: false}}, quiet, ""),
		NewFigure("master CPU", 0.3, UnitCores, nil, ""),
	}
	got := moonshotOthers(figs)
	if len(got) != 3 || got[0].Name != "poll latency p50" || got[1].Name != "poll latency p99" || got[2].Name != "master CPU" {
		t.Fatalf("moonshotOthers kept %+v", got)
	}
	if got[1].Target != nil || got[1].Status != "" || got[1].Value != 0.02 {
		t.Errorf("p99 %+v: want the value, unjudged", got[1])
	}
}

// TestSettle: bench all waits for the load average to fall under the
// bound, at most so long, checking it every period.
func TestSettle(t *testing.T) {
	for _, tc := range []struct {
		name       string
		loads      []float64
		wantWaited time.Duration
		wantLoad   float64
	}{
		{"quiet already", []float64{1.2}, 0, 1.2},
		{"falls in three periods", []float64{3.5, 2.9, 2.4, 1.9, 1.5}, 15 * time.Second, 1.9},
		{"at the bound", []float64{2}, 0, 2},
		{"never falls: gives up", []float64{9, 9, 9, 9, 9, 9, 9, 9}, 32 * time.Second, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			load := func() float64 {
				l := tc.loads[min(i, len(tc.loads)-1)]
				i++
				return l
			}
			var slept time.Duration
			sleep := func(_ context.Context, d time.Duration) error { slept += d; return nil }
			waited, l := settle(context.Background(), load, 2, 32*time.Second, 5*time.Second, sleep)
			if waited != tc.wantWaited || l != tc.wantLoad || slept != waited {
				t.Errorf("settle = %s, %g (slept %s); want %s, %g", waited, l, slept, tc.wantWaited, tc.wantLoad)
			}
		})
	}
}
