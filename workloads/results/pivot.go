package results

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WritePivot writes, per backend and device, one table at the deepest
// queue depth run (each workload's own deepest, when workloads ran at
// different depths, as jobs that set their iodepth do; the row then
// names it): a row per workload, a column per policy (baselines last),
// each cell the median ops/s and its ratio to baseline's; "!"
// marks a configuration with a problem (not linearizable, corrupt or
// leaking). It fits a terminal where WriteTable does not.
func WritePivot(w io.Writer, sums []Summary, baseline string) error {
	type group struct {
		label     string
		qd        map[string]int // per workload
		workloads []string
		policies  []string
		cells     map[[2]string]Summary
	}
	var groups []*group
	byLabel := map[string]*group{}
	for _, s := range sums {
		label := s.Config.Backend + ":" + s.Config.DeviceLabel()
		g := byLabel[label]
		if g == nil {
			g = &group{label: s.Config.DeviceLabel(), qd: map[string]int{}, cells: map[[2]string]Summary{}}
			byLabel[label] = g
			groups = append(groups, g)
		}
		g.qd[s.Config.Workload] = max(g.qd[s.Config.Workload], s.Config.QD)
	}
	for _, s := range sums {
		g := byLabel[s.Config.Backend+":"+s.Config.DeviceLabel()]
		if s.Config.QD != g.qd[s.Config.Workload] {
			continue
		}
		if !slices.Contains(g.workloads, s.Config.Workload) {
			g.workloads = append(g.workloads, s.Config.Workload)
		}
		if !slices.Contains(g.policies, s.Config.Policy) {
			g.policies = append(g.policies, s.Config.Policy)
		}
		g.cells[[2]string{s.Config.Workload, s.Config.Policy}] = s
	}
	for i, g := range groups {
		if i > 0 {
			fmt.Fprintln(w)
		}
		depths := map[int]bool{}
		for _, wl := range g.workloads {
			depths[g.qd[wl]] = true
		}
		if len(depths) == 1 {
			fmt.Fprintf(w, "ops/s at queue depth %d, %s (ratio to %s; ! a problem: see the full table):\n", g.qd[g.workloads[0]], g.label, baseline)
		} else {
			fmt.Fprintf(w, "ops/s at each workload's deepest queue depth, %s (ratio to %s; ! a problem: see the full table):\n", g.label, baseline)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "workload\t%s\t\n", strings.Join(g.policies, "\t"))
		for _, wl := range g.workloads {
			row := []string{wl}
			if len(depths) > 1 {
				row[0] = fmt.Sprintf("%s (qd %d)", wl, g.qd[wl])
			}
			base, ok := g.cells[[2]string{wl, baseline}]
			for _, p := range g.policies {
				s, have := g.cells[[2]string{wl, p}]
				switch {
				case !have:
					row = append(row, "-")
				case s.Runs == 0:
					row = append(row, "ERROR")
				default:
					cell := Human(s.OpsPerSec.Median)
					if ok && base.Runs > 0 && base.OpsPerSec.Median > 0 {
						cell += fmt.Sprintf(" %.2fx", s.OpsPerSec.Median/base.OpsPerSec.Median)
					}
					if s.Unsafe || s.Leaked {
						cell += "!"
					}
					row = append(row, cell)
				}
			}
			fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
