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
// TestPropRegressions replays each file forever after. A test run only
// reads the corpus: a counterexample the corpus lacks is printed, with
// the file it would go to and its seed, and the corpus grows only when
// asked, by running the property with QED_SAVE_CORPUS=1:
//
//	QED_SAVE_CORPUS=1 go test ./checker -run 'TestPropConcurrent/policy=freeze-l2$' -v
//
// (with QED_PROP_SEED=N to find the case of a printed seed again).
const regressionDir = "testdata/regressions"

// saveCorpusEnv names the environment variable that lets a property run
// write new counterexamples into regressionDir.
const saveCorpusEnv = "QED_SAVE_CORPUS"

// corpusEntry returns the corpus file of c found with reg, and whether
// the corpus has it already: files are named policy-hash, the hash of the
// case's text form, and every case is replayed against every policy, so
// the same case found with another policy is not new either. A
// counterexample of a Safe policy is always new (it is a bug and must
// stay a red test until fixed); one of an Unsafe policy is new only when
// the corpus has none for that policy yet, so that runs with other seeds
// do not pile up copies of the known violation. It only reads the corpus.
func corpusEntry(reg model.Registration, c propCase) (path string, have bool) {
	h := fnv.New32a()
	h.Write([]byte(c.String()))
	path = filepath.Join(regressionDir, fmt.Sprintf("%s-%08x.txt", reg.Name, h.Sum32()))
	if same, _ := filepath.Glob(filepath.Join(regressionDir, fmt.Sprintf("*-%08x.txt", h.Sum32()))); len(same) > 0 {
		return same[0], true
	}
	if reg.Expect == model.Unsafe {
		if known, _ := filepath.Glob(filepath.Join(regressionDir, reg.Name+"-*.txt")); len(known) > 0 {
			return known[0], true
		}
	}
	return path, false
}

// regressionText renders c, found with reg, as a corpus file.
func regressionText(reg model.Registration, c propCase, out propOutcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Found by the concurrent property; %s.\n", out.Failure)
	fmt.Fprintf(&b, "# Replayed by TestPropRegressions; the file format is parseCase's.\n")
	fmt.Fprintf(&b, "policy %s\nexpect %s\n", reg.Name, reg.Expect)
	for _, l := range c.lines() {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// recordRegression says where counterexample c of reg stands with the
// corpus, for the log. If the corpus lacks it and QED_SAVE_CORPUS=1 is
// set, it writes it there first; otherwise it prints the file, with the
// gopter seed that found it and the command that saves it.
func recordRegression(t testing.TB, reg model.Registration, c propCase, out propOutcome, seed int64) string {
	t.Helper()
	path, have := corpusEntry(reg, c)
	if have {
		return fmt.Sprintf("corpus: %s holds it", path)
	}
	text := regressionText(reg, c, out)
	if os.Getenv(saveCorpusEnv) == "1" {
		if err := os.MkdirAll(regressionDir, 0o755); err != nil {
			t.Errorf("save regression: %v", err)
		} else if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Errorf("save regression: %v", err)
		} else {
			return fmt.Sprintf("corpus: saved to %s", path)
		}
	}
	return fmt.Sprintf("corpus: new, not saved (gopter seed %d); to add it as %s, run\n    %s=1 QED_PROP_SEED=%d go test ./checker -run 'TestPropConcurrent/policy=%s$' -v\n  or save this as %s:\n%s",
		seed, path, saveCorpusEnv, seed, reg.Name, path, indent(text))
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

// TestRecordRegressionReadOnly requires a test run to leave the corpus
// alone: without QED_SAVE_CORPUS=1 a new counterexample is printed as the
// file it would be, with its seed, and not written; a known one is found.
func TestRecordRegressionReadOnly(t *testing.T) {
	t.Setenv(saveCorpusEnv, "")
	unsafe, err := model.Lookup("freeze-l2")
	if err != nil {
		t.Skip(err)
	}
	safe, err := model.Lookup("overlap")
	if err != nil {
		t.Skip(err)
	}
	c := propCase{Geom: propGeom{ClusterBits: 12, TableSize: 1, Size: 1 << 20}, Seed: 7, Batches: [][]propOp{
		{{Kind: opWrite, Sector: 0, Count: 1}, {Kind: opWrite, Sector: 3, Count: 2}},
		{{Kind: opRead, Sector: 0, Count: 5}},
	}}
	out := propOutcome{Failure: "made up"}
	for _, tt := range []struct {
		reg  model.Registration
		want []string
	}{
		{unsafe, []string{"corpus: " + regressionDir + "/freeze-l2-", "holds it"}},
		{safe, []string{"new, not saved (gopter seed 99)", saveCorpusEnv + "=1 QED_PROP_SEED=99", "policy overlap", "expect safe", "made up"}},
	} {
		path, have := corpusEntry(tt.reg, c)
		got := recordRegression(t, tt.reg, c, out, 99)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tt.reg.Name, got, w)
			}
		}
		if _, err := os.Stat(path); !have && !os.IsNotExist(err) {
			t.Errorf("%s: %s written (or unreadable: %v) without %s=1", tt.reg.Name, path, err, saveCorpusEnv)
		}
	}
}
