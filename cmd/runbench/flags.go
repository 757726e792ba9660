package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/qedharness/qedharness/workloads"
)

// multiFlag is a repeatable string flag.
type multiFlag []string

// String joins the values given.
func (m *multiFlag) String() string { return strings.Join(*m, " ") }

// Set adds one value.
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

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

// loadJobs reads the job file, or the standard jobs for "". A job file
// may include files and replay iologs (relative to its directory) and
// expand environment variables; the fio keys it set that runbench
// ignores are named, with why, in one line on stderr.
func loadJobs(path string, stderr io.Writer) ([]workloads.Job, error) {
	if path == "" {
		return workloads.StandardJobs()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("-job: %w", err)}
	}
	defer f.Close()
	open := func(name string) (io.ReadCloser, error) { return os.Open(name) }
	jf, err := workloads.ParseJobFileWith(f, path, workloads.JobFileOptions{Open: open, LookupEnv: os.LookupEnv})
	if err != nil {
		return nil, usageError{fmt.Errorf("-job: %w", err)}
	}
	if line := jf.IgnoredLine(); line != "" {
		fmt.Fprintf(stderr, "runbench: -job %s: %s\n", path, line)
	}
	for _, line := range jf.Renamed {
		fmt.Fprintf(stderr, "runbench: -job %s\n", line)
	}
	for _, line := range jf.Notes {
		fmt.Fprintf(stderr, "runbench: -job %s\n", line)
	}
	_, notes := workloads.Groups(jf.Jobs)
	for _, line := range notes {
		fmt.Fprintf(stderr, "runbench: -job %s: %s\n", path, line)
	}
	return jf.Jobs, nil
}

// parseSubcommand parses a subcommand's flags, which take no arguments.
// It returns the exit status to stop with (exitHolds after -h, exitUsage
// for bad flags or a stray argument) and false, or 0 and true to go on.
func parseSubcommand(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitHolds, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return 0, true
}

// wholeCommand returns a shard's command line without its -shard and
// -out flags (each as "-flag value" or "-flag=value", with one dash or
// two), so that it runs the whole matrix or exploration: what a merge
// records.
func wholeCommand(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		name := strings.TrimLeft(args[i], "-")
		if !strings.HasPrefix(args[i], "-") || name == "" {
			out = append(out, args[i])
			continue
		}
		flag, _, hasValue := strings.Cut(name, "=")
		if flag == "shard" || flag == "out" {
			if !hasValue {
				i++ // the value is the next argument
			}
			continue
		}
		out = append(out, args[i])
	}
	return out
}
