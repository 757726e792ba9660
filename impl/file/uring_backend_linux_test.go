package file

import (
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/internal/hostio"
)

// TestFileBackendManyWorkers asks for more I/Os in flight than an
// io_uring holds and expects a working backend that bounds them.
func TestFileBackendManyWorkers(t *testing.T) {
	b, _ := newFileTestBackend(t, Options{AIO: AIOIOUring, Workers: 1 << 20})
	if b.ur.limit > maxURingEntries {
		t.Errorf("%d I/Os allowed in the kernel, want at most %d", b.ur.limit, maxURingEntries)
	}
	for i := range 3 {
		if err := runFileIO(t, b, &impl.IO{Op: impl.OpWrite, Off: uint64(i) * 4096, Buf: make([]byte, 4096)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFileBackendRingFailure breaks the ring under queued I/Os and
// expects each of them, and every later one, back with the ring's error,
// and Close to succeed.
func TestFileBackendRingFailure(t *testing.T) {
	b, _ := newFileTestBackend(t, Options{AIO: AIOIOUring})
	real := b.ur.ring.fd
	defer hostio.CloseFD(real)
	b.ur.ring.fd = -1 // io_uring_enter now fails with EBADF
	for i := range 3 {
		b.Submit(&impl.IO{ID: uint64(i), Op: impl.OpWrite, Off: uint64(i) * 4096, Buf: make([]byte, 4096)})
	}
	for range 3 {
		o := b.Next()
		if o == nil || o.Err == nil || !strings.Contains(o.Err.Error(), "io_uring_enter") {
			t.Fatalf("Next = %v, want an I/O failed by io_uring_enter", o)
		}
	}
	if err := runFileIO(t, b, &impl.IO{Op: impl.OpWrite, Buf: make([]byte, 512)}); err == nil || !strings.Contains(err.Error(), "io_uring_enter") {
		t.Errorf("I/O after the failure: %v, want the ring's error", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
