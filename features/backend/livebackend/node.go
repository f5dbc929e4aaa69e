package livebackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/stackkit"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/agent"
)

// promiseTimeout is the nodes' promise_timeout: a start whose promises
// fail takes that long to fail.
const promiseTimeout = 3 * time.Second

// node is one computer: its directory, its relay to the master and its
// agent process.
type node struct {
	l       *Live
	id      string
	parts   int
	dir     string
	config  string
	logPath string
	relay   *relay
	agent   *process
	started time.Time // when the agent was last started
	// promiseSet is when a scenario last made each partition's health
	// promise fail or pass (SetPromise).
	promiseSet map[string]time.Time
}

func (l *Live) newNode(id string, parts int, creds api.Credentials) (*node, error) {
	dir := filepath.Join(l.cfg.Dir, "nodes", id)
	n := &node{l: l, id: id, parts: parts, dir: dir, config: filepath.Join(dir, "node.cfg"),
		logPath: filepath.Join(dir, "agent.log")}
	for _, d := range []string{"software", "instance", "credentials"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("livebackend: %w", err)
		}
	}
	files := map[string]string{"computer.crt": creds.CertificatePEM, "computer.key": creds.KeyPEM, "ca.crt": creds.CAPEM}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, "credentials", name), []byte(data), 0o600); err != nil {
			return nil, fmt.Errorf("livebackend: %w", err)
		}
	}
	rl, err := newRelay(l.relayTargets)
	if err != nil {
		return nil, err
	}
	n.relay = rl
	l.nextNet++
	poll := l.cfg.PollInterval
	cfg := fmt.Sprintf(`# Node %s of a live feature scenario.
[slapos]
computer_id = %s
master_url = https://%s
software_root = %s
instance_root = %s
key_file = %s
cert_file = %s
ca_file = %s

[slapformat]
partition_amount = %d
user_base_name = sg%dn%du
ipv4_local_network = 127.%d.%d.0/24

[slapgrid]
poll_interval = %s
retry_base = %s
retry_max = %s
promise_timeout = %s
destruction_interval = %s
stop_grace = 2s
`, id, id, rl.addr(), filepath.Join(dir, "software"), filepath.Join(dir, "instance"),
		filepath.Join(dir, "credentials", "computer.key"), filepath.Join(dir, "credentials", "computer.crt"),
		filepath.Join(dir, "credentials", "ca.crt"), parts, l.cfg.Net, l.nextNet,
		l.cfg.Net, l.nextNet, poll, poll, 4*poll, promiseTimeout, poll)
	if err := os.WriteFile(n.config, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("livebackend: %w", err)
	}
	l.nodes[id] = n
	l.order = append(l.order, id)
	slices.Sort(l.order)
	return n, nil
}

func (n *node) modeFlags() []string {
	if n.l.cfg.Privileged {
		return nil
	}
	return []string{"--unprivileged"}
}

// format runs `slapgo node format`: partitions made and announced.
func (n *node) format(ctx context.Context) error {
	args := append([]string{"--log-format", "json", "node", "format", "--config", n.config}, n.modeFlags()...)
	if out, err := n.l.run(ctx, args...); err != nil {
		return fmt.Errorf("livebackend: slapgo node format of %s: %w\n%s", n.id, err, out)
	}
	return nil
}

// startAgent starts `slapgo node run`, its log appended to agent.log.
func (n *node) startAgent() error {
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("livebackend: %w", err)
	}
	defer logf.Close()
	args := append([]string{"--log-format", "json", "--log-level", "debug", "node", "run", "--config", n.config}, n.modeFlags()...)
	cmd := exec.Command(n.l.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := start(cmd, "agent of "+n.id)
	if err != nil {
		return err
	}
	n.agent = p
	n.started = time.Now()
	n.l.cfg.Log("node %s: agent started (pid %d)", n.id, p.pid())
	return nil
}

func (n *node) up() bool { return n.agent != nil && n.agent.alive() }

// crash kills the agent and everything it started, at once.
func (n *node) crash() {
	if n.agent != nil {
		n.agent.kill()
		n.l.cfg.Log("node %s: crashed", n.id)
	}
}

// stop ends the agent as an operator would (SIGTERM: it stops the
// partitions' programs), and kills what is left.
func (n *node) stop() {
	if n.agent != nil && n.agent.alive() {
		n.agent.terminate(15 * time.Second)
	}
	// Programs the agent left behind, if any: their pid files say.
	for i := range n.parts {
		for _, pid := range n.partitionPIDs(i) {
			killGroup(pid)
		}
	}
}

// wipe empties the node's disk but its configuration and credentials.
func (n *node) wipe() error {
	for _, d := range []string{"software", "instance"} {
		p := filepath.Join(n.dir, d)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("livebackend: wiping %s: %w", p, err)
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("livebackend: %w", err)
		}
	}
	n.l.cfg.Log("node %s: disk wiped", n.id)
	return nil
}

func (n *node) partitionDir(i int) string {
	return filepath.Join(n.dir, "instance", "slappart"+strconv.Itoa(i))
}

func (n *node) partitionIndex(id string) (int, bool) {
	s, ok := strings.CutPrefix(id, "slappart")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < n.parts
}

func (n *node) setPromise(partitionID string, failing bool) error {
	i, ok := n.partitionIndex(partitionID)
	if !ok {
		return backend.Errorf(backend.ErrNotFound, "node %s has no partition %s", n.id, partitionID)
	}
	path := filepath.Join(n.partitionDir(i), stackkit.HealthFile)
	if n.promiseSet == nil {
		n.promiseSet = map[string]time.Time{}
	}
	n.promiseSet[partitionID] = time.Now()
	if failing {
		return os.WriteFile(path, []byte("made to fail by a scenario\n"), 0o644)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// partitionPIDs lists the live processes a partition's pid files name.
func (n *node) partitionPIDs(i int) []int {
	matches, _ := filepath.Glob(filepath.Join(n.partitionDir(i), "var", "run", "slapgo.*.pid"))
	var out []int
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		f := strings.Fields(string(data))
		if len(f) != 2 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		start, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 == nil && err2 == nil && pid > 1 && processStarted(pid) == start {
			out = append(out, pid)
		}
	}
	return out
}

// status runs `slapgo node status --json`: what the node holds and runs,
// its plan, its action events.
func (n *node) status(ctx context.Context) (agent.NodeStatus, error) {
	out, err := n.l.run(ctx, stackkit.StatusArgs(n.config)...)
	if err != nil {
		return agent.NodeStatus{}, fmt.Errorf("livebackend: slapgo node status of %s: %w\n%s", n.id, err, out)
	}
	return stackkit.ParseStatus(out)
}

// state is what the node holds and runs.
func (n *node) state(ctx context.Context) (backend.NodeState, error) {
	st, err := n.status(ctx)
	if err != nil {
		return backend.NodeState{ComputerID: n.id}, err
	}
	return stackkit.NodeState(st, n.up(), slices.Sorted(maps.Keys(n.l.software))), nil
}

// activity is what the node's agent configured, each credited to the
// instance its event names.
func (n *node) activity(ctx context.Context) (backend.Activity, error) {
	st, err := n.status(ctx)
	if err != nil {
		return backend.Activity{}, err
	}
	return stackkit.Activity(st), nil
}

// waitingFor says why the node has not converged ("" when it has): see
// stackkit.Waiting.
func (n *node) waitingFor(ctx context.Context, quiet time.Duration) string {
	if !n.up() {
		return ""
	}
	if time.Since(n.started) < 2*quiet {
		// At start the agent formats and restarts what ran before its
		// first pass, logging no action.
		return "its agent started less than " + (2 * quiet).String() + " ago"
	}
	st, err := n.status(ctx)
	if err != nil {
		return err.Error()
	}
	if !n.l.masterAlive() || n.relay.isCut() {
		return stackkit.Acting(st, time.Now(), quiet) // offline: quiet is all it can be
	}
	view, _, _, err := n.l.Computer(n.id).ComputerView(ctx, n.id, "")
	if err != nil || view == nil {
		return fmt.Sprintf("its view cannot be read: %v", err)
	}
	return stackkit.Waiting(st, view.Version, time.Now(), quiet, n.promiseSet)
}

// Node is what a node holds and runs.
func (l *Live) Node(ctx context.Context, id string) (backend.NodeState, error) {
	n, err := l.node(id)
	if err != nil {
		return backend.NodeState{}, err
	}
	return n.state(ctx)
}

// Activity is what a node's agent did: its configurations and the most
// partitions it worked on at once, from its action start and end events.
func (l *Live) Activity(ctx context.Context, id string) (backend.Activity, error) {
	n, err := l.node(id)
	if err != nil {
		return backend.Activity{}, err
	}
	return n.activity(ctx)
}

// --- relay ---

// relay forwards TCP connections from a loopback port to the master; cut,
// it closes what it carries and refuses new connections.
type relay struct {
	ln net.Listener
	// targets lists the masters to dial, in order (the leader first
	// when several masters share a PostgreSQL database).
	targets func() []string
	mu      sync.Mutex
	cut     bool
	conns   map[net.Conn]bool
}

func newRelay(targets func() []string) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("livebackend: relay: %w", err)
	}
	r := &relay{ln: ln, targets: targets, conns: map[net.Conn]bool{}}
	go r.serve()
	return r, nil
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		if r.isCut() {
			c.Close()
			continue
		}
		go r.forward(c)
	}
}

func (r *relay) forward(c net.Conn) {
	var up net.Conn
	err := errors.New("no master")
	for _, t := range r.targets() {
		if up, err = net.DialTimeout("tcp", t, 5*time.Second); err == nil {
			break
		}
	}
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	if r.cut {
		r.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	r.conns[c], r.conns[up] = true, true
	r.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
	r.mu.Lock()
	delete(r.conns, c)
	delete(r.conns, up)
	r.mu.Unlock()
}

func (r *relay) isCut() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cut
}

func (r *relay) setCut(cut bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = cut
	if cut {
		for c := range r.conns {
			c.Close()
		}
	}
}

func (r *relay) close() {
	r.ln.Close()
	r.setCut(true)
}
