package impl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFileStorageRefusesDirectory: a directory is refused by name, not
// read as a file of no bytes ("a QED header needs 64 bytes").
func TestFileStorageRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, ro := range []bool{true, false} {
		if _, err := OpenFileStorage(dir, ro); !errors.Is(err, syscall.EISDIR) || !strings.Contains(err.Error(), dir) {
			t.Errorf("OpenFileStorage(dir, readOnly=%v) = %v; want EISDIR naming %s", ro, err, dir)
		}
	}
	if _, err := CreateFileStorage(dir); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("CreateFileStorage(dir) = %v; want EISDIR", err)
	}
	if _, _, err := OpenCreateFileStorage(dir); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("OpenCreateFileStorage(dir) = %v; want EISDIR", err)
	}
	if _, err := OpenPath(dir, PathOptions{}); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("OpenPath(dir) = %v; want EISDIR", err)
	}
}

// TestOpenCreateFileStorage: a new file is created and reported so; an
// existing one is opened without being truncated.
func TestOpenCreateFileStorage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	st, created, err := OpenCreateFileStorage(p)
	if err != nil || !created {
		t.Fatalf("OpenCreateFileStorage(new) = %v, created %v", err, created)
	}
	if _, err := st.WriteAt([]byte("content"), 0); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, created, err = OpenCreateFileStorage(p)
	if err != nil || created {
		t.Fatalf("OpenCreateFileStorage(existing) = %v, created %v", err, created)
	}
	defer st.Close()
	if n, err := st.Size(); err != nil || n != int64(len("content")) {
		t.Errorf("existing file has %d bytes (%v) after OpenCreateFileStorage; it must not truncate", n, err)
	}
	if st.ReadOnly() {
		t.Errorf("OpenCreateFileStorage opened read-only")
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "content" {
		t.Errorf("file holds %q, %v", b, err)
	}
}
