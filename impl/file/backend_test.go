package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/internal/hostio"
)

// fileTestSeed seeds every random choice in these tests; a failure prints
// it.
const fileTestSeed = 20240601

// newFileTestBackend creates an empty image file in a temporary directory
// and a Backend over it. With opts.Direct it skips the test if the
// file system or the system refuses O_DIRECT.
func newFileTestBackend(t testing.TB, opts Options) (*Backend, *impl.FileStorage) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image.qed")
	st, err := impl.CreateFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := New(impl.Files{Image: st}, path, opts)
	if err != nil {
		skipIfRefused(t, opts, err)
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, st
}

// skipIfRefused skips the test if err from New says this
// system refuses what opts ask for: O_DIRECT, or io_uring.
func skipIfRefused(t testing.TB, opts Options, err error) {
	t.Helper()
	if opts.Direct && (errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported)) {
		t.Skipf("skipping: O_DIRECT refused here: %v", err)
	}
	if opts.AIO == AIOIOUring && (errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) || errors.Is(err, errors.ErrUnsupported) || IOUringAvailable() != nil) {
		t.Skipf("skipping: io_uring refused here: %v", err)
	}
}

// aioModes are the ways a Backend submits I/O; the tests run in each.
var aioModes = []AIOMode{AIOThreads, AIOIOUring}

// forEachAIO runs f as a subtest per AIO mode.
func forEachAIO(t *testing.T, f func(t *testing.T, aio AIOMode)) {
	for _, aio := range aioModes {
		t.Run("aio="+aio.String(), func(t *testing.T) { f(t, aio) })
	}
}

// drainFile returns every I/O the backend completes until it is idle,
// failing the test on an I/O error.
func drainFile(t testing.TB, b *Backend) []*impl.IO {
	t.Helper()
	var out []*impl.IO
	for o := b.Next(); o != nil; o = b.Next() {
		if o.Err != nil {
			t.Fatalf("%v: %v", o, o.Err)
		}
		out = append(out, o)
	}
	return out
}

// runFileIO submits one I/O, waits for it and returns its error.
func runFileIO(t testing.TB, b *Backend, o *impl.IO) error {
	t.Helper()
	b.Submit(o)
	got := b.Next()
	if got != o {
		t.Fatalf("Next returned %v, want %v", got, o)
	}
	if extra := b.Next(); extra != nil {
		t.Fatalf("Next returned %v with nothing in flight", extra)
	}
	return o.Err
}

func TestFileStorage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.raw")
	st, err := impl.CreateFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name() != path {
		t.Errorf("Name = %q, want %q", st.Name(), path)
	}
	if _, err := st.WriteAt([]byte("hello"), 10); err != nil {
		t.Fatal(err)
	}
	if size, err := st.Size(); err != nil || size != 15 {
		t.Fatalf("Size = %d, %v; want 15", size, err)
	}
	p := make([]byte, 10)
	n, err := st.ReadAt(p, 10)
	if n != 5 || err != io.EOF || string(p[:5]) != "hello" {
		t.Fatalf("ReadAt past end = %d, %v, %q; want 5, EOF, hello", n, err, p[:n])
	}
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := st.Truncate(12); err != nil {
		t.Fatal(err)
	}
	if size, _ := st.Size(); size != 12 {
		t.Fatalf("Size after Truncate(12) = %d", size)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if err := st.Sync(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Sync after Close = %v, want an error naming %s", err, path)
	}

	ro, err := impl.OpenFileStorage(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if !ro.ReadOnly() {
		t.Error("ReadOnly = false for a read-only storage")
	}
	if _, err := ro.WriteAt([]byte("x"), 0); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteAt on read-only storage = %v, want an error naming %s", err, path)
	}
	if _, err := ro.ReadAt(p[:2], 10); err != nil || string(p[:2]) != "he" {
		t.Errorf("ReadAt on reopened storage = %v, %q", err, p[:2])
	}

	missing := filepath.Join(t.TempDir(), "missing.qed")
	if _, err := impl.OpenFileStorage(missing, false); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenFileStorage(missing) = %v, want ErrNotExist naming %s", err, missing)
	}
}

// TestFileBackendRoundTrip writes 256 random 4 KiB blocks to distinct
// slots with all of them in flight at once, reads them back (plus unwritten
// slots and slots past the end of file, which read as zeros) the same way,
// and compares.
func TestFileBackendRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    Options
		aligned bool
	}{
		{"direct=false", Options{}, true},
		{"direct=false/workers=3", Options{Workers: 3}, true},
		{"direct=true", Options{Direct: true}, true},
		{"direct=true/bounce", Options{Direct: true, Workers: 8}, false},
		{"direct=false/aio=io_uring", Options{AIO: AIOIOUring}, true},
		{"direct=false/aio=io_uring/workers=3", Options{AIO: AIOIOUring, Workers: 3}, true},
		{"direct=true/aio=io_uring", Options{Direct: true, AIO: AIOIOUring}, true},
		{"direct=true/bounce/aio=io_uring", Options{Direct: true, AIO: AIOIOUring, Workers: 8}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Logf("seed %d", fileTestSeed)
			rng := rand.New(rand.NewPCG(fileTestSeed, 0))
			b, st := newFileTestBackend(t, c.opts)
			const block, slots, writes = 4096, 1024, 256
			buffer := func() []byte {
				if c.aligned {
					return impl.AlignedBuffer(block)
				}
				return impl.AlignedBuffer(block + 1)[1:] // misaligned on purpose
			}
			perm := rng.Perm(slots)
			want := make(map[uint64][]byte)
			for i, slot := range perm[:writes] {
				buf := buffer()
				for j := range buf {
					buf[j] = byte(rng.Uint32())
				}
				off := uint64(slot) * block
				want[off] = bytes.Clone(buf)
				b.Submit(&impl.IO{ID: uint64(i), Op: impl.OpWrite, Off: off, Buf: buf})
			}
			if got := len(drainFile(t, b)); got != writes {
				t.Fatalf("%d writes completed, want %d", got, writes)
			}
			size, _ := st.Size()

			// Read every written slot, 16 unwritten ones, and 4 past EOF.
			var reads []*impl.IO
			offs := make([]uint64, 0, writes+20)
			for _, slot := range perm[:writes+16] {
				offs = append(offs, uint64(slot)*block)
			}
			for i := range 4 {
				offs = append(offs, uint64(size)+uint64(i)*block)
			}
			for i, off := range offs {
				buf := buffer()
				for j := range buf {
					buf[j] = 0xAA // must be overwritten, with zeros if unwritten
				}
				o := &impl.IO{ID: uint64(1000 + i), Op: impl.OpRead, Off: off, Buf: buf}
				reads = append(reads, o)
				b.Submit(o)
			}
			seen := make(map[uint64]bool)
			for _, o := range drainFile(t, b) {
				if seen[o.ID] {
					t.Fatalf("%v returned twice", o)
				}
				seen[o.ID] = true
			}
			if len(seen) != len(reads) {
				t.Fatalf("%d reads completed, want %d", len(seen), len(reads))
			}
			zero := make([]byte, block)
			for _, o := range reads {
				exp, ok := want[o.Off]
				if !ok {
					exp = zero
				}
				if !bytes.Equal(o.Buf, exp) {
					t.Fatalf("seed %d: %v read %x..., want %x...", fileTestSeed, o, o.Buf[:8], exp[:8])
				}
			}

			s := b.Stats()
			total := uint64(writes + len(reads))
			if s.Submitted != total || s.Completed != total {
				t.Errorf("Stats: submitted %d completed %d, want %d", s.Submitted, s.Completed, total)
			}
			var wantDirect, wantBounced, wantBuffered uint64
			switch {
			case !c.opts.Direct:
				wantBuffered = total
			case c.aligned:
				wantDirect = total
			default:
				wantBounced = total
			}
			if s.Direct != wantDirect || s.Bounced != wantBounced || s.Buffered != wantBuffered {
				t.Errorf("Stats: direct %d bounced %d buffered %d, want %d %d %d",
					s.Direct, s.Bounced, s.Buffered, wantDirect, wantBounced, wantBuffered)
			}
		})
	}
}

// TestFileBackendDirectUnaligned mixes aligned, bounced and unaligned
// I/O in Direct mode, ending the file off a block boundary, and checks
// the file and every read against the expected bytes.
func TestFileBackendDirectUnaligned(t *testing.T) {
	forEachAIO(t, testFileBackendDirectUnaligned)
}

func testFileBackendDirectUnaligned(t *testing.T, aio AIOMode) {
	b, st := newFileTestBackend(t, Options{Direct: true, AIO: aio})
	rng := rand.New(rand.NewPCG(fileTestSeed, 1))
	fill := func(buf []byte) []byte {
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		return buf
	}
	var want []byte
	put := func(off int, p []byte) {
		if end := off + len(p); end > len(want) {
			want = append(want, make([]byte, end-len(want))...)
		}
		copy(want[off:], p)
	}

	writes := []*impl.IO{
		{Op: impl.OpWrite, Off: 0, Buf: fill(impl.AlignedBuffer(8193)[1:])},       // bounced
		{Op: impl.OpWrite, Off: 8192, Buf: fill(impl.AlignedBuffer(4096))},        // direct
		{Op: impl.OpWrite, Off: 12288 + 100, Buf: fill(impl.AlignedBuffer(1000))}, // buffered: off and length unaligned
		{Op: impl.OpWrite, Off: 4096 + 512, Buf: fill(impl.AlignedBuffer(512))},   // buffered, over the bounced write
	}
	for _, o := range writes {
		if err := runFileIO(t, b, o); err != nil {
			t.Fatal(err)
		}
		put(int(o.Off), o.Buf)
	}
	if s := b.Stats(); s.Direct != 1 || s.Bounced != 1 || s.Buffered != 2 {
		t.Errorf("after writes: direct %d bounced %d buffered %d, want 1 1 2", s.Direct, s.Bounced, s.Buffered)
	}
	if size, _ := st.Size(); size != int64(len(want)) {
		t.Fatalf("size %d, want %d", size, len(want))
	}
	file, err := os.ReadFile(st.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, want) {
		t.Fatal("file content differs from the writes")
	}

	// 13388 bytes of file: a direct read of 16 KiB stops short of a block
	// boundary and finishes through the buffered descriptor, zero-filled.
	reads := []*impl.IO{
		{Op: impl.OpRead, Off: 0, Buf: impl.AlignedBuffer(16384)},         // direct, crosses EOF
		{Op: impl.OpRead, Off: 0, Buf: impl.AlignedBuffer(16385)[1:]},     // bounced, crosses EOF
		{Op: impl.OpRead, Off: 12288, Buf: impl.AlignedBuffer(4096)},      // direct, ends past EOF
		{Op: impl.OpRead, Off: 12288 + 100, Buf: impl.AlignedBuffer(999)}, // buffered
		{Op: impl.OpRead, Off: 1 << 20, Buf: impl.AlignedBuffer(4096)},    // direct, wholly past EOF
	}
	padded := append(bytes.Clone(want), make([]byte, 1<<21)...)
	for _, o := range reads {
		for i := range o.Buf {
			o.Buf[i] = 0xAA
		}
		if err := runFileIO(t, b, o); err != nil {
			t.Fatal(err)
		}
		if exp := padded[o.Off : int(o.Off)+len(o.Buf)]; !bytes.Equal(o.Buf, exp) {
			t.Errorf("%v: content differs", o)
		}
	}
	if s := b.Stats(); s.Direct != 4 || s.Bounced != 2 || s.Buffered != 3 {
		t.Errorf("after reads: direct %d bounced %d buffered %d, want 4 2 3", s.Direct, s.Bounced, s.Buffered)
	}
}

// TestFileBackendDirectRefused opens a file on tmpfs with Direct and
// expects an error that says the file system refuses O_DIRECT.
func TestFileBackendDirectRefused(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "filebackend")
	if err != nil {
		t.Skipf("skipping: no /dev/shm to try O_DIRECT on tmpfs: %v", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "image.qed")
	st, err := impl.CreateFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := New(impl.Files{Image: st}, "", Options{Direct: true})
	if err == nil {
		b.Close()
		t.Skip("skipping: tmpfs on /dev/shm accepts O_DIRECT (Linux 6.6 and later)")
	}
	t.Log(err)
	if !hostio.DirectSupported {
		return
	}
	checkDirectRefused(t, err, path)
}

// TestDirectOpenError checks the message for EINVAL from open(O_DIRECT),
// which the tmpfs test cannot reach on kernels whose tmpfs accepts it.
func TestDirectOpenError(t *testing.T) {
	if !hostio.DirectSupported {
		t.Skip("skipping: no O_DIRECT on this system")
	}
	checkDirectRefused(t, directOpenError("/x/image.qed", syscall.EINVAL), "/x/image.qed")
	if err := directOpenError("/x/image.qed", syscall.EACCES); !strings.Contains(err.Error(), "/x/image.qed") || strings.Contains(err.Error(), "refuses") {
		t.Errorf("EACCES: %v", err)
	}
}

func checkDirectRefused(t *testing.T, err error, path string) {
	t.Helper()
	if !strings.Contains(err.Error(), "refuses O_DIRECT") || !strings.Contains(err.Error(), path) || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("error %q does not say that %s refuses O_DIRECT", err, path)
	}
}

// TestFileBackendPrealloc checks that preallocation happens ahead of the
// highest write, keeps the file size, and is released by Close.
func TestFileBackendPrealloc(t *testing.T) {
	const ahead = 8 << 20
	for _, c := range []struct {
		direct bool
		aio    AIOMode
	}{{false, AIOThreads}, {true, AIOThreads}, {false, AIOIOUring}, {true, AIOIOUring}} {
		direct := c.direct
		t.Run(fmt.Sprintf("direct=%v/aio=%v", direct, c.aio), func(t *testing.T) {
			b, st := newFileTestBackend(t, Options{Direct: direct, PreallocBytes: ahead, AIO: c.aio})
			allocated := func() int64 {
				t.Helper()
				var n int64
				err := st.WithFD(func(fd int) (err error) { n, err = hostio.AllocatedBytes(fd); return err })
				if errors.Is(err, errors.ErrUnsupported) {
					return -1
				} else if err != nil {
					t.Fatal(err)
				}
				return n
			}
			write := func(off uint64) {
				t.Helper()
				if err := runFileIO(t, b, &impl.IO{Op: impl.OpWrite, Off: off, Buf: impl.AlignedBuffer(4096)}); err != nil {
					t.Fatal(err)
				}
				if size, _ := st.Size(); size != int64(off)+4096 {
					t.Fatalf("after a write at %#x the size is %d, want %d", off, size, off+4096)
				}
			}

			const x = 1 << 20
			write(x)
			s := b.Stats()
			if s.PreallocUnsupported {
				t.Skipf("skipping: the file system has no fallocate")
			}
			if s.PreallocErr != nil {
				t.Fatal(s.PreallocErr)
			}
			if s.Preallocs != 1 || s.PreallocEnd != x+4096+ahead || s.PreallocatedBytes != 4096+ahead {
				t.Errorf("after one write: %d preallocs of %d bytes to %#x, want 1 of %d to %#x",
					s.Preallocs, s.PreallocatedBytes, s.PreallocEnd, 4096+ahead, x+4096+ahead)
			}
			if n := allocated(); n >= 0 && n < ahead {
				t.Errorf("%d bytes allocated, want at least %d", n, ahead)
			}
			write(x + 4096)
			write(x + ahead)
			if s := b.Stats(); s.Preallocs != 1 {
				t.Errorf("writes inside the preallocated region preallocated again (%d calls)", s.Preallocs)
			}
			write(x + ahead + 8192) // ends past x+4096+ahead
			if s := b.Stats(); s.Preallocs != 2 || s.PreallocEnd != x+ahead+12288+ahead {
				t.Errorf("after a write past the region: %d preallocs to %#x, want 2 to %#x", s.Preallocs, s.PreallocEnd, x+ahead+12288+ahead)
			}
			// Allocated now: [x, x+4096+ahead) and [x+ahead+8192, x+2*ahead+12288).
			if n := allocated(); n >= 0 && n < 2*ahead {
				t.Errorf("%d bytes allocated, want at least %d", n, 2*ahead)
			}

			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if size, _ := st.Size(); size != x+ahead+12288 {
				t.Errorf("size after Close %d, want %d", size, x+ahead+12288)
			}
			// Close releases what lies past the end of the file; the
			// preallocated blocks inside it stay.
			if n := allocated(); n > ahead+1<<20 {
				t.Errorf("%d bytes still allocated after Close, want about %d", n, ahead+12288)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		b, _ := newFileTestBackend(t, Options{PreallocBytes: -1})
		if err := runFileIO(t, b, &impl.IO{Op: impl.OpWrite, Off: 1 << 20, Buf: make([]byte, 4096)}); err != nil {
			t.Fatal(err)
		}
		if s := b.Stats(); s.Preallocs != 0 || s.PreallocEnd != 0 {
			t.Errorf("preallocation disabled, yet %d preallocs to %#x", s.Preallocs, s.PreallocEnd)
		}
	})
}

func TestFileBackendNextIdle(t *testing.T) {
	forEachAIO(t, testFileBackendNextIdle)
}

func testFileBackendNextIdle(t *testing.T, aio AIOMode) {
	b, _ := newFileTestBackend(t, Options{Workers: 2, AIO: aio})
	if o := b.Next(); o != nil {
		t.Fatalf("Next on a new backend returned %v", o)
	}
	for range 3 {
		if err := runFileIO(t, b, &impl.IO{Op: impl.OpWrite, Buf: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if o := b.Next(); o != nil {
			t.Fatalf("Next with nothing in flight returned %v", o)
		}
	}
}

// TestFileBackendFlushAndBacking covers flushes, backing-file reads
// (zero-filled past the backing file's end) and the refused backing write,
// with the backing file in memory and on disk.
func TestFileBackendFlushAndBacking(t *testing.T) {
	for _, onDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("backing-file=%v", onDisk), func(t *testing.T) {
			forEachAIO(t, func(t *testing.T, aio AIOMode) { testFileBackendFlushAndBacking(t, aio, onDisk) })
		})
	}
}

func testFileBackendFlushAndBacking(t *testing.T, aio AIOMode, onDisk bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "image.qed")
	st, err := impl.CreateFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var backing impl.Storage = impl.NewMemStorageFrom([]byte("backing data"))
	if onDisk {
		bpath := filepath.Join(dir, "backing.raw")
		if err := os.WriteFile(bpath, []byte("backing data"), 0o644); err != nil {
			t.Fatal(err)
		}
		bst, err := impl.OpenFileStorage(bpath, true)
		if err != nil {
			t.Fatal(err)
		}
		defer bst.Close()
		backing = bst
	}
	opts := Options{AIO: aio}
	b, err := New(impl.Files{Image: st, Backing: backing}, "", opts)
	if err != nil {
		skipIfRefused(t, opts, err)
		t.Fatal(err)
	}
	defer b.Close()

	if err := runFileIO(t, b, &impl.IO{Op: impl.OpWrite, Off: 0, Buf: []byte("image")}); err != nil {
		t.Fatal(err)
	}
	if err := runFileIO(t, b, &impl.IO{Op: impl.OpFlush, Purpose: impl.PurposeFlush}); err != nil {
		t.Fatal(err)
	}
	if err := runFileIO(t, b, &impl.IO{Op: impl.OpFlush, File: impl.BackingFile}); err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{0xAA}, 16)
	if err := runFileIO(t, b, &impl.IO{Op: impl.OpRead, File: impl.BackingFile, Off: 8, Buf: buf}); err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("data"), make([]byte, 12)...); !bytes.Equal(buf, want) {
		t.Errorf("backing read = %q, want %q", buf, want)
	}
	if err := runFileIO(t, b, &impl.IO{Op: impl.OpWrite, File: impl.BackingFile, Buf: []byte("x")}); err == nil {
		t.Error("write to the backing file succeeded")
	}
	if s := b.Stats(); s.Flushes != 2 {
		t.Errorf("Stats.Flushes = %d, want 2", s.Flushes)
	}
}

// TestFileBackendClose closes a backend with 512 writes in flight (more
// than the workers and their queue hold) and checks that every write
// completed and landed, and that the storage stays open.
func TestFileBackendClose(t *testing.T) {
	forEachAIO(t, testFileBackendClose)
}

func testFileBackendClose(t *testing.T, aio AIOMode) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			b, st := newFileTestBackend(t, Options{Direct: direct, Workers: 4, AIO: aio})
			const n, block = 512, 4096
			var ios []*impl.IO
			for i := range n {
				buf := impl.AlignedBuffer(block)
				for j := range buf {
					buf[j] = byte(i + j/256)
				}
				o := &impl.IO{ID: uint64(i), Op: impl.OpWrite, Off: uint64(i) * block, Buf: buf}
				o.Err = errors.New("not performed")
				ios = append(ios, o)
				b.Submit(o)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			file, err := os.ReadFile(st.Name())
			if err != nil {
				t.Fatal(err)
			}
			if len(file) != n*block {
				t.Fatalf("file has %d bytes, want %d", len(file), n*block)
			}
			for _, o := range ios {
				if o.Err != nil {
					t.Fatalf("%v: %v", o, o.Err)
				}
				if !bytes.Equal(file[o.Off:int(o.Off)+block], o.Buf) {
					t.Fatalf("%v did not land", o)
				}
			}
			if _, err := st.Size(); err != nil {
				t.Errorf("storage closed by Close: %v", err)
			}

			late := &impl.IO{Op: impl.OpWrite, Buf: []byte("late")}
			b.Submit(late)
			if o := b.Next(); o != late || !errors.Is(o.Err, os.ErrClosed) {
				t.Errorf("I/O submitted after Close returned %v with %v, want it with os.ErrClosed", o, late.Err)
			}
			if o := b.Next(); o != nil {
				t.Errorf("Next after Close returned %v", o)
			}
			if err := b.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// TestFileBackendErrors checks that failed I/O reports an error naming
// the file, on both descriptors.
func TestFileBackendErrors(t *testing.T) {
	forEachAIO(t, testFileBackendErrors)
}

func testFileBackendErrors(t *testing.T, aio AIOMode) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "image.qed")
			if err := os.WriteFile(path, make([]byte, 8192), 0o644); err != nil {
				t.Fatal(err)
			}
			st, err := impl.OpenFileStorage(path, true)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			opts := Options{Direct: direct, AIO: aio}
			b, err := New(impl.Files{Image: st}, "", opts)
			if err != nil {
				skipIfRefused(t, opts, err)
				t.Fatal(err)
			}
			defer b.Close()
			err = runFileIO(t, b, &impl.IO{Op: impl.OpWrite, Off: 4096, Buf: impl.AlignedBuffer(4096)})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "write image at 0x1000") {
				t.Errorf("write to a read-only image: %v, want an error naming the I/O and %s", err, path)
			}
			if s := b.Stats(); s.Preallocs != 0 || s.PreallocErr != nil {
				t.Errorf("read-only image preallocated: %+v", s)
			}
		})
	}
}

func TestAlignedBuffer(t *testing.T) {
	for _, n := range []int{0, 1, 512, 4095, 4096, 65536, 1<<20 + 3} {
		b := impl.AlignedBuffer(n)
		if len(b) != n || cap(b) != n || (n > 0 && !impl.IsAligned(b)) {
			t.Errorf("AlignedBuffer(%d): len %d cap %d aligned %v", n, len(b), cap(b), impl.IsAligned(b))
		}
	}
	var p bouncePool
	for _, n := range []int{1, 4096, 4097, 1 << 20} {
		bp := p.get(n)
		if len(*bp) < n || !impl.IsAligned(*bp) {
			t.Errorf("bounce get(%d): len %d aligned %v", n, len(*bp), impl.IsAligned(*bp))
		}
		p.put(bp)
	}
}

// BenchmarkFileBackend measures 4 KiB writes with 32 in flight. pattern=
// rewrite overwrites random blocks of an allocated 32 MiB file; pattern=
// append extends the file block by block, with 64 MiB preallocation or
// without.
func BenchmarkFileBackend(b *testing.B) {
	const depth, block, region = 32, 4096, 32 << 20
	for _, direct := range []bool{false, true} {
		for _, aio := range aioModes {
			for _, c := range []struct {
				name     string
				rewrite  bool
				prealloc int64
			}{
				{"pattern=rewrite", true, -1},
				{"pattern=append/prealloc=64MiB", false, 0},
				{"pattern=append/prealloc=off", false, -1},
			} {
				b.Run(fmt.Sprintf("direct=%v/aio=%v/%s", direct, aio, c.name), func(b *testing.B) {
					be, st := newFileTestBackend(b, Options{Direct: direct, PreallocBytes: c.prealloc, AIO: aio})
					next := func(i int) uint64 { return uint64(i) * block }
					if c.rewrite {
						if _, err := st.WriteAt(make([]byte, region), 0); err != nil {
							b.Fatal(err)
						}
						if err := st.Sync(); err != nil {
							b.Fatal(err)
						}
						rng := rand.New(rand.NewPCG(fileTestSeed, 2))
						next = func(int) uint64 { return rng.Uint64N(region/block) * block }
					}
					ios := make([]*impl.IO, depth)
					for i := range ios {
						ios[i] = &impl.IO{Op: impl.OpWrite, Buf: impl.AlignedBuffer(block)}
					}
					b.SetBytes(block)
					b.ResetTimer()
					issued := 0
					for ; issued < min(depth, b.N); issued++ {
						ios[issued].Off = next(issued)
						be.Submit(ios[issued])
					}
					for o := be.Next(); o != nil; o = be.Next() {
						if o.Err != nil {
							b.Fatal(o.Err)
						}
						if issued < b.N {
							o.Off = next(issued)
							issued++
							be.Submit(o)
						}
					}
					b.StopTimer()
				})
			}
		}
	}
}

func TestParseAIOMode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want AIOMode
		err  bool
	}{
		{"threads", AIOThreads, false},
		{"io_uring", AIOIOUring, false},
		{"native", 0, true},
		{"", 0, true},
	} {
		got, err := ParseAIOMode(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseAIOMode(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
		if err == nil && got.String() != c.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), c.in)
		}
	}
}
