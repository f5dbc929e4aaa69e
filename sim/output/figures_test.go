package output

import (
	"bytes"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/slapgo/slapgo/sim"
	"github.com/slapgo/slapgo/sim/scenario"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The PNG figures are drawn over memory reused from one figure to the
// next; pixel for pixel they are what gonum/plot's own canvas draws, for
// every figure of a run with a market and shaded marks, in either order
// (a figure drawn where a taller one was).
func TestPNGCanvasDrawsAsLibraryCanvas(t *testing.T) {
	sc, err := scenario.Parse("m.yaml", []byte(tiny+`economics:
  speculators: {count: 2}
master:
  delay_policy: {kind: proportional, base: 0s, max: 10m}
`), []string{"workload.bursts=[{at: 30m, count: 30}]"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.Run(sc, sim.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	figs := figures(res)
	back := slices.Clone(figs)
	slices.Reverse(back)
	sizes := map[vg.Length]bool{}
	var px pixels
	for _, fg := range append(figs, back...) {
		render, w, h, err := layout(fg.name, fg, res)
		if err != nil {
			t.Fatal(err)
		}
		sizes[h] = true
		ref := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(figureDPI))
		render(draw.New(ref))
		c := px.canvas(w, h)
		render(draw.New(c))
		want, got := ref.Image().(*image.RGBA), c.Image().(*image.RGBA)
		if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("%s: the figure drawn over reused memory (%v) differs from the library's canvas (%v)", fg.name, got.Rect, want.Rect)
		}
	}
	if len(sizes) < 2 {
		t.Fatalf("all %d figures have one height: the reuse of a taller figure's memory is not exercised", len(figs))
	}
}

// A plot pads for an edgeLine exactly as for the plotter.Line it wraps:
// random lines, with points on the axes' edges, outside them and NaN, of
// several widths, several to a plot.
func TestEdgeLinePadsAsLine(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	value := func() float64 {
		switch r.IntN(8) {
		case 0:
			return 0 // on an edge
		case 1:
			return 10
		case 2:
			return math.NaN()
		default:
			return r.Float64()*14 - 2 // a fifth of them outside [0, 10]
		}
	}
	c := draw.New(vgimg.New(6*vg.Inch, 3*vg.Inch))
	padded := 0
	for trial := range 1000 {
		plain, edged := plot.New(), plot.New()
		for range 1 + r.IntN(3) {
			pts := make(plotter.XYs, 1+r.IntN(30))
			for i := range pts {
				pts[i].X, pts[i].Y = value(), value()
			}
			l := &plotter.Line{XYs: pts, LineStyle: draw.LineStyle{Width: vg.Points([]float64{0, 1.2, 3, 9}[r.IntN(4)])}}
			plain.Add(l)
			edged.Add(edgeLine{l})
		}
		for _, p := range []*plot.Plot{plain, edged} {
			p.Title.Text = "t"
			// After Add, which widens the axes to the data.
			p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 10, 0, 10
		}
		want, got := plain.DataCanvas(c).Rectangle, edged.DataCanvas(c).Rectangle
		if got != want {
			t.Fatalf("trial %d: the data area is %v with edge lines, %v with lines", trial, got, want)
		}
		bare := plot.New()
		bare.Title.Text = "t"
		bare.X.Min, bare.X.Max, bare.Y.Min, bare.Y.Max = 0, 10, 0, 10
		if bare.DataCanvas(c).Rectangle != want {
			padded++
		}
	}
	if padded < 250 {
		t.Fatalf("only %d of 1000 plots are padded for their lines: the test exercises little", padded)
	}
}
