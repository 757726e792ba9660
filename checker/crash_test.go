package checker

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/model"
)

// TestCrashExplore crashes the standard crash workloads at every I/O
// completion boundary of a bounded set of completion orders, over every
// subset of unflushed and in-flight writes, under every policy, with and
// without a backing file. A policy registered safe must break no promise
// for any reason (QED_CRASH_LENIENT tolerates the reasons
// impl.KnownCrashIssue names, which the engine has fixed). QED_CRASH_EXPLORE=full raises the bounds
// and tears writes into sectors.
func TestCrashExplore(t *testing.T) {
	cfg := CrashConfig{MaxUnits: 8, MaxSchedules: 6}
	if testing.Short() {
		cfg.MaxSchedules = 2
	}
	if os.Getenv("QED_CRASH_EXPLORE") == "full" {
		cfg = CrashConfig{MaxUnits: 12, MaxSchedules: 200, Torn: true}
	}
	strict := os.Getenv("QED_CRASH_LENIENT") == ""
	for _, reg := range model.Registered() {
		for _, backed := range []bool{false, true} {
			c := cfg
			c.Backing = backed
			t.Run(fmt.Sprintf("policy=%s/backing=%v", reg.Name, backed), func(t *testing.T) {
				res, err := ExploreCrashes(reg, CrashWorkloads(), c)
				if err != nil {
					t.Fatal(err)
				}
				t.Log(crashSummary(res))
				switch {
				case res.Shortest != nil && reg.Expect == model.Safe:
					t.Errorf("policy %s loses data in a crash:\n%s", reg.Name, res.Shortest)
				case res.Shortest != nil:
					t.Logf("policy %s (registered unsafe), shortest violation:\n%s", reg.Name, res.Shortest)
				}
				if res.FirstKnown != nil {
					t.Logf("known issue, first instance:\n%s", res.FirstKnown)
					if strict {
						t.Errorf("known issue %s", res.FirstKnown.Known)
					}
				}
			})
		}
	}
}

// crashSummary renders a result's figures on one line per workload.
func crashSummary(res *CrashResult) string {
	var b strings.Builder
	line := func(name string, s CrashStats) {
		known := make([]string, 0, len(s.Known))
		for k, n := range s.Known {
			known = append(known, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(known)
		trunc := ""
		if s.Truncated {
			trunc = " (bounded)"
		}
		fmt.Fprintf(&b, "%-28s schedules %4d%s, crash points %5d, crash images %7d, recovered %6d (need-check %5d, leaks %5d), violations %d, known [%s]\n",
			name, s.Schedules, trunc, s.CrashPoints, s.Images, s.Recovered, s.NeedCheck, s.Leaks, s.Violations, strings.Join(known, " "))
	}
	names := make([]string, 0, len(res.ByWorkload))
	for n := range res.ByWorkload {
		names = append(names, n)
	}
	sort.Strings(names)
	b.WriteString("\n")
	for _, n := range names {
		line(n, res.ByWorkload[n])
	}
	line("total", res.Stats)
	return b.String()
}
