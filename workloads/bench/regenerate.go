package bench

import (
	"cmp"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/impl/backends"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/plots"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

// Report rewrites the results directory dir from its runs.json, running
// nothing: the result files (runs.json, runs.csv, bench.txt,
// summary.txt), the figures, report.md and report.html, with throughput
// compared with the policy named baseline. It returns the figures written. A baseline that
// is no policy is a *SettingError for "Baseline"; other errors say what
// could not be read or written.
func Report(dir, baseline string) ([]plots.Figure, error) {
	if _, err := model.Lookup(baseline); err != nil {
		return nil, bad("Baseline", err)
	}
	res, err := results.ReadResults(filepath.Join(dir, "runs.json"))
	if err != nil {
		return nil, err
	}
	var regs []model.Registration
	for _, r := range model.Registered() {
		if slices.ContainsFunc(res.Runs, func(rec results.Record) bool { return rec.Policy == r.Name }) {
			regs = append(regs, r)
		}
	}
	return writeAll(dir, plots.ReportInput{
		Results: res, Summaries: results.Summarize(res.Runs, tableOrder(res)), Policies: regs, Baseline: baseline,
		Command: "go run ./cmd/" + res.Provenance.Command, BaselineNotes: baselineNotes(res),
	}, true)
}

// tableOrder orders the configurations of res for the tables, of a run
// and of Report alike: workloads in job order, then backend
// (sim, mem, file), device (sim presets in the run's order), queue depth
// and policy in registry order (baselines last).
func tableOrder(res *results.Results) []results.Config {
	wrank := map[string]int{}
	for i, w := range res.Provenance.Workloads {
		wrank[w] = i
	}
	prank := map[string]int{}
	for i, n := range slices.Concat(model.Names(), results.BaselineNames(), results.NBDBaselineNames()) {
		prank[n] = i
	}
	brank := map[string]int{}
	for i, n := range backends.Names() {
		brank[n] = i
	}
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
// baselines from the jobs in its provenance, if it ran baselines, and
// those on its runs through NBD (runbench nbd's), if it made any.
func baselineNotes(res *results.Results) []string {
	nbd := nbdNotes(res)
	if !slices.ContainsFunc(res.Runs, func(r results.Record) bool { return results.IsMatrixBaseline(r.Policy) }) {
		return nbd
	}
	var plans []*workloads.Plan
	for _, name := range res.Provenance.Workloads {
		jobs, err := workloads.ParseJobFile(strings.NewReader(res.Provenance.Jobs[name]), "runs.json")
		if err != nil || len(jobs) == 0 {
			continue // an older or edited record: leave its note out
		}
		if p, err := workloads.PlanGroup(jobs); err == nil { // a job, or a group of jobs running together
			plans = append(plans, p)
		}
	}
	return append(workloads.BaselineNotes(plans), nbd...)
}
