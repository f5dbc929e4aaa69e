package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Statuses of a figure measured against its target.
const (
	StatusPass = "PASS"
	StatusMiss = "MISS"
)

// Target is a bound a figure must meet: Op is ">=" (at least) or "<=" (at
// most), Value is in the figure's unit.
type Target struct {
	Op    string  `json:"op"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// AtLeast is the target "value >= v".
func AtLeast(v float64, unit string) Target { return Target{Op: ">=", Value: v, Unit: unit} }

// AtMost is the target "value <= v".
func AtMost(v float64, unit string) Target { return Target{Op: "<=", Value: v, Unit: unit} }

// Met reports whether x meets the target. NaN never does.
func (t Target) Met(x float64) bool {
	switch t.Op {
	case ">=":
		return x >= t.Value
	case "<=":
		return x <= t.Value
	case "<":
		return x < t.Value
	}
	return false
}

// Status is StatusPass or StatusMiss for x.
func (t Target) Status(x float64) string {
	if t.Met(x) {
		return StatusPass
	}
	return StatusMiss
}

// String writes the target as printed in tables: ">= 50,000 /s".
func (t Target) String() string {
	return t.Op + " " + formatValue(t.Value, t.Unit)
}

// Figure is one headline number of a section, with its target when the
// project set one.
type Figure struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target *Target `json:"target,omitempty"`
	Status string  `json:"status,omitempty"`
	// Why explains a status other than PASS or MISS (n/a, no verdict).
	Why     string `json:"why,omitempty"`
	Details string `json:"details,omitempty"` // what it was measured on
	// Conditions the target is defined for, as the run met them or not.
	Conditions []Condition `json:"conditions,omitempty"`
}

// MarshalJSON writes Value as null when it is not a number (a figure that
// could not be measured), which JSON cannot carry.
func (f Figure) MarshalJSON() ([]byte, error) {
	type plain Figure
	w := struct {
		plain
		Value *float64 `json:"value"`
	}{plain: plain(f)}
	if !math.IsNaN(f.Value) && !math.IsInf(f.Value, 0) {
		w.Value = &f.Value
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a null Value as NaN.
func (f *Figure) UnmarshalJSON(data []byte) error {
	type plain Figure
	w := struct {
		*plain
		Value *float64 `json:"value"`
	}{plain: (*plain)(f)}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	f.Value = math.NaN()
	if w.Value != nil {
		f.Value = *w.Value
	}
	return nil
}

// NewFigure builds a figure and judges it against target (nil: no target).
func NewFigure(name string, value float64, unit string, target *Target, details string) Figure {
	f := Figure{Name: name, Value: value, Unit: unit, Target: target, Details: details}
	if target != nil {
		f.Status = target.Status(value)
	}
	return f
}

// Table is one result table: a title, column names and rows of already
// formatted cells.
type Table struct {
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// Section is the outcome of one bench command: headline figures, tables,
// notes a reader needs to trust them, the command that reproduces it, and
// the typed result for programs.
type Section struct {
	Name    string        `json:"name"` // alloc, poll, storm, sim
	Title   string        `json:"title"`
	Command string        `json:"command"`
	Started time.Time     `json:"started"`
	Wall    time.Duration `json:"wall_ns"`
	// Load is the 1-minute load average when the section began.
	Load    float64  `json:"load_average_at_start"`
	Figures []Figure `json:"figures"`
	Tables  []Table  `json:"tables"`
	Notes   []string `json:"notes,omitempty"`
	Result  any      `json:"result"`
}

// Report is what a bench command prints: the machine, then its sections.
type Report struct {
	Machine  Machine   `json:"machine"`
	Started  time.Time `json:"started"`
	Sections []Section `json:"sections"`
}

// Misses counts the figures that missed their target.
func (r *Report) Misses() int {
	n := 0
	for _, s := range r.Sections {
		for _, f := range s.Figures {
			if f.Status == StatusMiss {
				n++
			}
		}
	}
	return n
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a terminal: aligned columns.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "machine: %s\n", r.Machine)
	for _, s := range r.Sections {
		fmt.Fprintf(ew, "\n== %s: %s (%s, load average %.2f at start)\n", s.Name, s.Title, roundDuration(s.Wall), s.Load)
		fmt.Fprintf(ew, "   %s\n", s.Command)
		if len(s.Figures) > 0 {
			writeAligned(ew, figureTable(s.Figures))
		}
		for _, t := range s.Tables {
			fmt.Fprintf(ew, "\n%s\n", t.Title)
			writeAligned(ew, t)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(ew, "NB: %s\n", n)
		}
	}
	return ew.err
}

// WriteMarkdown writes the report as Markdown (bench/results/latest.md and
// the README's Performance section).
func (r *Report) WriteMarkdown(w io.Writer, heading string) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "Machine: %s. Run started %s.\n", r.Machine, r.Started.UTC().Format(time.RFC3339))
	for _, s := range r.Sections {
		fmt.Fprintf(ew, "\n%s %s: %s\n\n", heading, s.Name, s.Title)
		fmt.Fprintf(ew, "`%s` (%s, load average %.2f at start)\n\n", s.Command, roundDuration(s.Wall), s.Load)
		if len(s.Figures) > 0 {
			writeMarkdownTable(ew, figureTable(s.Figures))
		}
		for _, t := range s.Tables {
			fmt.Fprintf(ew, "\n%s\n\n", t.Title)
			writeMarkdownTable(ew, t)
		}
		if len(s.Notes) > 0 {
			fmt.Fprintln(ew)
			for _, n := range s.Notes {
				fmt.Fprintf(ew, "- %s\n", n)
			}
		}
	}
	return ew.err
}

// WriteSummaryMarkdown writes every section's headline figures as one
// Markdown table (bench, figure, value, target, status, measured on): the
// top of latest.md and the README's Performance table.
func (r *Report) WriteSummaryMarkdown(w io.Writer) error {
	ew := &errWriter{w: w}
	t := Table{Columns: []string{"bench", "figure", "value", "target", "status", "measured on"}}
	for _, s := range r.Sections {
		for _, row := range figureTable(s.Figures).Rows {
			t.Rows = append(t.Rows, append([]string{s.Name}, row...))
		}
	}
	writeMarkdownTable(ew, t)
	return ew.err
}

// figureTable lays out headline figures as a table.
func figureTable(figs []Figure) Table {
	t := Table{Columns: []string{"figure", "value", "target", "status", "measured on"}}
	for _, f := range figs {
		target := ""
		if f.Target != nil {
			target = f.Target.String()
		}
		status := f.Status
		if f.Why != "" {
			status += ": " + f.Why
		}
		t.Rows = append(t.Rows, []string{f.Name, formatValue(f.Value, f.Unit), target, status, f.Details})
	}
	return t
}

func writeAligned(w io.Writer, t Table) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.Columns, "\t"))
	for _, row := range t.Rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}

func writeMarkdownTable(w io.Writer, t Table) {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	cells := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cells[i] = esc(c)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(t.Columns)))
	for _, row := range t.Rows {
		cells = cells[:0]
		for _, c := range row {
			cells = append(cells, esc(c))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
}

// errWriter keeps the first write error so formatting code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// Units of figures. Durations are carried in seconds.
const (
	UnitPerSecond = "/s"
	UnitSeconds   = "s"
	UnitBytes     = "B"
	UnitRatio     = "ratio" // a fraction, printed as a percentage
	UnitTimes     = "x"     // a speed-up or virtual-to-real factor
	UnitNodes     = "nodes"
	UnitCores     = "cores"
	UnitRuns      = "runs"
)

// formatValue prints a value in its unit for tables.
func formatValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	switch unit {
	case UnitSeconds:
		return formatSeconds(v)
	case UnitBytes:
		return formatBytes(v)
	case UnitRatio:
		return formatPercent(v)
	case UnitTimes:
		return formatNumber(v) + "x"
	}
	return formatNumber(v) + unitSuffix(unit)
}

func unitSuffix(unit string) string {
	switch unit {
	case "", UnitRatio:
		return ""
	case UnitPerSecond, UnitTimes:
		return unit
	case UnitSeconds:
		return " s"
	}
	return " " + unit
}

// formatNumber prints a number with thousands separators, keeping three
// significant digits below 100: 52,310; 12.3; 0.0421.
func formatNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	a := math.Abs(v)
	switch {
	case a >= 100 || a == math.Trunc(a):
		return groupThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatSeconds prints a duration given in seconds with a fitting unit.
func formatSeconds(s float64) string {
	return formatDuration(time.Duration(s * float64(time.Second)))
}

// formatDuration prints a duration with three significant digits: 812µs,
// 1.23ms, 45.6s, 2m03s.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return trimUnit(float64(d)/float64(time.Microsecond), "µs")
	case d < time.Second:
		return trimUnit(float64(d)/float64(time.Millisecond), "ms")
	case d < time.Minute:
		return trimUnit(d.Seconds(), "s")
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

func trimUnit(v float64, unit string) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + unit
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + unit
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + unit
}

// formatInterval prints a period as people write it: 60s -> "1m", 90s ->
// "1m30s", 2h -> "2h".
func formatInterval(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// roundDuration is a wall time as printed in headings.
func roundDuration(d time.Duration) string {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return formatDuration(d)
}

// formatBytes prints a size in binary units: 512 KiB, 87.5 MiB, 1.21 GiB.
func formatBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return trimUnit(b, " "+units[i])
}

// formatPercent prints a fraction as a percentage: 0.9876 -> 98.8%.
func formatPercent(f float64) string {
	p := f * 100
	switch {
	case p == 100 || p == 0:
		return fmt.Sprintf("%.0f%%", p)
	case p >= 99.9 && p < 100 || p > 0 && p < 0.1:
		return fmt.Sprintf("%.3f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}
