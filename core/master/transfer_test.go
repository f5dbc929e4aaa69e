package master_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// transferWorld: alice owns COMP-EU (open, region eu, network n1, hosting
// 2/h) and COMP-PRIV (closed); bob and carol are persons. alice's "unit"
// runs on COMP-EU, started at t0+1h.
type transferWorld struct {
	*grid
	bob, carol model.Actor
	unit       *master.InstanceInfo
	startedAt  time.Time
}

func newTransferWorld(t *testing.T) *transferWorld {
	t.Helper()
	g := &grid{t: t, s: master.New(master.DefaultConfig()), now: t0}
	g.alice = model.Actor{Kind: model.KindPerson, ID: "alice"}
	w := &transferWorld{grid: g, bob: model.Actor{Kind: model.KindPerson, ID: "bob"}, carol: model.Actor{Kind: model.KindPerson, ID: "carol"}}
	for _, p := range []string{"alice", "bob", "carol"} {
		g.must(master.AddPerson{By: model.Admin, ID: p})
	}
	for _, c := range []struct {
		id    string
		scope model.Scope
	}{{"COMP-EU", model.ScopeOpen}, {"COMP-PRIV", model.ScopeClosed}} {
		g.must(master.RegisterComputer{By: g.alice, ID: c.id, Region: "eu", Network: "n1", Scope: c.scope,
			Hardware: model.Hardware{Arch: "x86_64", RAM: 4096}, Prices: model.PriceList{"hosting": 2}, Currency: "EUR"})
		g.must(master.SetCapacity{By: computerActor(c.id), ComputerID: c.id,
			Partitions: []master.PartitionSpec{{ID: "slappart0"}, {ID: "slappart1"}, {ID: "slappart2"}}})
		g.must(master.Supply{By: g.alice, ComputerID: c.id, URL: sr, State: model.SoftwareAvailable})
	}
	w.unit = g.must(master.Request{By: g.alice, Title: "unit", SoftwareRelease: sr,
		SLA: map[string]string{model.SLAComputerGUID: "COMP-EU"}, Parameters: map[string]string{"user": "alice"}}).Instance
	g.now = t0.Add(time.Hour)
	w.startedAt = g.now
	if _, _, err := g.s.Apply(g.now, master.ReportPartition{By: computerActor("COMP-EU"), ComputerID: "COMP-EU",
		PartitionID: w.unit.PartitionID, State: model.ReportedStarted}); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestTransferInstance: the buyer owns the instance from the transfer on,
// the node reconfigures it with the buyer's parameters, the seller may no
// longer act on it, and invoices bill the seller up to the transfer and the
// buyer after it.
func TestTransferInstance(t *testing.T) {
	w := newTransferWorld(t)
	g := w.grid
	transferAt := t0.Add(3 * time.Hour)
	g.now = transferAt
	before := w.unit.Version
	res, muts, err := g.s.Apply(transferAt, master.TransferInstance{By: g.alice, InstanceGUID: w.unit.GUID, To: "bob",
		Title: "bobs-unit", SLA: map[string]string{model.SLARegion: "eu", model.SLAMaxPrice: "2"},
		Parameters: map[string]string{"user": "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Instance
	if got.Owner != "bob" || got.Title != "bobs-unit" || got.PartitionID != w.unit.PartitionID || got.ComputerID != "COMP-EU" ||
		got.Parameters["user"] != "bob" || got.SLA["region"] != "eu" || got.Version <= before {
		t.Fatalf("after the transfer: %+v", got)
	}
	if err := master.CheckValues(muts); err != nil {
		t.Fatal(err)
	}
	// The node sees the new configuration.
	view, _ := g.s.ComputerView("COMP-EU")
	for _, p := range view.Partitions {
		if p.InstanceGUID == w.unit.GUID && (p.Parameters["user"] != "bob" || p.Version != got.Version) {
			t.Errorf("view of the partition: %+v", p)
		}
	}
	// Authorization follows ownership.
	if _, err := g.s.Instance(g.alice, w.unit.GUID); !errors.Is(err, master.ErrNotFound) {
		t.Errorf("alice reads bob's instance: %v", err)
	}
	if _, err := g.apply(master.Bang{By: g.alice, InstanceGUID: w.unit.GUID}); !errors.Is(err, master.ErrForbidden) {
		t.Errorf("alice bangs bob's instance: %v", err)
	}
	if _, err := g.apply(master.Request{By: g.alice, Title: "unit", SoftwareRelease: sr, State: model.StateDestroyed}); err != nil {
		t.Errorf("alice destroying her former title: %v", err)
	}
	if info, _ := g.s.Instance(w.bob, w.unit.GUID); info.RequestedState != model.StateStarted {
		t.Errorf("alice's request for her former title reached bob's instance: %+v", info)
	}
	g.must(master.Bang{By: w.bob, InstanceGUID: w.unit.GUID})
	// Invoices: alice 2 h (1h→3h), bob 3 h (3h→6h), at 2/h.
	end := t0.Add(6 * time.Hour)
	for _, c := range []struct {
		person string
		total  float64
	}{{"alice", 4}, {"bob", 6}} {
		inv, err := g.s.Invoices(model.Admin, c.person, t0, end, end)
		if err != nil {
			t.Fatal(err)
		}
		if len(inv) != 1 || inv[0].Total != c.total {
			t.Errorf("invoice of %s: %+v, want a total of %v", c.person, inv, c.total)
		}
	}
	// What was persisted rebuilds the same state.
	restored, err := master.Restore(master.DefaultConfig(), g.s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(restored.Snapshot(), g.s.Snapshot()) {
		t.Error("Restore(Snapshot()) differs after a transfer")
	}
}

// TestTransferInstanceRefusals: only the owner transfers, to a known person
// whose SLA admits the instance's computer (core/alloc's reason), a lone
// allocated root instance; a refusal changes nothing.
func TestTransferInstanceRefusals(t *testing.T) {
	w := newTransferWorld(t)
	g := w.grid
	child := func() string {
		// a root with a child, on COMP-EU
		root := g.must(master.Request{By: g.alice, Title: "tree", SoftwareRelease: sr}).Instance
		return root.GUID
	}()
	g.must(master.Request{By: model.Actor{Kind: model.KindInstance, ID: child}, Title: "leaf", SoftwareRelease: sr})
	priv := g.must(master.Request{By: g.alice, Title: "priv", SoftwareRelease: sr, SLA: map[string]string{model.SLAComputerGUID: "COMP-PRIV"}}).Instance
	far := g.must(master.Request{By: g.alice, Title: "far", SoftwareRelease: sr, SLA: map[string]string{model.SLARegion: "jp"}}).Instance
	shared := g.must(master.Request{By: g.alice, Title: "site", SoftwareRelease: sr, Shared: true, SoftwareType: "front"}).Instance
	cdn := g.must(master.Request{By: g.alice, Title: "cdn", SoftwareRelease: sr, SoftwareType: "cdn",
		SLA: map[string]string{model.SLAComputerGUID: "COMP-PRIV"}}).Instance
	if h := g.must(master.Request{By: g.alice, Title: "cdn-site", SoftwareRelease: sr, Shared: true, SoftwareType: "cdn"}).Instance; h.HostGUID != cdn.GUID {
		t.Fatalf("cdn-site: %+v", h)
	}
	g.must(master.Request{By: w.bob, Title: "taken", SoftwareRelease: sr})
	tr := func(by model.Actor, guid, to string, sla map[string]string) master.TransferInstance {
		return master.TransferInstance{By: by, InstanceGUID: guid, To: to, SLA: sla}
	}
	unit := w.unit.GUID
	cases := []struct {
		name string
		cmd  master.TransferInstance
		kind error
		want string
	}{
		{"by another person", tr(w.bob, unit, "carol", nil), master.ErrNotFound, "does not exist"},
		{"by the buyer", tr(w.bob, unit, "bob", nil), master.ErrNotFound, "does not exist"},
		{"by the admin", tr(model.Admin, unit, "bob", nil), master.ErrForbidden, "only their owner"},
		{"by the computer", tr(computerActor("COMP-EU"), unit, "bob", nil), master.ErrForbidden, "only their owner"},
		{"by the instance itself", tr(model.Actor{Kind: model.KindInstance, ID: unit}, unit, "bob", nil), master.ErrForbidden, "only their owner"},
		{"unknown buyer", tr(g.alice, unit, "mallory", nil), master.ErrNotFound, "buyer mallory is not a known person"},
		{"to its owner", tr(g.alice, unit, "alice", nil), master.ErrInvalid, "already belongs to alice"},
		{"unknown instance", tr(g.alice, "SOFTINST-404", "bob", nil), master.ErrNotFound, "does not exist"},
		{"region refused", tr(g.alice, unit, "bob", map[string]string{model.SLARegion: "jp"}), master.ErrConflict,
			"runs on computer COMP-EU, which the SLA of bob refuses: 1 computer: 1 region!=jp"},
		{"price refused", tr(g.alice, unit, "bob", map[string]string{model.SLAMaxPrice: "1.5"}), master.ErrConflict, "1 computer: 1 price>1.5"},
		{"memory refused", tr(g.alice, unit, "bob", map[string]string{model.SLAMinRAM: "8192"}), master.ErrConflict, "1 computer: 1 ram<8192"},
		{"another computer pinned", tr(g.alice, unit, "bob", map[string]string{model.SLAComputerGUID: "COMP-PRIV"}), master.ErrConflict, "computer_guid!=COMP-PRIV"},
		{"closed computer", tr(g.alice, priv.GUID, "bob", nil), master.ErrConflict, "1 computer: 1 closed scope"},
		{"unknown SLA key", tr(g.alice, unit, "bob", map[string]string{"regoin": "eu"}), master.ErrInvalid, `sla key "regoin" is unknown`},
		{"NaN price", tr(g.alice, unit, "bob", map[string]string{model.SLAMaxPrice: "NaN"}), master.ErrInvalid, "max_price"},
		{"pending instance", tr(g.alice, far.GUID, "bob", nil), master.ErrConflict, "not allocated yet"},
		{"shared instance", tr(g.alice, shared.GUID, "bob", nil), master.ErrConflict, "is shared"},
		{"root with children", tr(g.alice, child, "bob", nil), master.ErrConflict, "has child instances"},
		{"host of shared instances", tr(g.alice, cdn.GUID, "bob", nil), master.ErrConflict, "hosts shared instances of alice"},
		{"title taken", master.TransferInstance{By: g.alice, InstanceGUID: unit, To: "bob", Title: "taken"}, master.ErrConflict, `bob already has an instance titled "taken"`},
		{"bad title", master.TransferInstance{By: g.alice, InstanceGUID: unit, To: "bob", Title: "\xff"}, master.ErrInvalid, "title"},
		{"bad parameters", master.TransferInstance{By: g.alice, InstanceGUID: unit, To: "bob", Parameters: map[string]string{"a=b": "c"}}, master.ErrInvalid, "parameter key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := g.s.Snapshot()
			if err := g.s.CheckTransfer(g.now, tc.cmd); !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckTransfer = %v, want %v containing %q", err, tc.kind, tc.want)
			}
			_, err := g.apply(tc.cmd)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply = %v, want %v containing %q", err, tc.kind, tc.want)
			}
			if !reflect.DeepEqual(before, g.s.Snapshot()) {
				t.Fatal("a refused transfer changed the state")
			}
		})
	}
	// The same transfer with an SLA the computer meets goes through.
	if err := g.s.CheckTransfer(g.now, tr(g.alice, unit, "bob", map[string]string{model.SLARegion: "eu"})); err != nil {
		t.Fatalf("CheckTransfer of an admissible transfer: %v", err)
	}
	g.must(tr(g.alice, unit, "bob", map[string]string{model.SLARegion: "eu"}))
}
