package impl

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestFillModes(t *testing.T) {
	tests := []struct {
		fill    FillMode
		grow    GrowMode
		backing bool
		// data I/Os and bytes for one 512-byte write in the middle of a
		// fresh 4 KiB cluster
		wantIOs, wantBytes uint64
	}{
		{FillMerged, GrowAhead, false, 1, 4096},
		{FillMerged, GrowOff, false, 1, 4096},
		{FillMerged, GrowAhead, true, 1, 4096},
		{FillSeparate, GrowAhead, false, 3, 4096},
		{FillSeparate, GrowAhead, true, 3, 4096},
		{FillElide, GrowAhead, false, 1, 512}, // the file is grown past the cluster: the data alone
		{FillElide, GrowOff, false, 2, 512},   // data, then write-zeroes to the cluster's end
		{FillElide, GrowAhead, true, 1, 4096}, // backing data must be copied
		{FillElide, GrowOff, true, 1, 4096},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("fill=%s/grow=%s/backing=%v", tc.fill, tc.grow, tc.backing), func(t *testing.T) {
			const size = 4 << 20
			rng := rand.New(rand.NewPCG(5, uint64(tc.fill)<<8|uint64(tc.grow)))
			ref := make([]byte, size)
			var backing []byte
			if tc.backing {
				backing = pattern(rng, size/2)
				copy(ref, backing)
			}
			opts := Options{Fill: tc.fill, Grow: tc.grow}
			im, files := testImage(t, size, CreateOptions{ClusterSize: 4096, TableSize: 2}, backing, opts)
			before := im.Stats()
			im.WriteAt(make([]byte, 512), 1024)
			after := im.Stats()
			if got := after.IOs[PurposeData] - before.IOs[PurposeData]; got != tc.wantIOs {
				t.Errorf("%d data I/Os for a partial allocating write, want %d", got, tc.wantIOs)
			}
			if got := after.Written[PurposeData] - before.Written[PurposeData]; got != tc.wantBytes {
				t.Errorf("%d data bytes written, want %d", got, tc.wantBytes)
			}
			copy(ref[1024:], make([]byte, 512))
			for i := range 200 {
				off := rng.Uint64N(size - 1)
				n := 1 + rng.Uint64N(min(size-off, 10000))
				d := pattern(rng, int(n))
				copy(ref[off:], d)
				if _, err := im.WriteAt(d, int64(off)); err != nil {
					t.Fatal(err)
				}
				if i%50 == 0 {
					im = reopen(t, im, files, opts)
				}
			}
			im = reopen(t, im, files, opts)
			got := make([]byte, size)
			im.ReadAt(got, 0)
			if !bytes.Equal(got, ref) {
				t.Fatal("content differs from reference")
			}
			im.Close()
			if sz, _ := files.Image.Size(); sz%4096 != 0 {
				t.Errorf("file size %d is not a whole number of clusters", sz)
			}
			if res, err := Check(files.Image, false); err != nil || !res.Clean() {
				t.Fatalf("check: %+v, %v", res, err)
			}
		})
	}
}
