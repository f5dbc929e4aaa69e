package master

import (
	"maps"
	"slices"

	"github.com/slapgo/slapgo/core/model"
)

// viewCache holds a computer's rendered partitions, so that a view after a
// change renders only the partitions the change touched.
//
// Invariant: when parts is not nil, it is aligned with computerState.parts
// and each entry not named in stale equals what renderPartition would give
// now. Every change to what a partition view shows is recorded as a
// mutation (record* in state.go), and recording marks the partition stale;
// a change to the list of partitions drops parts.
//
// NB: parts is shared with the views already returned; it is never modified
// in place (a view with stale entries gets a new slice) unless
// Config.ViewReplacesPrevious says the previous view is no longer read.
type viewCache struct {
	parts []model.PartitionView
	stale []string // partition ids, possibly repeated
}

// staleInstance marks the partition view that shows an instance: its own
// partition, or its host's for a shared instance.
func (s *State) staleInstance(i *model.Instance) {
	if i.Shared {
		if h := s.instances[i.HostGUID]; h != nil {
			s.stalePartition(h.ComputerID, h.PartitionID)
		}
		return
	}
	s.stalePartition(i.ComputerID, i.PartitionID)
}

// stalePartition marks one partition view to render again.
func (s *State) stalePartition(computerID, partitionID string) {
	if partitionID == "" {
		return
	}
	cs := s.computers[computerID]
	switch {
	case cs == nil || cs.view.parts == nil:
	case len(cs.view.stale) >= len(cs.view.parts):
		// A computer not read for long: render it all when it is.
		resetView(cs)
	default:
		cs.view.stale = append(cs.view.stale, partitionID)
	}
}

// resetView drops a computer's rendered partitions (its partition list
// changed).
func resetView(cs *computerState) { cs.view = viewCache{} }

// renderedPartitions returns a computer's partition views, natural order,
// rendering only what changed since the last call.
func (s *State) renderedPartitions(cs *computerState) []model.PartitionView {
	vc := &cs.view
	if vc.parts == nil || len(vc.parts) != len(cs.parts) {
		vc.parts = make([]model.PartitionView, len(cs.parts))
		for n, p := range cs.parts {
			s.renderPartition(&vc.parts[n], p)
		}
		vc.stale = vc.stale[:0]
		return vc.parts
	}
	if len(vc.stale) == 0 {
		return vc.parts
	}
	parts := vc.parts
	if !s.cfg.ViewReplacesPrevious {
		parts = slices.Clone(parts)
	}
	for _, id := range vc.stale {
		if n, found := partitionAt(cs.parts, id); found {
			s.renderPartition(&parts[n], cs.parts[n])
		}
	}
	vc.parts, vc.stale = parts, vc.stale[:0]
	return parts
}

// partitionAt finds a partition in parts (natural order): slappartN is
// at N when the partitions are numbered from 0 without a gap, as a node
// formats them.
func partitionAt(parts []*model.Partition, id string) (int, bool) {
	if n, ok := partitionNumber(id); ok && n < len(parts) && parts[n].ID == id {
		return n, true
	}
	return slices.BinarySearchFunc(parts, id, func(p *model.Partition, id string) int {
		return model.ComparePartitionIDs(p.ID, id)
	})
}

// renderPartition writes what a partition must be.
func (s *State) renderPartition(pv *model.PartitionView, p *model.Partition) {
	*pv = model.PartitionView{ID: p.ID, Addresses: p.Addresses, RequestedState: model.StateDestroyed}
	if p.InstanceGUID == "" {
		return // free: no instance has the guid "" (no lookup)
	}
	inst := s.instances[p.InstanceGUID]
	if inst == nil {
		return
	}
	pv.RequestedState = inst.RequestedState
	pv.InstanceGUID = inst.GUID
	pv.Title = inst.Title
	pv.RootTitle = inst.TreeTitle()
	pv.SoftwareRelease = inst.SoftwareRelease
	pv.SoftwareType = inst.SoftwareType
	pv.Parameters = inst.Parameters
	if !inst.SLA.IsZero() {
		pv.SLA = s.slaRaws.raw(inst.SLA)
	}
	pv.Version = inst.Version
	if h := s.hosted[inst.GUID]; len(h) > 0 {
		for _, g := range slices.SortedFunc(maps.Keys(h), compareGUID) {
			sh := s.instances[g]
			pv.SharedInstances = append(pv.SharedInstances, model.SharedView{
				GUID: sh.GUID, Title: sh.Title, SoftwareType: sh.SoftwareType,
				Parameters: sh.Parameters, State: sh.RequestedState})
		}
	}
}
