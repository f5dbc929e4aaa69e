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
// them). core/agent's Schedule says when the node samples, closes a
// journal and delivers, exactly as in the production agent.
type nodeUsage struct {
	duties *agent.Schedule
	token  int32 // of the one duty event that counts
	start  time.Time
	last   time.Time // last sample
	// Per partition, this period: CPU seconds and MiB·hours.
	cpu, mem map[string]float64
	pending  []pendingJournal
}

// pendingJournal is a journal kept until the master accepts it.
type pendingJournal struct {
	j      account.Journal
	posted bool // on its way to the master
}

// newUsage starts the usage meter of a node at now; nil when the scenario
// posts no usage.
func (s *engine) newUsage(now time.Time) *nodeUsage {
	every := s.sc.Agent.UsageReportEvery.D()
	if every <= 0 {
		return nil
	}
	cfg := agent.ScheduleConfig{PollInterval: s.sc.Agent.PollInterval.D(), RetryMax: s.convCfg.RetryMax,
		UsageInterval: every, SampleInterval: s.sc.Agent.UsageSampleEvery.D()}
	return &nodeUsage{duties: agent.NewSchedule(cfg, now), start: now, last: now,
		cpu: map[string]float64{}, mem: map[string]float64{}}
}

// scheduleDuties schedules the node's next usage duty.
func (s *engine) scheduleDuties(n *node) {
	u := n.usage
	if u == nil {
		return
	}
	u.token++
	if until := u.duties.Until(); !until.IsZero() {
		s.schedule(evDuty, max(int64(until.Sub(s.t0)), s.now), n.idx, u.token)
	}
}

// runDuties executes the usage duties due, then schedules the next.
func (s *engine) runDuties(n *node, token int32) {
	u := n.usage
	if u == nil || token != u.token || !n.up {
		return
	}
	now := s.time()
	for {
		task, ok := u.duties.Take(now)
		if !ok {
			break
		}
		var o agent.DutyOutcome
		switch task.Duty {
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
		if err := u.duties.Done(now, task, o); err != nil {
			s.violate(InvAgentProtocol, fmt.Sprintf("computer %s: %s: %v", n.id, task, err))
			return
		}
	}
	s.scheduleDuties(n)
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
	for _, p := range n.viewPartitions() {
		if a := actual.Partitions[p.ID]; a.Running && p.InstanceGUID != "" {
			u.cpu[p.ID] += dt.Seconds() * (0.02 + 0.1*n.rng.Float64())
			u.mem[p.ID] += dt.Hours() * float64(64+n.rng.IntN(448))
		}
	}
}

// closeJournal closes the usage period [start, now) into a TioXML journal
// (core/account builds and checks it, core/master prices it) kept until
// delivered. A period with no usage makes no journal.
func (s *engine) closeJournal(n *node, now time.Time) {
	u := n.usage
	per := map[string][]account.JournalMovement{}
	for id, cpu := range u.cpu { // order-free: BuildJournal sorts
		per[id] = []account.JournalMovement{
			{Resource: account.ResourceCPUTime, Title: "CPU time", Quantity: round3(cpu), VAT: "0"},
			{Resource: account.ResourceMemoryUsed, Title: "Memory", Quantity: round3(u.mem[id]), VAT: "0"},
		}
	}
	if len(per) > 0 {
		j := account.BuildJournal(n.id, u.start, now, per, n.group.Currency)
		j.Transactions[0].PaymentMode = "wire_transfer"
		u.pending = append(u.pending, pendingJournal{j: j})
		s.stats.UsageJournals++
	}
	u.start = now
	clear(u.cpu)
	clear(u.mem)
}

// deliverUsage posts the journals kept, oldest first, when the master can
// be reached. Each stays kept until the master accepts it: one it loses
// (an outage) or refuses is delivered again with back-off.
func (s *engine) deliverUsage(n *node) agent.DutyOutcome {
	u := n.usage
	if u.duties.Failures(agent.Task{Duty: agent.DutyDeliver}) > 0 {
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
			if e := u.duties.Done(s.time(), agent.Task{Duty: agent.DutyDeliver}, agent.DutyOutcome{Err: err, Pending: len(u.pending)}); e != nil {
				s.violate(InvAgentProtocol, fmt.Sprintf("computer %s: usage delivery: %v", n.id, e))
				return
			}
			s.scheduleDuties(n)
		})
	}
	return agent.DutyOutcome{}
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
