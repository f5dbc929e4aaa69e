package master

import (
	"maps"
	"time"
)

// Seed applies cmds in order at now, as Apply would one after the other,
// for a caller that persists no mutation: the simulator's warm start, a
// grid loaded for a test or a benchmark. A caller that persists writes
// Snapshot() afterwards.
//
// After command k it calls each with the command's result or error (as
// Apply's) and what it changed of instances and partitions, compacted as
// Compact does. NB: unlike Apply's mutations, those Values are the live
// entities, not copies: each may read them during its call only, and
// must not modify them; the other mutations are left out. The same goes
// for the Result's Instance and Computer (see
// Config.MutationsShareEntities). each must not apply commands to the
// state itself.
//
// Seed owns the maps of cmds: the caller must not change them afterwards.
//
// It saves what only a command to persist needs: the copy of every
// entity recorded and of its commands' maps, and the growth of the
// indexes, sized once for the instances the batch's requests may create.
func (s *State) Seed(now time.Time, cmds []Command, each func(k int, res Result, changed []Mutation, err error)) {
	s.reserve(cmds)
	s.seeding = true
	defer func() { s.seeding = false }()
	var changed []Mutation
	for k, cmd := range cmds {
		res, err := s.applyOne(now, cmd)
		changed = changed[:0]
		if err == nil {
			changed = compactTo(changed, s.muts)
			res.Changed = res.Changed || len(changed) > 0
			kept := changed[:0]
			for _, m := range changed {
				if m.Kind == KindInstance || m.Kind == KindPartition {
					kept = append(kept, m)
				}
			}
			changed = kept
		}
		clear(s.muts) // no live entity stays referenced
		s.muts = s.muts[:0]
		each(k, res, changed, err)
	}
}

// keep is the map a command hands to the state: a copy, as the caller
// may change its own, but in a Seed, which owns its commands' maps.
func (s *State) keep(m map[string]string) map[string]string {
	if s.seeding {
		return m
	}
	return maps.Clone(m)
}

// keepParameters is keep for a Request's parameters (see
// Config.RequestParametersHandedOver).
func (s *State) keepParameters(m map[string]string) map[string]string {
	if s.cfg.RequestParametersHandedOver {
		return m
	}
	return s.keep(m)
}

// reserve sizes the instance indexes for the instances the requests among
// cmds may create.
func (s *State) reserve(cmds []Command) {
	n := 0
	for _, c := range cmds {
		if _, ok := c.(Request); ok {
			n++
		}
	}
	if n == 0 || n < len(s.instances) {
		return // growing by at most twice: the maps grow alone as fast
	}
	s.instances = grown(s.instances, n)
	s.byKey = grown(s.byKey, n)
	s.trees = grown(s.trees, n)
}

// grown returns m with room for n more entries.
func grown[K comparable, V any](m map[K]V, n int) map[K]V {
	g := make(map[K]V, len(m)+n)
	maps.Copy(g, m)
	return g
}
