package results

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteJobFigures writes, for each configuration whose workload is a
// group of jobs running together (records with Jobs), one line per job:
// the medians over the configuration's repetitions of its requests per
// second, MiB per second and 99th-percentile latency, and of when it
// started. Configurations come in the order of order (Summarize's), and
// it writes nothing when no record has jobs.
func WriteJobFigures(w io.Writer, runs []Record, order []Config) error {
	byConfig := map[Config][]*Record{}
	for i := range runs {
		r := &runs[i]
		if len(r.Jobs) > 0 && r.Error == "" {
			byConfig[r.Config()] = append(byConfig[r.Config()], r)
		}
	}
	if len(byConfig) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "jobs running together (medians)\tpolicy\tqd\tjob\tjob qd\tstart s\tops/s\tMiB/s\tp99 us\t\n")
	for _, c := range order {
		rs := byConfig[c]
		if len(rs) == 0 {
			continue
		}
		for k, j := range rs[0].Jobs {
			var start, ops, mib, p99 []float64
			for _, r := range rs {
				if k < len(r.Jobs) && r.Jobs[k].Name == j.Name {
					f := r.Jobs[k]
					start, ops, mib, p99 = append(start, f.StartSecs), append(ops, f.OpsPerSec), append(mib, f.MiBPerSec), append(p99, f.LatP99Us)
				}
			}
			fmt.Fprintf(tw, "%s/%s\t%s\t%d\t%s\t%d\t%.4f\t%.0f\t%.1f\t%.1f\t\n", c.Workload, c.Device, c.Policy, c.QD, j.Name, j.QD,
				statOf(start).Median, statOf(ops).Median, statOf(mib).Median, statOf(p99).Median)
		}
	}
	return tw.Flush()
}
