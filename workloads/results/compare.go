package results

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// Metric is a figure of a record that Compare can compare.
type Metric struct {
	// Name is the record's JSON field ("ops_per_sec").
	Name string
	// HigherIsBetter says which direction is an improvement.
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

// Delta compares one configuration between two result sets.
type Delta struct {
	Config Config
	// Old and New summarize the metric over each side's repetitions.
	Old, New Stat
	// Ratio is New.Median / Old.Median (NaN when Old's median is 0).
	Ratio float64
	// Significant is true when the two min-max ranges do not overlap: the
	// difference exceeds the spread of the repetitions. With 3 repetitions
	// a side this is the strongest claim the data supports (a rank test
	// cannot reach p < 0.05 with 3 against 3).
	Significant bool
	// Better is true for a significant improvement, false otherwise.
	Better bool
	// OldSafety and NewSafety describe each side's check and
	// linearizability when they differ ("clean"/"1449 leaks").
	OldSafety, NewSafety string
}

// Compare pairs the configurations of old and new and compares metric m.
// It returns the deltas in table order, and the configurations found on
// one side only.
func Compare(old, new []Record, m Metric) (deltas []Delta, onlyOld, onlyNew []Config) {
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
	for _, c := range oorder {
		n, ok := nv[c]
		if !ok {
			onlyOld = append(onlyOld, c)
			continue
		}
		d := Delta{Config: c, Old: statOf(ov[c]), New: statOf(n)}
		d.Ratio = math.NaN()
		if d.Old.Median != 0 {
			d.Ratio = d.New.Median / d.Old.Median
		}
		d.Significant = d.New.Min > d.Old.Max || d.New.Max < d.Old.Min
		d.Better = d.Significant && (d.New.Median > d.Old.Median) == m.HigherIsBetter
		if os[c] != ns[c] {
			d.OldSafety, d.NewSafety = os[c], ns[c]
		}
		deltas = append(deltas, d)
	}
	for _, c := range norder {
		if _, ok := ov[c]; !ok {
			onlyNew = append(onlyNew, c)
		}
	}
	slices.SortStableFunc(deltas, func(a, b Delta) int { return compareConfigs(a.Config, b.Config) })
	return deltas, onlyOld, onlyNew
}

// WriteComparison writes deltas as a benchstat-like table: each side's
// median with its min-max, the ratio, and "faster"/"slower" (or "better"/
// "worse" for other metrics) only when the difference exceeds the spread,
// "~" otherwise.
func WriteComparison(w io.Writer, deltas []Delta, onlyOld, onlyNew []Config, m Metric) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workload\tdevice\tqd\tpolicy\told %s\tnew %s\tratio\t\tsafety\t\n", m.Name, m.Name)
	up, down := "better", "worse"
	if m.Name == "ops_per_sec" || m.Name == "mib_per_sec" {
		up, down = "faster", "slower"
	}
	var better, worse int
	for _, d := range deltas {
		c := d.Config
		verdict := "~"
		if d.Significant {
			if d.Better {
				verdict, better = up, better+1
			} else {
				verdict, worse = down, worse+1
			}
		}
		ratio := "-"
		if !math.IsNaN(d.Ratio) {
			ratio = fmt.Sprintf("%.3fx", d.Ratio)
		}
		safety := ""
		if d.OldSafety != "" {
			safety = d.OldSafety + " -> " + d.NewSafety
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s (%s-%s)\t%s (%s-%s)\t%s\t%s\t%s\t\n", c.Workload, c.DeviceLabel(), c.QD, c.Policy,
			sig3(d.Old.Median), sig3(d.Old.Min), sig3(d.Old.Max), sig3(d.New.Median), sig3(d.New.Min), sig3(d.New.Max), ratio, verdict, safety)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d configurations compared: %d %s, %d %s, %d within the spread of repetitions.\n", len(deltas), better, up, worse, down, len(deltas)-better-worse)
	for _, c := range onlyOld {
		fmt.Fprintf(w, "only in old: %s\n", c.Name())
	}
	for _, c := range onlyNew {
		fmt.Fprintf(w, "only in new: %s\n", c.Name())
	}
	return nil
}
