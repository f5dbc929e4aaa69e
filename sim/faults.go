package sim

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// scheduleFaults schedules the scenario's outages and partitions.
func (s *engine) scheduleFaults() {
	f := &s.sc.Failures
	for i, o := range f.RegionOutages {
		s.schedule(evRegionDown, int64(o.At), -1, int32(i))
		s.schedule(evRegionUp, int64(o.At+o.Duration), -1, int32(i))
	}
	for i, o := range f.MasterOutages {
		s.schedule(evMasterDown, int64(o.At), -1, int32(i))
		s.schedule(evMasterUp, int64(o.At+o.Duration), -1, int32(i))
	}
	s.cutSets = make([][]int32, len(f.NetworkPartitions))
	for i, o := range f.NetworkPartitions {
		s.schedule(evCut, int64(o.At), -1, int32(i))
		s.schedule(evHeal, int64(o.At+o.Duration), -1, int32(i))
	}
}

func (s *engine) traceFault(what, detail string) {
	t := s.trace
	t.begin(s.now, what)
	t.str("on", detail)
	t.end()
}

// randomCrash: a node crashes and reboots after failures.node_crashes.reboot.
func (s *engine) randomCrash(n *node) {
	if !n.up {
		return
	}
	s.crash(n)
	n.crashWatch = s.newWatch("crash "+n.id, []int32{n.idx}, true)
	s.schedule(evNodeBoot, s.now+int64(s.sc.Failures.NodeCrashes.Reboot.Sample(s.rCrash)), n.idx, 0)
}

// bootNode boots a node unless its power is still out; a crash watch
// starts when it boots.
func (s *engine) bootNode(n *node) {
	if n.off > 0 {
		return // the region's power comes back later
	}
	s.boot(n)
	if w := n.crashWatch; w != nil {
		n.crashWatch = nil
		s.activate(w)
	}
}

func (s *engine) regionDown(i int32) {
	o := &s.sc.Failures.RegionOutages[i]
	s.traceFault("region-down", o.Region)
	for _, ni := range s.regions[o.Region] {
		n := s.nodes[ni]
		n.off++
		n.faultAt = s.now
		s.crash(n)
	}
}

func (s *engine) regionUp(i int32) {
	o := &s.sc.Failures.RegionOutages[i]
	s.traceFault("region-up", o.Region)
	nodes := s.regions[o.Region]
	w := s.newWatch("region outage "+o.Region, nodes, false)
	for _, ni := range nodes {
		n := s.nodes[ni]
		n.off--
		at := s.now
		if o.BootSpread > 0 {
			at += s.rRegion.Int64N(int64(o.BootSpread))
		}
		s.schedule(evNodeBoot, at, ni, 0)
	}
	s.activate(w)
}

func (s *engine) masterDown(i int32) {
	s.traceFault("master-down", fmt.Sprint(i))
	s.masterCrash()
	for _, n := range s.nodes {
		n.faultAt = s.now
	}
}

func (s *engine) masterUpEv(i int32) {
	s.traceFault("master-up", fmt.Sprint(i))
	if err := s.masterRestart(); err != nil {
		s.violate(InvNoneLost, err.Error())
		return
	}
	all := make([]int32, len(s.nodes))
	for i := range all {
		all[i] = int32(i)
	}
	s.activate(s.newWatch(fmt.Sprintf("master outage #%d", i), all, false))
}

func (s *engine) cut(i int32) {
	p := &s.sc.Failures.NetworkPartitions[i]
	var set []int32
	switch {
	case p.Region != "":
		set = slices.Clone(s.regions[p.Region])
	case len(p.Nodes) > 0:
		for _, id := range p.Nodes {
			if n := s.nodeByID[id]; n != nil {
				set = append(set, n.idx)
			}
		}
	default:
		k := int(math.Ceil(p.Fraction * float64(len(s.nodes))))
		perm := s.rPart.Perm(len(s.nodes))[:k]
		slices.Sort(perm)
		for _, x := range perm {
			set = append(set, int32(x))
		}
	}
	s.cutSets[i] = set
	s.traceFault("cut", fmt.Sprintf("%d nodes", len(set)))
	for _, ni := range set {
		n := s.nodes[ni]
		n.cut++
		n.faultAt = s.now
	}
}

func (s *engine) heal(i int32) {
	set := s.cutSets[i]
	s.traceFault("heal", fmt.Sprintf("%d nodes", len(set)))
	for _, ni := range set {
		s.nodes[ni].cut--
	}
	s.activate(s.newWatch(fmt.Sprintf("network partition #%d (%d nodes)", i, len(set)), set, false))
}

// watch follows the convergence of a set of nodes after a fault heals (or
// a storm is applied): each must reach a state with nothing to do.
type watch struct {
	idx       int32
	label     string
	crash     bool
	nodes     []int32
	waiting   map[int32]bool
	start     int64 // -1 until active
	converged int64 // -1 until every node converged
	excused   int
	failed    bool
	done      bool
}

func (s *engine) newWatch(label string, nodes []int32, crash bool) *watch {
	w := &watch{idx: int32(len(s.watches)), label: label, crash: crash, nodes: nodes, start: -1, converged: -1}
	s.watches = append(s.watches, w)
	return w
}

// activate starts a watch now: its nodes must converge within the
// scenario's bound.
func (s *engine) activate(w *watch) {
	w.start = s.now
	w.waiting = make(map[int32]bool, len(w.nodes))
	for _, ni := range w.nodes {
		w.waiting[ni] = true
		s.nodes[ni].converged = false // it must show it again, from now
	}
	if len(w.waiting) == 0 {
		w.converged, w.done = s.now, true
		return
	}
	s.active = append(s.active, w)
	if b := s.sc.Liveness.ConvergeWithin; b > 0 {
		s.schedule(evLivenessDeadline, s.now+int64(b), -1, w.idx)
	}
}

// nodeConverged is called when a node reaches a state with nothing to do.
func (s *engine) nodeConverged(n *node) {
	if len(s.active) == 0 {
		return
	}
	k := 0
	for _, w := range s.active {
		if w.waiting[n.idx] {
			delete(w.waiting, n.idx)
			if len(w.waiting) == 0 {
				w.converged, w.done = s.now, true
				continue
			}
		}
		s.active[k] = w
		k++
	}
	s.active = s.active[:k]
}

// livenessDeadline: the bound of a watch expired. Nodes struck by a new
// fault since the watch started, or still under another fault (cut off,
// powered off, down from a crash not rebooted yet), are excused; any other
// node not converged is a liveness violation.
func (s *engine) livenessDeadline(i int32) {
	w := s.watches[i]
	if w.done {
		return
	}
	var late []string
	for _, ni := range slices.Sorted(maps.Keys(w.waiting)) {
		n := s.nodes[ni]
		if n.faultAt > w.start || n.cut > 0 || n.off > 0 || (!n.up && n.crashWatch != nil) {
			w.excused++
			continue
		}
		vv := uint64(0)
		if v := n.ag.View(); v != nil {
			vv = v.Version
		}
		late = append(late, fmt.Sprintf("%s (%d actions queued, view v%d)", n.id, n.queued(), vv))
	}
	w.done = true
	s.active = slices.DeleteFunc(s.active, func(x *watch) bool { return x == w })
	if len(late) == 0 {
		return
	}
	w.failed = true
	total, more := len(late), ""
	if total > 5 {
		more = fmt.Sprintf(" and %d more", total-5)
		late = late[:5]
	}
	s.violate(InvConverge, fmt.Sprintf("%s: %d nodes not converged %s after it healed: %s%s",
		w.label, total, time.Duration(s.sc.Liveness.ConvergeWithin), strings.Join(late, ", "), more))
}
