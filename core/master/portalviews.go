package master

import (
	"maps"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
)

// ComputerSummary is a computer with its partition counts, as its owner or
// the admin sees it in a list.
type ComputerSummary struct {
	Computer model.Computer
	Free     int
	Total    int
}

// ComputerSummaries lists the computers a caller may see (as Computers)
// with their free and total partitions, sorted by id. It costs no copy of
// the partitions.
func (s *State) ComputerSummaries(a model.Actor) []ComputerSummary {
	var out []ComputerSummary
	for _, cd := range s.cands {
		cs := s.computers[cd.ID]
		if s.canSeeComputer(a, cs) {
			out = append(out, ComputerSummary{Computer: *cs.c, Free: cd.Free, Total: cd.Total})
		}
	}
	return out
}

// UsagePoint is what a computer's partitions used in one period: the
// quantity of each resource (hosting in hours, reported usage in its unit),
// counted in the period where a movement starts.
type UsagePoint struct {
	Start      time.Time
	Quantities map[string]float64
}

// ComputerUsage returns the usage of a computer in steps of step from
// start to end (hosting still running is counted up to now). Only the
// computer's owner and the admin may read it.
func (s *State) ComputerUsage(a model.Actor, computerID string, start, end, now time.Time, step time.Duration) ([]UsagePoint, error) {
	cs := s.computers[computerID]
	if cs == nil || !s.canSeeComputer(a, cs) || a.Kind == model.KindComputer {
		return nil, notFoundf("computer %s is not registered", computerID)
	}
	if step <= 0 || !end.After(start) {
		return nil, invalidf("usage period %s..%s in steps of %s is empty", start.Format(time.RFC3339), end.Format(time.RFC3339), step)
	}
	n := int((end.Sub(start) + step - 1) / step)
	if n > 1000 {
		return nil, invalidf("usage period %s..%s in steps of %s makes %d points, more than 1000", start.Format(time.RFC3339), end.Format(time.RFC3339), step, n)
	}
	out := make([]UsagePoint, n)
	for i := range out {
		out[i] = UsagePoint{Start: start.Add(time.Duration(i) * step), Quantities: map[string]float64{}}
	}
	add := func(m account.Movement) {
		if m.ComputerID != computerID || m.Start.Before(start) || !m.Start.Before(end) {
			return
		}
		out[int(m.Start.Sub(start)/step)].Quantities[m.Resource] += m.Quantity
	}
	for _, m := range s.movements {
		add(m)
	}
	for _, p := range cs.parts {
		if p.InstanceGUID == "" {
			continue
		}
		if i := s.instances[p.InstanceGUID]; i != nil && !i.StartedAt.IsZero() && now.After(i.StartedAt) {
			add(account.HostingMovement(i, i.StartedAt, now))
		}
	}
	return out, nil
}

// UsageResources lists the resources present in points, sorted.
func UsageResources(points []UsagePoint) []string {
	set := map[string]bool{}
	for _, p := range points {
		for r := range p.Quantities {
			set[r] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}
