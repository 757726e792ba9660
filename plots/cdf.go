package plots

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/qedharness/qedharness/workloads/results"
)

// cdfTicksPerHalf is how many points a latency line has per halving of
// the share of requests above it (HdrHistogram's percentile
// distribution): evenly spaced on the axis of nines.
const cdfTicksPerHalf = 5

// hasLatency reports whether some configuration of g at queue depth qd
// kept latency histograms (runs.json files from before they were kept
// have none).
func (g *deviceGroup) hasLatency(qd int) bool {
	return slices.ContainsFunc(g.sums, func(s results.Summary) bool {
		return s.Config.QD == qd && s.Runs > 0 && len(s.LatencyHDR) > 0
	})
}

// latencyPolicies returns a copy of g with only the policies that have a
// latency histogram at queue depth qd, for the legend of the latency
// distribution.
func (g *deviceGroup) latencyPolicies(qd int) *deviceGroup {
	ng := *g
	ng.policies = slices.DeleteFunc(slices.Clone(g.policies), func(pol string) bool {
		return !slices.ContainsFunc(g.sums, func(s results.Summary) bool {
			return s.Config.Policy == pol && s.Config.QD == qd && s.Runs > 0 && len(s.LatencyHDR) > 0
		})
	})
	return &ng
}

// cdfPanel draws the latency distribution of workload w at queue depth
// qd: per policy, the share of requests at or below each latency (every
// request of the repetitions), latency on a log axis and the share on an
// axis of nines, whose top is the slowest request. Glyphs mark p50 and
// p99; unsafe and leaking configurations get their warning mark at p50.
// A workload with no histogram at qd gets an empty panel saying so.
func cdfPanel(g *deviceGroup, w string, qd int, pal palette) (*plot.Plot, error) {
	p := newPanel(fmt.Sprintf("%s, qd %d", w, qd), "latency (us)", "requests at or below")
	type line struct {
		pol  string
		h    *hdrhistogram.Histogram
		warn *draw.GlyphStyle
	}
	var lines []line
	var most int64
	for _, pol := range g.policies {
		s, ok := g.get(w, pol, qd)
		if !ok {
			continue
		}
		h, err := s.Latency()
		if err != nil {
			return nil, err
		}
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		l := line{pol: pol, h: h}
		switch {
		case s.Unsafe:
			gs := unsafeGlyph()
			l.warn = &gs
		case s.Leaked:
			gs := leakGlyph()
			l.warn = &gs
		}
		lines = append(lines, l)
		most = max(most, h.TotalCount())
	}
	// The axis of nines ends at the resolution of the largest sample: a
	// share of 1-1/n, where the slowest request is drawn.
	top := 1 - 1/float64(max(most, 100))
	p.Y.Scale = ninesScale{}
	p.Y.Tick.Marker = ninesTicks{}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicks{}
	if len(lines) == 0 {
		// A workload whose runs all failed: an empty panel that says so.
		p.Title.Text += " (no latencies)"
		p.X.Min, p.X.Max = 1, 1000
		p.Y.Min, p.Y.Max = 0, top
		return p, nil
	}
	xmin, xmax := math.Inf(1), 0.0
	for _, l := range lines {
		var xys plotter.XYs
		for _, b := range l.h.CumulativeDistributionWithTicks(cdfTicksPerHalf) {
			x := float64(max(b.ValueAt, results.LatencyLowestNs)) / 1e3
			xys = append(xys, plotter.XY{X: x, Y: min(b.Quantile/100, top)})
			xmin, xmax = min(xmin, x), max(xmax, x)
		}
		ln, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		ln.Color, ln.Width = pal.colors[l.pol], pal.widths[l.pol]
		if results.IsBaseline(l.pol) {
			ln.Dashes = dashes
		}
		p.Add(ln)
		marks := plotter.XYs{
			{X: float64(l.h.ValueAtPercentile(50)) / 1e3, Y: 0.5},
			{X: float64(l.h.ValueAtPercentile(99)) / 1e3, Y: min(0.99, top)},
		}
		sc, err := plotter.NewScatter(marks)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: pal.colors[l.pol], Shape: pal.shapes[l.pol], Radius: vg.Points(3)}
		p.Add(sc)
		if l.warn != nil {
			wm, err := plotter.NewScatter(marks[:1])
			if err != nil {
				return nil, err
			}
			wm.GlyphStyle = *l.warn
			p.Add(wm)
		}
	}
	p.X.Min, p.X.Max = xmin/1.3, xmax*1.3
	p.Y.Min, p.Y.Max = 0, top
	return p, nil
}

// ninesScale places a share q in [0, 1) at -log10(1-q) along the axis:
// 0, 90%, 99% and 99.9% are evenly spaced, so the tail of a latency
// distribution gets as much room as its body. Shares at or above the
// axis's maximum sit at its end.
type ninesScale struct{}

// Normalize returns the position of x between min and max on the scale.
func (ninesScale) Normalize(lo, hi, x float64) float64 {
	return (nines(min(x, hi)) - nines(lo)) / (nines(hi) - nines(lo))
}

// nines returns -log10(1-q), the number of nines of q.
func nines(q float64) float64 { return -math.Log10(1 - q) }

// ninesTicks marks an axis of nines at 0, 50%, 90%, 99%, 99.9% and so on.
type ninesTicks struct{}

// Ticks returns the ticks of the axis [lo, hi].
func (ninesTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for _, q := range []float64{0, 0.5} {
		if q >= lo && q <= hi {
			ts = append(ts, plot.Tick{Value: q, Label: strconv.FormatFloat(100*q, 'f', -1, 64) + "%"})
		}
	}
	for k := 1; ; k++ {
		q := 1 - math.Pow(10, -float64(k))
		if q > hi {
			break
		}
		if q >= lo {
			ts = append(ts, plot.Tick{Value: q, Label: strconv.FormatFloat(100*q, 'f', max(k-2, 0), 64) + "%"})
		}
	}
	return ts
}
