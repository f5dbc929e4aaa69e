package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWritePlots draws the latency histogram and the ramp of a poll
// result, and links them from latest.md.
func TestWritePlots(t *testing.T) {
	var h Histogram
	for i := range 1000 {
		h.Record(time.Duration(1+i%50) * time.Millisecond)
	}
	step := func(nodes float64, p99 time.Duration, holds, again bool) PollStep {
		return PollStep{Compress: nodes / 1000, EquivalentNodes: nodes, Latency: Latency{P99: p99, Count: 1}, Holds: holds, Again: again}
	}
	r := PollResult{Nodes: 1000, Interval: time.Minute, Identity: IdentityAdmin, FindMax: true, MaxP99: 100 * time.Millisecond,
		Steps: []PollStep{step(30000, 5*time.Millisecond, true, false), step(60000, 40*time.Millisecond, true, false),
			step(120000, 300*time.Millisecond, false, false), step(120000, 90*time.Millisecond, true, true)}}
	r.Steps[1].Latency = h.Summary()
	markLoads(r.Steps)
	r.Held = pollHeadline(r.Steps)
	storm := PollResult{Nodes: 10, Storm: &ReconnectStorm{Nodes: 10, Latency: h.Summary()}}
	rep := Report{Sections: []Section{
		{Name: "poll", Figures: []Figure{NewFigure("x", 1, "", nil, "")}, Result: r},
		{Name: "poll-storm", Result: storm},
	}}
	dir := t.TempDir()
	if d := os.Getenv("BENCH_PLOT_DIR"); d != "" {
		dir = d // to look at them
	}
	if err := WriteResults(dir, rep); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"latency-histogram", "poll-ramp"} {
		for _, ext := range []string{".png", ".svg"} {
			st, err := os.Stat(filepath.Join(dir, name+ext))
			if err != nil || st.Size() < 1000 {
				t.Errorf("%s%s: %v (size %d)", name, ext, err, st.Size())
			}
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "latency-histogram.svg"))
	if err != nil || !strings.Contains(string(svg), "reconnect storm of 10 nodes") || !strings.Contains(string(svg), "60,000 equivalent nodes") {
		t.Errorf("the histogram's legend lacks a series: %v", err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "latest.md"))
	if !strings.Contains(string(md), "![find-max ramp: p99 against the load](poll-ramp.svg)") || !strings.Contains(string(md), "(latency-histogram.png)") {
		t.Errorf("latest.md does not link the plots:\n%s", md)
	}
	// No poll section: no plot.
	if plots, err := WritePlots(t.TempDir(), Report{Sections: []Section{{Name: "alloc", Result: AllocResult{}}}}); err != nil || len(plots) != 0 {
		t.Errorf("WritePlots without poll: %v, %v", plots, err)
	}
}
