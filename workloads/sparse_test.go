package workloads

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestSparseStorageMatchesMem applies the same random operations to a
// sparseStorage and an impl.MemStorage and requires identical reads, with
// and without a backing file whose bytes it marks rather than copies; a
// copy (copyFrom) must read the same too.
func TestSparseStorageMatchesMem(t *testing.T) {
	const backingSize = 1 << 20
	for _, c := range []struct {
		pool    *PagePool
		backing bool
	}{{nil, false}, {&PagePool{}, false}, {nil, true}, {&PagePool{}, true}} {
		rng := rand.New(rand.NewPCG(1, 1))
		sp, mem := newSparseStorage(c.pool), impl.NewMemStorage()
		if c.backing {
			sp.backing, sp.backingSize = history.FillBacking, backingSize
		}
		marked := 0
		for i := range 4000 {
			off := int64(rng.IntN(64 << 10))
			n := rng.IntN(10000)
			switch rng.IntN(13) {
			case 10, 11, 12:
				// Backing bytes, often page-aligned so that whole
				// pages are marked; sometimes past the backing file.
				from := uint64(rng.IntN(backingSize))
				if rng.IntN(2) == 0 {
					off, from = off&^(pageSize-1), from&^(pageSize-1)
				}
				if rng.IntN(10) == 0 {
					from = backingSize - uint64(n)/2
				}
				p := make([]byte, n)
				history.FillBacking(p, from)
				if err := sp.WriteBackingAt(p, off, from); err != nil {
					t.Fatal(err)
				}
				mem.WriteAt(p, off)
				for c := range sp.marks {
					if sp.marks[c] != nil {
						for _, m := range sp.marks[c] {
							if m != 0 {
								marked++
							}
						}
					}
				}
			case 0:
				if err := sp.Truncate(off); err != nil {
					t.Fatal(err)
				}
				mem.Truncate(off)
			case 1:
				if err := sp.WriteZerosAt(off, int64(n)); err != nil {
					t.Fatal(err)
				}
				mem.WriteAt(make([]byte, n), off)
			case 2, 3, 4:
				p := make([]byte, n)
				if rng.IntN(3) > 0 {
					for j := range p {
						p[j] = byte(rng.IntN(4)) // zeros often
					}
				}
				sp.WriteAt(p, off)
				mem.WriteAt(p, off)
			default:
				a, b := make([]byte, n), make([]byte, n)
				na, ea := sp.ReadAt(a, off)
				nb, eb := mem.ReadAt(b, off)
				if na != nb || !errors.Is(ea, eb) && (ea == nil) != (eb == nil) || !bytes.Equal(a[:na], b[:nb]) {
					t.Fatalf("op %d: read %d at %d: sparse %d %v, mem %d %v", i, n, off, na, ea, nb, eb)
				}
			}
			if s1, _ := sp.Size(); s1 != int64(len(mem.Bytes())) {
				t.Fatalf("op %d: size %d, want %d", i, s1, len(mem.Bytes()))
			}
		}
		if sp.storedBytes() > 2*int64(len(mem.Bytes()))+pageSize {
			t.Errorf("sparse storage holds %d bytes for %d", sp.storedBytes(), len(mem.Bytes()))
		}
		if c.backing && marked == 0 {
			t.Error("no page was ever marked as backing bytes")
		}
		cp := newSparseStorage(c.pool)
		cp.copyFrom(sp)
		all := make([]byte, len(mem.Bytes()))
		if n, err := cp.ReadAt(all, 0); n != len(all) || (err != nil && err != io.EOF) || !bytes.Equal(all, mem.Bytes()) {
			t.Errorf("copy reads %d bytes (%v), differing from the storage", n, err)
		}
		cp.release()
		sp.release()
	}
}

func TestSparseStorageElidesZeros(t *testing.T) {
	sp := newSparseStorage(nil)
	sp.WriteAt(make([]byte, 1<<20), 0)
	if sp.storedBytes() != 0 {
		t.Errorf("zeros stored: %d bytes", sp.storedBytes())
	}
	if n, _ := sp.Size(); n != 1<<20 {
		t.Errorf("size %d", n)
	}
	if _, err := sp.ReadAt(make([]byte, 10), 1<<20); err != io.EOF {
		t.Errorf("read at end: %v", err)
	}
}

func TestPagePoolReusesZeroed(t *testing.T) {
	pool := &PagePool{}
	a := newSparseStorage(pool)
	a.WriteAt(bytes.Repeat([]byte{7}, 3*pageSize), 0)
	a.release()
	if len(pool.free) != 1 {
		t.Fatalf("pool holds %d slabs, want 1", len(pool.free))
	}
	b := newSparseStorage(pool)
	b.WriteAt([]byte{1}, 5)
	got := make([]byte, pageSize)
	b.ReadAt(got, 0)
	want := make([]byte, pageSize)
	want[5] = 1
	if !bytes.Equal(got, want) {
		t.Error("a reused page was not zeroed")
	}
	// A whole-page write takes a page without clearing it; unaligned
	// whole-page-long writes span two pages and must still clear both.
	full := bytes.Repeat([]byte{9}, pageSize)
	b.WriteAt(full, pageSize)
	b.WriteAt(full[:pageSize], 2*pageSize+100)
	got = make([]byte, 4*pageSize)
	b.ReadAt(got, 0)
	want = make([]byte, 4*pageSize)
	want[5] = 1
	copy(want[pageSize:], full)
	copy(want[2*pageSize+100:], full)
	if !bytes.Equal(got, want) {
		t.Error("reused pages hold stale bytes after whole-page and unaligned writes")
	}
}

// TestBackingStorage checks the computed backing file matches the
// recorder's BackingContent at any offset and length.
func TestBackingStorage(t *testing.T) {
	const sectors = 40
	want := history.BackingContent(sectors)
	bs := history.BackingStorage(sectors * history.SectorSize)
	rng := rand.New(rand.NewPCG(2, 2))
	for range 500 {
		off := rng.IntN(len(want) + 100)
		n := rng.IntN(3000)
		got := make([]byte, n)
		k, err := bs.ReadAt(got, int64(off))
		wantN := max(0, min(n, len(want)-off))
		if k != wantN || (k < n) != (err == io.EOF) || !bytes.Equal(got[:k], want[min(off, len(want)):][:k]) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, k, err)
		}
	}
	for s := range uint64(sectors) {
		if d := history.DecodeTag(want[s*history.SectorSize : (s+1)*history.SectorSize]); d.Tag != model.BackingTag(s) {
			t.Fatalf("sector %d decodes to %v", s, d)
		}
	}
	if _, err := bs.WriteAt([]byte{1}, 0); err == nil {
		t.Error("backing storage accepted a write")
	}
}

// TestPagePoolFillRandom checks the pool's cached random content is what
// fillRandom gives, for a nil pool, a first fill and a cached one, and
// that a caller writing to its buffer does not change the cache.
func TestPagePoolFillRandom(t *testing.T) {
	pool := &PagePool{}
	tests := []struct {
		name string
		pool *PagePool
		seed int64
		n    int
	}{
		{"nil pool", nil, 3, 4096},
		{"first", pool, 3, 4096},
		{"cached", pool, 3, 4096},
		{"other length", pool, 3, 512},
		{"other seed", pool, 4, 4096},
		{"cached again", pool, 3, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := make([]byte, tt.n)
			fillRandom(want, tt.seed)
			got := make([]byte, tt.n)
			tt.pool.fillRandom(got, tt.seed)
			if !bytes.Equal(got, want) {
				t.Errorf("seed %d, %d bytes: content differs from fillRandom", tt.seed, tt.n)
			}
			clear(got) // must not reach the cache
		})
	}
}

// TestPrefilledImageShared checks a run from the plan's shared prefilled
// image starts from the image a prefill of its own would make, and ends
// with the same figures.
func TestPrefilledImageShared(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
	}{
		{"rewrite", map[string]string{"rw": "randwrite", "pattern": "rewrite", "size": "2m", "ops": "300"}},
		{"rewrite backing", map[string]string{"rw": "randwrite", "pattern": "rewrite", "backing": "1", "size": "2m", "ops": "300"}},
		{"randrw prefill 4k clusters", map[string]string{"rw": "randrw", "prefill": "1", "cluster_size": "4k", "size": "1m", "ops": "300"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shared := mustPlan(t, "job", tt.set)
			own := *shared
			own.prefilled = nil // prefill every run afresh
			backing := func(p *Plan) impl.Storage {
				if p.job.Backing {
					return history.BackingStorage(int64(p.imageSize))
				}
				return nil
			}
			a, err := shared.prefilledImage(backing(shared))
			if err != nil {
				t.Fatal(err)
			}
			b, err := own.prefilledImage(backing(&own))
			if err != nil {
				t.Fatal(err)
			}
			if a == b {
				t.Fatal("a plan without a memo returned the shared image")
			}
			c := newSparseStorage(&PagePool{})
			c.copyFrom(a)
			for _, st := range []*sparseStorage{b, c} {
				if st.size != a.size || st.held != a.held {
					t.Fatalf("%d bytes in %d pages, want %d in %d", st.size, st.held, a.size, a.held)
				}
				want, got := make([]byte, a.size), make([]byte, a.size)
				a.ReadAt(want, 0)
				st.ReadAt(got, 0)
				if !bytes.Equal(got, want) {
					t.Fatal("prefilled images differ")
				}
			}
			var runs []Result
			for _, p := range []*Plan{shared, &own, shared} {
				res, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendSim, Device: nvme(t), QD: 8, Seed: 3, Pages: &PagePool{}})
				if err != nil {
					t.Fatal(err)
				}
				res.Submitter, res.IOWallNanos = nil, 0
				runs = append(runs, res)
			}
			for i := 1; i < len(runs); i++ {
				if !reflect.DeepEqual(runs[i], runs[0]) {
					t.Errorf("run %d differs:\n%+v\n%+v", i, runs[i], runs[0])
				}
			}
		})
	}
}

// TestPagePoolBuffers checks request buffers come back for requests that
// fit them, and that the pool keeps at most maxPoolBuffers, the largest.
func TestPagePoolBuffers(t *testing.T) {
	pool := &PagePool{}
	a := pool.buffer(1000)
	if len(a) != 1000 {
		t.Fatalf("buffer(1000) has %d bytes", len(a))
	}
	pool.putBuffer(a)
	tests := []struct {
		name   string
		n      int
		reused bool
	}{
		{"larger than any kept", 2000, false},
		{"fits the kept one", 500, true},
		{"none kept now", 500, false},
	}
	for _, tt := range tests {
		b := pool.buffer(tt.n)
		if len(b) != tt.n || (&b[0] == &a[0]) != tt.reused {
			t.Errorf("%s: %d bytes, reused %v, want %d bytes, reused %v", tt.name, len(b), &b[0] == &a[0], tt.n, tt.reused)
		}
	}
	for n := range maxPoolBuffers + 2 {
		pool.putBuffer(make([]byte, 100*(n+1)))
	}
	if len(pool.buffers) != maxPoolBuffers || cap(pool.buffers[0]) < 300 {
		t.Errorf("pool keeps %d buffers, the first of %d bytes", len(pool.buffers), cap(pool.buffers[0]))
	}
	for _, b := range pool.buffers {
		if cap(b) < 300 {
			t.Errorf("pool kept a %d-byte buffer over larger ones", cap(b))
		}
	}
}
