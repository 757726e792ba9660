package workloads

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
	"github.com/qedharness/qedharness/workloads/results"
)

// sentinelNames are the names the runs use for their files (and a
// directory name of the pattern they make theirs with): a run that wrote
// in its Dir rather than a directory of its own would overwrite them.
var sentinelNames = []string{backingName, "baseline.img", "image.qed", "runbench-keep"} // sorted

// putSentinels fills dir with a file of known content under each of
// sentinelNames and returns a function that fails t unless dir holds
// exactly those files, unchanged: the runs left nothing behind and
// touched nothing they did not create.
func putSentinels(t *testing.T, dir string) (check func()) {
	t.Helper()
	want := map[string][]byte{}
	for _, name := range sentinelNames {
		b := []byte("sentinel " + name + ", not the harness's\n")
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = b
	}
	return func() {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, sentinelNames) {
			t.Errorf("%s holds %q afterwards, want exactly the sentinels %q", dir, names, sentinelNames)
		}
		for name, b := range want {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(got, b) {
				t.Errorf("sentinel %s: %q, %v; want it unchanged", name, got, err)
			}
		}
	}
}

// TestRunLeavesDirAlone runs file-backend jobs, which write an image, a
// backing file and a prefill, in a directory already holding files of
// those names, and one run that fails after its setup: each works in a
// directory of its own inside Dir and removes just that.
func TestRunLeavesDirAlone(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		wrap func(history.Opener) (Submitter, error)
		fail bool
	}{
		{"first-touch backing", map[string]string{"rw": "randwrite", "pattern": "first-touch", "backing": "1", "size": "1m"}, nil, false},
		{"rewrite backing", map[string]string{"rw": "randrw", "pattern": "rewrite", "backing": "1", "size": "512k", "ops": "32"}, nil, false},
		{"failed run", map[string]string{"rw": "write", "backing": "1", "size": "256k"},
			func(history.Opener) (Submitter, error) { return nil, errors.New("wrapper refuses") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			check := putSentinels(t, dir)
			p := mustPlan(t, "job", tt.set)
			_, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendFile, QD: 4, Seed: 1, Dir: dir, Wrap: tt.wrap})
			if (err != nil) != tt.fail {
				t.Fatalf("error %v, want failure %v", err, tt.fail)
			}
			check()
		})
	}
}

// TestRunBaselineLeavesDirAlone is TestRunLeavesDirAlone for the
// qemu-img baselines, and for one whose qemu-img fails.
func TestRunBaselineLeavesDirAlone(t *testing.T) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("skipping: qemu-img is not installed (Debian package qemu-utils)")
	}
	p := mustPlan(t, "job", map[string]string{"rw": "write", "pattern": "rewrite", "backing": "1", "size": "1m", "ops": "16"})
	for _, base := range results.BaselineNames() {
		t.Run(base, func(t *testing.T) {
			dir := t.TempDir()
			check := putSentinels(t, dir)
			if _, err := RunBaseline(BaselineConfig{QemuImg: qemuImg, Baseline: base, Plan: p, QD: 2, Dir: dir}); err != nil {
				t.Fatal(err)
			}
			check()
		})
	}
	t.Run("qemu-img fails", func(t *testing.T) {
		dir := t.TempDir()
		check := putSentinels(t, dir)
		if _, err := RunBaseline(BaselineConfig{QemuImg: "/bin/false", Baseline: results.BaselineQED, Plan: p, QD: 2, Dir: dir}); err == nil {
			t.Fatal("no error from a qemu-img that fails")
		}
		check()
	})
}

// TestRunMissingDir checks a Dir that does not exist is an error naming
// it, not a directory made elsewhere.
func TestRunMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	p := mustPlan(t, "job", map[string]string{"rw": "write", "size": "256k"})
	_, err := Run(RunConfig{Plan: p, Policy: model.Overlap{}, Backend: results.BackendFile, QD: 1, Dir: dir, File: file.Options{}})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(dir)) {
		t.Errorf("error %v, want one naming %s", err, dir)
	}
	if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
		t.Errorf("%s was created", dir)
	}
}
