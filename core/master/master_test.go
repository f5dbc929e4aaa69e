package master_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const sr = "https://example.org/hello/software.cfg"

// grid builds a master with one person and n computers of p partitions,
// sr supplied on each.
type grid struct {
	t     *testing.T
	s     *master.State
	now   time.Time
	alice model.Actor
	muts  []master.Mutation
}

func newGrid(t *testing.T, computers, parts int) *grid {
	t.Helper()
	return newGridConfig(t, master.DefaultConfig(), computers, parts)
}

func newGridConfig(t *testing.T, cfg master.Config, computers, parts int) *grid {
	t.Helper()
	g := &grid{t: t, s: master.New(cfg), now: t0}
	g.must(master.AddPerson{By: model.Admin, ID: "alice"})
	g.alice = model.Actor{Kind: model.KindPerson, ID: "alice"}
	for c := range computers {
		id := fmt.Sprintf("COMP-%d", c)
		g.must(master.RegisterComputer{By: g.alice, ID: id, Region: []string{"eu", "jp"}[c%2], Network: fmt.Sprintf("net%d", c)})
		var specs []master.PartitionSpec
		for p := range parts {
			specs = append(specs, master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p),
				Addresses: []model.Address{{Iface: "lo", Addr: fmt.Sprintf("10.0.%d.%d", c, p)}}})
		}
		g.must(master.SetCapacity{By: computerActor(id), ComputerID: id, Partitions: specs})
		g.must(master.Supply{By: g.alice, ComputerID: id, URL: sr, State: model.SoftwareAvailable})
	}
	return g
}

func computerActor(id string) model.Actor { return model.Actor{Kind: model.KindComputer, ID: id} }

func (g *grid) apply(cmd master.Command) (master.Result, error) {
	g.t.Helper()
	g.now = g.now.Add(time.Second)
	res, muts, err := g.s.Apply(g.now, cmd)
	if err != nil && len(muts) != 0 {
		g.t.Fatalf("%s failed but returned %d mutations", cmd.CommandName(), len(muts))
	}
	g.muts = append(g.muts, muts...)
	return res, err
}

func (g *grid) must(cmd master.Command) master.Result {
	g.t.Helper()
	res, err := g.apply(cmd)
	if err != nil {
		g.t.Fatalf("%s: %v", cmd.CommandName(), err)
	}
	return res
}

func (g *grid) request(title string, params map[string]string) *master.InstanceInfo {
	g.t.Helper()
	return g.must(master.Request{By: g.alice, Title: title, SoftwareRelease: sr, Parameters: params}).Instance
}

func TestRequestIsIdempotent(t *testing.T) {
	g := newGrid(t, 2, 3)
	a := g.request("web", map[string]string{"port": "80"})
	if a.Status != master.StatusAllocated || a.ComputerID != "COMP-0" || a.PartitionID != "slappart0" {
		t.Fatalf("first request: got %+v", a)
	}
	v0, _ := g.s.ViewVersion("COMP-0")
	res := g.must(master.Request{By: g.alice, Title: "web", SoftwareRelease: sr, Parameters: map[string]string{"port": "80"}})
	if res.Changed || res.Instance.GUID != a.GUID || res.Instance.Version != a.Version {
		t.Fatalf("same request again changed something: %+v", res)
	}
	if v1, _ := g.s.ViewVersion("COMP-0"); v1 != v0 {
		t.Fatalf("view version moved on an idempotent request: %d -> %d", v0, v1)
	}
	b := g.request("web", map[string]string{"port": "8080"})
	if b.Version <= a.Version || b.GUID != a.GUID {
		t.Fatalf("parameter change must bump the version of the same instance: %+v", b)
	}
	if v2, _ := g.s.ViewVersion("COMP-0"); v2 == v0 {
		t.Fatal("view version must change with the parameters")
	}
}

func TestPendingUntilCapacity(t *testing.T) {
	g := newGrid(t, 1, 1)
	g.request("one", nil)
	two := g.request("two", nil)
	if two.Status != master.StatusPending || !strings.Contains(two.PendingReason, "no free partition") {
		t.Fatalf("want pending with a reason, got %+v", two)
	}
	if p := g.s.Pending(); len(p) != 1 || p[0].GUID != two.GUID {
		t.Fatalf("pending list: %+v", p)
	}
	res := g.must(master.SetCapacity{By: computerActor("COMP-0"), ComputerID: "COMP-0", Partitions: []master.PartitionSpec{
		{ID: "slappart0", Addresses: []model.Address{{Iface: "lo", Addr: "10.0.0.0"}}}, {ID: "slappart1"}}})
	if res.Placed != 1 {
		t.Fatalf("new capacity should place the pending request, placed %d", res.Placed)
	}
	info, err := g.s.Instance(g.alice, two.GUID)
	if err != nil || info.Status != master.StatusAllocated || info.PartitionID != "slappart1" {
		t.Fatalf("after capacity: %+v %v", info, err)
	}
}

func TestSLAFilters(t *testing.T) {
	g := newGrid(t, 2, 2)
	jp := g.must(master.Request{By: g.alice, Title: "jp", SoftwareRelease: sr, SLA: map[string]string{"region": "jp"}}).Instance
	if jp.ComputerID != "COMP-1" {
		t.Fatalf("region=jp went to %s", jp.ComputerID)
	}
	_, err := g.apply(master.Request{By: g.alice, Title: "x", SoftwareRelease: sr, SLA: map[string]string{"regoin": "jp"}})
	if !errors.Is(err, model.ErrInvalid) || !strings.Contains(err.Error(), "regoin") {
		t.Fatalf("unknown SLA key must be refused naming it, got %v", err)
	}
	none := g.must(master.Request{By: g.alice, Title: "us", SoftwareRelease: sr, SLA: map[string]string{"region": "us"}}).Instance
	if none.Status != master.StatusPending || !strings.Contains(none.PendingReason, "region") {
		t.Fatalf("region=us: %+v", none)
	}
}

func TestTreeStateInheritanceAndDestroy(t *testing.T) {
	g := newGrid(t, 1, 4)
	root := g.request("root", nil)
	me := model.Actor{Kind: model.KindInstance, ID: root.GUID}
	child := g.must(master.Request{By: me, Title: "db", SoftwareRelease: sr}).Instance
	if child.RootTitle != "root" || child.RequestedState != model.StateStarted {
		t.Fatalf("child: %+v", child)
	}
	g.must(master.Request{By: g.alice, Title: "root", SoftwareRelease: sr, State: model.StateStopped})
	c, _ := g.s.Instance(g.alice, child.GUID)
	if c.RequestedState != model.StateStopped {
		t.Fatalf("child of a stopped root must be stopped, is %s", c.RequestedState)
	}
	g.must(master.Request{By: g.alice, Title: "root", SoftwareRelease: sr, State: model.StateStarted})
	c, _ = g.s.Instance(g.alice, child.GUID)
	if c.RequestedState != model.StateStarted {
		t.Fatalf("child must follow the root back to started, is %s", c.RequestedState)
	}
	// Another person's instance cannot request in this tree, nor see it.
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	bob := model.Actor{Kind: model.KindPerson, ID: "bob"}
	if _, err := g.s.Instance(bob, child.GUID); !errors.Is(err, master.ErrNotFound) {
		t.Fatalf("bob must not see alice's instance: %v", err)
	}
	// Destroy the root: the tree goes.
	g.must(master.Request{By: g.alice, Title: "root", SoftwareRelease: sr, State: model.StateDestroyed})
	c, _ = g.s.Instance(g.alice, child.GUID)
	if c.RequestedState != model.StateDestroyed {
		t.Fatalf("child of a destroyed root must be destroyed, is %s", c.RequestedState)
	}
	node := computerActor("COMP-0")
	// Root first: not freed while its child lives.
	g.must(master.PartitionDestroyed{By: node, ComputerID: "COMP-0", PartitionID: root.PartitionID})
	if free, _ := g.s.Capacity(); free != 2 {
		t.Fatalf("root must not be freed before its child: free=%d", free)
	}
	g.must(master.PartitionDestroyed{By: node, ComputerID: "COMP-0", PartitionID: child.PartitionID})
	g.must(master.PartitionDestroyed{By: node, ComputerID: "COMP-0", PartitionID: root.PartitionID})
	if free, busy := g.s.Capacity(); free != 4 || busy != 0 {
		t.Fatalf("after teardown free=%d busy=%d", free, busy)
	}
	// The title can be requested again: a new instance.
	again := g.request("root", nil)
	if again.GUID == root.GUID || again.Status != master.StatusAllocated {
		t.Fatalf("re-request after destroy: %+v", again)
	}
}

func TestSharedInstance(t *testing.T) {
	g := newGrid(t, 1, 2)
	sh := g.must(master.Request{By: g.alice, Title: "site", SoftwareRelease: sr, Shared: true,
		Parameters: map[string]string{"url": "http://a"}}).Instance
	if sh.Status != master.StatusPending {
		t.Fatalf("no host yet: %+v", sh)
	}
	host := g.request("frontend", nil)
	view, _ := g.s.ComputerView("COMP-0")
	var pv model.PartitionView
	for _, p := range view.Partitions {
		if p.InstanceGUID == host.GUID {
			pv = p
		}
	}
	if len(pv.SharedInstances) != 1 || pv.SharedInstances[0].GUID != sh.GUID {
		t.Fatalf("host must see the shared instance, view %+v", pv)
	}
	g.must(master.SetConnection{By: computerActor("COMP-0"), ComputerID: "COMP-0", PartitionID: pv.ID,
		SharedGUID: sh.GUID, Parameters: map[string]string{"site-url": "https://front/a"}})
	got, _ := g.s.Instance(g.alice, sh.GUID)
	if got.Connection["site-url"] != "https://front/a" {
		t.Fatalf("shared connection: %+v", got)
	}
	if free, _ := g.s.Capacity(); free != 1 {
		t.Fatalf("a shared instance takes no partition: free=%d", free)
	}
	// Another computer may not publish for it.
	g.must(master.RegisterComputer{By: g.alice, ID: "COMP-X"})
	_, err := g.apply(master.SetConnection{By: computerActor("COMP-X"), ComputerID: "COMP-0", PartitionID: pv.ID,
		Parameters: map[string]string{"x": "y"}})
	if !errors.Is(err, master.ErrForbidden) {
		t.Fatalf("foreign computer publishing: %v", err)
	}
}

func TestAuthorization(t *testing.T) {
	g := newGrid(t, 2, 2)
	a := g.request("a", nil)
	other := computerActor("COMP-1")
	cases := []struct {
		name string
		cmd  master.Command
	}{
		{"computer reports another's partition", master.ReportPartition{By: other, ComputerID: "COMP-0", PartitionID: "slappart0", State: model.ReportedStarted}},
		{"computer frees another's partition", master.PartitionDestroyed{By: other, ComputerID: "COMP-0", PartitionID: "slappart0"}},
		{"computer requests an instance", master.Request{By: other, Title: "x", SoftwareRelease: sr}},
		{"unknown person", master.Request{By: model.Actor{Kind: model.KindPerson, ID: "mallory"}, Title: "x", SoftwareRelease: sr}},
		{"person adds a person", master.AddPerson{By: g.alice, ID: "eve"}},
		{"computer bangs a foreign instance", master.Bang{By: other, InstanceGUID: a.GUID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := g.s.Snapshot()
			_, err := g.apply(tc.cmd)
			if !errors.Is(err, master.ErrForbidden) {
				t.Fatalf("want forbidden, got %v", err)
			}
			if !reflect.DeepEqual(before, g.s.Snapshot()) {
				t.Fatal("a refused command changed the state")
			}
		})
	}
}

// TestCommandWithoutActor: a command that does not say who asks it is
// refused as such, whatever the command, before anything is looked at.
func TestCommandWithoutActor(t *testing.T) {
	g := newGrid(t, 1, 1)
	a := g.request("a", nil)
	noID := model.Actor{Kind: model.KindPerson}
	cmds := []master.Command{
		master.AddPerson{ID: "eve"},
		master.RegisterComputer{ID: "COMP-9"},
		master.UpdateComputer{ComputerID: "COMP-0"},
		master.SetCapacity{ComputerID: "COMP-0"},
		master.Supply{ComputerID: "COMP-0", URL: sr, State: model.SoftwareAvailable},
		master.Request{Title: "x", SoftwareRelease: sr},
		master.Request{By: noID, Title: "x", SoftwareRelease: sr},
		master.ReportSoftware{ComputerID: "COMP-0", URL: sr},
		master.ReportPartition{ComputerID: "COMP-0", PartitionID: "slappart0", State: model.ReportedStarted},
		master.SetConnection{ComputerID: "COMP-0", PartitionID: a.PartitionID},
		master.Bang{InstanceGUID: a.GUID},
		master.PartitionDestroyed{ComputerID: "COMP-0", PartitionID: "slappart0"},
		master.Rename{InstanceGUID: a.GUID, NewTitle: "b"},
		master.PostUsage{ComputerID: "COMP-0"},
		master.RetryPending{},
	}
	for _, cmd := range cmds {
		t.Run(cmd.CommandName(), func(t *testing.T) {
			before := g.s.Snapshot()
			_, err := g.apply(cmd)
			if !errors.Is(err, master.ErrForbidden) || !strings.Contains(err.Error(), cmd.CommandName()+" command names no actor") {
				t.Fatalf("Apply(%T without actor) = %v, want forbidden naming the missing actor", cmd, err)
			}
			if !reflect.DeepEqual(before, g.s.Snapshot()) {
				t.Fatal("a refused command changed the state")
			}
		})
	}
	if _, _, err := g.s.Apply(g.now, nil); !errors.Is(err, master.ErrInvalid) {
		t.Fatalf("Apply(nil) = %v, want invalid", err)
	}
}

func TestBangBumpsTree(t *testing.T) {
	g := newGrid(t, 1, 3)
	root := g.request("root", nil)
	child := g.must(master.Request{By: model.Actor{Kind: model.KindInstance, ID: root.GUID}, Title: "c", SoftwareRelease: sr}).Instance
	g.must(master.Bang{By: model.Actor{Kind: model.KindInstance, ID: child.GUID}, InstanceGUID: child.GUID})
	r, _ := g.s.Instance(g.alice, root.GUID)
	c, _ := g.s.Instance(g.alice, child.GUID)
	if r.Version <= root.Version || c.Version <= child.Version {
		t.Fatalf("bang must bump every member: root %d->%d child %d->%d", root.Version, r.Version, child.Version, c.Version)
	}
}

func TestCapacityNeverDropsBusyPartition(t *testing.T) {
	g := newGrid(t, 1, 2)
	g.request("a", nil)
	_, err := g.apply(master.SetCapacity{By: computerActor("COMP-0"), ComputerID: "COMP-0",
		Partitions: []master.PartitionSpec{{ID: "slappart1"}}})
	if !errors.Is(err, master.ErrConflict) || !strings.Contains(err.Error(), "slappart0") {
		t.Fatalf("removing a busy partition: %v", err)
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	g := newGrid(t, 2, 3)
	root := g.request("root", map[string]string{"a": "1"})
	g.must(master.Request{By: model.Actor{Kind: model.KindInstance, ID: root.GUID}, Title: "c", SoftwareRelease: sr})
	g.must(master.Request{By: g.alice, Title: "s", SoftwareRelease: sr, Shared: true})
	g.must(master.ReportPartition{By: computerActor("COMP-0"), ComputerID: "COMP-0", PartitionID: "slappart0", State: model.ReportedStarted})
	// Replaying the persisted mutations (encoded and decoded) must give the
	// same state as the snapshot.
	var stored []master.Mutation
	latest := map[string]int{}
	for _, m := range g.muts {
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		k := string(m.Kind) + "\x00" + m.Key
		if m.Delete {
			delete(latest, k)
			continue
		}
		d, err := master.DecodeEntity(m.Kind, m.Key, data)
		if err != nil {
			t.Fatal(err)
		}
		if i, ok := latest[k]; ok {
			stored[i] = d
		} else {
			latest[k] = len(stored)
			stored = append(stored, d)
		}
	}
	var kept []master.Mutation
	for k, i := range latest {
		_ = k
		kept = append(kept, stored[i])
	}
	r, err := master.Restore(master.DefaultConfig(), kept)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(encodeAll(t, g.s.Snapshot()), encodeAll(t, r.Snapshot())) {
		t.Fatal("restored state differs from the original")
	}
	v1, _ := g.s.ComputerView("COMP-0")
	v2, _ := r.ComputerView("COMP-0")
	if !reflect.DeepEqual(v1, v2) {
		t.Fatal("restored view differs")
	}
}

func encodeAll(t *testing.T, ms []master.Mutation) []string {
	var out []string
	for _, m := range ms {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(m.Kind)+" "+m.Key+" "+string(b))
	}
	return out
}

// TestPublicationBumpsRequester: when an instance publishes new connection
// parameters, the instance that requested it is processed again (its
// version changes, as SlapOS's master bangs the requester) so that it reads
// them; the publisher's own version, and a root's requester (a person),
// stay as they are; the same publication again changes nothing.
func TestPublicationBumpsRequester(t *testing.T) {
	g := newGrid(t, 1, 3)
	root := g.request("root", nil)
	me := model.Actor{Kind: model.KindInstance, ID: root.GUID}
	child := g.must(master.Request{By: me, Title: "db", SoftwareRelease: sr}).Instance
	version := func(guid string) uint64 {
		i, err := g.s.Instance(g.alice, guid)
		if err != nil {
			t.Fatal(err)
		}
		return i.Version
	}
	node := computerActor("COMP-0")
	publish := func(pid, url string) {
		g.must(master.SetConnection{By: node, ComputerID: "COMP-0", PartitionID: pid, Parameters: map[string]string{"url": url}})
	}
	r0, c0 := version(root.GUID), version(child.GUID)
	publish(child.PartitionID, "db://1")
	r1, c1 := version(root.GUID), version(child.GUID)
	if r1 <= r0 {
		t.Errorf("the requester's version stayed at %d after its child published", r0)
	}
	if c1 != c0 {
		t.Errorf("the publisher's version changed: %d, then %d", c0, c1)
	}
	publish(child.PartitionID, "db://1")
	if r2 := version(root.GUID); r2 != r1 {
		t.Errorf("the same publication again bumped the requester: %d, then %d", r1, r2)
	}
	publish(root.PartitionID, "http://root")
	if r3 := version(root.GUID); r3 != r1 {
		t.Errorf("a root publishing bumped itself: %d, then %d", r1, r3)
	}
}

// A request's parameters are copied, unless the configuration hands them
// over (the simulator, which never changes a map it sent): then the state
// keeps the caller's map, for a new instance and for a change alike.
func TestRequestParametersHandedOver(t *testing.T) {
	for _, handed := range []bool{false, true} {
		t.Run(fmt.Sprintf("handed=%v", handed), func(t *testing.T) {
			cfg := master.DefaultConfig()
			cfg.RequestParametersHandedOver = handed
			g := newGridConfig(t, cfg, 1, 2)
			for i, rev := range []string{"1", "2"} {
				params := map[string]string{"rev": rev}
				guid := g.request("a", params).GUID
				params["rev"] = "changed by the caller"
				info, err := g.s.Instance(model.Admin, guid)
				if err != nil {
					t.Fatal(err)
				}
				want := rev
				if handed {
					want = "changed by the caller"
				}
				if got := info.Parameters["rev"]; got != want {
					t.Errorf("request %d: the state holds rev=%q, want %q", i, got, want)
				}
			}
		})
	}
}
