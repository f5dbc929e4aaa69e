package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/internal/hugepages"
	"github.com/slapgo/slapgo/sim"
	"github.com/slapgo/slapgo/sim/output"
	"github.com/slapgo/slapgo/sim/scenario"
	"github.com/slapgo/slapgo/sim/sweep"
	"github.com/spf13/cobra"
)

func init() {
	rootCmd.AddCommand(newSimCmd())
}

// newSimCmd builds `slapgo sim` and its sub-commands.
func newSimCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the deterministic simulator",
		Long: `The simulator drives the same decision code as the master and the node agent
(core/master, core/alloc, core/converge, core/account) over virtual nodes, with
virtual time and seeded randomness: the same scenario and seed give the same
trace hash on any machine.

Scenarios are YAML files (see fixtures/scenarios). Any field can be changed from
the command line with --set key=value, where key is the field's path as errors
print it: --set duration=2h --set nodes[0].count=100
--set master.provisioning_delay=15m.

Unless GOGC or GOMEMLIMIT are set, the garbage collector runs at GOGC=400 with a
soft memory limit: "sim run" sizes it to the scenario's grid (see its
--memory-limit), "sim sweep" sets 4 GiB (raise GOMEMLIMIT for grids beyond
1,500 nodes).`,
	}
	cmd.PersistentPreRun = func(cmd *cobra.Command, args []string) { tuneGC() }
	cmd.PersistentFlags().BoolVar(&hugePages, "huge-pages", true, "have the heap backed by transparent huge pages where Linux gives them to programs that ask (THP madvise): one page fault per 2 MiB instead of per 4 KiB")
	cmd.AddCommand(newSimRunCmd(), newSimSweepCmd())
	return cmd
}

// tuneGC trades memory for speed in simulations: a large, long-lived heap
// (the whole grid) scanned at every doubling costs a quarter of the CPU.
// Unless GOGC or GOMEMLIMIT say otherwise, the collector runs at 400% of
// the live heap, and harder as the heap nears 4 GiB ("sim run" then sets
// its own limit, see runMemoryLimit). The soft limit, not GOGC, bounds the
// heap of a large grid: GOGC only spaces the collections while the grid
// is being built (the 1,000-node baseline's first hour: 6 collections
// instead of 12 at GOGC=200, about 2 s of CPU less, the same peak; with
// no GOGC at all the heap is at its limit from the start and the pages
// touched cost more system time than the collections saved).
//
// Once the grid is built, "sim run" goes back to Go's default, 100%
// (runGCPercent): what the day allocates is mostly garbage, and each page
// a larger goal lets it spread over is a page the kernel must hand over
// and zero at first touch (14 µs a page on a 2-core VM, a quarter of the
// run's CPU). There, one run at a time (alternating, 4 runs each): the
// 1,000-node baseline day 20.2 s of CPU at 400% after the build, 19.2 s
// at 100%, its peak 1.66 GB against 1.33 GB; the speculation scenario
// 3.24 s against 3.12 s. A sweep keeps 400% throughout: its runs, side
// by side, are at different stages.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(4 << 30)
	}
}

// hugePages is sim's --huge-pages.
var hugePages = true

// reserveHugePages has the heap the run will build backed by huge pages
// (internal/hugepages), up to the run's soft memory limit, which sizes it
// to the grid: the speculation scenario then takes 5,000 page faults
// instead of 48,000, the 1,000-node baseline day 11,000 instead of
// 330,000. On a 2-core VM where a fault costs 14 µs, that is 10–25% of
// their CPU. A refusal is reported, and the run goes on without.
func reserveHugePages(stderr io.Writer) {
	if !hugePages {
		return
	}
	if _, err := hugepages.Reserve(debug.SetMemoryLimit(-1)); err != nil {
		fmt.Fprintf(stderr, "warning: %v: the heap uses ordinary pages\n", err)
	}
}

// runGCPercent is the collector's target once a run's grid is built
// (tuneGC).
const runGCPercent = 100

func newSimRunCmd() *cobra.Command {
	var (
		seed      uint64
		out       string
		sets      []string
		traceFile string
		profile   string
		memprof   string
		memLimit  string
		quiet     bool
	)
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Simulate one scenario and write its time series, summary and plots",
		Long: `Simulate one scenario. The first line printed states the seed and the whole
configuration; then comes a summary (placements, pending and service times, time
to converge after each event, configuration queues, revenue, utilisation, the
declared objectives in EUR) and the trace hash. The run writes into --out:
timeseries.csv, summary.json and the figures busy, pending, config-queue,
revenue and (when the scenario has a price or delay policy, speculators or a
pool) market, each as PNG and SVG, captioned with the scenario, the seed and the
trace hash.

A violated invariant stops the run, prints what broke and the exact command that
reproduces it, and exits with status 1.`,
		Example: `  slapgo sim run fixtures/scenarios/baseline.yaml --seed 1 --out out/sim/baseline
  slapgo sim run fixtures/scenarios/storm.yaml --seed 7 --set nodes[0].count=100 --set duration=2h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			limit, auto, err := parseMemoryLimit(memLimit)
			if err != nil {
				return err
			}
			sc, err := scenario.Load(file, sets)
			if err != nil {
				return err
			}
			switch {
			case !auto:
				debug.SetMemoryLimit(limit)
			case os.Getenv("GOMEMLIMIT") == "":
				debug.SetMemoryLimit(runMemoryLimit(sc))
			}
			reserveHugePages(cmd.ErrOrStderr())
			if out == "" {
				out = filepath.Join("out", "sim", sc.Name)
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			opts := sim.Options{Seed: seed, File: file, Overrides: sets, Log: stdout, Context: cmd.Context()}
			if os.Getenv("GOGC") == "" {
				opts.Started = func() { debug.SetGCPercent(runGCPercent) }
			}
			if !quiet {
				opts.Progress = progressPrinter(stderr)
			}
			if traceFile != "" {
				f, err := os.Create(traceFile)
				if err != nil {
					return err
				}
				defer f.Close()
				opts.Trace = f
			}
			stop, err := startCPUProfile(profile)
			if err != nil {
				return err
			}
			defer stop()
			if memprof != "" {
				// The heap at the end of the run, while the state is still live.
				opts.AtEnd = func() {
					if f, err := os.Create(memprof); err == nil {
						pprof.Lookup("heap").WriteTo(f, 0)
						f.Close()
					}
				}
			}
			res, runErr := sim.Run(sc, opts)
			if res == nil {
				return runErr
			}
			output.PrintSummary(stdout, &res.Summary)
			files, err := output.WriteRun(out, res)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s and %s in %s\n", output.SeriesFile, output.SummaryFile, out)
			var plots []string
			for _, f := range files {
				if strings.HasSuffix(f, ".png") || strings.HasSuffix(f, ".svg") {
					plots = append(plots, f)
				}
			}
			fmt.Fprintf(stdout, "plots: %s\n", strings.Join(plots, " "))
			var v *sim.Violation
			if errors.As(runErr, &v) {
				return fmt.Errorf("invariant %q violated: reproduce with: %s", v.Invariant, v.Reproduce)
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&seed, "seed", 1, "root seed of every random stream")
	f.StringVar(&out, "out", "", "`DIR` for timeseries.csv, summary.json and plots (default out/sim/<scenario name>)")
	f.StringArrayVar(&sets, "set", nil, "override a scenario field: key=value (repeatable)")
	f.StringVar(&traceFile, "trace", "", "also write every trace line to this file")
	f.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	f.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	f.StringVar(&memprof, "memprofile", "", "write a heap profile at the end of the run to this file (go tool pprof)")
	f.StringVar(&memLimit, "memory-limit", "auto", "soft memory limit of the run (`SIZE`, e.g. 2GiB, or off); auto: GOMEMLIMIT when set, else 6.5 KiB per partition of the grid, at least 1 GiB and at most 14 GiB")
	return cmd
}

// memoryPerPartition is the soft memory limit "sim run" allots by default
// per partition of the scenario's grid (6.5 KiB), about 2.3 times the live
// heap of a run: 1,000 nodes of 300 partitions (each node running
// core/agent) hold about 0.8 GB at the end of a day; under their 1.86 GiB
// limit the process peaks at about 1.93 GiB resident instead of 2.5 GiB at
// GOGC alone, for a few more seconds of collection (in alternating
// runs a 1.72 GiB limit cost about 4 s of CPU more than 1.9 GiB). A limit
// near the live heap would have the collector run almost continuously:
// minMemoryLimit keeps small grids clear of that. maxMemoryLimit keeps the
// largest grids under the 16 GiB the 10,000-node target allows (3 million
// partitions would get 18.6 GiB): the process peaks a few percent above
// its soft limit.
const (
	memoryPerPartition = 6656
	minMemoryLimit     = 1 << 30
	maxMemoryLimit     = 14 << 30
)

// runMemoryLimit is the default soft memory limit of a run of sc.
func runMemoryLimit(sc *scenario.Scenario) int64 {
	var parts int64
	for _, g := range sc.Nodes {
		parts += int64(g.Count) * int64(g.Partitions)
	}
	return min(maxMemoryLimit, max(minMemoryLimit, parts*memoryPerPartition))
}

// parseMemoryLimit reads --memory-limit: "auto", "off", or a size in bytes
// with an optional unit (KiB, MiB, GiB, TiB; KB, MB, GB, TB).
func parseMemoryLimit(v string) (limit int64, auto bool, err error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "auto", "":
		return 0, true, nil
	case "off":
		return math.MaxInt64, false, nil
	}
	num := strings.TrimRightFunc(strings.TrimSpace(v), func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.TrimSpace(strings.TrimSpace(v)[len(num):])
	mult := map[string]int64{"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}[strings.ToLower(unit)]
	n, perr := strconv.ParseInt(num, 10, 64)
	if perr != nil || mult == 0 || n <= 0 || n > math.MaxInt64/mult {
		return 0, false, fmt.Errorf("--memory-limit %q: expected auto, off or a positive size such as 1800MiB or 2GiB", v)
	}
	return n * mult, false, nil
}

// progressPrinter prints a progress line on w at most every 5 s of wall
// time, once the run has lasted 5 s.
func progressPrinter(w io.Writer) func(sim.Progress) {
	start := time.Now()
	last := start
	return func(p sim.Progress) {
		now := time.Now()
		if now.Sub(last) < 5*time.Second {
			return
		}
		last = now
		el := now.Sub(start).Seconds()
		fmt.Fprintf(w, "sim: %s of %s virtual (%.0f%%), %d events, %.0f events/s\n",
			p.Virtual.Truncate(time.Second), p.Duration, 100*p.Virtual.Seconds()/p.Duration.Seconds(),
			p.Events, float64(p.Events)/el)
	}
}

func newSimSweepCmd() *cobra.Command {
	var (
		seed    uint64
		out     string
		sets    []string
		params  []string
		shard   string
		workers int
		plots   bool
		xKey    string
	)
	cmd := &cobra.Command{
		Use:   "sweep FILE --param key=a,b,c [--param …]",
		Short: "Simulate a scenario over a grid of parameter values and seeds, on every core",
		Long: `Run the Cartesian product of the --param values (the last varying fastest), one
single-threaded deterministic run per point, --workers at a time (default: every
core). The parameter "seed" sets each run's seed; "variant" picks one of the
scenario's named variants. Each run writes its summary.json and timeseries.csv
in OUT/point-NNNN. The sweep writes into OUT:

  sweep.json  the sweep's definition (scenario, overrides, parameters, shard)
  runs.csv    one row per run: parameters, seed, trace hash, every objective
  sweep.csv   one row per point (parameters but the seed): runs, then the mean
              and 95% confidence half-width (Student's t) of every figure
  sweep.png, sweep.svg  each objective against --x (default: the last numeric
              parameter), one line per combination of the others, CI shaded
  wall.csv    wall time per run (the only output that varies between runs)

sweep.csv, runs.csv and the figure depend only on the scenario, the overrides,
the parameters and the seeds. With --shard i/n only the runs i, i+n, i+2n… run
and OUT gets sweep.json, runs.csv and wall.csv; "slapgo sim sweep merge"
combines the shards' directories into the same runs.csv, sweep.csv and figure,
byte for byte, as one unsharded sweep.`,
		Example: `  slapgo sim sweep fixtures/scenarios/provisioning-question.yaml --param variant=open,slow-when-full \
    --param workload.rate_per_hour=300,500 --param seed=1,2,3 --out out/sim/question
  slapgo sim sweep fixtures/scenarios/speculation.yaml --param master.provisioning_delay=0s,15m,1h \
    --param seed=1,2,3 --shard 0/2 --out out/sweep/shard-0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			var ps []sweep.Param
			for _, s := range params {
				p, err := sweep.ParseParam(s)
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
			if len(ps) == 0 {
				return errors.New("sweep: give at least one --param key=a,b,c")
			}
			sh := sweep.Shard{I: 0, N: 1}
			if shard != "" {
				var err error
				if sh, err = sweep.ParseShard(shard); err != nil {
					return err
				}
			}
			if xKey == "" {
				xKey = sweep.DefaultX(ps)
			} else if !slices.ContainsFunc(ps, func(p sweep.Param) bool { return p.Key == xKey && p.Key != "seed" }) {
				return fmt.Errorf("sweep: --x %q is not a swept parameter (seed aside)", xKey)
			}
			// Check the scenario and every value before running anything.
			grid := sweep.Grid(ps, seed)
			name := ""
			for _, p := range grid {
				sc, err := scenario.Load(file, append(append([]string(nil), sets...), p.Overrides(ps)...))
				if err != nil {
					return fmt.Errorf("point %d (%s): %w", p.Index, p.Label(ps), err)
				}
				name = sc.Name
			}
			points := sh.Select(grid)
			if out == "" {
				out = filepath.Join("out", "sim", "sweep")
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			if workers <= 0 {
				workers = runtime.NumCPU()
			}
			reserveHugePages(cmd.ErrOrStderr())
			man := sweep.Manifest{Scenario: name, Overrides: sets, Params: ps, Seed: seed, Points: len(grid), Shard: sh, X: xKey}
			if err := sweep.WriteManifest(filepath.Join(out, sweep.ManifestFile), man); err != nil {
				return err
			}
			stdout := cmd.OutOrStdout()
			fmt.Fprintf(stdout, "slapgo sim sweep: %s, %d runs (shard %d/%d), %d workers\n", file, len(points), sh.I, sh.N, workers)
			done := 0
			outcomes := sweep.Run(cmd.Context(), sweep.Config{File: file, Overrides: sets, Params: ps, Points: points,
				Workers: workers, OutDir: out, Plots: plots, Done: func(o sweep.Outcome) {
					done++
					status := "ok"
					if o.Err != nil {
						status = o.Err.Error()
					}
					wall := 0.0
					if o.Summary != nil {
						wall = o.Summary.Performance.WallSeconds
					}
					fmt.Fprintf(stdout, "[%d/%d] run %d %s: %s (%.1fs)\n", done, len(points), o.Point.Index, o.Point.Label(ps), status, wall)
				}})
			rows := sweep.RunRows(ps, outcomes)
			if err := writeCSV(filepath.Join(out, sweep.RunsFile), func(w io.Writer) error {
				cw := csv.NewWriter(w)
				return cw.WriteAll(rows)
			}); err != nil {
				return err
			}
			if err := writeCSV(filepath.Join(out, sweep.WallFile), func(w io.Writer) error { return sweep.WriteWall(w, outcomes) }); err != nil {
				return err
			}
			written := []string{sweep.ManifestFile, sweep.RunsFile, sweep.WallFile}
			if sh.N == 1 {
				files, err := sweep.WriteOutputs(out, man, rows)
				if err != nil {
					return err
				}
				for _, f := range files {
					written = append(written, filepath.Base(f))
				}
			}
			fmt.Fprintf(stdout, "wrote %s in %s\n", strings.Join(written, " "), out)
			failed := 0
			for _, o := range outcomes {
				if o.Err != nil {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d runs failed (see %s)", failed, len(outcomes), filepath.Join(out, sweep.RunsFile))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&seed, "seed", 1, "root seed of every point (unless --param seed=… sets it)")
	f.StringVar(&out, "out", "", "`DIR` for the runs and the combined outputs (default out/sim/sweep)")
	f.StringArrayVar(&sets, "set", nil, "override a scenario field for every point: key=value (repeatable)")
	f.StringArrayVar(&params, "param", nil, "a swept field and its values: key=a,b,c (repeatable)")
	f.StringVar(&shard, "shard", "", "run only shard i of n (0 <= i < n): runs i, i+n, i+2n…")
	f.IntVar(&workers, "workers", 0, "runs at a time (default: the number of CPUs)")
	f.BoolVar(&plots, "plots", false, "also draw each run's plots")
	f.StringVar(&xKey, "x", "", "the parameter along the figure's horizontal axis (default: the last numeric one)")
	cmd.AddCommand(newSimSweepMergeCmd())
	return cmd
}

func newSimSweepMergeCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "merge SHARD_DIR...",
		Short: "Combine the outputs of a sharded sweep into one",
		Long: `Read the sweep.json and runs.csv of every shard's output directory, check that
they are shards of one sweep covering every run once, and write into --out the
runs.csv, sweep.csv and figure that one unsharded sweep would have written, byte
for byte.`,
		Example: `  slapgo sim sweep merge out/sweep/shard-0 out/sweep/shard-1 --out out/sweep/all`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("sweep merge: give --out DIR")
			}
			files, err := sweep.Merge(out, args)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "merged %d shards: %s\n", len(args), strings.Join(files, " "))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "`DIR` for the merged outputs")
	return cmd
}

func writeCSV(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// startCPUProfile writes a CPU profile of this process to path until stop
// is called (nothing when path is empty).
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
