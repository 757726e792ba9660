package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/qedharness/qedharness/checker"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// CounterexampleDir is the directory, inside Config.Out, that holds a
// text file (and porcupine's visualization) for each run found not
// linearizable. Run removes it before the runs when it checks any.
const CounterexampleDir = "counterexamples"

// linTimeout bounds the check of one run's history, the search for a
// short counterexample included (the checker keeps the shortest found).
const linTimeout = 10 * time.Second

// setLinearizability wires the history recorder and the checker into the
// matrix: runs of the checked repetitions are recorded through a
// history.Recorder, read back after their measured phase, and checked
// with checker.Check; a run that is not linearizable gets its
// counterexample written to dir (Run removes the stale ones before the
// matrix runs; New removes nothing). It returns the provenance text.
func setLinearizability(m *workloads.Matrix, mode LinMode, dir string) (string, error) {
	which := "repetition 1 of each configuration"
	switch mode {
	case LinNone:
		return "not checked (-linearizability none)", nil
	case LinSample:
		m.VerifyRepeats = 1
		m.VerifyQD = slices.Max(m.QDs)
		if slices.Contains(m.QDs, 32) {
			m.VerifyQD = 32 // the depth the report focuses on
		}
		which = fmt.Sprintf("repetition 1 of each configuration at queue depth %d (-linearizability sample; first or all check more)", m.VerifyQD)
	case LinFirst:
		m.VerifyRepeats = 1
	case LinAll:
		m.VerifyRepeats = 0
		which = "every repetition"
	default:
		return "", fmt.Errorf("%q: want %s, %s, %s or %s", mode, LinNone, LinSample, LinFirst, LinAll)
	}
	m.ReadBack = true
	m.Wrap = func(c results.Config, p *workloads.Plan, open history.Opener) (workloads.Submitter, error) {
		// open reopens the image for a job with reopen_every; the
		// recorder logs each reopen.
		return history.NewRecorder(p.Disk(), open)
	}
	m.Verify = func(c results.Config, repeat int, res *workloads.Result) (workloads.Verification, error) {
		rec, ok := res.Submitter.(*history.Recorder)
		if !ok {
			return workloads.Verification{}, fmt.Errorf("run was not recorded")
		}
		r, err := checker.CheckLog(rec.Log(), checker.Options{Timeout: linTimeout})
		if bad := imageFaults(err); len(bad) > 0 {
			// A read returned bytes that no write and no backing file put
			// there (torn or misplaced sectors): the image broke the disk
			// specification, which is worse than a reordering.
			f := false
			name, werr := writeEvidence(dir, c, repeat, bad)
			return workloads.Verification{Linearizable: &f, Counterexample: name}, werr
		}
		if err != nil {
			return workloads.Verification{}, err
		}
		var v workloads.Verification
		switch r.Verdict {
		case checker.Ok:
			t := true
			v.Linearizable = &t
		case checker.Illegal:
			f := false
			v.Linearizable = &f
			v.Counterexample, err = writeCounterexample(dir, c, repeat, r)
		default:
			v.Note = fmt.Sprintf("check gave no verdict within %v", linTimeout)
		}
		return v, err
	}
	return "checked with porcupine against the disk specification (per sector; segments the zone conditions of a register accept need no search) on " + which +
		", each run followed by an unmeasured read-back of every byte it wrote; baselines are not checked", nil
}

// writeCounterexample writes the shortest failing history of a run as
// text and porcupine's visualization as HTML, and returns the text file's
// name relative to dir.
func writeCounterexample(dir string, c results.Config, repeat int, r *checker.Result) (string, error) {
	sub := CounterexampleDir
	if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
		return "", err
	}
	base := strings.NewReplacer("/", "_", "=", "-").Replace(c.Name()) + fmt.Sprintf("_repeat-%d", repeat)
	failing := fmt.Sprint(r.Failing)
	if len(r.Failing) > 20 {
		failing = fmt.Sprintf("%v ... (%d sectors)", r.Failing[:20], len(r.Failing))
	}
	text := fmt.Sprintf("%s repeat %d: not linearizable; failing sectors %s\n\n", c.Name(), repeat, failing)
	if r.Counterexample != nil {
		text += r.Counterexample.String()
	}
	name := filepath.Join(sub, base+".txt")
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		return "", err
	}
	if err := r.Visualize(filepath.Join(dir, sub, base+".html")); err != nil {
		return name, fmt.Errorf("visualization: %w", err)
	}
	return name, nil
}

// imageFaults returns the input errors of a failed check that convict the
// image rather than the history: reads of torn, corrupt or unknown tags.
func imageFaults(err error) []*checker.InputError { return checker.ImageFaults(err) }

// writeEvidence writes the reads that saw impossible data and returns the
// file's name relative to dir.
func writeEvidence(dir string, c results.Config, repeat int, bad []*checker.InputError) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, CounterexampleDir), 0o755); err != nil {
		return "", err
	}
	base := strings.NewReplacer("/", "_", "=", "-").Replace(c.Name()) + fmt.Sprintf("_repeat-%d", repeat)
	var b strings.Builder
	fmt.Fprintf(&b, "%s repeat %d: not linearizable: reads returned data no write and no backing file put there\n\n", c.Name(), repeat)
	for _, e := range bad {
		fmt.Fprintf(&b, "%v\n", e)
	}
	name := filepath.Join(CounterexampleDir, base+".txt")
	return name, os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644)
}
