package converge

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

var softwarePool = []string{swA, swB, swC, "https://sw.example/d/software.cfg"}

// randomNode draws a view and an actual state that disagree in every way
// the planner must handle. Partition ids are unique in the view.
func randomNode(r *rand.Rand, now time.Time) (model.ComputerView, Actual) {
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	ago := func(max time.Duration) time.Time { return now.Add(-time.Duration(r.Int64N(int64(max)))) }
	guids := []string{"S-1", "S-2", "S-3", "S-4", "S-5", "S-6"}
	states := []model.RequestedState{model.StateStarted, model.StateStopped, model.StateDestroyed}

	var view model.ComputerView
	for _, url := range softwarePool {
		switch r.IntN(3) {
		case 0:
			view.Software = append(view.Software, avail(url))
		case 1:
			view.Software = append(view.Software, destroyed(url))
		}
	}
	n := r.IntN(13)
	viewGUID := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("slappart%d", i)
		if r.IntN(4) == 0 {
			p := free(id)
			p.Version = uint64(r.IntN(3))
			view.Partitions = append(view.Partitions, p)
			continue
		}
		p := inst(id, pick(guids), pick(softwarePool), states[r.IntN(len(states))], uint64(r.IntN(6)))
		viewGUID[id] = p.InstanceGUID
		view.Partitions = append(view.Partitions, p)
	}
	r.Shuffle(len(view.Partitions), func(i, j int) { view.Partitions[i], view.Partitions[j] = view.Partitions[j], view.Partitions[i] })

	actual := Actual{Software: map[string]SoftwareActual{}, Partitions: map[string]PartitionActual{}}
	for _, url := range append(slices.Clone(softwarePool), "https://sw.example/orphan.cfg") {
		if r.IntN(3) == 0 {
			continue
		}
		s := SoftwareActual{Installed: r.IntN(2) == 0}
		if r.IntN(3) == 0 {
			s.Failures, s.LastFailure = 1+r.IntN(4), ago(2*time.Hour)
		}
		actual.Software[url] = s
	}
	for i := range n + 2 { // two more than the view lists, sometimes
		if r.IntN(4) == 0 {
			continue
		}
		p := PartitionActual{
			AppliedVersion: uint64(r.IntN(6)),
			LastSuccess:    ago(48 * time.Hour),
			Running:        r.IntN(2) == 0,
		}
		id := fmt.Sprintf("slappart%d", i)
		switch r.IntN(4) {
		case 0: // clean
		case 1:
			p.InstanceGUID = pick(guids)
		default: // mostly the view's instance, to exercise changed/periodic/retry
			p.InstanceGUID = viewGUID[id]
		}
		if r.IntN(3) == 0 {
			p.Failures, p.LastFailure, p.FailedVersion = 1+r.IntN(4), ago(2*time.Hour), uint64(r.IntN(6))
		}
		actual.Partitions[id] = p
	}
	return view, actual
}

func cloneActual(a Actual) Actual {
	return Actual{Software: maps.Clone(a.Software), Partitions: maps.Clone(a.Partitions)}
}

func cloneView(v model.ComputerView) model.ComputerView {
	v.Software = slices.Clone(v.Software)
	v.Partitions = slices.Clone(v.Partitions)
	return v
}

// checkOrder verifies the plan order invariant: kinds in rank order, no
// configure or start before every stop and destroy; partitions in natural
// order and URLs sorted within a kind, each at most once.
func checkOrder(t *testing.T, acts []Action) {
	t.Helper()
	for i, a := range acts {
		if kindRank(a.Kind) < 0 {
			t.Fatalf("action %d has unknown kind %q", i, a.Kind)
		}
		if i == 0 {
			continue
		}
		p := acts[i-1]
		rp, ra := kindRank(p.Kind), kindRank(a.Kind)
		switch {
		case ra < rp:
			t.Fatalf("action %d %v comes after %v: kinds out of order", i, a, p)
		case ra > rp:
		case a.Kind == InstallSoftware || a.Kind == RemoveSoftware:
			if strings.Compare(p.URL, a.URL) >= 0 {
				t.Fatalf("action %d %v comes after %v: URLs not strictly sorted", i, a, p)
			}
		default:
			if ComparePartitionIDs(p.PartitionID, a.PartitionID) >= 0 {
				t.Fatalf("action %d %v comes after %v: partitions not strictly in natural order", i, a, p)
			}
		}
	}
}

func applyAll(a *Actual, acts []Action, now time.Time) {
	for _, act := range acts {
		a.ApplySuccess(act, now)
	}
}

// TestPlanProperties checks, over random nodes, that plans are ordered,
// deterministic, leave their inputs alone, converge in one pass (two for
// partitions waiting for a software installed by the first), and schedule
// the next look no later than the first moment something becomes due.
func TestPlanProperties(t *testing.T) {
	const seed, runs = 20250301, 3000
	r := rand.New(rand.NewPCG(seed, 0))
	cfg := slaposConfig
	for run := range runs {
		view, actual := randomNode(r, t0)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d run %d: %s\nview: %+v\nactual: %+v", seed, run, fmt.Sprintf(format, args...), view, actual)
		}
		viewCopy, actualCopy := cloneView(view), cloneActual(actual)
		p1 := PlanNode(view, actual, t0, cfg)
		if !reflect.DeepEqual(view, viewCopy) || !reflect.DeepEqual(actual, actualCopy) {
			fail("PlanNode modified its inputs")
		}
		checkOrder(t, p1.Actions)

		shuffled := cloneView(view)
		r.Shuffle(len(shuffled.Partitions), func(i, j int) {
			shuffled.Partitions[i], shuffled.Partitions[j] = shuffled.Partitions[j], shuffled.Partitions[i]
		})
		r.Shuffle(len(shuffled.Software), func(i, j int) {
			shuffled.Software[i], shuffled.Software[j] = shuffled.Software[j], shuffled.Software[i]
		})
		if again := PlanNode(shuffled, cloneActual(actual), t0, cfg); !reflect.DeepEqual(again, p1) {
			fail("the order of the view's lists changed the plan:\n%+v\n%+v", p1, again)
		}

		// Idempotence: after every action succeeded, only the partitions
		// that waited for a software installed by p1 have work left.
		after := cloneActual(actual)
		applyAll(&after, p1.Actions, t0)
		installedNow := map[string]bool{}
		for _, a := range p1.Actions {
			if a.Kind == InstallSoftware {
				installedNow[a.URL] = true
			}
		}
		p2 := PlanNode(view, after, t0, cfg)
		checkOrder(t, p2.Actions)
		for _, a := range p2.Actions {
			waited := slices.ContainsFunc(p1.Waiting, func(w string) bool {
				return strings.HasPrefix(w, a.PartitionID+" waits for software "+a.URL+":")
			})
			if (a.Kind != ConfigurePartition && a.Kind != StartPartition) || !installedNow[a.URL] || !waited {
				fail("second plan has %v, which the first plan should have done:\nfirst:  %q\nsecond: %q",
					a, briefs(p1.Actions), briefs(p2.Actions))
			}
		}
		applyAll(&after, p2.Actions, t0)
		p3 := PlanNode(view, after, t0, cfg)
		if len(p3.Actions) != 0 {
			fail("third plan is not empty: %q", briefs(p3.Actions))
		}

		// RequeueAfter: nothing becomes due before it; something (or a
		// note) at it.
		if d := p3.RequeueAfter; d > 0 {
			if early := PlanNode(view, after, t0.Add(d-time.Nanosecond), cfg); len(early.Actions) != 0 {
				fail("RequeueAfter %v, yet %q is due 1ns earlier", d, briefs(early.Actions))
			}
			if at := PlanNode(view, after, t0.Add(d), cfg); len(at.Actions) == 0 && len(at.Waiting) == 0 {
				fail("RequeueAfter %v, yet nothing is due then", d)
			}
		} else if d < 0 {
			fail("RequeueAfter %v is negative", d)
		} else if late := PlanNode(view, after, t0.Add(1000*time.Hour), cfg); len(late.Actions) != 0 {
			fail("RequeueAfter 0 (nothing scheduled), yet %q is due 1000h later", briefs(late.Actions))
		}
	}
}

// TestConvergesAfterFailures runs random nodes through rounds where any
// action may fail (the shell skipping as doc.go says), then heals: once
// every back-off elapsed, two passes without failure converge.
func TestConvergesAfterFailures(t *testing.T) {
	const seed, runs = 77, 500
	r := rand.New(rand.NewPCG(seed, 1))
	cfg := slaposConfig
	for run := range runs {
		view, actual := randomNode(r, t0)
		now := t0
		for range 20 {
			plan := PlanNode(view, actual, now, cfg)
			checkOrder(t, plan.Actions)
			failedPart := map[string]bool{}
			destroyFailed := false
			for _, act := range plan.Actions {
				if failedPart[act.PartitionID] || (act.Kind == RemoveSoftware && destroyFailed) {
					continue
				}
				if r.IntN(3) == 0 {
					actual.ApplyFailure(act, now)
					if act.PartitionID != "" {
						failedPart[act.PartitionID] = true
					}
					destroyFailed = destroyFailed || act.Kind == DestroyPartition
					continue
				}
				actual.ApplySuccess(act, now)
			}
			step := plan.RequeueAfter
			if step == 0 || step > cfg.RetryMax {
				step = time.Minute
			}
			now = now.Add(step)
		}
		now = now.Add(cfg.RetryMax) // every back-off has elapsed
		var plans []Plan
		for range 3 {
			plan := PlanNode(view, actual, now, cfg)
			plans = append(plans, plan)
			applyAll(&actual, plan.Actions, now)
		}
		if last := plans[2]; len(last.Actions) != 0 {
			t.Fatalf("seed %d run %d: not converged after healing; plans:\n%q\n%q\n%q", seed, run,
				briefs(plans[0].Actions), briefs(plans[1].Actions), briefs(last.Actions))
		}
	}
}
