package master

import (
	"iter"

	"github.com/slapgo/slapgo/core/model"
)

// Placement is where an instance stands, as Instance reports it: its
// Status and, allocated, its computer and partition.
type Placement struct {
	Status, ComputerID, PartitionID string
}

// Placements yields the guid and placement of every instance, shared ones
// included, in no particular order. It walks the instances once: a checker
// of the whole grid pays neither a lookup nor an InstanceInfo per instance.
// It is an administrator's read.
func (s *State) Placements() iter.Seq2[string, Placement] {
	return func(yield func(string, Placement) bool) {
		for g, i := range s.instances {
			if !yield(g, Placement{Status: status(i), ComputerID: i.ComputerID, PartitionID: i.PartitionID}) {
				return
			}
		}
	}
}

// Holding is a partition's occupancy, as Partitions reports it.
type Holding struct {
	ID           string
	Status       model.PartitionStatus
	InstanceGUID string
}

// Holdings yields the occupancy of each partition of a computer, in natural
// order, as Partitions lists them but without copying them.
func (s *State) Holdings(computerID string) iter.Seq[Holding] {
	return func(yield func(Holding) bool) {
		if cs := s.computers[computerID]; cs != nil {
			for _, p := range cs.parts {
				if !yield(Holding{p.ID, p.Status, p.InstanceGUID}) {
					return
				}
			}
		}
	}
}
