package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
	"github.com/qedharness/qedharness/workloads/results"
)

// smallConfig returns a Config of a small sim matrix writing to a new
// directory: the named workloads and policies at the queue depths, one
// repetition without warm-up, every setting of settings applied, no
// figures, no explorers (TestRunVerdicts runs them).
func smallConfig(t *testing.T, workloads, policies string, qds []int, settings ...string) Config {
	t.Helper()
	regs, err := model.ParseList(policies)
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Workloads: strings.Split(workloads, ","), Settings: settings, Policies: regs, QDs: qds,
		Repeat: 1, Seed: 1, Out: filepath.Join(t.TempDir(), "res"), Baseline: DefaultBaseline,
		Linearizability: LinSample, NoPlots: true, NoVerdicts: true, Command: "runbench (test)",
	}
}

// runConfig runs cfg and returns what it printed and the results it
// wrote to cfg.Out.
func runConfig(t *testing.T, cfg Config) (string, *results.Results) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if _, err := s.Run(context.Background(), &stdout, nil); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	res, err := results.ReadResults(filepath.Join(cfg.Out, "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), res
}

// TestRunWrites runs a small matrix and checks what Run prints, the
// files it writes and the provenance it records.
func TestRunWrites(t *testing.T) {
	cfg := smallConfig(t, "first-touch-4k,rewrite", "freeze-any,overlap", []int{1, 8}, "size=1m", "ops=64")
	cfg.Repeat, cfg.Seed, cfg.NoPlots = 2, 42, false
	stdout, res := runConfig(t, cfg)
	for _, want := range []string{"seed 42", "replay with -seed 42", "linearizability: checked", "ratio to freeze-any", "results in " + cfg.Out, "5 figures"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if len(res.Runs) != 2*2*2*2 {
		t.Errorf("%d runs, want 16", len(res.Runs))
	}
	if p := res.Provenance; p.Command != cfg.Command || p.Seed != 42 || len(p.Devices) != 1 || len(p.Jobs) != 2 || p.CacheMode != "" {
		t.Errorf("provenance %+v", p)
	}
	for _, f := range []string{"runs.csv", "bench.txt", "summary.txt", "report.md", "report.html", "throughput-sim-nvme.svg", "latency-cdf-sim-nvme.svg"} {
		if b, err := os.ReadFile(filepath.Join(cfg.Out, f)); err != nil || len(b) == 0 {
			t.Errorf("%s: %v (%d bytes)", f, err, len(b))
		}
	}
	if md, _ := os.ReadFile(filepath.Join(cfg.Out, "report.md")); !strings.Contains(string(md), "go run ./cmd/runbench (test)") {
		t.Errorf("report.md does not give the command:\n%s", md)
	}
	for _, r := range res.Runs {
		if h, err := r.LatencyHistogram(); err != nil || h == nil || h.TotalCount() != int64(r.Ops) {
			t.Errorf("%s repeat %d: latency histogram %v (%v), want %d requests", r.Config().Name(), r.Repeat, h, err, r.Ops)
		}
	}
	if sum, _ := os.ReadFile(filepath.Join(cfg.Out, "summary.txt")); strings.Count(string(sum), "clat percentiles") != 2*2 {
		t.Errorf("summary.txt lists clat percentiles %d times, want one per workload and policy at qd 8",
			strings.Count(string(sum), "clat percentiles"))
	}
}

// TestLinearizability checks that an unsafe policy's lost writes are
// caught: freeze-l2 on same-cluster at a queue depth above one is not
// linearizable, and the counterexample is written and linked.
func TestLinearizability(t *testing.T) {
	cfg := smallConfig(t, "same-cluster", "freeze-any,freeze-l2", []int{1, 8}, "size=256k")
	cfg.Verbose = true // the full table, which marks each configuration
	stale := filepath.Join(cfg.Out, CounterexampleDir, "stale.txt")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, []byte("from an earlier run"), 0o644)
	os.WriteFile(filepath.Join(cfg.Out, "runs.json"), []byte("{}"), 0o644) // a results directory
	stdout, res := runConfig(t, cfg)
	for _, r := range res.Runs {
		switch {
		case r.QD != 8:
			if r.Linearizable != nil {
				t.Errorf("%s qd %d checked outside the sample", r.Policy, r.QD)
			}
		case r.Policy == "freeze-any":
			if r.Linearizable == nil || !*r.Linearizable {
				t.Errorf("freeze-any: linearizable %v", r.Linearizable)
			}
		case r.Policy == "freeze-l2":
			if r.Linearizable == nil || *r.Linearizable || r.Counterexample == "" {
				t.Fatalf("freeze-l2 not caught: linearizable %v, counterexample %q", r.Linearizable, r.Counterexample)
			}
			b, err := os.ReadFile(filepath.Join(cfg.Out, r.Counterexample))
			if err != nil || !strings.Contains(string(b), "not linearizable") {
				t.Errorf("counterexample %s: %v %q", r.Counterexample, err, b)
			}
			if _, err := os.Stat(filepath.Join(cfg.Out, strings.TrimSuffix(r.Counterexample, ".txt")+".html")); err != nil {
				t.Errorf("visualization: %v", err)
			}
		}
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale counterexample kept: %v", err)
	}
	if !strings.Contains(stdout, "freeze-l2!") || !strings.Contains(stdout, "NO") || !strings.Contains(stdout, "violated (") {
		t.Errorf("table does not mark freeze-l2:\n%s", stdout)
	}
	report, _ := os.ReadFile(filepath.Join(cfg.Out, "report.md"))
	if !strings.Contains(string(report), "counterexamples/") || !strings.Contains(string(report), "NOT linearizable") {
		t.Errorf("report lacks the verdict and counterexample link:\n%s", report)
	}
}

// TestReopenRun runs jobs with reopen_every on the sim and mem backends,
// every run recorded and checked: the recorder reopens the image, each
// record counts the reopens, and every history is linearizable.
func TestReopenRun(t *testing.T) {
	cfg := smallConfig(t, "first-touch-4k,rewrite", "freeze-any,overlap", []int{1, 8}, "size=1m", "ops=64", "reopen_every=20")
	cfg.Backends, cfg.Linearizability = []string{"sim", "mem"}, LinAll
	_, res := runConfig(t, cfg)
	n := 0
	for _, r := range res.Runs {
		if results.IsBaseline(r.Policy) {
			continue
		}
		n++
		if r.Error != "" || r.Reopens != 3 || r.Ops != 64 || r.Linearizable == nil || !*r.Linearizable {
			t.Errorf("%s %s qd %d on %s: %d reopens, %d ops, linearizable %v, error %q; want 3, 64, true", r.Policy, r.Workload, r.QD, r.Backend, r.Reopens, r.Ops, r.Linearizable, r.Error)
		}
	}
	if n != 2*2*2*2 {
		t.Errorf("%d runs, want 16", n)
	}
}

// TestHugeRewriteRuns runs the rewrite of issue 12 that ran for half an
// hour (size=16t, ops=10): it prefills what its 10 ops touch, not 16 TiB.
func TestHugeRewriteRuns(t *testing.T) {
	cfg := smallConfig(t, "rewrite", "all", []int{1, 32}, "size=16t", "ops=10")
	_, res := runConfig(t, cfg)
	if len(res.Runs) != 10 {
		t.Errorf("%d runs, want 10", len(res.Runs))
	}
	for _, r := range res.Runs {
		if r.Ops != 10 || r.Error != "" || r.AllocatingWrites != 0 {
			t.Errorf("%s qd %d: %d ops, %d allocating, error %q; want 10, 0, none", r.Policy, r.QD, r.Ops, r.AllocatingWrites, r.Error)
		}
	}
}

// TestRunInterrupted runs the file backend with its context already
// done: Run removes its work directory, leaves the rest of Dir alone and
// returns an *InterruptError with the cause.
func TestRunInterrupted(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "image.qed")
	os.WriteFile(keep, []byte("not runbench's"), 0o644)
	cfg := smallConfig(t, "first-touch", "overlap", []int{4}, "size=1m")
	cfg.Backends, cfg.Dir, cfg.Baselines = []string{"file"}, dir, []string{BaselinesNone}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("interrupt")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	var stdout bytes.Buffer
	_, err = s.Run(ctx, &stdout, nil)
	var ie *InterruptError
	if !errors.As(err, &ie) || !errors.Is(err, cause) || ie.RemoveErr != nil || !strings.HasPrefix(ie.WorkDir, dir) {
		t.Fatalf("error %v, want an *InterruptError for %v with the work directory removed", err, cause)
	}
	if want := "interrupt; removed " + ie.WorkDir; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != "image.qed" {
		t.Errorf("-dir holds %v afterwards, want only image.qed", ents)
	}
	if stdout.Len() != 0 {
		t.Errorf("printed %q before any run", stdout.String())
	}
}

// TestRunVerdicts runs a small matrix with the verdicts: runs.json and
// the report carry every checker's verdict for the policy under both
// table-write schemes, and stdout prints them.
func TestRunVerdicts(t *testing.T) {
	cfg := smallConfig(t, "first-touch-4k", "serial", []int{4}, "size=1m", "ops=64")
	cfg.NoVerdicts = false
	stdout, res := runConfig(t, cfg)
	got := map[string]bool{}
	for _, v := range res.Verdicts {
		got[v.Checker+"/"+v.TableWrites] = true
		if v.Policy != "serial" || !v.Agrees || v.Outcome != results.OutcomeHolds {
			t.Errorf("verdict %+v: want serial holding, as it claims", v)
		}
	}
	for _, want := range []string{"model-explorer/ordered", "model-explorer/snapshot", "impl-explorer/ordered", "impl-explorer/snapshot",
		"crash-explorer/ordered", "crash-explorer/snapshot", "linearizability/ordered"} {
		if !got[want] {
			t.Errorf("no %s verdict in runs.json; have %v", want, got)
		}
	}
	if !strings.Contains(stdout, "impl") || !strings.Contains(stdout, "holds/holds") {
		t.Errorf("stdout lacks the verdict summary:\n%s", stdout)
	}
	md, _ := os.ReadFile(filepath.Join(cfg.Out, "report.md"))
	if !strings.Contains(string(md), "crash-explorer") {
		t.Errorf("report.md lacks the checkers' verdicts:\n%s", md)
	}
}

// TestRunDiagrams: a policy the explorers refute gets each
// counterexample's sequence diagram beside the report, embedded in it:
// one per violated verdict, from every checker that found one.
func TestRunDiagrams(t *testing.T) {
	if raceEnabled {
		t.Skip("the explorers under the race detector: TestVerdictsAgree covers them")
	}
	cfg := smallConfig(t, "first-touch-4k", "per-table", []int{4}, "size=1m", "ops=64")
	cfg.NoVerdicts = false
	_, res := runConfig(t, cfg)
	var diagrams int
	for _, v := range res.Verdicts {
		if v.Diagram == "" {
			if v.Outcome == "violated" && v.Checker != results.CheckerLinearizability {
				t.Errorf("%s, %s table writes, %s: violated without a diagram", v.Policy, v.TableWrites, v.Checker)
			}
			continue
		}
		diagrams++
		svg, err := os.ReadFile(filepath.Join(cfg.Out, v.Diagram))
		if err != nil || !strings.Contains(string(svg), "<svg") {
			t.Errorf("%s: %v", v.Diagram, err)
		}
	}
	if diagrams != 3 {
		t.Errorf("%d diagrams, want 3 (per-table's snapshot-write counterexamples from the model, implementation and crash explorers)", diagrams)
	}
	html, _ := os.ReadFile(filepath.Join(cfg.Out, "report.html"))
	if !strings.Contains(string(html), "<svg") {
		t.Error("report.html does not embed the diagram")
	}
}

// TestProgressLine: the status line gives runs done, percent and an ETA.
func TestProgressLine(t *testing.T) {
	var b strings.Builder
	pr := progressPrinter(&b, time.Now().Add(-10*time.Second))
	pr(workloads.Progress{Done: 25, Total: 100, Repeat: 1, Config: results.Config{Workload: "rewrite", Policy: "overlap", QD: 4, Device: "nvme"}})
	line := b.String()
	for _, want := range []string{"[25/100  25% 10s, eta 30s]", "nvme rewrite overlap qd=4 rep 1"} {
		if !strings.Contains(line, want) {
			t.Errorf("status line %q lacks %q", line, want)
		}
	}
}

// TestPrintWrapped: lines wrap at spaces within termWidth, continuation
// lines indented; a word longer than the width stays whole.
func TestPrintWrapped(t *testing.T) {
	long := strings.Repeat("word ", 50)
	huge := strings.Repeat("x", 150)
	for _, tc := range []struct {
		in    string
		lines int
	}{{"short line", 1}, {long, 3}, {"a " + huge + " b", 3}, {"\nafter a blank line", 2}} {
		var b strings.Builder
		printWrapped(&b, tc.in)
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != tc.lines {
			t.Errorf("%q: %d lines, want %d:\n%s", tc.in[:min(20, len(tc.in))], len(lines), tc.lines, b.String())
		}
		for i, l := range lines {
			if len(l) > termWidth && !strings.Contains(l, huge) {
				t.Errorf("line %d has %d columns", i, len(l))
			}
			if i > 0 && l != "" && !strings.HasPrefix(l, "  ") && tc.in[0] != '\n' {
				t.Errorf("continuation line %d not indented: %q", i, l)
			}
		}
	}
}
