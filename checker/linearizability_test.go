package checker

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// fixture is a history from testdata with the expectations in its
// comments: "# failing: 3 4" lists the failing sectors of a -bad file,
// "# allow-pending" sets Options.AllowPending.
type fixture struct {
	name    string
	hist    history.History
	opts    Options
	failing []uint64
}

func loadFixture(t testing.TB, path string) fixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := history.ParseHistory(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	f := fixture{name: filepath.Base(path), hist: h}
	for _, line := range strings.Split(string(data), "\n") {
		if line == "# allow-pending" {
			f.opts.AllowPending = true
		}
		if rest, ok := strings.CutPrefix(line, "# failing:"); ok {
			for _, s := range strings.Fields(rest) {
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					t.Fatalf("%s: failing sector %q: %v", path, s, err)
				}
				f.failing = append(f.failing, n)
			}
		}
	}
	return f
}

// TestFixtures checks every testdata history: *-ok must be linearizable,
// *-bad must fail on exactly the sectors its "# failing:" line names, with
// and without splitting.
func TestFixtures(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range paths {
		f := loadFixture(t, path)
		want := Ok
		if strings.HasSuffix(f.name, "-bad.txt") {
			want = Illegal
			if len(f.failing) == 0 {
				t.Fatalf("%s: a -bad fixture needs a '# failing:' line", f.name)
			}
		}
		for _, maxSeg := range []int{-1, 1} {
			opts := f.opts
			opts.MaxSegment = maxSeg
			res, err := Check(f.hist, opts)
			if err != nil {
				t.Errorf("%s (max segment %d): %v", f.name, maxSeg, err)
				continue
			}
			if res.Verdict != want {
				t.Errorf("%s (max segment %d): verdict %v, want %v", f.name, maxSeg, res.Verdict, want)
				continue
			}
			if want == Illegal && !slices.Equal(res.Failing, f.failing) {
				t.Errorf("%s (max segment %d): failing sectors %v, want %v", f.name, maxSeg, res.Failing, f.failing)
			}
			if want == Illegal && res.Counterexample == nil {
				t.Errorf("%s: Illegal without a counterexample", f.name)
			}
		}
	}
}

// TestCounterexample pins the report of the freeze-l2 lost update.
func TestCounterexample(t *testing.T) {
	f := loadFixture(t, "testdata/lost-update-bad.txt")
	res, err := Check(f.hist, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ce := res.Counterexample
	if ce == nil {
		t.Fatalf("verdict %v, no counterexample", res.Verdict)
	}
	var ids []uint64
	for _, s := range ce.Steps {
		ids = append(ids, s.ID)
	}
	if ce.Sector != 0 || !slices.Equal(ids, []uint64{1, 3}) || ce.Steps[ce.Stale].ID != 3 {
		t.Errorf("counterexample: sector %d, ops %v, stale op %d; want sector 0, ops [1 3], stale op 3", ce.Sector, ids, ce.Steps[ce.Stale].ID)
	}
	if ce.Saw != model.BackingTag(0) || !slices.Equal(ce.Want, []model.Tag{model.WriteTag(1, 0)}) {
		t.Errorf("saw %v, want %v; expected saw backing/s0, want [w1/s0]", ce.Saw, ce.Want)
	}
	if len(ce.Concurrent) != 1 || ce.Concurrent[0].ID != 2 {
		t.Errorf("concurrent ops %v, want op 2", ce.Concurrent)
	}
	for _, want := range []string{
		"sector 0: op 3 (read s0+8) saw backing/s0 there, but should have seen w1/s0",
		"op 1    write s0+5  call ev 0 t=1139.193µs  return ev 2 t=1264.995µs  s0 := w1/s0",
		"s0 -> backing/s0   <- stale",
		"op 2    write s6+1",
	} {
		if !strings.Contains(ce.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, ce)
		}
	}
}

// TestInputErrors feeds histories the checker cannot judge and requires
// an *InputError naming the operation, never a verdict or a panic.
func TestInputErrors(t *testing.T) {
	tests := []struct {
		name    string
		history string
		problem Problem
		op      uint64
	}{
		{"unmatched call", "call 1 write s0+1\ncall 2 read s0+1\nreturn 2 saw=zero", UnmatchedCall, 1},
		{"unmatched return", "call 1 write s0+1\nreturn 1\nreturn 7", UnmatchedReturn, 7},
		{"duplicate call", "call 1 write s0+1\ncall 1 read s0+1\nreturn 1", DuplicateCall, 1},
		{"duplicate return", "call 1 write s0+1\nreturn 1\nreturn 1", DuplicateReturn, 1},
		{"corrupt tag", "call 1 read s0+2\nreturn 1 saw=zero,corrupt", CorruptTag, 1},
		{"torn sector", "call 1 read s0+1\nreturn 1 saw=torn", CorruptTag, 1},
		{"tag of no operation", "call 1 read s0+1\nreturn 1 saw=w9/s0", UnknownTag, 1},
		{"tag of a read", "call 1 read s0+1\nreturn 1 saw=zero\ncall 2 read s0+1\nreturn 2 saw=w1/s0", UnknownTag, 2},
		{"tag of another sector", "call 1 write s0+2\nreturn 1\ncall 2 read s0+1\nreturn 2 saw=w1/s1", UnknownTag, 2},
		{"write not covering the sector", "call 1 write s0+1\nreturn 1\ncall 2 read s5+1\nreturn 2 saw=w1/s5", UnknownTag, 2},
		{"backing of another sector", "disk backing=8\ncall 1 read s0+1\nreturn 1 saw=backing/s1", UnknownTag, 1},
		{"backing past the file", "disk backing=1\ncall 1 read s3+1\nreturn 1 saw=backing/s3", UnknownTag, 1},
		{"short read", "call 1 read s0+2\nreturn 1 saw=zero", Malformed, 1},
	}
	for _, tc := range tests {
		h, err := history.ParseHistory(strings.NewReader(tc.history))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		res, err := Check(h, Options{})
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: Check = %v, %v; want an *InputError", tc.name, res, err)
			continue
		}
		if ie.Problem != tc.problem || ie.Op != tc.op {
			t.Errorf("%s: got %v (problem %v, op %d); want problem %v, op %d", tc.name, err, ie.Problem, ie.Op, tc.problem, tc.op)
		}
		if !strings.Contains(err.Error(), "op "+strconv.FormatUint(tc.op, 10)) {
			t.Errorf("%s: error %q does not name op %d", tc.name, err, tc.op)
		}
	}
}

// TestSplitIsExact compares checking whole per-sector histories with
// checking them in pieces of a few operations each, on generated
// histories that are linearizable and on the same histories broken.
func TestSplitIsExact(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		h := genHistory(genConfig{ops: 120, sectors: 6, maxLen: 3, depth: 4, backing: 3, seed: seed, readPct: 50, flushEvery: 17})
		whole, err := Check(h, Options{MaxSegment: -1})
		if err != nil {
			t.Fatal(err)
		}
		split, err := Check(h, Options{MaxSegment: 4})
		if err != nil {
			t.Fatal(err)
		}
		if whole.Verdict != Ok || split.Verdict != Ok {
			t.Fatalf("seed %d: generated history judged %v whole, %v split; want ok", seed, whole.Verdict, split.Verdict)
		}
		if split.Segments <= split.Sectors {
			t.Errorf("seed %d: %d segments for %d sectors: nothing was split", seed, split.Segments, split.Sectors)
		}
		sector, ok := breakHistory(&h)
		if !ok {
			continue
		}
		whole, _ = Check(h, Options{MaxSegment: -1})
		split, _ = Check(h, Options{MaxSegment: 4})
		if whole.Verdict != Illegal || split.Verdict != Illegal || !slices.Equal(whole.Failing, split.Failing) || !slices.Contains(whole.Failing, sector) {
			t.Errorf("seed %d: broken sector %d: whole %v %v, split %v %v", seed, sector, whole.Verdict, whole.Failing, split.Verdict, split.Failing)
		}
	}
}

// TestModelPartitionAgrees checks generated histories with porcupine
// directly, through model.Disk's own partition function, and requires the
// same verdict as Check.
func TestModelPartitionAgrees(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		h := genHistory(genConfig{ops: 60, sectors: 8, maxLen: 4, depth: 4, backing: 4, seed: seed, readPct: 50})
		for _, broken := range []bool{false, true} {
			if broken {
				if _, ok := breakHistory(&h); !ok {
					continue
				}
			}
			res, err := Check(h, Options{})
			if err != nil {
				t.Fatal(err)
			}
			direct := checkDirect(t, h)
			if (res.Verdict == Ok) != direct {
				t.Errorf("seed %d broken=%v: Check says %v, porcupine with model.PartitionBySector says linearizable=%v", seed, broken, res.Verdict, direct)
			}
		}
	}
}

// TestTimeout requires Unknown, not Ok, when the budget is spent.
func TestTimeout(t *testing.T) {
	h := genHistory(genConfig{ops: 2000, sectors: 50, maxLen: 4, depth: 8, seed: 1, readPct: 50})
	res, err := Check(h, Options{Timeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Unknown {
		t.Errorf("verdict %v with a 1ns budget, want unknown", res.Verdict)
	}
}

// TestVisualize writes the visualization of a failing check and refuses
// to for a passing one.
func TestVisualize(t *testing.T) {
	dir := t.TempDir()
	bad, err := Check(loadFixture(t, "testdata/lost-update-bad.txt").hist, Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "lost-update.html")
	if err := bad.Visualize(path); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<html", "write s0 := w1/s0", `read s0 -\u003e backing/s0`, "op 2: write s6+1", "stale: op 3 saw backing/s0"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("visualization lacks %q", want)
		}
	}
	good, err := Check(loadFixture(t, "testdata/lost-update-ok.txt").hist, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Visualize(filepath.Join(dir, "ok.html")); err == nil {
		t.Error("Visualize of a linearizable history succeeded")
	}
}

// checkDirect flattens h into single-sector operations and checks them
// with porcupine and model.Disk's Model, partitioned by the model.
func checkDirect(t *testing.T, h history.History) bool {
	t.Helper()
	hist, err := prepare(&h, false)
	if err != nil {
		t.Fatal(err)
	}
	var flat []porcupine.Operation
	for k := range hist.ops {
		o := &hist.ops[k]
		if o.action != history.ActRead && o.action != history.ActWrite {
			continue
		}
		for s := o.sector; s < o.sector+o.sectors; s++ {
			in, out := hist.sectorInput(int32(k), s)
			flat = append(flat, porcupine.Operation{ClientId: o.client, Input: in, Call: o.call, Output: out, Return: o.ret})
		}
	}
	return porcupine.CheckOperations(h.Disk.Model(), flat)
}
