package output

import (
	"bytes"
	"image"
	"slices"
	"testing"

	"github.com/slapgo/slapgo/sim"
	"github.com/slapgo/slapgo/sim/scenario"
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
