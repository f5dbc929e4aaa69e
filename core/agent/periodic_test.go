package agent

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var (
	errDown    = errors.New("connection refused")
	errBroken  = errors.New("broken")
	errNoPerms = errors.New("operation not permitted")
)

// taken is one task a schedule handed out, and when.
type taken struct {
	at   time.Duration // since t0
	task Task
}

// drive runs s from t0 until end: at each moment it takes every task
// due, ends it at once with outcome(task, n) (n: runs of that task so
// far), and jumps to the next moment due.
func drive(t *testing.T, s *Schedule, end time.Duration, outcome func(Task, int, time.Time) DutyOutcome) []taken {
	t.Helper()
	var log []taken
	runs := map[Task]int{}
	now := t0
	for now.Sub(t0) <= end {
		for {
			task, ok := s.Take(now)
			if !ok {
				break
			}
			if !s.Running(task) {
				t.Fatalf("%s taken but not running", task)
			}
			log = append(log, taken{now.Sub(t0), task})
			key := task
			key.Disk = false
			runs[key]++
			if err := s.Done(now, task, outcome(task, runs[key], now)); err != nil {
				t.Fatal(err)
			}
		}
		next := s.Until()
		if next.IsZero() {
			break
		}
		if !next.After(now) {
			t.Fatalf("at %s the schedule is due at %s but hands nothing out", now.Sub(t0), next.Sub(t0))
		}
		now = next
	}
	return log
}

func ok(Task, int, time.Time) DutyOutcome { return DutyOutcome{} }

// times lists when tasks of duty d ran (and, for samples, which measured
// disks).
func times(log []taken, d Duty) (at []time.Duration, disk []time.Duration) {
	for _, x := range log {
		if x.task.Duty == d {
			at = append(at, x.at)
			if x.task.Disk {
				disk = append(disk, x.at)
			}
		}
	}
	return at, disk
}

func TestScheduleUsageRhythm(t *testing.T) {
	s := NewSchedule(ScheduleConfig{UsageInterval: 24 * time.Hour}, t0)
	log := drive(t, s, 48*time.Hour, ok)
	samples, disks := times(log, DutySample)
	if len(samples) != 48*12+1 || samples[1] != 5*time.Minute {
		t.Errorf("%d samples (second at %s), want one every 5 minutes from the start: 577", len(samples), samples[1])
	}
	// Disks: at the first sample, then hourly.
	if len(disks) != 49 || disks[0] != 0 || disks[1] != time.Hour {
		t.Errorf("disk samples at %v, want hourly from the first", disks)
	}
	journals, _ := times(log, DutyJournal)
	delivers, _ := times(log, DutyDeliver)
	want := []time.Duration{24 * time.Hour, 48 * time.Hour}
	if !slices.Equal(journals, want) || !slices.Equal(delivers, want) {
		t.Errorf("journals at %v, deliveries at %v, want both at %v", journals, delivers, want)
	}
}

func TestPromiseRetryPause(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 8; n++ {
		got = append(got, PromiseRetryPause(n))
	}
	ms := time.Millisecond
	if want := []time.Duration{20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}; !slices.Equal(got, want) {
		t.Errorf("pauses %v, want %v", got, want)
	}
}

func TestScheduleUsageDefaults(t *testing.T) {
	for _, tc := range []struct{ usage, want time.Duration }{
		{24 * time.Hour, 5 * time.Minute},
		{time.Hour, 5 * time.Minute},
		{8 * time.Minute, 2 * time.Minute},
	} {
		if got := NewSchedule(ScheduleConfig{UsageInterval: tc.usage}, t0).Config().SampleInterval; got != tc.want {
			t.Errorf("usage every %s: sample every %s, want %s", tc.usage, got, tc.want)
		}
	}
	s := NewSchedule(ScheduleConfig{}, t0)
	if task, ok := s.Take(t0.Add(1000 * time.Hour)); ok {
		t.Errorf("a schedule with every duty off handed out %s", task)
	}
	if !s.Until().IsZero() {
		t.Errorf("a schedule with every duty off is due at %s", s.Until())
	}
}

func TestScheduleDeliveryBackoff(t *testing.T) {
	cfg := ScheduleConfig{PollInterval: time.Minute, RetryMax: 10 * time.Minute, UsageInterval: 24 * time.Hour}
	for _, tc := range []struct {
		name  string
		fails int // deliveries that fail before one succeeds
		want  []time.Duration
	}{
		{"accepted at once", 0, []time.Duration{0}},
		{"master away", 6, []time.Duration{0, 1, 3, 7, 15, 25, 35}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSchedule(cfg, t0)
			s.SetPending(t0, 2)
			log := drive(t, s, 23*time.Hour, func(task Task, n int, _ time.Time) DutyOutcome {
				if task.Duty == DutyDeliver && n <= tc.fails {
					return DutyOutcome{Err: errDown, Unreachable: true, Pending: 2}
				}
				return DutyOutcome{}
			})
			got, _ := times(log, DutyDeliver)
			for i := range tc.want {
				tc.want[i] *= time.Minute
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("deliveries at %v, want %v", got, tc.want)
			}
			if _, on := s.Due(Task{Duty: DutyDeliver}); on {
				t.Error("delivery still scheduled with nothing pending")
			}
		})
	}
	// A delivery that is accepted but leaves journals (posting stopped at
	// one) goes on with back-off.
	s := NewSchedule(cfg, t0)
	s.SetPending(t0, 3)
	log := drive(t, s, time.Hour, func(task Task, n int, _ time.Time) DutyOutcome {
		if task.Duty == DutyDeliver {
			return DutyOutcome{Pending: 3 - n}
		}
		return DutyOutcome{}
	})
	if got, _ := times(log, DutyDeliver); !slices.Equal(got, []time.Duration{0, time.Minute, 3 * time.Minute}) {
		t.Errorf("partial deliveries at %v", got)
	}
	// A delivery the executor learns later was lost is retried.
	s = NewSchedule(cfg, t0)
	s.SetPending(t0, 1)
	deliver := Task{Duty: DutyDeliver}
	s.Take(t0) // the first sample
	if task, _ := s.Take(t0); task != deliver {
		t.Fatalf("took %s, want the delivery", task)
	}
	s.Done(t0, deliver, DutyOutcome{})
	if _, on := s.Due(deliver); on {
		t.Fatal("delivery still on after success")
	}
	s.Done(t0.Add(time.Second), deliver, DutyOutcome{Err: errDown, Pending: 1})
	if due, on := s.Due(deliver); !on || !due.Equal(t0.Add(time.Second+time.Minute)) {
		t.Errorf("lost delivery retried at +%s (%v), want a poll interval after it was lost", due.Sub(t0), on)
	}
}

func TestScheduleJournal(t *testing.T) {
	cfg := ScheduleConfig{PollInterval: time.Minute, RetryMax: time.Hour, UsageInterval: 24 * time.Hour}
	// The meter's period began 30 hours ago: the journal is overdue.
	s := NewSchedule(cfg, t0)
	s.SetUsagePeriod(t0.Add(-30 * time.Hour))
	if task, ok := s.Take(t0); !ok || task.Duty != DutyJournal {
		t.Fatalf("overdue journal: took %v %v, want the journal at once", task, ok)
	}
	// A journal that cannot close (a disk error) backs off; the period
	// goes on; once closed, the next one is a whole period later, and
	// the delivery is due at once.
	if err := s.Done(t0, Task{Duty: DutyJournal}, DutyOutcome{Err: errBroken}); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.Due(Task{Duty: DutyJournal}); !due.Equal(t0.Add(time.Minute)) {
		t.Errorf("journal retried at %s, want a minute later", due.Sub(t0))
	}
	if _, on := s.Due(Task{Duty: DutyDeliver}); on {
		t.Error("delivery due although no journal closed")
	}
	at := t0.Add(time.Minute)
	s.Done(at, Task{Duty: DutySample, Disk: true}, DutyOutcome{})
	if task, _ := s.Take(at); task.Duty != DutyJournal {
		t.Fatalf("took %s, want the journal", task)
	}
	if err := s.Done(at, Task{Duty: DutyJournal}, DutyOutcome{}); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.Due(Task{Duty: DutyJournal}); !due.Equal(at.Add(24 * time.Hour)) {
		t.Errorf("next journal at %s, want a period after the close", due.Sub(at))
	}
	if due, on := s.Due(Task{Duty: DutyDeliver}); !on || !due.Equal(at) {
		t.Errorf("delivery due %s (%v), want at once", due.Sub(at), on)
	}
	// A delivery that fails never closes a period early.
	log := drive(t, s, 47*time.Hour, func(task Task, _ int, _ time.Time) DutyOutcome {
		if task.Duty == DutyDeliver {
			return DutyOutcome{Err: errDown, Unreachable: true, Pending: 1}
		}
		return DutyOutcome{}
	})
	if got, _ := times(log, DutyJournal); len(got) != 1 || got[0] != 24*time.Hour+time.Minute {
		t.Errorf("journals at %v while the master is away, want one, a period after the last", got)
	}
}

func TestScheduleBackoff(t *testing.T) {
	const poll, retryMax = time.Minute, 8 * time.Minute
	for _, tc := range []struct {
		name string
		cfg  ScheduleConfig
		task Task
		fail DutyOutcome
		want []time.Duration // minutes of the first runs
	}{
		{"capacity fails", ScheduleConfig{CapacityInterval: time.Hour}, Task{Duty: DutyCapacity},
			DutyOutcome{Err: errBroken}, []time.Duration{0, 1, 3, 7, 15, 23}},
		{"software: master away", ScheduleConfig{SoftwareInterval: 5 * time.Minute}, Task{Duty: DutySoftware},
			DutyOutcome{Err: errDown, Unreachable: true}, []time.Duration{0, 1, 3, 7, 15, 23}},
		// A release that fails to build backs off in core/converge: the
		// pass keeps its rhythm.
		{"software: a build failed", ScheduleConfig{SoftwareInterval: 5 * time.Minute}, Task{Duty: DutySoftware},
			DutyOutcome{Err: errBroken}, []time.Duration{0, 5, 10, 15, 20, 25}},
		{"destroy fails", ScheduleConfig{DestructionInterval: time.Hour}, Task{Duty: DutyDestroy},
			DutyOutcome{Err: errDown, Unreachable: true}, []time.Duration{60, 61, 63, 67, 75, 83}},
		{"sample fails", ScheduleConfig{UsageInterval: 24 * time.Hour}, Task{Duty: DutySample},
			DutyOutcome{Err: errBroken}, []time.Duration{0, 1, 3, 7, 15, 23}},
		// The Agent backs off itself: its Next stands.
		{"instance offline", ScheduleConfig{Instance: true}, Task{Duty: DutyInstance},
			DutyOutcome{Err: errDown, Unreachable: true}, []time.Duration{0, 2, 4, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.PollInterval, tc.cfg.RetryMax = poll, retryMax
			s := NewSchedule(tc.cfg, t0)
			log := drive(t, s, tc.want[len(tc.want)-1]*time.Minute, func(task Task, _ int, now time.Time) DutyOutcome {
				if task.Duty == tc.task.Duty {
					o := tc.fail
					if task.Duty == DutyInstance {
						o.Next = now.Add(2 * time.Minute)
					}
					return o
				}
				return DutyOutcome{}
			})
			got, _ := times(log, tc.task.Duty)
			want := slices.Clone(tc.want)
			for i := range want {
				want[i] *= time.Minute
			}
			if !slices.Equal(got, want) {
				t.Errorf("runs at %v, want %v", got, want)
			}
		})
	}
	// Success returns to the interval.
	s := NewSchedule(ScheduleConfig{PollInterval: poll, RetryMax: retryMax, CapacityInterval: time.Hour}, t0)
	log := drive(t, s, 3*time.Hour, func(_ Task, n int, _ time.Time) DutyOutcome {
		if n <= 3 {
			return DutyOutcome{Err: errBroken}
		}
		return DutyOutcome{}
	})
	if got, _ := times(log, DutyCapacity); !slices.Equal(got, []time.Duration{0, time.Minute, 3 * time.Minute, 7 * time.Minute, 67 * time.Minute, 127 * time.Minute}) {
		t.Errorf("capacity runs at %v", got)
	}
	if s.Failures(Task{Duty: DutyCapacity}) != 0 {
		t.Errorf("failures = %d after a success", s.Failures(Task{Duty: DutyCapacity}))
	}
}

func TestScheduleCaptures(t *testing.T) {
	cfg := ScheduleConfig{PollInterval: time.Minute, RetryMax: time.Hour, CapacityInterval: 24 * time.Hour,
		Captures: []string{"lo", "eth0", "lo", ""}}
	s := NewSchedule(cfg, t0)
	// The first format fails: no capture before the partitions have
	// addresses.
	task, _ := s.Take(t0)
	if task.Duty != DutyCapacity {
		t.Fatalf("took %s first, want capacity", task)
	}
	if _, ok := s.Take(t0); ok {
		t.Fatal("a second task before the first format")
	}
	s.Done(t0, task, DutyOutcome{Err: errBroken})
	if _, ok := s.Take(t0.Add(59 * time.Second)); ok {
		t.Fatal("a task before the format is retried")
	}
	at := t0.Add(time.Minute)
	task, _ = s.Take(at)
	s.Done(at, task, DutyOutcome{})
	var got []string
	for {
		task, ok := s.Take(at)
		if !ok {
			break
		}
		got = append(got, task.String())
	}
	if !slices.Equal(got, []string{"capture eth0", "capture lo"}) {
		t.Fatalf("captures taken: %q, want each interface once, in order", got)
	}
	eth0, lo := Task{Duty: DutyCapture, Interface: "eth0"}, Task{Duty: DutyCapture, Interface: "lo"}
	// lo needs a permission the daemon lacks: never again.
	s.Done(at, lo, DutyOutcome{Err: errNoPerms, Permanent: true})
	if _, on := s.Due(lo); on {
		t.Error("a capture without permission is retried")
	}
	// eth0 does not exist yet: it backs off, doubling.
	var retries []time.Duration
	for range 4 {
		s.Done(at, eth0, DutyOutcome{Err: errBroken})
		due, _ := s.Due(eth0)
		retries = append(retries, due.Sub(at))
		at = due
		if task, _ := s.Take(at); task != eth0 {
			t.Fatalf("took %s, want %s", task, eth0)
		}
	}
	if !slices.Equal(retries, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute}) {
		t.Errorf("capture retried after %v", retries)
	}
	// It opened and ran a day, then the interface went away: a new outage,
	// retried after a poll interval; one that ends at once backs off.
	at = at.Add(24 * time.Hour)
	s.Done(at, eth0, DutyOutcome{})
	if due, _ := s.Due(eth0); !due.Equal(at.Add(time.Minute)) || s.Failures(eth0) != 1 {
		t.Errorf("after a day of capture: retried at +%s with %d failures, want +1m and 1", due.Sub(at), s.Failures(eth0))
	}
	at = at.Add(time.Minute)
	s.Take(at)
	s.Done(at.Add(time.Second), eth0, DutyOutcome{})
	if due, _ := s.Due(eth0); !due.Equal(at.Add(time.Second + 2*time.Minute)) {
		t.Errorf("a capture that ends at once retried at +%s, want +2m1s", due.Sub(at))
	}
	// Capacity runs later do not start the captures twice.
	if s.Running(eth0) || s.Running(lo) {
		t.Error("captures still running")
	}
}

func TestScheduleInstance(t *testing.T) {
	cfg := ScheduleConfig{Instance: true, PollInterval: time.Minute, Rand: rand.New(rand.NewPCG(1, 2))}
	s := NewSchedule(cfg, t0)
	due, _ := s.Due(Task{Duty: DutyInstance})
	if d := due.Sub(t0); d < 0 || d > 6*time.Second {
		t.Errorf("first pass at +%s, want within a tenth of the poll interval", d)
	}
	now := due
	spread := map[time.Duration]bool{}
	for range 200 {
		task, ok := s.Take(now)
		if !ok || task.Duty != DutyInstance {
			t.Fatalf("took %v %v at %s, want the instance pass", task, ok, now.Sub(t0))
		}
		s.Done(now, task, DutyOutcome{Next: now.Add(10 * time.Minute)})
		due, _ := s.Due(task)
		d := due.Sub(now)
		if d < 10*time.Minute || d > 11*time.Minute {
			t.Fatalf("next pass at +%s, want the agent's 10m plus at most a tenth", d)
		}
		spread[d] = true
		now = due
	}
	if len(spread) < 100 {
		t.Errorf("%d distinct delays in 200 passes: no jitter", len(spread))
	}
	// A build ended: the next pass is at once.
	s.Wake(now.Add(-time.Minute), DutyInstance)
	if due, _ := s.Due(Task{Duty: DutyInstance}); !due.Equal(now.Add(-time.Minute)) {
		t.Errorf("after Wake the pass is due at %s, want at once", due.Sub(now))
	}
	// A build that ends during a pass: the next pass follows at once.
	task, _ := s.Take(now)
	s.Wake(now, DutyInstance)
	s.Done(now.Add(time.Second), task, DutyOutcome{Next: now.Add(time.Hour)})
	if due, _ := s.Due(task); !due.Equal(now.Add(time.Second)) {
		t.Errorf("woken during its run: next pass at +%s, want at once after it", due.Sub(now))
	}
	// Same seed, same schedule.
	a := NewSchedule(ScheduleConfig{Instance: true, SoftwareInterval: time.Minute, Rand: rand.New(rand.NewPCG(7, 7))}, t0)
	b := NewSchedule(ScheduleConfig{Instance: true, SoftwareInterval: time.Minute, Rand: rand.New(rand.NewPCG(7, 7))}, t0)
	la, lb := drive(t, a, time.Hour, ok), drive(t, b, time.Hour, ok)
	if !slices.Equal(la, lb) {
		t.Error("two schedules of the same seed differ")
	}
}

func TestScheduleDone(t *testing.T) {
	s := NewSchedule(ScheduleConfig{CapacityInterval: time.Hour}, t0)
	if err := s.Done(t0, Task{Duty: DutyCapture, Interface: "eth9"}, DutyOutcome{}); err == nil {
		t.Error("Done of an unknown capture accepted")
	}
	// The executor formats at its boot, before taking anything: Done
	// without Take schedules the next run.
	if err := s.Done(t0.Add(time.Second), Task{Duty: DutyCapacity}, DutyOutcome{}); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.Due(Task{Duty: DutyCapacity}); !due.Equal(t0.Add(time.Hour + time.Second)) {
		t.Errorf("capacity due at +%s after the boot's format, want +1h1s", due.Sub(t0))
	}
	for d := range dutyCount + 1 {
		if d.String() == "" {
			t.Errorf("duty %d has no name", d)
		}
	}
}

// TestScheduleProperty drives schedules with random outcomes and delays:
// no task is handed out while running, none before it is due, and every
// duty on is due again after its run.
func TestScheduleProperty(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 1))
		cfg := ScheduleConfig{Instance: true, SoftwareInterval: time.Minute, CapacityInterval: time.Hour,
			DestructionInterval: time.Hour, UsageInterval: time.Duration(1+r.IntN(24)) * time.Hour,
			Captures: []string{"eth0", "lo"}, RetryMax: 30 * time.Minute, Rand: rand.New(rand.NewPCG(seed, 2))}
		s := NewSchedule(cfg, t0)
		now := t0
		var running []Task
		for range 2000 {
			if s.nextOK && s.secondOK {
				if got, want := s.second, scanSecond(s, s.next); got != want {
					t.Fatalf("seed %d at %v: the schedule's second duty is %d, a scan finds %d", seed, now.Sub(t0), got, want)
				}
			}
			if got, want := s.findNext(), scanNext(s); got != want {
				t.Fatalf("seed %d at %v: the schedule's next duty is %d, a scan finds %d", seed, now.Sub(t0), got, want)
			}
			switch r.IntN(20) {
			case 0:
				s.Wake(now, Duty(r.IntN(int(dutyCount))))
			case 1:
				s.SetPending(now, r.IntN(2))
			}
			if task, ok := s.Take(now); ok {
				if slices.ContainsFunc(running, func(x Task) bool { x.Disk = task.Disk; return x == task }) {
					t.Fatalf("seed %d: %s handed out while running", seed, task)
				}
				running = append(running, task)
				continue
			}
			if len(running) > 0 && r.IntN(2) == 0 {
				i := r.IntN(len(running))
				task := running[i]
				running = slices.Delete(running, i, i+1)
				o := DutyOutcome{}
				switch r.IntN(4) {
				case 0:
					o.Err, o.Unreachable = errDown, true
				case 1:
					o.Err = errBroken
				}
				if task.Duty == DutyDeliver {
					o.Pending = r.IntN(2)
				}
				if task.Duty == DutyInstance {
					o.Next = now.Add(time.Duration(r.IntN(120)) * time.Second)
				}
				if err := s.Done(now, task, o); err != nil {
					t.Fatal(err)
				}
				due, on := s.Due(task)
				if task.Duty != DutyDeliver && task.Duty != DutyCapture && (!on || due.Before(now)) {
					t.Fatalf("seed %d: %s after its run: due %s (on %v) before now %s", seed, task, due, on, now)
				}
				continue
			}
			next := s.Until()
			if next.IsZero() || r.IntN(3) == 0 {
				now = now.Add(time.Duration(r.IntN(600)) * time.Second)
			} else if next.After(now) {
				now = next
			}
		}
	}
}

// scanNext is the duty a Schedule hands out next, by a scan of them all:
// the earliest due of those on and not running, the first on a tie.
func scanNext(s *Schedule) int { return scanSecond(s, -1) }

// scanSecond is scanNext with duty but left out.
func scanSecond(s *Schedule, but int) int {
	best := -1
	for i, d := range s.duties {
		if i != but && d.on && !d.running && (best < 0 || d.due.Before(s.duties[best].due)) {
			best = i
		}
	}
	return best
}
