package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/qedharness/qedharness/workloads/results"
)

// compareMain implements "runbench compare [-metric M] OLD/runs.json
// NEW/runs.json": per configuration, each side's median with its
// min-max spread, the ratio, and whether the difference exceeds the
// spread of repetitions.
func compareMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runbench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	metric := fs.String("metric", "ops_per_sec", "record `field` to compare: ops_per_sec, mib_per_sec, lat_p50_us, lat_p99_us, lat_p999_us, host_ios_per_op, meta_bytes")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench compare [-metric field] OLD/runs.json NEW/runs.json\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(stderr, "runbench compare: want two runs.json files, OLD and NEW; got %d arguments\n", fs.NArg())
		return exitUsage
	}
	m, err := results.LookupMetric(*metric)
	if err != nil {
		fmt.Fprintf(stderr, "runbench compare: -metric: %v\n", err)
		return exitUsage
	}
	old, err := results.ReadResults(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "runbench compare: %v\n", err)
		return 1
	}
	cur, err := results.ReadResults(fs.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "runbench compare: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "old: %s, commit %s, %s\nnew: %s, commit %s, %s\n\n", fs.Arg(0), old.Provenance.Commit, old.Provenance.Date,
		fs.Arg(1), cur.Provenance.Commit, cur.Provenance.Date)
	deltas, onlyOld, onlyNew := results.Compare(old.Runs, cur.Runs, m)
	if err := results.WriteComparison(stdout, deltas, onlyOld, onlyNew, m); err != nil {
		fmt.Fprintf(stderr, "runbench compare: %v\n", err)
		return 1
	}
	return 0
}
