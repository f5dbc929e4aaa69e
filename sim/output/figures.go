package output

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"

	"git.sr.ht/~sbinet/gg"
	"github.com/slapgo/slapgo/sim"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// curve is one line of a panel: a column of the time series (or a value
// derived from the samples), scaled.
type curve struct {
	label string
	value func(x sim.Sample) float64
}

// panel is one set of axes: grid totals and per-node series never share
// one.
type panel struct {
	title, unit string
	curves      []curve
}

// figure is one file: panels stacked over a shared time axis.
type figure struct {
	name   string
	panels []panel
}

var (
	lineColors = []color.RGBA{{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff}}
	// NB non-premultiplied: the shades are translucent.
	markColors = map[string]color.NRGBA{
		sim.MarkOutage: {0x7f, 0x7f, 0x7f, 0x60},
		sim.MarkBurst:  {0xff, 0x7f, 0x0e, 0x50},
		sim.MarkStorm:  {0x94, 0x67, 0xbd, 0xd0},
		sim.MarkGrid:   {0x2c, 0xa0, 0x2c, 0xd0},
	}
	markLabels = map[string]string{
		sim.MarkOutage: "outage or partition", sim.MarkBurst: "burst", sim.MarkStorm: "storm",
		sim.MarkGrid: "computers join or retire",
	}
)

// figures chooses the figures and panels meaningful for the run: a
// market panel only when the scenario has a price or delay policy,
// speculators or a pool; computers only when some go down, are cut off,
// join or retire; the master's queue only when commands waited.
func figures(res *sim.Result) []figure {
	ser, sum := res.Series, &res.Summary
	any := func(f func(x sim.Sample) bool) bool { return slices.ContainsFunc(ser, f) }
	cur := sum.Economics.Currency
	if cur == "" {
		cur = "EUR"
	}
	grid := figure{name: "busy", panels: []panel{{title: "Partitions, grid total", unit: "partitions", curves: []curve{
		{label: "busy (peak)", value: func(x sim.Sample) float64 { return float64(x.BusyPeak) }},
		{label: "free", value: func(x sim.Sample) float64 { return float64(x.Free) }},
	}}}}
	first := ser[0].NodesInService
	if any(func(x sim.Sample) bool { return x.NodesDown > 0 || x.NodesCut > 0 || x.NodesInService != first }) {
		grid.panels = append(grid.panels, panel{title: "Computers", unit: "computers", curves: []curve{
			{label: "in service", value: func(x sim.Sample) float64 { return float64(x.NodesInService) }},
			{label: "down", value: func(x sim.Sample) float64 { return float64(x.NodesDown) }},
			{label: "cut off", value: func(x sim.Sample) float64 { return float64(x.NodesCut) }},
		}})
	}
	wait := figure{name: "pending", panels: []panel{{title: "Requests waiting, grid total (true peaks)", unit: "requests", curves: []curve{
		{label: "pending at the master", value: func(x sim.Sample) float64 { return float64(x.PendingPeak) }},
		{label: "requesters' own", value: func(x sim.Sample) float64 { return float64(x.HonestPendingPeak) }},
	}}}}
	if any(func(x sim.Sample) bool { return x.HeldPeak > 0 }) {
		wait.panels[0].curves = append(wait.panels[0].curves, curve{label: "held by the provisioning delay", value: func(x sim.Sample) float64 { return float64(x.HeldPeak) }})
	}
	if any(func(x sim.Sample) bool { return x.MasterQueuePeak > 1 }) {
		wait.panels = append(wait.panels, panel{title: "Commands waiting for the master (true peak)", unit: "commands", curves: []curve{
			{label: "master queue", value: func(x sim.Sample) float64 { return float64(x.MasterQueuePeak) }},
		}})
	}
	queue := figure{name: "config-queue", panels: []panel{
		{title: "Configuration queue, grid total", unit: "partition actions", curves: []curve{
			{label: "all nodes", value: func(x sim.Sample) float64 { return float64(x.ConfigQueue) }},
		}},
		{title: "Configuration queue, busiest node (true peak)", unit: "partition actions", curves: []curve{
			{label: "one node", value: func(x sim.Sample) float64 { return float64(x.ConfigQueueMaxPeak) }},
		}},
	}}
	rate := make([]float64, len(ser))
	for i := 1; i < len(ser); i++ {
		if dt := ser[i].T - ser[i-1].T; dt > 0 {
			rate[i] = (ser[i].Revenue - ser[i-1].Revenue) / dt
		}
	}
	idx := map[float64]int{}
	for i, x := range ser {
		idx[x.T] = i
	}
	money := figure{name: "revenue", panels: []panel{
		{title: "Hosting revenue rate, grid total", unit: cur + "/h", curves: []curve{
			{label: "rate", value: func(x sim.Sample) float64 { return rate[idx[x.T]] }},
		}},
		{title: "Hosting revenue accrued, grid total", unit: cur, curves: []curve{
			{label: "accrued", value: func(x sim.Sample) float64 { return x.Revenue }},
		}},
	}}
	out := []figure{grid, wait, queue, money}
	var mk []panel
	if any(func(x sim.Sample) bool { return x.PriceFactor != 1 && x.PriceFactor != 0 }) {
		mk = append(mk, panel{title: "Price quoted (factor of the list price)", unit: "× list price", curves: []curve{
			{label: "price factor", value: func(x sim.Sample) float64 { return x.PriceFactor }},
		}})
	}
	if any(func(x sim.Sample) bool { return x.DelayS > 0 }) {
		mk = append(mk, panel{title: "Provisioning delay of a request made now", unit: "minutes", curves: []curve{
			{label: "delay", value: func(x sim.Sample) float64 { return x.DelayS / 60 }},
		}})
	}
	if sum.Speculation != nil {
		mk = append(mk, panel{title: "Speculators' units", unit: "partitions", curves: []curve{
			{label: "unsold", value: func(x sim.Sample) float64 { return float64(x.SpecUnsold) }},
			{label: "sold, in use", value: func(x sim.Sample) float64 { return float64(x.SpecSold) }},
		}})
	}
	if sum.Preallocation != nil {
		mk = append(mk, panel{title: "Pre-allocation pool", unit: "partitions", curves: []curve{
			{label: "ready, idle", value: func(x sim.Sample) float64 { return float64(x.PoolReady) }},
		}})
	}
	if len(mk) > 0 {
		out = append(out, figure{name: "market", panels: mk})
	}
	return out
}

// WriteFigures draws the run's figures as PNG and SVG in dir. Each carries
// the scenario, the seed and the trace hash in its first title; time runs
// along every panel in hours; the scenario's outages, bursts and storms
// are shaded; legends sit beside the axes, off the data.
func WriteFigures(dir string, res *sim.Result) ([]string, error) {
	if len(res.Series) == 0 {
		return nil, errors.New("output: no samples to plot")
	}
	var files []string
	var px pixels
	for _, fg := range figures(res) {
		for _, ext := range []string{".png", ".svg"} {
			path := filepath.Join(dir, fg.name+ext)
			if err := drawFigure(path, ext, fg, res, &px); err != nil {
				return files, err
			}
			files = append(files, path)
		}
	}
	return files, nil
}

// edgeLine is a plotter.Line that gives its plot only the glyph boxes
// that can pad it: of its points the plot keeps (none outside the axes),
// the leftmost, the rightmost, the lowest and the highest. A Line gives
// one box per point, all of one size, and the plot pads for the outermost
// horizontally and vertically (four times per panel drawn): the padding
// is the same, without a box for each of hundreds of samples.
type edgeLine struct{ *plotter.Line }

func (l edgeLine) GlyphBoxes(p *plot.Plot) []plot.GlyphBox {
	r := 0.5 * l.LineStyle.Width
	if r <= 0 {
		return nil // boxes of no size pad nothing
	}
	rect := vg.Rectangle{Min: vg.Point{X: -r, Y: -r}, Max: vg.Point{X: r, Y: r}}
	var x, y span
	for i := range l.XYs.Len() {
		px, py := l.XY(i)
		b := plot.GlyphBox{X: p.X.Norm(px), Y: p.Y.Norm(py), Rectangle: rect}
		if b.X < 0 || b.X > 1 || b.Y < 0 || b.Y > 1 {
			continue // the plot drops it
		}
		// A NaN coordinate pads nothing along its axis, but the box
		// still pads along the other.
		x.add(b, b.X)
		y.add(b, b.Y)
	}
	out := make([]plot.GlyphBox, 0, 4)
	if x.ok {
		out = append(out, x.lo, x.hi)
	}
	if y.ok {
		out = append(out, y.lo, y.hi)
	}
	return out
}

// span is the boxes at the two ends along one axis (edgeLine).
type span struct {
	lo, hi     plot.GlyphBox
	loAt, hiAt float64
	ok         bool
}

// add counts b, at coordinate at along the axis (NaN: nowhere).
func (s *span) add(b plot.GlyphBox, at float64) {
	switch {
	case math.IsNaN(at):
	case !s.ok:
		s.lo, s.hi, s.loAt, s.hiAt, s.ok = b, b, at, at, true
	case at < s.loAt:
		s.lo, s.loAt = b, at
	case at > s.hiAt:
		s.hi, s.hiAt = b, at
	}
}

// figureDPI is the resolution of the PNG figures.
const figureDPI = 110

// pixels is the memory the PNG figures of a run are drawn into and encoded
// with, one after the other: each figure reuses it.
type pixels struct {
	buf []uint8
	// enc writes the PNG figures; its buffers (the deflater's few MiB
	// among them) go from one figure to the next too.
	enc     png.Encoder
	encBufs *png.EncoderBuffer
}

// Get and Put make pixels the png.EncoderBufferPool of its encoder.
func (px *pixels) Get() *png.EncoderBuffer  { return px.encBufs }
func (px *pixels) Put(b *png.EncoderBuffer) { px.encBufs = b }

// encoder is the PNG encoder of the figures: BestSpeed, the same pixels
// deflated at a third of the CPU (a figure is a few flat colours: the file
// grows little).
func (px *pixels) encoder() *png.Encoder {
	if px.enc.BufferPool == nil {
		px.enc = png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: px}
	}
	return &px.enc
}

// canvas is a white PNG canvas of w × h at figureDPI over px's memory. It
// is the canvas vgimg.NewWith(UseWH(w, h), UseDPI(figureDPI)) makes, drawn
// straight into its image: that one copies a fresh image into another
// (gg.NewContextForImage), a full figure of memory moved for nothing.
func (px *pixels) canvas(w, h vg.Length) *vgimg.Canvas {
	r := image.Rect(0, 0, int(w/vg.Inch*figureDPI+0.5), int(h/vg.Inch*figureDPI+0.5))
	n := 4 * r.Dx() * r.Dy()
	if cap(px.buf) < n {
		px.buf = make([]uint8, n)
	}
	img := &image.RGBA{Pix: px.buf[:n], Stride: 4 * r.Dx(), Rect: r}
	ctx := gg.NewContextForRGBA(img)
	// As vgimg.NewWith sets up a context it makes itself.
	ctx.SetLineCapButt()
	ctx.InvertY()
	// The background (white) is painted over the whole image by NewWith.
	return vgimg.NewWith(vgimg.UseImageWithContext(img, ctx), vgimg.UseDPI(figureDPI))
}

func drawFigure(path, ext string, fg figure, res *sim.Result, px *pixels) error {
	render, w, h, err := layout(path, fg, res)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if ext == ".png" {
		c := px.canvas(w, h)
		render(draw.New(c))
		b := bufio.NewWriter(f)
		if err = px.encoder().Encode(b, c.Image()); err == nil {
			err = b.Flush()
		}
	} else {
		c := vgsvg.New(w, h)
		render(draw.New(c))
		_, err = c.WriteTo(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("output: %s: %w", path, err)
	}
	return nil
}

// layout lays a figure out: render draws it on a canvas of w × h.
func layout(path string, fg figure, res *sim.Result) (render func(draw.Canvas), w, h vg.Length, err error) {
	s := &res.Summary
	hash := s.TraceHash
	if len(hash) > 16 {
		hash = hash[:16]
	}
	caption := fmt.Sprintf("scenario %s · seed %d · trace %s", s.Scenario, s.Seed, hash)
	const legendW = 2.6 * vg.Inch
	w, ph := 11*vg.Inch, 2.8*vg.Inch
	h = ph * vg.Length(len(fg.panels))
	type drawn struct {
		p   *plot.Plot
		leg plot.Legend
	}
	var ds []drawn
	tEnd := res.Series[len(res.Series)-1].T
	for pi, pn := range fg.panels {
		p := plot.New()
		p.Title.Text = pn.title
		if pi == 0 {
			p.Title.Text = caption + "\n" + pn.title
		}
		p.X.Label.Text = "virtual time (hours)"
		p.Y.Label.Text = pn.unit
		p.X.Min, p.X.Max = 0, tEnd
		leg := plot.NewLegend()
		leg.Top, leg.Left = true, true
		yMax := 0.0
		for _, c := range pn.curves {
			for _, x := range res.Series {
				yMax = max(yMax, c.value(x))
			}
		}
		yMax = max(yMax*1.08, 1)
		p.Y.Min, p.Y.Max = 0, yMax
		p.Add(plotter.NewGrid())
		seen := map[string]bool{}
		for _, m := range res.Marks {
			c := markColors[m.Kind]
			if m.To > m.From {
				poly, err := plotter.NewPolygon(plotter.XYs{{X: m.From, Y: 0}, {X: m.To, Y: 0}, {X: m.To, Y: yMax}, {X: m.From, Y: yMax}})
				if err != nil {
					return nil, 0, 0, fmt.Errorf("output: %s: %w", path, err)
				}
				poly.Color = c
				poly.LineStyle.Width = 0
				p.Add(poly)
				if !seen[m.Kind] {
					leg.Add(markLabels[m.Kind], poly)
				}
			} else {
				l, err := plotter.NewLine(plotter.XYs{{X: m.From, Y: 0}, {X: m.From, Y: yMax}})
				if err != nil {
					return nil, 0, 0, fmt.Errorf("output: %s: %w", path, err)
				}
				l.Color = c
				l.Width = vg.Points(1.5)
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
				p.Add(l)
				if !seen[m.Kind] {
					leg.Add(markLabels[m.Kind], l)
				}
			}
			seen[m.Kind] = true
		}
		for ci, c := range pn.curves {
			pts := make(plotter.XYs, len(res.Series))
			for i, x := range res.Series {
				pts[i].X, pts[i].Y = x.T, c.value(x)
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return nil, 0, 0, fmt.Errorf("output: %s: %w", path, err)
			}
			l.Color = lineColors[ci%len(lineColors)]
			l.Width = vg.Points(1.2)
			p.Add(edgeLine{l})
			leg.Add(c.label, l)
		}
		ds = append(ds, drawn{p, leg})
	}
	render = func(dc draw.Canvas) {
		// Aligned: every panel's time axis spans the same width.
		col := make([][]*plot.Plot, len(ds))
		for i, d := range ds {
			col[i] = []*plot.Plot{d.p}
		}
		tiles := draw.Tiles{Rows: len(ds), Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
			PadLeft: vg.Millimeter * 2, PadY: vg.Millimeter * 4}
		cs := plot.Align(col, tiles, draw.Crop(dc, 0, -legendW, 0, 0))
		for i, d := range ds {
			d.p.Draw(cs[i][0])
			r := cs[i][0].Rectangle
			leg := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{X: w - legendW + vg.Millimeter*3, Y: r.Min.Y},
				Max: vg.Point{X: w, Y: r.Max.Y - vg.Millimeter*10}}}
			d.leg.Draw(leg)
		}
	}
	return render, w, h, nil
}
