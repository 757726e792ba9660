package checker

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/model"
)

// regressionDir holds every counterexample the properties have found, one
// file per case, in parseCase's text form plus two directives:
//
//	policy freeze-l2   the policy the case was found with
//	expect unsafe      that policy's declared verdict when it was found
//
// TestPropRegressions replays each file forever after.
const regressionDir = "testdata/regressions"

// saveRegression writes c to the corpus unless the same case is there
// (files are named policy-hash, the hash of the case's text form).
// A counterexample of a Safe policy is always saved (it is a bug and must
// stay a red test until fixed); one of an Unsafe policy only when the
// corpus has none for that policy yet, so runs with other seeds do not
// pile up copies of the known violation. It returns the file's path and
// whether it wrote it.
func saveRegression(t testing.TB, reg model.Registration, c propCase, out propOutcome) (string, bool) {
	t.Helper()
	h := fnv.New32a()
	h.Write([]byte(c.String()))
	path := filepath.Join(regressionDir, fmt.Sprintf("%s-%08x.txt", reg.Name, h.Sum32()))
	// Every case is replayed against every policy, so the same case
	// found with another policy is not new either.
	if same, _ := filepath.Glob(filepath.Join(regressionDir, fmt.Sprintf("*-%08x.txt", h.Sum32()))); len(same) > 0 {
		return same[0], false
	}
	if reg.Expect == model.Unsafe {
		if have, _ := filepath.Glob(filepath.Join(regressionDir, reg.Name+"-*.txt")); len(have) > 0 {
			return have[0], false
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Found by the concurrent property; %s.\n", out.Failure)
	fmt.Fprintf(&b, "# Replayed by TestPropRegressions; the file format is parseCase's.\n")
	fmt.Fprintf(&b, "policy %s\nexpect %s\n", reg.Name, reg.Expect)
	for _, l := range c.lines() {
		b.WriteString(l + "\n")
	}
	if err := os.MkdirAll(regressionDir, 0o755); err != nil {
		t.Errorf("save regression: %v", err)
		return path, false
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Errorf("save regression: %v", err)
		return path, false
	}
	return path, true
}

// TestPropRegressions replays every saved counterexample against every
// registered policy and asserts each policy's declared verdict: a Safe
// policy must pass every case; the policy a case was found with, if it is
// declared Unsafe, must still fail it (the case is its proof). A file
// whose expect line no longer matches the policy's declaration fails too,
// so a change of verdict is a deliberate edit of the corpus.
func TestPropRegressions(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(regressionDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no regression cases in %s", regressionDir)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, meta, err := parseCase(string(text))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			found, err := model.Lookup(meta["policy"])
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if meta["expect"] != found.Expect.String() {
				t.Fatalf("%s: says %s is %q, but the policy is declared %s", path, found.Name, meta["expect"], found.Expect)
			}
			for _, reg := range model.Registered() {
				out := runCase(c, reg.Policy)
				switch {
				case reg.Expect == model.Safe && out.Failure != "":
					t.Errorf("%s (declared safe) fails regression %s: %s\n%s\n  replay: %s",
						reg.Name, path, out.Failure, indent(out.Detail), replayCommand(reg.Name, c))
				case reg.Name == found.Name && reg.Expect == model.Unsafe && out.Failure == "":
					t.Errorf("%s (declared unsafe) no longer fails its regression %s: the case stopped reproducing (did the I/O order change?) or the policy was fixed; update the corpus or the declaration", reg.Name, path)
				}
			}
		})
	}
}
