package bench

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Statuses of a figure that got no PASS or MISS.
const (
	// StatusNA: the run is not the one the target is defined for (another
	// identity, a compressed load, a shorter window, another size...):
	// comparing the figure with the target would say nothing.
	StatusNA = "n/a"
	// StatusNoVerdict: the machine was too noisy for a verdict (load
	// average or run-to-run spread above the stated bounds).
	StatusNoVerdict = "no verdict"
)

// Bounds of the noise under which a verdict is given. Above them a figure
// is still reported, with StatusNoVerdict and the reason.
const (
	// MaxLoadPerCore bounds the 1-minute load average, per core, at the
	// start of a benchmark: above it, other work shares the cores.
	MaxLoadPerCore = 1.0
	// MaxSpread bounds the run-to-run spread ((max-min)/median) of
	// repeated measures.
	MaxSpread = 0.25
)

// Condition is one circumstance a target is defined for, and whether the
// run met it: "identity: own certificate per computer (got admin)".
type Condition struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

func (c Condition) String() string {
	return fmt.Sprintf("%s %s, target is for %s", c.Name, c.Got, c.Want)
}

// Noise is how noisy the machine was while a figure was measured: the
// load average at the start over the cores, and the spread of repeated
// measures (NaN when the figure was measured once).
type Noise struct {
	Load   float64
	Cores  int
	Spread float64
}

// quiet is the noise of a figure whose noise is judged elsewhere (by the
// report's load bound) and that was measured once.
var quiet = Noise{Spread: math.NaN()}

// Judge gives the status of x against t: n/a when a condition does not
// hold (naming each one), no verdict when the noise is above the bounds,
// else PASS or MISS. why explains any status other than PASS and MISS.
func Judge(t Target, x float64, conds []Condition, n Noise) (status, why string) {
	var unmet []string
	for _, c := range conds {
		if !c.Met {
			unmet = append(unmet, c.String())
		}
	}
	if len(unmet) > 0 {
		return StatusNA, strings.Join(unmet, "; ")
	}
	if reason := n.excess(); reason != "" {
		return StatusNoVerdict, reason
	}
	return t.Status(x), ""
}

// excess says which bound the noise exceeds ("" when none).
func (n Noise) excess() string {
	var why []string
	if n.Cores > 0 && n.Load > MaxLoadPerCore*float64(n.Cores) {
		why = append(why, fmt.Sprintf("load average %.2f at the start > %g (%g per core on %d cores)",
			n.Load, MaxLoadPerCore*float64(n.Cores), MaxLoadPerCore, n.Cores))
	}
	if !math.IsNaN(n.Spread) && n.Spread > MaxSpread {
		why = append(why, fmt.Sprintf("run-to-run spread %s > %s", formatPercent(n.Spread), formatPercent(MaxSpread)))
	}
	return strings.Join(why, "; ")
}

// JudgedFigure builds a figure judged by Judge against target under conds
// and noise (target nil: no verdict at all, as NewFigure).
func JudgedFigure(name string, value float64, unit string, target *Target, conds []Condition, n Noise, details string) Figure {
	f := Figure{Name: name, Value: value, Unit: unit, Target: target, Details: details, Conditions: conds}
	if target != nil {
		f.Status, f.Why = Judge(*target, value, conds, n)
	}
	return f
}

// ApplyLoadBound turns the PASS and MISS of every figure into no verdict
// when the load average at the section's start (Load) was above
// MaxLoadPerCore × cores, saying so and keeping what was measured.
func (s *Section) ApplyLoadBound(cores int) {
	reason := Noise{Load: s.Load, Cores: cores, Spread: math.NaN()}.excess()
	if reason == "" {
		return
	}
	for i := range s.Figures {
		if f := &s.Figures[i]; f.Status == StatusPass || f.Status == StatusMiss {
			f.Why = fmt.Sprintf("%s (measured: %s)", reason, f.Status)
			f.Status = StatusNoVerdict
		}
	}
}

// Conditions of the targets.

func condEqual(name, want, got string) Condition {
	return Condition{Name: name, Want: want, Got: got, Met: want == got}
}

func condAtLeast(name string, want, got float64, format func(float64) string) Condition {
	return Condition{Name: name, Want: ">= " + format(want), Got: format(got), Met: got >= want}
}

func durationText(x float64) string { return formatDuration(time.Duration(x)) }

func countText(x float64) string { return formatNumber(x) }

// pollNodesConditions are the conditions of the target "10,000 nodes
// polling every minute, p99 < 100 ms in 3 of 3 runs": real nodes (each its
// own certificate and connection, no compression), a window of at least
// two poll intervals after a warm-up of one (every node polls with its
// ETag), at least 10,000 registered computers, PollNodesRuns runs.
func pollNodesConditions(r PollResult, st PollStep) []Condition {
	identity := "admin certificate shared by every node"
	if r.Identity == IdentityComputer {
		identity = "own certificate per computer"
	}
	return []Condition{
		condEqual("identity", "own certificate per computer", identity),
		{Name: "compression", Want: "1 (real time)", Got: formatNumber(st.Compress), Met: st.Compress == 1},
		{Name: "connections", Want: "one per node", Got: fmt.Sprintf("%s for %s nodes", formatNumber(float64(r.Conns)), formatNumber(float64(r.Nodes))), Met: r.Conns >= r.Nodes},
		condAtLeast("measured window", float64(2*r.Interval), float64(st.Window), durationText),
		condAtLeast("warm-up", float64(r.Interval), float64(r.Warmup), durationText),
		condAtLeast("registered computers", PollNodesTarget, float64(r.Nodes), countText),
		condAtLeast("runs", PollNodesRuns, float64(max(r.Runs, 1)), countText),
	}
}

// simConditions: each of the simulator's targets is for a number of nodes
// (1,000 or 10,000) of 300 partitions over 24 virtual hours, and, when
// policy is set, for that master policy (10,000 nodes: spread, the
// configuration that completes the day; SimSpreadNodes).
func simConditions(run SimRun, nodes int, policy string) []Condition {
	perNode := 0
	if run.Nodes > 0 {
		perNode = run.Partitions / run.Nodes
	}
	conds := []Condition{
		{Name: "nodes", Want: formatNumber(float64(nodes)), Got: formatNumber(float64(run.Nodes)), Met: run.Nodes == nodes},
		{Name: "partitions per node", Want: "300", Got: fmt.Sprint(perNode), Met: perNode == 300},
		condEqual("virtual duration", "24h", formatInterval(run.Virtual)),
	}
	if policy != "" {
		conds = append(conds, condEqual("master policy", policy, run.Policy))
	}
	return conds
}

// stormConditions: the storm's target is for 300 partitions changed at
// once.
func stormConditions(changed int) []Condition {
	return []Condition{{Name: "partitions", Want: "300", Got: fmt.Sprint(changed), Met: changed == 300}}
}

// judgeStep says whether one measured window of polls held, and if not
// why: p99 under maxP99, some polls answered and at most one error per
// thousand, at least 95% of the offered polls answered, no node a whole
// period late.
func judgeStep(st PollStep, maxP99 time.Duration) (holds bool, why string) {
	var reasons []string
	if st.Latency.P99 >= maxP99 {
		reasons = append(reasons, fmt.Sprintf("p99 %s >= %s", formatDuration(st.Latency.P99), formatDuration(maxP99)))
	}
	if total := st.NotModified + st.Full + st.Errors; total == 0 || float64(st.Errors) > 0.001*float64(total) {
		reasons = append(reasons, fmt.Sprintf("%d errors in %d polls", st.Errors, total))
	}
	if st.Rate < 0.95*st.Offered {
		reasons = append(reasons, fmt.Sprintf("answered %s/s of %s/s offered", formatNumber(st.Rate), formatNumber(st.Offered)))
	}
	if st.Missed > 0 {
		reasons = append(reasons, fmt.Sprintf("%d polls missed (nodes a whole period late)", st.Missed))
	}
	return len(reasons) == 0, strings.Join(reasons, "; ")
}

// ramp is the --find-max search over the compression factor: double the
// load until one fails, then bisect (geometric mean) between the highest
// load that held and the lowest that failed, until they are within 15%.
// If the first load fails, halve until one holds or the load falls under
// minC. A load that fails is measured once more, so that the report tells
// a hiccup of a shared machine (a failure, then a hold) from a limit (two
// failures); either way that load does not hold: a load holds only if
// every measure of it does.
type ramp struct {
	c, lo, hi, minC float64
	again           bool // the measure asked for repeats the last one
}

func newRamp(start, minC float64) *ramp { return &ramp{c: start, minC: minC} }

// next takes whether the measure at the load asked for held, and returns
// the next load to measure, whether it repeats the last one, and whether
// the search is over.
func (r *ramp) next(holds bool) (c float64, again, done bool) {
	if !holds && !r.again {
		r.again = true
		return r.c, true, false
	}
	if r.again { // the load failed once already
		holds, r.again = false, false
	}
	if holds {
		r.lo = r.c
	} else {
		r.hi = r.c
	}
	switch {
	case r.hi == 0:
		r.c *= 2
	case r.lo == 0:
		r.c /= 2
		if r.c < r.minC {
			return r.c, false, true
		}
	case r.hi/r.lo < 1.15:
		return r.c, false, true
	default:
		r.c = math.Sqrt(r.lo * r.hi)
	}
	return r.c, false, false
}

// markLoads sets LoadHolds on every step: a load (a step and the steps
// Again after it) holds only if each of its measures held.
func markLoads(steps []PollStep) {
	for i := 0; i < len(steps); {
		j := i + 1
		for j < len(steps) && steps[j].Again {
			j++
		}
		all := true
		for k := i; k < j; k++ {
			all = all && steps[k].Holds
		}
		for k := i; k < j; k++ {
			steps[k].LoadHolds = all
		}
		i = j
	}
}

// pollHeadline is the index of the step the headline figures come from:
// the highest load whose every measure held (-1: none did).
func pollHeadline(steps []PollStep) int {
	best := -1
	for i, st := range steps {
		if st.LoadHolds && (best < 0 || st.EquivalentNodes > steps[best].EquivalentNodes) {
			best = i
		}
	}
	return best
}

// judgeRuns gives the verdict of a target that must hold in every one of
// several runs of the same load ("p99 < 100 ms in 3 of 3 runs"), each
// judged on its own (judgeStep: Holds), with the load average at its start
// (Load): judgeRepeated, the runs' p99 telling their noise.
func judgeRuns(runs []PollStep, conds []Condition, cores int) (status, why string) {
	rs := make([]repeatedRun, len(runs))
	for i, r := range runs {
		rs[i] = repeatedRun{Holds: r.Holds, Why: r.Why, Load: r.Load, Noise: r.Latency.P99.Seconds()}
	}
	return judgeRepeated(rs, "p99", conds, cores)
}

// repeatedRun is one run of a repeated measure as judgeRepeated reads it:
// whether it held (Why: if not, why), the load average at its start, and
// the measure whose spread across runs is the machine's noise (not a
// quantity the runs vary on purpose).
type repeatedRun struct {
	Holds bool
	Why   string
	Load  float64
	Noise float64
}

// judgeRepeated gives the verdict of a target that must hold in every one
// of several runs. n/a when a condition does not hold; no verdict when the
// load average at the start of any run was above MaxLoadPerCore × cores,
// or when the runs disagree (some held, some did not) and their Noise
// (named noiseName) spread by more than MaxSpread: a run that failed far
// from the others is the machine's noise as much as what is measured (the
// reason then says what was measured). Runs that all held, or all failed,
// answer whatever their spread: each run is judged on its own, not their
// median. Otherwise PASS only if every run held, else MISS. No run at all
// is a MISS.
func judgeRepeated(runs []repeatedRun, noiseName string, conds []Condition, cores int) (status, why string) {
	var unmet []string
	for _, c := range conds {
		if !c.Met {
			unmet = append(unmet, c.String())
		}
	}
	if len(unmet) > 0 {
		return StatusNA, strings.Join(unmet, "; ")
	}
	if len(runs) == 0 {
		return StatusMiss, "no run measured"
	}
	held := 0
	var noisy []string
	noise := make([]float64, len(runs))
	for i, r := range runs {
		if r.Holds {
			held++
		}
		noise[i] = r.Noise
		if reason := (Noise{Load: r.Load, Cores: cores, Spread: math.NaN()}).excess(); reason != "" {
			noisy = append(noisy, fmt.Sprintf("run %d: %s", i+1, reason))
		}
	}
	measured := StatusMiss
	if held == len(runs) {
		measured = StatusPass
	}
	if held > 0 && held < len(runs) {
		if _, _, _, spread := summarise(noise); spread > MaxSpread {
			noisy = append(noisy, fmt.Sprintf("%s %s", noiseName, Noise{Spread: spread}.excess()))
		}
	}
	if len(noisy) > 0 {
		return StatusNoVerdict, fmt.Sprintf("%s (measured: %s, %d of %d runs held)", strings.Join(noisy, "; "), measured, held, len(runs))
	}
	if measured == StatusMiss {
		var why []string
		for i, r := range runs {
			if !r.Holds {
				why = append(why, fmt.Sprintf("run %d: %s", i+1, r.Why))
			}
		}
		return StatusMiss, fmt.Sprintf("%d of %d runs held; %s", held, len(runs), strings.Join(why, "; "))
	}
	return StatusPass, ""
}
