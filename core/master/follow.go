package master

import (
	"fmt"
	"slices"
	"strings"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/model"
)

// ApplyPersisted applies the entities one commit wrote (as the store reads
// them back: whole entities to upsert, or deletions) to a state in place:
// how a follower of another master's log stays warm without rebuilding its
// whole state (Restore) after each commit. Its cost is that of the
// entities changed, not of the grid.
//
// The caller passes the commits in log order, one call per commit (within
// a commit an entity appears once, as Compact left it). The result equals
// Restore of every entity persisted so far (TestApplyPersistedEqualsRestore).
// On an error (an entity of unknown type, a partition of an unknown
// computer: the log and the state disagree) the state may be partly
// changed: the caller must rebuild it with Restore.
func (s *State) ApplyPersisted(entities []Mutation) error {
	// Order within the commit: computers first (their partitions and
	// software refer to them), instances after partitions, computers
	// removed last; instances leave every index before any comes back, so
	// that a key moving from one instance to another (a rename, a
	// destroyed title requested again) is indexed once.
	var parts, sws, insts, gone []Mutation
	for _, m := range entities {
		switch m.Kind {
		case KindComputer:
			if m.Delete {
				gone = append(gone, m)
				continue
			}
			if err := s.followComputer(m); err != nil {
				return err
			}
		case KindPartition:
			parts = append(parts, m)
		case KindSoftware:
			sws = append(sws, m)
		case KindInstance:
			insts = append(insts, m)
		default:
			if err := s.followOther(m); err != nil {
				return err
			}
		}
	}
	touched := map[*computerState]bool{}
	for _, m := range parts {
		cs, err := s.followPartition(m)
		if err != nil {
			return err
		}
		touched[cs] = true
	}
	for _, m := range sws {
		cs, err := s.followSoftware(m)
		if err != nil {
			return err
		}
		touched[cs] = true
	}
	for cs := range touched {
		if cs != nil && s.computers[cs.c.ID] == cs {
			s.syncCandidate(cs)
		}
	}
	if err := s.followInstances(insts); err != nil {
		return err
	}
	for _, m := range gone {
		if cs := s.computers[m.Key]; cs != nil {
			s.dropComputer(cs)
		}
	}
	s.muts = s.muts[:0]
	return nil
}

func followErr(m Mutation) error {
	return fmt.Errorf("master: following the log: entity %s %q holds a %T", m.Kind, m.Key, m.Value)
}

func (s *State) followComputer(m Mutation) error {
	v, ok := m.Value.(*computerRecord)
	if !ok {
		return followErr(m)
	}
	c := v.Computer
	cs := s.computers[c.ID]
	if cs == nil {
		cs = &computerState{software: map[string]*model.SoftwareInstallation{}, cand: &alloc.Candidate{}}
		s.computers[c.ID] = cs
		s.addCandidate(cs)
		defer s.sortCands()
	}
	cs.c, cs.viewVersion = &c, v.ViewVersion
	resetView(cs)
	s.syncCandidate(cs)
	return nil
}

func (s *State) followPartition(m Mutation) (*computerState, error) {
	var computerID, id string
	var p *model.Partition
	if m.Delete {
		// The key is computer/partition (model.Partition.Key); a
		// computer id holds no '/' (model.ValidateID).
		var ok bool
		if computerID, id, ok = strings.Cut(m.Key, "/"); !ok {
			return nil, fmt.Errorf("master: following the log: partition key %q is not computer/partition", m.Key)
		}
	} else {
		var ok bool
		if p, ok = m.Value.(*model.Partition); !ok {
			return nil, followErr(m)
		}
		computerID, id = p.ComputerID, p.ID
	}
	cs := s.computers[computerID]
	if cs == nil {
		if m.Delete {
			return nil, nil
		}
		return nil, fmt.Errorf("master: following the log: partition %s belongs to unknown computer", m.Key)
	}
	old := cs.partIdx.get(id)
	switch {
	case m.Delete:
		cs.partIdx.del(id)
		cs.parts = slices.DeleteFunc(cs.parts, func(q *model.Partition) bool { return q == old })
		resetView(cs)
	case old != nil:
		cs.parts[slices.Index(cs.parts, old)] = p
		cs.partIdx.set(id, p)
		s.stalePartition(computerID, id)
	default:
		cs.parts = append(cs.parts, p)
		sortPartitions(cs.parts)
		cs.partIdx.set(id, p)
		resetView(cs)
	}
	return cs, nil
}

func (s *State) followSoftware(m Mutation) (*computerState, error) {
	if m.Delete {
		// The key is "computer URL" (model.SoftwareInstallation.Key).
		computerID, url, ok := strings.Cut(m.Key, " ")
		if !ok {
			return nil, fmt.Errorf("master: following the log: software key %q is not \"computer URL\"", m.Key)
		}
		cs := s.computers[computerID]
		if cs != nil {
			delete(cs.software, url)
		}
		return cs, nil
	}
	sw, ok := m.Value.(*model.SoftwareInstallation)
	if !ok {
		return nil, followErr(m)
	}
	cs := s.computers[sw.ComputerID]
	if cs == nil {
		return nil, fmt.Errorf("master: following the log: software %s belongs to unknown computer", m.Key)
	}
	cs.software[sw.URL] = sw
	return cs, nil
}

// followInstances takes every changed instance out of the indexes, then
// puts the new versions in.
func (s *State) followInstances(ms []Mutation) error {
	for _, m := range ms {
		if !m.Delete {
			if _, ok := m.Value.(*model.Instance); !ok {
				return followErr(m)
			}
		}
		if old := s.instances[m.Key]; old != nil {
			s.unindexInstance(old)
			s.staleInstance(old)
		}
	}
	s.instGen++ // instanceIn forgets what it remembers
	for _, m := range ms {
		if m.Delete {
			delete(s.instances, m.Key)
			continue
		}
		i := m.Value.(*model.Instance)
		if s.instances[i.GUID] == nil && !i.Shared {
			// A new request: recent demand, as restoreArrivals counts it.
			s.followArrival(i.CreatedAt)
		}
		s.instances[i.GUID] = i
	}
	for _, m := range ms {
		if m.Delete {
			continue
		}
		i := s.instances[m.Key]
		s.addToIndexes(i)
		s.staleInstance(i)
	}
	return nil
}

// unindexInstance undoes indexInstance and the pending queue's add.
func (s *State) unindexInstance(i *model.Instance) {
	if i.RequestedState != model.StateDestroyed && s.byKey[keyOf(i)] == i.GUID {
		delete(s.byKey, keyOf(i))
	}
	if live(i) {
		s.charge(i, -1)
	}
	if !i.Freed {
		s.removeFromTree(treeOf(i), i.GUID)
	}
	if i.Shared && i.HostGUID != "" && s.hosted[i.HostGUID] != nil {
		delete(s.hosted[i.HostGUID], i.GUID)
		if len(s.hosted[i.HostGUID]) == 0 {
			delete(s.hosted, i.HostGUID)
		}
	}
	s.pending.remove(i)
}

// followOther applies the kinds without indexes beyond their own map.
func (s *State) followOther(m Mutation) error {
	switch m.Kind {
	case KindMeta:
		switch v := m.Value.(type) {
		case meta:
			s.meta = v
		case *meta:
			s.meta = *v
		default:
			if !m.Delete {
				return followErr(m)
			}
		}
	case KindPerson:
		if m.Delete {
			delete(s.persons, m.Key)
		} else if v, ok := m.Value.(*model.Person); ok {
			s.persons[v.ID] = v
		} else {
			return followErr(m)
		}
	case KindMovement:
		at, found := slices.BinarySearchFunc(s.movements, m.Key, func(mv *account.Movement, id string) int { return compareGUID(mv.ID, id) })
		switch v, ok := m.Value.(*account.Movement); {
		case m.Delete:
			if found {
				s.movements = slices.Delete(s.movements, at, at+1)
			}
		case !ok:
			return followErr(m)
		case found:
			s.movements[at] = v
		default:
			s.movements = slices.Insert(s.movements, at, v)
		}
	case KindJournal:
		if m.Delete {
			delete(s.journals, m.Key)
		} else if v, ok := m.Value.(*journalRecord); ok {
			s.journals[v.Ref] = true
		} else {
			return followErr(m)
		}
	case KindRevocation:
		if m.Delete {
			delete(s.revoked, m.Key)
		} else if v, ok := m.Value.(*Revocation); ok {
			if s.revoked == nil {
				s.revoked = map[string]*Revocation{}
			}
			s.revoked[v.key()] = v
		} else {
			return followErr(m)
		}
	case KindCredential:
		if m.Delete {
			delete(s.creds, m.Key)
		} else if v, ok := m.Value.(*Credential); ok {
			s.creds[credKey(v.Identity)] = v
		} else {
			return followErr(m)
		}
	case KindIdempotency:
		s.removeIdempotency(m.Key)
		if !m.Delete {
			v, ok := m.Value.(*IdempotencyRecord)
			if !ok {
				return followErr(m)
			}
			s.addIdempotency(v)
		}
	case KindEvents:
		delete(s.events, m.Key)
		if !m.Delete {
			v, ok := m.Value.(*eventHistory)
			if !ok {
				return followErr(m)
			}
			s.restoreEvents(v)
		}
	case KindUpgrade:
		if m.Delete {
			s.destroyTimes = nil
		} else if v, ok := m.Value.(*DestructionTimes); ok {
			s.destroyTimes = v
		} else {
			return followErr(m)
		}
	default:
		return fmt.Errorf("master: following the log: entity %s %q has unknown kind", m.Kind, m.Key)
	}
	return nil
}
