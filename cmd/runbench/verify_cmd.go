package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/bench"
	"github.com/qedharness/qedharness/workloads/results"
)

// verifyMain is the "verify" subcommand: the verdicts alone. It runs the
// explorers and the crash explorer on their standard configurations for
// every policy named, under both table-write schemes, prints the verdict
// table and each counterexample, and returns exitHolds when every
// checker agrees with every claim, exitViolated when one disagrees, and
// exitUsage for bad arguments.
func verifyMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policies := fs.String("policy", "all", "policies to check, comma-separated, or all (`NAME[,NAME...]`)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench verify [-policy NAME[,NAME...]]\n\n")
		fmt.Fprintf(stderr, "Runs every checker that needs no measured run (model explorer, implementation explorer, crash explorer)\non its standard configuration, with ordered and with snapshot table writes, and compares each finding\nwith the policy's claim. Exit status: 0 every checker agrees, 1 one disagrees, 2 bad arguments.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseSubcommand(fs, args, stderr); !ok {
		return code
	}
	regs, err := model.ParseList(*policies)
	if err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return exitUsage
	}
	start := time.Now()
	vs, err := bench.Verdicts(regs)
	if err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return exitViolated
	}
	if err := results.WriteVerdicts(stdout, vs); err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return exitViolated
	}
	bad := results.Disagreements(vs)
	fmt.Fprintf(stdout, "\nverify: %d verdicts in %.1fs, %d disagree with their claim\n", len(vs), time.Since(start).Seconds(), len(bad))
	if len(bad) > 0 {
		return exitViolated
	}
	return exitHolds
}
