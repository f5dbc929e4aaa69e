package sim

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/sim/scenario"
)

// Instance record kinds: who holds it.
const (
	kindOwn      = iota // a requester's own instance
	kindPool            // a pre-allocation pool unit
	kindSpec            // a speculator's unit
	kindExternal        // requested by the caller of a bare engine (Engine.Apply), or by an instance in its tree
)

// Instance record phases.
const (
	phHeld       = iota // held by the provisioning delay
	phSent              // sent to the master, not applied yet
	phLive              // known to the master
	phDestroying        // destruction requested
	phGone              // freed by the master
	phCancelled         // withdrawn before the master saw it
	phRetry             // refused by a master outage, to be sent again
)

// inst is the simulation's record of one instance it requested. Its
// fields are ordered by size (no padding); it holds no partition names
// (partKey) to keep the records small for the collector.
type inst struct {
	title string
	guid  string
	stype string
	user  string // its "user" parameter; "rev" is rev (see params)
	sla   map[string]string
	rev   int
	// pm is params() of revision rev, built once and handed over to the
	// master (master.Config.RequestParametersHandedOver): never changed.
	pm map[string]string
	// placedAt is -1 until placed.
	placedAt     int64
	soldAt       int64
	income       float64 // resale income of a speculator's unit
	hostStart    int64   // when the current hosting period began
	hostHours    float64 // closed hosting periods, hours
	serveVersion uint64  // a start at this version or later serves the demand
	// factor is the price factor quoted when it was requested: it is
	// charged factor times its computer's list price while it runs.
	factor float64
	// Invariant tracking, from the master's mutations.
	version uint64  // last version seen
	pk      partKey // partition held, when held
	owner   int32
	sw      int32
	demand  int32 // demand it serves, -1
	spec    int32 // speculator owning it, -1
	node    int32 // node hosting it, -1
	livePos int32
	kind    uint8
	phase   uint8
	retries uint8
	// destroyAsked: destroy once the pending request comes back.
	destroyAsked bool
	running      bool // hosting counted (the master's StartedAt is set)
	ready        bool // started once (pool and speculator units)
	held         bool
	pend         bool // pending at the master
}

// Demand routes.
const (
	viaOwn    = iota // the requester's own request
	viaPool          // handed over from the pre-allocation pool
	viaResale        // bought from a speculator
)

// demand is one need of an honest requester.
type demand struct {
	user      int32
	sw        int32
	stype     string
	sla       map[string]string
	lifetime  int64
	arrivedAt int64
	placedAt  int64 // -1 until it has a partition
	servedAt  int64 // -1 until its instance runs
	inst      int32 // instance serving it (own, pool or speculator unit)
	via       uint8
	pending   bool  // pending at the master (public: it can buy from a speculator)
	done      bool  // lifetime over, abandoned or rejected
	priced    bool  // not asked at the quoted price
	endedAt   int64 // when its lifetime ended or it was abandoned, -1
}

func (s *engine) newInst(owner int32, kind uint8, sw int32, stype string, sla map[string]string, user string) int32 {
	s.nextTitle++
	r := &inst{owner: owner, title: "inst-" + strconv.Itoa(s.nextTitle), sw: sw, stype: stype, sla: sla,
		user: user, kind: kind, demand: -1, spec: -1, node: -1, placedAt: -1, livePos: -1, rev: 1, factor: 1}
	s.insts = append(s.insts, r)
	return int32(len(s.insts) - 1)
}

// diurnalRate is the arrival rate (per hour) at virtual time t.
func (s *engine) diurnalRate(t int64) float64 {
	w := &s.sc.Workload
	if w.Diurnal.Amplitude == 0 {
		return w.RatePerHour
	}
	h := float64(s.t0.Add(time.Duration(t)).Sub(s.t0.Truncate(24*time.Hour))) / float64(time.Hour)
	return w.RatePerHour * (1 + float64(w.Diurnal.Amplitude*math.Cos(2*math.Pi*(h-w.Diurnal.PeakHour)/24)))
}

// scheduleArrival draws the next arrival by thinning a Poisson process of
// the peak rate.
func (s *engine) scheduleArrival() {
	w := &s.sc.Workload
	peak := w.RatePerHour * (1 + w.Diurnal.Amplitude)
	t := s.now
	for {
		t += int64(s.rWork.ExpFloat64() / peak * float64(time.Hour))
		if t >= s.end {
			return
		}
		if s.rWork.Float64()*peak <= s.diurnalRate(t) {
			break
		}
	}
	s.schedule(evArrival, t, -1, 0)
}

func (s *engine) arrival() {
	s.scheduleArrival()
	s.newDemand(s.rWork, nil, s.sc.Workload.Lifetime)
}

func (s *engine) scheduleBurst(i int, b scenario.Burst) {
	r := Stream(s.opts.Seed, fmt.Sprintf("workload/bursts/%d", i))
	for range b.Count {
		s.schedule(evBurstArrival, int64(b.At)+r.Int64N(int64(b.Within)), -1, int32(i))
	}
}

func (s *engine) burstArrival(i int32) {
	b := &s.sc.Workload.Bursts[i]
	var sla map[string]string
	if len(b.SLA) > 0 {
		sla = b.SLA
	}
	s.newDemand(s.rBurst, sla, b.Lifetime)
}

// newDemand is one honest need: drawn, checked against the requester's
// budget, served from the pool when it can, else requested.
func (s *engine) newDemand(r *rand.Rand, sla map[string]string, life scenario.Dist) {
	w := &s.sc.Workload
	user := s.users[r.IntN(len(s.users))]
	sw := int32(s.pickSupplied(r))
	spec := &s.sc.Software[sw]
	stype := spec.Types[r.IntN(len(spec.Types))]
	if sla == nil {
		sla = s.slaParsed[pick(r, s.slaWeights)]
	}
	d := &demand{user: user, sw: sw, stype: stype, sla: sla, arrivedAt: s.now, placedAt: -1, servedAt: -1, inst: -1,
		lifetime: int64(life.Sample(s.rLife)), endedAt: -1}
	s.demands = append(s.demands, d)
	di := int32(len(s.demands) - 1)
	s.stats.Demands++
	p := s.persons[user]
	if p.budget > 0 && p.spend.at(s.now)+s.gridHourly*s.lifeMean > p.budget {
		d.done = true
		s.stats.RejectedBudget++
		return
	}
	sla, factor, asks := s.marketDemand(sla)
	d.sla = sla
	if !asks {
		d.done, d.priced = true, true
		s.mk.pricedOut++
		return
	}
	if s.poolP >= 0 && sw == s.poolSW && p.pool < s.sc.Economics.Preallocation.PerRequester {
		if s.poolHandover(di) {
			return
		}
		s.stats.PoolMisses++
	}
	ii := s.newInst(user, kindOwn, sw, stype, sla, p.id)
	s.insts[ii].demand = di
	s.insts[ii].factor = factor
	d.inst = ii
	s.requestNew(ii)
	if w.Patience > 0 {
		s.schedule(evPatience, s.now+int64(w.Patience), -1, di)
	}
}

// pickSupplied draws a software release among those supplied already.
func (s *engine) pickSupplied(r *rand.Rand) int {
	total := 0.0
	for i, w := range s.swWeights {
		if s.supplied[i] {
			total += w
		}
	}
	x := r.Float64() * total
	last := 0
	for i, w := range s.swWeights {
		if !s.supplied[i] {
			continue
		}
		last = i
		if x < w {
			return i
		}
		x -= w
	}
	return last
}

// requestNew asks for a new instance, through the provisioning delay.
func (s *engine) requestNew(ii int32) {
	r := s.insts[ii]
	if r.kind != kindOwn && s.mk.price != nil {
		r.factor = s.quote("") // the market's price now, for pool and speculators' units alike
	}
	if d := s.provisioningDelay(); d > 0 {
		r.phase = phHeld
		s.held++
		if r.kind == kindOwn {
			s.heldHonest++
		}
		s.schedule(evProvision, s.now+int64(d), -1, ii)
		return
	}
	s.sendNew(ii)
}

func (s *engine) provision(ii int32) {
	r := s.insts[ii]
	if r.phase != phHeld {
		return // withdrawn while held
	}
	s.unhold(r)
	s.sendNew(ii)
}

func (s *engine) unhold(r *inst) {
	s.held--
	if r.kind == kindOwn {
		s.heldHonest--
	}
}

// params are the instance's parameters: its user and revision. One map
// per revision, which the master keeps as it is; the simulation drops it
// when the instance ends.
func (r *inst) params() map[string]string {
	if r.pm == nil {
		r.pm = map[string]string{"user": r.user, "rev": strconv.Itoa(r.rev)}
	}
	return r.pm
}

// nextRevision changes the instance's parameters to its next revision
// for user (the user and the revision are written here only): a new map
// for the master to keep, the one it holds left as it is.
func (r *inst) nextRevision(user string) {
	r.user = user
	r.rev++
	r.pm = nil
}

func (s *engine) requestCmd(r *inst, state model.RequestedState) master.Request {
	return master.Request{By: s.persons[r.owner].actor, Title: r.title, SoftwareRelease: s.sc.Software[r.sw].URL,
		SoftwareType: r.stype, Parameters: r.params(), SLA: r.sla, State: state}
}

// sendNew sends the request of a new instance to the master.
func (s *engine) sendNew(ii int32) {
	r := s.insts[ii]
	r.phase = phSent
	if r.kind == kindSpec {
		s.stats.SpecRequests++
	}
	s.submitNew(0, s.requestCmd(r, model.StateStarted), ii)
}

func (s *engine) newRequestDone(ii int32, res master.Result, err error) {
	r := s.insts[ii]
	if err != nil {
		if err == errMasterDown && r.retries < 3 && !r.destroyAsked {
			r.retries++
			r.phase = phRetry
			s.schedule(evRetryRequest, s.now+int64(s.sc.Workload.RetryAfter), -1, ii)
			return
		}
		r.phase = phCancelled
		s.instEnded(ii)
		if r.demand >= 0 {
			d := s.demands[r.demand]
			if !d.done {
				d.done = true
				s.stats.RejectedOutage++
			}
		}
		return
	}
	r.phase = phLive
	if res.Instance != nil && res.Instance.Status == master.StatusPending && r.placedAt < 0 && r.demand >= 0 {
		d := s.demands[r.demand]
		if !d.pending && d.placedAt < 0 && r.kind == kindOwn {
			d.pending = true
			s.honestPend++
			s.pendQ = append(s.pendQ, r.demand)
		}
	}
	if r.destroyAsked {
		s.destroy(ii)
	}
}

func (s *engine) retryRequest(ii int32) {
	r := s.insts[ii]
	switch {
	case r.phase == phRetry:
		s.sendNew(ii)
	case r.phase == phDestroying || (r.phase == phLive && r.destroyAsked):
		r.phase = phLive
		s.destroy(ii)
	}
}

// bind returns the record of an instance of core/master, linking a new
// one to the record whose request is being applied. When at, the instance
// says it lives on partition pk: the record holding pk, when it is the
// instance's, is the one byGUID names (a record's guid is set with its
// byGUID entry), found without a lookup in that large table.
func (s *engine) bind(i *model.Instance, pk partKey, at bool) int32 {
	if at {
		if h, ok := s.holderOf(pk); ok && s.insts[h].guid == i.GUID {
			return h
		}
	}
	if ii, ok := s.byGUID[i.GUID]; ok {
		return ii
	}
	if s.binding >= 0 {
		r := s.insts[s.binding]
		if r.guid == "" && r.title == i.Title && s.persons[r.owner].id == i.Owner {
			r.guid = i.GUID
			s.byGUID[i.GUID] = s.binding
			return s.binding
		}
	}
	if s.opts.Bare {
		// Whoever requested it outside the workload: the invariants
		// follow it all the same.
		r := &inst{owner: -1, title: i.Title, guid: i.GUID, sw: -1, kind: kindExternal, phase: phLive,
			demand: -1, spec: -1, node: -1, placedAt: -1, livePos: -1}
		s.insts = append(s.insts, r)
		ii := int32(len(s.insts) - 1)
		s.byGUID[i.GUID] = ii
		return ii
	}
	return -1
}

// instanceChanged follows one instance mutation of core/master: placement,
// hosting start and stop, release.
func (s *engine) instanceChanged(ii int32, i *model.Instance) {
	r := s.insts[ii]
	if r.kind == kindExternal {
		// Asked destroyed by its requester, or with its tree.
		r.destroyAsked = r.destroyAsked || i.RequestedState == model.StateDestroyed
		if i.Freed {
			r.phase = phGone
		}
		return
	}
	if r.placedAt < 0 && i.PartitionID != "" && !i.Freed {
		s.placed(ii, i)
	}
	started := !i.StartedAt.IsZero()
	if started != r.running {
		s.setRunning(r, started)
	}
	if i.Freed && r.phase != phGone {
		if r.running {
			s.setRunning(r, false)
		}
		if r.placedAt >= 0 {
			s.busyChanged(r.node, -1)
		}
		r.phase = phGone
		s.instEnded(ii)
	}
}

func (s *engine) setRunning(r *inst, on bool) {
	p := s.persons[r.owner]
	price := 0.0
	if r.node >= 0 {
		price = s.nodes[r.node].hourly * r.factor
	}
	if on {
		r.running, r.hostStart = true, s.now
		s.revenue.add(s.now, price)
		p.spend.add(s.now, price)
		s.runningChanged(r.node, 1, r.factor)
		return
	}
	s.runningChanged(r.node, -1, r.factor)
	r.running = false
	r.hostHours += float64(s.now-r.hostStart) / float64(time.Hour)
	s.revenue.add(s.now, -price)
	p.spend.add(s.now, -price)
}

// placed: a record got its partition.
func (s *engine) placed(ii int32, i *model.Instance) {
	r := s.insts[ii]
	r.placedAt = s.now
	if n := s.nodeByID[i.ComputerID]; n != nil {
		r.node = n.idx
	}
	s.busyChanged(r.node, 1)
	s.stats.Placements++
	if r.phase != phDestroying && !r.destroyAsked {
		s.addLive(ii)
	}
	switch r.kind {
	case kindOwn:
		if r.demand >= 0 {
			d := s.demands[r.demand]
			if d.placedAt < 0 && !d.done {
				d.placedAt = s.now
				s.stats.DemandsPlaced++
				s.stats.PendingTimes = append(s.stats.PendingTimes, float64(s.now-d.arrivedAt))
				if d.pending {
					d.pending = false
					s.honestPend--
				} else {
					s.stats.PlacedAtOnce++
				}
				s.schedule(evLifetimeEnd, s.now+d.lifetime, -1, r.demand)
			}
		}
	case kindSpec:
		sp := s.specs[r.spec]
		sp.onOrder--
		sp.unsold++
		s.hoard.add(s.now, 1)
	}
}

// onStarted: a node reported an instance started at a version.
func (s *engine) onStarted(guid string, version uint64) {
	if ii, ok := s.byGUID[guid]; ok {
		s.startedAt(ii, version)
	}
}

// startedAt is onStarted of the instance of index ii.
func (s *engine) startedAt(ii int32, version uint64) {
	r := s.insts[ii]
	if r.demand >= 0 && version >= r.serveVersion {
		d := s.demands[r.demand]
		if d.servedAt < 0 && !d.done {
			d.servedAt = s.now
			t := float64(s.now - d.arrivedAt)
			s.stats.ServiceTimes[d.via] = append(s.stats.ServiceTimes[d.via], t)
			s.stats.ServiceBySW[d.sw] = append(s.stats.ServiceBySW[d.sw], t)
		}
	}
	if !r.ready && r.phase == phLive {
		r.ready = true
		if r.kind == kindPool && r.demand < 0 {
			s.poolReady = append(s.poolReady, ii)
			s.poolIdl.add(s.now, 1)
		}
	}
}

func (s *engine) addLive(ii int32) {
	r := s.insts[ii]
	if r.livePos >= 0 {
		return
	}
	r.livePos = int32(len(s.live))
	s.live = append(s.live, ii)
}

func (s *engine) removeLive(ii int32) {
	r := s.insts[ii]
	if r.livePos < 0 {
		return
	}
	last := s.live[len(s.live)-1]
	s.live[r.livePos] = last
	s.insts[last].livePos = r.livePos
	s.live = s.live[:len(s.live)-1]
	r.livePos = -1
}

// destroy asks the master to destroy a record's instance; a request still
// held is withdrawn for free.
func (s *engine) destroy(ii int32) {
	r := s.insts[ii]
	s.removeLive(ii)
	switch r.phase {
	case phHeld:
		r.phase = phCancelled
		s.unhold(r)
		s.instEnded(ii)
		return
	case phSent:
		r.destroyAsked = true
		return
	case phRetry:
		r.phase = phCancelled
		s.instEnded(ii)
		return
	case phLive, phDestroying:
	default:
		return
	}
	r.destroyAsked = true
	r.phase = phDestroying
	s.submit(0, s.requestCmd(r, model.StateDestroyed), func(_ master.Result, err error) {
		if err == errMasterDown {
			s.schedule(evRetryRequest, s.now+int64(s.sc.Workload.RetryAfter), -1, ii)
		}
	})
}

// instEnded settles a record that will hold nothing any more.
func (s *engine) instEnded(ii int32) {
	r := s.insts[ii]
	r.pm = nil
	s.removeLive(ii)
	switch r.kind {
	case kindSpec:
		s.specUnitEnded(ii)
	case kindPool:
		if r.demand < 0 {
			s.poolFree--
			if r.ready {
				s.poolIdl.add(s.now, -1)
			}
		}
	}
	if r.demand >= 0 {
		d := s.demands[r.demand]
		if d.pending && d.inst == ii {
			d.pending = false
			s.honestPend--
		}
	}
}

func (s *engine) lifetimeEnd(di int32) {
	d := s.demands[di]
	if d.done {
		return
	}
	d.done = true
	d.endedAt = s.now
	s.stats.Completed++
	if d.inst < 0 {
		return
	}
	r := s.insts[d.inst]
	switch r.kind {
	case kindPool:
		s.persons[d.user].pool--
	case kindSpec:
		s.specSaleEnded(d.inst)
	}
	s.destroy(d.inst)
}

// patience: a requester gives up a request still not placed.
func (s *engine) patience(di int32) {
	d := s.demands[di]
	if d.done || d.placedAt >= 0 {
		return
	}
	d.done = true
	d.endedAt = s.now
	s.stats.Abandoned++
	if d.pending {
		d.pending = false
		s.honestPend--
	}
	if d.inst >= 0 {
		s.destroy(d.inst)
	}
}

// paramChange: a requester changes the parameters of a live instance.
func (s *engine) paramChange() {
	s.schedule(evParamChange, s.expDelay(s.rParam, s.sc.Workload.ParameterChangesPerHour/float64(time.Hour)), -1, 0)
	if len(s.live) == 0 {
		return
	}
	ii := s.live[s.rParam.IntN(len(s.live))]
	s.changeParameters(ii, nil)
	s.stats.ParameterChanges++
}

// changeParameters requests an instance again with its next revision.
// done, when set, gets the new version.
func (s *engine) changeParameters(ii int32, done func(version uint64)) {
	r := s.insts[ii]
	r.nextRevision(r.user)
	s.submit(0, s.requestCmd(r, ""), func(res master.Result, err error) {
		if err == nil && done != nil && res.Instance != nil {
			done(res.Instance.Version)
		}
	})
}

// stormState follows one storm's commands to start its convergence watch
// once the master applied them all.
type stormState struct {
	outstanding int
	w           *watch
}

// storm changes every live instance of a region (or the grid) at once.
func (s *engine) storm(i int32) {
	st := &s.sc.Storms[i]
	ss := s.storms[i]
	var nodes []int32
	for _, n := range s.nodes {
		if st.Region == "" || n.region == st.Region {
			nodes = append(nodes, n.idx)
		}
	}
	label := "storm " + st.Kind + " " + regionLabel(st.Region)
	ss.w = s.newWatch(label, nodes, false)
	var targets []int32
	for ii, r := range s.insts {
		if r.phase == phLive && r.placedAt >= 0 && r.node >= 0 && (st.Region == "" || s.nodes[r.node].region == st.Region) {
			targets = append(targets, int32(ii))
		}
	}
	t := s.trace
	t.begin(s.now, "storm")
	t.str("region", st.Region)
	t.num("instances", uint64(len(targets)))
	t.end()
	s.stats.StormChanges += uint64(len(targets))
	ss.outstanding = len(targets)
	doneOne := func(master.Result, error) {
		ss.outstanding--
		if ss.outstanding == 0 {
			s.activate(ss.w)
		}
	}
	if len(targets) == 0 {
		s.activate(ss.w)
		return
	}
	for _, ii := range targets {
		r := s.insts[ii]
		if st.Kind == "bang" {
			s.submit(0, master.Bang{By: s.persons[r.owner].actor, InstanceGUID: r.guid, Message: "storm"}, doneOne)
			continue
		}
		r.nextRevision(r.user)
		s.submit(0, s.requestCmd(r, ""), doneOne)
	}
}

func regionLabel(r string) string {
	if r == "" {
		return "grid"
	}
	return "region=" + r
}

// supplySoftware supplies a new release on the computers that list it:
// they build it (binary cache or source) and requests may use it.
func (s *engine) supplySoftware(i int32) {
	sw := &s.sc.Software[i]
	for _, n := range s.nodes {
		for _, u := range n.group.Software {
			if u == sw.URL {
				owner := s.persons[s.provider[n.group.Name]]
				s.submit(0, master.Supply{By: owner.actor, ComputerID: n.id, URL: u, State: model.SoftwareAvailable}, nil)
			}
		}
	}
	s.supplied[i] = true
}

// grown returns m with room for n more entries.
func grown[K comparable, V any](m map[K]V, n int) map[K]V {
	g := make(map[K]V, len(m)+n)
	maps.Copy(g, m)
	return g
}

// warmStart places the initial instances and has the nodes deploy them
// before t0, their last configuration spread over the past periodicity.
func (s *engine) warmStart() {
	w := &s.sc.Workload
	if w.Initial == 0 {
		return
	}
	// The requests, drawn first (nothing the master answers changes the
	// draws), then applied in one batch.
	first := int32(len(s.insts))
	cmds := make([]master.Command, 0, w.Initial)
	for range w.Initial {
		user := s.users[s.rWork.IntN(len(s.users))]
		sw := int32(s.pickSupplied(s.rWork))
		spec := &s.sc.Software[sw]
		stype := spec.Types[s.rWork.IntN(len(spec.Types))]
		sla := s.slaParsed[pick(s.rWork, s.slaWeights)]
		d := &demand{user: user, sw: sw, stype: stype, sla: sla, arrivedAt: 0, placedAt: -1, servedAt: -1, inst: -1,
			lifetime: int64(w.Lifetime.Sample(s.rLife)), endedAt: -1}
		s.demands = append(s.demands, d)
		di := int32(len(s.demands) - 1)
		ii := s.newInst(user, kindOwn, sw, stype, sla, s.persons[user].id)
		s.insts[ii].demand = di
		d.inst = ii
		cmds = append(cmds, s.requestCmd(s.insts[ii], model.StateStarted))
	}
	s.byGUID = grown(s.byGUID, len(cmds))
	s.binding = first
	s.seed(cmds, func(k int, res master.Result, err error) {
		s.newRequestDone(first+int32(k), res, err)
		s.binding = first + int32(k) + 1
	})
	s.binding = -1
	period := s.sc.Agent.MaximumPeriodicity.D()
	var started []converge.Action // the instance started by each command, when it reports one
	for _, n := range s.nodes {
		if n.group.Cold {
			continue
		}
		v, err := s.m.ComputerView(n.id)
		if err != nil {
			continue
		}
		n.ag.SetView(&v)
		n.maxVer = v.Version
		actual := n.ag.Actual()
		p := converge.PlanNode(v, *actual, s.time(), s.convCfg)
		cmds, started = cmds[:0], started[:0]
		for _, a := range p.Actions {
			at := s.time()
			if a.Kind == converge.ConfigurePartition && period > 0 {
				at = at.Add(-time.Duration(n.rng.Int64N(int64(period))))
			}
			actual.ApplySuccess(a, at)
			if a.Kind == converge.ConfigurePartition {
				own, shared := n.connections(a)
				cmds = append(cmds, master.SetConnection{By: n.actor, ComputerID: n.id, PartitionID: a.PartitionID, Parameters: own})
				started = append(started, converge.Action{})
				for _, g := range slices.Sorted(maps.Keys(shared)) {
					cmds = append(cmds, master.SetConnection{By: n.actor, ComputerID: n.id, PartitionID: a.PartitionID, SharedGUID: g, Parameters: shared[g]})
					started = append(started, converge.Action{})
				}
			}
			if a.Kind == converge.StartPartition {
				cmds = append(cmds, master.ReportPartition{By: n.actor, ComputerID: n.id, PartitionID: a.PartitionID, State: model.ReportedStarted})
				started = append(started, a)
			}
		}
		s.seed(cmds, func(k int, _ master.Result, _ error) {
			if a := started[k]; a.Kind == converge.StartPartition {
				s.onStarted(a.InstanceGUID, a.Version)
			}
		})
	}
	// The warm-start demands count as arrived and served at t0, not as
	// measured waits.
	s.stats.PendingTimes = s.stats.PendingTimes[:0]
	for i := range s.stats.ServiceTimes {
		s.stats.ServiceTimes[i] = s.stats.ServiceTimes[i][:0]
	}
	clear(s.stats.ServiceBySW)
	s.stats.Placements, s.stats.PlacedAtOnce, s.stats.DemandsPlaced = 0, 0, 0
	s.stats.Initial = uint64(w.Initial)
}
