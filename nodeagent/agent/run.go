package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/nodeagent/format"
	"github.com/slapgo/slapgo/nodeagent/usage"
)

// LogInstancePass is the message of the debug record the daemon logs
// after each instance pass: when it polled the master ("polled", a
// time.Time, zero when it did not), how many partition actions it ran
// ("actions"), when
// core/agent wants the next pass ("next", before the schedule's jitter)
// and its error ("err"). An operator reads from it when changes are
// picked up; a handler may match the message to follow the polls.
const LogInstancePass = "instance pass"

// RunOptions tunes the daemon.
type RunOptions struct {
	// KeepServices leaves the partitions' programs running when the
	// daemon stops; the next daemon restarts them (supervisor.KillStale).
	KeepServices bool
}

// Run is the daemon (`slapgo node run`): it formats the computer and
// restarts the programs of partitions recorded running, then runs its
// duties until ctx is done. core/agent's Schedule says when each runs and
// how it backs off (see its documentation); the daemon executes them, each
// in its own goroutine, one run of each at a time:
//
//   - instance: when core/agent's Agent says (a finished build wakes it);
//   - software: every poll_interval; builds on their own pool;
//   - capacity: format and announce every capacity_interval;
//   - network accounting (as root): one capture per interface the
//     partitions' traffic crosses, from the first format that succeeds;
//   - usage: samples every few minutes, a journal every usage_interval,
//     its delivery (retried while the master is away);
//   - destruction: every destruction_interval.
//
// The programs keep running while the master is away. When ctx is done
// the duties stop, the builds in progress are interrupted, and the
// programs are stopped unless o.KeepServices.
func (a *Agent) Run(ctx context.Context, o RunOptions) error {
	g := a.cfg.Grid
	a.daemon = true
	a.log.Info("node agent starting", "computer", a.cfg.ComputerID, "master", a.cfg.MasterURL,
		"privileged", a.privileged, "partitions", a.cfg.Format.PartitionAmount, "poll_interval", g.PollInterval)
	cfg := agentcore.ScheduleConfig{
		PollInterval: g.PollInterval, RetryMax: g.RetryMax, Instance: true,
		SoftwareInterval: g.PollInterval, CapacityInterval: g.CapacityInterval,
		DestructionInterval: g.DestructionInterval, UsageInterval: g.UsageInterval,
		DiskInterval: g.DestructionInterval,
		// Nodes that boot together must not poll together (SlapOS waits a
		// random delay before its runs for the same reason).
		Rand: rand.New(rand.NewPCG(rand.Uint64(), uint64(os.Getpid()))),
	}
	if a.privileged {
		cfg.Captures = captureInterfaces(&a.cfg)
	} else {
		a.log.Info("network accounting off: needs root")
	}
	rep, err := a.reporter()
	if err != nil {
		a.log.Error("usage reports disabled", "err", err)
		cfg.UsageInterval = 0
	}
	s := agentcore.NewSchedule(cfg, a.now())
	if rep != nil {
		s.SetUsagePeriod(rep.Meter.PeriodStart())
		if pending, err := rep.Pending(); err == nil {
			s.SetPending(a.now(), len(pending))
		}
	}
	// The first format comes before the programs restart: they need the
	// partitions' addresses.
	capacity := agentcore.Task{Duty: agentcore.DutyCapacity}
	a.dutyDone(s, dutyEnd{capacity, a.runDuty(ctx, capacity), a.now()})
	a.resume()
	a.runSchedule(ctx, s)
	a.builds.wait()
	if o.KeepServices {
		a.log.Info("node agent stopped; partition programs left running")
		a.sup.Release()
	} else {
		a.log.Info("node agent stopping partition programs")
		a.sup.Close()
		a.log.Info("node agent stopped")
	}
	return nil
}

// dutyEnd is how a task ended, and when.
type dutyEnd struct {
	task agentcore.Task
	out  agentcore.DutyOutcome
	at   time.Time
}

// runSchedule executes s's tasks until ctx is done, then waits for those
// running. It is the only caller of s.
func (a *Agent) runSchedule(ctx context.Context, s *agentcore.Schedule) {
	ended := make(chan dutyEnd)
	running := 0
	for {
		now := a.now()
		for {
			t, ok := s.Take(now)
			if !ok {
				break
			}
			running++
			go func() {
				out := a.runDuty(ctx, t)
				ended <- dutyEnd{t, out, a.now()}
			}()
		}
		var timer *time.Timer
		var fired <-chan time.Time
		if until := s.Until(); !until.IsZero() {
			timer = time.NewTimer(max(until.Sub(now), 0))
			fired = timer.C
		}
		select {
		case <-ctx.Done():
			for ; running > 0; running-- {
				<-ended
			}
			return
		case e := <-ended:
			running--
			if ctx.Err() == nil {
				a.dutyDone(s, e)
			}
		case <-a.wake:
			s.Wake(a.now(), agentcore.DutyInstance)
		case <-fired:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// runDuty runs one task.
func (a *Agent) runDuty(ctx context.Context, t agentcore.Task) agentcore.DutyOutcome {
	var err error
	switch t.Duty {
	case agentcore.DutyCapacity:
		var res format.Result
		if res, err = a.Format(ctx); err == nil {
			a.logFormat(res)
		}
	case agentcore.DutyInstance:
		res, err := a.InstancePass(ctx)
		a.log.Debug(LogInstancePass, "polled", res.Polled, "actions", len(res.Results), "next", res.Next, "err", err)
		if err == nil && res.Failed() > 0 {
			a.log.Warn("instance pass: some partitions failed", "failed", res.Failed(), "actions", len(res.Results))
		}
		o := dutyOutcome(err)
		o.Next = res.Next
		return o
	case agentcore.DutySoftware:
		_, err = a.SoftwarePass(ctx, false)
	case agentcore.DutyDestroy:
		_, err = a.DestroyPass(ctx)
	case agentcore.DutySample:
		err = a.SampleUsage(t.Disk)
	case agentcore.DutyJournal:
		var res usage.Result
		if res, err = a.CloseUsage(); err == nil {
			a.log.Info("usage journal", "period", res.Period, "movements", res.Movements, "rejected", len(res.Rejected))
		}
	case agentcore.DutyDeliver:
		sent, pending, err := a.FlushUsage(ctx)
		if len(sent) > 0 {
			a.log.Info("usage journals delivered", "sent", len(sent), "pending", len(pending))
		}
		o := dutyOutcome(err)
		o.Pending = len(pending)
		return o
	case agentcore.DutyCapture:
		permanent, err := a.capture(ctx, t.Interface)
		o := dutyOutcome(err)
		o.Permanent = permanent
		return o
	default:
		err = fmt.Errorf("agent: duty %s is not executed by the node agent", t)
	}
	return dutyOutcome(err)
}

// dutyOutcome tells an unreachable master from other failures.
func dutyOutcome(err error) agentcore.DutyOutcome {
	return agentcore.DutyOutcome{Err: err, Unreachable: err != nil && (errors.Is(err, ErrOffline) || isOffline(err))}
}

// dutyDone records how a task ended in s and logs it, with when it runs
// again.
func (a *Agent) dutyDone(s *agentcore.Schedule, e dutyEnd) {
	t, o := e.task, e.out
	failures := s.Failures(t)
	if err := s.Done(e.at, t, o); err != nil {
		a.log.Error("duty outcome not recorded", "duty", t.String(), "err", err)
		return
	}
	due, on := s.Due(t)
	retry := due.Sub(e.at).Round(time.Millisecond)
	switch {
	case t.Duty == agentcore.DutyCapture && o.Permanent:
		a.log.Warn("network accounting off: needs root", "interface", t.Interface, "err", o.Err)
	case t.Duty == agentcore.DutyCapture:
		a.log.Warn("network accounting: interface not captured: traffic crossing it is not counted until it is",
			"interface", t.Interface, "failures", s.Failures(t), "retry_in", retry, "err", o.Err)
	case o.Err != nil && o.Unreachable:
		a.log.Warn("master unreachable: programs keep running", "duty", t.String(), "failures", failures+1, "retry_in", retry, "err", o.Err)
	case o.Err != nil && on:
		a.log.Error("duty failed", "duty", t.String(), "failures", failures+1, "retry_in", retry, "err", o.Err)
	case o.Err != nil:
		a.log.Error("duty failed", "duty", t.String(), "err", o.Err)
	case failures > 0:
		a.log.Info("duty succeeded again", "duty", t.String(), "after_failures", failures)
	}
}

func (a *Agent) logFormat(res format.Result) {
	for _, d := range res.Done {
		a.log.Info("format", "done", d)
	}
	for _, s := range res.Skipped {
		a.log.Info("format", "skipped", s)
	}
}

// resume starts the programs of the partitions recorded running, after
// killing what a previous daemon left of them: after a reboot or a
// restart, what ran runs again, master or not.
func (a *Agent) resume() {
	a.worker.Lock()
	defer a.worker.Unlock()
	for _, p := range format.Layout(&a.cfg) {
		st, err := a.partitionState(p.ID)
		if err != nil {
			a.log.Error("partition record unreadable", "partition", p.ID, "err", err)
			continue
		}
		if !st.Running && !a.servicesRunning(p.ID) {
			continue
		}
		g, err := a.group(p.ID)
		if err == nil {
			a.mu.Lock()
			a.bangs.Deployed(p.ID, agentcore.Deployment{InstanceGUID: st.InstanceGUID, Version: st.AppliedVersion})
			a.mu.Unlock()
			err = a.sup.Start(g)
		}
		if err != nil {
			a.log.Error("partition programs not restarted", "partition", p.ID, "err", err)
			continue
		}
		a.log.Info("partition programs restarted", "partition", p.ID)
	}
}
