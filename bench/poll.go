package bench

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// Targets of the poll benchmark (issues: poll 304 >= 5,000/s; 10,000
// virtual nodes polling each minute with p99 < 100 ms).
const (
	Poll304Target   = 5_000
	PollNodesTarget = 10_000
	PollP99Target   = 100 * time.Millisecond
	// PollNodesRuns: the 10,000-node target holds in 3 of 3 runs.
	PollNodesRuns = 3
	// PollMoonshotNodes: the moonshot, 100,000 real nodes steady on one
	// master.
	PollMoonshotNodes = 100_000
)

// Identities a virtual node polls with.
const (
	// IdentityAdmin: every virtual node polls with the admin certificate
	// over a shared pool of keep-alive connections (the admin may read any
	// computer's view). Cheap to set up for many nodes.
	IdentityAdmin = "admin"
	// IdentityComputer: each virtual node polls with its own computer
	// certificate over its own keep-alive connection, as real node agents
	// do (the master then also records each computer's contact).
	IdentityComputer = "computer"
)

// PollConfig configures `slapgo bench poll`.
type PollConfig struct {
	// Nodes computers are registered, each with Partitions partitions, a
	// share Fill of which hold an instance.
	Nodes      int
	Partitions int
	Fill       float64
	// Each virtual node polls every Interval/Compress: the master sees the
	// load of Nodes×Compress nodes polling every Interval (the equivalent
	// nodes).
	Interval time.Duration
	Compress float64
	// Changes is the share of nodes whose view changes per Interval (an
	// instance re-requested with a new parameter), so that some polls get
	// a 200 with the full view; 0 disables changes.
	Changes float64
	// Warmup is run before each measured window of Duration.
	Warmup   time.Duration
	Duration time.Duration
	// Runs repeats the measured window (without FindMax or Storm): each
	// run after the first restarts the master started here (the same data
	// directory) and drives it with a new load generator (new connections,
	// TLS handshakes and phases), then warms up and measures again. A
	// target judged on runs holds only if it holds in every run.
	Runs int
	// Settle is, with Runs > 1, the longest wait before each run (its
	// load generator already polling) for the 1-minute load average to
	// fall under the bound of a verdict: the set-up, or the warm-up of the
	// run before, would otherwise leave their own load in it. 0: no wait.
	Settle time.Duration
	// Identity is IdentityAdmin or IdentityComputer; Conns bounds the
	// admin pool's connections. HTTP2 negotiates HTTP/2 instead of
	// HTTP/1.1 keep-alive.
	Identity string
	Conns    int
	HTTP2    bool
	// FindMax raises the load step by step (each step Warmup + StepTime)
	// from Compress up, doubling then bisecting, to find the highest
	// equivalent number of nodes whose p99 stays below MaxP99, in at most
	// MaxSteps steps.
	FindMax  bool
	MaxP99   time.Duration
	StepTime time.Duration
	MaxSteps int
	// Storm replaces the steady polls by a reconnect storm (see
	// ReconnectStorm): every node polls once at a random moment of
	// StormWithin after the master restarted (or, for a master not started
	// here, after the connections dropped), retrying until StormTimeout;
	// StormCold: the nodes have no ETag. StormCut: the master started
	// here is not restarted, only the connections drop (a network cut);
	// StormNoResume: the nodes do not resume their TLS sessions. It needs
	// IdentityComputer.
	Storm         bool
	StormWithin   time.Duration
	StormTimeout  time.Duration
	StormCold     bool
	StormCut      bool
	StormNoResume bool
	// SetupWorkers is the number of concurrent API calls during set-up.
	SetupWorkers int
	// SourceAddrs are the local addresses the nodes' connections come
	// from, node i from SourceAddrs[i % len] (each address has its own
	// range of ephemeral ports). Empty: the system's choice, except that
	// many nodes of IdentityComputer against a master on 127.0.0.1 are
	// spread over as many loopback addresses (127.0.1.x) as the ephemeral
	// port range needs (sourceAddrsFor).
	SourceAddrs []string
	// Master: MasterURL with admin Cert, Key and CA to target a running
	// master, any slapgo master (MasterPID to measure its CPU and memory;
	// when 0, the local process listening on the URL's port, if any);
	// otherwise Bin (the slapgo binary) is started with a fresh data
	// directory under Dir (a temporary directory when empty, removed after
	// unless KeepDir).
	MasterURL, Cert, Key, CA string
	MasterPID                int
	Bin, Dir                 string
	KeepDir                  bool
	Seed                     uint64
	// Progress receives progress lines (nil: none).
	Progress io.Writer
}

// DefaultPollConfig is a modest run: 1,000 nodes of 10 partitions, 10%
// full, polling every minute compressed 60 times (60,000 equivalent nodes,
// 1,000 polls/s) for 20 s.
func DefaultPollConfig() PollConfig {
	return PollConfig{
		Nodes: 1000, Partitions: 10, Fill: 0.1,
		Interval: time.Minute, Compress: 60, Changes: 0.01,
		Warmup: 3 * time.Second, Duration: 20 * time.Second, Runs: 1, Settle: 90 * time.Second,
		Identity: IdentityAdmin, Conns: 32,
		MaxP99: PollP99Target, StepTime: 8 * time.Second, MaxSteps: 10,
		StormWithin: 10 * time.Second, StormTimeout: 2 * time.Minute,
		SetupWorkers: 16, Seed: 1,
	}
}

// Validate checks the configuration.
func (c *PollConfig) Validate() error {
	switch {
	case c.Nodes < 1:
		return fmt.Errorf("bench: poll --nodes %d: expected at least 1", c.Nodes)
	case c.Partitions < 1:
		return fmt.Errorf("bench: poll --partitions %d: expected at least 1", c.Partitions)
	case c.Fill < 0 || c.Fill > 1:
		return fmt.Errorf("bench: poll --fill %g: expected a share in [0, 1]", c.Fill)
	case c.Interval <= 0 || c.Compress <= 0:
		return fmt.Errorf("bench: poll --interval %s --compress %g: expected both > 0", c.Interval, c.Compress)
	case c.Changes < 0:
		return fmt.Errorf("bench: poll --changes %g: expected a share >= 0", c.Changes)
	case c.Runs < 1:
		return fmt.Errorf("bench: poll --runs %d: expected at least 1", c.Runs)
	case c.Runs > 1 && (c.FindMax || c.Storm):
		return fmt.Errorf("bench: poll --runs %d repeats a steady window: it does not go with --find-max or --reconnect-storm", c.Runs)
	case c.Duration <= 0 || c.Warmup < 0:
		return fmt.Errorf("bench: poll --duration %s --warmup %s: expected a positive duration and a warm-up >= 0", c.Duration, c.Warmup)
	case c.Identity != IdentityAdmin && c.Identity != IdentityComputer:
		return fmt.Errorf("bench: poll --identity %q: expected admin or computer", c.Identity)
	case c.Conns < 1:
		return fmt.Errorf("bench: poll --conns %d: expected at least 1", c.Conns)
	case c.FindMax && (c.MaxP99 <= 0 || c.StepTime <= 0 || c.MaxSteps < 1):
		return fmt.Errorf("bench: poll --find-max needs --max-p99 > 0, --step > 0 and --max-steps >= 1")
	case c.Storm && c.Identity != IdentityComputer:
		return errors.New("bench: poll --reconnect-storm needs --identity computer (each node its own certificate)")
	case c.Storm && (c.StormWithin < 0 || c.StormTimeout <= c.StormWithin):
		return fmt.Errorf("bench: poll --storm-within %s --storm-timeout %s: expected 0 <= within < timeout", c.StormWithin, c.StormTimeout)
	case c.MasterURL == "" && c.Bin == "":
		return errors.New("bench: poll needs a slapgo binary to start a master (--bin) or a running master (--against)")
	case c.MasterURL != "" && (c.Cert == "" || c.Key == "" || c.CA == ""):
		return errors.New("bench: poll --against needs the admin --cert, --key and --ca of that master")
	}
	for _, a := range c.SourceAddrs {
		if _, err := netip.ParseAddr(a); err != nil {
			return fmt.Errorf("bench: poll --source-addrs: %q is not an IP address: %w", a, err)
		}
	}
	if c.SetupWorkers < 1 {
		c.SetupWorkers = 1
	}
	return nil
}

// PollSetup is what set-up did, and how fast the master took it.
type PollSetup struct {
	Computers  int `json:"computers"`
	Partitions int `json:"partitions"`
	Instances  int `json:"instances"`
	// Rates of the set-up calls (concurrent, durable on the master).
	RegisterPerSecond float64       `json:"register_per_s"`
	CapacityPerSecond float64       `json:"capacity_per_s"`
	RequestPerSecond  float64       `json:"request_per_s"`
	RequestLatency    Latency       `json:"request_latency"`
	Wall              time.Duration `json:"wall_ns"`
	FullViewBytes     int           `json:"full_view_bytes"` // one computer's view as JSON
}

// PollStep is one measured window at one load.
type PollStep struct {
	Compress        float64 `json:"compress"`
	EquivalentNodes float64 `json:"equivalent_nodes"` // polls/s offered × interval
	Offered         float64 `json:"offered_per_s"`
	Rate            float64 `json:"rate_per_s"` // polls answered per second
	Rate304         float64 `json:"not_modified_per_s"`
	Ratio304        float64 `json:"not_modified_ratio"`
	NotModified     int64   `json:"not_modified"`
	Full            int64   `json:"full"`
	Errors          int64   `json:"errors"`
	FirstError      string  `json:"first_error,omitempty"`
	Missed          int64   `json:"missed"` // polls skipped because the node was a whole period late
	// Latency runs from the moment a poll was due (so a late send counts,
	// no coordinated omission); Service from the moment it was sent;
	// FullLatency is Latency of the 200 answers only.
	Latency     Latency `json:"latency"`
	Service     Latency `json:"service"`
	FullLatency Latency `json:"full_latency"`
	// Changes made during the window and their latency (durable requests
	// under poll load); Skipped changes the changers could not keep up with.
	Changes        int64   `json:"changes"`
	ChangesSkipped int64   `json:"changes_skipped"`
	ChangeLatency  Latency `json:"change_latency"`
	// MasterCPU and MasterRSS are measured when the master's pid is known
	// (MasterMeasured).
	MasterMeasured bool          `json:"master_measured"`
	MasterCPU      float64       `json:"master_cpu_cores"`
	MasterRSS      int64         `json:"master_rss_bytes"`
	LoadgenCPU     float64       `json:"loadgen_cpu_cores"`
	LoadgenRSS     int64         `json:"loadgen_rss_bytes"`
	Window         time.Duration `json:"window_ns"`
	Holds          bool          `json:"holds"`
	Why            string        `json:"why,omitempty"` // why it does not hold
	// Slow lists the seconds of the window (from its start) in which the
	// polls that took MaxP99 or more were due, most first (at most 5).
	Slow []SlowSecond `json:"slow,omitempty"`
	// Again: this step measures the load of the step before it once more
	// (that one did not hold). LoadHolds: every measure of this load held;
	// only such a load counts as held.
	Again     bool `json:"again,omitempty"`
	LoadHolds bool `json:"load_holds"`
	// Run numbers the runs of PollConfig.Runs from 1 (0: a find-max step);
	// Load is the 1-minute load average when the run began.
	Run  int     `json:"run,omitempty"`
	Load float64 `json:"load_at_start,omitempty"`
}

// PollResult is the outcome of RunPoll.
type PollResult struct {
	Nodes      int           `json:"nodes"`
	Partitions int           `json:"partitions"`
	Fill       float64       `json:"fill"`
	Interval   time.Duration `json:"interval_ns"`
	Changes    float64       `json:"changes"`
	Identity   string        `json:"identity"`
	Conns      int           `json:"conns"` // connections to the master
	Workers    int           `json:"setup_workers"`
	HTTP2      bool          `json:"http2"`
	FindMax    bool          `json:"find_max"`
	MaxP99     time.Duration `json:"max_p99_ns"`
	MasterURL  string        `json:"master_url"`
	// External: the master was running already (--against); MasterPID is
	// the process measured (0: its CPU and memory were not measured).
	External  bool       `json:"external"`
	MasterPID int        `json:"master_pid"`
	Setup     PollSetup  `json:"setup"`
	Steps     []PollStep `json:"steps"`
	// Held is the index in Steps of the highest load that held (-1: none).
	Held int `json:"held"`
	// Storm is the reconnect storm, when one was run instead of steps.
	Storm         *ReconnectStorm `json:"reconnect_storm,omitempty"`
	MasterPeakRSS int64           `json:"master_peak_rss_bytes"`
	// Warmup is the load run before each window (a window after a warm-up
	// shorter than the interval sees polls without an ETag).
	Warmup time.Duration `json:"warmup_ns"`
	// Runs is PollConfig.Runs (every step is then a run); Cores the
	// machine's, for the runs' load bound.
	Runs  int `json:"runs,omitempty"`
	Cores int `json:"cores,omitempty"`
	// SourceAddrs the nodes' connections came from (none: the system's
	// choice).
	SourceAddrs []string `json:"source_addrs,omitempty"`
}

// pollSoftware is the software release supplied to every bench computer.
const pollSoftware = "https://lab.example.net/slapos/software/bench-poll/software.cfg"

// RunPoll starts (or targets) a master, registers the computers, fills
// them, then measures virtual node agents polling it.
func RunPoll(ctx context.Context, cfg PollConfig) (res PollResult, err error) {
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	res = PollResult{Nodes: cfg.Nodes, Partitions: cfg.Partitions, Fill: cfg.Fill, Interval: cfg.Interval,
		Changes: cfg.Changes, Identity: cfg.Identity, Workers: cfg.SetupWorkers, HTTP2: cfg.HTTP2, FindMax: cfg.FindMax, MaxP99: cfg.MaxP99, Held: -1, Warmup: cfg.Warmup,
		Runs: cfg.Runs, Cores: runtime.NumCPU()}
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "bench poll: "+format+"\n", args...)
		}
	}
	url, certFile, keyFile, caFile, pid := cfg.MasterURL, cfg.Cert, cfg.Key, cfg.CA, cfg.MasterPID
	if cfg.Identity == IdentityComputer {
		if err := raiseFileLimit(uint64(cfg.Nodes) + pollSpareFiles); err != nil {
			return res, err
		}
	}
	var mp *MasterProcess
	if url == "" {
		dir := cfg.Dir
		if dir == "" {
			if dir, err = os.MkdirTemp("", "slapgo-bench-poll-"); err != nil {
				return res, fmt.Errorf("bench: %w", err)
			}
			if !cfg.KeepDir {
				defer os.RemoveAll(dir)
			}
		}
		if mp, err = StartMaster(ctx, cfg.Bin, dir); err != nil {
			return res, err
		}
		defer func() {
			if serr := mp.Stop(); serr != nil && err == nil {
				err = fmt.Errorf("bench: stopping the master: %w", serr)
			}
		}()
		url, certFile, keyFile, caFile, pid = mp.URL, mp.CertFile, mp.KeyFile, mp.CAFile, mp.PID
		progress("master %s started (pid %d, data %s)", url, pid, mp.DataDir)
	}
	if mp == nil && pid == 0 {
		if host := strings.TrimPrefix(url, "https://"); host != url {
			pid = ListenerPID(strings.TrimRight(host, "/"))
		}
	}
	if mp == nil {
		progress("measuring the master at %s (pid %d; 0: its CPU and memory are not measured)", url, pid)
	}
	res.MasterURL, res.External, res.MasterPID = url, mp == nil, pid
	cfg.MasterPID = pid
	if len(cfg.SourceAddrs) == 0 {
		cfg.SourceAddrs = sourceAddrsFor(url, cfg)
	}
	res.SourceAddrs = cfg.SourceAddrs
	adminTLS, err := api.TLSConfig(certFile, keyFile, caFile)
	if err != nil {
		return res, err
	}
	setupClient, err := api.NewClientTLS(url, adminTLS)
	if err != nil {
		return res, err
	}
	grid, err := setUpPollGrid(ctx, setupClient, adminTLS, cfg, progress)
	res.Setup = grid.setup
	if err != nil {
		return res, err
	}
	if cfg.Storm {
		st, err := runReconnectStorm(ctx, cfg, mp, url, adminTLS, grid, progress)
		res.Storm, res.Conns = &st, len(grid.computers)
		return res, err
	}
	gen, err := newLoadGen(url, adminTLS, grid, cfg)
	if err != nil {
		return res, err
	}
	res.Conns = gen.conns
	defer func() { gen.close() }()
	self := os.Getpid()
	measure := func(compress float64, window, warmup time.Duration) (PollStep, error) {
		gen.setCompress(compress)
		warm := newStepStats()
		gen.cur.Store(warm)
		if err := sleepCtx(ctx, warmup); err != nil {
			return PollStep{}, err
		}
		m0, _ := sampleIf(pid)
		l0, _ := SampleProc(self)
		start := time.Now()
		st := newWindowStats(cfg.MaxP99)
		gen.cur.Store(st)
		if err := sleepCtx(ctx, window); err != nil {
			return PollStep{}, err
		}
		gen.cur.Store(newStepStats()) // polls sent from now on belong to no window
		elapsed := time.Since(start)
		m1, merr := sampleIf(pid)
		l1, _ := SampleProc(self)
		st.wait() // polls of the window still in flight
		if mp != nil {
			if err := mp.Exited(); err != nil {
				return PollStep{}, err
			}
		}
		step := st.step(compress, gen, cfg, elapsed)
		if pid > 0 && merr == nil {
			step.MasterMeasured = true
			step.MasterCPU = CPUCores(m0, m1)
			step.MasterRSS = m1.RSS
			res.MasterPeakRSS = max(res.MasterPeakRSS, m1.PeakRSS)
		}
		step.LoadgenCPU, step.LoadgenRSS = CPUCores(l0, l1), l1.RSS
		progress("%s equivalent nodes: %s polls/s (%s offered), p50 %s p99 %s p99.9 %s, 304 %s, errors %d, master %s cores, load generator %s cores%s",
			formatNumber(step.EquivalentNodes), formatNumber(step.Rate), formatNumber(step.Offered),
			formatDuration(step.Latency.P50), formatDuration(step.Latency.P99), formatDuration(step.Latency.P999),
			formatPercent(step.Ratio304), step.Errors, masterCPU(step), formatNumber(step.LoadgenCPU), whyText(step.Why))
		return step, nil
	}
	gen.start(ctx)
	if !cfg.FindMax {
		for run := 1; run <= cfg.Runs; run++ {
			if run > 1 {
				if gen, err = nextRun(ctx, gen, mp, url, adminTLS, grid, cfg, run, progress); err != nil {
					return res, err
				}
				if mp != nil {
					pid = mp.PID // measure the new process
				}
			}
			if cfg.Runs > 1 && cfg.Settle > 0 {
				bound := MaxLoadPerCore * float64(res.Cores)
				if waited, l := settle(ctx, loadAverage, bound, cfg.Settle, 5*time.Second, sleepCtx); waited > 0 {
					progress("run %d: waited %s for the load average to fall under %g (now %.2f)", run, roundDuration(waited), bound, l)
				}
			}
			load := loadAverage()
			step, err := measure(cfg.Compress, cfg.Duration, cfg.Warmup)
			if err != nil {
				return res, err
			}
			if cfg.Runs > 1 {
				step.Run, step.Load = run, load
				progress("run %d of %d (load average %.2f at its start): %s", run, cfg.Runs, load, map[bool]string{true: "holds", false: "does not hold: " + step.Why}[step.Holds])
			}
			res.Steps = append(res.Steps, step)
		}
		markLoads(res.Steps)
		res.Held = pollHeadline(res.Steps)
		return res, nil
	}
	// Find the highest load that holds (see ramp). The first step settles
	// longer (the master just took the set-up's writes).
	rp := newRamp(cfg.Compress, float64(cfg.Interval)/float64(cfg.Nodes)/float64(time.Second))
	c, again := rp.c, false
	warmup := cfg.Warmup + pollSettle
	for i := 0; i < cfg.MaxSteps; i++ {
		step, err := measure(c, cfg.StepTime, warmup)
		if err != nil {
			return res, err
		}
		warmup = cfg.Warmup
		step.Again = again
		res.Steps = append(res.Steps, step)
		var done bool
		c, again, done = rp.next(step.Holds)
		if again && i+1 == cfg.MaxSteps {
			break
		}
		if done {
			break
		}
	}
	markLoads(res.Steps)
	res.Held = pollHeadline(res.Steps)
	return res, nil
}

// nextRun ends a run of PollConfig.Runs and begins the next: the load
// generator stops and closes its connections, the master started here is
// restarted on its data directory, and a new load generator (new
// connections and TLS sessions, phases from the seed and the run's number)
// starts polling.
func nextRun(ctx context.Context, gen *loadGen, mp *MasterProcess, url string, adminTLS *tls.Config, grid pollGrid, cfg PollConfig, run int, progress func(string, ...any)) (*loadGen, error) {
	gen.close()
	if mp != nil {
		stop := time.Now()
		if err := mp.Restart(ctx); err != nil {
			return gen, fmt.Errorf("bench: restarting the master before run %d: %w", run, err)
		}
		progress("run %d: master restarted in %s (pid %d)", run, roundDuration(mp.Ready.Sub(stop)), mp.PID)
	}
	cfg.Seed += uint64(run - 1)
	next, err := newLoadGen(url, adminTLS, grid, cfg)
	if err != nil {
		return gen, err
	}
	next.start(ctx)
	return next, nil
}

// sourceAddrCount is how many local addresses n connections to one
// address and port need, each address with ports ephemeral ports, using at
// most three quarters of them (the rest for the machine's other
// connections and those closing): 1 when one address is enough.
func sourceAddrCount(n, ports int) int {
	per := ports * 3 / 4
	if per < 1 {
		return 1
	}
	return max(1, (n+per-1)/per)
}

// sourceAddrsFor is the default of PollConfig.SourceAddrs: for nodes each
// with its own connection to a master on 127.0.0.1, as many loopback
// addresses 127.0.1.x as sourceAddrCount says the ephemeral port range
// needs (none when one is enough, or the master is elsewhere).
func sourceAddrsFor(url string, cfg PollConfig) []string {
	if cfg.Identity != IdentityComputer || !strings.HasPrefix(url, "https://127.0.0.1:") {
		return nil
	}
	ports := 28232 // Linux's default range, 32768-60999
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && hi >= lo {
				ports = hi - lo + 1
			}
		}
	}
	k := sourceAddrCount(cfg.Nodes, ports)
	if k <= 1 {
		return nil
	}
	addrs := make([]string, min(k, 254))
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.1.%d", i+1)
	}
	return addrs
}

// moonshotNodes is how many of want real nodes one process may connect
// here: want if the open files limit can be raised to a file per node,
// else as many as its hard limit allows, with the reason ("" when want).
func moonshotNodes(want int) (int, string) {
	if raiseFileLimit(uint64(want)+pollSpareFiles) == nil {
		return want, ""
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Max <= pollSpareFiles {
		return want, ""
	}
	n := min(want, int(lim.Max-pollSpareFiles))
	return n, fmt.Sprintf("capped by the open files limit: %s per process, a hard limit that only CAP_SYS_RESOURCE may raise, and each node holds a connection in the master as in the load generator", formatNumber(float64(lim.Max)))
}

// moonshotFigure is the moonshot's headline: real nodes (own certificate
// and connection, real time, a window of two intervals after a warm-up of
// one) held with p99 under the bound on one master, against 100,000;
// limit says what capped the number of nodes ("" when nothing did).
func moonshotFigure(r PollResult, limit string) Figure {
	target := AtLeast(PollMoonshotNodes, UnitNodes)
	held := math.NaN()
	var conds []Condition
	details := fmt.Sprintf("%s computers × %d partitions, %s connections", formatNumber(float64(r.Nodes)), r.Partitions, formatNumber(float64(r.Conns)))
	if h := r.headline(); h != nil {
		if r.Held >= 0 && h.LoadHolds {
			held = h.EquivalentNodes
		}
		for _, c := range pollNodesConditions(r, *h) {
			if c.Name != "registered computers" && c.Name != "runs" { // the moonshot's own size, one run
				conds = append(conds, c)
			}
		}
		details += fmt.Sprintf(", p99 %s, master %s cores and %s, load generator %s cores and %s", formatDuration(h.Latency.P99), masterCPU(*h),
			formatBytes(float64(r.MasterPeakRSS)), formatNumber(h.LoadgenCPU), formatBytes(float64(h.LoadgenRSS)))
	}
	nodes := condAtLeast("registered computers", PollMoonshotNodes, float64(r.Nodes), countText)
	if limit != "" {
		nodes.Got += " (" + limit + ")"
	}
	conds = append(conds, nodes)
	return JudgedFigure(fmt.Sprintf("moonshot: real nodes polling every %s on one master, p99 < %s", formatInterval(r.Interval), formatDuration(PollP99Target)),
		held, UnitNodes, &target, conds, quiet, details)
}

// pollSpareFiles are the open files of the load generator and of the
// master beyond the nodes' connections (set-up clients, database, logs).
const pollSpareFiles = 512

// raiseFileLimit makes sure this process (and the master it starts, which
// inherits it) may open need files: it raises the soft limit, and the hard
// one when allowed (root), or says what to do.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("bench: reading the open files limit: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	want := lim
	want.Cur = need
	if want.Max < need {
		want.Max = need
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return fmt.Errorf("bench: poll needs about %d open files (a connection per node, in this process and in the master), the limit is %d (hard %d) and raising it failed: %w (raise the hard limit with ulimit -Hn, which needs root with CAP_SYS_RESOURCE)", need, lim.Cur, lim.Max, err)
	}
	return nil
}

// pollSettle is the extra warm-up of the first --find-max step.
const pollSettle = 5 * time.Second

func whyText(why string) string {
	if why == "" {
		return ""
	}
	return " — " + why
}

func sampleIf(pid int) (ProcSample, error) {
	if pid <= 0 {
		return ProcSample{}, errors.New("no pid")
	}
	return SampleProc(pid)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pollGrid is what set-up created: the computers (and their credentials
// when polling as computers) and the instances changes re-request.
type pollGrid struct {
	setup     PollSetup
	computers []pollComputer
	instances []pollInstance
	person    *api.Client
}

type pollComputer struct {
	id   string
	cert *tls.Certificate // IdentityComputer only
}

type pollInstance struct {
	title, computer string
}

// setUpPollGrid registers a person and cfg.Nodes computers, announces their
// partitions, supplies the software and requests the instances, each step
// with cfg.SetupWorkers concurrent calls.
func setUpPollGrid(ctx context.Context, admin *api.Client, adminTLS *tls.Config, cfg PollConfig, progress func(string, ...any)) (pollGrid, error) {
	var g pollGrid
	start := time.Now()
	run := fmt.Sprintf("B%06x", uint32(time.Now().UnixNano())&0xffffff)
	person, err := admin.AddPerson(ctx, api.AddPersonRequest{ID: run + "-PERSON", Name: "bench poll " + run})
	if err != nil {
		return g, fmt.Errorf("bench: adding the bench person: %w", err)
	}
	g.person, err = clientFromCredentials(admin.BaseURL, person.Credentials, adminTLS)
	if err != nil {
		return g, err
	}
	g.computers = make([]pollComputer, cfg.Nodes)
	for i := range g.computers {
		g.computers[i].id = fmt.Sprintf("%s-COMP-%06d", run, i)
	}
	parallel := func(what string, n int, f func(i int) error) (float64, error) {
		t0 := time.Now()
		var next atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		lastReport := time.Now()
		var mu sync.Mutex
		for range min(cfg.SetupWorkers, n) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= n || ctx.Err() != nil {
						return
					}
					if err := f(i); err != nil {
						once.Do(func() { firstErr = fmt.Errorf("bench: %s #%d: %w", what, i, err) })
						next.Store(int64(n))
						return
					}
					mu.Lock()
					if time.Since(lastReport) > 5*time.Second {
						lastReport = time.Now()
						progress("set-up: %s %d/%d", what, i+1, n)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if firstErr == nil {
			firstErr = ctx.Err()
		}
		rate := float64(n) / time.Since(t0).Seconds()
		if firstErr == nil {
			progress("set-up: %d %s at %s/s", n, what, formatNumber(rate))
		}
		return rate, firstErr
	}
	g.setup.RegisterPerSecond, err = parallel("computers registered", cfg.Nodes, func(i int) error {
		c := &g.computers[i]
		reg, err := admin.RegisterComputer(ctx, api.RegisterComputerRequest{ID: c.id, Owner: person.Person.ID, Region: "eu",
			Hardware: model.Hardware{Arch: "x86_64", CPU: 16, RAM: 65536, Disk: 1000}, Prices: model.PriceList{"hosting": 0.05}})
		if err != nil {
			return err
		}
		if cfg.Identity == IdentityComputer {
			if reg.Credentials == nil {
				return fmt.Errorf("computer %s registered without credentials", c.id)
			}
			cert, err := tls.X509KeyPair([]byte(reg.Credentials.CertificatePEM), []byte(reg.Credentials.KeyPEM))
			if err != nil {
				return fmt.Errorf("credentials of %s: %w", c.id, err)
			}
			c.cert = &cert
		}
		return nil
	})
	if err != nil {
		return g, err
	}
	g.setup.Computers = cfg.Nodes
	g.setup.CapacityPerSecond, err = parallel("capacities announced", cfg.Nodes, func(i int) error {
		c := g.computers[i]
		parts := make([]api.PartitionCapacity, cfg.Partitions)
		for p := range parts {
			parts[p] = api.PartitionCapacity{ID: "slappart" + strconv.Itoa(p), Addresses: []model.Address{
				{Iface: "lo", Addr: fmt.Sprintf("10.%d.%d.%d", i>>8&255, i&255, p&255)},
				{Iface: "lo", Addr: fmt.Sprintf("fd00:%x:%x::%x", i>>16, i&0xffff, p+2)},
			}}
		}
		if err := admin.SetCapacity(ctx, c.id, api.CapacityRequest{Partitions: parts}); err != nil {
			return err
		}
		_, err := admin.Supply(ctx, c.id, api.SupplyRequest{URL: pollSoftware, State: model.SoftwareAvailable})
		return err
	})
	if err != nil {
		return g, err
	}
	g.setup.Partitions = cfg.Nodes * cfg.Partitions
	perComputer := int(math.Round(cfg.Fill * float64(cfg.Partitions)))
	for i := range g.computers {
		for j := range perComputer {
			g.instances = append(g.instances, pollInstance{title: fmt.Sprintf("bench-%d-%d", i, j), computer: g.computers[i].id})
		}
	}
	var reqLat Histogram
	if len(g.instances) > 0 {
		g.setup.RequestPerSecond, err = parallel("instances requested", len(g.instances), func(i int) error {
			in := g.instances[i]
			t0 := time.Now()
			got, err := g.person.Request(ctx, api.InstanceRequest{Title: in.title, SoftwareRelease: pollSoftware,
				Parameters: map[string]string{"rev": "0"}, SLA: map[string]string{"computer_guid": in.computer}})
			reqLat.Record(time.Since(t0))
			if err != nil {
				return err
			}
			if got.Status != api.StatusAllocated || got.ComputerID != in.computer {
				return fmt.Errorf("instance %s: status %s on %q (%s), expected allocated on %s", in.title, got.Status, got.ComputerID, got.PendingReason, in.computer)
			}
			return nil
		})
		if err != nil {
			return g, err
		}
	}
	g.setup.Instances = len(g.instances)
	g.setup.RequestLatency = reqLat.Summary()
	if v, _, _, err := admin.ComputerView(ctx, g.computers[0].id, ""); err == nil {
		if b, err := json.Marshal(v); err == nil {
			g.setup.FullViewBytes = len(b)
		}
	} else {
		return g, fmt.Errorf("bench: reading the view of %s: %w", g.computers[0].id, err)
	}
	g.setup.Wall = time.Since(start)
	return g, nil
}

// clientFromCredentials builds an API client with credentials the master
// issued, trusting the same CA as base.
func clientFromCredentials(url string, creds api.Credentials, base *tls.Config) (*api.Client, error) {
	cert, err := tls.X509KeyPair([]byte(creds.CertificatePEM), []byte(creds.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("bench: credentials of %s: %w", creds.Identity.ID, err)
	}
	cfg := base.Clone()
	cfg.Certificates = []tls.Certificate{cert}
	if creds.CAPEM != "" {
		pool := x509.NewCertPool()
		if pool.AppendCertsFromPEM([]byte(creds.CAPEM)) {
			cfg.RootCAs = pool
		}
	}
	return api.NewClientTLS(url, cfg)
}

// loadGen drives one goroutine per virtual node.
type loadGen struct {
	url      string
	grid     pollGrid
	cfg      PollConfig
	conns    int
	period   atomic.Int64 // ns between two polls of one node
	compress atomic.Uint64
	cur      atomic.Pointer[stepStats]
	nodes    []*pollNode
	stop     context.CancelFunc
	wg       sync.WaitGroup
	closers  []func()
}

type pollNode struct {
	id     string
	client *api.Client
	etag   string
}

func newLoadGen(url string, adminTLS *tls.Config, grid pollGrid, cfg PollConfig) (*loadGen, error) {
	g := &loadGen{url: url, grid: grid, cfg: cfg}
	g.cur.Store(newStepStats())
	g.setCompress(cfg.Compress)
	transport := func(tlsCfg *tls.Config, conns int, from netip.Addr) *http.Transport {
		t := &http.Transport{
			TLSClientConfig:     tlsCfg.Clone(),
			MaxConnsPerHost:     conns,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     5 * time.Minute,
			ForceAttemptHTTP2:   cfg.HTTP2,
		}
		if from.IsValid() {
			d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
			t.DialContext = d.DialContext
		}
		if !cfg.HTTP2 {
			t.TLSClientConfig.NextProtos = []string{"http/1.1"}
			t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		g.closers = append(g.closers, t.CloseIdleConnections)
		return t
	}
	var shared *api.Client
	if cfg.Identity == IdentityAdmin {
		shared = &api.Client{BaseURL: strings.TrimRight(url, "/"), HTTP: &http.Client{Transport: transport(adminTLS, cfg.Conns, netip.Addr{}), Timeout: time.Minute}}
		g.conns = cfg.Conns
	}
	sources := make([]netip.Addr, len(cfg.SourceAddrs))
	for i, a := range cfg.SourceAddrs {
		sources[i] = netip.MustParseAddr(a) // checked by Validate
	}
	for i, c := range grid.computers {
		n := &pollNode{id: c.id, client: shared}
		if shared == nil {
			t := adminTLS.Clone()
			t.Certificates = []tls.Certificate{*c.cert}
			var from netip.Addr
			if len(sources) > 0 {
				from = sources[i%len(sources)]
			}
			n.client = &api.Client{BaseURL: strings.TrimRight(url, "/"), HTTP: &http.Client{Transport: transport(t, 1, from), Timeout: time.Minute}}
			g.conns++
		}
		g.nodes = append(g.nodes, n)
	}
	return g, nil
}

func (g *loadGen) setCompress(c float64) {
	g.compress.Store(math.Float64bits(c))
	g.period.Store(int64(float64(g.cfg.Interval) / c))
}

func (g *loadGen) offered() float64 {
	return float64(len(g.nodes)) / time.Duration(g.period.Load()).Seconds()
}

// start launches the node goroutines, each at a random phase of its
// period, and the changers.
func (g *loadGen) start(ctx context.Context) {
	ctx, g.stop = context.WithCancel(ctx)
	r := rand.New(rand.NewPCG(g.cfg.Seed, 0x706f6c6c))
	t0 := time.Now()
	for _, n := range g.nodes {
		phase := r.Float64()
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.runNode(ctx, n, t0.Add(time.Duration(phase*float64(g.period.Load()))))
		}()
	}
	if g.cfg.Changes > 0 && len(g.grid.instances) > 0 {
		g.startChangers(ctx, rand.New(rand.NewPCG(g.cfg.Seed, 0x6368616e)))
	}
}

func (g *loadGen) close() {
	if g.stop != nil {
		g.stop()
	}
	g.wg.Wait()
	for _, c := range g.closers {
		c()
	}
}

// runNode is one virtual node agent: poll at its due time with the ETag
// it last saw, forever. A poll answered late makes the next one go out at
// once (its latency still counts from when it was due); a node more than a
// whole period behind skips the polls it missed, as an agent would.
func (g *loadGen) runNode(ctx context.Context, n *pollNode, due time.Time) {
	timer := time.NewTimer(time.Until(due))
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		st := g.cur.Load()
		st.inflight.Add(1)
		sent := time.Now()
		_, etag, notModified, err := n.client.ComputerView(ctx, n.id, n.etag)
		done := time.Now()
		if ctx.Err() != nil {
			st.inflight.Add(-1)
			return
		}
		st.recordDue(due, done.Sub(due), done.Sub(sent), notModified, err)
		st.inflight.Add(-1)
		if err == nil {
			n.etag = etag
		}
		period := time.Duration(g.period.Load())
		due = due.Add(period)
		if behind := done.Sub(due); behind > period {
			missed := int64(behind / period)
			st.missed.Add(missed)
			due = due.Add(time.Duration(missed) * period)
		}
		timer.Reset(time.Until(due))
	}
}

// startChangers re-requests random instances with a new parameter at the
// rate cfg.Changes × offered nodes per interval, with a few workers; a
// change the workers cannot take at once is skipped and counted.
func (g *loadGen) startChangers(ctx context.Context, r *rand.Rand) {
	work := make(chan pollInstance, 64)
	var rev atomic.Int64
	for range 4 {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for {
				select {
				case in := <-work:
					st := g.cur.Load()
					t0 := time.Now()
					_, err := g.grid.person.Request(ctx, api.InstanceRequest{Title: in.title, SoftwareRelease: pollSoftware,
						Parameters: map[string]string{"rev": strconv.FormatInt(rev.Add(1), 10)}, SLA: map[string]string{"computer_guid": in.computer}})
					if ctx.Err() != nil {
						return
					}
					st.changeLat.Record(time.Since(t0))
					st.changes.Add(1)
					if err != nil {
						st.fail(fmt.Errorf("change of %s: %w", in.title, err))
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		next := time.Now()
		for {
			// changes per second = nodes polling per second × share changed per poll
			perSecond := g.offered() * g.cfg.Changes
			next = next.Add(time.Duration(r.ExpFloat64() / perSecond * float64(time.Second)))
			if err := sleepCtx(ctx, time.Until(next)); err != nil {
				return
			}
			select {
			case work <- g.grid.instances[r.IntN(len(g.grid.instances))]:
			default:
				g.cur.Load().changesSkipped.Add(1)
			}
		}
	}()
}

// stepStats collects one window's polls.
type stepStats struct {
	lat, svc, full, changeLat Histogram
	notModified, fullN, errs  atomic.Int64
	missed                    atomic.Int64
	changes, changesSkipped   atomic.Int64
	firstErr                  atomic.Pointer[string]
	inflight                  atomic.Int64
	// slow counts the polls slower than slowAfter by the second of the
	// window they were due in: a stall of the master shows as a cluster.
	start     time.Time
	slowAfter time.Duration
	slowMu    sync.Mutex
	slow      map[int]int
}

func newStepStats() *stepStats {
	return &stepStats{start: time.Now(), slowAfter: time.Duration(math.MaxInt64)}
}

// newWindowStats starts the stats of a measured window: polls slower than
// slowAfter are also counted by second.
func newWindowStats(slowAfter time.Duration) *stepStats {
	return &stepStats{start: time.Now(), slowAfter: slowAfter, slow: map[int]int{}}
}

func (s *stepStats) recordDue(due time.Time, latency, service time.Duration, notModified bool, err error) {
	if latency >= s.slowAfter {
		s.slowMu.Lock()
		s.slow[int(due.Sub(s.start)/time.Second)]++
		s.slowMu.Unlock()
	}
	s.record(latency, service, notModified, err)
}

func (s *stepStats) record(latency, service time.Duration, notModified bool, err error) {
	switch {
	case err != nil:
		s.fail(err)
		return
	case notModified:
		s.notModified.Add(1)
	default:
		s.fullN.Add(1)
		s.full.Record(latency)
	}
	s.lat.Record(latency)
	s.svc.Record(service)
}

func (s *stepStats) fail(err error) {
	s.errs.Add(1)
	msg := err.Error()
	s.firstErr.CompareAndSwap(nil, &msg)
}

// wait waits for the window's polls in flight, at most 10 s.
func (s *stepStats) wait() {
	for deadline := time.Now().Add(10 * time.Second); s.inflight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *stepStats) step(compress float64, g *loadGen, cfg PollConfig, window time.Duration) PollStep {
	nm, full, errs := s.notModified.Load(), s.fullN.Load(), s.errs.Load()
	answered := nm + full
	st := PollStep{
		Compress: compress, Offered: g.offered(), Window: window,
		Rate: float64(answered) / window.Seconds(), Rate304: float64(nm) / window.Seconds(),
		NotModified: nm, Full: full, Errors: errs, Missed: s.missed.Load(),
		Latency: s.lat.Summary(), Service: s.svc.Summary(), FullLatency: s.full.Summary(),
		Changes: s.changes.Load(), ChangesSkipped: s.changesSkipped.Load(), ChangeLatency: s.changeLat.Summary(),
	}
	st.EquivalentNodes = st.Offered * cfg.Interval.Seconds()
	if answered > 0 {
		st.Ratio304 = float64(nm) / float64(answered)
	}
	if p := s.firstErr.Load(); p != nil {
		st.FirstError = *p
	}
	s.slowMu.Lock()
	for sec, n := range s.slow {
		st.Slow = append(st.Slow, SlowSecond{At: sec, Polls: n})
	}
	s.slowMu.Unlock()
	slices.SortFunc(st.Slow, func(a, b SlowSecond) int { return cmp.Or(b.Polls-a.Polls, a.At-b.At) })
	st.Slow = st.Slow[:min(len(st.Slow), 5)]
	st.Holds, st.Why = judgeStep(st, cfg.MaxP99)
	return st
}

// setupTable is the set-up's table.
func setupTable(r PollResult) Table {
	return Table{
		Title:   "set-up through the API (concurrent, durable)",
		Columns: []string{"computers", "partitions", "instances", "registered/s", "capacity+supply/s", "requests/s", "request p99", "view size", "wall"},
		Rows: [][]string{{formatNumber(float64(r.Setup.Computers)), formatNumber(float64(r.Setup.Partitions)), formatNumber(float64(r.Setup.Instances)),
			formatNumber(r.Setup.RegisterPerSecond), formatNumber(r.Setup.CapacityPerSecond), formatNumber(r.Setup.RequestPerSecond),
			formatDuration(r.Setup.RequestLatency.P99), formatBytes(float64(r.Setup.FullViewBytes)), roundDuration(r.Setup.Wall)}},
	}
}

func masterCPU(st PollStep) string {
	if !st.MasterMeasured {
		return "-"
	}
	return formatNumber(st.MasterCPU)
}

// SlowSecond counts slow polls due in one second of a window.
type SlowSecond struct {
	At    int `json:"at_s"` // seconds from the window's start
	Polls int `json:"polls"`
}

// headline is the step the headline figures come from: the highest load
// that held, else the last step.
func (r PollResult) headline() *PollStep {
	switch {
	case r.Held >= 0 && r.Held < len(r.Steps):
		return &r.Steps[r.Held]
	case len(r.Steps) > 0:
		return &r.Steps[len(r.Steps)-1]
	}
	return nil
}

// runsFigures are the headline figures of repeated runs (PollConfig.Runs):
// the nodes held in every run and the runs held, both judged by judgeRuns,
// and the p99 of the run with the highest one (the step returned), judged
// on every run too: no verdict if any run's load or the runs' spread says
// so, else PASS only if that worst p99 is under maxP99.
func (r PollResult) runsFigures(heldName, gridText string, maxP99 time.Duration) (worst *PollStep, held, runs Figure, p99 *Figure) {
	worst, shortest := &r.Steps[0], r.Steps[0]
	var p99s, loads []string
	for i := range r.Steps {
		st := &r.Steps[i]
		if st.Latency.P99 > worst.Latency.P99 {
			worst = st
		}
		if st.Window < shortest.Window {
			shortest = *st
		}
		p99s = append(p99s, formatDuration(st.Latency.P99))
		loads = append(loads, fmt.Sprintf("%.2f", st.Load))
	}
	conds := pollNodesConditions(r, shortest)
	status, why := judgeRuns(r.Steps, conds, r.Cores)
	nHeld := 0
	for _, st := range r.Steps {
		if st.Holds {
			nHeld++
		}
	}
	value := math.NaN()
	if nHeld == len(r.Steps) {
		value = r.Steps[0].EquivalentNodes
	}
	nodesTarget, runsTarget := AtLeast(PollNodesTarget, UnitNodes), AtLeast(float64(len(r.Steps)), UnitRuns)
	perRun := fmt.Sprintf("p99 by run %s; load average at each run's start %s; each run after the first on a restarted master with new connections, %s warm-up, %s window",
		strings.Join(p99s, ", "), strings.Join(loads, ", "), formatDuration(r.Warmup), formatDuration(shortest.Window))
	held = Figure{Name: fmt.Sprintf("%s in every one of %d runs", heldName, len(r.Steps)), Value: value, Unit: UnitNodes, Target: &nodesTarget,
		Status: status, Why: why, Details: gridText, Conditions: conds}
	runs = Figure{Name: fmt.Sprintf("runs held with p99 < %s", formatDuration(maxP99)), Value: float64(nHeld), Unit: UnitRuns, Target: &runsTarget,
		Status: status, Why: why, Details: perRun, Conditions: conds}
	p99Target := AtMost(maxP99.Seconds(), UnitSeconds)
	p99Status, p99Why := status, why
	if status == StatusPass || status == StatusMiss {
		p99Status, p99Why = p99Target.Status(worst.Latency.P99.Seconds()), ""
	}
	p99 = &Figure{Name: fmt.Sprintf("poll latency p99 (highest of %d runs)", len(r.Steps)), Value: worst.Latency.P99.Seconds(), Unit: UnitSeconds,
		Target: &p99Target, Status: p99Status, Why: p99Why, Details: "p99 by run " + strings.Join(p99s, ", "), Conditions: conds}
	return worst, held, runs, p99
}

// Section lays the result out for reports.
func (r PollResult) Section(command string) Section {
	s := Section{Name: "poll", Title: "the master under node polls (conditional GET of computer views)", Command: command, Result: r}
	if r.Storm != nil {
		return r.stormSection(s)
	}
	h := r.headline()
	if h == nil {
		return s
	}
	maxP99 := r.MaxP99
	if maxP99 <= 0 {
		maxP99 = PollP99Target
	}
	compressed := h.Compress != 1 || r.Identity != IdentityComputer
	load := fmt.Sprintf("%s nodes polling every %s", formatNumber(h.EquivalentNodes), formatInterval(r.Interval))
	if compressed {
		load = fmt.Sprintf("%s equivalent nodes: %s %s-identity computers polling every %s over %s connections",
			formatNumber(h.EquivalentNodes), formatNumber(float64(r.Nodes)), r.Identity, formatDuration(time.Duration(float64(r.Interval)/h.Compress)), formatNumber(float64(r.Conns)))
	}
	where := load
	if r.Held < 0 {
		where += " (no load held: the last step)"
	}
	held := math.NaN()
	if r.Held >= 0 {
		held = r.Steps[r.Held].EquivalentNodes
	}
	conds := pollNodesConditions(r, *h)
	nodesTarget := AtLeast(PollNodesTarget, UnitNodes)
	heldName := fmt.Sprintf("nodes polling every %s held with p99 < %s", formatInterval(r.Interval), formatDuration(maxP99))
	if compressed {
		heldName = fmt.Sprintf("equivalent nodes (computers × compression) held with p99 < %s", formatDuration(maxP99))
	}
	gridText := fmt.Sprintf("%s computers × %d partitions, %s identity, %s connections", formatNumber(float64(r.Nodes)), r.Partitions, r.Identity, formatNumber(float64(r.Conns)))
	p99 := AtMost(maxP99.Seconds(), UnitSeconds)
	var runsP99 *Figure // the p99 figure of repeated runs (judged on every run)
	if r.Runs > 1 {
		var heldFig, runsFig Figure
		h, heldFig, runsFig, runsP99 = r.runsFigures(heldName, gridText, maxP99)
		where = fmt.Sprintf("%s, the run with the highest p99 (run %d of %d)", load, h.Run, r.Runs)
		s.Figures = append(s.Figures, heldFig, runsFig)
	} else {
		s.Figures = append(s.Figures, JudgedFigure(heldName, held, UnitNodes, &nodesTarget, conds, quiet, gridText))
	}
	// Throughput: the highest rate of 304 answers among the loads that held.
	best304, best := math.NaN(), -1
	for i, st := range r.Steps {
		if st.LoadHolds && (best < 0 || st.Rate304 > best304) {
			best304, best = st.Rate304, i
		}
	}
	details := "no load held"
	if best >= 0 {
		details = fmt.Sprintf("p99 %s at that load (%s equivalent nodes)", formatDuration(r.Steps[best].Latency.P99), formatNumber(r.Steps[best].EquivalentNodes))
	}
	t304 := AtLeast(Poll304Target, UnitPerSecond)
	s.Figures = append(s.Figures, JudgedFigure(fmt.Sprintf("conditional GETs answered 304/s sustained over %s connections (p99 < %s)", formatNumber(float64(r.Conns)), formatDuration(maxP99)),
		best304, UnitPerSecond, &t304, []Condition{{Name: "load", Want: "raised until p99 fails (--find-max)", Got: map[bool]string{true: "raised", false: "fixed"}[r.FindMax], Met: r.FindMax}}, quiet, details))
	p99Fig := JudgedFigure("poll latency p99", h.Latency.P99.Seconds(), UnitSeconds, &p99, conds, quiet, where)
	if runsP99 != nil {
		p99Fig = *runsP99
	}
	s.Figures = append(s.Figures,
		NewFigure("poll latency p50", h.Latency.P50.Seconds(), UnitSeconds, nil, where),
		p99Fig,
		NewFigure("poll latency p99.9", h.Latency.P999.Seconds(), UnitSeconds, nil, where),
		NewFigure("304 ratio", h.Ratio304, UnitRatio, nil, fmt.Sprintf("%s of nodes changed per %s", formatPercent(r.Changes), formatInterval(r.Interval))),
	)
	if h.MasterMeasured {
		s.Figures = append(s.Figures,
			NewFigure("master CPU", h.MasterCPU, UnitCores, nil, where),
			NewFigure("master peak RSS", float64(r.MasterPeakRSS), UnitBytes, nil, fmt.Sprintf("%s partitions, %s instances", formatNumber(float64(r.Setup.Partitions)), formatNumber(float64(r.Setup.Instances)))))
	}
	if r.Setup.Instances > 0 {
		req := AtLeast(500, UnitPerSecond)
		s.Figures = append(s.Figures, NewFigure("instance requests (durable)", r.Setup.RequestPerSecond, UnitPerSecond, &req,
			fmt.Sprintf("set-up, %d concurrent clients, p99 %s", r.Workers, formatDuration(r.Setup.RequestLatency.P99))))
	}
	t := Table{
		Title: "load steps (latency from the moment each poll was due; full = 200 answers with the view)",
		Columns: []string{"equiv. nodes", "offered/s", "answered/s", "304/s", "304 ratio", "p50", "p99", "p99.9", "full p99",
			"change p99", "errors", "master CPU", "loadgen CPU", "master RSS", "loadgen RSS", "holds"},
	}
	if r.Runs > 1 {
		t.Title = fmt.Sprintf("runs (each: %s warm-up, then the window; after the first, on a restarted master with new connections; latency from the moment each poll was due; full = 200 answers with the view)", formatDuration(r.Warmup))
		t.Columns = append([]string{"run", "load at start"}, t.Columns...)
	}
	for _, st := range r.Steps {
		holds := "yes"
		switch {
		case !st.Holds:
			holds = "no: " + st.Why
		case !st.LoadHolds:
			holds = "yes, but another measure of this load did not"
		}
		if st.Again {
			holds = "again: " + holds
		}
		full := "-"
		if st.FullLatency.Count > 0 {
			full = formatDuration(st.FullLatency.P99)
		}
		change := "-"
		if st.ChangeLatency.Count > 0 {
			change = formatDuration(st.ChangeLatency.P99)
		}
		rss, genRSS := "-", "-"
		if st.MasterRSS > 0 {
			rss = formatBytes(float64(st.MasterRSS))
		}
		if st.LoadgenRSS > 0 {
			genRSS = formatBytes(float64(st.LoadgenRSS))
		}
		row := []string{
			formatNumber(st.EquivalentNodes), formatNumber(st.Offered), formatNumber(st.Rate), formatNumber(st.Rate304),
			formatPercent(st.Ratio304), formatDuration(st.Latency.P50), formatDuration(st.Latency.P99), formatDuration(st.Latency.P999),
			full, change, strconv.FormatInt(st.Errors, 10), masterCPU(st), formatNumber(st.LoadgenCPU), rss, genRSS, holds,
		}
		if r.Runs > 1 {
			row = append([]string{strconv.Itoa(st.Run), fmt.Sprintf("%.2f", st.Load)}, row...)
		}
		t.Rows = append(t.Rows, row)
	}
	s.Tables = append(s.Tables, t)
	s.Tables = append(s.Tables, setupTable(r))
	for _, st := range r.Steps {
		if len(st.Slow) == 0 {
			continue
		}
		var at []string
		for _, x := range st.Slow {
			at = append(at, fmt.Sprintf("+%ds: %d", x.At, x.Polls))
		}
		s.Notes = append(s.Notes, fmt.Sprintf("at %s equivalent nodes, polls of %s or more were due at (seconds into the window: polls) %s",
			formatNumber(st.EquivalentNodes), formatDuration(maxP99), strings.Join(at, ", ")))
	}
	if len(r.SourceAddrs) > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("the nodes' connections come from %d local addresses (%s … %s), each with its own range of ephemeral ports", len(r.SourceAddrs), r.SourceAddrs[0], r.SourceAddrs[len(r.SourceAddrs)-1]))
	}
	if r.External {
		s.Notes = append(s.Notes, fmt.Sprintf("against a running master, %s (pid %d; 0: its CPU and memory were not measured); its data may hold more than what this run set up", r.MasterURL, r.MasterPID))
	}
	proto := "HTTP/1.1 keep-alive"
	if r.HTTP2 {
		proto = "HTTP/2"
	}
	switch r.Identity {
	case IdentityAdmin:
		s.Notes = append(s.Notes, fmt.Sprintf("virtual nodes poll with the admin certificate over a shared pool of %d TLS 1.3 connections (%s); the master authorizes the admin to read any view", r.Conns, proto))
	default:
		s.Notes = append(s.Notes, fmt.Sprintf("each virtual node polls with its own computer certificate over its own TLS 1.3 connection (%d connections, %s)", r.Conns, proto))
	}
	s.Notes = append(s.Notes,
		fmt.Sprintf("%d computers are registered; each polls every %s/compress, so the master sees the load of computers×compress nodes polling every %s (equivalent nodes)", r.Nodes, formatInterval(r.Interval), formatInterval(r.Interval)),
		"the load generator runs on the same machine as the master and shares its cores (its CPU is in the table)")
	return s
}
