package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/qedharness/qedharness/workloads"
)

// maxFileWorkers is the largest -file-workers: an io_uring holds at most
// 4096 I/Os, and with threads each worker is a goroutine.
const maxFileWorkers = 4096

// checkEmptyFlags refuses a flag given with an empty value (-qd "",
// -policies ""): leaving a flag out gives its default, and an empty value
// is more likely an unset shell variable than a choice.
func checkEmptyFlags(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err == nil && strings.TrimSpace(f.Value.String()) == "" {
			err = usageError{fmt.Errorf("-%s: empty value (leave the flag out for its default)", f.Name)}
		}
	})
	return err
}

// flagGiven reports whether the command line set the flag name.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// parseInts parses a comma-separated list of distinct whole numbers in
// [1, most].
func parseInts(s string, most int) ([]int, error) {
	fields, err := workloads.SplitList(s)
	if err != nil {
		return nil, err
	}
	var out []int
	seen := map[int]bool{}
	for _, f := range fields {
		n, err := strconv.Atoi(f)
		switch {
		case errors.Is(err, strconv.ErrRange) || (err == nil && n > most):
			return nil, fmt.Errorf("%q is more than the largest, %d", f, most)
		case err != nil || n < 1:
			return nil, fmt.Errorf("%q is not a positive whole number", f)
		}
		if seen[n] {
			return nil, fmt.Errorf("%d listed twice", n)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// checkCounts checks -repeat, -warmup, -file-workers and -parallel.
func checkCounts(o *options) (flagName string, err error) {
	switch {
	case o.repeat < 1:
		return "repeat", fmt.Errorf("%d: want at least 1", o.repeat)
	case o.repeat > workloads.MaxRuns:
		return "repeat", fmt.Errorf("%d: want at most %d", o.repeat, workloads.MaxRuns)
	case o.warmup < 0:
		return "warmup", fmt.Errorf("%d: want 0 or more", o.warmup)
	case o.warmup > workloads.MaxRuns:
		return "warmup", fmt.Errorf("%d: want at most %d", o.warmup, workloads.MaxRuns)
	case o.fileWorkers < 0:
		return "file-workers", fmt.Errorf("%d: want 0 (the default, 64) or more", o.fileWorkers)
	case o.fileWorkers > maxFileWorkers:
		return "file-workers", fmt.Errorf("%d: want at most %d", o.fileWorkers, maxFileWorkers)
	case o.parallel < 0:
		return "parallel", fmt.Errorf("%d: want 0 (GOMAXPROCS) or more", o.parallel)
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
// (its fault is a -set or -job setting) and at each queue depth (-qd).
func checkPlans(plans []*workloads.Plan, qds []int) (flagName string, err error) {
	for _, p := range plans {
		if err := p.CheckLimits(); err != nil {
			return "set", err
		}
	}
	for _, p := range plans {
		for _, qd := range qds {
			if err := p.CheckQD(qd); err != nil {
				return "qd", err
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
