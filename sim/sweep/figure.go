package sweep

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// panels are the objectives the figure draws, one panel each, with their
// unit and the scale from the CSV's unit.
var panels = []struct {
	col, title, unit string
	scale            float64
}{
	{"provider_profit_eur", "Provider profit", "EUR", 1},
	{"requester_welfare_eur", "Requester welfare", "EUR", 1},
	{"speculator_profit_eur", "Speculator profit", "EUR", 1},
	{"total_surplus_eur", "Total surplus", "EUR", 1},
	{"utilisation", "Utilisation", "% of open partitions", 100},
	{"time_to_service_p50_s", "Time to service, p50", "minutes", 1.0 / 60},
	{"time_to_service_p95_s", "Time to service, p95", "minutes", 1.0 / 60},
	{"abandoned_share", "Needs unserved", "% of requests", 100},
}

// seriesColors: one per line, distinguishable in print.
var seriesColors = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff},
	{0xff, 0x7f, 0x0e, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
}

// DrawFigure draws sweep.png and sweep.svg: one panel per objective, the
// objective's mean against m.X, one line per combination of the other
// parameters, the 95% confidence interval shaded around it, and the
// legend in a panel of its own, off the data.
func DrawFigure(dir string, m Manifest, a *Agg) ([]string, error) {
	xi := slices.Index(a.Keys, m.X)
	var xs []string // x values in grid order
	if xi >= 0 {
		for _, p := range m.Params {
			if p.Key == m.X {
				xs = p.Values
			}
		}
	}
	numeric := xi >= 0
	for _, v := range xs {
		if _, ok := numericValue(v); !ok {
			numeric = false
		}
	}
	xPos := func(v string) float64 {
		if numeric {
			x, _ := numericValue(v)
			return x
		}
		return float64(slices.Index(xs, v))
	}
	// Lines: the combinations of the other parameters, in grid order.
	type line struct {
		label string
		pts   []AggPoint
	}
	var lines []*line
	byLabel := map[string]*line{}
	for _, p := range a.Points {
		var parts []string
		for k, key := range a.Keys {
			if k != xi {
				parts = append(parts, key+"="+p.Values[k])
			}
		}
		label := strings.Join(parts, " ")
		if label == "" {
			label = "mean"
		}
		l := byLabel[label]
		if l == nil {
			l = &line{label: label}
			byLabel[label] = l
			lines = append(lines, l)
		}
		l.pts = append(l.pts, p)
	}
	xLabel := m.X
	if xLabel == "" {
		xLabel = "point"
	}
	seeds := "seed " + fmt.Sprint(m.Seed)
	for _, p := range m.Params {
		if p.Key == "seed" {
			seeds = "seeds " + strings.Join(p.Values, ",")
		}
	}
	var plots [][]*plot.Plot
	row := []*plot.Plot{}
	legend := plot.New()
	for pi, pn := range panels {
		fi := slices.Index(a.Figures, pn.col)
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = xLabel
		p.Y.Label.Text = pn.unit
		p.Add(plotter.NewGrid())
		for li, l := range lines {
			c := seriesColors[li%len(seriesColors)]
			var mean, band plotter.XYs
			for _, ap := range l.pts {
				x := 0.0
				if xi >= 0 {
					x = xPos(ap.Values[xi])
				}
				y, ci := ap.Mean[fi]*pn.scale, ap.CI95[fi]*pn.scale
				if math.IsNaN(y) {
					continue
				}
				mean = append(mean, plotter.XY{X: x, Y: y})
				band = append(band, plotter.XY{X: x, Y: y + ci})
			}
			for k := len(l.pts) - 1; k >= 0; k-- {
				ap := l.pts[k]
				if math.IsNaN(ap.Mean[fi]) {
					continue
				}
				x := 0.0
				if xi >= 0 {
					x = xPos(ap.Values[xi])
				}
				band = append(band, plotter.XY{X: x, Y: (ap.Mean[fi] - ap.CI95[fi]) * pn.scale})
			}
			if len(mean) == 0 {
				continue
			}
			if poly, err := plotter.NewPolygon(band); err == nil && len(band) >= 3 {
				poly.Color = color.NRGBA{c.R, c.G, c.B, 0x40} // translucent: not premultiplied
				poly.LineStyle.Width = 0
				p.Add(poly)
			}
			ln, pts, err := plotter.NewLinePoints(mean)
			if err != nil {
				return nil, fmt.Errorf("sweep: figure: %w", err)
			}
			ln.Color, pts.Color = c, c
			ln.Width = vg.Points(1.4)
			pts.Shape = draw.CircleGlyph{}
			pts.Radius = vg.Points(2)
			p.Add(ln, pts)
			if pi == 0 {
				legend.Legend.Add(l.label, ln, pts)
			}
		}
		if !numeric && xi >= 0 {
			var ticks []plot.Tick
			for k, v := range xs {
				ticks = append(ticks, plot.Tick{Value: float64(k), Label: v})
			}
			p.X.Tick.Marker = plot.ConstantTicks(ticks)
		}
		row = append(row, p)
		if len(row) == 3 {
			plots = append(plots, row)
			row = []*plot.Plot{}
		}
	}
	legend.HideAxes()
	legend.Title.Text = fmt.Sprintf("%s, %s\nmean and 95%% CI over seeds", m.Scenario, seeds)
	legend.Legend.Left = true
	legend.Legend.Top = true
	row = append(row, legend)
	plots = append(plots, row)
	const cols = 3
	for len(plots[len(plots)-1]) < cols {
		plots[len(plots)-1] = append(plots[len(plots)-1], nil)
	}
	w, h := 14*vg.Inch, vg.Length(len(plots))*3.6*vg.Inch
	tiles := draw.Tiles{Rows: len(plots), Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	var files []string
	for _, ext := range []string{".png", ".svg"} {
		path := filepath.Join(dir, FigureName+ext)
		f, err := os.Create(path)
		if err != nil {
			return files, fmt.Errorf("sweep: %w", err)
		}
		var werr error
		switch ext {
		case ".png":
			c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))
			drawTiles(draw.New(c), tiles, plots)
			_, werr = vgimg.PngCanvas{Canvas: c}.WriteTo(f)
		default:
			c := vgsvg.New(w, h)
			drawTiles(draw.New(c), tiles, plots)
			_, werr = c.WriteTo(f)
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return files, fmt.Errorf("sweep: %s: %w", path, werr)
		}
		files = append(files, path)
	}
	return files, nil
}

func drawTiles(dc draw.Canvas, tiles draw.Tiles, plots [][]*plot.Plot) {
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j, p := range plots[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
}
