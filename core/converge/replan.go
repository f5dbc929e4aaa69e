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
// reprocessing); software, order and deadlines are worked out anew from
// those shares at every plan.
//
// Caller's duties: call Changed for every partition whose Actual entry
// changed since the last plan (ApplySuccess, ApplyFailure), and Reset
// when anything else of Actual changed (software, several partitions at
// once, a record read again), or when in doubt. A view whose partitions
// are not in natural order, or are listed twice, is planned whole.
//
// The zero Replanner is ready: its first plan plans every partition.
type Replanner struct {
	parts   []partPlan // by the view's index, at the last plan
	soft    []model.SoftwareView
	cfg     Config
	changed []string // partitions Changed since the last plan
	all     bool     // plan every partition at the next plan
	ready   bool     // parts match a plan (after the first)
	planned int      // partitions planned anew, since the start
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
	changed      bool // Changed since (set while planning)
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

// Changed says partition id's entry of Actual changed since the last plan.
func (r *Replanner) Changed(id string) {
	if !r.all {
		r.changed = append(r.changed, id)
	}
}

// Reset makes the next plan plan every partition.
func (r *Replanner) Reset() {
	r.all = true
	r.changed = r.changed[:0]
}

// Plan is PlanNode(desired, actual, now, cfg), planning again only what
// may have changed (see Replanner).
func (r *Replanner) Plan(desired model.ComputerView, actual Actual, now time.Time, cfg Config) Plan {
	parts := desired.Partitions
	// The view must be in natural order, which the loop below checks as it
	// goes: the ids the last plan kept were in order, so an entry with the
	// same id at the same place as its predecessor needs no comparison.
	kept := r.ready && len(parts) == len(r.parts)
	if !r.ready || cfg != r.cfg || len(parts) != len(r.parts) || !slices.Equal(desired.Software, r.soft) {
		r.all = true
	}
	r.cfg, r.soft = cfg, append(r.soft[:0], desired.Software...)
	pl := planner{desired: desired, actual: actual, now: now, cfg: cfg.withDefaults()}
	pl.periodicCutoff = now.Add(-pl.cfg.MaximumPeriodicity)
	if cap(r.parts) < len(parts) {
		r.parts = make([]partPlan, len(parts))
	}
	r.parts = r.parts[:len(parts)]
	if !r.all {
		// Find the partitions changed (if the view is not in order, the
		// marks are wrong, but it is planned whole).
		for _, id := range r.changed {
			if i, ok := slices.BinarySearchFunc(parts, id, func(p model.PartitionView, id string) int { return ComparePartitionIDs(p.ID, id) }); ok {
				r.parts[i].changed = true
			}
		}
	}
	planned, prevSame := r.planned, false
	for i := range parts {
		p, pp := &parts[i], &r.parts[i]
		same := kept && pp.id == p.ID
		if i > 0 && !(same && prevSame) && ComparePartitionIDs(parts[i-1].ID, p.ID) >= 0 {
			// Planned whole: nothing kept (the next plan plans every
			// partition).
			r.ready, r.changed, r.planned = false, r.changed[:0], planned
			return PlanNode(desired, actual, now, cfg)
		}
		prevSame = same
		if r.all || pp.changed || !same || !pp.matches(p) || (pp.hasUntil && !now.Before(pp.until)) {
			r.replan(&pl, p, pp)
			continue
		}
		// As planned last time.
		if pp.known {
			pl.seen++
		}
		for _, a := range pp.actions {
			pl.add(a)
		}
		pl.waiting = append(pl.waiting, pp.notes...)
		if pp.extra != "" && !slices.Contains(pl.extraInstall, pp.extra) {
			pl.extraInstall = append(pl.extraInstall, pp.extra)
		}
		for _, t := range pp.deadlines {
			pl.deadline(t)
		}
		switch {
		case pp.processedNow:
			pl.processedAt(now)
		case pp.hasProcessed:
			pl.processedAt(pp.processed)
		}
	}
	r.all, r.ready = false, true
	r.changed = r.changed[:0]
	if pl.seen < len(actual.Partitions) {
		pl.unlisted()
	}
	pl.software()
	return pl.result()
}

// replan plans partition p anew into pl and keeps its share in pp.
func (r *Replanner) replan(pl *planner, p *model.PartitionView, pp *partPlan) {
	*pp = partPlan{id: p.ID, guid: p.InstanceGUID, url: p.SoftwareRelease, state: p.RequestedState, version: p.Version,
		actions: pp.actions[:0], deadlines: pp.deadlines[:0]}
	var before [len(pl.byKind)]int
	for k := range pl.byKind {
		before[k] = len(pl.byKind[k])
	}
	seen, notes := pl.seen, len(pl.waiting)
	r.planned++
	pl.rec = pp
	pl.partition(p)
	pl.rec = nil
	pp.known = pl.seen > seen
	for k := range pl.byKind {
		pp.actions = append(pp.actions, pl.byKind[k][before[k]:]...)
	}
	if len(pl.waiting) > notes {
		pp.notes = slices.Clone(pl.waiting[notes:])
	}
}
