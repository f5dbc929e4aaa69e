package server

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// event is one change shown on the overview's "recent events".
type event struct {
	At    time.Time
	Owner string
	GUID  string
	Title string
	Text  string
}

// eventLog keeps the last events in memory (a ring): what happened to
// instances since the master started.
type eventLog struct {
	mu   sync.Mutex
	ring [2048]event
	n    int // events ever added
}

// record derives an event from a command the core applied.
func (l *eventLog) record(now time.Time, cmd master.Command, res master.Result) {
	if res.Instance == nil || !res.Changed {
		return
	}
	i := res.Instance
	var text string
	switch c := cmd.(type) {
	case master.Request:
		text = "requested " + string(i.RequestedState)
		if i.Status == master.StatusPending {
			text += ", pending: " + i.PendingReason
		} else if i.PartitionID != "" {
			text += " on " + i.ComputerID + "/" + i.PartitionID
		}
	case master.ReportPartition:
		text = "reported " + string(c.State)
		if c.Error != "" {
			text += ": " + c.Error
		}
	case master.SetConnection:
		text = "published its connection parameters"
	case master.Bang:
		text = "banged: " + c.Message
	case master.PartitionDestroyed:
		text = "destroyed: its partition is free again"
	case master.Rename:
		text = "renamed"
	default:
		return
	}
	l.mu.Lock()
	l.ring[l.n%len(l.ring)] = event{At: now, Owner: i.Owner, GUID: i.GUID, Title: i.Title, Text: text}
	l.n++
	l.mu.Unlock()
}

// recent returns the last n events a viewer may see, newest first.
func (l *eventLog) recent(who model.Actor, n int) []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event
	for k := l.n - 1; k >= 0 && k >= l.n-len(l.ring) && len(out) < n; k-- {
		e := l.ring[k%len(l.ring)]
		if who.Kind == model.KindAdmin || (who.Kind == model.KindPerson && e.Owner == who.ID) {
			out = append(out, e)
		}
	}
	return out
}

// sample is the master's state at one minute.
type sample struct {
	At         time.Time
	Requests   uint64
	Pending    int
	Free, Busy int
	Computers  int
}

// sampleRing keeps a day of samples, one a minute.
type sampleRing struct {
	mu   sync.Mutex
	ring [1440]sample
	n    int
}

func (r *sampleRing) add(s sample) {
	r.mu.Lock()
	r.ring[r.n%len(r.ring)] = s
	r.n++
	r.mu.Unlock()
}

func (r *sampleRing) all() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sample
	for k := max(0, r.n-len(r.ring)); k < r.n; k++ {
		out = append(out, r.ring[k%len(r.ring)])
	}
	return out
}

// sample records the master's state now (every minute from Serve).
func (s *Server) sample() { s.portal.samples.add(s.sampleNow()) }

func (s *Server) sampleNow() sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	free, busy := s.state.Capacity()
	return sample{At: s.now(), Requests: s.requestCount.Load(), Pending: s.state.PendingCount(), Free: free, Busy: busy,
		Computers: len(s.state.ComputerIDs())}
}

// charts draws the samples and, last, the state now.
func (r *sampleRing) charts(now sample) []template.HTML {
	ss := append(r.all(), now)
	times := make([]time.Time, len(ss))
	pending := make([]float64, len(ss))
	busy := make([]float64, len(ss))
	rate := make([]float64, len(ss))
	for i, s := range ss {
		times[i], pending[i], busy[i] = s.At, float64(s.Pending), float64(s.Busy)
		if i > 0 {
			if dt := s.At.Sub(ss[i-1].At).Minutes(); dt > 0 && s.Requests >= ss[i-1].Requests {
				rate[i] = float64(s.Requests-ss[i-1].Requests) / dt
			}
		}
	}
	if len(rate) > 0 {
		rate = rate[1:]
		times2 := times[1:]
		return []template.HTML{
			lineChart("Pending requests", times, pending),
			lineChart("Busy partitions", times, busy),
			lineChart("HTTP requests per minute", times2, rate),
		}
	}
	return nil
}

// --- server-rendered SVG charts (no script, no library in the browser) ---

const chartW, chartH = 640, 220

func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func fnum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func svgOpen(b *strings.Builder, title string, h int) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg"><title>%s</title>`,
		chartW, h, html.EscapeString(title), html.EscapeString(title))
}

// barChart draws vertical bars, one per label.
func barChart(title string, labels []string, values []float64, unit string) template.HTML {
	var b strings.Builder
	svgOpen(&b, title, chartH)
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	top = niceMax(top)
	const left, bottom, right, head = 48, 30, 8, 12
	plotW, plotH := float64(chartW-left-right), float64(chartH-bottom-head)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">%s %s</text><text x="%d" y="%d" class="axis">0</text>`,
		2, head+4, fnum(top), html.EscapeString(unit), 2, chartH-bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="grid"/>`, left, chartH-bottom, chartW-right, chartH-bottom)
	n := len(values)
	for i, v := range values {
		bw := plotW / float64(max(n, 1))
		x := float64(left) + float64(i)*bw
		h := v / top * plotH
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar"><title>%s: %s %s</title></rect>`,
			x+1, float64(chartH-bottom)-h, max(bw-2, 1), h, html.EscapeString(labels[i]), fnum(math.Round(v*100)/100), html.EscapeString(unit))
		if n <= 12 || i%(n/6+1) == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis">%s</text>`, x, chartH-10, html.EscapeString(labels[i]))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// hbarChart draws one horizontal bar per label, the label written in it.
func hbarChart(title string, labels []string, values []float64) template.HTML {
	if len(values) == 0 {
		return template.HTML(`<p>No pending request.</p>`)
	}
	const row = 26
	h := 10 + row*len(values)
	var b strings.Builder
	svgOpen(&b, title, h)
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	for i, v := range values {
		y := 5 + i*row
		w := v / top * float64(chartW-60)
		fmt.Fprintf(&b, `<rect x="0" y="%d" width="%.1f" height="%d" class="bar"/><text x="%.1f" y="%d" class="axis">%s</text>`,
			y, max(w, 1), row-6, max(w, 1)+4, y+15, fnum(v))
		label := labels[i]
		if len(label) > 90 {
			label = label[:87] + "…"
		}
		fmt.Fprintf(&b, `<text x="4" y="%d" class="label">%s</text>`, y+15, html.EscapeString(label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// lineChart draws a series over time.
func lineChart(title string, times []time.Time, values []float64) template.HTML {
	var b strings.Builder
	svgOpen(&b, title, chartH)
	const left, bottom, right, head = 48, 30, 8, 12
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="title">%s</text>`, left, head, html.EscapeString(title))
	if len(values) < 2 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">collecting: one sample a minute</text></svg>`, left, chartH/2)
		return template.HTML(b.String())
	}
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	top = niceMax(top)
	t0, t1 := times[0], times[len(times)-1]
	span := max(t1.Sub(t0).Seconds(), 1)
	plotW, plotH := float64(chartW-left-right), float64(chartH-bottom-head-8)
	var pts []string
	for i, v := range values {
		x := float64(left) + times[i].Sub(t0).Seconds()/span*plotW
		y := float64(chartH-bottom) - v/top*plotH
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="grid"/>`, left, chartH-bottom, chartW-right, chartH-bottom)
	fmt.Fprintf(&b, `<text x="2" y="%d" class="axis">%s</text><text x="2" y="%d" class="axis">0</text>`, head+16, fnum(top), chartH-bottom)
	fmt.Fprintf(&b, `<polyline points="%s" class="line"/>`, strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">%s</text><text x="%d" y="%d" class="axis" text-anchor="end">%s</text></svg>`,
		left, chartH-10, t0.UTC().Format("15:04"), chartW-right, chartH-10, t1.UTC().Format("15:04 UTC"))
	return template.HTML(b.String())
}
