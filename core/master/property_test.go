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
// pending queue is ordered and no pending request fits a computer, the
// allocator's index of the computers chooses as a scan of them does, and a
// refused command leaves the state untouched. At the end, Restore of the
// snapshot gives an equal state.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := master.New(master.Config{Policy: "random", KeepMovements: true})
			g := newCommandGen(t, s, seed)
			lastView := map[string]model.ComputerView{}
			lastVersion := map[string]uint64{}
			for step := range 300 {
				now, cmd := g.next(step)
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
				g.applied(res)
				checkInvariants(t, s, step, lastView, lastVersion)
				if err := s.CheckPending(now); err != nil {
					t.Fatalf("step %d: after %s: %v", step, cmd.CommandName(), err)
				}
				if err := s.CheckCandidateIndex(now); err != nil {
					t.Fatalf("step %d: after %s: %v", step, cmd.CommandName(), err)
				}
				if err := s.CheckInstanceIn(); err != nil {
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

// commandGen draws random commands over a small grid: three computers of up
// to four partitions, two persons, two releases, instances requested by
// persons and by instances, shared ones, transfers, reports.
type commandGen struct {
	s       *master.State
	r       *rand.Rand
	now     time.Time
	persons []model.Actor
	comps   []string
	urls    []string
	guids   []string
}

func newCommandGen(t *testing.T, s *master.State, seed uint64) *commandGen {
	t.Helper()
	g := &commandGen{s: s, r: rand.New(rand.NewPCG(seed, 42)), now: t0,
		persons: []model.Actor{{Kind: model.KindPerson, ID: "p0"}, {Kind: model.KindPerson, ID: "p1"}},
		comps:   []string{"C0", "C1", "C2"}, urls: []string{sr, "https://example.org/other.cfg"}}
	for _, p := range g.persons {
		if _, _, err := s.Apply(g.now, master.AddPerson{By: model.Admin, ID: p.ID}); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func (g *commandGen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

// applied notes a command's result: a new instance may request others.
func (g *commandGen) applied(res master.Result) {
	if res.Instance != nil && res.Instance.GUID != "" {
		g.guids = append(g.guids, res.Instance.GUID)
	}
}

// next advances the clock and draws a command (nil: none this step).
func (g *commandGen) next(step int) (time.Time, master.Command) {
	g.now = g.now.Add(time.Duration(g.r.IntN(600)) * time.Second)
	var cmd master.Command
	person := g.persons[g.r.IntN(2)]
	switch g.r.IntN(15) {
	case 0:
		cmd = master.RegisterComputer{By: person, ID: g.pick(g.comps), Region: g.pick([]string{"eu", "jp"}), Network: g.pick([]string{"n1", "n2"})}
	case 1:
		id := g.pick(g.comps)
		var specs []master.PartitionSpec
		for p := range 5 {
			if g.r.IntN(4) == 0 {
				continue // a gap: removed, or never announced
			}
			var addrs []model.Address
			if n := g.r.IntN(3); n > 0 {
				addrs = []model.Address{{Iface: "eth0", Addr: fmt.Sprintf("10.0.%d.%d", p, n)}}
			}
			specs = append(specs, master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p), Addresses: addrs})
		}
		cmd = master.SetCapacity{By: computerActor(id), ComputerID: id, Partitions: specs}
	case 2:
		st := model.SoftwareAvailable
		if g.r.IntN(4) == 0 {
			st = model.SoftwareDestroyed
		}
		cmd = master.Supply{By: person, ComputerID: g.pick(g.comps), URL: g.pick(g.urls), State: st}
	case 3, 4, 5:
		sla := map[string]string{}
		if g.r.IntN(3) == 0 {
			sla["region"] = g.pick([]string{"eu", "jp"})
		}
		if g.r.IntN(5) == 0 {
			sla["unique_by_network"] = "true"
		}
		by := person
		if len(g.guids) > 0 && g.r.IntN(3) == 0 {
			by = model.Actor{Kind: model.KindInstance, ID: g.pick(g.guids)}
		}
		cmd = master.Request{By: by, Title: fmt.Sprintf("t%d", g.r.IntN(6)), SoftwareRelease: g.pick(g.urls),
			Parameters: map[string]string{"x": fmt.Sprint(g.r.IntN(3))}, SLA: sla, Shared: g.r.IntN(6) == 0,
			State: []model.RequestedState{"", model.StateStarted, model.StateStopped, model.StateDestroyed}[g.r.IntN(4)]}
	case 6, 7:
		id := g.pick(g.comps)
		cmd = master.PartitionDestroyed{By: computerActor(id), ComputerID: id, PartitionID: fmt.Sprintf("slappart%d", g.r.IntN(5))}
	case 8:
		id := g.pick(g.comps)
		cmd = master.ReportPartition{By: computerActor(id), ComputerID: id, PartitionID: fmt.Sprintf("slappart%d", g.r.IntN(5)),
			State: []model.ReportedState{model.ReportedStarted, model.ReportedStopped, model.ReportedError}[g.r.IntN(3)]}
	case 9:
		if len(g.guids) > 0 {
			cmd = master.Bang{By: person, InstanceGUID: g.pick(g.guids)}
		}
	case 10:
		id := g.pick(g.comps)
		cmd = master.SetConnection{By: computerActor(g.pick(g.comps)), ComputerID: id, PartitionID: fmt.Sprintf("slappart%d", g.r.IntN(5)),
			Parameters: map[string]string{"url": fmt.Sprint(step)}}
	case 11:
		cmd = master.RetryPending{By: model.Admin}
	case 12:
		if len(g.guids) > 0 {
			sla := map[string]string{}
			if g.r.IntN(2) == 0 {
				sla["region"] = g.pick([]string{"eu", "jp"})
			}
			gd := g.pick(g.guids)
			by, to := person, g.persons[g.r.IntN(2)].ID
			if info, err := g.s.Instance(model.Admin, gd); err == nil && g.r.IntN(4) > 0 {
				// Mostly from its owner to the other person.
				by = model.Actor{Kind: model.KindPerson, ID: info.Owner}
				to = map[string]string{"p0": "p1", "p1": "p0"}[info.Owner]
			}
			cmd = master.TransferInstance{By: by, InstanceGUID: gd, To: to, SLA: sla,
				Parameters: map[string]string{"x": fmt.Sprint(step)}}
		}
	case 13:
		if len(g.guids) > 0 {
			cmd = master.Rename{By: person, InstanceGUID: g.pick(g.guids), NewTitle: fmt.Sprintf("t%d", g.r.IntN(8))}
		}
	case 14:
		if len(g.guids) > 0 {
			st := model.RequestedState(g.pick([]string{"started", "stopped", "destroyed"}))
			cmd = master.SetState{By: person, InstanceGUID: g.pick(g.guids), State: st}
		}
	}
	return g.now, cmd
}

// TestViewCacheMatchesFreshViews applies random command sequences and, at
// random moments (so that changes pile up between two reads), compares
// every computer's view with one rendered from scratch: the view cache
// must never serve a partition a change touched. Views read earlier must
// stay as they were returned, unless Config.ViewReplacesPrevious lets the
// cache update them in place.
func TestViewCacheMatchesFreshViews(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		for seed := range uint64(40) {
			t.Run(fmt.Sprintf("in-place=%t/seed=%d", inPlace, seed), func(t *testing.T) {
				s := master.New(master.Config{Policy: "random", KeepMovements: true, ViewReplacesPrevious: inPlace})
				g := newCommandGen(t, s, seed+1000)
				type kept struct {
					view model.ComputerView
					json string
				}
				var earlier []kept
				for step := range 400 {
					now, cmd := g.next(step)
					if cmd == nil {
						continue
					}
					res, _, err := s.Apply(now, cmd)
					if err != nil {
						continue
					}
					g.applied(res)
					if g.r.IntN(3) > 0 {
						continue
					}
					for _, id := range s.ComputerIDs() {
						got, err := s.ComputerView(id)
						if err != nil {
							t.Fatal(err)
						}
						want, err := s.FreshComputerView(id)
						if err != nil {
							t.Fatal(err)
						}
						if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
							t.Fatalf("step %d: after %s, computer %s:\ncached %s\nfresh  %s", step, cmd.CommandName(), id, g, w)
						}
						earlier = append(earlier, kept{got, mustJSON(t, got)})
					}
				}
				if inPlace {
					return
				}
				for n, k := range earlier {
					if mustJSON(t, k.view) != k.json {
						t.Fatalf("view #%d of %s changed after it was returned", n, k.view.ComputerID)
					}
				}
			})
		}
	}
}

// TestMutationsStayAsReturned applies random command sequences and keeps
// every mutation and result as returned: at the end, each must read as it
// did when returned. Mutations and results share their maps and slices
// with the state (see Mutation); this proves the state only replaces them.
func TestMutationsStayAsReturned(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := master.New(master.Config{Policy: "random", KeepMovements: true})
			g := newCommandGen(t, s, seed+2000)
			type returned struct {
				step int
				cmd  string
				muts []master.Mutation
				res  master.Result
				json string
			}
			var kept []returned
			changed := 0
			for step := range 400 {
				now, cmd := g.next(step)
				if cmd == nil {
					continue
				}
				res, muts, err := s.Apply(now, cmd)
				if err != nil {
					continue
				}
				g.applied(res)
				changed += len(muts)
				kept = append(kept, returned{step, cmd.CommandName(), muts, res, mustJSON(t, []any{muts, res})})
			}
			if changed < 100 {
				t.Fatalf("only %d mutations in 400 commands: the sequence tests little", changed)
			}
			for _, k := range kept {
				if now := mustJSON(t, []any{k.muts, k.res}); now != k.json {
					t.Fatalf("step %d: what %s returned changed afterwards:\nthen %s\nnow  %s", k.step, k.cmd, k.json, now)
				}
			}
		})
	}
}

// TestMutationsShareEntities: a master that shares its entities with the
// mutations it returns (and keeps the parameter maps of requests as they
// come) returns, read at once, what a copying master returns, and the
// entities shared are its own (a later command shows in them).
func TestMutationsShareEntities(t *testing.T) {
	for seed := range uint64(10) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			copying := master.New(master.Config{Policy: "random", KeepMovements: true})
			sharing := master.New(master.Config{Policy: "random", KeepMovements: true, MutationsShareEntities: true,
				RequestParametersHandedOver: true})
			g := newCommandGen(t, copying, seed+3000)
			newCommandGen(t, sharing, seed+3000) // its persons
			var shared []*model.Instance
			for step := range 400 {
				now, cmd := g.next(step)
				if cmd == nil {
					continue
				}
				res, muts, err := copying.Apply(now, cmd)
				sres, smuts, serr := sharing.Apply(now, cmd)
				if (err == nil) != (serr == nil) {
					t.Fatalf("step %d %s: copying master says %v, sharing master %v", step, cmd.CommandName(), err, serr)
				}
				if err != nil {
					continue
				}
				g.applied(res)
				if want, got := mustJSON(t, []any{muts, res}), mustJSON(t, []any{smuts, sres}); got != want {
					t.Fatalf("step %d %s: sharing master returned\n%s\nwant\n%s", step, cmd.CommandName(), got, want)
				}
				for _, m := range smuts {
					if i, ok := m.Value.(*model.Instance); ok {
						shared = append(shared, i)
					}
				}
			}
			if len(shared) == 0 {
				t.Fatal("no instance mutation: the sequence tests nothing")
			}
			for _, i := range shared {
				info, err := sharing.Instance(model.Admin, i.GUID)
				if err != nil {
					t.Fatal(err)
				}
				if info.Version != i.Version || info.Status == master.StatusDestroyed != (i.Freed || i.RequestedState == model.StateDestroyed) {
					t.Fatalf("instance %s: the mutation shows version %d, the master %d: not its own entity", i.GUID, i.Version, info.Version)
				}
			}
			if want, got := mustJSON(t, copying.Snapshot()), mustJSON(t, sharing.Snapshot()); got != want {
				t.Fatal("the two masters end in different states")
			}
		})
	}
}
