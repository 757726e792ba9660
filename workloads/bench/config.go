package bench

import (
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/shard"
)

// Config is every setting of a bench, as runbench's flags choose them.
// New checks it; fields are read, never modified.
type Config struct {
	// Jobs are the workloads to choose from, as a job file holds them
	// (workloads.ParseJobFile); nil means workloads.StandardJobs.
	Jobs []workloads.Job
	// Workloads names the jobs to run, in the order named (a group's
	// workload name, JOB+JOB, names its jobs); nil means every job of
	// Jobs, in its order. The jobs chosen run as fio runs them: those
	// between stonewalls together, as one workload (workloads.Groups).
	Workloads []string
	// Settings are job settings applied to every selected job, in
	// order, so that a later one wins: each a comma-separated list of
	// key=value (see workloads.Keys), as runbench -set takes them. The
	// image's allocation scheme is chosen here too, with the keys fill,
	// grow and meta.
	Settings []string
	// Policies are the policies compared, in table order; nil means
	// every registered policy.
	Policies []model.Registration
	// QDs are the queue depths (requests in flight per job instance),
	// each in [1, workloads.MaxQD], none twice, for every job; nil means
	// workloads.StandardQDs, except that a job asking for a depth (it
	// sets iodepth, or has a synchronous ioengine: Plan.JobQD) runs at
	// that depth alone.
	QDs []int
	// Backends names the backends to run on (workloads.Backends), none
	// twice; nil means the sim backend alone.
	Backends []string
	// Devices are the devices the sim backend simulates; nil means the
	// nvme preset (sim.Preset).
	Devices []sim.Device
	// Repeat, Warmup, Seed and Parallel go to the workloads.Matrix as
	// they are (see there): Repeat from 1 and Warmup from 0, both up to
	// workloads.MaxRuns, and Parallel 0 (GOMAXPROCS) or more.
	Repeat, Warmup int
	Seed           int64
	Parallel       int
	// Out is the directory the results go to, made if missing. It must
	// be new, empty, or a results directory written before (it holds a
	// runs.json): Run overwrites the names of its own files there.
	Out string
	// Baseline names the policy the tables compare throughput with
	// (DefaultBaseline is runbench's).
	Baseline string
	// Linearizability says which runs are checked for linearizability.
	Linearizability LinMode
	// NoPlots skips the figures (the report is written without them).
	NoPlots bool
	// Verbose prints the full summary table and the verdicts with their
	// counts to stdout; otherwise Run prints a pivot at the deepest queue
	// depth and one line of outcomes per policy (summary.txt and the
	// report hold everything either way).
	Verbose bool
	// NoVerdicts skips the checkers that need no measured run (the
	// explorers and the crash explorer, Verdicts); the linearizability
	// verdicts of the measured runs are made all the same.
	NoVerdicts bool

	// Dir, Direct, AIO and FileWorkers configure the file backend and
	// are refused without it.
	//
	// Dir is an existing directory in which Run makes the work
	// directory of the file backend's images and the baselines' files;
	// "" means the system's temporary directory.
	Dir string
	// Direct opens the images with O_DIRECT.
	Direct bool
	// AIO names how I/O reaches the kernel, as QEMU's aio= option:
	// "io_uring", "threads", or AIOAuto (io_uring where the kernel
	// allows it, else threads); "" means AIOAuto. The qemu-img
	// baselines use the same.
	AIO string
	// FileWorkers is the number of I/Os in the kernel at once, up to
	// 4096: goroutines performing I/O with threads, ring slots with
	// io_uring; 0 means 64, QEMU's thread-pool size.
	FileWorkers int
	// Baselines names the baselines (results.BaselineNames) run beside
	// the policies on the file backend; BaselinesAuto alone means every
	// one where qemu-img is installed and raw alone otherwise, and nil
	// or BaselinesNone alone means none. Those through qemu-img bench
	// are left out where it is not installed, with a note. Without the
	// file backend Baselines is ignored.
	Baselines []string

	// Command is the command line that chose this Config, as
	// "runbench -qd 4", recorded in the provenance; the report shows
	// "go run ./cmd/" followed by it.
	Command string

	// Shard, if not the zero Spec, runs shard K of N of the matrix
	// instead of the whole (see Setup.Run), writing a shard directory to
	// Out for Merge. WholeCommand is then the command line of the whole
	// matrix (Command without -shard and -out), which Merge records;
	// "" means Command.
	Shard        shard.Spec
	WholeCommand string
}

// DefaultBaseline is the policy runbench compares throughput with unless
// told otherwise: QEMU's QED as merged.
const DefaultBaseline = "freeze-any"

// DefaultRepeat is runbench's number of measured repetitions of each
// configuration. A repetition is a run with the next seed (the matrix's
// base seed plus k-1), so on sim, deterministic in virtual time, the
// repetitions differ by the seed alone. Five is the fewest with which
// benchstat's Mann-Whitney U test can call a difference significant at
// alpha 0.05 while tolerating overlap: its smallest p-value is 0.1 with
// 3 repetitions a side (never significant), 0.029 with 4 (significant
// only when every new value lies beyond every old one), 0.008 with 5
// (up to two of the 25 old-new pairs may be out of order), and 0.036
// against 3 old ones, so results of 3 repetitions still compare.
const DefaultRepeat = 5

// Choices of Config.AIO and Config.Baselines other than names.
const (
	// AIOAuto chooses io_uring where the kernel allows it, else threads.
	AIOAuto = "auto"
	// BaselinesAuto runs every baseline that can run here.
	BaselinesAuto = "auto"
	// BaselinesNone runs no baseline.
	BaselinesNone = "none"
)

// LinMode says which runs are checked for linearizability. A checked run
// is recorded, read back after its measured phase (unmeasured) and its
// history checked with porcupine against the disk specification.
// Baselines are never checked.
type LinMode string

// The linearizability modes.
const (
	// LinNone checks no run.
	LinNone LinMode = "none"
	// LinSample checks repetition 1 of each configuration at queue depth
	// 32, or at the largest queue depth if 32 is not run.
	LinSample LinMode = "sample"
	// LinFirst checks repetition 1 of each configuration.
	LinFirst LinMode = "first"
	// LinAll checks every measured run.
	LinAll LinMode = "all"
)

// SettingError is a Config setting New (or Run, for the work directory)
// cannot use.
type SettingError struct {
	// Setting is the name of the Config field at fault, as "QDs". A job
	// that cannot run, for its own keys or for Settings, is "Jobs".
	Setting string
	// Err says what is wrong, naming the value (and the job).
	Err error
}

// Error returns the setting and the problem.
func (e *SettingError) Error() string { return e.Setting + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *SettingError) Unwrap() error { return e.Err }

// bad returns a *SettingError for setting.
func bad(setting string, err error) error { return &SettingError{Setting: setting, Err: err} }
