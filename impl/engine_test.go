package impl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/qedharness/qedharness/model"
)

// testImage creates an image in memory and opens it on the mem backend.
func testImage(t testing.TB, size uint64, co CreateOptions, backing []byte, opts Options) (*Image, Files) {
	t.Helper()
	files := Files{Image: NewMemStorage()}
	if backing != nil {
		files.Backing = NewMemStorageFrom(backing)
		co.BackingFile = "backing.raw"
	}
	if err := Create(files.Image, size, co); err != nil {
		t.Fatal(err)
	}
	im, err := Open(files, NewMemBackend(files), opts)
	if err != nil {
		t.Fatal(err)
	}
	return im, files
}

func reopen(t testing.TB, im *Image, files Files, opts Options) *Image {
	t.Helper()
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	im2, err := Open(files, NewMemBackend(files), opts)
	if err != nil {
		t.Fatal(err)
	}
	return im2
}

// pattern returns n pseudo-random bytes: eight per RNG call, with one
// copy per word, so it stays cheap under the race detector.
func pattern(rng *rand.Rand, n int) []byte {
	b := make([]byte, (n+7)&^7)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b[:n]
}

func TestSequentialAgainstReference(t *testing.T) {
	geoms := []struct {
		cs, ts uint32
		size   uint64
	}{
		{4096, 1, 5<<20 + 512}, // L2 span 2 MiB: crosses tables; size not a cluster multiple
		{65536, 4, 64 << 20},
		{4096, 16, 3 << 20},
	}
	for _, g := range geoms {
		for _, withBacking := range []bool{false, true} {
			name := fmt.Sprintf("cs=%d/ts=%d/backing=%v", g.cs, g.ts, withBacking)
			t.Run(name, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, uint64(g.cs)))
				ref := make([]byte, g.size)
				var backing []byte
				if withBacking {
					backing = pattern(rng, int(g.size*2/3)) // shorter than the image
					copy(ref, backing)
				}
				im, files := testImage(t, g.size, CreateOptions{ClusterSize: g.cs, TableSize: g.ts}, backing, Options{})
				for i := range 300 {
					off := rng.Uint64N(g.size)
					n := 1 + rng.Uint64N(min(g.size-off, 3*uint64(g.cs)))
					if rng.IntN(3) == 0 {
						buf := make([]byte, n)
						if _, err := im.ReadAt(buf, int64(off)); err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(buf, ref[off:off+n]) {
							t.Fatalf("op %d: read %d at %d differs from reference", i, n, off)
						}
						continue
					}
					data := pattern(rng, int(n))
					if _, err := im.WriteAt(data, int64(off)); err != nil {
						t.Fatal(err)
					}
					copy(ref[off:], data)
					if i%97 == 0 {
						im = reopen(t, im, files, Options{})
					}
				}
				im = reopen(t, im, files, Options{})
				got := make([]byte, g.size)
				if _, err := im.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, ref) {
					t.Fatal("image differs from reference after reopen")
				}
				if err := im.Close(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestConcurrentPolicies runs many requests in flight at once under every
// policy on the mem backend and checks that disjoint writes all survive.
func TestConcurrentPolicies(t *testing.T) {
	for _, reg := range model.Registered() {
		t.Run(reg.Name, func(t *testing.T) {
			const size = 8 << 20
			im, files := testImage(t, size, CreateOptions{ClusterSize: 4096, TableSize: 1}, nil, Options{Policy: reg.Policy})
			rng := rand.New(rand.NewPCG(7, 7))
			ref := make([]byte, size)
			// Each 512-byte sector written at most once, so order cannot matter.
			perm := rng.Perm(size / 512)
			done := 0
			for i := range 2000 {
				off := uint64(perm[i]) * 512
				data := pattern(rng, 512)
				copy(ref[off:], data)
				im.Submit(&Request{Op: ReqWrite, Off: off, Buf: data, Done: func(r *Request) {
					if r.Err != nil {
						t.Error(r.Err)
					}
					done++
				}})
			}
			im.Run()
			if done != 2000 {
				t.Fatalf("%d of 2000 requests completed", done)
			}
			im = reopen(t, im, files, Options{})
			got := make([]byte, size)
			if _, err := im.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			same := bytes.Equal(got, ref)
			switch {
			case reg.Expect == model.Safe && !same:
				t.Fatal("content differs after concurrent writes")
			case reg.Expect == model.Unsafe:
				t.Logf("%s (declared unsafe): content preserved = %v", reg.Name, same)
			}
			if st := im.Stats(); reg.Parallel && st.MaxAllocInFlight < 2 {
				t.Logf("max allocating writes in flight: %d", st.MaxAllocInFlight)
			}
			im.Close()
		})
	}
}

func TestRequestErrors(t *testing.T) {
	im, _ := testImage(t, 1<<20, CreateOptions{ClusterSize: 4096}, nil, Options{})
	defer im.Close()
	tests := []struct {
		name string
		op   ReqOp
		off  uint64
		n    int
	}{
		{"write past end", ReqWrite, 1<<20 - 10, 20},
		{"read past end", ReqRead, 1 << 20, 1},
		{"offset overflow", ReqRead, ^uint64(0) - 2, 10},
		{"bad op", ReqOp(9), 0, 1},
	}
	for _, tc := range tests {
		r := &Request{Op: tc.op, Off: tc.off, Buf: make([]byte, tc.n)}
		im.Submit(r)
		im.Run()
		if r.Err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// TestUnorderedMetadataStillCorrectInOrder checks the naive metadata mode
// on a backend that completes in submission order, where it cannot lose
// an update: it is only unsafe when writes of a sector land out of order.
func TestUnorderedMetadataStillCorrectInOrder(t *testing.T) {
	opts := Options{Policy: model.Overlap{}, UnorderedMetadata: true}
	im, files := testImage(t, 4<<20, CreateOptions{ClusterSize: 4096, TableSize: 2}, nil, opts)
	rng := rand.New(rand.NewPCG(11, 11))
	ref := make([]byte, 4<<20)
	for range 300 {
		off := rng.Uint64N(4<<20-512) &^ 511
		d := pattern(rng, 512)
		copy(ref[off:], d)
		im.Submit(&Request{Op: ReqWrite, Off: off, Buf: d})
	}
	im.Run()
	if st := im.Stats(); st.IOs[PurposeL2Write] < 250 {
		t.Errorf("%d L2 writes for 300 concurrent allocations: updates were coalesced", st.IOs[PurposeL2Write])
	}
	im = reopen(t, im, files, opts)
	got := make([]byte, 4<<20)
	im.ReadAt(got, 0)
	if !bytes.Equal(got, ref) {
		t.Fatal("content differs")
	}
	im.Close()
}
