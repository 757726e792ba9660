package bench

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/qedharness/qedharness/impl/backends"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
)

// maxFileWorkers is the largest Config.FileWorkers: an io_uring holds
// at most 4096 I/Os, and with threads each worker is a goroutine.
const maxFileWorkers = 4096

// checkCounts checks Repeat, Warmup, FileWorkers and Parallel, and
// returns the field at fault.
func checkCounts(o *Config) (setting string, err error) {
	switch {
	case o.Repeat < 1:
		return "Repeat", fmt.Errorf("%d: want at least 1", o.Repeat)
	case o.Repeat > workloads.MaxRuns:
		return "Repeat", fmt.Errorf("%d: want at most %d", o.Repeat, workloads.MaxRuns)
	case o.Warmup < 0:
		return "Warmup", fmt.Errorf("%d: want 0 or more", o.Warmup)
	case o.Warmup > workloads.MaxRuns:
		return "Warmup", fmt.Errorf("%d: want at most %d", o.Warmup, workloads.MaxRuns)
	case o.FileWorkers < 0:
		return "FileWorkers", fmt.Errorf("%d: want 0 (the default, 64) or more", o.FileWorkers)
	case o.FileWorkers > maxFileWorkers:
		return "FileWorkers", fmt.Errorf("%d: want at most %d", o.FileWorkers, maxFileWorkers)
	case o.Parallel < 0:
		return "Parallel", fmt.Errorf("%d: want 0 (GOMAXPROCS) or more", o.Parallel)
	}
	return "", nil
}

// checkRuns refuses a matrix of more than workloads.MaxRuns runs.
func checkRuns(m *workloads.Matrix) error {
	configs := len(m.Configs())
	if n := configs * (m.Repeat + m.Warmup); n > workloads.MaxRuns {
		return fmt.Errorf("%d configurations x (%d repetitions + %d warm-up) is %d runs, more than the limit of %d",
			configs, m.Repeat, m.Warmup, n, workloads.MaxRuns)
	}
	return nil
}

// checkPlans checks each plan against the run limits: the plan alone
// (its fault is a job's setting: "Jobs") and at each queue depth
// ("QDs"; with jobDepths, the depth a job asks for instead, whose fault
// is the job's). It returns the field at fault.
func checkPlans(plans []*workloads.Plan, qds []int, jobDepths bool) (setting string, err error) {
	for _, p := range plans {
		if err := p.CheckLimits(); err != nil {
			return "Jobs", err
		}
	}
	for _, p := range plans {
		depths, field := qds, "QDs"
		if qd, ok := p.JobQD(); ok && jobDepths {
			depths, field = []int{qd}, "Jobs"
		}
		for _, qd := range depths {
			if err := p.CheckQD(qd); err != nil {
				return field, err
			}
		}
	}
	return "", nil
}

// checkDir checks the directory the file backend works in: it must be an
// existing directory with room for what each run writes before it starts
// (free is its free bytes, ok false when unknown).
func checkDir(dir string, plans []*workloads.Plan, free func(string) (uint64, bool)) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	avail, ok := free(dir)
	if !ok {
		return nil
	}
	for _, p := range plans {
		if need := p.SetupBytes(); need > avail {
			return fmt.Errorf("[%s] writes %s (backing file and prefill) before each run starts, more than the %s free in %s",
				p.Name(), gib(need), gib(avail), dir)
		}
	}
	return nil
}

// gib renders a byte count in GiB, to one decimal.
func gib(n uint64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// checkPolicies refuses an empty list of policies and one listed twice.
func checkPolicies(regs []model.Registration) error {
	if len(regs) == 0 {
		return errors.New("no policies")
	}
	for i, r := range regs {
		if slices.ContainsFunc(regs[:i], func(o model.Registration) bool { return o.Name == r.Name }) {
			return fmt.Errorf("policy %q listed twice", r.Name)
		}
	}
	return nil
}

// checkQDs refuses an empty list of queue depths and one listed twice;
// checkPlans checks their range.
func checkQDs(qds []int) error {
	if len(qds) == 0 {
		return errors.New("no queue depths")
	}
	for i, qd := range qds {
		if slices.Contains(qds[:i], qd) {
			return fmt.Errorf("%d listed twice", qd)
		}
	}
	return nil
}

// checkBackends checks backend names: registered ones (impl/backends),
// none twice.
func checkBackends(names []string) error {
	if len(names) == 0 {
		return errors.New("no backends")
	}
	for i, b := range names {
		if _, err := backends.Lookup(b); err != nil {
			return err
		}
		if slices.Contains(names[:i], b) {
			return fmt.Errorf("backend %q listed twice", b)
		}
	}
	return nil
}
