package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/master"
)

// nodeUsage is a node's usage meter and its journals not delivered,
// modelled: they are on the node's disk (a crash keeps them, a wipe loses
// them). The node's Schedule says when it samples, closes a journal and
// delivers, exactly as in the production agent.
type nodeUsage struct {
	start time.Time
	// period is when the period being measured began for the Schedule: start,
	// or before the simulation a moment drawn within the last period.
	period time.Time
	last   time.Time // last sample
	// Per partition, this period: CPU seconds and MiB·hours. The meters
	// stay assigned to their partitions from one period to the next: the
	// meter of slappartN is the N-th (meter), with no table of ids to keep.
	meters  []usageMeter
	pending []pendingJournal
}

// usageMeter is one partition's usage this period.
type usageMeter struct {
	id       string // "" while unassigned
	cpu, mem float64
	used     bool // sampled this period
}

// maxMeterSlot bounds the partition numbers that index the meters
// directly; other ids are looked up.
const maxMeterSlot = 1 << 12

// meter returns the meter of partition id: slappartN's is the N-th; an id
// of another form, or whose slot another id holds, is found by a scan (or
// gets a new meter at the end).
func (u *nodeUsage) meter(id string) *usageMeter {
	if k, ok := partitionIndex(id); ok && k < maxMeterSlot {
		if k >= len(u.meters) {
			u.meters = append(u.meters, make([]usageMeter, k+1-len(u.meters))...)
		}
		if m := &u.meters[k]; m.id == id || m.id == "" {
			m.id = id
			return m
		}
	}
	for i := range u.meters {
		if u.meters[i].id == id {
			return &u.meters[i]
		}
	}
	u.meters = append(u.meters, usageMeter{id: id})
	return &u.meters[len(u.meters)-1]
}

// pendingJournal is a journal kept until the master accepts it.
type pendingJournal struct {
	j      account.Journal
	posted bool // on its way to the master
}

// newUsage starts the usage meter of a node at now; nil when the scenario
// posts no usage.
func (s *engine) newUsage(now time.Time) *nodeUsage {
	if s.sc.Agent.UsageReportEvery.D() <= 0 {
		return nil
	}
	return &nodeUsage{start: now, period: now, last: now}
}

// startDuties starts the schedule of the node's periodic duties as its
// daemon does when it starts at the moment start: core/agent's Schedule
// (the production agent's) runs the instance passes and, when the
// scenario posts usage, the usage duties. What the node's disk kept (the
// usage period begun, the journals not delivered) is given back to it.
func (s *engine) startDuties(n *node, start time.Time) {
	cfg := agent.ScheduleConfig{PollInterval: s.sc.Agent.PollInterval.D(), RetryMax: s.convCfg.RetryMax,
		Instance: true, Rand: n.rng}
	if u := n.usage; u != nil {
		cfg.UsageInterval, cfg.SampleInterval = s.sc.Agent.UsageReportEvery.D(), s.sc.Agent.UsageSampleEvery.D()
	}
	n.duties = agent.NewSchedule(cfg, start)
	if u := n.usage; u != nil {
		n.duties.SetUsagePeriod(u.period)
		n.duties.SetPending(start, len(u.pending))
	}
	n.dutyLive = false
	s.scheduleDuties(n)
}

// scheduleDuties schedules the event of the node's next duty (one event
// counts: the latest), unless it is scheduled already.
func (s *engine) scheduleDuties(n *node) {
	if n.duties == nil || !n.up || n.inDuties {
		return
	}
	until := n.duties.Until()
	if until.IsZero() {
		n.dutyLive = false
		return
	}
	at := max(int64(until.Sub(s.t0)), s.now)
	if n.dutyLive && n.dutyAt == at {
		return
	}
	n.dutyTok++
	n.dutyLive, n.dutyAt = true, at
	s.schedule(evDuty, at, n.idx, n.dutyTok)
}

// runDuties runs the node's duties due, then schedules the next. An
// instance task is a pass of the agent: it starts here, and ends when the
// agent sleeps (sleep), after the actions it runs took their time.
func (s *engine) runDuties(n *node, token int32) {
	if token != n.dutyTok {
		return
	}
	n.dutyLive = false
	if !n.up {
		return
	}
	now := s.time()
	n.inDuties = true
	defer func() {
		n.inDuties = false
		s.scheduleDuties(n)
	}()
	for {
		task, ok := n.duties.Take(now)
		if !ok {
			break
		}
		var o agent.DutyOutcome
		switch task.Duty {
		case agent.DutyInstance:
			s.run(n)
			if s.violation != nil {
				return
			}
			continue // its Done comes when the agent sleeps
		case agent.DutySample:
			s.sampleUsage(n, now)
		case agent.DutyJournal:
			s.sampleUsage(n, now)
			s.closeJournal(n, now)
		case agent.DutyDeliver:
			o = s.deliverUsage(n)
		default:
			o.Err = fmt.Errorf("sim: duty %s is not modelled", task)
		}
		if err := n.duties.Done(now, task, o); err != nil {
			s.violate(InvAgentProtocol, fmt.Sprintf("computer %s: %s: %v", n.id, task, err))
			return
		}
	}
}

// sampleUsage integrates what the running partitions consumed since the
// last sample: each draws a CPU load and a resident memory.
func (s *engine) sampleUsage(n *node, now time.Time) {
	u := n.usage
	dt := now.Sub(u.last)
	u.last = now
	if dt <= 0 {
		return
	}
	actual := n.ag.Actual()
	ps := n.viewPartitions()
	for i := range ps {
		p := &ps[i]
		if p.InstanceGUID == "" {
			continue
		}
		if a := actual.Partitions[p.ID]; a.Running {
			m := u.meter(p.ID)
			m.cpu += dt.Seconds() * (0.02 + 0.1*n.rng.Float64())
			m.mem += dt.Hours() * float64(64+n.rng.IntN(448))
			m.used = true
		}
	}
}

// closeJournal closes the usage period [start, now) into a TioXML journal
// (core/account builds and checks it, core/master prices it) kept until
// delivered. A period with no usage makes no journal.
func (s *engine) closeJournal(n *node, now time.Time) {
	u := n.usage
	per := map[string][]account.JournalMovement{}
	for i := range u.meters { // order-free: BuildJournal sorts
		m := &u.meters[i]
		if !m.used {
			continue
		}
		per[m.id] = []account.JournalMovement{
			{Resource: account.ResourceCPUTime, Title: "CPU time", Quantity: round3(m.cpu), VAT: "0"},
			{Resource: account.ResourceMemoryUsed, Title: "Memory", Quantity: round3(m.mem), VAT: "0"},
		}
		m.cpu, m.mem, m.used = 0, 0, false
	}
	if len(per) > 0 {
		j := account.BuildJournal(n.id, u.start, now, per, n.group.Currency)
		j.Transactions[0].PaymentMode = "wire_transfer"
		u.pending = append(u.pending, pendingJournal{j: j})
		s.stats.UsageJournals++
	}
	u.start, u.period = now, now
}

// deliverUsage posts the journals kept, oldest first, when the master can
// be reached. Each stays kept until the master accepts it: one it loses
// (an outage) or refuses is delivered again with back-off.
func (s *engine) deliverUsage(n *node) agent.DutyOutcome {
	u := n.usage
	if n.duties.Failures(agent.Task{Duty: agent.DutyDeliver}) > 0 {
		s.stats.UsageRetries++
	}
	if !s.reachable(n) {
		return agent.DutyOutcome{Err: errMasterDown, Unreachable: true, Pending: len(u.pending)}
	}
	for i := range u.pending {
		p := &u.pending[i]
		if p.posted {
			continue
		}
		p.posted = true
		start := p.j.Transactions[0].StartDate
		s.submit(s.latency(n), master.PostUsage{By: n.actor, ComputerID: n.id, Journal: p.j}, func(_ master.Result, err error) {
			k := slices.IndexFunc(u.pending, func(p pendingJournal) bool { return p.j.Transactions[0].StartDate == start })
			if k < 0 {
				return // wiped meanwhile
			}
			if err == nil {
				s.stats.UsageDelivered++
				u.pending = slices.Delete(u.pending, k, k+1)
				return
			}
			u.pending[k].posted = false
			if n.duties == nil {
				return // the node is down: its next daemon delivers it (SetPending)
			}
			if e := n.duties.Done(s.time(), agent.Task{Duty: agent.DutyDeliver}, agent.DutyOutcome{Err: err, Pending: len(u.pending)}); e != nil {
				s.violate(InvAgentProtocol, fmt.Sprintf("computer %s: usage delivery: %v", n.id, e))
				return
			}
			s.scheduleDuties(n)
		})
	}
	return agent.DutyOutcome{}
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
