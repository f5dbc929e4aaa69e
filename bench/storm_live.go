package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/nodeagent/agent"
)

// StormLiveRuns is how many live storms the targets are judged on: one per
// fifth of the daemon's cycle, so that the change lands early, in the
// middle and late after a poll.
const StormLiveRuns = 5

// liveWatchEvery is how often the live storm reads the instances from the
// master.
const liveWatchEvery = 200 * time.Millisecond

// StormLive is the storm as a node lives it: the node agent's daemon runs
// with its poll interval and, in each of several runs, every instance is
// changed (a new port, which its published URL carries) at a phase of the
// daemon's cycle (from one of its polls to the next: its pass, then the
// poll interval plus jitter), its polls seen in its log
// (agent.LogInstancePass); the master's view tells when each instance
// converged: its published URL carries the new port and it is reported
// started, and the bench sees its URL serve the page of its new
// configuration (the master alone cannot tell: the partition publishes its
// URL before its service restarts, and a report of "started" again
// changes nothing there).
type StormLive struct {
	PollInterval time.Duration `json:"poll_interval_ns"`
	Changed      int           `json:"changed"`
	WatchEvery   time.Duration `json:"watch_every_ns"`
	// Cores of the machine, for the load bound of the verdicts.
	Cores int       `json:"cores"`
	Runs  []LiveRun `json:"runs"`
	// PerPartition: from each instance's change accepted by the master to
	// it converged, over every run.
	PerPartition Latency `json:"per_partition"`
	// AgentPeakRSS is this process's peak RSS (the agent runs in it):
	// over the runs when PeakSincePhase (the kernel's peak was reset),
	// else over the process's life (other benchmarks included).
	AgentPeakRSS   int64 `json:"agent_peak_rss_bytes"`
	PeakSincePhase bool  `json:"peak_since_phase"`
}

// LiveRun is one live storm.
type LiveRun struct {
	// Phase is the drawn place of the change in the daemon's cycle (0 at
	// a poll, 1 at the next; changeAt). SincePoll is where it landed:
	// from the daemon's last poll to the first change sent.
	Phase     float64       `json:"phase"`
	SincePoll time.Duration `json:"since_poll_ns"`
	// PollWait runs from the first change sent to the first poll of the
	// daemon that began after the master accepted the last one.
	PollWait time.Duration `json:"poll_wait_ns"`
	// Inject is how long the changes took to send; Converge runs from the
	// first change sent to the last instance converged (the master read
	// every WatchEvery).
	Inject   time.Duration `json:"inject_ns"`
	Converge time.Duration `json:"converge_ns"`
	// PerPartition: as StormLive's, this run's.
	PerPartition Latency `json:"per_partition"`
	// AgentCPU is this process's CPU time over the run (the agent runs in
	// it; so do the watcher's requests); Load the load average at its
	// start.
	AgentCPU time.Duration `json:"agent_cpu_ns"`
	Load     float64       `json:"load"`
}

// Work is the part of Converge that is not the wait for the poll: the pass,
// its reports and publications, and the master's read.
func (r LiveRun) Work() time.Duration { return r.Converge - r.PollWait }

// livePhases draws the phases of n live storms: one in each n-th of the
// cycle, [k/n, (k+1)/n), in order, so that n runs cover it.
func livePhases(n int, r *rand.Rand) []float64 {
	ps := make([]float64, n)
	for k := range ps {
		ps[k] = (float64(k) + r.Float64()) / float64(n)
	}
	return ps
}

// attributePolls finds, among the daemon's poll times (in order), the last
// one that began before the first change was sent (start) and the first
// that began at or after the master accepted the last change
// (lastAccepted): the poll that picked up the whole change. ok is false
// when either is missing.
func attributePolls(polls []time.Time, start, lastAccepted time.Time) (before, picked time.Time, ok bool) {
	var hasBefore, hasPicked bool
	for _, p := range polls {
		if p.Before(start) {
			before, hasBefore = p, true
		}
		if !hasPicked && !p.Before(lastAccepted) {
			picked, hasPicked = p, true
		}
	}
	return before, picked, hasBefore && hasPicked
}

// liveStormConditions: the storm's target is for 300 partitions changed at
// once, and the live storm's verdicts for StormLiveRuns runs at least (the
// change at every fifth of the daemon's cycle).
func liveStormConditions(changed, runs int) []Condition {
	return append(stormConditions(changed), condAtLeast("runs", StormLiveRuns, float64(runs), countText))
}

// judgeLiveStorm judges the live storms against target: each run holds
// when its change converged within target; judgeRepeated then gives PASS
// only if every run held, n/a under conds, no verdict when a run began
// above the load bound or when runs disagree and their Work (what does not
// depend on the phase: the runs vary the wait for the poll on purpose)
// spreads by more than MaxSpread.
func judgeLiveStorm(runs []LiveRun, target time.Duration, conds []Condition, cores int) (status, why string) {
	rs := make([]repeatedRun, len(runs))
	for i, r := range runs {
		rs[i] = repeatedRun{Holds: r.Converge <= target, Load: r.Load, Noise: r.Work().Seconds(),
			Why: fmt.Sprintf("%s > %s (the change %s after a poll, %s to the next)", roundDuration(r.Converge), formatInterval(target),
				roundDuration(r.SincePoll), roundDuration(r.PollWait))}
	}
	return judgeRepeated(rs, "work after the poll", conds, cores)
}

// spreadOf is the minimum, median and maximum of the runs' f.
func spreadOf(runs []LiveRun, f func(LiveRun) time.Duration) (lo, median, hi time.Duration) {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = float64(f(r))
	}
	m, l, h, _ := summarise(xs)
	return time.Duration(l), time.Duration(m), time.Duration(h)
}

// pollWatch is the live daemon's log handler: the records the agent's log
// takes (Warn and above) go to it, and the daemon's LogInstancePass
// records give the times it polled the master.
type pollWatch struct {
	log   slog.Handler
	mu    sync.Mutex
	polls []daemonPass
	seen  chan struct{} // a poll was recorded
}

// daemonPass is one instance pass of the daemon: when it polled the
// master, and when it ended (its record's time).
type daemonPass struct {
	polled, ended time.Time
}

func newPollWatch(log slog.Handler) *pollWatch {
	return &pollWatch{log: log, seen: make(chan struct{}, 1)}
}

// Enabled takes every record of the agent's own logger: the pass records
// are at debug level.
func (w *pollWatch) Enabled(context.Context, slog.Level) bool { return true }

func (w *pollWatch) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == agent.LogInstancePass {
		r.Attrs(func(a slog.Attr) bool {
			if t, ok := a.Value.Any().(time.Time); a.Key == "polled" && ok && !t.IsZero() {
				w.mu.Lock()
				w.polls = append(w.polls, daemonPass{polled: t, ended: r.Time})
				w.mu.Unlock()
				select {
				case w.seen <- struct{}{}:
				default:
				}
			}
			return true
		})
	}
	if !w.log.Enabled(ctx, r.Level) {
		return nil
	}
	return w.log.Handle(ctx, r)
}

// WithAttrs and WithGroup: the records the agent makes with attributes are
// never pass records; they go to its log.
func (w *pollWatch) WithAttrs(as []slog.Attr) slog.Handler { return w.log.WithAttrs(as) }
func (w *pollWatch) WithGroup(g string) slog.Handler       { return w.log.WithGroup(g) }

// times returns the times of the polls recorded so far, in order.
func (w *pollWatch) times() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	ts := make([]time.Time, len(w.polls))
	for i, p := range w.polls {
		ts[i] = p.polled
	}
	return ts
}

// after waits for the first pass that polled at or after t to end (the
// record comes at the end of the pass).
func (w *pollWatch) after(ctx context.Context, t time.Time) (daemonPass, error) {
	for {
		w.mu.Lock()
		i := slices.IndexFunc(w.polls, func(p daemonPass) bool { return !p.polled.Before(t) })
		var p daemonPass
		if i >= 0 {
			p = w.polls[i]
		}
		w.mu.Unlock()
		if i >= 0 {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return daemonPass{}, fmt.Errorf("waiting for a poll of the daemon after %s: %w", t.Format(time.TimeOnly), ctx.Err())
		case <-w.seen:
		}
	}
}

// changeAt is when a live storm's change lands: at phase (0 to 1) of the
// daemon's next cycle, from its next poll to the one after. The daemon
// polls again every to every × 1.1 after its pass ended (the schedule
// counts the interval from there, plus jitter); a cycle lasts its pass
// (taken as long as the last one, p: its promise checks are bounded by a
// budget) plus that. A phase near 1 lands during the next pass, after its
// poll: that change waits for a whole cycle.
func changeAt(p daemonPass, every time.Duration, phase float64) time.Time {
	sleep := every + every/20 // the mean jitter
	cycle := p.ended.Sub(p.polled) + sleep
	return p.ended.Add(sleep + time.Duration(phase*float64(cycle)))
}

// live runs the node agent's daemon with poll interval every, then one
// storm per phase: it waits for a pass of the daemon, changes every
// instance (a new port: the URL it publishes changes) at that phase of the
// daemon's next cycle (changeAt), and reads the instances from the master every liveWatchEvery until
// each one published its new URL and is reported started; the next run
// waits for a poll after that. The daemon is stopped after, with the
// partitions' programs, and a new agent without a daemon becomes n.agent
// for the phases that follow.
func (n *stormNode) live(ctx context.Context, every time.Duration, phases []float64, progress func(string, ...any)) (StormLive, error) {
	l := StormLive{PollInterval: every, Changed: len(n.titles), WatchEvery: liveWatchEvery, Cores: runtime.NumCPU()}
	n.agent.Close()
	c := n.cfg
	c.Grid.PollInterval = every
	watch := newPollWatch(n.opts.Logger.Handler())
	opts := n.opts
	opts.Logger = slog.New(watch)
	a, err := agent.New(c, opts)
	if err != nil {
		return l, err
	}
	n.agent = a
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	// The daemon stops the partitions' programs when it stops: a released
	// program would outlive the run (the agent that follows starts them
	// again where it needs them).
	from := time.Now()
	go func() { done <- a.Run(runCtx, agent.RunOptions{}) }()
	defer func() {
		stop()
		<-done
		if next, err := agent.New(n.cfg, n.opts); err == nil {
			n.agent = next
		}
	}()
	var all Histogram
	l.PeakSincePhase = resetPeakRSS()
	for k, phase := range phases {
		p, err := watch.after(ctx, from)
		if err != nil {
			return l, fmt.Errorf("run %d: %w (agent log: %s)", k+1, err, tail(n.logFile.Name(), 2000))
		}
		if err := sleepCtx(ctx, time.Until(changeAt(p, every, phase))); err != nil {
			return l, err
		}
		r, err := n.liveRun(ctx, watch, &all)
		if err != nil {
			return l, fmt.Errorf("run %d: %w", k+1, err)
		}
		r.Phase = phase
		l.Runs = append(l.Runs, r)
		from = time.Now()
		progress("live storm %d/%d under a %s poll interval: the change %s after a poll (drawn at %.0f%% of a cycle), %s to the next; %d changed, converged in %s (work after the poll %s), per partition p50 %s p99 %s, agent %s CPU",
			k+1, len(phases), formatInterval(every), roundDuration(r.SincePoll), 100*phase, roundDuration(r.PollWait), l.Changed,
			roundDuration(r.Converge), roundDuration(r.Work()), formatDuration(r.PerPartition.P50), formatDuration(r.PerPartition.P99), roundDuration(r.AgentCPU))
	}
	l.PerPartition = all.Summary()
	if ps, err := SampleProc(os.Getpid()); err == nil {
		l.AgentPeakRSS = ps.PeakRSS
	}
	return l, nil
}

// liveRun changes every instance now and watches the master until each one
// converged, recording each instance's time in all too; then it waits for
// the daemon's record of the poll that picked the change up.
func (n *stormNode) liveRun(ctx context.Context, watch *pollWatch, all *Histogram) (LiveRun, error) {
	r := LiveRun{Load: loadAverage()}
	n.rev++
	n.port = map[string]string{stormPorts[0]: stormPorts[1], stormPorts[1]: stormPorts[0]}[n.port]
	newURL := ":" + n.port + "/"
	idx := make([]int, len(n.titles))
	for i := range idx {
		idx[i] = i
	}
	cpu0 := selfCPU()
	start := time.Now()
	if err := n.request(ctx, idx); err != nil {
		return r, err
	}
	r.Inject = time.Since(start)
	lastAccepted := slices.MaxFunc(n.accepted, time.Time.Compare)
	index := make(map[string]int, len(n.titles))
	for i, t := range n.titles {
		index[t] = i
	}
	seen := make([]bool, len(n.titles))
	left := len(n.titles)
	var hist Histogram
	var last time.Time
	page := &http.Client{Timeout: time.Second}
	for left > 0 {
		insts, err := n.person.Instances(ctx)
		if err != nil {
			return r, fmt.Errorf("reading the instances from the master: %w", err)
		}
		for _, in := range insts {
			i, ok := index[in.Title]
			if !ok || seen[i] {
				continue
			}
			if in.ReportedState == model.ReportedError {
				return r, fmt.Errorf("instance %s reported in error: %s (agent log: %s)", in.Title, in.ReportedError, tail(n.logFile.Name(), 2000))
			}
			if strings.Contains(in.Connection["url"], newURL) && in.ReportedState == model.ReportedStarted &&
				servesPage(ctx, page, in.Connection["url"], n.pageName(i)) {
				seen[i], last = true, time.Now()
				hist.Record(last.Sub(n.accepted[i]))
				all.Record(last.Sub(n.accepted[i]))
				left--
			}
		}
		if left == 0 {
			break
		}
		if err := sleepCtx(ctx, liveWatchEvery); err != nil {
			return r, fmt.Errorf("%d instances not converged: %w (agent log: %s)", left, err, tail(n.logFile.Name(), 2000))
		}
	}
	r.Converge = last.Sub(start)
	r.AgentCPU = selfCPU() - cpu0
	r.PerPartition = hist.Summary()
	// The pass that converged the last instance may still run (its
	// promise checks): its record comes at its end.
	if _, err := watch.after(ctx, lastAccepted); err != nil {
		return r, err
	}
	before, picked, ok := attributePolls(watch.times(), start, lastAccepted)
	if !ok {
		return r, fmt.Errorf("no poll of the daemon seen before the change (%s) and after it was accepted (%s): polls %v",
			start.Format(time.StampMilli), lastAccepted.Format(time.StampMilli), watch.times())
	}
	r.SincePoll, r.PollWait = start.Sub(before), picked.Sub(start)
	return r, nil
}

// figures are the live storm's headline figures: the slowest run judged
// against the target and the moonshot (judgeLiveStorm: every run must
// hold), then the distributions over the runs.
func (l *StormLive) figures() []Figure {
	conds := liveStormConditions(l.Changed, len(l.Runs))
	cLo, cMed, cHi := spreadOf(l.Runs, func(r LiveRun) time.Duration { return r.Converge })
	wLo, wMed, wHi := spreadOf(l.Runs, func(r LiveRun) time.Duration { return r.PollWait })
	kLo, kMed, kHi := spreadOf(l.Runs, LiveRun.Work)
	what := fmt.Sprintf("slowest of %d runs (min %s, median %s); %d partitions, daemon polling every %s, the change at a drawn phase of its cycle (poll to poll: its pass, then the interval plus jitter; one phase per %s of it); master read every %s",
		len(l.Runs), roundDuration(cLo), roundDuration(cMed), l.Changed, formatInterval(l.PollInterval), fraction(len(l.Runs)), formatDuration(l.WatchEvery))
	judged := func(name string, target time.Duration) Figure {
		t := AtMost(target.Seconds(), UnitSeconds)
		status, why := judgeLiveStorm(l.Runs, target, conds, l.Cores)
		return Figure{Name: name, Value: cHi.Seconds(), Unit: UnitSeconds, Target: &t, Status: status, Why: why, Details: what, Conditions: conds}
	}
	var cpu time.Duration
	for _, r := range l.Runs {
		cpu += r.AgentCPU
	}
	if len(l.Runs) > 0 {
		cpu /= time.Duration(len(l.Runs))
	}
	return []Figure{
		judged("live storm: change to last partition converged, its new page served", StormTarget),
		judged("live storm: the same, moonshot", StormMoonshot),
		NewFigure("live storm: wait for the daemon's next poll, median", wMed.Seconds(), UnitSeconds, nil,
			fmt.Sprintf("min %s, max %s: from the change to the first poll after the master accepted all of it", roundDuration(wLo), roundDuration(wHi))),
		NewFigure("live storm: work after the poll, median", kMed.Seconds(), UnitSeconds, nil,
			fmt.Sprintf("min %s, max %s: converge minus the poll wait (the pass, its reports and publications, the master's read)", roundDuration(kLo), roundDuration(kHi))),
		NewFigure("live storm: per-partition p50", l.PerPartition.P50.Seconds(), UnitSeconds, nil, "from its change accepted by the master to its new page served, every run"),
		NewFigure("live storm: per-partition p99", l.PerPartition.P99.Seconds(), UnitSeconds, nil, "from its change accepted by the master to its new page served, every run"),
		NewFigure("live storm: agent CPU", cpu.Seconds(), UnitSeconds, nil, "the node agent's process over a run, mean of the runs (the bench's watcher included)"),
		NewFigure("live storm: agent peak RSS", float64(l.AgentPeakRSS), UnitBytes, nil, peakRSSDetails(l.PeakSincePhase)),
	}
}

// table is one row per live storm.
func (l *StormLive) table() Table {
	t := Table{
		Title: fmt.Sprintf("live storms under a %s poll interval: converge = wait for the daemon's next poll + work after it", formatInterval(l.PollInterval)),
		Columns: []string{"run", "phase drawn", "change after a poll", "wait for the next poll", "poll to poll", "changes sent in", "converge", "work after the poll",
			"per-partition p50", "p99", "agent CPU", "load"},
	}
	for i, r := range l.Runs {
		t.Rows = append(t.Rows, []string{fmt.Sprint(i + 1), fmt.Sprintf("%.0f%%", 100*r.Phase), roundDuration(r.SincePoll), roundDuration(r.PollWait),
			roundDuration(r.SincePoll + r.PollWait),
			roundDuration(r.Inject), roundDuration(r.Converge), roundDuration(r.Work()), formatDuration(r.PerPartition.P50),
			formatDuration(r.PerPartition.P99), roundDuration(r.AgentCPU), fmt.Sprintf("%.2f", r.Load)})
	}
	return t
}

// fraction names 1/n of a whole: "fifth", "third", "1/7".
func fraction(n int) string {
	if names := []string{"", "whole", "half", "third", "quarter", "fifth", "sixth"}; n >= 1 && n < len(names) {
		return names[n]
	}
	return fmt.Sprintf("1/%d", n)
}

// servesPage says whether url answers with a page naming name: the
// instance's new configuration is live (its service restarted with it).
// NB: the master cannot tell: the partition publishes its URL before its
// service restarts, and reporting "started" again changes nothing there.
func servesPage(ctx context.Context, c *http.Client, url, name string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return err == nil && resp.StatusCode == http.StatusOK && strings.Contains(string(body), name+" ")
}
