package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/impl/sim/calibrate"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/bench"
)

// calibrateOptions are calibrate's flags.
type calibrateOptions struct {
	dir, out, name, aio, region, sizes, qds, cluster string
	direct                                           bool
	budget                                           time.Duration
	seed                                             uint64
	firstWrites, passes                              int
}

// calibrateMain is the "calibrate" subcommand: it measures the disk
// holding -dir through the file backend (calibrate.Measure on a file of
// its own, in a directory of its own that it removes), fits a sim
// device (calibrate.Fit), prints each measurement beside what the
// fitted device gives on sim, and writes the device as a preset file
// (-out) or prints it. Exit status: 0, 1 when measuring or writing
// failed, 2 for bad flags, 128 plus the signal's number when
// interrupted.
func calibrateMain(args []string, stdout, stderr io.Writer) int {
	var o calibrateOptions
	fs := flag.NewFlagSet("runbench calibrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "dir", "", "existing `directory` on the disk to measure; calibrate works in a directory of its own inside it and removes it")
	fs.StringVar(&o.out, "out", "", "write the fitted device to this preset `file` (runbench -device FILE.json); default: print it")
	fs.StringVar(&o.name, "name", "calibrated", "the fitted device's `name`")
	fs.BoolVar(&o.direct, "direct", false, "O_DIRECT, as runbench -backend file -direct (measure the way you will run)")
	fs.StringVar(&o.aio, "aio", bench.AIOAuto, "how I/O reaches the kernel: io_uring, threads or auto, as runbench -aio")
	fs.StringVar(&o.region, "region", "256m", "`bytes` of written space the reads and writes address (and of grown space the first writes fill)")
	fs.StringVar(&o.sizes, "bs", "4k,64k,1m", "transfer `sizes`, multiples of 4k")
	fs.StringVar(&o.qds, "qd", "1,8,32", "queue `depths`, 1 among them")
	fs.StringVar(&o.cluster, "cluster", "64k", "`bytes` between first writes into grown space: the cluster size of the images they stand for")
	fs.IntVar(&o.firstWrites, "first-writes", 2048, "most first writes, and most extend writes, per queue depth and pass (`N`); the file grows by N x (cluster + smallest -bs) for each depth and pass")
	fs.IntVar(&o.passes, "passes", 3, "measure every cell this many `times`, a pass over them all after another, and keep each cell's median: a disk whose speed drifts is described by its typical state")
	fs.DurationVar(&o.budget, "budget", 250*time.Millisecond, "how long each measurement issues I/O")
	fs.Uint64Var(&o.seed, "seed", 1, "`seed` of the offsets")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench calibrate -dir DIR [-out PRESET.json] [-direct] [flags]\n\nMeasures the disk holding DIR through the file backend and fits a sim device to it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return subcommandExit(err)
	}
	cfg, fopts, err := o.config(fs)
	if err != nil {
		fmt.Fprintf(stderr, "runbench calibrate: %v\n", err)
		return exitUsage
	}
	ctx, stop := signalContext()
	defer stop()
	fsName := bench.FileSystemType(o.dir)
	fmt.Fprintf(stdout, "calibrate: %s (%s), %s, aio=%s, region %d MiB, %v a measurement, %d passes (each cell the median)\n",
		o.dir, fsName, map[bool]string{true: "O_DIRECT", false: "buffered"}[o.direct], fopts.AIO, cfg.Region>>20, o.budget, cfg.Passes)
	if note := bench.DiscardNote(o.dir); note != "" {
		fmt.Fprintf(stdout, "note: %s\n", note)
	}
	var progress func(calibrate.Cell)
	if isTerminal(stderr) {
		progress = func(c calibrate.Cell) { fmt.Fprintf(stderr, "\r\033[K%s: %.0f/s", c.Name(), c.OpsPerSec()) }
	}
	res, err := measureFiles(ctx, o.dir, fopts, cfg, progress)
	if progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return fail(stderr, interruption(ctx, err))
	}
	fit, err := calibrate.Fit(res, o.name)
	if err != nil {
		return fail(stderr, err)
	}
	check, err := simulate(ctx, fit.Device, cfg)
	if err != nil {
		return fail(stderr, interruption(ctx, err))
	}
	writeCalibration(stdout, res, check)
	fmt.Fprintf(stdout, "fitted device %s: %s\n", fit.Device.Name, fit.Device.Spec())
	for _, n := range fit.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	preset := sim.EncodeDevice(fit.Device)
	if o.out == "" {
		fmt.Fprintf(stdout, "preset (save as NAME.json for runbench -device NAME.json):\n%s", preset)
		return 0
	}
	if err := os.WriteFile(o.out, preset, 0o644); err != nil {
		return fail(stderr, fmt.Errorf("-out: %w", err))
	}
	fmt.Fprintf(stdout, "wrote %s: runbench -backend sim -device %s\n", o.out, o.out)
	return 0
}

// config checks the flags and turns them into a calibrate.Config and
// the file backend's options.
func (o *calibrateOptions) config(fs *flag.FlagSet) (calibrate.Config, file.Options, error) {
	var cfg calibrate.Config
	var fopts file.Options
	if fs.NArg() > 0 {
		return cfg, fopts, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	if err := checkEmptyFlags(fs); err != nil {
		return cfg, fopts, err
	}
	if o.dir == "" {
		return cfg, fopts, errors.New("-dir: missing (the directory on the disk to measure)")
	}
	if fi, err := os.Stat(o.dir); err != nil || !fi.IsDir() {
		return cfg, fopts, fmt.Errorf("-dir: %s is not an existing directory", o.dir)
	}
	region, err := workloads.ParseSize(o.region)
	if err != nil || region == 0 || region > 1<<40 {
		return cfg, fopts, fmt.Errorf("-region: %q is not a size from 1 byte to 1t", o.region)
	}
	sizes, err := workloads.SplitList(o.sizes)
	if err != nil {
		return cfg, fopts, fmt.Errorf("-bs: %w", err)
	}
	for _, s := range sizes {
		n, err := workloads.ParseSize(s)
		if err != nil || n == 0 || n > 64<<20 {
			return cfg, fopts, fmt.Errorf("-bs: %q is not a size from 4k to 64m", s)
		}
		cfg.Sizes = append(cfg.Sizes, int(n))
	}
	cluster, err := workloads.ParseSize(o.cluster)
	if err != nil || cluster == 0 || cluster > 1<<30 {
		return cfg, fopts, fmt.Errorf("-cluster: %q is not a size from 4k to 1g", o.cluster)
	}
	if cfg.QDs, err = parseInts(o.qds, workloads.MaxQD); err != nil {
		return cfg, fopts, fmt.Errorf("-qd: %w", err)
	}
	if o.firstWrites < 1 {
		return cfg, fopts, fmt.Errorf("-first-writes: %d, want at least 1", o.firstWrites)
	}
	if o.passes < 1 || o.passes > 100 {
		return cfg, fopts, fmt.Errorf("-passes: %d, want 1 to 100", o.passes)
	}
	if o.budget <= 0 {
		return cfg, fopts, fmt.Errorf("-budget: %v, want > 0", o.budget)
	}
	cfg.Region, cfg.Budget, cfg.Seed, cfg.Cluster, cfg.FirstWrites, cfg.Passes = int64(region), int64(o.budget), o.seed, int(cluster), o.firstWrites, o.passes
	if err := cfg.Check(); err != nil {
		return cfg, fopts, err
	}
	aio, note, err := bench.ChooseAIO(o.aio)
	if err != nil {
		return cfg, fopts, fmt.Errorf("-aio: %w", err)
	}
	if note != "" {
		fmt.Fprintf(fs.Output(), "runbench calibrate: %s\n", note)
	}
	return cfg, file.Options{Direct: o.direct, AIO: aio}, nil
}

// measureFiles measures a file of calibrate's own in dir.
func measureFiles(ctx context.Context, dir string, fopts file.Options, cfg calibrate.Config, progress func(calibrate.Cell)) (calibrate.Result, error) {
	t, cleanup, err := calibrate.FileTarget(dir, fopts)
	if err != nil {
		return calibrate.Result{}, err
	}
	res, err := calibrate.Measure(ctx, t, cfg, progress)
	return res, errors.Join(err, cleanup())
}

// simulate runs the same measurements on sim simulating dev.
func simulate(ctx context.Context, dev sim.Device, cfg calibrate.Config) (calibrate.Result, error) {
	t, err := calibrate.SimTarget(dev, 1)
	if err != nil {
		return calibrate.Result{}, err
	}
	return calibrate.Measure(ctx, t, cfg, nil)
}

// interruption makes err a bench.InterruptError when ctx was cancelled
// by a signal, so that fail exits 128 plus its number.
func interruption(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && errors.Is(err, cause) {
		return &bench.InterruptError{Cause: cause}
	}
	return err
}

// writeCalibration prints each measured cell beside the same cell on
// the fitted device.
func writeCalibration(w io.Writer, res, check calibrate.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measured\tops/s\tpasses' range\tMB/s\tmean us\tp50 us\tp99 us\tfitted sim ops/s\terror\t")
	us := func(ns int64) string { return fmt.Sprintf("%.1f", float64(ns)/1e3) }
	for _, c := range res.Cells {
		sc, _ := check.Find(c.Kind, c.Size, c.QD)
		rate := func(x calibrate.Cell) float64 { return x.OpsPerSec() }
		if c.Kind == calibrate.Flush {
			rate = func(x calibrate.Cell) float64 { return 1e9 / float64(max(x.Mean, 1)) }
		}
		errPct := "-"
		if m := rate(c); m > 0 {
			errPct = fmt.Sprintf("%+.0f%%", (rate(sc)/m-1)*100)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f-%.0f\t%.1f\t%s\t%s\t%s\t%.0f\t%s\t\n", c.Name(), rate(c), c.Slowest, c.Fastest, c.BytesPerSec()/1e6, us(c.Mean), us(c.P50), us(c.P99), rate(sc), errPct)
	}
	tw.Flush()
	fmt.Fprintln(w, strings.Repeat("-", 20))
}
