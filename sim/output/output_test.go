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
	if want := 2 + 2*len(Plots); len(files) != want {
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
	for _, p := range Plots {
		png, err := os.ReadFile(filepath.Join(dir, p.Name+".png"))
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("%s.png: %v", p.Name, err)
		}
		svg, err := os.ReadFile(filepath.Join(dir, p.Name+".svg"))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s.svg: %v", p.Name, err)
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
