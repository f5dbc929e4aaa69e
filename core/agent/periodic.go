package agent

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/converge"
)

// Duty is one of a node agent's periodic jobs. The instance pass is one
// of them: the Agent says when it is next due, the Schedule when it runs.
type Duty uint8

// Duties, in the order a Schedule takes those due at the same moment.
const (
	// DutyCapacity: format the computer and announce its capacity.
	DutyCapacity Duty = iota
	// DutyInstance: an instance pass (an Agent run until it sleeps).
	DutyInstance
	// DutySoftware: a software pass (installs and removals).
	DutySoftware
	// DutyDestroy: a destruction pass (PassOptions.DestroyOnly).
	DutyDestroy
	// DutySample: read the partitions' usage into the meter; with
	// Task.Disk, their disk usage too.
	DutySample
	// DutyJournal: take a last sample (disk included) and close the usage
	// period into a journal kept on disk until the master accepts it.
	DutyJournal
	// DutyDeliver: post the journals kept, oldest first.
	DutyDeliver
	// DutyCapture: capture the traffic of Task.Interface for network
	// accounting, until it fails or the daemon stops.
	DutyCapture
	dutyCount
)

var dutyNames = [...]string{"capacity", "instance", "software", "destroy", "usage-sample", "usage-journal", "usage-deliver", "capture"}

// String is the duty's name, as logs spell it.
func (d Duty) String() string {
	if d < dutyCount {
		return dutyNames[d]
	}
	return fmt.Sprintf("duty(%d)", uint8(d))
}

// Task is one run of a duty for the executor.
type Task struct {
	Duty Duty
	// Interface: DutyCapture.
	Interface string
	// Disk: DutySample also measures the partitions' directories.
	Disk bool
}

// String is a one-line description for logs.
func (t Task) String() string {
	switch {
	case t.Duty == DutyCapture:
		return "capture " + t.Interface
	case t.Disk:
		return t.Duty.String() + " with disk"
	}
	return t.Duty.String()
}

// DutyOutcome is how a task ended, given to Schedule.Done.
type DutyOutcome struct {
	// Err is nil when the task succeeded.
	Err error
	// Unreachable: the master could not be reached (Err says why).
	Unreachable bool
	// Next: DutyInstance, when the Agent wants its next pass (the Until of
	// the Sleep it returned; zero: a poll interval from now).
	Next time.Time
	// Pending: DutyDeliver, the journals still waiting to be accepted.
	Pending int
	// Permanent: DutyCapture can never run (no permission): not retried.
	Permanent bool
}

// ScheduleConfig tunes a Schedule. A duty whose interval is zero is off.
type ScheduleConfig struct {
	// PollInterval is the first step of every back-off. Default 1 minute.
	PollInterval time.Duration
	// RetryMax caps the back-offs. Default converge.DefaultRetryMax.
	RetryMax time.Duration
	// Instance: the schedule runs the instance passes.
	Instance bool
	// SoftwareInterval, CapacityInterval, DestructionInterval: how often
	// those passes run.
	SoftwareInterval, CapacityInterval, DestructionInterval time.Duration
	// UsageInterval: a journal closes the usage period this often.
	UsageInterval time.Duration
	// SampleInterval: usage is sampled this often while UsageInterval is
	// set. 0 is DefaultSampleInterval(UsageInterval).
	SampleInterval time.Duration
	// DiskInterval: a sample measures disks too when the last disk
	// measure (or journal) is this old. 0 is an hour.
	DiskInterval time.Duration
	// Captures: the interfaces whose traffic is captured, from the first
	// capacity run that succeeds.
	Captures []string
	// Rand draws the jitter: every delay gets up to a tenth more, so that
	// nodes that boot together do not poll together. Nil: no jitter.
	Rand *rand.Rand
}

// PromiseRetryPause is the pause after the failures-th failed check of
// the promises of a partition just started (CheckPromises with
// AfterStart), before checking again until the promise timeout: a
// service needs a moment to listen. 20 ms, doubling up to a second.
func PromiseRetryPause(failures int) time.Duration {
	return Backoff(failures, 20*time.Millisecond, time.Second)
}

// DefaultSampleInterval is how often usage is sampled when a journal
// closes every usage: every 5 minutes, and at least 4 times per period.
func DefaultSampleInterval(usage time.Duration) time.Duration {
	return min(5*time.Minute, usage/4)
}

func (c ScheduleConfig) withDefaults() ScheduleConfig {
	if c.PollInterval <= 0 {
		c.PollInterval = time.Minute
	}
	if c.RetryMax <= 0 {
		c.RetryMax = converge.DefaultRetryMax
	}
	if c.UsageInterval > 0 && c.SampleInterval <= 0 {
		c.SampleInterval = DefaultSampleInterval(c.UsageInterval)
	}
	if c.DiskInterval <= 0 {
		c.DiskInterval = time.Hour
	}
	return c
}

// duty is the schedule of one duty (or one interface's capture).
type dutyState struct {
	on       bool
	running  bool
	woken    bool // Wake during a run: due at once after it
	due      time.Time
	task     Task
	began    time.Time // of the run in progress
	failures int       // in a row
}

// Schedule decides when a node agent's periodic duties run, and how they
// back off, as a pure state machine: time comes in as a value, tasks go
// out, their outcomes come back. It holds no goroutine and no clock.
//
// Rules (each duty is independent of the others; a duty runs once at a
// time):
//   - capacity: due at once (the executor may run it at its boot and give
//     Done), then every CapacityInterval;
//   - instance: due at once (with jitter), then when the Agent's Sleep
//     says, with jitter; Wake makes it due at once;
//   - software: due at once (with jitter), then every SoftwareInterval;
//     only an unreachable master backs off (a release that fails to build
//     backs off in core/converge);
//   - destroy: every DestructionInterval;
//   - usage: a sample at once and every SampleInterval, measuring disks
//     when the last disk measure is DiskInterval old; a journal
//     UsageInterval after the period began (SetUsagePeriod), then every
//     UsageInterval; after a journal closes, or when journals are kept
//     (SetPending), their delivery at once, retried with back-off until
//     none is left (a failed delivery never closes a new period early);
//   - captures: one per interface, from the first capacity run that
//     succeeds; one that fails or ends is opened again with back-off (a
//     capture that ran a poll interval starts a new outage: its back-off
//     starts again), one that can never run (Permanent) is not;
//   - failures back off from PollInterval doubling up to RetryMax
//     (Backoff); success returns to the duty's interval;
//   - every delay gets jitter (Rand), but usage's: a period lasts
//     UsageInterval.
type Schedule struct {
	// next: the duty Take hands out next and whose due Until says, the
	// earliest due of those on and not running (the first in duties on a
	// tie), -1 for none; valid when nextOK. Kept up to date as duties
	// change (changed), so that Take and Until do not scan the duties.
	next   int
	nextOK bool
	// second: the duty that is next once next is taken, the earliest due
	// of those on and not running but next, -1 for none; valid when
	// secondOK (and nextOK), so that the Take after a Take needs no scan.
	second   int
	secondOK bool
	capacity bool // a capacity run succeeded
	// duties: by Duty, then captures by interface; in own while there are
	// no captures, so that a Take reads memory next to the Schedule's.
	duties   []dutyState
	lastDisk time.Time
	cfg      ScheduleConfig
	own      [dutyCount]dutyState
}

// findNext scans the duties for next, and second.
func (s *Schedule) findNext() int {
	if s.nextOK {
		return s.next
	}
	best, second := -1, -1
	for i := range s.duties {
		d := &s.duties[i]
		switch {
		case !d.on || d.running:
		case best < 0 || d.due.Before(s.duties[best].due):
			best, second = i, best
		case second < 0 || d.due.Before(s.duties[second].due):
			second = i
		}
	}
	s.next, s.nextOK = best, true
	s.second, s.secondOK = second, true
	return best
}

// precedes says whether duty i, on and not running, comes before duty j
// (-1: none) in Take's order.
func (s *Schedule) precedes(i, j int) bool {
	if j < 0 {
		return true
	}
	a, b := s.duties[i].due, s.duties[j].due
	return a.Before(b) || i < j && !b.Before(a)
}

// changed keeps next and second up to date after duty i changed: a
// change of next itself calls for a scan; another duty replaces next if
// it now comes first (and the old next is then second), else second if it
// comes before it; a change of second, another comes after, calls for a
// scan at the next Take.
func (s *Schedule) changed(i int) {
	if !s.nextOK {
		return
	}
	if i == s.next {
		s.nextOK, s.secondOK = false, false
		return
	}
	d := &s.duties[i]
	switch {
	case !d.on || d.running:
		if i == s.second {
			s.secondOK = false
		}
	case s.precedes(i, s.next):
		s.next, s.second, s.secondOK = i, s.next, true
	case !s.secondOK:
	case i == s.second:
		s.secondOK = false
	case s.precedes(i, s.second):
		s.second = i
	}
}

// NewSchedule returns the schedule of a node agent started at now.
func NewSchedule(cfg ScheduleConfig, now time.Time) *Schedule {
	cfg = cfg.withDefaults()
	s := &Schedule{cfg: cfg}
	s.duties = s.own[:]
	for d := range dutyCount {
		s.duties[d].task = Task{Duty: d}
	}
	set := func(d Duty, on bool, due time.Time) {
		s.duties[d].on, s.duties[d].due = on, due
	}
	spread := now.Add(s.jitter(cfg.PollInterval))
	set(DutyCapacity, cfg.CapacityInterval > 0, now)
	set(DutyInstance, cfg.Instance, spread)
	set(DutySoftware, cfg.SoftwareInterval > 0, spread)
	set(DutyDestroy, cfg.DestructionInterval > 0, now.Add(cfg.DestructionInterval))
	set(DutySample, cfg.UsageInterval > 0, now)
	set(DutyJournal, cfg.UsageInterval > 0, now.Add(cfg.UsageInterval))
	set(DutyDeliver, false, now)
	for _, iface := range slices.Sorted(slices.Values(cfg.Captures)) {
		if iface == "" || slices.ContainsFunc(s.duties[dutyCount:], func(d dutyState) bool { return d.task.Interface == iface }) {
			continue
		}
		// Off until the first capacity run that succeeds: the partitions
		// have no addresses to count before.
		s.duties = append(s.duties, dutyState{task: Task{Duty: DutyCapture, Interface: iface}, due: now})
	}
	return s
}

// jitter is d plus up to a tenth of it, drawn from cfg.Rand, minus d.
func (s *Schedule) jitter(d time.Duration) time.Duration {
	if s.cfg.Rand == nil || d <= 0 {
		return 0
	}
	return time.Duration(s.cfg.Rand.Int64N(int64(d)/10 + 1))
}

// after is now plus d, with jitter.
func (s *Schedule) after(now time.Time, d time.Duration) time.Time {
	return now.Add(d + s.jitter(d))
}

// SetUsagePeriod says when the usage period being measured began (the
// executor's meter, after a restart): its journal is due UsageInterval
// after it, at once if that has passed.
func (s *Schedule) SetUsagePeriod(start time.Time) {
	s.duties[DutyJournal].due = start.Add(s.cfg.UsageInterval)
	s.changed(int(DutyJournal))
}

// SetPending says how many journals a previous run kept: their delivery
// is due at once.
func (s *Schedule) SetPending(now time.Time, n int) {
	d := &s.duties[DutyDeliver]
	d.on = n > 0 && s.cfg.UsageInterval > 0
	if d.on && !d.running {
		d.due = now
	}
	s.changed(int(DutyDeliver))
}

// Wake makes d due at once (an instance pass after a build ended), or as
// soon as its run in progress ends.
func (s *Schedule) Wake(now time.Time, d Duty) {
	if d >= DutyCapture {
		return
	}
	x := &s.duties[d]
	switch {
	case x.running:
		x.woken = true
	case x.on && now.Before(x.due):
		x.due = now
	}
	s.changed(int(d))
}

// Take returns a task due at now and marks it running until Done: the
// earliest due first, then in Duty order. False when none is due.
func (s *Schedule) Take(now time.Time) (Task, bool) {
	best := s.findNext()
	if best < 0 || s.duties[best].due.After(now) {
		return Task{}, false
	}
	d := &s.duties[best]
	d.running, d.began = true, now
	s.next, s.nextOK = s.second, s.secondOK
	s.secondOK = false
	t := d.task
	if t.Duty == DutySample && !now.Before(s.lastDisk.Add(s.cfg.DiskInterval)) {
		t.Disk = true
	}
	return t, true
}

// Until is the moment the next task is due (zero when none will be until
// a Done, SetPending or Wake).
func (s *Schedule) Until() time.Time {
	if best := s.findNext(); best >= 0 {
		return s.duties[best].due
	}
	return time.Time{}
}

func (s *Schedule) find(t Task) *dutyState {
	if i := s.index(t); i >= 0 {
		return &s.duties[i]
	}
	return nil
}

// index is t's place in duties, -1 if none.
func (s *Schedule) index(t Task) int {
	if t.Duty < DutyCapture {
		return int(t.Duty)
	}
	for i := int(dutyCount); i < len(s.duties); i++ {
		if s.duties[i].task.Interface == t.Interface {
			return i
		}
	}
	return -1
}

// Failures is the number of failed runs in a row of t.
func (s *Schedule) Failures(t Task) int {
	if d := s.find(t); d != nil {
		return d.failures
	}
	return 0
}

// Due is when t is next due, and whether it is on (not running, not off).
func (s *Schedule) Due(t Task) (time.Time, bool) {
	d := s.find(t)
	if d == nil || !d.on || d.running {
		return time.Time{}, false
	}
	return d.due, true
}

// Done records that a run of t ended at now with o. A run the schedule
// did not hand out (the executor's format at boot) is recorded the same.
func (s *Schedule) Done(now time.Time, t Task, o DutyOutcome) error {
	i := s.index(t)
	if i < 0 {
		return fmt.Errorf("agent: schedule: no duty %s", t)
	}
	d := &s.duties[i]
	defer s.changed(i)
	began := d.began
	if !d.running {
		began = now
	}
	d.running = false
	// Usage keeps its rhythm: a period lasts UsageInterval, no jitter.
	after := s.after
	if t.Duty == DutySample || t.Duty == DutyJournal || t.Duty == DutyDeliver {
		after = time.Time.Add
	}
	interval := func(every time.Duration) {
		if o.Err != nil {
			d.failures++
			d.due = after(now, Backoff(d.failures, s.cfg.PollInterval, s.cfg.RetryMax))
			return
		}
		d.failures = 0
		d.due = after(now, every)
	}
	switch t.Duty {
	case DutyCapacity:
		interval(s.cfg.CapacityInterval)
		if o.Err == nil && !s.capacity {
			s.capacity = true
			for i := int(dutyCount); i < len(s.duties); i++ {
				s.duties[i].on, s.duties[i].due = true, now
				s.changed(i)
			}
		}
	case DutyInstance:
		// The Agent backs off itself: its word stands, failed or not.
		if o.Err != nil {
			d.failures++
		} else {
			d.failures = 0
		}
		next := o.Next
		if next.IsZero() {
			next = now.Add(s.cfg.PollInterval)
		}
		d.due = s.after(now, max(next.Sub(now), 0))
	case DutySoftware:
		if o.Err != nil && !o.Unreachable {
			o.Err = nil // per release: core/converge backs off
		}
		interval(s.cfg.SoftwareInterval)
	case DutyDestroy:
		interval(s.cfg.DestructionInterval)
	case DutySample:
		if o.Err == nil && t.Disk {
			s.lastDisk = now
		}
		interval(s.cfg.SampleInterval)
	case DutyJournal:
		// Not closed: the period goes on, retried with back-off. Closed:
		// a new period began, and the journal goes at once.
		interval(s.cfg.UsageInterval)
		if o.Err == nil {
			s.lastDisk = now
			s.SetPending(now, 1)
		}
	case DutyDeliver:
		if o.Err == nil && o.Pending == 0 {
			d.on, d.failures = false, 0
			break
		}
		if o.Err == nil {
			o.Err = errJournalsLeft
		}
		// A delivery the executor learnt failed later (the master lost
		// it) is retried too.
		d.on = s.cfg.UsageInterval > 0
		interval(0)
	case DutyCapture:
		if o.Permanent {
			d.on = false
			break
		}
		if o.Err == nil {
			o.Err = errCaptureEnded
		}
		if now.Sub(began) >= s.cfg.PollInterval {
			d.failures = 0 // it ran: a new outage
		}
		interval(0)
	}
	if d.woken {
		d.woken = false
		if d.on && now.Before(d.due) {
			d.due = now
		}
	}
	return nil
}

var (
	errJournalsLeft = errors.New("agent: usage journals left pending")
	errCaptureEnded = errors.New("agent: the capture ended")
)
