package simbackend

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
)

// maxRounds bounds the plans of one pass. converge's contract makes a
// second plan after a successful one empty, so more rounds than a handful
// means a bug, which the trace shows.
const maxRounds = 8

// node is one virtual node agent and the machine it runs on.
type node struct {
	s          *Sim
	id         string
	rng        *rand.Rand
	partitions []master.PartitionSpec

	up  bool // powered, agent running
	cut bool // network cut from the master
	// epoch grows at every crash: events scheduled before it are void.
	epoch int

	// On disk (kept across a crash, lost by a wipe).
	actual converge.Actual
	view   *model.ComputerView // last view fetched: offline mode uses it
	outbox []master.Command    // reports not delivered yet, in order

	// In memory of the agent.
	replan   bool      // the view changed or a build ended: plan at the next poll
	nextDue  time.Time // the last plan's RequeueAfter, as a moment
	busy     bool      // a pass is running (the pid lock)
	queue    []converge.Action
	working  int
	building map[string]bool
	anomaly  map[string]bool // partitions reported in error by a promise check
	// quietRound is the Converge round in which the node last ended a pass
	// that planned nothing.
	quietRound uint64

	// The outside world.
	promiseFailing map[string]bool

	// Observations.
	configured []backend.Configuration
	maxWorking int
}

func (s *Sim) newNode(id string, parts int) *node {
	n := &node{s: s, id: id, rng: newRand(nodeSeed(s.cfg.Seed, id)),
		building: map[string]bool{}, anomaly: map[string]bool{}, promiseFailing: map[string]bool{}}
	idx := len(s.nodes) + 1
	for p := range parts {
		n.partitions = append(n.partitions, master.PartitionSpec{
			ID: "slappart" + strconv.Itoa(p),
			Addresses: []model.Address{
				{Iface: "slapgo0", Addr: fmt.Sprintf("2001:db8:%x::%x", idx, p+2)},
				{Iface: "slapgo0", Addr: fmt.Sprintf("10.%d.%d.%d", idx%256, p/250, p%250+1)},
			},
		})
	}
	s.nodes[id] = n
	s.order = append(s.order, id)
	slices.Sort(s.order)
	return n
}

func (n *node) reachable() bool { return n.up && !n.cut && n.s.masterUp }

func (n *node) tracef(format string, args ...any) { n.s.tracef(n.id+" "+format, args...) }

// boot powers the node on after delay: format (announce the partitions),
// then the instance loop.
func (s *Sim) boot(n *node, delay time.Duration) {
	n.up = true
	n.replan = true
	n.tracef("boot in %s", delay)
	ep := n.epoch
	s.after(delay, func() {
		if n.epoch != ep || !n.up {
			return
		}
		n.send(master.SetCapacity{By: n.actor(), ComputerID: n.id, Partitions: n.partitions})
		n.poll()
	})
}

func (n *node) actor() model.Actor { return model.Actor{Kind: model.KindComputer, ID: n.id} }

// crash kills the node's processes and in-flight work; the disk stays.
func (n *node) crash() {
	n.up = false
	n.epoch++
	n.busy = false
	n.queue = nil
	n.working = 0
	clear(n.building)
	for id, p := range n.actual.Partitions {
		p.Running = false
		n.actual.Partitions[id] = p
	}
	n.tracef("crash")
}

// wipe loses the disk: the node comes back empty with the same identity.
func (n *node) wipe() {
	n.actual = converge.Actual{}
	n.view = nil
	n.outbox = nil
	clear(n.anomaly)
	clear(n.promiseFailing)
	n.nextDue = time.Time{}
	n.tracef("disk wiped")
}

// send delivers a report, or keeps it for later when the master cannot be
// reached. Reports go out in order.
func (n *node) send(cmd master.Command) {
	if !n.reachable() {
		if d, ok := cmd.(master.PartitionDestroyed); ok && slices.ContainsFunc(n.outbox, func(c master.Command) bool {
			k, same := c.(master.PartitionDestroyed)
			return same && k == d
		}) {
			return // the same news is already waiting
		}
		n.outbox = append(n.outbox, cmd)
		return
	}
	n.flush()
	n.deliver(cmd)
}

func (n *node) flush() {
	if len(n.outbox) == 0 || !n.reachable() {
		return
	}
	out := n.outbox
	n.outbox = nil
	n.tracef("sending %d kept reports", len(out))
	for _, cmd := range out {
		n.deliver(cmd)
	}
}

// deliver applies a report. A refusal is final (the production agent drops
// a report the master answers 4xx to, and logs it): it is only traced.
func (n *node) deliver(cmd master.Command) {
	if _, err := n.s.apply(cmd); err != nil {
		n.tracef("report %s dropped: %v", cmd.CommandName(), err)
	}
}

// poll is one tick of the instance loop.
func (n *node) poll() {
	s := n.s
	ep := n.epoch
	s.after(s.cfg.PollInterval+s.jitter(n), func() {
		if n.epoch == ep && n.up {
			n.poll()
		}
	})
	if n.busy {
		return // the previous pass still runs: this run is skipped
	}
	if n.reachable() {
		if s.master.ContactDue(n.id, s.now) {
			s.apply(master.Contact{By: model.Actor{Kind: model.KindComputer, ID: n.id}, ComputerID: n.id})
		}
		n.flush()
		if v, ok := s.master.ViewVersion(n.id); ok && (n.view == nil || n.view.Version != v) {
			view, err := s.master.ComputerView(n.id)
			if err == nil {
				n.view = &view
				n.replan = true
				n.tracef("view v%d", view.Version)
			}
		}
	}
	if n.view == nil {
		return // never reached the master: nothing known to run
	}
	if n.replan || (!n.nextDue.IsZero() && !s.now.Before(n.nextDue)) {
		n.busy = true
		n.plan(0)
		return
	}
	n.afterPass()
	n.quietRound = s.round
}

// plan plans on the cached view and runs the partition actions; builds go
// to the software worker.
func (n *node) plan(round int) {
	s := n.s
	p := converge.PlanNode(*n.view, n.actual, s.now, s.cfg.Converge)
	n.replan = false
	n.nextDue = time.Time{}
	if p.RequeueAfter > 0 {
		n.nextDue = s.now.Add(p.RequeueAfter)
	}
	var work []converge.Action
	for _, a := range p.Actions {
		if a.Kind == converge.InstallSoftware {
			n.build(a)
			continue
		}
		work = append(work, a)
	}
	if len(work) == 0 || round >= maxRounds {
		if len(work) > 0 {
			n.tracef("pass stopped after %d plans with %d actions left", round, len(work))
		}
		n.endPass(len(work) == 0)
		return
	}
	n.tracef("plan %d: %d actions", round, len(work))
	n.queue = work
	n.next(round)
}

func (n *node) next(round int) {
	if len(n.queue) == 0 {
		n.plan(round + 1)
		return
	}
	act := n.queue[0]
	n.queue = n.queue[1:]
	n.working++
	n.maxWorking = max(n.maxWorking, n.working)
	ep := n.epoch
	n.s.after(n.duration(act), func() {
		if n.epoch != ep {
			return
		}
		n.working--
		n.finish(act)
		n.next(round)
	})
}

func (n *node) endPass(quiet bool) {
	n.busy = false
	n.afterPass()
	if quiet {
		n.quietRound = n.s.round
	}
}

func (n *node) duration(a converge.Action) time.Duration {
	switch a.Kind {
	case converge.ConfigurePartition:
		return n.s.cfg.Configure
	case converge.DestroyPartition:
		return n.s.cfg.Destroy
	case converge.RemoveSoftware:
		return n.s.cfg.Remove
	}
	return 0
}

// partitionView returns the cached view of a partition.
func (n *node) partitionView(id string) *model.PartitionView {
	for i := range n.view.Partitions {
		if n.view.Partitions[i].ID == id {
			return &n.view.Partitions[i]
		}
	}
	return nil
}

// outcome is the outside world's answer to an action: whether it worked,
// and the error the agent would report.
func (n *node) outcome(a converge.Action) (bool, string) {
	switch a.Kind {
	case converge.ConfigurePartition:
		if pv := n.partitionView(a.PartitionID); pv != nil && pv.Parameters[backend.FailParameter] == backend.FailConfigure {
			return false, fmt.Sprintf("%s: instance profile of %s failed: parameter %s=%s makes the configuration fail",
				a.PartitionID, a.URL, backend.FailParameter, backend.FailConfigure)
		}
	case converge.StartPartition:
		if n.promiseFailing[a.PartitionID] {
			return false, promiseError(a.PartitionID)
		}
	}
	return true, ""
}

func promiseError(partitionID string) string {
	return fmt.Sprintf("%s: promise check-url failed: the service does not answer", partitionID)
}

// finish records an action's outcome and reports it.
func (n *node) finish(a converge.Action) {
	s := n.s
	ok, msg := n.outcome(a)
	if ok {
		n.actual.ApplySuccess(a, s.now)
		n.tracef("%s ok", a)
	} else {
		n.actual.ApplyFailure(a, s.now)
		n.tracef("%s failed: %s", a, msg)
		// Caller's duty 3: skip the partition's remaining actions (and
		// removals after a failed destroy).
		n.queue = slices.DeleteFunc(n.queue, func(b converge.Action) bool {
			return b.PartitionID == a.PartitionID && b.PartitionID != "" ||
				a.Kind == converge.DestroyPartition && b.Kind == converge.RemoveSoftware
		})
	}
	if a.Kind == converge.ConfigurePartition {
		n.configured = append(n.configured, backend.Configuration{At: s.now, PartitionID: a.PartitionID,
			InstanceGUID: a.InstanceGUID, Reason: string(a.Reason), OK: ok})
	}
	report := func(st model.ReportedState, errText string) {
		n.send(master.ReportPartition{By: n.actor(), ComputerID: n.id, PartitionID: a.PartitionID, State: st, Error: errText})
	}
	switch a.Kind {
	case converge.ConfigurePartition:
		switch {
		case !ok:
			report(model.ReportedError, msg)
		default:
			n.publish(a)
			if a.State == model.StateStopped {
				report(model.ReportedStopped, "")
			}
		}
	case converge.StartPartition:
		if ok {
			delete(n.anomaly, a.PartitionID)
			report(model.ReportedStarted, "")
		} else {
			report(model.ReportedError, msg)
		}
	case converge.StopPartition:
		if ok && a.State == model.StateStopped {
			report(model.ReportedStopped, "")
		}
	case converge.DestroyPartition:
		if ok {
			// The destruction is reported by afterPass, as SlapOS's
			// report loop does.
			delete(n.promiseFailing, a.PartitionID)
			delete(n.anomaly, a.PartitionID)
		}
	case converge.RemoveSoftware:
		if ok {
			n.send(master.ReportSoftware{By: n.actor(), ComputerID: n.id, URL: a.URL, State: model.SoftwareRemoved})
		}
	}
}

// publish sends the connection parameters the fixture release publishes:
// its URL on the partition's first address, and one URL per shared
// instance it hosts.
func (n *node) publish(a converge.Action) {
	pv := n.partitionView(a.PartitionID)
	if pv == nil || pv.InstanceGUID != a.InstanceGUID {
		return
	}
	addr := "::1"
	if len(pv.Addresses) > 0 {
		addr = pv.Addresses[0].Addr
	}
	port := pv.Parameters["port"]
	if port == "" {
		port = "8080"
	}
	base := fmt.Sprintf("http://[%s]:%s", addr, port)
	n.send(master.SetConnection{By: n.actor(), ComputerID: n.id, PartitionID: a.PartitionID,
		Parameters: map[string]string{"url": base + "/"}})
	for _, sh := range pv.SharedInstances {
		if sh.State == model.StateDestroyed {
			continue
		}
		n.send(master.SetConnection{By: n.actor(), ComputerID: n.id, PartitionID: a.PartitionID, SharedGUID: sh.GUID,
			Parameters: map[string]string{"url": base + "/" + sh.GUID + "/"}})
	}
}

// afterPass runs what a node does after each pass of its instance loop:
// promise checks and destruction reports.
func (n *node) afterPass() {
	n.checkPromises()
	n.reportDestroyed()
}

// reportDestroyed tells the master which partitions requested destroyed
// are clean, as SlapOS's report loop does on every run: a root waits for
// its children, so it is told again until the master frees it.
func (n *node) reportDestroyed() {
	if n.view == nil {
		return
	}
	for _, pv := range n.view.Partitions {
		a := n.actual.Partitions[pv.ID]
		if pv.InstanceGUID != "" && pv.RequestedState == model.StateDestroyed && a.InstanceGUID == "" && !a.Running {
			n.send(master.PartitionDestroyed{By: n.actor(), ComputerID: n.id, PartitionID: pv.ID})
		}
	}
}

// checkPromises is SlapOS's anomaly check: the promises of running
// partitions are run after each pass and a change is reported.
func (n *node) checkPromises() {
	if n.view == nil {
		return
	}
	for _, pv := range n.view.Partitions {
		a := n.actual.Partitions[pv.ID]
		if !a.Running || pv.RequestedState != model.StateStarted || a.InstanceGUID != pv.InstanceGUID {
			continue
		}
		failing := n.promiseFailing[pv.ID]
		switch {
		case failing && !n.anomaly[pv.ID]:
			n.anomaly[pv.ID] = true
			n.tracef("%s promise failed", pv.ID)
			n.send(master.ReportPartition{By: n.actor(), ComputerID: n.id, PartitionID: pv.ID,
				State: model.ReportedError, Error: promiseError(pv.ID)})
		case !failing && n.anomaly[pv.ID]:
			delete(n.anomaly, pv.ID)
			n.tracef("%s promise passes again", pv.ID)
			n.send(master.ReportPartition{By: n.actor(), ComputerID: n.id, PartitionID: pv.ID, State: model.ReportedStarted})
		}
	}
}

// build runs a software install on the software worker.
func (n *node) build(a converge.Action) {
	if n.building[a.URL] {
		return
	}
	s := n.s
	n.building[a.URL] = true
	n.send(master.ReportSoftware{By: n.actor(), ComputerID: n.id, URL: a.URL, State: model.SoftwareBuilding})
	spec, known := s.software[a.URL]
	d := spec.BuildTime
	if d <= 0 {
		d = s.cfg.Build
	}
	n.tracef("%s started", a)
	ep := n.epoch
	s.after(d, func() {
		if n.epoch != ep {
			return
		}
		delete(n.building, a.URL)
		n.replan = true
		var problem string
		switch {
		case !known:
			problem = fmt.Sprintf("cannot fetch profile %s: not found", a.URL)
		case spec.Defect == backend.DefectUnknownRecipe:
			problem = fmt.Sprintf("profile %s: section [hello]: unknown recipe %q", a.URL, "slapgo:no-such-recipe")
		case spec.Defect == backend.DefectSyntax:
			problem = fmt.Sprintf("profile %s: line 3: syntax error: expected \"[section]\" or \"key = value\"", a.URL)
		}
		if problem != "" {
			n.actual.ApplyFailure(a, s.now)
			n.tracef("%s failed: %s", a, problem)
			n.send(master.ReportSoftware{By: n.actor(), ComputerID: n.id, URL: a.URL, State: model.SoftwareError, Error: problem})
			return
		}
		n.actual.ApplySuccess(a, s.now)
		n.tracef("%s ok", a)
		n.send(master.ReportSoftware{By: n.actor(), ComputerID: n.id, URL: a.URL, State: model.SoftwareReadyAvailable})
	})
}

// waitingFor says why the node is not converged in the current Converge
// round ("" when it is): work in flight, reports not sent, a view it has
// not seen, or no quiet pass in this round.
func (n *node) waitingFor() string {
	switch {
	case !n.up:
		return ""
	case n.busy:
		return fmt.Sprintf("configuring (%d actions queued)", len(n.queue))
	case len(n.building) > 0:
		return "building " + fmt.Sprint(slices.Sorted(maps.Keys(n.building)))
	case n.replan:
		return "has work to plan"
	case !n.nextDue.IsZero() && !n.s.now.Before(n.nextDue):
		return "has work due"
	}
	if n.reachable() {
		if len(n.outbox) > 0 {
			return fmt.Sprintf("%d reports not sent", len(n.outbox))
		}
		if v, ok := n.s.master.ViewVersion(n.id); ok && (n.view == nil || n.view.Version != v) {
			return fmt.Sprintf("has not fetched view v%d yet", v)
		}
	}
	if n.view == nil {
		return "has never reached the master"
	}
	if n.quietRound != n.s.round {
		return "no quiet pass yet"
	}
	return ""
}
