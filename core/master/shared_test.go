package master_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestSharedInstanceHostRule: a shared instance is hosted by another
// person's instance only on a computer open to the marketplace, and then by
// a host of its software type; on a closed computer, only the computer
// owner's own requests are hosted. Every combination of requester (the
// computer's owner or another person), scope, placement (instance_guid or
// automatic) and software type (the host's or another).
func TestSharedInstanceHostRule(t *testing.T) {
	type tc struct {
		owner, open, guid, typeMatch bool
		hosted                       bool
		reason                       string // in the pending reason
	}
	var cases []tc
	for _, owner := range []bool{true, false} {
		for _, open := range []bool{true, false} {
			for _, guid := range []bool{true, false} {
				for _, match := range []bool{true, false} {
					c := tc{owner: owner, open: open, guid: guid, typeMatch: match}
					switch {
					case !guid && !match:
						c.reason = "no started instance of " + sr + " type default to host it"
					case !open && !owner && guid:
						c.reason = "runs on computer COMP-A, closed to the marketplace: it hosts only its owner's shared instances"
					case !open && !owner:
						c.reason = "no started instance of " + sr + " type front to host it (1 on computers closed to the marketplace, which host only their owner's shared instances)"
					case !owner && !match:
						c.reason = "belongs to another person and runs software type front: it hosts only shared instances of that type, not default"
					default:
						c.hosted = true
					}
					cases = append(cases, c)
				}
			}
		}
	}
	for _, c := range cases {
		name := fmt.Sprintf("owner=%v/open=%v/guid=%v/type-match=%v", c.owner, c.open, c.guid, c.typeMatch)
		t.Run(name, func(t *testing.T) {
			scope := model.ScopeClosed
			if c.open {
				scope = model.ScopeOpen
			}
			g, host := sharedWorld(t, scope)
			by := g.alice
			if !c.owner {
				by = model.Actor{Kind: model.KindPerson, ID: "bob"}
			}
			req := master.Request{By: by, Title: "site", SoftwareRelease: sr, Shared: true, SoftwareType: "front",
				Parameters: map[string]string{"backend": "http://site"}}
			if !c.typeMatch {
				req.SoftwareType = "default"
			}
			if c.guid {
				req.SLA = map[string]string{model.SLAInstanceGUID: host.GUID}
			}
			got := g.must(req).Instance
			if c.hosted {
				if got.Status != master.StatusAllocated || got.HostGUID != host.GUID {
					t.Fatalf("want hosted by %s, got %s (%s)", host.GUID, got.Status, got.PendingReason)
				}
				return
			}
			if got.Status != master.StatusPending || got.HostGUID != "" {
				t.Fatalf("want pending, got %s on %s", got.Status, got.HostGUID)
			}
			want := c.reason
			if c.guid {
				want = "instance_guid=" + host.GUID + ": " + want
			}
			if got.PendingReason != want {
				t.Errorf("pending reason\n got %q\nwant %q", got.PendingReason, want)
			}
			// The host's node sees nothing of it.
			view, err := g.s.ComputerView("COMP-A")
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range view.Partitions {
				if len(p.SharedInstances) != 0 {
					t.Errorf("partition %s lists shared instances %+v", p.ID, p.SharedInstances)
				}
			}
		})
	}
}

// TestSharedInstanceOnAComputerClosedLater: a computer closed after another
// person's instance was placed there hosts no shared instance by that
// instance, even for the computer's owner; opening it again lets the
// pending one in.
func TestSharedInstanceOnAComputerClosedLater(t *testing.T) {
	g, _ := sharedWorld(t, model.ScopeOpen)
	bob := model.Actor{Kind: model.KindPerson, ID: "bob"}
	bobs := g.must(master.Request{By: bob, Title: "bob-front", SoftwareRelease: sr, SoftwareType: "front",
		SLA: map[string]string{model.SLAComputerGUID: "COMP-A"}}).Instance
	closed := model.ScopeClosed
	g.must(master.UpdateComputer{By: g.alice, ComputerID: "COMP-A", Scope: &closed})
	got := g.must(master.Request{By: g.alice, Title: "site", SoftwareRelease: sr, Shared: true, SoftwareType: "front",
		SLA: map[string]string{model.SLAInstanceGUID: bobs.GUID}}).Instance
	want := "instance_guid=" + bobs.GUID + ": runs on computer COMP-A, closed to the marketplace: only its owner's own instances host shared instances there"
	if got.Status != master.StatusPending || got.PendingReason != want {
		t.Fatalf("got %s %q, want pending %q", got.Status, got.PendingReason, want)
	}
	open := model.ScopeOpen
	g.must(master.UpdateComputer{By: g.alice, ComputerID: "COMP-A", Scope: &open})
	if info, _ := g.s.Instance(g.alice, got.GUID); info.Status != master.StatusAllocated || info.HostGUID != bobs.GUID {
		t.Fatalf("after opening the computer: %s %q", info.Status, info.PendingReason)
	}
}

// sharedWorld: alice owns COMP-A (scope as given, 3 partitions, sr
// supplied) and runs "host" of type front there; bob is a person too.
func sharedWorld(t *testing.T, scope model.Scope) (*grid, *master.InstanceInfo) {
	t.Helper()
	g := &grid{t: t, s: master.New(master.DefaultConfig()), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g.alice = model.Actor{Kind: model.KindPerson, ID: "alice"}
	g.must(master.AddPerson{By: model.Admin, ID: "alice"})
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	g.must(master.RegisterComputer{By: g.alice, ID: "COMP-A", Scope: scope})
	g.must(master.SetCapacity{By: computerActor("COMP-A"), ComputerID: "COMP-A",
		Partitions: []master.PartitionSpec{{ID: "slappart0"}, {ID: "slappart1"}, {ID: "slappart2"}}})
	g.must(master.Supply{By: g.alice, ComputerID: "COMP-A", URL: sr, State: model.SoftwareAvailable})
	host := g.must(master.Request{By: g.alice, Title: "host", SoftwareRelease: sr, SoftwareType: "front",
		SLA: map[string]string{model.SLAComputerGUID: "COMP-A"}}).Instance
	if host.Status != master.StatusAllocated || !strings.HasPrefix(host.PartitionID, "slappart") {
		t.Fatalf("host not placed: %+v", host)
	}
	return g, host
}
