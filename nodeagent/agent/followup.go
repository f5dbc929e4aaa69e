package agent

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/nodeagent/promise"
	"github.com/slapgo/slapgo/nodeagent/supervisor"
)

// followUp is what the agent remembers, between passes and in memory
// only, of the partitions a plan has nothing to do for: when their
// promises were last checked, and how telling the master of their
// destruction went (worker only).
type followUp struct {
	checked   map[string]time.Time // partition -> last promise check (or start)
	destroyed map[string]destroyReport
}

// destroyReport is the state of telling the master that a partition it
// still shows busy and requested destroyed is clean.
type destroyReport struct {
	guid     string    // the instance the view placed there
	due      time.Time // not before
	failures int
	told     int // times the master accepted the report
}

func (f *followUp) init() {
	if f.checked == nil {
		f.checked = map[string]time.Time{}
		f.destroyed = map[string]destroyReport{}
	}
}

// promisesChecked notes that a partition's promises were just checked (or
// its programs just started): the next anomaly check waits a poll
// interval.
func (a *Agent) promisesChecked(id string, now time.Time) {
	a.follow.init()
	a.follow.checked[id] = now
}

// destroyTold notes that the master was told a partition is clean.
func (a *Agent) destroyTold(id, guid string, now time.Time) {
	a.follow.init()
	r := a.follow.destroyed[id]
	if r.guid != guid {
		r = destroyReport{guid: guid}
	}
	r.failures, r.told, r.due = 0, r.told+1, now.Add(a.cfg.Grid.PollInterval/2)
	a.follow.destroyed[id] = r
}

// reportDestroyed tells the master, again if need be, that the partitions
// its view still shows busy and requested destroyed are clean here (wiped,
// or never deployed on this disk), as SlapOS's report loop does on every
// run: the master keeps a root allocated while its children live, and a
// node rebuilt with an empty disk has nothing to wipe. Each partition is
// told at most every half poll interval (so once per pass), and after a
// refusal or an error only when converge's back-off allows (retry_base
// doubling to retry_max). Partitions the view shows free cost nothing.
func (a *Agent) reportDestroyed(ctx context.Context, view *model.ComputerView) {
	a.follow.init()
	now := a.now()
	waiting := 0
	for i := range view.Partitions {
		pv := &view.Partitions[i]
		if pv.InstanceGUID == "" || pv.RequestedState != model.StateDestroyed {
			continue
		}
		waiting++
		id := pv.ID
		st, err := a.partitionState(id)
		if err != nil || st.InstanceGUID != "" || st.Running || a.servicesRunning(id) {
			continue // converge's destroy comes first (and tells the master)
		}
		r := a.follow.destroyed[id]
		if r.guid != pv.InstanceGUID {
			r = destroyReport{guid: pv.InstanceGUID}
		} else if now.Before(r.due) {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		err = a.client.PartitionDestroyed(ctx, a.cfg.ComputerID, id)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.failures++
			r.due = now.Add(converge.NextRetry(r.failures, a.convergeConfig()))
			a.follow.destroyed[id] = r
			a.log.Warn("partition clean, but the master was not told: will tell it again", "partition", id,
				"instance", pv.InstanceGUID, "failures", r.failures, "retry_at", r.due, "err", err)
			if isOffline(err) {
				return // the others would fail alike
			}
			continue
		}
		if r.told == 0 {
			a.log.Info("partition clean: master told it is destroyed", "partition", id, "instance", pv.InstanceGUID)
		} else {
			a.log.Debug("partition still shown destroyed: master told again", "partition", id, "instance", pv.InstanceGUID, "times", r.told+1)
		}
		a.destroyTold(id, pv.InstanceGUID, now)
	}
	if len(a.follow.destroyed) > waiting {
		// Forget the partitions the master freed (or gave another use).
		for id, r := range a.follow.destroyed {
			if pv := findPartition(view, id); pv == nil || pv.InstanceGUID != r.guid || pv.RequestedState != model.StateDestroyed {
				delete(a.follow.destroyed, id)
			}
		}
	}
}

// checkAnomalies is SlapOS's anomaly mode: the promises of every started
// partition the plan left alone (not reconfigured, not restarted, not
// failing) are run again, at most once per poll interval per partition,
// one partition at a time, the least recently checked first, for at most
// half a poll interval per pass (the rest wait for the next pass; at least
// one partition is checked). A failure is reported as the partition's
// error with the promise's output, a pass after such an error as started
// again; nothing is reported while the result does not change. A partition
// without promises costs one directory read. It returns the partitions
// checked.
func (a *Agent) checkAnomalies(ctx context.Context, view *model.ComputerView, actual converge.Actual, plan converge.Plan) []string {
	a.follow.init()
	now := a.now()
	poll := a.cfg.Grid.PollInterval
	planned := map[string]bool{}
	for _, act := range plan.Actions {
		if act.PartitionID != "" {
			planned[act.PartitionID] = true
			a.follow.checked[act.PartitionID] = now // its start checks them
		}
	}
	type due struct {
		id   string
		last time.Time
	}
	var todo []due
	for i := range view.Partitions {
		pv := &view.Partitions[i]
		if pv.InstanceGUID == "" || pv.RequestedState != model.StateStarted && pv.RequestedState != "" {
			continue
		}
		pa, ok := actual.Partitions[pv.ID]
		if !ok || planned[pv.ID] || !pa.Running || pa.InstanceGUID != pv.InstanceGUID || pa.AppliedVersion != pv.Version || pa.Failures > 0 {
			continue
		}
		last, seen := a.follow.checked[pv.ID]
		if !seen && a.daemon {
			// Just (re)started by this daemon, or first seen: the
			// programs get a poll interval to come up.
			a.follow.checked[pv.ID] = now
			continue
		}
		if seen && now.Sub(last) < poll {
			continue
		}
		todo = append(todo, due{pv.ID, last})
	}
	if len(todo) == 0 {
		return nil
	}
	slices.SortStableFunc(todo, func(x, y due) int { return x.last.Compare(y.last) })
	began := time.Now()
	var checked []string
	for _, d := range todo {
		if ctx.Err() != nil || len(checked) > 0 && time.Since(began) >= poll/2 {
			break
		}
		if a.checkAnomaly(ctx, d.id, now) {
			checked = append(checked, d.id)
		}
	}
	return checked
}

// checkAnomaly runs one partition's promises once and reports a change;
// false when the check could not complete (ctx done).
func (a *Agent) checkAnomaly(ctx context.Context, id string, now time.Time) bool {
	st, err := a.partitionState(id)
	if err != nil {
		a.log.Error("partition record unreadable", "partition", id, "err", err)
		return false
	}
	dir := a.partitionDir(id)
	paths, err := promise.List(dir)
	if err == nil && len(paths) == 0 && !st.Anomaly {
		a.follow.checked[id] = now
		return true // nothing to run: it holds, as it did
	}
	began := time.Now()
	if err == nil && len(paths) > 0 {
		var g supervisor.Group
		if g, err = a.group(id); err == nil {
			err = promise.Check(ctx, dir, a.promiseOptions(g, a.cfg.Grid.PromiseTimeout))
		}
	}
	if ctx.Err() != nil {
		return false
	}
	a.follow.checked[id] = now
	a.log.Debug("promises checked", "partition", id, "began", began, "ok", err == nil,
		"took", time.Since(began).Round(time.Millisecond))
	switch {
	case err != nil && !st.Anomaly:
		err = fmt.Errorf("agent: %s: %w", id, err)
		a.log.Warn("promise failed on a running partition: reported in error", "partition", id, "err", err)
		st.Anomaly = true
		st.Unreported = &stateReport{State: model.ReportedError, Error: err.Error()}
	case err == nil && st.Anomaly:
		a.log.Info("promises hold again: partition reported started", "partition", id)
		st.Anomaly = false
		st.Unreported = &stateReport{State: model.ReportedStarted}
	default:
		return true // no change: nothing to tell
	}
	if err := a.savePartition(id, st); err != nil {
		a.log.Error("partition record not saved", "partition", id, "err", err)
	}
	a.deliverReport(ctx, id, st)
	return true
}

// promiseOptions runs a partition's promises as its user.
func (a *Agent) promiseOptions(g supervisor.Group, timeout time.Duration) promise.Options {
	opts := promise.Options{Timeout: cmp.Or(timeout, 20*time.Second), Cred: g.Cred}
	if g.User != "" {
		opts.Env = []string{"USER=" + g.User, "LOGNAME=" + g.User}
	}
	return opts
}
