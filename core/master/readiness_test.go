package master_test

import (
	"testing"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

func TestInstanceReadiness(t *testing.T) {
	placed := master.InstanceInfo{GUID: "SOFTINST-1", Status: master.StatusAllocated, ComputerID: "COMP-1", PartitionID: "slappart0",
		RequestedState: model.StateStarted}
	with := func(f func(*master.InstanceInfo)) master.InstanceInfo {
		i := placed
		f(&i)
		return i
	}
	for _, tt := range []struct {
		name   string
		info   master.InstanceInfo
		want   master.Readiness
		detail string
	}{
		{"pending", with(func(i *master.InstanceInfo) {
			i.Status, i.PendingReason = master.StatusPending, "1 computer: 1 region!=mars"
		}),
			master.ReadyPending, "1 computer: 1 region!=mars"},
		{"placed, not reported", placed, master.ReadyWaiting, "placed on COMP-1/slappart0, not reported yet; waiting for its node to start it"},
		{"started without connection", with(func(i *master.InstanceInfo) { i.ReportedState = model.ReportedStarted }),
			master.ReadyWaiting, "started on COMP-1/slappart0; waiting for its connection parameters"},
		{"started and published", with(func(i *master.InstanceInfo) {
			i.ReportedState, i.Connection = model.ReportedStarted, map[string]string{"url": "http://[::1]:8080/"}
		}), master.ReadyDone, "started on COMP-1/slappart0, 1 connection parameters published"},
		{"error: first line", with(func(i *master.InstanceInfo) {
			i.ReportedState, i.ReportedError = model.ReportedError, "\nbuildout failed: no such section\n  at line 3\n"
		}), master.ReadyError, "buildout failed: no such section"},
		{"stopping", with(func(i *master.InstanceInfo) {
			i.RequestedState, i.ReportedState = model.StateStopped, model.ReportedStarted
		}),
			master.ReadyWaiting, "placed on COMP-1/slappart0, reported started; waiting for its node to stop it"},
		{"stopped", with(func(i *master.InstanceInfo) {
			i.RequestedState, i.ReportedState = model.StateStopped, model.ReportedStopped
		}),
			master.ReadyDone, "stopped on COMP-1/slappart0"},
		{"destroyed", with(func(i *master.InstanceInfo) {
			i.Status, i.RequestedState = master.StatusDestroyed, model.StateDestroyed
		}),
			master.ReadyDone, "destroyed"},
		{"shared", with(func(i *master.InstanceInfo) {
			i.Shared, i.HostGUID, i.ComputerID, i.PartitionID = true, "SOFTINST-9", "", ""
		}), master.ReadyWaiting, "placed in shared host SOFTINST-9, not reported yet; waiting for its node to start it"},
	} {
		got, detail := master.InstanceReadiness(tt.info)
		if got != tt.want || detail != tt.detail {
			t.Errorf("%s: %s %q, want %s %q", tt.name, got, detail, tt.want, tt.detail)
		}
	}
}
