package sweep

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/slapgo/slapgo/sim"
	"github.com/slapgo/slapgo/sim/output"
	"github.com/slapgo/slapgo/sim/scenario"
)

// Param is one swept scenario field and its values.
type Param struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// ParseParam reads "key=a,b,c".
func ParseParam(s string) (Param, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" || v == "" {
		return Param{}, fmt.Errorf("sweep: --param %q: expected key=a,b,c", s)
	}
	var vals []string
	for x := range strings.SplitSeq(v, ",") {
		if x = strings.TrimSpace(x); x == "" {
			return Param{}, fmt.Errorf("sweep: --param %q: an empty value", s)
		}
		vals = append(vals, x)
	}
	if k == "seed" {
		for _, x := range vals {
			if _, err := strconv.ParseUint(x, 10, 64); err != nil {
				return Param{}, fmt.Errorf("sweep: --param %q: seed %q is not a non-negative integer", s, x)
			}
		}
	}
	return Param{Key: k, Values: vals}, nil
}

// Point is one run of the grid.
type Point struct {
	Index  int
	Values []string // one per Param
	Seed   uint64
}

// Overrides are the --set words of the point.
func (p Point) Overrides(params []Param) []string {
	var out []string
	for i, pr := range params {
		if pr.Key != "seed" {
			out = append(out, pr.Key+"="+p.Values[i])
		}
	}
	return out
}

// Label is "k=v k=v".
func (p Point) Label(params []Param) string {
	var parts []string
	for i, pr := range params {
		parts = append(parts, pr.Key+"="+p.Values[i])
	}
	return strings.Join(parts, " ")
}

// Grid is the Cartesian product of params (last varying fastest); seed is
// used unless a "seed" parameter sets it.
func Grid(params []Param, seed uint64) []Point {
	n := 1
	for _, p := range params {
		n *= len(p.Values)
	}
	out := make([]Point, n)
	for i := range out {
		vals := make([]string, len(params))
		rest := i
		for k := len(params) - 1; k >= 0; k-- {
			vals[k] = params[k].Values[rest%len(params[k].Values)]
			rest /= len(params[k].Values)
		}
		pt := Point{Index: i, Values: vals, Seed: seed}
		for k, p := range params {
			if p.Key == "seed" {
				pt.Seed, _ = strconv.ParseUint(vals[k], 10, 64)
			}
		}
		out[i] = pt
	}
	return out
}

// Shard selects the points i, i+n, i+2n… (0 <= i < n).
type Shard struct {
	I int `json:"i"`
	N int `json:"n"`
}

// ParseShard reads "i/n".
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("sweep: --shard %q: expected i/n with 0 <= i < n, e.g. 0/4", s)
	}
	return Shard{I: i, N: n}, nil
}

// Select returns the shard's points.
func (sh Shard) Select(points []Point) []Point {
	if sh.N <= 1 {
		return points
	}
	var out []Point
	for _, p := range points {
		if p.Index%sh.N == sh.I {
			out = append(out, p)
		}
	}
	return out
}

// Config is one sweep.
type Config struct {
	File      string   // scenario file
	Overrides []string // --set applied to every point, before the point's own
	Params    []Param
	Points    []Point
	Workers   int    // 0: runtime.NumCPU()
	OutDir    string // each point writes into OutDir/point-NNNN
	Plots     bool   // also draw each point's plots
	// Done, when set, is called after each point (from the worker's goroutine,
	// one call at a time).
	Done func(Outcome)
}

// Outcome is one point's result.
type Outcome struct {
	Point   Point
	Dir     string
	Summary *sim.Summary
	Err     error
}

// PointDir is where a point writes.
func PointDir(out string, p Point) string {
	return filepath.Join(out, fmt.Sprintf("point-%04d", p.Index))
}

// Run runs every point of cfg and returns their outcomes in point order.
// A point that fails (bad override, violation) has Err set; the others
// still run. Cancelling ctx stops the runs in progress.
func Run(ctx context.Context, cfg Config) []Outcome {
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	out := make([]Outcome, len(cfg.Points))
	jobs := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(workers, max(len(cfg.Points), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				o := runPoint(ctx, cfg, cfg.Points[i])
				out[i] = o
				if cfg.Done != nil {
					mu.Lock()
					cfg.Done(o)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range cfg.Points {
		if ctx.Err() != nil {
			out[i] = Outcome{Point: cfg.Points[i], Err: ctx.Err()}
			continue
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out
}

func runPoint(ctx context.Context, cfg Config, p Point) Outcome {
	o := Outcome{Point: p, Dir: PointDir(cfg.OutDir, p)}
	overrides := append(append([]string(nil), cfg.Overrides...), p.Overrides(cfg.Params)...)
	sc, err := scenario.Load(cfg.File, overrides)
	if err != nil {
		o.Err = err
		return o
	}
	res, err := sim.Run(sc, sim.Options{Seed: p.Seed, File: cfg.File, Overrides: overrides, Context: ctx})
	if res == nil {
		o.Err = err
		return o
	}
	o.Summary = &res.Summary
	if cfg.Plots {
		_, werr := output.WriteRun(o.Dir, res)
		o.Err = firstErr(err, werr)
		return o
	}
	werr := writePoint(o.Dir, res)
	o.Err = firstErr(err, werr)
	return o
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// RunColumns are the runs' figures in runs.csv, after the point's index,
// parameters and seed: the run's identity, its counts, then every
// declared objective (sim.ObjectiveColumns).
var RunColumns = append([]string{"trace_hash", "events", "error", "placed", "pending_end", "abandoned",
	"pending_p95_s", "invoiced_eur", "peak_config_queue", "spec_orders", "spec_sales",
	"spec_hoarded_unit_hours", "pool_handovers", "pool_idle_unit_hours"}, sim.ObjectiveColumns...)

// firstFigure is the index in RunColumns of the first figure averaged over
// seeds (trace_hash, events and error are not).
const firstFigure = 3

// RunRows are the runs.csv rows of the outcomes, header first: point, the
// parameters' values but the seed, seed, then RunColumns. Numbers are
// written in the shortest form that reads back to the same float64, so
// that a merge of shards reading these rows aggregates the same bits.
func RunRows(params []Param, outcomes []Outcome) [][]string {
	head := []string{"point"}
	for _, p := range params {
		if p.Key != "seed" {
			head = append(head, p.Key)
		}
	}
	head = append(head, "seed")
	rows := [][]string{append(head, RunColumns...)}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	u := func(x uint64) string { return strconv.FormatUint(x, 10) }
	for _, o := range outcomes {
		row := []string{strconv.Itoa(o.Point.Index)}
		for i, p := range params {
			if p.Key != "seed" {
				row = append(row, o.Point.Values[i])
			}
		}
		row = append(row, u(o.Point.Seed))
		errText := ""
		if o.Err != nil {
			errText = o.Err.Error()
		}
		s := o.Summary
		if s == nil {
			s = &sim.Summary{}
		}
		sp := s.Speculation
		if sp == nil {
			sp = &sim.SpeculationSummary{}
		}
		pool := s.Preallocation
		if pool == nil {
			pool = &sim.PoolSummary{}
		}
		row = append(row, s.TraceHash, u(s.Events), errText, u(s.Placements.Placed), strconv.Itoa(s.Placements.PendingAtEnd),
			u(s.Placements.Abandoned), f(s.Placements.PendingTime.P95), f(s.Economics.InvoicedTotal),
			strconv.Itoa(s.Agents.PeakConfigQueue), u(sp.Orders), u(sp.Sales), f(sp.HoardedUnitHours),
			u(pool.Handovers), f(pool.IdleUnitHours))
		for _, x := range s.Objectives.Row() {
			row = append(row, f(x))
		}
		rows = append(rows, row)
	}
	return rows
}

// WriteWall writes the wall time of each run (wall.csv): the only figures
// that differ from one run of a sweep to the next.
func WriteWall(w io.Writer, outcomes []Outcome) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"point", "seed", "wall_s"})
	for _, o := range outcomes {
		wall := 0.0
		if o.Summary != nil {
			wall = o.Summary.Performance.WallSeconds
		}
		cw.Write([]string{strconv.Itoa(o.Point.Index), strconv.FormatUint(o.Point.Seed, 10), strconv.FormatFloat(wall, 'f', 3, 64)})
	}
	cw.Flush()
	return cw.Error()
}
