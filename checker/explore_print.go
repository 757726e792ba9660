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
