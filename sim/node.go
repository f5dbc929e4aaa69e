package sim

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/sim/scenario"
)

// node is one computer and its agent. core/agent decides everything its
// instance loop does; the node executes the effects with modelled
// durations and outcomes: a view fetched from core/master (the
// conditional GET), reports and publications sent to the master through
// the network, partition actions run one at a time on ONE configuration
// worker, builds on a software worker, promises checked against the
// outside world (promiseFailing). Its usage duties are in usage.go.
type node struct {
	idx    int32
	id     string
	group  *scenario.NodeGroup
	region string
	parts  int // partitions it formats
	actor  model.Actor
	rng    *rand.Rand
	hourly float64
	prices model.PriceList

	up         bool
	epoch      uint32 // grows at each crash: events of a past life are dropped
	cut        int    // network partitions cutting it from the master
	off        int    // region outages holding its power off
	crashWatch *watch // convergence watch of a crash, started at boot
	faultAt    int64  // last time a fault struck it

	// ag is the node's instance loop (core/agent): it holds the actual
	// state, the cached view and the outbox, which survive a crash.
	ag    *agent.Agent
	usage *nodeUsage // nil when the scenario posts no usage
	// duties is the node's Schedule (core/agent, as in the production
	// agent): when its instance passes and usage duties run. Its daemon
	// starts it at boot: a crash loses it.
	duties   *agent.Schedule
	dutyTok  int32  // token of the one duty event that counts
	dutyAt   int64  // when that event is due
	dutyLive bool   // that event is scheduled and not run yet
	inDuties bool   // runDuties is running: it schedules the next event
	maxVer   uint64 // highest view version ever seen
	// poll reads the node's record at the master for its polls, without
	// a lookup (master.Poll): got again once it is not of the master.
	poll master.Poll
	// Statistics of agents a wipe replaced.
	oldCounts agent.Counters
	// oldOutbox: the publication outbox counters of the agents a wipe
	// replaced (what the wipe lost counts as dropped).
	oldOutbox agent.OutboxCounters
	// Configuration queue: the partition actions of the current plan not
	// run yet (for statistics), following the agent's plans.
	planSeen uint64
	planLeft int

	inFlight int // partition actions running: never more than one
	cur      converge.Action
	curAt    int64 // when the running action started

	swQueue []converge.Action
	swPos   int
	swBusy  bool
	swCur   converge.Action
	swWant  map[string]bool // URLs queued or building

	converged bool
	// passSeen and quietPass: the agent's pass count at the last sleep,
	// and the number (engine.passes) of the last pass that ended with
	// nothing left to do.
	passSeen  uint64
	quietPass uint64
	passWork  int // actions and builds the current pass started
	// resume lists the partitions whose programs ran when the node
	// crashed: its supervisor starts them again at boot, master or not.
	resume []string

	// memos: what the node worked out about the instance in each of its
	// partitions (by partition number; nil until needed).
	memos []instMemo
	// promiseFailing is the outside world: partitions whose promise fails.
	promiseFailing map[string]bool
	// actions is every partition action run, when Options.RecordActivity,
	// from the agent's start and end events.
	actions []ActionRecord
	evSeen  uint64
	evStart agent.Event
	evBuf   []agent.Event
}

func (s *engine) addNode(gi int, id string) *node {
	g := &s.sc.Nodes[gi]
	n := s.newNode(g, id, g.Partitions)
	n.prices = model.PriceList{}
	for _, k := range slices.Sorted(maps.Keys(g.Prices)) {
		f := 1.0
		if g.PriceSpread > 0 {
			f += float64(g.PriceSpread * (2*s.rGrid.Float64() - 1))
		}
		n.prices[k] = g.Prices[k] * f
	}
	n.hourly = n.prices["hosting"]

	owner := s.persons[s.provider[g.Name]]
	cmds := []master.Command{
		master.RegisterComputer{By: model.Admin, ID: id, Owner: owner.id, Region: g.Region,
			Network: g.Network, Hardware: model.Hardware{Arch: g.Hardware.Arch, CPU: g.Hardware.CPU,
				RAM: g.Hardware.RAM, Disk: g.Hardware.Disk},
			Prices: n.prices, Currency: g.Currency, Scope: joinScope(g)},
		master.SetCapacity{By: n.actor, ComputerID: id, Partitions: s.scratchSpecs(n.idx, g.Partitions)},
	}
	for _, u := range g.Software {
		i := slices.IndexFunc(s.sc.Software, func(sw scenario.Software) bool { return sw.URL == u })
		if s.sc.Software[i].SupplyAt != 0 {
			continue
		}
		cmds = append(cmds, master.Supply{By: owner.actor, ComputerID: id, URL: u, State: model.SoftwareAvailable})
		if !g.Cold {
			n.ag.Actual().ApplySuccess(converge.Action{Kind: converge.InstallSoftware, URL: u}, s.time())
			cmds = append(cmds, master.ReportSoftware{By: n.actor, ComputerID: id, URL: u, State: model.SoftwareReadyAvailable})
		}
	}
	s.seed(cmds, nil)
	return n
}

// newNode creates the agent of computer id with parts partitions, its
// network that of group g. It does not run yet.
func (s *engine) newNode(g *scenario.NodeGroup, id string, parts int) *node {
	n := &node{idx: int32(len(s.nodes)), id: id, group: g, region: g.Region, parts: parts,
		actor: model.Actor{Kind: model.KindComputer, ID: id}, rng: Stream(s.opts.Seed, "node/"+id),
		up: true, swWant: map[string]bool{}, ag: agent.New(s.agentCfg, converge.Actual{}),
		usage: s.newUsage(s.time())}
	s.nodes = append(s.nodes, n)
	s.nodeByID[id] = n
	s.regions[g.Region] = append(s.regions[g.Region], n.idx)
	return n
}

// partitionSpecs is what format announces: slappartN with one global IPv6
// and one local IPv4 address each.
func partitionSpecs(nodeIdx int32, count int) []master.PartitionSpec {
	return fillSpecs(make([]master.PartitionSpec, count), make([]model.Address, 2*count), nodeIdx)
}

// scratchSpecs is partitionSpecs in the engine's scratch slices: valid
// until its next call, for a command applied at once.
func (s *engine) scratchSpecs(nodeIdx int32, count int) []master.PartitionSpec {
	if cap(s.specBuf) < count {
		s.specBuf, s.addrBuf = make([]master.PartitionSpec, count), make([]model.Address, 2*count)
	}
	return fillSpecs(s.specBuf[:count], s.addrBuf[:2*count], nodeIdx)
}

// fillSpecs fills out, with addrs (twice as long) for their addresses.
func fillSpecs(out []master.PartitionSpec, addrs []model.Address, nodeIdx int32) []master.PartitionSpec {
	v6 := "2001:db8:" + strconv.FormatInt(int64(nodeIdx), 16) + "::"
	v4 := "10." + strconv.Itoa(int((nodeIdx>>8)&0xff)) + "." + strconv.Itoa(int(nodeIdx&0xff)) + "."
	for i := range out {
		a := addrs[2*i : 2*i+2 : 2*i+2]
		a[0] = model.Address{Iface: "slapgo0", Addr: v6 + strconv.FormatInt(int64(i+2), 16)}
		a[1] = model.Address{Iface: "slapgo0", Addr: v4 + strconv.Itoa(i%250+2)}
		out[i] = master.PartitionSpec{ID: partitionID(i), Addresses: a}
	}
	return out
}

// partitionIDs are the ids slappart0 to slappart1023, shared by every
// node that formats them (a grid holds each one once, not once per node).
var partitionIDs = func() []string {
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "slappart" + strconv.Itoa(i)
	}
	return ids
}()

// partitionID is slappartN.
func partitionID(n int) string {
	if n < len(partitionIDs) {
		return partitionIDs[n]
	}
	return "slappart" + strconv.Itoa(n)
}

// reachable draws whether one exchange with the master gets through.
func (s *engine) reachable(n *node) bool {
	if !s.masterUp || n.cut > 0 {
		return false
	}
	return n.group.Loss == 0 || s.rNet.Float64() >= n.group.Loss
}

func (s *engine) latency(n *node) time.Duration { return n.group.Latency.Sample(s.rNet) }

// viewPartitions is the partitions of the node's cached view.
func (n *node) viewPartitions() []model.PartitionView {
	if v := n.ag.View(); v != nil {
		return v.Partitions
	}
	return nil
}

// partitionView returns the cached view of a partition, or nil.
func (n *node) partitionView(id string) *model.PartitionView {
	ps := n.viewPartitions()
	if k, ok := partitionIndex(id); ok && k < len(ps) && ps[k].ID == id {
		return &ps[k]
	}
	for i := range ps {
		if ps[i].ID == id {
			return &ps[i]
		}
	}
	return nil
}

// kick makes the node's instance pass due at once (a build ended), or as
// soon as the pass in progress ends, as the production agent's builds
// wake its Schedule.
func (s *engine) kick(n *node) {
	if n.duties == nil {
		return
	}
	n.duties.Wake(s.time(), agent.DutyInstance)
	s.scheduleDuties(n)
}

// run executes the effects the node's agent asks for, at once for those
// the model makes instantaneous (a fetch, a report, a publication, a
// promise check, a build handed over), until an action takes time
// on the configuration worker or the agent sleeps. It runs within an
// instance task of the node's Schedule.
func (s *engine) run(n *node) {
	if !n.up || n.inFlight > 0 {
		return // the running action's end goes on
	}
	now := s.time()
	for {
		e := n.ag.Next(now)
		var o agent.Outcome
		switch e.Kind {
		case agent.Sleep:
			s.drainEvents(n)
			s.sleep(n, e.Until)
			return
		case agent.FetchView:
			o = s.fetch(n)
			if s.violation != nil {
				return
			}
		case agent.SendReport:
			o = s.report(n, e.Report)
		case agent.Publish:
			o = s.publish(n, e)
		case agent.Build:
			n.passWork++
			s.queueBuild(n, e.Action)
			o = agent.OK()
		case agent.RunAction:
			n.passWork++
			s.beginAction(n, e.Action)
			s.drainEvents(n)
			return
		case agent.CheckPromises:
			o = agent.OK()
			if n.promiseFailing[e.PartitionID] {
				o = agent.Failed(errors.New(promiseError(e.PartitionID)))
			}
		}
		if err := n.ag.Done(now, o); err != nil {
			s.violate(InvAgentProtocol, fmt.Sprintf("computer %s: %s: %v", n.id, e, err))
			return
		}
	}
}

// sleep ends the node's instance task: the Schedule makes the next one
// due when the agent asked, plus its jitter (as in the production agent).
// It notes whether the pass that ended left nothing to do.
func (s *engine) sleep(n *node, until time.Time) {
	o := agent.DutyOutcome{Next: until}
	if n.ag.Offline() > 0 {
		o.Err, o.Unreachable = errMasterDown, true
	}
	if err := n.duties.Done(s.time(), agent.Task{Duty: agent.DutyInstance}, o); err != nil {
		s.violate(InvAgentProtocol, fmt.Sprintf("computer %s: instance pass: %v", n.id, err))
		return
	}
	s.scheduleDuties(n)
	if c := n.ag.Counters().Passes; c != n.passSeen {
		n.passSeen = c
		// Nothing to do: the pass ran nothing, or it ran its whole plan
		// with nothing left (core/agent: planning again would plan
		// nothing).
		if n.passWork == 0 || n.ag.Converged() {
			s.passes++
			n.quietPass = s.passes
		}
		n.passWork = 0
	}
	s.checkConverged(n)
}

// fetch is the conditional GET of the node's view: the master answers
// "not modified" when the view's version is the one the node holds.
func (s *engine) fetch(n *node) agent.Outcome {
	s.stats.Polls++
	if !s.reachable(n) {
		return agent.Unreachable(errMasterDown)
	}
	if !n.poll.Of(s.m) {
		n.poll, _ = s.m.Poll(n.id)
	}
	var vv uint64 // 0 for a computer not registered, as master.ViewVersion
	if p := n.poll; p.Of(s.m) {
		if p.ContactDue(s.time()) {
			// The poll carries the contact: a command like any other
			// (queued at the master, traced), as the production handler
			// submits it.
			s.submit(0, master.Contact{By: n.actor, ComputerID: n.id}, nil)
		}
		vv = p.ViewVersion()
	}
	if vv < n.maxVer {
		s.violate(InvVersionsGrow, fmt.Sprintf("computer %s: view version %d after %d", n.id, vv, n.maxVer))
		return agent.Failed(errors.New("view version went back"))
	}
	n.maxVer = vv
	if v := n.ag.View(); v != nil && v.Version == vv {
		return agent.NotModified()
	}
	v, err := s.m.ComputerView(n.id)
	if err != nil {
		s.violate(InvNoneLost, fmt.Sprintf("computer %s has no view: %v", n.id, err))
		return agent.Failed(err)
	}
	s.stats.FullViews++
	return agent.ViewFetched(&v)
}

// report sends a report to the master. It leaves when the master can be
// reached; if the master goes down before applying it, the node keeps it
// again (its outbox survives), as a production agent whose request failed.
func (s *engine) report(n *node, r agent.Report) agent.Outcome {
	if !s.reachable(n) {
		return agent.Unreachable(errMasterDown)
	}
	var cmd master.Command
	switch r.Kind {
	case agent.ReportState:
		cmd = master.ReportPartition{By: n.actor, ComputerID: n.id, PartitionID: r.PartitionID, State: r.State, Error: r.Error}
	case agent.ReportDestroyed:
		s.stats.DestroyedReports++
		cmd = master.PartitionDestroyed{By: n.actor, ComputerID: n.id, PartitionID: r.PartitionID}
		// NB: the modelled answer comes after Done (latency, the master's
		// queue): a refusal is counted here, the agent is not told.
	default:
		cmd = master.ReportSoftware{By: n.actor, ComputerID: n.id, URL: r.URL, State: r.Software, Error: r.Error}
	}
	s.send(s.latency(n), pendingCmd{cmd: cmd, bind: -1, settle: settleReport, node: n.idx, rep: r})
	return agent.OK()
}

// reportSettled: the master applied n's report r, refused it, or could
// not be reached.
func (s *engine) reportSettled(n *node, r agent.Report, err error) {
	if err == errMasterDown {
		n.ag.Keep(r) // sent again at the next pass that reaches the master
		return
	}
	if err != nil && r.Kind == agent.ReportDestroyed {
		s.stats.DestroyedRefused++
	}
	if err == nil && r.Kind == agent.ReportState && r.State == model.ReportedStarted {
		s.reportedStarted(n, r)
	}
}

// publish sends connection parameters to the master. When the master
// goes down before applying them, the node keeps them again (as a
// production agent whose request failed); a refusal is counted (it comes
// after Done: the agent is not told).
func (s *engine) publish(n *node, e agent.Effect) agent.Outcome {
	if !s.reachable(n) {
		return agent.Unreachable(errMasterDown)
	}
	s.stats.Publications++
	p := agent.Publication{PartitionID: e.PartitionID, InstanceGUID: e.InstanceGUID, SharedGUID: e.SharedGUID, Parameters: e.Parameters}
	s.send(s.latency(n), pendingCmd{cmd: master.SetConnection{By: n.actor, ComputerID: n.id, PartitionID: e.PartitionID,
		SharedGUID: e.SharedGUID, Parameters: e.Parameters}, bind: -1, settle: settlePublication, node: n.idx, pub: p})
	return agent.OK()
}

// publicationSettled: the master applied n's publication p, refused it,
// or could not be reached.
func (s *engine) publicationSettled(n *node, p agent.Publication, err error) {
	switch {
	case err == errMasterDown:
		n.ag.KeepPublication(p)
	case err != nil:
		s.stats.PublicationsRefused++
	}
}

// instMemo is what a node worked out about the instance in one of its
// partitions (by partition number), kept while the same instance is
// there: whether the outside world breaks it, its index in the workload,
// and the connection parameters it publishes for itself (kept while the
// address and port stay; never modified: the master and the agent's
// outbox share them).
type instMemo struct {
	guid   string
	broken int8  // 0: not drawn yet, 1: sound, 2: broken
	inst   int32 // index in engine.insts, -1 when not looked up yet
	addr   string
	port   string
	own    map[string]string
}

// memo returns the memo of partition id for instance guid (reset when
// another instance took the partition), or nil for a partition that is
// not one of the node's slappartN.
func (n *node) memo(id, guid string) *instMemo {
	k, ok := partitionIndex(id)
	if !ok || k >= n.parts {
		return nil
	}
	if n.memos == nil {
		n.memos = make([]instMemo, n.parts)
		for i := range n.memos {
			n.memos[i].inst = -1
		}
	}
	m := &n.memos[k]
	if m.guid != guid {
		m.guid, m.broken, m.inst = guid, 0, -1
	}
	return m
}

// broken draws whether the outside world breaks instance guid (the
// scenario's broken fraction), once per instance a partition holds.
func (s *engine) broken(n *node, partitionID, guid string) bool {
	f := s.sc.Failures.BrokenInstances.Fraction
	if f <= 0 {
		return false
	}
	m := n.memo(partitionID, guid)
	if m == nil {
		return hashFraction(s.opts.Seed, "broken/"+guid) < f
	}
	if m.broken == 0 {
		m.broken = 1
		if hashFraction(s.opts.Seed, "broken/"+guid) < f {
			m.broken = 2
		}
	}
	return m.broken == 2
}

// reportedStarted: the master took a report that an instance started.
func (s *engine) reportedStarted(n *node, r agent.Report) {
	m := n.memo(r.PartitionID, r.InstanceGUID)
	if m == nil {
		s.onStarted(r.InstanceGUID, r.Version)
		return
	}
	if m.inst < 0 {
		ii, ok := s.byGUID[r.InstanceGUID]
		if !ok {
			return
		}
		m.inst = ii
	}
	s.startedAt(m.inst, r.Version)
}

// connections are the connection parameters the modelled releases
// publish after a configuration: the instance's URL on its partition's
// first address (port from its parameter "port", 8080 by default), and
// one URL per shared instance it hosts.
func (n *node) connections(a converge.Action) (map[string]string, map[string]map[string]string) {
	pv := n.partitionView(a.PartitionID)
	if pv == nil || pv.InstanceGUID != a.InstanceGUID {
		return nil, nil
	}
	addr := "::1"
	if len(pv.Addresses) > 0 {
		addr = pv.Addresses[0].Addr
	}
	port := pv.Parameters["port"]
	if port == "" {
		port = "8080"
	}
	m := n.memo(a.PartitionID, a.InstanceGUID)
	if m != nil && m.own != nil && m.addr == addr && m.port == port && len(pv.SharedInstances) == 0 {
		return m.own, nil
	}
	base := "http://[" + addr + "]:" + port
	var shared map[string]map[string]string
	for _, sh := range pv.SharedInstances {
		if sh.State == model.StateDestroyed {
			continue
		}
		if shared == nil {
			shared = map[string]map[string]string{}
		}
		shared[sh.GUID] = map[string]string{"url": base + "/" + sh.GUID + "/"}
	}
	own := map[string]string{"url": base + "/"}
	if m != nil {
		m.addr, m.port, m.own = addr, port, own
	}
	return own, shared
}

func promiseError(partitionID string) string {
	return fmt.Sprintf("%s: promise check-url failed: the service does not answer", partitionID)
}

func (s *engine) beginAction(n *node, a converge.Action) {
	if n.inFlight > 0 {
		s.violate(InvOneAtATime,
			fmt.Sprintf("computer %s starts %s while %s is running", n.id, a, n.cur))
		return
	}
	n.inFlight++
	n.cur, n.curAt = a, s.now
	s.followPlan(n)
	n.planLeft--
	ag := &s.sc.Agent
	var d time.Duration
	switch a.Kind {
	case converge.ConfigurePartition:
		if dep, ok := s.deploy[a.URL]; ok && a.Reason == converge.ReasonNew {
			d = dep.Sample(n.rng)
		} else {
			d = ag.Configure.Sample(n.rng)
		}
	case converge.StartPartition:
		d = ag.Start.Sample(n.rng)
	case converge.StopPartition:
		d = ag.Stop.Sample(n.rng)
	default: // destroy-partition, remove-software
		d = ag.Destroy.Sample(n.rng)
	}
	s.schedule(evActionDone, s.now+int64(d), n.idx, 0)
}

// followPlan notes a new plan of the agent: its partition actions form the
// node's configuration queue.
func (s *engine) followPlan(n *node) {
	if c := n.ag.Counters().Plans; c != n.planSeen {
		n.planSeen = c
		n.planLeft = 0
		for _, a := range n.ag.Plan().Actions {
			if a.Kind != converge.InstallSoftware {
				n.planLeft++
			}
		}
	}
}

// queued is the node's configuration queue: actions planned, not run yet.
func (n *node) queued() int { return max(n.planLeft, 0) + n.inFlight }

// actionDone: the configuration worker finished an action; its outcome is
// the outside world's (a broken instance, a fixture release asked to fail,
// a transient failure).
func (s *engine) actionDone(n *node) {
	a := n.cur
	n.inFlight--
	s.stats.Actions++
	now := s.time()
	msg := ""
	if a.Kind == converge.ConfigurePartition || a.Kind == converge.StartPartition {
		if s.broken(n, a.PartitionID, a.InstanceGUID) {
			msg = "instance profile failed: the instance is broken"
		}
	}
	if msg == "" && a.Kind == converge.ConfigurePartition {
		if pv := n.partitionView(a.PartitionID); pv != nil && pv.Parameters[FailParameter] == FailConfigure {
			msg = fmt.Sprintf("%s: instance profile of %s failed: parameter %s=%s makes the configuration fail",
				a.PartitionID, a.URL, FailParameter, FailConfigure)
		}
	}
	if msg == "" && a.Kind != converge.RemoveSoftware {
		if p := s.sc.Failures.TransientFailure; p > 0 && n.rng.Float64() < p {
			msg = "transient failure"
		}
	}
	t := s.trace
	t.begin(s.now, "action")
	t.str("node", n.id)
	t.str("kind", string(a.Kind))
	t.str("part", a.PartitionID)
	t.num("v", a.Version)
	if msg != "" {
		t.str("result", "fail")
	}
	t.end()
	var o agent.Outcome
	switch {
	case msg != "":
		s.stats.ActionFailures++
		o = agent.Failed(errors.New(msg))
	case a.Kind == converge.ConfigurePartition:
		before := n.ag.Actual().Partitions[a.PartitionID]
		if before.InstanceGUID == a.InstanceGUID && a.Version < before.AppliedVersion {
			s.violate(InvVersionsGrow, fmt.Sprintf("computer %s %s: applied version %d after %d",
				n.id, a.PartitionID, a.Version, before.AppliedVersion))
			return
		}
		o = agent.Configured(n.connections(a))
	default:
		o = agent.OK()
	}
	if err := n.ag.Done(now, o); err != nil {
		s.violate(InvAgentProtocol, fmt.Sprintf("computer %s: %s: %v", n.id, a, err))
		return
	}
	s.run(n)
}

// drainEvents moves the action start and end events the agent logged
// into the node's records (Options.RecordActivity): an action runs from
// its start event to its end event.
func (s *engine) drainEvents(n *node) {
	if !s.opts.RecordActivity {
		return
	}
	n.evBuf = n.ag.Events(n.evBuf[:0], n.evSeen)
	for _, e := range n.evBuf {
		if e.Seq != n.evSeen+1 {
			s.violate(InvAgentProtocol, fmt.Sprintf("computer %s: action events %d to %d were lost", n.id, n.evSeen+1, e.Seq-1))
		}
		n.evSeen = e.Seq
		if e.Kind == agent.EventStart {
			n.evStart = e
			continue
		}
		a := e.Action
		n.actions = append(n.actions, ActionRecord{Kind: a.Kind, PartitionID: a.PartitionID, InstanceGUID: a.InstanceGUID,
			Reason: a.Reason, Start: n.evStart.At, End: e.At, Error: e.Err, Interrupted: e.Err == "crashed" || e.Err == "interrupted"})
	}
}

// queueBuild hands a build to the software worker (once per release).
func (s *engine) queueBuild(n *node, a converge.Action) {
	if n.swWant[a.URL] {
		return
	}
	n.swWant[a.URL] = true
	n.swQueue = append(n.swQueue, a)
	s.startSoftware(n)
}

func (s *engine) startSoftware(n *node) {
	if n.swBusy || n.swPos >= len(n.swQueue) {
		return
	}
	a := n.swQueue[n.swPos]
	n.swPos++
	if n.swPos == len(n.swQueue) {
		n.swQueue, n.swPos = n.swQueue[:0], 0
	}
	n.swBusy, n.swCur = true, a
	ag := &s.sc.Agent
	var d time.Duration
	if n.rng.Float64() < *ag.CacheHitRatio {
		d = ag.CacheFetch.Sample(n.rng)
		s.stats.CacheHits++
	} else {
		d = ag.Build.Sample(n.rng)
		s.stats.Builds++
	}
	if m, ok := s.software[a.URL]; ok && m.BuildTime > 0 {
		d = m.BuildTime
	}
	n.ag.Keep(agent.Report{Kind: agent.ReportSoftware, URL: a.URL, Software: model.SoftwareBuilding})
	s.schedule(evSoftwareDone, s.now+int64(d), n.idx, 0)
}

func (s *engine) softwareDone(n *node) {
	a := n.swCur
	n.swBusy = false
	delete(n.swWant, a.URL)
	failed := s.sc.Agent.BuildFailure > 0 && n.rng.Float64() < s.sc.Agent.BuildFailure
	problem := "build failed"
	if m, ok := s.software[a.URL]; ok && m.Failure != "" {
		failed, problem = true, m.Failure
	} else if !ok && s.opts.Bare {
		failed, problem = true, fmt.Sprintf("cannot fetch profile %s: not found", a.URL)
	}
	t := s.trace
	t.begin(s.now, "build")
	t.str("node", n.id)
	t.str("url", a.URL)
	if failed {
		t.str("result", "fail")
	}
	t.end()
	if failed {
		s.stats.BuildFailures++
		n.ag.BuildDone(s.time(), a.URL, errors.New(problem))
		n.ag.Keep(agent.Report{Kind: agent.ReportSoftware, URL: a.URL, Software: model.SoftwareError, Error: problem})
	} else {
		n.ag.BuildDone(s.time(), a.URL, nil)
		n.ag.Keep(agent.Report{Kind: agent.ReportSoftware, URL: a.URL, Software: model.SoftwareReadyAvailable})
	}
	s.startSoftware(n)
	s.kick(n)
}

// checkConverged notes that a node has nothing left to do: up, in touch
// with the master, its agent converged on the master's latest view, no
// action or build running.
func (s *engine) checkConverged(n *node) {
	if n.converged || !n.up || n.inFlight > 0 || n.swBusy || n.swPos < len(n.swQueue) || !n.ag.Converged() || !s.masterUp {
		return
	}
	if vv, _ := s.m.ViewVersion(n.id); n.ag.View() == nil || vv != n.ag.View().Version {
		return
	}
	n.converged = true
	s.nodeConverged(n)
}

// crash stops a node: its processes die, the running action is lost
// (recorded as a failure: its files may be half written), builds are
// lost; its disk (the agent's records, view and outbox) stays.
func (s *engine) crash(n *node) {
	if !n.up {
		return
	}
	s.stats.Crashes++
	now := s.time()
	n.inFlight = 0
	n.resume = n.resume[:0]
	for _, id := range slices.Sorted(maps.Keys(n.ag.Actual().Partitions)) {
		if p := n.ag.Actual().Partitions[id]; p.Running && (n.cur.PartitionID != id || n.cur.Kind != converge.StopPartition) {
			n.resume = append(n.resume, id)
		}
	}
	n.ag.Crash(now)
	s.drainEvents(n)
	n.swBusy = false
	n.up = false
	s.nodeUpChanged(n, false)
	n.epoch++
	n.faultAt = s.now
	n.swQueue, n.swPos = n.swQueue[:0], 0
	clear(n.swWant)
	n.planLeft = 0
	n.converged = false
	n.duties, n.dutyLive = nil, false // the daemon is gone, its schedule with it
	t := s.trace
	t.begin(s.now, "crash")
	t.str("node", n.id)
	t.end()
}

func (s *engine) boot(n *node) {
	if n.up {
		return
	}
	n.up = true
	s.nodeUpChanged(n, true)
	if len(n.resume) > 0 {
		actual := n.ag.Actual()
		for _, id := range n.resume {
			p := actual.Partitions[id]
			p.Running = true
			actual.Partitions[id] = p
		}
		n.resume = n.resume[:0]
		n.ag.Invalidate()
	}
	t := s.trace
	t.begin(s.now, "boot")
	t.str("node", n.id)
	t.end()
	if s.reachable(n) {
		s.submit(s.latency(n), master.SetCapacity{By: n.actor, ComputerID: n.id,
			Partitions: partitionSpecs(n.idx, n.parts)}, nil)
		if s.sc.Agent.BangOnBoot {
			for _, p := range n.viewPartitions() {
				if p.InstanceGUID != "" && p.RequestedState != model.StateDestroyed {
					s.submit(s.latency(n), master.Bang{By: n.actor, InstanceGUID: p.InstanceGUID, Message: "boot"}, nil)
				}
			}
		}
	}
	n.ag.Wake()
	if u := n.usage; u != nil {
		u.last = s.time() // nothing ran while it was off
	}
	s.startDuties(n, s.time())
	if r := s.sc.Failures.NodeCrashes.PerNodePerDay; r > 0 {
		s.schedule(evNodeCrash, s.expDelay(s.rCrash, r/float64(24*time.Hour)), n.idx, 0)
	}
}
