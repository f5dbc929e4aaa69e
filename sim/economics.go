package sim

import (
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/slapgo/slapgo/core/master"
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
// pending requests whose SLA the unit's computer meets: a sale is a
// core/master TransferInstance, so core/alloc's filters decide, and from
// the sale on the buyer owns the unit and the master invoices the buyer
// for its hosting. Unsold units are released after hold_max. Each unit that
// ends settles a profit (resale income, the markup's premium over the
// hosting price the buyer pays the provider, minus the hosting the
// speculator paid while it held the unit, as invoiced by core/account's
// rule: started hours times the computer's price) and the speculator's
// aggressiveness follows it: ×(1+learning) after a profit, ×(1−learning)
// after a loss.
type speculator struct {
	person  int32
	alpha   float64
	units   []int32 // unit records not settled yet
	onOrder int     // ordered, not placed
	unsold  int     // placed, not sold
	sold    int     // sold, buyer still using it
	// heldHours: hosting hours a sold unit cost the speculator, up to
	// its sale (the buyer pays the rest).
	heldHours map[int32]float64

	orders, cancelled, sales, released uint64
	income, cost                       float64
}

// sellKey groups pending requests a unit fits alike (sellUnits).
type sellKey struct {
	sw  int32
	sla uintptr // identity of the SLA map
}

// sellGroup is the pending requests of one sellKey.
type sellGroup struct {
	at   []int // positions in the queue, oldest first
	next int   // first not sold yet
}

// sellScratch is sellUnits' memory, kept from one decision to the next.
type sellScratch struct {
	queue  []int32 // the pending requests, oldest first
	groups []sellGroup
	byKey  map[sellKey]int // index in groups
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
		ii := s.newInst(sp.person, kindSpec, sw, s.sc.Software[sw].Types[0], nil, s.persons[sp.person].id)
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
// requests of their software whose SLA admits the unit (fits).
//
// The pending requests are grouped by software and SLA (requests share the
// scenario's few SLA maps), oldest first in each group: a unit is checked
// once per group, against the group's oldest request, and goes to the
// oldest request of the groups that admit it. NB the buyer's identity
// could change the master's answer only on a closed computer owned by the
// buyer, which no speculator's unit is on; the master has the last word on
// each sale anyway (sell).
func (s *engine) sellUnits(sp *speculator) {
	if s.honestPend > 0 {
		sc := &s.selling
		sc.queue = sc.queue[:0]
		if sc.byKey == nil {
			sc.byKey = map[sellKey]int{}
		}
		clear(sc.byKey)
		groups := sc.groups[:0]
		for _, di := range s.pendQ[s.pendHead:] {
			d := s.demands[di]
			if !d.pending || d.done {
				continue
			}
			k := sellKey{d.sw, reflect.ValueOf(d.sla).Pointer()}
			gi, ok := sc.byKey[k]
			if !ok {
				gi = len(groups)
				sc.byKey[k] = gi
				if gi < cap(groups) {
					groups = groups[:gi+1] // its positions' memory reused
					groups[gi].at, groups[gi].next = groups[gi].at[:0], 0
				} else {
					groups = append(groups, sellGroup{})
				}
			}
			g := &groups[gi]
			g.at = append(g.at, len(sc.queue))
			sc.queue = append(sc.queue, di)
		}
		sc.groups = groups
		queue := sc.queue
		for _, ii := range sp.units {
			r := s.insts[ii]
			if !r.ready || r.demand >= 0 || r.phase != phLive || r.destroyAsked {
				continue
			}
			var best *sellGroup
			for gi := range groups {
				g := &groups[gi]
				if g.next == len(g.at) || (best != nil && g.at[g.next] > best.at[best.next]) {
					continue
				}
				if s.fits(ii, queue[g.at[g.next]]) {
					best = g
				}
			}
			if best != nil && s.sell(sp, ii, queue[best.at[best.next]]) {
				best.next++
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

// fits says whether a unit can serve a demand: the same software, and a
// transfer to the demand's requester that core/master would accept now (the
// unit's computer passes core/alloc's filters for the buyer's SLA).
func (s *engine) fits(ii, di int32) bool {
	r, d := s.insts[ii], s.demands[di]
	if d.sw != r.sw || r.guid == "" {
		return false
	}
	return s.m.CheckTransfer(s.time(), s.transferCmd(ii, di, nil)) == nil
}

// transferCmd is the transfer of unit ii to the requester of demand di,
// reconfigured with params (nil keeps the unit's).
func (s *engine) transferCmd(ii, di int32, params map[string]string) master.TransferInstance {
	r, d := s.insts[ii], s.demands[di]
	return master.TransferInstance{By: s.persons[r.owner].actor, InstanceGUID: r.guid, To: s.persons[d.user].id,
		SLA: d.sla, SoftwareType: d.stype, Parameters: params}
}

// sell hands a unit over to a pending requester, who withdraws its own
// request. It reports whether the master accepted the transfer.
func (s *engine) sell(sp *speculator, ii, di int32) bool {
	d := s.demands[di]
	r := s.insts[ii]
	if !s.handOver(ii, di, func() {
		if sp.heldHours == nil {
			sp.heldHours = map[int32]float64{}
		}
		sp.heldHours[ii] = r.hostHours
	}) {
		return false
	}
	own := d.inst
	d.pending = false
	s.honestPend--
	d.inst, d.via, d.placedAt = ii, viaResale, s.now
	s.stats.DemandsPlaced++
	s.stats.PendingTimes = append(s.stats.PendingTimes, float64(s.now-d.arrivedAt))
	r.demand, r.soldAt = di, s.now
	sp.unsold--
	sp.sold++
	sp.sales++
	s.hoard.add(s.now, -1)
	if own >= 0 {
		s.insts[own].demand = -1
		s.destroy(own)
	}
	s.schedule(evLifetimeEnd, s.now+d.lifetime, -1, di)
	return true
}

// handOver transfers a unit to the requester of d through core/master
// (master.TransferInstance): the buyer owns it from now on, is invoiced for
// its hosting, and the unit is reconfigured with the buyer's SLA, type and
// parameters, at a version whose start serves d. atSale runs between the
// seller's hosting period and the buyer's. It reports whether the master
// took the transfer; when it is down or refuses, nothing changed.
//
// NB the transfer is applied when the market actor decides, not queued
// behind the master's command cost: a sale is settled at the master.
func (s *engine) handOver(ii, di int32, atSale func()) bool {
	if !s.masterUp {
		return false
	}
	r, d := s.insts[ii], s.demands[di]
	user := s.persons[d.user].id
	params := map[string]string{"user": user, "rev": strconv.Itoa(r.rev + 1)}
	res, err := s.apply(s.transferCmd(ii, di, params))
	if err != nil {
		return false
	}
	running := r.running
	if running {
		s.setRunning(r, false) // the seller's spend stops
	}
	if atSale != nil {
		atSale()
	}
	r.owner = d.user
	if running {
		s.setRunning(r, true) // the buyer's starts
	}
	r.nextRevision(user)
	r.sla, r.stype = d.sla, d.stype
	r.serveVersion = res.Instance.Version
	return true
}

// specSaleEnded: the buyer is done with a sold unit. The buyer paid the
// provider the hosting price (invoiced by the master) and pays the
// speculator the rest of the markup: the resale income is (markup − 1)
// times the hosting price over the hours it used the unit.
func (s *engine) specSaleEnded(ii int32) {
	r := s.insts[ii]
	sp := s.specs[r.spec]
	hours := float64(s.now-r.soldAt) / float64(time.Hour)
	price := s.unitPrice(r)
	r.income = (s.sc.Economics.Speculators.Markup - 1) * price * hours
	sp.income += r.income
	s.stats.ResalePremium += r.income
	sp.sold--
}

func (s *engine) unitPrice(r *inst) float64 {
	if r.node >= 0 {
		return s.nodes[r.node].hourly * r.factor
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
	hours := r.hostHours
	if h, sold := sp.heldHours[ii]; sold {
		hours = h
		delete(sp.heldHours, ii)
	}
	cost := s.unitPrice(r) * hours
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
		ii := s.newInst(s.poolP, kindPool, sw, s.sc.Software[sw].Types[0], nil, "POOL")
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

// poolHandover serves a demand from a ready pool unit, at once: the oldest
// unit whose computer the demand's SLA admits, transferred to the
// requester through core/master (fits, handOver).
func (s *engine) poolHandover(di int32) bool {
	for k := s.poolHead; k < len(s.poolReady); k++ {
		ii := s.poolReady[k]
		r := s.insts[ii]
		if r.phase != phLive || r.demand >= 0 || r.destroyAsked {
			if k == s.poolHead {
				s.poolHead++ // stale at the head: drop it
			}
			continue
		}
		if !s.fits(ii, di) || !s.handOver(ii, di, nil) {
			continue
		}
		// Take it out of the ready list; the head's unit takes its place.
		s.poolReady[k] = s.poolReady[s.poolHead]
		s.poolHead++
		d := s.demands[di]
		r.demand = di
		d.inst, d.via, d.placedAt = ii, viaPool, s.now
		s.stats.DemandsPlaced++
		s.stats.PendingTimes = append(s.stats.PendingTimes, 0)
		s.stats.PlacedAtOnce++
		s.stats.PoolHandovers++
		s.poolFree--
		s.poolIdl.add(s.now, -1)
		s.persons[d.user].pool++
		s.schedule(evLifetimeEnd, s.now+d.lifetime, -1, di)
		s.compactPool()
		return true
	}
	return false
}
