package crash

import "github.com/qedharness/qedharness/model"

// Stats are the figures of one crash exploration.
type Stats struct {
	// Schedules counts completion orders run to the end; CrashPoints the
	// I/O completion boundaries reached (prefixes of the orders tried),
	// each crashed unless the reduction found its crash state crashed
	// before (DupCrashStates).
	Schedules, CrashPoints int
	// Images counts crash images tried (subsets of units landing);
	// Recovered the distinct ones recovered and judged.
	Images, Recovered int
	// NeedCheck counts recovered images with the need-check bit set;
	// Leaks the leaked clusters found in them before recovery.
	NeedCheck, Leaks int
	// Violations counts distinct crash images that broke a promise for a
	// reason Config.Classify does not name; Known counts the others by
	// class.
	Violations int
	Known      map[string]int
	// Truncated says MaxSchedules cut the search short.
	Truncated bool
	// Pruned counts completions the sleep-set reduction did not take;
	// Asleep the orders it ended early, every pending completion being
	// asleep; DupCrashStates the crash points not crashed because their
	// crash state had been crashed before. All three are 0 with
	// NoReduction.
	Pruned, Asleep, DupCrashStates int
	// Reordered counts crash points with overlapping in-flight writes,
	// crashed once per order of the overlapping ones.
	Reordered int
}

// add adds o's figures to s.
func (s *Stats) add(o Stats) {
	s.Schedules += o.Schedules
	s.CrashPoints += o.CrashPoints
	s.Images += o.Images
	s.Recovered += o.Recovered
	s.NeedCheck += o.NeedCheck
	s.Leaks += o.Leaks
	s.Violations += o.Violations
	s.Truncated = s.Truncated || o.Truncated
	s.Pruned += o.Pruned
	s.Asleep += o.Asleep
	s.DupCrashStates += o.DupCrashStates
	s.Reordered += o.Reordered
	for k, n := range o.Known {
		if s.Known == nil {
			s.Known = map[string]int{}
		}
		s.Known[k] += n
	}
}

// Result is the outcome of Explore for one policy.
type Result struct {
	// Policy names the policy explored and Expect the verdict it claims
	// for the table-write scheme explored (Config.UnorderedMeta).
	Policy string
	Expect model.Claim
	// Stats sums the figures of every workload.
	Stats Stats
	// ByWorkload holds the figures per workload.
	ByWorkload map[string]Stats
	// Shortest is the violation of no known class with the shortest
	// trace, or nil; FirstKnown the one of a known class (Config.Classify)
	// with the shortest trace, or nil.
	Shortest, FirstKnown *Violation

	// judged holds, per workload, the keys of the crash images judged
	// (image and ledger hashes), for tests comparing searches.
	judged map[string]map[uint64]bool
}
