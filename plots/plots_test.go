package plots

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads/results"
)

// fixture returns summaries of 2 workloads x 3 policies x 3 depths, with
// one unsafe and one leaking configuration, and one policy with zero
// metadata.
func fixture() []results.Summary {
	var sums []results.Summary
	for _, w := range []string{"first-touch", "rewrite"} {
		for pi, pol := range []string{"serial", "freeze-any", "overlap"} {
			for _, qd := range []int{1, 8, 32} {
				base := float64(1000 * (pi + 1) * qd)
				st := func(m float64) results.Stat { return results.Stat{Median: m, Min: 0.9 * m, Max: 1.1 * m} }
				s := results.Summary{
					Config:    results.Config{Policy: pol, Workload: w, QD: qd, Backend: "sim", Device: "nvme"},
					Runs:      3,
					OpsPerSec: st(base), MiBPerSec: st(base / 256),
					LatP50Us: st(50), LatP99Us: st(200), LatP999Us: st(400),
					FrozenShare: st(0.1 * float64(pi)),
					DataPerOp:   st(65536), MetaPerOp: st(600),
					Check: "clean",
				}
				if w == "rewrite" {
					s.MetaPerOp = results.Stat{}
				}
				if pol == "overlap" && qd == 32 && w == "first-touch" {
					s.Unsafe = true
				}
				if pol == "freeze-any" && qd == 8 {
					s.Leaked = true
				}
				sums = append(sums, s)
			}
		}
		for _, qd := range []int{1, 8, 32} {
			// A baseline reports throughput only.
			sums = append(sums, results.Summary{
				Config:    results.Config{Policy: results.BaselineQED, Workload: w, QD: qd, Backend: "sim", Device: "nvme"},
				Runs:      3,
				OpsPerSec: results.Stat{Median: 500, Min: 450, Max: 550},
				Check:     "-",
			})
		}
	}
	return sums
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	figs, err := Write(dir, fixture(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{"throughput", "latency", "frozen", "bytes"}
	if len(figs) != len(kinds) {
		t.Fatalf("%d figures, want %d", len(figs), len(kinds))
	}
	for i, f := range figs {
		if f.Kind != kinds[i] || f.Backend != "sim" || f.Device != "nvme" || f.Title == "" || f.Caption == "" {
			t.Errorf("figure %d: %+v", i, f)
		}
		svg := readFigure(t, dir, f)
		if !bytes.Contains(svg, []byte("first-touch")) {
			t.Errorf("%s lacks the panel title", f.SVG)
		}
	}
	if !strings.Contains(figs[1].Title, "queue depth 32") {
		t.Errorf("latency figure not at qd 32: %q", figs[1].Title)
	}
}

// readFigure checks that f's files in dir are well formed, a PNG that
// decodes to a figure's size and an SVG that parses as XML with
// embedded fonts, and returns the SVG.
func readFigure(t *testing.T, dir string, f Figure) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, f.PNG))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", f.PNG, err)
	}
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w < 800 || h < 300 {
		t.Errorf("%s is %dx%d", f.PNG, w, h)
	}
	svg, err := os.ReadFile(filepath.Join(dir, f.SVG))
	if err != nil {
		t.Fatal(err)
	}
	if root, err := xmlRoot(svg); err != nil || root != "svg" {
		t.Errorf("%s: root element %q, %v", f.SVG, root, err)
	}
	if !bytes.Contains(svg, []byte("@font-face")) {
		t.Errorf("%s: no embedded fonts", f.SVG)
	}
	return svg
}

// xmlRoot parses doc as XML to its end and returns its root element.
func xmlRoot(doc []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if root == "" {
				return "", errors.New("no element")
			}
			return root, nil
		}
		if err != nil {
			return "", err
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
}

func TestFocusQD(t *testing.T) {
	sums := fixture()
	tests := []struct{ want, got int }{{0, 32}, {8, 8}, {5, 32}}
	for _, tt := range tests {
		if g := focusQD(sums, tt.want); g != tt.got {
			t.Errorf("focusQD(%d) = %d, want %d", tt.want, g, tt.got)
		}
	}
	if g := focusQD(sums[:2], 0); g != 8 {
		t.Errorf("focusQD without 32 = %d, want the largest, 8", g)
	}
}

func TestTickLabel(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{{0, "0"}, {500, "500"}, {1000, "1k"}, {1500, "1.5k"}, {30000, "30k"}, {2e6, "2M"}, {0.5, "0.5"}}
	for _, tt := range tests {
		if got := tickLabel(tt.v); got != tt.want {
			t.Errorf("tickLabel(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	ticks := logTicks{}.Ticks(30, 3000)
	var labels []string
	for _, tk := range ticks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got := strings.Join(labels, " "); got != "50 100 200 500 1k 2k" {
		t.Errorf("labels over [30, 3000]: %q", got)
	}
	labels = nil
	for _, tk := range (logTicks{}).Ticks(1, 1e6) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got := strings.Join(labels, " "); got != "1 10 100 1k 10k 100k 1M" {
		t.Errorf("labels over six decades: %q", got)
	}
}

func TestGroupedBarsRange(t *testing.T) {
	b := &groupedBars{groups: [][]results.Stat{{{Median: 5, Min: 4, Max: 6}}, nil, {{Median: 0}, {Median: 50, Min: 40, Max: 70}}}}
	xmin, xmax, ymin, ymax := b.DataRange()
	if xmin != -0.5 || xmax != 2.5 || ymin != 4 || ymax != 70 {
		t.Errorf("DataRange = %v %v %v %v", xmin, xmax, ymin, ymax)
	}
}
