package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/format"
	"github.com/slapgo/slapgo/nodeagent/promise"
)

// errNoBuilder: a one-shot instance pass builds nothing (the software pass
// does).
var errNoBuilder = errors.New("agent: builds are the software pass's in a one-shot instance pass")

// coreAgent returns the instance loop's decisions (core/agent), made at the
// first pass with what the disk remembers: the cached view, the reports
// not delivered, the connection parameters not published, the anomalies
// (worker held).
func (a *Agent) coreAgent() *agentcore.Agent {
	if a.core != nil {
		return a.core
	}
	g := a.cfg.Grid
	c := agentcore.New(agentcore.Config{
		Converge:       a.convergeConfig(),
		PollInterval:   g.PollInterval,
		WaitFirstCheck: a.daemon,
		EventLog:       eventLogSize,
	}, converge.Actual{})
	a.mu.Lock()
	if a.view == nil {
		a.view, a.etag = a.cachedView()
	}
	if a.view != nil {
		c.SetView(a.view)
	}
	a.mu.Unlock()
	// Publications come back in the order they were kept (their seq),
	// those of records without one after, in partition order.
	var legacy []agentcore.Publication
	for _, p := range format.Layout(&a.cfg) {
		st, err := a.partitionState(p.ID)
		if err != nil {
			a.log.Error("partition record unreadable", "partition", p.ID, "err", err)
			continue
		}
		if r := st.Unreported; r != nil {
			c.Keep(agentcore.Report{Kind: agentcore.ReportState, PartitionID: p.ID, InstanceGUID: st.InstanceGUID,
				Version: st.AppliedVersion, State: r.State, Error: r.Error})
		}
		for _, u := range st.Unpublished {
			pub := agentcore.Publication{PartitionID: p.ID, InstanceGUID: u.InstanceGUID,
				SharedGUID: u.SharedGUID, Parameters: u.Parameters, Seq: u.Seq}
			if u.Seq == 0 {
				legacy = append(legacy, pub)
				continue
			}
			c.KeepPublication(pub)
		}
		c.SetAnomaly(p.ID, st.Anomaly)
	}
	for _, pub := range legacy {
		c.KeepPublication(pub)
	}
	a.core = c
	return c
}

// pass runs one pass of the instance loop: core/agent decides, this
// executes, one effect at a time (worker held for the whole pass).
func (a *Agent) pass(ctx context.Context, o agentcore.PassOptions) (InstanceResult, error) {
	var res InstanceResult
	a.worker.Lock()
	defer a.worker.Unlock()
	c := a.coreAgent()
	a.mu.Lock()
	done := a.buildsDone
	a.buildsDone = nil
	a.mu.Unlock()
	for _, b := range done {
		c.BuildDone(a.now(), b.url, b.err)
	}
	if !c.Begin(a.now(), o) {
		return res, errors.New("agent: an instance pass is already in progress")
	}
	x := passExec{a: a, c: c, res: &res}
	defer func() {
		a.logEvents(c)
		a.writeDaemonStatus(c, res.Next)
	}()
	for {
		e := c.Next(a.now())
		if e.Kind == agentcore.Sleep {
			res.Next = e.Until
			break
		}
		a.logEvents(c)
		if ctx.Err() != nil {
			c.Abort(a.now())
			break
		}
		out := x.execute(ctx, e)
		if out.Err != nil && ctx.Err() != nil {
			// Interrupted: not the node's failure, nothing recorded.
			a.log.Warn("interrupted", "effect", e.String(), "err", out.Err)
			c.Abort(a.now())
			break
		}
		if err := c.Done(a.now(), out); err != nil {
			return res, err
		}
		a.logEvents(c)
		x.recorded(e, out)
	}
	res.Plan = c.Plan()
	if x.fetchErr != nil {
		return res, x.fetchErr
	}
	return res, ctx.Err()
}

// passExec executes the effects of one pass.
type passExec struct {
	a        *Agent
	c        *agentcore.Agent
	res      *InstanceResult
	fetchErr error
	// action: the index in res.Results of the action whose publications
	// or promises follow; began: when it began.
	action int
	began  time.Time
}

// execute runs one effect and returns its outcome.
func (x *passExec) execute(ctx context.Context, e agentcore.Effect) agentcore.Outcome {
	a := x.a
	switch e.Kind {
	case agentcore.FetchView:
		return x.fetch(ctx)
	case agentcore.Build:
		if !a.daemon {
			return agentcore.Failed(errNoBuilder)
		}
		if a.builds.submit(ctx, e.Action) {
			x.res.Builds = append(x.res.Builds, e.Action.URL)
		}
		return agentcore.OK()
	case agentcore.RunAction:
		x.began = a.now()
		out := a.runAction(ctx, e.Action)
		x.res.Results = append(x.res.Results, ActionResult{Action: e.Action, Err: out.Err, Duration: a.now().Sub(x.began)})
		x.action = len(x.res.Results) - 1
		return out
	case agentcore.Publish:
		req := api.ConnectionRequest{SharedGUID: e.SharedGUID, Parameters: e.Parameters}
		err := a.client.SetConnection(ctx, a.cfg.ComputerID, e.PartitionID, req)
		if err != nil {
			if e.SharedGUID != "" {
				err = fmt.Errorf("agent: publishing the connection parameters of shared instance %s in %s: %w", e.SharedGUID, e.PartitionID, err)
			} else {
				err = fmt.Errorf("agent: publishing the connection parameters of %s: %w", e.PartitionID, err)
			}
		}
		return masterOutcome(err)
	case agentcore.CheckPromises:
		if e.AfterStart {
			err := a.startPromises(ctx, e.PartitionID)
			if err != nil {
				x.actionFailed(err)
			} else {
				x.res.Results[x.action].Duration = a.now().Sub(x.began)
			}
			return outcome(err)
		}
		ok, err := a.checkAnomaly(ctx, e.PartitionID)
		if ok {
			x.res.Checked = append(x.res.Checked, e.PartitionID)
		}
		return outcome(err)
	case agentcore.SendReport:
		return masterOutcome(a.sendReport(ctx, e.Report))
	}
	return agentcore.Failed(fmt.Errorf("agent: effect %s is not executed by the node agent", e.Kind))
}

// actionFailed records the failure of the action in flight's follow-up
// (publication, promises) as the action's.
func (x *passExec) actionFailed(err error) {
	r := &x.res.Results[x.action]
	r.Err, r.Duration = err, x.a.now().Sub(x.began)
}

func outcome(err error) agentcore.Outcome {
	if err != nil {
		return agentcore.Failed(err)
	}
	return agentcore.OK()
}

// masterOutcome tells an unreachable master from one that refused (an
// answer the same request would get again: 400, 403, 404, 409, 422) and
// from one that answered another error.
func masterOutcome(err error) agentcore.Outcome {
	switch {
	case err == nil:
		return agentcore.OK()
	case isOffline(err):
		return agentcore.Unreachable(err)
	case isRefusal(err):
		return agentcore.Refused(err)
	}
	return agentcore.Failed(err)
}

// isRefusal reports whether the master answered err with a status that
// says no to the request itself.
func isRefusal(err error) bool {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Status {
	case 400, 403, 404, 409, 422:
		return true
	}
	return false
}

// fetch polls the view and reads the partitions' records and processes
// (converge.Actual) for the plan.
func (x *passExec) fetch(ctx context.Context) agentcore.Outcome {
	a := x.a
	x.res.Polled = a.now()
	view, changed, err := a.fetchView(ctx)
	if err != nil {
		x.fetchErr = err
		if errors.Is(err, ErrOffline) {
			return agentcore.Unreachable(err)
		}
		return agentcore.Failed(err)
	}
	x.res.ViewChanged = changed
	actual, err := a.actual(view)
	if err != nil {
		x.fetchErr = err
		return agentcore.Failed(err)
	}
	*x.c.Actual() = actual
	x.c.Invalidate() // the records and processes are the truth: plan afresh
	// NB: the software loop polls too: a view it fetched is new here
	// although this poll was answered "not modified".
	if view != x.c.View() {
		return agentcore.ViewFetched(view)
	}
	return agentcore.NotModified()
}

// recorded writes what an outcome changed in a partition's record.
func (x *passExec) recorded(e agentcore.Effect, out agentcore.Outcome) {
	a := x.a
	id := e.PartitionID
	switch e.Kind {
	case agentcore.RunAction:
		id = e.Action.PartitionID
		a.logAction(e.Action, out.Err)
		if id != "" && e.Action.Kind == converge.DestroyPartition && out.Err == nil {
			// Clean: the record goes (syncRecord writes it again if a
			// report is still to send).
			if err := a.savePartition(id, &partitionState{}); err != nil {
				a.log.Error("partition record not removed", "partition", id, "err", err)
			}
		}
	case agentcore.SendReport:
		id = e.Report.PartitionID
		x.logReport(e.Report, out)
		if e.Report.Kind != agentcore.ReportState {
			return
		}
	case agentcore.CheckPromises:
		if !e.AfterStart {
			was := false
			if st := a.parts[id]; st != nil {
				was = st.Anomaly
			}
			switch now := x.c.Anomaly(id); {
			case now && !was:
				a.log.Warn("promise failed on a running partition: reported in error", "partition", id, "err", out.Err)
			case !now && was:
				a.log.Info("promises hold again: partition reported started", "partition", id)
			}
		}
	case agentcore.Publish:
		x.logPublication(e, out)
	case agentcore.FetchView:
		// A new view may have dropped kept publications.
		for id, st := range a.parts { // order-free: each record alone
			if len(st.Unpublished) > 0 && !sameUnpublished(st.Unpublished, unpublishedOf(x.c.Unpublished(), id)) {
				if err := a.syncRecord(id, nil, false); err != nil {
					a.log.Error("partition record not saved", "partition", id, "err", err)
				}
			}
		}
		return
	default:
		return
	}
	if id == "" {
		return
	}
	// An action may have changed the record's own fields (certificate,
	// destroy hook): always saved.
	failure := out.Err
	if e.Kind == agentcore.Publish {
		failure = nil // the configuration succeeded: the record's error stands
	}
	if err := a.syncRecord(id, failure, e.Kind == agentcore.RunAction); err != nil {
		a.log.Error("partition record not saved", "partition", id, "err", err)
	}
}

// syncRecord writes into a partition's state.json what core/agent now
// holds of it: converge's record, the report not delivered, the
// publications kept, the anomaly; unless force, only when that changed
// the record.
func (a *Agent) syncRecord(id string, failure error, force bool) error {
	st, err := a.partitionState(id)
	if err != nil {
		return err
	}
	c := a.core
	before, beforeReport := *st, st.Unreported
	if pa, ok := c.Actual().Partitions[id]; ok {
		st.setActual(pa)
	} else {
		st.setActual(converge.PartitionActual{})
	}
	if failure != nil && st.Failures > 0 {
		st.LastError = failure.Error()
	}
	st.Unreported = nil
	if r, ok := c.Pending(id); ok {
		st.Unreported = &stateReport{State: r.State, Error: r.Error}
	}
	st.Anomaly = c.Anomaly(id)
	beforeUnpublished := st.Unpublished
	st.Unpublished = unpublishedOf(c.Unpublished(), id)
	after := *st
	before.Unreported, after.Unreported = nil, nil
	before.Unpublished, after.Unpublished = nil, nil
	if !force && before.equal(&after) && (beforeReport == nil) == (st.Unreported == nil) &&
		(beforeReport == nil || *beforeReport == *st.Unreported) && sameUnpublished(beforeUnpublished, st.Unpublished) {
		return nil // nothing changed: most anomaly checks
	}
	return a.savePartition(id, st)
}

func (a *Agent) logAction(act converge.Action, err error) {
	log := a.log.With("partition", act.PartitionID, "action", string(act.Kind), "reason", string(act.Reason), "version", act.Version)
	if act.PartitionID == "" {
		log = a.log.With("software", act.URL, "action", string(act.Kind))
	}
	if err != nil {
		log.Error("partition action failed", "err", err)
		return
	}
	log.Info("partition action done")
}

// logPublication says what became of a publication that did not reach the
// master at once.
func (x *passExec) logPublication(e agentcore.Effect, out agentcore.Outcome) {
	log := x.a.log.With("partition", e.PartitionID, "instance", e.InstanceGUID)
	if e.SharedGUID != "" {
		log = log.With("shared", e.SharedGUID)
	}
	switch out.Answer() {
	case agentcore.Answered:
		if e.Kept {
			log.Info("kept connection parameters published")
		}
	case agentcore.AnswerRefused:
		log.Error("connection parameters refused by the master: not sent again", "err", out.Err)
	default:
		log.Warn("connection parameters not published: kept, will be sent again", "err", out.Err)
	}
}

func (x *passExec) logReport(r agentcore.Report, out agentcore.Outcome) {
	a := x.a
	switch {
	case r.Kind == agentcore.ReportDestroyed && out.Refused:
		a.log.Warn("partition clean, but the master refused to free it: not told again for this instance", "partition", r.PartitionID,
			"instance", r.InstanceGUID, "err", out.Err)
	case r.Kind == agentcore.ReportDestroyed && out.Err != nil:
		told, failures := x.c.DestroyTold(r.PartitionID)
		_ = told
		a.log.Warn("partition clean, but the master was not told: will tell it again", "partition", r.PartitionID,
			"instance", r.InstanceGUID, "failures", failures, "err", out.Err)
	case r.Kind == agentcore.ReportDestroyed:
		if told, _ := x.c.DestroyTold(r.PartitionID); told == 1 {
			a.log.Info("partition clean: master told it is destroyed", "partition", r.PartitionID, "instance", r.InstanceGUID)
		} else {
			a.log.Debug("partition still shown destroyed: master told again", "partition", r.PartitionID, "instance", r.InstanceGUID, "times", told)
		}
	case out.Refused:
		a.log.Error("partition state refused by the master: not sent again", "partition", r.PartitionID, "state", r.State, "err", out.Err)
	case out.Err != nil:
		a.log.Warn("partition state not reported: will be sent again", "partition", r.PartitionID, "state", r.State, "err", out.Err)
	}
}

// sendReport tells the master a partition's state, or that it is clean.
func (a *Agent) sendReport(ctx context.Context, r agentcore.Report) error {
	switch r.Kind {
	case agentcore.ReportState:
		return a.client.ReportPartition(ctx, a.cfg.ComputerID, r.PartitionID, api.PartitionStateRequest{State: r.State, Error: truncate(r.Error, 8<<10)})
	case agentcore.ReportDestroyed:
		return a.client.PartitionDestroyed(ctx, a.cfg.ComputerID, r.PartitionID)
	case agentcore.ReportSoftware:
		return a.client.ReportSoftware(ctx, a.cfg.ComputerID, api.SoftwareStateRequest{URL: r.URL, State: r.Software, Error: r.Error})
	}
	return fmt.Errorf("agent: report kind %d unknown", r.Kind)
}

// runAction runs one partition action (a configuration returns what its
// instance publishes).
func (a *Agent) runAction(ctx context.Context, act converge.Action) agentcore.Outcome {
	if act.Kind == converge.RemoveSoftware {
		return outcome(a.remove(ctx, act))
	}
	st, err := a.partitionState(act.PartitionID)
	if err != nil {
		return agentcore.Failed(err)
	}
	a.mu.Lock()
	view := a.view
	a.mu.Unlock()
	pv := findPartition(view, act.PartitionID)
	switch act.Kind {
	case converge.StopPartition:
		err = a.stopPartition(act.PartitionID)
	case converge.DestroyPartition:
		err = a.destroyPartition(ctx, act, st)
	case converge.ConfigurePartition:
		var d publication
		d, err = a.configurePartition(ctx, pv, act, st)
		if err == nil {
			return agentcore.Configured(d.own, d.shared)
		}
	case converge.StartPartition:
		err = a.startPartition(act)
	default:
		err = fmt.Errorf("agent: action %s is not a partition action", act.Kind)
	}
	return outcome(err)
}

// publication is what a configuration publishes.
type publication struct {
	own    map[string]string
	shared map[string]map[string]string
}

// startPromises checks a partition's promises right after its start,
// retrying those that fail until promise_timeout passed (a service needs a
// moment to listen).
func (a *Agent) startPromises(ctx context.Context, id string) error {
	g, err := a.group(id)
	if err != nil {
		return err
	}
	timeout := a.cfg.Grid.PromiseTimeout
	opts := a.promiseOptions(g, timeout)
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for failures := 1; ; failures++ {
		err := promise.Check(ctx, g.Dir, opts)
		if err == nil || !errors.Is(err, promise.ErrFailed) {
			return err
		}
		t := time.NewTimer(agentcore.PromiseRetryPause(failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wait.Done():
			t.Stop()
			return fmt.Errorf("agent: %s: %w", id, err)
		case <-t.C:
		}
	}
}

// checkAnomaly runs a started partition's promises once (SlapOS's anomaly
// mode); a partition without promises costs one directory read. ok is
// false when the check could not complete (ctx done).
func (a *Agent) checkAnomaly(ctx context.Context, id string) (ok bool, err error) {
	st, err := a.partitionState(id)
	if err != nil {
		return false, err
	}
	dir := a.partitionDir(id)
	paths, err := promise.List(dir)
	if err == nil && len(paths) == 0 && !st.Anomaly {
		return true, nil // nothing to run: it holds, as it did
	}
	began := a.now()
	if err == nil && len(paths) > 0 {
		g, gerr := a.group(id)
		if err = gerr; err == nil {
			err = promise.Check(ctx, dir, a.promiseOptions(g, a.cfg.Grid.PromiseTimeout))
		}
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	a.log.Debug("promises checked", "partition", id, "began", began, "ok", err == nil,
		"took", a.now().Sub(began).Round(time.Millisecond))
	if err != nil {
		return true, fmt.Errorf("agent: %s: %w", id, err)
	}
	return true, nil
}

// findPartition returns the view's entry for id, or nil.
func findPartition(view *model.ComputerView, id string) *model.PartitionView {
	if view == nil {
		return nil
	}
	for i := range view.Partitions {
		if view.Partitions[i].ID == id {
			return &view.Partitions[i]
		}
	}
	return nil
}
