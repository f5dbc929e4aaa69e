package livebackend

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/stackkit"
	"github.com/slapgo/slapgo/master/api"
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
	rl, err := newRelay(l.masterAddr)
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

// partitionRecord is the part of the agent's <partition>/.slapgo/state.json
// the backend reads.
type partitionRecord = stackkit.PartitionRecord

func (n *node) record(i int) (partitionRecord, error) {
	var r partitionRecord
	data, err := os.ReadFile(filepath.Join(n.partitionDir(i), ".slapgo", "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("livebackend: %s partition %d record: %w", n.id, i, err)
	}
	return r, nil
}

// softwareRecord is the part of <software_root>/.slapgo/<md5>.json read.
type softwareRecord = stackkit.SoftwareRecord

func (n *node) installed(url string) bool {
	_, err := os.Stat(filepath.Join(n.dir, "software", stackkit.SoftwareDirName(url), ".completed"))
	return err == nil
}

func (n *node) softwareRecord(url string) (softwareRecord, bool) {
	var r softwareRecord
	data, err := os.ReadFile(filepath.Join(n.dir, "software", ".slapgo", stackkit.SoftwareDirName(url)+".json"))
	if err != nil || json.Unmarshal(data, &r) != nil {
		return r, false
	}
	return r, true
}

// state is what the node holds and runs.
func (n *node) state() (backend.NodeState, error) {
	st := backend.NodeState{ComputerID: n.id, Up: n.up(), Software: map[string]bool{}}
	for url := range n.l.software {
		st.Software[url] = n.installed(url)
	}
	for i := range n.parts {
		r, err := n.record(i)
		if err != nil {
			return st, err
		}
		st.Partitions = append(st.Partitions, backend.PartitionState{ID: "slappart" + strconv.Itoa(i),
			InstanceGUID: r.InstanceGUID, Running: st.Up && len(n.partitionPIDs(i)) > 0,
			AppliedVersion: r.AppliedVersion, Failures: r.Failures})
	}
	return st, nil
}

// logLine is the part of the agent's JSON log lines read.
type logLine struct {
	Time      time.Time `json:"time"`
	Msg       string    `json:"msg"`
	Partition string    `json:"partition"`
	Action    string    `json:"action"`
	Reason    string    `json:"reason"`
	Version   uint64    `json:"version"`
}

const (
	msgActionDone        = "partition action done"
	msgActionFailed      = "partition action failed"
	msgActionInterrupted = "interrupted"
	// msgPromisesChecked: an anomaly check of a running partition's
	// promises ended; its "began" says when it started.
	msgPromisesChecked = "promises checked"
)

// promiseChecks returns, per partition, when the last anomaly check the
// agent logged began.
func (n *node) promiseChecks() (map[string]time.Time, error) {
	f, err := os.Open(n.logPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]time.Time{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), msgPromisesChecked) {
			continue
		}
		var ll struct {
			Msg       string    `json:"msg"`
			Partition string    `json:"partition"`
			Began     time.Time `json:"began"`
		}
		if json.Unmarshal(line, &ll) == nil && ll.Msg == msgPromisesChecked && ll.Began.After(out[ll.Partition]) {
			out[ll.Partition] = ll.Began
		}
	}
	return out, sc.Err()
}

// actions reads the partition actions the agent logged.
func (n *node) actions() ([]logLine, error) {
	f, err := os.Open(n.logPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"action"`) {
			continue
		}
		var ll logLine
		if json.Unmarshal(line, &ll) == nil && ll.Action != "" &&
			(ll.Msg == msgActionDone || ll.Msg == msgActionFailed || ll.Msg == msgActionInterrupted) {
			out = append(out, ll)
		}
	}
	return out, sc.Err()
}

// activity turns the logged configurations into backend.Configurations;
// the instance of each is the one the master says its partition holds.
func (n *node) activity(ctx context.Context) (backend.Activity, error) {
	lines, err := n.actions()
	if err != nil {
		return backend.Activity{}, err
	}
	holder := map[string]string{}
	if parts, err := n.l.Partitions(ctx, n.id); err == nil {
		for _, p := range parts {
			holder[p.ID] = p.InstanceGUID
		}
	}
	var a backend.Activity
	for _, ll := range lines {
		if ll.Action != "configure-partition" || ll.Msg == msgActionInterrupted {
			continue
		}
		a.Configurations = append(a.Configurations, backend.Configuration{At: ll.Time, PartitionID: ll.Partition,
			InstanceGUID: holder[ll.Partition], Reason: ll.Reason, OK: ll.Msg == msgActionDone})
	}
	return a, nil
}

// waitingFor says why the node has not converged ("" when it has).
func (n *node) waitingFor(ctx context.Context, quiet time.Duration) string {
	if !n.up() {
		return ""
	}
	lines, err := n.actions()
	if err != nil {
		return err.Error()
	}
	if time.Since(n.started) < 2*quiet {
		// At start the agent formats and restarts what ran before its
		// first pass, logging no action.
		return "its agent started less than " + (2 * quiet).String() + " ago"
	}
	if len(lines) > 0 && time.Since(lines[len(lines)-1].Time) < quiet {
		return "acted less than " + quiet.String() + " ago"
	}
	if !n.l.master.alive() || n.relay.isCut() {
		return "" // offline: quiet is all it can be
	}
	c := n.l.computers[n.id]
	view, _, _, err := c.ComputerView(ctx, n.id, "")
	if err != nil || view == nil {
		return fmt.Sprintf("its view cannot be read: %v", err)
	}
	for _, sw := range view.Software {
		rec, known := n.softwareRecord(sw.URL)
		switch {
		case known && rec.Want != "" && rec.Want != rec.Reported:
			return fmt.Sprintf("software %s: %s not reported yet", sw.URL, rec.Want)
		case sw.Requested == model.SoftwareAvailable && !n.installed(sw.URL) && !(known && rec.Failures > 0):
			return "software " + sw.URL + " not built"
		case sw.Requested == model.SoftwareDestroyed && n.installed(sw.URL) && !stackkit.SoftwareInUse(view, sw.URL):
			return "software " + sw.URL + " not removed"
		}
	}
	var checks map[string]time.Time
	if len(n.promiseSet) > 0 {
		if checks, err = n.promiseChecks(); err != nil {
			return err.Error()
		}
	}
	for _, pv := range view.Partitions {
		i, ok := n.partitionIndex(pv.ID)
		if !ok {
			continue
		}
		r, err := n.record(i)
		if err != nil {
			return err.Error()
		}
		if len(r.Unreported) > 0 && string(r.Unreported) != "null" {
			return pv.ID + ": a state report is not delivered yet"
		}
		running := len(n.partitionPIDs(i)) > 0
		switch {
		case pv.InstanceGUID == "" || pv.RequestedState == model.StateDestroyed:
			if r.InstanceGUID != "" || running {
				return pv.ID + ": not wiped yet"
			}
		case r.Failures > 0 && r.FailedVersion == pv.Version:
			// failing, backing off: nothing more to wait for
		case !n.installed(pv.SoftwareRelease):
			rec, _ := n.softwareRecord(pv.SoftwareRelease)
			if rec.Failures == 0 {
				return pv.ID + ": waits for its software"
			}
		case r.InstanceGUID != pv.InstanceGUID || r.AppliedVersion != pv.Version:
			return fmt.Sprintf("%s: holds %s v%d, the view asks %s v%d", pv.ID, r.InstanceGUID, r.AppliedVersion, pv.InstanceGUID, pv.Version)
		case pv.RequestedState == model.StateStarted && starting(lines, pv.ID, pv.Version):
			return pv.ID + ": configured, its start (promises) still running"
		case pv.RequestedState == model.StateStarted && !running:
			return pv.ID + ": not running yet"
		case pv.RequestedState == model.StateStopped && running:
			return pv.ID + ": not stopped yet"
		case pv.RequestedState == model.StateStarted && n.promiseSet[pv.ID].After(checks[pv.ID]):
			// The agent checks the promises of running partitions on its
			// passes (anomaly mode): wait for one that began after the
			// scenario changed them.
			return pv.ID + ": its promises were not checked since the scenario changed them"
		}
	}
	return ""
}

// starting reports whether the last configuration of a partition at a
// version was logged without a start after it: the start, which checks
// the promises, is running (actions are logged when they end).
func starting(lines []logLine, partition string, version uint64) bool {
	for i := len(lines) - 1; i >= 0; i-- {
		ll := lines[i]
		if ll.Partition != partition {
			continue
		}
		switch ll.Action {
		case "start-partition", "stop-partition", "destroy-partition":
			return false
		case "configure-partition":
			return ll.Msg == msgActionDone && ll.Version == version
		}
	}
	return false
}

// Node is what a node holds and runs.
func (l *Live) Node(_ context.Context, id string) (backend.NodeState, error) {
	n, err := l.node(id)
	if err != nil {
		return backend.NodeState{}, err
	}
	return n.state()
}

// Activity is what a node's agent logged it configured. MaxConcurrent is
// 0: the log does not show when an action began.
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
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newRelay(target string) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("livebackend: relay: %w", err)
	}
	r := &relay{ln: ln, target: target, conns: map[net.Conn]bool{}}
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
	up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
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
