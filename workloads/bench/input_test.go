package bench

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
)

// TestCheckDir checks -dir against the bytes each run writes before it
// starts.
func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	plan := func(set string) *workloads.Plan {
		j := workloads.DefaultJob()
		j.Name = "job"
		for _, kv := range strings.Split(set, ",") {
			k, v, _ := strings.Cut(kv, "=")
			if err := j.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		p, err := j.Plan()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		set  string
		free uint64
		want string
	}{
		{"fits", "rw=write,backing=1,size=1g", 2 << 30, ""},
		{"backing too large", "rw=write,backing=1,size=16t", 80 << 30, "[job] writes 16384.0 GiB (backing file and prefill) before each run starts, more than the 80.0 GiB free in " + dir},
		{"prefill too large", "rw=randread,prefill=1,size=100g,ops=1000000", 10 << 30, "[job] writes 61.0 GiB"},
		{"no setup", "rw=write,size=16t", 1 << 20, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDir(dir, []*workloads.Plan{plan(tt.set)}, func(string) (uint64, bool) { return tt.free, true })
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestNewSettingErrors checks New refuses each bad setting with a
// *SettingError naming the Config field.
func TestNewSettingErrors(t *testing.T) {
	overlap, err := model.Lookup("overlap")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		setting string
		want    string
	}{
		{"unknown workload", func(c *Config) { c.Workloads = []string{"nope"} }, "Workloads", `unknown workload "nope" (known: first-touch`},
		{"unknown key", func(c *Config) { c.Settings = []string{"bsz=4k"} }, "Settings", "[first-touch] bsz=4k: unknown key (did you mean bs?)"},
		{"impossible job", func(c *Config) { c.Settings = []string{"rw=randread"} }, "Jobs", "[first-touch] pattern=first-touch"},
		{"no policies", func(c *Config) { c.Policies = []model.Registration{} }, "Policies", "no policies"},
		{"policy twice", func(c *Config) { c.Policies = []model.Registration{overlap, overlap} }, "Policies", `policy "overlap" listed twice`},
		{"qd twice", func(c *Config) { c.QDs = []int{4, 4} }, "QDs", "4 listed twice"},
		{"qd 0", func(c *Config) { c.QDs = []int{0} }, "QDs", "queue depth 0 not in [1, 65536]"},
		{"unknown backend", func(c *Config) { c.Backends = []string{"tape"} }, "Backends", `unknown backend "tape" (want sim, mem, file)`},
		{"backend twice", func(c *Config) { c.Backends = []string{"sim", "sim"} }, "Backends", `backend "sim" listed twice`},
		{"device without bandwidth", func(c *Config) { c.Devices = []sim.Device{{Name: "x"}} }, "Devices", "bandwidth 0 B/s"},
		{"no repetitions", func(c *Config) { c.Repeat = 0 }, "Repeat", "0: want at least 1"},
		{"no results directory", func(c *Config) { c.Out = "" }, "Out", "empty directory"},
		{"no baseline", func(c *Config) { c.Baseline = "" }, "Baseline", `unknown policy ""`},
		{"no linearizability mode", func(c *Config) { c.Linearizability = "" }, "Linearizability", `"": want none, sample, first or all`},
		{"direct without file", func(c *Config) { c.Direct = true }, "Direct", "applies to the file backend only"},
		{"aio without file", func(c *Config) { c.AIO = "threads" }, "AIO", "applies to the file backend only"},
		{"unknown aio", func(c *Config) { c.Backends, c.AIO = []string{"file"}, "native" }, "AIO", `unknown aio mode "native"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smallConfig(t, "first-touch", "overlap", []int{1})
			tt.edit(&cfg)
			_, err := New(cfg)
			var se *SettingError
			if !errors.As(err, &se) || se.Setting != tt.setting || !strings.Contains(se.Err.Error(), tt.want) {
				t.Errorf("error %v, want a *SettingError for %s containing %q", err, tt.setting, tt.want)
			}
		})
	}
}

// TestJobQueueDepths checks the queue depths each job runs at: without
// QDs, a job that sets iodepth (or has a synchronous ioengine) runs at
// it alone and the others at the standard sweep; QDs, when given, win.
func TestJobQueueDepths(t *testing.T) {
	// stonewall: each job runs alone (without it fio runs the three
	// together, as one workload: TestGroupQueueDepths).
	const file = "[global]\nstonewall\nrw=randread\nsize=1m\n[deep]\niodepth=32\n[sync]\nioengine=psync\niodepth=16\n[swept]\n"
	jobs, err := workloads.ParseJobFile(strings.NewReader(file), "qd.fio")
	if err != nil {
		t.Fatal(err)
	}
	depths := func(qds []int) map[string][]int {
		cfg := smallConfig(t, "deep,sync,swept", "overlap", qds)
		cfg.Jobs = jobs
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]int{}
		for _, c := range s.matrix.Configs() {
			out[c.Workload] = append(out[c.Workload], c.QD)
		}
		return out
	}
	tests := []struct {
		qds  []int
		want map[string]string
	}{
		{nil, map[string]string{"deep": "[32]", "sync": "[1]", "swept": fmt.Sprint(workloads.StandardQDs())}},
		{[]int{4, 8}, map[string]string{"deep": "[4 8]", "sync": "[4 8]", "swept": "[4 8]"}},
	}
	for _, tt := range tests {
		got := depths(tt.qds)
		for name, want := range tt.want {
			if s := fmt.Sprint(got[name]); s != want {
				t.Errorf("QDs %v: %s runs at %s, want %s", tt.qds, name, s, want)
			}
		}
	}
}

// TestGroupQueueDepths checks the queue depths of jobs running together
// (no stonewall): one workload named after its jobs; without QDs it runs
// once, each job at its own depth, when every job asks for one
// (recorded at the deepest), and across the sweep otherwise (the jobs
// that ask keep theirs); QDs, when given, set every job's depth.
func TestGroupQueueDepths(t *testing.T) {
	const asking = "[global]\nrw=randread\nsize=1m\n[deep]\niodepth=32\n[sync]\nioengine=psync\niodepth=16\n"
	tests := []struct {
		file, workloads string
		qds             []int
		want            string
	}{
		{asking, "deep,sync", nil, "deep+sync [32]"},
		{asking + "[swept]\n", "deep,sync,swept", nil, "deep+sync+swept " + fmt.Sprint(workloads.StandardQDs())},
		{asking, "deep,sync", []int{4, 8}, "deep+sync [4 8]"},
		{asking, "sync", nil, "sync [1]"},
		{asking, "deep+sync", nil, "deep+sync [32]"}, // a group's name names its jobs
	}
	for _, tt := range tests {
		jobs, err := workloads.ParseJobFile(strings.NewReader(tt.file), "qd.fio")
		if err != nil {
			t.Fatal(err)
		}
		cfg := smallConfig(t, tt.workloads, "overlap", tt.qds)
		cfg.Jobs = jobs
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var name string
		var qds []int
		for _, c := range s.matrix.Configs() {
			name = c.Workload
			qds = append(qds, c.QD)
		}
		if got := fmt.Sprint(name, " ", qds); got != tt.want {
			t.Errorf("%s, QDs %v: %s, want %s", tt.workloads, tt.qds, got, tt.want)
		}
	}
}
