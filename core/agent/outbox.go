package agent

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// Publication is a set of connection parameters for the master: those of
// the instance in PartitionID (SharedGUID empty), or those of shared
// instance SharedGUID hosted there. The master keeps the last set per
// (PartitionID, SharedGUID): that pair is a publication's key.
type Publication struct {
	PartitionID  string
	InstanceGUID string // the instance the partition runs
	SharedGUID   string
	// Parameters: the values published. NB: the map is shared with the
	// configuration's outcome and the Publish effects: never modified.
	Parameters map[string]string
	// Seq is the publication's place in the outbox, which sends the kept
	// ones in Seq order: the order they were kept. KeepPublication gives
	// one kept now the next Seq; the executor persists it, and gives it
	// back at start so that the order survives a restart.
	Seq uint64
}

func (p Publication) sameKey(o Publication) bool {
	return p.PartitionID == o.PartitionID && p.SharedGUID == o.SharedGUID
}

// OutboxCounters are the publication outbox's totals since New, and the
// reports the master refused.
type OutboxCounters struct {
	// Kept: publications put in the outbox (an attempt that did not get
	// through, or KeepPublication).
	Kept uint64
	// Resent: kept publications the master then took.
	Resent uint64
	// Dropped: kept publications given up because a newer view no longer
	// places their instance here (a shared instance listed destroyed is
	// not placed), or its partition was destroyed.
	Dropped uint64
	// Refused: publications the master refused (never sent again).
	Refused uint64
	// DestroyedRefused: destruction reports the master refused (the
	// partition is not told again for that instance).
	DestroyedRefused uint64
	// ReportsRefused: other reports the master refused (dropped from the
	// outbox).
	ReportsRefused uint64
}

// pubOutbox is the agent's publication outbox: the connection parameters
// the master could not be given yet, oldest first, one per key.
type pubOutbox struct {
	kept []Publication // by Seq
	seq  uint64        // the last Seq given
	pos  int           // stageDrain: the next kept publication to send
	// stop: the drain met an unreachable master; the rest waits.
	stop  bool
	count OutboxCounters
}

// Unpublished returns the publications kept for the master, oldest first
// (by Seq; the agent's slice: read only). The executor persists them,
// Seq included, and gives them back at start with KeepPublication.
func (a *Agent) Unpublished() []Publication { return a.pub.kept }

// OutboxCounters returns the publication outbox's totals since New.
func (a *Agent) OutboxCounters() OutboxCounters { return a.pub.count }

// KeepPublication puts p in the publication outbox: it is sent at the
// next pass that reaches the master, after the reports kept and before
// the plan's work, in the order publications were kept; it replaces one
// kept earlier with the same key, in place (keeping its Seq). One whose
// instance the agent's view does not place here is dropped at once. A p
// without Seq gets the next one: it goes last. Executors give back at
// start what a previous run kept, with its Seq: it takes its place among
// the others given back, whatever order they come in; and they keep again
// a publication they learn was lost after its Publish was done.
func (a *Agent) KeepPublication(p Publication) {
	a.pub.count.Kept++
	if a.view != nil && !a.places(p) {
		a.pub.count.Dropped++
		return
	}
	for i := range a.pub.kept {
		if a.pub.kept[i].sameKey(p) {
			p.Seq = a.pub.kept[i].Seq
			a.pub.kept[i] = p
			return
		}
	}
	if p.Seq == 0 {
		a.pub.seq++
		p.Seq = a.pub.seq
	} else {
		a.pub.seq = max(a.pub.seq, p.Seq)
	}
	i, _ := slices.BinarySearchFunc(a.pub.kept, p.Seq, func(k Publication, seq uint64) int { return cmp.Compare(k.Seq, seq) })
	a.pub.kept = slices.Insert(a.pub.kept, i, p)
	if i < a.pub.pos {
		a.pub.pos++ // the drain goes on from the same one
	}
}

// places reports whether the view places p's instance on this node: its
// partition holds the instance and, for a shared instance, lists it not
// destroyed.
func (a *Agent) places(p Publication) bool {
	pv := a.partition(p.PartitionID)
	if pv == nil || pv.InstanceGUID == "" || pv.InstanceGUID != p.InstanceGUID {
		return false
	}
	if p.SharedGUID == "" {
		return true
	}
	return slices.ContainsFunc(pv.SharedInstances, func(s model.SharedView) bool {
		return s.GUID == p.SharedGUID && s.State != model.StateDestroyed
	})
}

// dropKept drops the kept publications for which drop is true.
func (a *Agent) dropKept(drop func(Publication) bool) {
	n := len(a.pub.kept)
	a.pub.kept = slices.DeleteFunc(a.pub.kept, drop)
	a.pub.count.Dropped += uint64(n - len(a.pub.kept))
}

// dropUnplaced drops the kept publications of instances a new view no
// longer places here.
func (a *Agent) dropUnplaced() {
	if len(a.pub.kept) > 0 {
		a.dropKept(func(p Publication) bool { return !a.places(p) })
	}
}

// dropPartition drops the kept publications of a partition just
// destroyed: its instance runs here no more.
func (a *Agent) dropPartition(id string) {
	if len(a.pub.kept) > 0 {
		a.dropKept(func(p Publication) bool { return p.PartitionID == id })
	}
}

// unkeep removes the kept publication with p's key, if any (a newer one
// reached the master, or was refused).
func (a *Agent) unkeep(p Publication) {
	if i := slices.IndexFunc(a.pub.kept, p.sameKey); i >= 0 {
		a.pub.kept = slices.Delete(a.pub.kept, i, i+1)
	}
}

// nextKept returns the next kept publication to send (stageDrain).
func (a *Agent) nextKept() (Effect, bool) {
	if a.pub.stop || a.pub.pos >= len(a.pub.kept) {
		return Effect{}, false
	}
	p := a.pub.kept[a.pub.pos]
	return Effect{Kind: Publish, PartitionID: p.PartitionID, InstanceGUID: p.InstanceGUID,
		SharedGUID: p.SharedGUID, Parameters: p.Parameters, Kept: true}, true
}

// published records a Publish outcome. A publication the master took or
// refused leaves the outbox (with any older one of its key); one that did
// not get through is kept: a kept one stays where it is, the
// configuration's joins the end. The configuration succeeds either way:
// its work is done here, and the master gets the parameters when it
// answers again.
func (a *Agent) published(now time.Time, e Effect, o Outcome) {
	p := Publication{PartitionID: e.PartitionID, InstanceGUID: e.InstanceGUID, SharedGUID: e.SharedGUID, Parameters: e.Parameters}
	ans := o.Answer()
	switch ans {
	case Answered:
		if e.Kept {
			a.pub.count.Resent++
		}
	case AnswerRefused:
		a.pub.count.Refused++
	}
	if e.Kept {
		a.keptSent(p, ans)
		return
	}
	if ans == Answered || ans == AnswerRefused {
		a.unkeep(p)
	} else {
		a.KeepPublication(p)
	}
	a.ppos++
	if a.ppos == len(a.pubs) {
		a.endAction(now, nil)
	}
}

// keptSent records the outcome of sending kept publication p, the one at
// pub.pos (unless KeepPublication replaced it with a newer value while it
// was in flight: that one stays). An unreachable master stops the drain.
func (a *Agent) keptSent(p Publication, ans MasterAnswer) {
	i := a.pub.pos
	same := i < len(a.pub.kept) && a.pub.kept[i].InstanceGUID == p.InstanceGUID &&
		maps.Equal(a.pub.kept[i].Parameters, p.Parameters)
	switch {
	case (ans == Answered || ans == AnswerRefused) && same:
		a.pub.kept = slices.Delete(a.pub.kept, i, i+1)
	default:
		a.pub.pos++
		a.pub.stop = ans == AnswerUnreachable
	}
}
