package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/plots"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

// runbench nbd runs one fio job through NBD, side by side, against our
// image under each policy and against QEMU's own drivers: fio's nbd
// engine replays an iolog of 4 KiB writes, each to a fresh cluster of a
// fresh image in a shuffled order, then a flush, over a Unix socket. Our
// image is served in-process by impl/serve, as qedimg serve serves it;
// QEMU's by qemu-nbd -f qed and qemu-nbd -f qcow2. The records go into
// an ordinary results directory (runs.json, summary, report), the
// qemu-nbd runs as the baselines results.NBDBaselineNames, on the
// backend results.BackendNBD.

// NBDWorkload names runbench nbd's job in records and tables: first
// touch (every write allocates a cluster) by a real client, fio. (Our
// workload names say "4k" for 4 KiB clusters; these are 64 KiB.)
const NBDWorkload = "first-touch-fio"

// Defaults of NBDConfig, as runbench nbd's flags give them.
const (
	// DefaultNBDCount is the writes per run.
	DefaultNBDCount = 16384
	// DefaultNBDQD is fio's iodepth.
	DefaultNBDQD = 32
	// DefaultNBDRepeat is the rounds, each running every target once.
	DefaultNBDRepeat = 3
)

// Geometry of runbench nbd's job: 4 KiB writes, one at the start of each
// 64 KiB cluster; the images have 64 KiB clusters and (QED) tables of 4
// clusters, QEMU's defaults and ours.
const (
	nbdBlock       = 4 << 10
	nbdClusterSize = 64 << 10
	nbdTableSize   = 4
	// nbdMaxCount bounds Count: 2^22 writes make an image of 256 GiB
	// (sparse) that allocates 256 GiB of clusters.
	nbdMaxCount = 1 << 22
)

// NBDConfig is every setting of runbench nbd. NewNBD checks it; fields
// are read, never modified.
type NBDConfig struct {
	// Dir is an existing directory in which Run makes its work directory
	// (images, sockets, iologs) and removes it at the end and when
	// interrupted; nothing else in Dir is touched. "" means the system's
	// temporary directory. Unix socket paths are at most 107 bytes, which
	// bounds Dir's length.
	Dir string
	// Policies are the policies our image is served under, in table
	// order; nil means every policy that claims to be safe.
	Policies []model.Registration
	// Baselines names the qemu-nbd baselines (results.NBDBaselineNames);
	// nil or BaselinesAuto alone means both where qemu-nbd and qemu-img
	// are installed and none otherwise (with a note); BaselinesNone alone
	// means none.
	Baselines []string
	// Count is the writes per run, from 1 to 2^22, each to a cluster of
	// its own: the image is Count x 64 KiB.
	Count int
	// QD is fio's iodepth, from 1 to workloads.MaxQD.
	QD int
	// Repeat is the number of rounds, from 1 to 1000; each runs every
	// target once, the order rotated by one each round.
	Repeat int
	// Seed seeds the write order: round k shuffles the clusters with
	// seed Seed+k-1, the same order for every target of the round.
	Seed int64
	// Direct opens the images with O_DIRECT on both sides (our file
	// backend's Direct, qemu-nbd --cache=none); otherwise both go through
	// the page cache (--cache=writeback).
	Direct bool
	// AIO names how both servers submit I/O, as QEMU's aio= option:
	// "io_uring", "threads", or AIOAuto (io_uring where the kernel allows
	// it); "" means AIOAuto.
	AIO string
	// Out is the results directory, as Config.Out.
	Out string
	// NoPlots skips the figures.
	NoPlots bool
	// Command is the command line, as Config.Command.
	Command string
}

// NBDSetup is a checked NBDConfig, ready to run. Run may be called more
// than once, not concurrently.
type NBDSetup struct {
	cfg       NBDConfig
	policies  []model.Registration
	baselines []string
	// Executables: fio, and qemu-img and qemu-nbd when baselines run.
	fio, qemuImg, qemuNBD string
	aio                   file.AIOMode
	dir, fsName, cache    string
	// notes say what New chose and why (aio=threads, baselines
	// skipped, a directory that discards online); hostNotes are those of
	// them about the host, for Provenance.HostNotes.
	notes, hostNotes []string
	baselineSkip     string
}

// NewNBD checks cfg and resolves it into an NBDSetup: the policies and
// baselines, the counts, the results directory, the work directory's
// parent, the aio mode, and the tools (fio with its nbd engine; qemu-img
// and qemu-nbd for the baselines). A bad setting is a *SettingError
// naming the NBDConfig field; a missing tool is another error. It writes
// nothing.
func NewNBD(cfg NBDConfig) (*NBDSetup, error) {
	s := &NBDSetup{cfg: cfg, policies: cfg.Policies}
	if s.policies == nil {
		for _, r := range model.Registered() {
			if r.Expect == model.Safe {
				s.policies = append(s.policies, r)
			}
		}
	}
	if err := checkPolicies(s.policies); err != nil {
		return nil, bad("Policies", err)
	}
	switch {
	case cfg.Count < 1 || cfg.Count > nbdMaxCount:
		return nil, bad("Count", fmt.Errorf("%d: want 1 to %d", cfg.Count, nbdMaxCount))
	case cfg.QD < 1 || cfg.QD > workloads.MaxQD:
		return nil, bad("QD", fmt.Errorf("%d: want 1 to %d", cfg.QD, workloads.MaxQD))
	case cfg.Repeat < 1 || cfg.Repeat > 1000:
		return nil, bad("Repeat", fmt.Errorf("%d: want 1 to 1000", cfg.Repeat))
	case strings.TrimSpace(cfg.Out) == "":
		return nil, bad("Out", errors.New("empty directory"))
	}
	if err := checkOutDir(cfg.Out); err != nil {
		return nil, bad("Out", err)
	}
	s.dir = cfg.Dir
	if s.dir == "" {
		s.dir = os.TempDir()
	}
	if err := s.checkDir(); err != nil {
		return nil, bad("Dir", err)
	}
	s.fsName = fileSystemType(s.dir)
	if note := DiscardNote(s.dir); note != "" {
		s.notes = append(s.notes, note)
		s.hostNotes = append(s.hostNotes, note)
	}
	aio, note, err := ChooseAIO(cfg.AIO)
	if err != nil {
		return nil, bad("AIO", err)
	}
	s.aio = aio
	if note != "" {
		note = strings.Replace(note, "file backend uses", "both servers use", 1)
		s.notes = append(s.notes, note)
		s.hostNotes = append(s.hostNotes, note)
	}
	s.cache = map[bool]string{true: "direct", false: "buffered"}[cfg.Direct] + "+aio=" + aio.String()
	names, auto, err := nbdBaselineList(cfg.Baselines)
	if err != nil {
		return nil, bad("Baselines", err)
	}
	if s.fio, err = findFio(); err != nil {
		return nil, err
	}
	if err := s.findQemu(names, auto); err != nil {
		return nil, err
	}
	return s, nil
}

// checkDir checks that the work directory's parent exists, that a
// socket path inside a work directory there fits, and that it has room
// for an image's clusters.
func (s *NBDSetup) checkDir() error {
	fi, err := os.Stat(s.dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", s.dir)
	}
	// The longest path Run makes: DIR/runbench-NNNNNNNNNN/run-NNNNNNNNNN/nbd.sock.
	if n := len(filepath.Join(s.dir, "runbench-0123456789", "run-0123456789", "nbd.sock")); n > maxSocketPath {
		return fmt.Errorf("%s is too long: the NBD socket's path inside it would be about %d bytes, and a Unix socket's is at most %d", s.dir, n, maxSocketPath)
	}
	need := uint64(s.cfg.Count) * nbdClusterSize
	if avail, ok := freeBytes(s.dir); ok && need > avail {
		return fmt.Errorf("a run allocates %s of clusters, more than the %s free in %s", gib(need), gib(avail), s.dir)
	}
	return nil
}

// maxSocketPath is the longest Unix socket path Linux accepts (sun_path
// holds 108 bytes with the terminating NUL).
const maxSocketPath = 107

// findFio returns fio's path if it is installed with its nbd engine.
func findFio() (string, error) {
	path, err := exec.LookPath("fio")
	if err != nil {
		return "", errors.New("fio is not installed (Debian package fio)")
	}
	if out, err := exec.Command(path, "--enghelp=nbd").CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s has no nbd engine (it is built with libnbd): %v: %s", path, err, strings.TrimSpace(string(out)))
	}
	return path, nil
}

// nbdBaselineList resolves NBDConfig.Baselines into the baselines asked
// for and whether they were asked for as BaselinesAuto (run where the
// tools are installed).
func nbdBaselineList(list []string) (names []string, auto bool, err error) {
	switch {
	case len(list) == 0 || slices.Equal(list, []string{BaselinesAuto}):
		return results.NBDBaselineNames(), true, nil
	case slices.Equal(list, []string{BaselinesNone}):
		return nil, false, nil
	}
	for _, b := range list {
		if !results.IsNBDBaseline(b) {
			return nil, false, fmt.Errorf("unknown baseline %q (want %s, %s or %s)", b, strings.Join(results.NBDBaselineNames(), ", "), BaselinesAuto, BaselinesNone)
		}
		if slices.Contains(names, b) {
			return nil, false, fmt.Errorf("%s listed twice", b)
		}
		names = append(names, b)
	}
	return names, false, nil
}

// findQemu finds qemu-img and qemu-nbd for the baselines names. Where
// they are missing, baselines asked for by name are an error, and auto
// ones are left out with a note.
func (s *NBDSetup) findQemu(names []string, auto bool) error {
	if len(names) == 0 {
		return nil
	}
	var missing []string
	for _, tool := range []struct {
		name string
		path *string
	}{{"qemu-img", &s.qemuImg}, {"qemu-nbd", &s.qemuNBD}} {
		p, err := exec.LookPath(tool.name)
		if err != nil {
			missing = append(missing, tool.name)
		}
		*tool.path = p
	}
	if len(missing) > 0 {
		why := strings.Join(missing, " and ") + " not installed (Debian package qemu-utils)"
		if !auto {
			return fmt.Errorf("baselines %s: %s", strings.Join(names, ", "), why)
		}
		s.baselineSkip = "qemu-nbd baselines skipped: " + why
		s.notes = append(s.notes, s.baselineSkip)
		return nil
	}
	s.baselines = names
	return nil
}

// Targets returns what each round runs, in table order: the policies,
// then the baselines.
func (s *NBDSetup) Targets() []string {
	var out []string
	for _, r := range s.policies {
		out = append(out, r.Name)
	}
	return append(out, s.baselines...)
}

// Run makes every run, round by round (round k runs every target once,
// starting with target k-1 of Targets), prints a line per run and then
// the comparison to stdout (nil discards), and writes the results to
// NBDConfig.Out as Setup.Run does. It returns the results with a nil
// error, or with a *RunsFailedError when some runs failed. If ctx is
// done, the run under way is stopped (fio and qemu-nbd killed), the work
// directory removed, and an *InterruptError returned.
func (s *NBDSetup) Run(ctx context.Context, stdout io.Writer) (*results.Results, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	work, err := makeWorkdir(s.dir)
	if err != nil {
		return nil, bad("Dir", err)
	}
	res, err := s.run(ctx, work, stdout)
	rerr := removeWorkdir(work)
	if ie := (*InterruptError)(nil); errors.As(err, &ie) {
		ie.WorkDir, ie.RemoveErr = work, rerr
		return res, err
	}
	return res, errors.Join(err, rerr)
}

// run is Run inside the work directory work.
func (s *NBDSetup) run(ctx context.Context, work string, stdout io.Writer) (*results.Results, error) {
	start := time.Now()
	versions := toolVersions(s.fio, s.qemuNBD)
	prov := s.provenance(start, versions)
	printWrapped(stdout, fmt.Sprintf("runbench nbd: %s at %s; %d 4 KiB first-touch writes per run, shuffled (seed %d, replay with -seed %d), qd %d, unix socket, %s; %d rounds x %d targets, interleaved; %s",
		s.fsName, s.dir, s.cfg.Count, s.cfg.Seed, s.cfg.Seed, s.cfg.QD, s.cache, s.cfg.Repeat, len(s.Targets()), versions))
	for _, n := range s.notes {
		printWrapped(stdout, "runbench nbd: "+n)
	}
	targets := s.Targets()
	var runs []results.Record
	for round := 1; round <= s.cfg.Repeat; round++ {
		seed := s.cfg.Seed + int64(round) - 1
		iolog := filepath.Join(work, fmt.Sprintf("%s.%d.iolog", NBDWorkload, round))
		if err := writeNBDIOLogFile(iolog, s.cfg.Count, seed); err != nil {
			return nil, err
		}
		for k := range targets {
			t := targets[(k+round-1)%len(targets)]
			// As the matrix does for its wall-clock runs: the runs
			// before are done with the file system and their garbage
			// is collected before this one starts.
			if err := file.Settle(s.dir); err != nil {
				return nil, err
			}
			runtime.GC()
			rec := s.runOne(ctx, t, round, seed, work, iolog)
			if ctx.Err() != nil {
				return nil, &InterruptError{Cause: context.Cause(ctx)}
			}
			fmt.Fprintf(stdout, "round %d: %s\n", round, runLine(&rec))
			runs = append(runs, rec)
		}
		if err := os.Remove(iolog); err != nil {
			return nil, err
		}
	}
	prov.LoadAvgEnd = loadAvg()
	res := &results.Results{Provenance: prov, Runs: runs}
	sums := results.Summarize(runs, tableOrder(res))
	fmt.Fprintln(stdout)
	if err := writeNBDComparison(stdout, res); err != nil {
		return res, err
	}
	figs, err := writeAll(s.cfg.Out, plots.ReportInput{
		Results: res, Summaries: sums, Policies: s.policies, Baseline: DefaultBaseline,
		Command: "go run ./cmd/" + s.cfg.Command, BaselineNotes: nbdNotes(res), BaselineSkip: s.baselineSkip,
	}, !s.cfg.NoPlots)
	if err != nil {
		return res, err
	}
	failed := 0
	for _, r := range runs {
		if r.Error != "" {
			failed++
		}
	}
	printWrapped(stdout, fmt.Sprintf("\n%d runs in %.1fs; results in %s/ (runs.json, runs.csv, bench.txt, summary.txt, report.md, report.html, %d figures)", len(runs), time.Since(start).Seconds(), s.cfg.Out, len(figs)))
	if failed > 0 {
		return res, &RunsFailedError{Failed: failed, Out: s.cfg.Out}
	}
	return res, nil
}

// runLine renders one run for the progress lines: "overlap 32.4k IOPS,
// p50 812 us, p99 2.1 ms, 21.4 us CPU/request" or its error.
func runLine(r *results.Record) string {
	if r.Error != "" {
		return fmt.Sprintf("%s FAILED: %s", r.Policy, r.Error)
	}
	return fmt.Sprintf("%s %s IOPS, p50 %.0f us, p99 %.0f us, %.1f us CPU/request", r.Policy, results.Human(r.OpsPerSec), r.LatP50Us, r.LatP99Us, nbdCPUPerRequestUs(r))
}

// provenance describes the build, the machine and the runs started at
// start.
func (s *NBDSetup) provenance(start time.Time, versions string) results.Provenance {
	p := results.Provenance{
		Commit:    "unknown",
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), CPUModel: cpuModel(),
		LoadAvg: loadAvg(), Date: start.UTC().Format(time.RFC3339),
		Seed: s.cfg.Seed, Repeat: s.cfg.Repeat, Command: s.cfg.Command,
		FileSystem: s.fsName, CacheMode: s.cache, HostNotes: s.hostNotes,
		Linearizability: "none: fio writes data of its own choosing and runbench nbd records no history (qedimg serve -history does, for runbench check-history)",
		Workloads:       []string{NBDWorkload},
		Jobs:            map[string]string{NBDWorkload: nbdJobText(s.cfg.Count, s.cfg.QD, versions)},
	}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		p.Commit = strings.TrimSpace(string(out))
		p.Dirty = workTreeDirty(s.cfg.Out)
	}
	return p
}

// toolVersions returns fio's version and, if path is not "", qemu-nbd's
// first line of --version, as "fio-3.33, qemu-nbd 7.2.22 (...)".
func toolVersions(fio, qemuNBD string) string {
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			return filepath.Base(name) + " (version unknown)"
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return strings.TrimPrefix(line, filepath.Dir(name)+"/") // qemu-nbd prints its path
	}
	v := first(fio, "--version")
	if qemuNBD != "" {
		v += ", " + first(qemuNBD, "--version")
	}
	return v
}
