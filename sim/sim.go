package sim

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/sim/scenario"
)

// Options of one run.
type Options struct {
	// Seed is the root seed; every component's stream derives from it.
	Seed uint64
	// File and Overrides say how the scenario was loaded: a violation's
	// reproduce command repeats them.
	File      string
	Overrides []string
	// Log receives the first line (seed and whole configuration) and, on a
	// violation, the report and the command that reproduces it. nil
	// discards them.
	Log io.Writer
	// Trace, when set, receives every trace line (the hash covers them all).
	Trace io.Writer
	// Progress, when set, is called about every 65,536 events.
	Progress func(Progress)
	// Started, when set, is called once the grid is built (the warm
	// start), before the first event.
	Started func()
	// AtEnd, when set, is called once the run ended, before the summary is
	// built (the whole state is still live: for heap profiles).
	AtEnd func()
	// Context, when set, stops the run (with its error) once done; it is
	// looked at about every 65,536 events.
	Context context.Context

	// Bare builds neither the scenario's grid nor its workload: the caller
	// applies its own commands (Engine.Apply) and adds node agents
	// (Engine.AddNode); the scenario gives only the models of the master
	// and of the agents, and nodes[0] the network of the nodes added.
	// Software releases not declared (Engine.DefineSoftware) fail to
	// build, as an unknown URL does. A bare engine runs until its caller
	// stops stepping it.
	Bare bool
	// RecordActivity makes every node keep the list of partition actions
	// it ran (Engine.Actions).
	RecordActivity bool

	// afterEvent is a test hook run after each event, before its checks.
	afterEvent func(*engine)
}

// Progress is how far a run is.
type Progress struct {
	Virtual  time.Duration // simulated so far
	Duration time.Duration // to simulate in all
	Events   uint64
}

// Person kinds.
const (
	personProvider = iota
	personHonest
	personSpeculator
	personPool
)

// person is an account of the simulation: a provider, a requester, a
// speculator or the pool operator.
type person struct {
	id     string
	actor  model.Actor
	kind   int
	budget float64
	spend  integrator // currency units: level = hourly rate of its started instances
	pool   int        // pool instances it holds now
}

// engine is one run: the master's state, the nodes, the workload, the faults
// and the bookkeeping, driven by one event queue on one goroutine.
type engine struct {
	sc    *scenario.Scenario
	opts  Options
	t0    time.Time
	now   int64 // ns since t0
	end   int64
	seq   uint64
	queue eventQueue
	nEvts uint64

	m        *master.State
	convCfg  converge.Config
	agentCfg agent.Config
	trace    *tracer

	// Streams.
	rWork, rBurst, rLife, rParam, rNet, rMaster, rCrash, rRegion, rPart, rSpec, rGrid *rand.Rand

	persons  []*person
	provider map[string]int32 // group name -> person
	users    []int32          // honest requesters
	specs    []*speculator
	selling  sellScratch // sellUnits' memory
	poolP    int32       // pool operator, -1

	nodes    []*node
	nodeByID map[string]*node
	regions  map[string][]int32

	// Master front: commands in transit, then queued in arrival order.
	masterUp    bool
	masterEpoch uint32
	masterBusy  bool // applying the command at mqueue[mhead-1]
	cmds        []pendingCmd
	freeCmds    []int32
	inTransit   int
	mqueue      []int32
	mhead       int
	peakMQueue  int
	// store is the master's durable state while it is down (nil while up).
	store []master.Mutation

	// specBuf and addrBuf: addNode's partition specs, reused from one
	// node to the next (core/master copies what it keeps of a SetCapacity).
	specBuf []master.PartitionSpec
	addrBuf []model.Address

	// Nodes' outside world.
	software map[string]SoftwareModel // URL -> how it builds, when declared
	passes   uint64                   // quiet passes of every node so far

	// Workload.
	insts      []*inst
	byGUID     map[string]int32
	places     []master.Placement // fullCheck's reading of the master, by record
	binding    int32              // instance record whose request is being applied
	demands    []*demand
	live       []int32 // placed, not being destroyed: targets of parameter changes and storms
	pendQ      []int32 // demands pending at the master, oldest first (lazily cleaned)
	pendHead   int
	honestPend int // honest demands pending at the master
	held       int // requests held by the provisioning delay
	heldHonest int
	swWeights  []float64
	slaWeights []float64
	slaParsed  []map[string]string
	supplied   []bool                   // software index -> supplied on the grid yet
	deploy     map[string]scenario.Dist // software URL -> first configuration time
	gridHourly float64
	lifeMean   float64 // hours
	nextTitle  int
	storms     []*stormState
	poolReady  []int32
	poolHead   int
	poolFree   int // pool units not handed over (ordered, deploying or ready)
	poolSW     int32

	// Accounting.
	revenue integrator // level: hourly hosting rate of started instances
	hoard   integrator // level: speculator units placed and unsold
	poolIdl integrator // level: pool units ready and not handed over

	// Invariants.
	ids       partIDs
	holder    [][]int32 // computer -> partition -> instance record holding it, -1 (by partKey)
	pendingN  int       // records pending at the master
	claimBuf  []claim
	partBuf   []*model.Partition
	checks    uint64
	violation *Violation

	cutSets [][]int32 // nodes of each network partition

	// Liveness.
	watches []*watch
	active  []*watch

	mk   marketState
	peak peaks // since the last sample

	stats   stats
	series  []Sample
	stopped error // the context's error, when it stopped the run
	samples int
}

// integrator integrates a level over virtual time, in hours.
type integrator struct {
	level float64
	area  float64
	last  int64
}

func (g *integrator) at(now int64) float64 {
	return g.area + g.level*float64(now-g.last)/float64(time.Hour)
}

func (g *integrator) add(now int64, delta float64) {
	g.area = g.at(now)
	g.last = now
	g.level += delta
	if math.Abs(g.level) < 1e-9 {
		g.level = 0
	}
}

// Run simulates sc with opts. The Result is filled even when the run stops
// on a violation, which is then returned as the error (a *Violation).
func Run(sc *scenario.Scenario, opts Options) (*Result, error) {
	if opts.Bare {
		return nil, fmt.Errorf("sim: a bare engine has no end: step it with NewEngine and Engine.RunUntil")
	}
	if opts.Log != nil {
		fmt.Fprintf(opts.Log, "slapgo sim: seed=%d scenario=%s config=%s\n", opts.Seed, sc.Name, sc.Canonical())
	}
	wall := time.Now()
	e, err := NewEngine(sc, opts)
	if err != nil {
		return nil, err
	}
	s := e.s
	if opts.Started != nil {
		opts.Started()
	}
	if s.violation == nil {
		s.runUntil(s.end, nil)
	}
	if opts.AtEnd != nil {
		opts.AtEnd()
	}
	if s.stopped != nil {
		return nil, fmt.Errorf("sim: stopped at t=%s: %w", time.Duration(s.now), s.stopped)
	}
	res := e.Finish(time.Since(wall))
	if s.violation != nil {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "%s\nreproduce: %s\n", s.violation.Error(), s.violation.Reproduce)
		}
		return res, s.violation
	}
	return res, nil
}

func newEngine(sc *scenario.Scenario, opts Options) (*engine, error) {
	t0, err := time.Parse(time.RFC3339, sc.Start)
	if err != nil {
		return nil, fmt.Errorf("sim: scenario start %q: %w", sc.Start, err)
	}
	policy, err := alloc.ParsePolicy(sc.Master.Policy)
	if err != nil {
		return nil, fmt.Errorf("sim: master.policy: %w", err)
	}
	seed := opts.Seed
	s := &engine{
		sc: sc, opts: opts, t0: t0.UTC(), end: int64(sc.Duration),
		m: master.New(master.Config{Policy: policy, OnlineWithin: sc.Master.OnlineWithin.D(),
			KeepMovements: *sc.Master.KeepMovements,
			// Each node's agent holds only the latest view of its computer;
			// observe reads each command's mutations and keeps none.
			ViewReplacesPrevious: true, MutationsShareEntities: true,
			// A request's parameters are a map per revision (inst.params).
			RequestParametersHandedOver: true}),
		convCfg: converge.Config{MaximumPeriodicity: sc.Agent.MaximumPeriodicity.D(),
			RetryBase: sc.Agent.RetryBase.D(), RetryMax: sc.Agent.RetryMax.D()},
		trace:    newTracer(opts.Trace),
		rWork:    Stream(seed, "workload"),
		rBurst:   Stream(seed, "workload/bursts"),
		rLife:    Stream(seed, "workload/lifetimes"),
		rParam:   Stream(seed, "workload/parameters"),
		rNet:     Stream(seed, "network"),
		rMaster:  Stream(seed, "master"),
		rCrash:   Stream(seed, "failures/crashes"),
		rRegion:  Stream(seed, "failures/regions"),
		rPart:    Stream(seed, "failures/partitions"),
		rSpec:    Stream(seed, "speculators"),
		rGrid:    Stream(seed, "grid"),
		provider: map[string]int32{},
		poolP:    -1,
		nodeByID: map[string]*node{},
		regions:  map[string][]int32{},
		masterUp: true,
		byGUID:   map[string]int32{},
		binding:  -1,
		ids:      partIDs{compIx: map[string]int32{}, partIx: map[string]int32{}},
		software: map[string]SoftwareModel{},
	}
	if opts.Bare {
		s.end = math.MaxInt64
	}
	s.agentCfg = agent.Config{Converge: s.convCfg, PollInterval: sc.Agent.PollInterval.D(),
		PromiseInterval: sc.Agent.PromiseInterval.D(), RunRemovals: true, EventLog: -1}
	if opts.RecordActivity {
		s.agentCfg.EventLog = 0 // the default ring: drained after each run of a node
	}
	s.stats.ServiceBySW = map[int32][]float64{}
	return s, nil
}

// time is the virtual wall clock.
func (s *engine) time() time.Time { return s.t0.Add(time.Duration(s.now)) }

// schedule pushes an event.
func (s *engine) schedule(kind evKind, at int64, nodeIdx int32, ref int32) {
	s.seq++
	e := event{at: at, seq: s.seq, kind: kind, node: nodeIdx, ref: ref}
	if nodeIdx >= 0 {
		e.epoch = s.nodes[nodeIdx].epoch
	}
	s.queue.push(e)
}

// runUntil runs the events due before until, then sets the clock to until.
// It returns true when stop (may be nil) asked to stop before an event;
// a violation or the context stop it too.
func (s *engine) runUntil(until int64, stop func() bool) bool {
	if s.violation != nil {
		return false
	}
	for s.queue.len() > 0 {
		if stop != nil && stop() {
			return true
		}
		if s.queue.first().at >= until {
			break
		}
		ev := s.queue.pop()
		s.now = ev.at
		s.nEvts++
		s.dispatch(ev)
		s.notePeaks(ev)
		if s.opts.afterEvent != nil && s.violation == nil {
			s.opts.afterEvent(s)
		}
		if s.violation == nil {
			s.checkEvent(ev)
		}
		if s.violation != nil {
			s.violation.Event = s.nEvts
			return false
		}
		if s.nEvts&0xffff == 0 {
			if s.opts.Progress != nil {
				s.opts.Progress(Progress{Virtual: time.Duration(s.now), Duration: s.sc.Duration.D(), Events: s.nEvts})
			}
			if c := s.opts.Context; c != nil && c.Err() != nil {
				s.stopped = c.Err()
				return false
			}
		}
	}
	if stop != nil && stop() {
		return true
	}
	s.now = until
	return false
}

func (s *engine) dispatch(ev event) {
	var n *node
	if ev.node >= 0 {
		n = s.nodes[ev.node]
		if ev.epoch != n.epoch {
			return // scheduled in a life of the node that a crash ended
		}
	}
	switch ev.kind {
	case evDuty:
		s.runDuties(n, ev.ref)
	case evActionDone:
		s.actionDone(n)
	case evSoftwareDone:
		s.softwareDone(n)
	case evMasterArrive:
		s.masterArrive(ev.ref)
	case evMasterApply:
		s.masterApply(ev.ref)
	case evProvision:
		s.provision(ev.ref)
	case evArrival:
		s.arrival()
	case evBurstArrival:
		s.burstArrival(ev.ref)
	case evLifetimeEnd:
		s.lifetimeEnd(ev.ref)
	case evPatience:
		s.patience(ev.ref)
	case evRetryRequest:
		s.retryRequest(ev.ref)
	case evParamChange:
		s.paramChange()
	case evStorm:
		s.storm(ev.ref)
	case evSupply:
		s.supplySoftware(ev.ref)
	case evNodeCrash:
		s.randomCrash(n)
	case evNodeBoot:
		s.bootNode(n)
	case evRegionDown:
		s.regionDown(ev.ref)
	case evRegionUp:
		s.regionUp(ev.ref)
	case evMasterDown:
		s.masterDown(ev.ref)
	case evMasterUp:
		s.masterUpEv(ev.ref)
	case evCut:
		s.cut(ev.ref)
	case evHeal:
		s.heal(ev.ref)
	case evSpeculate:
		s.speculate(ev.ref)
	case evPoolRefill:
		s.poolRefill()
	case evLivenessDeadline:
		s.livenessDeadline(ev.ref)
	case evJoin:
		s.setInService(ev.ref, true)
	case evRetire:
		s.setInService(ev.ref, false)
	case evSample:
		s.sample()
	case evFullCheck:
		s.fullCheck()
		s.schedule(evFullCheck, s.now+int64(s.sc.Invariants.FullCheckEvery), -1, 0)
	}
}

// setup builds the grid at t0: persons, computers, partitions, software,
// the warm-start instances, then schedules every process.
func (s *engine) setup() {
	sc := s.sc
	for _, g := range sc.Nodes {
		if _, ok := s.provider[g.Name]; !ok {
			s.provider[g.Name] = s.addPerson("PROVIDER-"+g.Name, personProvider, 0)
		}
	}
	for i := range sc.Workload.Requesters {
		s.users = append(s.users, s.addPerson(fmt.Sprintf("USER-%04d", i+1), personHonest, sc.Workload.Budget))
	}
	for i := range sc.Economics.Speculators.Count {
		p := s.addPerson(fmt.Sprintf("SPEC-%02d", i+1), personSpeculator, sc.Economics.Speculators.Budget)
		s.specs = append(s.specs, &speculator{person: p, alpha: sc.Economics.Speculators.Aggressiveness})
	}
	if sc.Economics.Preallocation.Enabled {
		s.poolP = s.addPerson("POOL", personPool, 0)
	}

	s.supplied = make([]bool, len(sc.Software))
	s.deploy = map[string]scenario.Dist{}
	for i, sw := range sc.Software {
		s.deploy[sw.URL] = sw.Deploy
		s.swWeights = append(s.swWeights, sw.Weight)
		s.supplied[i] = sw.SupplyAt == 0
		if sw.URL == sc.Economics.Preallocation.Software {
			s.poolSW = int32(i)
		}
	}
	for _, c := range sc.Workload.SLA {
		s.slaWeights = append(s.slaWeights, c.Weight)
		s.slaParsed = append(s.slaParsed, c.Conditions)
	}
	s.lifeMean = sc.Workload.Lifetime.MeanValue().Hours()

	priceSum, priceN := 0.0, 0
	for gi := range sc.Nodes {
		g := &sc.Nodes[gi]
		for k := 1; k <= g.Count; k++ {
			n := s.addNode(gi, scenario.ComputerID(g.Name, k))
			s.mk.groupOf = append(s.mk.groupOf, int32(gi))
			priceSum += n.hourly
			priceN++
		}
	}
	if priceN > 0 {
		s.gridHourly = priceSum / float64(priceN)
	}
	s.setupMarket()
	s.warmStart()

	// Processes.
	for _, n := range s.nodes {
		// Its daemon started at a moment drawn within the first poll
		// interval: nodes do not all poll together.
		start := s.t0.Add(time.Duration(n.rng.Int64N(int64(sc.Agent.PollInterval))))
		if u := n.usage; u != nil {
			// Its meter's period began before the simulation, at a moment
			// drawn within the last one: nodes do not all close together.
			every := sc.Agent.UsageReportEvery.D()
			u.period = s.t0.Add(time.Duration(n.rng.Int64N(int64(every))) - every)
		}
		s.startDuties(n, start)
		if r := sc.Failures.NodeCrashes.PerNodePerDay; r > 0 {
			s.schedule(evNodeCrash, s.expDelay(s.rCrash, r/float64(24*time.Hour)), n.idx, 0)
		}
	}
	if sc.Workload.RatePerHour > 0 {
		s.scheduleArrival()
	}
	if sc.Workload.ParameterChangesPerHour > 0 {
		s.schedule(evParamChange, s.expDelay(s.rParam, sc.Workload.ParameterChangesPerHour/float64(time.Hour)), -1, 0)
	}
	for i, b := range sc.Workload.Bursts {
		s.scheduleBurst(i, b)
	}
	for i, st := range sc.Storms {
		s.storms = append(s.storms, &stormState{})
		s.schedule(evStorm, int64(st.At), -1, int32(i))
	}
	for i, sw := range sc.Software {
		if sw.SupplyAt > 0 && sw.SupplyAt.D() < sc.Duration.D() {
			s.schedule(evSupply, int64(sw.SupplyAt), -1, int32(i))
		}
	}
	s.scheduleFaults()
	for i := range s.specs {
		s.schedule(evSpeculate, s.rSpec.Int64N(int64(sc.Economics.Speculators.DecideEvery)), -1, int32(i))
	}
	if sc.Economics.Preallocation.Enabled {
		s.schedule(evPoolRefill, 0, -1, 0)
	}
	if sc.Invariants.FullCheckEvery > 0 {
		s.schedule(evFullCheck, int64(sc.Invariants.FullCheckEvery), -1, 0)
	}
	s.sample() // t = 0
}

func (s *engine) addPerson(id string, kind int, budget float64) int32 {
	s.applyNow(master.AddPerson{By: model.Admin, ID: id, Name: id})
	s.persons = append(s.persons, &person{id: id, actor: model.Actor{Kind: model.KindPerson, ID: id}, kind: kind, budget: budget})
	return int32(len(s.persons) - 1)
}

// expDelay draws an exponential delay for a rate per nanosecond.
func (s *engine) expDelay(r *rand.Rand, ratePerNs float64) int64 {
	return s.now + int64(r.ExpFloat64()/ratePerNs)
}

// pick draws an index by weight.
func pick(r *rand.Rand, weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	x := r.Float64() * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// reproduce is the command line that runs the same simulation again.
func (s *engine) reproduce() string {
	file := s.opts.File
	if file == "" {
		file = "SCENARIO.yaml"
	}
	var b strings.Builder
	b.WriteString("slapgo sim run ")
	b.WriteString(shellQuote(file))
	b.WriteString(" --seed ")
	b.WriteString(strconv.FormatUint(s.opts.Seed, 10))
	for _, o := range s.opts.Overrides {
		b.WriteString(" --set ")
		b.WriteString(shellQuote(o))
	}
	return b.String()
}

// shellQuote quotes a word for a POSIX shell when it needs it.
func shellQuote(w string) string {
	safe := w != ""
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
