package scenario

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/market"
	"github.com/slapgo/slapgo/core/model"
)

// DefaultStart is the virtual clock's default origin: a Monday, midnight UTC.
const DefaultStart = "2025-01-06T00:00:00Z"

func ptr[T any](v T) *T { return &v }

func defDist(d *Dist, def Dist) {
	if d.IsZero() {
		*d = def
	}
}

func defDur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

// applyDefaults fills every zero field with its documented default.
func (s *Scenario) applyDefaults(name string) {
	if s.Name == "" {
		s.Name = name
	}
	defDur(&s.Duration, 24*time.Hour)
	if s.Start == "" {
		s.Start = DefaultStart
	}
	defDur(&s.SampleEvery, 5*time.Minute)

	m := &s.Master
	if m.Policy == "" {
		m.Policy = string(alloc.PolicyFirstFit)
	}
	defDist(&m.CommandCost, Dist{Kind: DistConstant, Mean: Duration(2 * time.Millisecond)})
	if m.KeepMovements == nil {
		m.KeepMovements = ptr(true)
	}

	a := &s.Agent
	defDur(&a.PollInterval, 60*time.Second)
	defDur(&a.MaximumPeriodicity, 24*time.Hour)
	defDur(&a.RetryBase, time.Minute)
	defDur(&a.RetryMax, time.Hour)
	defDist(&a.Deploy, Dist{Kind: DistLognormal, Mean: Duration(30 * time.Second), Sigma: 0.8})
	defDist(&a.Configure, Dist{Kind: DistLognormal, Mean: Duration(time.Second), Sigma: 0.5})
	defDist(&a.Start, Dist{Kind: DistConstant, Mean: Duration(200 * time.Millisecond)})
	defDist(&a.Stop, Dist{Kind: DistConstant, Mean: Duration(200 * time.Millisecond)})
	defDist(&a.Destroy, Dist{Kind: DistConstant, Mean: Duration(2 * time.Second)})
	defDist(&a.Build, Dist{Kind: DistLognormal, Mean: Duration(30 * time.Minute), Sigma: 0.6})
	if a.CacheHitRatio == nil {
		a.CacheHitRatio = ptr(0.9)
	}
	defDist(&a.CacheFetch, Dist{Kind: DistLognormal, Mean: Duration(2 * time.Minute), Sigma: 0.5})
	defDur(&a.UsageReportEvery, 24*time.Hour)
	defDur(&a.UsageSampleEvery, time.Hour)
	defDur(&a.PromiseInterval, -1)

	if len(s.Software) == 0 {
		s.Software = []Software{{URL: "https://lab.slapgo.example/software/default/software.cfg"}}
	}
	for i := range s.Software {
		sw := &s.Software[i]
		if sw.Weight == 0 {
			sw.Weight = 1
		}
		defDist(&sw.Deploy, a.Deploy)
		if len(sw.Types) == 0 {
			sw.Types = []string{model.DefaultSoftwareType}
		}
	}
	for i := range s.Nodes {
		g := &s.Nodes[i]
		if g.Name == "" {
			g.Name = fmt.Sprintf("g%d", i)
		}
		if g.Partitions == 0 {
			g.Partitions = 300
		}
		if g.Network == "" {
			g.Network = g.Region
		}
		if g.Prices == nil {
			g.Prices = map[string]float64{"hosting": 0.01}
		}
		if g.Currency == "" {
			g.Currency = "EUR"
		}
		defDist(&g.Latency, Dist{Kind: DistConstant, Mean: Duration(20 * time.Millisecond)})
		if len(g.Software) == 0 {
			for _, sw := range s.Software {
				g.Software = append(g.Software, sw.URL)
			}
		}
		if g.Scope == "" {
			g.Scope = string(model.ScopeOpen)
		}
	}

	w := &s.Workload
	if w.Requesters == 0 {
		w.Requesters = 100
	}
	defDist(&w.Lifetime, Dist{Kind: DistExponential, Mean: Duration(12 * time.Hour)})
	defDur(&w.RetryAfter, 5*time.Minute)
	if len(w.SLA) == 0 {
		w.SLA = []SLAChoice{{Weight: 1}}
	}
	for i := range w.SLA {
		if w.SLA[i].Weight == 0 {
			w.SLA[i].Weight = 1
		}
	}
	for i := range w.Bursts {
		defDur(&w.Bursts[i].Within, 10*time.Minute)
		defDist(&w.Bursts[i].Lifetime, w.Lifetime)
	}
	for i := range s.Storms {
		if s.Storms[i].Kind == "" {
			s.Storms[i].Kind = "parameters"
		}
	}
	defDist(&s.Failures.NodeCrashes.Reboot, Dist{Kind: DistLognormal, Mean: Duration(5 * time.Minute), Sigma: 0.5})

	p := &s.Economics.Preallocation
	if p.Software == "" && len(s.Software) > 0 {
		p.Software = s.Software[0].URL
	}
	defDur(&p.Lead, 15*time.Minute)
	if p.Safety == 0 {
		p.Safety = 1.5
	}
	if p.Min == 0 {
		p.Min = 5
	}
	defDur(&p.RefillEvery, time.Minute)
	if p.PerRequester == 0 {
		p.PerRequester = 1
	}
	sp := &s.Economics.Speculators
	if sp.Markup == 0 {
		sp.Markup = 3
	}
	defDur(&sp.DecideEvery, time.Minute)
	if sp.Threshold == 0 {
		sp.Threshold = 0.05
	}
	if sp.Aggressiveness == 0 {
		sp.Aggressiveness = 1
	}
	if sp.Learning == 0 {
		sp.Learning = 0.2
	}
	if sp.MaxAggressiveness == 0 {
		sp.MaxAggressiveness = 8
	}
	if sp.MaxStock == 0 {
		sp.MaxStock = 500
	}
	defDur(&sp.HoldMax, 2*time.Hour)
	defDur(&s.Liveness.ConvergeWithin, time.Hour)
}

// validator collects problems, each located by its field path.
type validator struct {
	w    *walker
	errs []error
}

func (v *validator) errf(path, format string, args ...any) {
	line, set := v.w.where(path)
	v.errs = append(v.errs, &FieldError{File: v.w.file, Line: line, Set: set, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) nonNeg(path string, d Duration) {
	if d < 0 {
		v.errf(path, "%s is negative: expected a duration >= 0", d.D())
	}
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.errf(path, "%s: expected a duration > 0", d.D())
	}
}

func (v *validator) prob(path string, p float64, inclusiveOne bool) {
	if p < 0 || p > 1 || (p == 1 && !inclusiveOne) || math.IsNaN(p) {
		hi := "1]"
		if !inclusiveOne {
			hi = "1)"
		}
		v.errf(path, "%v: expected a probability in [0, %s", p, hi)
	}
}

func (v *validator) dist(path string, d Dist) {
	switch d.Kind {
	case DistConstant:
		v.nonNeg(path+".mean", d.Mean)
	case DistExponential:
		v.positive(path+".mean", d.Mean)
	case DistLognormal:
		v.positive(path+".mean", d.Mean)
		if d.Sigma < 0 || d.Sigma > 5 {
			v.errf(path+".sigma", "%v: expected a shape in [0, 5]", d.Sigma)
		}
	case DistUniform:
		v.nonNeg(path+".min", d.Min)
		if d.Max < d.Min || d.Max <= 0 {
			v.errf(path+".max", "%s: a uniform distribution needs max > 0 and max >= min (%s)", d.Max.D(), d.Min.D())
		}
		return
	default:
		v.errf(path+".dist", "%q is unknown: expected constant, uniform, exponential or lognormal", d.Kind)
		return
	}
	v.nonNeg(path+".min", d.Min)
	v.nonNeg(path+".max", d.Max)
	if d.Max > 0 && d.Max < d.Min {
		v.errf(path+".max", "%s is below min %s", d.Max.D(), d.Min.D())
	}
}

// within checks a moment of the run. A moment at or after the end is
// allowed (the event does not happen), so that a scenario can be shortened
// with --set duration=….
func (v *validator) within(path string, at Duration) {
	if at < 0 {
		v.errf(path, "%s is negative: expected a moment from the start of the run (0 or more)", at.D())
	}
}

// validate checks the whole scenario, after defaults.
func (s *Scenario) validate(v *validator) {
	v.positive("duration", s.Duration)
	if _, err := time.Parse(time.RFC3339, s.Start); err != nil {
		v.errf("start", "%q: expected an RFC 3339 time such as %s", s.Start, DefaultStart)
	}
	v.positive("sample_every", s.SampleEvery)
	if s.Duration > 0 && s.SampleEvery > 0 && s.Duration/s.SampleEvery > 1_000_000 {
		v.errf("sample_every", "%s gives more than a million samples over %s: choose a longer period", s.SampleEvery.D(), s.Duration.D())
	}

	if _, err := alloc.ParsePolicy(s.Master.Policy); err != nil {
		v.errf("master.policy", "%q is unknown: expected one of first-fit, cheapest, pack, spread, random", s.Master.Policy)
	}
	v.nonNeg("master.online_within", s.Master.OnlineWithin)
	v.dist("master.command_cost", s.Master.CommandCost)
	v.nonNeg("master.provisioning_delay", s.Master.ProvisioningDelay)
	if dp := s.Master.DelayPolicy; dp != nil {
		if err := dp.Curve().Validate(); err != nil {
			v.errf("master.delay_policy", "%s", strings.TrimPrefix(err.Error(), market.ErrCurve.Error()+": "))
		}
	}

	a := &s.Agent
	v.positive("agent.poll_interval", a.PollInterval)
	v.positive("agent.usage_sample_every", a.UsageSampleEvery)
	v.positive("agent.retry_base", a.RetryBase)
	if a.RetryMax < a.RetryBase {
		v.errf("agent.retry_max", "%s is below retry_base %s", a.RetryMax.D(), a.RetryBase.D())
	}
	for _, d := range []struct {
		name string
		d    Dist
	}{{"deploy", a.Deploy}, {"configure", a.Configure}, {"start", a.Start}, {"stop", a.Stop},
		{"destroy", a.Destroy}, {"build", a.Build}, {"cache_fetch", a.CacheFetch}} {
		v.dist("agent."+d.name, d.d)
	}
	v.prob("agent.cache_hit_ratio", *a.CacheHitRatio, true)
	v.prob("agent.build_failure", a.BuildFailure, false)

	urls := map[string]bool{}
	totalWeight := 0.0
	for i, sw := range s.Software {
		p := fmt.Sprintf("software[%d]", i)
		if err := model.ValidateSoftwareURL(sw.URL); err != nil {
			v.errf(p+".url", "%s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
		}
		if urls[sw.URL] {
			v.errf(p+".url", "%q is listed twice", sw.URL)
		}
		urls[sw.URL] = true
		if sw.Weight < 0 || math.IsNaN(sw.Weight) {
			v.errf(p+".weight", "%v: expected a weight >= 0", sw.Weight)
		}
		totalWeight += sw.Weight
		if sw.SupplyAt != 0 {
			v.within(p+".supply_at", sw.SupplyAt)
		}
		v.dist(p+".deploy", sw.Deploy)
		for j, t := range sw.Types {
			if strings.TrimSpace(t) == "" {
				v.errf(fmt.Sprintf("%s.types[%d]", p, j), "empty software type")
			}
		}
	}
	if totalWeight <= 0 {
		v.errf("software", "the weights add up to 0: at least one software must have a weight > 0")
	}
	if len(s.Software) > 0 && !slices.ContainsFunc(s.Software, func(sw Software) bool { return sw.SupplyAt == 0 && sw.Weight > 0 }) {
		v.errf("software", "every release is supplied later (supply_at): at least one must be there from the start")
	}

	if len(s.Nodes) == 0 {
		v.errf("nodes", "no node group: expected at least one, e.g. nodes: [{count: 10, region: eu}]")
	}
	regions := map[string]bool{}
	names := map[string]bool{}
	totalParts := 0
	for i := range s.Nodes {
		g := &s.Nodes[i]
		p := fmt.Sprintf("nodes[%d]", i)
		if err := model.ValidateID("name", g.Name); err != nil {
			v.errf(p+".name", "%s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
		}
		if names[g.Name] {
			v.errf(p+".name", "%q is used by another group: names make computer ids and must differ", g.Name)
		}
		names[g.Name] = true
		if g.Count < 1 || g.Count > 1_000_000 {
			v.errf(p+".count", "%d: expected 1 to 1000000 computers", g.Count)
		}
		if g.Partitions < 1 || g.Partitions > 100_000 {
			v.errf(p+".partitions", "%d: expected 1 to 100000 partitions per computer", g.Partitions)
		}
		totalParts += g.Count * g.Partitions
		regions[g.Region] = true
		for _, k := range slices.Sorted(maps.Keys(g.Prices)) {
			if pr := g.Prices[k]; pr < 0 || math.IsNaN(pr) || math.IsInf(pr, 0) {
				v.errf(p+".prices."+k, "%v: expected a price >= 0", pr)
			}
		}
		if g.PriceSpread < 0 || g.PriceSpread >= 1 {
			v.errf(p+".price_spread", "%v: expected a fraction in [0, 1)", g.PriceSpread)
		}
		v.dist(p+".latency", g.Latency)
		v.prob(p+".loss", g.Loss, false)
		for j, u := range g.Software {
			if !urls[u] {
				v.errf(fmt.Sprintf("%s.software[%d]", p, j), "%q is not in the scenario's software list", u)
			}
		}
		if _, err := model.ParseScope(g.Scope); err != nil {
			v.errf(p+".scope", "%q: expected open or closed", g.Scope)
		}
		if g.Hardware.CPU < 0 || g.Hardware.RAM < 0 || g.Hardware.Disk < 0 {
			v.errf(p+".hardware", "hardware figures must be >= 0")
		}
	}

	w := &s.Workload
	if w.Requesters < 1 {
		v.errf("workload.requesters", "%d: expected at least 1", w.Requesters)
	}
	if w.Budget < 0 {
		v.errf("workload.budget", "%v: expected a budget >= 0 (0 = unlimited)", w.Budget)
	}
	if w.Initial < 0 || (totalParts > 0 && w.Initial > totalParts) {
		v.errf("workload.initial", "%d: expected 0 to %d (the grid's partitions)", w.Initial, totalParts)
	}
	if w.RatePerHour < 0 {
		v.errf("workload.rate_per_hour", "%v: expected a rate >= 0", w.RatePerHour)
	}
	if w.Diurnal.Amplitude < 0 || w.Diurnal.Amplitude > 1 {
		v.errf("workload.diurnal.amplitude", "%v: expected a fraction in [0, 1]", w.Diurnal.Amplitude)
	}
	if w.Diurnal.PeakHour < 0 || w.Diurnal.PeakHour >= 24 {
		v.errf("workload.diurnal.peak_hour", "%v: expected an hour in [0, 24)", w.Diurnal.PeakHour)
	}
	for i, b := range w.Bursts {
		p := fmt.Sprintf("workload.bursts[%d]", i)
		v.within(p+".at", b.At)
		if b.Count < 1 {
			v.errf(p+".count", "%d: expected at least 1 request", b.Count)
		}
		v.positive(p+".within", b.Within)
		v.dist(p+".lifetime", b.Lifetime)
		if _, err := model.ParseSLA(b.SLA); err != nil {
			v.errf(p+".sla", "%s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
		}
	}
	v.dist("workload.lifetime", w.Lifetime)
	if w.ParameterChangesPerHour < 0 {
		v.errf("workload.parameter_changes_per_hour", "%v: expected a rate >= 0", w.ParameterChangesPerHour)
	}
	v.nonNeg("workload.patience", w.Patience)
	v.positive("workload.retry_after", w.RetryAfter)
	for i, c := range w.SLA {
		p := fmt.Sprintf("workload.sla[%d]", i)
		if c.Weight < 0 {
			v.errf(p+".weight", "%v: expected a weight >= 0", c.Weight)
		}
		if _, err := model.ParseSLA(c.Conditions); err != nil {
			v.errf(p+".conditions", "%s", strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
		}
	}

	for i, st := range s.Storms {
		p := fmt.Sprintf("storms[%d]", i)
		v.within(p+".at", st.At)
		if st.Region != "" && !regions[st.Region] {
			v.errf(p+".region", "%q is not the region of any node group (%s)", st.Region, listRegions(regions))
		}
		if st.Kind != "parameters" && st.Kind != "bang" {
			v.errf(p+".kind", "%q: expected parameters or bang", st.Kind)
		}
	}

	f := &s.Failures
	if f.NodeCrashes.PerNodePerDay < 0 {
		v.errf("failures.node_crashes.per_node_per_day", "%v: expected a rate >= 0", f.NodeCrashes.PerNodePerDay)
	}
	v.dist("failures.node_crashes.reboot", f.NodeCrashes.Reboot)
	for i, o := range f.RegionOutages {
		p := fmt.Sprintf("failures.region_outages[%d]", i)
		v.within(p+".at", o.At)
		v.positive(p+".duration", o.Duration)
		v.nonNeg(p+".boot_spread", o.BootSpread)
		if !regions[o.Region] {
			v.errf(p+".region", "%q is not the region of any node group (%s)", o.Region, listRegions(regions))
		}
	}
	for i, o := range f.MasterOutages {
		p := fmt.Sprintf("failures.master_outages[%d]", i)
		v.within(p+".at", o.At)
		v.positive(p+".duration", o.Duration)
	}
	for i, o := range f.NetworkPartitions {
		p := fmt.Sprintf("failures.network_partitions[%d]", i)
		v.within(p+".at", o.At)
		v.positive(p+".duration", o.Duration)
		set := 0
		if o.Region != "" {
			set++
			if !regions[o.Region] {
				v.errf(p+".region", "%q is not the region of any node group (%s)", o.Region, listRegions(regions))
			}
		}
		if len(o.Nodes) > 0 {
			set++
			for j, id := range o.Nodes {
				if !s.HasComputer(id) {
					v.errf(fmt.Sprintf("%s.nodes[%d]", p, j), "%q is not a computer of this grid (ids are COMP-<group name>-<n>, n from 1)", id)
				}
			}
		}
		if o.Fraction != 0 {
			set++
			if o.Fraction < 0 || o.Fraction > 1 {
				v.errf(p+".fraction", "%v: expected a fraction in (0, 1]", o.Fraction)
			}
		}
		if set != 1 {
			v.errf(p, "give exactly one of region, nodes or fraction (got %d)", set)
		}
	}
	v.prob("failures.broken_instances.fraction", f.BrokenInstances.Fraction, true)
	v.prob("failures.transient_failure", f.TransientFailure, false)

	pa := &s.Economics.Preallocation
	if pa.Enabled {
		if !urls[pa.Software] {
			v.errf("economics.preallocation.software", "%q is not in the scenario's software list", pa.Software)
		}
		v.positive("economics.preallocation.lead", pa.Lead)
		v.positive("economics.preallocation.refill_every", pa.RefillEvery)
		if pa.Safety <= 0 {
			v.errf("economics.preallocation.safety", "%v: expected a factor > 0", pa.Safety)
		}
		if pa.Min < 0 {
			v.errf("economics.preallocation.min", "%d: expected >= 0", pa.Min)
		}
		if pa.PerRequester < 1 {
			v.errf("economics.preallocation.per_requester", "%d: expected >= 1", pa.PerRequester)
		}
	}
	sp := &s.Economics.Speculators
	if sp.Count < 0 || sp.Count > 10_000 {
		v.errf("economics.speculators.count", "%d: expected 0 to 10000", sp.Count)
	}
	if sp.Count > 0 {
		if sp.Budget < 0 {
			v.errf("economics.speculators.budget", "%v: expected >= 0 (0 = unlimited)", sp.Budget)
		}
		if sp.Markup < 1 {
			v.errf("economics.speculators.markup", "%v: expected a factor >= 1", sp.Markup)
		}
		v.positive("economics.speculators.decide_every", sp.DecideEvery)
		if sp.Threshold <= 0 || sp.Threshold >= 1 {
			v.errf("economics.speculators.threshold", "%v: expected a fraction in (0, 1)", sp.Threshold)
		}
		if sp.Aggressiveness < 0 || sp.Aggressiveness > sp.MaxAggressiveness {
			v.errf("economics.speculators.aggressiveness", "%v: expected 0 to max_aggressiveness (%v)", sp.Aggressiveness, sp.MaxAggressiveness)
		}
		if sp.Learning < 0 || sp.Learning >= 1 {
			v.errf("economics.speculators.learning", "%v: expected a rate in [0, 1)", sp.Learning)
		}
		if sp.MaxStock < 1 {
			v.errf("economics.speculators.max_stock", "%d: expected >= 1", sp.MaxStock)
		}
		v.positive("economics.speculators.hold_max", sp.HoldMax)
	}
	s.validateMarket(v)
	v.nonNeg("invariants.full_check_every", s.Invariants.FullCheckEvery)
}

func (s *Scenario) validateMarket(v *validator) {
	m := &s.Economics.Market
	if pp := m.Pricing; pp != nil {
		if err := pp.Curve().Validate(); err != nil {
			v.errf("economics.market.pricing", "%s", strings.TrimPrefix(err.Error(), market.ErrCurve.Error()+": "))
		}
	}
	for _, f := range []struct {
		name string
		x    float64
	}{{"capex_per_node", m.CapexPerNode}, {"energy_per_partition_hour", m.EnergyPerPartitionHour},
		{"idle_per_partition_hour", m.IdlePerPartitionHour}, {"sla_penalty_per_hour", m.SLAPenaltyPerHour},
		{"value_per_hour", m.ValuePerHour}, {"waiting_cost_per_hour", m.WaitingCostPerHour},
		{"abandon_cost", m.AbandonCost}, {"elasticity", m.Elasticity}, {"max_price", m.MaxPrice}} {
		if f.x < 0 || math.IsNaN(f.x) || math.IsInf(f.x, 0) {
			v.errf("economics.market."+f.name, "%v: expected a finite amount >= 0", f.x)
		}
	}
	v.nonNeg("economics.market.amortisation", m.Amortisation)
	v.nonNeg("economics.market.demand_window", m.DemandWindow)
	for i, g := range s.Nodes {
		p := fmt.Sprintf("nodes[%d]", i)
		v.within(p+".join_at", g.JoinAt)
		v.within(p+".retire_at", g.RetireAt)
		if g.RetireAt > 0 && g.RetireAt <= g.JoinAt {
			v.errf(p+".retire_at", "%s: expected after join_at (%s)", g.RetireAt.D(), g.JoinAt.D())
		}
		if g.JoinAt > 0 && g.Scope == "closed" {
			v.errf(p+".join_at", "a closed group never opens: drop join_at or make the scope open")
		}
	}
}

// Curve is the core/market curve of the policy (values in seconds).
func (p *DelayPolicy) Curve() market.Curve {
	c := market.Curve{Kind: p.Kind, Base: p.Base.D().Seconds(), Max: p.Max.D().Seconds(), Gain: p.Gain, Horizon: p.Horizon.D()}
	for _, st := range p.Steps {
		c.Steps = append(c.Steps, market.StepAt{Fill: st.Fill, Value: st.Delay.D().Seconds()})
	}
	return c
}

// Curve is the core/market curve of the policy (factors of the list price).
func (p *PricePolicy) Curve() market.Curve {
	c := market.Curve{Kind: p.Kind, Base: p.Base, Max: p.Max, Gain: p.Gain, Horizon: p.Horizon.D()}
	for _, st := range p.Steps {
		c.Steps = append(c.Steps, market.StepAt{Fill: st.Fill, Value: st.Factor})
	}
	return c
}

// DefaultAmortisation and DefaultDemandWindow apply when Market leaves
// them at 0.
const (
	DefaultAmortisation = 3 * 365 * 24 * time.Hour
	DefaultDemandWindow = time.Hour
)

// AmortisationOrDefault is Amortisation, or DefaultAmortisation when 0.
func (m *Market) AmortisationOrDefault() time.Duration {
	if m.Amortisation > 0 {
		return m.Amortisation.D()
	}
	return DefaultAmortisation
}

// DemandWindowOrDefault is DemandWindow, or DefaultDemandWindow when 0.
func (m *Market) DemandWindowOrDefault() time.Duration {
	if m.DemandWindow > 0 {
		return m.DemandWindow.D()
	}
	return DefaultDemandWindow
}

func listRegions(r map[string]bool) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r)) {
		if k == "" {
			k = `""`
		}
		out = append(out, k)
	}
	return "regions: " + strings.Join(out, ", ")
}

// ComputerID is the id of the n-th computer (from 1) of a node group.
func ComputerID(group string, n int) string { return fmt.Sprintf("COMP-%s-%04d", group, n) }

// HasComputer reports whether id names a computer of the grid.
func (s *Scenario) HasComputer(id string) bool {
	for _, g := range s.Nodes {
		rest, ok := strings.CutPrefix(id, "COMP-"+g.Name+"-")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil && n >= 1 && n <= g.Count && ComputerID(g.Name, n) == id {
			return true
		}
	}
	return false
}

// TotalPartitions is the number of partitions of the grid.
func (s *Scenario) TotalPartitions() int {
	n := 0
	for _, g := range s.Nodes {
		n += g.Count * g.Partitions
	}
	return n
}
