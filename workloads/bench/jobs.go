package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/workloads"
)

// selectJobs returns a copy of the named jobs, in the order named (nil
// names: every job); a name listed twice or not found is an error. A
// group's workload name (JOB+JOB, workloads.GroupName) names its jobs.
func selectJobs(jobs []workloads.Job, names []string) ([]workloads.Job, error) {
	if names == nil {
		return append([]workloads.Job(nil), jobs...), nil
	}
	known := map[string]bool{}
	for _, j := range jobs {
		known[j.Name] = true
	}
	var expanded []string
	for _, name := range names {
		if parts := strings.Split(name, "+"); !known[name] && len(parts) > 1 && !slices.ContainsFunc(parts, func(p string) bool { return !known[p] }) {
			expanded = append(expanded, parts...)
			continue
		}
		expanded = append(expanded, name)
	}
	names = expanded
	var out []workloads.Job
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			return nil, fmt.Errorf("workload %q listed twice", name)
		}
		seen[name] = true
		found := false
		for _, j := range jobs {
			if j.Name == name {
				out = append(out, j)
				found = true
				break
			}
		}
		if !found {
			names := make([]string, len(jobs))
			for i, j := range jobs {
				names[i] = j.Name
			}
			return nil, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// applySettings applies "key=value,key=value" to every job; an empty
// setting, key or value is an error. An element with no "=" continues
// the value before it, as fio's lists do: "bs=4k,64k,ops=100" sets bs
// to "4k,64k" (reads 4k, writes 64k).
func applySettings(jobs []workloads.Job, s string) error {
	elems, err := workloads.SplitList(s)
	if err != nil {
		return err
	}
	var settings []string
	for _, e := range elems {
		if n := len(settings); n > 0 && !strings.Contains(e, "=") {
			settings[n-1] += "," + e
			continue
		}
		settings = append(settings, e)
	}
	for _, kv := range settings {
		k, v, err := workloads.ParseSetting(kv)
		if err != nil {
			return err
		}
		for i := range jobs {
			if err := jobs[i].Set(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteKeys lists the job keys Config.Settings and job files take, one
// a line with its aliases, default and help, as runbench -keys prints
// them.
func WriteKeys(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "Job keys (job file lines key=value, or -set key=value):\n\n"); err != nil {
		return err
	}
	for _, k := range workloads.Keys() {
		name := k.Name
		if len(k.Aliases) > 0 {
			name += " (" + strings.Join(k.Aliases, ", ") + ")"
		}
		if _, err := fmt.Fprintf(w, "  %-28s default %-8s %s\n", name, k.Default, k.Help); err != nil {
			return err
		}
	}
	return nil
}
