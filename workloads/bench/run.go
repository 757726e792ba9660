package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qedharness/qedharness/plots"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

// RunsFailedError reports runs that failed: each is recorded with its
// error in runs.json, and every result file was written.
type RunsFailedError struct {
	// Failed is the number of runs that failed; Out the results
	// directory.
	Failed int
	Out    string
}

// Error says how many runs failed and where to read why.
func (e *RunsFailedError) Error() string {
	return fmt.Sprintf("%d runs failed; see the error field in %s/runs.json", e.Failed, e.Out)
}

// InterruptError reports that Run's context was done before Run
// finished.
type InterruptError struct {
	// Cause is context.Cause of the context.
	Cause error
	// WorkDir is the work directory Run removed, "" if it made none;
	// RemoveErr says why removing it failed.
	WorkDir   string
	RemoveErr error
}

// Error names the cause and what became of the work directory, as
// "interrupt; removed /tmp/runbench-123".
func (e *InterruptError) Error() string {
	switch {
	case e.RemoveErr != nil:
		return fmt.Sprintf("%v; %v", e.Cause, e.RemoveErr)
	case e.WorkDir != "":
		return fmt.Sprintf("%v; removed %s", e.Cause, e.WorkDir)
	}
	return e.Cause.Error()
}

// Unwrap returns the cause.
func (e *InterruptError) Unwrap() error { return e.Cause }

// Run makes every run of the matrix and writes the results to
// Config.Out (see the package doc). It prints to stdout (nil discards)
// the seed, the summary table, where the results are and the harness's
// speed; if progress is not nil (a terminal), it redraws one line there
// after every run and clears it when the runs end.
//
// The results are returned with a nil error, or with a
// *RunsFailedError. If ctx is done while the runs go on, no further run
// starts; Run lets those under way finish, removes the work directory
// and returns an *InterruptError. If ctx is done later, Run writes the
// results and then returns an *InterruptError.
func (s *Setup) Run(ctx context.Context, stdout, progress io.Writer) (*results.Results, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	if !s.usesFile() {
		return s.run(ctx, s.matrix, stdout, progress)
	}
	dir, err := makeWorkdir(s.matrix.Dir)
	if err != nil {
		return nil, bad("Dir", err)
	}
	m := s.matrix
	m.Dir = dir
	res, err := s.run(ctx, m, stdout, progress)
	rerr := removeWorkdir(dir)
	if ie := (*InterruptError)(nil); errors.As(err, &ie) {
		ie.WorkDir, ie.RemoveErr = dir, rerr
		return res, err
	}
	return res, errors.Join(err, rerr)
}

// run is Run with the matrix m to run, its work directory made.
func (s *Setup) run(ctx context.Context, m workloads.Matrix, stdout, progress io.Writer) (*results.Results, error) {
	if ctx.Err() != nil {
		return nil, &InterruptError{Cause: context.Cause(ctx)}
	}
	start := time.Now()
	prov := s.provenance(start)
	if s.shard != nil {
		// A complete shard is skipped, a partial one's files removed.
		done, err := resumeShard(s.out, s.manifest(&prov))
		if err != nil {
			return nil, bad("Out", err)
		}
		if done != nil {
			return s.skipShard(stdout, done)
		}
		if err := writeManifest(s.out, s.manifest(&prov)); err != nil {
			return nil, err
		}
	} else if m.Verify != nil || !s.noVerdicts {
		// Counterexamples of an earlier run in the same directory are
		// stale.
		if err := os.RemoveAll(filepath.Join(s.out, CounterexampleDir)); err != nil {
			return nil, err
		}
	}
	if progress != nil {
		m.Progress = progressPrinter(progress, start)
	}
	printWrapped(stdout, fmt.Sprintf("runbench: seed %d (replay with -seed %d), %d configurations x %d repetitions + %d warm-up; linearizability: %s",
		m.Seed, m.Seed, len(m.Configs()), m.Repeat, m.Warmup, prov.Linearizability))
	if sh := s.shard; sh != nil {
		printWrapped(stdout, fmt.Sprintf("runbench: shard %s: %d of the %d configurations and %d of the %d verdict checks, %.1f%% of the estimated cost",
			sh.spec, len(sh.configs), sh.nConfigs, len(sh.checks), sh.nChecks, 100*sh.share))
	}
	for _, note := range append([]string{s.aioNote, s.discardNote, s.baselineNote}, m.BaselineNotes()...) {
		if note != "" {
			printWrapped(stdout, "runbench: "+note)
		}
	}
	type outcome struct {
		runs []results.Record
		err  error
	}
	var o outcome
	o.runs, o.err = m.RunContext(ctx)
	if ctx.Err() != nil {
		return nil, &InterruptError{Cause: context.Cause(ctx)}
	}
	if o.err != nil {
		return nil, o.err
	}
	if progress != nil {
		fmt.Fprintf(progress, "\r\033[K")
	}
	res := &results.Results{Provenance: prov, Runs: o.runs}
	if jobs := s.verdictJobs(); len(jobs) > 0 {
		fmt.Fprintf(stdout, "runbench: verdicts: model, engine, crash and write-zeroes explorers, ordered and snapshot table writes\n")
		vs, err := runVerdictJobs(jobs)
		if err != nil {
			return res, err
		}
		res.Verdicts = vs
		if err := writeDiagrams(s.out, res.Verdicts); err != nil {
			return res, err
		}
	}
	res.Verdicts = append(res.Verdicts, LinearizabilityVerdicts(m.Policies, o.runs)...)
	sortVerdicts(res.Verdicts, m.Policies)
	prov.LoadAvgEnd = loadAvg()
	res.Provenance = prov
	// The order Report uses too, so that both write one table.
	sums := results.Summarize(o.runs, tableOrder(res))
	if err := writeSummary(stdout, sums, res.Verdicts, s.baseline, s.verbose); err != nil {
		return res, err
	}
	failed := failedRuns(o.runs)
	if s.shard != nil {
		if err := s.finishShard(res, sums, start); err != nil {
			return res, err
		}
		printWrapped(stdout, fmt.Sprintf("\n%d runs in %.1fs; shard %s in %s/ (runs.json, runs.csv, bench.txt, summary.txt, %s); runbench merge -out DIR puts the shards together",
			len(o.runs), time.Since(start).Seconds(), s.shard.spec, s.out, ShardFile))
	} else {
		figs, err := writeAll(s.out, plots.ReportInput{
			Results: res, Summaries: sums, Policies: m.Policies, Baseline: s.baseline,
			Command: "go run ./cmd/" + s.command, BaselineNotes: m.BaselineNotes(), BaselineSkip: s.baselineNote,
		}, !s.noPlots)
		if err != nil {
			return res, err
		}
		printWrapped(stdout, fmt.Sprintf("\n%d runs in %.1fs; results in %s/ (runs.json, runs.csv, bench.txt, summary.txt, report.md, report.html, %d figures)", len(o.runs), time.Since(start).Seconds(), s.out, len(figs)))
	}
	for _, line := range results.HarnessCostOf(o.runs).Lines(s.cache) {
		printWrapped(stdout, line)
	}
	if ctx.Err() != nil {
		return res, &InterruptError{Cause: context.Cause(ctx)}
	}
	if failed > 0 {
		return res, &RunsFailedError{Failed: failed, Out: s.out}
	}
	return res, nil
}

// progressPrinter returns a Progress callback that redraws one line on
// w, at most every 100 ms and after the last run, as fio's status line
// does: runs done, percent, time so far and the time the rest should take
// at the rate so far, then the run just done.
func progressPrinter(w io.Writer, start time.Time) func(workloads.Progress) {
	last := time.Time{}
	return func(p workloads.Progress) {
		now := time.Now()
		if p.Done != p.Total && now.Sub(last) < 100*time.Millisecond {
			return
		}
		last = now
		rep := fmt.Sprintf("rep %d", p.Repeat)
		if p.Repeat <= 0 {
			rep = "warm-up"
		}
		elapsed := now.Sub(start).Seconds()
		eta := "?"
		if p.Done > 0 {
			eta = fmt.Sprintf("%.0fs", elapsed/float64(p.Done)*float64(p.Total-p.Done))
		}
		fmt.Fprintf(w, "\r\033[K[%d/%d %3.0f%% %.0fs, eta %s] %s %s %s qd=%d %s", p.Done, p.Total, 100*float64(p.Done)/float64(max(p.Total, 1)), elapsed, eta,
			p.Config.Device, p.Config.Workload, p.Config.Policy, p.Config.QD, rep)
	}
}

// failedRuns counts the runs that failed.
func failedRuns(runs []results.Record) int {
	n := 0
	for _, r := range runs {
		if r.Error != "" {
			n++
		}
	}
	return n
}

// writeSummary prints the runs' summary and the verdicts: in full with
// verbose, else a pivot per device at the deepest queue depth and one
// line of outcomes per policy, so it fits a terminal. Throughput is
// compared with the policy baseline.
func writeSummary(w io.Writer, sums []results.Summary, vs []results.Verdict, baseline string, verbose bool) error {
	if verbose {
		if err := results.WriteTable(w, sums, baseline); err != nil {
			return err
		}
		fmt.Fprintln(w)
		return results.WriteVerdictTable(w, vs)
	}
	if err := results.WritePivot(w, sums, baseline); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := results.WriteVerdictSummary(w, vs); err != nil {
		return err
	}
	fmt.Fprintf(w, "(every configuration in summary.txt, counts and counterexamples in report.md; -v prints them here)\n")
	return nil
}

// termWidth is the width runbench keeps its terminal output within.
const termWidth = 100

// printWrapped prints s to w, wrapped at spaces to lines of at most
// termWidth columns (a word longer than that stays whole), continuation
// lines indented by two spaces.
func printWrapped(w io.Writer, s string) {
	for _, para := range strings.Split(s, "\n") {
		line, indent := "", ""
		for _, word := range strings.Fields(para) {
			switch {
			case line == "":
				line = indent + word
			case len(line)+1+len(word) > termWidth:
				fmt.Fprintln(w, line)
				indent = "  "
				line = indent + word
			default:
				line += " " + word
			}
		}
		fmt.Fprintln(w, line)
	}
}
