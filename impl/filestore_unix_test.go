//go:build unix

package impl

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFileStorageRefusesSpecialFiles: a FIFO or a socket is refused
// before it is opened (opening a FIFO would wait for a writer forever),
// and left as it was; a device opens.
func TestFileStorageRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("unix socket: %v", err)
	}
	defer l.Close()
	for _, c := range []struct{ path, want string }{{fifo, "named pipe"}, {sock, "socket"}} {
		done := make(chan error, 3)
		go func() {
			_, err := OpenFileStorage(c.path, true)
			done <- err
			_, err = OpenFileStorage(c.path, false)
			done <- err
			_, err = CreateFileStorage(c.path)
			done <- err
		}()
		for i := 0; i < 3; i++ {
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
					t.Errorf("open %s: %v; want an error naming it a %s", c.path, err, c.want)
				}
			case <-time.After(10 * time.Second):
				// Release the blocked open before failing.
				if f, err := os.OpenFile(c.path, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				t.Fatalf("open %s hangs", c.path)
			}
		}
		if _, _, err := OpenCreateFileStorage(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OpenCreateFileStorage(%s) = %v; want a %s refused", c.path, err, c.want)
		}
	}
	if fi, err := os.Stat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO is gone or changed: %v %v", fi, err)
	}
	st, err := OpenFileStorage(os.DevNull, true)
	if err != nil {
		t.Fatalf("a device must open: %v", err)
	}
	st.Close()
	if _, err := CreateFileStorage(os.DevNull); err == nil || !strings.Contains(err.Error(), "character device") {
		t.Errorf("CreateFileStorage(%s) = %v; want a device refused", os.DevNull, err)
	}
	if _, _, err := OpenCreateFileStorage(os.DevNull); err == nil || !strings.Contains(err.Error(), "character device") {
		t.Errorf("OpenCreateFileStorage(%s) = %v; want a device refused", os.DevNull, err)
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a character device: %v %v", os.DevNull, fi, err)
	}
}
