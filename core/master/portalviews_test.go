package master_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestInstanceTreesPageWhatInstancesLists: the pages of InstanceTrees,
// put together, hold exactly the live roots Instances lists, in order,
// each with its children; filters keep a tree whose member matches.
func TestInstanceTreesPageWhatInstancesLists(t *testing.T) {
	g := newGrid(t, 3, 10)
	for n := range 23 {
		g.request(fmt.Sprintf("web-%d", n), nil)
	}
	root := g.request("tree", nil)
	child := g.must(master.Request{By: model.Actor{Kind: model.KindInstance, ID: root.GUID}, Title: "needle", SoftwareRelease: sr}).Instance
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	bob := model.Actor{Kind: model.KindPerson, ID: "bob"}
	g.must(master.Request{By: bob, Title: "bobs", SoftwareRelease: sr})

	var want []string
	for _, i := range g.s.Instances(g.alice, false) {
		if i.RootTitle == "" {
			want = append(want, i.GUID)
		}
	}
	var got []string
	for off := 0; ; off += 7 {
		page, total := g.s.InstanceTrees(g.alice, master.InstanceQuery{Offset: off, Limit: 7})
		if total != len(want) {
			t.Fatalf("total %d, want %d", total, len(want))
		}
		if len(page) == 0 {
			break
		}
		for _, tr := range page {
			got = append(got, tr.Root.GUID)
			if tr.Root.GUID == root.GUID && (len(tr.Children) != 1 || tr.Children[0].GUID != child.GUID) {
				t.Errorf("tree %s children %+v", root.GUID, tr.Children)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged roots %v\nInstances roots %v", got, want)
	}
	found, total := g.s.InstanceTrees(g.alice, master.InstanceQuery{Search: "NEEDLE"})
	if total != 1 || found[0].Root.GUID != root.GUID {
		t.Errorf("search for a child's title: %d trees %+v", total, found)
	}
	if _, total := g.s.InstanceTrees(g.alice, master.InstanceQuery{Search: "bobs"}); total != 0 {
		t.Errorf("alice finds bob's instance")
	}
	if _, total := g.s.InstanceTrees(model.Admin, master.InstanceQuery{Status: master.StatusPending}); total != 0 {
		t.Errorf("%d pending trees on a grid with room", total)
	}
	tr, err := g.s.InstanceTreeOf(g.alice, child.GUID)
	if err != nil || tr.Root.GUID != root.GUID {
		t.Errorf("InstanceTreeOf(child): %+v, %v", tr, err)
	}
	if _, err := g.s.InstanceTreeOf(bob, child.GUID); err == nil {
		t.Error("bob reads alice's tree")
	}
}

func TestComputerUsageCountsHostingPerDay(t *testing.T) {
	g := newGrid(t, 1, 2)
	inst := g.request("web", nil)
	g.must(master.ReportPartition{By: computerActor("COMP-0"), ComputerID: "COMP-0", PartitionID: inst.PartitionID, State: model.ReportedStarted})
	day := 24 * time.Hour
	start := g.now.Truncate(day)
	now := g.now.Add(3 * time.Hour)
	pts, err := g.s.ComputerUsage(g.alice, "COMP-0", start, start.Add(2*day), now, day)
	if err != nil || len(pts) != 2 {
		t.Fatalf("%d points, %v", len(pts), err)
	}
	if h := pts[0].Quantities[account.ResourceHosting]; h < 2.99 || h > 3.01 {
		t.Errorf("hosting on day 0: %v hours, want 3", h)
	}
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	if _, err := g.s.ComputerUsage(model.Actor{Kind: model.KindPerson, ID: "bob"}, "COMP-0", start, start.Add(day), now, day); err == nil {
		t.Error("bob reads the usage of alice's computer")
	}
	if _, err := g.s.ComputerUsage(g.alice, "COMP-0", start, start.Add(2000*day), now, day); err == nil {
		t.Error("2000 points accepted")
	}
}

// TestInstanceTreesOrderLikeCompareGUID: both ways of sorting (by number,
// by comparison) give the order of Instances, on many instances and few.
func TestInstanceTreesOrderLikeCompareGUID(t *testing.T) {
	for _, n := range []int{5, 150} {
		g := newGrid(t, 1, n)
		for k := range n {
			g.request(fmt.Sprintf("i%d", k), nil)
		}
		var want []string
		for _, i := range g.s.Instances(model.Admin, false) {
			want = append(want, i.GUID)
		}
		trees, _ := g.s.InstanceTrees(model.Admin, master.InstanceQuery{})
		var got []string
		for _, tr := range trees {
			got = append(got, tr.Root.GUID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("n=%d: %v\nwant %v", n, got, want)
		}
	}
}

func TestComputerPageFiltersAndPages(t *testing.T) {
	g := newGrid(t, 7, 1) // regions eu, jp alternate
	var all []string
	for off := 0; ; off += 3 {
		page, total := g.s.ComputerPage(g.alice, master.ComputerQuery{Offset: off, Limit: 3})
		if total != 7 {
			t.Fatalf("total %d", total)
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			all = append(all, c.Computer.ID)
		}
	}
	var want []string
	for _, c := range g.s.Computers(g.alice) {
		want = append(want, c.ID)
	}
	if !slices.Equal(all, want) {
		t.Errorf("pages %v, Computers %v", all, want)
	}
	if jp, n := g.s.ComputerPage(g.alice, master.ComputerQuery{Region: "jp"}); n != 3 || jp[0].Computer.ID != "COMP-1" {
		t.Errorf("region jp: %d %+v", n, jp)
	}
	if c, n := g.s.ComputerPage(g.alice, master.ComputerQuery{Search: "comp-6"}); n != 1 || c[0].Computer.ID != "COMP-6" || c[0].Total != 1 {
		t.Errorf("search comp-6: %d %+v", n, c)
	}
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	if _, n := g.s.ComputerPage(model.Actor{Kind: model.KindPerson, ID: "bob"}, master.ComputerQuery{}); n != 0 {
		t.Errorf("bob sees %d of alice's computers", n)
	}
}
