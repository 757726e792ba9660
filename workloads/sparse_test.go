package workloads

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// TestSparseStorageMatchesMem applies the same random operations to a
// sparseStorage and an impl.MemStorage and requires identical reads.
func TestSparseStorageMatchesMem(t *testing.T) {
	for _, pool := range []*PagePool{nil, {}} {
		rng := rand.New(rand.NewPCG(1, 1))
		sp, mem := newSparseStorage(pool), impl.NewMemStorage()
		for i := range 3000 {
			off := int64(rng.IntN(64 << 10))
			n := rng.IntN(10000)
			switch rng.IntN(10) {
			case 0:
				if err := sp.Truncate(off); err != nil {
					t.Fatal(err)
				}
				mem.Truncate(off)
			case 1, 2, 3, 4:
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
	if len(pool.free) != 3 {
		t.Fatalf("pool holds %d pages, want 3", len(pool.free))
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
	want := BackingContent(sectors)
	bs := backingStorage{size: sectors * SectorSize}
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
		if d := DecodeTag(want[s*SectorSize : (s+1)*SectorSize]); d.Tag != model.BackingTag(s) {
			t.Fatalf("sector %d decodes to %v", s, d)
		}
	}
	if _, err := bs.WriteAt([]byte{1}, 0); err == nil {
		t.Error("backing storage accepted a write")
	}
}
