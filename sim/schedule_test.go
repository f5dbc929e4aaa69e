package sim

import (
	"testing"
	"time"
)

// The nodes' instance passes follow core/agent's Schedule, as in the
// production agent: an idle node passes every poll interval plus up to a
// tenth of it (the Schedule's jitter), and its first pass after a boot
// comes within a tenth of the poll interval (its daemon's new Schedule).
func TestInstancePassesFollowSchedule(t *testing.T) {
	sets := append(append([]string{}, smallBaseline...),
		"workload.initial=0", "workload.rate_per_hour=0", "workload.parameter_changes_per_hour=0",
		"nodes[0].loss=0", "nodes[1].loss=0", "nodes[2].loss=0", "duration=4h",
		"failures.node_crashes.per_node_per_day=12")
	sc := load(t, "baseline.yaml", sets)
	poll := sc.Agent.PollInterval.D()
	type life struct {
		passes uint64
		last   time.Duration // start of the last pass, or the boot
		booted bool          // no pass since the boot
		up     bool
	}
	lives := map[int32]*life{}
	var gaps, boots int
	var widest time.Duration
	opts := Options{Seed: 7, afterEvent: func(s *engine) {
		for _, n := range s.nodes {
			l := lives[n.idx]
			if l == nil {
				l = &life{up: true, last: -1}
				lives[n.idx] = l
			}
			now := time.Duration(s.now)
			if n.up && !l.up {
				l.booted, l.last = true, now
			}
			l.up = n.up
			c := n.ag.Counters().Passes
			if c == l.passes {
				continue
			}
			l.passes = c
			switch {
			case l.booted:
				boots++
				if d := now - l.last; d > poll/10 {
					t.Errorf("%s: first pass %s after its boot, want at most %s", n.id, d, poll/10)
				}
			case l.last >= 0:
				gaps++
				d := now - l.last
				widest = max(widest, d)
				if d < poll || d > poll+poll/10 {
					t.Errorf("%s: passes at %s and %s: %s apart, want %s to %s", n.id, l.last, now, d, poll, poll+poll/10)
				}
			}
			l.booted, l.last = false, now
		}
	}}
	if _, err := Run(sc, opts); err != nil {
		t.Fatal(err)
	}
	if gaps < 1000 || boots < 5 {
		t.Fatalf("%d gaps between passes and %d boots seen: the run says too little", gaps, boots)
	}
	if widest < poll+poll/20 {
		t.Errorf("the widest gap between passes is %s: no jitter", widest)
	}
}
