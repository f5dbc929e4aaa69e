package sim

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/sim/scenario"
)

// node is one computer and its agent: an instance run on a cron (polling
// the master with a conditional read), ONE configuration worker running
// the plan's partition actions one at a time, a software worker for
// builds, and an outbox of reports not delivered yet.
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

	actual   converge.Actual
	view     model.ComputerView
	haveView bool
	viewVer  uint64 // version of the cached view
	maxVer   uint64 // highest view version ever seen
	nextDue  int64  // when the planner wants to look again (-1: only on change)
	dirty    bool   // something changed that the cached view does not say (a build ended, a boot)
	reach    bool   // the last run reached the master
	planned  bool   // a plan with actions is running, or must be followed by another
	replan   bool   // plan again when the current plan ends (a failure, or work waiting)

	queue         []converge.Action // the plan's partition actions
	qpos          int
	failedParts   []string // partitions whose action failed in this plan
	destroyFailed bool
	inFlight      int // partition actions running: never more than one
	cur           converge.Action

	swQueue []converge.Action
	swPos   int
	swBusy  bool
	swCur   converge.Action
	swWant  map[string]bool // URLs queued or building

	outbox    []report
	converged bool

	passActions int // partition actions started by the current plan

	// The promises of its instances (SlapOS's anomaly check, after each
	// pass): promiseFailing is the outside world (partitions whose
	// promise fails), anomaly what the node reported. Both nil until used.
	promiseFailing map[string]bool
	anomaly        map[string]bool
	// destroyed lists the partitions destroyed and reported, told again
	// every poll interval until the master frees them (a root waits for
	// its children).
	destroyed []destroyedReport
	// quietPass is the number (engine.passes) of the last pass that had
	// nothing to do.
	quietPass uint64
	// actions is every partition action run, when Options.RecordActivity.
	actions []ActionRecord
	curAt   int64 // when the running action started
}

// destroyedReport is a destroyed partition the master has not freed yet.
type destroyedReport struct {
	part   string
	guid   string
	sentAt int64
}

// Report kinds.
const (
	repState = iota
	repDestroyed
	repSoftware
	repConnection
)

// report is something the node tells the master.
type report struct {
	kind    uint8
	part    string
	url     string
	state   string
	guid    string
	version uint64
	msg     string
	params  map[string]string // connection parameters
}

// addNode adds a computer of node group gi: registered by its provider,
// formatted, supplied with the group's software (installed unless the
// group is cold).
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
	s.applyNow(master.RegisterComputer{By: model.Admin, ID: id, Owner: owner.id, Region: g.Region,
		Network: g.Network, Hardware: model.Hardware{Arch: g.Hardware.Arch, CPU: g.Hardware.CPU,
			RAM: g.Hardware.RAM, Disk: g.Hardware.Disk},
		Prices: n.prices, Currency: g.Currency, Scope: model.Scope(g.Scope)})
	s.applyNow(master.SetCapacity{By: n.actor, ComputerID: id, Partitions: partitionSpecs(n.idx, g.Partitions)})
	for _, u := range g.Software {
		i := slices.IndexFunc(s.sc.Software, func(sw scenario.Software) bool { return sw.URL == u })
		if s.sc.Software[i].SupplyAt != 0 {
			continue
		}
		s.applyNow(master.Supply{By: owner.actor, ComputerID: id, URL: u, State: model.SoftwareAvailable})
		if !g.Cold {
			n.actual.ApplySuccess(converge.Action{Kind: converge.InstallSoftware, URL: u}, s.time())
			s.applyNow(master.ReportSoftware{By: n.actor, ComputerID: id, URL: u, State: model.SoftwareReadyAvailable})
		}
	}
	return n
}

// newNode creates the agent of computer id with parts partitions, its
// network that of group g. It does not run yet.
func (s *engine) newNode(g *scenario.NodeGroup, id string, parts int) *node {
	n := &node{idx: int32(len(s.nodes)), id: id, group: g, region: g.Region, parts: parts,
		actor: model.Actor{Kind: model.KindComputer, ID: id}, rng: Stream(s.opts.Seed, "node/"+id),
		up: true, nextDue: -1, dirty: true, swWant: map[string]bool{}}
	s.nodes = append(s.nodes, n)
	s.nodeByID[id] = n
	s.regions[g.Region] = append(s.regions[g.Region], n.idx)
	return n
}

// partitionSpecs is what format announces: slappartN with one global IPv6
// and one local IPv4 address each.
func partitionSpecs(nodeIdx int32, count int) []master.PartitionSpec {
	out := make([]master.PartitionSpec, count)
	hi, lo := (nodeIdx>>8)&0xff, nodeIdx&0xff
	for i := range out {
		n := strconv.Itoa(i)
		out[i] = master.PartitionSpec{ID: "slappart" + n, Addresses: []model.Address{
			{Iface: "slapgo0", Addr: fmt.Sprintf("2001:db8:%x::%x", nodeIdx, i+2)},
			{Iface: "slapgo0", Addr: fmt.Sprintf("10.%d.%d.%d", hi, lo, i%250+2)},
		}}
	}
	return out
}

// reachable draws whether one exchange with the master gets through.
func (s *engine) reachable(n *node) bool {
	if !s.masterUp || n.cut > 0 {
		return false
	}
	return n.group.Loss == 0 || s.rNet.Float64() >= n.group.Loss
}

func (s *engine) latency(n *node) time.Duration { return n.group.Latency.Sample(s.rNet) }

// poll is one instance run. cron is true for the periodic run (which
// schedules the next one) and false for a run asked at once (after a plan
// or a build). A run while the configuration worker is busy is skipped, as
// slapgrid's pid lock does.
func (s *engine) poll(n *node, cron bool) {
	if cron {
		next := s.now + int64(s.sc.Agent.PollInterval)
		if j := int64(s.sc.Agent.PollJitter); j > 0 {
			next += n.rng.Int64N(j)
		}
		s.schedule(evPoll, next, n.idx, 0)
		s.stats.Polls++
	}
	if !n.up || n.busy() {
		return
	}
	changed := false
	n.reach = s.reachable(n)
	if n.reach {
		if s.m.Touch(n.id, s.time()) {
			s.retryPending()
		}
		s.flush(n)
		vv, _ := s.m.ViewVersion(n.id)
		if vv < n.maxVer {
			s.violate(InvVersionsGrow, fmt.Sprintf("computer %s: view version %d after %d", n.id, vv, n.maxVer))
			return
		}
		n.maxVer = vv
		if !n.haveView || vv != n.viewVer {
			v, err := s.m.ComputerView(n.id)
			if err != nil {
				s.violate(InvNoneLost, fmt.Sprintf("computer %s has no view: %v", n.id, err))
				return
			}
			n.view, n.viewVer, n.haveView = v, vv, true
			s.stats.FullViews++
			changed = true
			s.noteDestroyed(n)
		}
	}
	if !changed && !n.dirty && !n.planned && (n.nextDue < 0 || s.now < n.nextDue) {
		s.endPass(n, true)
		s.checkConverged(n)
		return
	}
	s.plan(n)
}

// endPass is what the node does after each pass of its instance loop: it
// checks the promises of its running instances and tells the master
// again about destroyed partitions it has not freed. quiet says the pass
// had nothing to do.
func (s *engine) endPass(n *node, quiet bool) {
	if !n.haveView {
		return
	}
	if len(n.promiseFailing) > 0 || len(n.anomaly) > 0 {
		s.checkPromises(n)
	}
	if len(n.destroyed) > 0 {
		s.reportDestroyedAgain(n)
	}
	if quiet {
		s.passes++
		n.quietPass = s.passes
	}
}

// partitionView returns the cached view of a partition, or nil.
func (n *node) partitionView(id string) *model.PartitionView {
	ps := n.view.Partitions
	if k, err := strconv.Atoi(strings.TrimPrefix(id, "slappart")); err == nil && k >= 0 && k < len(ps) && ps[k].ID == id {
		return &ps[k]
	}
	for i := range ps {
		if ps[i].ID == id {
			return &ps[i]
		}
	}
	return nil
}

// checkPromises is SlapOS's anomaly check: the promises of the running
// partitions are run after each pass, and a change is reported. Only the
// partitions whose promise fails, or was reported failing, can change: the
// others pass, as they did.
func (s *engine) checkPromises(n *node) {
	check := maps.Clone(n.promiseFailing)
	if check == nil {
		check = map[string]bool{}
	}
	for id := range n.anomaly {
		check[id] = check[id] || false
	}
	for _, id := range slices.Sorted(maps.Keys(check)) {
		pv := n.partitionView(id)
		a := n.actual.Partitions[id]
		if pv == nil || !a.Running || pv.RequestedState != model.StateStarted || a.InstanceGUID != pv.InstanceGUID {
			continue
		}
		failing := n.promiseFailing[id]
		switch {
		case failing && !n.anomaly[id]:
			if n.anomaly == nil {
				n.anomaly = map[string]bool{}
			}
			n.anomaly[id] = true
			s.stats.PromiseReports++
			s.send(n, report{kind: repState, part: id, state: string(model.ReportedError), guid: pv.InstanceGUID, msg: promiseError(id)})
		case !failing && n.anomaly[id]:
			delete(n.anomaly, id)
			s.stats.PromiseReports++
			s.send(n, report{kind: repState, part: id, state: string(model.ReportedStarted), guid: pv.InstanceGUID, version: a.AppliedVersion})
		}
	}
}

func promiseError(partitionID string) string {
	return fmt.Sprintf("%s: promise check-url failed: the service does not answer", partitionID)
}

// noteDestroyed finds, in a new view, the partitions requested destroyed
// that the node holds nothing of (destroyed before, or lost with a wiped
// disk): the master waits to hear they are clean, and is told at the end
// of the pass.
func (s *engine) noteDestroyed(n *node) {
	for i := range n.view.Partitions {
		pv := &n.view.Partitions[i]
		if pv.RequestedState != model.StateDestroyed || pv.InstanceGUID == "" {
			continue
		}
		if a := n.actual.Partitions[pv.ID]; a.InstanceGUID != "" || a.Running ||
			slices.ContainsFunc(n.destroyed, func(d destroyedReport) bool { return d.part == pv.ID }) {
			continue
		}
		n.destroyed = append(n.destroyed, destroyedReport{part: pv.ID, guid: pv.InstanceGUID, sentAt: math.MinInt64 / 2})
	}
}

// reportDestroyedAgain tells the master again, every poll interval, about
// the partitions it destroyed and the master has not freed; a partition
// the view no longer shows destroyed is forgotten.
func (s *engine) reportDestroyedAgain(n *node) {
	k := 0
	every := int64(s.sc.Agent.PollInterval)
	for _, d := range n.destroyed {
		pv := n.partitionView(d.part)
		a := n.actual.Partitions[d.part]
		if pv == nil || pv.InstanceGUID != d.guid || pv.RequestedState != model.StateDestroyed || a.InstanceGUID != "" {
			continue
		}
		if s.now-d.sentAt >= every {
			d.sentAt = s.now
			s.stats.DestroyedReports++
			s.send(n, report{kind: repDestroyed, part: d.part, guid: d.guid})
		}
		n.destroyed[k] = d
		k++
	}
	n.destroyed = n.destroyed[:k]
}

// publish sends the connection parameters an instance publishes after a
// configuration (see connections).
func (s *engine) publish(n *node, a converge.Action) {
	for _, r := range n.connections(a) {
		s.stats.Publications++
		s.send(n, r)
	}
}

// connections are the connection parameters the modelled releases
// publish: the instance's URL on its partition's first address (port from
// its parameter "port", 8080 by default), and one URL per shared instance
// it hosts.
func (n *node) connections(a converge.Action) []report {
	pv := n.partitionView(a.PartitionID)
	if pv == nil || pv.InstanceGUID != a.InstanceGUID {
		return nil
	}
	addr := "::1"
	if len(pv.Addresses) > 0 {
		addr = pv.Addresses[0].Addr
	}
	port := pv.Parameters["port"]
	if port == "" {
		port = "8080"
	}
	base := "http://[" + addr + "]:" + port
	out := []report{{kind: repConnection, part: a.PartitionID, params: map[string]string{"url": base + "/"}}}
	for _, sh := range pv.SharedInstances {
		if sh.State != model.StateDestroyed {
			out = append(out, report{kind: repConnection, part: a.PartitionID, guid: sh.GUID,
				params: map[string]string{"url": base + "/" + sh.GUID + "/"}})
		}
	}
	return out
}

func (n *node) busy() bool { return n.inFlight > 0 || n.qpos < len(n.queue) }

// plan asks core/converge what to do and starts the workers.
func (s *engine) plan(n *node) {
	if !n.haveView {
		return
	}
	p := converge.PlanNode(n.view, n.actual, s.time(), s.convCfg)
	s.stats.Plans++
	n.dirty = false
	n.nextDue = -1
	if p.RequeueAfter > 0 {
		n.nextDue = s.now + int64(p.RequeueAfter)
	}
	n.queue, n.qpos = n.queue[:0], 0
	n.failedParts, n.destroyFailed = n.failedParts[:0], false
	n.passActions = 0
	for _, a := range p.Actions {
		if a.Kind == converge.InstallSoftware {
			if !n.swWant[a.URL] {
				n.swWant[a.URL] = true
				n.swQueue = append(n.swQueue, a)
			}
			continue
		}
		n.queue = append(n.queue, a)
	}
	n.planned = len(n.queue) > 0
	// converge plans nothing more at once after a plan whose actions all
	// succeeded, unless it listed waiting work: only then, or after a
	// failure, is planning again right away useful (caller duty 5). Its
	// RequeueAfter already assumes success.
	n.replan = len(p.Waiting) > 0
	if len(n.queue) > 0 || n.swBusy || n.swPos < len(n.swQueue) {
		n.converged = false
	}
	s.startSoftware(n)
	s.startNext(n)
}

// startNext starts the plan's next partition action on the configuration
// worker, skipping those of partitions that failed in this plan.
func (s *engine) startNext(n *node) {
	for n.qpos < len(n.queue) {
		a := n.queue[n.qpos]
		n.qpos++
		if a.PartitionID != "" && slices.Contains(n.failedParts, a.PartitionID) {
			continue
		}
		if a.Kind == converge.RemoveSoftware && n.destroyFailed {
			continue
		}
		s.beginAction(n, a)
		return
	}
	n.queue, n.qpos = n.queue[:0], 0
	if n.planned && n.replan {
		// Plan again after running a plan (converge's caller duty 5).
		s.schedule(evRun, s.now, n.idx, 0)
		return
	}
	n.planned = false
	s.endPass(n, n.passActions == 0)
	s.checkConverged(n)
}

// beginAction runs one action on the configuration worker.
func (s *engine) beginAction(n *node, a converge.Action) {
	if n.inFlight > 0 {
		s.violate(InvOneAtATime,
			fmt.Sprintf("computer %s starts %s while %s is running", n.id, a, n.cur))
		return
	}
	n.inFlight++
	n.passActions++
	n.cur, n.curAt = a, s.now
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

func (s *engine) actionDone(n *node) {
	a := n.cur
	n.inFlight--
	s.stats.Actions++
	now := s.time()
	msg := ""
	if a.Kind == converge.ConfigurePartition || a.Kind == converge.StartPartition {
		if f := s.sc.Failures.BrokenInstances.Fraction; f > 0 && hashFraction(s.opts.Seed, "broken/"+a.InstanceGUID) < f {
			msg = "instance profile failed: the instance is broken"
		}
	}
	switch {
	case msg != "":
	case a.Kind == converge.ConfigurePartition:
		if pv := n.partitionView(a.PartitionID); pv != nil && pv.Parameters[FailParameter] == FailConfigure {
			msg = fmt.Sprintf("%s: instance profile of %s failed: parameter %s=%s makes the configuration fail",
				a.PartitionID, a.URL, FailParameter, FailConfigure)
		}
	case a.Kind == converge.StartPartition:
		if n.promiseFailing[a.PartitionID] {
			msg = promiseError(a.PartitionID)
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
	if s.opts.RecordActivity {
		n.actions = append(n.actions, ActionRecord{Kind: a.Kind, PartitionID: a.PartitionID, InstanceGUID: a.InstanceGUID,
			Reason: a.Reason, Start: s.t0.Add(time.Duration(n.curAt)), End: now, Error: msg})
	}
	if msg != "" {
		s.stats.ActionFailures++
		n.replan = true
		n.actual.ApplyFailure(a, now)
		if a.PartitionID != "" {
			n.failedParts = append(n.failedParts, a.PartitionID)
		}
		if a.Kind == converge.DestroyPartition {
			n.destroyFailed = true
		}
		if a.Kind != converge.RemoveSoftware {
			s.send(n, report{kind: repState, part: a.PartitionID, state: string(model.ReportedError), guid: a.InstanceGUID, msg: msg})
		}
		s.startNext(n)
		return
	}
	before := n.actual.Partitions[a.PartitionID]
	n.actual.ApplySuccess(a, now)
	switch a.Kind {
	case converge.ConfigurePartition:
		if before.InstanceGUID == a.InstanceGUID && a.Version < before.AppliedVersion {
			s.violate(InvVersionsGrow, fmt.Sprintf("computer %s %s: applied version %d after %d",
				n.id, a.PartitionID, a.Version, before.AppliedVersion))
			return
		}
		s.publish(n, a)
		if a.State == model.StateStopped {
			s.send(n, report{kind: repState, part: a.PartitionID, state: string(model.ReportedStopped), guid: a.InstanceGUID, version: a.Version})
		}
	case converge.StartPartition:
		delete(n.anomaly, a.PartitionID)
		s.send(n, report{kind: repState, part: a.PartitionID, state: string(model.ReportedStarted), guid: a.InstanceGUID, version: a.Version})
	case converge.StopPartition:
		if a.State != model.StateDestroyed {
			s.send(n, report{kind: repState, part: a.PartitionID, state: string(model.ReportedStopped), guid: a.InstanceGUID, version: a.Version})
		}
	case converge.DestroyPartition:
		delete(n.promiseFailing, a.PartitionID)
		delete(n.anomaly, a.PartitionID)
		if a.State == model.StateDestroyed && a.Reason != converge.ReasonOrphan {
			n.destroyed = slices.DeleteFunc(n.destroyed, func(d destroyedReport) bool { return d.part == a.PartitionID })
			n.destroyed = append(n.destroyed, destroyedReport{part: a.PartitionID, guid: a.InstanceGUID, sentAt: s.now})
			s.send(n, report{kind: repDestroyed, part: a.PartitionID, guid: a.InstanceGUID})
		}
	case converge.RemoveSoftware:
		s.send(n, report{kind: repSoftware, url: a.URL, state: string(model.SoftwareRemoved)})
	}
	s.startNext(n)
}

// startSoftware starts the next build on the software worker.
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
	s.send(n, report{kind: repSoftware, url: a.URL, state: string(model.SoftwareBuilding)})
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
		n.actual.ApplyFailure(a, s.time())
		s.send(n, report{kind: repSoftware, url: a.URL, state: string(model.SoftwareError), msg: problem})
	} else {
		n.actual.ApplySuccess(a, s.time())
		s.send(n, report{kind: repSoftware, url: a.URL, state: string(model.SoftwareReadyAvailable)})
	}
	n.dirty = true
	s.startSoftware(n)
	if !n.busy() {
		s.schedule(evRun, s.now, n.idx, 0)
	}
}

// send delivers a report now, or keeps it in the outbox until the master
// can be reached (a later report of the same partition or software
// replaces it).
func (s *engine) send(n *node, r report) {
	if !s.reachable(n) {
		s.keep(n, r)
		return
	}
	s.deliver(n, r)
}

func (s *engine) keep(n *node, r report) {
	partState := func(k uint8) bool { return k == repState || k == repDestroyed }
	for i := range n.outbox {
		o := &n.outbox[i]
		if o.kind == r.kind && o.part == r.part && o.url == r.url && (r.kind != repConnection || o.guid == r.guid) {
			*o = r
			return
		}
		if partState(r.kind) && partState(o.kind) && o.part == r.part {
			*o = r
			return
		}
	}
	n.outbox = append(n.outbox, r)
}

func (s *engine) flush(n *node) {
	if len(n.outbox) == 0 {
		return
	}
	out := n.outbox
	n.outbox = nil
	for _, r := range out {
		s.deliver(n, r)
	}
}

func (s *engine) deliver(n *node, r report) {
	var cmd master.Command
	switch r.kind {
	case repState:
		cmd = master.ReportPartition{By: n.actor, ComputerID: n.id, PartitionID: r.part, State: model.ReportedState(r.state), Error: r.msg}
	case repDestroyed:
		cmd = master.PartitionDestroyed{By: n.actor, ComputerID: n.id, PartitionID: r.part}
	case repConnection:
		cmd = master.SetConnection{By: n.actor, ComputerID: n.id, PartitionID: r.part, SharedGUID: r.guid, Parameters: r.params}
	default:
		cmd = master.ReportSoftware{By: n.actor, ComputerID: n.id, URL: r.url, State: model.SoftwareState(r.state), Error: r.msg}
	}
	s.submit(s.latency(n), cmd, func(_ master.Result, err error) {
		if err == errMasterDown {
			s.keep(n, r) // the outbox survives crashes: sent again at the next contact
			return
		}
		if err == nil && r.kind == repState && r.state == string(model.ReportedStarted) {
			s.onStarted(r.guid, r.version)
		}
	})
}

// checkConverged notes that a node has nothing left to do: up, in touch
// with the master, its view current, no action queued or running, no build,
// no report waiting.
func (s *engine) checkConverged(n *node) {
	if n.converged || !n.up || !n.reach || n.busy() || n.swBusy || n.swPos < len(n.swQueue) ||
		n.planned || n.dirty || len(n.outbox) > 0 {
		return
	}
	if vv, _ := s.m.ViewVersion(n.id); vv != n.viewVer {
		return
	}
	n.converged = true
	s.nodeConverged(n)
}

// crash stops a node: its processes die, the running action is lost
// (recorded as a failure: its files may be half written), queues empty.
func (s *engine) crash(n *node) {
	if !n.up {
		return
	}
	s.stats.Crashes++
	now := s.time()
	if n.inFlight > 0 {
		n.actual.ApplyFailure(n.cur, now)
		n.inFlight = 0
		if s.opts.RecordActivity {
			n.actions = append(n.actions, ActionRecord{Kind: n.cur.Kind, PartitionID: n.cur.PartitionID, InstanceGUID: n.cur.InstanceGUID,
				Reason: n.cur.Reason, Start: s.t0.Add(time.Duration(n.curAt)), End: now, Error: "interrupted by a crash", Interrupted: true})
		}
	}
	if n.swBusy {
		n.actual.ApplyFailure(n.swCur, now)
		n.swBusy = false
	}
	for id, p := range n.actual.Partitions { // order-free: every entry gets the same change
		if p.Running {
			p.Running = false
			n.actual.Partitions[id] = p
		}
	}
	n.up = false
	n.epoch++
	n.faultAt = s.now
	n.queue, n.qpos = n.queue[:0], 0
	n.swQueue, n.swPos = n.swQueue[:0], 0
	clear(n.swWant)
	n.planned, n.converged = false, false
	t := s.trace
	t.begin(s.now, "crash")
	t.str("node", n.id)
	t.end()
}

// boot starts a node again: it announces its capacity (format at boot) and
// runs at once.
func (s *engine) boot(n *node) {
	if n.up {
		return
	}
	n.up, n.dirty = true, true
	t := s.trace
	t.begin(s.now, "boot")
	t.str("node", n.id)
	t.end()
	if s.reachable(n) {
		s.submit(s.latency(n), master.SetCapacity{By: n.actor, ComputerID: n.id,
			Partitions: partitionSpecs(n.idx, n.parts)}, nil)
		if s.sc.Agent.BangOnBoot {
			for _, p := range n.view.Partitions {
				if p.InstanceGUID != "" && p.RequestedState != model.StateDestroyed {
					s.submit(s.latency(n), master.Bang{By: n.actor, InstanceGUID: p.InstanceGUID, Message: "boot"}, nil)
				}
			}
		}
	}
	s.schedule(evPoll, s.now, n.idx, 0)
	if r := s.sc.Failures.NodeCrashes.PerNodePerDay; r > 0 {
		s.schedule(evNodeCrash, s.expDelay(s.rCrash, r/float64(24*time.Hour)), n.idx, 0)
	}
	if s.sc.Agent.UsageReportEvery > 0 {
		s.schedule(evUsageReport, s.now+int64(s.sc.Agent.UsageReportEvery), n.idx, 0)
	}
}

// usageReport posts the node's TioXML usage journal for the last period:
// CPU time and memory of every running partition (core/account builds and
// checks it, core/master prices it).
func (s *engine) usageReport(n *node) {
	every := s.sc.Agent.UsageReportEvery.D()
	s.schedule(evUsageReport, s.now+int64(every), n.idx, 0)
	if !n.up || !s.reachable(n) {
		return
	}
	per := map[string][]account.JournalMovement{}
	for _, p := range n.view.Partitions {
		if a := n.actual.Partitions[p.ID]; a.Running && p.InstanceGUID != "" {
			cpu := every.Seconds() * (0.02 + 0.1*n.rng.Float64())
			mem := every.Hours() * float64(64+n.rng.IntN(448))
			per[p.ID] = []account.JournalMovement{
				{Resource: account.ResourceCPUTime, Title: "CPU time", Quantity: round3(cpu), VAT: "0"},
				{Resource: account.ResourceMemoryUsed, Title: "Memory", Quantity: round3(mem), VAT: "0"},
			}
		}
	}
	if len(per) == 0 {
		return
	}
	now := s.time()
	j := account.BuildJournal(n.id, now.Add(-every), now, per, n.group.Currency)
	j.Transactions[0].PaymentMode = "wire_transfer"
	s.submit(s.latency(n), master.PostUsage{By: n.actor, ComputerID: n.id, Journal: j}, nil)
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
