package checker

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/prop"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/sim"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// propOutcome is what running one concurrent case found.
type propOutcome struct {
	// Failure is empty when the property holds, else one line saying
	// which part failed.
	Failure string
	// Detail is the counterexample or the check's findings, multi-line.
	Detail string
	// MaxAlloc is the largest number of allocating writes in flight.
	MaxAlloc int
}

// propDevice is the sim device of the concurrent property: NVMe with
// wide jitter, so the seed varies the completion order a lot.
var propDevice = sync.OnceValue(func() sim.Device {
	d, err := sim.Preset("nvme")
	if err != nil {
		panic(err)
	}
	d.Jitter = 0.5
	return d
})

// runCase runs c on the sim backend under policy and judges it: every
// request succeeds, every check op finds no corruption, the history
// (with a read-back of everything written, after a final reopen) is
// linearizable against the disk specification, and the image checks
// free of corruption at the end. Leaks are allowed.
func runCase(c propCase, policy model.Policy) propOutcome {
	fail := func(f, d string) propOutcome { return propOutcome{Failure: f, Detail: d} }
	files := impl.Files{Image: impl.NewMemStorage()}
	co := impl.CreateOptions{ClusterSize: uint32(c.Geom.Cluster()), TableSize: c.Geom.TableSize}
	disk := model.Disk{}
	if c.Geom.Backing > 0 {
		n := c.Geom.Backing / propSector
		files.Backing = impl.NewMemStorageFrom(history.BackingContent(n))
		co.BackingFile = "backing.raw"
		disk.BackingSectors = n
	}
	if err := impl.Create(files.Image, c.Geom.Size, co); err != nil {
		return fail("create", err.Error())
	}
	rec, err := history.NewRecorder(disk, history.SimOpener(files, propDevice(), impl.Options{Policy: policy}, c.Seed))
	if err != nil {
		return fail("open", err.Error())
	}
	var errs []string
	var written []propOp
	submit := func(o propOp) {
		r := &impl.Request{Off: o.Sector * propSector, Buf: make([]byte, o.Count*propSector)}
		switch o.Kind {
		case opRead:
			r.Op = impl.ReqRead
		case opWrite:
			r.Op = impl.ReqWrite
			written = append(written, o)
		case opZero:
			r.Op, r.Buf, r.Len = impl.ReqWriteZeroes, nil, o.Count*propSector
			written = append(written, o)
		case opFlush:
			r.Op, r.Buf = impl.ReqFlush, nil
		}
		r.Done = func(q *impl.Request) {
			if q.Err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", o, q.Err))
			}
		}
		rec.Submit(r)
	}
	checkImage := func(when string) *propOutcome {
		res, err := impl.Check(files.Image, false)
		if err != nil {
			out := fail("check "+when, err.Error())
			return &out
		}
		if res.Corruptions > 0 || res.CheckErrors > 0 {
			out := fail(fmt.Sprintf("check %s: %d corruptions, %d errors", when, res.Corruptions, res.CheckErrors), strings.Join(res.Problems, "\n"))
			return &out
		}
		return nil
	}
	for _, b := range c.Batches {
		switch b[0].Kind {
		case opReopen:
			if err := rec.Reopen(); err != nil {
				return fail("reopen", err.Error())
			}
			continue
		case opCheck:
			rec.Run()
			if out := checkImage("during the run"); out != nil {
				return *out
			}
			continue
		}
		for _, o := range b {
			submit(o)
		}
		rec.Run()
	}
	// Read back everything written from a reopened image: a lost write
	// shows up even when no generated read saw it.
	if err := rec.Reopen(); err != nil {
		return fail("final reopen", err.Error())
	}
	for _, o := range written {
		submit(propOp{Kind: opRead, Sector: o.Sector, Count: o.Count})
		rec.Run()
	}
	if err := rec.Close(); err != nil {
		return fail("close", err.Error())
	}
	maxAlloc := rec.MaxAllocInFlight()
	if len(errs) > 0 {
		return propOutcome{Failure: "request failed", Detail: strings.Join(errs, "\n"), MaxAlloc: maxAlloc}
	}
	res, err := Check(rec.History(), Options{Timeout: 20 * time.Second})
	if err != nil {
		return fail("history cannot be judged", err.Error())
	}
	switch res.Verdict {
	case Illegal:
		return propOutcome{Failure: fmt.Sprintf("not linearizable (sectors %v)", res.Failing), Detail: res.Counterexample.String(), MaxAlloc: maxAlloc}
	case Unknown:
		return fail("linearizability check timed out", "")
	}
	if out := checkImage("after reopen"); out != nil {
		out.MaxAlloc = maxAlloc
		return *out
	}
	return propOutcome{MaxAlloc: maxAlloc}
}

// concCases is how many concurrent cases a Safe policy must pass by
// default, and unsafeCases how many an Unsafe policy may take to fail.
const (
	concCases   = 40
	unsafeCases = 400
)

// concResult is the outcome of the concurrent property for one policy.
type concResult struct {
	Result   *gopter.TestResult
	Shrunk   propCase // meaningful when the property failed
	Original propCase
	Outcome  propOutcome // of the shrunk case
	MaxAlloc int         // over every passing case
	Seed     int64       // gopter's seed
}

// checkConcurrent runs the concurrent property for policy: cases
// successful cases, or until one fails, which gopter then shrinks with
// shrinkCase.
func checkConcurrent(t testing.TB, policy model.Policy, cases int) concResult {
	t.Helper()
	var mu sync.Mutex
	var cr concResult
	params := propParams(t, cases, 10)
	cr.Seed = params.Seed()
	p := prop.ForAll(func(c propCase) bool {
		out := runCase(c, policy)
		mu.Lock()
		defer mu.Unlock()
		if out.Failure == "" {
			cr.MaxAlloc = max(cr.MaxAlloc, out.MaxAlloc)
		}
		return out.Failure == ""
	}, genPropCase(propSoak(t) > 1))
	cr.Result = p.Check(params)
	if cr.Result.Status == gopter.TestFailed && len(cr.Result.Args) > 0 {
		cr.Shrunk = cr.Result.Args[0].Arg.(propCase)
		cr.Original = cr.Result.Args[0].OrigArg.(propCase)
		cr.Outcome = runCase(cr.Shrunk, policy)
	}
	return cr
}

// replayCommand returns the one-line command that replays c under policy.
func replayCommand(policy string, c propCase) string {
	return fmt.Sprintf("QED_PROP_REPLAY='policy %s; %s' go test ./checker -run 'TestPropReplay$' -v", policy, c)
}

// reportCounterexample renders a shrunk counterexample for the log.
func reportCounterexample(reg model.Registration, cr concResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: counterexample after %d passing cases (gopter seed %d), shrunk %d times from %d to %d operations:\n",
		reg.Name, cr.Result.Succeeded, cr.Seed, cr.Result.Args[0].Shrinks, cr.Original.Ops(), cr.Shrunk.Ops())
	for _, l := range cr.Shrunk.lines() {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	fmt.Fprintf(&b, "  %s\n%s\n  replay: %s", cr.Outcome.Failure, indent(cr.Outcome.Detail), replayCommand(reg.Name, cr.Shrunk))
	return b.String()
}

// TestPropConcurrent runs the concurrent property for every registered
// policy and compares the outcome with the policy's declared verdict: a
// Safe policy must pass every case (and, if Parallel, must have had two
// allocating writes in flight at once), an Unsafe one must fail within
// unsafeCases cases. Every counterexample is shrunk and printed with its
// replay command and, if the regression corpus lacks it, as the corpus
// file it would be; the run writes it there only with QED_SAVE_CORPUS=1
// (see regressionDir).
func TestPropConcurrent(t *testing.T) {
	for _, reg := range model.Registered() {
		t.Run("policy="+reg.Name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			cases := concCases
			if reg.Expect == model.Unsafe {
				cases = unsafeCases
			}
			cr := checkConcurrent(t, reg.Policy, cases)
			switch cr.Result.Status {
			case gopter.TestPassed:
				t.Logf("%s: %d cases passed, max allocating writes in flight %d, %.1fs", reg.Name, cr.Result.Succeeded, cr.MaxAlloc, time.Since(start).Seconds())
				if reg.Expect == model.Unsafe {
					t.Fatalf("%s is declared Unsafe, but %d generated cases found no violation", reg.Name, cr.Result.Succeeded)
				}
				if reg.Parallel && cr.MaxAlloc < 2 {
					t.Errorf("%s is declared Parallel, but no case had two allocating writes in flight: its cases prove nothing", reg.Name)
				}
			case gopter.TestFailed:
				report := reportCounterexample(reg, cr)
				corpus := recordRegression(t, reg, cr.Shrunk, cr.Outcome, cr.Seed)
				if reg.Expect == model.Safe {
					t.Fatalf("%s claims to be safe, but:\n%s\n  %s", reg.Name, report, corpus)
				}
				t.Logf("%s (declared unsafe), %.1fs:\n%s\n  %s", reg.Name, time.Since(start).Seconds(), report, corpus)
			default:
				t.Fatalf("%s: property ended %s: %v\n%s", reg.Name, cr.Result.Status, cr.Result.Error, cr.Result.ErrorStack)
			}
		})
	}
}

// TestPropShrinkFreezeL2 asserts that freeze-l2's counterexample shrinks
// to at most 3 operations: the smallest lost update needs a write that
// allocates the L2 table, then two writes racing for one cluster under it
// (the final read-back observes the loss).
func TestPropShrinkFreezeL2(t *testing.T) {
	t.Parallel()
	reg, err := model.Lookup("freeze-l2")
	if err != nil {
		t.Skip(err)
	}
	cr := checkConcurrent(t, reg.Policy, unsafeCases)
	if cr.Result.Status != gopter.TestFailed {
		t.Fatalf("freeze-l2: no counterexample in %d cases (status %s)", cr.Result.Succeeded, cr.Result.Status)
	}
	t.Logf("%s", reportCounterexample(reg, cr))
	if n := cr.Shrunk.Ops(); n > 3 {
		t.Errorf("freeze-l2's counterexample shrank only to %d operations, want at most 3", n)
	}
	if cr.Shrunk.Geom.ClusterBits != 12 || cr.Shrunk.Geom.TableSize != 1 || cr.Shrunk.Geom.Backing != 0 {
		t.Errorf("freeze-l2's counterexample kept geometry %s, want the smallest (4k clusters, table 1, no backing)", cr.Shrunk.Geom)
	}
}

// TestPropReplay replays the case in QED_PROP_REPLAY (one-line text form,
// with a "policy NAME" directive) and judges it by the policy's verdict.
func TestPropReplay(t *testing.T) {
	text := os.Getenv("QED_PROP_REPLAY")
	if text == "" {
		t.Skip("set QED_PROP_REPLAY to a case printed by a failing property")
	}
	c, meta, err := parseCase(text)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := model.Lookup(meta["policy"])
	if err != nil {
		t.Fatal(err)
	}
	out := runCase(c, reg.Policy)
	if out.Failure == "" {
		t.Logf("%s: the property holds for %s", reg.Name, c)
		if reg.Expect == model.Unsafe {
			t.Logf("(%s is declared unsafe; this case does not show it)", reg.Name)
		}
		return
	}
	msg := fmt.Sprintf("%s (declared %s): %s\n%s", reg.Name, reg.Expect, out.Failure, indent(out.Detail))
	if reg.Expect == model.Safe {
		t.Fatal(msg)
	}
	t.Log(msg)
}

// TestPropGeometryCorners runs one fixed concurrent case on the corners of
// the geometry range, which the default run's generator draws rarely or
// never (see genGeom): the smallest and largest clusters, the smallest
// and largest tables, sizes just past a cluster, a backing file ending
// inside a cluster. Every policy declared Safe must pass. 64 MiB clusters
// (64 MiB per table, 15 s a case, minutes under -race) run only when
// soaking, and under the default policy only.
func TestPropGeometryCorners(t *testing.T) {
	t.Parallel()
	for _, g := range []struct {
		bits  uint8
		table uint32
	}{{12, 1}, {12, 16}, {16, 16}, {20, 1}, {26, 1}} {
		huge := g.bits > 20
		if huge && propSoak(t) == 1 {
			t.Logf("64 MiB clusters skipped (%.0fs a case); QED_PROP_SOAK=2 or more runs them", map[bool]float64{false: 15, true: 60}[propRace])
			continue
		}
		cs := uint64(1) << g.bits
		spc := cs / propSector
		geom := propGeom{ClusterBits: g.bits, TableSize: g.table, Size: 2*cs + 3*propSector, Backing: min(cs/2, 1<<20) + propSector}
		c := propCase{Geom: geom, Seed: int64(g.bits), Batches: [][]propOp{
			{{Kind: opWrite, Sector: 0, Count: 1}, {Kind: opWrite, Sector: spc - 1, Count: 2}},
			{{Kind: opWrite, Sector: spc + 2, Count: 1}, {Kind: opWrite, Sector: spc + 3, Count: 1}, {Kind: opRead, Sector: spc, Count: 4}},
			{{Kind: opCheck}},
			{{Kind: opReopen}},
			{{Kind: opWrite, Sector: 2*spc + 2, Count: 1}, {Kind: opRead, Sector: 2 * spc, Count: 3}, {Kind: opFlush}},
		}}
		for _, reg := range model.Registered() {
			if reg.Expect != model.Safe || huge && reg.Name != "freeze-any" {
				continue
			}
			if out := runCase(c, reg.Policy); out.Failure != "" {
				t.Errorf("%s on %s: %s\n%s\n  replay: %s", reg.Name, geom, out.Failure, indent(out.Detail), replayCommand(reg.Name, c))
			}
		}
	}
}

// withZeroes returns c with about a third of its writes turned into
// write-zeroes (trims), chosen by c's seed; half of those are widened to
// whole clusters (where the image holds them), so that zero-cluster
// entries are made, not only zero data.
func withZeroes(c propCase) propCase {
	r := rand.New(rand.NewPCG(uint64(c.Seed), 0x7a65726f))
	spc := c.Geom.Cluster() / propSector
	sectors := c.Geom.Size / propSector
	c.Batches = cloneBatches(c.Batches)
	for _, b := range c.Batches {
		for j := range b {
			o := &b[j]
			if o.Kind != opWrite || r.IntN(3) != 0 {
				continue
			}
			o.Kind = opZero
			if r.IntN(2) == 0 {
				first := o.Sector / spc * spc
				end := min((o.Sector+o.Count+spc-1)/spc*spc, sectors)
				o.Sector, o.Count = first, end-first
			}
		}
	}
	return c
}

// TestPropWriteZeroes runs generated concurrent cases with write-zeroes
// among the writes under every policy that claims safety: the history,
// a write-zeroes recorded as a write of zeros, must be linearizable (so
// every read after a write-zeroes sees zeros until a write), and the
// image must check free of corruption. Each case prints in the text form
// TestPropReplay takes on failure.
func TestPropWriteZeroes(t *testing.T) {
	cases := 48 * propSoak(t)
	for _, reg := range model.Registered() {
		if reg.Expect != model.Safe {
			continue
		}
		t.Run("policy="+reg.Name, func(t *testing.T) {
			t.Parallel()
			zeroes, backed := 0, 0
			for i := range cases {
				c := withZeroes(genCase(int64(propDefaultSeed+i), i%3 == 0))
				if c.Geom.Backing > 0 {
					backed++
				}
				for _, b := range c.Batches {
					for _, o := range b {
						if o.Kind == opZero {
							zeroes++
						}
					}
				}
				if out := runCase(c, reg.Policy); out.Failure != "" {
					t.Fatalf("case %d: %s\n%s\ncase:\n%s", i, out.Failure, out.Detail, c)
				}
			}
			if zeroes == 0 {
				t.Fatal("no case had a write-zeroes: the test proves nothing")
			}
			if backed == 0 {
				t.Fatal("no case had a backing file: zero-cluster entries were never made")
			}
			t.Logf("%d cases (%d with a backing file), %d write-zeroes", cases, backed, zeroes)
		})
	}
}
