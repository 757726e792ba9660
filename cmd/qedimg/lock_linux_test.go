package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/qemutest"
)

// Locks against QEMU: qedimg refuses an image a qemu-io holds open in a
// conflicting way, and qemu-io and qemu-img refuse an image qedimg holds.

// lockCase is one qedimg run under a qemu-io holder. In args "IMG" is the
// image, "DIR/" the test's directory. err is the exact error line wanted,
// with IMG and BASE (the backing file) substituted; "" wants success.
type lockCase struct {
	args []string
	err  string
}

const (
	errWriteLock  = `Failed to get "write" lock: Is another process using the image [IMG]?`
	errSharedLock = `Failed to get shared "write" lock: Is another process using the image [IMG]?`
)

// TestLockQEMUHolds runs qedimg's commands while qemu-io holds the image
// (read-write, then read-only) or its backing file (read-write), and wants
// what QEMU's own tools do under the same holder: a refusal, with QEMU's
// words, that leaves every file byte-identical, or success.
func TestLockQEMUHolds(t *testing.T) {
	qemutest.Tool(t, "qemu-io")
	for _, tc := range []struct {
		name   string
		holder []string // qemu-io arguments before the file
		file   string   // "img.qed" or "base.raw"
		cases  []lockCase
	}{
		{"image read-write", []string{"-f", "qed"}, "img.qed", []lockCase{
			{a("write", "-P", "1", "IMG", "0", "4k"), "write: IMG: " + errWriteLock},
			{a("check", "-r", "IMG"), "check: IMG: " + errWriteLock},
			{a("check", "IMG"), "check: IMG: " + errSharedLock},
			{a("check", "-U", "IMG"), ""},
			{a("info", "IMG"), "info: IMG: " + errSharedLock},
			{a("info", "-U", "IMG"), ""},
			{a("read", "-P", "0x11", "IMG", "1048566", "20"), "read: IMG: " + errSharedLock},
			{a("read", "--force-share", "-P", "0x11", "IMG", "1048566", "20"), ""},
			{a("convert", "IMG", "DIR/out.raw"), "convert: IMG: " + errSharedLock},
			{a("convert", "-U", "IMG", "DIR/out.raw"), ""},
			{a("create", "IMG", "1M"), "create: IMG: " + errWriteLock},
			{a("convert", "-U", "DIR/other.qed", "IMG"), "convert: IMG: " + errWriteLock},
		}},
		{"image read-only", []string{"-r", "-f", "qed"}, "img.qed", []lockCase{
			{a("write", "-P", "1", "IMG", "0", "4k"), "write: IMG: " + errWriteLock},
			{a("check", "-r", "IMG"), "check: IMG: " + errWriteLock},
			{a("create", "IMG", "1M"), "create: IMG: " + errWriteLock},
			{a("check", "IMG"), ""},
			{a("info", "IMG"), ""},
			{a("read", "-P", "0x11", "IMG", "1048566", "20"), ""},
			{a("convert", "IMG", "DIR/out.raw"), ""},
		}},
		{"backing file read-write", []string{"-f", "raw"}, "base.raw", []lockCase{
			{a("convert", "IMG", "DIR/out.raw"), "convert: IMG: " + strings.ReplaceAll(errSharedLock, "[IMG]", "[BASE]")},
			{a("convert", "-U", "IMG", "DIR/out.raw"), ""},
			{a("read", "-P", "0x11", "IMG", "1048566", "20"), ""},
			{a("info", "IMG"), ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			img := fxBacked(t, dir)
			base := filepath.Join(dir, "base.raw")
			mustQedimg(t, "create", "-cluster-size", "4k", filepath.Join(dir, "other.qed"), "1M")
			qemutest.HoldWithQemuIO(t, qemutest.Tool(t, "qemu-io"), append(tc.holder, filepath.Join(dir, tc.file))...)
			before, beforeBase := fileHash(t, img), fileHash(t, base)
			for _, c := range tc.cases {
				args := make([]string, len(c.args))
				for i, s := range c.args {
					args[i] = strings.ReplaceAll(strings.ReplaceAll(s, "DIR/", dir+string(filepath.Separator)), "IMG", img)
				}
				r := qedimg(args...)
				want := ""
				if c.err != "" {
					want = "qedimg: " + strings.NewReplacer("IMG", img, "BASE", base).Replace(c.err) + "\n"
				}
				switch {
				case want == "" && r.code != 0:
					t.Errorf("qedimg %s: exit %d, want 0\n%s%s", strings.Join(c.args, " "), r.code, r.stdout, r.stderr)
				case want != "" && (r.code != 1 || r.stderr != want):
					t.Errorf("qedimg %s: exit %d, stderr %q; want exit 1, %q", strings.Join(c.args, " "), r.code, r.stderr, want)
				}
				if fileHash(t, img) != before || fileHash(t, base) != beforeBase {
					t.Fatalf("qedimg %s changed the image or its backing file under qemu-io", strings.Join(c.args, " "))
				}
				os.Remove(filepath.Join(dir, "out.raw"))
			}
		})
	}
}

// TestLockQedimgHolds holds an image with the locks qedimg's commands take
// (through the same helpers they call) and wants qemu-io and qemu-img to
// refuse it as they refuse one another: an image held for writing (write,
// check -r) may not be opened by anyone but a -U reader; one held for
// reading (read, check, convert) may not be opened for writing. Once the
// locks are dropped, QEMU opens it again.
func TestLockQedimgHolds(t *testing.T) {
	qimg, qio := qemutest.Tools(t)
	type run struct {
		tool string
		args []string // IMG is the image
		err  string   // substring of QEMU's error; "" wants success
	}
	for _, tc := range []struct {
		name  string
		locks impl.Locks
		runs  []run
	}{
		{"write", impl.LocksImageReadWrite, []run{
			{qio, a("-f", "qed", "-c", "write -P 1 0 512", "IMG"), `Failed to get "write" lock`},
			{qio, a("-r", "-f", "qed", "-c", "read 0 512", "IMG"), `Failed to get shared "write" lock`},
			{qimg, a("check", "-f", "qed", "IMG"), `Failed to get shared "write" lock`},
			{qimg, a("check", "-r", "all", "-f", "qed", "IMG"), `Failed to get "write" lock`},
			{qimg, a("info", "-f", "qed", "IMG"), `Failed to get shared "write" lock`},
			{qimg, a("create", "-f", "qed", "IMG", "1M"), `Failed to get "write" lock`},
			{qimg, a("info", "-U", "-f", "qed", "IMG"), ""},
			{qio, a("-r", "-U", "-f", "qed", "-c", "read 0 512", "IMG"), ""},
		}},
		{"read", impl.LocksImageReadOnly, []run{
			{qio, a("-f", "qed", "-c", "write -P 1 0 512", "IMG"), `Failed to get "write" lock`},
			{qimg, a("check", "-r", "all", "-f", "qed", "IMG"), `Failed to get "write" lock`},
			{qimg, a("check", "-f", "qed", "IMG"), ""},
			{qio, a("-r", "-f", "qed", "-c", "read 0 512", "IMG"), ""},
		}},
		{"create", impl.LocksCreate, []run{
			{qio, a("-f", "qed", "-c", "write -P 1 0 512", "IMG"), `Failed to get "resize" lock`},
			{qimg, a("info", "-f", "qed", "IMG"), `Failed to get shared "write" lock`},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := fxImage(t, t.TempDir())
			lk, _, err := lockedImage(img, tc.locks)
			if err != nil {
				t.Fatal(err)
			}
			defer lk.Close()
			before := fileHash(t, img)
			for _, r := range tc.runs {
				args := make([]string, len(r.args))
				for i, s := range r.args {
					if s == "IMG" {
						s = img
					}
					args[i] = s
				}
				out, err := exec.Command(r.tool, args...).CombinedOutput()
				// qemu-io exits 1 when it cannot open the image.
				failed := err != nil || strings.Contains(string(out), "can't open")
				switch {
				case r.err == "" && failed:
					t.Errorf("%s %s: %v; want success\n%s", filepath.Base(r.tool), strings.Join(r.args, " "), err, out)
				case r.err != "" && (!failed || !strings.Contains(string(out), r.err) || !strings.Contains(string(out), "Is another process using the image ["+img+"]?")):
					t.Errorf("%s %s: %v; want a refusal with %q\n%s", filepath.Base(r.tool), strings.Join(r.args, " "), err, r.err, out)
				}
				if fileHash(t, img) != before {
					t.Fatalf("%s %s changed the image qedimg holds", filepath.Base(r.tool), strings.Join(r.args, " "))
				}
			}
			lk.Close()
			if out, err := exec.Command(qio, "-f", "qed", "-c", "read -P 0xab 4000 9000", img).CombinedOutput(); err != nil || strings.Contains(string(out), "can't open") {
				t.Errorf("qemu-io after the locks were dropped: %v\n%s", err, out)
			}
		})
	}
}
