package results

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

	Ops uint64 `json:"ops"`
	// Trims counts the run's trims (the image's write-zeroes requests),
	// which Ops and OpsPerSec include; TrimBytes is their bytes, which
	// MiBPerSec leaves out (a trim moves no data; fio reports trims
	// apart too). Both are absent for a run without trims.
	Trims      uint64  `json:"trims,omitempty"`
	TrimBytes  uint64  `json:"trim_bytes,omitempty"`
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
	// SteadyStateSecs is when the job's fio steady state (steadystate)
	// was attained, from the end of its ramp_time: its instances stopped
	// issuing then; absent when the job does not detect steady state or
	// did not attain it.
	SteadyStateSecs float64 `json:"steady_state_seconds,omitempty"`
	// LatencyTargetDepth is the queue depth the job's fio latency_target
	// search (latency_target) ended at, fio's latency_depth; omitted
	// without a target.
	LatencyTargetDepth int `json:"latency_target_depth,omitempty"`
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
	// LatencyHDR is the latency of every request of the run, in
	// nanoseconds (virtual on sim, wall time elsewhere), as an HDR
	// histogram (NewLatencyHistogram: 1 ns to 1 hour, 3 significant
	// digits) in HdrHistogram's V2 compressed encoding, base64: the form
	// of HdrHistogram's interval logs, which its tools in every language
	// read. LatencyHistogram decodes it. Absent for runs that failed, the
	// qemu-img baselines (which report no latencies) and runs.json
	// written before runs kept it. LatP50Us and the other percentiles
	// stay exact, from every latency; the histogram's agree with them to
	// within its precision.
	LatencyHDR string `json:"latency_hdr,omitempty"`
	// Jobs holds each job's own figures when the workload is a group of
	// fio jobs running together (a job file's jobs between stonewalls),
	// in the file's order; absent for a workload of one job, whose
	// figures are the record's. The record's figures are the group's
	// totals, its time from the group's start to its last completion.
	Jobs []JobFigures `json:"jobs,omitempty"`
}

// JobFigures are one job's figures in a run of a group of jobs running
// together.
type JobFigures struct {
	// Name is the job's; QD the requests each of its instances kept in
	// flight.
	Name string `json:"name"`
	QD   int    `json:"qd"`
	// Ops counts its completed requests (reads, writes, trims, flushes);
	// Bytes its bytes read and written, TrimBytes those trimmed.
	Ops       uint64 `json:"ops"`
	Reads     uint64 `json:"reads"`
	Writes    uint64 `json:"writes"`
	Trims     uint64 `json:"trims,omitempty"`
	Flushes   uint64 `json:"flushes,omitempty"`
	Bytes     uint64 `json:"bytes"`
	TrimBytes uint64 `json:"trim_bytes,omitempty"`
	// StartSecs is when it started after the group (startdelay,
	// wait_for); Seconds from then to its last completion; OpsPerSec
	// and MiBPerSec over Seconds.
	StartSecs float64 `json:"start_seconds"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	MiBPerSec float64 `json:"mib_per_sec"`
	// Its request latencies, in microseconds.
	LatP50Us  float64 `json:"lat_p50_us"`
	LatP99Us  float64 `json:"lat_p99_us"`
	LatP999Us float64 `json:"lat_p999_us"`
	LatMeanUs float64 `json:"lat_mean_us"`
	LatMaxUs  float64 `json:"lat_max_us"`
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
