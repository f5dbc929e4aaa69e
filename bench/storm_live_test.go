package bench

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestLivePhases: n runs draw one phase in each n-th of the interval, in
// order, the same for the same seed.
func TestLivePhases(t *testing.T) {
	for _, n := range []int{1, 2, 5, 7} {
		ps := livePhases(n, rand.New(rand.NewPCG(1, 2)))
		if len(ps) != n {
			t.Fatalf("%d runs: %d phases", n, len(ps))
		}
		for k, p := range ps {
			if p < float64(k)/float64(n) || p >= float64(k+1)/float64(n) {
				t.Errorf("%d runs: phase %d is %g, want in [%g, %g)", n, k, p, float64(k)/float64(n), float64(k+1)/float64(n))
			}
		}
		again := livePhases(n, rand.New(rand.NewPCG(1, 2)))
		for k := range ps {
			if ps[k] != again[k] {
				t.Errorf("%d runs: phase %d drawn %g then %g from the same seed", n, k, ps[k], again[k])
			}
		}
	}
}

// TestAttributePolls: the poll before the change is the last that began
// before its first request; the poll that picked it up the first that
// began once the master had accepted all of it (one during the sending
// saw only part of it).
func TestAttributePolls(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	start, accepted := at(13), at(13.5)
	for _, tc := range []struct {
		name           string
		polls          []time.Time
		before, picked time.Time
		ok             bool
	}{
		{"poll, change, poll", []time.Time{at(0), at(10), at(20.4), at(31)}, at(10), at(20.4), true},
		{"a poll while the changes are sent", []time.Time{at(3), at(13.2), at(24)}, at(3), at(24), true},
		{"a poll the moment the last change is accepted", []time.Time{at(3), at(13.5)}, at(3), at(13.5), true},
		{"no poll after the change yet", []time.Time{at(3), at(13.2)}, at(3), time.Time{}, false},
		{"no poll before the change", []time.Time{at(14), at(24)}, time.Time{}, at(14), false},
		{"no poll at all", nil, time.Time{}, time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, picked, ok := attributePolls(tc.polls, start, accepted)
			if ok != tc.ok || (ok && (!before.Equal(tc.before) || !picked.Equal(tc.picked))) {
				t.Errorf("attributePolls = %s, %s, %v; want %s, %s, %v", before.Sub(t0), picked.Sub(t0), ok, tc.before.Sub(t0), tc.picked.Sub(t0), tc.ok)
			}
		})
	}
}

// TestJudgeLiveStorm: the live storm holds only if every run converged
// within the target; fewer runs than StormLiveRuns or another size is
// n/a; a run begun on a loaded machine, or runs that disagree while the
// work after the poll (not the wait, which the runs vary on purpose)
// spreads, get no verdict.
func TestJudgeLiveStorm(t *testing.T) {
	run := func(wait, work time.Duration, load float64) LiveRun {
		return LiveRun{SincePoll: 10*time.Second - wait, PollWait: wait, Converge: wait + work, Load: load}
	}
	// Five phases: waits of 10, 8, 6, 4, 2 s, work 5 s each.
	steady := func(work time.Duration) []LiveRun {
		var rs []LiveRun
		for _, w := range []time.Duration{10, 8, 6, 4, 2} {
			rs = append(rs, run(w*time.Second, work, 0.5))
		}
		return rs
	}
	loaded := steady(5 * time.Second)
	loaded[2].Load = 3.5
	uneven := steady(5 * time.Second)
	uneven[0] = run(10*time.Second, 25*time.Second, 0.5) // the work of one run is five times the others'
	for _, tc := range []struct {
		name      string
		runs      []LiveRun
		target    time.Duration
		changed   int
		want, why string
	}{
		{"every run within the target", steady(5 * time.Second), StormTarget, 300, StatusPass, ""},
		{"the worst phase misses the moonshot", steady(5 * time.Second), StormMoonshot, 300, StatusMiss, "2 of 5 runs held; run 1: 15s > 10s (the change 0ns after a poll, 10s to the next); run 2: 13s"},
		{"every run misses", steady(12 * time.Second), StormMoonshot, 300, StatusMiss, "0 of 5 runs held"},
		{"fewer runs than required", steady(5 * time.Second)[:3], StormTarget, 300, StatusNA, "runs 3, target is for >= 5"},
		{"another size", steady(time.Second), StormTarget, 30, StatusNA, "partitions 30, target is for 300"},
		{"a run began on a loaded machine", loaded, StormTarget, 300, StatusNoVerdict, "run 3: load average 3.50 at the start > 2"},
		{"runs disagree and their work spreads", uneven, StormTarget, 300, StatusNoVerdict, "work after the poll run-to-run spread 400.0% > 25.0% (measured: MISS, 4 of 5 runs held)"},
		{"no run", nil, StormTarget, 300, StatusNA, "runs 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := judgeLiveStorm(tc.runs, tc.target, liveStormConditions(tc.changed, len(tc.runs)), 2)
			if got != tc.want || !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
				t.Errorf("judgeLiveStorm = %q, %q; want %q, %q", got, why, tc.want, tc.why)
			}
		})
	}
}

// TestLiveStormFigures: the judged figure is the slowest run, the
// distributions say min, median and max, and the table has a row per run.
func TestLiveStormFigures(t *testing.T) {
	l := StormLive{PollInterval: 10 * time.Second, Changed: 300, WatchEvery: liveWatchEvery, Cores: 2}
	for i, w := range []time.Duration{9, 7, 5, 3, 1} {
		l.Runs = append(l.Runs, LiveRun{Phase: float64(i) / 5, SincePoll: (10 - w) * time.Second, PollWait: w * time.Second,
			Converge: (w + 4) * time.Second, Load: 0.3})
	}
	figs := l.figures()
	want := map[string]struct {
		value  float64
		status string
		detail string
	}{
		"live storm: change to last partition converged, its new page served": {13, StatusPass, "slowest of 5 runs (min 5s, median 9s)"},
		"live storm: the same, moonshot":                                      {13, StatusMiss, "slowest of 5 runs"},
		"live storm: wait for the daemon's next poll, median":                 {5, "", "min 1s, max 9s"},
		"live storm: work after the poll, median":                             {4, "", "min 4s, max 4s"},
	}
	for _, f := range figs {
		w, ok := want[f.Name]
		if !ok {
			continue
		}
		delete(want, f.Name)
		if f.Value != w.value || f.Status != w.status || !strings.Contains(f.Details, w.detail) {
			t.Errorf("%s = %g %q %q; want %g %q, details with %q", f.Name, f.Value, f.Status, f.Details, w.value, w.status, w.detail)
		}
	}
	for name := range want {
		t.Errorf("no figure %q", name)
	}
	if tb := l.table(); len(tb.Rows) != 5 || tb.Rows[0][1] != "0%" || tb.Rows[4][7] != "4s" {
		t.Errorf("table rows %v: want 5, phase 0%% first, work 4s", tb.Rows)
	}
}

// TestChangeAt: the change lands at its phase of the daemon's next cycle,
// which begins a poll interval (and the mean jitter) after the pass ended
// and lasts as long as that pass plus the same again.
func TestChangeAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name          string
		polled, ended float64
		phase         float64
		want          float64
	}{
		{"at the next poll, after an idle pass", 0, 0.002, 0, 10.502},
		{"half a cycle after it", 0, 0.002, 0.5, 10.502 + 5.251},
		{"after a pass of 5 s of promise checks, late in the cycle", 0, 5, 0.9, 15.5 + 0.9*15.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := changeAt(daemonPass{polled: at(tc.polled), ended: at(tc.ended)}, 10*time.Second, tc.phase)
			if d := got.Sub(at(tc.want)); d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("changeAt = %s after the poll, want %gs", got.Sub(t0), tc.want)
			}
		})
	}
}
