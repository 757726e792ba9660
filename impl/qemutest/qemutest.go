// Package qemutest finds QEMU's tools for tests that compare with them.
// Where a tool is not installed the test is skipped with the reason,
// unless the environment variable QED_REQUIRE_QEMU is set (CI sets it
// after installing qemu-utils): then it fails, so a missing install step
// cannot turn the interoperability tests green.
package qemutest

import (
	"os"
	"os/exec"
	"testing"
)

// Tool returns the path of the named tool (qemu-img, qemu-io, qemu-nbd,
// or fio, which CI installs beside them), or skips (or fails, under
// QED_REQUIRE_QEMU) t.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("QED_REQUIRE_QEMU") != "" {
			t.Fatalf("%s not found and QED_REQUIRE_QEMU is set: %v", name, err)
		}
		t.Skipf("QEMU comparison skipped: %s not installed (Debian package qemu-utils): %v", name, err)
	}
	return p
}

// FioNBD returns fio's path if it is installed with its nbd engine
// (fio built with libnbd), or skips (or fails, under QED_REQUIRE_QEMU)
// t.
func FioNBD(t testing.TB) string {
	t.Helper()
	fio := Tool(t, "fio")
	if out, err := exec.Command(fio, "--enghelp=nbd").CombinedOutput(); err != nil {
		if os.Getenv("QED_REQUIRE_QEMU") != "" {
			t.Fatalf("fio has no nbd engine and QED_REQUIRE_QEMU is set: %v: %s", err, out)
		}
		t.Skipf("skipping: fio has no nbd engine (libnbd): %v", err)
	}
	return fio
}

// Tools returns the paths of qemu-img and qemu-io, as Tool does.
func Tools(t testing.TB) (qimg, qio string) {
	t.Helper()
	return Tool(t, "qemu-img"), Tool(t, "qemu-io")
}
