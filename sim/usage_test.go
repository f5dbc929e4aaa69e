package sim

import "testing"

// TestUsageSurvivesMasterOutage: journals close every hour on every node
// (core/agent's Schedule, as in the production agent); those that close
// while the master is down or cut off are kept and delivered once it
// answers, none lost, none before its period ends.
func TestUsageSurvivesMasterOutage(t *testing.T) {
	sets := []string{"nodes[0].count=10", "nodes[1].count=10", "workload.requesters=50", "workload.initial=3600",
		"workload.rate_per_hour=30", "workload.parameter_changes_per_hour=30", "agent.usage_report_every=1h",
		"agent.usage_sample_every=10m", "failures.node_crashes.per_node_per_day=0"}
	s := runFixture(t, "master-outage.yaml", 1, sets).Summary
	a := s.Agents
	// 20 nodes of 300 partitions, 8 hours, a journal an hour from each
	// node running something: the first-fit allocator packs the 3,600
	// instances on 12 of them (the first closes within the first hour).
	if a.UsageJournals < 12*8 || a.UsageJournals > 20*8 {
		t.Errorf("%d usage journals closed, want 96 to 160 (12 to 20 nodes, hourly, 8 hours)", a.UsageJournals)
	}
	// The master is down 30 minutes: a twentieth of the journals close
	// then, and a fifth of the nodes are cut off 20 minutes later.
	if a.UsageRetries == 0 {
		t.Error("no delivery retried across a master outage and a network partition")
	}
	// Every journal but those closed in the last moments is delivered.
	if a.UsageDelivered > a.UsageJournals || a.UsageDelivered+2 < a.UsageJournals {
		t.Errorf("%d journals delivered of %d closed: lost across the outage", a.UsageDelivered, a.UsageJournals)
	}
	if s.Invariants.Violation != "" {
		t.Errorf("invariant violated: %s", s.Invariants.Violation)
	}
	// Without usage, no journal.
	off := runFixture(t, "master-outage.yaml", 1, append(sets, "agent.usage_report_every=-1s")).Summary.Agents
	if off.UsageJournals != 0 || off.UsageDelivered != 0 {
		t.Errorf("usage off: %d journals, %d delivered", off.UsageJournals, off.UsageDelivered)
	}
}

// A partition's meter is found again whatever its place in the view,
// slappartN at the N-th slot and other ids after them, each id once.
func TestUsageMeter(t *testing.T) {
	u := &nodeUsage{}
	ids := []string{"slappart3", "slappart0", "other", "slappart03", "slappart3", "slappart9999", "other", "slappart1"}
	for i, id := range ids {
		m := u.meter(id)
		if m.id != id {
			t.Fatalf("meter(%q) is %q's", id, m.id)
		}
		m.cpu += float64(i + 1)
	}
	want := map[string]float64{"slappart3": 1 + 5, "slappart0": 2, "other": 3 + 7, "slappart03": 4, "slappart9999": 6, "slappart1": 8}
	got := map[string]float64{}
	for _, m := range u.meters {
		if m.id == "" {
			continue
		}
		if _, dup := got[m.id]; dup {
			t.Errorf("two meters for %q", m.id)
		}
		got[m.id] = m.cpu
	}
	if len(got) != len(want) {
		t.Errorf("meters %v, want %v", got, want)
	}
	for id, v := range want {
		if got[id] != v {
			t.Errorf("meter %q = %g, want %g", id, got[id], v)
		}
	}
	if u.meters[3].id != "slappart3" || u.meters[0].id != "slappart0" {
		t.Errorf("slappart3 and slappart0 not at their slots: %q, %q", u.meters[3].id, u.meters[0].id)
	}
}
