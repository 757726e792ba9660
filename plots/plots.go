// Package plots draws the figures of a runbench results directory with
// gonum/plot: throughput against queue depth per policy (median line,
// min-max band over repetitions), latency percentiles per policy, the
// distribution of latency per policy (from the runs' HDR histograms), the
// share of request time spent frozen, and bytes written for metadata
// against data. Each figure is one panel per workload, for one backend
// and device, written as PNG and as SVG with its fonts embedded.
//
// Configurations that were not linearizable or left corruption are
// marked with a red cross, and those that leaked clusters with an orange
// ring, so a fast but unsafe policy is never shown as simply fast.
package plots

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

// Figure is one figure written by Write.
type Figure struct {
	// Name is the file name without extension ("throughput-sim-nvme").
	Name string
	// Kind is "throughput", "latency", "latency-cdf", "frozen" or
	// "bytes".
	Kind string
	// Backend and Device say which runs it shows.
	Backend, Device string
	// Title and Caption describe it for a report.
	Title, Caption string
	// PNG and SVG are the file names written, relative to the directory.
	PNG, SVG string
}

// Options configure Write. Zero values take defaults.
type Options struct {
	// FocusQD is the queue depth of the bar charts (latency, bytes); 0
	// means 32 if present, else the largest depth run.
	FocusQD int
	// DPI is the PNG resolution (default 110).
	DPI int
	// Columns is the number of panels per row (default 4).
	Columns int
}

// Write draws every figure for sums into dir (which must exist) and
// returns them in a stable order: per backend and device, throughput,
// latency percentiles, latency distribution (when the runs kept latency
// histograms), frozen share, bytes.
func Write(dir string, sums []results.Summary, opts Options) ([]Figure, error) {
	if opts.DPI <= 0 {
		opts.DPI = 110
	}
	if opts.Columns <= 0 {
		opts.Columns = 4
	}
	var figs []Figure
	for _, g := range groupByDevice(sums) {
		focus := focusQD(g.sums, opts.FocusQD)
		for _, spec := range figureSpecs(focus) {
			if spec.needs != nil && !spec.needs(g) {
				continue
			}
			f, err := writeFigure(dir, g, spec, opts)
			if err != nil {
				return figs, err
			}
			figs = append(figs, f)
		}
	}
	return figs, nil
}

// deviceGroup is the summaries of one backend and device.
type deviceGroup struct {
	backend, device string
	sums            []results.Summary
	workloads       []string // in order of first appearance
	policies        []string // registry order, then others
	qds             []int    // ascending
}

func groupByDevice(sums []results.Summary) []*deviceGroup {
	var groups []*deviceGroup
	find := func(b, d string) *deviceGroup {
		for _, g := range groups {
			if g.backend == b && g.device == d {
				return g
			}
		}
		g := &deviceGroup{backend: b, device: d}
		groups = append(groups, g)
		return g
	}
	for _, s := range sums {
		g := find(s.Config.Backend, s.Config.Device)
		g.sums = append(g.sums, s)
		if !slices.Contains(g.workloads, s.Config.Workload) {
			g.workloads = append(g.workloads, s.Config.Workload)
		}
		if !slices.Contains(g.policies, s.Config.Policy) {
			g.policies = append(g.policies, s.Config.Policy)
		}
		if !slices.Contains(g.qds, s.Config.QD) {
			g.qds = append(g.qds, s.Config.QD)
		}
	}
	rank := map[string]int{}
	for i, n := range model.Names() {
		rank[n] = i + 1
	}
	for i, n := range slices.Concat(results.BaselineNames(), results.NBDBaselineNames()) {
		rank[n] = len(rank) + i + 1
	}
	for _, g := range groups {
		slices.Sort(g.qds)
		slices.SortStableFunc(g.policies, func(a, b string) int {
			ra, rb := rank[a], rank[b]
			if ra == 0 {
				ra = math.MaxInt
			}
			if rb == 0 {
				rb = math.MaxInt
			}
			return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(a, b))
		})
	}
	return groups
}

// get returns the summary of a configuration in g, if run.
func (g *deviceGroup) get(workload, policy string, qd int) (*results.Summary, bool) {
	for i := range g.sums {
		c := g.sums[i].Config
		if c.Workload == workload && c.Policy == policy && c.QD == qd && g.sums[i].Runs > 0 {
			return &g.sums[i], true
		}
	}
	return nil, false
}

func (g *deviceGroup) label() string {
	if g.backend == results.BackendSim {
		return "sim " + g.device
	}
	return g.backend + " (" + g.device + ")"
}

// focusQD is results.FocusQD: the depth the figures, the report's
// tables and summary.txt's latency percentiles single out.
func focusQD(sums []results.Summary, want int) int {
	return results.FocusQD(sums, want)
}

// figureSpec describes one kind of figure.
type figureSpec struct {
	kind    string
	title   string
	caption string
	panel   func(g *deviceGroup, workload string, pal palette) (*plot.Plot, error)
	legend  func(g *deviceGroup, pal palette, marks marks) plot.Legend
	// needs says whether a device group has what the figure shows; nil
	// for always.
	needs func(g *deviceGroup) bool
}

func figureSpecs(focus int) []figureSpec {
	return []figureSpec{
		{
			kind:    "throughput",
			title:   "Throughput against queue depth",
			caption: "Median ops/s of the repetitions per policy (line), with the min-max band; policies with equal figures overlap, drawn widest first. Dashed: the baselines, where run: the same workload through qemu-img bench on QEMU's drivers and a raw file (in sequential order), and on a raw file with the workload's own order (no metadata: the device's limit); through NBD (runbench nbd), the same fio job against qemu-nbd on QEMU's drivers.",
			panel:   throughputPanel,
			legend:  policyLegend,
		},
		{
			kind:    "latency",
			title:   fmt.Sprintf("Latency percentiles at queue depth %d", focus),
			caption: fmt.Sprintf("Median over repetitions of each run's p50, p99 and p99.9 request latency at queue depth %d, log scale; whiskers span min-max.", focus),
			panel: func(g *deviceGroup, w string, pal palette) (*plot.Plot, error) {
				return latencyPanel(g, w, focus)
			},
			legend: seriesLegend([]string{"p50", "p99", "p99.9"}, latencyColors),
		},
		{
			kind:    "latency-cdf",
			title:   fmt.Sprintf("Latency distribution at queue depth %d", focus),
			caption: fmt.Sprintf("Share of requests at or below each latency at queue depth %d, one line per policy, over every request of the repetitions (their HDR histograms merged, %d significant digits); latency on a log scale, the share on a scale of nines so that the tail shows, its top edge the slowest request. Glyphs mark p50 and p99. Dashed: the baselines that report latencies, where run: the raw file, and qemu-nbd through fio (the qemu-img bench baselines report none).", focus, results.LatencySigFigs),
			panel: func(g *deviceGroup, w string, pal palette) (*plot.Plot, error) {
				return cdfPanel(g, w, focus, pal)
			},
			legend: func(g *deviceGroup, pal palette, m marks) plot.Legend {
				return policyLegend(g.latencyPolicies(focus), pal, m)
			},
			needs: func(g *deviceGroup) bool { return g.hasLatency(focus) },
		},
		{
			kind:    "frozen",
			title:   "Share of request time spent frozen",
			caption: "Frozen time summed over requests, as a share of their summed latency: how much of the time requests waited for the policy.",
			panel:   frozenPanel,
			legend: func(g *deviceGroup, pal palette, m marks) plot.Legend {
				ng := *g
				ng.policies = slices.DeleteFunc(slices.Clone(g.policies), results.IsBaseline)
				return policyLegend(&ng, pal, m)
			},
		},
		{
			kind:    "bytes",
			title:   fmt.Sprintf("Bytes written per request, data and metadata, at queue depth %d", focus),
			caption: fmt.Sprintf("Host bytes written per completed request at queue depth %d for guest data (fill included) and for metadata (L1, L2, header), log scale; whiskers span min-max.", focus),
			panel: func(g *deviceGroup, w string, pal palette) (*plot.Plot, error) {
				return bytesPanel(g, w, focus)
			},
			legend: seriesLegend([]string{"data", "metadata"}, bytesColors),
		},
	}
}

// marks says which warning marks a figure uses, for its legend.
type marks struct{ unsafe, leaked bool }

func (g *deviceGroup) marks() marks {
	var m marks
	for _, s := range g.sums {
		m.unsafe = m.unsafe || s.Unsafe
		m.leaked = m.leaked || s.Leaked && !s.Unsafe
	}
	return m
}

// sans is the typeface of every text: Liberation Sans, which gonum/plot
// ships, so figures look the same on every machine.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// Layout of a figure, in points.
const (
	panelW  = 3.7 * vg.Inch
	panelH  = 2.7 * vg.Inch
	legendW = 2.7 * vg.Inch
	titleH  = 0.55 * vg.Inch
)

func writeFigure(dir string, g *deviceGroup, spec figureSpec, opts Options) (Figure, error) {
	name := fmt.Sprintf("%s-%s-%s", spec.kind, g.backend, sanitize(g.device))
	f := Figure{
		Name: name, Kind: spec.kind, Backend: g.backend, Device: g.device,
		Title:   spec.title + " (" + g.label() + ")",
		Caption: spec.caption,
		PNG:     name + ".png", SVG: name + ".svg",
	}
	pal := newPalette(g.policies)
	n := len(g.workloads)
	cols := min(opts.Columns, n)
	rows := (n + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
	}
	for i, w := range g.workloads {
		p, err := spec.panel(g, w, pal)
		if err != nil {
			return f, fmt.Errorf("%s: %s: %w", name, w, err)
		}
		grid[i/cols][i%cols] = p
	}
	legend := spec.legend(g, pal, g.marks())
	width := panelW*vg.Length(cols) + legendW
	height := panelH*vg.Length(rows) + titleH
	draw := func(c vg.CanvasSizer) {
		drawFigure(c, f.Title, grid, legend, rows, cols)
	}
	png := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(opts.DPI))
	draw(png)
	var pb bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: png}).WriteTo(&pb); err != nil {
		return f, fmt.Errorf("%s.png: %w", name, err)
	}
	svg := vgsvg.NewWith(vgsvg.UseWH(width, height), vgsvg.EmbedFonts(true))
	draw(svg)
	var sb bytes.Buffer
	if _, err := svg.WriteTo(&sb); err != nil {
		return f, fmt.Errorf("%s.svg: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, f.PNG), pb.Bytes(), 0o644); err != nil {
		return f, err
	}
	if err := os.WriteFile(filepath.Join(dir, f.SVG), sb.Bytes(), 0o644); err != nil {
		return f, err
	}
	return f, nil
}

// drawFigure lays out the title, the panels and the legend strip, which
// sits beside the panels so it never covers data.
func drawFigure(c vg.CanvasSizer, title string, grid [][]*plot.Plot, legend plot.Legend, rows, cols int) {
	dc := draw.New(c)
	// White background: PNG viewers show transparency as black or checks.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	ts := draw.TextStyle{Color: color.Black, Font: font.From(sans, 15), XAlign: draw.XCenter, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
	dc.FillText(ts, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - 0.15*vg.Inch}, title)
	panels := draw.Crop(dc, 0, -legendW, 0, -titleH)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: 0.15 * vg.Inch, PadY: 0.2 * vg.Inch,
		PadTop: 0.05 * vg.Inch, PadBottom: 0.1 * vg.Inch, PadLeft: 0.1 * vg.Inch, PadRight: 0.1 * vg.Inch}
	canvases := plot.Align(grid, tiles, panels)
	for r := range grid {
		for col := range grid[r] {
			if grid[r][col] != nil {
				grid[r][col].Draw(canvases[r][col])
			}
		}
	}
	lc := draw.Crop(dc, dc.Max.X-dc.Min.X-legendW+0.1*vg.Inch, -0.1*vg.Inch, 0, -titleH-0.1*vg.Inch)
	legend.Top, legend.Left = true, true
	legend.Draw(lc)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// palette gives each policy a color, glyph and line width.
type palette struct {
	colors map[string]color.Color
	shapes map[string]draw.GlyphDrawer
	widths map[string]vg.Length
}

// okabeIto is a palette distinguishable by colour-blind readers.
var okabeIto = []color.Color{
	color.RGBA{0x99, 0x99, 0x99, 0xff}, // grey
	color.RGBA{0xe6, 0x9f, 0x00, 0xff}, // orange
	color.RGBA{0x56, 0xb4, 0xe9, 0xff}, // sky blue
	color.RGBA{0x00, 0x9e, 0x73, 0xff}, // bluish green
	color.RGBA{0x00, 0x72, 0xb2, 0xff}, // blue
	color.RGBA{0xcc, 0x79, 0xa7, 0xff}, // reddish purple
	color.RGBA{0xf0, 0xe4, 0x42, 0xff}, // yellow
	color.RGBA{0x00, 0x00, 0x00, 0xff}, // black
}

var glyphs = []draw.GlyphDrawer{
	draw.BoxGlyph{}, draw.TriangleGlyph{}, draw.CircleGlyph{}, draw.PyramidGlyph{}, draw.RingGlyph{}, draw.SquareGlyph{}, draw.PlusGlyph{}, draw.CrossGlyph{},
}

func newPalette(policies []string) palette {
	p := palette{colors: map[string]color.Color{}, shapes: map[string]draw.GlyphDrawer{}, widths: map[string]vg.Length{}}
	idx := map[string]int{}
	for i, n := range model.Names() {
		idx[n] = i
	}
	next := len(idx)
	for i, pol := range policies {
		if c, ok := baselineColors[pol]; ok {
			p.colors[pol], p.shapes[pol], p.widths[pol] = c, draw.CircleGlyph{}, vg.Points(1.5)
			continue
		}
		k, ok := idx[pol]
		if !ok {
			k = next
			next++
		}
		p.colors[pol] = okabeIto[k%len(okabeIto)]
		p.shapes[pol] = glyphs[k%len(glyphs)]
		// Earlier policies are drawn wider, so a later one with equal
		// figures shows as a thinner line inside it.
		p.widths[pol] = vg.Points(1.5 + 1.6*float64(len(policies)-1-i))
	}
	return p
}

// baselineColors are the colors of the baselines, drawn dashed.
var baselineColors = map[string]color.Color{
	results.BaselineQED:             color.RGBA{0x20, 0x20, 0x20, 0xff},
	results.BaselineQcow2:           color.RGBA{0x8c, 0x51, 0x0a, 0xff},
	results.BaselineQcow2Falloc:     color.RGBA{0xbf, 0x81, 0x2d, 0xff},
	results.BaselineQcow2Subcluster: color.RGBA{0x35, 0x97, 0x8f, 0xff},
	results.BaselineRawQemuImg:      color.RGBA{0xb2, 0xab, 0xd2, 0xff},
	results.BaselineRaw:             color.RGBA{0x7b, 0x32, 0x94, 0xff},
	// Through NBD (another backend, never in one figure with the above).
	results.BaselineNBDQED:   color.RGBA{0x20, 0x20, 0x20, 0xff},
	results.BaselineNBDQcow2: color.RGBA{0x8c, 0x51, 0x0a, 0xff},
}

// baselineLabels name the baselines in legends; the caption says how
// they ran.
var baselineLabels = map[string]string{
	results.BaselineQED:             "QEMU QED",
	results.BaselineQcow2:           "QEMU qcow2",
	results.BaselineQcow2Falloc:     "QEMU qcow2 falloc",
	results.BaselineQcow2Subcluster: "QEMU qcow2 128k subclusters",
	results.BaselineRawQemuImg:      "raw file (qemu-img bench)",
	results.BaselineRaw:             "raw file, same order",
	results.BaselineNBDQED:          "qemu-nbd -f qed",
	results.BaselineNBDQcow2:        "qemu-nbd -f qcow2",
}

// dashes is the dash pattern of baseline lines.
var dashes = []vg.Length{vg.Points(6), vg.Points(3)}

var (
	unsafeColor = color.RGBA{0xd0, 0x10, 0x10, 0xff}
	leakColor   = color.RGBA{0xd5, 0x5e, 0x00, 0xff}
)

func policyLegend(g *deviceGroup, pal palette, m marks) plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = font.From(sans, 11)
	l.ThumbnailWidth = 0.35 * vg.Inch
	for _, pol := range g.policies {
		line := plotter.Line{LineStyle: draw.LineStyle{Color: pal.colors[pol], Width: vg.Points(2)}}
		if name, ok := baselineLabels[pol]; ok {
			line.Dashes = dashes
			l.Add(name, &line)
			continue
		}
		sc := plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: pal.colors[pol], Radius: vg.Points(3), Shape: pal.shapes[pol]}}
		l.Add(pol, &line, &sc)
	}
	addMarks(&l, m)
	return l
}

func addMarks(l *plot.Legend, m marks) {
	if m.unsafe {
		l.Add("not linearizable or corrupt", &plotter.Scatter{GlyphStyle: unsafeGlyph()})
	}
	if m.leaked {
		l.Add("leaked clusters", &plotter.Scatter{GlyphStyle: leakGlyph()})
	}
}

func unsafeGlyph() draw.GlyphStyle {
	return draw.GlyphStyle{Color: unsafeColor, Radius: vg.Points(6), Shape: draw.CrossGlyph{}}
}

func leakGlyph() draw.GlyphStyle {
	return draw.GlyphStyle{Color: leakColor, Radius: vg.Points(6), Shape: draw.RingGlyph{}}
}

func seriesLegend(names []string, colors []color.Color) func(*deviceGroup, palette, marks) plot.Legend {
	return func(g *deviceGroup, pal palette, m marks) plot.Legend {
		l := plot.NewLegend()
		l.TextStyle.Font = font.From(sans, 11)
		for i, n := range names {
			l.Add(n, &swatch{colors[i]})
		}
		if m.unsafe || m.leaked {
			l.Add("(!) unsafe or leaking", &swatch{color.Transparent})
		}
		return l
	}
}

// swatch is a legend thumbnail: a filled square.
type swatch struct{ c color.Color }

// Thumbnail fills the legend icon with the swatch's color.
func (s *swatch) Thumbnail(c *draw.Canvas) {
	if s.c == color.Transparent {
		return
	}
	c.SetColor(s.c)
	c.Fill(c.Rectangle.Path())
}

// newPanel returns a plot styled for a panel.
func newPanel(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 12)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Label.TextStyle.Font = font.From(sans, 10)
	p.Y.Label.TextStyle.Font = font.From(sans, 10)
	p.X.Tick.Label.Font = font.From(sans, 9)
	p.Y.Tick.Label.Font = font.From(sans, 9)
	p.Add(plotter.NewGrid())
	return p
}

// qdAxis sets a log-2 queue depth axis with a tick at each depth.
func qdAxis(p *plot.Plot, qds []int) {
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for _, q := range qds {
		ticks = append(ticks, plot.Tick{Value: float64(q), Label: fmt.Sprint(q)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min = float64(qds[0]) / 1.25
	p.X.Max = float64(qds[len(qds)-1]) * 1.25
}

// humanTicks labels a linear axis with k and M suffixes.
type humanTicks struct{}

// Ticks returns the default ticks of [min, max], labelled briefly.
func (humanTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = tickLabel(ts[i].Value)
		}
	}
	return ts
}

// lineOverQD plots one figure per policy against queue depth: a band of
// [lo, hi] if band, and a line of mid, with warning marks.
func lineOverQD(g *deviceGroup, w string, pal palette, p *plot.Plot, band bool, get func(s *results.Summary) (mid, lo, hi float64)) error {
	var warnUnsafe, warnLeak plotter.XYs
	for _, pol := range g.policies {
		base := results.IsBaseline(pol)
		if base && !band {
			continue // baselines have no freeze figures
		}
		var mid, lo, hi plotter.XYs
		for _, q := range g.qds {
			s, ok := g.get(w, pol, q)
			if !ok {
				continue
			}
			m, l, h := get(s)
			mid = append(mid, plotter.XY{X: float64(q), Y: m})
			lo = append(lo, plotter.XY{X: float64(q), Y: l})
			hi = append(hi, plotter.XY{X: float64(q), Y: h})
			switch {
			case s.Unsafe:
				warnUnsafe = append(warnUnsafe, plotter.XY{X: float64(q), Y: m})
			case s.Leaked:
				warnLeak = append(warnLeak, plotter.XY{X: float64(q), Y: m})
			}
		}
		if len(mid) == 0 {
			continue
		}
		if band && len(mid) > 1 && !base {
			poly := append(slices.Clone(hi), reversed(lo)...)
			pg, err := plotter.NewPolygon(poly)
			if err != nil {
				return err
			}
			r, gg, b, _ := pal.colors[pol].RGBA()
			pg.Color = color.NRGBA{uint8(r >> 8), uint8(gg >> 8), uint8(b >> 8), 0x40}
			pg.LineStyle.Width = 0
			p.Add(pg)
		}
		line, pts, err := plotter.NewLinePoints(mid)
		if err != nil {
			return err
		}
		line.Color, line.Width = pal.colors[pol], pal.widths[pol]
		pts.Color, pts.Shape, pts.Radius = pal.colors[pol], pal.shapes[pol], vg.Points(2.5)
		if base {
			line.Dashes = dashes
			pts.Radius = vg.Points(1.5)
		}
		p.Add(line, pts)
	}
	for _, wm := range []struct {
		xys plotter.XYs
		gs  draw.GlyphStyle
	}{{warnLeak, leakGlyph()}, {warnUnsafe, unsafeGlyph()}} {
		if len(wm.xys) > 0 {
			sc, err := plotter.NewScatter(wm.xys)
			if err != nil {
				return err
			}
			sc.GlyphStyle = wm.gs
			p.Add(sc)
		}
	}
	return nil
}

func reversed(xys plotter.XYs) plotter.XYs {
	out := slices.Clone(xys)
	slices.Reverse(out)
	return out
}

func throughputPanel(g *deviceGroup, w string, pal palette) (*plot.Plot, error) {
	p := newPanel(w, "queue depth", "ops/s")
	qdAxis(p, g.qds)
	p.Y.Min = 0
	p.Y.Tick.Marker = humanTicks{}
	err := lineOverQD(g, w, pal, p, true, func(s *results.Summary) (float64, float64, float64) {
		return s.OpsPerSec.Median, s.OpsPerSec.Min, s.OpsPerSec.Max
	})
	p.Y.Max *= 1.05
	return p, err
}

func frozenPanel(g *deviceGroup, w string, pal palette) (*plot.Plot, error) {
	p := newPanel(w, "queue depth", "% of request time frozen")
	qdAxis(p, g.qds)
	p.Y.Min, p.Y.Max = 0, 100
	err := lineOverQD(g, w, pal, p, false, func(s *results.Summary) (float64, float64, float64) {
		return 100 * s.FrozenShare.Median, 100 * s.FrozenShare.Min, 100 * s.FrozenShare.Max
	})
	return p, err
}

var (
	latencyColors = []color.Color{
		color.RGBA{0x9e, 0xca, 0xe1, 0xff},
		color.RGBA{0x42, 0x92, 0xc6, 0xff},
		color.RGBA{0x08, 0x45, 0x94, 0xff},
	}
	bytesColors = []color.Color{
		color.RGBA{0x99, 0x99, 0x99, 0xff},
		color.RGBA{0xd5, 0x5e, 0x00, 0xff},
	}
)

func latencyPanel(g *deviceGroup, w string, qd int) (*plot.Plot, error) {
	return barPanel(g, w, qd, "latency (us)", latencyColors, func(s *results.Summary) []results.Stat {
		return []results.Stat{s.LatP50Us, s.LatP99Us, s.LatP999Us}
	})
}

func bytesPanel(g *deviceGroup, w string, qd int) (*plot.Plot, error) {
	return barPanel(g, w, qd, "bytes per request", bytesColors, func(s *results.Summary) []results.Stat {
		return []results.Stat{s.DataPerOp, s.MetaPerOp}
	})
}

// barPanel draws grouped bars on a log axis: one group per policy, one
// bar per series, each with a min-max whisker.
func barPanel(g *deviceGroup, w string, qd int, ylabel string, colors []color.Color, get func(s *results.Summary) []results.Stat) (*plot.Plot, error) {
	p := newPanel(fmt.Sprintf("%s, qd %d", w, qd), "", ylabel)
	gb := &groupedBars{colors: colors}
	var names []string
	for _, pol := range g.policies {
		if results.IsBaseline(pol) {
			continue // qemu-img bench reports no latencies or bytes, and bars compare policies
		}
		s, ok := g.get(w, pol, qd)
		name := pol
		if !ok {
			names = append(names, name+" (-)")
			gb.groups = append(gb.groups, nil)
			continue
		}
		if s.Unsafe || s.Leaked {
			name += " (!)"
		}
		names = append(names, name)
		gb.groups = append(gb.groups, get(s))
	}
	p.Add(gb)
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 9
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YTop
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	lo, hi := gb.yRange()
	if lo <= 0 || hi <= 0 {
		return nil, errors.New("no positive values to chart")
	}
	p.Y.Min, p.Y.Max = lo/2, hi*2
	p.X.Min, p.X.Max = -0.6, float64(len(gb.groups))-0.4
	return p, nil
}

// tickLabel renders an axis value briefly: 500, 1.5k, 30k, 2M.
func tickLabel(v float64) string {
	switch av := math.Abs(v); {
	case av >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case av >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// logTicks marks a log axis at 1, 2 and 5 times powers of ten, labelling
// all of them when the axis spans under three decades and the powers of
// ten otherwise.
type logTicks struct{}

// Ticks returns the ticks of the log axis [min, max].
func (logTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	labelAll := max/min < 1000
	for e := math.Floor(math.Log10(min)); math.Pow(10, e) <= max; e++ {
		base := math.Pow(10, e)
		for _, m := range []float64{1, 2, 5} {
			v := base * m
			if v < min || v > max {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || labelAll {
				t.Label = tickLabel(v)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// groupedBars is a grouped bar chart with whiskers, positioned in data
// coordinates so that each whisker sits on its bar: group i spans
// [i-0.4, i+0.4] and its series split that span evenly.
type groupedBars struct {
	groups [][]results.Stat // nil for a missing group
	colors []color.Color
}

func (b *groupedBars) yRange() (lo, hi float64) {
	lo, hi = math.Inf(1), 0
	for _, g := range b.groups {
		for _, s := range g {
			if s.Min > 0 {
				lo = min(lo, s.Min)
			}
			hi = max(hi, s.Max)
		}
	}
	if math.IsInf(lo, 1) {
		lo = 0
	}
	return lo, hi
}

// DataRange implements plot.DataRanger.
func (b *groupedBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	lo, hi := b.yRange()
	return -0.5, float64(len(b.groups)) - 0.5, lo, hi
}

// Plot implements plot.Plotter.
func (b *groupedBars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	base := trY(plt.Y.Min)
	for i, g := range b.groups {
		n := len(g)
		for j, s := range g {
			x0 := float64(i) - 0.4 + 0.8*float64(j)/float64(n)
			x1 := x0 + 0.8/float64(n)
			l, r := trX(x0)+0.5, trX(x1)-0.5
			if s.Median <= 0 {
				// A log axis cannot show zero: say it.
				ts := draw.TextStyle{Color: color.Black, Font: font.From(sans, 8), XAlign: draw.XCenter, Handler: plot.DefaultTextHandler}
				c.FillText(ts, vg.Point{X: (l + r) / 2, Y: base + vg.Points(2)}, "0")
				continue
			}
			top := trY(s.Median)
			bar := c.ClipPolygonY([]vg.Point{{X: l, Y: base}, {X: l, Y: top}, {X: r, Y: top}, {X: r, Y: base}})
			c.FillPolygon(b.colors[j%len(b.colors)], bar)
			mid := (l + r) / 2
			ls := draw.LineStyle{Color: color.Black, Width: vg.Points(0.8)}
			ylo, yhi := trY(s.Min), trY(s.Max)
			cap := min((r-l)/4, vg.Points(3))
			c.StrokeLines(ls, c.ClipLinesY([]vg.Point{{X: mid, Y: ylo}, {X: mid, Y: yhi}})...)
			c.StrokeLine2(ls, mid-cap, ylo, mid+cap, ylo)
			c.StrokeLine2(ls, mid-cap, yhi, mid+cap, yhi)
		}
	}
}
