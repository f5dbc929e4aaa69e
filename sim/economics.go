package sim

import (
	"math"
	"strconv"
	"time"
)

// speculator is an account that over-requests and hoards partitions to sell
// them, at a markup, to requesters the market leaves pending.
//
// What it sees is what a marketplace publishes: the free share of the grid
// (master.Capacity) and the requests pending at the master; with
// speculators.sees_queue, also the requests held by the provisioning delay
// (a shortage only for the part the free partitions will not cover).
// When it sees a shortage it orders units (new instances, subject to the
// provisioning delay like everyone's); when the shortage is gone it
// withdraws the orders not placed yet. Ready units are sold to the oldest
// pending requests of the same software; unsold units are released after
// hold_max. Each unit that ends settles a profit (resale income minus the
// hosting it paid, as invoiced by core/account's rule: started hours times
// the computer's price) and the speculator's aggressiveness follows it:
// ×(1+learning) after a profit, ×(1−learning) after a loss.
type speculator struct {
	person  int32
	alpha   float64
	units   []int32 // unit records not settled yet
	onOrder int     // ordered, not placed
	unsold  int     // placed, not sold
	sold    int     // sold, buyer still using it

	orders, cancelled, sales, released uint64
	income, cost                       float64
}

func (s *engine) speculate(j int32) {
	cfg := &s.sc.Economics.Speculators
	sp := s.specs[j]
	s.schedule(evSpeculate, s.now+int64(cfg.DecideEvery), -1, j)
	s.sellUnits(sp)
	// Release what waited too long.
	for _, ii := range sp.units {
		r := s.insts[ii]
		if r.demand < 0 && r.placedAt >= 0 && r.phase == phLive && s.now-r.placedAt >= int64(cfg.HoldMax) {
			sp.released++
			s.destroy(ii)
		}
	}
	// The shortage it reads from the market: requests pending at the
	// master, the share of the grid below the threshold and, when it sees
	// them, the held requests that the free partitions will not cover.
	free, busy := s.m.Capacity()
	shortage := float64(s.honestPend) + math.Max(0, float64(cfg.Threshold*float64(free+busy))-float64(free))
	if cfg.SeesQueue {
		shortage += math.Max(0, float64(s.heldHonest-free))
	}
	if shortage <= 0 {
		// No shortage: withdraw the orders not placed yet.
		for _, ii := range sp.units {
			r := s.insts[ii]
			if r.placedAt < 0 && (r.phase == phHeld || r.phase == phSent || r.phase == phLive) && !r.destroyAsked {
				sp.cancelled++
				s.destroy(ii)
			}
		}
		s.compactUnits(sp)
		return
	}
	target := int(math.Ceil(sp.alpha * shortage / float64(len(s.specs))))
	want := target - sp.onOrder - sp.unsold
	want = min(want, cfg.MaxStock-sp.onOrder-sp.unsold-sp.sold)
	if p := s.persons[sp.person]; cfg.Budget > 0 && want > 0 {
		unitCost := s.gridHourly * cfg.HoldMax.D().Hours()
		left := cfg.Budget - p.spend.at(s.now)
		if unitCost > 0 {
			want = min(want, int(left/unitCost))
		}
	}
	sw := int32(-1)
	for range max(want, 0) {
		if sw < 0 {
			sw = int32(s.mostWanted())
		}
		params := map[string]string{"user": s.persons[sp.person].id, "rev": "1"}
		ii := s.newInst(sp.person, kindSpec, sw, s.sc.Software[sw].Types[0], nil, params)
		s.insts[ii].spec = j
		sp.units = append(sp.units, ii)
		sp.onOrder++
		sp.orders++
		s.requestNew(ii)
	}
	s.compactUnits(sp)
}

// mostWanted is the software with the most requests pending at the
// master, or a draw by weight when none is.
func (s *engine) mostWanted() int {
	counts := make([]int, len(s.sc.Software))
	best := -1
	for _, di := range s.pendQ[s.pendHead:] {
		d := s.demands[di]
		if d.pending && !d.done {
			counts[d.sw]++
			if best < 0 || counts[d.sw] > counts[best] {
				best = int(d.sw)
			}
		}
	}
	if best >= 0 {
		return best
	}
	return s.pickSupplied(s.rSpec)
}

func (s *engine) compactUnits(sp *speculator) {
	k := 0
	for _, ii := range sp.units {
		if r := s.insts[ii]; r.phase != phGone && r.phase != phCancelled {
			sp.units[k] = ii
			k++
		}
	}
	sp.units = sp.units[:k]
}

// sellUnits sells the speculator's ready units to the oldest pending
// requests of their software (and region, when the request names one).
func (s *engine) sellUnits(sp *speculator) {
	if s.honestPend > 0 {
		// The pending requests, oldest first, gathered once.
		var queue []int32
		for _, di := range s.pendQ[s.pendHead:] {
			if d := s.demands[di]; d.pending && !d.done {
				queue = append(queue, di)
			}
		}
		for _, ii := range sp.units {
			r := s.insts[ii]
			if !r.ready || r.demand >= 0 || r.phase != phLive || r.destroyAsked {
				continue
			}
			for k, di := range queue {
				if di < 0 || !s.fits(r, s.demands[di]) {
					continue
				}
				queue[k] = -1
				s.sell(sp, ii, di)
				break
			}
		}
	}
	// Drop the head of the queue that is no longer pending.
	for s.pendHead < len(s.pendQ) && !s.demands[s.pendQ[s.pendHead]].pending {
		s.pendHead++
	}
	if s.pendHead > 1024 && s.pendHead > len(s.pendQ)/2 {
		s.pendQ = append(s.pendQ[:0], s.pendQ[s.pendHead:]...)
		s.pendHead = 0
	}
}

// fits says whether a unit can serve a demand: same software, and the
// demand's region if it names one (other SLA conditions are not checked:
// a buyer takes the partition it is offered).
func (s *engine) fits(r *inst, d *demand) bool {
	if d.sw != r.sw {
		return false
	}
	if reg, ok := d.sla["region"]; ok && (r.node < 0 || s.nodes[r.node].region != reg) {
		return false
	}
	return true
}

// sell hands a unit over to a pending requester, who withdraws its own
// request; the unit is configured with the buyer's parameters.
func (s *engine) sell(sp *speculator, ii, di int32) {
	d := s.demands[di]
	r := s.insts[ii]
	own := d.inst
	d.pending = false
	s.honestPend--
	d.inst, d.via, d.placedAt = ii, viaResale, s.now
	s.stats.DemandsPlaced++
	s.stats.PendingTimes = append(s.stats.PendingTimes, float64(s.now-d.arrivedAt))
	r.demand, r.soldAt, r.stype = di, s.now, d.stype
	sp.unsold--
	sp.sold++
	sp.sales++
	s.hoard.add(s.now, -1)
	s.handOver(ii, d)
	if own >= 0 {
		s.insts[own].demand = -1
		s.destroy(own)
	}
	s.schedule(evLifetimeEnd, s.now+d.lifetime, -1, di)
}

// handOver reconfigures a unit for the requester of d: new parameters (and
// type), a version whose start serves d.
func (s *engine) handOver(ii int32, d *demand) {
	r := s.insts[ii]
	r.params = map[string]string{"user": s.persons[d.user].id, "rev": strconv.Itoa(r.rev)}
	r.serveVersion = math.MaxUint64
	s.changeParameters(ii, func(v uint64) { r.serveVersion = v })
}

// specSaleEnded: the buyer is done with a sold unit; the resale income
// is the markup times the hosting price over the hours it used the unit.
func (s *engine) specSaleEnded(ii int32) {
	r := s.insts[ii]
	sp := s.specs[r.spec]
	hours := float64(s.now-r.soldAt) / float64(time.Hour)
	price := s.unitPrice(r)
	r.income = s.sc.Economics.Speculators.Markup * price * hours
	sp.income += r.income
	s.stats.ResalePremium += r.income - price*hours
	sp.sold--
}

func (s *engine) unitPrice(r *inst) float64 {
	if r.node >= 0 {
		return s.nodes[r.node].hourly
	}
	return 0
}

// specUnitEnded settles a unit that holds nothing any more, and lets the
// speculator learn from its profit.
func (s *engine) specUnitEnded(ii int32) {
	r := s.insts[ii]
	sp := s.specs[r.spec]
	if r.placedAt < 0 {
		sp.onOrder-- // withdrawn or refused before placement: no cost
		return
	}
	if r.demand < 0 {
		sp.unsold--
		s.hoard.add(s.now, -1)
	}
	cost := s.unitPrice(r) * r.hostHours
	sp.cost += cost
	cfg := &s.sc.Economics.Speculators
	if cfg.Learning > 0 {
		if r.income-cost > 0 {
			sp.alpha *= 1 + cfg.Learning
		} else {
			sp.alpha *= 1 - cfg.Learning
		}
		sp.alpha = min(max(sp.alpha, 0.01), cfg.MaxAggressiveness)
	}
}

// expectedArrivals is the workload's expected number of arrivals in
// [a, b), from the known diurnal curve (bursts are not forecast).
func (s *engine) expectedArrivals(a, b int64) float64 {
	const steps = 16
	dt := float64(b-a) / steps
	sum := 0.0
	for k := range steps {
		sum += s.diurnalRate(a + int64((float64(k)+0.5)*dt))
	}
	return sum * dt / float64(time.Hour)
}

// poolRefill is the pre-allocation pool manager: it keeps Safety times the
// forecast arrivals over Lead (for the pool's software) ordered or ready,
// and releases idle units beyond twice that.
func (s *engine) poolRefill() {
	cfg := &s.sc.Economics.Preallocation
	s.schedule(evPoolRefill, s.now+int64(cfg.RefillEvery), -1, 0)
	total, mine := 0.0, 0.0
	for i, w := range s.swWeights {
		if s.supplied[i] {
			total += w
			if int32(i) == s.poolSW {
				mine = w
			}
		}
	}
	if total == 0 {
		return
	}
	exp := s.expectedArrivals(s.now, s.now+int64(cfg.Lead)) * mine / total
	target := max(cfg.Min, int(math.Ceil(cfg.Safety*exp)))
	for s.poolFree < target {
		sw := s.poolSW
		params := map[string]string{"user": "POOL", "rev": "1"}
		ii := s.newInst(s.poolP, kindPool, sw, s.sc.Software[sw].Types[0], nil, params)
		s.poolFree++
		s.stats.PoolOrders++
		s.requestNew(ii)
	}
	for excess := s.poolFree - 2*target; excess > 0 && s.poolHead < len(s.poolReady); {
		ii := s.poolReady[s.poolHead]
		s.poolHead++
		r := s.insts[ii]
		if r.phase != phLive || r.demand >= 0 || r.destroyAsked {
			continue
		}
		s.stats.PoolReleased++
		s.destroy(ii)
		excess--
	}
	s.compactPool()
}

func (s *engine) compactPool() {
	if s.poolHead > 256 && s.poolHead > len(s.poolReady)/2 {
		s.poolReady = append(s.poolReady[:0], s.poolReady[s.poolHead:]...)
		s.poolHead = 0
	}
}

// poolHandover serves a demand from a ready pool unit, at once.
func (s *engine) poolHandover(di int32) bool {
	for s.poolHead < len(s.poolReady) {
		ii := s.poolReady[s.poolHead]
		s.poolHead++
		r := s.insts[ii]
		if r.phase != phLive || r.demand >= 0 || r.destroyAsked {
			continue
		}
		d := s.demands[di]
		r.demand, r.stype = di, d.stype
		d.inst, d.via, d.placedAt = ii, viaPool, s.now
		s.stats.DemandsPlaced++
		s.stats.PendingTimes = append(s.stats.PendingTimes, 0)
		s.stats.PlacedAtOnce++
		s.stats.PoolHandovers++
		s.poolFree--
		s.poolIdl.add(s.now, -1)
		s.persons[d.user].pool++
		s.handOver(ii, d)
		s.schedule(evLifetimeEnd, s.now+d.lifetime, -1, di)
		s.compactPool()
		return true
	}
	return false
}
