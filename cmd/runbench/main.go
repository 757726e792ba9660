// Command runbench compares QED allocation policies: it runs policies x
// workloads x queue depths x backends, repeated, prints a summary table
// and writes the results (runs.json, runs.csv, bench.txt, summary.txt) to
// a directory.
//
// With no flags it runs the standard comparison (workloads.StandardJobs on
// the simulated nvme device, every policy, queue depths 1 to 64) and
// writes to results/latest/:
//
//	go run ./cmd/runbench
//
// Flags choose the matrix; see runbench -h. Job keys (fio-like) can be
// overridden for every selected workload with -set, and whole jobs come
// from a job file with -job.
//
// Exit status: 0 when every run completed, 1 when a run failed or the
// results could not be written, 2 for bad flags or a bad job file, 128
// plus the signal's number when interrupted (SIGINT, SIGTERM).
//
// The file backend and the qemu-img baselines work in a new directory
// runbench makes inside -dir, which it removes at the end (and when
// interrupted); nothing else in -dir is read, written or removed.
//
// This package binds flags into a bench.Config and maps errors to exit
// statuses; the bench package (workloads/bench) does the work.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/qedharness/qedharness/cmd/internal/buildinfo"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/bench"
	"github.com/qedharness/qedharness/workloads/results"
	"github.com/qedharness/qedharness/workloads/shard"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the flags that need parsing before they go into a
// bench.Config, and those that are runbench's own.
type options struct {
	policies, workloads, qds, backends, devices string
	jobFile, cpuProfile, baselines, fill, meta  string
	shard                                       string
	sets                                        multiFlag
	grow, keys, list, verdicts, version         bool
}

// newFlagSet binds the flags into cfg, directly where types allow, and o.
func newFlagSet(cfg *bench.Config, o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("runbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.policies, "policies", "all", "comma-separated `policies` to compare, or all: "+strings.Join(model.Names(), ", "))
	fs.StringVar(&o.workloads, "workloads", "all", "comma-separated `names` of the job file's jobs, or all; the jobs chosen run as fio runs them: those between stonewalls together, as one workload named JOB+JOB (a job alone keeps its name)")
	fs.StringVar(&o.qds, "qd", "", "comma-separated queue `depths` (requests in flight per job instance); default 1,2,4,8,16,32,64, or the depth a job sets (iodepth, or 1 for a synchronous ioengine)")
	fs.StringVar(&o.backends, "backend", "sim", "comma-separated `backends`: sim (virtual time), mem, file")
	fs.StringVar(&o.devices, "device", "nvme", "comma-separated sim `devices`: a preset ("+strings.Join(sim.Presets(), ", ")+") or a preset file PATH.json (runbench calibrate writes one), optionally with overrides, as nvme:read=50us,write=20us,flush=1ms,bandwidth=1.5GB/s,parallelism=16,jitter=0.1")
	fs.IntVar(&cfg.Repeat, "repeat", bench.DefaultRepeat, "measured repetitions of each configuration, interleaved (at least 4 a side for benchstat to call a difference significant)")
	fs.IntVar(&cfg.Warmup, "warmup", 1, "discarded warm-up rounds before the repetitions")
	fs.Int64Var(&cfg.Seed, "seed", 1, "base `seed`: repetition k uses seed+k-1 (every random choice comes from it)")
	fs.StringVar(&cfg.Out, "out", "results/latest", "`directory` for runs.json, runs.csv, bench.txt and summary.txt")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the runs to `file` (go tool pprof)")
	fs.StringVar(&o.jobFile, "job", "", "fio-like job `file` to take workloads from instead of the standard ones")
	fs.Var(&o.sets, "set", "job settings `key=value,...` applied to every selected workload (repeatable; see -keys)")
	fs.IntVar(&cfg.Parallel, "parallel", 0, "sim runs at once (default GOMAXPROCS; sim figures are virtual time, so this changes none)")
	fs.StringVar(&cfg.Dir, "dir", "", "`directory` in which the file backend makes (and at the end removes) a directory for its images (default the system's temporary directory)")
	fs.BoolVar(&cfg.Direct, "direct", false, "file backend: O_DIRECT for aligned image I/O")
	fs.StringVar(&cfg.AIO, "aio", bench.AIOAuto, "file backend: how I/O reaches the kernel, as QEMU's aio= option: io_uring (batched submission, least CPU), threads (a blocking call per I/O on worker goroutines), or auto (io_uring where the kernel allows it, else threads); the qemu-img baselines use the same")
	fs.IntVar(&cfg.FileWorkers, "file-workers", 0, "file backend: I/Os in the kernel at once: goroutines performing I/O with -aio threads, ring slots with io_uring (0: 64, QEMU's thread-pool size); with threads, fewer cost less CPU")
	fs.BoolVar(&o.grow, "grow", true, "the image grows its file ahead of allocation (fallocate on the file backend), so no data write moves the file's size; -grow=false lets the writes grow it, as QEMU does (the same as -set grow=0)")
	fs.StringVar(&o.meta, "meta", "writeback", "when L2 table updates are written: `mode` writeback (batched; an allocating write completes once its data is written, as qcow2) or writethrough (each before its write completes, as QEMU's QED); the same as -set meta=MODE")
	fs.StringVar(&o.fill, "fill", "elide", "how a new cluster's unwritten part is written: `mode` elide (no zeros where the file reads as zeros), merged (fill and data in one write, as qcow2) or separate (QEMU QED's three writes); the same as -set fill=MODE")
	fs.StringVar(&cfg.Baseline, "baseline", bench.DefaultBaseline, "`policy` the table compares throughput with")
	fs.StringVar(&o.baselines, "baselines", bench.BaselinesAuto, "file backend: `list` of baselines to run beside the policies ("+strings.Join(results.BaselineNames(), ", ")+"; raw runs the workloads' own order on our file backend, the others sequentially through qemu-img bench), auto (all, when qemu-img is installed) or none")
	fs.BoolVar(&cfg.NoPlots, "noplots", false, "skip the figures")
	fs.BoolVar(&cfg.Verbose, "v", false, "print the full summary table and the verdicts' counts (otherwise a pivot at the deepest queue depth and one line per policy; summary.txt and the report hold everything)")
	fs.BoolVar(&o.verdicts, "verdicts", true, "also run the explorers and the crash explorer on their standard configurations, every selected policy, ordered and snapshot table writes, and put their verdicts in runs.json and the report (runbench verify runs them alone)")
	fs.StringVar((*string)(&cfg.Linearizability), "linearizability", string(bench.LinAll), "check run histories for linearizability: `mode` all (every measured run), first (repetition 1 of each configuration), sample (repetition 1 at queue depth 32, or the largest run) or none")
	fs.BoolVar(&o.keys, "keys", false, "list the job keys and exit")
	fs.BoolVar(&o.list, "list", false, "list the workloads of the job file and exit")
	fs.BoolVar(&o.version, "version", false, "print the version (module, VCS revision, Go) and exit")
	fs.StringVar(&o.shard, "shard", "", "run only shard `K/N` of the matrix (its configurations and verdict checks dealt by estimated cost) and write a shard directory to -out, which runbench merge puts together with the others; a complete shard directory is skipped, a partial one redone")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench [flags]\n       runbench -shard K/N -out SHARD_DIR [flags]\n       runbench merge -out DIR SHARD_DIR...\n       runbench compare [-metric fields] [-only-changed] [-fail-on-regression PCT] OLD/runs.json NEW/runs.json\n       runbench report DIR\n       runbench explore -policy NAME[,NAME...] [-mode model|impl] [-requests N] [-l1 N] [-clusters N] [-sectors N] [-backing] [-max-states N]\n       runbench verify [-policy NAME[,NAME...]]\n       runbench calibrate -dir DIR [-out PRESET.json] [-direct]\n       runbench nbd -dir DIR [-policies LIST] [-repeat N] [-count N] [-out DIR]\n       runbench check-history [-timeout D] [-vis FILE] HISTORY\n\nRuns policies x workloads x queue depths x backends and writes results.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parse binds the command line into a bench.Config, checking each flag's
// syntax; bench.New checks what the values mean. It returns a nil Config
// after printing for -version, -keys and -list. Every error is a
// usageError except failing to parse the standard jobs.
func parse(args []string, stdout, stderr io.Writer) (*bench.Config, *options, error) {
	var cfg bench.Config
	var o options
	fs := newFlagSet(&cfg, &o, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, nil, usageError{fmt.Errorf("unexpected argument %q (flags only; or runbench compare OLD NEW)", fs.Arg(0))}
	}
	if err := checkEmptyFlags(fs); err != nil {
		return nil, nil, err
	}
	if o.version {
		return nil, &o, buildinfo.WriteVersion(stdout, "runbench")
	}
	if o.keys {
		return nil, &o, bench.WriteKeys(stdout)
	}
	cfg.NoVerdicts = !o.verdicts
	var err error
	if cfg.Jobs, err = loadJobs(o.jobFile, stderr); err != nil {
		return nil, nil, err
	}
	if o.list {
		// Each group of jobs running together (between stonewalls)
		// under a comment naming the workload it makes.
		groups, _ := workloads.Groups(cfg.Jobs)
		for _, g := range groups {
			if len(g) > 1 {
				fmt.Fprintf(stdout, "; %d jobs running together, as workload %s\n", len(g), workloads.GroupName(g))
			}
			for _, j := range g {
				fmt.Fprintf(stdout, "%s\n", j.String())
			}
		}
		return nil, &o, nil
	}
	bad := func(flagName string, err error) (*bench.Config, *options, error) {
		return nil, nil, usageError{fmt.Errorf("-%s: %w", flagName, err)}
	}
	if strings.TrimSpace(o.workloads) != "all" {
		if cfg.Workloads, err = workloads.SplitList(o.workloads); err != nil {
			return bad("workloads", err)
		}
	}
	// -grow, -fill and -meta are shorthands for the job keys, applied
	// first so that an explicit -set wins.
	for _, short := range []struct{ name, setting string }{
		{"grow", "grow=" + map[bool]string{true: "1", false: "0"}[o.grow]}, {"fill", "fill=" + o.fill}, {"meta", "meta=" + o.meta},
	} {
		if flagGiven(fs, short.name) {
			o.sets = append(multiFlag{short.setting}, o.sets...)
		}
	}
	cfg.Settings = o.sets
	if _, err := workloads.SplitList(o.policies); err != nil {
		return bad("policies", err)
	}
	if cfg.Policies, err = model.ParseList(o.policies); err != nil {
		return bad("policies", err)
	}
	if o.qds != "" {
		if cfg.QDs, err = parseInts(o.qds, workloads.MaxQD); err != nil {
			return bad("qd", err)
		}
	}
	if cfg.Backends, err = workloads.SplitList(o.backends); err != nil {
		return bad("backend", err)
	}
	if cfg.Devices, err = sim.ParseDeviceList(o.devices); err != nil {
		return bad("device", err)
	}
	if cfg.Baselines, err = workloads.SplitList(o.baselines); err != nil {
		return bad("baselines", err)
	}
	if o.shard != "" {
		if cfg.Shard, err = shard.Parse(o.shard); err != nil {
			return bad("shard", err)
		}
		if !flagGiven(fs, "out") {
			return bad("shard", errors.New("give the shard its own directory with -out"))
		}
		cfg.WholeCommand = strings.TrimSpace("runbench " + strings.Join(wholeCommand(args), " "))
	}
	cfg.Command = strings.TrimSpace("runbench " + strings.Join(args, " "))
	return &cfg, &o, nil
}

// run is main without the exit: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "explore":
			return exploreMain(args[1:], stdout, stderr)
		case "compare":
			return compareMain(args[1:], stdout, stderr)
		case "merge":
			return mergeMain(args[1:], stdout, stderr)
		case "report":
			return reportMain(args[1:], stdout, stderr)
		case "verify":
			return verifyMain(args[1:], stdout, stderr)
		case "calibrate":
			return calibrateMain(args[1:], stdout, stderr)
		case "nbd":
			return nbdMain(args[1:], stdout, stderr)
		case "check-history":
			return checkHistoryMain(args[1:], stdout, stderr)
		}
	}
	cfg, o, err := parse(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil || cfg == nil { // cfg is nil after -version, -keys or -list
		return fail(stderr, err)
	}
	s, err := bench.New(*cfg)
	if se := (*bench.SettingError)(nil); errors.As(err, &se) {
		err = usageError{errors.New(describe(se))}
	}
	if err != nil {
		return fail(stderr, err)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fail(stderr, fmt.Errorf("-cpuprofile: %w", err))
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(stderr, fmt.Errorf("-cpuprofile: %w", err))
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signalContext()
	defer stop()
	var progress io.Writer
	if isTerminal(stderr) {
		progress = stderr
	}
	_, err = s.Run(ctx, stdout, progress)
	return fail(stderr, err)
}
