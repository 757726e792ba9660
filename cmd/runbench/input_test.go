package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestJobFileBOM runs a job file saved with a UTF-8 byte order mark,
// which once put its first section's settings outside any section.
func TestJobFileBOM(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "bom.fio")
	os.WriteFile(job, []byte("\xef\xbb\xbf[bom]\r\nrw=randwrite\r\npattern=first-touch\r\nsize=1m\r\n"), 0o644)
	var stdout, stderr bytes.Buffer
	args := []string{"-job", job, "-policies", "overlap", "-qd", "4", "-repeat", "1", "-warmup", "0", "-backend", "mem", "-out", filepath.Join(dir, "out"), "-noplots"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "bom") {
		t.Errorf("table lacks the job:\n%s", stdout.String())
	}
}

// TestHugeRewriteRuns runs the rewrite of issue 12 that ran for half an
// hour (-set size=16t -workloads rewrite -set ops=10): it prefills what
// its 10 ops touch, not 16 TiB.
func TestHugeRewriteRuns(t *testing.T) {
	out := filepath.Join(t.TempDir(), "res")
	var stdout, stderr bytes.Buffer
	args := []string{"-set", "size=16t", "-workloads", "rewrite", "-set", "ops=10", "-qd", "1,32", "-repeat", "1", "-warmup", "0",
		"-out", out, "-noplots"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	res, err := results.ReadResults(filepath.Join(out, "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 10 {
		t.Errorf("%d runs, want 10", len(res.Runs))
	}
	for _, r := range res.Runs {
		if r.Ops != 10 || r.Error != "" || r.AllocatingWrites != 0 {
			t.Errorf("%s qd %d: %d ops, %d allocating, error %q; want 10, 0, none", r.Policy, r.QD, r.Ops, r.AllocatingWrites, r.Error)
		}
	}
}

// TestBadFlagsKeepCounterexamples checks a command line refused as bad
// removes nothing from -out: the stale counterexamples are removed only
// when the matrix runs.
func TestBadFlagsKeepCounterexamples(t *testing.T) {
	out := t.TempDir()
	kept := filepath.Join(out, counterexampleDir, "mine.txt")
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

// TestCheckDir checks -dir against the bytes each run writes before it
// starts.
func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	plan := func(set string) *workloads.Plan {
		j := workloads.DefaultJob()
		j.Name = "job"
		for _, kv := range strings.Split(set, ",") {
			k, v, _ := strings.Cut(kv, "=")
			if err := j.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		p, err := j.Plan()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		set  string
		free uint64
		want string
	}{
		{"fits", "rw=write,backing=1,size=1g", 2 << 30, ""},
		{"backing too large", "rw=write,backing=1,size=16t", 80 << 30, "[job] writes 16384.0 GiB (backing file and prefill) before each run starts, more than the 80.0 GiB free in " + dir},
		{"prefill too large", "rw=randread,prefill=1,size=100g,ops=1000000", 10 << 30, "[job] writes 61.0 GiB"},
		{"no setup", "rw=write,size=16t", 1 << 20, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDir(dir, []*workloads.Plan{plan(tt.set)}, func(string) (uint64, bool) { return tt.free, true })
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
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
