package agent

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
)

// Errors of the agent core.
var (
	// ErrNoEffect: Done or Abort was called with no effect in flight.
	ErrNoEffect          = errors.New("agent: no effect in flight")
	errUnknownFailure    = errors.New("agent: effect failed")
	errUnreachable       = errors.New("agent: master unreachable")
	errRefused           = errors.New("agent: master refused")
	errWrongOutcome      = errors.New("agent: outcome does not fit the effect")
	errViewAndNotModif   = errors.New("agent: a view and \"not modified\" in one outcome")
	errNotModifiedNoView = errors.New("agent: fetch-view answered \"not modified\" but the agent has no view: fetch unconditionally (or call SetView first)")
)

// Config tunes an Agent. Zero fields take the defaults documented on each.
type Config struct {
	// Converge tunes the planner (periodicity, retry back-off); its
	// RetryMax also caps the back-off of passes that cannot reach the
	// master.
	Converge converge.Config
	// PollInterval: a pass starts this long after the previous one ended
	// (sooner when the plan or a retry is due). Default 1 minute.
	PollInterval time.Duration
	// PromiseInterval: the promises of a started partition the plans leave
	// alone are checked again at most this often (SlapOS's anomaly mode).
	// 0 is PollInterval; negative never checks them (promises are still
	// checked after each start). NB: each check is one effect; a converged
	// node of 300 partitions checks 300 per interval (BenchmarkQuietPass).
	PromiseInterval time.Duration
	// PromiseBudget: the time a pass may spend on those checks; at least
	// one partition is checked when one is due. 0 is PollInterval/2.
	PromiseBudget time.Duration
	// WaitFirstCheck: a partition first seen running (a daemon that just
	// restarted its programs) gets PromiseInterval before its first check.
	WaitFirstCheck bool
	// RunRemovals: remove-software actions run on this loop, after the
	// plan's partition actions, unless a destruction failed in the plan.
	// Otherwise they are left to another loop (the software loop).
	RunRemovals bool
	// EventLog: how many action start/end events are kept (Events).
	// 0 is 256; negative keeps none.
	EventLog int
}

func (c Config) withDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = time.Minute
	}
	if c.PromiseInterval == 0 {
		c.PromiseInterval = c.PollInterval
	}
	if c.PromiseBudget <= 0 {
		c.PromiseBudget = c.PollInterval / 2
	}
	if c.EventLog == 0 {
		c.EventLog = 256
	}
	if c.Converge.RetryMax <= 0 {
		c.Converge.RetryMax = converge.DefaultRetryMax
	}
	return c
}

// PassOptions says what a pass started with Begin does.
type PassOptions struct {
	// DestroyOnly runs only the stop and destroy actions of partitions
	// the view asks destroyed (or free), then tells the master of the
	// clean ones (SlapOS's hourly destruction): no build, no
	// configuration, no outbox drain, no promise check.
	DestroyOnly bool
}

// stage is where a pass is.
type stage uint8

const (
	stageIdle stage = iota
	stageFetch
	stageDrain
	stageBuilds
	stageActions
	stageDestroyed
	stageChecks
)

// step is where the current action is (stageActions).
type step uint8

const (
	stepRun       step = iota // RunAction in flight, or next
	stepPublish               // publishing the configuration's parameters
	stepCheck                 // promises after a start
	stepReport                // the action's state report
	stepDestroyed             // telling the master of a destruction
)

// publication is one Publish of a configuration.
type publication struct {
	shared string
	params map[string]string
}

// Agent is one node's instance loop as a synchronous state machine. It is
// not safe for concurrent use: the caller serialises its calls (see the
// package documentation for the caller's obligations).
type Agent struct {
	cfg    Config
	actual converge.Actual

	view  *model.ComputerView
	index map[string]int32 // partition id -> index in view.Partitions
	ids   []string         // the ids the index was built from, in order
	// Indexes of the view's partitions, rebuilt when the view changes.
	destroyIdx []int32 // instance placed, requested destroyed
	startedIdx []int32 // instance placed, requested started

	// Scheduling between passes.
	due   time.Time // the next pass (zero: at once)
	woken bool      // a pass at once
	dirty bool      // plan at the next pass even if the view is unchanged
	// replan plans as converge.PlanNode, again only the partitions that
	// changed or came due: told of every change of actual (Changed after
	// a partition's action, SoftwareChanged after a release's, Reset
	// otherwise).
	replan converge.Replanner
	// lacks: a partition with an instance to run lacks its release
	// (waitsForSoftware), valid when lackKnown; the view and the software
	// of Actual decide it.
	lacks, lackKnown bool
	planDue          time.Time // converge's RequeueAfter, as a moment
	hasPlanDue       bool
	retryDue         time.Time // the soonest retry of work that failed
	hasRetry         bool
	offline          int  // consecutive passes that could not fetch the view
	unsettled        bool // the last plan left failures, waiting work or builds

	// The pass in progress.
	stage     stage
	passSeq   uint64
	opts      PassOptions
	inflight  bool
	cur       Effect
	plan      converge.Plan
	queue     []converge.Action // partition actions (and removals) to run
	lastOf    []bool            // queue[i] is its partition's last action
	qpos      int
	builds    []converge.Action
	bpos      int
	failed    map[string]bool // partitions whose action failed in this plan
	destroyKO bool            // a destruction failed in this plan
	act       converge.Action // the action being run
	inAction  bool            // act started and has not ended
	actStep   step
	pubs      []publication
	ppos      int
	report    Report // stepReport: the report being sent
	drainPos  int
	dpos      int  // stageDestroyed: position in destroyIdx
	dOffline  bool // stageDestroyed: the master did not answer
	todo      []checkDue
	tpos      int
	tBegan    time.Time
	tDone     int
	// checkBegan: when the anomaly check in flight began.
	checkBegan time.Time
	// checkReport: a promise check changed the partition's state; its
	// report (a.report) is sent before the next check.
	checkReport bool
	planned     map[string]uint64 // partition -> last pass whose plan had an action for it
	building    map[string]bool   // URLs handed to the build worker
	outbox      []Report
	pub         pubOutbox // connection parameters not published yet
	checked     map[string]time.Time
	anomaly     map[string]bool
	destroyed   map[string]destroyFollow
	lastOfIdx   map[string]int // scratch for lastOf
	// fetches: the fetches that reached the master (destroyFollow.fetch).
	fetches uint64

	events eventRing
	count  Counters
}

// checkDue is a partition whose promises are due, with its last check.
type checkDue struct {
	id   string
	guid string
	last time.Time
}

// destroyFollow is the state of telling the master that a partition it
// still shows busy and requested destroyed is clean.
type destroyFollow struct {
	guid     string    // the instance the view placed there
	due      time.Time // not before
	failures int
	told     int // times the master accepted the report
	// fetch: Agent.fetches when the last report was sent; the partition
	// is told again only on a view fetched after it.
	fetch uint64
	// refused: the master refused the report; it is not told again for
	// this instance.
	refused bool
}

// New returns an agent for a node whose actual state is actual (the agent
// keeps it, and records every outcome in it; see Actual). Nil maps are
// created.
func New(cfg Config, actual converge.Actual) *Agent {
	cfg = cfg.withDefaults()
	if actual.Partitions == nil {
		actual.Partitions = map[string]converge.PartitionActual{}
	}
	if actual.Software == nil {
		actual.Software = map[string]converge.SoftwareActual{}
	}
	a := &Agent{
		cfg:       cfg,
		actual:    actual,
		index:     map[string]int32{},
		failed:    map[string]bool{},
		planned:   map[string]uint64{},
		building:  map[string]bool{},
		checked:   map[string]time.Time{},
		anomaly:   map[string]bool{},
		destroyed: map[string]destroyFollow{},
		lastOfIdx: map[string]int{},
		dirty:     true,
	}
	if cfg.EventLog > 0 {
		a.events.buf = make([]Event, cfg.EventLog)
	}
	return a
}

// Actual is the node's actual state as the agent records it. The caller may
// replace what it holds between effects (a production agent reads its
// records and its processes before a pass), then calls Invalidate so that
// the next pass plans.
func (a *Agent) Actual() *converge.Actual { return &a.actual }

// View is the last view fetched (nil before the first).
func (a *Agent) View() *model.ComputerView { return a.view }

// SetView gives the agent a view it did not fetch (one cached on disk by a
// previous run): the next FetchView is conditional on it. The agent keeps
// v: the caller must not modify it afterwards.
func (a *Agent) SetView(v *model.ComputerView) {
	a.setView(v)
	a.dirty = true
	a.resetPlan() // the executor's records may come with it
}

// Plan is the last plan of a pass (its Actions include those already run).
func (a *Agent) Plan() converge.Plan { return a.plan }

// Invalidate makes the next pass plan (every partition) even if the view
// did not change.
func (a *Agent) Invalidate() {
	a.dirty = true
	a.resetPlan()
}

// resetPlan makes the next plan plan every partition, and look again at
// which partitions lack their software.
func (a *Agent) resetPlan() {
	a.replan.Reset()
	a.lackKnown = false
}

// softwareChanged makes the next plan plan anew the partitions that run
// release url, whose record changed, and look again at which partitions
// lack their software.
func (a *Agent) softwareChanged(url string) {
	a.replan.SoftwareChanged(url)
	a.lackKnown = false
}

// Wake makes the next pass start at once.
func (a *Agent) Wake() { a.woken = true }

// BuildDone records the end of a build handed over with a Build effect:
// the release is installed (err nil) or failed once more. The next pass
// starts at once and plans (partitions waiting for the release).
func (a *Agent) BuildDone(now time.Time, url string, err error) {
	delete(a.building, url)
	act := converge.Action{Kind: converge.InstallSoftware, URL: url}
	if err != nil {
		a.actual.ApplyFailure(act, now)
		a.noteRetry(now.Add(converge.NextRetry(a.actual.Software[url].Failures, a.cfg.Converge)))
	} else {
		a.actual.ApplySuccess(act, now)
	}
	a.dirty, a.woken = true, true
	a.softwareChanged(url) // the partitions that wait for it
}

// Keep puts r in the outbox: it is sent at the next pass that reaches the
// master, in the order reports were kept, and replaces a report kept
// earlier about the same partition (or release). Executors keep the
// reports of their own loops (builds) and, at start, those a previous run
// could not send.
func (a *Agent) Keep(r Report) {
	for i := range a.outbox {
		if a.outbox[i].sameSubject(r) {
			a.outbox[i] = r
			return
		}
	}
	a.outbox = append(a.outbox, r)
}

// Outbox returns the reports not sent yet, oldest first (the agent's
// slice: read only).
func (a *Agent) Outbox() []Report { return a.outbox }

// Pending returns the report about partition id waiting in the outbox.
func (a *Agent) Pending(id string) (Report, bool) {
	for _, r := range a.outbox {
		if r.Kind != ReportSoftware && r.PartitionID == id {
			return r, true
		}
	}
	return Report{}, false
}

// Anomaly reports whether partition id's promises failed while it ran
// (reported in error until they hold again).
func (a *Agent) Anomaly(id string) bool { return a.anomaly[id] }

// CheckedAt is when the last check of partition id's promises began (or
// its programs last started); false when never since New.
func (a *Agent) CheckedAt(id string) (time.Time, bool) {
	t, ok := a.checked[id]
	return t, ok
}

// SetAnomaly restores the anomaly flag a previous run recorded.
func (a *Agent) SetAnomaly(id string, on bool) {
	if on {
		a.anomaly[id] = true
	} else {
		delete(a.anomaly, id)
	}
}

// Offline is the number of passes in a row that could not fetch the view.
func (a *Agent) Offline() int { return a.offline }

// Busy reports whether a pass is in progress.
func (a *Agent) Busy() bool { return a.stage != stageIdle }

// Converged reports whether the node has nothing left to do: no pass in
// progress, the last fetch reached the master, the last plan ran without
// failure, waiting work or build, no build in progress, no report or
// publication in the outboxes, and nothing invalidated the plan since.
func (a *Agent) Converged() bool {
	return a.stage == stageIdle && a.view != nil && a.offline == 0 && !a.dirty && !a.unsettled &&
		len(a.building) == 0 && len(a.outbox) == 0 && len(a.pub.kept) == 0
}

// Begin starts a pass at once (one-shot commands), unless one is in
// progress: false then.
func (a *Agent) Begin(now time.Time, o PassOptions) bool {
	if a.stage != stageIdle {
		return false
	}
	a.start(now, o)
	return true
}

func (a *Agent) start(now time.Time, o PassOptions) {
	a.passSeq++
	a.count.Passes++
	a.opts = o
	a.woken = false
	a.stage = stageFetch
}

// Next returns what to do at now. While an effect is in flight it returns
// that effect again. When idle, it starts a pass if one is due (or woken),
// and otherwise returns Sleep until the next one.
func (a *Agent) Next(now time.Time) Effect {
	if a.inflight {
		return a.cur
	}
	if a.stage == stageIdle {
		if !a.woken && !a.due.IsZero() && now.Before(a.due) {
			return Effect{Kind: Sleep, Until: a.due}
		}
		a.start(now, PassOptions{})
	}
	for {
		e, ok := a.advance(now)
		if ok {
			a.inflight, a.cur = true, e
			if e.Kind == RunAction {
				a.events.add(now, EventStart, e.Action, "")
				a.inAction = true
			}
			return e
		}
		if a.stage == stageIdle {
			return Effect{Kind: Sleep, Until: a.due}
		}
	}
}

// Abort drops the effect in flight without recording its outcome (the
// executor was interrupted: the work is not the node's failure) and ends
// the pass. The next pass plans again.
func (a *Agent) Abort(now time.Time) error {
	if !a.inflight {
		return ErrNoEffect
	}
	if a.inAction {
		a.events.add(now, EventEnd, a.act, "interrupted")
		a.inAction = false
	}
	a.inflight = false
	a.dirty = true
	a.finish(now, false)
	return nil
}

// Crash records that the node stopped abruptly at now (power off, kill
// -9): the action in flight failed (its files may be half written), the
// builds handed over are lost (failed), no program runs any more, and the
// pass ends. The view, the outbox and what the agent remembers of promise
// checks and destruction reports survive (a production agent keeps them on
// disk). After the boot, the executor calls Wake: the first pass plans.
func (a *Agent) Crash(now time.Time) {
	if a.inAction {
		a.actual.ApplyFailure(a.act, now)
		a.events.add(now, EventEnd, a.act, "crashed")
		a.inAction = false
	}
	for url := range a.building { // order-free: each release alone
		a.actual.ApplyFailure(converge.Action{Kind: converge.InstallSoftware, URL: url}, now)
	}
	clear(a.building)
	for id, p := range a.actual.Partitions { // order-free: each partition alone
		if p.Running {
			p.Running = false
			a.actual.Partitions[id] = p
		}
	}
	a.inflight, a.checkReport = false, false
	a.stage, a.actStep = stageIdle, stepRun
	a.dirty, a.woken = true, false
	a.resetPlan()
	a.due = now
}

// Counters are totals since New, for statistics.
type Counters struct {
	Passes, Plans, Actions, ActionFailures, PromiseChecks, ReportsSent uint64
}

// Counters returns the totals since New.
func (a *Agent) Counters() Counters { return a.count }

// Done records the outcome of the effect in flight at now.
func (a *Agent) Done(now time.Time, o Outcome) error {
	if !a.inflight {
		return ErrNoEffect
	}
	e := a.cur
	if e.Kind != FetchView && (o.View != nil || o.NotModified) {
		return fmt.Errorf("%w: %s got a view", errWrongOutcome, e.Kind)
	}
	if o.View != nil && o.NotModified {
		return errViewAndNotModif
	}
	if o.Refused && o.Unreachable {
		return fmt.Errorf("%w: refused and unreachable at once", errWrongOutcome)
	}
	a.inflight = false
	switch e.Kind {
	case FetchView:
		a.fetched(now, o)
		if o.NotModified && a.view == nil {
			return errNotModifiedNoView
		}
	case SendReport:
		if o.Err == nil {
			a.count.ReportsSent++
		}
		a.reportSent(now, e.Report, o)
	case Build:
		if o.Err == nil {
			a.building[e.Action.URL] = true
		}
	case RunAction:
		a.count.Actions++
		if o.Err != nil {
			a.count.ActionFailures++
		}
		a.actionRan(now, o)
	case Publish:
		a.published(now, e, o)
	case CheckPromises:
		a.count.PromiseChecks++
		a.promisesChecked(now, e, o)
	}
	return nil
}

// finish ends the pass: the next one is due a poll interval from now, or
// sooner when the plan or a retry is due; after failed fetches, with
// back-off from PollInterval doubling up to RetryMax.
func (a *Agent) finish(now time.Time, reached bool) {
	a.stage = stageIdle
	if !reached {
		a.due = now.Add(Backoff(a.offline, a.cfg.PollInterval, a.cfg.Converge.RetryMax))
		return
	}
	due := now.Add(a.cfg.PollInterval)
	if a.hasPlanDue && a.planDue.Before(due) {
		due = a.planDue
	}
	if a.hasRetry && a.retryDue.Before(due) {
		due = a.retryDue
	}
	if due.Before(now) {
		due = now
	}
	a.due = due
}

// Backoff is the delay after failures failures in a row of a loop that
// runs every first: first, doubling at each failure up to max (first when
// max is smaller). The other duties (capacity, usage, network
// captures) back off with it too.
func Backoff(failures int, first, max time.Duration) time.Duration {
	d := first
	for i := 1; i < failures && d < max; i++ {
		if d > max/2 {
			return max
		}
		d *= 2
	}
	if d > max && max >= first {
		return max
	}
	return d
}

func (a *Agent) noteRetry(t time.Time) {
	if !a.hasRetry || t.Before(a.retryDue) {
		a.retryDue, a.hasRetry = t, true
	}
}

// setView installs a new view and its indexes.
func (a *Agent) setView(v *model.ComputerView) {
	a.view = v
	a.lackKnown = false
	a.destroyIdx, a.startedIdx = a.destroyIdx[:0], a.startedIdx[:0]
	if v == nil {
		clear(a.index)
		a.ids = a.ids[:0]
		return
	}
	// The index stands while the view lists the same partitions in the
	// same order (the common new view: some partitions changed).
	if !slices.EqualFunc(a.ids, v.Partitions, func(id string, p model.PartitionView) bool { return id == p.ID }) {
		clear(a.index)
		a.ids = a.ids[:0]
		for i := range v.Partitions {
			p := &v.Partitions[i]
			a.ids = append(a.ids, p.ID)
			if _, dup := a.index[p.ID]; !dup {
				a.index[p.ID] = int32(i)
			}
		}
	}
	for i := range v.Partitions {
		p := &v.Partitions[i]
		if p.InstanceGUID == "" {
			continue
		}
		switch p.RequestedState {
		case model.StateDestroyed:
			a.destroyIdx = append(a.destroyIdx, int32(i))
		case model.StateStarted, "":
			a.startedIdx = append(a.startedIdx, int32(i))
		}
	}
	// Forget what concerns instances the view no longer shows there.
	for id, r := range a.destroyed {
		if p := a.partition(id); p == nil || p.InstanceGUID != r.guid || p.RequestedState != model.StateDestroyed {
			delete(a.destroyed, id)
		}
	}
	a.dropUnplaced()
}

// partition returns the view's entry for id, or nil.
func (a *Agent) partition(id string) *model.PartitionView {
	i, ok := a.index[id]
	if !ok {
		return nil
	}
	return &a.view.Partitions[i]
}

func (a *Agent) fetched(now time.Time, o Outcome) {
	if o.Err != nil {
		a.offline++
		a.finish(now, false)
		return
	}
	a.offline = 0
	a.fetches++
	if o.View != nil {
		a.setView(o.View)
		a.dirty = true
	}
	if a.view == nil {
		// "Not modified" of a view this agent never had (Done returns
		// the error): a failed fetch.
		a.offline++
		a.finish(now, false)
		return
	}
	a.drainPos = 0
	a.pub.pos, a.pub.stop = 0, false
	a.stage = stageDrain
	if a.opts.DestroyOnly {
		a.beginPlan(now)
	}
}
