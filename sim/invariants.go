package sim

import (
	"fmt"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// Invariant names, as violations report them.
const (
	InvPartitionOnce = "no partition given to two instances"
	InvNoneLost      = "no instance lost"
	InvOneAtATime    = "a node configures one partition at a time"
	InvVersionsGrow  = "versions only grow"
	InvConverge      = "converge after healing"
	InvAgentProtocol = "nodes follow core/agent's protocol"
)

// Violation is an invariant found broken. The run stops at the event that
// broke it; Reproduce is the command that runs the same simulation again.
type Violation struct {
	Invariant string
	Detail    string
	At        time.Duration // virtual time
	Event     uint64        // number of the event, from 1
	Reproduce string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("sim: invariant %q violated at t=%s (event %d): %s", v.Invariant, v.At, v.Event, v.Detail)
}

// violate records the first violation; the run stops after the event.
func (s *engine) violate(invariant, detail string) {
	if s.violation != nil {
		return
	}
	s.violation = &Violation{Invariant: invariant, Detail: detail, At: time.Duration(s.now), Event: s.nEvts, Reproduce: s.reproduce()}
	t := s.trace
	t.begin(s.now, "violation")
	t.str("invariant", invariant)
	t.end()
}

// partKey names a partition by the numbers the engine gave its computer's
// id and its own id (partIDs): two int32, so that the records and the
// holder table hold no pointers for the collector to scan.
type partKey struct{ comp, part int32 }

// partIDs numbers the computer and partition ids the master's mutations
// name, in the order first seen: a partition id (slappartN) repeats on
// every computer, so both tables stay small.
type partIDs struct {
	comps, parts   []string
	compIx, partIx map[string]int32
}

func intern(ix map[string]int32, names *[]string, id string) int32 {
	k, ok := ix[id]
	if !ok {
		k = int32(len(*names))
		*names = append(*names, id)
		ix[id] = k
	}
	return k
}

// key is the partKey of computer comp's partition part.
func (s *engine) key(comp, part string) partKey {
	t := &s.ids
	return partKey{intern(t.compIx, &t.comps, comp), intern(t.partIx, &t.parts, part)}
}

// name is "computer/partition", for reports.
func (s *engine) name(k partKey) string { return s.ids.comps[k.comp] + "/" + s.ids.parts[k.part] }

// holderOf is the instance record holding partition k, if any.
func (s *engine) holderOf(k partKey) (int32, bool) {
	if int(k.comp) < len(s.holder) {
		if h := s.holder[k.comp]; int(k.part) < len(h) && h[k.part] >= 0 {
			return h[k.part], true
		}
	}
	return -1, false
}

// setHolder records ii (or -1: none) as the holder of partition k.
func (s *engine) setHolder(k partKey, ii int32) {
	for int(k.comp) >= len(s.holder) {
		s.holder = append(s.holder, nil)
	}
	h := s.holder[k.comp]
	for int(k.part) >= len(h) {
		h = append(h, -1)
	}
	h[k.part] = ii
	s.holder[k.comp] = h
}

// observe follows the mutations of one command: it keeps the simulation's
// records up to date and checks, on what changed, that
//   - an instance's version never decreases;
//   - no partition is given to two live instances, and a partition and its
//     instance agree;
//   - no instance is lost: one freed was asked destroyed, and the master's
//     pending count equals the number of instances neither placed, freed
//     nor requested destroyed.
//
// Checking what each command changed after each command is checking the
// whole state after each event: nothing else changes it.
func (s *engine) observe(muts []master.Mutation) {
	claims := s.claimBuf[:0]
	parts := s.partBuf[:0]
	for _, m := range muts {
		switch m.Kind {
		case master.KindInstance:
			i, ok := m.Value.(*model.Instance)
			if !ok {
				continue
			}
			s.checks++
			// The partition the instance says it lives on: its holder is
			// the instance's record when the instance is known there.
			pk, at := partKey{}, !i.Freed && !i.Shared && i.PartitionID != ""
			if at {
				pk = s.key(i.ComputerID, i.PartitionID)
			}
			ii := s.bind(i, pk, at)
			if ii >= 0 && s.insts[ii].kind == kindExternal && i.RequestedState == model.StateDestroyed {
				s.insts[ii].destroyAsked = true
			}
			if ii < 0 {
				s.violate(InvNoneLost, fmt.Sprintf("instance %s (%s) appeared without a request of the simulation", i.GUID, i.Title))
				continue
			}
			r := s.insts[ii]
			if i.Version < r.version {
				s.violate(InvVersionsGrow, fmt.Sprintf("instance %s: version %d after %d", i.GUID, i.Version, r.version))
			}
			r.version = i.Version
			if pend := !i.Allocated() && !i.Freed && i.RequestedState != model.StateDestroyed; pend != r.pend {
				r.pend = pend
				if pend {
					s.pendingN++
				} else {
					s.pendingN--
				}
			}
			if i.Freed {
				if r.held {
					if h, _ := s.holderOf(r.pk); h == ii {
						s.setHolder(r.pk, -1)
					}
					r.held = false
				}
				if !r.destroyAsked {
					s.violate(InvNoneLost, fmt.Sprintf("instance %s (%s) was freed but nobody asked it destroyed", i.GUID, i.Title))
				}
			} else if at {
				claims = append(claims, claim{ii, pk})
			}
			s.instanceChanged(ii, i)
		case master.KindPartition:
			if p, ok := m.Value.(*model.Partition); ok {
				parts = append(parts, p)
			}
		}
	}
	for _, c := range claims {
		r := s.insts[c.inst]
		if h, ok := s.holderOf(c.pk); ok && h != c.inst {
			s.violate(InvPartitionOnce, fmt.Sprintf("partition %s holds %s and is given to %s", s.name(c.pk), s.insts[h].guid, r.guid))
		}
		if r.held && r.pk != c.pk {
			s.violate(InvPartitionOnce, fmt.Sprintf("instance %s moved from partition %s to %s", r.guid, s.name(r.pk), s.name(c.pk)))
		}
		s.setHolder(c.pk, c.inst)
		r.pk, r.held = c.pk, true
	}
	for _, p := range parts {
		k := s.key(p.ComputerID, p.ID)
		h, held := s.holderOf(k)
		switch {
		case p.Status == model.PartitionBusy && (!held || s.insts[h].guid != p.InstanceGUID):
			s.violate(InvPartitionOnce, fmt.Sprintf("partition %s says it holds %q, the instances say %q", s.name(k), p.InstanceGUID, s.guidOf(h, held)))
		case p.Status == model.PartitionFree && held:
			s.violate(InvPartitionOnce, fmt.Sprintf("partition %s is free but instance %s still holds it", s.name(k), s.insts[h].guid))
		}
	}
	if got := s.m.PendingCount(); got != s.pendingN {
		s.violate(InvNoneLost, fmt.Sprintf("the master counts %d pending requests, its instances say %d", got, s.pendingN))
	}
	s.claimBuf, s.partBuf = claims[:0], parts[:0]
}

// claim is an instance mutation that says where the instance lives.
type claim struct {
	inst int32
	pk   partKey
}

func (s *engine) guidOf(ii int32, ok bool) string {
	if !ok {
		return ""
	}
	return s.insts[ii].guid
}

// checkEvent checks what an event may have broken beyond commands: the
// node it concerned configures at most one partition.
func (s *engine) checkEvent(ev event) {
	s.checks++
	if ev.node >= 0 {
		if n := s.nodes[ev.node]; n.inFlight > 1 {
			s.violate(InvOneAtATime, fmt.Sprintf("computer %s runs %d partition actions at once", n.id, n.inFlight))
		}
	}
}

// fullCheck sweeps the whole state: every busy partition's instance is
// held by no other partition and agrees with the records, the pending set
// is the master's, and every instance the simulation requested is
// allocated, pending or destroyed as its record says.
func (s *engine) fullCheck() {
	s.stats.FullChecks++
	seen := make(map[string]partKey, len(s.byGUID))
	for _, n := range s.nodes {
		for p := range s.m.Holdings(n.id) {
			k := s.key(n.id, p.ID)
			h, held := s.holderOf(k)
			if p.Status != model.PartitionBusy {
				if held {
					s.violate(InvPartitionOnce, fmt.Sprintf("partition %s is free but instance %s holds it", s.name(k), s.insts[h].guid))
					return
				}
				continue
			}
			if other, dup := seen[p.InstanceGUID]; dup {
				s.violate(InvPartitionOnce, fmt.Sprintf("instance %s holds partitions %s and %s", p.InstanceGUID, s.name(other), s.name(k)))
				return
			}
			seen[p.InstanceGUID] = k
			if g := s.guidOf(h, held); g != p.InstanceGUID {
				s.violate(InvPartitionOnce, fmt.Sprintf("partition %s holds %s, the records say %q", s.name(k), p.InstanceGUID, g))
				return
			}
		}
	}
	pend := s.m.Pending()
	if len(pend) != s.pendingN {
		s.violate(InvNoneLost, fmt.Sprintf("the master lists %d pending requests, the records %d", len(pend), s.pendingN))
		return
	}
	for _, p := range pend {
		if ii, ok := s.byGUID[p.GUID]; !ok || !s.insts[ii].pend {
			s.violate(InvNoneLost, fmt.Sprintf("%s is pending at the master but not in the records", p.GUID))
			return
		}
	}
	// One walk of the master's instances, then the records in their order.
	if cap(s.places) < len(s.insts) {
		s.places = make([]master.Placement, len(s.insts))
	}
	places := s.places[:len(s.insts)]
	clear(places)
	for g, p := range s.m.Placements() {
		if ii, ok := s.byGUID[g]; ok && s.insts[ii].guid == g {
			places[ii] = p
		}
	}
	for ii, r := range s.insts {
		if r.guid == "" {
			continue
		}
		info := places[ii]
		if info.Status == "" {
			_, err := s.m.Instance(model.Admin, r.guid)
			s.violate(InvNoneLost, fmt.Sprintf("instance %s (%s) is unknown to the master: %v", r.guid, r.title, err))
			return
		}
		switch info.Status {
		case master.StatusAllocated:
			k := s.key(info.ComputerID, info.PartitionID)
			if h, ok := s.holderOf(k); !ok || s.insts[h] != r {
				s.violate(InvNoneLost, fmt.Sprintf("instance %s says it is in %s, which holds %q", r.guid, s.name(k), s.guidOf(h, ok)))
				return
			}
		case master.StatusPending:
			if !r.pend {
				s.violate(InvNoneLost, fmt.Sprintf("instance %s is pending but not in the pending set", r.guid))
				return
			}
		case master.StatusDestroyed:
			if !r.destroyAsked {
				s.violate(InvNoneLost, fmt.Sprintf("instance %s is destroyed but nobody asked it", r.guid))
				return
			}
		}
	}
}
