package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/qedharness/qedharness/workloads/bench"
)

// compareMain implements "runbench compare [-metric M,...]
// [-only-changed] [-fail-on-regression PCT] OLD/runs.json NEW/runs.json"
// (see bench.Compare). It exits 1 for a regression beyond PCT, as for
// a file it cannot read.
func compareMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runbench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.CompareConfig{FailOnRegression: -1}
	metrics := fs.String("metric", "ops_per_sec", "comma-separated record `fields` to compare, a table each: ops_per_sec, mib_per_sec, lat_p50_us, lat_p99_us, lat_p999_us, host_ios_per_op, meta_bytes")
	fs.BoolVar(&cfg.OnlyChanged, "only-changed", false, "show only the configurations with a significant change (or a change of safety)")
	fs.Func("fail-on-regression", "exit 1 when a significant change of a metric in its bad direction (ops/s lower, latency higher) exceeds `PCT` percent of the old median", func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%q: want a percentage, 0 or more", s)
		}
		cfg.FailOnRegression = v
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench compare [-metric fields] [-only-changed] [-fail-on-regression PCT] OLD/runs.json NEW/runs.json\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return subcommandExit(err)
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(stderr, "runbench compare: want two runs.json files, OLD and NEW; got %d arguments\n", fs.NArg())
		return exitUsage
	}
	cfg.Old, cfg.New = fs.Arg(0), fs.Arg(1)
	cfg.Metrics = strings.Split(*metrics, ",")
	err := bench.Compare(stdout, cfg)
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
