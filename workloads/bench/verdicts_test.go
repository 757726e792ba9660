package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/results"
)

// TestVerdictsAgree runs the standard verdict set and wants every checker
// to agree with every policy's claim under both table-write schemes: the
// explorers find the violation each unsafe claim declares, and nothing
// finds one a safe claim rules out.
func TestVerdictsAgree(t *testing.T) {
	regs := model.Registered()
	if testing.Short() || raceEnabled {
		// The explorers on the two policies that show both outcomes
		// (the race detector slows them tenfold).
		regs = []model.Registration{mustLookup(t, "freeze-any"), mustLookup(t, "overlap")}
	}
	start := time.Now()
	vs, err := Verdicts(regs)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := results.WriteVerdicts(&b, vs); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d verdicts in %v\n%s", len(vs), time.Since(start).Round(time.Millisecond), b.String())
	if want := len(regs) * 2 * len(verdictCheckers); len(vs) != want {
		t.Errorf("%d verdicts, want %d (policies x schemes x checkers)", len(vs), want)
	}
	for _, v := range results.Disagreements(vs) {
		t.Errorf("%s claims %s with %s table writes, but %s finds it %s: %s", v.Policy, v.Claim, v.TableWrites, v.Checker, v.Outcome, v.Violation)
	}
	for _, v := range vs {
		if v.Outcome == results.OutcomeViolated && len(v.Counterexample) == 0 {
			t.Errorf("%s, %s, %s: violated with no counterexample", v.Policy, v.TableWrites, v.Checker)
		}
	}
	// The write-zeroes explorer refutes overlap with QED's snapshot
	// table writes (its zero-cluster entry's table write lands over the
	// write's), and never freeze-any.
	for _, v := range vs {
		if v.Checker != results.CheckerZeroes {
			continue
		}
		want := results.OutcomeHolds
		if v.Policy == "overlap" && v.TableWrites == "snapshot" {
			want = results.OutcomeViolated
		}
		if v.Policy == "freeze-any" || v.Policy == "overlap" {
			if v.Outcome != want {
				t.Errorf("%s, %s table writes, write-zeroes explorer: %s, want %s", v.Policy, v.TableWrites, v.Outcome, want)
			}
		}
	}
}

func mustLookup(t *testing.T, name string) model.Registration {
	t.Helper()
	r, err := model.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
