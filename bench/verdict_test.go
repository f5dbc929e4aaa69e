package bench

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	atMost := AtMost(0.1, UnitSeconds)
	met := Condition{Name: "identity", Want: "computer", Got: "computer", Met: true}
	unmet := Condition{Name: "compression", Want: "1", Got: "30", Met: false}
	tests := []struct {
		name      string
		x         float64
		conds     []Condition
		noise     Noise
		want, why string
	}{
		{"pass", 0.05, []Condition{met}, quiet, StatusPass, ""},
		{"miss", 0.2, []Condition{met}, quiet, StatusMiss, ""},
		{"unmeasured misses", math.NaN(), nil, quiet, StatusMiss, ""},
		{"a condition not met is n/a", 0.05, []Condition{met, unmet}, quiet, StatusNA, "compression 30, target is for 1"},
		{"n/a before noise", 0.05, []Condition{unmet}, Noise{Load: 9, Cores: 2, Spread: math.NaN()}, StatusNA, "compression"},
		{"loaded machine", 0.05, nil, Noise{Load: 2.5, Cores: 2, Spread: math.NaN()}, StatusNoVerdict, "load average 2.50 at the start > 2"},
		{"load at the bound", 0.05, nil, Noise{Load: 2, Cores: 2, Spread: math.NaN()}, StatusPass, ""},
		{"spread above the bound", 0.05, nil, Noise{Spread: 0.9}, StatusNoVerdict, "run-to-run spread 90.0% > 25.0%"},
		{"spread under the bound", 0.2, nil, Noise{Spread: 0.1}, StatusMiss, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := Judge(atMost, tc.x, tc.conds, tc.noise)
			if got != tc.want || !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
				t.Errorf("Judge = %q, %q; want %q, %q", got, why, tc.want, tc.why)
			}
		})
	}
}

func TestApplyLoadBound(t *testing.T) {
	target := AtLeast(1, UnitPerSecond)
	mk := func() Section {
		return Section{Figures: []Figure{
			NewFigure("pass", 2, UnitPerSecond, &target, ""),
			NewFigure("miss", 0, UnitPerSecond, &target, ""),
			JudgedFigure("n/a", 2, UnitPerSecond, &target, []Condition{{Name: "size", Met: false}}, quiet, ""),
			NewFigure("info", 2, UnitPerSecond, nil, ""),
		}}
	}
	s := mk()
	s.Load = 1.5
	s.ApplyLoadBound(2)
	if s.Figures[0].Status != StatusPass || s.Figures[1].Status != StatusMiss {
		t.Fatalf("quiet machine: statuses changed: %+v", s.Figures)
	}
	s = mk()
	s.Load = 3.1
	s.ApplyLoadBound(2)
	want := []string{StatusNoVerdict, StatusNoVerdict, StatusNA, ""}
	for i, f := range s.Figures {
		if f.Status != want[i] {
			t.Errorf("%s: status %q, want %q", f.Name, f.Status, want[i])
		}
	}
	if !strings.Contains(s.Figures[1].Why, "load average 3.10") || !strings.Contains(s.Figures[1].Why, "measured: MISS") {
		t.Errorf("why %q: must give the load and what was measured", s.Figures[1].Why)
	}
}

func TestJudgeStep(t *testing.T) {
	good := PollStep{Offered: 100, Rate: 99, NotModified: 990, Full: 10, Latency: Latency{P99: 20 * time.Millisecond}}
	tests := []struct {
		name   string
		change func(*PollStep)
		holds  bool
		why    string
	}{
		{"holds", func(*PollStep) {}, true, ""},
		{"p99 at the bound", func(s *PollStep) { s.Latency.P99 = 100 * time.Millisecond }, false, "p99 100ms >= 100ms"},
		{"one error in a thousand", func(s *PollStep) { s.Errors = 1 }, true, ""},
		{"two errors in a thousand", func(s *PollStep) { s.Errors = 2 }, false, "2 errors in 1002 polls"},
		{"nothing answered", func(s *PollStep) { s.NotModified, s.Full, s.Rate = 0, 0, 0 }, false, "0 errors in 0 polls"},
		{"falling behind", func(s *PollStep) { s.Rate = 90 }, false, "answered 90/s of 100/s offered"},
		{"missed polls", func(s *PollStep) { s.Missed = 3 }, false, "3 polls missed"},
	}
	for _, tc := range tests {
		st := good
		tc.change(&st)
		holds, why := judgeStep(st, 100*time.Millisecond)
		if holds != tc.holds || !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
			t.Errorf("%s: judgeStep = %v, %q; want %v, %q", tc.name, holds, why, tc.holds, tc.why)
		}
	}
}

// TestRamp drives the find-max search with a capacity: a load holds when
// it is at most capacity, except at the loads listed as hiccups, which
// fail on their first measure only.
func TestRamp(t *testing.T) {
	type measure struct {
		c     float64
		again bool
	}
	tests := []struct {
		name     string
		capacity float64
		hiccups  map[float64]bool
		want     []measure
	}{
		{"doubles, then bisects", 100, nil, []measure{
			{30, false}, {60, false}, {120, false}, {120, true}, {84.85, false}, {100.91, false}, {100.91, true}, {92.53, false},
		}},
		{"a hiccup does not count as held", 1000, map[float64]bool{60: true}, []measure{
			{30, false}, {60, false}, {60, true}, {42.43, false}, {50.45, false}, {55.02, false},
		}},
		{"the first load fails: halve", 10, nil, []measure{
			{30, false}, {30, true}, {15, false}, {15, true}, {7.5, false}, {10.61, false}, {10.61, true}, {8.92, false}, {9.73, false},
		}},
		{"nothing holds: stop under the minimum", 0.1, nil, []measure{
			{30, false}, {30, true}, {15, false}, {15, true}, {7.5, false}, {7.5, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRamp(30, 5)
			c, again := r.c, false
			var got []measure
			seen := map[float64]bool{}
			for range 20 {
				got = append(got, measure{math.Round(c*100) / 100, again})
				holds := c <= tc.capacity
				if tc.hiccups[c] && !seen[c] {
					holds = false
				}
				seen[c] = true
				var done bool
				if c, again, done = r.next(holds); done {
					break
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("measures %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("measures %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestPollHeadline(t *testing.T) {
	step := func(nodes float64, holds, again bool) PollStep {
		return PollStep{EquivalentNodes: nodes, Holds: holds, Again: again}
	}
	tests := []struct {
		name  string
		steps []PollStep
		want  int
	}{
		{"none", nil, -1},
		{"the highest that held", []PollStep{step(1, true, false), step(4, true, false), step(8, false, false), step(8, false, true), step(6, true, false)}, 4},
		// 480k failed then held: both measures are kept, the load does not hold.
		{"a retried load that held the second time does not count", []PollStep{step(240, true, false), step(480, false, false), step(480, true, true)}, 0},
		{"nothing held", []PollStep{step(30, false, false), step(30, false, true)}, -1},
	}
	for _, tc := range tests {
		markLoads(tc.steps)
		if got := pollHeadline(tc.steps); got != tc.want {
			t.Errorf("%s: pollHeadline = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestPollSectionVerdicts: the 10,000-node target is judged only on real
// nodes (own certificate and connection, real time, a window of two
// intervals after a warm-up of one), and the 304/s figure only from loads
// that held.
func TestPollSectionVerdicts(t *testing.T) {
	step := func(compress float64, p99 time.Duration, rate304 float64, window time.Duration) PollStep {
		st := PollStep{Compress: compress, EquivalentNodes: 10000 * compress, Offered: 100, Rate: 100, Rate304: rate304,
			NotModified: 1000, Latency: Latency{P99: p99}, Window: window}
		st.Holds, st.Why = judgeStep(st, PollP99Target)
		return st
	}
	compressed := PollResult{Nodes: 1000, Partitions: 30, Interval: time.Minute, Identity: IdentityAdmin, Conns: 32, FindMax: true,
		MaxP99: PollP99Target, Warmup: 2 * time.Second,
		Steps: []PollStep{step(240, 70*time.Millisecond, 3900, 8*time.Second), step(480, 438*time.Millisecond, 7000, 8*time.Second)}}
	run := func(n int, p99 time.Duration, window time.Duration) PollStep {
		st := step(1, p99, 160, window)
		st.Run = n
		return st
	}
	real := PollResult{Nodes: 10000, Partitions: 10, Interval: time.Minute, Identity: IdentityComputer, Conns: 10000,
		MaxP99: PollP99Target, Warmup: 65 * time.Second, Runs: 3, Cores: 2,
		Steps: []PollStep{run(1, 13*time.Millisecond, 2*time.Minute), run(2, 14*time.Millisecond, 2*time.Minute), run(3, 12*time.Millisecond, 2*time.Minute)}}
	short := real
	short.Warmup, short.Steps = 3*time.Second, []PollStep{run(1, 13*time.Millisecond, 20*time.Second), run(2, 13*time.Millisecond, 20*time.Second), run(3, 13*time.Millisecond, 2*time.Minute)}
	slow := real
	slow.Steps = []PollStep{run(1, 1470*time.Millisecond, 2*time.Minute), run(2, 1400*time.Millisecond, 2*time.Minute), run(3, 1380*time.Millisecond, 2*time.Minute)}
	once := real
	once.Runs, once.Steps = 1, real.Steps[:1]
	oneSlow := real
	oneSlow.Steps = []PollStep{run(1, 90*time.Millisecond, 2*time.Minute), run(2, 101*time.Millisecond, 2*time.Minute), run(3, 95*time.Millisecond, 2*time.Minute)}
	loaded := real
	loaded.Steps = slices.Clone(real.Steps)
	loaded.Steps[1].Load = 2.4
	tests := []struct {
		name string
		r    PollResult
		want map[string]string // figure name prefix -> status
		why  string
	}{
		{"compressed admin polls: n/a", compressed, map[string]string{"equivalent nodes": StatusNA, "poll latency p99": StatusNA,
			"conditional GETs answered 304/s sustained over 32 connections": StatusMiss}, "identity admin certificate shared by every node"},
		{"real nodes that hold", real, map[string]string{"nodes polling every 1m held": StatusPass, "poll latency p99": StatusPass,
			"conditional GETs": StatusNA}, ""},
		{"window shorter than two intervals", short, map[string]string{"nodes polling every 1m held": StatusNA, "poll latency p99": StatusNA},
			"measured window 20.0s, target is for >= 2m00s"},
		{"real nodes too slow", slow, map[string]string{"nodes polling every 1m held": StatusMiss, "poll latency p99": StatusMiss}, ""},
		{"one run of three too slow", oneSlow, map[string]string{"nodes polling every 1m held": StatusMiss, "runs held with p99 < 100ms": StatusMiss,
			"poll latency p99": StatusMiss}, ""},
		{"one run of the target's three", once, map[string]string{"nodes polling every 1m held": StatusNA, "poll latency p99": StatusNA}, "runs 1, target is for >= 3"},
		{"a run on a loaded machine", loaded, map[string]string{"nodes polling every 1m held": StatusNoVerdict, "runs held with p99 < 100ms": StatusNoVerdict,
			"poll latency p99": StatusNoVerdict}, "run 2: load average 2.40"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			markLoads(tc.r.Steps)
			tc.r.Held = pollHeadline(tc.r.Steps)
			s := tc.r.Section("slapgo bench poll")
			for prefix, want := range tc.want {
				found := false
				for _, f := range s.Figures {
					if f.Name == prefix || strings.HasPrefix(f.Name, prefix+" ") {
						found = true
						if f.Status != want {
							t.Errorf("%s: status %q (%s), want %q", f.Name, f.Status, f.Why, want)
						}
						if (want == StatusNA || want == StatusNoVerdict) && tc.why != "" && !strings.Contains(f.Why, tc.why) {
							t.Errorf("%s: why %q lacks %q", f.Name, f.Why, tc.why)
						}
					}
				}
				if !found {
					t.Errorf("no figure named %q… in %+v", prefix, s.Figures)
				}
			}
		})
	}
	// The compressed 304/s figure comes from the load that held (3,900/s),
	// not from the faster one that did not (7,000/s at p99 438 ms).
	markLoads(compressed.Steps)
	compressed.Held = pollHeadline(compressed.Steps)
	for _, f := range compressed.Section("").Figures {
		if strings.HasPrefix(f.Name, "conditional GETs") && f.Value != 3900 {
			t.Errorf("%s = %g, want 3,900 (the load that held)", f.Name, f.Value)
		}
	}
}

func TestSimAndStormConditions(t *testing.T) {
	for _, tc := range []struct {
		run  SimRun
		fig  string
		want string
	}{
		{SimRun{Nodes: 1000, Partitions: 300000, Virtual: 24 * time.Hour, CPU: 14 * time.Second, Wall: 124 * time.Second, PeakRSS: 1 << 30}, "sim CPU time (user + system)", StatusPass},
		{SimRun{Nodes: 1000, Partitions: 300000, Virtual: 24 * time.Hour, CPU: 16 * time.Second, PeakRSS: 1 << 30}, "sim CPU time (user + system)", StatusMiss},
		{SimRun{Nodes: 1000, Partitions: 300000, Virtual: time.Hour, CPU: time.Second, PeakRSS: 1 << 30}, "sim CPU time (user + system)", StatusNA},
		{SimRun{Nodes: 1000, Partitions: 10000, Virtual: 24 * time.Hour, CPU: time.Second, PeakRSS: 1 << 30}, "sim CPU time (user + system)", StatusNA},
		{SimRun{Nodes: 10000, Partitions: 3000000, Virtual: 24 * time.Hour, Policy: "spread", CPU: 9 * time.Minute, PeakRSS: 15 << 30}, "sim CPU time (user + system), 10,000 nodes", StatusPass},
		{SimRun{Nodes: 10000, Partitions: 3000000, Virtual: 24 * time.Hour, Policy: "spread", CPU: 11 * time.Minute, PeakRSS: 15 << 30}, "sim CPU time (user + system), 10,000 nodes", StatusMiss},
		// The 10,000-node target is for the spread policy: first-fit does not complete the day.
		{SimRun{Nodes: 10000, Partitions: 3000000, Virtual: 24 * time.Hour, Policy: "first-fit", CPU: 9 * time.Minute, PeakRSS: 15 << 30}, "sim CPU time (user + system), 10,000 nodes", StatusNA},
		{SimRun{Nodes: 10000, Partitions: 3000000, Virtual: time.Hour, CPU: time.Minute, PeakRSS: 1 << 30}, "sim CPU time (user + system), 10,000 nodes", StatusNA},
		{SimRun{Nodes: 10000, Partitions: 1000000, Virtual: 24 * time.Hour, CPU: time.Minute, PeakRSS: 1 << 30}, "sim CPU time (user + system), 10,000 nodes", StatusNA},
	} {
		s := SimResult{Runs: []SimRun{tc.run}}.Section("")
		if s.Figures[1].Name != tc.fig || s.Figures[1].Status != tc.want {
			t.Errorf("%+v: second figure %+v, want %s %s", tc.run, s.Figures[1], tc.fig, tc.want)
		}
	}
	// The 10,000-node target's RSS bound is its own: 15 GiB passes there,
	// 17 GiB does not.
	for _, tc := range []struct {
		rss  int64
		want string
	}{{15 << 30, StatusPass}, {17 << 30, StatusMiss}} {
		s := SimResult{Runs: []SimRun{{Nodes: 10000, Partitions: 3000000, Virtual: 24 * time.Hour, Policy: "spread", CPU: time.Minute, PeakRSS: tc.rss}}}.Section("")
		if s.Figures[2].Name != "sim peak RSS, 10,000 nodes" || s.Figures[2].Status != tc.want {
			t.Errorf("10,000 nodes at %d bytes: third figure %+v, want peak RSS %s", tc.rss, s.Figures[2], tc.want)
		}
	}
	// Another size has no judged figure.
	if s := (SimResult{Runs: []SimRun{{Nodes: 5000, Partitions: 1500000, Virtual: 24 * time.Hour, CPU: time.Minute}}}).Section(""); len(s.Figures) != 1 {
		t.Errorf("5,000 nodes: figures %+v, want only the events", s.Figures)
	}
	for _, tc := range []struct {
		changed int
		want    string
	}{{300, StatusPass}, {30, StatusNA}} {
		r := StormResult{Partitions: tc.changed, Modes: []StormMode{{Mode: "incremental", Incremental: true, Storm: StormPhase{Changed: tc.changed, Converge: 5 * time.Second}}}}
		if f := r.Section("").Figures[0]; f.Status != tc.want {
			t.Errorf("storm of %d: %+v, want %s", tc.changed, f, tc.want)
		}
	}
}

// TestJudgeRuns: "p99 < 100 ms in 3 of 3 runs" passes only if every run
// held, gets no verdict if any run began on a loaded machine or the runs'
// p99 spread too much, and is n/a for a run that is not the target's.
func TestJudgeRuns(t *testing.T) {
	run := func(p99 time.Duration, load float64) PollStep {
		st := PollStep{Offered: 167, Rate: 166, NotModified: 19800, Full: 200, Latency: Latency{P99: p99}, Load: load}
		st.Holds, st.Why = judgeStep(st, PollP99Target)
		return st
	}
	met := []Condition{{Name: "identity", Met: true}}
	unmet := []Condition{{Name: "compression", Want: "1 (real time)", Got: "30", Met: false}}
	ms := time.Millisecond
	tests := []struct {
		name      string
		runs      []PollStep
		conds     []Condition
		want, why string
	}{
		{"every run holds", []PollStep{run(16*ms, 0.4), run(15*ms, 0.9), run(17*ms, 1.2)}, met, StatusPass, ""},
		// The runs' p99 differ by less than the spread bound (90 to 101 ms).
		{"one run of three fails", []PollStep{run(90*ms, 0.4), run(101*ms, 0.9), run(95*ms, 1.2)}, met, StatusMiss,
			"2 of 3 runs held; run 2: p99 101ms >= 100ms"},
		{"load above the bound in one run", []PollStep{run(16*ms, 0.4), run(15*ms, 2.6), run(17*ms, 1.2)}, met, StatusNoVerdict,
			"run 2: load average 2.60 at the start > 2 (1 per core on 2 cores) (measured: PASS, 3 of 3 runs held)"},
		{"load at the bound in every run", []PollStep{run(16*ms, 2), run(15*ms, 2), run(17*ms, 2)}, met, StatusPass, ""},
		{"a failure on a loaded machine is no verdict", []PollStep{run(16*ms, 0.4), run(15*ms, 0.5), run(150*ms, 3.1)}, met, StatusNoVerdict,
			"run 3: load average 3.10 at the start > 2 (1 per core on 2 cores); p99 run-to-run spread 843.8% > 25.0% (measured: MISS, 2 of 3 runs held)"},
		{"runs that all held, however spread", []PollStep{run(10*ms, 0.4), run(15*ms, 0.5), run(30*ms, 0.5)}, met, StatusPass, ""},
		{"runs that disagree, spread too far", []PollStep{run(10*ms, 0.4), run(15*ms, 0.5), run(300*ms, 0.5)}, met, StatusNoVerdict,
			"p99 run-to-run spread 1933.3% > 25.0% (measured: MISS, 2 of 3 runs held)"},
		{"runs that all failed, however spread", []PollStep{run(200*ms, 0.4), run(150*ms, 0.5), run(900*ms, 0.5)}, met, StatusMiss, "0 of 3 runs held"},
		{"a condition not met is n/a, whatever the noise", []PollStep{run(16*ms, 9), run(15*ms, 0.5)}, unmet, StatusNA, "compression 30, target is for 1 (real time)"},
		{"no run", nil, met, StatusMiss, "no run measured"},
		{"one run", []PollStep{run(16*ms, 0.4)}, met, StatusPass, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := judgeRuns(tc.runs, tc.conds, 2)
			if got != tc.want || !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
				t.Errorf("judgeRuns = %q, %q; want %q, %q", got, why, tc.want, tc.why)
			}
		})
	}
}

// TestMoonshotFigure: the moonshot is judged on real nodes against
// 100,000; fewer nodes (the open files limit) are n/a, saying why.
func TestMoonshotFigure(t *testing.T) {
	mk := func(nodes int, p99 time.Duration) PollResult {
		st := PollStep{Compress: 1, EquivalentNodes: float64(nodes), Offered: float64(nodes) / 60, Rate: float64(nodes) / 60, NotModified: int64(nodes) * 2,
			Latency: Latency{P99: p99}, Window: 2 * time.Minute}
		st.Holds, st.Why = judgeStep(st, PollP99Target)
		r := PollResult{Nodes: nodes, Partitions: 10, Interval: time.Minute, Identity: IdentityComputer, Conns: nodes, Warmup: 65 * time.Second,
			Steps: []PollStep{st}, Runs: 1}
		markLoads(r.Steps)
		r.Held = pollHeadline(r.Steps)
		return r
	}
	limit := "capped by the open files limit: 20,000 per process"
	for _, tc := range []struct {
		name      string
		r         PollResult
		limit     string
		want, why string
		wantValue float64
	}{
		{"100,000 held", mk(100_000, 40*time.Millisecond), "", StatusPass, "", 100_000},
		{"100,000 too slow", mk(100_000, 3*time.Second), "", StatusMiss, "", math.NaN()},
		{"capped by the open files limit", mk(19_488, 20*time.Millisecond), limit, StatusNA, "registered computers 19,488 (" + limit, 19_488},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := moonshotFigure(tc.r, tc.limit)
			if f.Status != tc.want || !strings.Contains(f.Why, tc.why) || (f.Value != tc.wantValue && !(math.IsNaN(f.Value) && math.IsNaN(tc.wantValue))) {
				t.Errorf("moonshotFigure = %s %g (%s), want %s %g (%s)", f.Status, f.Value, f.Why, tc.want, tc.wantValue, tc.why)
			}
		})
	}
}
