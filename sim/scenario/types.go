package scenario

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scenario is one simulation: the grid, its agents, its workload, its
// failures and its economics. Zero fields take the defaults listed on each
// field (see Defaults).
type Scenario struct {
	// Name labels outputs; default: the file name without extension.
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Duration is the virtual time simulated (default 24h).
	Duration Duration `yaml:"duration" json:"duration"`
	// Start is the virtual clock's origin, RFC 3339 (default
	// 2025-01-06T00:00:00Z, a Monday at midnight UTC).
	Start string `yaml:"start" json:"start"`
	// SampleEvery is the period of the time series (default 5m).
	SampleEvery Duration     `yaml:"sample_every" json:"sample_every"`
	Master      Master       `yaml:"master" json:"master"`
	Agent       Agent        `yaml:"agent" json:"agent"`
	Software    []Software   `yaml:"software" json:"software"`
	Nodes       []NodeGroup  `yaml:"nodes" json:"nodes"`
	Workload    Workload     `yaml:"workload" json:"workload"`
	Storms      []Storm      `yaml:"storms" json:"storms"`
	Failures    Failures     `yaml:"failures" json:"failures"`
	Economics   Economics    `yaml:"economics" json:"economics"`
	Liveness    Liveness     `yaml:"liveness" json:"liveness"`
	Invariants  InvariantCfg `yaml:"invariants" json:"invariants"`
}

// Master is the master's model: core/master in memory behind a single
// writer that spends CommandCost on each command.
type Master struct {
	// Policy is the allocation policy (core/alloc): first-fit (default),
	// cheapest, pack, spread, random.
	Policy string `yaml:"policy" json:"policy"`
	// OnlineWithin: computers silent for longer are not allocated on
	// (core/master Config.OnlineWithin; default 0 = no such condition).
	OnlineWithin Duration `yaml:"online_within" json:"online_within"`
	// CommandCost is the time the master spends on one command (commands
	// are applied one at a time, as by one writer). Default constant 2ms.
	CommandCost Dist `yaml:"command_cost" json:"command_cost"`
	// ProvisioningDelay holds every request for a NEW instance this long
	// before the master handles it (the seed's "slowing down provisioning").
	// A request still held may be withdrawn for free. Default 0.
	ProvisioningDelay Duration `yaml:"provisioning_delay" json:"provisioning_delay"`
	// DelayPolicy makes the provisioning delay a policy of the grid's
	// state (core/market), computed when each request arrives; when set it
	// replaces ProvisioningDelay. Default none.
	DelayPolicy *DelayPolicy `yaml:"delay_policy" json:"delay_policy,omitempty"`
	// KeepMovements records accounting movements (default true).
	KeepMovements *bool `yaml:"keep_movements" json:"keep_movements"`
}

// Agent is the node agent's model, the same for every node.
type Agent struct {
	// PollInterval is the period of the instance run (default 60s). The
	// node's Schedule (core/agent, the production agent's) adds its
	// jitter: each wait up to a tenth longer.
	PollInterval Duration `yaml:"poll_interval" json:"poll_interval"`
	// MaximumPeriodicity: a partition is reprocessed at least this often
	// (default 24h; negative disables). RetryBase/RetryMax bound the
	// back-off of failed work (defaults 1m, 1h).
	MaximumPeriodicity Duration `yaml:"maximum_periodicity" json:"maximum_periodicity"`
	RetryBase          Duration `yaml:"retry_base" json:"retry_base"`
	RetryMax           Duration `yaml:"retry_max" json:"retry_max"`
	// Deploy is the duration of the first configuration of an instance in
	// a partition (buildout creating databases, sites…): default lognormal
	// mean 30s sigma 0.8. Configure is any later configuration (changed,
	// periodic, retry): default lognormal mean 1s sigma 0.5, the seed's
	// "one second per partition".
	Deploy    Dist `yaml:"deploy" json:"deploy"`
	Configure Dist `yaml:"configure" json:"configure"`
	// Start, Stop and Destroy durations (defaults 200ms, 200ms, 2s).
	Start   Dist `yaml:"start" json:"start"`
	Stop    Dist `yaml:"stop" json:"stop"`
	Destroy Dist `yaml:"destroy" json:"destroy"`
	// Build is a software build from source (default lognormal mean 30m
	// sigma 0.6); with probability CacheHitRatio (default 0.9) the binary
	// cache serves it in CacheFetch instead (default lognormal mean 2m).
	Build         Dist     `yaml:"build" json:"build"`
	CacheHitRatio *float64 `yaml:"cache_hit_ratio" json:"cache_hit_ratio"`
	CacheFetch    Dist     `yaml:"cache_fetch" json:"cache_fetch"`
	// BuildFailure is the probability that one build fails (default 0).
	BuildFailure float64 `yaml:"build_failure" json:"build_failure"`
	// BangOnBoot: a node that boots bangs every instance it hosts, as
	// `slapos node boot` bangs the computer, so that every partition is
	// reconfigured (the seed's reconfiguration after "an earthquake or
	// electricity shortage"). Default false: a reboot only restarts.
	BangOnBoot bool `yaml:"bang_on_boot" json:"bang_on_boot"`
	// UsageReportEvery is the period of the TioXML usage journal each node
	// posts (default 24h; negative disables).
	UsageReportEvery Duration `yaml:"usage_report_every" json:"usage_report_every"`
	// UsageSampleEvery: each node samples the usage of its partitions this
	// often between journals (default 1h, coarser than the production
	// agent's 5 minutes: a sample costs a pass over the partitions).
	UsageSampleEvery Duration `yaml:"usage_sample_every" json:"usage_sample_every"`
	// PromiseInterval: the promises of a started partition its plans
	// leave alone are checked this often (SlapOS's anomaly mode, in
	// core/agent). Default negative: only after each start, since every
	// check of every started partition of a 1,000-node grid each minute
	// would dominate the run; the feature backend checks every minute.
	PromiseInterval Duration `yaml:"promise_interval" json:"promise_interval"`
}

// Software is one software release offered on the grid.
type Software struct {
	URL string `yaml:"url" json:"url"`
	// Weight is the share of requests for it (default 1).
	Weight float64 `yaml:"weight" json:"weight"`
	// Types are its software types (default ["default"]), drawn uniformly.
	Types []string `yaml:"types" json:"types"`
	// SupplyAt is when the release is supplied on the computers that list
	// it (default 0: from the start, already built). A release supplied
	// later is built by every such computer (binary cache or source) and
	// requested only from then on.
	SupplyAt Duration `yaml:"supply_at" json:"supply_at"`
	// Deploy is the first configuration time of its instances (default
	// agent.deploy): an ERP5 site takes minutes to create, a blog seconds.
	Deploy Dist `yaml:"deploy" json:"deploy"`
}

// NodeGroup is a set of identical computers.
type NodeGroup struct {
	// Name prefixes the computer ids: COMP-<name>-0001… (default "g<i>").
	Name  string `yaml:"name" json:"name"`
	Count int    `yaml:"count" json:"count"`
	// Partitions per computer (default 300).
	Partitions int    `yaml:"partitions" json:"partitions"`
	Region     string `yaml:"region" json:"region"`
	// Network names the computers' network (SLA network=…); default the
	// region.
	Network  string   `yaml:"network" json:"network"`
	Hardware Hardware `yaml:"hardware" json:"hardware"`
	// Prices is the price list (resource → price, see model.PriceList);
	// default {hosting: 0.01}. PriceSpread draws each computer's prices
	// uniformly within ±PriceSpread (a fraction) of the list.
	Prices      map[string]float64 `yaml:"prices" json:"prices"`
	PriceSpread float64            `yaml:"price_spread" json:"price_spread"`
	Currency    string             `yaml:"currency" json:"currency"`
	// Latency is the one-way network latency to the master (default
	// constant 20ms); Loss the probability that one exchange is lost.
	Latency Dist    `yaml:"latency" json:"latency"`
	Loss    float64 `yaml:"loss" json:"loss"`
	// Software lists the URLs supplied on these computers (default all).
	Software []string `yaml:"software" json:"software"`
	// Scope is the allocation scope: open (default) or closed.
	Scope string `yaml:"scope" json:"scope"`
	// Cold computers start with nothing built: they build their software
	// at the start of the run (warm ones have it, and their share of the
	// warm-start instances, already).
	Cold bool `yaml:"cold" json:"cold"`
	// JoinAt: the computers are registered closed and open to allocation
	// at this time (capacity growth; default 0: from the start). RetireAt:
	// they close to allocation then (default 0: never) and keep what they
	// host until its lifetime ends. Their capex counts from JoinAt to
	// RetireAt.
	JoinAt   Duration `yaml:"join_at" json:"join_at,omitzero"`
	RetireAt Duration `yaml:"retire_at" json:"retire_at,omitzero"`
}

// Hardware is what a computer declares.
type Hardware struct {
	Arch string `yaml:"arch" json:"arch"`
	CPU  int64  `yaml:"cpu" json:"cpu"`
	RAM  int64  `yaml:"ram" json:"ram"`   // MiB
	Disk int64  `yaml:"disk" json:"disk"` // GiB
}

// Workload is the honest demand.
type Workload struct {
	// Requesters is the number of persons requesting (default 100).
	Requesters int `yaml:"requesters" json:"requesters"`
	// Budget is each requester's spending limit over the run, in the
	// computers' currency (0 = unlimited): a request that would pass it is
	// refused by the requester itself and counted as a budget rejection.
	Budget float64 `yaml:"budget" json:"budget"`
	// Initial instances are deployed before the run starts (warm start):
	// placed by the master, configured and started by the nodes, their last
	// configuration spread over the past MaximumPeriodicity.
	Initial int `yaml:"initial" json:"initial"`
	// RatePerHour is the mean arrival rate of new requests (Poisson).
	RatePerHour float64 `yaml:"rate_per_hour" json:"rate_per_hour"`
	Diurnal     Diurnal `yaml:"diurnal" json:"diurnal"`
	Bursts      []Burst `yaml:"bursts" json:"bursts"`
	// Lifetime of an instance before its requester destroys it (default
	// exponential mean 12h).
	Lifetime Dist `yaml:"lifetime" json:"lifetime"`
	// ParameterChangesPerHour: requests changing the parameters of a live
	// instance (Poisson over the grid).
	ParameterChangesPerHour float64 `yaml:"parameter_changes_per_hour" json:"parameter_changes_per_hour"`
	// Patience: a request still pending this long after it was made is
	// withdrawn and counted abandoned (0 = never).
	Patience Duration `yaml:"patience" json:"patience"`
	// RetryAfter: a request the master could not take (outage) is made
	// again this much later (default 5m), at most 3 times.
	RetryAfter Duration `yaml:"retry_after" json:"retry_after"`
	// SLA choices, drawn by weight (default: one choice, no condition).
	SLA []SLAChoice `yaml:"sla" json:"sla"`
}

// Diurnal modulates the arrival rate: rate·(1 + Amplitude·cos(2π(h−Peak)/24)).
type Diurnal struct {
	Amplitude float64 `yaml:"amplitude" json:"amplitude"`
	// PeakHour is the hour of the day (UTC, 0–24) of the highest rate.
	PeakHour float64 `yaml:"peak_hour" json:"peak_hour"`
}

// Burst is a sudden wave of requests.
type Burst struct {
	At     Duration `yaml:"at" json:"at"`
	Count  int      `yaml:"count" json:"count"`
	Within Duration `yaml:"within" json:"within"` // spread uniformly (default 10m)
	// SLA conditions of the burst's requests (default: the workload's).
	SLA map[string]string `yaml:"sla" json:"sla,omitempty"`
	// Lifetime of the burst's instances (default: the workload's): a flash
	// crowd needs capacity for a while only.
	Lifetime Dist `yaml:"lifetime" json:"lifetime"`
}

// SLAChoice is one set of SLA conditions requesters use.
type SLAChoice struct {
	Weight     float64           `yaml:"weight" json:"weight"`
	Conditions map[string]string `yaml:"conditions" json:"conditions"`
}

// Storm is a mass reconfiguration: every live instance of a region (or of
// the whole grid) changed at once.
type Storm struct {
	At Duration `yaml:"at" json:"at"`
	// Region limits the storm to one region ("" = the whole grid).
	Region string `yaml:"region" json:"region"`
	// Kind: "parameters" (each instance requested with a new parameter) or
	// "bang" (each instance banged). Default parameters.
	Kind string `yaml:"kind" json:"kind"`
}

// Failures are the faults injected.
type Failures struct {
	NodeCrashes       NodeCrashes        `yaml:"node_crashes" json:"node_crashes"`
	RegionOutages     []RegionOutage     `yaml:"region_outages" json:"region_outages"`
	MasterOutages     []Window           `yaml:"master_outages" json:"master_outages"`
	NetworkPartitions []NetworkPartition `yaml:"network_partitions" json:"network_partitions"`
	BrokenInstances   BrokenInstances    `yaml:"broken_instances" json:"broken_instances"`
	// TransientFailure is the probability that one partition action fails
	// for no lasting reason (the node backs off and retries).
	TransientFailure float64 `yaml:"transient_failure" json:"transient_failure"`
}

// NodeCrashes strike computers at random and reboot them.
type NodeCrashes struct {
	// PerNodePerDay is each computer's crash rate (Poisson).
	PerNodePerDay float64 `yaml:"per_node_per_day" json:"per_node_per_day"`
	// Reboot is the time a computer stays down (default lognormal mean 5m).
	Reboot Dist `yaml:"reboot" json:"reboot"`
}

// RegionOutage takes every computer of a region down (the seed's
// "earthquake or electricity shortage") for Duration; each reboots within
// BootSpread after power returns.
type RegionOutage struct {
	At         Duration `yaml:"at" json:"at"`
	Duration   Duration `yaml:"duration" json:"duration"`
	Region     string   `yaml:"region" json:"region"`
	BootSpread Duration `yaml:"boot_spread" json:"boot_spread"`
}

// Window is a period of time.
type Window struct {
	At       Duration `yaml:"at" json:"at"`
	Duration Duration `yaml:"duration" json:"duration"`
}

// NetworkPartition cuts a set of computers from the master: a region, a
// list of computer ids, or a fraction of the grid drawn at random.
type NetworkPartition struct {
	At       Duration `yaml:"at" json:"at"`
	Duration Duration `yaml:"duration" json:"duration"`
	Region   string   `yaml:"region" json:"region"`
	Nodes    []string `yaml:"nodes" json:"nodes"`
	Fraction float64  `yaml:"fraction" json:"fraction"`
}

// BrokenInstances: a fraction of instances whose configuration always
// fails (a bad parameter, a broken profile); the node backs off.
type BrokenInstances struct {
	Fraction float64 `yaml:"fraction" json:"fraction"`
}

// Economics are the market mechanisms.
type Economics struct {
	Preallocation Preallocation `yaml:"preallocation" json:"preallocation"`
	Speculators   Speculators   `yaml:"speculators" json:"speculators"`
	Market        Market        `yaml:"market" json:"market,omitzero"`
}

// DelayPolicy is the provisioning delay as a core/market curve of the
// grid's state: constant (base), step (base below the first step, then
// each step's delay from its fill level on), proportional (base at an empty
// grid to max at a full one), auction (base while demand, pending + held +
// recent arrivals over horizon, fits the free partitions, then rising by
// gain per unit of excess ratio, capped at max).
type DelayPolicy struct {
	Kind  string      `yaml:"kind" json:"kind"`
	Base  Duration    `yaml:"base" json:"base"`
	Max   Duration    `yaml:"max" json:"max,omitzero"`
	Steps []DelayStep `yaml:"steps" json:"steps,omitempty"`
	Gain  float64     `yaml:"gain" json:"gain,omitzero"`
	// Horizon over which an auction counts the recent arrival rate
	// (default 0: pending and held requests only).
	Horizon Duration `yaml:"horizon" json:"horizon,omitzero"`
}

// DelayStep is one step of a step delay policy.
type DelayStep struct {
	Fill  float64  `yaml:"fill" json:"fill"`
	Delay Duration `yaml:"delay" json:"delay"`
}

// PricePolicy is the hosting price as a core/market curve of the
// provider's state, in factors of each computer's list price (1 = the list
// price): the same kinds as DelayPolicy.
type PricePolicy struct {
	Kind    string      `yaml:"kind" json:"kind"`
	Base    float64     `yaml:"base" json:"base"`
	Max     float64     `yaml:"max" json:"max,omitzero"`
	Steps   []PriceStep `yaml:"steps" json:"steps,omitempty"`
	Gain    float64     `yaml:"gain" json:"gain,omitzero"`
	Horizon Duration    `yaml:"horizon" json:"horizon,omitzero"`
}

// PriceStep is one step of a step price policy.
type PriceStep struct {
	Fill   float64 `yaml:"fill" json:"fill"`
	Factor float64 `yaml:"factor" json:"factor"`
}

// Market is the simulator's market model: what providers pay, what
// requesters value, how they react to price. Money is in EUR (the
// computers' price lists are EUR/h per partition). Every field defaults to
// 0 (no such cost or value); objectives are reported for every run.
type Market struct {
	// Pricing sets the price a request is quoted when it arrives, as a
	// policy of its provider's state; the instance is charged that price
	// for as long as it runs. Default none: the list price.
	Pricing *PricePolicy `yaml:"pricing" json:"pricing,omitempty"`
	// CapexPerNode is a computer's purchase price (EUR), spread evenly over
	// Amortisation (default 26280h, three years) while it is in service.
	CapexPerNode float64  `yaml:"capex_per_node" json:"capex_per_node,omitzero"`
	Amortisation Duration `yaml:"amortisation" json:"amortisation,omitzero"`
	// EnergyPerPartitionHour (EUR) is the running cost of a busy
	// partition-hour; IdlePerPartitionHour that of a free one of a computer
	// in service.
	EnergyPerPartitionHour float64 `yaml:"energy_per_partition_hour" json:"energy_per_partition_hour,omitzero"`
	IdlePerPartitionHour   float64 `yaml:"idle_per_partition_hour" json:"idle_per_partition_hour,omitzero"`
	// SLAPenaltyPerHour (EUR) is what the provider owes per partition-hour
	// a started instance spends on a computer that is down.
	SLAPenaltyPerHour float64 `yaml:"sla_penalty_per_hour" json:"sla_penalty_per_hour,omitzero"`
	// ValuePerHour (EUR/h) is what a running instance is worth to its
	// requester; WaitingCostPerHour (EUR/h) what each hour between request
	// and service costs it; AbandonCost (EUR) what a need that goes
	// unserved (abandoned after patience, or priced out) costs it besides.
	ValuePerHour       float64 `yaml:"value_per_hour" json:"value_per_hour,omitzero"`
	WaitingCostPerHour float64 `yaml:"waiting_cost_per_hour" json:"waiting_cost_per_hour,omitzero"`
	AbandonCost        float64 `yaml:"abandon_cost" json:"abandon_cost,omitzero"`
	// Elasticity: a requester quoted factor f of the list price still asks
	// with probability 1 − elasticity·(f − 1) (core/market.Take); 0 =
	// inelastic. MaxPrice (EUR/h, 0 = none) is every requester's budget
	// per partition-hour: a higher quote is refused.
	Elasticity float64 `yaml:"elasticity" json:"elasticity,omitzero"`
	MaxPrice   float64 `yaml:"max_price" json:"max_price,omitzero"`
	// ChooseProvider: a requester whose SLA names no region asks the
	// region whose quote is lowest (ties: the first in the scenario).
	ChooseProvider bool `yaml:"choose_provider" json:"choose_provider,omitzero"`
	// DemandWindow is the window of the recent arrival rate the policies
	// read (default 1h).
	DemandWindow Duration `yaml:"demand_window" json:"demand_window,omitzero"`
}

// Preallocation is the seed's "predictive pre-allocation": a provider pool
// of deployed instances handed over to requesters at once.
type Preallocation struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Software is the URL the pool runs (default the first software).
	Software string `yaml:"software" json:"software"`
	// Lead is how far ahead the pool is sized: target = Safety × expected
	// arrivals (for Software) in [now, now+Lead], from the known diurnal
	// curve, at least Min (defaults: lead 15m, safety 1.5, min 5).
	Lead   Duration `yaml:"lead" json:"lead"`
	Safety float64  `yaml:"safety" json:"safety"`
	Min    int      `yaml:"min" json:"min"`
	// RefillEvery is the period of the pool manager (default 1m).
	RefillEvery Duration `yaml:"refill_every" json:"refill_every"`
	// PerRequester caps the pool instances one requester holds at a time
	// (default 1): bulk demand goes through ordinary provisioning.
	PerRequester int `yaml:"per_requester" json:"per_requester"`
}

// Speculators over-request and hoard partitions to resell them to
// requesters left pending, at Markup times the hosting price.
type Speculators struct {
	Count int `yaml:"count" json:"count"`
	// Budget is each speculator's spending limit over the run.
	Budget float64 `yaml:"budget" json:"budget"`
	// Markup is the resale price over the hosting price (default 3).
	Markup float64 `yaml:"markup" json:"markup"`
	// DecideEvery is how often a speculator looks at the market (default 1m).
	DecideEvery Duration `yaml:"decide_every" json:"decide_every"`
	// Threshold: the market is "scarce" when the free share of partitions
	// is below it (default 0.05) or when requests are pending.
	Threshold float64 `yaml:"threshold" json:"threshold"`
	// Aggressiveness is the initial order size, in partitions per pending
	// request seen (default 1); Learning the rate at which it follows
	// realised profit (default 0.2; 0 = fixed); bounded by MaxAggressiveness
	// (default 8).
	Aggressiveness    float64 `yaml:"aggressiveness" json:"aggressiveness"`
	Learning          float64 `yaml:"learning" json:"learning"`
	MaxAggressiveness float64 `yaml:"max_aggressiveness" json:"max_aggressiveness"`
	// MaxStock caps a speculator's units (held, sold and on order); default 500.
	MaxStock int `yaml:"max_stock" json:"max_stock"`
	// HoldMax: an unsold unit is released after this long (default 2h).
	HoldMax Duration `yaml:"hold_max" json:"hold_max"`
	// SeesQueue lets speculators see the requests held by the provisioning
	// delay (a counterfactual: the market publishes only free capacity and
	// pending requests).
	SeesQueue bool `yaml:"sees_queue" json:"sees_queue"`
}

// Liveness states how fast the grid must converge after healing.
type Liveness struct {
	// ConvergeWithin: after a fault heals (or a storm strikes), every
	// affected node must reach a state with nothing left to do within this
	// bound (default 1h; negative disables the check).
	ConvergeWithin Duration `yaml:"converge_within" json:"converge_within"`
}

// InvariantCfg tunes invariant checking.
type InvariantCfg struct {
	// FullCheckEvery runs, besides the per-event checks, a sweep over the
	// whole state at this period (default 0 = at the end only).
	FullCheckEvery Duration `yaml:"full_check_every" json:"full_check_every"`
}

// Duration is a time.Duration written "24h", "60s", "1h30m" or "2d".
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration accepts Go durations and a whole number of days ("2d").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days >= 0 && days < 100000 {
			return Duration(time.Duration(days) * 24 * time.Hour), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: expected e.g. 60s, 1h30m, 2d", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML reads a duration string; a bare 0 is accepted.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &FieldError{Line: n.Line, Msg: "expected a duration such as 60s or 24h"}
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &FieldError{Line: n.Line, Msg: err.Error()}
	}
	*d = v
	return nil
}

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Distribution kinds of Dist.
const (
	DistConstant    = "constant"
	DistUniform     = "uniform"
	DistExponential = "exponential"
	DistLognormal   = "lognormal"
)

// Dist is a distribution of durations. Written either as a duration
// ("1s": constant) or as a mapping {dist, mean, sigma, min, max}:
// constant (mean), uniform (min..max), exponential (mean), lognormal (mean,
// sigma: the shape). Min and Max, when set, clamp every draw.
type Dist struct {
	Kind  string   `yaml:"dist" json:"dist"`
	Mean  Duration `yaml:"mean" json:"mean"`
	Sigma float64  `yaml:"sigma" json:"sigma,omitempty"`
	Min   Duration `yaml:"min" json:"min,omitempty"`
	Max   Duration `yaml:"max" json:"max,omitempty"`
}

// distFields is Dist's mapping form, decoded without recursion.
type distFields Dist

// UnmarshalYAML accepts the scalar and the mapping form.
func (d *Dist) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		v, err := ParseDuration(n.Value)
		if n.Value == "0" {
			v, err = 0, nil
		}
		if err != nil {
			return &FieldError{Line: n.Line, Msg: err.Error() + ", or a mapping {dist, mean, sigma, min, max}"}
		}
		*d = Dist{Kind: DistConstant, Mean: v}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return &FieldError{Line: n.Line, Msg: "expected a duration or a mapping {dist, mean, sigma, min, max}"}
	}
	var f distFields
	if err := n.Decode(&f); err != nil {
		return err
	}
	*d = Dist(f)
	if d.Kind == "" {
		d.Kind = DistConstant
	}
	return nil
}

// IsZero reports whether no distribution was given.
func (d Dist) IsZero() bool { return d == Dist{} }

// Sample draws one duration, the same on every machine for the same
// stream state.
func (d Dist) Sample(r *rand.Rand) time.Duration {
	var v float64
	switch d.Kind {
	case DistUniform:
		lo, hi := float64(d.Min), float64(d.Max)
		v = lo + float64(r.Float64()*(hi-lo))
	case DistExponential:
		v = r.ExpFloat64() * float64(d.Mean)
	case DistLognormal:
		// NB detExp/detLog and the explicit roundings (no fused
		// multiply-add) give the same draw on every machine.
		mu := detLog(float64(d.Mean)) - float64(d.Sigma*d.Sigma)/2
		v = detExp(mu + float64(d.Sigma*r.NormFloat64()))
	default:
		v = float64(d.Mean)
	}
	if d.Min > 0 && v < float64(d.Min) {
		v = float64(d.Min)
	}
	if d.Max > 0 && v > float64(d.Max) {
		v = float64(d.Max)
	}
	if v < 0 || v != v {
		v = 0
	}
	return time.Duration(v)
}

// MeanValue is the distribution's mean (before clamping).
func (d Dist) MeanValue() time.Duration {
	if d.Kind == DistUniform {
		return (d.Min.D() + d.Max.D()) / 2
	}
	return d.Mean.D()
}
