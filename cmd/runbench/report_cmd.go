package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/qedharness/qedharness/workloads/bench"
)

// reportMain implements "runbench report DIR": it redraws the figures
// and rewrites summary.txt, report.md and report.html from DIR/runs.json,
// without running anything (see bench.Report).
func reportMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runbench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	baseline := fs.String("baseline", bench.DefaultBaseline, "`policy` throughput is compared with")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench report [-baseline policy] DIR\n\nRedraws the figures and the report of DIR from DIR/runs.json.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return subcommandExit(err)
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "runbench report: want one results directory; got %d arguments\n", fs.NArg())
		return exitUsage
	}
	figs, err := bench.Report(fs.Arg(0), *baseline)
	if err == nil {
		fmt.Fprintf(stdout, "rewrote %s: summary.txt, report.md, report.html, %d figures\n", fs.Arg(0), len(figs))
	}
	return subcommandFail(stderr, "runbench report", err)
}
