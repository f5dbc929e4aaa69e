package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/nodeagent/format"
)

// RunOptions tunes the daemon.
type RunOptions struct {
	// KeepServices leaves the partitions' programs running when the
	// daemon stops; the next daemon restarts them (supervisor.KillStale).
	KeepServices bool
}

// Run is the daemon (`slapgo node run`): it formats the computer and
// restarts the programs of partitions recorded running, then runs its loops
// until ctx is done:
//
//   - instance: every poll_interval (sooner when the plan's RequeueAfter or
//     a finished build says so), with jitter;
//   - software: every poll_interval, with jitter; builds on their own pool;
//   - capacity: format and announce every capacity_interval;
//   - network accounting (as root): one capture per interface the
//     partitions' traffic crosses, from the first format that succeeds;
//   - usage: samples every few minutes, a journal every usage_interval;
//   - destruction: every destruction_interval, with pending journals.
//
// A loop that fails (master away) backs off from poll_interval doubling to
// retry_max, with jitter, and catches up when the master answers again;
// the programs keep running meanwhile. When ctx is done the loops stop, the
// builds in progress are interrupted, and the programs are stopped unless
// o.KeepServices.
func (a *Agent) Run(ctx context.Context, o RunOptions) error {
	g := a.cfg.Grid
	a.daemon = true
	a.log.Info("node agent starting", "computer", a.cfg.ComputerID, "master", a.cfg.MasterURL,
		"privileged", a.privileged, "partitions", a.cfg.Format.PartitionAmount, "poll_interval", g.PollInterval)
	capacityFirst := g.CapacityInterval
	if res, err := a.Format(ctx); err != nil {
		a.log.Warn("format or capacity announcement failed: retried with back-off", "err", err)
		capacityFirst = g.PollInterval
	} else {
		a.logFormat(res)
	}
	// Traffic accounting starts once partitions have addresses (a format
	// succeeded, here or in the capacity loop) and stops with ctx.
	var captures sync.WaitGroup
	a.startNetAccounting(ctx, &captures)
	a.resume()

	sampleEvery := min(5*time.Minute, g.UsageInterval/4)
	// Nodes that boot together must not poll together (SlapOS waits a
	// random delay before its runs for the same reason).
	spread := func() time.Duration { return a.jitter(g.PollInterval) - g.PollInterval }
	loops := []loopSpec{
		// core/agent says when the next pass is due, backing off itself
		// when the master is away.
		{name: "instance", first: spread(), wake: a.wake, ownBackoff: true, pass: func(ctx context.Context) (time.Duration, error) {
			res, err := a.InstancePass(ctx)
			next := g.PollInterval
			if !res.Next.IsZero() {
				next = max(res.Next.Sub(a.now()), 0)
			}
			if err == nil && res.Failed() > 0 {
				a.log.Warn("instance pass: some partitions failed", "failed", res.Failed(), "actions", len(res.Results))
			}
			return next, err
		}},
		{name: "software", first: spread(), pass: func(ctx context.Context) (time.Duration, error) {
			_, err := a.SoftwarePass(ctx, false)
			if err != nil && !errors.Is(err, ErrOffline) {
				a.log.Warn("software pass", "err", err)
				err = nil // per-release failures back off in converge
			}
			return g.PollInterval, err
		}},
		// The first format ran above, before the programs were restarted.
		{name: "capacity", first: capacityFirst, pass: func(ctx context.Context) (time.Duration, error) {
			res, err := a.Format(ctx)
			if err == nil {
				a.logFormat(res)
			}
			a.startNetAccounting(ctx, &captures)
			return g.CapacityInterval, err
		}},
		{name: "usage-sample", pass: func(ctx context.Context) (time.Duration, error) {
			return sampleEvery, a.SampleUsage(false)
		}},
		{name: "destruction", first: g.DestructionInterval, pass: func(ctx context.Context) (time.Duration, error) {
			if err := a.SampleUsage(true); err != nil {
				a.log.Warn("disk usage sample", "err", err)
			}
			_, err := a.DestroyPass(ctx)
			if ferr := a.FlushUsage(ctx); ferr != nil && err == nil {
				err = ferr
			}
			return g.DestructionInterval, err
		}},
	}
	if rep, err := a.reporter(); err != nil {
		a.log.Error("usage reports disabled", "err", err)
	} else {
		loops = append(loops, loopSpec{name: "usage-report", first: untilNext(rep.Meter.PeriodStart(), g.UsageInterval, a.now()),
			pass: func(ctx context.Context) (time.Duration, error) {
				res, err := a.ReportPass(ctx)
				if res.Period != "" {
					a.log.Info("usage journal", "period", res.Period, "movements", res.Movements, "sent", len(res.Sent), "pending", len(res.Pending))
					if err != nil {
						// Spooled: the destruction loop and the next report
						// post it; retrying now would only cut a new period.
						a.log.Warn("usage journal kept pending", "err", err)
					}
					return g.UsageInterval, nil
				}
				return g.UsageInterval, err
			}})
	}
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(func() { a.loop(ctx, l) })
	}
	wg.Wait()
	captures.Wait()
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
			a.deployed[p.ID] = deployment{guid: st.InstanceGUID, version: st.AppliedVersion}
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

// loopSpec is one of the daemon's loops.
type loopSpec struct {
	name  string
	first time.Duration   // delay before the first pass
	wake  <-chan struct{} // runs the next pass at once (nil: never)
	// pass runs once and says when the next pass is due.
	pass func(context.Context) (time.Duration, error)
	// ownBackoff: after a failed pass too, the pass's delay stands.
	ownBackoff bool
}

// loop runs l.pass until ctx is done. A failed pass backs off from
// poll_interval, doubling up to retry_max; every delay gets jitter.
func (a *Agent) loop(ctx context.Context, l loopSpec) {
	if !a.sleep(ctx, l.wake, l.first) {
		return
	}
	failures := 0
	for {
		next, err := l.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			if !l.ownBackoff {
				next = a.retryDelay(failures)
			}
			if errors.Is(err, ErrOffline) {
				a.log.Warn("master unreachable: programs keep running", "loop", l.name, "retry_in", next, "err", err)
			} else {
				a.log.Error("pass failed", "loop", l.name, "retry_in", next, "err", err)
			}
		} else if failures > 0 {
			a.log.Info("pass succeeded again", "loop", l.name, "after_failures", failures)
			failures = 0
		}
		if !a.sleep(ctx, l.wake, a.jitter(next)) {
			return
		}
	}
}

// retryDelay is the back-off after failures failures in a row: from
// poll_interval, doubling up to retry_max (before jitter).
func (a *Agent) retryDelay(failures int) time.Duration {
	return agentcore.Backoff(failures, a.cfg.Grid.PollInterval, a.cfg.Grid.RetryMax)
}

// sleep waits d, or until wake; false when ctx is done.
func (a *Agent) sleep(ctx context.Context, wake <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}
