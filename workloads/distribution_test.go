package workloads

import (
	"slices"
	"testing"
)

// TestDistributionShapes checks each distribution draws as fio's does,
// by the share of draws that land where it puts its weight (a zone; or,
// as fio scatters the hot blocks of zipf, pareto and normal over the
// region, the hottest blocks), and that a seed replays the same draws.
func TestDistributionShapes(t *testing.T) {
	const blocks, draws = 1000, 20000
	tests := []struct {
		dist string
		// in reports whether block b is in the zone that should get at
		// least share of the draws (and at most max, if max > 0); nil
		// means the hot hottest blocks.
		in         func(b uint64) bool
		hot        int
		share, max float64
	}{
		// 60% of accesses to the first 10%, 30% to the next 20%.
		{"zoned:60/10:30/20:10/70", func(b uint64) bool { return b < 100 }, 0, 0.57, 0.63},
		{"zoned:60/10:30/20:10/70", func(b uint64) bool { return b >= 100 && b < 300 }, 0, 0.27, 0.33},
		{"zoned_abs:50/400k:50/3600k", func(b uint64) bool { return b < 100 }, 0, 0.47, 0.53},
		// normal with no deviation: the mean of 12 uniform draws, within
		// 3 standard deviations (n/12) of the middle: 500 blocks.
		{"normal", nil, 500, 0.97, 0},
		// pareto:0.2: rank (n-1)*u^7.2, under 20 for 58% of u.
		{"pareto:0.2", nil, 20, 0.5, 0.65},
		{"zipf:1.2", nil, 20, 0.5, 0.8},
		{"random", nil, 20, 0, 0.04},
	}
	for _, tt := range tests {
		t.Run(tt.dist, func(t *testing.T) {
			p := mustPlan(t, "d", map[string]string{"rw": "randread", "size": "4000k", "random_distribution": tt.dist, "ops": "20000"})
			ops := drain(p.Streams(7)[0], draws)
			again := drain(p.Streams(7)[0], draws)
			if !slices.Equal(ops, again) {
				t.Fatal("the same seed drew differently")
			}
			hits := 0
			freq := map[uint64]int{}
			for _, op := range ops {
				b := op.Off / (4 << 10)
				if b >= blocks {
					t.Fatalf("block %d outside the region", b)
				}
				freq[b]++
				if tt.in != nil && tt.in(b) {
					hits++
				}
			}
			if tt.in == nil {
				// The 2% hottest blocks take share of the draws.
				counts := make([]int, 0, len(freq))
				for _, c := range freq {
					counts = append(counts, c)
				}
				slices.Sort(counts)
				slices.Reverse(counts)
				for _, c := range counts[:min(len(counts), tt.hot)] {
					hits += c
				}
			}
			got := float64(hits) / draws
			if got < tt.share || tt.max > 0 && got > tt.max {
				t.Errorf("share %.3f, want at least %.2f (at most %.2f)", got, tt.share, tt.max)
			}
		})
	}
}

// TestDistributionCenter checks a center puts zipf's and pareto's
// hottest block there, whatever the seed (fio's offset of the scattered
// ranks).
func TestDistributionCenter(t *testing.T) {
	for _, dist := range []string{"zipf:1.2:0.25", "pareto:0.2:0.25"} {
		p := mustPlan(t, "d", map[string]string{"rw": "randread", "size": "4000k", "random_distribution": dist, "ops": "5000"})
		for seed := range int64(3) {
			freq := map[uint64]int{}
			hottest := uint64(0)
			for _, op := range drain(p.Streams(seed)[0], 5000) {
				b := op.Off / (4 << 10)
				if freq[b]++; freq[b] > freq[hottest] {
					hottest = b
				}
			}
			if hottest != 250 {
				t.Errorf("%s seed %d: hottest block %d, want 250", dist, seed, hottest)
			}
		}
	}
}

// TestDistributionPlanErrors checks a distribution that does not fit its
// job is refused naming random_distribution.
func TestDistributionPlanErrors(t *testing.T) {
	for _, tt := range []struct {
		set map[string]string
		msg string
	}{
		{map[string]string{"rw": "read", "random_distribution": "pareto:0.3"}, "random offsets"},
		{map[string]string{"rw": "randread", "size": "1m", "random_distribution": "zoned_abs:50/512k:50/1m"}, "past the region"},
		{map[string]string{"rw": "randread", "size": "16k", "random_distribution": "sequence:1,7"}, "past the region's 4 blocks"},
	} {
		checkPlanError(t, tt.set, "random_distribution", tt.msg)
	}
}
