package converge

import (
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

func TestApplySuccess(t *testing.T) {
	failed := PartitionActual{AppliedVersion: 2, InstanceGUID: "S-1", LastSuccess: t0.Add(-time.Hour),
		Failures: 2, LastFailure: t0.Add(-time.Minute), FailedVersion: 3, Running: true}
	later := t0.Add(time.Minute)
	tests := []struct {
		name   string
		before PartitionActual
		act    Action
		want   PartitionActual
	}{
		{
			name:   "configure before a start keeps the failure record of its version",
			before: failed,
			act:    Action{Kind: ConfigurePartition, PartitionID: "p", Version: 3, InstanceGUID: "S-1", State: model.StateStarted},
			want: PartitionActual{AppliedVersion: 3, InstanceGUID: "S-1", LastSuccess: later,
				Failures: 2, LastFailure: t0.Add(-time.Minute), FailedVersion: 3, Running: true},
		},
		{
			name:   "configure of a stopped partition clears the failure record",
			before: failed,
			act:    Action{Kind: ConfigurePartition, PartitionID: "p", Version: 3, InstanceGUID: "S-1", State: model.StateStopped},
			want:   PartitionActual{AppliedVersion: 3, InstanceGUID: "S-1", LastSuccess: later, Running: true},
		},
		{
			name:   "configure of another version clears a stale failure record",
			before: failed,
			act:    Action{Kind: ConfigurePartition, PartitionID: "p", Version: 4, InstanceGUID: "S-1", State: model.StateStarted},
			want:   PartitionActual{AppliedVersion: 4, InstanceGUID: "S-1", LastSuccess: later, Running: true},
		},
		{
			name:   "start clears failures",
			before: failed,
			act:    Action{Kind: StartPartition, PartitionID: "p", Version: 3},
			want:   PartitionActual{AppliedVersion: 2, InstanceGUID: "S-1", LastSuccess: t0.Add(-time.Hour), Running: true},
		},
		{
			name:   "stop only stops",
			before: failed,
			act:    Action{Kind: StopPartition, PartitionID: "p", Version: 3},
			want: PartitionActual{AppliedVersion: 2, InstanceGUID: "S-1", LastSuccess: t0.Add(-time.Hour),
				Failures: 2, LastFailure: t0.Add(-time.Minute), FailedVersion: 3},
		},
		{
			name:   "destroy leaves a clean partition",
			before: failed,
			act:    Action{Kind: DestroyPartition, PartitionID: "p", Version: 3},
			want:   PartitionActual{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Actual{Partitions: map[string]PartitionActual{"p": tt.before}}
			a.ApplySuccess(tt.act, later)
			if got := a.Partitions["p"]; got != tt.want {
				t.Errorf("after %v:\n got %+v\nwant %+v", tt.act, got, tt.want)
			}
		})
	}
}

func TestApplySoftware(t *testing.T) {
	var a Actual // nil maps are created
	a.ApplyFailure(Action{Kind: InstallSoftware, URL: swA}, t0)
	a.ApplyFailure(Action{Kind: InstallSoftware, URL: swA}, t0.Add(time.Minute))
	if got, want := a.Software[swA], (SoftwareActual{Failures: 2, LastFailure: t0.Add(time.Minute)}); got != want {
		t.Fatalf("after two failed installs: %+v, want %+v", got, want)
	}
	a.ApplySuccess(Action{Kind: InstallSoftware, URL: swA}, t0.Add(time.Hour))
	if got, want := a.Software[swA], (SoftwareActual{Installed: true}); got != want {
		t.Fatalf("after a successful install: %+v, want %+v", got, want)
	}
	a.ApplyFailure(Action{Kind: RemoveSoftware, URL: swA}, t0.Add(2*time.Hour))
	if got, want := a.Software[swA], (SoftwareActual{Installed: true, Failures: 1, LastFailure: t0.Add(2 * time.Hour)}); got != want {
		t.Fatalf("after a failed removal: %+v, want %+v", got, want)
	}
	a.ApplySuccess(Action{Kind: RemoveSoftware, URL: swA}, t0.Add(3*time.Hour))
	if _, ok := a.Software[swA]; ok {
		t.Fatalf("after a successful removal the release is still recorded: %+v", a.Software)
	}
}

func TestApplyFailure(t *testing.T) {
	base := PartitionActual{AppliedVersion: 2, InstanceGUID: "S-1", LastSuccess: t0.Add(-time.Hour), Running: true}
	tests := []struct {
		name string
		act  Action
		want PartitionActual
	}{
		{
			name: "failed configure holds the new instance's files",
			act:  Action{Kind: ConfigurePartition, PartitionID: "p", Version: 5, InstanceGUID: "S-2"},
			want: PartitionActual{AppliedVersion: 2, InstanceGUID: "S-2", LastSuccess: t0.Add(-time.Hour),
				Failures: 1, LastFailure: t0, FailedVersion: 5, Running: true},
		},
		{
			name: "failed start leaves services stopped",
			act:  Action{Kind: StartPartition, PartitionID: "p", Version: 2},
			want: PartitionActual{AppliedVersion: 2, InstanceGUID: "S-1", LastSuccess: t0.Add(-time.Hour),
				Failures: 1, LastFailure: t0, FailedVersion: 2},
		},
		{
			name: "failed destroy leaves the files",
			act:  Action{Kind: DestroyPartition, PartitionID: "p", Version: 3},
			want: PartitionActual{AppliedVersion: 2, InstanceGUID: "S-1", LastSuccess: t0.Add(-time.Hour),
				Failures: 1, LastFailure: t0, FailedVersion: 3, Running: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Actual{Partitions: map[string]PartitionActual{"p": base}}
			a.ApplyFailure(tt.act, t0)
			if got := a.Partitions["p"]; got != tt.want {
				t.Errorf("after failed %v:\n got %+v\nwant %+v", tt.act, got, tt.want)
			}
		})
	}
}

// TestBackOffNeverEveryMinute plans every minute for a day with a partition
// whose work always fails at one step, and checks the attempts back off:
// growing intervals, capped at RetryMax, a bounded count.
func TestBackOffNeverEveryMinute(t *testing.T) {
	for _, failing := range []ActionKind{ConfigurePartition, StartPartition, DestroyPartition, InstallSoftware} {
		t.Run(string(failing), func(t *testing.T) {
			cfg := slaposConfig
			state := model.StateStarted
			if failing == DestroyPartition {
				state = model.StateDestroyed
			}
			view := model.ComputerView{
				Software:   []model.SoftwareView{avail(swA)},
				Partitions: []model.PartitionView{inst("slappart0", "S-1", swA, state, 1)},
			}
			actual := Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 0, true)}}
			if failing == InstallSoftware {
				actual.Software = nil
			}
			var attempts []time.Time
			for now := t0; now.Before(t0.Add(24 * time.Hour)); now = now.Add(time.Minute) {
				plan := PlanNode(view, actual, now, cfg)
				for _, act := range plan.Actions {
					if act.Kind == failing {
						attempts = append(attempts, now)
						actual.ApplyFailure(act, now)
						break // duty 3: skip the rest of the partition's actions
					}
					actual.ApplySuccess(act, now)
				}
			}
			t.Logf("%d attempts in 24h", len(attempts))
			if len(attempts) < 10 || len(attempts) > 30 {
				t.Fatalf("%d attempts in 24h planning every minute, want between 10 and 30 (back-off capped at %v)", len(attempts), cfg.RetryMax)
			}
			prev := time.Duration(0)
			for i := 1; i < len(attempts); i++ {
				gap := attempts[i].Sub(attempts[i-1])
				if gap < prev {
					t.Errorf("attempt %d came %v after the previous one, less than the gap before (%v)", i, gap, prev)
				}
				if gap > cfg.RetryMax+time.Minute {
					t.Errorf("attempt %d came %v after the previous one: more than RetryMax %v (+1 planning period)", i, gap, cfg.RetryMax)
				}
				prev = gap
			}
			if prev < cfg.RetryMax {
				t.Errorf("last gap %v, want the cap %v after a day of failures", prev, cfg.RetryMax)
			}
		})
	}
}
