package master_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestRandomCommandsKeepInvariants applies random command sequences and
// checks after each one: no partition holds two instances, every live
// instance is allocated or pending, a computer's view version changes
// exactly when its view does, instance versions never go down, the
// pending queue is ordered and no pending request fits a computer, and a
// refused command leaves the state untouched. At the end, Restore of the
// snapshot gives an equal state.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			s := master.New(master.Config{Policy: "random", KeepMovements: true})
			now := t0
			persons := []model.Actor{{Kind: model.KindPerson, ID: "p0"}, {Kind: model.KindPerson, ID: "p1"}}
			for _, p := range persons {
				if _, _, err := s.Apply(now, master.AddPerson{By: model.Admin, ID: p.ID}); err != nil {
					t.Fatal(err)
				}
			}
			comps := []string{"C0", "C1", "C2"}
			urls := []string{sr, "https://example.org/other.cfg"}
			lastView := map[string]model.ComputerView{}
			lastVersion := map[string]uint64{}
			pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
			var guids []string
			for step := range 300 {
				now = now.Add(time.Duration(r.IntN(600)) * time.Second)
				var cmd master.Command
				person := persons[r.IntN(2)]
				switch r.IntN(13) {
				case 0:
					cmd = master.RegisterComputer{By: person, ID: pick(comps), Region: pick([]string{"eu", "jp"}), Network: pick([]string{"n1", "n2"})}
				case 1:
					id := pick(comps)
					var specs []master.PartitionSpec
					for p := range r.IntN(4) {
						specs = append(specs, master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p)})
					}
					cmd = master.SetCapacity{By: computerActor(id), ComputerID: id, Partitions: specs}
				case 2:
					st := model.SoftwareAvailable
					if r.IntN(4) == 0 {
						st = model.SoftwareDestroyed
					}
					cmd = master.Supply{By: person, ComputerID: pick(comps), URL: pick(urls), State: st}
				case 3, 4, 5:
					sla := map[string]string{}
					if r.IntN(3) == 0 {
						sla["region"] = pick([]string{"eu", "jp"})
					}
					if r.IntN(5) == 0 {
						sla["unique_by_network"] = "true"
					}
					by := person
					if len(guids) > 0 && r.IntN(3) == 0 {
						by = model.Actor{Kind: model.KindInstance, ID: pick(guids)}
					}
					cmd = master.Request{By: by, Title: fmt.Sprintf("t%d", r.IntN(6)), SoftwareRelease: pick(urls),
						Parameters: map[string]string{"x": fmt.Sprint(r.IntN(3))}, SLA: sla, Shared: r.IntN(6) == 0,
						State: []model.RequestedState{"", model.StateStarted, model.StateStopped, model.StateDestroyed}[r.IntN(4)]}
				case 6, 7:
					id := pick(comps)
					cmd = master.PartitionDestroyed{By: computerActor(id), ComputerID: id, PartitionID: fmt.Sprintf("slappart%d", r.IntN(4))}
				case 8:
					id := pick(comps)
					cmd = master.ReportPartition{By: computerActor(id), ComputerID: id, PartitionID: fmt.Sprintf("slappart%d", r.IntN(4)),
						State: []model.ReportedState{model.ReportedStarted, model.ReportedStopped, model.ReportedError}[r.IntN(3)]}
				case 9:
					if len(guids) > 0 {
						cmd = master.Bang{By: person, InstanceGUID: pick(guids)}
					}
				case 10:
					id := pick(comps)
					cmd = master.SetConnection{By: computerActor(pick(comps)), ComputerID: id, PartitionID: fmt.Sprintf("slappart%d", r.IntN(4)),
						Parameters: map[string]string{"url": fmt.Sprint(step)}}
				case 11:
					cmd = master.RetryPending{By: model.Admin}
				case 12:
					if len(guids) > 0 {
						sla := map[string]string{}
						if r.IntN(2) == 0 {
							sla["region"] = pick([]string{"eu", "jp"})
						}
						g := pick(guids)
						by, to := person, persons[r.IntN(2)].ID
						if info, err := s.Instance(model.Admin, g); err == nil && r.IntN(4) > 0 {
							// Mostly from its owner to the other person.
							by = model.Actor{Kind: model.KindPerson, ID: info.Owner}
							to = map[string]string{"p0": "p1", "p1": "p0"}[info.Owner]
						}
						cmd = master.TransferInstance{By: by, InstanceGUID: g, To: to, SLA: sla,
							Parameters: map[string]string{"x": fmt.Sprint(step)}}
					}
				}
				if cmd == nil {
					continue
				}
				before := mustJSON(t, s.Snapshot())
				res, muts, err := s.Apply(now, cmd)
				if err != nil {
					if len(muts) > 0 || mustJSON(t, s.Snapshot()) != before {
						t.Fatalf("step %d: refused %s (%v) changed the state", step, cmd.CommandName(), err)
					}
					continue
				}
				if res.Instance != nil && res.Instance.GUID != "" {
					guids = append(guids, res.Instance.GUID)
				}
				checkInvariants(t, s, step, lastView, lastVersion)
				if err := s.CheckPending(now); err != nil {
					t.Fatalf("step %d: after %s: %v", step, cmd.CommandName(), err)
				}
			}
			restored, err := master.Restore(s.Config(), s.Snapshot())
			if err != nil {
				t.Fatal(err)
			}
			if mustJSON(t, restored.Snapshot()) != mustJSON(t, s.Snapshot()) {
				t.Fatal("restore of the snapshot differs")
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkInvariants(t *testing.T, s *master.State, step int, lastView map[string]model.ComputerView, lastVersion map[string]uint64) {
	t.Helper()
	holder := map[string]string{}
	for _, id := range s.ComputerIDs() {
		for _, p := range s.Partitions(id) {
			if p.InstanceGUID == "" {
				if p.Status != model.PartitionFree {
					t.Fatalf("step %d: %s busy without instance", step, p.Key())
				}
				continue
			}
			if other, dup := holder[p.InstanceGUID]; dup {
				t.Fatalf("step %d: instance %s in two partitions %s and %s", step, p.InstanceGUID, other, p.Key())
			}
			holder[p.InstanceGUID] = p.Key()
		}
		v, err := s.ComputerView(id)
		if err != nil {
			t.Fatal(err)
		}
		prev, seen := lastView[id]
		if seen {
			same := mustJSON(t, withoutVersion(prev)) == mustJSON(t, withoutVersion(v))
			if same != (prev.Version == v.Version) {
				t.Fatalf("step %d: computer %s view changed=%v but version %d -> %d\n%s\n%s", step, id, !same, prev.Version, v.Version, mustJSON(t, prev), mustJSON(t, v))
			}
			if v.Version < prev.Version {
				t.Fatalf("step %d: view version went down", step)
			}
		}
		lastView[id] = v
	}
	pending := map[string]bool{}
	for _, p := range s.Pending() {
		pending[p.GUID] = true
	}
	for _, i := range s.Instances(model.Admin, true) {
		if prev := lastVersion[i.GUID]; i.Version < prev {
			t.Fatalf("step %d: %s version went down %d -> %d", step, i.GUID, prev, i.Version)
		}
		lastVersion[i.GUID] = i.Version
		switch i.Status {
		case master.StatusAllocated:
			if !i.Shared && holder[i.GUID] != i.ComputerID+"/"+i.PartitionID {
				t.Fatalf("step %d: %s allocated to %s/%s but the partition holds %q", step, i.GUID, i.ComputerID, i.PartitionID, holder[i.GUID])
			}
		case master.StatusPending:
			if !pending[i.GUID] || i.PendingReason == "" {
				t.Fatalf("step %d: %s pending without reason or not listed", step, i.GUID)
			}
		}
	}
}

func withoutVersion(v model.ComputerView) model.ComputerView {
	v.Version = 0
	return v
}
