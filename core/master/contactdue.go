package master

import "time"

// ContactDueFrom is the moment from which ContactDue(computerID, t) holds
// for every t, as long as the computer's recorded contact stays (a later
// contact only moves it later): a shell that polls often (the simulator)
// keeps it and asks ContactDue only once it is reached. False for a
// computer not registered.
func (s *State) ContactDueFrom(computerID string) (time.Time, bool) {
	cs := s.computers[computerID]
	if cs == nil {
		return time.Time{}, false
	}
	// NB: offline implies the other condition of ContactDue: contactEvery
	// is at most OnlineWithin.
	return cs.lastContact.Add(s.contactEvery()), true
}
