package workloads

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// smallMatrix is a fast matrix: 2 policies x 2 workloads x 2 depths.
func smallMatrix(t *testing.T) *Matrix {
	t.Helper()
	regs, err := model.ParseList("freeze-any,overlap")
	if err != nil {
		t.Fatal(err)
	}
	return &Matrix{
		Policies: regs,
		Plans: []*Plan{
			mustPlan(t, "ft", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "1m", "cluster_size": "4k"}),
			mustPlan(t, "rw", map[string]string{"rw": "randrw", "pattern": "rewrite", "size": "512k", "ops": "64"}),
		},
		QDs:    []int{1, 8},
		Repeat: 3, Warmup: 1, Seed: 10,
	}
}

func TestScheduleInterleaves(t *testing.T) {
	m := smallMatrix(t)
	configs := m.Configs()
	if len(configs) != 8 {
		t.Fatalf("%d configs, want 8", len(configs))
	}
	sched := m.schedule()
	if len(sched) != 8*4 {
		t.Fatalf("%d slots, want 32", len(sched))
	}
	orders := map[string]bool{}
	for r := range 4 {
		round := sched[r*8 : (r+1)*8]
		seen := map[results.Config]bool{}
		var order []string
		for _, s := range round {
			if seen[s.cfg] {
				t.Fatalf("round %d runs %v twice", r, s.cfg)
			}
			seen[s.cfg] = true
			order = append(order, s.cfg.Name())
			wantRepeat := r // round 0 is the warm-up
			if s.repeat != wantRepeat {
				t.Errorf("round %d: repeat %d", r, s.repeat)
			}
			wantSeed := int64(10 + r - 1)
			if r == 0 {
				wantSeed = 10 + 3
			}
			if s.seed != wantSeed {
				t.Errorf("round %d: seed %d, want %d", r, s.seed, wantSeed)
			}
		}
		orders[strings.Join(order, " ")] = true
	}
	if len(orders) < 3 {
		t.Errorf("rounds share their order: %d distinct orders of 4", len(orders))
	}
	// The schedule is a function of the seed.
	again := m.schedule()
	for i := range sched {
		if sched[i].cfg != again[i].cfg || sched[i].seed != again[i].seed {
			t.Fatal("schedule differs for the same seed")
		}
	}
}

func TestMatrixRun(t *testing.T) {
	m := smallMatrix(t)
	var progress []Progress
	m.Progress = func(p Progress) { progress = append(progress, p) }
	runs, err := m.Run()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 8*3 {
		t.Fatalf("%d records, want 24 (warm-ups discarded)", len(runs))
	}
	if len(progress) != 32 || progress[31].Done != 32 || progress[31].Total != 32 {
		t.Errorf("progress: %d calls, last %+v", len(progress), progress[len(progress)-1])
	}
	for _, r := range runs {
		if r.Error != "" || r.Ops == 0 || r.Repeat < 1 || r.Check != "clean" || r.Linearizable != nil || r.Expect != "safe" || r.Device != "nvme" {
			t.Errorf("record %+v", r)
		}
	}
	// Sim figures are virtual: a second run gives the same records.
	again, err := m.Run()
	if err != nil {
		t.Fatal(err)
	}
	for i := range runs {
		a, b := withoutWall(runs[i]), withoutWall(again[i])
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("record %d differs between identical matrices:\n%+v\n%+v", i, a, b)
		}
	}
	sums := results.Summarize(runs, m.Configs())
	if len(sums) != 8 {
		t.Fatalf("%d summaries", len(sums))
	}
	for i, s := range sums {
		if s.Config != m.Configs()[i] || s.Runs != 3 || s.OpsPerSec.Min > s.OpsPerSec.Median || s.OpsPerSec.Median > s.OpsPerSec.Max {
			t.Errorf("summary %d: %+v", i, s)
		}
	}
	var table bytes.Buffer
	if err := results.WriteTable(&table, sums, "freeze-any"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ops/s", "vs freeze-any", "1.00x", "not checked", "ft", "overlap"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestMatrixValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Matrix)
		want string
	}{
		{"no policies", func(m *Matrix) { m.Policies = nil }, "no policies"},
		{"no workloads", func(m *Matrix) { m.Plans = nil }, "no workloads"},
		{"bad qd", func(m *Matrix) { m.QDs = []int{0} }, "queue depth 0"},
		{"bad backend", func(m *Matrix) { m.Backends = []string{"tape"} }, "unknown backend"},
		{"bad device", func(m *Matrix) { m.Devices = []sim.Device{{Name: "x"}} }, "device x"},
		{"duplicate workload", func(m *Matrix) { m.Plans = append(m.Plans, m.Plans[0]) }, "listed twice"},
		{"qd beyond the limit", func(m *Matrix) { m.QDs = []int{100000} }, "queue depth 100000 not in [1, 65536]"},
		{"buffers beyond the limit", func(m *Matrix) {
			m.Plans = []*Plan{mustPlan(t, "big", map[string]string{"rw": "write", "bs": "64m", "size": "1g"})}
			m.QDs = []int{65536}
		}, "[big] bs=64m: queue depth 65536 x numjobs=1 x bs=64m needs 4t of request buffers"},
		{"prefill beyond the limit", func(m *Matrix) {
			m.Plans = []*Plan{mustPlan(t, "huge", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "16t", "runtime": "1"})}
		}, "[huge] size=16t: pattern=rewrite allocates up to 268435456 clusters"},
		{"repeat beyond the limit", func(m *Matrix) { m.Repeat = 1 << 30 }, "more than the limit of 1048576 runs"},
		{"overflowing rounds", func(m *Matrix) { m.Repeat, m.Warmup = math.MaxInt/2+1, math.MaxInt/2+1 }, "more than the limit of 1048576 runs"},
		{"runs beyond the limit", func(m *Matrix) { m.Repeat = 1 << 18 }, "8 configurations x (262144 repetitions + 1 warm-up) = 2097160 runs"},
	}
	for _, tt := range tests {
		m := smallMatrix(t)
		tt.edit(m)
		if _, err := m.Run(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// TestMatrixFailedRunRecorded checks a failing run is recorded, not fatal.
func TestMatrixFailedRunRecorded(t *testing.T) {
	m := smallMatrix(t)
	m.Repeat, m.Warmup = 1, 0
	m.Wrap = func(c results.Config, p *Plan, open history.Opener) (Submitter, error) {
		if c.Policy == "overlap" {
			return nil, os.ErrPermission
		}
		im, _, err := open(0)
		return im, err
	}
	runs, err := m.Run()
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, r := range runs {
		if r.Error != "" {
			failed++
		}
	}
	if failed != 4 {
		t.Errorf("%d failed records, want 4", failed)
	}
	var table bytes.Buffer
	results.WriteTable(&table, results.Summarize(runs, nil), "freeze-any")
	if !strings.Contains(table.String(), "ERROR") {
		t.Errorf("table hides the failures:\n%s", table.String())
	}
}

func TestResultsFiles(t *testing.T) {
	m := smallMatrix(t)
	m.Repeat, m.Warmup = 2, 0
	runs, err := m.Run()
	if err != nil {
		t.Fatal(err)
	}
	f := false
	runs[0].Linearizable = &f
	prov := results.Provenance{Commit: "abc", GoVersion: "go1.26", OS: "linux", Arch: "amd64", CPUs: 2, CPUModel: "Test CPU", Seed: 10}
	res := &results.Results{Provenance: prov, Runs: runs}

	var js bytes.Buffer
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"policy"`, `"workload"`, `"qd"`, `"backend"`, `"device"`, `"repeat"`, `"seed"`, `"ops"`,
		`"seconds"`, `"ops_per_sec"`, `"mib_per_sec"`, `"lat_p50_us"`, `"lat_p99_us"`, `"lat_p999_us"`, `"freezes"`,
		`"frozen_seconds"`, `"data_bytes"`, `"meta_bytes"`, `"linearizable": null`, `"linearizable": false`, `"check"`,
		`"host_ios_per_op"`, `"achieved_qd"`, `"provenance"`, `"commit"`, `"go_version"`, `"cpus"`, `"date"`} {
		if !strings.Contains(js.String(), field) {
			t.Errorf("runs.json lacks %s", field)
		}
	}
	path := filepath.Join(t.TempDir(), "runs.json")
	os.WriteFile(path, js.Bytes(), 0o644)
	back, err := results.ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != len(runs) || back.Provenance.Commit != "abc" || back.Runs[0].Linearizable == nil || back.Runs[1].Linearizable != nil {
		t.Errorf("JSON round trip lost data: %+v", back.Provenance)
	}

	var c bytes.Buffer
	if err := results.WriteCSV(&c, runs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(runs)+1 || rows[0][0] != "policy" || rows[1][18] != "false" || rows[2][18] != "" {
		t.Errorf("CSV: %d rows, header %v, linearizable %q %q", len(rows), rows[0], rows[1][18], rows[2][18])
	}

	var b bytes.Buffer
	if err := results.WriteBench(&b, &prov, runs, "freeze-any"); err != nil {
		t.Fatal(err)
	}
	if first := strings.Index(b.String(), "BenchmarkRun/"); !strings.HasPrefix(b.String()[first:], "BenchmarkRun/policy=freeze-any/") {
		t.Errorf("bench lines do not start with the base policy: %q", b.String()[first:first+60])
	}
	line := regexp.MustCompile(`^BenchmarkRun/policy=[a-z-]+/workload=[a-z-]+/qd=\d+/backend=sim/device=nvme \t\d+(\t[0-9.e+-]+ [A-Za-z/0-9-]+)+$`)
	sc := bufio.NewScanner(&b)
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Benchmark") {
			n++
			if !line.MatchString(sc.Text()) {
				t.Errorf("bad benchmark line %q", sc.Text())
			}
		}
	}
	if n != len(runs) {
		t.Errorf("%d benchmark lines, want %d", n, len(runs))
	}
}

// withoutWall returns r without its wall-clock figures, which measure
// the machine, not the simulation.
func withoutWall(r results.Record) results.Record {
	r.WallSeconds, r.IOWallSeconds, r.CheckWallSeconds = 0, 0, 0
	return r
}
