package server

import (
	"context"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// TestClosedComputerHostsNoForeignSharedInstance: a person naming another
// person's instance on a closed computer as the host of a shared instance
// is answered pending with the reason, and the host's node never receives
// the requester's parameters; once the computer is open, it is hosted.
func TestClosedComputerHostsNoForeignSharedInstance(t *testing.T) {
	w := newAuthzWorld(t)
	ctx := context.Background()
	closed, open := model.ScopeClosed, model.ScopeOpen
	_, err := w.alice.UpdateComputer(ctx, "COMP-A", api.UpdateComputerRequest{Scope: &closed})
	noErr(t, err)
	site, err := w.bob.Request(ctx, api.InstanceRequest{Title: "site", SoftwareRelease: softURL, Shared: true,
		Parameters: map[string]string{"backend": "http://bob.example"},
		SLA:        map[string]string{"instance_guid": w.aRoot.GUID}})
	noErr(t, err)
	if site.Status != api.StatusPending || !strings.Contains(site.PendingReason, "closed to the marketplace") {
		t.Fatalf("shared instance on a closed computer of another person: %s %q", site.Status, site.PendingReason)
	}
	view, _, _, err := w.compA.ComputerView(ctx, "COMP-A", "")
	noErr(t, err)
	for _, p := range view.Partitions {
		if len(p.SharedInstances) != 0 {
			t.Errorf("COMP-A's node received shared instances %+v", p.SharedInstances)
		}
	}
	_, err = w.alice.UpdateComputer(ctx, "COMP-A", api.UpdateComputerRequest{Scope: &open})
	noErr(t, err)
	got, err := w.bob.Instance(ctx, site.GUID)
	noErr(t, err)
	if got.Status != api.StatusAllocated || got.HostGUID != w.aRoot.GUID {
		t.Errorf("after COMP-A is opened: %s %q", got.Status, got.PendingReason)
	}
}
