package stackkit

import (
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/nodeagent/agent"
)

func TestWaiting(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	quiet := 2 * time.Second
	ev := func(ago time.Duration) []agent.ActionEvent {
		return []agent.ActionEvent{{At: now.Add(-ago), Kind: "end", Action: "start-partition", Partition: "slappart0"}}
	}
	started := agent.PartitionStatus{ID: "slappart0", Requested: model.StateStarted, ViewInstance: "S-1", Running: true,
		PromisesChecked: now.Add(-time.Second)}
	tests := []struct {
		name       string
		st         agent.NodeStatus
		view       uint64
		promiseSet map[string]time.Time
		want       string // in the reason; "" converged
	}{
		{"converged", agent.NodeStatus{HasView: true, ViewVersion: 4, Converged: true, Events: ev(time.Minute)}, 4, nil, ""},
		{"acted lately", agent.NodeStatus{HasView: true, ViewVersion: 4, Converged: true, Events: ev(time.Second)}, 4, nil, "acted less than"},
		{"an older view", agent.NodeStatus{HasView: true, ViewVersion: 3, Converged: true}, 4, nil, "holds view version 3"},
		{"no view", agent.NodeStatus{Converged: false, Waiting: []string{"no view fetched yet"}}, 4, nil, "view version 0"},
		{"its plan", agent.NodeStatus{HasView: true, ViewVersion: 4, Waiting: []string{"a planned", "b planned"}}, 4, nil, "a planned (and 1 more: b planned)"},
		{"promises changed after the last check", agent.NodeStatus{HasView: true, ViewVersion: 4, Converged: true,
			Partitions: []agent.PartitionStatus{started}}, 4, map[string]time.Time{"slappart0": now.Add(-time.Second / 2)}, "not checked since"},
		{"promises checked since the change", agent.NodeStatus{HasView: true, ViewVersion: 4, Converged: true,
			Partitions: []agent.PartitionStatus{started}}, 4, map[string]time.Time{"slappart0": now.Add(-2 * time.Second)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Waiting(tt.st, tt.view, now, quiet, tt.promiseSet)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("Waiting = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestActivityAndNodeState(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := agent.NodeStatus{ComputerID: "COMP-1", MaxConcurrent: 1, Events: []agent.ActionEvent{
		{At: at, Kind: "start", Action: "configure-partition", Partition: "slappart0", Reason: "new"},
		{At: at.Add(time.Second), Kind: "end", Action: "configure-partition", Partition: "slappart0", Reason: "new", Instance: "S-0"},
		{At: at.Add(2 * time.Second), Kind: "start", Action: "configure-partition", Partition: "slappart1", Reason: "changed"},
		{At: at.Add(3 * time.Second), Kind: "end", Action: "configure-partition", Partition: "slappart1", Reason: "changed", Instance: "S-2", Error: "boom"},
		{At: at.Add(4 * time.Second), Kind: "end", Action: "start-partition", Partition: "slappart0"},
	},
		Partitions: []agent.PartitionStatus{{ID: "slappart0", InstanceGUID: "S-1", Running: true, AppliedVersion: 2}},
		Software:   []agent.SoftwareStatus{{URL: "u1", Installed: true}},
	}
	// slappart0 was configured for S-0 and holds S-1 since: the
	// configuration is S-0's.
	a := Activity(st)
	if a.MaxConcurrent != 1 || len(a.Configurations) != 2 || !a.Configurations[0].OK || a.Configurations[1].OK ||
		a.Configurations[0].InstanceGUID != "S-0" || a.Configurations[1].InstanceGUID != "S-2" ||
		!a.Configurations[1].At.Equal(at.Add(3*time.Second)) {
		t.Errorf("Activity = %+v: each configuration credited to the instance its event names", a)
	}
	ns := NodeState(st, false, []string{"u1", "u2"})
	if !ns.Software["u1"] || ns.Software["u2"] || len(ns.Partitions) != 1 || ns.Partitions[0].Running || ns.Partitions[0].InstanceGUID != "S-1" {
		t.Errorf("NodeState of a node down = %+v: nothing runs, u1 installed", ns)
	}
	if ns := NodeState(st, true, nil); !ns.Partitions[0].Running {
		t.Errorf("NodeState of a node up = %+v", ns)
	}
}
