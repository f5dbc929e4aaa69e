package bench

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/internal/testenv"
)

func TestCompareFigure(t *testing.T) {
	tests := []struct {
		name      string
		base, new []float64
		ratio     float64
		low, high float64
		differs   bool
	}{
		{"same", []float64{100, 110, 90}, []float64{105, 95, 100}, 1, 0.864, 1.111, false},
		{"twice as fast, every pair", []float64{100, 110, 90}, []float64{200, 220, 180}, 2, 2, 2, true},
		{"faster on average, one pair slower", []float64{100, 200, 100}, []float64{150, 150, 150}, 1.5, 0.75, 1.5, false},
		// Every pair higher, but by less than one side's own spread.
		{"within the spread", []float64{100, 150, 100}, []float64{110, 160, 110}, 1.1, 1.067, 1.1, false},
		{"an unmeasured run", []float64{100, math.NaN()}, []float64{50, 50}, 0.5, 0.5, 0.5, true},
		{"a zero base", []float64{0, 0}, []float64{1, 1}, math.NaN(), math.NaN(), math.NaN(), false},
	}
	near := func(a, b float64) bool { return math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) < 0.001 }
	for _, tc := range tests {
		cf := compareFigure(CompareFigure{Base: tc.base, New: tc.new})
		if !near(cf.Ratio, tc.ratio) || !near(cf.RatioLow, tc.low) || !near(cf.RatioHigh, tc.high) || cf.Differs != tc.differs {
			t.Errorf("%s: ratio %.3f [%.3f, %.3f] differs %v; want %.3f [%.3f, %.3f] %v", tc.name,
				cf.Ratio, cf.RatioLow, cf.RatioHigh, cf.Differs, tc.ratio, tc.low, tc.high, tc.differs)
		}
	}
}

func TestCompareReportsPairsFiguresByName(t *testing.T) {
	rep := func(speed float64, extra bool) Report {
		s := Section{Name: "alloc", Figures: []Figure{NewFigure("speed", speed, UnitPerSecond, nil, "")}}
		if extra {
			s.Figures = append(s.Figures, NewFigure("only new", 1, "", nil, ""))
		}
		return Report{Sections: []Section{s}}
	}
	figs, missing := compareReports([]Report{rep(10, false), rep(20, false)}, []Report{rep(20, true), rep(40, true)})
	if len(figs) != 1 || figs[0].Name != "speed" || figs[0].Ratio != 2 || !figs[0].Differs {
		t.Errorf("figures %+v: want speed at twice the base", figs)
	}
	if len(missing) != 1 || missing[0] != "alloc: only new" {
		t.Errorf("missing %v: want the figure only the new binary reported", missing)
	}
}

// TestCompareSameBinary runs a small simulation with the same binary on
// both sides, twice each: every figure is compared, the events (fixed by
// the seed) have a ratio of exactly 1 with no spread and no difference,
// and each timing's ratio lies within the ratios of its pairs (as the
// ratio of two sums lies between the ratios of their terms). No assertion
// rests on the machine being quiet.
func TestCompareSameBinary(t *testing.T) {
	testenv.Short(t, "runs the slapgo binary four times")
	bin := slapgoBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	res, err := RunCompare(ctx, CompareConfig{Base: bin, New: bin, Runs: 2, Progress: &progress,
		Args: []string{"sim", "--scenario", baselineScenario, "--nodes", "10:2h"}})
	if err != nil {
		t.Fatalf("RunCompare: %v\n%s", err, progress.String())
	}
	if len(res.Figures) == 0 || len(res.Missing) > 0 {
		t.Fatalf("figures %+v, missing %v", res.Figures, res.Missing)
	}
	events := 0
	for _, f := range res.Figures {
		if len(f.Base) != 2 || len(f.New) != 2 || f.RatioLow > f.Ratio*1.000001 || f.RatioHigh < f.Ratio*0.999999 {
			t.Errorf("%s: %+v: want two runs a side and the ratio within its pairs' range", f.Name, f)
		}
		if strings.HasPrefix(f.Name, "sim events") {
			events++
			if f.Ratio != 1 || f.RatioLow != 1 || f.RatioHigh != 1 || f.BaseSpread != 0 || f.NewSpread != 0 || f.Differs || f.BaseMedian <= 0 {
				t.Errorf("%s: %+v: the same binary simulates the same events: want a ratio of exactly 1", f.Name, f)
			}
		}
	}
	if events != 1 {
		t.Errorf("%d event figures, want 1", events)
	}
	if got := strings.Count(progress.String(), "bench compare: run "); got != 4 {
		t.Errorf("%d runs announced, want 4 (A B A B):\n%s", got, progress.String())
	}
	var b bytes.Buffer
	rep := Report{Sections: []Section{res.Section("slapgo bench compare")}}
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "beyond noise") || !strings.Contains(b.String(), "1.000 – 1.000") {
		t.Errorf("report:\n%s", b.String())
	}
}

func TestCompareUsage(t *testing.T) {
	for _, cfg := range []CompareConfig{
		{New: "b", Args: []string{"alloc"}, Runs: 1},
		{Base: "a", New: "b", Runs: 1},
		{Base: "a", New: "b", Args: []string{"all"}, Runs: 1},
		{Base: "a", New: "b", Args: []string{"alloc"}, Runs: 0},
	} {
		if _, err := RunCompare(context.Background(), cfg); err == nil {
			t.Errorf("%+v: accepted", cfg)
		}
	}
}
