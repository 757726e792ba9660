package results

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// runsOf returns one record per value of ops, the repetitions of one
// configuration, with a p99 latency of 1e6/ops.
func runsOf(pol string, qd int, check string, ops ...float64) []Record {
	var rs []Record
	for i, o := range ops {
		rs = append(rs, Record{Policy: pol, Workload: "w", QD: qd, Backend: "sim", Device: "nvme", Repeat: i + 1,
			OpsPerSec: o, LatP99Us: 1e6 / o, Check: check})
	}
	return rs
}

func scaled(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}

func mustMetric(t *testing.T, name string) Metric {
	t.Helper()
	m, err := LookupMetric(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCompareSignificance compares synthetic repetitions whose answer is
// known from the Mann-Whitney U test's exact distribution: with n old
// and n new values all apart, p = 2/C(2n, n).
func TestCompareSignificance(t *testing.T) {
	base := []float64{100, 101, 99, 102, 98}
	for _, tc := range []struct {
		name       string
		old, new   []float64
		sig, worse bool
		change     float64 // percent, of the medians
		maxP       float64 // the p-value is at most this (0: not checked)
	}{
		{"20% faster, 5 a side", base, scaled(base, 1.2), true, false, 20, 0.008},
		{"20% slower, 5 a side", base, scaled(base, 0.8), true, true, -20, 0.008},
		{"identical", base, base, false, false, 0, 0},
		{"all values equal", []float64{7, 7, 7, 7, 7}, []float64{7, 7, 7, 7, 7}, false, false, 0, 0},
		{"20% faster, 3 a side: p >= 0.1, never significant", base[:3], scaled(base[:3], 1.2), false, false, 20, 0},
		{"20% faster, 4 a side: p = 0.029", base[:4], scaled(base[:4], 1.2), true, false, 20, 0.029},
		{"20% faster, 5 new against 3 old: p = 0.036", base[:3], scaled(base, 1.2), true, false, 20, 0.036},
		{"2 of 25 pairs out of order: p = 0.032", []float64{10, 11, 12, 13, 14}, []float64{12.5, 14.5, 15, 16, 17}, true, false, 25, 0.032},
		{"3 of 25 pairs out of order: p = 0.056", []float64{10, 11, 12, 13, 14}, []float64{12.5, 13.5, 15, 16, 17}, false, false, 25, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(runsOf("overlap", 8, "clean", tc.old...), runsOf("overlap", 8, "clean", tc.new...), mustMetric(t, "ops_per_sec"))
			if len(c.Deltas) != 1 {
				t.Fatalf("%d deltas, want 1", len(c.Deltas))
			}
			d := c.Deltas[0]
			if d.Significant != tc.sig || d.Worse != tc.worse || d.Better != (tc.sig && !tc.worse) || math.Abs(d.Change-tc.change) > 1e-9 {
				t.Errorf("significant %v, better %v, worse %v, change %.3f%% (p=%.4f); want %v, %v, %v, %.3f%%",
					d.Significant, d.Better, d.Worse, d.Change, d.Test.P, tc.sig, tc.sig && !tc.worse, tc.worse, tc.change)
			}
			if tc.maxP > 0 && d.Test.P > tc.maxP {
				t.Errorf("p = %.4f, want at most %g", d.Test.P, tc.maxP)
			}
			if d.Test.N1 != len(tc.old) || d.Test.N2 != len(tc.new) {
				t.Errorf("n = %d+%d, want %d+%d", d.Test.N1, d.Test.N2, len(tc.old), len(tc.new))
			}
			// The same runs on latency, lower being better: the
			// direction flips, the significance does not.
			l := Compare(runsOf("overlap", 8, "clean", tc.old...), runsOf("overlap", 8, "clean", tc.new...), mustMetric(t, "lat_p99_us")).Deltas[0]
			if l.Significant != tc.sig || l.Worse != tc.worse {
				t.Errorf("p99: significant %v, worse %v; want %v, %v", l.Significant, l.Worse, tc.sig, tc.worse)
			}
		})
	}
}

func TestRegressions(t *testing.T) {
	base := []float64{100, 101, 99, 102, 98}
	var old, cur []Record
	old = append(old, runsOf("freeze-any", 1, "clean", base...)...)
	cur = append(cur, runsOf("freeze-any", 1, "clean", scaled(base, 0.8)...)...) // 20% fewer ops/s, 25% more latency
	old = append(old, runsOf("overlap", 1, "clean", base...)...)
	cur = append(cur, runsOf("overlap", 1, "clean", scaled(base, 1.5)...)...) // 50% more ops/s
	old = append(old, runsOf("serial", 1, "clean", base[:3]...)...)
	cur = append(cur, runsOf("serial", 1, "clean", scaled(base[:3], 0.5)...)...) // halved, but 3 a side: no evidence
	for _, tc := range []struct {
		metric string
		pct    float64
		want   []string // policies regressed
	}{
		{"ops_per_sec", 0, []string{"freeze-any"}},
		{"ops_per_sec", 19.9, []string{"freeze-any"}},
		{"ops_per_sec", 20, nil}, // a 20% drop does not exceed 20%
		{"lat_p99_us", 24.9, []string{"freeze-any"}},
		{"lat_p99_us", 25.1, nil},
	} {
		c := Compare(old, cur, mustMetric(t, tc.metric))
		var got []string
		for _, d := range c.Regressions(tc.pct) {
			got = append(got, d.Config.Policy)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s beyond %g%%: regressions %v, want %v", tc.metric, tc.pct, got, tc.want)
		}
	}
}

func TestComparisonWrite(t *testing.T) {
	var old, cur []Record
	old = append(old, runsOf("overlap", 32, "clean", 100, 110, 105, 102, 108)...)
	cur = append(cur, runsOf("overlap", 32, "clean", 120, 125, 130, 128, 122)...)
	old = append(old, runsOf("freeze-any", 32, "clean", 50, 52, 51, 49, 53)...)
	cur = append(cur, runsOf("freeze-any", 32, "clean", 51, 53, 49, 50, 52)...)
	old = append(old, runsOf("freeze-l2", 32, "clean", 90, 91, 92, 93, 94)...)
	cur = append(cur, runsOf("freeze-l2", 32, "3 leaks", 80, 81, 82, 83, 84)...)
	old = append(old, runsOf("serial", 1, "clean", 10)...)
	cur = append(cur, runsOf("serial", 4, "clean", 10)...)
	c := Compare(old, cur, mustMetric(t, "ops_per_sec"))
	if len(c.Deltas) != 3 || len(c.OnlyOld) != 1 || len(c.OnlyNew) != 1 {
		t.Fatalf("%d deltas, %v only old, %v only new", len(c.Deltas), c.OnlyOld, c.OnlyNew)
	}
	if c.Deltas[0].Config.Policy != "freeze-any" {
		t.Errorf("deltas not in registry order: first is %s", c.Deltas[0].Config.Policy)
	}
	for _, d := range c.Deltas {
		if d.Config.Policy == "freeze-l2" && (d.OldSafety != "clean" || d.NewSafety != "3 leaks") {
			t.Errorf("freeze-l2 safety %q -> %q", d.OldSafety, d.NewSafety)
		}
	}
	gs := c.Geomeans()
	if len(gs) != 4 || gs[0].Policy != "freeze-any" || gs[3].Policy != "" || gs[3].N != 3 {
		t.Fatalf("geomeans %+v", gs)
	}
	if want := math.Cbrt(125.0 / 105 * 51 / 51 * 82 / 92); math.Abs(gs[3].Ratio-want) > 1e-12 {
		t.Errorf("geomean ratio %v, want %v", gs[3].Ratio, want)
	}
	var b bytes.Buffer
	if err := c.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"+19.05%", "faster", "slower", "~", "(p=0.008 n=5)", "clean -> 3 leaks",
		"3 configurations compared: 1 faster, 1 slower, 1 without a significant change.", "geomean",
		"need >= 6 samples for confidence interval at level 0.95", "only in old: policy=serial", "only in new: policy=serial"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("comparison lacks %q:\n%s", s, b.String())
		}
	}
	b.Reset()
	if err := c.Write(&b, true); err != nil {
		t.Fatal(err)
	}
	if rows, _, _ := strings.Cut(b.String(), "configurations compared"); strings.Contains(rows, "freeze-any") || !strings.Contains(b.String(), "(1 of them not shown)") {
		t.Errorf("-only-changed shows the unchanged row:\n%s", b.String())
	}
	if _, err := LookupMetric("speed"); err == nil {
		t.Error("unknown metric accepted")
	}
}
