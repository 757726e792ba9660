package checker

import (
	"fmt"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/model"
)

// TestVerdictTable explores every registered policy in both modes on the
// standard small configuration (3 requests over 2 L1 entries x 2
// clusters x 2 sectors, with reopen) and compares with the verdict each
// declares: any disagreement, or a vacuous pass of a parallel policy,
// fails the build. freeze-l2 must be shown unsafe in both modes by two
// writes to one unallocated cluster.
func TestVerdictTable(t *testing.T) {
	regs := model.Registered()
	rows := make([]VerdictRow, len(regs))
	t.Run("explore", func(t *testing.T) {
		for i, reg := range regs {
			rows[i].Registration = reg
			for _, mode := range []ExploreMode{ExploreModel, ExploreImpl} {
				t.Run(fmt.Sprintf("policy=%s/mode=%s", reg.Name, mode), func(t *testing.T) {
					t.Parallel()
					res, err := Explore(reg, StandardExploreConfig(mode))
					if err != nil {
						t.Fatal(err)
					}
					if mode == ExploreModel {
						rows[i].Model = res
					} else {
						rows[i].Impl = res
					}
				})
			}
		}
	})
	var b strings.Builder
	WriteVerdictTable(&b, rows)
	t.Logf("verdict table:\n%s", b.String())
	for _, r := range rows {
		if r.Model == nil || r.Impl == nil {
			t.Fatalf("%s: an exploration failed", r.Registration.Name)
		}
		for _, p := range r.Problems() {
			t.Errorf("disagreement: %s", p)
		}
	}
	for _, r := range rows {
		switch r.Registration.Name {
		case "serial", "freeze-any":
			for _, res := range []*ExploreResult{r.Model, r.Impl} {
				if res.Verdict != Holds {
					t.Errorf("%s must hold in %s mode: %v", r.Registration.Name, res.Config.Mode, res.Verdict)
				}
				if !res.Facts.Restart {
					t.Errorf("%s, %s mode: no frozen request was ever woken and restarted: the freeze path went unexplored", r.Registration.Name, res.Config.Mode)
				}
			}
		case "freeze-l2":
			for _, res := range []*ExploreResult{r.Model, r.Impl} {
				checkLostAllocation(t, res)
			}
		}
	}
}

// checkLostAllocation requires res's counterexample to be two writes to
// one cluster that was unallocated when both allocated it.
func checkLostAllocation(t *testing.T, res *ExploreResult) {
	t.Helper()
	v := res.Violation
	if v == nil {
		t.Errorf("freeze-l2, %s mode: no counterexample", res.Config.Mode)
		return
	}
	c := res.Config
	// Requests per guest cluster that wrote it.
	writers := map[int][]int{}
	for i, op := range v.Workload {
		if op.Write {
			writers[op.Sector/c.Sectors] = append(writers[op.Sector/c.Sectors], i+1)
		}
	}
	trace := strings.Join(v.Trace, "\n")
	for cluster, reqs := range writers {
		if len(reqs) < 2 {
			continue
		}
		allocs := 0
		for _, r := range reqs {
			var marker string
			if c.Mode == ExploreImpl {
				marker = fmt.Sprintf("request %d issues io", r) // then: data write of (or into) the new cluster
			} else {
				marker = fmt.Sprintf("request %d allocates cluster at", r)
			}
			for _, line := range strings.Split(trace, "\n") {
				if strings.Contains(line, marker) && (c.Mode == ExploreModel && strings.HasSuffix(line, fmt.Sprintf("for guest cluster %d", cluster)) ||
					c.Mode == ExploreImpl && strings.Contains(line, "the new cluster at")) {
					allocs++
					break
				}
			}
		}
		if allocs >= 2 {
			t.Logf("freeze-l2, %s mode: requests %v each allocate guest cluster %d (%d steps, %s)", c.Mode, reqs, cluster, v.Steps, v.Invariant)
			return
		}
	}
	t.Errorf("freeze-l2, %s mode: the counterexample is not two writes allocating one cluster:\nworkload %s\n%s", c.Mode, formatWorkload(v.Workload), trace)
}
