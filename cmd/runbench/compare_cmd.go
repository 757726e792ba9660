package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/qedharness/qedharness/workloads/bench"
)

// compareMain implements "runbench compare [-metric M] OLD/runs.json
// NEW/runs.json" (see bench.Compare).
func compareMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runbench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	metric := fs.String("metric", "ops_per_sec", "record `field` to compare: ops_per_sec, mib_per_sec, lat_p50_us, lat_p99_us, lat_p999_us, host_ios_per_op, meta_bytes")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench compare [-metric field] OLD/runs.json NEW/runs.json\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return subcommandExit(err)
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(stderr, "runbench compare: want two runs.json files, OLD and NEW; got %d arguments\n", fs.NArg())
		return exitUsage
	}
	err := bench.Compare(stdout, fs.Arg(0), fs.Arg(1), *metric)
	return subcommandFail(stderr, "runbench compare", err)
}

// subcommandExit is the exit status of a subcommand whose flags did not
// parse: 0 for -h, else exitUsage (the flag package said why).
func subcommandExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return exitUsage
}

// subcommandFail reports err after name and returns the exit status of
// compare and report: 0 for nil, exitUsage for a bad flag (a
// bench.SettingError), 1 otherwise.
func subcommandFail(stderr io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, describe(err))
	if _, ok := err.(*bench.SettingError); ok {
		return exitUsage
	}
	return 1
}
