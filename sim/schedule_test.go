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

// A usage journal on its way to the master when its node crashes, then
// lost by a master outage, stays kept on the node's disk: delivered after
// the node boots again (its daemon's new Schedule).
func TestJournalLostWhileItsNodeIsDown(t *testing.T) {
	sets := append(append([]string{}, smallBaseline...), "agent.usage_report_every=1h", "agent.usage_sample_every=10m",
		"failures.node_crashes.per_node_per_day=0", "nodes[0].loss=0", "nodes[1].loss=0", "nodes[2].loss=0",
		"nodes[0].latency={dist: constant, mean: 2s}", "nodes[1].latency={dist: constant, mean: 2s}", "nodes[2].latency={dist: constant, mean: 2s}")
	e, err := NewEngine(load(t, "baseline.yaml", sets), Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := e.s
	var n *node
	for step := time.Second; n == nil; step += time.Second {
		if step > 3*time.Hour {
			t.Fatal("no journal posted in 3 hours")
		}
		if _, err := e.RunUntil(s.t0.Add(step), nil); err != nil {
			t.Fatal(err)
		}
		for _, m := range s.nodes {
			if u := m.usage; u != nil && len(u.pending) > 0 && u.pending[0].posted {
				n = m
			}
		}
	}
	delivered := s.stats.UsageDelivered
	if err := e.Crash(n.id); err != nil {
		t.Fatal(err)
	}
	if err := e.Outage(); err != nil { // the journal in transit is lost
		t.Fatal(err)
	}
	if err := e.Restart(); err != nil {
		t.Fatal(err)
	}
	// The journal's loss reaches the node while it is down.
	if _, err := e.RunUntil(e.Now().Add(10*time.Second), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Boot(n.id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RunUntil(e.Now().Add(10*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if len(n.usage.pending) != 0 || s.stats.UsageDelivered <= delivered {
		t.Errorf("%s keeps %d journals (%d delivered since the crash): the lost one was not delivered after the boot",
			n.id, len(n.usage.pending), s.stats.UsageDelivered-delivered)
	}
}
