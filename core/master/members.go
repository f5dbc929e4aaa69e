package master

import "iter"

// members is the set of guids of an instance tree's live members. NB: most
// trees are a root alone, so a set of one member holds no map: a large
// state then has a map per tree of several instances only.
//
// Invariant: when many is set, one is "" and many holds every member.
// Guids are never "".
type members struct {
	one  string
	many map[string]bool
}

// with returns the set with g added.
func (m members) with(g string) members {
	switch {
	case m.many != nil:
		m.many[g] = true
	case m.one == "" || m.one == g:
		m.one = g
	default:
		m = members{many: map[string]bool{m.one: true, g: true}}
	}
	return m
}

// without returns the set with g removed.
func (m members) without(g string) members {
	if m.many != nil {
		delete(m.many, g)
	} else if m.one == g {
		m.one = ""
	}
	return m
}

func (m members) len() int {
	if m.many != nil {
		return len(m.many)
	}
	if m.one != "" {
		return 1
	}
	return 0
}

// all yields the members in no particular order.
func (m members) all() iter.Seq[string] {
	return func(yield func(string) bool) {
		if m.many == nil {
			if m.one != "" {
				yield(m.one)
			}
			return
		}
		for g := range m.many {
			if !yield(g) {
				return
			}
		}
	}
}

// addToTree adds guid g to tree t.
func (s *State) addToTree(t instKey, g string) {
	s.trees[t] = s.trees[t].with(g)
}

// removeFromTree removes guid g from tree t, and the tree once empty.
func (s *State) removeFromTree(t instKey, g string) {
	m, ok := s.trees[t]
	if !ok {
		return
	}
	if m = m.without(g); m.len() == 0 {
		delete(s.trees, t)
	} else {
		s.trees[t] = m
	}
}
