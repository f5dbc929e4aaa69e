package clusterbackend

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/slapgo/slapgo/cluster"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/stackkit"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/agent"
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
	b := &Backend{pool: p, c: c, scenario: scenario, software: map[string]string{}, lastStatus: map[string]agent.NodeStatus{}}
	// The impostor trusts the real master: only its own certificate is
	// forged.
	roots := x509.NewCertPool()
	if t, ok := c.Admin.HTTP.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		roots = t.TLSClientConfig.RootCAs
	}
	b.API = (&stackkit.API{Name: "clusterbackend", Admin: c.Admin, MasterURL: c.Master.URL, RootCAs: roots,
		NewClient: func(_ string, creds api.Credentials) (*api.Client, error) { return c.Client(creds) },
		Classify:  classify}).Init()
	p.mu.Lock()
	p.open[b] = true
	p.mu.Unlock()
	return b, nil
}

// Backend is a grid of containers for one scenario. It implements
// backend.Backend; what goes through master/api alone is stackkit.API's.
// Its methods are not safe for concurrent use.
type Backend struct {
	*stackkit.API
	pool     *Pool
	c        *cluster.Cluster
	scenario string
	failed   bool
	closed   bool
	software map[string]string // URL -> name
	// promiseSet is when a scenario last made each partition's health
	// promise fail or pass (SetPromise), per node.
	promiseSet map[string]map[string]time.Time
	// lastStatus is each crashed node's status just before its crash.
	lastStatus map[string]agent.NodeStatus
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

// RegisterComputer registers the computer as someone and starts its node
// container with the credentials the master issued.
func (b *Backend) RegisterComputer(ctx context.Context, as backend.Actor, spec backend.ComputerSpec) error {
	creds, err := b.API.RegisterComputer(ctx, as, spec)
	if err != nil {
		return err
	}
	_, err = b.c.StartNode(ctx, cluster.NodeSpec{ID: spec.ID, Region: spec.Region, Network: spec.Network,
		Attributes: spec.Attributes, Prices: spec.Prices, Currency: spec.Currency, Scope: spec.Scope,
		Partitions: spec.Partitions}, creds)
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
	// What it holds, for Node while it is down: its agent's word just
	// before the crash (its records do not change after).
	if st, err := status(ctx, n); err == nil {
		b.lastStatus[id] = st
	} else {
		delete(b.lastStatus, id)
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
	if b.promiseSet == nil {
		b.promiseSet = map[string]map[string]time.Time{}
	}
	if b.promiseSet[id] == nil {
		b.promiseSet[id] = map[string]time.Time{}
	}
	b.promiseSet[id][partitionID] = time.Now()
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
