package simbackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/sim"
	"github.com/slapgo/slapgo/sim/scenario"
)

// Config tunes the simulated grid. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// Seed is the root of every random draw (the jitter of the nodes'
	// schedules): sim.SubSeed splits it per node.
	Seed uint64
	// Start is the virtual time the grid starts at.
	Start time.Time
	// PollInterval is the period of each node's instance loop; the
	// node's Schedule (core/agent) waits up to a tenth of each delay more.
	PollInterval time.Duration
	// Configure and Destroy are the durations of a configure-partition
	// and of a destroy-partition or a remove-software. Start and stop are
	// instantaneous.
	Configure time.Duration
	Destroy   time.Duration
	// Build is the duration of a software build whose SoftwareSpec sets
	// none.
	Build time.Duration
	// Converge is the agents' reprocessing and retry rhythm.
	Converge converge.Config
}

// DefaultConfig is SlapOS's rhythm: a pass every minute (with up to 6 s of
// jitter), 1 s per partition configuration, builds of 2 minutes, a
// partition reprocessed at least every 24 h, failures retried from 1 minute
// doubling up to 1 hour.
func DefaultConfig() Config {
	return Config{
		Start:        time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		PollInterval: time.Minute,
		Configure:    time.Second,
		Destroy:      time.Second,
		Build:        2 * time.Minute,
		Converge: converge.Config{ // SlapOS's, every field set: world writes them out
			MaximumPeriodicity: converge.DefaultMaximumPeriodicity,
			RetryBase:          converge.DefaultRetryBase,
			RetryMax:           converge.DefaultRetryMax,
		},
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Start.IsZero() {
		c.Start = d.Start
	}
	if c.PollInterval <= 0 {
		c.PollInterval = d.PollInterval
	}
	if c.Configure <= 0 {
		c.Configure = d.Configure
	}
	if c.Destroy <= 0 {
		c.Destroy = d.Destroy
	}
	if c.Build <= 0 {
		c.Build = d.Build
	}
	if c.Converge == (converge.Config{}) {
		c.Converge = d.Converge
	}
	return c
}

// world is the fixture world as a simulation scenario: the models of the
// master (no command cost, no network delay: an API call is answered at
// once) and of the agents (durations of Config, no random failure). Its
// grid and workload are empty: the scenarios build them step by step.
func (c Config) world() (*scenario.Scenario, error) {
	cv := c.Converge
	doc := fmt.Sprintf(`name: feature-fixture-world
description: the feature scenarios' grid, built step by step
start: %s
master:
  policy: first-fit
  online_within: 0s
  command_cost: {dist: constant, mean: 0s}
agent:
  poll_interval: %s
  maximum_periodicity: %s
  retry_base: %s
  retry_max: %s
  deploy: {dist: constant, mean: %s}
  configure: {dist: constant, mean: %s}
  start: {dist: constant, mean: 0s}
  stop: {dist: constant, mean: 0s}
  destroy: {dist: constant, mean: %s}
  build: {dist: constant, mean: %s}
  cache_hit_ratio: 0
  usage_report_every: -1s
  promise_interval: %s
nodes:
  - name: fixture
    count: 1
    region: fixture
    latency: {dist: constant, mean: 0s}
    loss: 0
`, c.Start.UTC().Format(time.RFC3339), c.PollInterval, cv.MaximumPeriodicity, cv.RetryBase, cv.RetryMax,
		c.Configure, c.Configure, c.Destroy, c.Build, c.PollInterval)
	return scenario.Parse("simbackend fixture world", []byte(doc), nil)
}

// Sim is the simulated grid: a bare sim.Engine and the backend API mapped
// onto it. It implements backend.Backend and backend.Tracer. It is not
// safe for concurrent use.
type Sim struct {
	e     *sim.Engine
	nodes map[string]bool // computers whose node agent runs
	tail  *ring
}

var _ backend.Backend = (*Sim)(nil)
var _ backend.Tracer = (*Sim)(nil)

// New builds an empty grid: a master with no person and no computer.
func New(cfg Config) (*Sim, error) {
	cfg = cfg.withDefaults()
	sc, err := cfg.world()
	if err != nil {
		return nil, fmt.Errorf("simbackend: %w", err)
	}
	tail := &ring{max: tailLen}
	e, err := sim.NewEngine(sc, sim.Options{Seed: cfg.Seed, Bare: true, RecordActivity: true, Trace: tail})
	if err != nil {
		return nil, fmt.Errorf("simbackend: %w", err)
	}
	return &Sim{e: e, nodes: map[string]bool{}, tail: tail}, nil
}

// Kind is "sim".
func (s *Sim) Kind() string { return "sim" }

// Close does nothing: everything is in memory.
func (s *Sim) Close() error { return nil }

// Now is the virtual time.
func (s *Sim) Now() time.Time { return s.e.Now() }

// TraceHash is the engine's trace hash (SHA-256 of every trace line).
func (s *Sim) TraceHash() string { return s.e.TraceHash() }

// TraceTail returns the last n lines of the trace.
func (s *Sim) TraceTail(n int) []string { return s.tail.last(n) }

const tailLen = 200

// ring keeps the last trace lines, for failure messages.
type ring struct {
	max   int
	lines []string
}

var _ io.Writer = (*ring)(nil)

func (r *ring) Write(p []byte) (int, error) {
	if len(r.lines) == 2*r.max {
		r.lines = append(r.lines[:0], r.lines[r.max:]...)
	}
	r.lines = append(r.lines, strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (r *ring) last(n int) []string {
	n = min(n, len(r.lines))
	return slices.Clone(r.lines[len(r.lines)-n:])
}

// --- the master ---

// classify maps the engine's and the core's errors to the backend's
// classes.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sim.ErrMasterDown):
		return backend.Errorf(backend.ErrUnavailable, "the master does not answer (outage)")
	case errors.Is(err, master.ErrNotFound), errors.Is(err, sim.ErrNoNode):
		return fmt.Errorf("%w: %w", backend.ErrNotFound, err)
	case errors.Is(err, master.ErrForbidden):
		return fmt.Errorf("%w: %w", backend.ErrRefused, err)
	case errors.Is(err, master.ErrConflict), errors.Is(err, sim.ErrState):
		return fmt.Errorf("%w: %w", backend.ErrConflict, err)
	case errors.Is(err, model.ErrInvalid), errors.Is(err, account.ErrJournal):
		return fmt.Errorf("%w: %w", backend.ErrInvalid, err)
	}
	return err
}

// authenticate stands for the master's TLS layer, which the simulator
// does not model: a certificate is taken for the identity it names. An
// impostor's certificate can only be refused by a real TLS handshake.
func (s *Sim) authenticate(as backend.Actor) (model.Actor, error) {
	if as.Impostor {
		return model.Actor{}, backend.Errorf(backend.ErrUnsupported,
			"%s: the simulator has no TLS layer to refuse a certificate another authority issued (run the scenario on the live or cluster backend)", as)
	}
	if !s.e.MasterUp() {
		return model.Actor{}, classify(sim.ErrMasterDown)
	}
	return model.Actor{Kind: as.Kind, ID: as.ID}, nil
}

func (s *Sim) call(as backend.Actor, build func(model.Actor) master.Command) (master.Result, error) {
	a, err := s.authenticate(as)
	if err != nil {
		return master.Result{}, err
	}
	res, err := s.e.Apply(build(a))
	return res, classify(err)
}

// --- catalogue and timings ---

// DefineSoftware registers a release model under a URL derived from its
// name: how long it builds, and the error of a defective profile.
func (s *Sim) DefineSoftware(_ context.Context, spec backend.SoftwareSpec) (string, error) {
	if err := model.ValidateID("software name", spec.Name); err != nil {
		return "", fmt.Errorf("%w: %w", backend.ErrInvalid, err)
	}
	url := "https://software.example.org/" + spec.Name + "/software.cfg"
	m := sim.SoftwareModel{BuildTime: spec.BuildTime}
	switch spec.Defect {
	case "":
	case backend.DefectUnknownRecipe:
		m.Failure = fmt.Sprintf("profile %s: section [hello]: unknown recipe %q", url, "slapgo:no-such-recipe")
	case backend.DefectSyntax:
		m.Failure = fmt.Sprintf("profile %s: line 3: syntax error: expected \"[section]\" or \"key = value\"", url)
	default:
		return "", backend.Errorf(backend.ErrInvalid, "software %s: defect %q: expected %q or %q",
			spec.Name, spec.Defect, backend.DefectUnknownRecipe, backend.DefectSyntax)
	}
	s.e.DefineSoftware(url, m)
	return url, nil
}

// SetTimings changes the modelled durations.
func (s *Sim) SetTimings(t backend.Timings) error {
	return classify(s.e.SetDurations(t.Configure, t.PollInterval))
}

// --- persons, computers, software ---

// AddPerson creates a person.
func (s *Sim) AddPerson(_ context.Context, as backend.Actor, id string) error {
	_, err := s.call(as, func(a model.Actor) master.Command { return master.AddPerson{By: a, ID: id} })
	return err
}

// RegisterComputer registers the computer and starts its node agent,
// which formats spec.Partitions partitions and announces them at once.
func (s *Sim) RegisterComputer(_ context.Context, as backend.Actor, spec backend.ComputerSpec) error {
	if spec.Partitions < 0 {
		return backend.Errorf(backend.ErrInvalid, "computer %s: %d partitions: expected a non-negative number", spec.ID, spec.Partitions)
	}
	_, err := s.call(as, func(a model.Actor) master.Command {
		return master.RegisterComputer{By: a, ID: spec.ID, Owner: ownerIfAdmin(a, spec.Owner), Region: spec.Region,
			Network: spec.Network, Attributes: spec.Attributes, Prices: spec.Prices, Currency: spec.Currency, Scope: spec.Scope}
	})
	if err != nil {
		return err
	}
	if err := s.e.AddNode(spec.ID, spec.Partitions); err != nil {
		return classify(err)
	}
	s.nodes[spec.ID] = true
	return nil
}

func ownerIfAdmin(a model.Actor, owner string) string {
	if a.Kind == model.KindAdmin {
		return owner
	}
	return ""
}

// Supply asks a computer for a release (or its removal).
func (s *Sim) Supply(_ context.Context, as backend.Actor, computerID, url string, state model.SoftwareRequest) error {
	_, err := s.call(as, func(a model.Actor) master.Command {
		return master.Supply{By: a, ComputerID: computerID, URL: url, State: state}
	})
	return err
}

// registered checks, as the admin, that the master answers and that a
// node agent runs for the computer.
func (s *Sim) registered(computerID string) error {
	if _, err := s.authenticate(backend.Admin); err != nil {
		return err
	}
	if !s.nodes[computerID] {
		return backend.Errorf(backend.ErrNotFound, "computer %s is not registered", computerID)
	}
	return nil
}

// Software is the master's record of a computer's software.
func (s *Sim) Software(_ context.Context, computerID string) ([]model.SoftwareInstallation, error) {
	if err := s.registered(computerID); err != nil {
		return nil, err
	}
	return s.e.Master().Software(computerID), nil
}

// Partitions is the master's record of a computer's partitions.
func (s *Sim) Partitions(_ context.Context, computerID string) ([]model.Partition, error) {
	if err := s.registered(computerID); err != nil {
		return nil, err
	}
	return s.e.Master().Partitions(computerID), nil
}

// ComputerView reads a computer's view as someone.
func (s *Sim) ComputerView(_ context.Context, as backend.Actor, computerID string) (model.ComputerView, error) {
	a, err := s.authenticate(as)
	if err != nil {
		return model.ComputerView{}, err
	}
	m := s.e.Master()
	if err := m.CanReadComputer(a, computerID); err != nil {
		return model.ComputerView{}, classify(err)
	}
	v, err := m.ComputerView(computerID)
	return v, classify(err)
}

// ReportPartition reports a partition's state as someone.
func (s *Sim) ReportPartition(_ context.Context, as backend.Actor, computerID, partitionID string, state model.ReportedState) error {
	_, err := s.call(as, func(a model.Actor) master.Command {
		return master.ReportPartition{By: a, ComputerID: computerID, PartitionID: partitionID, State: state}
	})
	return err
}

// --- instances ---

// Request requests an instance.
func (s *Sim) Request(_ context.Context, as backend.Actor, spec backend.RequestSpec) (api.Instance, error) {
	res, err := s.call(as, func(a model.Actor) master.Command {
		return master.Request{By: a, Title: spec.Title, SoftwareRelease: spec.SoftwareRelease, SoftwareType: spec.SoftwareType,
			Parameters: spec.Parameters, SLA: spec.SLA, Shared: spec.Shared, State: spec.State}
	})
	if err != nil {
		return api.Instance{}, err
	}
	return wireInstance(*res.Instance), nil
}

// Instances lists what someone may see, destroyed ones included.
func (s *Sim) Instances(_ context.Context, as backend.Actor) ([]api.Instance, error) {
	a, err := s.authenticate(as)
	if err != nil {
		return nil, err
	}
	var out []api.Instance
	for _, i := range s.e.Master().Instances(a, true) {
		out = append(out, wireInstance(i))
	}
	return out, nil
}

// Instance reads an instance as someone.
func (s *Sim) Instance(_ context.Context, as backend.Actor, guid string) (api.Instance, error) {
	a, err := s.authenticate(as)
	if err != nil {
		return api.Instance{}, err
	}
	info, err := s.e.Master().Instance(a, guid)
	if err != nil {
		return api.Instance{}, classify(err)
	}
	return wireInstance(info), nil
}

// Bang asks for an instance's tree to be processed again.
func (s *Sim) Bang(_ context.Context, as backend.Actor, guid string) error {
	_, err := s.call(as, func(a model.Actor) master.Command { return master.Bang{By: a, InstanceGUID: guid} })
	return err
}

// Pending lists the requests waiting for a home.
func (s *Sim) Pending(_ context.Context) ([]api.Pending, error) {
	if _, err := s.authenticate(backend.Admin); err != nil {
		return nil, err
	}
	var out []api.Pending
	for _, p := range s.e.Master().Pending() {
		out = append(out, api.Pending{GUID: p.GUID, Title: p.Title, Owner: p.Owner, Reason: p.Reason})
	}
	return out, nil
}

func wireInstance(i master.InstanceInfo) api.Instance {
	return api.Instance{GUID: i.GUID, Title: i.Title, Owner: i.Owner, RootTitle: i.RootTitle,
		SoftwareRelease: i.SoftwareRelease, SoftwareType: i.SoftwareType, Shared: i.Shared,
		RequestedState: i.RequestedState, Parameters: i.Parameters, SLA: i.SLA, Status: i.Status,
		PendingReason: i.PendingReason, ComputerID: i.ComputerID, PartitionID: i.PartitionID,
		HostGUID: i.HostGUID, Addresses: i.Addresses, Connection: i.Connection,
		ReportedState: i.ReportedState, ReportedError: i.ReportedError, Version: i.Version, CreatedAt: i.CreatedAt,
		StartedAt: i.StartedAt, ReportedAt: i.ReportedAt}
}

// --- accounting ---

// PostUsage decodes a journal as the master's HTTP layer does, then posts
// it.
func (s *Sim) PostUsage(_ context.Context, as backend.Actor, computerID string, journal []byte) (api.UsageResult, error) {
	a, err := s.authenticate(as)
	if err != nil {
		return api.UsageResult{}, err
	}
	if len(journal) > api.MaxUsageBody {
		return api.UsageResult{}, backend.Errorf(backend.ErrInvalid, "usage journal of %d bytes: at most %d", len(journal), api.MaxUsageBody)
	}
	j, err := account.DecodeJournal(journal)
	if err != nil {
		return api.UsageResult{}, classify(err)
	}
	res, err := s.e.Apply(master.PostUsage{By: a, ComputerID: computerID, Journal: j})
	if err != nil {
		return api.UsageResult{}, classify(err)
	}
	return api.UsageResult{Movements: res.Movements, Duplicate: res.Duplicate}, nil
}

// Invoices builds the invoices of [from, to) at the current virtual time.
func (s *Sim) Invoices(_ context.Context, as backend.Actor, person string, from, to time.Time) ([]api.Invoice, error) {
	a, err := s.authenticate(as)
	if err != nil {
		return nil, err
	}
	invs, err := s.e.Master().Invoices(a, person, from, to, s.e.Now())
	if err != nil {
		return nil, classify(err)
	}
	out := make([]api.Invoice, 0, len(invs))
	for _, inv := range invs {
		w := api.Invoice{Person: inv.Person, PeriodStart: inv.PeriodStart, PeriodEnd: inv.PeriodEnd,
			Currency: inv.Currency, Total: inv.Total, Movements: inv.Movements}
		for _, l := range inv.Lines {
			w.Lines = append(w.Lines, api.InvoiceLine{Resource: l.Resource, Unit: l.Unit, Quantity: l.Quantity, Amount: l.Amount})
		}
		out = append(out, w)
	}
	return out, nil
}

// --- time ---

// Converge runs the engine until every node that is up has nothing left
// to do on the latest view it can get and has shown it by a quiet pass
// after this call began, or within has passed (the clock then stands at
// the deadline).
func (s *Sim) Converge(ctx context.Context, within time.Duration) error {
	start := s.e.Now()
	mark := s.e.Pass()
	n := 0
	stop := func() bool {
		n++
		return n%4096 == 0 && ctx.Err() != nil || s.e.Settled(mark)
	}
	settled, err := s.e.RunUntil(start.Add(within), stop)
	switch {
	case err != nil:
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	case settled:
		return nil
	}
	return fmt.Errorf("the nodes did not converge within %s: %s", within, strings.Join(s.e.Unsettled(mark), "; "))
}

// Advance runs every event of the next d.
func (s *Sim) Advance(ctx context.Context, d time.Duration) error {
	n := 0
	_, err := s.e.RunUntil(s.e.Now().Add(d), func() bool {
		n++
		return n%4096 == 0 && ctx.Err() != nil
	})
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// --- faults ---

// CrashNode powers a node off.
func (s *Sim) CrashNode(_ context.Context, id string) error { return classify(s.e.Crash(id)) }

// RebootNode powers a node on again.
func (s *Sim) RebootNode(_ context.Context, id string) error { return classify(s.e.Boot(id)) }

// WipeNode replaces a node by an empty one with the same identity.
func (s *Sim) WipeNode(_ context.Context, id string) error { return classify(s.e.Wipe(id)) }

// CutMaster starts a master outage.
func (s *Sim) CutMaster(context.Context) error { return classify(s.e.Outage()) }

// RestoreMaster ends an outage: the master restarts from its durable
// store.
func (s *Sim) RestoreMaster(context.Context) error { return classify(s.e.Restart()) }

// CutNode cuts a node from the master.
func (s *Sim) CutNode(_ context.Context, id string) error { return classify(s.e.Cut(id)) }

// RestoreNode reconnects a node to the master.
func (s *Sim) RestoreNode(_ context.Context, id string) error { return classify(s.e.Heal(id)) }

// SetPromise makes the promise of a partition's instance fail or pass.
func (s *Sim) SetPromise(_ context.Context, id, partitionID string, failing bool) error {
	return classify(s.e.SetPromise(id, partitionID, failing))
}

// --- node observation ---

// Node is what a node holds and runs.
func (s *Sim) Node(_ context.Context, id string) (backend.NodeState, error) {
	n, err := s.e.Node(id)
	if err != nil {
		return backend.NodeState{}, classify(err)
	}
	st := backend.NodeState{ComputerID: id, Up: n.Up, Software: map[string]bool{}}
	for u, sw := range n.Actual.Software {
		st.Software[u] = sw.Installed
	}
	for _, p := range n.Partitions {
		a := n.Actual.Partitions[p]
		st.Partitions = append(st.Partitions, backend.PartitionState{ID: p, InstanceGUID: a.InstanceGUID,
			Running: a.Running && n.Up, AppliedVersion: a.AppliedVersion, Failures: a.Failures})
	}
	return st, nil
}

// Activity is what a node's instance loop did: its configurations, and how
// many partitions it worked on at once, measured from the start and end
// events core/agent emitted for every partition action.
func (s *Sim) Activity(_ context.Context, id string) (backend.Activity, error) {
	acts, err := s.e.Actions(id)
	if err != nil {
		return backend.Activity{}, classify(err)
	}
	var a backend.Activity
	spans := make([]backend.ActionSpan, 0, len(acts))
	for _, r := range acts {
		spans = append(spans, backend.ActionSpan{Kind: string(r.Kind), PartitionID: r.PartitionID, Start: r.Start, End: r.End})
		if r.Kind == converge.ConfigurePartition && !r.Interrupted {
			a.Configurations = append(a.Configurations, backend.Configuration{At: r.End, PartitionID: r.PartitionID,
				InstanceGUID: r.InstanceGUID, Reason: string(r.Reason), OK: r.Error == ""})
		}
	}
	a.MaxConcurrent = backend.PeakConcurrency(spans)
	return a, nil
}
