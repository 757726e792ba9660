package checker

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkCheck checks generated linearizable histories of reads and
// writes of 1 to 4 sectors: at queue depth 32 spread over 10,000 sectors,
// from 10k to 1M operations, and at 100k the same history with one stale
// read (history=bad: detection, minimization and report); and 100k
// operations all on one sector at
// queue depth 4, where only splitting at quiescent points keeps
// porcupine's partitions short. (A sector kept busy without one quiescent
// moment cannot be split: at queue depth 32 on one sector porcupine does
// not finish 100k operations in minutes.)
//
//	go test ./checker -run XXX -bench Check -benchtime 3x
func BenchmarkCheck(b *testing.B) {
	cases := []struct {
		ops     int
		sectors uint64
		maxLen  uint64
		depth   int
		bad     bool
	}{
		{10_000, 10_000, 4, 32, false},
		{100_000, 10_000, 4, 32, false},
		{1_000_000, 10_000, 4, 32, false},
		{100_000, 10_000, 4, 32, true},
		{100_000, 1, 1, 4, false},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("ops=%d/sectors=%d/qd=%d/history=ok", tc.ops, tc.sectors, tc.depth)
		want := Ok
		if tc.bad {
			name, want = strings.Replace(name, "=ok", "=bad", 1), Illegal
		}
		b.Run(name, func(b *testing.B) {
			h := genHistory(genConfig{ops: tc.ops, sectors: tc.sectors, maxLen: tc.maxLen, depth: tc.depth, backing: tc.sectors / 2, seed: 1, readPct: 50})
			if tc.bad {
				if _, ok := breakHistory(&h); !ok {
					b.Fatal("could not break the history")
				}
			}
			b.ResetTimer()
			var res *Result
			for range b.N {
				var err error
				if res, err = Check(h, Options{}); err != nil {
					b.Fatal(err)
				}
				if res.Verdict != want {
					b.Fatalf("verdict %v, want %v", res.Verdict, want)
				}
			}
			b.ReportMetric(float64(res.SectorOps), "sector-ops")
			b.ReportMetric(float64(res.Segments), "segments")
		})
	}
}
