package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/plots"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

// reportMain implements "runbench report DIR": it redraws the figures
// and rewrites summary.txt, report.md and report.html from DIR/runs.json,
// without running anything.
func reportMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runbench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	baseline := fs.String("baseline", "freeze-any", "`policy` throughput is compared with")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench report [-baseline policy] DIR\n\nRedraws the figures and the report of DIR from DIR/runs.json.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "runbench report: want one results directory; got %d arguments\n", fs.NArg())
		return exitUsage
	}
	if _, err := model.Lookup(*baseline); err != nil {
		fmt.Fprintf(stderr, "runbench report: -baseline: %v\n", err)
		return exitUsage
	}
	dir := fs.Arg(0)
	res, err := results.ReadResults(filepath.Join(dir, "runs.json"))
	if err != nil {
		fmt.Fprintf(stderr, "runbench report: %v\n", err)
		return 1
	}
	var regs []model.Registration
	for _, r := range model.Registered() {
		if slices.ContainsFunc(res.Runs, func(rec results.Record) bool { return rec.Policy == r.Name }) {
			regs = append(regs, r)
		}
	}
	sums := results.Summarize(res.Runs, tableOrder(res))
	if err := writeResults(dir, res, sums, *baseline); err != nil {
		fmt.Fprintf(stderr, "runbench report: %v\n", err)
		return 1
	}
	figs, err := plots.Write(dir, sums, plots.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "runbench report: figures: %v\n", err)
		return 1
	}
	err = plots.WriteReport(dir, plots.ReportInput{Results: res, Summaries: sums, Figures: figs, Policies: regs,
		Baseline: *baseline, Command: "go run ./cmd/" + res.Provenance.Command, BaselineNotes: baselineNotes(res)})
	if err != nil {
		fmt.Fprintf(stderr, "runbench report: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "rewrote %s: summary.txt, report.md, report.html, %d figures\n", dir, len(figs))
	return 0
}

// tableOrder orders the configurations of res for the tables, of a run
// and of runbench report alike: workloads in job order, then backend
// (sim, mem, file), device (sim presets in the run's order), queue depth
// and policy in registry order (baselines last).
func tableOrder(res *results.Results) []results.Config {
	wrank := map[string]int{}
	for i, w := range res.Provenance.Workloads {
		wrank[w] = i
	}
	prank := map[string]int{}
	for i, n := range append(model.Names(), results.BaselineNames()...) {
		prank[n] = i
	}
	brank := map[string]int{results.BackendSim: 0, results.BackendMem: 1, results.BackendFile: 2}
	drank := map[string]int{}
	for i, d := range res.Provenance.Devices {
		drank[d.Name] = i - len(res.Provenance.Devices) // sim presets first, as run
	}
	var order []results.Config
	seen := map[results.Config]bool{}
	for _, r := range res.Runs {
		if c := r.Config(); !seen[c] {
			seen[c] = true
			order = append(order, c)
		}
	}
	slices.SortStableFunc(order, func(a, b results.Config) int {
		return cmp.Or(cmp.Compare(wrank[a.Workload], wrank[b.Workload]), cmp.Compare(a.Workload, b.Workload),
			cmp.Compare(brank[a.Backend], brank[b.Backend]), cmp.Compare(a.Backend, b.Backend),
			cmp.Compare(drank[a.Device], drank[b.Device]), cmp.Compare(a.Device, b.Device), cmp.Compare(a.QD, b.QD),
			cmp.Compare(prank[a.Policy], prank[b.Policy]))
	})
	return order
}

// baselineNotes recomputes the run's notes on the qemu-img bench
// baselines from the jobs in its provenance, if it ran baselines.
func baselineNotes(res *results.Results) []string {
	if !slices.ContainsFunc(res.Runs, func(r results.Record) bool { return results.IsBaseline(r.Policy) }) {
		return nil
	}
	var plans []*workloads.Plan
	for _, name := range res.Provenance.Workloads {
		jobs, err := workloads.ParseJobFile(strings.NewReader(res.Provenance.Jobs[name]), "runs.json")
		if err != nil || len(jobs) != 1 {
			continue // an older or edited record: leave its note out
		}
		if p, err := jobs[0].Plan(); err == nil {
			plans = append(plans, p)
		}
	}
	return workloads.BaselineNotes(plans)
}
