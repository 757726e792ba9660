package impl

import (
	"fmt"
	"math/bits"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/qemutest"
)

// qemuGeometries are every geometry ValidateGeometry accepts: clusters of
// 4 KiB to 64 MiB, tables of 1 to 16 clusters.
func qemuGeometries() (g [][2]uint32) {
	for cs := uint32(MinClusterSize); cs <= MaxClusterSize; cs *= 2 {
		for ts := uint32(MinTableSize); ts <= MaxTableSize; ts *= 2 {
			g = append(g, [2]uint32{cs, ts})
		}
	}
	return g
}

// TestQEMUGeometryProblem pins the rule without QEMU, with the outcome of
// every geometry as QEMU 7.2's qemu-io reported it (see
// TestQEMUGeometryProblemAgreesWithQEMU): the geometries it cannot open and
// the message it gives.
func TestQEMUGeometryProblem(t *testing.T) {
	const (
		ok      = ""
		offset  = "QED table offset is invalid"
		badSize = "QED image size is invalid"
	)
	// want[cluster size][i] is the outcome for table size 1<<i.
	want := map[uint32][5]string{
		4 << 10:   {offset, ok, ok, ok, ok},
		8 << 10:   {offset, ok, ok, ok, ok},
		16 << 10:  {offset, ok, ok, ok, ok},
		32 << 10:  {offset, ok, ok, ok, ok},
		64 << 10:  {offset, ok, ok, ok, ok},
		128 << 10: {offset, ok, ok, ok, ok},
		256 << 10: {offset, ok, ok, ok, ok},
		512 << 10: {offset, ok, ok, ok, ok},
		1 << 20:   {offset, ok, ok, ok, ok},
		2 << 20:   {offset, ok, ok, ok, badSize},
		4 << 20:   {offset, ok, badSize, badSize, badSize},
		8 << 20:   {offset, badSize, badSize, badSize, badSize},
		16 << 20:  {badSize, badSize, badSize, badSize, badSize},
		32 << 20:  {badSize, badSize, badSize, badSize, badSize},
		64 << 20:  {badSize, badSize, badSize, badSize, badSize},
	}
	for _, g := range qemuGeometries() {
		cs, ts := g[0], g[1]
		row, found := want[cs]
		if !found {
			t.Fatalf("no expectation for cluster size %d", cs)
		}
		w := row[bits.TrailingZeros32(ts)]
		got := QEMUGeometryProblem(cs, ts)
		switch {
		case w == ok && got != "":
			t.Errorf("QEMUGeometryProblem(%d, %d) = %q; QEMU 7.2 opens it", cs, ts, got)
		case w != ok && !strings.Contains(got, `"`+w+`"`):
			t.Errorf("QEMUGeometryProblem(%d, %d) = %q; want QEMU's %q", cs, ts, got, w)
		case w != ok && !strings.HasPrefix(got, "QEMU 7.2 cannot open"):
			t.Errorf("QEMUGeometryProblem(%d, %d) = %q does not name QEMU 7.2", cs, ts, got)
		}
	}
}

// TestQEMUGeometryProblemAgreesWithQEMU creates a small image of every
// valid geometry and asks qemu-io to read its first sector: it must fail
// exactly where QEMUGeometryProblem names a problem, with the message the
// problem quotes. (The 64 MiB x 16 image's file is 1.1 GB long, but
// sparse: 4 KiB of header on disk.)
func TestQEMUGeometryProblemAgreesWithQEMU(t *testing.T) {
	_, qio := qemutest.Tools(t)
	dir := t.TempDir()
	opened := 0
	for _, g := range qemuGeometries() {
		cs, ts := g[0], g[1]
		t.Run(fmt.Sprintf("cluster=%d/table=%d", cs, ts), func(t *testing.T) {
			img := filepath.Join(dir, fmt.Sprintf("g-%d-%d.qed", cs, ts))
			if err := CreatePath(img, 1<<20, CreateOptions{ClusterSize: cs, TableSize: ts}); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(qio, "-r", "-f", "qed", "-c", "read 0 512", img).CombinedOutput()
			// qemu-io exits 0 even when it cannot open the image; judge by
			// what it printed.
			qemuOK := err == nil && strings.Contains(string(out), "read 512/512 bytes")
			problem := QEMUGeometryProblem(cs, ts)
			switch {
			case qemuOK && problem != "":
				t.Errorf("qemu-io opens it, but QEMUGeometryProblem says %q", problem)
			case !qemuOK && problem == "":
				t.Errorf("qemu-io cannot open it (%v):\n%s", err, out)
			case !qemuOK:
				quoted := strings.SplitN(problem, `"`, 3)
				if len(quoted) < 3 || !strings.Contains(string(out), quoted[1]) {
					t.Errorf("qemu-io says %q; QEMUGeometryProblem quotes otherwise: %q", strings.TrimSpace(string(out)), problem)
				}
			default:
				opened++
			}
		})
	}
	t.Logf("QEMU 7.2 opened %d of %d geometries", opened, len(qemuGeometries()))
}
