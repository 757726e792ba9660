package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// shardArgs is the matrix of the shard tests: small, on sim, with an
// unsafe policy (violations, counterexamples) and a safe one, and the
// verdicts unless under the race detector.
func shardArgs() []string {
	args := []string{"-workloads", "first-touch-4k,rewrite,backing-cow", "-policies", "freeze-l2,overlap", "-qd", "1,8",
		"-repeat", "2", "-set", "ops=64", "-seed", "7", "-noplots"}
	if raceEnabled {
		args = append(args, "-verdicts=false")
	}
	return args
}

// runChild runs runbench with args in a child process (TestHelperRunbench)
// and returns its stdout; it fails the test unless it exits 0.
func runChild(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRunbench$")
	cmd.Env = append(os.Environ(), "RUNBENCH_HELPER_ARGS="+strings.Join(args, "\n"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("runbench %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestShardsMergeEqualWhole runs a matrix whole, and in 3 shards as
// separate processes, merges the shards and checks that the merged
// results equal the whole run's apart from provenance and wall-clock
// fields (simFigures; scripts/same-sim-results.sh too, where jq is
// installed); then that a complete shard run again skips, and a partial
// one is redone, leaving files it did not write.
func TestShardsMergeEqualWhole(t *testing.T) {
	dir := t.TempDir()
	whole, merged := filepath.Join(dir, "whole"), filepath.Join(dir, "merged")
	var stdout, stderr bytes.Buffer
	if code := run(append(shardArgs(), "-out", whole), &stdout, &stderr); code != 0 {
		t.Fatalf("whole run: exit %d\n%s", code, stderr.String())
	}
	var shards []string
	for k := 1; k <= 3; k++ {
		sd := filepath.Join(dir, fmt.Sprintf("shard-%d", k))
		out := runChild(t, append(shardArgs(), "-shard", fmt.Sprintf("%d/3", k), "-out", sd)...)
		if !strings.Contains(out, fmt.Sprintf("runbench: shard %d/3:", k)) {
			t.Errorf("shard %d/3 does not say what it runs:\n%s", k, out)
		}
		shards = append(shards, sd)
	}
	merge := func(out string, dirs ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"merge", "-noplots", "-out", out}, dirs...), &stdout, &stderr); code != 0 {
			t.Fatalf("merge: exit %d\n%s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "merged 3 shards") {
			t.Errorf("merge says:\n%s", stdout.String())
		}
	}
	// Given in any order.
	merge(merged, shards[2], shards[0], shards[1])
	sameSimFigures(t, whole, merged)
	if _, err := exec.LookPath("jq"); err == nil {
		script := filepath.Join("..", "..", "scripts", "same-sim-results.sh")
		if out, err := exec.Command("bash", script, whole, merged).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", script, err, out)
		}
	}

	// A complete shard skips and leaves its files as they were.
	before, _ := os.ReadFile(filepath.Join(shards[1], "runs.json"))
	if out := runChild(t, append(shardArgs(), "-shard", "2/3", "-out", shards[1])...); !strings.Contains(out, "shard 2/3 is complete") {
		t.Errorf("a complete shard ran again:\n%s", out)
	}
	if after, _ := os.ReadFile(filepath.Join(shards[1], "runs.json")); !bytes.Equal(before, after) {
		t.Error("a skipped shard's runs.json changed")
	}
	// A partial one is redone, removing only what a shard writes.
	manifest := filepath.Join(shards[2], "shard.json")
	b, _ := os.ReadFile(manifest)
	os.WriteFile(manifest, bytes.Replace(b, []byte(`"complete": true`), []byte(`"complete": false`), 1), 0o644)
	os.WriteFile(filepath.Join(shards[2], "runs.json"), []byte("half a fi"), 0o644)
	os.WriteFile(filepath.Join(shards[2], "notes.txt"), []byte("mine"), 0o644)
	os.MkdirAll(filepath.Join(shards[2], "counterexamples"), 0o755)
	os.WriteFile(filepath.Join(shards[2], "counterexamples", "mine.txt"), []byte("mine"), 0o644)
	if out := runChild(t, append(shardArgs(), "-shard", "3/3", "-out", shards[2])...); strings.Contains(out, "is complete") {
		t.Errorf("a partial shard was skipped:\n%s", out)
	}
	for _, f := range []string{"notes.txt", filepath.Join("counterexamples", "mine.txt")} {
		if b, err := os.ReadFile(filepath.Join(shards[2], f)); err != nil || string(b) != "mine" {
			t.Errorf("%s, not the shard's, was touched: %q, %v", f, b, err)
		}
	}
	again := filepath.Join(dir, "merged-again")
	merge(again, shards...)
	sameSimFigures(t, whole, again)
	if _, err := os.Stat(filepath.Join(again, "counterexamples", "mine.txt")); err == nil {
		t.Error("the merge copied a file no shard wrote")
	}
}

// TestMergeRefuses: merge names why shards do not make one whole and
// exits 2.
func TestMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-verdicts=false", "-workloads", "rewrite", "-policies", "overlap", "-qd", "1,2", "-repeat", "1", "-set", "ops=16", "-noplots"}
	shard := func(name, spec string, extra ...string) string {
		t.Helper()
		out := filepath.Join(dir, name)
		var stdout, stderr bytes.Buffer
		if code := run(append(append(slices.Clone(args), extra...), "-shard", spec, "-out", out), &stdout, &stderr); code != 0 {
			t.Fatalf("shard %s: exit %d\n%s", spec, code, stderr.String())
		}
		return out
	}
	s1, s2 := shard("s1", "1/2"), shard("s2", "2/2")
	seed := shard("seed", "2/2", "-seed", "9")
	other := shard("other", "2/2", "-qd", "1,4")
	three := shard("three", "2/3")
	partial := shard("partial", "2/2")
	b, _ := os.ReadFile(filepath.Join(partial, "shard.json"))
	os.WriteFile(filepath.Join(partial, "shard.json"), bytes.Replace(b, []byte(`"complete": true`), []byte(`"complete": false`), 1), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing", []string{s1}, "missing shards 2/2 (given 1 of 2)"},
		{"twice", []string{s1, s1}, "shard 1/2 given twice"},
		{"seeds", []string{s1, seed}, "different seeds: " + s1 + " ran seed 1, " + seed + " seed 9"},
		{"matrices", []string{s1, other}, "different matrices"},
		{"shard counts", []string{s1, three}, "different splits"},
		{"incomplete", []string{s1, partial}, "shard 2/2 is incomplete"},
		{"not a shard", []string{s1, dir}, "no shard.json: not a shard directory"},
		{"no out", nil, "-out DIR is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := []string{"merge", "-out", filepath.Join(dir, "merged-"+tt.name)}
			if tt.args == nil {
				a = []string{"merge", s1}
			}
			var stdout, stderr bytes.Buffer
			if code := run(append(a, tt.args...), &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"merge", "-out", filepath.Join(dir, "merged"), s2, s1}, &stdout, &stderr); code != 0 {
		t.Errorf("merge of the two shards: exit %d\n%s", code, stderr.String())
	}
}

// TestShardFlag: bad -shard values exit 2 naming the flag and the
// value.
func TestShardFlag(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-shard", "0/3", "-out", out}, `-shard: "0/3": K is 0, want 1 to N (3): shards count from 1`},
		{[]string{"-shard", "4/3", "-out", out}, `-shard: "4/3": K is 4, want 1 to N (3)`},
		{[]string{"-shard", "x/y", "-out", out}, `-shard: "x/y": want K/N with K and N whole numbers`},
		{[]string{"-shard", "3", "-out", out}, `-shard: "3": want K/N`},
		{[]string{"-shard", "1/0", "-out", out}, `-shard: "1/0": N is 0`},
		{[]string{"-shard", "1/3"}, "-shard: give the shard its own directory with -out"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

// TestWholeCommand: a shard's command line without -shard and -out.
func TestWholeCommand(t *testing.T) {
	tests := []struct{ in, want string }{
		{"-qd 1,2 -shard 2/3 -out /r/s2", "-qd 1,2"},
		{"-shard=2/3 --out=/r -seed 4", "-seed 4"},
		{"-policy all -mode impl -shard 1/8 -out x", "-policy all -mode impl"},
		{"-outline", "-outline"},
	}
	for _, tt := range tests {
		if got := strings.Join(wholeCommand(strings.Fields(tt.in)), " "); got != tt.want {
			t.Errorf("wholeCommand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// simFigures returns what of a sim results directory depends on the
// simulation alone, file by file, leaving out exactly what
// scripts/same-sim-results.sh leaves out: runs.json without its
// provenance, without every key containing "wall" or "cpu_seconds", and
// without each verdict's "seconds" (a checker's wall time); runs.csv
// whole; bench.txt without the provenance's header lines; summary.txt
// without its first line (the provenance), with each verdict's time
// ("2.31s") blanked and runs of spaces (the padding those times change)
// as one.
func simFigures(t *testing.T, dir string) map[string]string {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(read("runs.json")), &js); err != nil {
		t.Fatal(err)
	}
	delete(js, "provenance")
	var strip func(v any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if strings.Contains(k, "wall") || strings.Contains(k, "cpu_seconds") {
					delete(v, k)
					continue
				}
				strip(x)
			}
		case []any:
			for _, x := range v {
				strip(x)
			}
		}
	}
	strip(js)
	if vs, ok := js["verdicts"].([]any); ok {
		for _, v := range vs {
			delete(v.(map[string]any), "seconds")
		}
	}
	jb, err := json.MarshalIndent(js, "", " ") // map keys sorted
	if err != nil {
		t.Fatal(err)
	}
	header := regexp.MustCompile(`(?m)^((goos|goarch|cpu|pkg): |# commit ).*\n`)
	summary := read("summary.txt")
	_, summary, _ = strings.Cut(summary, "\n")
	summary = regexp.MustCompile(`[0-9]+\.[0-9]{2}s\b`).ReplaceAllString(summary, "Ts")
	summary = regexp.MustCompile(` +`).ReplaceAllString(summary, " ")
	out := map[string]string{
		"runs.json": string(jb), "runs.csv": read("runs.csv"),
		"bench.txt": header.ReplaceAllString(read("bench.txt"), ""), "summary.txt": summary,
	}
	cx, _ := filepath.Glob(filepath.Join(dir, "counterexamples", "*"))
	for _, f := range cx {
		if filepath.Base(f) != "mine.txt" {
			out[filepath.Join("counterexamples", filepath.Base(f))] = read(filepath.Join("counterexamples", filepath.Base(f)))
		}
	}
	return out
}

// sameSimFigures fails the test where the simFigures of two results
// directories differ, showing the first line that does.
func sameSimFigures(t *testing.T, a, b string) {
	t.Helper()
	fa, fb := simFigures(t, a), simFigures(t, b)
	for name, x := range fa {
		y, ok := fb[name]
		if !ok {
			t.Errorf("%s has %s, %s has not", a, name, b)
			continue
		}
		if x == y {
			continue
		}
		la, lb := strings.Split(x, "\n"), strings.Split(y, "\n")
		for i := range min(len(la), len(lb)) {
			if la[i] != lb[i] {
				t.Errorf("%s differs at line %d:\n%s: %s\n%s: %s", name, i+1, a, la[i], b, lb[i])
				break
			}
		}
		if len(la) != len(lb) {
			t.Errorf("%s: %d lines in %s, %d in %s", name, len(la), a, len(lb), b)
		}
	}
	for name := range fb {
		if _, ok := fa[name]; !ok {
			t.Errorf("%s has %s, %s has not", b, name, a)
		}
	}
}
