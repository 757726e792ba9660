package calibrate

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/sim"
)

// testConfig measures enough I/Os per cell for latencies within a few
// percent at jitter 0.5, in little virtual time.
var testConfig = Config{Budget: 20e6, MinOps: 400, Region: 64 << 20}

// preset returns the preset called name.
func preset(t *testing.T, name string) sim.Device {
	t.Helper()
	d, err := sim.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFitKnownDevices runs the calibration against sim simulating known
// devices (virtual time, so deterministic) and checks the fit gives each
// field back within tolerance: the procedure and the fit, end to end.
func TestFitKnownDevices(t *testing.T) {
	custom := sim.Device{Name: "custom", ReadLatency: 120_000, WriteLatency: 40_000, FlushLatency: 300_000, Bandwidth: 1_000_000_000, Parallelism: 4}
	convert := sim.Device{Name: "convert", ReadLatency: 60_000, WriteLatency: 20_000, FlushLatency: 50_000, Bandwidth: 2_000_000_000, Parallelism: 16, Jitter: 0.1, ConvertTime: 30_000, ExtendTime: 8_000}
	// A device whose latency rises with load, as this project's virtual
	// disk: throughput grows as depth^0.55 up to 32 at once.
	scaling := sim.Device{Name: "scaling", ReadLatency: 50_000, WriteLatency: 45_000, FlushLatency: 50_000, Bandwidth: 2_500_000_000, Parallelism: 32, Jitter: 0.2, Scaling: 0.55}
	// One whose throughput stops growing at 16 at once.
	scaling16 := scaling
	scaling16.Name, scaling16.Parallelism, scaling16.Scaling = "scaling16", 16, 0.7
	slowConvert := convert
	// One channel bounds first writes at depth below the conversions'
	// rate, so only a lone first write shows the conversion.
	slowConvert.Name, slowConvert.Parallelism, slowConvert.ConvertTime, slowConvert.ExtendTime = "convert-lone", 1, 15_000, 5_000
	for _, tc := range []struct {
		dev sim.Device
		// atLeast: the deepest queue depth does not saturate the
		// device, so the fit can only bound its channels from below.
		atLeast bool
		// spread: with scaling, (s, p) and (s+0.01, p-2) give the same
		// throughput at depths 1, 8 and 32 within noise, so the channels
		// are known only to within this fraction (and s to 0.02).
		spread float64
		notes  []string
	}{
		{dev: preset(t, "ssd")},
		{dev: preset(t, "hdd")},
		{dev: preset(t, "nvme"), atLeast: true, notes: []string{"parallelism: throughput still grew up to queue depth 32"}},
		{dev: custom},
		{dev: scaling, spread: 0.1, notes: []string{"scaling: throughput grew as depth^0.5"}},
		{dev: scaling16, spread: 0.1, notes: []string{"scaling: throughput grew as depth^0.7"}},
		{dev: convert, notes: []string{"convert: first writes into grown space at 4k, queue depth 32", "extend: writes extending written space into grown space at 4k, queue depth 32"}},
		{dev: slowConvert, notes: []string{"convert: a lone first write into grown space at 4k took", "extend: a lone write extending written space into grown space at 4k took"}},
	} {
		t.Run(tc.dev.Name, func(t *testing.T) {
			target, err := SimTarget(tc.dev, 7)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Measure(context.Background(), target, testConfig, nil)
			if err != nil {
				t.Fatal(err)
			}
			fit, err := Fit(res, "fitted")
			if err != nil {
				t.Fatal(err)
			}
			got, want := fit.Device, tc.dev
			t.Logf("want %s\ngot  %s\nnotes %q", want.Spec(), got.Spec(), fit.Notes)
			near := func(field string, got, want, tol float64) {
				t.Helper()
				if math.Abs(got-want) > tol*math.Max(math.Abs(want), 1) {
					t.Errorf("%s %v, want %v within %.0f%%", field, got, want, tol*100)
				}
			}
			near("read latency", float64(got.ReadLatency), float64(want.ReadLatency), 0.03)
			near("write latency", float64(got.WriteLatency), float64(want.WriteLatency), 0.03)
			near("flush latency", float64(got.FlushLatency), float64(want.FlushLatency), 0.05)
			near("bandwidth", float64(got.Bandwidth), float64(want.Bandwidth), 0.02)
			if math.Abs(got.Jitter-want.Jitter) > 0.05 {
				t.Errorf("jitter %v, want %v within 0.05", got.Jitter, want.Jitter)
			}
			near("convert time", float64(got.ConvertTime), float64(want.ConvertTime), 0.05)
			near("extend time", float64(got.ExtendTime), float64(want.ExtendTime), 0.05)
			if math.Abs(got.Scaling-want.Scaling) > 0.02 {
				t.Errorf("scaling %v, want %v within 0.02", got.Scaling, want.Scaling)
			}
			deepest := slices.Max(testConfig.Defaults().QDs)
			switch {
			case tc.atLeast && got.Parallelism < deepest:
				t.Errorf("parallelism %d, want at least %d, the deepest queue", got.Parallelism, deepest)
			case !tc.atLeast && math.Abs(float64(got.Parallelism-want.Parallelism)) > tc.spread*float64(want.Parallelism):
				t.Errorf("parallelism %d, want %d (within %.0f%%)", got.Parallelism, want.Parallelism, 100*tc.spread)
			}
			if got.Name != "fitted" {
				t.Errorf("name %q, want fitted", got.Name)
			}
			if len(fit.Notes) != len(tc.notes) {
				t.Errorf("notes %q, want %d", fit.Notes, len(tc.notes))
			}
			for i, n := range tc.notes {
				if i < len(fit.Notes) && !strings.HasPrefix(fit.Notes[i], n) {
					t.Errorf("note %q, want one starting %q", fit.Notes[i], n)
				}
			}
		})
	}
}

// TestMeasureReproducible checks two measurements of the same simulated
// device, seed and configuration agree cell for cell, and that the
// cells come in Result's order.
func TestMeasureReproducible(t *testing.T) {
	cfg := Config{Budget: 1e6, MinOps: 32, Region: 8 << 20, Sizes: []int{4096, 65536}, QDs: []int{1, 4}}
	var results [2]Result
	for i := range results {
		target, err := SimTarget(preset(t, "ssd"), 3)
		if err != nil {
			t.Fatal(err)
		}
		if results[i], err = Measure(context.Background(), target, cfg, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(results[0], results[1]) {
		t.Errorf("two measurements differ:\n%+v\n%+v", results[0], results[1])
	}
	var names []string
	for _, c := range results[0].Cells {
		names = append(names, c.Name())
	}
	want := []string{"read 4k qd1", "write 4k qd1", "read 4k qd4", "write 4k qd4", "read 64k qd1", "write 64k qd1", "read 64k qd4", "write 64k qd4", "flush", "first-write 4k qd1", "first-write 4k qd4", "extend-write 4k qd1", "extend-write 4k qd4"}
	if !slices.Equal(names, want) {
		t.Errorf("cells %q, want %q", names, want)
	}
}

// TestConfigCheck checks each kind of bad configuration is refused with
// a reason, and the defaults are accepted.
func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"defaults", Config{}, ""},
		{"unaligned size", Config{Sizes: []int{4096, 1000}}, "size 1000 is not a positive multiple of 4096"},
		{"negative size", Config{Sizes: []int{-4096}}, "size -4096"},
		{"zero queue depth", Config{QDs: []int{1, 0}}, "queue depth 0, want >= 1"},
		{"no queue depth 1", Config{QDs: []int{8, 32}}, "queue depth 1 missing"},
		{"region not a multiple", Config{Region: 3 << 19}, "region 1572864 bytes is not a positive multiple of the largest size, 1048576"},
		{"region too small", Config{Region: 4096}, "region 4096 bytes"},
		{"ops inverted", Config{MinOps: 10, MaxOps: 5}, "want a budget >= 0 and 1 <= min <= max"},
		{"odd cluster", Config{Cluster: 6144}, "cluster 6144 bytes is not a positive multiple of the smallest size, 4096"},
		{"no first writes", Config{FirstWrites: -1}, "-1 first writes, want 1"},
		{"no passes", Config{Passes: -1}, "-1 passes, want 1 to 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Check()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestMeasureCancelled checks a cancelled measurement stops with the
// context's cause.
func TestMeasureCancelled(t *testing.T) {
	target, err := SimTarget(preset(t, "nvme"), 1)
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("stop")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	if _, err := Measure(ctx, target, testConfig, nil); !errors.Is(err, cause) {
		t.Errorf("got %v, want %v", err, cause)
	}
}

// TestFileTargetLeavesDirAlone measures a file in a directory holding
// someone else's files (tiny cells; nothing about time is asserted) and
// checks the directory holds exactly what it held before afterwards.
func TestFileTargetLeavesDirAlone(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "theirs.img"), []byte("keep"), 0o644)
	os.Mkdir(filepath.Join(dir, "runbench-calibrate-theirs"), 0o755)
	before := listDir(t, dir)
	target, cleanup, err := FileTarget(dir, file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cells := 0
	_, err = Measure(context.Background(), target, Config{Budget: 1, MinOps: 4, Region: 1 << 20, Sizes: []int{4096, 65536}, QDs: []int{1, 2}, FirstWrites: 16}, func(Cell) { cells++ })
	if err := errors.Join(err, cleanup()); err != nil {
		t.Fatal(err)
	}
	if cells != 3*13 {
		t.Errorf("%d cells reported, want 3 passes of 13", cells)
	}
	if after := listDir(t, dir); !slices.Equal(before, after) {
		t.Errorf("directory held %q, holds %q", before, after)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "theirs.img")); string(b) != "keep" {
		t.Errorf("someone else's file changed: %q", b)
	}
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestFitRefuses checks Fit names what a result lacks.
func TestFitRefuses(t *testing.T) {
	cell := func(k Kind, size, qd int) Cell {
		return Cell{Kind: k, Size: size, QD: qd, Ops: 100, Elapsed: 1e6, Mean: 10_000, P25: 9000, P50: 10_000, P75: 11_000}
	}
	for _, tc := range []struct {
		name  string
		cells []Cell
		want  string
	}{
		{"nothing", nil, "no read or write cells"},
		{"only flushes", []Cell{{Kind: Flush, Ops: 1}}, "no read or write cells"},
		{"no lone write", []Cell{cell(Read, 4096, 1), cell(Write, 4096, 8)}, "no write cell at 4k, queue depth 1"},
		{"no lone read at the smallest size", []Cell{cell(Read, 65536, 1), cell(Write, 4096, 1), cell(Write, 65536, 1)}, "no read cell at 4k, queue depth 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Fit(Result{Cells: tc.cells, Region: 1 << 20}, "x"); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestMedianCells checks each cell is its pass of median throughput,
// with the passes' extremes beside it, whatever order the passes came
// in.
func TestMedianCells(t *testing.T) {
	at := func(ops int, elapsed int64, p50 int64) Cell {
		return Cell{Kind: Write, Size: 4096, QD: 8, Ops: ops, Elapsed: elapsed, P50: p50}
	}
	for _, tc := range []struct {
		name   string
		passes []Cell // one cell in each pass
		p50    int64  // the median pass's, to tell which was kept
		slow   float64
		fast   float64
	}{
		{"one pass", []Cell{at(100, 1e9, 7)}, 7, 100, 100},
		{"median of three", []Cell{at(300, 1e9, 3), at(100, 1e9, 1), at(200, 1e9, 2)}, 2, 100, 300},
		{"rate, not ops", []Cell{at(100, 1e9, 1), at(100, 2e9, 2), at(100, 5e8, 3)}, 1, 50, 200},
		{"even count keeps the slower middle", []Cell{at(400, 1e9, 4), at(100, 1e9, 1), at(300, 1e9, 3), at(200, 1e9, 2)}, 2, 100, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			passes := make([][]Cell, len(tc.passes))
			for i, c := range tc.passes {
				passes[i] = []Cell{c, {Kind: Flush, Ops: 1, Elapsed: 1e6}}
			}
			got := medianCells(passes)
			if len(got) != 2 {
				t.Fatalf("%d cells, want 2", len(got))
			}
			c := got[0]
			if c.P50 != tc.p50 || c.Passes != len(tc.passes) || c.Slowest != tc.slow || c.Fastest != tc.fast {
				t.Errorf("kept p50 %d of %d passes, range %v-%v; want p50 %d, %d passes, %v-%v", c.P50, c.Passes, c.Slowest, c.Fastest, tc.p50, len(tc.passes), tc.slow, tc.fast)
			}
			if got[1].Kind != Flush || got[1].Passes != len(tc.passes) {
				t.Errorf("second cell %+v, want the flush of %d passes", got[1], len(tc.passes))
			}
		})
	}
}
