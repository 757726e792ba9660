package checker

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads"
)

// The policy tests judge every registered policy by its declared Expect.
// Environment knobs, all optional:
//
//	QED_SOAK=N   run N times as many seeds per Safe policy (default 1: 1,000 seeds)
//	QED_SEED=N   run only seed N (replay a failure)
//	QED_VIS=path write the visualization of the first failure found to path
const (
	safeRuns    = 1000 // seeds per Safe policy
	unsafeSeeds = 8    // fixed seeds within which an Unsafe policy must fail
	checkBudget = 10 * time.Second
)

func envInt(t *testing.T, name string, def int64) int64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// policySeeds returns the seeds to run for reg.
func policySeeds(t *testing.T, reg model.Registration) []int64 {
	if s := os.Getenv("QED_SEED"); s != "" {
		return []int64{envInt(t, "QED_SEED", 0)}
	}
	n := int64(unsafeSeeds)
	if reg.Expect == model.Safe {
		n = safeRuns * max(1, envInt(t, "QED_SOAK", 1))
	}
	seeds := make([]int64, n)
	for i := range seeds {
		seeds[i] = int64(i + 1)
	}
	return seeds
}

func replayHint(reg model.Registration, seed int64) string {
	return fmt.Sprintf("replay: QED_SEED=%d QED_VIS=/tmp/%s-%d.html go test ./checker -run 'TestPolicies/policy=%s$' -v",
		seed, reg.Name, seed, reg.Name)
}

// TestPolicies runs the race workloads on the sim backend under every
// registered policy and checks each run's history: a Safe policy must stay
// linearizable on every seed, an Unsafe one must be caught within
// unsafeSeeds seeds, and a Parallel policy must really have overlapped
// allocating writes, or its pass proves nothing.
func TestPolicies(t *testing.T) {
	race, err := workloads.NewRace(workloads.RaceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, reg := range model.Registered() {
		t.Run("policy="+reg.Name, func(t *testing.T) {
			t.Parallel()
			seeds := policySeeds(t, reg)
			maxAlloc, requests, illegal := 0, 0, 0
			var first *Result
			var firstSeed int64
			start := time.Now()
			for _, seed := range seeds {
				run, err := race.Run(reg.Policy, seed)
				if err != nil {
					t.Fatalf("seed %d: %v\n%s", seed, err, replayHint(reg, seed))
				}
				if len(run.Errors) > 0 {
					t.Fatalf("seed %d: %d requests failed, first: %s\n%s", seed, len(run.Errors), run.Errors[0], replayHint(reg, seed))
				}
				maxAlloc = max(maxAlloc, run.MaxAllocInFlight)
				requests += run.Requests
				res, err := Check(run.History, Options{Timeout: checkBudget})
				if err != nil {
					t.Fatalf("seed %d: history cannot be judged: %v\n%s", seed, err, replayHint(reg, seed))
				}
				switch res.Verdict {
				case Unknown:
					t.Fatalf("seed %d: check timed out after %v\n%s", seed, checkBudget, replayHint(reg, seed))
				case Illegal:
					illegal++
					if first == nil {
						first, firstSeed = res, seed
					}
					if reg.Expect == model.Safe {
						t.Fatalf("seed %d (rounds %v): %s claims to be safe, but the run is not linearizable; failing sectors %v\n%s\n%s",
							seed, run.Rounds, reg.Name, res.Failing, res.Counterexample, replayHint(reg, seed))
					}
				}
			}
			t.Logf("%s (%s, parallel=%v): %d runs, %d requests, max allocating writes in flight %d, %d not linearizable, %.1fs",
				reg.Name, reg.Expect, reg.Parallel, len(seeds), requests, maxAlloc, illegal, time.Since(start).Seconds())
			if reg.Parallel && maxAlloc < 2 {
				t.Errorf("%s is declared Parallel, but no run had two allocating writes in flight: its runs prove nothing", reg.Name)
			}
			if first != nil {
				if path := os.Getenv("QED_VIS"); path != "" {
					if err := first.Visualize(path); err != nil {
						t.Error(err)
					} else {
						t.Logf("visualization written to %s", path)
					}
				}
			}
			if reg.Expect == model.Unsafe {
				if first == nil {
					t.Fatalf("%s is declared Unsafe, but none of seeds %d..%d produced a violation", reg.Name, seeds[0], seeds[len(seeds)-1])
				}
				t.Logf("%s found not linearizable on %d of %d seeds; first, seed %d, failing sectors %v:\n%s\n%s",
					reg.Name, illegal, len(seeds), firstSeed, first.Failing, indent(first.Counterexample.String()), replayHint(reg, firstSeed))
			}
		})
	}
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
