package simbackend

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/master/api"
)

// Config tunes the simulated grid. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// Seed is the root of every random draw (poll jitter, boot delays).
	Seed uint64
	// Start is the virtual time the grid starts at.
	Start time.Time
	// PollInterval is the period of each node's instance loop, and
	// PollJitter the largest random delay added to each period.
	PollInterval time.Duration
	PollJitter   time.Duration
	// Configure, Destroy and Remove are the durations of a
	// configure-partition, a destroy-partition and a remove-software.
	// Start and stop are instantaneous.
	Configure time.Duration
	Destroy   time.Duration
	Remove    time.Duration
	// Build is the duration of a software build whose SoftwareSpec sets
	// none.
	Build time.Duration
	// Converge is handed to converge.PlanNode.
	Converge converge.Config
}

// DefaultConfig is SlapOS's rhythm: a pass every minute (with up to 10 s of
// jitter), 1 s per partition configuration, builds of 2 minutes, a
// partition reprocessed at least every 24 h, failures retried from 1 minute
// doubling up to 1 hour.
func DefaultConfig() Config {
	return Config{
		Start:        time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		PollInterval: time.Minute,
		PollJitter:   10 * time.Second,
		Configure:    time.Second,
		Destroy:      time.Second,
		Remove:       time.Second,
		Build:        2 * time.Minute,
		Converge:     converge.DefaultConfig(),
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
	if c.PollJitter < 0 {
		c.PollJitter = 0
	} else if c.PollJitter == 0 {
		c.PollJitter = d.PollJitter
	}
	if c.Configure <= 0 {
		c.Configure = d.Configure
	}
	if c.Destroy <= 0 {
		c.Destroy = d.Destroy
	}
	if c.Remove <= 0 {
		c.Remove = d.Remove
	}
	if c.Build <= 0 {
		c.Build = d.Build
	}
	return c
}

// Sim is the simulated grid. It implements backend.Backend and
// backend.Tracer. It is not safe for concurrent use.
type Sim struct {
	cfg      Config
	now      time.Time
	events   eventQueue
	seq      uint64
	master   *master.State
	masterUp bool
	// store holds the last mutation of every entity: the master's
	// durable state.
	store    map[string]master.Mutation
	software map[string]backend.SoftwareSpec // URL -> spec
	nodes    map[string]*node
	order    []string // node ids, sorted
	// round counts Converge calls: a node is converged only after a quiet
	// pass in the current one.
	round uint64
	trace hash.Hash64
	tail  []string // last trace lines, for failure messages
}

var _ backend.Backend = (*Sim)(nil)
var _ backend.Tracer = (*Sim)(nil)

// New builds an empty grid: a master with no person and no computer.
func New(cfg Config) *Sim {
	cfg = cfg.withDefaults()
	return &Sim{
		cfg:      cfg,
		now:      cfg.Start,
		master:   master.New(master.DefaultConfig()),
		masterUp: true,
		store:    map[string]master.Mutation{},
		software: map[string]backend.SoftwareSpec{},
		nodes:    map[string]*node{},
		trace:    fnv.New64a(),
	}
}

// Kind is "sim".
func (s *Sim) Kind() string { return "sim" }

// Close does nothing: everything is in memory.
func (s *Sim) Close() error { return nil }

// Now is the virtual time.
func (s *Sim) Now() time.Time { return s.now }

// TraceHash is the FNV-64a hash of the trace so far.
func (s *Sim) TraceHash() string { return fmt.Sprintf("%016x", s.trace.Sum64()) }

// TraceTail returns the last n lines of the trace.
func (s *Sim) TraceTail(n int) []string {
	if n > len(s.tail) {
		n = len(s.tail)
	}
	return slices.Clone(s.tail[len(s.tail)-n:])
}

const tailLen = 200

func (s *Sim) tracef(format string, args ...any) {
	line := s.now.UTC().Format("2006-01-02T15:04:05Z") + " " + fmt.Sprintf(format, args...)
	s.trace.Write([]byte(line))
	s.trace.Write([]byte{'\n'})
	if len(s.tail) == 2*tailLen {
		s.tail = append(s.tail[:0], s.tail[tailLen:]...)
	}
	s.tail = append(s.tail, line)
}

// --- events ---

type event struct {
	at  time.Time
	seq uint64
	fn  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// after schedules fn d from now.
func (s *Sim) after(d time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.events, &event{at: s.now.Add(d), seq: s.seq, fn: fn})
}

// step runs the next event if it is due by until. It reports whether it
// ran one.
func (s *Sim) step(until time.Time) bool {
	if len(s.events) == 0 || s.events[0].at.After(until) {
		return false
	}
	e := heap.Pop(&s.events).(*event)
	s.now = e.at
	e.fn()
	return true
}

// --- the master ---

// apply runs a command on the master and keeps its mutations. The caller
// checks that the master is reachable.
func (s *Sim) apply(cmd master.Command) (master.Result, error) {
	res, muts, err := s.master.Apply(s.now, cmd)
	if err != nil {
		s.tracef("master %s refused: %v", cmd.CommandName(), err)
		return res, classify(err)
	}
	for _, m := range muts {
		s.store[string(m.Kind)+"\x00"+m.Key] = m
	}
	if res.Changed {
		s.tracef("master %s: %d mutations", cmd.CommandName(), len(muts))
	}
	return res, nil
}

// classify maps core errors to the backend's classes.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, master.ErrNotFound):
		return fmt.Errorf("%w: %w", backend.ErrNotFound, err)
	case errors.Is(err, master.ErrForbidden):
		return fmt.Errorf("%w: %w", backend.ErrRefused, err)
	case errors.Is(err, master.ErrConflict):
		return fmt.Errorf("%w: %w", backend.ErrConflict, err)
	case errors.Is(err, model.ErrInvalid), errors.Is(err, account.ErrJournal):
		return fmt.Errorf("%w: %w", backend.ErrInvalid, err)
	}
	return err
}

// authenticate is the master's TLS layer: only the certificates its CA
// issued are accepted, and only while it is up.
func (s *Sim) authenticate(as backend.Actor) (model.Actor, error) {
	if !s.masterUp {
		return model.Actor{}, backend.Errorf(backend.ErrUnavailable, "the master does not answer (outage)")
	}
	if as.Impostor {
		return model.Actor{}, backend.Errorf(backend.ErrRefused,
			"unauthenticated: the certificate of %s:%s was not issued by this master's certificate authority", as.Kind, as.ID)
	}
	return model.Actor{Kind: as.Kind, ID: as.ID}, nil
}

func (s *Sim) call(as backend.Actor, build func(model.Actor) master.Command) (master.Result, error) {
	a, err := s.authenticate(as)
	if err != nil {
		return master.Result{}, err
	}
	return s.apply(build(a))
}

// --- catalogue and timings ---

// DefineSoftware registers a release model under a URL derived from its
// name.
func (s *Sim) DefineSoftware(_ context.Context, spec backend.SoftwareSpec) (string, error) {
	if err := model.ValidateID("software name", spec.Name); err != nil {
		return "", fmt.Errorf("%w: %w", backend.ErrInvalid, err)
	}
	switch spec.Defect {
	case "", backend.DefectUnknownRecipe, backend.DefectSyntax:
	default:
		return "", backend.Errorf(backend.ErrInvalid, "software %s: defect %q: expected %q or %q",
			spec.Name, spec.Defect, backend.DefectUnknownRecipe, backend.DefectSyntax)
	}
	url := "https://software.example.org/" + spec.Name + "/software.cfg"
	s.software[url] = spec
	return url, nil
}

// SetTimings changes the modelled durations.
func (s *Sim) SetTimings(t backend.Timings) error {
	if t.Configure > 0 {
		s.cfg.Configure = t.Configure
	}
	if t.PollInterval > 0 {
		s.cfg.PollInterval = t.PollInterval
	}
	return nil
}

// --- persons, computers, software ---

// AddPerson creates a person.
func (s *Sim) AddPerson(_ context.Context, as backend.Actor, id string) error {
	_, err := s.call(as, func(a model.Actor) master.Command { return master.AddPerson{By: a, ID: id} })
	return err
}

// RegisterComputer registers the computer and boots its node, which
// formats spec.Partitions partitions and announces them.
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
	// The operator formats the node before this returns: its partitions
	// are announced at once; its agent then starts polling.
	n := s.newNode(spec.ID, spec.Partitions)
	n.up = true
	n.send(master.SetCapacity{By: n.actor(), ComputerID: n.id, Partitions: n.partitions})
	s.boot(n, s.jitter(n))
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

// Software is the master's record of a computer's software.
func (s *Sim) Software(_ context.Context, computerID string) ([]model.SoftwareInstallation, error) {
	if _, err := s.authenticate(backend.Admin); err != nil {
		return nil, err
	}
	if _, ok := s.nodes[computerID]; !ok {
		return nil, backend.Errorf(backend.ErrNotFound, "computer %s is not registered", computerID)
	}
	return s.master.Software(computerID), nil
}

// Partitions is the master's record of a computer's partitions.
func (s *Sim) Partitions(_ context.Context, computerID string) ([]model.Partition, error) {
	if _, err := s.authenticate(backend.Admin); err != nil {
		return nil, err
	}
	if _, ok := s.nodes[computerID]; !ok {
		return nil, backend.Errorf(backend.ErrNotFound, "computer %s is not registered", computerID)
	}
	return s.master.Partitions(computerID), nil
}

// ComputerView reads a computer's view as someone.
func (s *Sim) ComputerView(_ context.Context, as backend.Actor, computerID string) (model.ComputerView, error) {
	a, err := s.authenticate(as)
	if err != nil {
		return model.ComputerView{}, err
	}
	if err := s.master.CanReadComputer(a, computerID); err != nil {
		return model.ComputerView{}, classify(err)
	}
	v, err := s.master.ComputerView(computerID)
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
	for _, i := range s.master.Instances(a, true) {
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
	info, err := s.master.Instance(a, guid)
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
	for _, p := range s.master.Pending() {
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
		ReportedState: i.ReportedState, ReportedError: i.ReportedError, Version: i.Version, CreatedAt: i.CreatedAt}
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
	res, err := s.apply(master.PostUsage{By: a, ComputerID: computerID, Journal: j})
	if err != nil {
		return api.UsageResult{}, err
	}
	return api.UsageResult{Movements: res.Movements, Duplicate: res.Duplicate}, nil
}

// Invoices builds the invoices of [from, to) at the current virtual time.
func (s *Sim) Invoices(_ context.Context, as backend.Actor, person string, from, to time.Time) ([]api.Invoice, error) {
	a, err := s.authenticate(as)
	if err != nil {
		return nil, err
	}
	invs, err := s.master.Invoices(a, person, from, to, s.now)
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

// Converge runs events until every node that is up is idle on the latest
// view it can get, or within has passed.
func (s *Sim) Converge(ctx context.Context, within time.Duration) error {
	start := s.now
	deadline := start.Add(within)
	s.round++
	for n := 0; ; n++ {
		if s.converged() {
			s.tracef("converged after %s", s.now.Sub(start))
			return nil
		}
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if !s.step(deadline) {
			break
		}
	}
	s.now = deadline
	return fmt.Errorf("the nodes did not converge within %s: %s", within, strings.Join(s.unconverged(), "; "))
}

// Advance runs every event of the next d.
func (s *Sim) Advance(ctx context.Context, d time.Duration) error {
	until := s.now.Add(d)
	for n := 0; s.step(until); n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	s.now = until
	return nil
}

func (s *Sim) converged() bool {
	for _, id := range s.order {
		if s.nodes[id].waitingFor() != "" {
			return false
		}
	}
	return true
}

func (s *Sim) unconverged() []string {
	var out []string
	for _, id := range s.order {
		if why := s.nodes[id].waitingFor(); why != "" {
			out = append(out, id+": "+why)
		}
	}
	return out
}

// --- faults ---

func (s *Sim) node(id string) (*node, error) {
	n := s.nodes[id]
	if n == nil {
		return nil, backend.Errorf(backend.ErrNotFound, "no node agent runs for computer %s", id)
	}
	return n, nil
}

// CrashNode powers a node off.
func (s *Sim) CrashNode(_ context.Context, id string) error {
	n, err := s.node(id)
	if err != nil {
		return err
	}
	n.crash()
	return nil
}

// RebootNode powers a node on again.
func (s *Sim) RebootNode(_ context.Context, id string) error {
	n, err := s.node(id)
	if err != nil {
		return err
	}
	if n.up {
		return backend.Errorf(backend.ErrConflict, "node %s is running: crash it before rebooting it", id)
	}
	s.boot(n, s.jitter(n))
	return nil
}

// WipeNode replaces a node by an empty one with the same identity.
func (s *Sim) WipeNode(_ context.Context, id string) error {
	n, err := s.node(id)
	if err != nil {
		return err
	}
	if n.up {
		n.crash()
	}
	n.wipe()
	s.boot(n, s.jitter(n))
	return nil
}

// CutMaster starts a master outage.
func (s *Sim) CutMaster(context.Context) error {
	if !s.masterUp {
		return backend.Errorf(backend.ErrConflict, "the master is already down")
	}
	s.masterUp = false
	s.tracef("master down")
	return nil
}

// RestoreMaster ends an outage: the master restarts from its durable state.
func (s *Sim) RestoreMaster(context.Context) error {
	if s.masterUp {
		return backend.Errorf(backend.ErrConflict, "the master is already up")
	}
	var entities []master.Mutation
	for _, k := range slices.Sorted(maps.Keys(s.store)) {
		m := s.store[k]
		data, err := m.Encode()
		if err != nil {
			return fmt.Errorf("master restart: encoding %s %s: %w", m.Kind, m.Key, err)
		}
		d, err := master.DecodeEntity(m.Kind, m.Key, data)
		if err != nil {
			return fmt.Errorf("master restart: decoding %s %s: %w", m.Kind, m.Key, err)
		}
		entities = append(entities, d)
	}
	st, err := master.Restore(s.master.Config(), entities)
	if err != nil {
		return fmt.Errorf("master restart: %w", err)
	}
	s.master = st
	s.masterUp = true
	s.tracef("master up (restored %d entities)", len(entities))
	return nil
}

// CutNode cuts a node from the master.
func (s *Sim) CutNode(_ context.Context, id string) error {
	n, err := s.node(id)
	if err != nil {
		return err
	}
	n.cut = true
	s.tracef("%s cut from the master", id)
	return nil
}

// RestoreNode reconnects a node to the master.
func (s *Sim) RestoreNode(_ context.Context, id string) error {
	n, err := s.node(id)
	if err != nil {
		return err
	}
	n.cut = false
	s.tracef("%s reconnected", id)
	return nil
}

// SetPromise makes the promise of a partition's instance fail or pass.
func (s *Sim) SetPromise(_ context.Context, id, partitionID string, failing bool) error {
	n, err := s.node(id)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(n.partitions, func(p master.PartitionSpec) bool { return p.ID == partitionID }) {
		return backend.Errorf(backend.ErrNotFound, "node %s has no partition %s", id, partitionID)
	}
	if failing {
		n.promiseFailing[partitionID] = true
	} else {
		delete(n.promiseFailing, partitionID)
	}
	s.tracef("%s %s promise failing=%v", id, partitionID, failing)
	return nil
}

// --- node observation ---

// Node is what a node holds and runs.
func (s *Sim) Node(_ context.Context, id string) (backend.NodeState, error) {
	n, err := s.node(id)
	if err != nil {
		return backend.NodeState{}, err
	}
	st := backend.NodeState{ComputerID: id, Up: n.up, Software: map[string]bool{}}
	for u, sw := range n.actual.Software {
		st.Software[u] = sw.Installed
	}
	for _, p := range n.partitions {
		a := n.actual.Partitions[p.ID]
		st.Partitions = append(st.Partitions, backend.PartitionState{ID: p.ID, InstanceGUID: a.InstanceGUID,
			Running: a.Running && n.up, AppliedVersion: a.AppliedVersion, Failures: a.Failures})
	}
	return st, nil
}

// Activity is what a node's instance loop did.
func (s *Sim) Activity(_ context.Context, id string) (backend.Activity, error) {
	n, err := s.node(id)
	if err != nil {
		return backend.Activity{}, err
	}
	return backend.Activity{Configurations: slices.Clone(n.configured), MaxConcurrent: n.maxWorking}, nil
}

// jitter draws a node's poll jitter.
func (s *Sim) jitter(n *node) time.Duration {
	if s.cfg.PollJitter <= 0 {
		return 0
	}
	return time.Duration(n.rng.Int64N(int64(s.cfg.PollJitter)))
}

// nodeSeed derives a node's seed from the root seed and its id, so that
// adding a node changes no other node's draws.
func nodeSeed(root uint64, id string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/node/%s", root, id)
	return h.Sum64()
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
