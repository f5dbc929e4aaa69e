package master

import (
	"slices"
	"sort"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/market"
	"github.com/slapgo/slapgo/core/model"
)

// DefaultDemandWindow is how far back the price policy counts requests
// for its recent demand when Config.DemandWindow is 0.
const DefaultDemandWindow = time.Hour

// demandWindow is Config.DemandWindow or its default.
func (s *State) demandWindow() time.Duration {
	if s.cfg.DemandWindow > 0 {
		return s.cfg.DemandWindow
	}
	return DefaultDemandWindow
}

// noteArrival counts a request for a new instance that needs a partition
// in the recent demand the price policy reads (kept only with a policy).
func (s *State) noteArrival(at time.Time) {
	if s.cfg.Pricing == nil {
		return
	}
	s.arrivals = append(s.arrivals, at)
	s.forgetArrivals(at)
}

// followArrival counts a request another master accepted (a follower
// reading the log), in time order, so that a follower promoted to leader
// quotes what its predecessor would have.
func (s *State) followArrival(at time.Time) {
	if s.cfg.Pricing == nil {
		return
	}
	i, _ := slices.BinarySearchFunc(s.arrivals, at, time.Time.Compare)
	s.arrivals = slices.Insert(s.arrivals, i, at)
	s.forgetArrivals(s.arrivals[len(s.arrivals)-1])
}

// forgetArrivals drops the arrivals out of the demand window at now.
func (s *State) forgetArrivals(now time.Time) {
	cut := now.Add(-s.demandWindow())
	// NB: arrivals are in time order.
	if head := sort.Search(len(s.arrivals), func(i int) bool { return s.arrivals[i].After(cut) }); head > 0 {
		s.arrivals = slices.Delete(s.arrivals, 0, head)
	}
}

// MarketState is what the price policy reads of the grid at now: the free
// and busy partitions of the computers open to allocation (every scope but
// closed, and online when Config.OnlineWithin is set) in region ("" = the
// whole grid), the requests waiting for a partition, and the requests for
// new instances over Config.DemandWindow, per hour. The master holds no
// request back (Held is 0).
func (s *State) MarketState(now time.Time, region string) market.State {
	var st market.State
	for _, c := range s.cands {
		if c.Scope == model.ScopeClosed || (region != "" && c.Region != region) {
			continue
		}
		if s.cfg.OnlineWithin > 0 && now.Sub(c.LastContact) > s.cfg.OnlineWithin {
			continue
		}
		st.Free += c.Free
		st.Busy += c.Total - c.Free
	}
	st.Pending = len(s.pending.alloc)
	s.forgetArrivals(now)
	st.RecentDemand = float64(len(s.arrivals)) / s.demandWindow().Hours()
	return st
}

// quote is the price factor the grid's price policy asks for inst placed
// now: 0 (the list price) without a policy, else the policy's value for
// the grid's state in the region the instance's SLA names.
func (s *State) quote(now time.Time, inst *model.Instance) float64 {
	if s.cfg.Pricing == nil {
		return 0
	}
	st := s.MarketState(now, inst.SLA.Region)
	if s.pending.has(inst.GUID) {
		st.Pending-- // the others waiting compete with it (its request counts as demand)
	}
	return s.cfg.Pricing.Value(st)
}

// priceHosting prices a hosting movement of inst on its computer at the
// factor quoted when it was placed (the list price without one).
func (s *State) priceHosting(m account.Movement, inst *model.Instance) account.Movement {
	cs := s.computers[inst.ComputerID]
	if cs == nil {
		return m
	}
	f := inst.PriceFactor
	if f == 0 {
		f = 1
	}
	return account.PriceAt(m, cs.c.Prices, cs.c.Currency, f)
}

// restoreArrivals rebuilds the recent demand from the instances' creation
// times, so that a restarted master quotes what it would have quoted.
func (s *State) restoreArrivals(insts []*model.Instance) {
	if s.cfg.Pricing == nil {
		return
	}
	var last time.Time
	for _, i := range insts {
		if i.CreatedAt.After(last) {
			last = i.CreatedAt
		}
	}
	cut := last.Add(-s.demandWindow())
	for _, i := range insts {
		if !i.Shared && i.CreatedAt.After(cut) {
			s.arrivals = append(s.arrivals, i.CreatedAt)
		}
	}
	slices.SortFunc(s.arrivals, time.Time.Compare)
}
