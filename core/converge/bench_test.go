package converge

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// benchNode is a converged node of n started partitions sharing three
// releases round-robin (the worst case for the planner's software cache
// would need more than eight), configured an hour ago.
func benchNode(n int) (model.ComputerView, Actual) {
	urls := []string{swA, swB, swC}
	view := model.ComputerView{ComputerID: "COMP-BENCH", Version: 1}
	actual := Actual{Software: map[string]SoftwareActual{}, Partitions: make(map[string]PartitionActual, n)}
	for _, u := range urls {
		view.Software = append(view.Software, avail(u))
		actual.Software[u] = installed()
	}
	for i := range n {
		id := fmt.Sprintf("slappart%d", i)
		guid := fmt.Sprintf("SOFTINST-%d", i)
		view.Partitions = append(view.Partitions, inst(id, guid, urls[i%len(urls)], model.StateStarted, 7))
		actual.Partitions[id] = applied(guid, 7, true)
	}
	return view, actual
}

// BenchmarkPlan measures one planning pass of a 300-partition node where
// nothing, every partition, or one partition changed.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{300} {
		for _, changed := range []string{"none", "all", "one"} {
			b.Run(fmt.Sprintf("partitions=%d/changed=%s", n, changed), func(b *testing.B) {
				view, actual := benchNode(n)
				want := 0
				switch changed {
				case "all":
					for i := range view.Partitions {
						view.Partitions[i].Version++
					}
					want = 2 * n
				case "one":
					view.Partitions[n/2].Version++
					want = 2
				}
				cfg := slaposConfig
				plan := PlanNode(view, actual, t0, cfg)
				if len(plan.Actions) != want || len(plan.Waiting) != 0 || plan.RequeueAfter <= 0 {
					b.Fatalf("plan has %d actions (want %d), waiting %q, requeue %v", len(plan.Actions), want, plan.Waiting, plan.RequeueAfter)
				}
				checkOrderB(b, plan.Actions)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					plan = PlanNode(view, actual, t0, cfg)
				}
				b.StopTimer()
				if len(plan.Actions) != want {
					b.Fatalf("plan changed during the loop: %d actions", len(plan.Actions))
				}
			})
		}
	}
}

// BenchmarkPlanUnsorted measures the cost of a view whose partitions are not
// in natural order (the master sends them sorted; others may not).
func BenchmarkPlanUnsorted(b *testing.B) {
	view, actual := benchNode(300)
	for i, j := 0, len(view.Partitions)-1; i < j; i, j = i+1, j-1 {
		view.Partitions[i], view.Partitions[j] = view.Partitions[j], view.Partitions[i]
	}
	b.Run("partitions=300/changed=none", func(b *testing.B) {
		if plan := PlanNode(view, actual, t0, Config{}); len(plan.Actions) != 0 {
			b.Fatalf("plan has %d actions, want none", len(plan.Actions))
		}
		b.ReportAllocs()
		for b.Loop() {
			PlanNode(view, actual, t0, Config{})
		}
	})
}

func checkOrderB(b *testing.B, acts []Action) {
	for i := 1; i < len(acts); i++ {
		p, a := acts[i-1], acts[i]
		if kindRank(a.Kind) < kindRank(p.Kind) ||
			kindRank(a.Kind) == kindRank(p.Kind) && ComparePartitionIDs(p.PartitionID, a.PartitionID) >= 0 {
			b.Fatalf("action %d %v out of order after %v", i, a, p)
		}
	}
}

// BenchmarkReplan measures a Replanner's plan of a 300-partition node
// after one partition's record changed (an action ran), against
// PlanNode's BenchmarkPlan/partitions=300/changed=none: the same plan.
func BenchmarkReplan(b *testing.B) {
	b.Run("partitions=300/changed=one", func(b *testing.B) {
		view, actual := benchNode(300)
		var rp Replanner
		want := PlanNode(view, actual, t0, slaposConfig)
		if got := rp.Plan(view, actual, t0, slaposConfig); !reflect.DeepEqual(got, want) || len(got.Actions) != 0 {
			b.Fatalf("Replanner: %+v, PlanNode: %+v", got, want)
		}
		b.ReportAllocs()
		for b.Loop() {
			rp.Changed("slappart150")
			rp.Plan(view, actual, t0, slaposConfig)
		}
	})
	// A release's record changed (a build done): the partitions that run
	// it (one in three) are planned anew.
	b.Run("partitions=300/changed=software", func(b *testing.B) {
		view, actual := benchNode(300)
		var rp Replanner
		want := PlanNode(view, actual, t0, slaposConfig)
		if got := rp.Plan(view, actual, t0, slaposConfig); !reflect.DeepEqual(got, want) || len(got.Actions) != 0 {
			b.Fatalf("Replanner: %+v, PlanNode: %+v", got, want)
		}
		planned := rp.planned
		rp.SoftwareChanged(swB)
		rp.Plan(view, actual, t0, slaposConfig)
		if n := rp.planned - planned; n != 100 {
			b.Fatalf("%d partitions planned anew, want the 100 that run %s", n, swB)
		}
		b.ReportAllocs()
		for b.Loop() {
			rp.SoftwareChanged(swB)
			rp.Plan(view, actual, t0, slaposConfig)
		}
	})
	// A new view in which one partition changed: each entry is compared
	// with its share's.
	b.Run("partitions=300/changed=view", func(b *testing.B) {
		view, actual := benchNode(300)
		var rp Replanner
		rp.Plan(view, actual, t0, slaposConfig)
		views := [2]model.ComputerView{cloneView(view), cloneView(view)}
		views[1].Version++
		views[1].Partitions[150].Version++
		for k, v := range views {
			want := PlanNode(v, actual, t0, slaposConfig)
			if got := rp.Plan(v, actual, t0, slaposConfig); !reflect.DeepEqual(got, want) || len(got.Actions) != 2*k {
				b.Fatalf("view %d: Replanner: %+v, PlanNode: %+v", k, got, want)
			}
		}
		b.ReportAllocs()
		k := 0
		for b.Loop() {
			rp.Plan(views[k], actual, t0, slaposConfig)
			k ^= 1
		}
	})
	// The same on 1,000 nodes planned in turn, each plan's data out of the
	// processor's caches. One iteration is one node's plan.
	b.Run("nodes=1000/partitions=300/changed=view", func(b *testing.B) {
		type node struct {
			views  [2]model.ComputerView
			actual Actual
			rp     Replanner
			k      int
		}
		nodes := make([]node, 1000)
		for i := range nodes {
			nd := &nodes[i]
			view, actual := benchNode(300)
			nd.actual = actual
			nd.views = [2]model.ComputerView{cloneView(view), cloneView(view)}
			nd.views[1].Version++
			nd.views[1].Partitions[150].Version++
			for k, v := range nd.views {
				if got := nd.rp.Plan(v, actual, t0, slaposConfig); len(got.Actions) != 2*k {
					b.Fatalf("node %d view %d: %d actions, want %d", i, k, len(got.Actions), 2*k)
				}
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			nd := &nodes[i]
			nd.rp.Plan(nd.views[nd.k], nd.actual, t0, slaposConfig)
			nd.k ^= 1
			if i++; i == len(nodes) {
				i = 0
			}
		}
	})
}

// BenchmarkReplanPeriodic measures the plans of the simulator's most
// common pass: a converged 300-partition node whose partitions come due
// for periodic reprocessing one at a time (their last successes spread
// over the period). One iteration is one partition's turn: the plan that
// reconfigures and restarts it, its actions recorded, and the plan after
// them, which plans nothing.
func BenchmarkReplanPeriodic(b *testing.B) {
	const n = 300
	cfg := slaposConfig
	b.Run(fmt.Sprintf("partitions=%d/due=one", n), func(b *testing.B) {
		view, actual := benchNode(n)
		step := cfg.MaximumPeriodicity / n
		for i := range view.Partitions {
			p := actual.Partitions[view.Partitions[i].ID]
			p.LastSuccess = t0.Add(-cfg.MaximumPeriodicity + time.Duration(i+1)*step)
			actual.Partitions[view.Partitions[i].ID] = p
		}
		var rp Replanner
		now := t0
		if got := rp.Plan(view, actual, now, cfg); len(got.Actions) != 0 || got.RequeueAfter != step {
			b.Fatalf("first plan: %v, requeue %v (want none, %v)", got.Actions, got.RequeueAfter, step)
		}
		turn := func() {
			now = now.Add(step)
			plan := rp.Plan(view, actual, now, cfg)
			if len(plan.Actions) != 2 || plan.Actions[0].Reason != ReasonPeriodic {
				b.Fatalf("at %v: plan %v, want a periodic configuration and a start", now.Sub(t0), plan.Actions)
			}
			for _, a := range plan.Actions {
				actual.ApplySuccess(a, now)
				rp.Changed(a.PartitionID)
			}
			if plan = rp.Plan(view, actual, now, cfg); len(plan.Actions) != 0 || plan.RequeueAfter != step {
				b.Fatalf("at %v: plan after the actions %v, requeue %v", now.Sub(t0), plan.Actions, plan.RequeueAfter)
			}
		}
		turn()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			turn()
		}
	})
	// The same on many nodes planned in turn, as a simulator plans its
	// nodes: each plan finds its node's data out of the processor's
	// caches. One iteration is one node's turn.
	b.Run(fmt.Sprintf("nodes=1000/partitions=%d/due=one", n), func(b *testing.B) {
		type node struct {
			view   model.ComputerView
			actual Actual
			rp     Replanner
		}
		nodes := make([]node, 1000)
		step := cfg.MaximumPeriodicity / n
		for k := range nodes {
			nd := &nodes[k]
			nd.view, nd.actual = benchNode(n)
			for i := range nd.view.Partitions {
				p := nd.actual.Partitions[nd.view.Partitions[i].ID]
				p.LastSuccess = t0.Add(-cfg.MaximumPeriodicity + time.Duration(i+1)*step)
				nd.actual.Partitions[nd.view.Partitions[i].ID] = p
			}
			if got := nd.rp.Plan(nd.view, nd.actual, t0, cfg); len(got.Actions) != 0 || got.RequeueAfter != step {
				b.Fatalf("first plan: %v, requeue %v (want none, %v)", got.Actions, got.RequeueAfter, step)
			}
		}
		now, k := t0.Add(step), 0
		turn := func() {
			nd := &nodes[k]
			plan := nd.rp.Plan(nd.view, nd.actual, now, cfg)
			if len(plan.Actions) != 2 || plan.Actions[0].Reason != ReasonPeriodic {
				b.Fatalf("node %d at %v: plan %v, want a periodic configuration and a start", k, now.Sub(t0), plan.Actions)
			}
			for _, a := range plan.Actions {
				nd.actual.ApplySuccess(a, now)
				nd.rp.Changed(a.PartitionID)
			}
			if k++; k == len(nodes) {
				k, now = 0, now.Add(step)
			}
		}
		turn()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			turn()
		}
	})
}
