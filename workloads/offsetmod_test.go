package workloads

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// offsetsK returns the offsets of ops, in KiB, as text.
func offsetsK(ops []Op) string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = strconv.FormatUint(op.Off/1024, 10)
	}
	return strings.Join(out, " ")
}

// TestOffsetModifierSequential checks the offsets of a sequential rw with
// fio's offset modifier, worked out by hand from fio's
// get_next_seq_offset: the pass's first request at the region's start,
// then each at the previous one's end plus the modifier, wrapping to the
// start (positive) or to the end plus the modifier (negative) past the
// region, and the pass ending at a request that would not fit.
func TestOffsetModifierSequential(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want string // offsets in KiB
	}{
		{"holes wrap to the start", map[string]string{"rw": "write:4k", "size": "64k"},
			"0 8 16 24 32 40 48 56 0 8 16 24 32 40 48 56"},
		{"a request ending at the region's end ends the pass", map[string]string{"rw": "write:4k", "size": "60k"},
			"0 8 16 24 32 40 48 56"},
		{"loops start each pass afresh", map[string]string{"rw": "write:4k", "size": "60k", "loops": "2"},
			"0 8 16 24 32 40 48 56 0 8 16 24 32 40 48 56"},
		{"past the end, wrap", map[string]string{"rw": "read:4k", "size": "62k"},
			"0 8 16 24 32 40 48 56 0 8 16 24 32 40 48"},
		{"backwards", map[string]string{"rw": "read:-8k", "size": "32k"},
			"0 24 20 16 12 8 4 0"},
		{"backwards, a stride of two blocks", map[string]string{"rw": "read:-12k", "size": "32k"},
			"0 20 12 4 20 12 4 20"},
		{"overlapping forward", map[string]string{"rw": "write:-2k", "size": "16k"},
			"0 2 4 6"},
		{"overlapping forward, io_size, ends at the region's end", map[string]string{"rw": "write:-2k", "size": "16k", "io_size": "32k"},
			"0 2 4 6 8 10 12"},
		{"minus bs: every request at the start", map[string]string{"rw": "write:-4k", "size": "16k"},
			"0 0 0 0"},
		{"more than the region backwards", map[string]string{"rw": "read:-64k", "size": "32k", "loops": "3"},
			"0 0 0"},
		{"offset moves the region", map[string]string{"rw": "write:8k", "size": "32k", "offset": "1m"},
			"1024 1036 1048 1024 1036 1048 1024 1036"},
		{"io_size goes round", map[string]string{"rw": "write:4k", "size": "32k", "io_size": "48k"},
			"0 8 16 24 0 8 16 24 0 8 16 24"},
		{"trims as writes", map[string]string{"rw": "trim:4k", "size": "32k"},
			"0 8 16 24 0 8 16 24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "m", tt.set)
			ops := drain(p.Streams(1)[0], 1000)
			if got := offsetsK(ops); got != tt.want {
				t.Errorf("offsets %s, want %s", got, tt.want)
			}
			for _, op := range ops {
				if op.Len != 4096 {
					t.Fatalf("op %v: want 4k requests", op)
				}
			}
		})
	}
}

// TestSeqAddRun checks seqAddRun against seqAddNext, request by
// request, for every small region, block size and modifier.
func TestSeqAddRun(t *testing.T) {
	for size := uint64(1); size <= 24; size++ {
		for bs := uint64(1); bs <= size; bs++ {
			for add := int64(-30); add <= 30; add++ {
				if add == 0 {
					continue
				}
				// Simulate up to a bound past any wrap's period.
				var n, last uint64
				const bound = 200
				for n < bound {
					off, ok := seqAddNext(last, size, bs, add)
					if !ok {
						break
					}
					n++
					last = off + bs
				}
				want := n
				if n == bound {
					want = math.MaxUint64
				}
				if got := seqAddRun(size, bs, add); got != want {
					t.Fatalf("size=%d bs=%d add=%d: seqAddRun %d, want %d", size, bs, add, got, want)
				}
			}
		}
	}
}

// TestOffsetModifierRandom checks a random rw with fio's offset
// modifier: the first of every N requests is a random draw, the others
// follow the previous one of their direction (sequential: at its end,
// or drawn afresh past the region's end; identical: at its offset), and
// with the random map a draw takes a block no request of the pass has
// touched.
func TestOffsetModifierRandom(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  map[string]string
	}{
		{"sequential", map[string]string{"rw": "randread:4", "size": "256k"}},
		{"identical", map[string]string{"rw": "randwrite:3", "size": "256k", "rw_sequencer": "identical"}},
		{"norandommap", map[string]string{"rw": "randread:5", "size": "256k", "norandommap": "1", "loops": "3"}},
		{"mixed", map[string]string{"rw": "randrw:4", "size": "256k", "loops": "2"}},
		{"zipf", map[string]string{"rw": "randread:8", "size": "256k", "random_distribution": "zipf:1.2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "r", tt.set)
			j := p.Job()
			units := p.lay.units
			for seed := int64(1); seed <= 5; seed++ {
				ops := drain(p.Streams(seed)[0], 10000)
				if uint64(len(ops)) != p.OpsPerJob() {
					t.Fatalf("%d ops, want %d", len(ops), p.OpsPerJob())
				}
				var prev [2]*Op
				touched := map[uint64]bool{}
				for i := range ops {
					op := &ops[i]
					if uint64(i)%units == 0 {
						prev, touched = [2]*Op{}, map[uint64]bool{}
					}
					d := 0
					if op.Kind == OpWrite {
						d = 1
					}
					follows := uint64(i)%j.RandomRun != 0
					switch {
					case follows && j.RWSequencer == SequencerIdentical:
						if want := uint64(0); prev[d] != nil && op.Off != prev[d].Off || prev[d] == nil && op.Off != want {
							t.Fatalf("seed %d op %d %v: want at the previous one's offset %v", seed, i, op, prev[d])
						}
					case follows && (prev[d] == nil || prev[d].Off+prev[d].Len < j.Size):
						want := uint64(0)
						if prev[d] != nil {
							want = prev[d].Off + prev[d].Len
						}
						if op.Off != want {
							t.Fatalf("seed %d op %d %v: want at %d, after %v", seed, i, op, want, prev[d])
						}
					case !j.NoRandomMap && j.Distribution.Kind == Uniform:
						if touched[op.Off] {
							t.Fatalf("seed %d op %d %v: a random draw of a block the pass touched", seed, i, op)
						}
					}
					touched[op.Off] = true
					prev[d] = op
				}
			}
		})
	}
}

// TestOffsetModifierKeys checks rw's value round trips with its
// modifier and the combinations refused.
func TestOffsetModifierKeys(t *testing.T) {
	for _, v := range []string{"write:112k", "read:-8k", "randread:8", "randrw:1", "rw", "readwrite", "trim:4k", "randtrim:8"} {
		j := DefaultJob()
		if err := j.Set("rw", v); err != nil {
			t.Fatalf("rw=%s: %v", v, err)
		}
		got, _ := j.Get("rw")
		want := strings.Replace(v, "readwrite", "rw", 1)
		if got != want {
			t.Errorf("rw=%s reads back as %s", v, got)
		}
	}
	for _, v := range []string{"write:x", "randread:0", "randread:-1", "randwrite:8589934592", "bogus:4k"} {
		j := DefaultJob()
		if err := j.Set("rw", v); err == nil {
			t.Errorf("rw=%s accepted", v)
		}
	}
	checkPlanError(t, map[string]string{"rw": "rw:4k"}, "rw", "a position for reads and one for writes")
	checkPlanError(t, map[string]string{"rw": "trimwrite:4k"}, "rw", "not supported: an offset modifier with rw=trimwrite")
	checkPlanError(t, map[string]string{"rw": "write:4k", "bssplit": "4k/50:8k/50"}, "rw", "block sizes that vary")
	checkPlanError(t, map[string]string{"rw": "randwrite:4", "size": "10k"}, "size", "multiple of bs")
	checkPlanError(t, map[string]string{"rw": "write:4k", "pattern": "first-touch"}, "rw", "pattern=first-touch")
}
