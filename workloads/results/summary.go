package results

import (
	"cmp"
	"fmt"
	"slices"
)

// Stat is the median of a figure over a configuration's repetitions, with
// its spread.
type Stat struct {
	Median, Min, Max float64
}

// statOf summarizes xs; the zero Stat for none.
func statOf(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[n-1]}
}

// Summary is one configuration's repetitions, summarized.
type Summary struct {
	Config Config
	// Runs counts the repetitions that completed; Errors those that failed
	// (the first error is in Error).
	Runs, Errors int
	Error        string
	// Figures over the completed repetitions.
	OpsPerSec, MiBPerSec          Stat
	LatP50Us, LatP99Us, LatP999Us Stat
	FrozenShare                   Stat
	HostIOsPerOp, AchievedQD      Stat
	DataBytes, MetaBytes          Stat
	// DataPerOp and MetaPerOp are host bytes written per completed
	// request, for guest data and for metadata.
	DataPerOp, MetaPerOp Stat
	// LatencyHDR holds the latency histograms (Record.LatencyHDR) of the
	// completed repetitions that kept one; Latency merges them.
	LatencyHDR []string
	// Check is the worst check seen: a run's corruption summary if any had
	// corruption, else its leaks, else "clean".
	Check string
	// Linearizable is false if any run was not linearizable, true if at
	// least one run was checked and every checked run was, nil if none was
	// checked. Checked counts the runs checked (of Runs).
	Linearizable *bool
	Checked      int
	// Unsafe is true if any run was not linearizable or left corruption.
	Unsafe bool
	// Leaked is true if any run left leaked clusters (not corruption, but
	// where writes raced for a cluster, often the sign of lost data).
	Leaked bool
	// Expect is the verdict the policy claims.
	Expect string
}

// Summarize groups runs by configuration and summarizes each group.
// Groups come in the order of order (configurations not listed follow),
// and otherwise by workload, backend, device, queue depth and policy in
// registry order.
func Summarize(runs []Record, order []Config) []Summary {
	idx := map[Config]int{}
	var sums []Summary
	var groups [][]*Record
	for i := range runs {
		c := runs[i].Config()
		j, ok := idx[c]
		if !ok {
			j = len(sums)
			idx[c] = j
			sums = append(sums, Summary{Config: c})
			groups = append(groups, nil)
		}
		groups[j] = append(groups[j], &runs[i])
	}
	for i := range sums {
		summarizeGroup(&sums[i], groups[i])
	}
	rank := map[Config]int{}
	for i, c := range order {
		rank[c] = i + 1
	}
	slices.SortStableFunc(sums, func(a, b Summary) int {
		ra, rb := rank[a.Config], rank[b.Config]
		if ra != 0 || rb != 0 {
			if ra == 0 {
				return 1
			}
			if rb == 0 {
				return -1
			}
			return cmp.Compare(ra, rb)
		}
		return compareConfigs(a.Config, b.Config)
	})
	return sums
}

func summarizeGroup(s *Summary, rs []*Record) {
	var ops, mib, p50, p99, p999, frozen, hio, aqd, data, meta, dop, mop []float64
	worst := 0 // 0 clean, 1 leaks, 2 corruption
	s.Check = "clean"
	for _, r := range rs {
		s.Expect = r.Expect
		if r.Error != "" {
			s.Errors++
			if s.Error == "" {
				s.Error = r.Error
			}
			continue
		}
		s.Runs++
		ops = append(ops, r.OpsPerSec)
		mib = append(mib, r.MiBPerSec)
		p50 = append(p50, r.LatP50Us)
		p99 = append(p99, r.LatP99Us)
		p999 = append(p999, r.LatP999Us)
		if r.LatencyHDR != "" {
			s.LatencyHDR = append(s.LatencyHDR, r.LatencyHDR)
		}
		frozen = append(frozen, r.FrozenShare())
		hio = append(hio, r.HostIOsPerOp)
		aqd = append(aqd, r.AchievedQD)
		data = append(data, float64(r.DataBytes))
		meta = append(meta, float64(r.MetaBytes))
		if r.Ops > 0 {
			dop = append(dop, float64(r.DataBytes)/float64(r.Ops))
			mop = append(mop, float64(r.MetaBytes)/float64(r.Ops))
		}
		if r.Check == "-" {
			s.Check = "-"
		}
		switch {
		case r.CheckCorruptions > 0 && worst < 2:
			worst, s.Check = 2, r.Check
		case r.CheckLeaks > 0 && worst < 1:
			worst, s.Check = 1, r.Check
		}
		if r.Linearizable != nil {
			s.Checked++
			if !*r.Linearizable {
				f := false
				s.Linearizable = &f
			}
		}
		if r.Unsafe() {
			s.Unsafe = true
		}
		if r.CheckLeaks > 0 {
			s.Leaked = true
		}
	}
	if s.Linearizable == nil && s.Checked > 0 {
		t := true
		s.Linearizable = &t
	}
	s.OpsPerSec, s.MiBPerSec = statOf(ops), statOf(mib)
	s.LatP50Us, s.LatP99Us, s.LatP999Us = statOf(p50), statOf(p99), statOf(p999)
	s.FrozenShare, s.HostIOsPerOp, s.AchievedQD = statOf(frozen), statOf(hio), statOf(aqd)
	s.DataBytes, s.MetaBytes = statOf(data), statOf(meta)
	s.DataPerOp, s.MetaPerOp = statOf(dop), statOf(mop)
}

// LinearizableLabel renders the summary's verdict for tables: "yes",
// "yes (1/3 checked)", "NO" or "not checked".
func (s *Summary) LinearizableLabel() string {
	if s.Linearizable != nil && *s.Linearizable && s.Checked < s.Runs {
		return fmt.Sprintf("yes (%d/%d checked)", s.Checked, s.Runs)
	}
	return LinearizableText(s.Linearizable)
}

// LinearizableText renders a verdict for tables: "yes", "NO" or "not checked".
func LinearizableText(v *bool) string {
	switch {
	case v == nil:
		return "not checked"
	case *v:
		return "yes"
	}
	return "NO"
}
