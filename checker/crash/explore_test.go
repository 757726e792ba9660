package crash

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/qedharness/qedharness/model"
)

// TestCrashExplore crashes the standard crash workloads at every I/O
// completion boundary of a bounded set of completion orders, over every
// subset of unflushed and in-flight writes, under every policy, with and
// without a backing file. A policy registered safe must break no promise
// for any reason (QED_CRASH_LENIENT tolerates the reasons knownIssue
// names, which the engine has fixed). QED_CRASH_EXPLORE=full raises the
// bounds and tears writes into sectors; QED_CRASH_NO_REDUCTION=1 turns
// the reduction off (Config.NoReduction).
func TestCrashExplore(t *testing.T) {
	cfg := Config{MaxUnits: 8, MaxSchedules: 6}
	if testing.Short() {
		cfg.MaxSchedules = 2
	}
	if os.Getenv("QED_CRASH_EXPLORE") == "full" {
		cfg = Config{MaxUnits: 12, MaxSchedules: 200, Torn: true}
	}
	cfg.NoReduction = os.Getenv("QED_CRASH_NO_REDUCTION") != ""
	cfg.Classify = knownIssue
	strict := crashStrict()
	for _, reg := range model.Registered() {
		for _, backed := range []bool{false, true} {
			c := cfg
			c.Backing = backed
			t.Run(fmt.Sprintf("policy=%s/backing=%v", reg.Name, backed), func(t *testing.T) {
				res, err := Explore(reg, Workloads(), c)
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
func crashSummary(res *Result) string {
	var b strings.Builder
	line := func(name string, s Stats) {
		known := make([]string, 0, len(s.Known))
		for k, n := range s.Known {
			known = append(known, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(known)
		trunc := ""
		if s.Truncated {
			trunc = " (bounded)"
		}
		fmt.Fprintf(&b, "%-28s schedules %4d%s, crash points %5d, crash images %7d, recovered %6d (need-check %5d, leaks %5d), violations %d, known [%s]; reduction: %d pruned, %d asleep, %d crash states again, %d reordered\n",
			name, s.Schedules, trunc, s.CrashPoints, s.Images, s.Recovered, s.NeedCheck, s.Leaks, s.Violations, strings.Join(known, " "),
			s.Pruned, s.Asleep, s.DupCrashStates, s.Reordered)
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

// TestCrashReductionSound explores every standard workload under every
// policy with and without the reduction, on bounds that let both
// searches run to the end: they must judge exactly the same crash
// images (the same keys: image and ledger promises), so find the same
// violations, and freeze-l2 must be found to lose a write in both. The
// reduction must also save work somewhere. The race build and -short
// keep the three workloads with the most orders under freeze-l2 and no
// backing file, which is where its lost write shows.
func TestCrashReductionSound(t *testing.T) {
	cfg := Config{MaxUnits: 6, MaxSchedules: 1 << 20, Classify: knownIssue}
	workloads := Workloads()
	backings := []bool{false, true}
	if raceEnabled || testing.Short() {
		workloads = slices.DeleteFunc(workloads, func(w Workload) bool {
			return !slices.Contains([]string{"concurrent-alloc-same-table", "rewrite-then-alloc", "same-fresh-cluster"}, w.Name)
		})
		backings = backings[:1]
	}
	var points [2]int
	for _, reg := range model.Registered() {
		for _, backed := range backings {
			t.Run(fmt.Sprintf("policy=%s/backing=%v", reg.Name, backed), func(t *testing.T) {
				var res [2]*Result
				for i, noRed := range []bool{false, true} {
					c := cfg
					c.Backing, c.NoReduction = backed, noRed
					r, err := Explore(reg, workloads, c)
					if err != nil {
						t.Fatal(err)
					}
					if r.Stats.Truncated {
						t.Fatalf("reduction %v: the search was cut short; raise MaxSchedules", !noRed)
					}
					res[i] = r
					points[i] += r.Stats.CrashPoints
				}
				red, full := res[0], res[1]
				t.Logf("with the reduction: %d orders, %d crash points (%d crash states again), %d images, %d recovered, %d violations; without: %d orders, %d crash points, %d images, %d recovered, %d violations",
					red.Stats.Schedules, red.Stats.CrashPoints, red.Stats.DupCrashStates, red.Stats.Images, red.Stats.Recovered, red.Stats.Violations,
					full.Stats.Schedules, full.Stats.CrashPoints, full.Stats.Images, full.Stats.Recovered, full.Stats.Violations)
				for _, w := range workloads {
					a, b := red.judged[w.Name], full.judged[w.Name]
					missing, extra := 0, 0
					for k := range b {
						if !a[k] {
							missing++
						}
					}
					for k := range a {
						if !b[k] {
							extra++
						}
					}
					if missing > 0 || extra > 0 {
						t.Errorf("workload %s: the reduced search misses %d of the %d crash images the full search judges, and judges %d it does not",
							w.Name, missing, len(b), extra)
					}
				}
				if (red.Shortest != nil) != (full.Shortest != nil) || red.Stats.Violations != full.Stats.Violations {
					t.Errorf("violations: %d with the reduction, %d without", red.Stats.Violations, full.Stats.Violations)
				}
				if reg.Name == "freeze-l2" && (red.Shortest == nil || full.Shortest == nil) {
					t.Errorf("freeze-l2's lost write not found: with the reduction %v, without %v", red.Shortest != nil, full.Shortest != nil)
				}
			})
		}
	}
	t.Logf("crash points over every policy: %d with the reduction, %d without", points[0], points[1])
	if points[0] >= points[1] {
		t.Errorf("the reduction saved nothing: %d crash points against %d", points[0], points[1])
	}
}

// TestCrashInFlightOrders checks the orders in which overlapping in-flight
// writes are tried: one order when none overlap, every order of the
// overlapping ones otherwise, the others kept in place.
func TestCrashInFlightOrders(t *testing.T) {
	w := func(off int64, n int, b byte) Write {
		return Write{Off: off, Data: bytes.Repeat([]byte{b}, n)}
	}
	name := func(ws []Write) string {
		var s []byte
		for _, x := range ws {
			s = append(s, x.Data[0])
		}
		return string(s)
	}
	for _, tc := range []struct {
		ws    []Write
		want  []string
		every bool
	}{
		{nil, []string{""}, true},
		{[]Write{w(0, 512, 'a'), w(512, 512, 'b')}, []string{"ab"}, true},
		{[]Write{w(0, 1024, 'a'), w(512, 512, 'b'), w(4096, 512, 'c')}, []string{"abc", "bac"}, true},
		{[]Write{w(0, 512, 'a'), w(4096, 512, 'b'), w(0, 512, 'c'), w(0, 512, 'd')}, []string{"abcd", "abdc", "cbad", "cbda", "dbca", "dbac"}, true},
	} {
		orders, every := inFlightOrders(tc.ws)
		var got []string
		for _, o := range orders {
			got = append(got, name(o))
		}
		if !slices.Equal(got, tc.want) || every != tc.every {
			t.Errorf("orders of %s: %v (every %v), want %v (every %v)", name(tc.ws), got, every, tc.want, tc.every)
		}
	}
	var seven []Write
	for i := range 7 {
		seven = append(seven, w(0, 512, byte('a'+i)))
	}
	if orders, every := inFlightOrders(seven); len(orders) != 2 || every || name(orders[1]) != "gfedcba" {
		t.Errorf("seven overlapping writes: %d orders, every %v", len(orders), every)
	}
}

// TestCrashWriteZeroes crashes the write-zeroes workloads (ZeroWorkloads)
// as TestCrashExplore does the standard ones, under every policy that
// claims safety, with and without a backing file: a write-zeroes that
// completed before a completed flush must read as zeros after the crash
// and recovery (zero-cluster entries and in-place zeroing alike), unless
// a later write may have landed over it.
func TestCrashWriteZeroes(t *testing.T) {
	cfg := Config{MaxUnits: 8, MaxSchedules: 6}
	if testing.Short() {
		cfg.MaxSchedules = 2
	}
	cfg.Classify = knownIssue
	for _, reg := range model.Registered() {
		if reg.Expect != model.Safe {
			continue
		}
		for _, backed := range []bool{false, true} {
			c := cfg
			c.Backing = backed
			t.Run(fmt.Sprintf("policy=%s/backing=%v", reg.Name, backed), func(t *testing.T) {
				res, err := Explore(reg, ZeroWorkloads(), c)
				if err != nil {
					t.Fatal(err)
				}
				t.Log(crashSummary(res))
				if res.Shortest != nil {
					t.Errorf("policy %s loses data in a crash:\n%s", reg.Name, res.Shortest)
				}
				if res.FirstKnown != nil {
					t.Errorf("known issue %s:\n%s", res.FirstKnown.Known, res.FirstKnown)
				}
			})
		}
	}
}
