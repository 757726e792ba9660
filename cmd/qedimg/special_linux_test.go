package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Special files: devices, FIFOs and sockets as images and as outputs.

// charDevice returns a character device that discards what is written to
// it: as root, a private copy of /dev/null (mknod) in dir, so that a
// regression cannot remove the system's; otherwise /dev/null itself, which
// an unprivileged test cannot remove anyway.
func charDevice(t *testing.T, dir string) string {
	t.Helper()
	if os.Geteuid() == 0 {
		p := filepath.Join(dir, "null")
		var st syscall.Stat_t
		if err := syscall.Stat(os.DevNull, &st); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, int(st.Rdev)); err == nil {
			return p
		}
	}
	return os.DevNull
}

// wantCharDevice fails the test unless path is still a character device.
func wantCharDevice(t *testing.T, path, when string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s: %s is no longer a character device: %v, %v", when, path, fi, err)
	}
}

// TestConvertCharDevice: a convert into a character device that fails
// half-way, and one that succeeds, leave it a character device (issue 12:
// a failed convert removed /dev/null), written in place and never
// truncated; and convert writes every byte into it, zeros included.
func TestConvertCharDevice(t *testing.T) {
	dir := t.TempDir()
	dev := charDevice(t, dir)
	bad := fxCutL2(t, t.TempDir())
	r := qedimg("convert", bad, dev)
	if r.code != 1 || !strings.Contains(r.stderr, "past end of file") {
		t.Errorf("convert of a damaged image into %s: exit %d, want 1\n%s%s", dev, r.code, r.stdout, r.stderr)
	}
	wantCharDevice(t, dev, "after a failed convert")
	good := fxImage(t, t.TempDir())
	r = qedimg("convert", good, dev)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%d bytes (%d written", fxSize, fxSize)) {
		t.Errorf("convert into %s: exit %d, want 0 and every byte written\n%s%s", dev, r.code, r.stdout, r.stderr)
	}
	wantCharDevice(t, dev, "after a convert")
	if dev != os.DevNull {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 {
			t.Errorf("convert left files beside the device: %v", ents)
		}
	}
}

// TestCreateRefusesDevice: create never truncates or replaces a device.
func TestCreateRefusesDevice(t *testing.T) {
	dev := charDevice(t, t.TempDir())
	r := qedimg("create", dev, "1M")
	if r.code != 1 || !strings.Contains(r.stderr, "character device") {
		t.Errorf("create %s: exit %d, want 1 naming a character device\n%s%s", dev, r.code, r.stdout, r.stderr)
	}
	wantCharDevice(t, dev, "after create")
}

// TestSpecialFiles: every command refuses a FIFO or a socket by name,
// without hanging (opening a FIFO waits for the other end), and leaves it
// as it was.
func TestSpecialFiles(t *testing.T) {
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
	img := fxImage(t, t.TempDir())
	for _, c := range []struct {
		path, kind string
		mode       os.FileMode
	}{{fifo, "named pipe", os.ModeNamedPipe}, {sock, "socket", os.ModeSocket}} {
		for _, args := range [][]string{
			{"info", c.path}, {"info", "-U", c.path}, {"read", "-P", "0", c.path, "0", "1"}, {"write", "-P", "0", c.path, "0", "1"},
			{"check", c.path}, {"check", "-r", c.path}, {"convert", c.path, filepath.Join(dir, "out.raw")},
			{"convert", img, c.path}, {"create", c.path, "1M"},
		} {
			name := strings.Join(args, " ")
			name = strings.NewReplacer(c.path, filepath.Base(c.path), img, "IMG", filepath.Join(dir, "out.raw"), "OUT").Replace(name)
			t.Run(name, func(t *testing.T) {
				done := make(chan qedimgResult, 1)
				go func() { done <- qedimg(args...) }()
				var r qedimgResult
				select {
				case r = <-done:
				case <-time.After(10 * time.Second):
					if f, err := os.OpenFile(fifo, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
						f.Close() // let the blocked open go
					}
					t.Fatalf("qedimg %s hangs", strings.Join(args, " "))
				}
				if r.code != 1 || !strings.Contains(r.stderr, c.kind) || !strings.Contains(r.stderr, c.path) {
					t.Errorf("exit %d, want 1 and an error naming %s a %s\n%s%s", r.code, c.path, c.kind, r.stdout, r.stderr)
				}
				checkStderrForm(t, args, r, false)
				if fi, err := os.Lstat(c.path); err != nil || fi.Mode()&c.mode == 0 {
					t.Errorf("%s changed: %v %v", c.path, fi, err)
				}
			})
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.raw")); !os.IsNotExist(err) {
		t.Errorf("out.raw: %v, want no such file", err)
	}
}

// TestConvertOutputNoTempLeft: a successful convert over an existing
// output replaces it whole (the old bytes past the image's end are gone),
// and leaves no temporary file behind.
func TestConvertOutputNoTempLeft(t *testing.T) {
	dir := t.TempDir()
	img := fxImage(t, dir)
	out := filepath.Join(dir, "out.raw")
	if err := os.WriteFile(out, bytes.Repeat([]byte{9}, fxSize+12345), 0o600); err != nil {
		t.Fatal(err)
	}
	mustQedimg(t, "convert", img, out)
	wantRaw(fxSize, []span{{4000, 9000, 0xab}, {4<<20 - 100, 200, 0xcd}})(t, img)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 {
		t.Errorf("directory holds %v, want img.qed and out.raw", ents)
	}
}
