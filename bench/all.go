package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// AllConfig configures `slapgo bench all`: every benchmark at sizes that
// fit in about half an hour on a small machine (the 10,000-node steady
// state alone is three runs of three minutes).
type AllConfig struct {
	Bin string // slapgo binary (masters, node agent promises, simulations)
	// Out receives latest.md and latest.json ("" writes nothing).
	Out string
	// Skip names sections not to run: alloc, poll, poll-nodes, poll-storm,
	// poll-moonshot, storm, storm-privileged, sim.
	Skip []string
	// Sizes of each section.
	Alloc     AllocConfig
	PollMax   PollConfig // --find-max: the most equivalent nodes held
	PollNodes PollConfig // the literal target: many registered nodes in real time
	PollStorm PollConfig // the reconnect storm: every node at once after a master restart
	// PollMoonshot: as many real nodes as PollMoonshotNodes on one master,
	// or as the open files limit lets one process connect (moonshotNodes).
	PollMoonshot PollConfig
	Storm        StormConfig
	// StormPrivileged is the storm as SlapOS runs it, a user per
	// partition: run only as root (else reported n/a, saying why).
	StormPrivileged StormConfig
	Sim             SimConfig
	// Settle is the longest wait before each section for the 1-minute load
	// average to fall under the bound of a verdict (MaxLoadPerCore per
	// core): the sections before (a find-max ramp saturates the cores)
	// would otherwise leave their own load in it. 0: no wait.
	Settle   time.Duration
	Progress io.Writer
}

// DefaultAllConfig is what `make bench` runs.
func DefaultAllConfig() AllConfig {
	c := AllConfig{Out: "bench/results", Alloc: DefaultAllocConfig(), Storm: DefaultStormConfig(), Sim: DefaultSimConfig(), Settle: 90 * time.Second}

	c.PollMax = DefaultPollConfig()
	c.PollMax.Nodes, c.PollMax.Partitions, c.PollMax.Fill = 1000, 30, 0.1
	c.PollMax.FindMax, c.PollMax.Compress = true, 30
	c.PollMax.Warmup, c.PollMax.StepTime, c.PollMax.MaxSteps = 2*time.Second, 8*time.Second, 8

	c.PollNodes = DefaultPollConfig()
	c.PollNodes.Nodes, c.PollNodes.Partitions, c.PollNodes.Fill = 10000, 10, 0.1
	c.PollNodes.Compress, c.PollNodes.Identity = 1, IdentityComputer
	// Warm-up: every node polled once (it has its ETag); window: two poll
	// intervals, what the 10,000-node target is defined for; three runs,
	// since the target is "in 3 of 3 runs".
	c.PollNodes.Warmup, c.PollNodes.Duration, c.PollNodes.Runs = 65*time.Second, 2*time.Minute, 3

	c.PollStorm = DefaultPollConfig()
	c.PollStorm.Nodes, c.PollStorm.Partitions, c.PollStorm.Fill = ReconnectTargetNodes, 10, 0.1
	c.PollStorm.Identity, c.PollStorm.Storm = IdentityComputer, true

	c.PollMoonshot = c.PollNodes
	c.PollMoonshot.Nodes, c.PollMoonshot.Runs = PollMoonshotNodes, 1

	// The privileged storm: incremental and live (the unprivileged storm
	// above compares incremental with full).
	c.StormPrivileged = DefaultStormConfig()
	c.StormPrivileged.Privileged, c.StormPrivileged.Full = true, false

	// 5,000 nodes take more than the whole budget (their 900,000 initial
	// instances alone take minutes to place): `slapgo bench sim` runs them.
	c.Sim.Sizes = []SimSize{{Nodes: 100}, {Nodes: 1000}}
	return c
}

// pollCommand is the `slapgo bench poll` command line of a configuration.
func pollCommand(c PollConfig) string {
	var b strings.Builder
	if c.Storm {
		fmt.Fprintf(&b, "slapgo bench poll --nodes %d --partitions %d --fill %g --identity %s%s", c.Nodes, c.Partitions, c.Fill, c.Identity, reconnectCommandFlags(c))
		return b.String()
	}
	fmt.Fprintf(&b, "slapgo bench poll --nodes %d --partitions %d --fill %g --interval %s --compress %g --changes %g --identity %s",
		c.Nodes, c.Partitions, c.Fill, formatInterval(c.Interval), c.Compress, c.Changes, c.Identity)
	if c.Identity == IdentityAdmin {
		fmt.Fprintf(&b, " --conns %d", c.Conns)
	}
	switch {
	case c.FindMax:
		fmt.Fprintf(&b, " --find-max --max-p99 %s --warmup %s --step %s --max-steps %d", c.MaxP99, c.Warmup, c.StepTime, c.MaxSteps)
	default:
		fmt.Fprintf(&b, " --warmup %s --duration %s", c.Warmup, c.Duration)
		if c.Runs > 1 {
			fmt.Fprintf(&b, " --runs %d", c.Runs)
		}
	}
	return b.String()
}

func allocCommand(c AllocConfig) string {
	ints := func(xs []int) string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = fmt.Sprint(x)
		}
		return strings.Join(s, ",")
	}
	return fmt.Sprintf("slapgo bench alloc --computers %s --partitions %s --fill %s --reps %d --rep-time %s",
		ints(c.Computers), ints(c.Partitions), ints(c.Fills), c.Repetitions, c.RepTime)
}

func stormCommand(c StormConfig) string {
	cmd := fmt.Sprintf("slapgo bench storm --partitions %d --software %s --poll-interval %s --live-runs %d", c.Partitions, c.Software, formatInterval(c.PollInterval), c.LiveRuns)
	if !c.Full {
		cmd += " --incremental-only"
	}
	if c.Privileged {
		cmd += " --privileged"
	}
	return cmd
}

func simCommand(c SimConfig) string {
	s := make([]string, len(c.Sizes))
	for i, z := range c.Sizes {
		s[i] = z.String()
	}
	cmd := fmt.Sprintf("slapgo bench sim --scenario %s --nodes %s --seed %d", c.Scenario, strings.Join(s, ","), c.Seed)
	if !c.ScaleWorkload {
		cmd += " --scale-workload=false"
	}
	return cmd
}

// RunAll runs every benchmark one after the other (alloc first, on a quiet
// machine) and returns one report (c.Out is for the caller: see
// WriteResults). A section that fails is reported as a note and the others
// still run; the error then names the failed sections.
func RunAll(ctx context.Context, c AllConfig) (Report, error) {
	rep := Report{Machine: ReadMachine(), Started: time.Now()}
	skip := map[string]bool{}
	for _, s := range c.Skip {
		skip[s] = true
	}
	var failed []string
	run := func(name, command string, f func() (Section, error)) {
		if skip[name] || ctx.Err() != nil {
			return
		}
		bound := MaxLoadPerCore * float64(rep.Machine.Cores)
		if waited, load := settle(ctx, loadAverage, bound, c.Settle, 5*time.Second, sleepCtx); waited > 0 && c.Progress != nil {
			fmt.Fprintf(c.Progress, "bench all: waited %s for the load average to fall under %g (now %.2f)\n", roundDuration(waited), bound, load)
		}
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "bench all: %s: %s\n", name, command)
		}
		started, load := time.Now(), loadAverage()
		sec, err := f()
		if err != nil {
			failed = append(failed, name)
			sec = Section{Name: name, Title: "failed", Command: command, Notes: []string{"the run failed: " + err.Error()}}
		}
		sec.Started, sec.Wall, sec.Load = started, time.Since(started), load
		sec.ApplyLoadBound(rep.Machine.Cores)
		rep.Sections = append(rep.Sections, sec)
	}
	run("alloc", allocCommand(c.Alloc), func() (Section, error) {
		res, err := RunAlloc(ctx, c.Alloc)
		return res.Section(allocCommand(c.Alloc)), err
	})
	for _, p := range []struct {
		name string
		cfg  PollConfig
	}{{"poll", c.PollMax}, {"poll-nodes", c.PollNodes}, {"poll-storm", c.PollStorm}} {
		cfg := p.cfg
		cfg.Bin, cfg.Progress = c.Bin, c.Progress
		cmd := pollCommand(cfg)
		run(p.name, cmd, func() (Section, error) {
			res, err := RunPoll(ctx, cfg)
			sec := res.Section(cmd)
			sec.Name = p.name
			return sec, err
		})
	}
	moon := c.PollMoonshot
	moon.Bin, moon.Progress = c.Bin, c.Progress
	var limit string
	moon.Nodes, limit = moonshotNodes(moon.Nodes)
	moonCmd := pollCommand(moon)
	run("poll-moonshot", moonCmd, func() (Section, error) {
		res, err := RunPoll(ctx, moon)
		sec := res.Section(moonCmd)
		sec.Name = "poll-moonshot"
		sec.Title = "the moonshot: 100,000 real nodes on one master"
		sec.Figures = append([]Figure{moonshotFigure(res, limit)}, moonshotOthers(sec.Figures)...)
		if limit != "" {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s nodes instead of the moonshot's %s: %s", formatNumber(float64(moon.Nodes)), formatNumber(PollMoonshotNodes), limit))
		}
		return sec, err
	})
	var calibration []string
	run("storm", stormCommand(c.Storm), func() (Section, error) {
		cfg := c.Storm
		cfg.Bin, cfg.Progress = c.Bin, c.Progress
		res, err := RunStorm(ctx, cfg)
		calibration = res.Calibration.Set
		return res.Section(stormCommand(cfg)), err
	})
	if !skip["storm-privileged"] && ctx.Err() == nil && os.Geteuid() != 0 {
		rep.Sections = append(rep.Sections, privilegedStormNotRun(stormCommand(c.StormPrivileged), rep.Machine.LoadAverage))
	} else {
		run("storm-privileged", stormCommand(c.StormPrivileged), func() (Section, error) {
			cfg := c.StormPrivileged
			cfg.Bin, cfg.Progress = c.Bin, c.Progress
			res, err := RunStorm(ctx, cfg)
			sec := res.Section(stormCommand(cfg))
			sec.Name = "storm-privileged"
			return sec, err
		})
	}
	run("sim", simCommand(c.Sim), func() (Section, error) {
		cfg := c.Sim
		cfg.Bin, cfg.Progress = c.Bin, c.Progress
		res, err := RunSim(ctx, cfg)
		sec := res.Section(simCommand(cfg))
		if len(calibration) > 0 {
			sec.Notes = append(sec.Notes, "the storm above calibrates these runs with: slapgo bench sim --calibration storm.json (see its calibration table); the runs here use the scenario's own model")
		}
		return sec, err
	})
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if len(failed) > 0 {
		return rep, fmt.Errorf("bench: %s failed (see the report's notes)", strings.Join(failed, ", "))
	}
	return rep, nil
}

// settle waits, checking load every period, until it is at most bound or
// longest has passed (or ctx ends); it returns how long it waited and the
// last load read.
func settle(ctx context.Context, load func() float64, bound float64, longest, period time.Duration, sleep func(context.Context, time.Duration) error) (time.Duration, float64) {
	var waited time.Duration
	l := load()
	for l > bound && waited < longest {
		d := min(period, longest-waited)
		if sleep(ctx, d) != nil {
			break
		}
		waited += d
		l = load()
	}
	return waited, l
}

// moonshotOthers are the moonshot section's figures but its headline:
// those of a steady poll section less the ones judged against the
// 10,000-node and 304/s targets (the moonshot is one run of another size:
// they would only say n/a), the latency p99 kept as a plain figure.
func moonshotOthers(figs []Figure) []Figure {
	var out []Figure
	for _, f := range figs {
		switch {
		case strings.HasPrefix(f.Name, "nodes polling every"), strings.HasPrefix(f.Name, "conditional GETs"):
			continue
		case f.Name == "poll latency p99":
			f.Target, f.Status, f.Why, f.Conditions = nil, "", "", nil
		}
		out = append(out, f)
	}
	return out
}

// privilegedStormNotRun is the storm-privileged section of a `bench all`
// not run as root: its target figure n/a, saying why.
func privilegedStormNotRun(command string, load float64) Section {
	t := AtMost(StormTarget.Seconds(), UnitSeconds)
	f := NewFigure("storm: time to converge", math.NaN(), UnitSeconds, &t, "300 partitions changed at once, incremental, each partition its own user")
	f.Status, f.Why = StatusNA, "not run: bench all was not run as root, and the privileged storm makes a user per partition (run it as root, or alone: sudo slapgo bench storm --privileged)"
	return Section{Name: "storm-privileged", Title: "reconfiguration storm, a user per partition (not run)", Command: command, Load: load, Figures: []Figure{f}}
}

// WriteResults writes DIR/latest.md and DIR/latest.json, and the plots
// of the poll sections (WritePlots) next to them, linked from latest.md.
func WriteResults(dir string, rep Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	plots, err := WritePlots(dir, rep)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	md.WriteString("# slapgo benchmarks: latest run\n\n")
	md.WriteString("Every headline figure (the sections below give the tables, notes and commands):\n\n")
	if err := rep.WriteSummaryMarkdown(&md); err != nil {
		return err
	}
	md.WriteString("\n")
	if err := rep.WriteMarkdown(&md, "##"); err != nil {
		return err
	}
	if len(plots) > 0 {
		md.WriteString("\n## plots\n")
		for _, p := range plots {
			fmt.Fprintf(&md, "\n%s ([PNG](%s.png)):\n\n![%s](%s.svg)\n", p.Title, p.Name, p.Title, p.Name)
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"latest.md": md.Bytes(), "latest.json": js.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	return nil
}
