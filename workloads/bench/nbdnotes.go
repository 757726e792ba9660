package bench

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

// What runbench nbd reports beyond the ordinary tables: each server's CPU
// time per request, and the ratios of our best safe policy to each
// qemu-nbd baseline, by median and round by round. Both come from the
// records alone, so runbench report DIR writes the same notes again.

// nbdCPUPerRequestUs returns the server's CPU time (user and system)
// over a run, in microseconds per request: per write and the one flush.
// (The reads at the end of the iolog, a few of them served, are in the
// time but not in the count.)
func nbdCPUPerRequestUs(r *results.Record) float64 {
	return (r.CPUUserSecs + r.CPUSysSecs) * 1e6 / float64(r.Ops+1)
}

// nbdTargetRuns are one target's successful runs, with the medians the
// comparison shows.
type nbdTargetRuns struct {
	name string
	// byRound holds the runs by repetition.
	byRound map[int]*results.Record
	// iops, cpuUs, p50Us and p99Us are medians over the runs; iopsMin
	// and iopsMax the spread of iops.
	iops, iopsMin, iopsMax, cpuUs, p50Us, p99Us float64
	// trusted: a policy that claims to be safe and showed no problem (no
	// failed run, no corruption, no leak).
	trusted bool
}

// nbdRatio compares the best safe policy with one baseline.
type nbdRatio struct {
	baseline string
	// median is the ratio of the medians; roundMedian and roundMin the
	// median and the smallest of the rounds' own ratios, over rounds
	// rounds (those in which both ran).
	median, roundMedian, roundMin float64
	rounds                        int
}

// nbdComparison is runbench nbd's comparison of the runs on the NBD
// backend.
type nbdComparison struct {
	targets []*nbdTargetRuns // policies in registry order, then baselines
	best    *nbdTargetRuns   // the trusted policy of most IOPS; nil if none
	ratios  []nbdRatio
}

// compareNBD compares the runs of runs on the NBD backend.
func compareNBD(runs []results.Record) nbdComparison {
	var c nbdComparison
	index := map[string]*nbdTargetRuns{}
	bad := map[string]bool{}
	for i := range runs {
		r := &runs[i]
		if r.Backend != results.BackendNBD {
			continue
		}
		t := index[r.Policy]
		if t == nil {
			t = &nbdTargetRuns{name: r.Policy, byRound: map[int]*results.Record{}}
			index[r.Policy] = t
			c.targets = append(c.targets, t)
		}
		if r.Error != "" || r.Unsafe() || r.CheckLeaks > 0 {
			bad[r.Policy] = true
		}
		if r.Error == "" {
			t.byRound[r.Repeat] = r
		}
	}
	rank := map[string]int{}
	for i, n := range append(model.Names(), results.NBDBaselineNames()...) {
		rank[n] = i + 1
	}
	slices.SortStableFunc(c.targets, func(a, b *nbdTargetRuns) int { return cmp.Compare(rank[a.name], rank[b.name]) })
	for _, t := range c.targets {
		var iops, cpu, p50, p99 []float64
		for _, r := range t.byRound {
			iops = append(iops, r.OpsPerSec)
			cpu = append(cpu, nbdCPUPerRequestUs(r))
			p50, p99 = append(p50, r.LatP50Us), append(p99, r.LatP99Us)
		}
		if len(iops) == 0 {
			continue
		}
		t.iops, t.cpuUs, t.p50Us, t.p99Us = medianOf(iops), medianOf(cpu), medianOf(p50), medianOf(p99)
		t.iopsMin, t.iopsMax = slices.Min(iops), slices.Max(iops)
		reg, err := model.Lookup(t.name)
		t.trusted = err == nil && reg.Expect == model.Safe && !bad[t.name]
		if t.trusted && (c.best == nil || t.iops > c.best.iops) {
			c.best = t
		}
	}
	if c.best == nil {
		return c
	}
	for _, t := range c.targets {
		if !results.IsNBDBaseline(t.name) || t.iops <= 0 {
			continue
		}
		rt := nbdRatio{baseline: t.name, median: c.best.iops / t.iops}
		var per []float64
		for round, b := range t.byRound {
			if r, ok := c.best.byRound[round]; ok && b.OpsPerSec > 0 {
				per = append(per, r.OpsPerSec/b.OpsPerSec)
			}
		}
		if len(per) > 0 {
			rt.roundMedian, rt.roundMin, rt.rounds = medianOf(per), slices.Min(per), len(per)
		}
		c.ratios = append(c.ratios, rt)
	}
	return c
}

// medianOf returns the median of xs (not empty), the mean of the middle
// two for an even count.
func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	return (s[(n-1)/2] + s[n/2]) / 2
}

// ratioLine says how the best safe policy compares with the baselines.
func (c *nbdComparison) ratioLine() string {
	if c.best == nil || len(c.ratios) == 0 {
		return ""
	}
	var med, rounds []string
	for _, r := range c.ratios {
		med = append(med, fmt.Sprintf("%.2fx %s", r.median, r.baseline))
		if r.rounds > 0 {
			rounds = append(rounds, fmt.Sprintf("%.2fx (worst %.2fx) %s", r.roundMedian, r.roundMin, r.baseline))
		}
	}
	s := fmt.Sprintf("best safe policy %s: %s by median IOPS", c.best.name, strings.Join(med, ", "))
	if len(rounds) > 0 {
		s += fmt.Sprintf("; the median of the rounds' own ratios %s, over %d rounds", strings.Join(rounds, ", "), c.ratios[0].rounds)
	}
	return s
}

// cpuLine says each server's CPU time per request.
func (c *nbdComparison) cpuLine() string {
	var parts []string
	for _, t := range c.targets {
		if t.iops > 0 {
			parts = append(parts, fmt.Sprintf("%s %.1f us", t.name, t.cpuUs))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "server CPU time (user and system) per request, median: " + strings.Join(parts, ", ")
}

// writeNBDComparison prints the comparison of res's NBD runs: a table of
// each target's median IOPS (with its spread), latency percentiles and
// server CPU time per request, then the best safe policy's ratios.
func writeNBDComparison(w io.Writer, res *results.Results) error {
	c := compareNBD(res.Runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\truns\tIOPS\tmin-max\tp50 us\tp99 us\tCPU us/req\t\n")
	for _, t := range c.targets {
		if t.iops == 0 {
			fmt.Fprintf(tw, "%s\t0\tFAILED\t\t\t\t\t\n", t.name)
			continue
		}
		name := t.name
		if t == c.best {
			name += " *"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s-%s\t%.0f\t%.0f\t%.1f\t\n", name, len(t.byRound), t.iops, results.Human(t.iopsMin), results.Human(t.iopsMax), t.p50Us, t.p99Us, t.cpuUs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if line := c.ratioLine(); line != "" {
		printWrapped(w, "\n"+line+" (* in the table)")
	}
	return nil
}

// nbdNotes are the report's notes on res's NBD runs: how they were made,
// the best safe policy's ratios and each server's CPU time per request;
// nil without NBD runs.
func nbdNotes(res *results.Results) []string {
	if !slices.ContainsFunc(res.Runs, func(r results.Record) bool { return r.Backend == results.BackendNBD }) {
		return nil
	}
	p := &res.Provenance
	notes := []string{fmt.Sprintf("runbench nbd on %s, %s: fio's nbd engine replays one iolog a round over a Unix socket at queue depth %d (%s), against our image served in-process as qedimg serve serves it, and against qemu-nbd; a fresh image each run; the targets interleaved, in a rotated order each round.",
		p.FileSystem, p.CacheMode, res.Runs[0].QD, strings.TrimPrefix(firstLine(p.Jobs[NBDWorkload]), "; "))}
	c := compareNBD(res.Runs)
	if line := c.ratioLine(); line != "" {
		notes = append(notes, strings.ToUpper(line[:1])+line[1:]+".")
	}
	if line := c.cpuLine(); line != "" {
		notes = append(notes, strings.ToUpper(line[:1])+line[1:]+" (each server's CPU time over the run, over the writes and the flush; ours is runbench's own process, qemu-nbd's from /proc).")
	}
	return notes
}
