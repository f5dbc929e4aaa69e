package converge

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// TestReplannerIsPlanNode: over random nodes and random histories (time
// passing, actions succeeding and failing, views changing, software
// changing), a Replanner told what changed plans exactly what PlanNode
// plans, while it plans again only some of the partitions.
func TestReplannerIsPlanNode(t *testing.T) {
	const seed, runs, steps = 20261206, 400, 40
	r := rand.New(rand.NewPCG(seed, 0))
	cfg := slaposConfig
	var planned, total int
	for run := range runs {
		now := t0
		view, actual := randomNode(r, now)
		if r.IntN(5) > 0 { // mostly in natural order: the incremental path
			slices.SortStableFunc(view.Partitions, func(a, b model.PartitionView) int { return ComparePartitionIDs(a.ID, b.ID) })
		}
		var rp Replanner
		for step := range steps {
			want := PlanNode(view, actual, now, cfg)
			got := rp.Plan(view, actual, now, cfg)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("run %d step %d at %s: Replanner planned\n  %v\n  waiting %q requeue %v\nPlanNode\n  %v\n  waiting %q requeue %v\nview %+v\nactual %+v",
					run, step, now.Sub(t0), got.Actions, got.Waiting, got.RequeueAfter, want.Actions, want.Waiting, want.RequeueAfter, view, actual)
			}
			total += len(view.Partitions)
			// What happens next.
			switch r.IntN(10) {
			case 0: // time passes
				now = now.Add(time.Duration(r.Int64N(int64(30 * time.Hour))))
			case 7: // a little time passes: a retry may come due alone
				now = now.Add(time.Duration(r.Int64N(int64(20 * time.Minute))))
			case 8: // the view is fetched again (a new version), or changed in place and the Replanner reset
				if r.IntN(2) == 0 {
					view = cloneView(view)
					view.Version++
				} else if len(view.Partitions) > 0 {
					view.Partitions[r.IntN(len(view.Partitions))].Version++
					rp.Reset()
				}
			case 1: // the plan runs, some actions fail
				now = now.Add(time.Duration(r.Int64N(int64(10 * time.Minute))))
				for _, a := range got.Actions {
					if r.IntN(4) == 0 {
						actual.ApplyFailure(a, now)
					} else {
						actual.ApplySuccess(a, now)
					}
					if a.PartitionID == "" {
						rp.SoftwareChanged(a.URL)
					} else {
						rp.Changed(a.PartitionID)
					}
				}
			case 2: // the view changes some partitions
				view = cloneView(view)
				for i := range view.Partitions {
					if r.IntN(3) > 0 {
						continue
					}
					p := &view.Partitions[i]
					switch r.IntN(4) {
					case 0:
						p.Version++
					case 1:
						p.RequestedState = []model.RequestedState{model.StateStarted, model.StateStopped, model.StateDestroyed}[r.IntN(3)]
						p.Version++
					case 2:
						p.InstanceGUID = fmt.Sprintf("S-%d", 10+r.IntN(5))
						p.Version++
					case 3:
						p.SoftwareRelease = softwarePool[r.IntN(len(softwarePool))]
					}
				}
			case 3: // one partition's record changes behind the plan
				if len(view.Partitions) > 0 {
					id := view.Partitions[r.IntN(len(view.Partitions))].ID
					actual = cloneActual(actual)
					p := actual.Partitions[id]
					p.Running = !p.Running
					actual.Partitions[id] = p
					rp.Changed(id)
				}
			case 4: // software changes
				actual = cloneActual(actual)
				url := softwarePool[r.IntN(len(softwarePool))]
				s := actual.Software[url]
				switch r.IntN(3) {
				case 0:
					s.Installed = !s.Installed
				case 1:
					s.Failures, s.LastFailure = s.Failures+1, now.Add(-time.Duration(r.Int64N(int64(2*time.Hour))))
				default:
					s = SoftwareActual{}
				}
				if s == (SoftwareActual{}) && r.IntN(2) == 0 {
					delete(actual.Software, url)
				} else {
					actual.Software[url] = s
				}
				if r.IntN(5) == 0 {
					rp.Reset()
				} else {
					rp.SoftwareChanged(url)
				}
			case 9: // the view's software list changes: a request flips, a release comes, goes or is listed twice
				view = cloneView(view)
				url := softwarePool[r.IntN(len(softwarePool))]
				req := []model.SoftwareRequest{model.SoftwareAvailable, model.SoftwareDestroyed}[r.IntN(2)]
				switch i := slices.IndexFunc(view.Software, func(s model.SoftwareView) bool { return s.URL == url }); {
				case i < 0 || r.IntN(3) == 0:
					view.Software = append(view.Software, model.SoftwareView{URL: url, Requested: req})
				case r.IntN(2) == 0:
					view.Software[i].Requested = req
				default:
					view.Software = slices.Delete(view.Software, i, i+1)
				}
			case 5: // nothing: planned again at the same moment
			case 6: // the view's order changes: two entries swap, the last one is another partition, or it is sorted again
				view = cloneView(view)
				n := len(view.Partitions)
				switch k := r.IntN(3); {
				case n > 1 && k == 0:
					i, j := r.IntN(n), r.IntN(n)
					view.Partitions[i], view.Partitions[j] = view.Partitions[j], view.Partitions[i]
				case n > 0 && k == 1: // in order still if it was: actual may know the new one
					last := &view.Partitions[n-1]
					var num int
					fmt.Sscanf(last.ID, "slappart%d", &num)
					last.ID = fmt.Sprintf("slappart%d", num+1+r.IntN(2))
				default:
					slices.SortStableFunc(view.Partitions, func(a, b model.PartitionView) int { return ComparePartitionIDs(a.ID, b.ID) })
				}
			}
		}
		planned += rp.planned
	}
	// Not a speed check: proof that the incremental path ran.
	if planned == 0 || planned > total*3/4 {
		t.Errorf("%d partitions planned anew out of %d planned: the Replanner kept too little", planned, total)
	}
	t.Logf("%d partitions planned anew out of %d planned", planned, total)
}

// TestSoonest: a tree orders moments as time.Time does, to the
// nanosecond and across the second, the lower partition first on a tie,
// and finds those due.
func TestSoonest(t *testing.T) {
	t0 := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		set     []time.Time // by partition; zero: cleared
		now     time.Time
		wantMin int32
		wantDue []int32
	}{
		{"nanoseconds apart", []time.Time{t0.Add(3), t0.Add(2), t0.Add(4)}, t0.Add(2), 1, []int32{1}},
		{"across the second", []time.Time{t0.Add(time.Second), t0.Add(time.Second - 1), {}}, t0.Add(time.Second), 1, []int32{0, 1}},
		{"tie: the lower partition", []time.Time{{}, t0.Add(5), t0.Add(5)}, t0.Add(5), 1, []int32{1, 2}},
		{"before 1970", []time.Time{t0, time.Date(1969, 12, 31, 23, 59, 59, 999, time.UTC)}, t0.Add(-1), 1, []int32{1}},
		{"none due", []time.Time{t0.Add(2), t0.Add(1)}, t0, 1, nil},
		{"none", []time.Time{{}, {}}, t0, -1, nil},
	}
	for _, tt := range tests {
		var s soonest
		s.reset(len(tt.set))
		for i, at := range tt.set {
			s.set(int32(i), t0.Add(time.Hour)) // changed below: set and clear both move it
			if at.IsZero() {
				s.clear(int32(i))
			} else {
				s.set(int32(i), at)
			}
		}
		i, ok := s.min()
		if !ok {
			i = -1
		}
		var due []int32
		s.due(momentOf(tt.now, 0), 1, func(i int32) { due = append(due, i) })
		if i != tt.wantMin || !slices.Equal(due, tt.wantDue) {
			t.Errorf("%s: min %d, due %v; want %d, %v", tt.name, i, due, tt.wantMin, tt.wantDue)
		}
	}
}
