package agent

import (
	"maps"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
)

// advance moves the pass on: it returns the next effect (true), or moves
// to the next stage (false; idle when the pass ended).
func (a *Agent) advance(now time.Time) (Effect, bool) {
	switch a.stage {
	case stageFetch:
		return Effect{Kind: FetchView}, true
	case stageDrain:
		if a.drainPos < len(a.outbox) {
			return Effect{Kind: SendReport, Report: a.outbox[a.drainPos]}, true
		}
		if e, ok := a.nextKept(); ok {
			return e, true
		}
		a.beginPlan(now)
	case stageBuilds:
		for a.bpos < len(a.builds) {
			b := a.builds[a.bpos]
			a.bpos++
			if !a.building[b.URL] {
				return Effect{Kind: Build, Action: b}, true
			}
		}
		a.stage = stageActions
	case stageActions:
		if e, ok := a.nextActionEffect(); ok {
			return e, true
		}
		a.dpos, a.dOffline = 0, false
		a.stage = stageDestroyed
	case stageDestroyed:
		if e, ok := a.nextDestroyed(now); ok {
			return e, true
		}
		if a.opts.DestroyOnly {
			a.finish(now, true)
			return Effect{}, false
		}
		a.collectChecks(now)
		a.stage = stageChecks
	case stageChecks:
		if a.checkReport {
			return Effect{Kind: SendReport, Report: a.report}, true
		}
		if a.tpos < len(a.todo) && (a.tDone == 0 || now.Sub(a.tBegan) < a.cfg.PromiseBudget) {
			d := a.todo[a.tpos]
			if a.tDone == 0 {
				a.tBegan = now
			}
			a.checkBegan = now
			return Effect{Kind: CheckPromises, PartitionID: d.id, InstanceGUID: d.guid}, true
		}
		a.finish(now, true)
	}
	return Effect{}, false
}

// needPlan says whether the pass plans: the view changed, something
// invalidated the last plan, or converge's next deadline (or a retry) is
// reached. Otherwise the last plan, fully run, stands: planning again
// would plan nothing (converge's contract).
func (a *Agent) needPlan(now time.Time) bool {
	return a.dirty || a.opts.DestroyOnly ||
		(a.hasPlanDue && !now.Before(a.planDue)) ||
		(a.hasRetry && !now.Before(a.retryDue))
}

// beginPlan plans (when needed) and queues the plan's work.
func (a *Agent) beginPlan(now time.Time) {
	a.queue, a.qpos = a.queue[:0], 0
	a.builds, a.bpos = a.builds[:0], 0
	a.actStep = stepRun
	if !a.needPlan(now) {
		a.stage = stageActions
		return
	}
	a.plan = a.replan.Plan(*a.view, a.actual, now, a.cfg.Converge)
	a.count.Plans++
	a.dirty, a.hasRetry = false, false
	a.hasPlanDue = a.plan.RequeueAfter > 0
	if a.hasPlanDue {
		a.planDue = now.Add(a.plan.RequeueAfter)
	}
	clear(a.failed)
	a.destroyKO = false
	if !a.lackKnown {
		a.lacks, a.lackKnown = a.waitsForSoftware(), true
	}
	a.unsettled = a.lacks
	for _, act := range a.plan.Actions {
		switch {
		case act.Kind == converge.InstallSoftware:
			if a.opts.DestroyOnly {
				a.dirty = true
			} else {
				a.builds = append(a.builds, act)
				a.unsettled = true
			}
			continue
		case act.Kind == converge.RemoveSoftware:
			if a.opts.DestroyOnly && a.cfg.RunRemovals {
				a.dirty = true
			}
			if !a.cfg.RunRemovals || a.opts.DestroyOnly {
				continue
			}
		case a.opts.DestroyOnly && (act.State != model.StateDestroyed ||
			(act.Kind != converge.StopPartition && act.Kind != converge.DestroyPartition)):
			a.dirty = true // left for the next full pass, which plans again
			continue
		}
		a.queue = append(a.queue, act)
		if act.PartitionID != "" {
			if a.cfg.PromiseInterval >= 0 { // read by collectChecks only
				a.planned[act.PartitionID] = a.passSeq
			}
			// Its start checks the promises: no anomaly check for a poll
			// interval.
			a.checked[act.PartitionID] = now
		}
	}
	a.markLast()
	a.stage = stageBuilds
}

// markLast sets lastOf[i]: queue[i] is the last action of its partition.
// A short queue (the common plan: a partition or two) is scanned; a long
// one goes through a map.
func (a *Agent) markLast() {
	q := a.queue
	a.lastOf = slices.Grow(a.lastOf[:0], len(q))[:len(q)]
	if len(q) <= 32 {
		for i := range q {
			id := q[i].PartitionID
			a.lastOf[i] = id != "" && !slices.ContainsFunc(q[i+1:], func(b converge.Action) bool { return b.PartitionID == id })
		}
		return
	}
	clear(a.lastOfIdx)
	for i, act := range q {
		a.lastOf[i] = false
		if act.PartitionID != "" {
			a.lastOfIdx[act.PartitionID] = i
		}
	}
	for _, i := range a.lastOfIdx {
		a.lastOf[i] = true
	}
}

// waitsForSoftware reports whether a partition with an instance to run
// lacks its release (it waits for a build, or for its back-off). The
// partitions of a node share few releases: each installed one is looked up
// once, not once per partition.
func (a *Agent) waitsForSoftware() bool {
	var checked [4]string // releases found installed, the latest ones
	n := 0
	for i := range a.view.Partitions {
		p := &a.view.Partitions[i]
		url := p.SoftwareRelease
		if p.InstanceGUID == "" || p.RequestedState == model.StateDestroyed || url == "" ||
			slices.Contains(checked[:min(n, len(checked))], url) {
			continue
		}
		if !a.actual.Software[url].Installed {
			return true
		}
		checked[n%len(checked)] = url
		n++
	}
	return false
}

// nextActionEffect returns the next effect of the plan's actions.
func (a *Agent) nextActionEffect() (Effect, bool) {
	switch a.actStep {
	case stepPublish:
		p := a.pubs[a.ppos]
		return Effect{Kind: Publish, PartitionID: a.act.PartitionID, InstanceGUID: a.act.InstanceGUID,
			SharedGUID: p.shared, Parameters: p.params}, true
	case stepCheck:
		return Effect{Kind: CheckPromises, PartitionID: a.act.PartitionID, InstanceGUID: a.act.InstanceGUID, AfterStart: true}, true
	case stepReport:
		return Effect{Kind: SendReport, Report: a.report}, true
	case stepDestroyed:
		return Effect{Kind: SendReport, Report: Report{Kind: ReportDestroyed, PartitionID: a.act.PartitionID, InstanceGUID: a.act.InstanceGUID, Version: a.act.Version}}, true
	}
	for a.qpos < len(a.queue) {
		act := a.queue[a.qpos]
		a.qpos++
		if act.PartitionID != "" && a.failed[act.PartitionID] {
			continue // a failed partition's other actions wait for its retry
		}
		if act.Kind == converge.RemoveSoftware && a.destroyKO {
			continue // the destruction that frees it comes first
		}
		a.act = act
		return Effect{Kind: RunAction, Action: act}, true
	}
	return Effect{}, false
}

// actionRan records a RunAction outcome and goes on with the action's
// publications or promise check, if any.
func (a *Agent) actionRan(now time.Time, o Outcome) {
	act := a.act
	if o.Err != nil {
		a.endAction(now, o.Err)
		return
	}
	switch act.Kind {
	case converge.ConfigurePartition:
		a.pubs, a.ppos = a.pubs[:0], 0
		if len(o.Connection) > 0 {
			a.pubs = append(a.pubs, publication{params: o.Connection})
		}
		if len(o.Shared) > 0 { // most host none: no sorting of nothing
			for _, guid := range slices.Sorted(maps.Keys(o.Shared)) {
				a.pubs = append(a.pubs, publication{shared: guid, params: o.Shared[guid]})
			}
		}
		if len(a.pubs) > 0 {
			a.actStep = stepPublish
			return
		}
	case converge.StartPartition:
		a.actStep = stepCheck
		return
	}
	a.endAction(now, nil)
}

// endAction records the current action's success or failure in Actual and
// sends the partition's state report, as the production agent did:
//
//   - any failure: error, with the message;
//   - the partition's last action of the plan: started after a start,
//     stopped after a stop or a configuration of a stopped instance;
//   - a destruction the view asked for: the master is told the partition
//     is clean (see nextDestroyed for the follow-up).
func (a *Agent) endAction(now time.Time, err error) {
	act := a.act
	a.actStep = stepRun
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	a.events.add(now, EventEnd, act, msg)
	a.inAction = false
	if err != nil {
		a.actual.ApplyFailure(act, now)
		if act.PartitionID != "" {
			a.failed[act.PartitionID] = true
			a.noteRetry(now.Add(converge.NextRetry(a.actual.Partitions[act.PartitionID].Failures, a.cfg.Converge)))
		} else {
			a.noteRetry(now.Add(converge.NextRetry(a.actual.Software[act.URL].Failures, a.cfg.Converge)))
		}
		if act.Kind == converge.DestroyPartition {
			a.destroyKO = true
		}
		a.unsettled = true
	} else {
		a.actual.ApplySuccess(act, now)
	}
	if act.PartitionID == "" {
		a.softwareChanged(act.URL) // a release: the partitions that run it
	} else {
		a.replan.Changed(act.PartitionID)
	}
	if act.PartitionID == "" {
		if act.Kind == converge.RemoveSoftware && err == nil {
			a.Keep(Report{Kind: ReportSoftware, URL: act.URL, Software: model.SoftwareRemoved})
		}
		return
	}
	switch act.Kind {
	case converge.StartPartition:
		a.checked[act.PartitionID] = now
	case converge.DestroyPartition:
		if err == nil {
			delete(a.checked, act.PartitionID)
			delete(a.anomaly, act.PartitionID)
			a.dropPartition(act.PartitionID)
			if p := a.partition(act.PartitionID); p != nil && p.InstanceGUID != "" &&
				p.InstanceGUID == act.InstanceGUID && p.RequestedState == model.StateDestroyed {
				delete(a.destroyed, act.PartitionID) // told afresh
				a.actStep = stepDestroyed
			}
		}
		return
	}
	last := a.lastOf[a.qpos-1]
	var r Report
	switch {
	case err != nil:
		r = Report{State: model.ReportedError, Error: err.Error()}
	case !last:
		return
	case act.Kind == converge.StartPartition:
		r = Report{State: model.ReportedStarted}
	case act.State == model.StateStopped && (act.Kind == converge.StopPartition || act.Kind == converge.ConfigurePartition):
		r = Report{State: model.ReportedStopped}
	default:
		return
	}
	r.Kind, r.PartitionID, r.InstanceGUID, r.Version = ReportState, act.PartitionID, act.InstanceGUID, act.Version
	delete(a.anomaly, act.PartitionID) // this report supersedes the anomaly's
	a.Keep(r)
	a.report = r
	a.actStep = stepReport
}

// reportSent records a SendReport outcome: the report leaves the outbox
// once the master has it, or refused it (it would refuse it again). A
// master out of reach stops the drain (the others would fail alike); a
// report that failed otherwise stays for the next pass.
func (a *Agent) reportSent(now time.Time, r Report, o Outcome) {
	if r.Kind == ReportDestroyed {
		a.destroyReported(now, r, o)
		switch a.stage {
		case stageActions:
			a.actStep = stepRun
		case stageDestroyed:
			a.dOffline = o.Unreachable
		}
		return
	}
	if o.Refused {
		a.pub.count.ReportsRefused++
	}
	if o.Err == nil || o.Refused {
		for i := range a.outbox {
			if a.outbox[i] == r {
				a.outbox = slices.Delete(a.outbox, i, i+1)
				break
			}
		}
	}
	switch a.stage {
	case stageDrain:
		if o.Err != nil && !o.Refused { // it stayed
			a.drainPos++
			if o.Unreachable {
				a.drainPos = len(a.outbox)
				a.pub.stop = true // the publications wait too
			}
		}
	case stageActions:
		a.actStep = stepRun
	case stageChecks:
		a.checkReport = false
	}
}

// destroyReported records the outcome of telling the master a partition
// is clean: told again every half poll interval while a view fetched since
// shows it busy, after a failure when converge's back-off allows, and
// never again after a refusal.
func (a *Agent) destroyReported(now time.Time, r Report, o Outcome) {
	f := a.destroyed[r.PartitionID]
	if f.guid != r.InstanceGUID {
		f = destroyFollow{guid: r.InstanceGUID}
	}
	f.fetch = a.fetches
	if o.Refused {
		f.refused = true
		a.pub.count.DestroyedRefused++
	}
	if o.Err != nil {
		f.failures++
		f.due = now.Add(converge.NextRetry(f.failures, a.cfg.Converge))
	} else {
		f.failures, f.told, f.due = 0, f.told+1, now.Add(a.cfg.PollInterval/2)
	}
	a.destroyed[r.PartitionID] = f
}

// nextDestroyed returns the next report that a partition the view shows
// busy and requested destroyed is clean here (wiped, or never deployed on
// this disk), as SlapOS's report loop does on every run: the master keeps
// a root allocated while its children live, and a node rebuilt with an
// empty disk has nothing to wipe. NB: a view fetched before the last
// report may predate its effect (a pass of long actions): only a later
// fetch tells whether the master still shows the partition busy, and
// whether it holds the same instance (a report about a partition the
// master freed and gave to another is refused).
func (a *Agent) nextDestroyed(now time.Time) (Effect, bool) {
	for !a.dOffline && a.dpos < len(a.destroyIdx) {
		p := &a.view.Partitions[a.destroyIdx[a.dpos]]
		a.dpos++
		if pa := a.actual.Partitions[p.ID]; pa.InstanceGUID != "" || pa.Running {
			continue // converge's destruction comes first (and tells the master)
		}
		if f, ok := a.destroyed[p.ID]; ok && f.guid == p.InstanceGUID &&
			(f.refused || a.fetches <= f.fetch || now.Before(f.due)) {
			continue
		}
		return Effect{Kind: SendReport, Report: Report{Kind: ReportDestroyed, PartitionID: p.ID, InstanceGUID: p.InstanceGUID, Version: p.Version}}, true
	}
	return Effect{}, false
}

// DestroyTold reports how many times the master accepted that partition
// id is clean, for the instance the view places there, and how many
// reports failed in a row since.
func (a *Agent) DestroyTold(id string) (told, failures int) {
	f := a.destroyed[id]
	return f.told, f.failures
}

// collectChecks lists the started partitions whose promises are due: the
// plans leave them alone (not reconfigured, not restarted, not failing),
// and their last check is PromiseInterval old. The least recently checked
// come first.
func (a *Agent) collectChecks(now time.Time) {
	a.todo, a.tpos, a.tDone = a.todo[:0], 0, 0
	if a.cfg.PromiseInterval < 0 {
		return
	}
	for _, i := range a.startedIdx {
		p := &a.view.Partitions[i]
		pa, ok := a.actual.Partitions[p.ID]
		if !ok || a.planned[p.ID] == a.passSeq || !pa.Running || pa.InstanceGUID != p.InstanceGUID ||
			pa.AppliedVersion != p.Version || pa.Failures > 0 {
			continue
		}
		last, seen := a.checked[p.ID]
		if !seen && a.cfg.WaitFirstCheck {
			a.checked[p.ID] = now // its programs get an interval to come up
			continue
		}
		if seen && now.Sub(last) < a.cfg.PromiseInterval {
			continue
		}
		a.todo = append(a.todo, checkDue{id: p.ID, guid: p.InstanceGUID, last: last})
	}
	slices.SortStableFunc(a.todo, func(x, y checkDue) int { return x.last.Compare(y.last) })
}

// promisesChecked records a CheckPromises outcome.
func (a *Agent) promisesChecked(now time.Time, e Effect, o Outcome) {
	if e.AfterStart {
		a.endAction(now, o.Err)
		return
	}
	a.tpos++
	a.tDone++
	id := e.PartitionID
	a.checked[id] = a.checkBegan // what it found holds from then on
	var r Report
	switch {
	case o.Err != nil && !a.anomaly[id]:
		a.anomaly[id] = true
		r = Report{State: model.ReportedError, Error: o.Err.Error()}
	case o.Err == nil && a.anomaly[id]:
		delete(a.anomaly, id)
		r = Report{State: model.ReportedStarted}
	default:
		return // no change: nothing to tell
	}
	r.Kind, r.PartitionID, r.InstanceGUID = ReportState, id, e.InstanceGUID
	if p := a.partition(id); p != nil {
		r.Version = p.Version
	}
	a.Keep(r)
	a.report, a.checkReport = r, true // sent at once, from the outbox
}

// SoftwareWork is the part of plan a software loop running apart from the
// instance loop does (Config.RunRemovals false): the installs, and the
// removals unless the plan still destroys a partition (one may use the
// release; the instance loop destroys it first).
func SoftwareWork(plan converge.Plan) (installs, removals []converge.Action) {
	destroying := slices.ContainsFunc(plan.Actions, func(a converge.Action) bool { return a.Kind == converge.DestroyPartition })
	for _, act := range plan.Actions {
		switch {
		case act.Kind == converge.InstallSoftware:
			installs = append(installs, act)
		case act.Kind == converge.RemoveSoftware && !destroying:
			removals = append(removals, act)
		}
	}
	return installs, removals
}
