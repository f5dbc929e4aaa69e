package agent

import (
	"fmt"
	"slices"
	"testing"

	agentcore "github.com/slapgo/slapgo/core/agent"
)

// Kept publications come back after a restart in the order they were
// kept, across partitions (not in partition order), and one kept after
// the restart goes last.
func TestUnpublishedOrderSurvivesRestart(t *testing.T) {
	a, _ := netAgent(t, 3, Options{Unprivileged: true})
	order := func(c *agentcore.Agent) []string {
		var out []string
		for _, p := range c.Unpublished() {
			out = append(out, fmt.Sprintf("%s/%s=%s", p.PartitionID, p.SharedGUID, p.Parameters["url"]))
		}
		return out
	}
	pub := func(part, shared, url string) agentcore.Publication {
		return agentcore.Publication{PartitionID: part, InstanceGUID: "S-" + part, SharedGUID: shared, Parameters: map[string]string{"url": url}}
	}
	keep := func(a *Agent, ps ...agentcore.Publication) {
		t.Helper()
		c := a.coreAgent()
		for _, p := range ps {
			c.KeepPublication(p)
			if err := a.syncRecord(p.PartitionID, nil, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	restart := func(a *Agent) *Agent {
		b := newAgent(a.cfg, nil, Options{Unprivileged: true, Logger: a.log})
		t.Cleanup(b.Close)
		return b
	}
	keep(a, pub("slappart2", "", "a"), pub("slappart0", "", "b"), pub("slappart2", "SH-1", "c"), pub("slappart1", "", "d"))
	want := []string{"slappart2/=a", "slappart0/=b", "slappart2/SH-1=c", "slappart1/=d"}
	if got := order(a.coreAgent()); !slices.Equal(got, want) {
		t.Fatalf("outbox = %q, want %q", got, want)
	}
	b := restart(a)
	if got := order(b.coreAgent()); !slices.Equal(got, want) {
		t.Errorf("after a restart the outbox = %q, want %q (the order they were kept)", got, want)
	}
	keep(b, pub("slappart0", "SH-2", "e"), pub("slappart2", "", "f"))
	want = []string{"slappart2/=f", "slappart0/=b", "slappart2/SH-1=c", "slappart1/=d", "slappart0/SH-2=e"}
	if got := order(restart(b).coreAgent()); !slices.Equal(got, want) {
		t.Errorf("after a second restart the outbox = %q, want %q", got, want)
	}
}
