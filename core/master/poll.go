package master

import "time"

// Poll reads a computer's record as its polls do, for a shell that polls
// often (the simulator): ViewVersion and ContactDue of the computer, at
// no lookup of it. State.Poll gives it; it reads the State that gave it,
// and only while the computer stays registered there (Of says so): get
// another one when Of is false.
//
// NB: a Poll is read from the goroutine that owns the State, as the
// State's own methods.
type Poll struct {
	s  *State
	cs *computerState
}

// Poll returns the poll record of a computer; false for a computer not
// registered.
func (s *State) Poll(computerID string) (Poll, bool) {
	cs := s.computers[computerID]
	if cs == nil {
		return Poll{}, false
	}
	return Poll{s: s, cs: cs}, true
}

// Of reports whether p reads its computer's record in s: false for the
// zero Poll, one from another State (a master restarted from its log),
// and once the computer is destroyed (or a follower forgot it), even if
// one with the same id registered since.
func (p Poll) Of(s *State) bool { return p.cs != nil && p.s == s && !p.cs.dropped }

// ViewVersion is State.ViewVersion of the computer.
func (p Poll) ViewVersion() uint64 { return p.cs.viewVersion }

// ContactDue is State.ContactDue of the computer.
func (p Poll) ContactDue(now time.Time) bool { return p.s.contactDue(p.cs, now) }
