package impl

import (
	"os"
	"os/exec"
	"testing"
)

// qemuTools returns the paths of qemu-img and qemu-io. Where they are not
// installed the test is skipped with the reason, unless QED_REQUIRE_QEMU
// is set (CI sets it after installing qemu-utils): then it fails, so a
// missing install step cannot turn the interoperability tests green.
func qemuTools(t testing.TB) (qimg, qio string) {
	t.Helper()
	for _, tool := range []struct {
		name string
		path *string
	}{{"qemu-img", &qimg}, {"qemu-io", &qio}} {
		p, err := exec.LookPath(tool.name)
		if err != nil {
			if os.Getenv("QED_REQUIRE_QEMU") != "" {
				t.Fatalf("%s not found and QED_REQUIRE_QEMU is set: %v", tool.name, err)
			}
			t.Skipf("QEMU comparison skipped: %s not installed (Debian package qemu-utils): %v", tool.name, err)
		}
		*tool.path = p
	}
	return qimg, qio
}
