package sim

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/sim/scenario"
)

// The fixture releases' convention, which the modelled instances follow:
// an instance whose parameter FailParameter is FailConfigure fails every
// configuration.
const (
	FailParameter = "fail"
	FailConfigure = "configure"
)

// Errors of the steppable engine.
var (
	// ErrNoNode: no node agent runs for the computer named.
	ErrNoNode = errors.New("sim: no such node")
	// ErrState: the fault asked contradicts the current state (rebooting a
	// running node, stopping a master already down).
	ErrState = errors.New("sim: not in that state")
	// ErrMasterDown: the master does not answer (an outage).
	ErrMasterDown = errMasterDown
)

// SoftwareModel is how a software release builds on every node, when a
// bare engine's caller declares it (Engine.DefineSoftware).
type SoftwareModel struct {
	// BuildTime replaces the scenario's build (or cache fetch) duration
	// when positive.
	BuildTime time.Duration
	// Failure, when set, makes every build fail with this message.
	Failure string
}

// ActionRecord is one partition action a node ran, from its start to its
// end (Options.RecordActivity).
type ActionRecord struct {
	Kind         converge.ActionKind
	PartitionID  string
	InstanceGUID string
	Reason       converge.Reason
	Start, End   time.Time
	// Error is why it failed, "" when it succeeded.
	Error string
	// Interrupted: the node crashed while the action ran.
	Interrupted bool
}

// NodeSnapshot is what a node holds on its disk and runs.
type NodeSnapshot struct {
	ID         string
	Up         bool
	Partitions []string // ids, in format order
	Actual     converge.Actual
}

// Engine is one simulation its caller steps: Run is an Engine run to the
// scenario's end. Its methods act at the engine's current virtual time.
// It is not safe for concurrent use.
type Engine struct {
	s *engine
}

// NewEngine builds a simulation of sc at its start, its grid and workload
// set up and scheduled (none with Options.Bare).
func NewEngine(sc *scenario.Scenario, opts Options) (*Engine, error) {
	s, err := newEngine(sc, opts)
	if err != nil {
		return nil, err
	}
	if opts.Bare {
		if len(sc.Nodes) == 0 {
			return nil, fmt.Errorf("sim: a bare engine takes the network of its nodes from nodes[0]: the scenario has no node group")
		}
		if sc.Invariants.FullCheckEvery > 0 {
			s.schedule(evFullCheck, int64(sc.Invariants.FullCheckEvery), -1, 0)
		}
		return &Engine{s: s}, nil
	}
	s.setup()
	return &Engine{s: s}, nil
}

// Finish ends a stepped simulation and summarises it: the last sample,
// a sweep of every invariant, the summary (wall is the real time it took,
// for the speed figures). The engine must not be stepped afterwards.
func (e *Engine) Finish(wall time.Duration) *Result { return e.s.finish(wall) }

// Now is the virtual time.
func (e *Engine) Now() time.Time { return e.s.time() }

// TraceHash is the SHA-256 of every trace line so far, in hex.
func (e *Engine) TraceHash() string { return e.s.trace.sum() }

// RunUntil runs the events due before t, in order, and then sets the clock
// to t. It returns early, true, as soon as stop (may be nil) says so,
// before the next event and with the clock at the last event run. It
// stops with the violation when an invariant breaks.
func (e *Engine) RunUntil(t time.Time, stop func() bool) (bool, error) {
	s := e.s
	until := int64(t.Sub(s.t0))
	if until < s.now {
		return false, fmt.Errorf("sim: cannot run until %s: the clock is at %s already", t.Format(time.RFC3339), s.time().Format(time.RFC3339))
	}
	stopped := s.runUntil(until, stop)
	if s.violation != nil {
		return stopped, s.violation
	}
	if s.stopped != nil {
		return stopped, s.stopped
	}
	return stopped, nil
}

// Apply applies a command on the master now, as an API call answered at
// once: the master must be up. The command is traced and its mutations
// checked and kept in the master's durable store, as every command's.
func (e *Engine) Apply(cmd master.Command) (master.Result, error) {
	s := e.s
	if !s.masterUp {
		return master.Result{}, errMasterDown
	}
	res, err := s.apply(cmd)
	if s.violation != nil && err == nil {
		err = s.violation
	}
	return res, err
}

// Master is the master's state, for reads; it is replaced by a restart.
// The master is readable only while up (MasterUp).
func (e *Engine) Master() *master.State { return e.s.m }

// MasterUp says whether the master answers.
func (e *Engine) MasterUp() bool { return e.s.masterUp }

// DefineSoftware declares how the release at url builds.
func (e *Engine) DefineSoftware(url string, m SoftwareModel) { e.s.software[url] = m }

// SetDurations changes the modelled duration of a configuration from now
// on, and the agents' poll interval, which only nodes not added yet can
// take (zero keeps a value). The engine's scenario is its own copy from
// then on.
func (e *Engine) SetDurations(configure, pollInterval time.Duration) error {
	s := e.s
	if pollInterval > 0 && pollInterval != s.sc.Agent.PollInterval.D() && len(s.nodes) > 0 {
		return fmt.Errorf("%w: the poll interval of %d running node agents cannot change", ErrState, len(s.nodes))
	}
	sc := *s.sc
	s.sc = &sc
	if configure > 0 {
		sc.Agent.Configure = scenario.Dist{Kind: scenario.DistConstant, Mean: scenario.Duration(configure)}
	}
	if pollInterval > 0 {
		sc.Agent.PollInterval = scenario.Duration(pollInterval)
		s.agentCfg.PollInterval = pollInterval
	}
	return nil
}

// AddNode starts the agent of a computer the master knows: it formats
// parts partitions, announces them now, and its daemon starts now: its
// Schedule (core/agent) runs the first pass within the Schedule's jitter.
func (e *Engine) AddNode(id string, parts int) error {
	s := e.s
	if s.nodeByID[id] != nil {
		return fmt.Errorf("%w: a node agent already runs for computer %s", ErrState, id)
	}
	n := s.newNode(&s.sc.Nodes[0], id, parts)
	if _, err := e.Apply(master.SetCapacity{By: n.actor, ComputerID: id, Partitions: partitionSpecs(n.idx, parts)}); err != nil {
		s.nodes = s.nodes[:len(s.nodes)-1]
		delete(s.nodeByID, id)
		s.regions[n.region] = s.regions[n.region][:len(s.regions[n.region])-1]
		return fmt.Errorf("sim: formatting %s: %w", id, err)
	}
	s.startDuties(n, s.time())
	return nil
}

func (e *Engine) node(id string) (*node, error) {
	n := e.s.nodeByID[id]
	if n == nil {
		return nil, fmt.Errorf("%w: no node agent runs for computer %s", ErrNoNode, id)
	}
	return n, nil
}

// Crash powers a node off: its processes and the action running die, its
// disk stays.
func (e *Engine) Crash(id string) error {
	n, err := e.node(id)
	if err != nil {
		return err
	}
	e.s.crash(n)
	return nil
}

// Boot powers a crashed node on: it formats (announces its partitions)
// and runs at once.
func (e *Engine) Boot(id string) error {
	n, err := e.node(id)
	if err != nil {
		return err
	}
	if n.up {
		return fmt.Errorf("%w: node %s is running: crash it before booting it", ErrState, id)
	}
	e.s.boot(n)
	return nil
}

// Wipe replaces a node by an empty one with the same identity: it crashes
// if up, loses its disk (software, partitions' content, cached view,
// reports not sent), and boots.
func (e *Engine) Wipe(id string) error {
	n, err := e.node(id)
	if err != nil {
		return err
	}
	s := e.s
	s.crash(n)
	c := n.ag.Counters()
	n.oldCounts = addCounters(n.oldCounts, c)
	n.oldOutbox = addOutbox(n.oldOutbox, n.ag.OutboxCounters())
	n.oldOutbox.Dropped += uint64(len(n.ag.Unpublished()))
	n.ag = agent.New(s.agentCfg, converge.Actual{})
	n.usage = s.newUsage(s.time())
	n.passSeen, n.planSeen, n.evSeen = 0, 0, 0
	n.promiseFailing, n.resume = nil, nil
	t := s.trace
	t.begin(s.now, "wipe")
	t.str("node", n.id)
	t.end()
	s.boot(n)
	return nil
}

// Cut cuts a node from the master (a network partition); Heal reconnects
// it.
func (e *Engine) Cut(id string) error {
	n, err := e.node(id)
	if err != nil {
		return err
	}
	n.cut++
	n.faultAt = e.s.now
	e.s.traceFault("cut", id)
	return nil
}

// Heal reconnects a node cut from the master.
func (e *Engine) Heal(id string) error {
	n, err := e.node(id)
	if err != nil {
		return err
	}
	if n.cut == 0 {
		return fmt.Errorf("%w: node %s is not cut from the master", ErrState, id)
	}
	n.cut--
	e.s.traceFault("heal", id)
	return nil
}

// Outage stops the master: what it queued is lost; its durable store
// stays.
func (e *Engine) Outage() error {
	s := e.s
	if !s.masterUp {
		return fmt.Errorf("%w: the master is already down", ErrState)
	}
	s.traceFault("master-down", "caller")
	s.masterCrash()
	return nil
}

// Restart starts the master again, rebuilt from its durable store.
func (e *Engine) Restart() error {
	s := e.s
	if s.masterUp {
		return fmt.Errorf("%w: the master is up", ErrState)
	}
	s.traceFault("master-up", "caller")
	return s.masterRestart()
}

// SetPromise makes the promise of the instance in a partition fail or pass
// (the outside world the node's anomaly check sees).
func (e *Engine) SetPromise(id, partitionID string, failing bool) error {
	n, err := e.node(id)
	if err != nil {
		return err
	}
	if k, ok := partitionIndex(partitionID); !ok || k >= n.parts {
		return fmt.Errorf("%w: node %s has no partition %s", ErrNoNode, id, partitionID)
	}
	if failing {
		if n.promiseFailing == nil {
			n.promiseFailing = map[string]bool{}
		}
		n.promiseFailing[partitionID] = true
	} else {
		delete(n.promiseFailing, partitionID)
	}
	t := e.s.trace
	t.begin(e.s.now, "promise")
	t.pair("part", id, partitionID)
	if failing {
		t.str("result", "fail")
	}
	t.end()
	return nil
}

// Node is what a node holds and runs.
func (e *Engine) Node(id string) (NodeSnapshot, error) {
	n, err := e.node(id)
	if err != nil {
		return NodeSnapshot{}, err
	}
	a := n.ag.Actual()
	out := NodeSnapshot{ID: id, Up: n.up, Actual: converge.Actual{Software: maps.Clone(a.Software),
		Partitions: maps.Clone(a.Partitions)}}
	for _, p := range partitionSpecs(n.idx, n.parts) {
		out.Partitions = append(out.Partitions, p.ID)
	}
	return out, nil
}

// Actions is every partition action a node ran (Options.RecordActivity),
// in the order they ended.
func (e *Engine) Actions(id string) ([]ActionRecord, error) {
	n, err := e.node(id)
	if err != nil {
		return nil, err
	}
	return slices.Clone(n.actions), nil
}

// Pass is the number of quiet passes (passes with nothing to do) of every
// node so far: a node whose last quiet pass is above a mark taken earlier
// looked at its state after the mark and found nothing to do.
func (e *Engine) Pass() uint64 { return e.s.passes }

// Settled says whether every node that is up is settled since the quiet
// pass mark (see Unsettled).
func (e *Engine) Settled(mark uint64) bool {
	if e.s.masterUp && e.s.masterQueue() > 0 {
		return false
	}
	for _, n := range e.s.nodes {
		if e.s.unsettled(n, mark) != "" {
			return false
		}
	}
	return true
}

// Unsettled says, for each node that is up and not settled since the
// quiet pass mark, why: work running or queued, a build, a plan to make,
// reports not delivered or a view not fetched while it can reach the
// master, no quiet pass since mark; and the commands on their way to the
// master while it is up. Empty means every node that is up
// has nothing left to do on the latest view it can get.
func (e *Engine) Unsettled(mark uint64) []string {
	s := e.s
	var out []string
	if s.masterUp && s.masterQueue() > 0 {
		out = append(out, fmt.Sprintf("master: %d commands not applied yet", s.masterQueue()))
	}
	for _, n := range s.nodes {
		if why := s.unsettled(n, mark); why != "" {
			out = append(out, n.id+": "+why)
		}
	}
	return out
}

func (s *engine) unsettled(n *node, mark uint64) string {
	reach := s.masterUp && n.cut == 0
	switch {
	case !n.up:
		return ""
	case n.inFlight > 0 || n.ag.Busy():
		return fmt.Sprintf("configuring (%d actions queued)", n.queued())
	case n.swBusy || n.swPos < len(n.swQueue):
		return "building " + fmt.Sprint(slices.Sorted(maps.Keys(n.swWant)))
	case n.ag.View() == nil:
		return "has never reached the master"
	case reach && len(n.ag.Outbox()) > 0:
		return fmt.Sprintf("%d reports not sent", len(n.ag.Outbox()))
	}
	if reach {
		if v, ok := s.m.ViewVersion(n.id); ok && n.ag.View().Version != v {
			return fmt.Sprintf("has not fetched view v%d yet", v)
		}
	}
	if n.quietPass <= mark {
		return "no quiet pass yet"
	}
	return ""
}

// addCounters adds the counters of two agents.
func addCounters(a, b agent.Counters) agent.Counters {
	return agent.Counters{Passes: a.Passes + b.Passes, Plans: a.Plans + b.Plans, Actions: a.Actions + b.Actions,
		ActionFailures: a.ActionFailures + b.ActionFailures, PromiseChecks: a.PromiseChecks + b.PromiseChecks,
		ReportsSent: a.ReportsSent + b.ReportsSent}
}

// partitionIndex reads N from slappartN.
func partitionIndex(id string) (int, bool) {
	const prefix = "slappart"
	if len(id) <= len(prefix) || id[:len(prefix)] != prefix {
		return 0, false
	}
	k := 0
	for _, c := range id[len(prefix):] {
		if c < '0' || c > '9' {
			return 0, false
		}
		k = k*10 + int(c-'0')
	}
	return k, true
}

func addOutbox(a, b agent.OutboxCounters) agent.OutboxCounters {
	return agent.OutboxCounters{Kept: a.Kept + b.Kept, Resent: a.Resent + b.Resent, Dropped: a.Dropped + b.Dropped,
		Refused: a.Refused + b.Refused, DestroyedRefused: a.DestroyedRefused + b.DestroyedRefused,
		ReportsRefused: a.ReportsRefused + b.ReportsRefused}
}
