package impl

import "testing"

// TestFileBackendManyWorkers asks for more I/Os in flight than an
// io_uring holds and expects a working backend that bounds them.
func TestFileBackendManyWorkers(t *testing.T) {
	b, _ := newFileTestBackend(t, FileOptions{AIO: AIOIOUring, Workers: 1 << 20})
	if b.ur.limit > maxURingEntries {
		t.Errorf("%d I/Os allowed in the kernel, want at most %d", b.ur.limit, maxURingEntries)
	}
	for i := range 3 {
		if err := runFileIO(t, b, &IO{Op: OpWrite, Off: uint64(i) * 4096, Buf: make([]byte, 4096)}); err != nil {
			t.Fatal(err)
		}
	}
}
