package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/slapgo/slapgo/bench"
	"github.com/slapgo/slapgo/core/alloc"
)

func init() {
	rootCmd.AddCommand(newBenchCmd())
}

// newBenchCmd builds `slapgo bench alloc|poll|storm|sim|all`.
func newBenchCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the allocator, the master under polls, reconfiguration storms and the simulator",
		Long: `Benchmarks capacity planners can reproduce on their own machines.

Every command first states the machine (cores, CPU, memory, Go version,
kernel), then prints its figures with the project's target and PASS or MISS
next to each, and the command that reproduces them. --json prints the same
as JSON. Every figure comes from the run just made.`,
	}
	cmd.PersistentFlags().BoolVar(&jsonOut, "json", false, "print JSON instead of tables")
	cmd.AddCommand(
		newBenchAllocCmd(&jsonOut),
		newBenchPollCmd(&jsonOut),
		newBenchStormCmd(&jsonOut),
		newBenchSimCmd(&jsonOut),
		newBenchAllCmd(),
		newBenchCompareCmd(&jsonOut),
	)
	return cmd
}

// printReport writes a one-section report as text or JSON; machine was
// read when the command started (its load average is the one before).
func printReport(cmd *cobra.Command, jsonOut bool, machine bench.Machine, started time.Time, sec bench.Section) error {
	sec.Started = started
	sec.Wall = time.Since(started)
	sec.Load = machine.LoadAverage
	sec.ApplyLoadBound(machine.Cores)
	rep := bench.Report{Machine: machine, Started: started, Sections: []bench.Section{sec}}
	if jsonOut {
		return rep.WriteJSON(cmd.OutOrStdout())
	}
	return rep.WriteText(cmd.OutOrStdout())
}

// commandLine is the command as typed, rebuilt from the flags that were
// set (--json left out), so a report says how to reproduce it.
func commandLine(cmd *cobra.Command) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "json" {
			return
		}
		if arr, ok := f.Value.(pflag.SliceValue); ok && strings.HasSuffix(f.Value.Type(), "Array") {
			for _, v := range arr.GetSlice() { // a repeatable flag: once per value
				parts = append(parts, "--"+f.Name, shellQuote(v))
			}
			return
		}
		v := f.Value.String()
		if strings.HasSuffix(f.Value.Type(), "Slice") {
			v = strings.Trim(v, "[]")
		}
		if f.Value.Type() == "bool" {
			if v == "true" {
				parts = append(parts, "--"+f.Name)
			} else {
				parts = append(parts, "--"+f.Name+"=false")
			}
			return
		}
		parts = append(parts, "--"+f.Name, shellQuote(v))
	})
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// selfBinary is the running slapgo, used to start masters, node agents
// and simulations as child processes when --bin is not given.
func selfBinary(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the slapgo binary (give --bin): %w", err)
	}
	return exe, nil
}

func newBenchAllocCmd(jsonOut *bool) *cobra.Command {
	cfg := bench.DefaultAllocConfig()
	var policies []string
	cmd := &cobra.Command{
		Use:   "alloc",
		Short: "Placements per second of core/alloc over computers × partitions × fill × policy",
		Long: `Placements per second of the allocator (core/alloc) on one core, over a grid of
market sizes, partitions per computer, fill ratios and every ranking policy.

Each placement takes the chosen partition, as the master does. Every cell is
warmed up, then timed --reps times for --rep-time; the table gives the median
and the spread ((max-min)/median) of the repetitions. Target: >= 50,000/s.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			started := time.Now()
			machine := bench.ReadMachine()
			cfg.Policies = cfg.Policies[:0]
			for _, p := range policies {
				pol, err := alloc.ParsePolicy(p)
				if err != nil {
					return fmt.Errorf("--policy: %w", err)
				}
				cfg.Policies = append(cfg.Policies, pol)
			}
			res, err := bench.RunAlloc(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return printReport(cmd, *jsonOut, machine, started, res.Section(commandLine(cmd)))
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&cfg.Computers, "computers", cfg.Computers, "market sizes (computers)")
	f.IntSliceVar(&cfg.Partitions, "partitions", cfg.Partitions, "partitions per computer")
	f.IntSliceVar(&cfg.Fills, "fill", cfg.Fills, "percent of partitions busy at the start")
	f.StringSliceVar(&policies, "policy", policyNames(), "ranking policies")
	f.IntVar(&cfg.Repetitions, "reps", cfg.Repetitions, "timed repetitions per cell")
	f.DurationVar(&cfg.RepTime, "rep-time", cfg.RepTime, "length of one repetition")
	f.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "untimed placements before the repetitions")
	return cmd
}

func policyNames() []string {
	var names []string
	for _, p := range alloc.Policies() {
		names = append(names, string(p))
	}
	return names
}

func newBenchPollCmd(jsonOut *bool) *cobra.Command {
	cfg := bench.DefaultPollConfig()
	cmd := &cobra.Command{
		Use:   "poll [--nodes N] [--partitions P] [--find-max]",
		Short: "The master under polls of virtual node agents: requests/s, latency, 304 ratio, CPU, RSS",
		Long: `Start a real master on loopback ("slapgo master init" and "serve" in a temporary
data directory), or measure a running one (any slapgo master, from this other
process) with --against URL and its admin --cert,
--key and --ca; register --nodes computers with --partitions partitions through
the API, supply them and fill a share (--fill) of their partitions with
instances; then drive one virtual node agent per computer, polling its view
every --interval divided by --compress with If-None-Match (304 when nothing
changed), while a share (--changes) of nodes per interval see their view
change (an instance re-requested), so some polls get the full view.

Reports polls/s, latency p50/p99/p99.9 (from the moment each poll was due),
the 304 ratio, the master's CPU and RSS (from /proc). --find-max raises the
load step by step to find the highest number of equivalent nodes (computers ×
compress) whose p99 stays under --max-p99: the headline.
--reconnect-storm measures the case that stresses a master most: after a
master restart (the master this command started, stopped with SIGTERM and
served again on the same address; an --against one only loses its
connections), every node polls once at a random moment of --storm-within,
each with its own certificate, connection and TLS session cache (the node
agent's API client). Reports the time until every node has its view, each
node's time to its view (p50, p99), the master's CPU and peak RSS.

--runs N repeats the warm-up and the window N times (the master started here
restarted between runs, new connections each run): the target is then judged
on every run, PASS only if each one holds.

Targets: 304 >= 5,000/s (find-max); 10,000 real nodes (--identity computer,
--compress 1, a window of two intervals after a warm-up of one) polling each
minute with p99 < 100 ms in 3 of 3 runs (--runs 3); a reconnect storm of
10,000 nodes after a restart served within 30 s. A figure measured otherwise
is reported with n/a.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			started := time.Now()
			machine := bench.ReadMachine()
			if cfg.MasterURL == "" {
				bin, err := selfBinary(cfg.Bin)
				if err != nil {
					return err
				}
				cfg.Bin = bin
			}
			if cfg.Storm && !cmd.Flags().Changed("identity") {
				cfg.Identity = bench.IdentityComputer // a storm of real nodes
			}
			cfg.Progress = cmd.ErrOrStderr()
			res, err := bench.RunPoll(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return printReport(cmd, *jsonOut, machine, started, res.Section(commandLine(cmd)))
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "computers to register, one virtual node agent each")
	f.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "partitions per computer")
	f.Float64Var(&cfg.Fill, "fill", cfg.Fill, "share of partitions holding an instance")
	f.DurationVar(&cfg.Interval, "interval", cfg.Interval, "poll interval of a node agent")
	f.Float64Var(&cfg.Compress, "compress", cfg.Compress, "time compression: each virtual node polls every interval/compress")
	f.Float64Var(&cfg.Changes, "changes", cfg.Changes, "share of nodes whose view changes per interval")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window (without --find-max)")
	f.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "load before each measured window")
	f.IntVar(&cfg.Runs, "runs", cfg.Runs, "repeat the warm-up and window this many times, each run after the first on a restarted master with new connections (the target must hold in every run)")
	f.DurationVar(&cfg.Settle, "settle", cfg.Settle, "with --runs, longest wait before each run for the load average to fall under one per core (0: no wait)")
	f.StringVar(&cfg.Identity, "identity", cfg.Identity, "certificate the virtual nodes poll with: admin (shared connection pool) or computer (one certificate and connection each)")
	f.IntVar(&cfg.Conns, "conns", cfg.Conns, "connections of the shared pool (identity admin)")
	f.BoolVar(&cfg.HTTP2, "http2", cfg.HTTP2, "negotiate HTTP/2 instead of HTTP/1.1 keep-alive")
	f.BoolVar(&cfg.FindMax, "find-max", cfg.FindMax, "raise the load step by step to find the most nodes held under --max-p99")
	f.DurationVar(&cfg.MaxP99, "max-p99", cfg.MaxP99, "p99 latency a load must stay under to hold")
	f.DurationVar(&cfg.StepTime, "step", cfg.StepTime, "measured window of each --find-max step")
	f.IntVar(&cfg.MaxSteps, "max-steps", cfg.MaxSteps, "most --find-max steps")
	f.BoolVar(&cfg.Storm, "reconnect-storm", false, "instead of steady polls: restart the master, then every node polls once within --storm-within (each its own certificate)")
	f.DurationVar(&cfg.StormWithin, "storm-within", cfg.StormWithin, "the reconnect storm's nodes arrive at random moments of this window")
	f.DurationVar(&cfg.StormTimeout, "storm-timeout", cfg.StormTimeout, "a node not served this long after the storm began counts as failed")
	f.BoolVar(&cfg.StormCold, "storm-cold", false, "the storm's nodes have no ETag (every answer is a full view)")
	f.BoolVar(&cfg.StormCut, "storm-cut", false, "do not restart the master: only the connections drop (a network cut; the nodes may resume their TLS sessions)")
	f.BoolVar(&cfg.StormNoResume, "storm-no-resume", false, "the storm's nodes do not resume TLS sessions (to measure what resumption saves)")
	f.IntVar(&cfg.SetupWorkers, "setup-workers", cfg.SetupWorkers, "concurrent API calls during set-up")
	f.StringSliceVar(&cfg.SourceAddrs, "source-addrs", nil, "local `ADDRS` the nodes connect from, in turn (default: the system's choice, or as many 127.0.1.x as the ephemeral ports need for a master on 127.0.0.1)")
	f.StringVar(&cfg.MasterURL, "against", "", "measure this running master instead of starting one (https://host:port)")
	f.StringVar(&cfg.MasterURL, "master", "", "the same as --against")
	f.MarkHidden("master")
	f.StringVar(&cfg.Cert, "cert", "", "admin certificate of --against")
	f.StringVar(&cfg.Key, "key", "", "admin key of --against")
	f.StringVar(&cfg.CA, "ca", "", "CA certificate of --against")
	f.IntVar(&cfg.MasterPID, "master-pid", 0, "process id of --against, to report its CPU and RSS (default: the local process listening on its port)")
	f.StringVar(&cfg.Bin, "bin", "", "slapgo binary to start the master with (default: this one)")
	f.StringVar(&cfg.Dir, "dir", "", "`DIR` for the master's data (default: a temporary one, removed after)")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the poll phases and of the changes")
	return cmd
}

func newBenchStormCmd(jsonOut *bool) *cobra.Command {
	cfg := bench.DefaultStormConfig()
	incrementalOnly := false
	var profile string
	cmd := &cobra.Command{
		Use:   "storm [--partitions 300]",
		Short: "A reconfiguration storm on a real node agent: time to converge, per-partition times, incremental vs full",
		Long: `Start a master on loopback and a real node agent (in this process; unprivileged,
partitions run as the current user on a 127.x network drawn for the run, so
that storms can run side by side; with
--privileged, as root, each partition runs as its own user, made for the run
and removed after) with
--partitions partitions; build --software and deploy an instance on every
partition; then change every instance at once (a reconfiguration storm) and
run instance passes until the node converged. Reports the time to converge,
the per-partition configuration time (p50, p99), a pass with nothing changed
and a single change; then the same with incremental reconfiguration switched
off (every partition reconfigured on every pass), side by side.
Then, with --poll-interval, the storm as a node lives it: the node agent's
daemon (as "slapgo node run") polls the master every --poll-interval
(counted from the end of its last pass, plus jitter). --live-runs times, the
bench waits for a pass of the daemon (seen in its log), gives every
instance a new port at a drawn phase of its next cycle, from a poll to the
next (one phase per --live-runs-th of the cycle, from --seed), and reads the master until each instance
published its new URL and is reported started: the time from the master's
change to the last partition converged (its new URL at the master, reported
started, and serving the page of its new configuration), split into the
wait for the daemon's next poll and the work after it, per run and as
min/median/max; per-partition p50/p99, the agent's CPU and peak RSS.
Target: a storm of 300 partitions converges in <= 30 s (moonshot for the
live storm: <= 10 s), in every one of 5 or more live runs; other sizes and
fewer runs are reported with n/a.

The JSON output (--json) carries a calibration for the simulator: lognormal
models of the deployment and configuration times, as "slapgo sim run --set"
overrides and as a scenario snippet; "slapgo bench sim --calibration FILE"
applies them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			started := time.Now()
			machine := bench.ReadMachine()
			bin, err := selfBinary(cfg.Bin)
			if err != nil {
				return err
			}
			cfg.Bin, cfg.Full = bin, !incrementalOnly
			cfg.Progress = cmd.ErrOrStderr()
			stop, err := startCPUProfile(profile)
			if err != nil {
				return err
			}
			res, err := bench.RunStorm(cmd.Context(), cfg)
			stop()
			if err != nil {
				return err
			}
			return printReport(cmd, *jsonOut, machine, started, res.Section(commandLine(cmd)))
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "partitions of the node, all changed at once")
	f.StringVar(&cfg.Software, "software", cfg.Software, "software release profile (path or URL) the instances run")
	f.BoolVar(&incrementalOnly, "incremental-only", false, "skip the storm with incremental reconfiguration switched off")
	f.DurationVar(&cfg.PhaseTimeout, "phase-timeout", cfg.PhaseTimeout, "longest a phase may take")
	f.DurationVar(&cfg.PollInterval, "poll-interval", cfg.PollInterval, "poll interval of the node agent's daemon in the live storm (0: no live storm)")
	f.IntVar(&cfg.LiveRuns, "live-runs", cfg.LiveRuns, fmt.Sprintf("live storms, each at its own phase of the daemon's cycle (the targets are judged on %d or more)", bench.StormLiveRuns))
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the phases at which the live storms' changes land")
	f.BoolVar(&cfg.Privileged, "privileged", false, "run the partitions as their own users, made for the run and removed after (root only)")
	f.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the bench's process (the node agent runs in it; the master and the partitions' programs are other processes) to this `FILE` (go tool pprof)")
	f.StringVar(&cfg.Bin, "bin", "", "slapgo binary for the master and the promises (default: this one)")
	f.StringVar(&cfg.Dir, "dir", "", "`DIR` for the master and the node (default: a temporary one, removed after)")
	f.BoolVar(&cfg.KeepDir, "keep", false, "keep --dir (or the temporary directory) after the run")
	return cmd
}

func newBenchSimCmd(jsonOut *bool) *cobra.Command {
	cfg := bench.DefaultSimConfig()
	var calibration string
	var sizes []string
	for _, z := range cfg.Sizes {
		sizes = append(sizes, z.String())
	}
	cmd := &cobra.Command{
		Use:   "sim [--nodes 100,1000,5000]",
		Short: "The simulator's speed on a scenario at several grid sizes: wall time, events/s, virtual/real, peak RSS",
		Long: `Run the simulator ("slapgo sim run", each size as a child process) on a scenario
(default the baseline: one day of a grid of 300-partition nodes) resized to
each --nodes, and report the wall time, the events per second, the
virtual-to-real time ratio and the peak RSS (rusage maxrss) of each run.
With --scale-workload (default) the request rate, the initial instances,
the requesters and the bursts scale with the number of nodes.
--calibration FILE applies the configuration-time model measured by
"slapgo bench storm --json > FILE".
Targets (CPU time, user + system): 1,000 nodes × 300 partitions × 24 h in
<= 15 s and <= 2 GiB; 10,000 nodes × 300 partitions × 24 h (--nodes 10000)
in <= 10 min and <= 16 GiB. A run of either size over another number of
partitions or another duration is n/a.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			started := time.Now()
			machine := bench.ReadMachine()
			bin, err := selfBinary(cfg.Bin)
			if err != nil {
				return err
			}
			cfg.Bin = bin
			cfg.Sizes = cfg.Sizes[:0]
			for _, z := range sizes {
				size, err := bench.ParseSimSize(z)
				if err != nil {
					return fmt.Errorf("--nodes: %w", err)
				}
				cfg.Sizes = append(cfg.Sizes, size)
			}
			if calibration != "" {
				data, err := os.ReadFile(calibration)
				if err != nil {
					return fmt.Errorf("--calibration: %w", err)
				}
				sets, err := bench.ReadCalibration(data)
				if err != nil {
					return fmt.Errorf("--calibration %s: %w", calibration, err)
				}
				cfg.Set = append(cfg.Set, sets...)
			}
			cfg.Progress = cmd.ErrOrStderr()
			res, err := bench.RunSim(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return printReport(cmd, *jsonOut, machine, started, res.Section(commandLine(cmd)))
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Scenario, "scenario", cfg.Scenario, "scenario `FILE`")
	f.StringSliceVar(&sizes, "nodes", sizes, "grid sizes, one run each: nodes, or nodes:virtual-duration (5000:6h)")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "root seed of every run")
	f.BoolVar(&cfg.ScaleWorkload, "scale-workload", cfg.ScaleWorkload, "scale the workload with the number of nodes")
	f.StringArrayVar(&cfg.Set, "set", nil, "extra scenario override key=value for every run (repeatable)")
	f.StringVar(&calibration, "calibration", "", "`FILE`: JSON written by slapgo bench storm --json; use its configuration-time model")
	f.StringVar(&cfg.Out, "out", "", "`DIR` for each run's outputs (default: a temporary one, removed after)")
	f.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "longest one run may take")
	f.StringVar(&cfg.Bin, "bin", "", "slapgo binary to run the simulator with (default: this one)")
	return cmd
}

func newBenchAllCmd() *cobra.Command {
	cfg := bench.DefaultAllConfig()
	cmd := &cobra.Command{
		Use:   "all [--out bench/results]",
		Short: "Every benchmark at sizes that fit in about half an hour; writes latest.md and latest.json",
		Long: `Run every benchmark one after the other, the allocator first (while the
machine is quiet): the allocator grid; the master under polls (--find-max on
1,000 computers, then 10,000 computers each polling every minute with its own
certificate, in real time, three runs, then a reconnect storm of 10,000 nodes
after a master restart, then the moonshot: 100,000 real nodes on one master,
or as many as the open files limit lets one process connect); a storm of 300 partitions on a real node agent,
incremental and full, then the same with a user per partition (as root only;
otherwise reported n/a); the simulator on the baseline at 100 and 1,000
nodes. Writes OUT/latest.md and OUT/latest.json, and prints the report
(--json: as JSON). A section that fails is reported and the others still run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := selfBinary(cfg.Bin)
			if err != nil {
				return err
			}
			cfg.Bin = bin
			cfg.Progress = cmd.ErrOrStderr()
			rep, runErr := bench.RunAll(cmd.Context(), cfg)
			// Whatever failed, what was measured is written and printed.
			var errs []error
			if cfg.Out != "" && len(rep.Sections) > 0 {
				if err := bench.WriteResults(cfg.Out, rep); err != nil {
					errs = append(errs, err)
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "bench all: wrote %s and %s\n", filepath.Join(cfg.Out, "latest.md"), filepath.Join(cfg.Out, "latest.json"))
				}
			}
			jsonOut, _ := cmd.Flags().GetBool("json")
			if jsonOut {
				errs = append(errs, rep.WriteJSON(cmd.OutOrStdout()))
			} else {
				errs = append(errs, rep.WriteText(cmd.OutOrStdout()))
			}
			return errors.Join(append([]error{runErr}, errs...)...)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Out, "out", cfg.Out, "`DIR` for latest.md and latest.json (empty: write nothing)")
	f.StringSliceVar(&cfg.Skip, "skip", nil, "sections to skip: alloc, poll, poll-nodes, poll-storm, poll-moonshot, storm, storm-privileged, sim")
	f.Var(&simSizesFlag{&cfg.Sim.Sizes}, "sim-nodes", "simulator sizes: nodes or nodes:virtual-duration, comma-separated")
	f.IntVar(&cfg.PollNodes.Nodes, "poll-nodes", cfg.PollNodes.Nodes, "computers polling in real time in the poll-nodes section")
	f.DurationVar(&cfg.PollNodes.Duration, "poll-nodes-window", cfg.PollNodes.Duration, "measured window of the poll-nodes section (the target needs two poll intervals)")
	f.IntVar(&cfg.PollNodes.Runs, "poll-nodes-runs", cfg.PollNodes.Runs, "runs of the poll-nodes section (the target needs 3 of 3)")
	f.IntVar(&cfg.PollStorm.Nodes, "poll-storm-nodes", cfg.PollStorm.Nodes, "nodes of the reconnect storm (poll-storm section)")
	f.IntVar(&cfg.PollMoonshot.Nodes, "poll-moonshot-nodes", cfg.PollMoonshot.Nodes, "real nodes of the moonshot on one master (poll-moonshot section; fewer if the open files limit cannot be raised)")
	f.IntVar(&cfg.Storm.Partitions, "storm-partitions", cfg.Storm.Partitions, "partitions of the storm")
	f.IntVar(&cfg.StormPrivileged.Partitions, "storm-privileged-partitions", cfg.StormPrivileged.Partitions, "partitions of the privileged storm (a user each; as root only)")
	f.DurationVar(&cfg.Settle, "settle", cfg.Settle, "longest wait before each section for the load average to fall under one per core (0: no wait)")
	f.StringVar(&cfg.Bin, "bin", "", "slapgo binary for masters, node agent promises and simulations (default: this one)")
	return cmd
}

// simSizesFlag is a pflag.Value of simulator sizes ("100,1000,5000:2h").
type simSizesFlag struct{ sizes *[]bench.SimSize }

func (f *simSizesFlag) String() string {
	var s []string
	for _, z := range *f.sizes {
		s = append(s, z.String())
	}
	return strings.Join(s, ",")
}

func (f *simSizesFlag) Set(v string) error {
	var sizes []bench.SimSize
	for part := range strings.SplitSeq(v, ",") {
		z, err := bench.ParseSimSize(part)
		if err != nil {
			return err
		}
		sizes = append(sizes, z)
	}
	*f.sizes = sizes
	return nil
}

func (f *simSizesFlag) Type() string { return "sizes" }

func newBenchCompareCmd(jsonOut *bool) *cobra.Command {
	cfg := bench.CompareConfig{Runs: 3}
	cmd := &cobra.Command{
		Use:   "compare --base BIN_A --new BIN_B BENCH [FLAGS…]",
		Short: "Run one benchmark with two slapgo binaries alternately and print new/base ratios with their spread",
		Long: `Did this change make it faster? Run the same benchmark, with the same flags,
with two slapgo binaries alternately (base, new, base, new …, --runs times
each), each as "BIN bench BENCH FLAGS… --json", so that the machine's noise
hits both sides; then print, for every figure, the medians, the ratio
new/base, the lowest and highest ratio of a pair of runs, each side's
spread, and whether the difference is beyond that noise.

Everything after BENCH goes to the benchmark:
  slapgo bench compare --base ./slapgo-main --new ./slapgo alloc --computers 1000 --reps 5
  slapgo bench compare --base ./slapgo-main --new ./slapgo --runs 2 poll --nodes 1000 --find-max
A benchmark that starts processes (poll, storm, sim) starts them from the
binary under test.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			started := time.Now()
			machine := bench.ReadMachine()
			cfg.Args = args
			cfg.Progress = cmd.ErrOrStderr()
			res, err := bench.RunCompare(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return printReport(cmd, *jsonOut, machine, started, res.Section(commandLine(cmd)+" "+shellJoin(args)))
		},
	}
	cmd.Flags().SetInterspersed(false) // flags after BENCH are the benchmark's
	f := cmd.Flags()
	f.StringVar(&cfg.Base, "base", "", "the slapgo binary to compare against (A)")
	f.StringVar(&cfg.New, "new", "", "the slapgo binary under test (B)")
	f.IntVar(&cfg.Runs, "runs", cfg.Runs, "runs of each binary")
	cmd.MarkFlagRequired("base")
	cmd.MarkFlagRequired("new")
	return cmd
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
