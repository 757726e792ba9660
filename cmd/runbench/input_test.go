package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads/bench"
)

// TestJobFileBOM runs a job file saved with a UTF-8 byte order mark,
// which once put its first section's settings outside any section.
func TestJobFileBOM(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "bom.fio")
	os.WriteFile(job, []byte("\xef\xbb\xbf[bom]\r\nrw=randwrite\r\npattern=first-touch\r\nsize=1m\r\n"), 0o644)
	var stdout, stderr bytes.Buffer
	args := []string{"-verdicts=false", "-job", job, "-policies", "overlap", "-qd", "4", "-repeat", "1", "-warmup", "0", "-backend", "mem", "-out", filepath.Join(dir, "out"), "-noplots"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "bom") {
		t.Errorf("table lacks the job:\n%s", stdout.String())
	}
}

// TestBadFlagsKeepCounterexamples checks a command line refused as bad
// removes nothing from -out: the stale counterexamples are removed only
// when the matrix runs.
func TestBadFlagsKeepCounterexamples(t *testing.T) {
	out := t.TempDir()
	kept := filepath.Join(out, bench.CounterexampleDir, "mine.txt")
	os.MkdirAll(filepath.Dir(kept), 0o755)
	os.WriteFile(kept, []byte("keep"), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-out", out, "-direct"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("exit %d, want %d: %s", code, exitUsage, stderr.String())
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("a refused command line removed %s: %v", kept, err)
	}
}

// TestReportBadBaseline checks runbench report refuses a -baseline that
// is no policy, as runbench does, rather than writing a table without
// its comparison.
func TestReportBadBaseline(t *testing.T) {
	for _, b := range []string{"nope", ""} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"report", "-baseline", b, t.TempDir()}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "-baseline: unknown policy") {
			t.Errorf("-baseline %q: exit %d, stderr %q; want %d and an unknown policy", b, code, stderr.String(), exitUsage)
		}
	}
}
