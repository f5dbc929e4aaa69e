package master_test

import (
	"errors"
	"maps"
	"testing"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestSetStateChangesOnlyTheState: stopping, starting and destroying an
// instance by its GUID keeps its software, type, parameters and SLA, while
// a Request describes the whole instance and replaces them.
func TestSetStateChangesOnlyTheState(t *testing.T) {
	g := newGrid(t, 2, 2)
	params := map[string]string{"name": "Alice"}
	sla := map[string]string{"region": "jp"}
	a := g.must(master.Request{By: g.alice, Title: "hello", SoftwareRelease: sr, SoftwareType: "web",
		Parameters: params, SLA: sla}).Instance
	for _, st := range []model.RequestedState{model.StateStopped, model.StateStarted} {
		res := g.must(master.SetState{By: g.alice, InstanceGUID: a.GUID, State: st})
		got := res.Instance
		if !res.Changed || got.RequestedState != st || got.Version <= a.Version {
			t.Fatalf("set-state %s: changed %v, state %s, version %d (was %d)", st, res.Changed, got.RequestedState, got.Version, a.Version)
		}
		if !maps.Equal(got.Parameters, params) || !maps.Equal(got.SLA, sla) || got.SoftwareType != "web" ||
			got.SoftwareRelease != sr || got.ComputerID != a.ComputerID || got.PartitionID != a.PartitionID {
			t.Fatalf("set-state %s changed more than the state: %+v", st, got)
		}
		again := g.must(master.SetState{By: g.alice, InstanceGUID: a.GUID, State: st})
		if again.Changed || again.Instance.Version != got.Version {
			t.Fatalf("set-state %s twice changed something: %+v", st, again)
		}
		a = got
	}
	// A request without parameters sends the whole desired instance: none.
	r := g.must(master.Request{By: g.alice, Title: "hello", SoftwareRelease: sr, SoftwareType: "web", SLA: sla}).Instance
	if len(r.Parameters) != 0 {
		t.Fatalf("a request without parameters kept %v: a request describes the whole instance", r.Parameters)
	}

	d := g.must(master.SetState{By: g.alice, InstanceGUID: a.GUID, State: model.StateDestroyed}).Instance
	if d.Status != master.StatusDestroyed || d.RequestedState != model.StateDestroyed {
		t.Fatalf("after destroy: %+v", d)
	}
	if res := g.must(master.SetState{By: g.alice, InstanceGUID: a.GUID, State: model.StateDestroyed}); res.Changed {
		t.Fatalf("destroying a destroyed instance changed something: %+v", res)
	}
	if _, err := g.apply(master.SetState{By: g.alice, InstanceGUID: a.GUID, State: model.StateStarted}); !errors.Is(err, master.ErrConflict) {
		t.Fatalf("starting a destroyed instance: %v, want a conflict", err)
	}
}

func TestSetStateRefusals(t *testing.T) {
	g := newGrid(t, 1, 2)
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	bob := model.Actor{Kind: model.KindPerson, ID: "bob"}
	a := g.request("hello", nil)
	for _, tt := range []struct {
		name string
		cmd  master.SetState
		want error
	}{
		{"unknown instance", master.SetState{By: g.alice, InstanceGUID: "SOFTINST-99", State: model.StateStopped}, master.ErrNotFound},
		{"another person's", master.SetState{By: bob, InstanceGUID: a.GUID, State: model.StateStopped}, master.ErrNotFound},
		{"its computer", master.SetState{By: computerActor("COMP-0"), InstanceGUID: a.GUID, State: model.StateStopped}, master.ErrForbidden},
		{"no state", master.SetState{By: g.alice, InstanceGUID: a.GUID}, master.ErrInvalid},
		{"bad state", master.SetState{By: g.alice, InstanceGUID: a.GUID, State: "paused"}, master.ErrInvalid},
	} {
		if _, err := g.apply(tt.cmd); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if info, _ := g.s.Instance(g.alice, a.GUID); info.RequestedState != model.StateStarted {
		t.Errorf("a refused set-state changed the instance: %+v", info)
	}
}

// TestSetStateOfARootReachesItsTree: a child takes the state of a stopped
// root, and its own again when the root starts.
func TestSetStateOfARootReachesItsTree(t *testing.T) {
	g := newGrid(t, 1, 4)
	root := g.request("root", nil)
	child := g.must(master.Request{By: model.Actor{Kind: model.KindInstance, ID: root.GUID}, Title: "db", SoftwareRelease: sr}).Instance
	g.must(master.SetState{By: g.alice, InstanceGUID: root.GUID, State: model.StateStopped})
	if c, _ := g.s.Instance(g.alice, child.GUID); c.RequestedState != model.StateStopped {
		t.Fatalf("child of a stopped root: %s, want stopped", c.RequestedState)
	}
	g.must(master.SetState{By: g.alice, InstanceGUID: root.GUID, State: model.StateStarted})
	if c, _ := g.s.Instance(g.alice, child.GUID); c.RequestedState != model.StateStarted {
		t.Fatalf("child of a started root: %s, want started", c.RequestedState)
	}
}
