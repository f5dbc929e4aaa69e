package sim

import (
	"math/rand/v2"
	"time"

	"github.com/slapgo/slapgo/core/market"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/sim/scenario"
)

// marketState is the simulator's market model: the policies of
// core/market it applies (provisioning delay, price), the counts they
// read, and the ledgers of the objectives (provider costs, downtime,
// requesters' value and waiting).
//
// NB the price a policy quotes is the factor of the computer's list price
// an instance is charged while it runs (inst.factor); the simulated
// master runs without core/master's Config.Pricing, so its invoices stay
// at the list price, and with a price policy the objectives' revenue, not
// economics.invoiced_total, is what providers earned.
type marketState struct {
	delay *market.Curve // nil: the constant master.provisioning_delay
	price *market.Curve // nil: the list price
	// group of each node, and per group: partitions, busy partitions,
	// in service (open to allocation).
	groupOf           []int32
	gParts, gBusy     []int
	gOpen             []bool
	regionOf          []string // per group
	regionSLA         map[string]map[string]string
	regionOrder       []string           // regions in scenario order
	listPrice         map[string]float64 // region ("" = grid) -> mean list price, EUR/h
	arrivals          []int64            // arrival times within the demand window
	arrHead           int
	runOn             []int32 // started instances per node
	busy, open, nodes integrator
	running           integrator // started instances
	busyN             int        // busy partitions
	down              integrator // started instances on computers that are down
	pricedOut         uint64
	quoted            integrator // level: sum of running instances' price factors
	rMarket           *rand.Rand
}

func (s *engine) setupMarket() {
	mk := &s.mk
	sc := s.sc
	if dp := sc.Master.DelayPolicy; dp != nil {
		c := dp.Curve()
		mk.delay = &c
	}
	if pp := sc.Economics.Market.Pricing; pp != nil {
		c := pp.Curve()
		mk.price = &c
	}
	mk.rMarket = Stream(s.opts.Seed, "market")
	mk.gParts = make([]int, len(sc.Nodes))
	mk.gBusy = make([]int, len(sc.Nodes))
	mk.gOpen = make([]bool, len(sc.Nodes))
	mk.regionOf = make([]string, len(sc.Nodes))
	mk.regionSLA = map[string]map[string]string{}
	sums, counts := map[string]float64{}, map[string]int{}
	for gi := range sc.Nodes {
		g := &sc.Nodes[gi]
		mk.gParts[gi] = g.Count * g.Partitions
		mk.regionOf[gi] = g.Region
		if _, ok := mk.regionSLA[g.Region]; !ok {
			mk.regionSLA[g.Region] = map[string]string{"region": g.Region}
			mk.regionOrder = append(mk.regionOrder, g.Region)
		}
	}
	for _, n := range s.nodes {
		gi := mk.groupOf[n.idx]
		for _, k := range []string{"", mk.regionOf[gi]} {
			sums[k] += n.hourly
			counts[k]++
		}
	}
	mk.listPrice = map[string]float64{}
	for k, v := range sums {
		mk.listPrice[k] = v / float64(counts[k])
	}
	mk.runOn = make([]int32, len(s.nodes))
	for gi := range sc.Nodes {
		g := &sc.Nodes[gi]
		if g.JoinAt == 0 && g.Scope != string(model.ScopeClosed) {
			s.setInService(int32(gi), true)
		} else if g.JoinAt > 0 {
			s.schedule(evJoin, int64(g.JoinAt), -1, int32(gi))
		}
		if g.RetireAt > 0 {
			s.schedule(evRetire, int64(g.RetireAt), -1, int32(gi))
		}
	}
}

// setInService opens (or closes) a group's computers to allocation
// through core/master, as their provider would, and counts their capacity
// (and capex) from now on.
func (s *engine) setInService(gi int32, on bool) {
	mk := &s.mk
	if mk.gOpen[gi] == on {
		return
	}
	g := &s.sc.Nodes[gi]
	if s.now > 0 || !on {
		scope := model.ScopeOpen
		if !on {
			scope = model.ScopeClosed
		}
		owner := s.persons[s.provider[g.Name]]
		for k := 1; k <= g.Count; k++ {
			s.apply(master.UpdateComputer{By: owner.actor, ComputerID: scenario.ComputerID(g.Name, k), Scope: &scope})
		}
	}
	mk.gOpen[gi] = on
	d := 1.0
	if !on {
		d = -1
	}
	mk.open.add(s.now, d*float64(mk.gParts[gi]))
	mk.nodes.add(s.now, d*float64(g.Count))
}

// state is what the policies read: the open partitions of a region's
// groups ("" = the whole grid), the requests pending and held, the recent
// arrival rate.
func (s *engine) marketState(region string) market.State {
	mk := &s.mk
	var st market.State
	for gi, open := range mk.gOpen {
		if open && (region == "" || mk.regionOf[gi] == region) {
			st.Busy += mk.gBusy[gi]
			st.Free += mk.gParts[gi] - mk.gBusy[gi]
		}
	}
	st.Free = max(st.Free, 0)
	st.Pending = s.m.PendingCount()
	st.Held = s.held
	win := int64(s.sc.Economics.Market.DemandWindowOrDefault())
	for mk.arrHead < len(mk.arrivals) && mk.arrivals[mk.arrHead] <= s.now-win {
		mk.arrHead++
	}
	if mk.arrHead > 1024 && mk.arrHead > len(mk.arrivals)/2 {
		mk.arrivals = append(mk.arrivals[:0], mk.arrivals[mk.arrHead:]...)
		mk.arrHead = 0
	}
	st.RecentDemand = float64(len(mk.arrivals)-mk.arrHead) / time.Duration(win).Hours()
	return st
}

// provisioningDelay is the delay of a request for a new instance made now.
func (s *engine) provisioningDelay() time.Duration {
	if s.mk.delay == nil {
		return s.sc.Master.ProvisioningDelay.D()
	}
	return s.mk.delay.Delay(s.marketState(""))
}

// quote is the price factor for a request made now in region ("" = the
// grid).
func (s *engine) quote(region string) float64 {
	if s.mk.price == nil {
		return 1
	}
	return s.mk.price.Value(s.marketState(region))
}

// marketDemand applies the requesters' side of the market to a new
// demand: the choice of provider, the quote, the budget and elasticity.
// It returns the SLA to request with, the price factor, and false when the
// requester does not ask at that price.
func (s *engine) marketDemand(sla map[string]string) (map[string]string, float64, bool) {
	mk := &s.mk
	m := &s.sc.Economics.Market
	mk.arrivals = append(mk.arrivals, s.now)
	region := sla["region"]
	if m.ChooseProvider && len(sla) == 0 && len(mk.regionOrder) > 1 {
		best, bestPrice := "", 0.0
		for _, r := range mk.regionOrder {
			if p := s.quote(r) * mk.listPrice[r]; best == "" || p < bestPrice {
				best, bestPrice = r, p
			}
		}
		region, sla = best, mk.regionSLA[best]
	}
	if mk.price == nil && m.MaxPrice == 0 {
		return sla, 1, true
	}
	f := s.quote(region)
	if m.MaxPrice > 0 && f*mk.listPrice[region] > m.MaxPrice {
		return sla, f, false
	}
	if m.Elasticity > 0 && mk.rMarket.Float64() >= market.Take(m.Elasticity, f) {
		return sla, f, false
	}
	return sla, f, true
}

// busyChanged follows a partition taken (+1) or freed (−1) on node ni.
func (s *engine) busyChanged(ni int32, d int) {
	if ni < 0 || int(ni) >= len(s.mk.groupOf) {
		return
	}
	s.mk.busyN += d
	s.mk.gBusy[s.mk.groupOf[ni]] += d
	s.mk.busy.add(s.now, float64(d))
}

// runningChanged follows the hosting of an instance on node ni starting
// (+1) or stopping (−1), for the downtime ledger.
func (s *engine) runningChanged(ni int32, d int, factor float64) {
	if ni < 0 || len(s.mk.runOn) == 0 {
		return
	}
	s.mk.runOn[ni] += int32(d)
	s.mk.quoted.add(s.now, float64(d)*factor)
	s.mk.running.add(s.now, float64(d))
	if !s.nodes[ni].up {
		s.mk.down.add(s.now, float64(d))
	}
}

// nodeUpChanged follows a computer going down or coming back.
func (s *engine) nodeUpChanged(n *node, up bool) {
	if len(s.mk.runOn) == 0 {
		return
	}
	d := float64(s.mk.runOn[n.idx])
	if up {
		d = -d
	}
	s.mk.down.add(s.now, d)
}

// Objectives are the declared objectives of a run, for every party, in
// EUR (rates in EUR/h). Welfare counts what requesters got (value of
// their running instances) minus what they paid (hosting and speculators'
// premium), their waiting and their unserved needs.
type Objectives struct {
	ProviderRevenue float64 `json:"provider_revenue_eur"`
	ProviderCapex   float64 `json:"provider_capex_eur"`
	ProviderEnergy  float64 `json:"provider_energy_eur"`
	ProviderIdle    float64 `json:"provider_idle_eur"`
	SLAPenalties    float64 `json:"sla_penalties_eur"`
	ProviderProfit  float64 `json:"provider_profit_eur"`

	RequesterValue   float64 `json:"requester_value_eur"`
	RequesterPaid    float64 `json:"requester_paid_eur"`
	WaitingCost      float64 `json:"requester_waiting_eur"`
	AbandonedCost    float64 `json:"requester_abandoned_eur"`
	RequesterWelfare float64 `json:"requester_welfare_eur"`

	SpeculatorProfit float64 `json:"speculator_profit_eur"`
	TotalSurplus     float64 `json:"total_surplus_eur"`

	// Utilisation: busy over open partition-hours (time-weighted, exact).
	Utilisation float64 `json:"utilisation"`
	// TimeToService p50 and p95: from a request to its instance running
	// (seconds), over the demands served during the run.
	ServiceP50 float64 `json:"time_to_service_p50_s"`
	ServiceP95 float64 `json:"time_to_service_p95_s"`
	// AbandonedShare: needs that went unserved (abandoned after patience,
	// or not asked at the quoted price) over the needs of the run.
	AbandonedShare float64 `json:"abandoned_share"`
	PricedOut      uint64  `json:"priced_out"`
	// MeanPriceFactor: the mean price factor of running instances
	// (time-weighted); DowntimeHours: started partition-hours on computers
	// that were down; NodeHours: computer-hours in service.
	MeanPriceFactor float64 `json:"mean_price_factor"`
	DowntimeHours   float64 `json:"downtime_partition_hours"`
	NodeHours       float64 `json:"node_hours"`
}

// ObjectiveColumns name the objectives in the order of Objectives.Row.
var ObjectiveColumns = []string{"provider_profit_eur", "provider_revenue_eur", "requester_welfare_eur",
	"speculator_profit_eur", "total_surplus_eur", "utilisation", "time_to_service_p50_s",
	"time_to_service_p95_s", "abandoned_share", "sla_penalties_eur", "mean_price_factor"}

// Row is the objectives in ObjectiveColumns order.
func (o *Objectives) Row() []float64 {
	return []float64{o.ProviderProfit, o.ProviderRevenue, o.RequesterWelfare, o.SpeculatorProfit, o.TotalSurplus,
		o.Utilisation, o.ServiceP50, o.ServiceP95, o.AbandonedShare, o.SLAPenalties, o.MeanPriceFactor}
}

// objectives closes the market's books at the end of the run.
func (s *engine) objectives(sum *Summary) Objectives {
	mk := &s.mk
	m := &s.sc.Economics.Market
	var o Objectives
	paidBy := 0.0
	for _, p := range s.persons {
		switch p.kind {
		case personHonest:
			paidBy += p.spend.at(s.now)
			o.ProviderRevenue += p.spend.at(s.now)
		case personSpeculator:
			o.ProviderRevenue += p.spend.at(s.now)
		}
	}
	busyH, openH := mk.busy.at(s.now), mk.open.at(s.now)
	o.NodeHours = mk.nodes.at(s.now)
	o.ProviderCapex = m.CapexPerNode * o.NodeHours / m.AmortisationOrDefault().Hours()
	o.ProviderEnergy = m.EnergyPerPartitionHour * busyH
	o.ProviderIdle = m.IdlePerPartitionHour * max(openH-busyH, 0)
	o.DowntimeHours = mk.down.at(s.now)
	o.SLAPenalties = m.SLAPenaltyPerHour * o.DowntimeHours
	o.ProviderProfit = o.ProviderRevenue - o.ProviderCapex - o.ProviderEnergy - o.ProviderIdle - o.SLAPenalties

	servedH, waitH := 0.0, 0.0
	unserved := mk.pricedOut + s.stats.Abandoned
	for _, d := range s.demands {
		switch {
		case d.servedAt >= 0:
			end := s.now
			if d.endedAt >= 0 {
				end = d.endedAt
			}
			servedH += float64(max(end-d.servedAt, 0)) / float64(time.Hour)
			waitH += float64(d.servedAt-d.arrivedAt) / float64(time.Hour)
		case d.priced:
		case d.endedAt >= 0:
			waitH += float64(d.endedAt-d.arrivedAt) / float64(time.Hour)
		case !d.done:
			waitH += float64(s.now-d.arrivedAt) / float64(time.Hour)
		}
	}
	o.RequesterValue = m.ValuePerHour * servedH
	o.RequesterPaid = paidBy + s.stats.ResalePremium
	o.WaitingCost = m.WaitingCostPerHour * waitH
	o.AbandonedCost = m.AbandonCost * float64(unserved)
	o.RequesterWelfare = o.RequesterValue - o.RequesterPaid - o.WaitingCost - o.AbandonedCost
	if sp := sum.Speculation; sp != nil {
		o.SpeculatorProfit = sp.Profit
	}
	o.TotalSurplus = o.ProviderProfit + o.RequesterWelfare + o.SpeculatorProfit
	if openH > 0 {
		o.Utilisation = busyH / openH
	}
	o.ServiceP50, o.ServiceP95 = sum.Placements.ServiceTime.P50, sum.Placements.ServiceTime.P95
	if s.stats.Demands > 0 {
		o.AbandonedShare = float64(unserved) / float64(s.stats.Demands)
	}
	o.PricedOut = mk.pricedOut
	if h := mk.running.at(s.now); h > 0 {
		o.MeanPriceFactor = mk.quoted.at(s.now) / h
	}
	for _, p := range []*float64{&o.ProviderRevenue, &o.ProviderCapex, &o.ProviderEnergy, &o.ProviderIdle,
		&o.SLAPenalties, &o.ProviderProfit, &o.RequesterValue, &o.RequesterPaid, &o.WaitingCost, &o.AbandonedCost,
		&o.RequesterWelfare, &o.SpeculatorProfit, &o.TotalSurplus, &o.Utilisation, &o.AbandonedShare,
		&o.MeanPriceFactor, &o.DowntimeHours, &o.NodeHours} {
		*p = round6(*p)
	}
	return o
}

// joinScope is the scope a group's computers register with: closed until
// they join, when they join later.
func joinScope(g *scenario.NodeGroup) model.Scope {
	if g.JoinAt > 0 {
		return model.ScopeClosed
	}
	return model.Scope(g.Scope)
}
