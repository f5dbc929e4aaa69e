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
