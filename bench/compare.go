package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"slices"
	"strings"
)

// CompareConfig configures `slapgo bench compare`: the same benchmark run
// by two slapgo binaries, alternately, Runs times each.
type CompareConfig struct {
	Base, New string   // slapgo binaries
	Args      []string // the benchmark and its flags: ["alloc", "--reps", "3"]
	Runs      int      // runs of each binary (A B A B …)
	Progress  io.Writer
}

// CompareFigure is one figure measured by both binaries.
type CompareFigure struct {
	Section string    `json:"section"`
	Name    string    `json:"name"`
	Unit    string    `json:"unit"`
	Base    []float64 `json:"base"`
	New     []float64 `json:"new"`
	// BaseMedian, NewMedian and their spreads ((max-min)/median).
	BaseMedian float64 `json:"base_median"`
	NewMedian  float64 `json:"new_median"`
	BaseSpread float64 `json:"base_spread"`
	NewSpread  float64 `json:"new_spread"`
	// Ratio is NewMedian/BaseMedian; RatioLow and RatioHigh the lowest and
	// highest ratio of one run of each side measured one after the other
	// (the ratios the machine's noise allows).
	Ratio     float64 `json:"ratio"`
	RatioLow  float64 `json:"ratio_low"`
	RatioHigh float64 `json:"ratio_high"`
	// Differs: every pair of runs saw the new binary on the same side of
	// the base, beyond both sides' own spread.
	Differs bool `json:"differs"`
}

// CompareResult is the outcome of RunCompare.
type CompareResult struct {
	Base    string          `json:"base"`
	New     string          `json:"new"`
	Args    []string        `json:"args"`
	Runs    int             `json:"runs"`
	Figures []CompareFigure `json:"figures"`
	// Missing names figures one side reported and the other did not.
	Missing []string `json:"missing,omitempty"`
}

// RunCompare runs `BIN bench ARGS… --json` with the base and the new
// binary alternately (base, new, base, new …), cfg.Runs times each, and
// compares the figures of the reports.
func RunCompare(ctx context.Context, cfg CompareConfig) (CompareResult, error) {
	res := CompareResult{Base: cfg.Base, New: cfg.New, Args: cfg.Args, Runs: cfg.Runs}
	switch {
	case cfg.Base == "" || cfg.New == "":
		return res, errors.New("bench: compare needs --base and --new slapgo binaries")
	case len(cfg.Args) == 0:
		return res, errors.New("bench: compare needs a benchmark to run: alloc, poll, storm or sim, with its flags")
	case cfg.Args[0] == "compare" || cfg.Args[0] == "all":
		return res, fmt.Errorf("bench: compare runs one benchmark (alloc, poll, storm, sim), not %q", cfg.Args[0])
	case cfg.Runs < 1:
		return res, fmt.Errorf("bench: compare --runs %d: expected at least 1", cfg.Runs)
	}
	var base, nw []Report
	for i := range cfg.Runs {
		for _, side := range []struct {
			name, bin string
			into      *[]Report
		}{{"base", cfg.Base, &base}, {"new", cfg.New, &nw}} {
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "bench compare: run %d/%d of %s: %s bench %s --json\n", i+1, cfg.Runs, side.name, side.bin, strings.Join(cfg.Args, " "))
			}
			rep, err := runBenchJSON(ctx, side.bin, cfg.Args)
			if err != nil {
				return res, fmt.Errorf("bench: compare, %s run %d: %w", side.name, i+1, err)
			}
			*side.into = append(*side.into, rep)
		}
	}
	figs, missing := compareReports(base, nw)
	res.Figures, res.Missing = figs, missing
	return res, nil
}

// runBenchJSON runs `bin bench ARGS… --json` and decodes its report.
func runBenchJSON(ctx context.Context, bin string, args []string) (Report, error) {
	var rep Report
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"bench"}, args...), "--json")...)
	var stdout bytes.Buffer
	stderr := &limitedWriter{w: &strings.Builder{}, n: 8 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		return rep, fmt.Errorf("%s: %w: %s", shellJoin(cmd.Args), err, lastLines(stderr.w.String(), 10))
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return rep, fmt.Errorf("%s printed no JSON report: %w", shellJoin(cmd.Args), err)
	}
	return rep, nil
}

// compareReports pairs the figures of the base's and the new binary's
// reports (run i of each side is one pair) by section and name.
func compareReports(base, nw []Report) ([]CompareFigure, []string) {
	type key struct{ section, name string }
	var order []key
	figs := map[key]*CompareFigure{}
	collect := func(reps []Report, side func(*CompareFigure) *[]float64) {
		for _, rep := range reps {
			for _, s := range rep.Sections {
				for _, f := range s.Figures {
					k := key{s.Name, f.Name}
					cf := figs[k]
					if cf == nil {
						cf = &CompareFigure{Section: s.Name, Name: f.Name, Unit: f.Unit}
						figs[k] = cf
						order = append(order, k)
					}
					*side(cf) = append(*side(cf), f.Value)
				}
			}
		}
	}
	collect(base, func(c *CompareFigure) *[]float64 { return &c.Base })
	collect(nw, func(c *CompareFigure) *[]float64 { return &c.New })
	var out []CompareFigure
	var missing []string
	for _, k := range order {
		cf := figs[k]
		if len(cf.Base) != len(base) || len(cf.New) != len(nw) {
			missing = append(missing, k.section+": "+k.name)
			continue
		}
		out = append(out, compareFigure(*cf))
	}
	return out, missing
}

// compareFigure summarises one figure's runs: medians, spreads, the ratio
// of the medians and the range of the ratios of the pairs of runs.
func compareFigure(cf CompareFigure) CompareFigure {
	finite := func(xs []float64) []float64 {
		return slices.DeleteFunc(slices.Clone(xs), func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) })
	}
	cf.BaseMedian, _, _, cf.BaseSpread = summarise(finite(cf.Base))
	cf.NewMedian, _, _, cf.NewSpread = summarise(finite(cf.New))
	cf.Ratio, cf.RatioLow, cf.RatioHigh = math.NaN(), math.NaN(), math.NaN()
	if cf.BaseMedian == 0 || len(finite(cf.Base)) == 0 || len(finite(cf.New)) == 0 {
		return cf
	}
	cf.Ratio = cf.NewMedian / cf.BaseMedian
	var ratios []float64
	for i := range min(len(cf.Base), len(cf.New)) {
		if b, n := cf.Base[i], cf.New[i]; b != 0 && !math.IsNaN(b) && !math.IsNaN(n) {
			ratios = append(ratios, n/b)
		}
	}
	if len(ratios) > 0 {
		cf.RatioLow, cf.RatioHigh = slices.Min(ratios), slices.Max(ratios)
	}
	// Beyond noise: every pair on the same side of 1, and the ratio
	// further from 1 than either side's own spread.
	noise := max(cf.BaseSpread, cf.NewSpread)
	cf.Differs = len(ratios) > 0 && (cf.RatioLow > 1 || cf.RatioHigh < 1) && math.Abs(cf.Ratio-1) > noise
	return cf
}

// Section lays the comparison out for reports.
func (r CompareResult) Section(command string) Section {
	s := Section{Name: "compare", Title: fmt.Sprintf("bench %s: new / base, %d runs each, alternately", strings.Join(r.Args, " "), r.Runs), Command: command, Result: r}
	t := Table{Title: "ratio = median(new) / median(base); pairs: lowest and highest ratio of one base run and the new run after it; spread = (max-min)/median of one side",
		Columns: []string{"section", "figure", "base", "new", "ratio", "pairs", "base spread", "new spread", "beyond noise"}}
	for _, f := range r.Figures {
		beyond := "no"
		if f.Differs {
			beyond = "yes"
		}
		t.Rows = append(t.Rows, []string{f.Section, f.Name, formatValue(f.BaseMedian, f.Unit), formatValue(f.NewMedian, f.Unit),
			formatRatio(f.Ratio), formatRatio(f.RatioLow) + " – " + formatRatio(f.RatioHigh),
			formatPercent(f.BaseSpread), formatPercent(f.NewSpread), beyond})
	}
	s.Tables = append(s.Tables, t)
	s.Notes = append(s.Notes, "base: "+r.Base, "new: "+r.New,
		"each run is `BIN bench "+strings.Join(r.Args, " ")+" --json`; the two binaries run one after the other so that the machine's noise hits both",
		"beyond noise: every pair of runs puts the new binary on the same side of the base, by more than either side's own spread")
	for _, m := range r.Missing {
		s.Notes = append(s.Notes, "not compared (missing from some runs): "+m)
	}
	return s
}

func formatRatio(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", x)
}
