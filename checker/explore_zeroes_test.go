package checker

import (
	"fmt"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/model"
)

// TestExploreWriteZeroes explores write-zeroes (Ops 'z') beside writes
// and reads, with a backing file, so that every path of it is taken: in
// place over an allocated cluster, a zero-cluster entry (with one sector
// a cluster a write-zeroes covers it whole: a metadata-only allocation,
// of a new L2 table too from an empty image), zero data with the
// copy-on-write fill (with two sectors, in part), nothing over a zero
// cluster, and writes into and reads of zero clusters. Both explorers run
// every registered policy: a policy that claims safety must hold, and
// freeze-l2, known unsafe, loses a write exactly where two allocating
// writes (here a write-zeroes and a write) share a cluster under an
// existing table, as it does with writes alone. The model explores
// every configuration; the engine the two-request ones (about 10 s of
// engine runs under the race detector, which CI runs).
func TestExploreWriteZeroes(t *testing.T) {
	for _, tc := range []struct {
		config   string
		violated string // the policy that violates, or ""
		impl     bool   // explore the engine too
	}{
		{"w1z1-2x2x1-backing", "", true},
		{"w1z1-2x2x1-table-backing", "", true},
		{"w1z1-2x2x2-backing", "", true},
		{"w1z1-2x2x2-table-backing", "freeze-l2", true},
		{"z1w1-2x2x1-backing", "", true},
		{"z1w1-2x2x1-table-backing", "", true},
		{"z1w1-2x2x2-backing", "", true},
		{"z1w1-2x2x2-table-backing", "freeze-l2", true},
		{"z1r1-2x2x1-backing", "", true},
		{"z1r1-2x2x1-table-backing", "", true},
		{"z1r1-2x2x2-backing", "", true},
		{"z1r1-2x2x2-table-backing", "", true},
		{"w1z1r1-2x2x1-backing", "", false},
		{"w1z1r1-2x2x1-table-backing", "", false},
		{"w1z1r1-2x2x2-backing", "", false},
		{"w1z1r1-2x2x2-table-backing", "freeze-l2", false},
		{"z2w1-2x2x2-prealloc-backing", "freeze-l2", false},
		{"z1w1z1-1x3x1-table-backing", "", false},
	} {
		for _, mode := range []ExploreMode{ExploreModel, ExploreImpl} {
			if mode == ExploreImpl && !tc.impl {
				continue
			}
			for _, reg := range model.Registered() {
				t.Run(fmt.Sprintf("config=%s/mode=%s/policy=%s", tc.config, mode, reg.Name), func(t *testing.T) {
					cfg, err := ParseExploreName(tc.config, StandardExploreConfig(mode))
					if err != nil {
						t.Fatal(err)
					}
					want := Holds
					switch {
					case reg.Name == tc.violated:
						want = Violated
					case reg.Expect == model.Unsafe && !knownPolicy(reg.Name):
						// A policy added later that claims to be unsafe
						// need not show it here.
						t.Skip("an unsafe policy with no expectation here")
					}
					res, err := Explore(reg, cfg)
					if err != nil {
						t.Fatal(err)
					}
					if res.Verdict != want {
						msg := ""
						if v := res.Violation; v != nil {
							msg = fmt.Sprintf("%s: %s (schedule %s)\n%s", v.Invariant, v.Message, v.Schedule, strings.Join(v.Trace, "\n"))
						}
						t.Fatalf("%v, want %v: %s", res.Verdict, want, msg)
					}
					if v := res.Violation; v != nil {
						if v.Invariant != "linearizability" {
							t.Errorf("violation %s, want linearizability: %s", v.Invariant, v.Message)
						}
						zeroes := false
						for _, o := range v.Workload {
							zeroes = zeroes || o.Zeroes
						}
						if !zeroes {
							t.Errorf("the counterexample's workload %s has no write-zeroes", formatWorkload(v.Workload))
						}
					}
					t.Logf("%v: %d states, %d transitions", res.Verdict, res.States, res.Transitions)
				})
			}
		}
	}
}

// knownPolicy reports whether TestExploreWriteZeroes knows the verdicts
// of the policy (the five it was written with).
func knownPolicy(name string) bool {
	switch name {
	case "serial", "freeze-any", "freeze-l2", "per-table", "overlap":
		return true
	}
	return false
}
