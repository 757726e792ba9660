package workloads

import (
	"math"
	"slices"

	"github.com/qedharness/qedharness/workloads/results"
)

// summarizeLatency fills the latency figures, the latency histogram and
// the achieved queue depth from lats, every request's latency in
// nanoseconds, which it reorders. The histogram is filled here, once the
// run is over, rather than as requests complete: the measured phase of a
// wall-clock run pays nothing for it.
func summarizeLatency(res *Result, lats []int64) {
	if len(lats) == 0 {
		return
	}
	var sum float64
	h := results.NewLatencyHistogram()
	for _, l := range lats {
		sum += float64(l)
		results.RecordLatency(h, l)
	}
	res.Latency = h
	res.LatMean = sum / float64(len(lats))
	if res.Nanos > 0 {
		res.AchievedQD = sum / float64(res.Nanos)
	}
	// Select the three ranks, each in what lies above the one before,
	// rather than sort: what Percentile of the sorted values gives.
	n := len(lats)
	from := 0
	for _, f := range []struct {
		q   float64
		dst *int64
	}{{0.50, &res.LatP50}, {0.99, &res.LatP99}, {0.999, &res.LatP999}} {
		k := percentileRank(n, f.q)
		if k >= from {
			selectNth(lats[from:], k-from)
			from = k + 1
		}
		*f.dst = lats[k]
	}
	res.LatMax = slices.Max(lats)
}

// Percentile returns the nearest-rank q-quantile (q in (0, 1]) of sorted,
// the smallest value with at least q of the values at or below it; 0 for
// an empty slice.
func Percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[percentileRank(len(sorted), q)]
}

// percentileRank returns the index in n sorted values (n > 0) of the
// nearest-rank q-quantile.
func percentileRank(n int, q float64) int {
	i := int(math.Ceil(q*float64(n))) - 1
	return min(max(i, 0), n-1)
}

// selectNth reorders a so that a[k] holds the value it would hold were a
// sorted, with no larger value before it and no smaller one after
// (quickselect, three-way partitions for the many equal latencies of a
// simulated device).
func selectNth(a []int64, k int) {
	lo, hi := 0, len(a)
	for hi-lo > 32 {
		x, y, z := a[lo], a[lo+(hi-lo)/2], a[hi-1]
		p := max(min(x, y), min(max(x, y), z)) // median of three
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch v := a[i]; {
			case v < p:
				a[lt], a[i] = v, a[lt]
				lt++
				i++
			case v > p:
				gt--
				a[i], a[gt] = a[gt], v
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt
		case k >= gt:
			lo = gt
		default:
			return
		}
	}
	slices.Sort(a[lo:hi])
}
