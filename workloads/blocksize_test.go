package workloads

import "testing"

// budget checks the ops add up to want bytes; the last may go over.
func budget(want uint64) func(t *testing.T, p *Plan, ops []Op) {
	return func(t *testing.T, p *Plan, ops []Op) {
		var total uint64
		for _, op := range ops {
			total += op.Len
		}
		if total < want || total >= want+p.maxBS {
			t.Errorf("%d bytes, want %d (the last request may go over)", total, want)
		}
	}
}

// TestBlockSizes checks bssplit, bsrange, bs=READ,WRITE and blockalign
// shape every request as fio does, within the region.
func TestBlockSizes(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		check func(t *testing.T, p *Plan, ops []Op)
	}{
		{"bssplit shares", map[string]string{"rw": "randwrite", "size": "16m", "bssplit": "4k/10:64k/90", "ops": "10000"}, func(t *testing.T, p *Plan, ops []Op) {
			small := 0
			for _, op := range ops {
				if op.Len == 4<<10 {
					small++
				} else if op.Len != 64<<10 && op.Off+op.Len != 16<<20 {
					t.Fatalf("op %v: neither size, nor cut at the region's end", op)
				}
				if op.Off%(4<<10) != 0 {
					t.Fatalf("op %v not aligned to the smallest size", op)
				}
			}
			if share := float64(small) / float64(len(ops)); share < 0.08 || share > 0.12 {
				t.Errorf("4k share %.3f, want 0.10", share)
			}
		}},
		{"bssplit per direction", map[string]string{"rw": "randrw", "size": "16m", "bssplit": "4k/100,64k/100", "ops": "1000"}, func(t *testing.T, p *Plan, ops []Op) {
			for _, op := range ops {
				if op.Kind == OpRead && op.Len != 4<<10 || op.Kind == OpWrite && op.Len != 64<<10 && op.Off+op.Len != 16<<20 {
					t.Fatalf("op %v", op)
				}
			}
		}},
		{"bs read,write", map[string]string{"rw": "randrw", "size": "16m", "bs": "4k,64k", "ops": "1000"}, func(t *testing.T, p *Plan, ops []Op) {
			for _, op := range ops {
				if op.Kind == OpRead && op.Len != 4<<10 || op.Kind == OpWrite && op.Len != 64<<10 && op.Off+op.Len != 16<<20 {
					t.Fatalf("op %v", op)
				}
			}
		}},
		{"bsrange multiples of the minimum", map[string]string{"rw": "randread", "size": "16m", "bsrange": "4k-16k", "ops": "2000"}, func(t *testing.T, p *Plan, ops []Op) {
			seen := map[uint64]bool{}
			for _, op := range ops {
				seen[op.Len] = true
				if op.Len%(4<<10) != 0 || op.Len > 16<<10 {
					t.Fatalf("op %v", op)
				}
			}
			if len(seen) != 4 {
				t.Errorf("sizes %v, want 4k, 8k, 12k and 16k", seen)
			}
		}},
		{"byte budget of one pass", map[string]string{"rw": "randwrite", "size": "1m", "bssplit": "4k/50:64k/50"}, budget(1 << 20)},
		{"io_size budget", map[string]string{"rw": "write", "size": "1m", "bssplit": "4k/50:64k/50", "io_size": "3m"}, budget(3 << 20)},
		{"sequential sizes follow each other", map[string]string{"rw": "write", "size": "1m", "bssplit": "4k/50:64k/50", "loops": "2"}, func(t *testing.T, p *Plan, ops []Op) {
			var next uint64
			wraps := 0
			for _, op := range ops {
				if op.Off != next {
					if op.Off != 0 {
						t.Fatalf("op %v after %#x", op, next)
					}
					wraps++
				}
				next = op.Off + op.Len
				if next > 1<<20 {
					t.Fatalf("op %v past the region", op)
				}
			}
			if wraps != 1 {
				t.Errorf("%d wraps over two loops, want 1", wraps)
			}
		}},
		{"blockalign", map[string]string{"rw": "randread", "size": "1m", "bs": "8k", "blockalign": "4k", "ops": "2000"}, func(t *testing.T, p *Plan, ops []Op) {
			odd := 0
			for _, op := range ops {
				if op.Off%(4<<10) != 0 || op.Len != 8<<10 || op.Off+op.Len > 1<<20 {
					t.Fatalf("op %v", op)
				}
				if op.Off%(8<<10) != 0 {
					odd++
				}
			}
			if odd == 0 {
				t.Error("no offset off the 8k grid: blockalign did nothing")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "bs", tt.set)
			tt.check(t, p, drain(p.Streams(3)[0], 100000))
		})
	}
}

// TestBlockSizePlanErrors checks sizes that do not fit the job are
// refused naming the key.
func TestBlockSizePlanErrors(t *testing.T) {
	for _, tt := range []struct {
		set      map[string]string
		key, msg string
	}{
		{map[string]string{"rw": "randwrite", "bssplit": "1000/100"}, "bssplit", "multiple of 512"},
		{map[string]string{"rw": "randwrite", "pattern": "first-touch", "bssplit": "4k/50:8k/50"}, "pattern", "whole blocks of bs"},
		{map[string]string{"rw": "randwrite", "size": "4k", "bsrange": "8k-16k"}, "size", "smallest block size"},
		{map[string]string{"rw": "randread", "blockalign": "1000"}, "blockalign", "multiple of 512"},
	} {
		checkPlanError(t, tt.set, tt.key, tt.msg)
	}
}
