package workloads

import (
	"slices"
	"testing"
)

// TestZonesOffsets checks the offsets of strided zones, worked out by
// hand from fio's setup_strided_zone_mode: zonesize bytes in a zone of
// zonerange bytes, sequential requests going round the zone, then
// zonerange+zoneskip on, back at the region's start past its end.
func TestZonesOffsets(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want string // offsets in KiB
	}{
		{"skip a zone's worth", map[string]string{"size": "64k", "zonemode": "strided", "zonesize": "8k", "zoneskip": "8k"},
			"0 4 16 20 32 36 48 52 0 4 16 20 32 36 48 52"},
		{"zonesize alone makes zones", map[string]string{"size": "64k", "zonesize": "8k", "zoneskip": "8k"},
			"0 4 16 20 32 36 48 52 0 4 16 20 32 36 48 52"},
		{"part of each zone", map[string]string{"size": "64k", "zonemode": "strided", "zonesize": "8k", "zonerange": "16k"},
			"0 4 16 20 32 36 48 52 0 4 16 20 32 36 48 52"},
		{"each zone twice round", map[string]string{"rw": "write", "size": "32k", "zonemode": "strided", "zonesize": "16k", "zonerange": "8k"},
			"0 4 0 4 8 12 8 12"},
		{"offset moves the zones", map[string]string{"size": "32k", "offset": "1m", "zonesize": "8k", "zoneskip": "8k"},
			"1024 1028 1040 1044 1024 1028 1040 1044"},
		{"a size not of whole zones", map[string]string{"size": "56k", "zonesize": "16k", "zoneskip": "4k", "io_size": "64k"},
			"0 4 8 12 20 24 28 32 40 44 48 52 0 4 8 12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "z", tt.set)
			if got := offsetsK(drain(p.Streams(1)[0], 1000)); got != tt.want {
				t.Errorf("offsets %s, want %s", got, tt.want)
			}
		})
	}
}

// TestZonesRandom checks random requests in strided zones: each visit
// to a zone draws its blocks from the zone alone, every block once (the
// random map starts afresh in each zone).
func TestZonesRandom(t *testing.T) {
	p := mustPlan(t, "z", map[string]string{"rw": "randread", "size": "64k", "zonesize": "16k", "zoneskip": "16k"})
	for seed := int64(1); seed <= 5; seed++ {
		ops := drain(p.Streams(seed)[0], 100)
		if len(ops) != 16 {
			t.Fatalf("%d ops, want 16", len(ops))
		}
		for v := 0; v < 4; v++ {
			var got []uint64
			for _, op := range ops[v*4 : v*4+4] {
				got = append(got, op.Off/1024)
			}
			slices.Sort(got)
			base := uint64(v%2) * 32
			if want := []uint64{base, base + 4, base + 8, base + 12}; !slices.Equal(got, want) {
				t.Errorf("seed %d visit %d: blocks %v, want %v", seed, v, got, want)
			}
		}
	}
}

// TestZonesRefused checks what strided zones refuse.
func TestZonesRefused(t *testing.T) {
	checkPlanError(t, map[string]string{"size": "52k", "zonesize": "16k", "zoneskip": "4k"}, "zonesize", "runs past the region's end")
	checkPlanError(t, map[string]string{"zonemode": "strided"}, "zonesize", "needs a zonesize")
	checkPlanError(t, map[string]string{"zonemode": "none", "zonesize": "8k"}, "zonesize", "takes no zonesize")
	checkPlanError(t, map[string]string{"zonesize": "256m"}, "zonesize", "larger than the region")
	checkPlanError(t, map[string]string{"size": "64k", "zonesize": "8k", "nrfiles": "2"}, "zonemode", "several files")
	checkPlanError(t, map[string]string{"size": "64k", "zonesize": "8k", "loops": "2"}, "zonemode", "loops")
	// zonemode=zbd is zbd.go's (TestZBDRefused).
	checkPlanError(t, map[string]string{"zonemode": "zbd"}, "zonemode", "needs a zonesize")
}
