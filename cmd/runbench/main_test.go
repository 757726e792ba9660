package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/workloads/bench"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestBadFlags checks every bad command line exits 2 with a message
// naming the flag.
func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	badJob := filepath.Join(dir, "bad.fio")
	os.WriteFile(badJob, []byte("[a]\nbsz=4k\n"), 0o644)
	binJob := filepath.Join(dir, "bin.fio")
	bin := make([]byte, 256<<10)
	for i := range bin {
		bin[i] = byte(i % 251) // every line of it would be a bad setting
	}
	os.WriteFile(binJob, bin, 0o644)
	longJob := filepath.Join(dir, "long.fio")
	os.WriteFile(longJob, []byte("[a]\nrw=write\nbs="+strings.Repeat("4", 70000)+"\n"), 0o644)
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	someoneElses := filepath.Join(dir, "docs")
	os.Mkdir(someoneElses, 0o755)
	os.WriteFile(filepath.Join(someoneElses, "report.html"), []byte("mine"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"bad qd", []string{"-qd", "1,x"}, `-qd: "x" is not a positive whole number`},
		{"zero qd", []string{"-qd", "0"}, `-qd: "0"`},
		{"duplicate qd", []string{"-qd", "4,4"}, "-qd: 4 listed twice"},
		{"bad policy", []string{"-policies", "fastest"}, `-policies: unknown policy "fastest"`},
		{"bad workload", []string{"-workloads", "nope"}, `-workloads: unknown workload "nope" (known: first-touch`},
		{"bad backend", []string{"-backend", "tape"}, `-backend: unknown backend "tape"`},
		{"bad device", []string{"-device", "floppy"}, `-device: unknown device preset "floppy"`},
		{"bad repeat", []string{"-repeat", "0"}, "-repeat: 0: want at least 1"},
		{"bad set key", []string{"-set", "bsz=4k"}, "-set: [first-touch] bsz=4k: unknown key (did you mean bs?)"},
		{"bad set value", []string{"-set", "bs=4q"}, "-set: [first-touch] bs=4q: \"4q\" is not a size"},
		{"impossible set", []string{"-workloads", "first-touch", "-set", "rw=randread"}, "-set: [first-touch] pattern=first-touch"},
		{"set without =", []string{"-set", "bs"}, `-set: "bs": want key=value`},
		{"bad job file", []string{"-job", badJob}, "bad.fio:2: [a] bsz=4k: unknown key"},
		{"missing job file", []string{"-job", filepath.Join(dir, "none.fio")}, "-job: open"},
		{"stray argument", []string{"extra"}, `unexpected argument "extra"`},
		{"bad baseline", []string{"-baseline", "x"}, "-baseline: unknown policy"},
		{"direct without file", []string{"-direct"}, "-direct: applies to the file backend only"},
		{"file workers without file", []string{"-file-workers", "4"}, "-file-workers: applies to the file backend only"},
		{"negative file workers", []string{"-backend", "file", "-file-workers", "-1"}, "-file-workers: -1: want 0"},
		{"aio without file", []string{"-aio", "threads"}, "-aio: applies to the file backend only"},
		// Issue 12, item 9: each exits 2 in one line naming the flag, the
		// file, the line and the key.
		{"qd beyond the largest", []string{"-qd", "100000"}, `-qd: "100000" is more than the largest, 65536`},
		{"qd overflowing", []string{"-qd", "99999999999999999999"}, `-qd: "99999999999999999999" is more than the largest`},
		{"binary job file", []string{"-job", binJob}, "-job: " + binJob + ":1: not a text file: NUL byte at column 1"},
		{"long line", []string{"-job", longJob}, "-job: " + longJob + ":3: line longer than 65536 bytes"},
		{"empty qd element", []string{"-qd", "1,,2"}, `-qd: "1,,2": element 2 of 3 is empty`},
		{"trailing comma", []string{"-qd", "1,"}, `-qd: "1,": element 2 of 2 is empty`},
		{"empty policies", []string{"-policies", ""}, "-policies: empty value"},
		{"empty policy element", []string{"-policies", "overlap,,serial"}, `-policies: "overlap,,serial": element 2 of 3 is empty`},
		{"empty set", []string{"-set", ""}, "-set: empty value"},
		{"empty second set", []string{"-set", "bs=4k", "-set", " "}, "-set: empty list"},
		{"empty set value", []string{"-set", "bs="}, `-set: "bs=": empty value for bs`},
		{"empty set key", []string{"-set", "=4k"}, `-set: "=4k": empty key`},
		{"empty set element", []string{"-set", "bs=4k,,ops=1"}, "element 2 of 3 is empty"},
		{"empty workloads element", []string{"-workloads", "rewrite,"}, "-workloads: \"rewrite,\": element 2 of 2 is empty"},
		{"empty device element", []string{"-device", ",nvme"}, "-device: \",nvme\": element 1 of 2 is empty"},
		{"empty backend", []string{"-backend", ""}, "-backend: empty value"},
		{"empty job", []string{"-job", ""}, "-job: empty value"},
		{"empty out", []string{"-out", " "}, "-out: empty value"},
		{"empty baselines", []string{"-backend", "file", "-baselines", ""}, "-baselines: empty value"},
		{"huge rewrite without ops", []string{"-workloads", "rewrite", "-set", "size=16t,ops=0,runtime=10"}, "-set: [rewrite] size=16t: pattern=rewrite allocates up to 268435456 clusters before the run, more than the limit of 16777216"},
		{"huge block", []string{"-workloads", "seq-write", "-set", "bs=1t,size=1t,ops=1"}, "-set: [seq-write] bs=1t: queue depth 1 x numjobs=1 x bs=1t needs 1t of request buffers"},
		{"huge qd x block", []string{"-workloads", "seq-write", "-set", "bs=64m", "-qd", "65536"}, "-qd: [seq-write] bs=64m: queue depth 65536 x numjobs=1 x bs=64m needs 4t of request buffers"},
		{"negative repeat", []string{"-repeat", "-3"}, "-repeat: -3: want at least 1"},
		{"huge repeat", []string{"-repeat", "2000000000"}, "-repeat: 2000000000: want at most 1048576"},
		{"overflowing rounds", []string{"-repeat", "4611686018427387904", "-warmup", "4611686018427387904"}, "-repeat: 4611686018427387904: want at most"},
		{"huge warmup", []string{"-warmup", "9223372036854775807"}, "-warmup: 9223372036854775807: want at most"},
		{"too many runs", []string{"-repeat", "1000000"}, "-repeat: 245 configurations x (1000000 repetitions + 1 warm-up) is 245000245 runs, more than the limit of 1048576"},
		{"huge file workers", []string{"-backend", "file", "-file-workers", "2000000000"}, "-file-workers: 2000000000: want at most 4096"},
		{"tiny runtime", []string{"-set", "runtime=1e-12"}, `runtime=1e-12: "1e-12" seconds is less than 1ns`},
		{"NaN runtime", []string{"-set", "runtime=NaN"}, `runtime=NaN: "NaN" is not a duration in range`},
		{"overflowing iodepth", []string{"-set", "iodepth=99999999999999999999"}, `"99999999999999999999" is out of range`},
		{"overflowing ops", []string{"-set", "ops=99999999999999999999"}, `"99999999999999999999" is out of range`},
		{"control characters in a value", []string{"-set", "rw=\x1b[2J"}, `rw="\x1b[2J": want one of`},
		{"dir without file", []string{"-dir", dir}, "-dir: applies to the file backend only"},
		{"out holds other files", []string{"-out", someoneElses}, "holds files and no runs.json"},
		{"out is a file", []string{"-out", notDir}, "is not a directory"},
		{"missing dir", []string{"-backend", "file", "-dir", filepath.Join(dir, "none")}, "-dir: stat " + filepath.Join(dir, "none") + ": no such file or directory"},
		{"dir a file", []string{"-backend", "file", "-dir", notDir}, "-dir: " + notDir + " is not a directory"},
		{"bad aio", []string{"-backend", "file", "-aio", "native"}, `-aio: unknown aio mode "native" (want auto, io_uring or threads)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
			if lines := strings.Count(stderr.String(), "\n"); lines > 2 && tt.name != "unknown flag" {
				t.Errorf("stderr has %d lines, want the error and the hint:\n%s", lines, stderr.String())
			}
		})
	}
}

// TestSmallRun runs a small matrix end to end and checks the files.
func TestSmallRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "res")
	var stdout, stderr bytes.Buffer
	args := []string{"-verdicts=false", "-workloads", "first-touch-4k,rewrite", "-policies", "freeze-any,overlap", "-qd", "1,8",
		"-repeat", "2", "-set", "size=1m", "-set", "ops=64", "-seed", "42", "-out", out}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr not empty when not a terminal: %q", stderr.String())
	}
	for _, want := range []string{"seed 42", "replay with -seed 42", "linearizability: checked", "ratio to freeze-any", "first-touch-4k", "results in " + out} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	res, err := results.ReadResults(filepath.Join(out, "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2*2*2*2 {
		t.Errorf("%d runs, want 16", len(res.Runs))
	}
	p := res.Provenance
	if p.Commit == "" || p.GoVersion == "" || p.CPUs < 1 || p.Date == "" || p.Seed != 42 || !strings.Contains(p.Linearizability, "checked with porcupine") || len(p.Jobs) != 2 {
		t.Errorf("provenance %+v", p)
	}
	for _, r := range res.Runs {
		if r.Seed != 42 && r.Seed != 43 {
			t.Errorf("run seed %d, want 42 or 43", r.Seed)
		}
	}
	for _, f := range []string{"runs.csv", "bench.txt", "summary.txt"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v (%d bytes)", f, err, len(b))
		}
	}
	bench, _ := os.ReadFile(filepath.Join(out, "bench.txt"))
	if !strings.Contains(string(bench), "BenchmarkRun/policy=overlap/workload=first-touch-4k/qd=8/backend=sim/device=nvme") {
		t.Errorf("bench.txt lacks the overlap line:\n%s", bench)
	}
}

func TestListAndKeys(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-keys"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "random_distribution") {
		t.Errorf("-keys: exit %d, output %q", code, stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"-list"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "[first-touch]") {
		t.Errorf("-list: exit %d, output %q", code, stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"--version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "runbench version ") || !strings.Contains(stdout.String(), "\ngo go1.") {
		t.Errorf("--version: exit %d, output %q", code, stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "-policies") {
		t.Errorf("-h: exit %d, stderr %q", code, stderr.String())
	}
}

func TestJobFileRun(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "my.fio")
	os.WriteFile(job, []byte("[global]\nsize=1m\n[mine]\nrw=randwrite\npattern=same-cluster\n"), 0o644)
	var stdout, stderr bytes.Buffer
	args := []string{"-verdicts=false", "-job", job, "-policies", "overlap", "-qd", "4", "-repeat", "1", "-warmup", "0", "-backend", "mem", "-out", filepath.Join(dir, "out")}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "mine") || !strings.Contains(stdout.String(), "mem:ram") {
		t.Errorf("table lacks the job:\n%s", stdout.String())
	}
}

func TestCompareCommand(t *testing.T) {
	dir := t.TempDir()
	run1 := func(out string, seed string) {
		var stdout, stderr bytes.Buffer
		args := []string{"-verdicts=false", "-workloads", "first-touch-4k", "-policies", "freeze-any,overlap", "-qd", "1,8", "-repeat", "2",
			"-set", "size=1m", "-seed", seed, "-out", out, "-noplots"}
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	run1(a, "1")
	run1(b, "1")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"compare", filepath.Join(a, "runs.json"), filepath.Join(b, "runs.json")}, &stdout, &stderr); code != 0 {
		t.Fatalf("compare: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "4 configurations compared: 0 faster, 0 slower, 4 without a significant change") {
		t.Errorf("identical sim runs should compare equal:\n%s", stdout.String())
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"compare", "x"}, exitUsage, "want two runs.json files"},
		{[]string{"compare", "-metric", "ops_per_sec,speed", "a", "b"}, exitUsage, "-metric: unknown metric"},
		{[]string{"compare", "-fail-on-regression", "-3", "a", "b"}, exitUsage, "want a percentage"},
		{[]string{"compare", filepath.Join(dir, "none.json"), filepath.Join(b, "runs.json")}, 1, "no such file"},
	} {
		stderr.Reset()
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

// TestCompareRegression compares synthetic results where one
// configuration lost 20% of its ops/s (its p99 latency rose 25%) over 5
// repetitions and another did not change, and checks the table and the
// exit status of -fail-on-regression.
func TestCompareRegression(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, scale float64) string {
		res := results.Results{Provenance: results.Provenance{Commit: name, Repeat: 5}}
		for rep := 1; rep <= 5; rep++ {
			for _, pol := range []string{"freeze-any", "overlap"} {
				ops := 1000 + 10*float64(rep)
				if pol == "overlap" {
					ops *= scale
				}
				res.Runs = append(res.Runs, results.Record{Policy: pol, Workload: "first-touch", QD: 8, Backend: "sim", Device: "nvme",
					Repeat: rep, OpsPerSec: ops, LatP99Us: 1e6 / ops, Check: "clean"})
			}
		}
		var b bytes.Buffer
		if err := res.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	old, cur := write("old", 1), write("new", 0.8)
	for _, tc := range []struct {
		flags          []string
		code           int
		stdout, stderr string
	}{
		{nil, 0, "-20.00%  slower  (p=0.008 n=5)", ""},
		{[]string{"-only-changed"}, 0, "(1 of them not shown)", ""},
		{[]string{"-fail-on-regression", "10"}, 1, "1 slower", "1 significant regression beyond 10%, the largest ops_per_sec -20.00% on policy=overlap"},
		{[]string{"-fail-on-regression", "20"}, 0, "1 slower", ""},
		{[]string{"-metric", "ops_per_sec,lat_p99_us", "-fail-on-regression", "24"}, 1, "+25.00%  worse", "the largest lat_p99_us +25.00%"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append(append([]string{"compare"}, tc.flags...), old, cur), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("compare %v: exit %d, want %d; stdout lacks %q or stderr %q:\n%s%s", tc.flags, code, tc.code, tc.stdout, tc.stderr, stdout.String(), stderr.String())
		}
	}
	// The other way round the change is an improvement.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"compare", "-fail-on-regression", "0", cur, old}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "1 faster") {
		t.Errorf("an improvement: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

func TestReportCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "res")
	var stdout, stderr bytes.Buffer
	args := []string{"-verdicts=false", "-workloads", "rewrite,first-touch-4k", "-policies", "freeze-any,overlap", "-qd", "1,8", "-repeat", "1", "-warmup", "0",
		"-set", "size=1m", "-set", "ops=64", "-out", out, "-noplots"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	before, _ := os.ReadFile(filepath.Join(out, "summary.txt"))
	stdout.Reset()
	if code := run([]string{"report", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr.String())
	}
	after, _ := os.ReadFile(filepath.Join(out, "summary.txt"))
	table := func(b []byte) string { _, t, _ := strings.Cut(string(b), "\n\n"); return t }
	if table(before) != table(after) {
		t.Errorf("report changed the table:\n%s\nvs\n%s", before, after)
	}
	for _, f := range []string{"report.html", "report.md", "throughput-sim-nvme.png", "latency-sim-nvme.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if md, _ := os.ReadFile(filepath.Join(out, "report.md")); !strings.Contains(string(md), "Harness speed on sim: ") {
		t.Errorf("report.md does not give the harness's speed:\n%s", md)
	}
	if code := run([]string{"report"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("report without a directory: exit %d", code)
	}
}

// TestFlagOf checks every bench.Config field a bench.SettingError may
// name maps to a flag runbench defines.
func TestFlagOf(t *testing.T) {
	var cfg bench.Config
	var o options
	fs := newFlagSet(&cfg, &o, io.Discard)
	fields := reflect.TypeOf(cfg)
	for setting, name := range flagOf {
		if setting == "Metrics" { // runbench compare's
			continue
		}
		if _, ok := fields.FieldByName(setting); !ok {
			t.Errorf("flagOf[%q]: bench.Config has no such field", setting)
		}
		if fs.Lookup(name) == nil {
			t.Errorf("flagOf[%q] = %q: no such flag", setting, name)
		}
	}
}
