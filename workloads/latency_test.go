package workloads

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qedharness/qedharness/workloads/results"
)

// TestLatencyHistogramAgreesWithPercentiles checks that the histogram
// summarizeLatency keeps gives the exact percentiles to within its
// precision, on a known distribution: 100000 log-normal latencies (median
// 100 us, a tail past 10 ms) and a few requests that took no time, so
// every percentile's rank is the same by either rule (nearest rank
// rounds up, HdrHistogram rounds to nearest).
func TestLatencyHistogramAgreesWithPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 4))
	lats := make([]int64, 100000)
	for i := range lats {
		lats[i] = int64(100e3 * math.Exp(1.2*rng.NormFloat64()))
	}
	lats[0], lats[1] = 0, 0
	sorted := slices.Clone(lats)
	slices.Sort(sorted)
	var res Result
	summarizeLatency(&res, lats)
	h := res.Latency
	if h == nil || h.TotalCount() != int64(len(lats)) {
		t.Fatalf("histogram %v, want %d latencies", h, len(lats))
	}
	for _, f := range []struct {
		q     float64
		exact int64
	}{{0.50, res.LatP50}, {0.99, res.LatP99}, {0.999, res.LatP999}, {1, res.LatMax}} {
		if f.exact != Percentile(sorted, f.q) {
			t.Fatalf("exact p%v = %d, want %d", 100*f.q, f.exact, Percentile(sorted, f.q))
		}
		// A value v is reported as the top of its bucket, which at 3
		// significant digits (2048 sub-buckets) is under v/1024 wide.
		got := h.ValueAtPercentile(100 * f.q)
		if got < f.exact || got-f.exact > f.exact/1024 {
			t.Errorf("histogram p%v = %d, exact %d: off by more than the precision", 100*f.q, got, f.exact)
		}
	}
	if h.Min() != 0 {
		t.Errorf("histogram min %d, want 0", h.Min())
	}
	rec := NewRecord(results.Config{Policy: "overlap"}, 1, 1, &res)
	if back, err := rec.LatencyHistogram(); err != nil || !back.Equals(h) {
		t.Errorf("the record's latency_hdr decodes to another histogram (%v)", err)
	}
	var empty Result
	summarizeLatency(&empty, nil)
	if empty.Latency != nil {
		t.Errorf("an empty run has a histogram")
	}
}
