package results

import (
	"strings"
	"testing"
)

// TestWritePivot: one row per workload at the deepest queue depth, one
// column per policy, the ratio to the baseline, ! on a problem.
func TestWritePivot(t *testing.T) {
	sum := func(w, p string, qd int, ops float64, unsafe bool) Summary {
		return Summary{Config: Config{Workload: w, Policy: p, QD: qd, Backend: BackendSim, Device: "nvme"}, Runs: 1, OpsPerSec: Stat{Median: ops}, Unsafe: unsafe}
	}
	sums := []Summary{
		sum("first-touch", "freeze-any", 1, 10, false), sum("first-touch", "overlap", 1, 10, false),
		sum("first-touch", "freeze-any", 32, 50_000, false), sum("first-touch", "overlap", 32, 500_000, false),
		sum("rewrite", "freeze-any", 32, 600_000, false), sum("rewrite", "overlap", 32, 300_000, true),
	}
	var b strings.Builder
	if err := WritePivot(&b, sums, "freeze-any"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"queue depth 32, nvme", "500k 10.00x", "300k 0.50x!", "freeze-any", "overlap"} {
		if !strings.Contains(out, want) {
			t.Errorf("pivot lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "qd 1") || strings.Count(out, "\n") != 4 {
		t.Errorf("pivot is not one table at the deepest queue depth:\n%s", out)
	}
}

// TestWriteVerdictSummary: a line per policy, ordered/snapshot outcomes
// per checker, disagreements marked and counted.
func TestWriteVerdictSummary(t *testing.T) {
	vs := []Verdict{
		{Policy: "overlap", Checker: CheckerImpl, TableWrites: "ordered", Claim: "safe", Outcome: OutcomeHolds, Agrees: true},
		{Policy: "overlap", Checker: CheckerImpl, TableWrites: "snapshot", Claim: "unsafe", Outcome: OutcomeViolated, Agrees: true},
		{Policy: "freeze-l2", Checker: CheckerImpl, TableWrites: "ordered", Claim: "unsafe", Outcome: OutcomeHolds, Agrees: false},
	}
	var b strings.Builder
	if err := WriteVerdictSummary(&b, vs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"safe/unsafe", "holds/violated", "holds!/-", "1 verdicts DISAGREE"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 100 {
			t.Errorf("line of %d columns: %q", len(line), line)
		}
	}
}
