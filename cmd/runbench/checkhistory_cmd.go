package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/qedharness/qedharness/checker"
	"github.com/qedharness/qedharness/workloads/history"
)

// checkHistoryMain is the "check-history" subcommand: it judges a history
// in the text form (one written by qedimg serve -history, or any
// History.WriteText) for linearizability against the disk specification,
// as runbench judges its own runs. It prints the verdict and, for a
// violation, the shortest failing sub-history, and returns exitHolds when
// the history is linearizable, exitViolated when it is not (or the check
// ran out of time), exitUsage for bad arguments or an unreadable file.
func checkHistoryMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 5*time.Minute, "give up (verdict unknown, exit 1) after this long")
	vis := fs.String("vis", "", "on a violation, write porcupine's HTML visualization of the failing sector to `FILE`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench check-history [-timeout D] [-vis FILE] HISTORY\n\n")
		fmt.Fprintf(stderr, "Judges a recorded history (qedimg serve -history FILE) for linearizability, sector by sector.\nExit status: 0 linearizable, 1 not (or unknown), 2 bad arguments or an unreadable history.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitHolds
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "check-history: want one history file, got %d arguments\n", fs.NArg())
		fs.Usage()
		return exitUsage
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "check-history: %v\n", err)
		return exitUsage
	}
	h, err := history.ParseHistory(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "check-history: %s: %v\n", path, err)
		return exitUsage
	}
	start := time.Now()
	res, err := checker.Check(h, checker.Options{Timeout: *timeout})
	if err != nil {
		if bad := checker.ImageFaults(err); len(bad) > 0 {
			// A read saw bytes no write wrote: the image's fault.
			fmt.Fprintf(stdout, "%s: illegal: %d reads saw data that no write wrote and that is not the initial content, first: %v\n", path, len(bad), bad[0])
			return exitViolated
		}
		fmt.Fprintf(stderr, "check-history: %s: %v\n", path, err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s: %s (%d operations, %d sector operations over %d sectors, %.2fs)\n",
		path, res.Verdict, res.Ops, res.SectorOps, res.Sectors, time.Since(start).Seconds())
	if res.Verdict == checker.Ok {
		return exitHolds
	}
	if res.Counterexample != nil {
		fmt.Fprintf(stdout, "failing sectors: %v\n%s\n", res.Failing, res.Counterexample)
	}
	if *vis != "" && res.Verdict == checker.Illegal {
		if err := res.Visualize(*vis); err != nil {
			fmt.Fprintf(stderr, "check-history: -vis: %v\n", err)
		}
	}
	return exitViolated
}
