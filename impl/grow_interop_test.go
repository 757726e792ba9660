package impl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/qemutest"
)

// TestInteropGrownTail: an image the engine grew ahead and never closed (a
// crash after a flush) has a tail of zeros past its last cluster. QEMU
// opens and checks it (leaks only), every flushed write reads back with
// qemu-io, and after our writable open and clean close qemu-img finds it
// clean.
func TestInteropGrownTail(t *testing.T) {
	qimg, qio := qemutest.Tools(t)
	for _, backing := range []bool{false, true} {
		t.Run(fmt.Sprintf("backing=%v", backing), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "grown.qed")
			copts := CreateOptions{ClusterSize: 4096, TableSize: 2}
			if backing {
				if out, err := exec.Command(qimg, "create", "-q", "-f", "raw", filepath.Join(dir, "b.raw"), "8M").CombinedOutput(); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				copts.BackingFile = "b.raw"
			}
			if err := CreatePath(path, 8<<20, copts); err != nil {
				t.Fatal(err)
			}
			im, err := OpenPath(path, PathOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				mustWrite(t, im.Image, uint64(i)*300<<10, byte(0x40+i), 2048)
			}
			if err := im.Flush(); err != nil {
				t.Fatal(err)
			}
			// The crash: the process goes away; the files are left as
			// they are (no Close).
			im.image.Close()
			if im.backing != nil {
				im.backing.Close()
			}
			code, q := qemuCheckJSON(t, qimg, path)
			if q.Corruptions != 0 || q.CheckErrors != 0 || q.Leaks == 0 || (code != 0 && code != 3) {
				t.Errorf("qemu-img check of the crashed image: exit %d, %+v; want leaks only (the grown tail)", code, q)
			}
			args := []string{"-f", "qed", "-r"}
			for i := range 20 {
				args = append(args, "-c", fmt.Sprintf("read -P %#x %d 2048", 0x40+i, i*300<<10))
			}
			if out, err := exec.Command(qio, append(args, path)...).CombinedOutput(); err != nil || strings.Contains(string(out), "fail") {
				t.Errorf("qemu-io read of the flushed writes: %v\n%s", err, out)
			}
			im, err = OpenPath(path, PathOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := im.Close(); err != nil {
				t.Fatal(err)
			}
			if code, q := qemuCheckJSON(t, qimg, path); code != 0 || q.Leaks != 0 || q.Corruptions != 0 {
				t.Errorf("qemu-img check after our open and clean close: exit %d, %+v", code, q)
			}
		})
	}
}

// qemuCheckResult is what qemuCheckJSON reads of qemu-img check's report.
type qemuCheckResult struct {
	Corruptions int `json:"corruptions"`
	Leaks       int `json:"leaks"`
	CheckErrors int `json:"check-errors"`
}

// qemuCheckJSON runs qemu-img check on path and returns its exit status
// and counts.
func qemuCheckJSON(t *testing.T, qimg, path string) (int, qemuCheckResult) {
	t.Helper()
	out, err := exec.Command(qimg, "check", "--output=json", "-f", "qed", path).Output()
	code := 0
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		code = xe.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var q qemuCheckResult
	if err := json.Unmarshal(out, &q); err != nil {
		t.Fatalf("qemu-img check: exit %d, %q: %v", code, out, err)
	}
	return code, q
}
