package master_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

func pendingTitles(s *master.State) []string {
	var out []string
	for _, p := range s.Pending() {
		out = append(out, p.Title)
	}
	return out
}

// TestFreedPartitionTakesOldestThatFits: a partition that frees goes to
// the oldest waiting request that fits it; older ones that do not fit keep
// waiting with their reason, younger ones keep their turn.
func TestFreedPartitionTakesOldestThatFits(t *testing.T) {
	g := newGrid(t, 1, 1) // COMP-0, region eu
	first := g.request("first", nil)
	jp := g.must(master.Request{By: g.alice, Title: "jp", SoftwareRelease: sr, SLA: map[string]string{"region": "jp"}}).Instance
	for _, title := range []string{"second", "third"} {
		if i := g.request(title, nil); i.Status != master.StatusPending {
			t.Fatalf("%s is %s on a full grid", title, i.Status)
		}
	}
	if jp.Status != master.StatusPending || jp.PendingReason == "" {
		t.Fatalf("jp: %+v", jp)
	}
	g.must(master.Request{By: g.alice, Title: "first", SoftwareRelease: sr, State: model.StateDestroyed})
	res := g.must(master.PartitionDestroyed{By: computerActor("COMP-0"), ComputerID: "COMP-0", PartitionID: first.PartitionID})
	if res.Placed != 1 {
		t.Fatalf("freeing placed %d, want 1", res.Placed)
	}
	got, err := g.s.InstanceByTitle(g.alice, "second")
	if err != nil || got.Status != master.StatusAllocated || got.PartitionID != first.PartitionID {
		t.Fatalf("second: %+v, %v; want it in the freed partition", got, err)
	}
	if want := []string{"jp", "third"}; !slices.Equal(pendingTitles(g.s), want) {
		t.Fatalf("pending %v, want %v", pendingTitles(g.s), want)
	}
	for _, p := range g.s.Pending() {
		if p.Reason == "" {
			t.Errorf("%s waits without a reason", p.Title)
		}
	}
}

// TestUniqueByNetworkMemberFreedElsewhere: when a member of a tree frees
// its partition, a member kept off that network by unique_by_network may
// go to another computer of the network, even though the freed partition
// itself went to an older request.
func TestUniqueByNetworkMemberFreedElsewhere(t *testing.T) {
	g := newGrid(t, 3, 1) // networks net0, net1, net2
	net1 := "net1"
	g.must(master.UpdateComputer{By: g.alice, ComputerID: "COMP-2", Network: &net1})
	root := g.request("root", nil) // COMP-0, net0
	by := model.Actor{Kind: model.KindInstance, ID: root.GUID}
	unique := map[string]string{"unique_by_network": "true"}
	c1 := g.must(master.Request{By: by, Title: "c1", SoftwareRelease: sr, SLA: unique}).Instance
	if c1.ComputerID != "COMP-1" {
		t.Fatalf("c1 on %q, want COMP-1", c1.ComputerID)
	}
	pinned := g.must(master.Request{By: g.alice, Title: "pinned", SoftwareRelease: sr, SLA: map[string]string{"computer_guid": "COMP-1"}}).Instance
	c2 := g.must(master.Request{By: by, Title: "c2", SoftwareRelease: sr, SLA: unique}).Instance
	if pinned.Status != master.StatusPending || c2.Status != master.StatusPending || !strings.Contains(c2.PendingReason, "network used by tree") {
		t.Fatalf("pinned %+v\nc2 %+v\nwant both pending, c2 for its network", pinned, c2)
	}
	g.must(master.Request{By: by, Title: "c1", SoftwareRelease: sr, SLA: unique, State: model.StateDestroyed})
	res := g.must(master.PartitionDestroyed{By: computerActor("COMP-1"), ComputerID: "COMP-1", PartitionID: c1.PartitionID})
	if res.Placed != 2 {
		t.Errorf("freeing placed %d, want 2", res.Placed)
	}
	for title, want := range map[string]string{"pinned": "COMP-1", "c2": "COMP-2"} {
		key := g.alice
		if title == "c2" {
			key = by
		}
		got, err := g.s.InstanceByTitle(key, title)
		if err != nil || got.ComputerID != want || got.Status != master.StatusAllocated {
			t.Errorf("%s: %+v, %v; want allocated on %s", title, got, err, want)
		}
	}
}

// TestPendingReasonFollowsTheGrid: the words of a rejection are reused
// between requests only while they stay true: after a computer changes,
// and once an online computer's window has passed.
func TestPendingReasonFollowsTheGrid(t *testing.T) {
	s := master.New(master.Config{Policy: "first-fit", OnlineWithin: time.Hour, KeepMovements: true})
	alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
	now := t0
	must := func(c master.Command) master.Result {
		t.Helper()
		now = now.Add(time.Second)
		res, _, err := s.Apply(now, c)
		if err != nil {
			t.Fatalf("%s: %v", c.CommandName(), err)
		}
		return res
	}
	must(master.AddPerson{By: model.Admin, ID: "alice"})
	for _, id := range []string{"COMP-0", "COMP-1"} {
		must(master.RegisterComputer{By: alice, ID: id})
		must(master.SetCapacity{By: computerActor(id), ComputerID: id, Partitions: []master.PartitionSpec{{ID: "slappart0"}}})
		must(master.Supply{By: alice, ComputerID: id, URL: sr, State: model.SoftwareAvailable})
		must(master.Request{By: alice, Title: "fill-" + id, SoftwareRelease: sr})
	}
	reason := func(title string) string {
		t.Helper()
		i := must(master.Request{By: alice, Title: title, SoftwareRelease: sr}).Instance
		if i.Status != master.StatusPending {
			t.Fatalf("%s is %s", title, i.Status)
		}
		return i.PendingReason
	}
	if got, want := reason("a"), "2 computers: 2 no free partition"; got != want {
		t.Fatalf("a: %q, want %q", got, want)
	}
	must(master.Supply{By: alice, ComputerID: "COMP-1", URL: sr, State: model.SoftwareDestroyed})
	if got, want := reason("b"), "2 computers: 1 software not supplied, 1 no free partition"; got != want {
		t.Fatalf("after a supply change: %q, want %q", got, want)
	}
	now = now.Add(2 * time.Hour) // both computers' last contact is older than the window
	if got, want := reason("c"), "2 computers: 2 offline"; got != want {
		t.Fatalf("after the online window: %q, want %q", got, want)
	}
}
