package clusterbackend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/slapgo/slapgo/cluster"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/stackkit"
	"github.com/slapgo/slapgo/master/api"
)

// Pool shares one cluster.Runtime (the Docker engine and the run's
// image) among the backends of a test binary: building the image once
// takes seconds, a grid per scenario takes a few more.
type Pool struct {
	rt   *cluster.Runtime
	cfg  PoolConfig
	mu   sync.Mutex
	seq  int
	open map[*Backend]bool
}

// PoolConfig configures the pool's grids.
type PoolConfig struct {
	// Binary is a statically linked slapgo ("" builds one).
	Binary string
	// Grid is the node agents' rhythm (default cluster.DefaultGrid).
	Grid cluster.Grid
	// Partitions is the partition count of a computer whose spec gives
	// none.
	Partitions int
	// Keep leaves the containers of a backend whose scenario failed
	// (Backend.Fail) for inspection.
	Keep bool
	// Logf receives progress lines (nil discards them).
	Logf func(format string, args ...any)
}

// NewPool prepares the runtime. Without a Docker engine the error wraps
// cluster.ErrNoDocker, without a static busybox cluster.ErrNoBusybox:
// tests report both through internal/testenv (a skip, a failure under CI).
func NewPool(ctx context.Context, cfg PoolConfig) (*Pool, error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	rt, err := cluster.Prepare(ctx, cluster.PrepareConfig{Binary: cfg.Binary, Logf: cfg.Logf})
	if err != nil {
		return nil, err
	}
	return &Pool{rt: rt, cfg: cfg, open: map[*Backend]bool{}}, nil
}

// Close closes the backends still open and removes the image.
func (p *Pool) Close() error {
	p.mu.Lock()
	var open []*Backend
	for b := range p.open {
		open = append(open, b)
	}
	p.mu.Unlock()
	var errs []error
	for _, b := range open {
		errs = append(errs, b.Close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errs = append(errs, p.rt.Close(ctx))
	return errors.Join(errs...)
}

// New starts a grid (its networks and its master) for one scenario.
// Computers are added by RegisterComputer.
func (p *Pool) New(ctx context.Context, scenario string) (*Backend, error) {
	p.mu.Lock()
	p.seq++
	what := fmt.Sprintf("f%03d", p.seq)
	p.mu.Unlock()
	e := p.rt.Engine.Sub(what, p.cfg.Logf)
	c, err := cluster.Start(ctx, e, cluster.Config{Image: p.rt.Image, Grid: p.cfg.Grid, Partitions: p.cfg.Partitions,
		LogFormat: "json", Logf: p.cfg.Logf})
	if err != nil {
		e.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("clusterbackend: scenario %q: %w", scenario, err)
	}
	b := &Backend{pool: p, c: c, scenario: scenario,
		persons: map[string]*api.Client{}, computers: map[string]*api.Client{}, instances: map[string]*api.Client{},
		software: map[string]string{}}
	p.mu.Lock()
	p.open[b] = true
	p.mu.Unlock()
	return b, nil
}

// Backend is a grid of containers for one scenario. It implements
// backend.Backend. Its methods are not safe for concurrent use.
type Backend struct {
	pool     *Pool
	c        *cluster.Cluster
	scenario string
	failed   bool
	closed   bool

	persons   map[string]*api.Client
	computers map[string]*api.Client
	instances map[string]*api.Client // guid -> client with its certificate
	software  map[string]string      // URL -> name
}

var _ backend.Backend = (*Backend)(nil)

// Kind is "cluster".
func (b *Backend) Kind() string { return "cluster" }

// Now is the wall clock.
func (b *Backend) Now() time.Time { return time.Now().UTC() }

// Cluster is the grid, for what the Backend interface does not say.
func (b *Backend) Cluster() *cluster.Cluster { return b.c }

// Fail marks the scenario failed: Close then keeps the containers when
// the pool says so.
func (b *Backend) Fail() { b.failed = true }

// Close removes the grid's containers, networks and volumes.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.pool.mu.Lock()
	delete(b.pool.open, b)
	b.pool.mu.Unlock()
	if b.failed && b.pool.cfg.Keep {
		b.pool.cfg.Logf("scenario %q failed: its containers are kept (label %s=%s)", b.scenario, cluster.LabelScope, b.c.Engine.Scope())
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return b.c.Close(ctx)
}

// SetTimings is unsupported: the containers run on wall time.
func (b *Backend) SetTimings(backend.Timings) error {
	return backend.Errorf(backend.ErrUnsupported, "the cluster's durations are real: they cannot be set")
}

// --- identities ---

// clientFor returns a client holding the actor's certificate.
func (b *Backend) clientFor(ctx context.Context, as backend.Actor) (*api.Client, error) {
	if as.Impostor {
		return b.impostor(as)
	}
	switch as.Kind {
	case model.KindAdmin:
		return b.c.Admin, nil
	case model.KindPerson:
		if c := b.persons[as.ID]; c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("clusterbackend: person %s has no certificate here (was it added?)", as.ID)
	case model.KindComputer:
		if c := b.computers[as.ID]; c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("clusterbackend: computer %s has no certificate here (was it registered?)", as.ID)
	case model.KindInstance:
		return b.instanceClient(ctx, as.ID)
	}
	return nil, fmt.Errorf("clusterbackend: unknown identity kind %q", as.Kind)
}

// instanceClient gets an instance's certificate as its node does: from
// the master, with the computer's certificate, for the partition it holds.
func (b *Backend) instanceClient(ctx context.Context, guid string) (*api.Client, error) {
	if c := b.instances[guid]; c != nil {
		return c, nil
	}
	inst, err := b.c.Admin.Instance(ctx, guid)
	if err != nil {
		return nil, classify(fmt.Errorf("finding instance %s: %w", guid, err))
	}
	cc := b.computers[inst.ComputerID]
	if inst.PartitionID == "" || cc == nil {
		return nil, fmt.Errorf("clusterbackend: instance %s holds no partition of a computer of this grid: it has no certificate", guid)
	}
	creds, err := cc.PartitionCertificate(ctx, inst.ComputerID, inst.PartitionID)
	if err != nil {
		return nil, classify(fmt.Errorf("certificate of %s: %w", guid, err))
	}
	c, err := b.c.Client(creds)
	if err != nil {
		return nil, err
	}
	b.instances[guid] = c
	return c, nil
}

// impostor is a client whose certificate names the actor but comes from
// a certificate authority the master never heard of.
func (b *Backend) impostor(as backend.Actor) (*api.Client, error) {
	cert, err := stackkit.ForgeCertificate(as)
	if err != nil {
		return nil, err
	}
	// The impostor trusts the real master: only its own certificate is
	// forged.
	pool := x509.NewCertPool()
	if t, ok := b.c.Admin.HTTP.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		pool = t.TLSClientConfig.RootCAs
	}
	return api.NewClientTLS(b.c.Master.URL, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool,
		Certificates: []tls.Certificate{cert}})
}

// classify maps the client's errors to the backend's classes, counting
// also an unreachable host (a container that is gone) as unavailable.
func classify(err error) error {
	c := stackkit.Classify(err)
	var ae *api.Error
	if c == err && errors.Is(err, syscall.EHOSTUNREACH) && !errors.As(err, &ae) {
		return fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
	}
	return c
}

// --- persons, computers, software ---

// AddPerson adds a person and keeps its credentials.
func (b *Backend) AddPerson(ctx context.Context, as backend.Actor, id string) error {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return err
	}
	res, err := c.AddPerson(ctx, api.AddPersonRequest{ID: id})
	if err != nil {
		return classify(err)
	}
	pc, err := b.c.Client(res.Credentials)
	if err != nil {
		return err
	}
	b.persons[res.Person.ID] = pc
	return nil
}

// RegisterComputer registers the computer as someone and starts its node
// container with the credentials the master issued.
func (b *Backend) RegisterComputer(ctx context.Context, as backend.Actor, spec backend.ComputerSpec) error {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return err
	}
	owner := ""
	if as.Kind == model.KindAdmin {
		owner = spec.Owner
	}
	reg, err := c.RegisterComputer(ctx, api.RegisterComputerRequest{ID: spec.ID, Owner: owner, Region: spec.Region,
		Network: spec.Network, Attributes: spec.Attributes, Prices: spec.Prices, Currency: spec.Currency, Scope: spec.Scope})
	if err != nil {
		return classify(err)
	}
	if reg.Credentials == nil {
		return fmt.Errorf("clusterbackend: registering %s returned no credentials", spec.ID)
	}
	cc, err := b.c.Client(*reg.Credentials)
	if err != nil {
		return err
	}
	b.computers[spec.ID] = cc
	_, err = b.c.StartNode(ctx, cluster.NodeSpec{ID: spec.ID, Region: spec.Region, Network: spec.Network,
		Attributes: spec.Attributes, Prices: spec.Prices, Currency: spec.Currency, Scope: spec.Scope,
		Partitions: spec.Partitions}, *reg.Credentials)
	if err != nil {
		return err
	}
	// As on the other backends, the partitions are announced when this
	// returns.
	err = cluster.Eventually(ctx, time.Minute, 200*time.Millisecond, func(ctx context.Context) error {
		d, err := b.c.Admin.ComputerDetails(ctx, spec.ID)
		if err != nil {
			return err
		}
		if len(d.Partitions) < spec.Partitions {
			return fmt.Errorf("%d partitions announced of %d", len(d.Partitions), spec.Partitions)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clusterbackend: node %s: %w", spec.ID, err)
	}
	return nil
}

// Supply asks a computer for a release (or its removal).
func (b *Backend) Supply(ctx context.Context, as backend.Actor, computerID, url string, state model.SoftwareRequest) error {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return err
	}
	_, err = c.Supply(ctx, computerID, api.SupplyRequest{URL: url, State: state})
	return classify(err)
}

// Software is the master's record of a computer's software.
func (b *Backend) Software(ctx context.Context, computerID string) ([]model.SoftwareInstallation, error) {
	d, err := b.c.Admin.ComputerDetails(ctx, computerID)
	return d.Software, classify(err)
}

// Partitions is the master's record of a computer's partitions.
func (b *Backend) Partitions(ctx context.Context, computerID string) ([]model.Partition, error) {
	d, err := b.c.Admin.ComputerDetails(ctx, computerID)
	return d.Partitions, classify(err)
}

// ComputerView reads a computer's view as someone.
func (b *Backend) ComputerView(ctx context.Context, as backend.Actor, computerID string) (model.ComputerView, error) {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return model.ComputerView{}, err
	}
	v, _, _, err := c.ComputerView(ctx, computerID, "")
	if err != nil {
		return model.ComputerView{}, classify(err)
	}
	if v == nil {
		return model.ComputerView{}, fmt.Errorf("clusterbackend: the view of %s came back empty", computerID)
	}
	return *v, nil
}

// ReportPartition reports a partition's state as someone.
func (b *Backend) ReportPartition(ctx context.Context, as backend.Actor, computerID, partitionID string, state model.ReportedState) error {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return err
	}
	return classify(c.ReportPartition(ctx, computerID, partitionID, api.PartitionStateRequest{State: state}))
}

// --- instances ---

// Request requests an instance.
func (b *Backend) Request(ctx context.Context, as backend.Actor, spec backend.RequestSpec) (api.Instance, error) {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return api.Instance{}, err
	}
	inst, err := c.Request(ctx, api.InstanceRequest{Title: spec.Title, SoftwareRelease: spec.SoftwareRelease,
		SoftwareType: spec.SoftwareType, Parameters: spec.Parameters, SLA: spec.SLA, Shared: spec.Shared, State: spec.State})
	return inst, classify(err)
}

// Instances lists what someone may see.
func (b *Backend) Instances(ctx context.Context, as backend.Actor) ([]api.Instance, error) {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return nil, err
	}
	list, err := c.Instances(ctx)
	return list, classify(err)
}

// Instance reads an instance as someone.
func (b *Backend) Instance(ctx context.Context, as backend.Actor, guid string) (api.Instance, error) {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return api.Instance{}, err
	}
	inst, err := c.Instance(ctx, guid)
	return inst, classify(err)
}

// Bang asks for an instance's tree to be processed again.
func (b *Backend) Bang(ctx context.Context, as backend.Actor, guid string) error {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return err
	}
	_, err = c.Bang(ctx, guid, "asked by a scenario")
	return classify(err)
}

// Pending lists the requests waiting for a home.
func (b *Backend) Pending(ctx context.Context) ([]api.Pending, error) {
	list, err := b.c.Admin.Pending(ctx)
	return list, classify(err)
}

// --- accounting ---

// PostUsage posts a usage journal as someone.
func (b *Backend) PostUsage(ctx context.Context, as backend.Actor, computerID string, journal []byte) (api.UsageResult, error) {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return api.UsageResult{}, err
	}
	res, err := c.PostUsage(ctx, computerID, journal)
	return res, classify(err)
}

// Invoices reads invoices as someone.
func (b *Backend) Invoices(ctx context.Context, as backend.Actor, person string, from, to time.Time) ([]api.Invoice, error) {
	c, err := b.clientFor(ctx, as)
	if err != nil {
		return nil, err
	}
	list, err := c.Invoices(ctx, from, to, person)
	return list, classify(err)
}

// --- faults ---

// masterUp reports whether the master's container runs.
func (b *Backend) masterUp(ctx context.Context) bool {
	up, err := b.c.Master.Container.Running(ctx)
	return err == nil && up
}

// CutMaster kills the master's container (SIGKILL): an outage.
func (b *Backend) CutMaster(ctx context.Context) error {
	if !b.masterUp(ctx) {
		return backend.Errorf(backend.ErrConflict, "the master is already down")
	}
	return b.c.Master.Kill(ctx)
}

// RestoreMaster starts the master's container again on its volume.
func (b *Backend) RestoreMaster(ctx context.Context) error {
	if b.masterUp(ctx) {
		return backend.Errorf(backend.ErrConflict, "the master is already up")
	}
	return b.c.Master.Restart(ctx, time.Minute)
}

func (b *Backend) node(id string) (*cluster.Node, error) {
	n := b.c.Node(id)
	if n == nil {
		return nil, backend.Errorf(backend.ErrNotFound, "no node container runs for computer %s", id)
	}
	return n, nil
}

func nodeUp(ctx context.Context, n *cluster.Node) bool {
	up, err := n.Container.Running(ctx)
	return err == nil && up
}

// CrashNode kills a node's container: every process dies, its disk stays.
func (b *Backend) CrashNode(ctx context.Context, id string) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	if !nodeUp(ctx, n) {
		return backend.Errorf(backend.ErrConflict, "node %s is already down", id)
	}
	return n.Kill(ctx)
}

// RebootNode starts a crashed node's container again.
func (b *Backend) RebootNode(ctx context.Context, id string) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	if nodeUp(ctx, n) {
		return backend.Errorf(backend.ErrConflict, "node %s is running: crash it before rebooting it", id)
	}
	return n.Start(ctx)
}

// WipeNode replaces a node's container by a fresh one with the same
// identity and an empty disk.
func (b *Backend) WipeNode(ctx context.Context, id string) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	return n.Replace(ctx)
}

// CutNode disconnects a node from the master's network.
func (b *Backend) CutNode(ctx context.Context, id string) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	return n.Cut(ctx)
}

// RestoreNode reconnects a node to the master's network.
func (b *Backend) RestoreNode(ctx context.Context, id string) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	return n.Heal(ctx)
}

// SetPromise makes the fixture's health promise of a partition fail or
// pass, by the file it checks.
func (b *Backend) SetPromise(ctx context.Context, id, partitionID string, failing bool) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	if _, ok := partitionIndex(n, partitionID); !ok {
		return backend.Errorf(backend.ErrNotFound, "node %s has no partition %s", id, partitionID)
	}
	path := instanceRoot + "/" + partitionID + "/" + stackkit.HealthFile
	cmd := []string{"rm", "-f", path}
	if failing {
		cmd = []string{"sh", "-c", "echo 'made to fail by a scenario' > " + path}
	}
	code, out, err := n.Container.Exec(ctx, cmd...)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("clusterbackend: %s: %q exited %d: %s", id, cmd, code, out)
	}
	return nil
}

// --- time ---

// Advance sleeps d.
func (b *Backend) Advance(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
