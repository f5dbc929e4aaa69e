package livebackend

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/stackkit"
	"github.com/slapgo/slapgo/master/api"
)

// Config says where and how to run the grid.
type Config struct {
	// Binary is the slapgo executable.
	Binary string
	// Dir is a scratch directory for this backend only; Close empties it
	// unless Keep.
	Dir  string
	Keep bool
	// PollInterval is the node agents' poll_interval (default 500ms);
	// their retry_base is the same, retry_max four times it.
	PollInterval time.Duration
	// Privileged formats partitions with users (needs root); by default
	// they are formatted unprivileged.
	Privileged bool
	// Net is the second byte of the 127.x.y.0/24 ranges the nodes' IPv4
	// addresses come from (default 64); give concurrent runs different
	// values.
	Net int
	// Log, when set, receives one line per process started or stopped.
	Log func(format string, args ...any)
	// Postgres, when set, is an empty PostgreSQL database the masters
	// keep the grid in; Masters (default 1) masters then share it, one
	// leading. The clients know every master; each node's relay dials the
	// leader; CutMaster kills the leader.
	Postgres string
	Masters  int
}

// Live is a real master and real node agents on loopback. It implements
// backend.Backend; what goes through master/api alone is stackkit.API's.
// Its methods are not safe for concurrent use.
type Live struct {
	*stackkit.API
	cfg Config

	masterDir  string
	masterAddr string // host:port of the API, kept across restarts
	master     *process
	// more masters sharing the PostgreSQL database (Config.Masters - 1)
	standbys []*standby
	cutIndex int // the master CutMaster killed: 0 for the first, i+1 for standbys[i]
	caFile   string
	caPool   *x509.CertPool

	nodes    map[string]*node
	order    []string
	software map[string]string // URL -> name
	nextNet  int
}

var _ backend.Backend = (*Live)(nil)

// New initializes a master's data directory and starts the master.
func New(ctx context.Context, cfg Config) (*Live, error) {
	if cfg.Binary == "" || cfg.Dir == "" {
		return nil, errors.New("livebackend: Config.Binary and Config.Dir are required")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.Net <= 0 || cfg.Net > 255 {
		cfg.Net = 64
	}
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	l := &Live{cfg: cfg, masterDir: filepath.Join(cfg.Dir, "master"), nodes: map[string]*node{}, software: map[string]string{}}
	l.API = (&stackkit.API{Name: "livebackend", NewClient: l.clientFromCredentials}).Init()
	for _, d := range []string{"nodes", "software", "identities", "logs"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("livebackend: %w", err)
		}
	}
	initArgs := []string{"master", "init", "--data", l.masterDir}
	if cfg.Postgres != "" {
		initArgs = append(initArgs, "--store", cfg.Postgres)
	}
	if out, err := l.run(ctx, initArgs...); err != nil {
		return nil, fmt.Errorf("livebackend: slapgo master init: %w\n%s", err, out)
	}
	l.caFile = filepath.Join(l.masterDir, "ca.crt")
	pem, err := os.ReadFile(l.caFile)
	if err != nil {
		return nil, fmt.Errorf("livebackend: %w", err)
	}
	l.caPool = x509.NewCertPool()
	if !l.caPool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("livebackend: %s holds no certificate", l.caFile)
	}
	if err := l.startMaster(ctx, "127.0.0.1:0"); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.startStandbys(ctx); err != nil {
		l.Close()
		return nil, err
	}
	if cfg.Postgres != "" {
		if err := l.waitLeader(ctx); err != nil {
			l.Close()
			return nil, err
		}
	}
	l.MasterURL, l.RootCAs = l.masterURLs(), l.caPool
	l.Admin, err = api.NewClient(l.MasterURL, filepath.Join(l.masterDir, "admin.crt"),
		filepath.Join(l.masterDir, "admin.key"), l.caFile)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("livebackend: admin client: %w", err)
	}
	return l, nil
}

// run runs a slapgo command to completion and returns its output.
func (l *Live) run(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.cfg.Binary, args...)
	out, err := cmd.CombinedOutput()
	l.cfg.Log("slapgo %s: %v", strings.Join(args, " "), err)
	return out, err
}

// startMaster starts `slapgo master serve` and waits for its address.
func (l *Live) startMaster(ctx context.Context, listen string) error {
	logf, err := os.OpenFile(filepath.Join(l.cfg.Dir, "logs", "master.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("livebackend: %w", err)
	}
	defer logf.Close()
	p, a, err := l.serveMaster(ctx, l.masterDir, listen, logf)
	if err != nil {
		return err
	}
	l.master, l.masterAddr = p, a
	return nil
}

// serveMaster starts `slapgo master serve` on dir and waits for its
// address.
func (l *Live) serveMaster(ctx context.Context, dir, listen string, logf *os.File) (*process, string, error) {
	args := []string{"--log-format", "json", "master", "serve", "--data", dir,
		"--listen", listen, "--retry-every", "1s",
		// The scenarios' software is fixtures read by the nodes of this machine.
		"--allow-local-software-urls"}
	if l.cfg.Postgres != "" {
		args = append(args, "--store", l.cfg.Postgres)
	}
	cmd := exec.Command(l.cfg.Binary, args...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", fmt.Errorf("livebackend: %w", err)
	}
	p, err := start(cmd, "master")
	if err != nil {
		return nil, "", err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on https://"); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		l.cfg.Log("master %s listening on %s (pid %d)", dir, a, p.pid())
		return p, a, nil
	case <-p.done:
		return nil, "", fmt.Errorf("livebackend: slapgo master serve exited before listening: %v (see %s)", p.err, logf.Name())
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, "", fmt.Errorf("livebackend: slapgo master serve did not say where it listens within 30s (see %s)", logf.Name())
	case <-ctx.Done():
		p.kill()
		return nil, "", ctx.Err()
	}
}

// Kind is "live".
func (l *Live) Kind() string { return "live" }

// Now is the wall clock.
func (l *Live) Now() time.Time { return time.Now().UTC() }

// Close stops the node agents, their programs and the master.
func (l *Live) Close() error {
	var errs []error
	for _, id := range l.order {
		n := l.nodes[id]
		n.stop()
		if n.relay != nil {
			n.relay.close()
		}
	}
	if l.master != nil && l.master.alive() {
		l.master.terminate(10 * time.Second)
	}
	for _, sb := range l.standbys {
		if sb.proc != nil && sb.proc.alive() {
			sb.proc.terminate(10 * time.Second)
		}
	}
	for _, c := range l.Clients() {
		if t, ok := c.HTTP.Transport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
	}
	if !l.cfg.Keep {
		if err := os.RemoveAll(l.cfg.Dir); err != nil {
			errs = append(errs, fmt.Errorf("livebackend: removing %s: %w", l.cfg.Dir, err))
		}
	}
	return errors.Join(errs...)
}

// clientFromCredentials writes credentials under identities/ and builds a
// client from them.
func (l *Live) clientFromCredentials(name string, creds api.Credentials) (*api.Client, error) {
	dir := filepath.Join(l.cfg.Dir, "identities")
	cert, key := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(cert, []byte(creds.CertificatePEM), 0o600); err != nil {
		return nil, fmt.Errorf("livebackend: %w", err)
	}
	if err := os.WriteFile(key, []byte(creds.KeyPEM), 0o600); err != nil {
		return nil, fmt.Errorf("livebackend: %w", err)
	}
	c, err := api.NewClient(l.masterURLs(), cert, key, l.caFile)
	if err != nil {
		return nil, fmt.Errorf("livebackend: client of %s: %w", name, err)
	}
	return c, nil
}

// classify maps the client's errors to the backend's classes.
func classify(err error) error { return stackkit.Classify(err) }

// --- catalogue ---

// DefineSoftware writes a fixture release into software/<name>/ and
// returns its file:// URL.
func (l *Live) DefineSoftware(_ context.Context, spec backend.SoftwareSpec) (string, error) {
	if err := model.ValidateID("software name", spec.Name); err != nil {
		return "", fmt.Errorf("%w: %w", backend.ErrInvalid, err)
	}
	url, err := writeRelease(filepath.Join(l.cfg.Dir, "software", spec.Name), spec)
	if err != nil {
		return "", err
	}
	l.software[url] = spec.Name
	return url, nil
}

// SetTimings is unsupported: the live grid runs on wall time.
func (l *Live) SetTimings(backend.Timings) error {
	return backend.Errorf(backend.ErrUnsupported, "the live grid's durations are real: they cannot be set")
}

// --- persons, computers, software ---

// RegisterComputer registers the computer, installs its credentials on a
// new node, formats it (announcing its partitions) and starts its agent.
func (l *Live) RegisterComputer(ctx context.Context, as backend.Actor, spec backend.ComputerSpec) error {
	creds, err := l.API.RegisterComputer(ctx, as, spec)
	if err != nil {
		return err
	}
	n, err := l.newNode(spec.ID, spec.Partitions, creds)
	if err != nil {
		return err
	}
	if err := n.format(ctx); err != nil {
		return err
	}
	return n.startAgent()
}

// --- faults ---

// CutMaster kills the master (SIGKILL): an outage. With several masters
// it kills the leader: another takes over.
func (l *Live) CutMaster(ctx context.Context) error {
	if len(l.standbys) > 0 {
		return l.killLeader(ctx)
	}
	if l.master == nil || !l.master.alive() {
		return backend.Errorf(backend.ErrConflict, "the master is already down")
	}
	l.master.kill()
	l.cutIndex = 0
	l.cfg.Log("master killed")
	return nil
}

// RestoreMaster starts the master again on the same address (with several
// masters: the one CutMaster killed, which then follows).
func (l *Live) RestoreMaster(ctx context.Context) error {
	if l.cutIndex > 0 {
		return l.restartStandby(ctx, l.cutIndex-1)
	}
	if l.master != nil && l.master.alive() {
		return backend.Errorf(backend.ErrConflict, "the master is already up")
	}
	var err error
	for range 50 { // the port may take a moment to be free again
		if err = l.startMaster(ctx, l.masterAddr); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func (l *Live) node(id string) (*node, error) {
	n := l.nodes[id]
	if n == nil {
		return nil, backend.Errorf(backend.ErrNotFound, "no node agent runs for computer %s", id)
	}
	return n, nil
}

// CrashNode kills a node's agent and every process it started.
func (l *Live) CrashNode(_ context.Context, id string) error {
	n, err := l.node(id)
	if err != nil {
		return err
	}
	n.crash()
	return nil
}

// RebootNode starts a crashed node's agent again.
func (l *Live) RebootNode(_ context.Context, id string) error {
	n, err := l.node(id)
	if err != nil {
		return err
	}
	if n.up() {
		return backend.Errorf(backend.ErrConflict, "node %s is running: crash it before rebooting it", id)
	}
	return n.startAgent()
}

// WipeNode crashes a node, empties its disk but its identity, formats it
// again and starts its agent.
func (l *Live) WipeNode(ctx context.Context, id string) error {
	n, err := l.node(id)
	if err != nil {
		return err
	}
	if n.up() {
		n.crash()
	}
	if err := n.wipe(); err != nil {
		return err
	}
	if err := n.format(ctx); err != nil {
		return err
	}
	return n.startAgent()
}

// CutNode severs a node's relay to the master.
func (l *Live) CutNode(_ context.Context, id string) error {
	n, err := l.node(id)
	if err != nil {
		return err
	}
	n.relay.setCut(true)
	return nil
}

// RestoreNode heals a node's relay.
func (l *Live) RestoreNode(_ context.Context, id string) error {
	n, err := l.node(id)
	if err != nil {
		return err
	}
	n.relay.setCut(false)
	return nil
}

// SetPromise makes the fixture's health promise of a partition fail or
// pass, by the file it checks.
func (l *Live) SetPromise(_ context.Context, id, partitionID string, failing bool) error {
	n, err := l.node(id)
	if err != nil {
		return err
	}
	return n.setPromise(partitionID, failing)
}

// --- time ---

// Advance sleeps d.
func (l *Live) Advance(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Converge waits until every node that is up is quiet and matches the
// view it can get (see the package doc), or fails after within.
func (l *Live) Converge(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	// Two polls without any action: the agents had a pass on what they
	// see. (A start in progress is told by its configuration's log line.)
	quiet := 2*l.cfg.PollInterval + l.cfg.PollInterval/2
	var why []string
	for {
		why = why[:0]
		for _, id := range l.order {
			if w := l.nodes[id].waitingFor(ctx, quiet); w != "" {
				why = append(why, id+": "+w)
			}
		}
		if len(why) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the nodes did not converge within %s: %s", within, strings.Join(why, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.cfg.PollInterval / 4):
		}
	}
}

// --- processes ---

// process is a started command and its end.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func start(cmd *exec.Cmd, name string) (*process, error) {
	// Its own group, so that a crash reaches all of it; killed with the
	// test process, so that an interrupted run leaves no master behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("livebackend: starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill stops the process and every process it started, at once: it is
// frozen first so that it restarts nothing, then its descendants and
// itself are killed.
func (p *process) kill() {
	if !p.alive() {
		return
	}
	pid := p.pid()
	syscall.Kill(pid, syscall.SIGSTOP)
	for _, d := range descendants(pid) {
		syscall.Kill(d, syscall.SIGKILL)
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
	<-p.done
}

// terminate asks the process to stop (SIGTERM), then kills it after grace.
func (p *process) terminate(grace time.Duration) {
	if !p.alive() {
		return
	}
	syscall.Kill(p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}
