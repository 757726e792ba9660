package plots

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads/results"
)

// withLatency returns the fixture with latency histograms for the
// policies' runs: a body near 50 us times the policy's rank and a tail
// 20 times slower in one request of a hundred; the baselines have none,
// and first-touch at qd 32 lost the histogram of serial's runs.
func withLatency(t *testing.T) []results.Summary {
	t.Helper()
	sums := fixture()
	for i := range sums {
		s := &sums[i]
		c := s.Config
		if results.IsBaseline(c.Policy) || c.Workload == "first-touch" && c.QD == 32 && c.Policy == "serial" {
			continue
		}
		rank := int64(1 + slices.Index([]string{"serial", "freeze-any", "overlap"}, c.Policy))
		for r := range s.Runs {
			h := results.NewLatencyHistogram()
			for k := range int64(2000) {
				v := rank*50e3 + (k*7919+int64(r))%10e3
				if k%100 == 0 {
					v *= 20
				}
				results.RecordLatency(h, v)
			}
			enc, err := results.EncodeLatency(h)
			if err != nil {
				t.Fatal(err)
			}
			s.LatencyHDR = append(s.LatencyHDR, enc)
		}
	}
	return sums
}

// TestWriteLatencyCDF checks that the latency distribution is drawn when
// the runs kept histograms, after the latency percentiles, as a PNG that
// decodes and an SVG that is well-formed XML with a panel per workload,
// and is left out when they did not.
func TestWriteLatencyCDF(t *testing.T) {
	dir := t.TempDir()
	figs, err := Write(dir, withLatency(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, f := range figs {
		kinds = append(kinds, f.Kind)
	}
	if got := strings.Join(kinds, " "); got != "throughput latency latency-cdf frozen bytes" {
		t.Fatalf("figures %q", got)
	}
	f := figs[2]
	if f.Name != "latency-cdf-sim-nvme" || f.PNG != f.Name+".png" || f.SVG != f.Name+".svg" ||
		!strings.Contains(f.Title, "queue depth 32") || !strings.Contains(f.Caption, "queue depth 32") {
		t.Errorf("figure %+v", f)
	}
	svg := readFigure(t, dir, f)
	for _, text := range []string{"first-touch, qd 32", "rewrite, qd 32", "latency (us)", "99.9%", "serial", "overlap"} {
		if !bytes.Contains(svg, []byte(text)) {
			t.Errorf("%s lacks %q", f.SVG, text)
		}
	}
	if bytes.Contains(svg, []byte(results.BaselineQED)) || bytes.Contains(svg, []byte(baselineLabels[results.BaselineQED])) {
		t.Errorf("%s lists a baseline that has no latencies", f.SVG)
	}

	old, err := Write(t.TempDir(), fixture(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(old, func(f Figure) bool { return f.Kind == "latency-cdf" }) {
		t.Errorf("a latency distribution drawn from runs without histograms")
	}
}

// TestCDFPanel checks one panel's axes: latency over the policies that
// have histograms, the axis of nines ending at the largest sample's
// resolution; and an empty panel for a workload without histograms.
func TestCDFPanel(t *testing.T) {
	g := groupByDevice(withLatency(t))[0]
	pal := newPalette(g.policies)
	p, err := cdfPanel(g, "first-touch", 32, pal)
	if err != nil {
		t.Fatal(err)
	}
	if top := 1 - 1.0/6000; p.Y.Min != 0 || math.Abs(p.Y.Max-top) > 1e-12 {
		t.Errorf("share axis [%v, %v], want [0, %v]", p.Y.Min, p.Y.Max, top)
	}
	// From freeze-any's fastest (100 us; serial's 50 us lost its
	// histograms) to overlap's slowest (3 ms), with a margin.
	if p.X.Min < 70 || p.X.Min > 100 || p.X.Max <= 3000 || p.X.Max > 5000 {
		t.Errorf("latency axis [%v, %v], want from 100 us to 3 ms", p.X.Min, p.X.Max)
	}
	ng := *g
	ng.sums = slices.DeleteFunc(slices.Clone(g.sums), func(s results.Summary) bool { return s.Config.Workload == "rewrite" })
	ng.sums = append(ng.sums, results.Summary{Config: results.Config{Policy: "overlap", Workload: "rewrite", QD: 32, Backend: "sim", Device: "nvme"}, Runs: 1})
	empty, err := cdfPanel(&ng, "rewrite", 32, pal)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(empty.Title.Text, "no latencies") {
		t.Errorf("panel without histograms titled %q", empty.Title.Text)
	}
}

func TestNines(t *testing.T) {
	s := ninesScale{}
	top := 0.9999
	for _, tt := range []struct{ q, want float64 }{{0, 0}, {0.9, 0.25}, {0.99, 0.5}, {0.999, 0.75}, {top, 1}, {1, 1}} {
		if got := s.Normalize(0, top, tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("Normalize(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	var labels []string
	for _, tk := range (ninesTicks{}).Ticks(0, top) {
		labels = append(labels, tk.Label)
	}
	if got := strings.Join(labels, " "); got != "0% 50% 90% 99% 99.9% 99.99%" {
		t.Errorf("ticks over [0, 99.99%%]: %q", got)
	}
}
