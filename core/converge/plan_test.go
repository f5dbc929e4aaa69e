package converge

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	swA = "https://sw.example/a/software.cfg"
	swB = "https://sw.example/b/software.cfg"
	swC = "https://sw.example/c/software.cfg"
)

// slaposConfig is SlapOS's periodicity (24h) with a back-off from one minute
// to one hour, every field set: tests read its RetryMax as the cap.
var slaposConfig = Config{
	MaximumPeriodicity: DefaultMaximumPeriodicity,
	RetryBase:          DefaultRetryBase,
	RetryMax:           DefaultRetryMax,
}

func avail(url string) model.SoftwareView {
	return model.SoftwareView{URL: url, Requested: model.SoftwareAvailable}
}

func destroyed(url string) model.SoftwareView {
	return model.SoftwareView{URL: url, Requested: model.SoftwareDestroyed}
}

// inst is a partition holding an instance.
func inst(id, guid, url string, state model.RequestedState, version uint64) model.PartitionView {
	return model.PartitionView{ID: id, InstanceGUID: guid, SoftwareRelease: url, RequestedState: state, Version: version}
}

// free is a free partition as the master shows it.
func free(id string) model.PartitionView {
	return model.PartitionView{ID: id, RequestedState: model.StateDestroyed}
}

// applied is a partition configured an hour before t0.
func applied(guid string, version uint64, running bool) PartitionActual {
	return PartitionActual{AppliedVersion: version, InstanceGUID: guid, LastSuccess: t0.Add(-time.Hour), Running: running}
}

func installed() SoftwareActual { return SoftwareActual{Installed: true} }

// brief renders an action as "kind target reason".
func brief(a Action) string {
	target := a.PartitionID
	if a.Kind == InstallSoftware || a.Kind == RemoveSoftware {
		target = a.URL
	}
	return fmt.Sprintf("%s %s %s", a.Kind, target, a.Reason)
}

func briefs(acts []Action) []string {
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = brief(a)
	}
	return out
}

func TestPlanNode(t *testing.T) {
	started, stopped, destroy := model.StateStarted, model.StateStopped, model.StateDestroyed
	tests := []struct {
		name    string
		sw      []model.SoftwareView
		parts   []model.PartitionView
		actual  Actual
		cfg     Config
		want    []string
		requeue time.Duration
		waiting []string // substrings, one per note, in order
	}{
		{name: "empty node plans nothing"},
		{
			name: "software requested and missing is installed",
			sw:   []model.SoftwareView{avail(swB), avail(swA)},
			want: []string{"install-software " + swA + " requested", "install-software " + swB + " requested"},
		},
		{
			name:   "software installed is left alone",
			sw:     []model.SoftwareView{avail(swA)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()}},
		},
		{
			name: "failed install waits for its back-off",
			sw:   []model.SoftwareView{avail(swA)},
			actual: Actual{Software: map[string]SoftwareActual{
				swA: {Failures: 1, LastFailure: t0.Add(-20 * time.Second)}}},
			requeue: 40 * time.Second,
			waiting: []string{"software " + swA + ": install failed 1 times, next retry at 2025-03-01T12:00:40Z"},
		},
		{
			name: "failed install is retried once its back-off elapsed",
			sw:   []model.SoftwareView{avail(swA)},
			actual: Actual{Software: map[string]SoftwareActual{
				swA: {Failures: 2, LastFailure: t0.Add(-2 * time.Minute)}}},
			want: []string{"install-software " + swA + " retry"},
		},
		{
			name:   "software requested destroyed and unused is removed",
			sw:     []model.SoftwareView{destroyed(swA)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()}},
			want:   []string{"remove-software " + swA + " requested"},
		},
		{
			name:   "software requested destroyed and not on disk needs nothing",
			sw:     []model.SoftwareView{destroyed(swA)},
			actual: Actual{Software: map[string]SoftwareActual{swA: {}}},
		},
		{
			name:  "software requested destroyed is kept while a partition uses it",
			sw:    []model.SoftwareView{destroyed(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, stopped, 1)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 1, false)}},
			requeue: 23 * time.Hour,
			waiting: []string{"software " + swA + " is requested destroyed but slappart0 still uses it: kept"},
		},
		{
			name:  "software is removed after the destroyed partition that used it",
			sw:    []model.SoftwareView{destroyed(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, destroy, 2)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 1, true)}},
			want: []string{
				"stop-partition slappart0 requested",
				"destroy-partition slappart0 requested",
				"remove-software " + swA + " requested",
			},
		},
		{
			name: "software absent from the view and unused is an orphan",
			actual: Actual{Software: map[string]SoftwareActual{
				swA: installed(), swB: {Failures: 1, LastFailure: t0.Add(-time.Hour)}, swC: {}}},
			want: []string{"remove-software " + swA + " orphan", "remove-software " + swB + " retry"},
		},
		{
			name:  "software absent from the view but used is kept",
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 1)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 1, true)}},
			requeue: 23 * time.Hour,
		},
		{
			name:   "new instance is configured then started",
			sw:     []model.SoftwareView{avail(swA)},
			parts:  []model.PartitionView{inst("slappart0", "S-1", swA, started, 3)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()}},
			want: []string{
				"configure-partition slappart0 new",
				"start-partition slappart0 requested",
			},
			requeue: 24 * time.Hour,
		},
		{
			name:   "empty requested state reads as started",
			sw:     []model.SoftwareView{avail(swA)},
			parts:  []model.PartitionView{inst("slappart0", "S-1", swA, "", 3)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()}},
			want: []string{
				"configure-partition slappart0 new",
				"start-partition slappart0 requested",
			},
			requeue: 24 * time.Hour,
		},
		{
			name:    "new instance waits for its software, which is installed",
			sw:      []model.SoftwareView{avail(swA)},
			parts:   []model.PartitionView{inst("slappart0", "S-1", swA, started, 3)},
			want:    []string{"install-software " + swA + " requested"},
			waiting: []string{"slappart0 waits for software " + swA + ": install planned"},
		},
		{
			name:    "software needed but not supplied is installed",
			parts:   []model.PartitionView{inst("slappart0", "S-1", swB, started, 3)},
			want:    []string{"install-software " + swB + " requested"},
			waiting: []string{"slappart0 waits for software " + swB + ": install planned"},
		},
		{
			name:    "software needed but requested destroyed is not installed",
			sw:      []model.SoftwareView{destroyed(swA)},
			parts:   []model.PartitionView{inst("slappart0", "S-1", swA, started, 3)},
			waiting: []string{"slappart0 waits for software " + swA + ": it is requested destroyed on this computer"},
		},
		{
			name:  "partition waits while its software install backs off",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 3)},
			actual: Actual{Software: map[string]SoftwareActual{
				swA: {Failures: 3, LastFailure: t0.Add(-time.Minute)}}},
			requeue: 3 * time.Minute,
			waiting: []string{
				"slappart0 waits for software " + swA + ": install failed 3 times, next retry at 2025-03-01T12:03:00Z",
				"software " + swA + ": install failed 3 times",
			},
		},
		{
			name:  "stopped partition waiting for software is still stopped",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, stopped, 4)},
			actual: Actual{Partitions: map[string]PartitionActual{
				"slappart0": applied("S-1", 3, true)}},
			want: []string{
				"stop-partition slappart0 requested",
				"install-software " + swA + " requested",
			},
			waiting: []string{"slappart0 waits for software " + swA + ": install planned"},
		},
		{
			name:  "changed version is configured then restarted",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 4)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 3, true)}},
			want: []string{
				"configure-partition slappart0 changed",
				"start-partition slappart0 requested",
			},
			requeue: 24 * time.Hour,
		},
		{
			name:  "unchanged running partition needs nothing until periodic",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 4)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 4, true)}},
			requeue: 23 * time.Hour,
		},
		{
			name:  "partition not processed for maximum periodicity is reconfigured",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 4)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": {
					AppliedVersion: 4, InstanceGUID: "S-1", LastSuccess: t0.Add(-25 * time.Hour), Running: true}}},
			want: []string{
				"configure-partition slappart0 periodic",
				"start-partition slappart0 requested",
			},
			requeue: 24 * time.Hour,
		},
		{
			name:  "periodic reprocessing can be disabled",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 4)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": {
					AppliedVersion: 4, InstanceGUID: "S-1", LastSuccess: t0.Add(-25 * time.Hour), Running: true}}},
			cfg: Config{MaximumPeriodicity: -1},
		},
		{
			name:  "custom periodicity",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 4)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 4, true)}},
			cfg:     Config{MaximumPeriodicity: 90 * time.Minute},
			requeue: 30 * time.Minute,
		},
		{
			name:  "started partition not running is started",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 4)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 4, false)}},
			want:    []string{"start-partition slappart0 requested"},
			requeue: 23 * time.Hour,
		},
		{
			name:  "stopped partition with a new version is stopped then configured",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, stopped, 5)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 4, true)}},
			want: []string{
				"stop-partition slappart0 requested",
				"configure-partition slappart0 changed",
			},
			requeue: 24 * time.Hour,
		},
		{
			name:  "stopped partition unchanged but running is stopped",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, stopped, 5)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 5, true)}},
			want:    []string{"stop-partition slappart0 requested"},
			requeue: 23 * time.Hour,
		},
		{
			name:  "stopped partition unchanged and stopped needs nothing",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, stopped, 5)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 5, false)}},
			requeue: 23 * time.Hour,
		},
		{
			name:  "partition requested destroyed is stopped then destroyed",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, destroy, 6)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 5, true)}},
			want: []string{
				"stop-partition slappart0 requested",
				"destroy-partition slappart0 requested",
			},
		},
		{
			name:  "partition requested destroyed and already clean needs nothing",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, destroy, 6)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": {}}},
		},
		{
			name:   "free partition holding files is destroyed as an orphan",
			parts:  []model.PartitionView{free("slappart0")},
			actual: Actual{Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 5, false)}},
			want:   []string{"destroy-partition slappart0 orphan"},
		},
		{
			name:  "partition holding another instance is wiped before the new one",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-2", swA, started, 1)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": applied("S-1", 7, true)}},
			want: []string{
				"stop-partition slappart0 changed",
				"destroy-partition slappart0 changed",
				"configure-partition slappart0 new",
				"start-partition slappart0 requested",
			},
			requeue: 24 * time.Hour,
		},
		{
			name:  "partition holding another instance is wiped even if the new one waits",
			sw:    []model.SoftwareView{avail(swB)},
			parts: []model.PartitionView{inst("slappart0", "S-2", swB, stopped, 1)},
			actual: Actual{Partitions: map[string]PartitionActual{
				"slappart0": applied("S-1", 7, false)}},
			want: []string{
				"destroy-partition slappart0 changed",
				"install-software " + swB + " requested",
			},
			waiting: []string{"slappart0 waits for software " + swB + ": install planned"},
		},
		{
			name:  "failed partition waits for its back-off",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 5)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": {
					AppliedVersion: 4, InstanceGUID: "S-1", LastSuccess: t0.Add(-time.Hour),
					Failures: 3, LastFailure: t0.Add(-time.Minute), FailedVersion: 5}}},
			requeue: 3 * time.Minute,
			waiting: []string{"slappart0 failed 3 times at version 5: next retry at 2025-03-01T12:03:00Z"},
		},
		{
			name:  "failed partition is retried once its back-off elapsed",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 5)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": {
					AppliedVersion: 4, InstanceGUID: "S-1", LastSuccess: t0.Add(-time.Hour),
					Failures: 3, LastFailure: t0.Add(-4 * time.Minute), FailedVersion: 5}}},
			want: []string{
				"configure-partition slappart0 retry",
				"start-partition slappart0 retry",
			},
			requeue: 24 * time.Hour,
		},
		{
			name:  "a failed start is retried as a whole",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 5)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": {
					AppliedVersion: 5, InstanceGUID: "S-1", LastSuccess: t0.Add(-time.Hour),
					Failures: 1, LastFailure: t0.Add(-time.Minute), FailedVersion: 5}}},
			want: []string{
				"configure-partition slappart0 retry",
				"start-partition slappart0 retry",
			},
			requeue: 24 * time.Hour,
		},
		{
			name:  "a new version of a failed partition is configured at once",
			sw:    []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, started, 6)},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()},
				Partitions: map[string]PartitionActual{"slappart0": {
					AppliedVersion: 4, InstanceGUID: "S-1", LastSuccess: t0.Add(-time.Hour),
					Failures: 5, LastFailure: t0.Add(-time.Second), FailedVersion: 5}}},
			want: []string{
				"configure-partition slappart0 changed",
				"start-partition slappart0 requested",
			},
			requeue: 24 * time.Hour,
		},
		{
			name:  "failed destroy waits for its back-off",
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, destroy, 6)},
			actual: Actual{Partitions: map[string]PartitionActual{"slappart0": {
				InstanceGUID: "S-1", Failures: 1, LastFailure: t0.Add(-10 * time.Second), FailedVersion: 6}}},
			requeue: 50 * time.Second,
			waiting: []string{"slappart0 failed 1 times to be destroyed: next retry at 2025-03-01T12:00:50Z"},
		},
		{
			name:  "failed destroy is retried once its back-off elapsed",
			parts: []model.PartitionView{inst("slappart0", "S-1", swA, destroy, 6)},
			actual: Actual{Partitions: map[string]PartitionActual{"slappart0": {
				InstanceGUID: "S-1", Failures: 1, LastFailure: t0.Add(-time.Minute), FailedVersion: 6}}},
			want: []string{"destroy-partition slappart0 retry"},
		},
		{
			name: "partitions come in natural order whatever the view's order",
			sw:   []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{
				inst("slappart10", "S-10", swA, started, 1),
				inst("slappart2", "S-2", swA, started, 1),
				inst("slappart1", "S-1", swA, stopped, 1),
			},
			actual: Actual{Software: map[string]SoftwareActual{swA: installed()}},
			want: []string{
				"configure-partition slappart1 new",
				"configure-partition slappart2 new",
				"configure-partition slappart10 new",
				"start-partition slappart2 requested",
				"start-partition slappart10 requested",
			},
			requeue: 24 * time.Hour,
		},
		{
			name: "kinds come in plan order",
			sw:   []model.SoftwareView{avail(swA), avail(swB), destroyed(swC)},
			parts: []model.PartitionView{
				inst("slappart0", "S-0", swA, started, 2),
				inst("slappart1", "S-1", swA, destroy, 2),
				inst("slappart2", "S-2", swB, started, 1),
				free("slappart3"),
				inst("slappart4", "S-4", swA, stopped, 2),
			},
			actual: Actual{
				Software: map[string]SoftwareActual{swA: installed(), swC: installed()},
				Partitions: map[string]PartitionActual{
					"slappart0": applied("S-0", 1, true),
					"slappart1": applied("S-1", 1, true),
					"slappart3": applied("S-3", 1, true),
					"slappart4": applied("S-4", 1, true),
				}},
			want: []string{
				"stop-partition slappart1 requested",
				"stop-partition slappart3 orphan",
				"stop-partition slappart4 requested",
				"destroy-partition slappart1 requested",
				"destroy-partition slappart3 orphan",
				"install-software " + swB + " requested",
				"configure-partition slappart0 changed",
				"configure-partition slappart4 changed",
				"start-partition slappart0 requested",
				"remove-software " + swC + " requested",
			},
			requeue: 24 * time.Hour,
			waiting: []string{"slappart2 waits for software " + swB + ": install planned"},
		},
		{
			name:  "partition unknown to the view is left alone",
			parts: []model.PartitionView{free("slappart0")},
			actual: Actual{Partitions: map[string]PartitionActual{
				"slappart0": {}, "slappart7": applied("S-7", 1, true), "slappart8": {}}},
			waiting: []string{`slappart7 is not in the view but holds instance "S-7": left as is`},
		},
		{
			name: "partition listed twice uses its first entry",
			sw:   []model.SoftwareView{avail(swA)},
			parts: []model.PartitionView{
				inst("slappart1", "S-1", swA, stopped, 1),
				inst("slappart1", "S-9", swA, started, 1),
			},
			actual:  Actual{Software: map[string]SoftwareActual{swA: installed()}},
			want:    []string{"configure-partition slappart1 new"},
			requeue: 24 * time.Hour,
			waiting: []string{"slappart1 is listed twice in the view"},
		},
		{
			name:    "unknown requested state is left alone",
			parts:   []model.PartitionView{inst("slappart0", "S-1", swA, "paused", 1)},
			actual:  Actual{Software: map[string]SoftwareActual{swA: installed()}},
			waiting: []string{`slappart0: requested state "paused" is unknown`},
		},
		{
			name:    "instance without software cannot be configured",
			parts:   []model.PartitionView{inst("slappart0", "S-1", "", started, 1)},
			waiting: []string{"slappart0: instance S-1 names no software release"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view := model.ComputerView{ComputerID: "COMP-1", Software: tt.sw, Partitions: tt.parts}
			plan := PlanNode(view, tt.actual, t0, tt.cfg)
			if got := briefs(plan.Actions); !slices.Equal(got, tt.want) {
				t.Errorf("actions:\n got %q\nwant %q", got, tt.want)
			}
			if plan.RequeueAfter != tt.requeue {
				t.Errorf("RequeueAfter = %v, want %v", plan.RequeueAfter, tt.requeue)
			}
			if len(plan.Waiting) != len(tt.waiting) {
				t.Fatalf("waiting = %q, want %d notes like %q", plan.Waiting, len(tt.waiting), tt.waiting)
			}
			for i, w := range tt.waiting {
				if !strings.Contains(plan.Waiting[i], w) {
					t.Errorf("waiting[%d] = %q, want it to contain %q", i, plan.Waiting[i], w)
				}
			}
		})
	}
}

// TestActionFields checks what a shell needs besides kind and reason.
func TestActionFields(t *testing.T) {
	view := model.ComputerView{
		Software: []model.SoftwareView{avail(swA)},
		Partitions: []model.PartitionView{
			inst("slappart0", "S-2", swA, model.StateStopped, 9),
			inst("slappart1", "S-1", swA, model.StateDestroyed, 4),
		},
	}
	actual := Actual{
		Software: map[string]SoftwareActual{swA: installed()},
		Partitions: map[string]PartitionActual{
			"slappart0": applied("S-0", 3, false),
			"slappart1": applied("S-1", 3, true),
		},
	}
	got := PlanNode(view, actual, t0, slaposConfig).Actions
	want := []Action{
		{Kind: StopPartition, PartitionID: "slappart1", URL: swA, Reason: ReasonRequested, Version: 4, InstanceGUID: "S-1", State: model.StateDestroyed},
		{Kind: DestroyPartition, PartitionID: "slappart0", Reason: ReasonChanged, Version: 9, InstanceGUID: "S-0", State: model.StateStopped},
		{Kind: DestroyPartition, PartitionID: "slappart1", URL: swA, Reason: ReasonRequested, Version: 4, InstanceGUID: "S-1", State: model.StateDestroyed},
		{Kind: ConfigurePartition, PartitionID: "slappart0", URL: swA, Reason: ReasonNew, Version: 9, InstanceGUID: "S-2", State: model.StateStopped},
	}
	if !slices.Equal(got, want) {
		t.Errorf("actions:\n got %+v\nwant %+v", got, want)
	}
}

func TestNextRetry(t *testing.T) {
	tests := []struct {
		failures int
		cfg      Config
		want     time.Duration
	}{
		{0, slaposConfig, 0},
		{-1, slaposConfig, 0},
		{1, slaposConfig, time.Minute},
		{2, slaposConfig, 2 * time.Minute},
		{3, slaposConfig, 4 * time.Minute},
		{6, slaposConfig, 32 * time.Minute},
		{7, slaposConfig, time.Hour},
		{8, slaposConfig, time.Hour},
		{1 << 30, slaposConfig, time.Hour},
		{3, Config{}, 4 * time.Minute},
		{3, Config{RetryBase: 10 * time.Second, RetryMax: 30 * time.Second}, 30 * time.Second},
		{2, Config{RetryBase: 10 * time.Second, RetryMax: 30 * time.Second}, 20 * time.Second},
		{1, Config{RetryBase: time.Hour, RetryMax: time.Minute}, time.Minute},
		{100, Config{RetryBase: time.Second, RetryMax: 1<<63 - 1}, 1<<63 - 1},
	}
	for _, tt := range tests {
		if got := NextRetry(tt.failures, tt.cfg); got != tt.want {
			t.Errorf("NextRetry(%d, %+v) = %v, want %v", tt.failures, tt.cfg, got, tt.want)
		}
	}
}

func TestNextRetryGrowsAndIsCapped(t *testing.T) {
	cfg := slaposConfig
	prev := time.Duration(0)
	for f := 1; f <= 200; f++ {
		d := NextRetry(f, cfg)
		if d < prev {
			t.Fatalf("NextRetry(%d) = %v < NextRetry(%d) = %v: back-off must not shrink", f, d, f-1, prev)
		}
		if d > cfg.RetryMax {
			t.Fatalf("NextRetry(%d) = %v exceeds RetryMax %v", f, d, cfg.RetryMax)
		}
		prev = d
	}
	if prev != cfg.RetryMax {
		t.Errorf("back-off after 200 failures = %v, want the cap %v", prev, cfg.RetryMax)
	}
}

func TestComparePartitionIDs(t *testing.T) {
	ordered := []string{"", "slappart", "slappart0", "slappart01", "slappart1", "slappart2", "slappart2a",
		"slappart10", "slappart010b", "slappart11", "slappart100", "slapparta", "slappartb2"}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := ComparePartitionIDs(a, b); got != want {
				t.Errorf("ComparePartitionIDs(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// TestComparePartitionIDsFastPath checks the fast path against the full walk
// on random ids over an alphabet rich in digits and zeros.
func TestComparePartitionIDsFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "sa0019-"
	word := func() string {
		b := make([]byte, r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 200000 {
		a, b := word(), word()
		if r.IntN(2) == 0 { // share a prefix, as partition ids do
			p := word()
			a, b = p+a, p+b
		}
		if got, want := ComparePartitionIDs(a, b), compareNaturalSlow(a, b); got != want {
			t.Fatalf("ComparePartitionIDs(%q, %q) = %d, the full walk says %d", a, b, got, want)
		}
		if got, back := ComparePartitionIDs(a, b), ComparePartitionIDs(b, a); got != -back {
			t.Fatalf("ComparePartitionIDs(%q, %q) = %d but reversed = %d: not antisymmetric", a, b, got, back)
		}
	}
	// Transitivity: after sorting, every pair is in order.
	words := make([]string, 300)
	for i := range words {
		words[i] = "slappart" + word()
	}
	slices.SortFunc(words, ComparePartitionIDs)
	for i := range words {
		for j := i + 1; j < len(words); j++ {
			if ComparePartitionIDs(words[i], words[j]) > 0 {
				t.Fatalf("sorted ids %q (at %d) and %q (at %d) compare out of order: not transitive", words[i], i, words[j], j)
			}
		}
	}
}
