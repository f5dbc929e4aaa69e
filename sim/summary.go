package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/sim/scenario"
)

// stats are the run's counters.
type stats struct {
	Commands, CommandErrors, CommandsLost                   uint64
	Polls, FullViews, Plans, Actions, ActionFailures        uint64
	Builds, CacheHits, BuildFailures, Crashes, FullChecks   uint64
	Demands, Placements, PlacedAtOnce, Completed, Abandoned uint64
	RejectedBudget, RejectedOutage                          uint64
	DemandsPlaced, Initial                                  uint64
	ParameterChanges, StormChanges, SpecRequests            uint64
	PoolHandovers, PoolMisses, PoolOrders, PoolReleased     uint64
	Publications, PromiseReports, DestroyedReports          uint64
	PublicationsRefused, DestroyedRefused                   uint64
	MasterRestarts                                          uint64
	UsageJournals, UsageDelivered, UsageRetries             uint64
	ResalePremium                                           float64
	PendingTimes                                            []float64    // ns, per placed demand
	ServiceTimes                                            [3][]float64 // ns, per route
	ServiceBySW                                             map[int32][]float64
	peakQueue, peakNodeQueue                                int
	sumQueue, sumUtil, peakUtil, sumSpecShare               float64
}

// Sample is one row of the time series.
type Sample struct {
	T                float64 `json:"t_hours"`
	Busy             int     `json:"busy"`
	Free             int     `json:"free"`
	Pending          int     `json:"pending"`        // requests pending at the master
	HonestPending    int     `json:"honest_pending"` // requesters' own, pending at the master
	Held             int     `json:"held"`           // requests held by the provisioning delay
	MasterQueue      int     `json:"master_queue"`   // commands waiting for the master
	ConfigQueue      int     `json:"config_queue"`   // partition actions queued on every node
	ConfigQueueMax   int     `json:"config_queue_max"`
	NodesConfiguring int     `json:"nodes_configuring"`
	NodesDown        int     `json:"nodes_down"`
	NodesCut         int     `json:"nodes_cut"`
	Revenue          float64 `json:"revenue"` // hosting accrued since the start
	Utilisation      float64 `json:"utilisation"`
	SpecUnsold       int     `json:"spec_unsold"`
	SpecSold         int     `json:"spec_sold"`
	PoolReady        int     `json:"pool_ready"`
	Events           uint64  `json:"events"`
	// PriceFactor is the grid's quote (factor of the list price) and
	// DelayS the provisioning delay (s) a request made now would get;
	// NodesInService the computers open to allocation.
	PriceFactor    float64 `json:"price_factor"`
	DelayS         float64 `json:"delay_s"`
	NodesInService int     `json:"nodes_in_service"`
	// The true peaks since the previous sample (every event looked at):
	// busy partitions, requests pending (all, requesters' own), held,
	// commands waiting for the master, and the longest configuration
	// queue of one node.
	BusyPeak           int `json:"busy_peak"`
	PendingPeak        int `json:"pending_peak"`
	HonestPendingPeak  int `json:"honest_pending_peak"`
	HeldPeak           int `json:"held_peak"`
	MasterQueuePeak    int `json:"master_queue_peak"`
	ConfigQueueMaxPeak int `json:"config_queue_max_peak"`
}

// peaks are the highest levels seen since the last sample.
type peaks struct {
	busy, pending, honest, held, master, nodeQueue int
}

// notePeaks raises the peaks after an event: the counts it may have
// changed, and the configuration queue of the node it concerned.
func (s *engine) notePeaks(ev event) {
	p := &s.peak
	p.busy = max(p.busy, s.mk.busyN)
	p.pending = max(p.pending, s.m.PendingCount())
	p.honest = max(p.honest, s.honestPend)
	p.held = max(p.held, s.held)
	p.master = max(p.master, s.masterQueue())
	if ev.node >= 0 {
		p.nodeQueue = max(p.nodeQueue, s.nodes[ev.node].queued())
	}
}

// SeriesColumns names Sample's fields in CSV order.
var SeriesColumns = []string{"t_hours", "busy", "free", "pending", "honest_pending", "held", "master_queue",
	"config_queue", "config_queue_max", "nodes_configuring", "nodes_down", "nodes_cut", "revenue",
	"utilisation", "spec_unsold", "spec_sold", "pool_ready", "events", "price_factor", "delay_s", "nodes_in_service",
	"busy_peak", "pending_peak", "honest_pending_peak", "held_peak", "master_queue_peak", "config_queue_max_peak"}

// Row is the sample as CSV fields, in SeriesColumns order.
func (x Sample) Row() []float64 {
	return []float64{x.T, float64(x.Busy), float64(x.Free), float64(x.Pending), float64(x.HonestPending),
		float64(x.Held), float64(x.MasterQueue), float64(x.ConfigQueue), float64(x.ConfigQueueMax),
		float64(x.NodesConfiguring), float64(x.NodesDown), float64(x.NodesCut), x.Revenue, x.Utilisation,
		float64(x.SpecUnsold), float64(x.SpecSold), float64(x.PoolReady), float64(x.Events), x.PriceFactor, x.DelayS,
		float64(x.NodesInService), float64(x.BusyPeak), float64(x.PendingPeak), float64(x.HonestPendingPeak),
		float64(x.HeldPeak), float64(x.MasterQueuePeak), float64(x.ConfigQueueMaxPeak)}
}

func (s *engine) sample() {
	if s.now < s.end {
		s.schedule(evSample, s.now+int64(s.sc.SampleEvery), -1, 0)
	}
	free, busy := s.m.Capacity()
	x := Sample{T: float64(s.now) / float64(time.Hour), Busy: busy, Free: free, Pending: s.m.PendingCount(),
		HonestPending: s.honestPend, Held: s.held, MasterQueue: s.masterQueue(), Revenue: s.revenue.at(s.now),
		Events: s.nEvts}
	if busy+free > 0 {
		x.Utilisation = float64(busy) / float64(busy+free)
	}
	for _, n := range s.nodes {
		q := n.queued()
		x.ConfigQueue += q
		x.ConfigQueueMax = max(x.ConfigQueueMax, q)
		if n.inFlight > 0 {
			x.NodesConfiguring++
		}
		if !n.up {
			x.NodesDown++
		}
		if n.cut > 0 {
			x.NodesCut++
		}
	}
	// Peaks: the interval's, including the levels now.
	s.notePeaks(event{node: -1})
	x.BusyPeak, x.PendingPeak, x.HonestPendingPeak = s.peak.busy, s.peak.pending, s.peak.honest
	x.HeldPeak, x.MasterQueuePeak = s.peak.held, s.peak.master
	x.ConfigQueueMaxPeak = max(s.peak.nodeQueue, x.ConfigQueueMax)
	s.peak = peaks{}
	specUnits := 0
	for _, sp := range s.specs {
		x.SpecUnsold += sp.unsold
		x.SpecSold += sp.sold
		specUnits += sp.unsold + sp.sold
	}
	x.PoolReady = int(math.Round(s.poolIdl.level))
	if len(s.mk.gOpen) > 0 {
		x.PriceFactor = s.quote("")
		x.DelayS = s.provisioningDelay().Seconds()
		x.NodesInService = int(math.Round(s.mk.nodes.level))
	}
	s.series = append(s.series, x)
	s.samples++
	st := &s.stats
	st.peakQueue = max(st.peakQueue, x.ConfigQueue)
	st.peakNodeQueue = max(st.peakNodeQueue, x.ConfigQueueMax)
	st.sumQueue += float64(x.ConfigQueue)
	st.sumUtil += x.Utilisation
	st.peakUtil = math.Max(st.peakUtil, x.Utilisation)
	if busy > 0 {
		st.sumSpecShare += float64(specUnits) / float64(busy)
	}
}

// Result is what a run produced.
type Result struct {
	Summary Summary  `json:"summary"`
	Series  []Sample `json:"-"`
	// Marks are the scenario's disturbances, for figures to shade.
	Marks []Mark `json:"-"`
}

// Mark kinds.
const (
	MarkOutage = "outage" // region or master outage, network partition
	MarkBurst  = "burst"  // a flash crowd
	MarkStorm  = "storm"  // a mass reconfiguration (an instant)
	MarkGrid   = "grid"   // computers joining or retiring (an instant)
)

// Mark is one disturbance of the run: from From to To, in hours of
// virtual time (equal for an instant).
type Mark struct {
	Kind, Label string
	From, To    float64
}

// marks lists the scenario's disturbances within the run.
func (s *engine) marks() []Mark {
	sc := s.sc
	h := func(d scenario.Duration) float64 { return d.D().Hours() }
	var out []Mark
	add := func(kind, label string, from, to scenario.Duration) {
		if from < sc.Duration {
			out = append(out, Mark{Kind: kind, Label: label, From: h(from), To: h(min(to, sc.Duration))})
		}
	}
	for _, o := range sc.Failures.RegionOutages {
		add(MarkOutage, "region outage "+o.Region, o.At, o.At+o.Duration)
	}
	for _, o := range sc.Failures.MasterOutages {
		add(MarkOutage, "master outage", o.At, o.At+o.Duration)
	}
	for _, o := range sc.Failures.NetworkPartitions {
		add(MarkOutage, "network partition", o.At, o.At+o.Duration)
	}
	for _, b := range sc.Workload.Bursts {
		add(MarkBurst, fmt.Sprintf("burst of %d", b.Count), b.At, b.At+b.Within)
	}
	for _, st := range sc.Storms {
		where := st.Region
		if where == "" {
			where = "grid"
		}
		add(MarkStorm, "storm ("+st.Kind+", "+where+")", st.At, st.At)
	}
	for _, g := range sc.Nodes {
		if g.JoinAt > 0 {
			add(MarkGrid, g.Name+" joins", g.JoinAt, g.JoinAt)
		}
		if g.RetireAt > 0 {
			add(MarkGrid, g.Name+" retires", g.RetireAt, g.RetireAt)
		}
	}
	return out
}

// Summary is the run's outcome, as summary.json holds it. Every figure
// but Performance depends only on the scenario and the seed.
type Summary struct {
	Scenario      string              `json:"scenario"`
	Seed          uint64              `json:"seed"`
	ConfigSHA256  string              `json:"config_sha256"`
	TraceHash     string              `json:"trace_hash"`
	TraceLines    uint64              `json:"trace_lines"`
	Virtual       string              `json:"virtual"`
	SimulatedTo   string              `json:"simulated_to"`
	Events        uint64              `json:"events"`
	Nodes         int                 `json:"nodes"`
	Partitions    int                 `json:"partitions"`
	Master        MasterSummary       `json:"master"`
	Agents        AgentSummary        `json:"agents"`
	Placements    PlacementSummary    `json:"placements"`
	Convergence   []ConvergenceEntry  `json:"convergence"`
	Crashes       CrashSummary        `json:"crashes"`
	Economics     EconomicsSummary    `json:"economics"`
	Speculation   *SpeculationSummary `json:"speculation,omitempty"`
	Preallocation *PoolSummary        `json:"preallocation,omitempty"`
	Objectives    Objectives          `json:"objectives"`
	Invariants    InvariantSummary    `json:"invariants"`
	Performance   Performance         `json:"performance"`
}

// MasterSummary: the master's load.
type MasterSummary struct {
	Commands      uint64 `json:"commands"`
	Errors        uint64 `json:"errors"`
	LostInOutages uint64 `json:"lost_in_outages"`
	PeakQueue     int    `json:"peak_queue"`
	Restarts      uint64 `json:"restarts"` // restarts from the durable store
}

// AgentSummary: what the nodes did.
type AgentSummary struct {
	Polls          uint64 `json:"polls"`
	FullViews      uint64 `json:"full_views"`
	Plans          uint64 `json:"plans"`
	Actions        uint64 `json:"actions"`
	ActionFailures uint64 `json:"action_failures"`
	Builds         uint64 `json:"builds"`
	CacheHits      uint64 `json:"cache_hits"`
	BuildFailures  uint64 `json:"build_failures"`
	Crashes        uint64 `json:"crashes"`
	// DestroyedRefused and PublicationsRefused: destruction reports and
	// publications the master refused. PublicationsKept: publications the
	// nodes kept for a later pass (the master could not be reached, or
	// went down before applying them); PublicationsDropped: kept ones
	// given up (their instance left the node, or a wipe lost them).
	DestroyedRefused    uint64 `json:"destroyed_refused"`
	PublicationsRefused uint64 `json:"publications_refused"`
	PublicationsKept    uint64 `json:"publications_kept"`
	PublicationsDropped uint64 `json:"publications_dropped"`
	// Publications counts connection parameters published (own and per
	// shared instance), PromiseReports the changes of promise state
	// reported, DestroyedReports the destroyed partitions told again.
	Publications     uint64  `json:"publications"`
	PromiseReports   uint64  `json:"promise_reports"`
	DestroyedReports uint64  `json:"destroyed_reports_again"`
	PeakConfigQueue  int     `json:"peak_config_queue"`
	PeakNodeQueue    int     `json:"peak_node_queue"`
	MeanConfigQueue  float64 `json:"mean_config_queue"`
	// UsageJournals counts the usage journals closed, UsageDelivered those
	// the master accepted, UsageRetries the deliveries tried again after
	// the master was away or lost one.
	UsageJournals  uint64 `json:"usage_journals"`
	UsageDelivered uint64 `json:"usage_delivered"`
	UsageRetries   uint64 `json:"usage_retries"`
}

// Stats summarises durations, in seconds.
type Stats struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_s"`
	P50   float64 `json:"p50_s"`
	P95   float64 `json:"p95_s"`
	Max   float64 `json:"max_s"`
}

// PlacementSummary: how requests fared.
type PlacementSummary struct {
	// Initial instances were deployed before the start (warm start).
	Initial uint64 `json:"initial"`
	// Demands are the requesters' needs during the run; Placed those that
	// got a partition (their own, a pool unit or a speculator's).
	Demands uint64 `json:"demands"`
	Placed  uint64 `json:"placed"`
	// Instances placed by the master during the run, every account.
	Instances        uint64           `json:"instances_placed"`
	PlacedAtOnce     uint64           `json:"placed_at_once"`
	PendingAtEnd     int              `json:"pending_at_end"`
	HonestPendingEnd int              `json:"honest_pending_at_end"`
	Abandoned        uint64           `json:"abandoned"`
	RejectedBudget   uint64           `json:"rejected_budget"`
	RejectedOutage   uint64           `json:"rejected_outage"`
	Completed        uint64           `json:"completed"`
	ParameterChanges uint64           `json:"parameter_changes"`
	StormChanges     uint64           `json:"storm_changes"`
	PendingTime      Stats            `json:"pending_time"`
	ServiceTime      Stats            `json:"service_time"`
	ServiceByRoute   map[string]Stats `json:"service_time_by_route"`
	ServiceBySW      map[string]Stats `json:"service_time_by_software"`
}

// ConvergenceEntry is the time a set of nodes took to converge after an
// event.
type ConvergenceEntry struct {
	Event       string  `json:"event"`
	At          float64 `json:"at_hours"`
	Nodes       int     `json:"nodes"`
	Converged   bool    `json:"converged"`
	AfterS      float64 `json:"after_s"` // -1 when not converged
	Excused     int     `json:"excused"`
	WithinBound bool    `json:"within_bound"`
}

// CrashSummary: convergence after random node crashes.
type CrashSummary struct {
	Count     int   `json:"count"`
	Converged int   `json:"converged"`
	After     Stats `json:"after"`
}

// EconomicsSummary: money and use.
type EconomicsSummary struct {
	Currency        string             `json:"currency"`
	InvoicedTotal   float64            `json:"invoiced_total"`
	InvoicedByRes   map[string]float64 `json:"invoiced_by_resource"`
	HostingAccrued  float64            `json:"hosting_accrued"`
	Invoices        int                `json:"invoices"`
	UtilisationMean float64            `json:"utilisation_mean"`
	UtilisationPeak float64            `json:"utilisation_peak"`
	UtilisationEnd  float64            `json:"utilisation_end"`
}

// SpeculationSummary: what speculators did and earned.
type SpeculationSummary struct {
	Speculators       int     `json:"speculators"`
	ProvisioningDelay string  `json:"provisioning_delay"`
	Orders            uint64  `json:"orders"`
	RequestsSent      uint64  `json:"requests_sent"`
	Cancelled         uint64  `json:"cancelled"`
	Sales             uint64  `json:"sales"`
	ReleasedUnsold    uint64  `json:"released_unsold"`
	HoardedUnitHours  float64 `json:"hoarded_unit_hours"`
	PeakUnsold        int     `json:"peak_unsold"`
	MeanShareOfBusy   float64 `json:"mean_share_of_busy"`
	Income            float64 `json:"income"`
	Cost              float64 `json:"cost"`
	Profit            float64 `json:"profit"`
	ResalePremium     float64 `json:"resale_premium_paid"`
	AggressivenessEnd float64 `json:"aggressiveness_end"`
}

// PoolSummary: the pre-allocation pool.
type PoolSummary struct {
	Handovers     uint64  `json:"handovers"`
	Misses        uint64  `json:"misses"`
	Orders        uint64  `json:"orders"`
	Released      uint64  `json:"released"`
	IdleUnitHours float64 `json:"idle_unit_hours"`
	IdleCost      float64 `json:"idle_cost"`
}

// InvariantSummary: what was checked.
type InvariantSummary struct {
	Checks     uint64 `json:"checks"`
	FullChecks uint64 `json:"full_checks"`
	Violation  string `json:"violation,omitempty"`
	Reproduce  string `json:"reproduce,omitempty"`
}

// Performance: how fast the run went (the only figures that vary between
// runs of the same seed).
type Performance struct {
	WallSeconds     float64 `json:"wall_s"`
	EventsPerSecond float64 `json:"events_per_s"`
	VirtualToReal   float64 `json:"virtual_to_real"`
}

func durStats(ns []float64) Stats {
	if len(ns) == 0 {
		return Stats{}
	}
	v := slices.Clone(ns)
	slices.Sort(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(v)))) - 1
		return v[min(max(i, 0), len(v)-1)] / 1e9
	}
	return Stats{Count: len(v), Mean: sum / float64(len(v)) / 1e9, P50: q(0.5), P95: q(0.95), Max: v[len(v)-1] / 1e9}
}

var routeNames = [3]string{"own", "pool", "resale"}

// finish closes the books: a last sample, a full check, invoices from
// core/account, and the summary.
func (s *engine) finish(wall time.Duration) *Result {
	if s.violation == nil {
		s.sample()
		s.fullCheck()
	}
	st := &s.stats
	var ac agent.Counters
	var oc agent.OutboxCounters
	for _, n := range s.nodes {
		ac = addCounters(ac, addCounters(n.oldCounts, n.ag.Counters()))
		oc = addOutbox(oc, addOutbox(n.oldOutbox, n.ag.OutboxCounters()))
	}
	st.Plans = ac.Plans
	cfgSum := sha256.Sum256([]byte(s.sc.Canonical()))
	sum := Summary{
		Scenario: s.sc.Name, Seed: s.opts.Seed, ConfigSHA256: hex.EncodeToString(cfgSum[:]),
		Virtual: s.sc.Duration.D().String(), SimulatedTo: time.Duration(s.now).String(), Events: s.nEvts,
		Nodes: len(s.nodes), Partitions: s.sc.TotalPartitions(),
		Master: MasterSummary{Commands: st.Commands, Errors: st.CommandErrors, LostInOutages: st.CommandsLost, PeakQueue: s.peakMQueue, Restarts: st.MasterRestarts},
		Agents: AgentSummary{Polls: st.Polls, FullViews: st.FullViews, Plans: st.Plans, Actions: st.Actions,
			ActionFailures: st.ActionFailures, Builds: st.Builds, CacheHits: st.CacheHits, BuildFailures: st.BuildFailures,
			Crashes: st.Crashes, Publications: st.Publications, PromiseReports: st.PromiseReports,
			DestroyedReports: st.DestroyedReports, PeakConfigQueue: st.peakQueue, PeakNodeQueue: st.peakNodeQueue,
			UsageJournals: st.UsageJournals, UsageDelivered: st.UsageDelivered, UsageRetries: st.UsageRetries},
	}
	if s.samples > 0 {
		sum.Agents.MeanConfigQueue = st.sumQueue / float64(s.samples)
	}
	sum.Agents.DestroyedRefused, sum.Agents.PublicationsRefused = st.DestroyedRefused, st.PublicationsRefused
	sum.Agents.PublicationsKept, sum.Agents.PublicationsDropped = oc.Kept, oc.Dropped
	var all []float64
	byRoute := map[string]Stats{}
	for i, v := range st.ServiceTimes {
		all = append(all, v...)
		if len(v) > 0 {
			byRoute[routeNames[i]] = durStats(v)
		}
	}
	sum.Placements = PlacementSummary{Initial: st.Initial, Demands: st.Demands, Placed: st.DemandsPlaced, Instances: st.Placements,
		PlacedAtOnce: st.PlacedAtOnce, PendingAtEnd: s.m.PendingCount(), HonestPendingEnd: s.honestPend,
		Abandoned: st.Abandoned, RejectedBudget: st.RejectedBudget, RejectedOutage: st.RejectedOutage,
		Completed: st.Completed, ParameterChanges: st.ParameterChanges, StormChanges: st.StormChanges,
		PendingTime: durStats(st.PendingTimes), ServiceTime: durStats(all), ServiceByRoute: byRoute,
		ServiceBySW: map[string]Stats{}}
	for sw, v := range st.ServiceBySW {
		sum.Placements.ServiceBySW[s.sc.Software[sw].URL] = durStats(v)
	}

	var crashAfter []float64
	for _, w := range s.watches {
		if w.crash {
			if w.start < 0 {
				continue
			}
			sum.Crashes.Count++
			if w.converged >= 0 {
				sum.Crashes.Converged++
				crashAfter = append(crashAfter, float64(w.converged-w.start))
			}
			continue
		}
		e := ConvergenceEntry{Event: w.label, At: float64(w.start) / float64(time.Hour), Nodes: len(w.nodes),
			Converged: w.converged >= 0, AfterS: -1, Excused: w.excused}
		if w.start < 0 {
			e.At = -1 // never healed within the run
		}
		if w.converged >= 0 {
			e.AfterS = float64(w.converged-w.start) / 1e9
		}
		b := s.sc.Liveness.ConvergeWithin
		e.WithinBound = !w.failed && (b <= 0 || (w.converged >= 0 && w.converged-w.start <= int64(b)) || w.converged < 0 && s.now-w.start < int64(b))
		sum.Convergence = append(sum.Convergence, e)
	}
	sum.Crashes.After = durStats(crashAfter)

	// Money, from core/account through the master's invoices.
	end := s.time()
	inv, _ := s.m.Invoices(model.Admin, "", s.t0, end, end)
	eco := EconomicsSummary{InvoicedByRes: map[string]float64{}, HostingAccrued: round6(s.revenue.at(s.now)), Invoices: len(inv)}
	currencies := map[string]bool{}
	for _, in := range inv {
		eco.InvoicedTotal += in.Total
		currencies[in.Currency] = true
		for _, l := range in.Lines {
			eco.InvoicedByRes[l.Resource] += l.Amount
		}
	}
	eco.InvoicedTotal = round6(eco.InvoicedTotal)
	for k, v := range eco.InvoicedByRes {
		eco.InvoicedByRes[k] = round6(v)
	}
	for i, c := range slices.Sorted(maps.Keys(currencies)) {
		if i > 0 {
			eco.Currency += ","
		}
		eco.Currency += c
	}
	if s.samples > 0 {
		eco.UtilisationMean = st.sumUtil / float64(s.samples)
		eco.UtilisationPeak = st.peakUtil
		eco.UtilisationEnd = s.series[len(s.series)-1].Utilisation
	}
	sum.Economics = eco

	if len(s.specs) > 0 {
		sp := &SpeculationSummary{Speculators: len(s.specs), ProvisioningDelay: s.sc.Master.ProvisioningDelay.D().String(),
			RequestsSent: st.SpecRequests, HoardedUnitHours: round6(s.hoard.at(s.now)), ResalePremium: round6(st.ResalePremium)}
		alpha := 0.0
		for _, x := range s.specs {
			sp.Orders += x.orders
			sp.Cancelled += x.cancelled
			sp.Sales += x.sales
			sp.ReleasedUnsold += x.released
			sp.Income += x.income
			sp.Cost += x.cost
			alpha += x.alpha
		}
		for _, x := range s.series {
			sp.PeakUnsold = max(sp.PeakUnsold, x.SpecUnsold)
		}
		sp.Income, sp.Cost = round6(sp.Income), round6(sp.Cost)
		sp.Profit = round6(sp.Income - sp.Cost)
		sp.AggressivenessEnd = round6(alpha / float64(len(s.specs)))
		if s.samples > 0 {
			sp.MeanShareOfBusy = round6(st.sumSpecShare / float64(s.samples))
		}
		sum.Speculation = sp
	}
	if s.poolP >= 0 {
		idle := s.poolIdl.at(s.now)
		sum.Preallocation = &PoolSummary{Handovers: st.PoolHandovers, Misses: st.PoolMisses, Orders: st.PoolOrders,
			Released: st.PoolReleased, IdleUnitHours: round6(idle), IdleCost: round6(idle * s.gridHourly)}
	}
	if len(s.mk.gOpen) > 0 {
		sum.Objectives = s.objectives(&sum)
	}
	sum.Invariants = InvariantSummary{Checks: s.checks, FullChecks: st.FullChecks}
	if v := s.violation; v != nil {
		sum.Invariants.Violation = v.Error()
		sum.Invariants.Reproduce = v.Reproduce
	}
	sum.TraceHash = s.trace.sum()
	sum.TraceLines = s.trace.lines
	if w := wall.Seconds(); w > 0 {
		sum.Performance = Performance{WallSeconds: round6(w), EventsPerSecond: math.Round(float64(s.nEvts) / w),
			VirtualToReal: math.Round(time.Duration(s.now).Seconds() / w)}
	}
	return &Result{Summary: sum, Series: s.series, Marks: s.marks()}
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
