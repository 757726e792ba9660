package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/impl/qemutest"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestNBDBadFlags checks each bad nbd command line exits 2 with a
// message naming the flag, before looking for fio or qemu-nbd.
func TestNBDBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no dir", nil, "-dir: missing"},
		{"missing dir", []string{"-dir", filepath.Join(dir, "none")}, "-dir: stat"},
		{"empty value", []string{"-dir", dir, "-policies", ""}, "-policies: empty value"},
		{"stray argument", []string{"-dir", dir, "extra"}, `unexpected argument "extra"`},
		{"bad policy", []string{"-dir", dir, "-policies", "overlap,nope"}, `-policies: unknown policy "nope"`},
		{"bad baseline", []string{"-dir", dir, "-baselines", "qemu-qed"}, `-baselines: unknown baseline "qemu-qed"`},
		{"no writes", []string{"-dir", dir, "-count", "0"}, "-count: 0: want 1 to"},
		{"bad qd", []string{"-dir", dir, "-qd", "0"}, "-qd: 0: want 1 to"},
		{"bad repeat", []string{"-dir", dir, "-repeat", "0"}, "-repeat: 0: want 1 to 1000"},
		{"bad aio", []string{"-dir", dir, "-aio", "posix"}, "-aio:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"nbd", "-out", filepath.Join(dir, "out")}, tc.args...), &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// TestNBDCommand runs runbench nbd end to end with one policy, no
// baselines and 50 writes (fio alone needed), and checks its record.
func TestNBDCommand(t *testing.T) {
	qemutest.FioNBD(t)
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	code := run([]string{"nbd", "-dir", dir, "-direct=false", "-policies", "freeze-any", "-baselines", "none", "-count", "50", "-qd", "4", "-repeat", "1", "-noplots", "-out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	res, err := results.ReadResults(filepath.Join(out, "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 1 || res.Runs[0].Policy != "freeze-any" || res.Runs[0].QD != 4 || res.Runs[0].Ops != 50 || res.Runs[0].Error != "" {
		t.Errorf("runs %+v", res.Runs)
	}
	if !strings.HasPrefix(res.Provenance.Command, "runbench nbd -dir ") || !strings.Contains(res.Provenance.CacheMode, "buffered") {
		t.Errorf("provenance: command %q, cache %q", res.Provenance.Command, res.Provenance.CacheMode)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("left in -dir: %v", left)
	}
}
