package impl

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Fuzz targets for hostile images. Seeds: the check fixtures (check_test.go,
// every -ok and -bad image), the committed corpus under testdata/fuzz/
// (images qemu-img created and qemu-io wrote, so the fuzzer starts from
// what QEMU really writes), and, where qemu-img is installed, the same
// images made afresh. FuzzDecodeTable (table_fuzz_test.go) fuzzes the
// table decoders and entry validators on their own.

// fuzzQEMUImages makes small images with qemu-img and qemu-io, or returns
// nil where they are not installed.
func fuzzQEMUImages(f *testing.F) [][]byte {
	qimg, err1 := exec.LookPath("qemu-img")
	qio, err2 := exec.LookPath("qemu-io")
	if err1 != nil || err2 != nil {
		return nil
	}
	dir := f.TempDir()
	var out [][]byte
	for i, c := range []struct {
		opts string
		cmds []string
	}{
		{"cluster_size=4096,table_size=2", nil},
		{"cluster_size=4096,table_size=2", []string{"write -P 0x11 0 4096", "write -P 0x22 12288 1024", "write -z 8192 4096"}},
		{"cluster_size=4096,table_size=2,backing_file=b.raw,backing_fmt=raw", []string{"write -P 0x33 512 512"}},
	} {
		path := filepath.Join(dir, fmt.Sprintf("seed%d.qed", i))
		if err := os.WriteFile(filepath.Join(dir, "b.raw"), make([]byte, 64<<10), 0o644); err != nil {
			f.Fatal(err)
		}
		if b, err := exec.Command(qimg, "create", "-f", "qed", "-o", c.opts, path, "1M").CombinedOutput(); err != nil {
			f.Fatalf("qemu-img create: %v\n%s", err, b)
		}
		if len(c.cmds) > 0 {
			args := []string{"-f", "qed"}
			for _, cmd := range c.cmds {
				args = append(args, "-c", cmd)
			}
			if b, err := exec.Command(qio, append(args, path)...).CombinedOutput(); err != nil {
				f.Fatalf("qemu-io: %v\n%s", err, b)
			}
		}
		img, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, img)
	}
	return out
}

// fuzzSeeds adds the fixture and QEMU images to f, whole or (header) their
// first sector.
func fuzzSeeds(f *testing.F, header bool) {
	var imgs [][]byte
	for _, tc := range chkCases {
		for _, v := range chkVariants(tc) {
			imgs = append(imgs, v.img)
		}
	}
	imgs = append(imgs, fuzzQEMUImages(f)...)
	for _, img := range imgs {
		if header && len(img) > SectorSize {
			img = img[:SectorSize]
		}
		f.Add(img)
	}
}

// FuzzDecodeHeader feeds arbitrary bytes to the header parser and the
// header validation: no panic; a header that decodes re-encodes to the
// same fields; one that validates has a geometry whose tables fit the
// file.
func FuzzDecodeHeader(f *testing.F) {
	fuzzSeeds(f, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrNotQED) {
				t.Fatalf("DecodeHeader error %v does not wrap ErrNotQED", err)
			}
			return
		}
		again, err := DecodeHeader(h.Encode())
		if err != nil || again != h {
			t.Fatalf("header does not round-trip: %+v -> %+v, %v", h, again, err)
		}
		size := uint64(len(b)) << 12 // a file a few thousand times the input
		if h.Validate(size) != nil {
			return
		}
		g := GeometryOf(&h)
		if g.ClusterSize != uint64(h.ClusterSize) || g.ClusterSize&(g.ClusterSize-1) != 0 {
			t.Fatalf("geometry %+v of valid header %+v", g, h)
		}
		if h.L1TableOffset+g.TableBytes > size || g.L1Entries()*g.L2Span() < h.ImageSize {
			t.Fatalf("valid header %+v: L1 table past end of file %d or guest not covered (geometry %+v)", h, size, g)
		}
	})
}

// fuzzStore is a MemStorage that fails the test on a write that no valid
// engine or repair makes: one into the header cluster(s) other than a
// rewrite of the header sector itself, or one far past the file's end.
type fuzzStore struct {
	*MemStorage
	t         *testing.T
	headerEnd int64
	limit     int64
}

func (s *fuzzStore) WriteAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	if off < s.headerEnd && !(off == 0 && len(p) <= SectorSize) {
		s.t.Fatalf("write of %d bytes at %#x lands inside the header (%d bytes)", len(p), off, s.headerEnd)
	}
	if end > s.limit {
		s.t.Fatalf("write of %d bytes at %#x ends past %#x, far beyond the file", len(p), off, s.limit)
	}
	return s.MemStorage.WriteAt(p, off)
}

// fuzzSlow is how long one input of FuzzOpenReadCheck may take before
// the target reports it as a hang.
const fuzzSlow = 10 * time.Second

// FuzzOpenReadCheck opens mutated images and uses them: no panic and no
// wild write (fuzzStore) whatever the bytes; an image that does not open
// says why; and after Check repairs it, the image opens, takes writes that
// read back, and checks clean after a clean close.
func FuzzOpenReadCheck(f *testing.F) {
	fuzzSeeds(f, false)
	f.Fuzz(fuzzOpenReadCheck)
}

// fuzzOpenReadCheck is FuzzOpenReadCheck's body.
func fuzzOpenReadCheck(t *testing.T, img []byte) {
	if len(img) > 1<<20 {
		return
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(fuzzSlow):
			os.WriteFile(filepath.Join(os.TempDir(), "qed-fuzz-slow.img"), img, 0o644)
			panic(fmt.Sprintf("FuzzOpenReadCheck: one image took over %v (saved to %s)", fuzzSlow, filepath.Join(os.TempDir(), "qed-fuzz-slow.img")))
		}
	}()
	h, herr := DecodeHeader(img)
	headerEnd := int64(SectorSize)
	if herr == nil && h.HeaderSize > 0 && h.HeaderSize < 1<<16 {
		headerEnd = min(int64(h.HeaderSize)*int64(h.ClusterSize), int64(len(img)))
	}
	newStore := func(b []byte) *fuzzStore {
		return &fuzzStore{MemStorage: NewMemStorageFrom(append([]byte(nil), b...)), t: t, headerEnd: headerEnd, limit: int64(len(b)) + 64<<20}
	}
	files := func(st Storage) Files {
		fs := Files{Image: st}
		if herr == nil && h.Features&FeatureBackingFile != 0 {
			fs.Backing = NewMemStorageFrom(bytes.Repeat([]byte{0xb0}, 64<<10))
		}
		return fs
	}

	// The image as it is: open read-only and read, then writable.
	st := newStore(img)
	for _, ro := range []bool{true, false} {
		fs := files(st)
		im, err := Open(fs, NewMemBackend(fs), Options{ReadOnly: ro, L2CacheTables: 4})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("Open failed with an empty error")
			}
			continue
		}
		fuzzUse(t, im, false)
		im.Close()
	}

	// The image repaired: it must then work and check clean.
	st = newStore(img)
	rep, err := Check(st, true)
	if err != nil {
		return // not a QED image Check can read: Open refused it above too
	}
	if rep.Corruptions > 0 {
		return // cross-links a repair leaves: the image stays corrupt
	}
	if reliesOnPartialCluster(st) && os.Getenv("QED_FUZZ_LENIENT") != "" {
		t.Skip("known issue (partial-last-cluster, as the checker/crash tests classify it): Check accepts a data cluster the file holds only in part, and the allocator hands it out again; QED_FUZZ_LENIENT is set")
	}
	fs := files(st)
	im, err := Open(fs, NewMemBackend(fs), Options{L2CacheTables: 4})
	if err != nil {
		t.Fatalf("repaired image does not open: %v", err)
	}
	fuzzUse(t, im, true)
	if err := im.Close(); err != nil {
		t.Fatalf("close repaired image: %v", err)
	}
	res, err := Check(st, false)
	if err != nil || res.Corruptions != 0 || res.CheckErrors != 0 {
		t.Fatalf("repaired image after writes: %+v, %v", res, err)
	}
}

// reliesOnPartialCluster reports whether the image in st ends inside a
// cluster that a table entry references: Check accepts that and the
// engine does not (the partial-last-cluster issue of the checker/crash
// tests, issuePartialCluster).
func reliesOnPartialCluster(st *fuzzStore) bool {
	sz, err := st.Size()
	if err != nil {
		return false
	}
	h, err := DecodeHeader(st.Bytes())
	if err != nil || sz%int64(h.ClusterSize) == 0 {
		return false
	}
	cut := NewMemStorageFrom(st.Bytes()[:sz&^int64(h.ClusterSize-1)])
	res, err := Check(cut, false)
	return err != nil || res.Corruptions > 0
}

// fuzzUse reads the start of the guest and writes two small patterns
// (with must set, they have to succeed and read back).
func fuzzUse(t *testing.T, im *Image, must bool) {
	g := im.Geometry()
	buf := make([]byte, min(g.ImageSize, 64<<10))
	_, _ = im.ReadAt(buf, 0)
	if im.eng.readOnly {
		return
	}
	for _, off := range []uint64{0, g.ImageSize / 2 &^ (SectorSize - 1)} {
		n := min(uint64(3*SectorSize), g.ImageSize-off)
		if n == 0 {
			continue
		}
		p := bytes.Repeat([]byte{byte(off>>9) | 1}, int(n))
		if _, err := im.WriteAt(p, int64(off)); err != nil {
			if must {
				t.Fatalf("write %d bytes at %d on the repaired image: %v", n, off, err)
			}
			continue
		}
		got := make([]byte, n)
		if _, err := im.ReadAt(got, int64(off)); err != nil || !bytes.Equal(got, p) {
			if must {
				t.Fatalf("read back %d bytes at %d on the repaired image: %v (equal %v)", n, off, err, bytes.Equal(got, p))
			}
		}
	}
}
