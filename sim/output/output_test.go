package output

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/sim"
	"github.com/slapgo/slapgo/sim/scenario"
)

const tiny = `duration: 2h
sample_every: 10m
software:
  - url: https://lab.slapgo.example/software/a.cfg
nodes:
  - {name: eu, count: 3, partitions: 20, region: eu}
workload: {requesters: 10, initial: 20, rate_per_hour: 20}
`

func TestWriteRun(t *testing.T) {
	sc, err := scenario.Parse("tiny.yaml", []byte(tiny), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.Run(sc, sim.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	files, err := WriteRun(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	figs := []string{"busy", "pending", "config-queue", "revenue"} // no market: the scenario has none
	if want := 2 + 2*len(figs); len(files) != want {
		t.Errorf("%d files, want %d: %v", len(files), want, files)
	}
	f, err := os.Open(filepath.Join(dir, SeriesFile))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(res.Series) || strings.Join(rows[0], ",") != strings.Join(sim.SeriesColumns, ",") || rows[len(rows)-1][0] != "2" {
		t.Errorf("timeseries.csv: %d rows, header %v, last %v", len(rows), rows[0], rows[len(rows)-1])
	}
	data, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var back sim.Summary
	if err := json.Unmarshal(data, &back); err != nil || back.TraceHash != res.Summary.TraceHash || back.Nodes != 3 {
		t.Errorf("summary.json: %v, %+v", err, back)
	}
	caption := "scenario tiny · seed 1 · trace " + res.Summary.TraceHash[:16]
	for _, name := range figs {
		png, err := os.ReadFile(filepath.Join(dir, name+".png"))
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("%s.png: %v", name, err)
		}
		svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte(caption)) {
			t.Errorf("%s.svg: %v, or no caption %q", name, err, caption)
		}
	}
	var text bytes.Buffer
	PrintSummary(&text, &res.Summary)
	for _, want := range []string{"scenario tiny, seed 1", "placements:", "configuration queues:", "revenue:", "utilisation:", "trace hash: " + res.Summary.TraceHash} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
}

// A scenario with a delay policy, speculators and a burst gets the market
// figure, its panels and the burst shaded; units are EUR.
func TestFiguresFollowTheScenario(t *testing.T) {
	sc, err := scenario.Parse("m.yaml", []byte(tiny+`economics:
  speculators: {count: 2}
master:
  delay_policy: {kind: proportional, base: 0s, max: 10m}
`), []string{"workload.bursts=[{at: 30m, count: 30}]", "nodes[0].currency=EUR"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.Run(sc, sim.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := WriteRun(dir, res); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "market.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Provisioning delay of a request made now", "Speculators&#39; units", "burst"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("market.svg lacks %q", want)
		}
	}
	if bytes.Contains(svg, []byte("Price quoted")) {
		t.Error("market.svg has a price panel without a price policy")
	}
	rev, err := os.ReadFile(filepath.Join(dir, "revenue.svg"))
	if err != nil || !bytes.Contains(rev, []byte("EUR/h")) {
		t.Errorf("revenue.svg: %v, no EUR/h axis", err)
	}
	if len(res.Marks) != 1 || res.Marks[0].Kind != sim.MarkBurst || res.Marks[0].From != 0.5 {
		t.Errorf("marks = %+v", res.Marks)
	}
}
