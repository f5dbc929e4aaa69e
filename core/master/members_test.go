package master

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMembersIsASet: random additions and removals give the same members
// as a plain map, through the one-member form and the map form.
func TestMembersIsASet(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 4))
	guids := []string{"SOFTINST-1", "SOFTINST-2", "SOFTINST-3"}
	for run := range 200 {
		s := &State{trees: map[instKey]members{}}
		tree := instKey{"alice", "root", ""}
		want := map[string]bool{}
		for step := range 12 {
			g := guids[rng.IntN(len(guids))]
			if rng.IntN(2) == 0 {
				s.addToTree(tree, g)
				want[g] = true
			} else {
				s.removeFromTree(tree, g)
				delete(want, g)
			}
			m, ok := s.trees[tree]
			if got := slices.Sorted(m.all()); !slices.Equal(got, slices.Sorted(maps.Keys(want))) || m.len() != len(want) {
				t.Fatalf("run %d step %d: members %v (len %d), want %v", run, step, got, m.len(), slices.Sorted(maps.Keys(want)))
			}
			if ok != (len(want) > 0) {
				t.Fatalf("run %d step %d: tree present %v with %d members", run, step, ok, len(want))
			}
		}
	}
}
