package results

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchmath"
)

// Metric is a figure of a record that Compare can compare.
type Metric struct {
	// Name is the record's JSON field ("ops_per_sec").
	Name string
	// HigherIsBetter says which direction is an improvement: a higher
	// ops_per_sec is better, a higher latency worse.
	HigherIsBetter bool
	get            func(r *Record) float64
}

// Metrics returns the metrics Compare accepts.
func Metrics() []Metric {
	return []Metric{
		{"ops_per_sec", true, func(r *Record) float64 { return r.OpsPerSec }},
		{"mib_per_sec", true, func(r *Record) float64 { return r.MiBPerSec }},
		{"lat_p50_us", false, func(r *Record) float64 { return r.LatP50Us }},
		{"lat_p99_us", false, func(r *Record) float64 { return r.LatP99Us }},
		{"lat_p999_us", false, func(r *Record) float64 { return r.LatP999Us }},
		{"host_ios_per_op", false, func(r *Record) float64 { return r.HostIOsPerOp }},
		{"meta_bytes", false, func(r *Record) float64 { return float64(r.MetaBytes) }},
	}
}

// LookupMetric returns the metric called name.
func LookupMetric(name string) (Metric, error) {
	var names []string
	for _, m := range Metrics() {
		if m.Name == name {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return Metric{}, fmt.Errorf("unknown metric %q (known: %s)", name, strings.Join(names, ", "))
}

// Confidence is the level of the confidence interval Compare gives
// around each side's median, benchstat's default.
const Confidence = 0.95

// Delta compares one configuration between two result sets on one
// metric, with benchstat's statistics (benchmath.AssumeNothing): each
// side's median with its confidence interval, and a Mann-Whitney U test
// at alpha 0.05 (benchmath.DefaultThresholds).
type Delta struct {
	Config Config
	// Metric is the figure compared.
	Metric Metric
	// Old and New summarize each side's repetitions: Center is the
	// median, Lo and Hi bound its Confidence interval (infinite with
	// fewer than 6 repetitions), Warnings say why.
	Old, New benchmath.Summary
	// Test is the Mann-Whitney U test of the two sides' repetitions: its
	// p-value, the repetitions on each side (N1 old, N2 new), alpha, and
	// warnings (too few repetitions to ever reach alpha, all values
	// equal).
	Test benchmath.Comparison
	// Ratio is New.Center / Old.Center: 1 when both are 0, +Inf when
	// only Old's is.
	Ratio float64
	// Change is the percent change of the median, (Ratio-1)*100.
	Change float64
	// Significant is true when Test.P <= Test.Alpha, so that the
	// difference is unlikely to be noise and benchstat prints it rather
	// than "~", and the medians differ (else it has no direction).
	Significant bool
	// Better and Worse are true for a significant change in the
	// metric's good and bad direction (Metric.HigherIsBetter).
	Better, Worse bool
	// OldSafety and NewSafety describe each side's check and
	// linearizability when they differ ("clean"/"1449 leaks").
	OldSafety, NewSafety string
}

// Comparison is one metric compared between two result sets.
type Comparison struct {
	Metric Metric
	// Deltas are the configurations both sides ran, in table order.
	Deltas []Delta
	// OnlyOld and OnlyNew are the configurations one side ran alone.
	OnlyOld, OnlyNew []Config
}

// Compare pairs the configurations of old and new and compares metric m
// over their repetitions (runs that failed are left out).
func Compare(old, new []Record, m Metric) Comparison {
	group := func(rs []Record) (map[Config][]float64, map[Config]string, []Config) {
		vals := map[Config][]float64{}
		safety := map[Config]string{}
		var order []Config
		for i := range rs {
			r := &rs[i]
			if r.Error != "" {
				continue
			}
			c := r.Config()
			if _, ok := vals[c]; !ok {
				order = append(order, c)
			}
			vals[c] = append(vals[c], m.get(r))
			s := r.Check
			if r.Linearizable != nil && !*r.Linearizable {
				s += ", not linearizable"
			}
			if safety[c] == "" || safety[c] == "clean" {
				safety[c] = s
			}
		}
		return vals, safety, order
	}
	ov, os, oorder := group(old)
	nv, ns, norder := group(new)
	c := Comparison{Metric: m}
	for _, cfg := range oorder {
		n, ok := nv[cfg]
		if !ok {
			c.OnlyOld = append(c.OnlyOld, cfg)
			continue
		}
		d := compareSamples(cfg, m, ov[cfg], n)
		if os[cfg] != ns[cfg] {
			d.OldSafety, d.NewSafety = os[cfg], ns[cfg]
		}
		c.Deltas = append(c.Deltas, d)
	}
	for _, cfg := range norder {
		if _, ok := ov[cfg]; !ok {
			c.OnlyNew = append(c.OnlyNew, cfg)
		}
	}
	slices.SortStableFunc(c.Deltas, func(a, b Delta) int { return compareConfigs(a.Config, b.Config) })
	return c
}

// compareSamples compares one configuration's old and new values of m,
// which it reorders.
func compareSamples(c Config, m Metric, old, new []float64) Delta {
	th := &benchmath.DefaultThresholds
	os, ns := benchmath.NewSample(old, th), benchmath.NewSample(new, th)
	d := Delta{Config: c, Metric: m,
		Old:  benchmath.AssumeNothing.Summary(os, Confidence),
		New:  benchmath.AssumeNothing.Summary(ns, Confidence),
		Test: benchmath.AssumeNothing.Compare(os, ns),
	}
	switch o, n := d.Old.Center, d.New.Center; {
	case o == n:
		d.Ratio = 1
	case o == 0:
		d.Ratio = math.Inf(1)
	default:
		d.Ratio = n / o
	}
	d.Change = (d.Ratio - 1) * 100
	d.Significant = d.Test.P <= d.Test.Alpha && d.Ratio != 1
	up := d.Ratio > 1
	d.Better = d.Significant && up == m.HigherIsBetter
	d.Worse = d.Significant && !d.Better
	return d
}

// Regressions returns the significant changes in the metric's bad
// direction by more than pct percent of the old median (a drop of more
// than pct% in ops_per_sec, a rise of more than pct% in a latency), in
// table order.
func (c *Comparison) Regressions(pct float64) []Delta {
	var out []Delta
	for _, d := range c.Deltas {
		if d.Worse && math.Abs(d.Change) > pct {
			out = append(out, d)
		}
	}
	return out
}

// Geomean is the geometric mean of the medians of a set of
// configurations on each side, as benchstat's geomean row.
type Geomean struct {
	// Policy names the policy whose configurations these are; "" is
	// every policy.
	Policy string
	// N counts the configurations in the means: those both sides ran
	// whose medians are both above 0 (a geometric mean of a 0 is 0,
	// whatever the others do).
	N int
	// Old and New are the means; Ratio is New / Old, the geometric mean
	// of the configurations' ratios. All three are NaN when N is 0.
	Old, New, Ratio float64
}

// Geomeans returns the geometric means per policy, in registry order,
// then over every policy (Policy ""). Unlike a delta's, the geomean's
// change carries no test: it says how much, not whether it is noise.
func (c *Comparison) Geomeans() []Geomean {
	type sums struct{ n, old, new float64 }
	per := map[string]*sums{}
	var all sums
	for _, d := range c.Deltas {
		if d.Old.Center <= 0 || d.New.Center <= 0 {
			continue
		}
		s := per[d.Config.Policy]
		if s == nil {
			s = &sums{}
			per[d.Config.Policy] = s
		}
		for _, t := range []*sums{s, &all} {
			t.n++
			t.old += math.Log(d.Old.Center)
			t.new += math.Log(d.New.Center)
		}
	}
	mean := func(p string, s sums) Geomean {
		g := Geomean{Policy: p, N: int(s.n), Old: math.NaN(), New: math.NaN(), Ratio: math.NaN()}
		if s.n > 0 {
			g.Old, g.New = math.Exp(s.old/s.n), math.Exp(s.new/s.n)
			g.Ratio = math.Exp((s.new - s.old) / s.n)
		}
		return g
	}
	var out []Geomean
	for p, s := range per {
		out = append(out, mean(p, *s))
	}
	slices.SortFunc(out, func(a, b Geomean) int {
		return cmp.Or(cmp.Compare(policyRank(a.Policy), policyRank(b.Policy)), cmp.Compare(a.Policy, b.Policy))
	})
	return append(out, mean("", all))
}

// Write writes the comparison as benchstat would show it, one row per
// configuration: each side's median ± its confidence interval (as a
// percentage of the median), the change ("~" when not significant),
// "faster"/"slower" (or "better"/"worse") for a significant one, the
// p-value and repetitions, and the safety when it differs; then a count,
// the geomeans per policy and the statistics' warnings. onlyChanged
// leaves out the rows without a significant change whose safety is the
// same on both sides (the count says how many).
func (c *Comparison) Write(w io.Writer, onlyChanged bool) error {
	m := c.Metric
	up, down := "better", "worse"
	if m.HigherIsBetter {
		up, down = "faster", "slower"
	}
	fmt.Fprintf(w, "%s: median ± %g%% confidence interval; change when the Mann-Whitney U test gives p <= %g, else ~\n",
		m.Name, Confidence*100, benchmath.DefaultThresholds.CompareAlpha)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workload\tdevice\tqd\tpolicy\told\tnew\tchange\t\t\tsafety\t\n")
	var better, worse, hidden int
	notes := map[string]int{}
	var noteOrder []string
	note := func(errs ...[]error) {
		seen := map[string]bool{}
		for _, es := range errs {
			for _, e := range es {
				s := e.Error()
				if seen[s] {
					continue
				}
				seen[s] = true
				if notes[s] == 0 {
					noteOrder = append(noteOrder, s)
				}
				notes[s]++
			}
		}
	}
	for _, d := range c.Deltas {
		note(d.Old.Warnings, d.New.Warnings, d.Test.Warnings)
		verdict := ""
		switch {
		case d.Better:
			verdict, better = up, better+1
		case d.Worse:
			verdict, worse = down, worse+1
		}
		safety := ""
		if d.OldSafety != "" {
			safety = d.OldSafety + " -> " + d.NewSafety
		}
		if onlyChanged && verdict == "" && safety == "" {
			hidden++
			continue
		}
		cf := d.Config
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s ± %s\t%s ± %s\t%s\t%s\t(%s)\t%s\t\n", cf.Workload, cf.DeviceLabel(), cf.QD, cf.Policy,
			sig3(d.Old.Center), d.Old.PctRangeString(), sig3(d.New.Center), d.New.PctRangeString(), formatChange(d), verdict, d.Test, safety)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d configurations compared: %d %s, %d %s, %d without a significant change", len(c.Deltas), better, up, worse, down, len(c.Deltas)-better-worse)
	if hidden > 0 {
		fmt.Fprintf(w, " (%d of them not shown)", hidden)
	}
	fmt.Fprintln(w, ".")
	if gs := c.Geomeans(); gs[len(gs)-1].N > 1 {
		fmt.Fprintf(w, "geomean of the medians (configurations with both medians above 0):\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "policy\tconfigurations\told\tnew\tchange\t\n")
		for _, g := range gs {
			p := g.Policy
			if p == "" {
				p = "all"
			}
			ch := "-"
			if g.N > 0 {
				ch = fmt.Sprintf("%+.2f%%", (g.Ratio-1)*100)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", p, g.N, sig3(g.Old), sig3(g.New), ch)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, s := range noteOrder {
		fmt.Fprintf(w, "note: %s (%d of %d configurations)\n", s, notes[s], len(c.Deltas))
	}
	for _, cf := range c.OnlyOld {
		fmt.Fprintf(w, "only in old: %s\n", cf.Name())
	}
	for _, cf := range c.OnlyNew {
		fmt.Fprintf(w, "only in new: %s\n", cf.Name())
	}
	return nil
}

// formatChange renders d's change as benchstat does: "~" when not
// significant, else the signed percentage ("?" from a zero median).
func formatChange(d Delta) string {
	if !d.Significant {
		return "~"
	}
	if math.IsInf(d.Change, 0) {
		return "?"
	}
	return fmt.Sprintf("%+.2f%%", d.Change)
}
