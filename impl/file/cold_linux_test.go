package file

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident returns how many of the file's pages are in the page cache
// (mincore over a read-only mapping of it).
func resident(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestCold checks a file written through the page cache has none of its
// pages cached after Cold, and the same bytes; and that a missing file
// is an error naming it.
func TestCold(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC {
		t.Skipf("%s is in memory (file system magic %#x): its pages are the file, never dropped", dir, st.Type)
	}
	path := filepath.Join(dir, "setup.img")
	data := bytes.Repeat([]byte("cold start "), 100_000) // 1.1 MB, dirty in the page cache
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := resident(t, path)
	if before == 0 {
		t.Skip("the write left no page cached: nothing to drop")
	}
	if err := Cold(path); err != nil {
		t.Fatal(err)
	}
	if after := resident(t, path); after != 0 {
		t.Errorf("%d of %d pages cached after Cold, want 0", after, before)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Errorf("contents changed by Cold (err %v)", err)
	}
	missing := filepath.Join(dir, "missing")
	if err := Cold(missing); err == nil || !strings.Contains(err.Error(), "cold start of "+missing) {
		t.Errorf("Cold(missing) = %v, want an error naming it", err)
	}
}
