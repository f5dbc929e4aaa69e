package sweep

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/slapgo/slapgo/sim/scenario"
)

// Output files of a sweep (or of a merge of its shards).
const (
	ManifestFile = "sweep.json" // the sweep's definition
	RunsFile     = "runs.csv"   // one row per run
	SweepFile    = "sweep.csv"  // mean and 95% CI over seeds per point
	WallFile     = "wall.csv"   // wall time per run
	FigureName   = "sweep"      // sweep.png, sweep.svg
)

// Manifest defines a sweep: what a shard writes beside its runs, so that
// a merge can check the shards belong together and cover the grid.
type Manifest struct {
	Scenario  string   `json:"scenario"`
	Overrides []string `json:"overrides,omitempty"`
	Params    []Param  `json:"params"`
	Seed      uint64   `json:"seed"`
	Points    int      `json:"points"`
	Shard     Shard    `json:"shard"`
	// X is the parameter on the figure's horizontal axis.
	X string `json:"x"`
}

// DefaultX is the parameter drawn along the figure's horizontal axis: the
// last one (seed aside) whose values are all numbers or durations, else the
// last one (seed aside); "" when only seeds vary.
func DefaultX(params []Param) string {
	last := ""
	for _, p := range params {
		if p.Key == "seed" {
			continue
		}
		last = p.Key
	}
	for i := len(params) - 1; i >= 0; i-- {
		p := params[i]
		if p.Key == "seed" {
			continue
		}
		numeric := true
		for _, v := range p.Values {
			if _, ok := numericValue(v); !ok {
				numeric = false
			}
		}
		if numeric {
			return p.Key
		}
	}
	return last
}

// numericValue reads a number, or a duration in hours.
func numericValue(v string) (float64, bool) {
	if x, err := strconv.ParseFloat(v, 64); err == nil {
		return x, true
	}
	if d, err := scenario.ParseDuration(v); err == nil {
		return d.D().Hours(), true
	}
	return 0, false
}

// WriteOutputs writes, from the runs' rows (RunRows, header first), the
// aggregate sweep.csv and the figure into dir. A single sweep and a merge
// of its shards call it with the same rows, so their outputs are equal
// byte for byte.
func WriteOutputs(dir string, m Manifest, rows [][]string) ([]string, error) {
	agg, err := Aggregate(m.Params, rows)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, SweepFile)
	if err := writeCSVFile(path, agg.Rows()); err != nil {
		return nil, err
	}
	files := []string{path}
	figs, err := DrawFigure(dir, m, agg)
	return append(files, figs...), err
}

func writeCSVFile(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	cw := csv.NewWriter(f)
	if err := cw.WriteAll(rows); err != nil {
		f.Close()
		return fmt.Errorf("sweep: %s: %w", path, err)
	}
	return f.Close()
}

// Agg is the runs grouped by point (the parameters but the seed), in grid
// order, with the mean and 95% confidence half-width of every figure.
type Agg struct {
	Keys    []string // the parameters but the seed
	Figures []string // RunColumns from firstFigure on
	Points  []AggPoint
}

// AggPoint is one point of the grid, over its seeds.
type AggPoint struct {
	Values []string // one per Keys
	Runs   int      // runs without error
	Failed int
	Mean   []float64 // one per Figures
	CI95   []float64 // half-width of the 95% confidence interval (Student's t)
}

// Aggregate groups the runs' rows by point. Rows come in any order: they
// are sorted by run index first.
func Aggregate(params []Param, rows [][]string) (*Agg, error) {
	if len(rows) == 0 {
		return nil, errors.New("sweep: no runs")
	}
	head := rows[0]
	var keys []string
	for _, p := range params {
		if p.Key != "seed" {
			keys = append(keys, p.Key)
		}
	}
	wantHead := append(append(append([]string{"point"}, keys...), "seed"), RunColumns...)
	if !slices.Equal(head, wantHead) {
		return nil, fmt.Errorf("sweep: runs header %v, expected %v", head, wantHead)
	}
	body := slices.Clone(rows[1:])
	idx := func(r []string) int { i, _ := strconv.Atoi(r[0]); return i }
	slices.SortStableFunc(body, func(a, b []string) int { return idx(a) - idx(b) })
	a := &Agg{Keys: keys, Figures: RunColumns[firstFigure:]}
	base := 1 + len(keys) + 1 // point, keys, seed
	errCol := base + slices.Index(RunColumns, "error")
	byPoint := map[string]int{}
	var samples [][][]float64 // point, figure, runs
	for _, r := range body {
		if len(r) != len(head) {
			return nil, fmt.Errorf("sweep: run %s has %d fields, expected %d", r[0], len(r), len(head))
		}
		vals := r[1 : 1+len(keys)]
		k := strings.Join(vals, "\x00")
		pi, ok := byPoint[k]
		if !ok {
			pi = len(a.Points)
			byPoint[k] = pi
			a.Points = append(a.Points, AggPoint{Values: slices.Clone(vals)})
			samples = append(samples, make([][]float64, len(a.Figures)))
		}
		if r[errCol] != "" {
			a.Points[pi].Failed++
			continue
		}
		a.Points[pi].Runs++
		for fi := range a.Figures {
			cell := r[base+firstFigure+fi]
			x, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				return nil, fmt.Errorf("sweep: run %s, %s: %q is not a number", r[0], a.Figures[fi], cell)
			}
			samples[pi][fi] = append(samples[pi][fi], x)
		}
	}
	for pi := range a.Points {
		p := &a.Points[pi]
		for fi := range a.Figures {
			m, ci := meanCI(samples[pi][fi])
			p.Mean = append(p.Mean, m)
			p.CI95 = append(p.CI95, ci)
		}
	}
	return a, nil
}

// tTable is Student's t quantile 0.975 for 1 to 30 degrees of freedom.
var tTable = [...]float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

// t975 is Student's t quantile 0.975 for df degrees of freedom, rounded
// up to the next tabulated df below (conservative beyond 30).
func t975(df int) float64 {
	switch {
	case df <= 30:
		return tTable[df-1]
	case df < 40:
		return 2.042
	case df < 60:
		return 2.021
	case df < 120:
		return 2.000
	}
	return 1.980
}

// meanCI is the mean and the half-width of its 95% confidence interval
// (0 with fewer than two samples). Sums run in order, so the same samples
// give the same bits.
func meanCI(xs []float64) (float64, float64) {
	n := len(xs)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(n)
	if n < 2 {
		return mean, 0
	}
	ss := 0.0
	for _, x := range xs {
		d := x - mean
		ss += float64(d * d)
	}
	sd := math.Sqrt(ss / float64(n-1))
	return mean, t975(n-1) * sd / math.Sqrt(float64(n))
}

// Rows is sweep.csv: the parameters, runs, failed, then for each figure
// its mean and 95% half-width.
func (a *Agg) Rows() [][]string {
	head := append(slices.Clone(a.Keys), "runs", "failed")
	for _, f := range a.Figures {
		head = append(head, f+"_mean", f+"_ci95")
	}
	rows := [][]string{head}
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', 10, 64) }
	for _, p := range a.Points {
		row := append(slices.Clone(p.Values), strconv.Itoa(p.Runs), strconv.Itoa(p.Failed))
		for fi := range a.Figures {
			row = append(row, g(p.Mean[fi]), g(p.CI95[fi]))
		}
		rows = append(rows, row)
	}
	return rows
}

// ReadRuns reads a runs.csv.
func ReadRuns(r io.Reader) ([][]string, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	return rows, nil
}

// WriteManifest writes m as indented JSON.
func WriteManifest(path string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Merge combines the outputs of a sweep's shards (directories holding
// sweep.json and runs.csv) into out: runs.csv, sweep.csv and the figure,
// equal byte for byte to what one unsharded run of the sweep writes. The
// shards must share one definition and together hold every point once.
func Merge(out string, shardDirs []string) ([]string, error) {
	if len(shardDirs) == 0 {
		return nil, errors.New("sweep merge: give the shards' output directories")
	}
	var m0 Manifest
	var rows [][]string
	seen := map[int]string{}
	shards := map[int]string{}
	for i, dir := range shardDirs {
		b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
		if err != nil {
			return nil, fmt.Errorf("sweep merge: %w", err)
		}
		var m Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("sweep merge: %s: %w", filepath.Join(dir, ManifestFile), err)
		}
		if i == 0 {
			m0 = m
		} else {
			a, b := m0, m
			a.Shard, b.Shard = Shard{}, Shard{}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) || m.Shard.N != m0.Shard.N {
				return nil, fmt.Errorf("sweep merge: %s is another sweep than %s (scenario, overrides, parameters, seed or shard count differ)", dir, shardDirs[0])
			}
		}
		if prev, dup := shards[m.Shard.I]; dup {
			return nil, fmt.Errorf("sweep merge: %s and %s are both shard %d/%d", prev, dir, m.Shard.I, m.Shard.N)
		}
		shards[m.Shard.I] = dir
		f, err := os.Open(filepath.Join(dir, RunsFile))
		if err != nil {
			return nil, fmt.Errorf("sweep merge: %w", err)
		}
		part, err := ReadRuns(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("sweep merge: %s: %w", dir, err)
		}
		if len(part) == 0 {
			return nil, fmt.Errorf("sweep merge: %s: empty %s", dir, RunsFile)
		}
		if i == 0 {
			rows = append(rows, part[0])
		} else if !slices.Equal(part[0], rows[0]) {
			return nil, fmt.Errorf("sweep merge: %s: runs.csv header differs from %s's", dir, shardDirs[0])
		}
		for _, r := range part[1:] {
			k, err := strconv.Atoi(r[0])
			if err != nil || k < 0 || k >= m0.Points {
				return nil, fmt.Errorf("sweep merge: %s: run index %q out of 0..%d", dir, r[0], m0.Points-1)
			}
			if prev, dup := seen[k]; dup {
				return nil, fmt.Errorf("sweep merge: run %d is in %s and %s", k, prev, dir)
			}
			seen[k] = dir
			rows = append(rows, r)
		}
	}
	var missing []string
	for k := range m0.Points {
		if _, ok := seen[k]; !ok {
			missing = append(missing, strconv.Itoa(k))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("sweep merge: %d of %d runs missing (%s): merge every shard of %d", len(missing), m0.Points,
			strings.Join(missing[:min(len(missing), 10)], " "), m0.Shard.N)
	}
	body := rows[1:]
	slices.SortStableFunc(body, func(a, b []string) int {
		x, _ := strconv.Atoi(a[0])
		y, _ := strconv.Atoi(b[0])
		return x - y
	})
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("sweep merge: %w", err)
	}
	m0.Shard = Shard{I: 0, N: 1}
	if err := WriteManifest(filepath.Join(out, ManifestFile), m0); err != nil {
		return nil, err
	}
	path := filepath.Join(out, RunsFile)
	if err := writeCSVFile(path, rows); err != nil {
		return nil, err
	}
	files, err := WriteOutputs(out, m0, rows)
	return append([]string{filepath.Join(out, ManifestFile), path}, files...), err
}
