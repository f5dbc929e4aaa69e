package master

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/model"
)

// CheckPending verifies the pending queue: both queues ordered oldest
// first, holding exactly the live unallocated instances, each in the queue
// of its kind; and that no pending non-shared request fits any computer at
// now (every change that may make one fit retries it: a queue that misses
// one fails here).
func (s *State) CheckPending(now time.Time) error {
	for name, l := range map[string][]string{"alloc": s.pending.alloc, "shared": s.pending.shared} {
		if !slices.IsSortedFunc(l, compareGUID) {
			return fmt.Errorf("pending queue %s is not in request order: %v", name, l)
		}
	}
	if n := len(s.pending.alloc) + len(s.pending.shared); n != len(s.pending.in) {
		return fmt.Errorf("pending queues hold %d guids, the set %d", n, len(s.pending.in))
	}
	for g, i := range s.instances {
		want := !i.Allocated() && !i.Freed && i.RequestedState != "destroyed"
		if s.pending.has(g) != want {
			return fmt.Errorf("%s: pending=%v, want %v", g, s.pending.has(g), want)
		}
		if !want {
			continue
		}
		l := s.pending.alloc
		if i.Shared {
			l = s.pending.shared
		}
		if _, found := slices.BinarySearchFunc(l, g, compareGUID); !found {
			return fmt.Errorf("%s (shared=%v) is not in its queue", g, i.Shared)
		}
		if i.Shared {
			continue
		}
		for _, c := range s.cands {
			if alloc.Feasible(c, s.allocRequest(i), s.allocOptions(now)) {
				return fmt.Errorf("%s waits (%s) but fits computer %s", g, i.PendingReason, c.ID)
			}
		}
	}
	return nil
}

// CheckCandidateIndex verifies that the index kept by candIndex chooses,
// for every live non-shared instance's request and every policy, the
// computer alloc.Choose finds by scanning cands.
func (s *State) CheckCandidateIndex(now time.Time) error {
	for _, g := range slices.SortedFunc(maps.Keys(s.instances), compareGUID) {
		i := s.instances[g]
		if i.Shared || i.Freed {
			continue
		}
		req := s.allocRequest(i)
		for _, p := range alloc.Policies() {
			opts := s.allocOptions(now)
			opts.Policy = p
			want, wantOK := alloc.Choose(s.cands, req, opts)
			if got, ok := s.candIndex().Choose(req, opts); got != want || ok != wantOK {
				return fmt.Errorf("%s, policy %s: the index chose %+v, %v; the scan %+v, %v", g, p, got, ok, want, wantOK)
			}
		}
	}
	return nil
}

// CheckInstanceIn verifies that instanceIn, which remembers its answers,
// finds for every partition the instance the map of instances holds.
func (s *State) CheckInstanceIn() error {
	for _, id := range slices.Sorted(maps.Keys(s.computers)) {
		cs := s.computers[id]
		for _, p := range cs.parts {
			var want *model.Instance
			if p.InstanceGUID != "" {
				want = s.instances[p.InstanceGUID]
			}
			if got := s.instanceIn(cs, p); got != want {
				return fmt.Errorf("partition %s/%s holds %q: instanceIn finds %p, the map %p", id, p.ID, p.InstanceGUID, got, want)
			}
		}
	}
	return nil
}

// FreshComputerView builds a computer's view without the view cache: every
// partition rendered anew, every SLA too.
func (s *State) FreshComputerView(computerID string) (model.ComputerView, error) {
	cs := s.computers[computerID]
	if cs == nil {
		return model.ComputerView{}, fmt.Errorf("computer %s is not registered", computerID)
	}
	v := model.ComputerView{ComputerID: computerID, Version: cs.viewVersion,
		Software: make([]model.SoftwareView, 0, len(cs.software)), Partitions: make([]model.PartitionView, len(cs.parts))}
	for _, u := range slices.Sorted(maps.Keys(cs.software)) {
		v.Software = append(v.Software, model.SoftwareView{URL: u, Requested: cs.software[u].Requested})
	}
	for n, p := range cs.parts {
		pv := &v.Partitions[n]
		s.renderPartition(pv, p)
		if pv.SLA != nil {
			pv.SLA = s.instances[p.InstanceGUID].SLA.Raw() // not the one slaRaws shares
		}
	}
	return v, nil
}

// IdempotencyRecords lists the keys remembered, oldest first.
func (s *State) IdempotencyRecords() []IdempotencyRecord {
	out := make([]IdempotencyRecord, 0, len(s.idemOrder))
	for _, r := range s.idemOrder {
		out = append(out, *r)
	}
	return out
}
