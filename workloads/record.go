package workloads

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Record is one run, as runs.json and runs.csv hold it. Times are in
// seconds (virtual seconds on the sim backend), latencies in
// microseconds, bytes in bytes.
type Record struct {
	Policy   string `json:"policy"`
	Workload string `json:"workload"`
	QD       int    `json:"qd"`
	Backend  string `json:"backend"`
	// Device is the sim preset, "ram" for mem, the file system for file.
	Device string `json:"device"`
	// Repeat numbers the measured repetitions from 1.
	Repeat int `json:"repeat"`
	// Seed replays the run: runbench -seed SEED -repeat 1 with the same
	// configuration.
	Seed int64 `json:"seed"`

	Ops        uint64  `json:"ops"`
	Seconds    float64 `json:"seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	MiBPerSec  float64 `json:"mib_per_sec"`
	LatP50Us   float64 `json:"lat_p50_us"`
	LatP99Us   float64 `json:"lat_p99_us"`
	LatP999Us  float64 `json:"lat_p999_us"`
	LatMeanUs  float64 `json:"lat_mean_us"`
	LatMaxUs   float64 `json:"lat_max_us"`
	Freezes    uint64  `json:"freezes"`
	FrozenSecs float64 `json:"frozen_seconds"`
	DataBytes  uint64  `json:"data_bytes"`
	MetaBytes  uint64  `json:"meta_bytes"`
	// Linearizable is the verdict on the run's history; null when it was
	// not checked.
	Linearizable *bool `json:"linearizable"`
	// Counterexample names the file, in the results directory, with the
	// shortest failing history of a run that is not linearizable.
	Counterexample string `json:"counterexample,omitempty"`
	// LinearizabilityNote says why a checked run has no verdict (the
	// check timed out).
	LinearizabilityNote string `json:"linearizability_note,omitempty"`
	// Check summarizes impl.Check on the image after the run: "clean",
	// or what remains ("2 corruptions, 1 leak").
	Check            string  `json:"check"`
	CheckCorruptions int     `json:"check_corruptions"`
	CheckLeaks       int     `json:"check_leaks"`
	HostIOsPerOp     float64 `json:"host_ios_per_op"`
	AchievedQD       float64 `json:"achieved_qd"`
	AllocatingWrites uint64  `json:"allocating_writes"`
	// Reopens counts the times the run closed the image and opened it
	// again (the job's reopen_every); absent when it never did.
	Reopens int `json:"reopens,omitempty"`
	// Scheme is how the image allocates, as job keys ("fill=elide grow=1
	// meta=writeback"); absent for baselines.
	Scheme string `json:"scheme,omitempty"`
	// Note says how a baseline's run differs from the policies' runs of
	// the workload (BaselineNote): order, preallocation, cluster size.
	Note string `json:"note,omitempty"`
	// Expect is the verdict the policy claims ("safe" or "unsafe").
	Expect string `json:"expect"`
	// WallSeconds is the harness's wall time for the run, setup and check
	// included.
	WallSeconds float64 `json:"wall_seconds"`
	// IOWallSeconds is the part of WallSeconds spent in the measured
	// phase (Result.IOWallNanos): on sim, the harness's wall time for the
	// simulated I/O alone, without setup, read-back, close, image check
	// and linearizability check.
	IOWallSeconds float64 `json:"io_wall_seconds"`
	// CheckWallSeconds is the part of WallSeconds spent checking the
	// run's history for linearizability (Matrix.Verify); absent when the
	// run was not checked.
	CheckWallSeconds float64 `json:"check_wall_seconds,omitempty"`
	// CPUUserSecs and CPUSysSecs are the process's CPU time during the
	// measured phase of a mem or file run (0 on sim): CPUShare, their sum
	// over Seconds, is the harness's share of the machine.
	CPUUserSecs float64 `json:"cpu_user_seconds,omitempty"`
	CPUSysSecs  float64 `json:"cpu_sys_seconds,omitempty"`
	// Error is why the run failed; its figures are then zero.
	Error string `json:"error,omitempty"`
}

// NewRecord makes the record of a run of configuration c.
func NewRecord(c Config, repeat int, seed int64, r *Result) *Record {
	return &Record{
		Policy: c.Policy, Workload: c.Workload, QD: c.QD, Backend: c.Backend, Device: c.Device,
		Repeat: repeat, Seed: seed,
		Ops: r.Ops, Seconds: r.Seconds(), OpsPerSec: r.OpsPerSec(), MiBPerSec: r.MiBPerSec(),
		LatP50Us: us(r.LatP50), LatP99Us: us(r.LatP99), LatP999Us: us(r.LatP999),
		LatMeanUs: r.LatMean / 1e3, LatMaxUs: us(r.LatMax),
		Freezes: r.Freezes, FrozenSecs: float64(r.FrozenNanos) / 1e9,
		DataBytes: r.DataBytes, MetaBytes: r.MetaBytes,
		Check: CheckSummary(r.Check), CheckCorruptions: r.Check.Corruptions, CheckLeaks: r.Check.Leaks,
		HostIOsPerOp: r.HostIOsPerOp(), AchievedQD: r.AchievedQD, AllocatingWrites: r.AllocatingWrites, Reopens: r.Reopens,
		IOWallSeconds: float64(r.IOWallNanos) / 1e9,
		CPUUserSecs:   float64(r.CPUUserNanos) / 1e9, CPUSysSecs: float64(r.CPUSysNanos) / 1e9,
	}
}

// CPUShare returns the process's CPU time (user and system) during the
// measured phase as a share of its wall time, for mem and file runs; 0
// on sim.
func (r *Record) CPUShare() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return (r.CPUUserSecs + r.CPUSysSecs) / r.Seconds
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

// Config returns the record's configuration.
func (r *Record) Config() Config {
	return Config{Policy: r.Policy, Workload: r.Workload, QD: r.QD, Backend: r.Backend, Device: r.Device}
}

// FrozenShare returns the share of request time spent frozen: frozen
// seconds over the sum of request latencies (seconds x achieved queue
// depth), in [0, 1].
func (r *Record) FrozenShare() float64 {
	busy := r.Seconds * r.AchievedQD
	if busy <= 0 {
		return 0
	}
	return min(r.FrozenSecs/busy, 1)
}

// Unsafe reports whether the run showed a correctness problem: a history
// that is not linearizable, or corruption left in the image. Leaks are not
// corruption.
func (r *Record) Unsafe() bool {
	return (r.Linearizable != nil && !*r.Linearizable) || r.CheckCorruptions > 0
}

// Provenance says where and how a set of runs was made.
type Provenance struct {
	// Commit is the git commit of the harness, or "unknown".
	Commit string `json:"commit"`
	// Dirty is true when tracked files outside the output directory had
	// uncommitted changes.
	Dirty bool `json:"dirty"`
	// GoVersion, OS, Arch, CPUs (logical) and CPUModel describe the build
	// and the machine.
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	// LoadAvg is the machine's load average (1, 5, 15 minutes) when the
	// runs started and when they ended: wall-clock figures made under
	// load from other work are slower and noisier.
	LoadAvg    string `json:"load_avg,omitempty"`
	LoadAvgEnd string `json:"load_avg_end,omitempty"`
	// Date is when the runs started, RFC 3339.
	Date string `json:"date"`
	// Seed is the matrix's base seed; Repeat and Warmup its repetitions.
	Seed   int64 `json:"seed"`
	Repeat int   `json:"repeat"`
	Warmup int   `json:"warmup"`
	// Command is the command line.
	Command string `json:"command"`
	// FileSystem and CacheMode describe the file backend's directory and
	// I/O mode ("buffered" or "direct", with "+grow" when the image file
	// was grown ahead of allocating writes and "+workers=N" when the I/O
	// goroutines were not the default 64); empty without the file
	// backend.
	FileSystem string `json:"file_system,omitempty"`
	CacheMode  string `json:"cache_mode,omitempty"`
	// Linearizability says how runs were checked, or why they were not.
	Linearizability string `json:"linearizability"`
	// Devices describes each sim device used.
	Devices []DeviceInfo `json:"devices,omitempty"`
	// Workloads lists the workloads in job order; Jobs holds each as a
	// job file section.
	Workloads []string          `json:"workloads,omitempty"`
	Jobs      map[string]string `json:"jobs,omitempty"`
}

// DeviceInfo records a sim device's parameters.
type DeviceInfo struct {
	Name           string  `json:"name"`
	ReadLatencyNs  int64   `json:"read_latency_ns"`
	WriteLatencyNs int64   `json:"write_latency_ns"`
	FlushLatencyNs int64   `json:"flush_latency_ns"`
	BandwidthBps   int64   `json:"bandwidth_bytes_per_sec"`
	Parallelism    int     `json:"parallelism"`
	Jitter         float64 `json:"jitter"`
}

// Results is the content of runs.json: provenance, then one record per
// measured run.
type Results struct {
	Provenance Provenance `json:"provenance"`
	Runs       []Record   `json:"runs"`
}

// WriteJSON writes res as indented JSON.
func (res *Results) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// ReadResults reads a runs.json file.
func ReadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &res, nil
}

// csvColumns are the columns of runs.csv, in order, with each record's
// value.
var csvColumns = []struct {
	name string
	get  func(r *Record) string
}{
	{"policy", func(r *Record) string { return r.Policy }},
	{"workload", func(r *Record) string { return r.Workload }},
	{"qd", func(r *Record) string { return strconv.Itoa(r.QD) }},
	{"backend", func(r *Record) string { return r.Backend }},
	{"device", func(r *Record) string { return r.Device }},
	{"repeat", func(r *Record) string { return strconv.Itoa(r.Repeat) }},
	{"seed", func(r *Record) string { return strconv.FormatInt(r.Seed, 10) }},
	{"ops", func(r *Record) string { return strconv.FormatUint(r.Ops, 10) }},
	{"seconds", func(r *Record) string { return ff(r.Seconds) }},
	{"ops_per_sec", func(r *Record) string { return ff(r.OpsPerSec) }},
	{"mib_per_sec", func(r *Record) string { return ff(r.MiBPerSec) }},
	{"lat_p50_us", func(r *Record) string { return ff(r.LatP50Us) }},
	{"lat_p99_us", func(r *Record) string { return ff(r.LatP99Us) }},
	{"lat_p999_us", func(r *Record) string { return ff(r.LatP999Us) }},
	{"freezes", func(r *Record) string { return strconv.FormatUint(r.Freezes, 10) }},
	{"frozen_seconds", func(r *Record) string { return ff(r.FrozenSecs) }},
	{"data_bytes", func(r *Record) string { return strconv.FormatUint(r.DataBytes, 10) }},
	{"meta_bytes", func(r *Record) string { return strconv.FormatUint(r.MetaBytes, 10) }},
	{"linearizable", func(r *Record) string {
		if r.Linearizable == nil {
			return ""
		}
		return strconv.FormatBool(*r.Linearizable)
	}},
	{"check", func(r *Record) string { return r.Check }},
	{"host_ios_per_op", func(r *Record) string { return ff(r.HostIOsPerOp) }},
	{"achieved_qd", func(r *Record) string { return ff(r.AchievedQD) }},
	{"expect", func(r *Record) string { return r.Expect }},
	{"error", func(r *Record) string { return r.Error }},
}

func ff(f float64) string { return strconv.FormatFloat(f, 'g', 8, 64) }

// WriteCSV writes runs as CSV with a header row; linearizable is empty
// when not checked.
func WriteCSV(w io.Writer, runs []Record) error {
	cw := csv.NewWriter(w)
	row := make([]string, len(csvColumns))
	for i, c := range csvColumns {
		row[i] = c.name
	}
	if err := cw.Write(row); err != nil {
		return err
	}
	for i := range runs {
		for j, c := range csvColumns {
			row[j] = c.get(&runs[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteBench writes one Go benchmark line per run, preceded by the
// configuration lines benchstat reads (goos, goarch, cpu, commit), so
// `benchstat -col /policy bench.txt` compares policies. The iteration
// count is the run's ops, ns/op its time per op (virtual on sim); the
// other figures are custom units. Lines come sorted by policy, the one
// named first leading (benchstat takes the first column as its base),
// then by configuration and repetition.
func WriteBench(w io.Writer, prov *Provenance, runs []Record, first string) error {
	runs = slices.Clone(runs)
	slices.SortStableFunc(runs, func(a, b Record) int {
		ra, rb := policyRank(a.Policy), policyRank(b.Policy)
		if a.Policy == first {
			ra = -1
		}
		if b.Policy == first {
			rb = -1
		}
		if ra != rb {
			return cmp.Compare(ra, rb)
		}
		if c := cmp.Compare(a.Policy, b.Policy); c != 0 {
			return c
		}
		ca, cb := a.Config(), b.Config()
		if configLess(ca, cb) {
			return -1
		}
		if configLess(cb, ca) {
			return 1
		}
		return cmp.Compare(a.Repeat, b.Repeat)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "goos: %s\ngoarch: %s\n", prov.OS, prov.Arch)
	if prov.CPUModel != "" {
		fmt.Fprintf(&b, "cpu: %s\n", prov.CPUModel)
	}
	fmt.Fprintf(&b, "pkg: github.com/qedharness/qedharness/workloads\ncommit: %s\n", prov.Commit)
	for i := range runs {
		r := &runs[i]
		if r.Error != "" || r.Ops == 0 {
			continue
		}
		fmt.Fprintf(&b, "BenchmarkRun/%s \t%d\t%s ns/op\t%s ops/s\t%s MiB/s\t%s p50-us\t%s p99-us\t%s p999-us\t%s frozen-share\t%s meta-B/op\t%s hostIOs/op\n",
			r.Config().Name(), r.Ops, bf(r.Seconds*1e9/float64(r.Ops)), bf(r.OpsPerSec), bf(r.MiBPerSec),
			bf(r.LatP50Us), bf(r.LatP99Us), bf(r.LatP999Us), bf(r.FrozenShare()),
			bf(float64(r.MetaBytes)/float64(r.Ops)), bf(r.HostIOsPerOp))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func bf(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }
