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
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/qedharness/qedharness/impl/backends"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/plots"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a problem with the command line.
type usageError struct{ err error }

// Error returns the problem.
func (e usageError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e usageError) Unwrap() error { return e.err }

// options are the command-line flags, unparsed beyond their types.
type options struct {
	policies, workloads, qds, backends, devices string
	jobFile, out, dir, cpuProfile               string
	sets                                        multiFlag
	repeat, warmup, parallel, fileWorkers       int
	seed                                        int64
	direct, grow, keys, list, noPlots           bool
	baseline, baselines, lin, aio, fill, meta   string
}

// multiFlag is a repeatable string flag.
type multiFlag []string

// String joins the values given.
func (m *multiFlag) String() string { return strings.Join(*m, " ") }

// Set adds one value.
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// newFlagSet binds the flags into o.
func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("runbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.policies, "policies", "all", "comma-separated `policies` to compare, or all: "+strings.Join(model.Names(), ", "))
	fs.StringVar(&o.workloads, "workloads", "all", "comma-separated `names` of the job file's workloads, or all")
	fs.StringVar(&o.qds, "qd", "", "comma-separated queue `depths` (requests in flight per job instance); default 1,2,4,8,16,32,64")
	fs.StringVar(&o.backends, "backend", "sim", "comma-separated `backends`: sim (virtual time), mem, file")
	fs.StringVar(&o.devices, "device", "nvme", "comma-separated sim device `presets`: "+strings.Join(sim.Presets(), ", "))
	fs.IntVar(&o.repeat, "repeat", 3, "measured repetitions of each configuration, interleaved")
	fs.IntVar(&o.warmup, "warmup", 1, "discarded warm-up rounds before the repetitions")
	fs.Int64Var(&o.seed, "seed", 1, "base `seed`: repetition k uses seed+k-1 (every random choice comes from it)")
	fs.StringVar(&o.out, "out", "results/latest", "`directory` for runs.json, runs.csv, bench.txt and summary.txt")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the runs to `file` (go tool pprof)")
	fs.StringVar(&o.jobFile, "job", "", "fio-like job `file` to take workloads from instead of the standard ones")
	fs.Var(&o.sets, "set", "job settings `key=value,...` applied to every selected workload (repeatable; see -keys)")
	fs.IntVar(&o.parallel, "parallel", 0, "sim runs at once (default GOMAXPROCS; sim figures are virtual time, so this changes none)")
	fs.StringVar(&o.dir, "dir", "", "`directory` in which the file backend makes (and at the end removes) a directory for its images (default the system's temporary directory)")
	fs.BoolVar(&o.direct, "direct", false, "file backend: O_DIRECT for aligned image I/O")
	fs.StringVar(&o.aio, "aio", "auto", "file backend: how I/O reaches the kernel, as QEMU's aio= option: io_uring (batched submission, least CPU), threads (a blocking call per I/O on worker goroutines), or auto (io_uring where the kernel allows it, else threads); the qemu-img baselines use the same")
	fs.IntVar(&o.fileWorkers, "file-workers", 0, "file backend: I/Os in the kernel at once: goroutines performing I/O with -aio threads, ring slots with io_uring (0: 64, QEMU's thread-pool size); with threads, fewer cost less CPU")
	fs.BoolVar(&o.grow, "grow", true, "the image grows its file ahead of allocation (fallocate on the file backend), so no data write moves the file's size; -grow=false lets the writes grow it, as QEMU does (the same as -set grow=0)")
	fs.StringVar(&o.meta, "meta", "writeback", "when L2 table updates are written: `mode` writeback (batched; an allocating write completes once its data is written, as qcow2) or writethrough (each before its write completes, as QEMU's QED); the same as -set meta=MODE")
	fs.StringVar(&o.fill, "fill", "elide", "how a new cluster's unwritten part is written: `mode` elide (no zeros where the file reads as zeros), merged (fill and data in one write, as qcow2) or separate (QEMU QED's three writes); the same as -set fill=MODE")
	fs.StringVar(&o.baseline, "baseline", "freeze-any", "`policy` the table compares throughput with")
	fs.StringVar(&o.baselines, "baselines", "auto", "file backend: `list` of baselines to run beside the policies ("+strings.Join(results.BaselineNames(), ", ")+"; raw runs the workloads' own order on our file backend, the others sequentially through qemu-img bench), auto (all, when qemu-img is installed) or none")
	fs.BoolVar(&o.noPlots, "noplots", false, "skip the figures")
	fs.StringVar(&o.lin, "linearizability", linSample, "check run histories for linearizability: `mode` none, sample (repetition 1 at queue depth 32, or the largest run), first (repetition 1 of each configuration) or all")
	fs.BoolVar(&o.keys, "keys", false, "list the job keys and exit")
	fs.BoolVar(&o.list, "list", false, "list the workloads of the job file and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench [flags]\n       runbench compare [-metric field] OLD/runs.json NEW/runs.json\n       runbench report DIR\n       runbench explore -policy NAME[,NAME...] [-mode model|impl] [-requests N] [-l1 N] [-clusters N] [-sectors N] [-backing] [-max-states N]\n\nRuns policies x workloads x queue depths x backends and writes results.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// setup is the parsed command line: the matrix to run and where to write.
type setup struct {
	matrix   workloads.Matrix
	jobs     []workloads.Job
	out      string
	baseline string
	fsName   string
	cache    string
	noPlots  bool
	// baselineNote says why baselines were skipped, if they were.
	baselineNote string
	// linNote says how runs were checked for linearizability.
	linNote string
	// aioNote says why -aio auto chose threads, if it did.
	aioNote string
}

// chooseAIO resolves -aio: a mode by name, or for "auto" io_uring if
// available() returns nil and threads otherwise, with a note saying why.
func chooseAIO(name string, available func() error) (file.AIOMode, string, error) {
	if name != "auto" {
		m, err := file.ParseAIOMode(name)
		if err != nil {
			return 0, "", errors.New(strings.Replace(err.Error(), "want threads or io_uring", "want auto, io_uring or threads", 1))
		}
		if m == file.AIOIOUring {
			if err := available(); err != nil {
				return 0, "", fmt.Errorf("io_uring: %w; use -aio threads", err)
			}
		}
		return m, "", nil
	}
	if err := available(); err != nil {
		return file.AIOThreads, fmt.Sprintf("file backend uses aio=threads: io_uring is not available (%v)", err), nil
	}
	return file.AIOIOUring, "", nil
}

// parse turns the command line into a setup; every error is a usageError
// except failing to read the job file.
func parse(args []string, stdout, stderr io.Writer) (*setup, *options, error) {
	var o options
	fs := newFlagSet(&o, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, nil, usageError{fmt.Errorf("unexpected argument %q (flags only; or runbench compare OLD NEW)", fs.Arg(0))}
	}
	if err := checkEmptyFlags(fs); err != nil {
		return nil, nil, err
	}
	if o.keys {
		printKeys(stdout)
		return nil, &o, nil
	}
	bad := func(flagName string, err error) (*setup, *options, error) {
		return nil, nil, usageError{fmt.Errorf("-%s: %w", flagName, err)}
	}
	jobs, err := loadJobs(o.jobFile)
	if err != nil {
		return nil, nil, err
	}
	if o.list {
		for _, j := range jobs {
			fmt.Fprintf(stdout, "%s\n", j.String())
		}
		return nil, &o, nil
	}
	if jobs, err = selectJobs(jobs, o.workloads); err != nil {
		return bad("workloads", err)
	}
	// -grow and -fill are shorthands for the job keys, applied first so
	// that an explicit -set wins.
	if flagGiven(fs, "grow") {
		o.sets = append(multiFlag{"grow=" + map[bool]string{true: "1", false: "0"}[o.grow]}, o.sets...)
	}
	if flagGiven(fs, "fill") {
		o.sets = append(multiFlag{"fill=" + o.fill}, o.sets...)
	}
	if flagGiven(fs, "meta") {
		o.sets = append(multiFlag{"meta=" + o.meta}, o.sets...)
	}
	for _, s := range o.sets {
		if err := applySets(jobs, s); err != nil {
			return bad("set", err)
		}
	}
	plans := make([]*workloads.Plan, len(jobs))
	for i, j := range jobs {
		if plans[i], err = j.Plan(); err != nil {
			return bad("set", err)
		}
	}
	if _, err := workloads.SplitList(o.policies); err != nil {
		return bad("policies", err)
	}
	regs, err := model.ParseList(o.policies)
	if err != nil {
		return bad("policies", err)
	}
	qds := workloads.StandardQDs()
	if o.qds != "" {
		if qds, err = parseInts(o.qds, workloads.MaxQD); err != nil {
			return bad("qd", err)
		}
	}
	if name, err := checkPlans(plans, qds); err != nil {
		return bad(name, err)
	}
	backends, err := parseBackends(o.backends)
	if err != nil {
		return bad("backend", err)
	}
	devNames, err := workloads.SplitList(o.devices)
	if err != nil {
		return bad("device", err)
	}
	var devs []sim.Device
	for _, name := range devNames {
		d, err := sim.Preset(name)
		if err != nil {
			return bad("device", err)
		}
		devs = append(devs, d)
	}
	if name, err := checkCounts(&o); err != nil {
		return bad(name, err)
	}
	if strings.TrimSpace(o.out) == "" {
		return bad("out", errors.New("empty directory"))
	}
	if err := checkOutDir(o.out); err != nil {
		return bad("out", err)
	}
	if _, err := model.Lookup(o.baseline); err != nil {
		return bad("baseline", err)
	}
	s := &setup{jobs: jobs, out: o.out, baseline: o.baseline, noPlots: o.noPlots}
	s.matrix = workloads.Matrix{
		Policies: regs, Plans: plans, QDs: qds, Backends: backends, Devices: devs,
		Repeat: o.repeat, Warmup: o.warmup, Seed: o.seed, Parallel: o.parallel,
		Dir: o.dir, File: file.Options{Direct: o.direct, Workers: o.fileWorkers},
	}
	if s.linNote, err = setLinearizability(&s.matrix, o.lin, o.out); err != nil {
		return bad("linearizability", err)
	}
	if err := checkRuns(&s.matrix); err != nil {
		return bad("repeat", err)
	}
	if !slices.Contains(backends, results.BackendFile) {
		switch {
		case flagGiven(fs, "dir"):
			return bad("dir", errors.New("applies to the file backend only (add -backend file)"))
		case o.direct:
			return bad("direct", errors.New("applies to the file backend only (add -backend file)"))
		case o.fileWorkers != 0:
			return bad("file-workers", errors.New("applies to the file backend only (add -backend file)"))
		case o.aio != "auto":
			return bad("aio", errors.New("applies to the file backend only (add -backend file)"))
		}
	}
	if slices.Contains(backends, results.BackendFile) {
		dir := o.dir
		if dir == "" {
			dir = os.TempDir()
		}
		if err := checkDir(dir, plans, freeBytes); err != nil {
			return bad("dir", err)
		}
		s.fsName = fileSystemType(dir)
		s.matrix.FileSystem = s.fsName
		s.cache = "buffered"
		if o.direct {
			s.cache = "direct"
		}
		aio, note, err := chooseAIO(o.aio, file.IOUringAvailable)
		if err != nil {
			return bad("aio", err)
		}
		s.matrix.File.AIO, s.aioNote = aio, note
		s.cache += "+aio=" + aio.String()
		if o.fileWorkers > 0 {
			s.cache += fmt.Sprintf("+workers=%d", o.fileWorkers)
		}
		if err := s.chooseBaselines(o.baselines); err != nil {
			return bad("baselines", err)
		}
		if err := checkRuns(&s.matrix); err != nil { // with the baselines
			return bad("repeat", err)
		}
	}
	return s, &o, nil
}

// chooseBaselines resolves -baselines: "auto" runs every baseline if
// qemu-img is installed and notes why not otherwise; "none" runs none.
func (s *setup) chooseBaselines(list string) error {
	list = strings.TrimSpace(list)
	if list == "none" {
		return nil
	}
	path, lookErr := exec.LookPath("qemu-img")
	names := results.BaselineNames()
	if list != "auto" {
		fields, err := workloads.SplitList(list)
		if err != nil {
			return err
		}
		names = nil
		for _, b := range fields {
			if !results.IsBaseline(b) {
				return fmt.Errorf("unknown baseline %q (want %s, auto or none)", b, strings.Join(results.BaselineNames(), ", "))
			}
			names = append(names, b)
		}
	}
	if lookErr != nil {
		// The raw baseline needs no qemu-img; the others are skipped.
		kept := slices.DeleteFunc(names, func(b string) bool { return b != results.BaselineRaw })
		if len(kept) < len(names) || list == "auto" {
			s.baselineNote = "baselines through qemu-img bench skipped: qemu-img is not installed (Debian package qemu-utils)"
		}
		s.matrix.Baselines = kept
		return nil
	}
	s.matrix.Baselines, s.matrix.QemuImg = names, path
	return nil
}

// loadJobs reads the job file, or the standard jobs for "".
func loadJobs(path string) ([]workloads.Job, error) {
	if path == "" {
		return workloads.StandardJobs()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("-job: %w", err)}
	}
	defer f.Close()
	jobs, err := workloads.ParseJobFile(f, path)
	if err != nil {
		return nil, usageError{fmt.Errorf("-job: %w", err)}
	}
	return jobs, nil
}

// selectJobs picks the named jobs, in the order named; "all" keeps every
// job, and an empty list or name is an error.
func selectJobs(jobs []workloads.Job, list string) ([]workloads.Job, error) {
	if strings.TrimSpace(list) == "all" {
		return jobs, nil
	}
	names, err := workloads.SplitList(list)
	if err != nil {
		return nil, err
	}
	var out []workloads.Job
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			return nil, fmt.Errorf("workload %q listed twice", name)
		}
		seen[name] = true
		found := false
		for _, j := range jobs {
			if j.Name == name {
				out = append(out, j)
				found = true
				break
			}
		}
		if !found {
			names := make([]string, len(jobs))
			for i, j := range jobs {
				names[i] = j.Name
			}
			return nil, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// applySets applies "key=value,key=value" to every job; an empty
// setting, key or value is an error.
func applySets(jobs []workloads.Job, s string) error {
	settings, err := workloads.SplitList(s)
	if err != nil {
		return err
	}
	for _, kv := range settings {
		k, v, err := workloads.ParseSetting(kv)
		if err != nil {
			return err
		}
		for i := range jobs {
			if err := jobs[i].Set(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseBackends(s string) ([]string, error) {
	fields, err := workloads.SplitList(s)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range fields {
		if _, err := backends.Lookup(b); err != nil {
			return nil, err
		}
		if slices.Contains(out, b) {
			return nil, fmt.Errorf("backend %q listed twice", b)
		}
		out = append(out, b)
	}
	return out, nil
}

func printKeys(w io.Writer) {
	fmt.Fprintf(w, "Job keys (job file lines key=value, or -set key=value):\n\n")
	for _, k := range workloads.Keys() {
		name := k.Name
		if len(k.Aliases) > 0 {
			name += " (" + strings.Join(k.Aliases, ", ") + ")"
		}
		fmt.Fprintf(w, "  %-28s default %-8s %s\n", name, k.Default, k.Help)
	}
}

// run is main without the exit: it returns the exit status. On SIGINT or
// SIGTERM during file-backend runs it removes what they made and calls
// os.Exit.
func run(args []string, stdout, stderr io.Writer) (code int) {
	if len(args) > 0 && args[0] == "explore" {
		return exploreMain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "compare" {
		return compareMain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "report" {
		return reportMain(args[1:], stdout, stderr)
	}
	s, o, err := parse(args, stdout, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "runbench: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "run 'runbench -h' for usage\n")
			return exitUsage
		}
		return 1
	}
	if s == nil { // -keys or -list
		_ = o
		return 0
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "runbench: -cpuprofile: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "runbench: -cpuprofile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if slices.Contains(s.matrix.Backends, results.BackendFile) {
		w, err := makeWorkdir(s.matrix.Dir, stderr, os.Exit)
		if err != nil {
			fmt.Fprintf(stderr, "runbench: -dir: %v\n", err)
			return 1
		}
		defer func() {
			if err := w.close(); err != nil {
				fmt.Fprintf(stderr, "runbench: %v\n", err)
				code = max(code, 1)
			}
		}()
		s.matrix.Dir = w.dir
	}
	if s.matrix.Verify != nil {
		// Counterexamples of an earlier run in the same directory are
		// stale.
		if err := os.RemoveAll(filepath.Join(s.out, counterexampleDir)); err != nil {
			fmt.Fprintf(stderr, "runbench: %v\n", err)
			return 1
		}
	}
	start := time.Now()
	prov := collectProvenance(s, args, start)
	if isTerminal(stderr) {
		s.matrix.Progress = progressPrinter(stderr, start)
	}
	fmt.Fprintf(stdout, "runbench: seed %d (replay with -seed %d), %d configurations x %d repetitions + %d warm-up; linearizability: %s\n",
		s.matrix.Seed, s.matrix.Seed, len(s.matrix.Configs()), s.matrix.Repeat, s.matrix.Warmup, prov.Linearizability)
	if s.aioNote != "" {
		fmt.Fprintf(stdout, "runbench: %s\n", s.aioNote)
	}
	if s.baselineNote != "" {
		fmt.Fprintf(stdout, "runbench: %s\n", s.baselineNote)
	}
	for _, n := range s.matrix.BaselineNotes() {
		fmt.Fprintf(stdout, "runbench: %s\n", n)
	}
	runs, err := s.matrix.Run()
	if err != nil {
		fmt.Fprintf(stderr, "runbench: %v\n", err)
		return 1
	}
	if isTerminal(stderr) {
		fmt.Fprintf(stderr, "\r\033[K")
	}
	prov.LoadAvgEnd = loadAvg()
	res := &results.Results{Provenance: prov, Runs: runs}
	// The order runbench report uses too, so that both write one table.
	sums := results.Summarize(runs, tableOrder(res))
	if err := results.WriteTable(stdout, sums, s.baseline); err != nil {
		fmt.Fprintf(stderr, "runbench: %v\n", err)
		return 1
	}
	if err := writeResults(s.out, res, sums, s.baseline); err != nil {
		fmt.Fprintf(stderr, "runbench: %v\n", err)
		return 1
	}
	var figs []plots.Figure
	if !s.noPlots {
		if figs, err = plots.Write(s.out, sums, plots.Options{}); err != nil {
			fmt.Fprintf(stderr, "runbench: figures: %v\n", err)
			return 1
		}
	}
	err = plots.WriteReport(s.out, plots.ReportInput{
		Results: res, Summaries: sums, Figures: figs, Policies: s.matrix.Policies,
		Baseline: s.baseline, Command: strings.TrimSpace("go run ./cmd/runbench " + strings.Join(args, " ")),
		BaselineNotes: s.matrix.BaselineNotes(), BaselineSkip: s.baselineNote,
	})
	if err != nil {
		fmt.Fprintf(stderr, "runbench: report: %v\n", err)
		return 1
	}
	failed := 0
	for _, r := range runs {
		if r.Error != "" {
			failed++
		}
	}
	fmt.Fprintf(stdout, "\n%d runs in %.1fs; results in %s/ (runs.json, runs.csv, bench.txt, summary.txt, report.md, report.html, %d figures)\n", len(runs), time.Since(start).Seconds(), s.out, len(figs))
	for _, line := range results.HarnessCostOf(runs).Lines(s.cache) {
		fmt.Fprintln(stdout, line)
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "runbench: %d runs failed; see the error field in %s/runs.json\n", failed, s.out)
		return 1
	}
	return 0
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressPrinter returns a Progress callback that redraws one line.
func progressPrinter(w io.Writer, start time.Time) func(workloads.Progress) {
	last := time.Time{}
	return func(p workloads.Progress) {
		now := time.Now()
		if p.Done != p.Total && now.Sub(last) < 100*time.Millisecond {
			return
		}
		last = now
		rep := fmt.Sprintf("rep %d", p.Repeat)
		if p.Repeat <= 0 {
			rep = "warm-up"
		}
		fmt.Fprintf(w, "\r\033[K[%d/%d %.0fs] %s %s %s qd=%d %s", p.Done, p.Total, now.Sub(start).Seconds(),
			p.Config.Device, p.Config.Workload, p.Config.Policy, p.Config.QD, rep)
	}
}
