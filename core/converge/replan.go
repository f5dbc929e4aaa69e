package converge

import (
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// Replanner plans one node again and again, as an agent does, with the
// plans of PlanNode but less work: it keeps each partition's share of the
// last plan (its actions, notes and deadlines) and plans again only the
// partitions whose view entry changed, that the caller says changed in
// Actual, or whose own next deadline came (a retry, a periodic
// reprocessing). It keeps the shares' sums too (the partitions with work
// or notes, the soonest deadline, the soonest moment a share expires), so
// that a plan in which one partition of 300 comes due costs the work of
// that partition, of the plan's output and of the software, not of the
// 300 partitions.
//
// Caller's duties: call Changed for every partition whose Actual entry
// changed since the last plan (ApplySuccess, ApplyFailure),
// SoftwareChanged for every release whose Actual entry changed, and Reset
// when anything else of Actual changed (several partitions at once, a
// record read again), or when in doubt. A view given to Plan is not
// modified afterwards: a view with the same Version and the same
// Partitions slice (array and length) as the last plan's is taken for the
// same view, without comparing its entries; after changing a view's
// entries in place, call Reset. A view whose partitions are not in
// natural order, or are listed twice, is planned whole.
//
// The zero Replanner is ready: its first plan plans every partition.
type Replanner struct {
	parts   []partPlan // by the view's index, at the last plan
	soft    []model.SoftwareView
	cfg     Config
	changed []string // partitions Changed since the last plan
	// changedSoft: releases whose entry of Actual (SoftwareChanged) or
	// whose request in the view changed since the last plan.
	changedSoft []string
	all         bool // plan every partition at the next plan
	ready       bool // parts match a plan (after the first)
	planned     int  // partitions planned anew, since the start

	// The view of the last plan: its version and partitions' array.
	viewVersion uint64
	viewFirst   *model.PartitionView
	softFirst   *model.SoftwareView

	// Sums of the shares, kept up to date as partitions are planned.
	active []int32 // partitions with actions, notes or an extra release, in view order
	known  int     // partitions listed in Actual
	nowN   int     // shares processed by their plan (processedNow)
	// until: when each share expires; wake: each share's soonest
	// deadline, its periodic one (processed + MaximumPeriodicity)
	// included unless processedNow.
	until, wake soonest

	todo []int32 // scratch: the partitions to plan anew
	pl   planner // scratch, its buffers reused
}

// partPlan is one partition's share of a plan: what PlanNode's visit of
// it produced, and what that depended on.
type partPlan struct {
	// The view's entry it was planned from (the fields PlanNode reads).
	id, guid, url string
	state         model.RequestedState
	version       uint64

	actions   []Action
	notes     []string
	extra     string // a release it needs that the view does not name
	deadlines []time.Time
	processed time.Time // its last success, for the periodic deadline
	// until: it must be planned again from then on (time alone changes it).
	until time.Time
	// NB: the flags together, so that they share one word (a Replanner
	// holds one partPlan per partition of its node).
	known        bool // listed in Actual
	changed      bool // marked to be planned anew (while planning)
	hasProcessed bool
	processedNow bool // processed by the plan: at the plan's now
	hasUntil     bool
}

func (r *partPlan) expires(t time.Time) {
	if !r.hasUntil || t.Before(r.until) {
		r.until, r.hasUntil = t, true
	}
}

func (r *partPlan) matches(p *model.PartitionView) bool {
	return r.id == p.ID && r.guid == p.InstanceGUID && r.url == p.SoftwareRelease && r.state == p.RequestedState && r.version == p.Version
}

// hasOutput says whether the share adds to the plan's actions, notes or
// installs.
func (r *partPlan) hasOutput() bool {
	return len(r.actions) > 0 || len(r.notes) > 0 || r.extra != ""
}

// wakeAt is the soonest deadline of the share, its periodic one included
// unless it is processed by the plan (then at the plan's now, which the
// Replanner counts apart).
func (r *partPlan) wakeAt(periodicity time.Duration) (time.Time, bool) {
	var t time.Time
	ok := false
	for _, d := range r.deadlines {
		if !ok || d.Before(t) {
			t, ok = d, true
		}
	}
	if r.hasProcessed && !r.processedNow {
		if d := r.processed.Add(periodicity); !ok || d.Before(t) {
			t, ok = d, true
		}
	}
	return t, ok
}

// Changed says partition id's entry of Actual changed since the last plan.
func (r *Replanner) Changed(id string) {
	if !r.all {
		r.changed = append(r.changed, id)
	}
}

// SoftwareChanged says release url's entry of Actual changed since the
// last plan: the partitions whose view entry names it are planned anew
// (a partition's plan reads only its own release of Actual.Software).
func (r *Replanner) SoftwareChanged(url string) {
	if !r.all && !slices.Contains(r.changedSoft, url) {
		r.changedSoft = append(r.changedSoft, url)
	}
}

// Reset makes the next plan plan every partition.
func (r *Replanner) Reset() {
	r.all = true
	r.changed, r.changedSoft = r.changed[:0], r.changedSoft[:0]
}

// Plan is PlanNode(desired, actual, now, cfg), planning again only what
// may have changed (see Replanner). The plan is the caller's: the
// Replanner keeps none of its slices.
func (r *Replanner) Plan(desired model.ComputerView, actual Actual, now time.Time, cfg Config) Plan {
	parts, soft := desired.Partitions, desired.Software
	var first *model.PartitionView
	if len(parts) > 0 {
		first = &parts[0]
	}
	var softFirst *model.SoftwareView
	if len(soft) > 0 {
		softFirst = &soft[0]
	}
	// The same view as the last plan's (it is not modified once given).
	same := r.ready && desired.Version == r.viewVersion && first == r.viewFirst && len(parts) == len(r.parts) &&
		softFirst == r.softFirst && len(soft) == len(r.soft)
	if !r.ready || cfg != r.cfg || len(parts) != len(r.parts) {
		r.all = true
	}
	if !same {
		if !r.all {
			r.requestsChanged(soft)
		}
		r.soft = append(r.soft[:0], soft...)
	}
	sameView := !r.all && same
	r.cfg, r.viewVersion, r.viewFirst, r.softFirst = cfg, desired.Version, first, softFirst
	if cap(r.parts) < len(parts) {
		r.parts = make([]partPlan, len(parts))
	}
	r.parts = r.parts[:len(parts)]
	// A view in natural order is planned partition by partition; its
	// entries that changed are marked (a new view) on the way.
	ordered := sameView || r.all && r.inOrder(parts) || !r.all && r.viewChanged(parts)
	if !ordered {
		// Planned whole: nothing kept (the next plan plans every
		// partition).
		r.ready = false
		r.changed, r.changedSoft = r.changed[:0], r.changedSoft[:0]
		return PlanNode(desired, actual, now, cfg)
	}

	pl := r.planner(desired, actual, now, cfg)

	if r.all {
		r.known, r.nowN, r.active = 0, 0, r.active[:0]
		r.until.reset(len(parts))
		r.wake.reset(len(parts))
		for i := range parts {
			pp := &r.parts[i]
			*pp = partPlan{actions: pp.actions[:0], deadlines: pp.deadlines[:0]}
			r.replan(pl, int32(i), &parts[i])
		}
	} else {
		r.markChanged(parts)
		slices.Sort(r.todo)
		for _, i := range r.todo {
			r.replan(pl, i, &parts[i])
		}
	}
	r.todo = r.todo[:0]
	r.all, r.ready = false, true
	r.changed, r.changedSoft = r.changed[:0], r.changedSoft[:0]
	return r.result(pl)
}

// requestsChanged adds to changedSoft the releases whose request in the
// view (soft, against the last plan's) changed: a partition's plan reads
// the view's software list only for its own release (viewRequest).
func (r *Replanner) requestsChanged(soft []model.SoftwareView) {
	if slices.Equal(soft, r.soft) {
		return
	}
	note := func(list []model.SoftwareView) {
		for i := range list {
			url := list[i].URL
			if slices.Contains(r.changedSoft, url) {
				continue
			}
			was, wasListed := request(r.soft, url)
			is, isListed := request(soft, url)
			if was != is || wasListed != isListed {
				r.changedSoft = append(r.changedSoft, url)
			}
		}
	}
	note(r.soft)
	note(soft)
}

// request is url's request in a view's software list (the first entry
// that names it), as planner.viewRequest reads it.
func request(soft []model.SoftwareView, url string) (model.SoftwareRequest, bool) {
	for i := range soft {
		if soft[i].URL == url {
			return soft[i].Requested, true
		}
	}
	return "", false
}

// planner readies the scratch planner for a plan, its buffers emptied
// (field by field: the struct is large, and a copy of it costs more than
// the plan of a partition).
func (r *Replanner) planner(desired model.ComputerView, actual Actual, now time.Time, cfg Config) *planner {
	pl := &r.pl
	pl.desired, pl.actual, pl.now, pl.cfg = desired, actual, now, cfg.withDefaults()
	for k := range pl.byKind {
		pl.byKind[k] = pl.byKind[k][:0]
	}
	pl.waiting, pl.extraInstall = pl.waiting[:0], pl.extraInstall[:0]
	pl.hasNext, pl.hasOldest, pl.cacheLen, pl.cacheNext, pl.seen, pl.rec = false, false, 0, 0, 0, nil
	pl.periodicCutoff = now.Add(-pl.cfg.MaximumPeriodicity)
	return pl
}

// inOrder reports whether the view's partitions are in natural order,
// each once.
func (r *Replanner) inOrder(parts []model.PartitionView) bool {
	for i := 1; i < len(parts); i++ {
		if ComparePartitionIDs(parts[i-1].ID, parts[i].ID) >= 0 {
			return false
		}
	}
	return true
}

// viewChanged marks the partitions whose entry of a new view differs from
// the one of their share, and reports whether the view's partitions are in
// natural order, each once. In one pass over both lists: a new view is
// read once. NB: when it is not in order, the marks made so far are
// left: the view is planned whole, and the next plan plans every
// partition, which drops them. The ids the last plan kept were in
// order, so an entry with the same id at the same place as its
// predecessor needs no comparison.
func (r *Replanner) viewChanged(parts []model.PartitionView) bool {
	prevSame := false
	for i := range parts {
		pp, p := &r.parts[i], &parts[i]
		same := pp.id == p.ID
		if i > 0 && !(same && prevSame) && ComparePartitionIDs(parts[i-1].ID, p.ID) >= 0 {
			return false
		}
		prevSame = same
		if !same || !pp.matches(p) {
			r.mark(i)
		}
	}
	return true
}

// mark lists partition i in todo, once.
func (r *Replanner) mark(i int) {
	if pp := &r.parts[i]; !pp.changed {
		pp.changed = true
		r.todo = append(r.todo, int32(i))
	}
}

// markChanged lists in todo, once each, the partitions to plan anew
// besides those whose view entry changed (viewChanged): those Changed,
// those running a release in changedSoft, and those whose share expired.
func (r *Replanner) markChanged(parts []model.PartitionView) {
	for _, id := range r.changed {
		if i, ok := r.index(id); ok {
			r.mark(i)
		}
	}
	if len(r.changedSoft) > 0 {
		for i := range parts {
			if url := parts[i].SoftwareRelease; url != "" && slices.Contains(r.changedSoft, url) {
				r.mark(i)
			}
		}
	}
	r.until.due(momentOf(r.pl.now, 0), 1, func(i int32) { r.mark(int(i)) })
}

// index finds partition id in the last plan's shares (in natural order):
// where its number says first (slappartN is often the view's N-th entry),
// else by binary search.
func (r *Replanner) index(id string) (int, bool) {
	j := len(id)
	for j > 0 && isDigit(id[j-1]) && len(id)-j < 9 {
		j--
	}
	k := 0
	for _, c := range []byte(id[j:]) {
		k = k*10 + int(c-'0')
	}
	if j < len(id) && k < len(r.parts) && r.parts[k].id == id {
		return k, true
	}
	return slices.BinarySearchFunc(r.parts, id, func(p partPlan, id string) int { return ComparePartitionIDs(p.id, id) })
}

// replan plans partition i (view entry p) anew and keeps its share, and
// the sums, up to date.
func (r *Replanner) replan(pl *planner, i int32, p *model.PartitionView) {
	pp := &r.parts[i]
	wasActive := pp.hasOutput()
	if pp.known {
		r.known--
	}
	if pp.processedNow {
		r.nowN--
	}
	*pp = partPlan{id: p.ID, guid: p.InstanceGUID, url: p.SoftwareRelease, state: p.RequestedState, version: p.Version,
		actions: pp.actions[:0], deadlines: pp.deadlines[:0]}
	r.planned++
	seen := pl.seen
	pl.rec = pp
	pl.partition(p)
	pl.rec = nil
	pp.known = pl.seen > seen
	for k := range pl.byKind {
		pp.actions = append(pp.actions, pl.byKind[k]...)
		pl.byKind[k] = pl.byKind[k][:0]
	}
	if len(pl.waiting) > 0 {
		pp.notes = slices.Clone(pl.waiting)
		pl.waiting = pl.waiting[:0]
	}
	pl.extraInstall = pl.extraInstall[:0]
	pl.hasNext, pl.hasOldest = false, false

	if pp.known {
		r.known++
	}
	if pp.processedNow {
		r.nowN++
	}
	if pp.hasUntil {
		r.until.set(i, pp.until)
	} else {
		r.until.clear(i)
	}
	if t, ok := pp.wakeAt(pl.cfg.MaximumPeriodicity); ok {
		r.wake.set(i, t)
	} else {
		r.wake.clear(i)
	}
	if active := pp.hasOutput(); active != wasActive {
		j, _ := slices.BinarySearch(r.active, i)
		if active {
			r.active = slices.Insert(r.active, j, i)
		} else {
			r.active = slices.Delete(r.active, j, j+1)
		}
	}
}

// result puts the shares together with the software's part, as PlanNode's
// planner would have.
func (r *Replanner) result(pl *planner) Plan {
	for _, i := range r.active {
		pp := &r.parts[i]
		pl.waiting = append(pl.waiting, pp.notes...)
		if pp.extra != "" && !slices.Contains(pl.extraInstall, pp.extra) {
			pl.extraInstall = append(pl.extraInstall, pp.extra)
		}
	}
	pl.seen = r.known
	if pl.seen < len(pl.actual.Partitions) {
		pl.unlisted()
	}
	if i, ok := r.wake.min(); ok {
		t, _ := r.parts[i].wakeAt(pl.cfg.MaximumPeriodicity)
		pl.deadline(t)
	}
	if r.nowN > 0 {
		pl.processedAt(pl.now)
	}
	pl.software()

	var plan Plan
	n := len(pl.byKind[kindRank(InstallSoftware)]) + len(pl.byKind[kindRank(RemoveSoftware)])
	for _, i := range r.active {
		n += len(r.parts[i].actions)
	}
	if n > 0 {
		plan.Actions = make([]Action, 0, n)
		for k := range pl.byKind {
			if k == kindRank(InstallSoftware) || k == kindRank(RemoveSoftware) {
				plan.Actions = append(plan.Actions, pl.byKind[k]...)
				continue
			}
			for _, i := range r.active {
				for _, a := range r.parts[i].actions {
					if kindRank(a.Kind) == k {
						plan.Actions = append(plan.Actions, a)
					}
				}
			}
		}
	}
	if pl.hasOldest {
		pl.deadline(pl.oldest.Add(pl.cfg.MaximumPeriodicity))
	}
	if pl.hasNext {
		plan.RequeueAfter = pl.next.Sub(pl.now)
	}
	if len(pl.waiting) > 0 {
		plan.Waiting = slices.Clone(pl.waiting)
	}
	// software's slices are the plan's: not reused.
	pl.byKind[kindRank(InstallSoftware)], pl.byKind[kindRank(RemoveSoftware)] = nil, nil
	return plan
}

// soonest is a tournament tree over the partitions of a node: each may
// hold a moment; the soonest is known at once and a change costs
// O(log n). Each node holds the soonest moment of its subtree and whose
// it is, so that a change reads one pair of siblings per level.
type soonest struct {
	tree []moment // tree[1]: the soonest; the leaves from len(tree)/2
}

// moment is a partition's moment, or none (i < 0): seconds and
// nanoseconds since 1970, in time.Time's order but without its location
// pointer, so that a tree is half as large and the garbage collector does
// not scan it.
type moment struct {
	sec  int64
	nsec int32
	i    int32
}

// momentOf is partition i's moment t.
func momentOf(t time.Time, i int32) moment {
	return moment{sec: t.Unix(), nsec: int32(t.Nanosecond()), i: i}
}

// before: m comes before n (both hold a moment).
func (m moment) before(n moment) bool {
	return m.sec < n.sec || m.sec == n.sec && m.nsec < n.nsec
}

func (s *soonest) reset(n int) {
	size := 1
	for size < n {
		size *= 2
	}
	s.tree = slices.Grow(s.tree[:0], 2*size)[:2*size]
	for j := range s.tree {
		s.tree[j] = moment{i: -1}
	}
}

// earlier picks the sooner of two siblings (the left one, of lower
// indexes, on a tie).
func earlier(a, b moment) moment {
	switch {
	case a.i < 0:
		return b
	case b.i < 0:
		return a
	case b.before(a):
		return b
	}
	return a
}

// put sets leaf j and the nodes above it, as far as they change.
func (s *soonest) put(j int, m moment) {
	s.tree[j] = m
	for j > 1 {
		j /= 2
		up := earlier(s.tree[2*j], s.tree[2*j+1])
		if up == s.tree[j] {
			return
		}
		s.tree[j] = up
	}
}

// set gives partition i the moment t.
func (s *soonest) set(i int32, t time.Time) {
	j := len(s.tree)/2 + int(i)
	m := momentOf(t, i)
	if s.tree[j] == m {
		return
	}
	s.put(j, m)
}

// clear takes partition i's moment away.
func (s *soonest) clear(i int32) {
	if j := len(s.tree)/2 + int(i); s.tree[j].i >= 0 {
		s.put(j, moment{i: -1})
	}
}

// min returns the partition with the soonest moment.
func (s *soonest) min() (int32, bool) {
	if len(s.tree) < 2 || s.tree[1].i < 0 {
		return -1, false
	}
	return s.tree[1].i, true
}

// due calls f for each partition whose moment is not after now, visiting
// the subtree of node j: only the subtrees whose soonest moment is due.
func (s *soonest) due(now moment, j int, f func(int32)) {
	if j >= len(s.tree) {
		return
	}
	m := s.tree[j]
	if m.i < 0 || now.before(m) {
		return
	}
	if j >= len(s.tree)/2 {
		f(m.i)
		return
	}
	s.due(now, 2*j, f)
	s.due(now, 2*j+1, f)
}
