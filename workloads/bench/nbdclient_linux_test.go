package bench

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/qedharness/qedharness/impl/qemutest"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestNBDRun makes a small real run of runbench nbd: 300 writes, one
// round, overlap and both qemu-nbd baselines, and checks that runs.json
// holds a record of each, that the report names the baselines, that
// Report writes the same notes again, and that nothing is left in Dir.
// It skips where fio (with its nbd engine), qemu-img or qemu-nbd is
// missing, unless QED_REQUIRE_QEMU is set. It asserts nothing about
// speed.
func TestNBDRun(t *testing.T) {
	qemutest.FioNBD(t)
	qemutest.Tool(t, "qemu-img")
	qemutest.Tool(t, "qemu-nbd")
	overlap, err := model.Lookup("overlap")
	if err != nil {
		t.Fatal(err)
	}
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	s, err := NewNBD(NBDConfig{
		Dir: dir, Policies: []model.Registration{overlap}, Count: 300, QD: 32, Repeat: 1, Seed: 1,
		Direct: directWorks(dir), Out: out, Command: "runbench nbd (test)",
	})
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	if _, err := s.Run(context.Background(), &stdout); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	res, err := results.ReadResults(filepath.Join(out, "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Runs {
		got = append(got, r.Policy)
		if r.Error != "" || r.Backend != results.BackendNBD || r.Workload != NBDWorkload || r.QD != 32 || r.Ops != 300 ||
			r.OpsPerSec <= 0 || r.LatP50Us <= 0 || r.LatencyHDR == "" {
			t.Errorf("record %s: %+v", r.Policy, r)
		}
	}
	slices.Sort(got)
	if want := []string{"overlap", results.BaselineNBDQcow2, results.BaselineNBDQED}; !slices.Equal(got, want) { // sorted
		t.Errorf("records of %v, want %v", got, want)
	}
	for _, r := range res.Runs {
		if r.Policy == "overlap" && (r.Check != "clean" || r.CPUUserSecs+r.CPUSysSecs <= 0 || r.AllocatingWrites != 300) {
			t.Errorf("overlap: check %q, CPU %g+%g s, %d allocating writes", r.Check, r.CPUUserSecs, r.CPUSysSecs, r.AllocatingWrites)
		}
	}
	report := readFile(t, filepath.Join(out, "report.md"))
	for _, want := range []string{"| fastest safe policy | freeze-any | qemu-nbd-qed | qemu-nbd-qcow2 |", "Best safe policy overlap:", "Server CPU time"} {
		if !strings.Contains(report, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if _, err := Report(out, DefaultBaseline); err != nil {
		t.Fatal(err)
	}
	if again := readFile(t, filepath.Join(out, "report.md")); !strings.Contains(again, "Best safe policy overlap:") || !strings.Contains(again, "qemu-nbd-qcow2") {
		t.Errorf("report.md rewritten by Report lacks the NBD notes:\n%s", again)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("left in Dir: %v", left)
	}
}

// directWorks reports whether dir's file system accepts O_DIRECT (a
// tmpfs does not).
func directWorks(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, "direct-probe"), os.O_CREATE|os.O_RDWR|syscall.O_DIRECT, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	return os.Remove(f.Name()) == nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
