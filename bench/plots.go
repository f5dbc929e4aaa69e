package bench

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot is one figure drawn next to a report, as Name.png and Name.svg.
type Plot struct {
	Name  string
	Title string
}

var plotColors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// WritePlots draws the report's plots in dir, each as PNG and SVG: the
// latency histogram of every poll section (the headline load, or the
// reconnect storm), and the find-max ramp (p99 against the load, each
// measure marked held or not, the 100 ms bound drawn). It returns the
// plots drawn (none when the report has no poll section).
func WritePlots(dir string, rep Report) ([]Plot, error) {
	var polls []Section
	for _, s := range rep.Sections {
		if _, ok := s.Result.(PollResult); ok {
			polls = append(polls, s)
		}
	}
	if len(polls) == 0 {
		return nil, nil
	}
	var out []Plot
	hist := Plot{Name: "latency-histogram", Title: "poll latency (from the moment each poll was due)"}
	if p, ok, err := latencyHistogram(hist.Title, polls); err != nil {
		return out, err
	} else if ok {
		if err := savePlot(p, dir, hist.Name); err != nil {
			return out, err
		}
		out = append(out, hist)
	}
	for _, s := range polls {
		r := s.Result.(PollResult)
		if !r.FindMax || len(r.Steps) < 2 {
			continue
		}
		ramp := Plot{Name: "poll-ramp", Title: "find-max ramp: p99 against the load"}
		p, err := rampPlot(ramp.Title, r)
		if err != nil {
			return out, err
		}
		if err := savePlot(p, dir, ramp.Name); err != nil {
			return out, err
		}
		out = append(out, ramp)
		break
	}
	return out, nil
}

func savePlot(p *plot.Plot, dir, name string) error {
	for _, ext := range []string{".png", ".svg"} {
		path := filepath.Join(dir, name+ext)
		if err := p.Save(8*vg.Inch, 4*vg.Inch, path); err != nil {
			return fmt.Errorf("bench: plot %s: %w", path, err)
		}
	}
	return nil
}

// latencyHistogram draws, per poll section, the share of polls in each
// quarter-octave latency bin, on a logarithmic time axis.
func latencyHistogram(title string, polls []Section) (*plot.Plot, bool, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "latency (ms, log scale)"
	p.Y.Label.Text = "share of polls in the bin"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, s := range polls {
		r := s.Result.(PollResult)
		var lat Latency
		label := s.Name
		switch {
		case r.Storm != nil:
			lat = r.Storm.Latency
			label += fmt.Sprintf(": reconnect storm of %s nodes (time to view)", formatNumber(float64(r.Storm.Nodes)))
		case r.headline() != nil:
			h := r.headline()
			lat = h.Latency
			label += fmt.Sprintf(": %s %s nodes", formatNumber(h.EquivalentNodes), map[bool]string{true: "equivalent", false: "real"}[h.Compress != 1 || r.Identity != IdentityComputer])
		}
		if len(lat.Bins) == 0 || lat.Count == 0 {
			continue
		}
		// A step per bin, from its lower edge (a quarter octave below its
		// upper one) to its upper edge; zero between bins not adjacent.
		pts := make(plotter.XYs, 0, 4*len(lat.Bins))
		prev := 0.0
		for _, b := range lat.Bins {
			share := float64(b.Count) / float64(lat.Count)
			up := max(float64(b.UpTo)/1e6, 1e-3)
			lower := max(up/math.Pow(2, 0.25), 1e-3)
			if prev > 0 && lower > prev*1.001 {
				pts = append(pts, plotter.XY{X: prev, Y: 0}, plotter.XY{X: lower, Y: 0})
			}
			pts = append(pts, plotter.XY{X: lower, Y: share}, plotter.XY{X: up, Y: share})
			prev = up
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, false, fmt.Errorf("bench: latency histogram of %s: %w", s.Name, err)
		}
		l.Color = plotColors[i%len(plotColors)]
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(label, l)
		drawn++
	}
	p.Legend.Top = true
	return p, drawn > 0, nil
}

// rampPlot draws the p99 of every find-max measure against its load.
func rampPlot(title string, r PollResult) (*plot.Plot, error) {
	if len(r.Steps) == 0 {
		return nil, errors.New("bench: ramp plot: no steps")
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = fmt.Sprintf("equivalent nodes polling every %s (%s computers × compression)", formatInterval(r.Interval), formatNumber(float64(r.Nodes)))
	p.Y.Label.Text = "p99 latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	var held, failed plotter.XYs
	maxX := 0.0
	for _, st := range r.Steps {
		pt := plotter.XY{X: st.EquivalentNodes, Y: max(float64(st.Latency.P99)/1e6, 1e-3)}
		maxX = max(maxX, st.EquivalentNodes)
		if st.LoadHolds {
			held = append(held, pt)
		} else {
			failed = append(failed, pt)
		}
	}
	for i, set := range []struct {
		pts   plotter.XYs
		label string
		shape draw.GlyphDrawer
	}{{held, "load held (every measure)", draw.CircleGlyph{}}, {failed, "did not hold", draw.CrossGlyph{}}} {
		if len(set.pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(set.pts)
		if err != nil {
			return nil, fmt.Errorf("bench: ramp plot: %w", err)
		}
		sc.GlyphStyle.Color = plotColors[i]
		sc.GlyphStyle.Shape = set.shape
		sc.GlyphStyle.Radius = vg.Points(4)
		p.Add(sc)
		p.Legend.Add(set.label, sc)
	}
	maxP99 := r.MaxP99
	if maxP99 <= 0 {
		maxP99 = PollP99Target
	}
	bound, err := plotter.NewLine(plotter.XYs{{X: 0, Y: float64(maxP99) / 1e6}, {X: maxX * 1.05, Y: float64(maxP99) / 1e6}})
	if err != nil {
		return nil, err
	}
	bound.Color = color.Gray{Y: 0x60}
	bound.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(bound)
	p.Legend.Add("p99 bound "+formatDuration(maxP99), bound)
	p.Legend.Top = true
	p.Legend.Left = true
	return p, nil
}
