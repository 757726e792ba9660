package workloads

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// mustPlan builds a job from DefaultJob and settings, and plans it.
func mustPlan(t testing.TB, name string, set map[string]string) *Plan {
	t.Helper()
	j := DefaultJob()
	j.Name = name
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range set {
			if !yield(k) {
				return
			}
		}
	}) {
		if err := j.Set(k, set[k]); err != nil {
			t.Fatal(err)
		}
	}
	p, err := j.Plan()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkPlanError sets set on DefaultJob, plans it, and checks the plan
// is refused with a *KeyError for key whose message holds msg.
func checkPlanError(t *testing.T, set map[string]string, key, msg string) {
	t.Helper()
	j := DefaultJob()
	for k, v := range set {
		if err := j.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	_, err := j.Plan()
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != key || !strings.Contains(err.Error(), msg) {
		t.Errorf("%v: %v, want a *KeyError for %s containing %q", set, err, key, msg)
	}
}

// drain returns every op of a stream (at most limit).
func drain(s *Stream, limit int) []Op {
	var ops []Op
	for len(ops) < limit {
		op, ok := s.Next()
		if !ok {
			break
		}
		ops = append(ops, op)
	}
	return ops
}

func TestStreamsDeterministic(t *testing.T) {
	sets := []map[string]string{
		{"rw": "randwrite", "size": "4m"},
		{"rw": "randrw", "random_distribution": "zipf:1.2", "size": "4m", "ops": "500"},
		{"rw": "randwrite", "pattern": "first-touch", "size": "8m"},
		{"rw": "randwrite", "pattern": "same-cluster", "size": "1m"},
		{"rw": "randread", "norandommap": "1", "size": "4m", "numjobs": "2"},
	}
	for _, set := range sets {
		p := mustPlan(t, "det", set)
		a, b, c := p.Streams(7), p.Streams(7), p.Streams(8)
		for i := range a {
			oa, ob, oc := drain(a[i], 10000), drain(b[i], 10000), drain(c[i], 10000)
			if !slices.Equal(oa, ob) {
				t.Errorf("%v: same seed, different streams", set)
			}
			if slices.Equal(oa, oc) {
				t.Errorf("%v: seeds 7 and 8 give the same stream", set)
			}
		}
	}
}

// TestStreamPatterns checks each pattern's defining property over a whole
// stream.
func TestStreamPatterns(t *testing.T) {
	const cs = 64 << 10
	tests := []struct {
		name  string
		set   map[string]string
		count int
		check func(t *testing.T, p *Plan, ops []Op)
	}{
		{"sequential write wraps", map[string]string{"rw": "write", "size": "64k", "bs": "16k", "ops": "6"}, 6, func(t *testing.T, p *Plan, ops []Op) {
			want := []uint64{0, 16 << 10, 32 << 10, 48 << 10, 0, 16 << 10}
			for i, op := range ops {
				if op.Kind != OpWrite || op.Off != want[i] || op.Len != 16<<10 {
					t.Errorf("op %d = %v, want write at %d", i, op, want[i])
				}
			}
		}},
		{"random map hits each block once per pass", map[string]string{"rw": "randread", "size": "1m", "ops": "512"}, 512, func(t *testing.T, p *Plan, ops []Op) {
			for pass := range 2 {
				seen := map[uint64]bool{}
				for _, op := range ops[pass*256 : (pass+1)*256] {
					if op.Kind != OpRead || op.Off%4096 != 0 || op.Off >= 1<<20 || seen[op.Off] {
						t.Fatalf("pass %d: bad or repeated op %v", pass, op)
					}
					seen[op.Off] = true
				}
			}
		}},
		{"first-touch random: every write in a fresh cluster", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "8m"}, 128, func(t *testing.T, p *Plan, ops []Op) {
			seen := map[uint64]bool{}
			for _, op := range ops {
				c := op.Off / cs
				if seen[c] || op.Off%4096 != 0 || op.Off/cs != (op.Off+op.Len-1)/cs || op.Off+op.Len > 8<<20 {
					t.Fatalf("op %v reuses or straddles a cluster", op)
				}
				seen[c] = true
			}
		}},
		{"first-touch sequential, bs over a cluster", map[string]string{"rw": "write", "pattern": "first-touch", "size": "1m", "bs": "96k"}, 8, func(t *testing.T, p *Plan, ops []Op) {
			for i, op := range ops {
				if op.Off != uint64(i)*128<<10 || op.Len != 96<<10 {
					t.Errorf("op %d = %v, want a write of 96k at %d", i, op, i*128<<10)
				}
			}
		}},
		{"same-cluster: each cluster's blocks together, once", map[string]string{"rw": "randwrite", "pattern": "same-cluster", "size": "1m", "bs": "16k"}, 64, func(t *testing.T, p *Plan, ops []Op) {
			clusters := map[uint64]bool{}
			for g := 0; g < len(ops); g += 4 {
				c := ops[g].Off / cs
				if clusters[c] {
					t.Fatalf("cluster %d written in two groups", c)
				}
				clusters[c] = true
				blocks := map[uint64]bool{}
				for _, op := range ops[g : g+4] {
					if op.Off/cs != c || blocks[op.Off] {
						t.Fatalf("group %d: op %v leaves cluster %d or repeats a block", g/4, op, c)
					}
					blocks[op.Off] = true
				}
			}
		}},
		{"fsync flushes after every N writes", map[string]string{"rw": "write", "size": "64k", "fsync": "3", "ops": "7"}, 9, func(t *testing.T, p *Plan, ops []Op) {
			var kinds []OpKind
			for _, op := range ops {
				kinds = append(kinds, op.Kind)
			}
			want := []OpKind{OpWrite, OpWrite, OpWrite, OpFlush, OpWrite, OpWrite, OpWrite, OpFlush, OpWrite}
			if !slices.Equal(kinds, want) {
				t.Errorf("kinds %v, want %v", kinds, want)
			}
		}},
		{"rwmixread proportion", map[string]string{"rw": "randrw", "rwmixread": "70", "size": "4m", "ops": "4000"}, 4000, func(t *testing.T, p *Plan, ops []Op) {
			reads := 0
			for _, op := range ops {
				if op.Kind == OpRead {
					reads++
				}
			}
			if reads < 2650 || reads > 2950 {
				t.Errorf("%d reads of 4000, want about 70%%", reads)
			}
		}},
		{"zipf is skewed", map[string]string{"rw": "randread", "random_distribution": "zipf:1.2", "size": "4m", "ops": "4000"}, 4000, func(t *testing.T, p *Plan, ops []Op) {
			freq := map[uint64]int{}
			for _, op := range ops {
				if op.Off >= 4<<20 || op.Off%4096 != 0 {
					t.Fatalf("op %v outside the region", op)
				}
				freq[op.Off]++
			}
			top := 0
			for _, n := range freq {
				top = max(top, n)
			}
			// Rank 1 of 1024 under theta 1.2 has probability ~0.2.
			if top < 400 || len(freq) > 900 {
				t.Errorf("hottest block %d of 4000, %d distinct blocks: not zipf-like", top, len(freq))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, "pat", tt.set)
			ops := drain(p.Streams(3)[0], 100000)
			if len(ops) != tt.count {
				t.Fatalf("%d ops, want %d", len(ops), tt.count)
			}
			tt.check(t, p, ops)
		})
	}
}

func TestStreamsNumJobsDisjoint(t *testing.T) {
	p := mustPlan(t, "jobs", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "1m", "numjobs": "3", "offset": "2m"})
	for i, s := range p.Streams(1) {
		lo, size := p.Region(i)
		for _, op := range drain(s, 1000) {
			if op.Off < lo || op.Off+op.Len > lo+size {
				t.Fatalf("instance %d: op %v outside its region [%d, %d)", i, op, lo, lo+size)
			}
		}
	}
}

func TestStreamRuntimeFirstTouchEnds(t *testing.T) {
	p := mustPlan(t, "rt", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "1m", "runtime": "10"})
	if n := len(drain(p.Streams(1)[0], 1000)); n != 16 {
		t.Errorf("unbounded first-touch stream gave %d ops, want the 16 fresh clusters", n)
	}
	p = mustPlan(t, "rt", map[string]string{"rw": "randwrite", "size": "1m", "runtime": "10", "time_based": "1"})
	if n := len(drain(p.Streams(1)[0], 1000)); n != 1000 {
		t.Errorf("unbounded plain stream ended after %d ops", n)
	}
}

func TestLazyPermIsPermutation(t *testing.T) {
	for _, n := range []uint64{1, 2, 7, 100, 1000} {
		p := lazyPerm{n: n}
		rng := rand.New(rand.NewPCG(1, 2))
		for pass := range 2 {
			seen := make([]bool, n)
			for range n {
				v := p.next(rng)
				if v >= n || seen[v] {
					t.Fatalf("n=%d pass %d: %d out of range or repeated", n, pass, v)
				}
				seen[v] = true
			}
			if len(p.swaps) > int(n) {
				t.Errorf("n=%d: %d swaps stored", n, len(p.swaps))
			}
		}
	}
}

// TestLazyPermDenseMatchesMap checks the array form of lazyPerm draws
// what the map form draws: the same values from the same generator, over
// more than one pass.
func TestLazyPermDenseMatchesMap(t *testing.T) {
	for _, n := range []uint64{1, 3, 100, 4096, densePermMax, densePermMax + 1} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			p := lazyPerm{n: n}
			ref := map[uint64]uint64{} // the map form, spelled out
			var i uint64
			rngA, rngB := rand.New(rand.NewPCG(3, 4)), rand.New(rand.NewPCG(3, 4))
			for k := range 2*n + 5 {
				if i == n {
					i = 0
					clear(ref)
				}
				j := i + rngB.Uint64N(n-i)
				at := func(k uint64) uint64 {
					if v, ok := ref[k]; ok {
						return v
					}
					return k
				}
				want := at(j)
				if j != i {
					ref[j] = at(i)
				}
				delete(ref, i)
				i++
				if got := p.next(rngA); got != want {
					t.Fatalf("draw %d: %d, want %d", k, got, want)
				}
			}
		})
	}
}

func BenchmarkStream(b *testing.B) {
	for _, tc := range []struct {
		name string
		set  map[string]string
	}{
		{"rw=randwrite", map[string]string{"rw": "randwrite", "size": "1g", "runtime": "1", "time_based": "1"}},
		{"rw=randrw/dist=zipf", map[string]string{"rw": "randrw", "random_distribution": "zipf:1.1", "size": "1g", "runtime": "1", "time_based": "1"}},
		{"pattern=first-touch", map[string]string{"rw": "randwrite", "pattern": "first-touch", "size": "1t", "runtime": "1", "time_based": "1"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := mustPlan(b, "bench", tc.set)
			s := p.Streams(1)[0]
			b.ReportAllocs()
			for b.Loop() {
				s.Next()
			}
		})
	}
}
