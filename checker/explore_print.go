package checker

import (
	"fmt"
	"io"
	"strings"
)

// WriteExploreResult prints one policy's result: verdict, counts, facts,
// and for a violation its trace (and in impl mode its schedule). With
// verbose, a replayed schedule's trace is printed even when it holds.
func WriteExploreResult(w io.Writer, r *ExploreResult, verbose bool) {
	verdict := strings.ToUpper(r.Verdict.String())
	switch r.Verdict {
	case Violated:
		verdict += ": " + r.Violation.Invariant
	case Incomplete:
		verdict += " (" + r.Reason + "): not a pass"
	case Holds:
		if r.Reason != "" {
			verdict += " (" + r.Reason + ")"
		}
	}
	fmt.Fprintf(w, "\n%s (declared %s): %s\n", r.Policy, r.Expect, verdict)
	if r.Config.Mode == ExploreImpl {
		fmt.Fprintf(w, "  %d workloads, %d orders run to the end (%d end states judged), %d orders pruned by the reduction; %d engine states, %d transitions, depth %d, %s\n",
			r.Workloads, r.Paths, r.Judged, r.Pruned, r.States, r.Transitions, r.Depth, fmtDuration(r.Elapsed))
	} else {
		fmt.Fprintf(w, "  %d states, %d transitions, depth %d, %s (%.2fM states/s)\n",
			r.States, r.Transitions, r.Depth, fmtDuration(r.Elapsed), r.StatesPerSecond()/1e6)
	}
	fmt.Fprintf(w, "  explored: %s\n", r.Facts)
	if r.Shard != nil {
		writeShard(w, r)
	}
	if r.Verdict == Violated {
		v := r.Violation
		fmt.Fprintf(w, "  %s\n", indentLines(v.Message, "  "))
		fmt.Fprintf(w, "  trace (%d steps):\n", v.Steps)
		for _, l := range v.Trace {
			fmt.Fprintf(w, "  %s\n", l)
		}
		if v.Schedule != "" {
			fmt.Fprintf(w, "  replay: runbench explore -mode impl -policy %s%s -replay '%s'\n", r.Policy, geometryFlags(r.Config), v.Schedule)
		}
	} else if verbose && len(r.Trace) > 0 {
		fmt.Fprintf(w, "  trace:\n")
		for _, l := range r.Trace {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if r.Config.Replay != "" {
		fmt.Fprintf(w, "  trace hash %016x\n", r.TraceHash)
	}
}

// geometryFlags renders the flags that differ from the defaults, so a
// printed replay command reproduces the configuration.
func geometryFlags(c ExploreConfig) string {
	std := StandardExploreConfig(c.Mode)
	var b strings.Builder
	if c.Requests != std.Requests {
		fmt.Fprintf(&b, " -requests %d", c.Requests)
	}
	if c.L1Entries != std.L1Entries {
		fmt.Fprintf(&b, " -l1 %d", c.L1Entries)
	}
	if c.Clusters != std.Clusters {
		fmt.Fprintf(&b, " -clusters %d", c.Clusters)
	}
	if c.Sectors != std.Sectors {
		fmt.Fprintf(&b, " -sectors %d", c.Sectors)
	}
	if c.Backing {
		b.WriteString(" -backing")
	}
	if !c.Reopen {
		b.WriteString(" -reopen=false")
	}
	if c.UnorderedMeta {
		b.WriteString(" -unordered-meta")
	}
	if c.LeaksViolation {
		b.WriteString(" -leaks violation")
	}
	if c.Ops != "" {
		b.WriteString(" -ops " + c.Ops)
	}
	if c.Start != "" {
		b.WriteString(" -start " + c.Start)
	}
	return b.String()
}

func indentLines(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// writeShard prints what part of a split search r covers: a shard's
// share, or a merge's shards and what its counts mean.
func writeShard(w io.Writer, r *ExploreResult) {
	sh := r.Shard
	switch {
	case sh.Split < 0 && sh.Spec.K > 0:
		fmt.Fprintf(w, "  shard %s: the whole search, as every shard: no BFS level had %d states to split\n", sh.Spec, unitsPerShard*sh.Spec.N)
		return
	case sh.Split < 0:
		fmt.Fprintf(w, "  merged from %d shards that each made the whole search (no BFS level had %d states to split): shard 1's figures\n", sh.Spec.N, unitsPerShard*sh.Spec.N)
		return
	}
	where := fmt.Sprintf("schedule prefixes of %d moves", sh.Split)
	if r.Config.Mode != ExploreImpl {
		where = fmt.Sprintf("the states of BFS level %d", sh.Split)
	}
	if sh.Spec.K > 0 {
		fmt.Fprintf(w, "  shard %s: %d of the %d parts (split by %s)\n", sh.Spec, sh.Owned, sh.Units, where)
		return
	}
	fmt.Fprintf(w, "  merged from %d shards, split by %s into %d parts:\n", sh.Spec.N, where, sh.Units)
	for _, p := range sh.Parts {
		found := ""
		if p.Steps > 0 {
			found = fmt.Sprintf(", shortest violation %d steps", p.Steps)
		}
		if r.Config.Mode == ExploreImpl {
			fmt.Fprintf(w, "    shard %d/%d: %s, %d parts, %d orders run (%d end states judged), %d engine states, %d transitions, depth %d, %s%s\n",
				p.K, sh.Spec.N, p.Verdict, p.Owned, p.Paths, p.Judged, p.States, p.Transitions, p.Depth, fmtDuration(p.Elapsed), found)
		} else {
			fmt.Fprintf(w, "    shard %d/%d: %s, %d parts, %d states, %d transitions, depth %d, %s%s\n",
				p.K, sh.Spec.N, p.Verdict, p.Owned, p.States, p.Transitions, p.Depth, fmtDuration(p.Elapsed), found)
		}
	}
	switch {
	case r.Config.Mode == ExploreImpl && r.Verdict == Violated:
		fmt.Fprintf(w, "  counts: the shards' sums; each shard bounded its search below its own shortest violation, so they exceed the whole search's, which bounds below the shortest of all\n")
	case r.Config.Mode == ExploreImpl:
		fmt.Fprintf(w, "  counts: the shards' sums, the whole search's counts, but for end states judged: an end state reached in two shards is judged in each\n")
	case sh.ExactStates:
		fmt.Fprintf(w, "  counts: states exact, the union of the shards' stored states (a state reachable from the parts of two shards is stored by each, counted once); transitions an upper bound, the shards' sums less %d copies of the %d transitions above the split\n",
			sh.Spec.N-1, sh.SharedTransitions)
	default:
		fmt.Fprintf(w, "  counts: an upper bound on the whole search's, the shards' sums less %d copies of the %d states (%d transitions) above the split; a state reachable from the parts of two shards is stored by each, and the union is not computed\n",
			sh.Spec.N-1, sh.SharedStates, sh.SharedTransitions)
	}
}
