package bench

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qedharness/qedharness/checker"
	"github.com/qedharness/qedharness/checker/crash"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/plots"
	"github.com/qedharness/qedharness/workloads/results"
)

// Crash exploration bounds of the standard verdict set: every standard
// crash workload, the first completion orders of each, every subset of
// up to crashUnits unflushed writes at every completion boundary.
const (
	crashSchedules = 2
	crashUnits     = 8
)

// Verdicts runs the checkers that need no measured run on their standard
// configurations, for every policy of regs under both table-write
// schemes: the model explorer and the implementation explorer
// (exhaustive on checker.StandardExploreConfig), and the crash explorer
// (bounded: crashSchedules completion orders per workload). Each finding
// is compared with the policy's claim for the scheme (Agrees).
func Verdicts(regs []model.Registration) ([]results.Verdict, error) {
	return runVerdictJobs(verdictJobs(regs))
}

// verdictJob is one checker's verdict on one policy under one
// table-write scheme: the unit Verdicts runs in parallel and a sharded
// run deals out.
type verdictJob struct {
	reg     model.Registration
	scheme  model.TableWrites
	checker string // results.CheckerModel, CheckerImpl, CheckerCrash or CheckerZeroes
}

// verdictCheckers are the checkers of Verdicts, in the order it runs
// them for each policy and scheme.
var verdictCheckers = []string{results.CheckerModel, results.CheckerImpl, results.CheckerCrash, results.CheckerZeroes}

// verdictJobs returns the jobs of Verdicts(regs), in the order of its
// verdicts: by policy, scheme, then checker.
func verdictJobs(regs []model.Registration) []verdictJob {
	var jobs []verdictJob
	for _, reg := range regs {
		for _, scheme := range model.TableWriteSchemes {
			for _, c := range verdictCheckers {
				jobs = append(jobs, verdictJob{reg, scheme, c})
			}
		}
	}
	return jobs
}

// String names the job, as "overlap, snapshot table writes, impl-explorer".
func (j verdictJob) String() string {
	return fmt.Sprintf("%s, %s table writes, %s", j.reg.Name, j.scheme, j.checker)
}

// estimatedSeconds is what the job is expected to take on one core, as
// workloads.EstimatedRunSeconds estimates runs, for balancing shards: on
// this project's 2-core VM (2026-12, under load) the standard model
// explorations took 0.004-0.02 s, the implementation explorations
// 0.9-3.1 s and the bounded crash explorations 0.5-1.1 s.
func (j verdictJob) estimatedSeconds() float64 {
	switch j.checker {
	case results.CheckerModel, results.CheckerZeroes:
		return 0.02
	case results.CheckerImpl:
		return 1.5
	}
	return 0.8
}

// runVerdictJobs runs jobs, one per core at a time (the checkers share
// nothing), and returns their verdicts in the jobs' order.
func runVerdictJobs(jobs []verdictJob) ([]results.Verdict, error) {
	found := make([]results.Verdict, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				found[i], errs[i] = jobs[i].run()
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return found, nil
}

// run makes the job's verdict.
func (j verdictJob) run() (results.Verdict, error) {
	switch j.checker {
	case results.CheckerCrash:
		return crashVerdict(j.reg, j.scheme)
	case results.CheckerZeroes:
		return zeroesVerdict(j.reg, j.scheme)
	}
	mode := checker.ExploreModel
	if j.checker == results.CheckerImpl {
		mode = checker.ExploreImpl
	}
	cfg := checker.StandardExploreConfig(mode)
	cfg.UnorderedMeta = j.scheme == model.Snapshot
	res, err := checker.Explore(j.reg, cfg)
	if err != nil {
		return results.Verdict{}, fmt.Errorf("%s, %s table writes, %s explorer: %w", j.reg.Name, j.scheme, mode, err)
	}
	return exploreVerdict(j.reg, j.scheme, res), nil
}

// exploreVerdict turns an exploration into a verdict.
func exploreVerdict(reg model.Registration, scheme model.TableWrites, res *checker.ExploreResult) results.Verdict {
	v := results.Verdict{
		Policy: reg.Name, TableWrites: scheme.String(), Claim: reg.Claim(scheme).String(),
		Config: res.Config.Name() + " (" + res.Config.String() + ")", Seconds: res.Elapsed.Seconds(), Note: res.Reason,
	}
	if res.Config.Mode == checker.ExploreModel {
		v.Checker, v.States = results.CheckerModel, res.States
	} else {
		v.Checker, v.Orders, v.States = results.CheckerImpl, res.Paths, res.States
	}
	v.Outcome = res.Verdict.String()
	if x := res.Violation; x != nil {
		v.Violation = x.Invariant + ": " + firstLine(x.Message)
		v.Counterexample = append([]string(nil), x.Trace...)
		for _, e := range x.Events {
			v.Steps = append(v.Steps, results.Step{Kind: e.Kind, Req: e.Req, IO: e.IO, Text: e.Text})
		}
		if x.Schedule != "" {
			flags := ""
			if res.Config.UnorderedMeta {
				flags = " -unordered-meta"
			}
			v.Replay = fmt.Sprintf("go run ./cmd/runbench explore -mode impl -policy %s%s -replay '%s'", reg.Name, flags, x.Schedule)
		}
	}
	// Both explorers are exhaustive on their configuration: an unsafe
	// claim they do not confirm is a disagreement too.
	v.Agrees = agrees(v.Claim, v.Outcome, true)
	return v
}

// zeroesVerdict runs the model explorer on each of
// checker.ZeroesExploreConfigs for reg under scheme: one verdict, its
// states summed, the first violation found. Each exploration is
// exhaustive, but the mixes are chosen for write-zeroes, not for every
// way a policy can fail (per-table's with snapshot table writes needs two
// new tables at once), so an unsafe claim they do not confirm is no
// disagreement; a safe one they refute is.
func zeroesVerdict(reg model.Registration, scheme model.TableWrites) (results.Verdict, error) {
	v := results.Verdict{Policy: reg.Name, Checker: results.CheckerZeroes, TableWrites: scheme.String(), Claim: reg.Claim(scheme).String(), Outcome: results.OutcomeHolds}
	var names []string
	for _, cfg := range checker.ZeroesExploreConfigs() {
		cfg.UnorderedMeta = scheme == model.Snapshot
		res, err := checker.Explore(reg, cfg)
		if err != nil {
			return results.Verdict{}, fmt.Errorf("%s, %s table writes, write-zeroes explorer: %w", reg.Name, scheme, err)
		}
		names = append(names, res.Config.Name())
		one := exploreVerdict(reg, scheme, res)
		v.States += one.States
		v.Seconds += one.Seconds
		switch {
		case v.Outcome == results.OutcomeViolated:
		case one.Outcome != results.OutcomeHolds:
			v.Outcome, v.Note, v.Violation, v.Counterexample, v.Steps = one.Outcome, one.Note, one.Violation, one.Counterexample, one.Steps
		}
	}
	v.Config = strings.Join(names, " and ") + " (a write, a write-zeroes and a read with a backing file, one and two sectors a cluster)"
	v.Agrees = agrees(v.Claim, v.Outcome, false)
	return v, nil
}

// crashVerdict runs the bounded crash exploration of reg under scheme.
func crashVerdict(reg model.Registration, scheme model.TableWrites) (results.Verdict, error) {
	cfg := crash.Config{MaxSchedules: crashSchedules, MaxUnits: crashUnits, UnorderedMeta: scheme == model.Snapshot}
	start := time.Now()
	res, err := crash.Explore(reg, crash.Workloads(), cfg)
	if err != nil {
		return results.Verdict{}, fmt.Errorf("%s, %s table writes, crash explorer: %w", reg.Name, scheme, err)
	}
	v := results.Verdict{
		Policy: reg.Name, Checker: results.CheckerCrash, TableWrites: scheme.String(), Claim: reg.Claim(scheme).String(),
		Config:  fmt.Sprintf("%d crash workloads, first %d completion orders each, every subset of up to %d unflushed writes", len(crash.Workloads()), crashSchedules, crashUnits),
		Seconds: time.Since(start).Seconds(), Orders: int64(res.Stats.Schedules), CrashPoints: int64(res.Stats.CrashPoints),
		Outcome: results.OutcomeHolds,
	}
	if res.Stats.Truncated {
		v.Note = "bounded: not every completion order was tried"
	}
	if x := res.Shortest; x != nil {
		v.Outcome = results.OutcomeViolated
		v.Violation = x.Kind + ": " + firstLine(x.Detail)
		v.Counterexample = append([]string(nil), x.Trace...)
		for _, st := range x.Steps {
			v.Steps = append(v.Steps, results.Step{Kind: st.Kind, Req: st.Req, IO: st.IO, Text: st.Text})
		}
	}
	// Bounded: a violation it finds counts; one it misses does not.
	v.Agrees = agrees(v.Claim, v.Outcome, false)
	return v, nil
}

// LinearizabilityVerdicts summarizes the linearizability checks of the
// measured runs per policy: violated if any checked run's history is not
// linearizable, holds if every checked one is. The runs are samples, so
// an unsafe claim they do not expose is no disagreement. Policies with
// no checked run get no verdict.
func LinearizabilityVerdicts(regs []model.Registration, runs []results.Record) []results.Verdict {
	var out []results.Verdict
	for _, reg := range regs {
		checked, bad, total := 0, 0, 0
		var seconds float64
		var first string
		for _, r := range runs {
			if r.Policy != reg.Name {
				continue
			}
			total++
			if r.Linearizable == nil {
				continue
			}
			checked++
			seconds += r.CheckWallSeconds
			if !*r.Linearizable {
				bad++
				if first == "" {
					first = r.Counterexample
				}
			}
		}
		if checked == 0 {
			continue
		}
		v := results.Verdict{
			Policy: reg.Name, Checker: results.CheckerLinearizability, TableWrites: model.Ordered.String(),
			Claim: reg.Expect.String(), Config: fmt.Sprintf("%d of %d measured runs checked", checked, total),
			Runs: checked, Seconds: seconds, Outcome: results.OutcomeHolds,
		}
		if bad > 0 {
			v.Outcome = results.OutcomeViolated
			v.Violation = fmt.Sprintf("%d of %d checked runs not linearizable", bad, checked)
			if first != "" {
				v.Counterexample = []string{"see " + first}
			}
		}
		v.Agrees = agrees(v.Claim, v.Outcome, false)
		out = append(out, v)
	}
	return out
}

// agrees reports whether outcome agrees with claim: a safe claim with
// anything but a violation, an unsafe one with a violation, or, for a
// checker that is not exhaustive (bounded or sampled), with any outcome.
func agrees(claim, outcome string, exhaustive bool) bool {
	if claim == model.Safe.String() {
		return outcome != results.OutcomeViolated && (outcome != results.OutcomeIncomplete || !exhaustive)
	}
	return outcome == results.OutcomeViolated || !exhaustive
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// sortVerdicts orders vs by policy (in regs' order), table-write scheme
// and checker, stably.
func sortVerdicts(vs []results.Verdict, regs []model.Registration) {
	rank := func(list []string, x string) int {
		if i := slices.Index(list, x); i >= 0 {
			return i
		}
		return len(list)
	}
	var names []string
	for _, r := range regs {
		names = append(names, r.Name)
	}
	schemes := []string{model.Ordered.String(), model.Snapshot.String()}
	slices.SortStableFunc(vs, func(a, b results.Verdict) int {
		return cmp.Or(
			cmp.Compare(rank(names, a.Policy), rank(names, b.Policy)),
			cmp.Compare(rank(schemes, a.TableWrites), rank(schemes, b.TableWrites)),
			cmp.Compare(rank(results.Checkers(), a.Checker), rank(results.Checkers(), b.Checker)))
	})
}

// writeDiagrams writes the sequence diagram of every violation that has
// steps into dir's counterexamples directory, and names it in the
// verdict (Diagram).
func writeDiagrams(dir string, vs []results.Verdict) error {
	for i := range vs {
		v := &vs[i]
		if len(v.Steps) == 0 {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dir, CounterexampleDir), 0o755); err != nil {
			return err
		}
		name := filepath.Join(CounterexampleDir, fmt.Sprintf("%s-%s-%s.svg", v.Policy, v.TableWrites, v.Checker))
		title := fmt.Sprintf("%s, %s table writes, %s: %s", v.Policy, v.TableWrites, v.Checker, v.Config)
		if err := writeFileAtomic(filepath.Join(dir, name), plots.SequenceDiagram(title, v.Violation, v.Steps)); err != nil {
			return fmt.Errorf("counterexample diagram: %w", err)
		}
		v.Diagram = name
	}
	return nil
}
