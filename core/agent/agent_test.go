package agent

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
)

const (
	swA = "https://sw.example/a/software.cfg"
	swB = "https://sw.example/b/software.cfg"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func started(id, guid string, version uint64) model.PartitionView {
	return model.PartitionView{ID: id, InstanceGUID: guid, SoftwareRelease: swA, RequestedState: model.StateStarted, Version: version}
}

func view(version uint64, parts ...model.PartitionView) *model.ComputerView {
	return &model.ComputerView{ComputerID: "COMP-1", Version: version,
		Software: []model.SoftwareView{{URL: swA, Requested: model.SoftwareAvailable}}, Partitions: parts}
}

func installed(urls ...string) converge.Actual {
	act := converge.Actual{Software: map[string]converge.SoftwareActual{}, Partitions: map[string]converge.PartitionActual{}}
	for _, u := range urls {
		act.Software[u] = converge.SoftwareActual{Installed: true}
	}
	return act
}

// executor answers effects for a test: a view source, failures by effect,
// a fixed duration per effect, and a log of what it did.
type executor struct {
	now     time.Time
	view    *model.ComputerView
	sent    uint64 // version of the view last handed over
	offline bool
	// fail returns the error of an effect (nil: success).
	fail func(Effect) error
	// conn is what each configuration publishes.
	conn   map[string]string
	shared map[string]map[string]string
	step   time.Duration
	log    []string
	builds []string
	// unreachable and refuse: the master effects that do not get through,
	// and those it refuses.
	unreachable, refuse func(Effect) bool
	// delivered: the publications the master took, in order.
	delivered []Publication
}

func (x *executor) outcome(a *Agent, e Effect) Outcome {
	var err error
	if x.fail != nil {
		err = x.fail(e)
	}
	if o, done := x.masterAnswer(e, err); done {
		return o
	}
	switch e.Kind {
	case FetchView:
		switch {
		case x.offline:
			return Unreachable(errors.New("connection refused"))
		case err != nil:
			return Failed(err)
		case a.View() != nil && x.sent == x.view.Version:
			return NotModified()
		}
		x.sent = x.view.Version
		return ViewFetched(x.view)
	case SendReport, Publish:
		if x.offline {
			return Unreachable(errors.New("connection refused"))
		}
	case Build:
		x.builds = append(x.builds, e.Action.URL)
	case RunAction:
		if err == nil && e.Action.Kind == converge.ConfigurePartition {
			return Configured(x.conn, x.hosted(e.Action.PartitionID))
		}
	}
	if err != nil {
		return Failed(err)
	}
	return OK()
}

// masterAnswer is the outcome of a report or publication the master does
// not take (unreachable or refuse), and records the publications it takes.
func (x *executor) masterAnswer(e Effect, err error) (Outcome, bool) {
	if e.Kind != SendReport && e.Kind != Publish {
		return Outcome{}, false
	}
	switch {
	case x.offline:
		return Outcome{}, false
	case x.unreachable != nil && x.unreachable(e):
		return Unreachable(errors.New("connection refused")), true
	case x.refuse != nil && x.refuse(e):
		return Refused(errors.New("master: 409 conflict")), true
	case e.Kind == Publish && err == nil:
		x.delivered = append(x.delivered, Publication{PartitionID: e.PartitionID, InstanceGUID: e.InstanceGUID,
			SharedGUID: e.SharedGUID, Parameters: e.Parameters})
	}
	return Outcome{}, false
}

// hosted is what a configuration of partition id publishes for the shared
// instances its view lists.
func (x *executor) hosted(id string) map[string]map[string]string {
	var out map[string]map[string]string
	for _, p := range x.view.Partitions {
		if p.ID != id {
			continue
		}
		for _, s := range p.SharedInstances {
			if v, ok := x.shared[s.GUID]; ok {
				if out == nil {
					out = map[string]map[string]string{}
				}
				out[s.GUID] = v
			}
		}
	}
	return out
}

// pass runs the agent until it sleeps and returns the effects it asked for,
// one line each.
func (x *executor) pass(t *testing.T, a *Agent) []string {
	t.Helper()
	var out []string
	for range 10000 {
		e := a.Next(x.now)
		if e.Kind == Sleep {
			x.log = append(x.log, out...)
			return out
		}
		out = append(out, e.String())
		x.now = x.now.Add(x.step)
		if err := a.Done(x.now, x.outcome(a, e)); err != nil {
			t.Fatalf("Done(%s): %v", e, err)
		}
	}
	t.Fatalf("the agent never sleeps; last effects: %q", out[len(out)-10:])
	return nil
}

// sleepUntil returns when the agent wants to run next.
func sleepUntil(t *testing.T, a *Agent, now time.Time) time.Time {
	t.Helper()
	e := a.Next(now)
	if e.Kind != Sleep {
		t.Fatalf("Next = %s, want sleep", e)
	}
	return e.Until
}

func TestPass(t *testing.T) {
	shared := []model.SharedView{{GUID: "SH-2"}, {GUID: "SH-1"}}
	stopped := started("slappart1", "S-2", 3)
	stopped.RequestedState = model.StateStopped
	withShared := started("slappart0", "S-1", 1)
	withShared.SharedInstances = shared
	tests := []struct {
		name   string
		view   *model.ComputerView
		actual converge.Actual
		conn   map[string]string
		shared map[string]map[string]string
		fail   func(Effect) error
		want   []string
	}{
		{
			name:   "new started instance: configure, publish, start, promises, report",
			view:   view(1, started("slappart0", "S-1", 1)),
			actual: installed(swA),
			conn:   map[string]string{"url": "http://x"},
			want: []string{"fetch-view", "run-action configure-partition slappart0 (new, v1)", "publish slappart0",
				"run-action start-partition slappart0 (requested, v1)", "check-promises slappart0", "send-report slappart0 started"},
		},
		{
			name:   "nothing published: no publish effect",
			view:   view(1, started("slappart0", "S-1", 1)),
			actual: installed(swA),
			want: []string{"fetch-view", "run-action configure-partition slappart0 (new, v1)",
				"run-action start-partition slappart0 (requested, v1)", "check-promises slappart0", "send-report slappart0 started"},
		},
		{
			name:   "shared instances: own parameters, then each shared one by GUID",
			view:   view(1, withShared),
			actual: installed(swA),
			conn:   map[string]string{"url": "http://x"},
			shared: map[string]map[string]string{"SH-2": {"u": "2"}, "SH-1": {"u": "1"}},
			want: []string{"fetch-view", "run-action configure-partition slappart0 (new, v1)", "publish slappart0",
				"publish slappart0 shared SH-1", "publish slappart0 shared SH-2",
				"run-action start-partition slappart0 (requested, v1)", "check-promises slappart0", "send-report slappart0 started"},
		},
		{
			name:   "stopped instance: configured, reported stopped",
			view:   view(1, stopped),
			actual: installed(swA),
			want:   []string{"fetch-view", "run-action configure-partition slappart1 (new, v3)", "send-report slappart1 stopped"},
		},
		{
			name:   "failed configuration: error report, the start is skipped",
			view:   view(1, started("slappart0", "S-1", 1), started("slappart1", "S-2", 1)),
			actual: installed(swA),
			fail: func(e Effect) error {
				if e.Kind == RunAction && e.Action.PartitionID == "slappart0" {
					return errors.New("profile: boom")
				}
				return nil
			},
			want: []string{"fetch-view", "run-action configure-partition slappart0 (new, v1)", "send-report slappart0 error",
				"run-action configure-partition slappart1 (new, v1)", "run-action start-partition slappart1 (requested, v1)",
				"check-promises slappart1", "send-report slappart1 started"},
		},
		{
			name:   "failed publication: kept, the configuration succeeds",
			view:   view(1, started("slappart0", "S-1", 1)),
			actual: installed(swA),
			conn:   map[string]string{"url": "http://x"},
			fail: func(e Effect) error {
				if e.Kind == Publish {
					return errors.New("master: 500")
				}
				return nil
			},
			want: []string{"fetch-view", "run-action configure-partition slappart0 (new, v1)", "publish slappart0",
				"run-action start-partition slappart0 (requested, v1)", "check-promises slappart0", "send-report slappart0 started"},
		},
		{
			name:   "promises that fail after a start fail it",
			view:   view(1, started("slappart0", "S-1", 1)),
			actual: installed(swA),
			fail: func(e Effect) error {
				if e.Kind == CheckPromises {
					return errors.New("port 80 closed")
				}
				return nil
			},
			want: []string{"fetch-view", "run-action configure-partition slappart0 (new, v1)",
				"run-action start-partition slappart0 (requested, v1)", "check-promises slappart0", "send-report slappart0 error"},
		},
		{
			name:   "missing software: handed to the build worker, the partition waits",
			view:   view(1, started("slappart0", "S-1", 1)),
			actual: installed(),
			want:   []string{"fetch-view", "build install-software " + swA + " (requested)"},
		},
		{
			name: "destroyed instance: stop, destroy, the master told",
			view: view(2, model.PartitionView{ID: "slappart0", InstanceGUID: "S-1", SoftwareRelease: swA, RequestedState: model.StateDestroyed, Version: 2}),
			actual: func() converge.Actual {
				a := installed(swA)
				a.Partitions["slappart0"] = converge.PartitionActual{InstanceGUID: "S-1", AppliedVersion: 1, LastSuccess: t0, Running: true}
				return a
			}(),
			want: []string{"fetch-view", "run-action stop-partition slappart0 (requested, v2)",
				"run-action destroy-partition slappart0 (requested, v2)", "send-report slappart0 destroyed"},
		},
		{
			name:   "clean here but busy in the view: the master told",
			view:   view(2, model.PartitionView{ID: "slappart0", InstanceGUID: "S-1", SoftwareRelease: swA, RequestedState: model.StateDestroyed, Version: 2}),
			actual: installed(swA),
			want:   []string{"fetch-view", "send-report slappart0 destroyed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Config{}, tt.actual)
			x := &executor{now: t0, view: tt.view, conn: tt.conn, shared: tt.shared, fail: tt.fail, step: time.Second}
			got := x.pass(t, a)
			if !slices.Equal(got, tt.want) {
				t.Errorf("effects:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestConvergedPassIsQuiet: a second pass of a converged node fetches the
// view and does nothing else.
func TestConvergedPassIsQuiet(t *testing.T) {
	a := New(Config{}, installed(swA))
	x := &executor{now: t0, view: view(1, started("slappart0", "S-1", 1), started("slappart1", "S-2", 1)), step: time.Second}
	x.pass(t, a)
	if !a.Converged() {
		t.Fatalf("not converged after a successful pass")
	}
	x.now = sleepUntil(t, a, x.now)
	want := []string{"fetch-view", "check-promises slappart0", "check-promises slappart1"}
	if got := x.pass(t, a); !slices.Equal(got, want) {
		t.Errorf("second pass = %q, want %q", got, want)
	}
	if !a.Converged() {
		t.Errorf("not converged after a quiet pass")
	}
	// Without anomaly checks: the fetch alone.
	a = New(Config{PromiseInterval: -1}, installed(swA))
	x.pass(t, a)
	x.now = sleepUntil(t, a, x.now)
	if got := x.pass(t, a); !slices.Equal(got, []string{"fetch-view"}) {
		t.Errorf("second pass without checks = %q, want only fetch-view", got)
	}
}

func TestNextSleepsUntilDue(t *testing.T) {
	a := New(Config{PollInterval: time.Minute}, installed(swA))
	x := &executor{now: t0, view: view(1), step: time.Second}
	x.pass(t, a)
	end := x.now
	if got, want := sleepUntil(t, a, end), end.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("sleep until %v, want %v", got, want)
	}
	if e := a.Next(end.Add(30 * time.Second)); e.Kind != Sleep {
		t.Errorf("Next before due = %s, want sleep", e)
	}
	a.Wake()
	if e := a.Next(end.Add(30 * time.Second)); e.Kind != FetchView {
		t.Errorf("Next after Wake = %s, want fetch-view", e)
	}
}

func TestOfflineBacksOff(t *testing.T) {
	a := New(Config{PollInterval: time.Minute, Converge: converge.Config{RetryMax: 5 * time.Minute}}, installed(swA))
	x := &executor{now: t0, view: view(1), offline: true}
	var gaps []time.Duration
	for range 5 {
		if got := x.pass(t, a); !slices.Equal(got, []string{"fetch-view"}) {
			t.Fatalf("offline pass = %q, want only fetch-view", got)
		}
		until := sleepUntil(t, a, x.now)
		gaps = append(gaps, until.Sub(x.now))
		x.now = until
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	if !slices.Equal(gaps, want) {
		t.Errorf("back-off = %v, want %v", gaps, want)
	}
	if a.Offline() != 5 || a.Converged() {
		t.Errorf("Offline = %d, Converged = %v; want 5, false", a.Offline(), a.Converged())
	}
	x.offline = false
	x.pass(t, a)
	if until := sleepUntil(t, a, x.now); until.Sub(x.now) != time.Minute {
		t.Errorf("after the master came back, next pass in %v, want 1m", until.Sub(x.now))
	}
}

// TestOutboxSurvivesOutage: reports made while the master is away are kept,
// a later report of the same partition replaces the earlier one, and they
// are sent in order when it comes back, before the plan runs.
func TestOutboxSurvivesOutage(t *testing.T) {
	a := New(Config{}, installed(swA))
	x := &executor{now: t0, view: view(1, started("slappart0", "S-1", 1)), step: time.Second}
	x.pass(t, a)
	// The view changes; the reports cannot get through.
	x.view = view(2, started("slappart0", "S-1", 2), started("slappart1", "S-2", 1))
	x.fail = func(e Effect) error {
		if e.Kind == SendReport {
			x.offline = true
		}
		return nil
	}
	a.Wake()
	x.pass(t, a)
	// Reports of slappart0 (started v2) and slappart1 (started) were made.
	got := reportLines(a.Outbox())
	if want := []string{"slappart0 started", "slappart1 started"}; !slices.Equal(got, want) {
		t.Fatalf("outbox after the outage = %q, want %q", got, want)
	}
	// A promise failure of slappart0 replaces its report in place.
	a.Keep(Report{Kind: ReportState, PartitionID: "slappart0", State: model.ReportedError, Error: "x"})
	a.Keep(Report{Kind: ReportSoftware, URL: swB, Software: model.SoftwareBuilding})
	if got, want := reportLines(a.Outbox()), []string{"slappart0 error", "slappart1 started", swB + " building"}; !slices.Equal(got, want) {
		t.Fatalf("outbox = %q, want %q", got, want)
	}
	// Still away: nothing leaves the outbox.
	a.Wake()
	x.pass(t, a)
	if len(a.Outbox()) != 3 {
		t.Fatalf("outbox lost reports while the master was away: %q", reportLines(a.Outbox()))
	}
	x.offline, x.fail = false, nil
	a.Wake()
	got = x.pass(t, a)
	want := []string{"fetch-view", "send-report slappart0 error", "send-report slappart1 started", "send-report " + swB + " building"}
	if !slices.Equal(got, want) {
		t.Errorf("pass after the outage = %q, want %q", got, want)
	}
	if len(a.Outbox()) != 0 {
		t.Errorf("outbox not drained: %q", reportLines(a.Outbox()))
	}
}

func reportLines(rs []Report) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

// TestFailedReportStays: a report the master fails to take (a server
// error) stays in the outbox, one it refuses (a 4xx) leaves it; neither
// stops the drain.
func TestFailedReportStays(t *testing.T) {
	a := New(Config{}, installed(swA))
	for _, id := range []string{"slappart0", "slappart1", "slappart2"} {
		a.Keep(Report{Kind: ReportState, PartitionID: id, State: model.ReportedStarted})
	}
	x := &executor{now: t0, view: view(1), fail: func(e Effect) error {
		if e.Kind == SendReport && e.Report.PartitionID == "slappart0" {
			return errors.New("master: 500")
		}
		return nil
	}, refuse: func(e Effect) bool { return e.Report.PartitionID == "slappart1" }}
	got := x.pass(t, a)
	if want := []string{"fetch-view", "send-report slappart0 started", "send-report slappart1 started", "send-report slappart2 started"}; !slices.Equal(got, want) {
		t.Errorf("pass = %q, want %q", got, want)
	}
	if got := reportLines(a.Outbox()); !slices.Equal(got, []string{"slappart0 started"}) {
		t.Errorf("outbox = %q, want the failed report only", got)
	}
	if c := a.OutboxCounters(); c.ReportsRefused != 1 {
		t.Errorf("reports refused %d, want 1", c.ReportsRefused)
	}
}

// TestRetryAfterBackOff: a failed configuration is retried when converge's
// back-off allows, not at the next poll.
func TestRetryAfterBackOff(t *testing.T) {
	cfg := Config{PollInterval: time.Minute, Converge: converge.Config{RetryBase: 5 * time.Minute, RetryMax: time.Hour}}
	a := New(cfg, installed(swA))
	fails := true
	x := &executor{now: t0, view: view(1, started("slappart0", "S-1", 1)), fail: func(e Effect) error {
		if fails && e.Kind == RunAction {
			return errors.New("boom")
		}
		return nil
	}}
	x.pass(t, a)
	if a.Converged() {
		t.Fatalf("converged after a failure")
	}
	// Polls before the back-off elapsed plan nothing.
	for i := range 4 {
		x.now = sleepUntil(t, a, x.now)
		if got := x.pass(t, a); !slices.Equal(got, []string{"fetch-view"}) {
			t.Fatalf("poll %d before the retry = %q", i, got)
		}
	}
	fails = false
	x.now = sleepUntil(t, a, x.now)
	if !x.now.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("retry pass at %v, want %v", x.now, t0.Add(5*time.Minute))
	}
	got := x.pass(t, a)
	if len(got) < 2 || got[1] != "run-action configure-partition slappart0 (retry, v1)" {
		t.Fatalf("retry pass = %q", got)
	}
	if pa := a.Actual().Partitions["slappart0"]; pa.Failures != 0 || !pa.Running {
		t.Errorf("after the retry: %+v", pa)
	}
}

// TestBuildDoneReplans: a build handed over is not handed again; its end
// wakes the agent, which configures the partition that waited.
func TestBuildDoneReplans(t *testing.T) {
	a := New(Config{}, installed())
	x := &executor{now: t0, view: view(1, started("slappart0", "S-1", 1))}
	x.pass(t, a)
	if !a.building[swA] {
		t.Fatalf("the build was not recorded as handed over")
	}
	a.Invalidate()
	a.Wake()
	if got := x.pass(t, a); !slices.Equal(got, []string{"fetch-view"}) {
		t.Errorf("a pass during the build = %q, want no second build", got)
	}
	a.BuildDone(x.now, swA, nil)
	got := x.pass(t, a)
	if len(got) < 2 || got[1] != "run-action configure-partition slappart0 (new, v1)" {
		t.Errorf("pass after the build = %q", got)
	}
	if len(x.builds) != 1 {
		t.Errorf("builds handed over: %q, want one", x.builds)
	}
}

func TestBuildFailureBacksOff(t *testing.T) {
	a := New(Config{Converge: converge.Config{RetryBase: 10 * time.Minute}}, installed())
	x := &executor{now: t0, view: view(1, started("slappart0", "S-1", 1))}
	x.pass(t, a)
	a.BuildDone(x.now, swA, errors.New("compile error"))
	if got := x.pass(t, a); !slices.Equal(got, []string{"fetch-view"}) {
		t.Errorf("pass right after a failed build = %q, want no new build before the back-off", got)
	}
	for x.now.Before(t0.Add(10 * time.Minute)) {
		x.now = sleepUntil(t, a, x.now)
		x.pass(t, a)
	}
	if len(x.builds) != 2 {
		t.Errorf("builds handed over = %q, want a retry after 10 minutes", x.builds)
	}
}

// TestDestroyedReReport: the master is told again every half poll interval
// while its view shows the partition busy, with back-off after failures.
func TestDestroyedReReport(t *testing.T) {
	cfg := Config{PollInterval: time.Minute, Converge: converge.Config{RetryBase: 4 * time.Minute, RetryMax: time.Hour}}
	a := New(cfg, installed(swA))
	refuse := false
	x := &executor{now: t0, fail: func(e Effect) error {
		if refuse && e.Kind == SendReport {
			return errors.New("master: 500")
		}
		return nil
	}, view: view(1, model.PartitionView{ID: "slappart0", InstanceGUID: "S-1", RequestedState: model.StateDestroyed, Version: 1})}
	count := func() int {
		n := 0
		for _, l := range x.log {
			if l == "send-report slappart0 destroyed" {
				n++
			}
		}
		return n
	}
	for range 3 {
		x.pass(t, a)
		x.now = sleepUntil(t, a, x.now)
	}
	if n := count(); n != 3 {
		t.Fatalf("told %d times in 3 polls, want 3", n)
	}
	refuse = true
	x.log = nil
	end := x.now.Add(10 * time.Minute)
	for x.now.Before(end) {
		x.pass(t, a)
		x.now = sleepUntil(t, a, x.now)
	}
	// Failures at 0, then retried after 4m and 8m: 2 in 10 minutes.
	if n := count(); n != 2 {
		t.Errorf("refused reports sent %d times in 10 minutes, want 2 (back-off)", n)
	}
	if _, failures := a.DestroyTold("slappart0"); failures != 2 {
		t.Errorf("failures = %d, want 2", failures)
	}
	// The master freed it: nothing more to tell.
	refuse = false
	x.view = view(2, model.PartitionView{ID: "slappart0", RequestedState: model.StateDestroyed, Version: 2})
	x.log = nil
	for range 3 {
		x.pass(t, a)
		x.now = sleepUntil(t, a, x.now)
	}
	if n := count(); n != 0 {
		t.Errorf("told %d times after the master freed the partition", n)
	}
}

// TestAnomalyChecks: promises of the partitions the plan leaves alone are
// checked at most once per interval, least recently checked first, within
// the budget; only changes are reported.
func TestAnomalyChecks(t *testing.T) {
	cfg := Config{PollInterval: time.Minute, PromiseBudget: 25 * time.Second}
	a := New(cfg, installed(swA))
	v := view(1, started("slappart0", "S-0", 1), started("slappart1", "S-1", 1), started("slappart2", "S-2", 1))
	broken := map[string]bool{}
	x := &executor{now: t0, view: v, step: 10 * time.Second, fail: func(e Effect) error {
		if e.Kind == CheckPromises && !e.AfterStart && broken[e.PartitionID] {
			return errors.New("promise http: connection refused")
		}
		return nil
	}}
	x.pass(t, a) // deploys all three
	checks := func(effects []string) []string {
		var out []string
		for _, e := range effects {
			if strings.HasPrefix(e, "check-promises") || strings.HasPrefix(e, "send-report") {
				out = append(out, e)
			}
		}
		return out
	}
	x.now = sleepUntil(t, a, x.now)
	// Started at 10s, 40s, 70s apart: a minute later, 0 and 1 are due
	// (2 was started less than a minute before); 0 was checked first.
	broken["slappart1"] = true
	got := checks(x.pass(t, a))
	want := []string{"check-promises slappart0", "check-promises slappart1", "send-report slappart1 error"}
	if !slices.Equal(got, want) {
		t.Fatalf("first checks = %q, want %q", got, want)
	}
	if !a.Anomaly("slappart1") {
		t.Errorf("slappart1 not marked anomalous")
	}
	// Still broken: checked again, not reported again.
	x.now = x.now.Add(2 * time.Minute)
	got = checks(x.pass(t, a))
	want = []string{"check-promises slappart2", "check-promises slappart0", "check-promises slappart1"}
	if !slices.Equal(got, want) {
		t.Fatalf("second checks (budget 25s, 10s each: 3 started) = %q, want %q", got, want)
	}
	broken["slappart1"] = false
	x.now = x.now.Add(2 * time.Minute)
	got = checks(x.pass(t, a))
	if !slices.Contains(got, "send-report slappart1 started") {
		t.Errorf("recovery not reported: %q", got)
	}
}

func TestWaitFirstCheck(t *testing.T) {
	act := installed(swA)
	act.Partitions["slappart0"] = converge.PartitionActual{InstanceGUID: "S-0", AppliedVersion: 1, LastSuccess: t0, Running: true}
	a := New(Config{WaitFirstCheck: true}, act)
	x := &executor{now: t0, view: view(1, started("slappart0", "S-0", 1))}
	if got := x.pass(t, a); !slices.Equal(got, []string{"fetch-view"}) {
		t.Errorf("first pass of a restarted daemon = %q, want no check", got)
	}
	x.now = x.now.Add(time.Minute)
	if got := x.pass(t, a); !slices.Contains(got, "check-promises slappart0") {
		t.Errorf("a minute later = %q, want a check", got)
	}
}

func TestDestroyOnly(t *testing.T) {
	act := installed(swA)
	act.Partitions["slappart0"] = converge.PartitionActual{InstanceGUID: "S-0", AppliedVersion: 1, LastSuccess: t0, Running: true}
	a := New(Config{}, act)
	a.Keep(Report{Kind: ReportState, PartitionID: "slappart1", State: model.ReportedStarted})
	v := view(2, model.PartitionView{ID: "slappart0", InstanceGUID: "S-0", SoftwareRelease: swA, RequestedState: model.StateDestroyed, Version: 2},
		started("slappart1", "S-1", 1))
	x := &executor{now: t0, view: v}
	if !a.Begin(t0, PassOptions{DestroyOnly: true}) {
		t.Fatal("Begin refused on an idle agent")
	}
	got := x.pass(t, a)
	want := []string{"fetch-view", "run-action stop-partition slappart0 (requested, v2)",
		"run-action destroy-partition slappart0 (requested, v2)", "send-report slappart0 destroyed"}
	if !slices.Equal(got, want) {
		t.Errorf("destroy pass = %q, want %q", got, want)
	}
	// The next full pass plans again and does what the destroy pass left.
	x.now = sleepUntil(t, a, x.now)
	if got := x.pass(t, a); !slices.Contains(got, "run-action configure-partition slappart1 (new, v1)") {
		t.Errorf("full pass after a destroy pass = %q, want slappart1 configured", got)
	}
}

func TestEvents(t *testing.T) {
	a := New(Config{EventLog: 3}, installed(swA))
	x := &executor{now: t0, view: view(1, started("slappart0", "S-0", 1)), step: time.Second}
	x.pass(t, a)
	evs := a.Events(nil, 0)
	if a.LastEvent() != 4 || len(evs) != 3 || evs[0].Seq != 2 {
		t.Fatalf("events = %+v (last %d), want the last 3 of 4", evs, a.LastEvent())
	}
	if evs[0].Kind != EventEnd || evs[1].Kind != EventStart || evs[1].Action.Kind != converge.StartPartition {
		t.Errorf("events = %+v", evs)
	}
	if !evs[0].At.Before(evs[1].At) && !evs[0].At.Equal(evs[1].At) {
		t.Errorf("an action started before the previous one ended: %+v", evs)
	}
	// A start ends with its promise check: one second for the action, one
	// for the check.
	if d := evs[2].At.Sub(evs[1].At); evs[2].Kind != EventEnd || d != 2*time.Second {
		t.Errorf("the start lasted %v (end %+v), want 2s: its promise check is part of it", d, evs[2])
	}
	if got := a.Events(nil, 4); len(got) != 0 {
		t.Errorf("Events after the last = %+v", got)
	}
}

func TestMisuse(t *testing.T) {
	a := New(Config{}, installed(swA))
	if err := a.Done(t0, OK()); !errors.Is(err, ErrNoEffect) {
		t.Errorf("Done without an effect = %v, want ErrNoEffect", err)
	}
	if e := a.Next(t0); e.Kind != FetchView {
		t.Fatalf("first Next = %s", e)
	}
	if e := a.Next(t0); e.Kind != FetchView {
		t.Errorf("Next with an effect in flight = %s, want it again", e)
	}
	if err := a.Done(t0, NotModified()); err == nil || !strings.Contains(err.Error(), "no view") {
		t.Errorf("NotModified without a view = %v, want an error", err)
	}
	a.Wake()
	a.Next(t0)
	if err := a.Done(t0, Outcome{View: view(1), NotModified: true}); err == nil {
		t.Errorf("a view and not-modified accepted")
	}
	a.Next(t0)
	if err := a.Done(t0, ViewFetched(view(1, started("slappart0", "S-0", 1)))); err != nil {
		t.Fatal(err)
	}
	e := a.Next(t0)
	if err := a.Done(t0, ViewFetched(view(1))); err == nil {
		t.Errorf("a view accepted as the outcome of %s", e)
	}
	if e := a.Next(t0); e.Kind != RunAction {
		t.Fatalf("Next = %s", e)
	}
	if err := a.Abort(t0); err != nil {
		t.Fatal(err)
	}
	if a.Busy() {
		t.Errorf("busy after Abort")
	}
	if pa := a.Actual().Partitions["slappart0"]; pa.Failures != 0 {
		t.Errorf("an aborted action was recorded as a failure: %+v", pa)
	}
	if evs := a.Events(nil, 0); evs[len(evs)-1].Err != "interrupted" {
		t.Errorf("last event = %+v", evs[len(evs)-1])
	}
}

func TestEffectStrings(t *testing.T) {
	for k := Sleep; k <= CheckPromises+1; k++ {
		if s := k.String(); s == "" || (k <= CheckPromises && strings.HasPrefix(s, "effect(")) {
			t.Errorf("EffectKind(%d) = %q", k, s)
		}
	}
	if s := (Effect{Kind: Sleep, Until: t0}).String(); s != "sleep until 2026-03-01T12:00:00Z" {
		t.Errorf("sleep = %q", s)
	}
	if s := fmt.Sprint(Report{Kind: ReportDestroyed, PartitionID: "p"}); s != "p destroyed" {
		t.Errorf("report = %q", s)
	}
}

func TestCrash(t *testing.T) {
	a := New(Config{}, installed(swA))
	x := &executor{now: t0, view: view(1, started("slappart0", "S-0", 1), started("slappart1", "S-1", 1)), step: time.Second}
	x.pass(t, a)
	x.view = view(2, started("slappart0", "S-0", 2), started("slappart1", "S-1", 1))
	a.Wake()
	for e := a.Next(x.now); e.Kind != RunAction; e = a.Next(x.now) {
		if err := a.Done(x.now, x.outcome(a, e)); err != nil {
			t.Fatal(err)
		}
	}
	a.Crash(x.now)
	if a.Busy() {
		t.Fatal("busy after a crash")
	}
	p0, p1 := a.Actual().Partitions["slappart0"], a.Actual().Partitions["slappart1"]
	if p0.Failures != 1 || p0.Running || p1.Running || p1.Failures != 0 {
		t.Errorf("after the crash: slappart0 %+v, slappart1 %+v; want the configuration failed and nothing running", p0, p1)
	}
	if c := a.Counters(); c.Actions != 4 || c.Plans != 2 || c.Passes != 2 {
		t.Errorf("counters = %+v", c)
	}
	// Boot: the next pass restarts what should run (slappart1 at once,
	// slappart0 after its back-off).
	a.Wake()
	got := x.pass(t, a)
	if !slices.Contains(got, "run-action start-partition slappart1 (requested, v1)") {
		t.Errorf("pass after the boot = %q", got)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		failures   int
		first, max time.Duration
		want       time.Duration
	}{
		{0, time.Minute, time.Hour, time.Minute},
		{1, time.Minute, time.Hour, time.Minute},
		{2, time.Minute, time.Hour, 2 * time.Minute},
		{6, time.Minute, time.Hour, 32 * time.Minute},
		{7, time.Minute, time.Hour, time.Hour},
		{1000, time.Minute, time.Hour, time.Hour},
		{3, time.Minute, 30 * time.Second, time.Minute}, // max below first: first
		{3, time.Minute, 3 * time.Minute, 3 * time.Minute},
	}
	for _, tt := range tests {
		if got := Backoff(tt.failures, tt.first, tt.max); got != tt.want {
			t.Errorf("Backoff(%d, %v, %v) = %v, want %v", tt.failures, tt.first, tt.max, got, tt.want)
		}
	}
}

func TestSoftwareWork(t *testing.T) {
	install := converge.Action{Kind: converge.InstallSoftware, URL: swA}
	remove := converge.Action{Kind: converge.RemoveSoftware, URL: swB}
	destroy := converge.Action{Kind: converge.DestroyPartition, PartitionID: "slappart0"}
	configure := converge.Action{Kind: converge.ConfigurePartition, PartitionID: "slappart1"}
	tests := []struct {
		name              string
		plan              []converge.Action
		installs, removes int
	}{
		{"nothing", nil, 0, 0},
		{"installs and removals", []converge.Action{install, configure, remove}, 1, 1},
		{"a destruction holds the removals back", []converge.Action{destroy, install, remove}, 1, 0},
	}
	for _, tt := range tests {
		in, rm := SoftwareWork(converge.Plan{Actions: tt.plan})
		if len(in) != tt.installs || len(rm) != tt.removes {
			t.Errorf("%s: %d installs, %d removals; want %d, %d", tt.name, len(in), len(rm), tt.installs, tt.removes)
		}
	}
}

// TestWaitingForSoftwareIsNotConverged: a partition whose release is not
// installed (its install in back-off, so no build is planned) keeps the
// node unconverged, wherever it comes among partitions running installed
// releases; without it, the same node converges.
func TestWaitingForSoftwareIsNotConverged(t *testing.T) {
	release := func(n int) string { return fmt.Sprintf("https://sw.example/r%d/software.cfg", n) }
	for _, tt := range []struct {
		name    string
		missing int // index of the partition on the missing release (-1: none)
	}{
		{"none missing", -1},
		{"first", 0},
		{"after repeats", 5},
		{"after more releases than remembered", 11},
	} {
		t.Run(tt.name, func(t *testing.T) {
			act := installed()
			var parts []model.PartitionView
			for i := range 12 {
				p := started(fmt.Sprintf("slappart%d", i), fmt.Sprintf("S-%d", i), 1)
				p.SoftwareRelease = release(i / 2) // pairs share a release
				if i == tt.missing {
					p.SoftwareRelease = swB
				} else {
					act.Software[p.SoftwareRelease] = converge.SoftwareActual{Installed: true}
				}
				parts = append(parts, p)
			}
			act.Software[swB] = converge.SoftwareActual{Failures: 1, LastFailure: t0}
			a := New(Config{Converge: converge.Config{RetryBase: 24 * time.Hour, RetryMax: 24 * time.Hour}}, act)
			v := view(1, parts...)
			v.Software = nil
			x := &executor{now: t0, view: v}
			for range 3 {
				x.pass(t, a)
				x.now = sleepUntil(t, a, x.now)
			}
			if got, want := a.Converged(), tt.missing < 0; got != want {
				t.Fatalf("Converged() = %v, want %v (plan %+v)", got, want, a.Plan())
			}
		})
	}
}
