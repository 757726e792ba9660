package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/bench"
	"github.com/qedharness/qedharness/workloads/results"
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

// TestFioJobFile reads a job file in fio's syntax: an include relative
// to it, an environment variable, an iolog to replay, and fio keys that
// change nothing, named in one line on stderr; then runs it, at the
// queue depth the job sets.
func TestFioJobFile(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "fio.fio")
	os.WriteFile(filepath.Join(dir, "common.inc"), []byte("ioengine=libaio\ndirect=1 ; as fio's examples\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "trace.log"), []byte("fio version 3 iolog\n0 /dev/sdb add\n10 /dev/sdb write 0 4096\n20 /dev/sdb read 0 4096\n"), 0o644)
	os.WriteFile(job, []byte("[global]\nstonewall\nfilename=/dev/sdb\ngroup_reporting\ninclude common.inc\n\n[rand writes]\nrw=randwrite\nsize=${FIO_TEST_SIZE}\niodepth=4\n\n[replay]\nread_iolog=trace.log\n"), 0o644)
	t.Setenv("FIO_TEST_SIZE", "1m")

	var stdout, stderr bytes.Buffer
	if code := run([]string{"-job", job, "-list"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "[rand_writes]\n") || !strings.Contains(stdout.String(), "size=1m\n") || !strings.Contains(stdout.String(), "read_iolog="+filepath.Join(dir, "trace.log")) {
		t.Errorf("-list printed:\n%s", stdout.String())
	}
	want := "runbench: -job " + job + ": fio keys ignored, as they change nothing runbench measures, or honoured in part: ioengine=libaio ("
	if e := stderr.String(); !strings.HasPrefix(e, want) || strings.Count(e, "\n") != 1 || !strings.Contains(e, "group_reporting") || !strings.Contains(e, "ioengine=libaio") || !strings.Contains(e, "direct") {
		t.Errorf("stderr %q, want one line starting %q", e, want)
	}

	stdout.Reset()
	stderr.Reset()
	args := []string{"-verdicts=false", "-job", job, "-policies", "overlap", "-repeat", "1", "-warmup", "0", "-backend", "mem", "-out", filepath.Join(dir, "out"), "-noplots", "-v"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "rand_writes") || !strings.Contains(stdout.String(), "replay") {
		t.Errorf("table lacks the jobs:\n%s", stdout.String())
	}
	res, err := results.ReadResults(filepath.Join(dir, "out", "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	qds := map[string][]int{}
	for _, r := range res.Runs {
		qds[r.Workload] = append(qds[r.Workload], r.QD)
	}
	if fmt.Sprint(qds["rand_writes"]) != "[4]" || len(qds["replay"]) != len(workloads.StandardQDs()) {
		t.Errorf("queue depths %v, want rand_writes at its iodepth 4 alone and replay at the standard sweep", qds)
	}
}

// TestFioJobFileRefused checks a fio key that would change what is
// measured is refused in one line naming the file, line and key.
func TestFioJobFileRefused(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "zoned.fio")
	os.WriteFile(job, []byte("[global]\nioengine=io_uring_cmd\n[z]\nrw=randwrite\nwrite_mode=zone_append\n"), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-job", job, "-list"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("exit %d, want %d: %s", code, exitUsage, stderr.String())
	}
	if want := job + ":5: [z] write_mode=zone_append: not supported: the write command"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", stderr.String(), want)
	}
}

// TestZBDReadNote checks -list says that a zonemode=zbd read job reads
// nothing: fio's emulated zones start empty.
func TestZBDReadNote(t *testing.T) {
	job := filepath.Join(t.TempDir(), "zbd.fio")
	os.WriteFile(job, []byte("[r]\nrw=randread\nzonemode=zbd\nzonesize=1m\nsize=4m\n"), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-job", job, "-list"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if want := job + ":1: [r] zonemode=zbd: fio's emulated zones start empty"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", stderr.String(), want)
	}
}
