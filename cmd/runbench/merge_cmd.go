package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/qedharness/qedharness/workloads/bench"
)

// mergeMain implements "runbench merge -out DIR SHARD_DIR...": it puts
// the shard directories of one matrix (runbench -shard K/N) together
// into the results directory DIR, as the whole run writes it (see
// bench.Merge). It exits 0 when merged, 1 when some merged runs had
// failed or the results could not be written, 2 for bad flags and for
// shards that do not make one whole (different matrices, commits or
// seeds, a shard missing, incomplete or given twice).
func mergeMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runbench merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.MergeConfig{}
	fs.StringVar(&cfg.Out, "out", "", "results `directory` to write (new, empty, or an earlier results directory)")
	fs.StringVar(&cfg.Baseline, "baseline", bench.DefaultBaseline, "`policy` the table compares throughput with")
	fs.BoolVar(&cfg.NoPlots, "noplots", false, "skip the figures")
	fs.BoolVar(&cfg.Verbose, "v", false, "print the full summary table and the verdicts' counts")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench merge -out DIR [-baseline policy] [-noplots] [-v] SHARD_DIR...\n\nMerges the shard directories of one matrix (runbench -shard K/N -out SHARD_DIR) into one results directory.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return subcommandExit(err)
	}
	if cfg.Out == "" {
		fmt.Fprintf(stderr, "runbench merge: -out DIR is required\n")
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "runbench merge: want the shard directories to merge\n")
		return exitUsage
	}
	cfg.Shards = fs.Args()
	_, err := bench.Merge(cfg, stdout)
	var rf *bench.RunsFailedError
	if errors.As(err, &rf) {
		fmt.Fprintf(stderr, "runbench merge: %v\n", err)
		return 1
	}
	return subcommandFail(stderr, "runbench merge", err)
}
