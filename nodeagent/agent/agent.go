package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/slap"
	"github.com/slapgo/slapgo/nodeagent/config"
	"github.com/slapgo/slapgo/nodeagent/format"
	"github.com/slapgo/slapgo/nodeagent/netacct"
	"github.com/slapgo/slapgo/nodeagent/supervisor"
	"github.com/slapgo/slapgo/nodeagent/usage"
)

// ErrOffline wraps the error of a pass that could not reach the master.
var ErrOffline = errors.New("agent: master unreachable")

// Options tunes an Agent.
type Options struct {
	// Unprivileged runs everything as the agent's own user, even as root.
	Unprivileged bool
	// SlapgoBinary is the slapgo executable promise scripts call; "" is
	// os.Executable().
	SlapgoBinary string
	Logger       *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Supervisor options (grace from [slapgrid] stop_grace when zero).
	Supervisor supervisor.Options
}

// Agent is one computer's node agent. Its passes (SoftwarePass,
// InstancePass, DestroyPass, ReportPass, Format) may run from different
// goroutines: partition work is serialised on one worker, builds run on
// their own pool.
type Agent struct {
	cfg        config.Config
	opts       Options
	log        *slog.Logger
	client     masterClient
	sup        *supervisor.Supervisor
	builds     *builder
	privileged bool
	now        func() time.Time

	// worker serialises partition actions (configuration is
	// single-threaded per node).
	worker sync.Mutex

	mu    sync.Mutex
	view  *model.ComputerView
	etag  string
	parts map[string]*partitionState // cache of the state files (worker only)
	creds map[string]*syscall.Credential
	// bangs decides which service deaths bang their instance (core/agent).
	bangs *agentcore.Bangs
	wake  chan struct{}
	rep   *usage.Reporter
	// usageMu serialises sampling and reporting usage: what is sampled
	// while a journal is cut would be lost (usage's caller's duty 3).
	usageMu sync.Mutex
	net     netAccounting
	// daemon: Run is running; instance passes then hand the installs they
	// plan to the build pool (a one-shot `node instance` builds nothing).
	daemon bool

	// core decides the instance loop (worker only; see coreAgent).
	core *agentcore.Agent
	// buildsDone: builds ended since the last pass, for core (under mu).
	buildsDone []buildEnd
	// eventsLogged: the last core event written to EventsFile (worker).
	eventsLogged uint64
	eventBuf     []agentcore.Event
	// statusWritten: what DaemonStatusFile last said, but times and
	// counters, and when (worker).
	statusWritten   statusMaterial
	statusWrittenAt time.Time
}

// buildEnd is a build that ended, successfully or not.
type buildEnd struct {
	url string
	err error
}

// New makes an agent for cfg. The client is built from the configuration's
// master URL and certificate files.
func New(cfg config.Config, opts Options) (*Agent, error) {
	if cfg.MasterURL == "" {
		return nil, fmt.Errorf("agent: %s: [slapos] master_url is not set", cfg.File)
	}
	for _, f := range []struct{ key, v string }{{"cert_file", cfg.CertFile}, {"key_file", cfg.KeyFile}, {"ca_file", cfg.CAFile}} {
		if f.v == "" {
			return nil, fmt.Errorf("agent: %s: [slapos] %s is not set: run `slapgo node register` to obtain the computer's credentials", cfg.File, f.key)
		}
		if _, err := os.Stat(f.v); err != nil {
			return nil, fmt.Errorf("agent: %s: [slapos] %s: %w: run `slapgo node register` to obtain the computer's credentials", cfg.File, f.key, err)
		}
	}
	var client masterClient
	var err error
	if cfg.MasterProtocol == config.ProtocolSLAP {
		var tlsCfg *tls.Config
		if tlsCfg, err = api.TLSConfig(cfg.CertFile, cfg.KeyFile, cfg.CAFile); err == nil {
			client, err = slap.NewClient(cfg.MasterURL, tlsCfg)
		}
	} else {
		client, err = api.NewClient(cfg.MasterURL, cfg.CertFile, cfg.KeyFile, cfg.CAFile)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return newAgent(cfg, client, opts), nil
}

// masterClient is what the agent asks of its master: api.Client speaks
// /api/v1, slap.Client SLAP (master_protocol = slap).
type masterClient interface {
	ComputerView(ctx context.Context, id, etag string) (view *model.ComputerView, newETag string, notModified bool, err error)
	SetCapacity(ctx context.Context, id string, r api.CapacityRequest) error
	ReportSoftware(ctx context.Context, id string, r api.SoftwareStateRequest) error
	ReportPartition(ctx context.Context, id, pid string, r api.PartitionStateRequest) error
	SetConnection(ctx context.Context, id, pid string, r api.ConnectionRequest) error
	PartitionDestroyed(ctx context.Context, id, pid string) error
	PartitionCertificate(ctx context.Context, id, pid string) (api.Credentials, error)
	PostUsage(ctx context.Context, id string, journalXML []byte) (api.UsageResult, error)
	Bang(ctx context.Context, guid, message string) (api.Instance, error)
}

// instanceMasterClient is what an instance asks of the master through its
// partition's certificate.
type instanceMasterClient interface {
	Request(ctx context.Context, r api.InstanceRequest) (api.Instance, error)
	Bang(ctx context.Context, guid, message string) (api.Instance, error)
}

func newAgent(cfg config.Config, client masterClient, opts Options) *Agent {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Supervisor.Grace == 0 {
		opts.Supervisor.Grace = cfg.Grid.StopGrace
	}
	if opts.Supervisor.Logger == nil {
		opts.Supervisor.Logger = opts.Logger
	}
	a := &Agent{
		cfg:        cfg,
		opts:       opts,
		log:        opts.Logger,
		client:     client,
		sup:        supervisor.New(opts.Supervisor),
		privileged: os.Geteuid() == 0 && !opts.Unprivileged,
		now:        opts.Now,
		parts:      map[string]*partitionState{},
		creds:      map[string]*syscall.Credential{},
		bangs:      agentcore.NewBangs(),
		wake:       make(chan struct{}, 1),
		net:        netAccounting{captures: map[string]*netacct.Capture{}, drops: map[*netacct.Capture]uint64{}},
	}
	if a.privileged {
		// Partitions formatted without users run as the agent's user.
		if st, err := format.ReadState(cfg.InstanceRoot); err == nil && st.PartitionAmount > 0 && !st.Privileged {
			a.privileged = false
			a.log.Info("partitions were formatted unprivileged: they run as the agent's user (format again as root to give them users)")
		}
	}
	a.builds = newBuilder(a)
	return a
}

// Privileged reports whether partitions run as their own users.
func (a *Agent) Privileged() bool { return a.privileged }

// Close waits for the builds in progress and releases the partitions'
// programs, which keep running (a later agent restarts them, see
// supervisor.KillStale). Use StopServices first to stop them instead.
func (a *Agent) Close() {
	a.builds.wait()
	a.sup.Release()
}

// StopServices stops every partition's programs.
func (a *Agent) StopServices() { a.sup.Close() }

func (a *Agent) convergeConfig() converge.Config {
	c := converge.Config{MaximumPeriodicity: a.cfg.Grid.MaximumPeriodicity, RetryBase: a.cfg.Grid.RetryBase, RetryMax: a.cfg.Grid.RetryMax}
	if c.MaximumPeriodicity == 0 {
		c.MaximumPeriodicity = -1 // 0 in the configuration: never periodic
	}
	return c
}

func (a *Agent) partitionDir(id string) string { return a.cfg.PartitionDir(id) }

func (a *Agent) softwareDir(url string) string {
	return filepath.Join(a.cfg.SoftwareRoot, SoftwareDirName(url))
}

// credential returns the partition user's credential (nil when
// unprivileged).
func (a *Agent) credential(id string) (*syscall.Credential, string, error) {
	if !a.privileged {
		return nil, "", nil
	}
	n := a.cfg.PartitionIndex(id)
	if n < 0 {
		return nil, "", fmt.Errorf("agent: partition %q is not named %sN: cannot tell its user", id, a.cfg.Format.PartitionBaseName)
	}
	name := a.cfg.PartitionUser(n)
	a.mu.Lock()
	c := a.creds[id]
	a.mu.Unlock()
	if c != nil {
		return c, name, nil
	}
	c, err := format.Credential(name)
	if err != nil {
		return nil, "", fmt.Errorf("agent: %s: %w (run `slapgo node format`)", id, err)
	}
	a.mu.Lock()
	a.creds[id] = c
	a.mu.Unlock()
	return c, name, nil
}

// partitionState returns the cached record of a partition (worker only).
func (a *Agent) partitionState(id string) (*partitionState, error) {
	if st := a.parts[id]; st != nil {
		return st, nil
	}
	st, err := loadPartitionState(a.partitionDir(id))
	if err != nil {
		return nil, err
	}
	a.parts[id] = st
	return st, nil
}

func (a *Agent) savePartition(id string, st *partitionState) error {
	a.parts[id] = st
	return savePartitionState(a.partitionDir(id), st)
}

// viewCache is <instance_root>/.slapgo/view.json: the last view and its
// ETag, so that a restarted agent polls conditionally too.
type viewCache struct {
	ETag string              `json:"etag"`
	View *model.ComputerView `json:"view"`
}

func (a *Agent) viewCachePath() string {
	return filepath.Join(a.cfg.InstanceRoot, StateDir, "view.json")
}

// fetchView polls the master for the computer's view, conditionally. An
// unchanged view (304) returns the cached one with changed=false.
func (a *Agent) fetchView(ctx context.Context) (view *model.ComputerView, changed bool, err error) {
	a.mu.Lock()
	cached, etag := a.view, a.etag
	a.mu.Unlock()
	if cached == nil {
		cached, etag = a.cachedView()
	}
	if cached == nil {
		etag = ""
	}
	v, newETag, notModified, err := a.client.ComputerView(ctx, a.cfg.ComputerID, etag)
	if err != nil {
		if isOffline(err) {
			return nil, false, fmt.Errorf("%w: %w", ErrOffline, err)
		}
		return nil, false, fmt.Errorf("agent: fetching the view of %s: %w", a.cfg.ComputerID, err)
	}
	if notModified {
		a.mu.Lock()
		a.view, a.etag = cached, etag
		a.mu.Unlock()
		return cached, false, nil
	}
	a.mu.Lock()
	a.view, a.etag = v, newETag
	a.mu.Unlock()
	if data, err := json.Marshal(viewCache{ETag: newETag, View: v}); err == nil {
		if err := writeFileAtomic(a.viewCachePath(), data, 0o600); err != nil {
			a.log.Warn("view cache not written", "err", err)
		}
	}
	return v, true, nil
}

// cachedView reads the view cache (nil when there is none).
func (a *Agent) cachedView() (*model.ComputerView, string) {
	data, err := os.ReadFile(a.viewCachePath())
	if err != nil {
		return nil, ""
	}
	var vc viewCache
	if json.Unmarshal(data, &vc) != nil || vc.View == nil {
		return nil, ""
	}
	return vc.View, vc.ETag
}

// isOffline tells a master that cannot be reached (or is overloaded) from
// one that answered an error.
func isOffline(err error) bool {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Status == 503 || ae.Status == 502 || ae.Status == 504
	}
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded)
}

// Wake makes a daemon's instance loop run at once (a build completed).
func (a *Agent) Wake() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}
