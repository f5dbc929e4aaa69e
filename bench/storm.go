package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/agent"
	"github.com/slapgo/slapgo/nodeagent/config"
)

// StormTarget is the reconfiguration storm's target (issue: a storm of 300
// partitions <= 30 s; the seed assumed 5 minutes), StormMoonshot its
// moonshot.
const (
	StormTarget   = 30 * time.Second
	StormMoonshot = 10 * time.Second
)

// StormConfig configures `slapgo bench storm`.
type StormConfig struct {
	// Partitions on the node; every one gets an instance, then all are
	// changed at once.
	Partitions int
	// Software is the release the instances run: a profile path or URL
	// (default the busybox-httpd fixture: each instance serves a page with
	// busybox httpd on its partition's address, checked by a promise).
	Software string
	// Bin is the slapgo binary: it runs the master (`slapgo master serve`)
	// and the promises the instances' profiles call.
	Bin string
	// Full also runs the storm with incremental reconfiguration switched
	// off (every partition reconfigured on every pass, maximum_periodicity
	// of 1 ns), side by side.
	Full bool
	// Dir holds the master's data and the node's software and instance
	// roots (a temporary directory when empty, removed after unless
	// KeepDir).
	Dir     string
	KeepDir bool
	// PhaseTimeout bounds each phase (default 15m).
	PhaseTimeout time.Duration
	// PollInterval, when not zero, adds the storm as a node lives it: the
	// node agent's daemon (Agent.Run) polls the master every PollInterval;
	// LiveRuns times, every instance is changed at a phase of the daemon's
	// cycle, from one of its polls to the next (one phase per LiveRuns-th
	// of the cycle, drawn from Seed), and the bench watches the master until each
	// instance published its new configuration (see StormLive).
	PollInterval time.Duration
	LiveRuns     int
	Seed         uint64
	// Privileged runs the partitions as their own users, as SlapOS does
	// (root only): users and groups named for this run, and the
	// partitions' addresses on lo in a 127.x network drawn for the run,
	// all removed at the end, even on failure.
	Privileged bool
	Progress   io.Writer

	userBase string       // the partition users' base name (privileged)
	network  netip.Prefix // the partitions' addresses (stormNetwork), on lo when privileged
}

// stormPorts are the ports the instances' services listen on: the live
// storm moves them from one to the other.
var stormPorts = [2]string{"8080", "8081"}

// stormNetwork draws the network of a run's partition addresses
// (127.100-199.x.0/24, or a /16 above 250 partitions) among those whose
// first partition address has both stormPorts free: two storms at once
// (a test and a bench) never serve on the same address and port, which
// would kill the services of one.
func stormNetwork(partitions int) (netip.Prefix, error) {
	for range 20 {
		network := netip.MustParsePrefix(fmt.Sprintf("127.%d.0.0/16", 100+rand.IntN(100)))
		if partitions <= 250 {
			network = netip.MustParsePrefix(fmt.Sprintf("127.%d.%d.0/24", 100+rand.IntN(100), rand.IntN(250)))
		}
		if portsFree(network.Addr().Next()) {
			return network, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("bench: storm: no 127.x network with ports %s free on its first address after 20 draws", strings.Join(stormPorts[:], " and "))
}

// portsFree says whether stormPorts can be listened on at addr.
func portsFree(addr netip.Addr) bool {
	for _, port := range stormPorts {
		l, err := net.Listen("tcp", net.JoinHostPort(addr.String(), port))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// processesOf lists the processes whose real user id is uid.
func processesOf(uid int) []int {
	var pids []int
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", p.Name(), "status"))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" {
				if id, err := strconv.Atoi(f[1]); err == nil && id == uid {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// removeLoopbackAddresses deletes from lo the addresses of partitions
// 0..n-1 of network (the first hosts after its base), those present.
func removeLoopbackAddresses(network netip.Prefix, n int, progress func(string, ...any)) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		progress("removing the partitions' addresses: %v", err)
		return
	}
	have, err := netlink.AddrList(lo, netlink.FAMILY_V4)
	if err != nil {
		progress("removing the partitions' addresses: %v", err)
		return
	}
	removed := 0
	for _, a := range have {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !network.Contains(ip.Unmap()) || ip.Unmap() == network.Addr() {
			continue
		}
		if err := netlink.AddrDel(lo, &a); err != nil {
			progress("removing %s from lo: %v", a.IPNet, err)
			continue
		}
		removed++
	}
	progress("removed %d partition addresses of %s from lo", removed, network)
}

// removePartitionUsers deletes the users and groups base0..base(n-1) a
// privileged storm made (those that exist), after killing any process
// still running as one of them (a program a failed run left behind: the
// users are the run's own).
func removePartitionUsers(base string, n int, progress func(string, ...any)) {
	removed := 0
	for i := range n {
		name := base + strconv.Itoa(i)
		if u, err := user.Lookup(name); err == nil {
			if uid, err := strconv.Atoi(u.Uid); err == nil && uid > 0 {
				for _, pid := range processesOf(uid) {
					syscall.Kill(pid, syscall.SIGKILL)
					progress("killed process %d left running as %s", pid, name)
				}
				for deadline := time.Now().Add(2 * time.Second); len(processesOf(uid)) > 0 && time.Now().Before(deadline); {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
				progress("removing user %s: %v: %s", name, err, strings.TrimSpace(string(out)))
				continue
			}
			removed++
		}
		if _, err := user.LookupGroup(name); err == nil {
			if out, err := exec.Command("groupdel", name).CombinedOutput(); err != nil {
				progress("removing group %s: %v: %s", name, err, strings.TrimSpace(string(out)))
			}
		}
	}
	progress("removed %d partition users %s0..%s%d", removed, base, base, n-1)
}

// DefaultStormConfig is the storm: 300 partitions, both modes.
func DefaultStormConfig() StormConfig {
	return StormConfig{Partitions: 300, Software: "fixtures/software/busybox-httpd/software.cfg", Full: true, PhaseTimeout: 15 * time.Minute,
		PollInterval: 10 * time.Second, LiveRuns: StormLiveRuns, Seed: 1}
}

// StormPhase is one measured phase: a change made at the master, then
// instance passes of the node agent until every changed partition was
// configured again.
type StormPhase struct {
	Name string `json:"name"`
	// Changed is how many instances the phase changed at the master
	// (re-requested with a new parameter); Inject the time that took.
	Changed int           `json:"changed"`
	Inject  time.Duration `json:"inject_ns"`
	// Converge runs from the first change sent to the end of the pass
	// that configured the last changed partition (Inject included).
	Converge time.Duration `json:"converge_ns"`
	Passes   int           `json:"passes"`
	// Configured counts partitions configured by those passes (changed or
	// not), Failed the partition actions that failed.
	Configured int `json:"configured"`
	Failed     int `json:"failed"`
	// PerPartition is each configured partition's time in a pass: its
	// configure action (profile, files, services restarted, promises) and
	// its start action, if any.
	PerPartition Latency `json:"per_partition"`
	// CPU is the process's CPU time during the phase (the node agent runs
	// in it; the master and the promises are other processes), from
	// getrusage.
	CPU time.Duration `json:"agent_cpu_ns"`
	// PassWall and PassCPU are the mean wall and CPU time of one pass.
	PassWall time.Duration `json:"pass_wall_ns"`
	PassCPU  time.Duration `json:"pass_cpu_ns"`
}

// StormMode is the storm in one reconfiguration mode.
type StormMode struct {
	Mode        string `json:"mode"` // incremental or full
	Incremental bool   `json:"incremental"`
	// Storm: every partition changed at once. Quiet: a pass with nothing
	// changed. OneChange: a single partition changed.
	Storm     StormPhase `json:"storm"`
	Quiet     StormPhase `json:"quiet"`
	OneChange StormPhase `json:"one_change"`
}

// StormResult is the outcome of RunStorm.
type StormResult struct {
	Partitions int    `json:"partitions"`
	Software   string `json:"software"`
	Privileged bool   `json:"privileged"` // partitions run as their own users
	// Build is the software build time; Deploy the first deployment of
	// every partition.
	Build  time.Duration `json:"build_ns"`
	Deploy StormPhase    `json:"deploy"`
	Modes  []StormMode   `json:"modes"`
	// Live is the storm under the daemon's poll interval, as the master
	// sees it (nil without a PollInterval).
	Live *StormLive `json:"live,omitempty"`
	// Calibration maps the measured times to the simulator's agent model.
	Calibration SimCalibration `json:"calibration"`
}

// resetPeakRSS returns the memory this process no longer uses to the
// system and resets its peak RSS (VmHWM) to its current RSS (Linux
// clear_refs 5), so that the peak read later is the phase's. It reports
// whether the reset worked.
func resetPeakRSS() bool {
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// RunStorm starts a master, runs a real node agent (in this process,
// unprivileged: partitions run as the current user, on 127.0.0.0/8
// addresses) with cfg.Partitions partitions, deploys an instance on each,
// then changes them all at once with the agent's storm driver
// (agent.RunStorm) and measures how the agent converges; then passes with
// nothing changed and a single change; with cfg.Full the same again with
// incremental reconfiguration switched off.
func RunStorm(ctx context.Context, cfg StormConfig) (res StormResult, err error) {
	if cfg.Partitions < 1 || cfg.Partitions > 60000 {
		return res, fmt.Errorf("bench: storm --partitions %d: expected 1 to 60000", cfg.Partitions)
	}
	if cfg.Bin == "" {
		return res, errors.New("bench: storm needs the slapgo binary (--bin)")
	}
	if cfg.PhaseTimeout <= 0 {
		cfg.PhaseTimeout = 15 * time.Minute
	}
	if cfg.PollInterval > 0 && cfg.LiveRuns < 1 {
		return res, fmt.Errorf("bench: storm --live-runs %d: expected at least 1 with a --poll-interval", cfg.LiveRuns)
	}
	sw, err := softwareURL(cfg.Software)
	if err != nil {
		return res, err
	}
	res = StormResult{Partitions: cfg.Partitions, Software: sw}
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "bench storm: "+format+"\n", args...)
		}
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "slapgo-bench-storm-"); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		if !cfg.KeepDir {
			defer os.RemoveAll(dir)
		}
	}
	if cfg.Privileged {
		if os.Geteuid() != 0 {
			return res, errors.New("bench: storm --privileged makes a user per partition: run it as root")
		}
		// Partition users must reach their directories and the software.
		if err := os.Chmod(dir, 0o755); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		if abs, err := filepath.Abs(dir); err == nil {
			for d := filepath.Dir(abs); d != "/"; d = filepath.Dir(d) {
				if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
					return res, fmt.Errorf("bench: storm --privileged: the partition users cannot reach %s: %s is not searchable by others (mode %v); give a --dir they can reach", dir, d, fi.Mode().Perm())
				}
			}
		}
		cfg.userBase = fmt.Sprintf("bs%04x", rand.Uint32()&0xffff) + "u"
		defer removePartitionUsers(cfg.userBase, cfg.Partitions, progress)
	}
	if cfg.network, err = stormNetwork(cfg.Partitions); err != nil {
		return res, err
	}
	if cfg.Privileged {
		defer removeLoopbackAddresses(cfg.network, cfg.Partitions, progress)
	}
	mp, err := StartMaster(ctx, cfg.Bin, dir)
	if err != nil {
		return res, err
	}
	defer func() {
		if serr := mp.Stop(); serr != nil && err == nil {
			err = fmt.Errorf("bench: stopping the master: %w", serr)
		}
	}()
	progress("master %s started (data %s)", mp.URL, mp.DataDir)
	admin, err := api.NewClient(mp.URL, mp.CertFile, mp.KeyFile, mp.CAFile)
	if err != nil {
		return res, err
	}
	n, err := newStormNode(ctx, admin, mp, dir, cfg, sw)
	if err != nil {
		return res, err
	}
	defer n.close()
	res.Privileged = n.agent.Privileged()
	t0 := time.Now()
	if err := n.build(ctx, admin); err != nil {
		return res, err
	}
	res.Build = time.Since(t0)
	progress("software %s built in %s", sw, roundDuration(res.Build))

	mode := ""
	phase := func(name string, changed []int, passes int) (StormPhase, error) {
		pctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
		defer cancel()
		p, err := n.phase(pctx, name, changed, passes)
		if err != nil {
			return p, fmt.Errorf("bench: storm phase %s %q: %w", mode, name, err)
		}
		progress("%s%s: %d changed, converged in %s over %d passes (%s, %s CPU per pass), %d partitions configured, per partition p50 %s p99 %s",
			mode, name, p.Changed, roundDuration(p.Converge), p.Passes, formatDuration(p.PassWall), formatDuration(p.PassCPU), p.Configured,
			formatDuration(p.PerPartition.P50), formatDuration(p.PerPartition.P99))
		return p, nil
	}
	all := make([]int, cfg.Partitions)
	for i := range all {
		all[i] = i
	}
	if res.Deploy, err = phase("deploy", all, 1); err != nil {
		return res, err
	}
	modes := []bool{true}
	if cfg.Full {
		modes = append(modes, false)
	}
	for _, incremental := range modes {
		m := StormMode{Mode: "incremental", Incremental: incremental}
		quietPasses := 20 // a quiet pass takes about a millisecond: average many
		if !incremental {
			m.Mode, quietPasses = "full", 1
			if err := n.restartAgent(false); err != nil {
				return res, err
			}
		}
		mode = m.Mode + " "
		sctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
		m.Storm, err = n.storm(sctx)
		cancel()
		if err != nil {
			return res, fmt.Errorf("bench: storm phase %sstorm: %w", mode, err)
		}
		progress("%sstorm (agent.RunStorm): %d changed in %s, pass %s, %d partitions configured, per partition p50 %s p99 %s max %s",
			mode, m.Storm.Changed, roundDuration(m.Storm.Inject), roundDuration(m.Storm.PassWall), m.Storm.Configured,
			formatDuration(m.Storm.PerPartition.P50), formatDuration(m.Storm.PerPartition.P99), formatDuration(m.Storm.PerPartition.Max))
		if m.Quiet, err = phase("nothing changed", nil, quietPasses); err != nil {
			return res, err
		}
		if m.OneChange, err = phase("one change", []int{cfg.Partitions / 2}, 1); err != nil {
			return res, err
		}
		res.Modes = append(res.Modes, m)
		if incremental && cfg.PollInterval > 0 {
			lctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
			live, err := n.live(lctx, cfg.PollInterval, livePhases(cfg.LiveRuns, rand.New(rand.NewPCG(cfg.Seed, 0x6c697665))), progress)
			cancel()
			if err != nil {
				return res, fmt.Errorf("bench: storm under the poll interval: %w", err)
			}
			res.Live = &live
		}
	}
	res.Calibration = Calibrate(res)
	return res, nil
}

// softwareURL turns a profile path into a file:// URL (a URL is kept).
func softwareURL(s string) (string, error) {
	if strings.Contains(s, "://") {
		return s, nil
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return "", fmt.Errorf("bench: software %s: %w", s, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("bench: software profile %s: %w (run from the repository root, or give --software)", s, err)
	}
	return "file://" + abs, nil
}

// stormNode is the computer of the storm: its agent, its instances.
type stormNode struct {
	cfg       config.Config
	opts      agent.Options
	agent     *agent.Agent
	person    *api.Client
	id        string
	sw        string
	titles    []string
	partition []string    // partition of each instance (title index)
	accepted  []time.Time // when the master accepted each instance's last change
	port      string      // the instances' port parameter
	rev       int
	logFile   *os.File
}

func newStormNode(ctx context.Context, admin *api.Client, mp *MasterProcess, dir string, cfg StormConfig, sw string) (*stormNode, error) {
	n := &stormNode{id: "STORM-NODE", sw: sw, port: stormPorts[0]}
	person, err := admin.AddPerson(ctx, api.AddPersonRequest{ID: "STORM-PERSON", Name: "bench storm"})
	if err != nil {
		return nil, fmt.Errorf("bench: adding the storm person: %w", err)
	}
	base, err := api.TLSConfig("", "", mp.CAFile)
	if err != nil {
		return nil, err
	}
	if n.person, err = clientFromCredentials(admin.BaseURL, person.Credentials, base); err != nil {
		return nil, err
	}
	reg, err := admin.RegisterComputer(ctx, api.RegisterComputerRequest{ID: n.id, Owner: person.Person.ID, Region: "local",
		Hardware: model.Hardware{Arch: "x86_64", CPU: 2, RAM: 4096, Disk: 20}})
	if err != nil {
		return nil, fmt.Errorf("bench: registering the storm computer: %w", err)
	}
	if reg.Credentials == nil {
		return nil, errors.New("bench: the master registered the storm computer without credentials")
	}
	node := filepath.Join(dir, "node")
	c := config.Default()
	c.File = filepath.Join(node, "node.cfg")
	c.ComputerID, c.MasterURL = n.id, mp.URL
	c.SoftwareRoot, c.InstanceRoot = filepath.Join(node, "soft"), filepath.Join(node, "srv")
	c.CertFile, c.KeyFile, c.CAFile = filepath.Join(node, "computer.crt"), filepath.Join(node, "computer.key"), mp.CAFile
	c.Format.PartitionAmount = cfg.Partitions
	c.Format.IPv4LocalNetwork = cfg.network
	if cfg.Privileged {
		c.Format.UserBaseName = cfg.userBase
		c.Format.InterfaceName = "lo"
	}
	c.Grid.RetryBase, c.Grid.RetryMax = time.Second, 5*time.Second
	c.Grid.PromiseTimeout = 10 * time.Second
	c.Grid.StopGrace = 2 * time.Second
	for _, d := range []string{c.SoftwareRoot, c.InstanceRoot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	if err := os.WriteFile(c.CertFile, []byte(reg.Credentials.CertificatePEM), 0o644); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(c.KeyFile, []byte(reg.Credentials.KeyPEM), 0o600); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if n.logFile, err = os.Create(filepath.Join(dir, "agent.log")); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	n.cfg = c
	n.opts = agent.Options{Unprivileged: !cfg.Privileged, SlapgoBinary: cfg.Bin,
		Logger: slog.New(slog.NewTextHandler(n.logFile, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if n.agent, err = agent.New(c, n.opts); err != nil {
		n.logFile.Close()
		return nil, err
	}
	if _, err := n.agent.Format(ctx); err != nil {
		n.close()
		return nil, fmt.Errorf("bench: formatting the storm node: %w", err)
	}
	if _, err := admin.Supply(ctx, n.id, api.SupplyRequest{URL: sw, State: model.SoftwareAvailable}); err != nil {
		n.close()
		return nil, fmt.Errorf("bench: supplying %s: %w", sw, err)
	}
	n.titles = make([]string, cfg.Partitions)
	n.partition = make([]string, cfg.Partitions)
	n.accepted = make([]time.Time, cfg.Partitions)
	for i := range n.titles {
		n.titles[i] = fmt.Sprintf("storm-%d", i)
	}
	return n, nil
}

// build runs the software pass until the release is built.
func (n *stormNode) build(ctx context.Context, admin *api.Client) error {
	res, err := n.agent.SoftwarePass(ctx, true)
	if err != nil {
		return fmt.Errorf("bench: building %s: %w (agent log: %s)", n.sw, err, tail(n.logFile.Name(), 2000))
	}
	if len(res.Started) == 0 {
		return fmt.Errorf("bench: the software pass built nothing: %s not planned", n.sw)
	}
	// A failed build ends the pass too: what the agent reported says
	// whether the software is there (else every instance would wait for it
	// until the phase times out).
	d, err := admin.ComputerDetails(ctx, n.id)
	if err != nil {
		return fmt.Errorf("bench: reading what %s reported of %s: %w", n.id, n.sw, err)
	}
	for _, si := range d.Software {
		if si.URL != n.sw {
			continue
		}
		if si.Reported != model.SoftwareReadyAvailable {
			return fmt.Errorf("bench: building %s: reported %q: %s (agent log: %s)", n.sw, si.Reported, si.ReportedError, tail(n.logFile.Name(), 2000))
		}
		return nil
	}
	return fmt.Errorf("bench: %s reported nothing of %s after building it", n.id, n.sw)
}

// restartAgent replaces the agent by one with incremental reconfiguration
// on or off (off: maximum_periodicity of 1 ns, every partition is
// "periodic" on every pass). The partitions' services keep running across.
func (n *stormNode) restartAgent(incremental bool) error {
	n.agent.Close()
	c := n.cfg
	if !incremental {
		c.Grid.MaximumPeriodicity = time.Nanosecond
	}
	a, err := agent.New(c, n.opts)
	if err != nil {
		return err
	}
	n.agent = a
	return nil
}

func (n *stormNode) close() {
	if n.agent != nil {
		n.agent.StopServices()
		n.agent.Close()
	}
	if n.logFile != nil {
		n.logFile.Close()
	}
}

// phase changes the instances at indexes changed (requests them with a new
// parameter, concurrently), then runs instance passes until each of their
// partitions was configured successfully by a pass that began after the
// change, and at least minPasses passes.
func (n *stormNode) phase(ctx context.Context, name string, changed []int, minPasses int) (StormPhase, error) {
	p := StormPhase{Name: name, Changed: len(changed)}
	cpu0 := selfCPU()
	start := time.Now()
	n.rev++
	if err := n.request(ctx, changed); err != nil {
		return p, err
	}
	p.Inject = time.Since(start)
	waiting := map[string]bool{}
	for _, i := range changed {
		waiting[n.partition[i]] = true
	}
	var hist Histogram
	var firstErr error
	for {
		if err := ctx.Err(); err != nil {
			return p, fmt.Errorf("%d partitions still not configured after %d passes: %w", len(waiting), p.Passes, err)
		}
		res, err := n.agent.InstancePass(ctx)
		if err != nil {
			return p, fmt.Errorf("instance pass %d: %w (agent log: %s)", p.Passes+1, err, tail(n.logFile.Name(), 2000))
		}
		p.Passes++
		perPartition := map[string]time.Duration{}
		var order []string
		configured := map[string]bool{}
		failed := map[string]bool{}
		for _, r := range res.Results {
			id := r.Action.PartitionID
			if _, seen := perPartition[id]; !seen {
				order = append(order, id)
			}
			perPartition[id] += r.Duration
			if r.Err != nil {
				p.Failed++
				failed[id] = true
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", r.Action, r.Err)
				}
			}
			if r.Action.Kind == converge.ConfigurePartition {
				configured[id] = true
			}
		}
		for _, id := range order {
			if !configured[id] {
				continue
			}
			p.Configured++
			hist.Record(perPartition[id])
			if !failed[id] {
				delete(waiting, id)
			}
		}
		if firstErr != nil {
			// A benchmark of failing partitions measures nothing useful:
			// stop at the first failure and say which.
			return p, fmt.Errorf("%d partition actions failed in pass %d, the first: %s", p.Failed, p.Passes, truncate(firstErr.Error(), 600))
		}
		if len(waiting) == 0 && p.Passes >= minPasses {
			break
		}
		if len(waiting) > 0 && len(res.Results) == 0 && res.Plan.RequeueAfter > 0 {
			// Only retries after back-off are left: wait for them.
			if err := sleepCtx(ctx, min(res.Plan.RequeueAfter, 5*time.Second)); err != nil {
				return p, fmt.Errorf("%d partitions still not configured: %w", len(waiting), err)
			}
		}
	}
	p.Converge = time.Since(start)
	p.PerPartition = hist.Summary()
	p.CPU = selfCPU() - cpu0
	p.PassWall = (p.Converge - p.Inject) / time.Duration(p.Passes)
	p.PassCPU = p.CPU / time.Duration(p.Passes)
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// selfCPU is this process's user and system time, from getrusage.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// storm changes every instance at once and runs one instance pass with
// the node agent's own storm driver (agent.RunStorm: the changes sent one
// after the other, then the pass that applies them, timed per partition).
func (n *stormNode) storm(ctx context.Context) (StormPhase, error) {
	n.rev++
	reqs := make([]api.InstanceRequest, len(n.titles))
	for i, title := range n.titles {
		reqs[i] = api.InstanceRequest{Title: title, SoftwareRelease: n.sw, SLA: map[string]string{"computer_guid": n.id}}
	}
	cpu0 := selfCPU()
	r, err := agent.RunStorm(ctx, n.agent, n.person, reqs, func(i int, req *api.InstanceRequest) {
		req.Parameters = map[string]string{"name": n.pageName(i), "port": n.port}
	})
	if err != nil {
		return StormPhase{}, fmt.Errorf("%w (agent log: %s)", err, tail(n.logFile.Name(), 2000))
	}
	p := StormPhase{Name: "storm", Changed: len(reqs), Inject: r.Requests, Converge: r.Requests + r.Total, Passes: 1,
		Configured: r.Partitions, Failed: r.Failed, CPU: selfCPU() - cpu0, PassWall: r.Total}
	p.PassCPU = p.CPU
	if r.Failed > 0 {
		return p, fmt.Errorf("%d partition actions failed: %s (agent log: %s)", r.Failed, r, tail(n.logFile.Name(), 2000))
	}
	if r.Partitions != len(reqs) {
		return p, fmt.Errorf("the pass configured %d partitions of the %d changed: %s", r.Partitions, len(reqs), r)
	}
	p.PerPartition = Latency{Count: uint64(r.Partitions), P50: r.P50, P99: r.P99, Max: r.Max}
	if r.Partitions > 0 {
		// The pass is the partitions one after the other (plus one view
		// fetch and one plan): its mean per partition.
		p.PerPartition.Mean = r.Total / time.Duration(r.Partitions)
	}
	return p, nil
}

// pageName is the name parameter of instance i at the current revision:
// its page says "hello <name> from ...".
func (n *stormNode) pageName(i int) string { return fmt.Sprintf("storm-%d-rev-%d", i, n.rev) }

// request (re-)requests the instances at indexes idx with parameter
// rev=<n.rev>, eight at a time, and records their partitions.
func (n *stormNode) request(ctx context.Context, idx []int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(idx))
	for range min(8, len(idx)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(idx) {
					return
				}
				i := idx[k]
				inst, err := n.person.Request(ctx, api.InstanceRequest{Title: n.titles[i], SoftwareRelease: n.sw,
					Parameters: map[string]string{"name": n.pageName(i), "port": n.port},
					SLA:        map[string]string{"computer_guid": n.id}})
				switch {
				case err != nil:
					errs[k] = fmt.Errorf("requesting %s: %w", n.titles[i], err)
				case inst.Status != api.StatusAllocated || inst.PartitionID == "":
					errs[k] = fmt.Errorf("instance %s is %s (%s), expected allocated on %s", n.titles[i], inst.Status, inst.PendingReason, n.id)
				default:
					n.partition[i], n.accepted[i] = inst.PartitionID, time.Now()
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// SimCalibration maps the storm's measures to the simulator's agent model
// (sim/scenario Agent.Deploy and Agent.Configure) as lognormal
// distributions: the measured mean per partition (the simulator's
// lognormal takes its mean, so a storm of N partitions lasts about N times
// it, as measured) and a shape sigma = ln(p99/p50)/2.326 that puts the
// model's p99 at the measured p99 relative to its median; draws are
// clamped to the measured maximum. Set holds them as `slapgo sim run
// --set` overrides, YAML as a scenario snippet.
type SimCalibration struct {
	Configure *CalibratedDist `json:"configure,omitempty"`
	Deploy    *CalibratedDist `json:"deploy,omitempty"`
	Set       []string        `json:"set"`
	YAML      string          `json:"yaml"`
}

// CalibratedDist is a sim/scenario Dist in its YAML/JSON form, with what it
// was fitted on.
type CalibratedDist struct {
	Dist  string  `json:"dist"`
	Mean  string  `json:"mean"`
	Sigma float64 `json:"sigma"`
	Max   string  `json:"max"`
	// Count partitions measured, with their p50 and p99.
	Count int    `json:"count"`
	P50   string `json:"p50"`
	P99   string `json:"p99"`
}

// z99 is the standard normal's 99th percentile.
const z99 = 2.3263478740

// FitLognormal fits the simulator's lognormal model to per-partition times
// (see SimCalibration); nil without a measure.
func FitLognormal(l Latency) *CalibratedDist {
	if l.Count == 0 || l.Mean <= 0 || l.P50 <= 0 {
		return nil
	}
	sigma := 0.0
	if l.P99 > l.P50 {
		sigma = math.Log(float64(l.P99)/float64(l.P50)) / z99
	}
	dur := func(d time.Duration) string { return d.Round(time.Microsecond).String() }
	return &CalibratedDist{Dist: "lognormal", Mean: dur(l.Mean), Sigma: math.Round(sigma*1000) / 1000, Max: dur(l.Max),
		Count: int(l.Count), P50: dur(l.P50), P99: dur(l.P99)}
}

// flow is the distribution in YAML flow style, as a scenario writes it.
func (d *CalibratedDist) flow() string {
	return fmt.Sprintf("{dist: %s, mean: %s, sigma: %g, max: %s}", d.Dist, d.Mean, d.Sigma, d.Max)
}

// Calibrate derives the simulator's configuration-time model from a
// storm: Configure from the incremental storm (a changed instance
// configured again), Deploy from the first deployment.
func Calibrate(r StormResult) SimCalibration {
	var c SimCalibration
	for _, m := range r.Modes {
		if m.Incremental {
			c.Configure = FitLognormal(m.Storm.PerPartition)
		}
	}
	c.Deploy = FitLognormal(r.Deploy.PerPartition)
	var yaml strings.Builder
	yaml.WriteString("agent:\n")
	if c.Deploy != nil {
		c.Set = append(c.Set, "agent.deploy="+c.Deploy.flow())
		fmt.Fprintf(&yaml, "  deploy: %s\n", c.Deploy.flow())
	}
	if c.Configure != nil {
		c.Set = append(c.Set, "agent.configure="+c.Configure.flow())
		fmt.Fprintf(&yaml, "  configure: %s\n", c.Configure.flow())
	}
	c.YAML = yaml.String()
	return c
}

// ReadCalibration reads the simulator overrides from the JSON printed by
// `slapgo bench storm --json` (a report) or from a bare StormResult.
func ReadCalibration(data []byte) ([]string, error) {
	var rep struct {
		Sections []struct {
			Name   string      `json:"name"`
			Result StormResult `json:"result"`
		} `json:"sections"`
	}
	if err := json.Unmarshal(data, &rep); err == nil {
		for _, s := range rep.Sections {
			if s.Name == "storm" && len(s.Result.Calibration.Set) > 0 {
				return s.Result.Calibration.Set, nil
			}
		}
	}
	var res StormResult
	if err := json.Unmarshal(data, &res); err == nil && len(res.Calibration.Set) > 0 {
		return res.Calibration.Set, nil
	}
	return nil, errors.New("bench: no storm calibration in this JSON: expected the output of `slapgo bench storm --json`")
}

// Section lays the result out for reports.
func (r StormResult) Section(command string) Section {
	s := Section{Name: "storm", Title: fmt.Sprintf("reconfiguration storm on a real node agent (%d partitions)", r.Partitions), Command: command, Result: r}
	stormT := AtMost(StormTarget.Seconds(), UnitSeconds)
	quietT := AtMost(0.050, UnitSeconds)
	for _, m := range r.Modes {
		if !m.Incremental {
			continue
		}
		what := fmt.Sprintf("%d partitions changed at once, incremental", m.Storm.Changed)
		s.Figures = append(s.Figures,
			JudgedFigure("storm: time to converge", m.Storm.Converge.Seconds(), UnitSeconds, &stormT, stormConditions(m.Storm.Changed), quiet, what),
			NewFigure("storm: per-partition p50", m.Storm.PerPartition.P50.Seconds(), UnitSeconds, nil, what),
			NewFigure("storm: per-partition p99", m.Storm.PerPartition.P99.Seconds(), UnitSeconds, nil, what),
			NewFigure("pass with nothing changed: agent CPU", m.Quiet.PassCPU.Seconds(), UnitSeconds, &quietT,
				fmt.Sprintf("mean of %d passes: 304 from the master, plan, no action; %s wall per pass", m.Quiet.Passes, formatDuration(m.Quiet.PassWall))),
			NewFigure("one change: time to converge", m.OneChange.Converge.Seconds(), UnitSeconds, nil, "incremental"))
	}
	if l := r.Live; l != nil {
		s.Figures = append(s.Figures, l.figures()...)
	}
	for _, m := range r.Modes {
		if m.Incremental {
			continue
		}
		s.Figures = append(s.Figures,
			NewFigure("storm, incremental off: time to converge", m.Storm.Converge.Seconds(), UnitSeconds, nil, "every partition reconfigured on every pass"),
			NewFigure("one change, incremental off: time to converge", m.OneChange.Converge.Seconds(), UnitSeconds, nil, "a whole pass"))
	}
	t := Table{
		Title: "side by side: incremental (only changed partitions) and full (every partition on every pass) reconfiguration",
		Columns: []string{"mode", "phase", "changed", "converge", "passes", "wall/pass", "CPU/pass", "configured", "failed",
			"per-partition p50", "p99", "max"},
	}
	row := func(mode string, p StormPhase) {
		p50, p99, mx := "-", "-", "-"
		if p.PerPartition.Count > 0 {
			p50, p99, mx = formatDuration(p.PerPartition.P50), formatDuration(p.PerPartition.P99), formatDuration(p.PerPartition.Max)
		}
		t.Rows = append(t.Rows, []string{mode, p.Name, fmt.Sprint(p.Changed), roundDuration(p.Converge), fmt.Sprint(p.Passes),
			formatDuration(p.PassWall), formatDuration(p.PassCPU), fmt.Sprint(p.Configured), fmt.Sprint(p.Failed), p50, p99, mx})
	}
	row("-", r.Deploy)
	for _, m := range r.Modes {
		row(m.Mode, m.Storm)
		row(m.Mode, m.Quiet)
		row(m.Mode, m.OneChange)
	}
	s.Tables = append(s.Tables, t)
	if r.Live != nil {
		s.Tables = append(s.Tables, r.Live.table())
	}
	if r.Calibration.Configure != nil || r.Calibration.Deploy != nil {
		ct := Table{Title: "simulator calibration (sim/scenario agent model: lognormal with the measured mean per partition, sigma = ln(p99/p50)/2.326)",
			Columns: []string{"scenario field", "dist", "mean", "sigma", "max", "measured p50", "p99", "partitions"}}
		for _, x := range []struct {
			field string
			d     *CalibratedDist
		}{{"agent.deploy", r.Calibration.Deploy}, {"agent.configure", r.Calibration.Configure}} {
			if x.d != nil {
				ct.Rows = append(ct.Rows, []string{x.field, x.d.Dist, x.d.Mean, fmt.Sprint(x.d.Sigma), x.d.Max,
					x.d.P50, x.d.P99, fmt.Sprint(x.d.Count)})
			}
		}
		s.Tables = append(s.Tables, ct)
		s.Notes = append(s.Notes, "calibrate a simulation with this storm: slapgo bench sim --calibration storm.json, or slapgo sim run FILE "+
			strings.Join(quoteSets(r.Calibration.Set), " "))
	}
	priv := "unprivileged: partitions run as the agent's user, on 127.x addresses drawn for the run"
	if r.Privileged {
		priv = "privileged: partitions run as their own users, with their addresses on lo (both made for the run, removed after)"
	}
	s.Notes = append(s.Notes,
		fmt.Sprintf("software %s built in %s; %s", r.Software, roundDuration(r.Build), priv),
		"each instance serves a page with its own service and has a promise checking it; configuring a partition renders its profile, restarts its service and runs its promises",
		"storm: the node agent's own driver (agent.RunStorm) sends the changes one after the other, then one instance pass applies them; converge = sending + pass",
		"other phases: from the first change sent to the master to the end of the instance pass that configured the last changed partition; passes run back to back (no poll interval)")
	if r.Live != nil {
		s.Notes = append(s.Notes, "live storm: the node agent's daemon (Agent.Run) polls the master every poll interval (counted from the end of its last pass, plus up to a tenth of jitter); in each run every instance gets a new port at a drawn phase of the daemon's cycle, from one of its polls (seen in its log) to the next (its pass, whose promise checks take up to half the interval, then the interval plus jitter; one phase per fifth of the cycle), and an instance counts as converged when the master holds its new URL (published by the partition), its reported state is started and the URL serves the page of its new configuration (the partition publishes before its service restarts, so the master alone would count it early); converge = the wait for the daemon's next poll + the work after it (the pass, its reports and publications, the master read every 200 ms); the targets hold only if every run holds")
	}
	return s
}

func peakRSSDetails(sincePhase bool) string {
	if sincePhase {
		return "the node agent's process (the bench runs in it), peak since the phase began"
	}
	return "the node agent's process (the bench runs in it), peak over its whole life: the kernel's peak could not be reset"
}

func quoteSets(sets []string) []string {
	out := make([]string, 0, 2*len(sets))
	for _, s := range sets {
		out = append(out, "--set", shellJoin([]string{s}))
	}
	return out
}
