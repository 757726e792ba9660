package checker

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/qedharness/qedharness/model"
)

// Exit codes of ExploreMain.
const (
	// ExitHolds: every policy explored holds.
	ExitHolds = 0
	// ExitViolated: some policy violates an invariant.
	ExitViolated = 1
	// ExitUsage: the arguments are bad or the configuration impossible.
	ExitUsage = 2
	// ExitIncomplete: no violation, but a bound stopped some exploration
	// before it covered everything, so nothing was shown to hold.
	ExitIncomplete = 3
)

// ExploreMain is the "explore" subcommand: it parses args (without the
// subcommand's name), explores every policy named, prints per policy the
// verdict, counts, time and reachability facts, and for a violation the
// shortest trace found, one step per line; the last line summarizes all
// policies. It returns ExitHolds, ExitViolated, ExitUsage or
// ExitIncomplete. cmd/runbench binds it as
//
//	case "explore": os.Exit(checker.ExploreMain(os.Args[2:], os.Stdout, os.Stderr))
func ExploreMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	std := StandardExploreConfig(ExploreModel)
	var (
		policies = fs.String("policy", "all", "policies to explore, comma-separated, or all (`NAME[,NAME...]`)")
		mode     = fs.String("mode", "model", "what to explore: model (the protocol model) or impl (the real engine on the controlled backend)")
		cfg      = std
		verbose  = fs.Bool("v", false, "print the trace of a replayed schedule even when it holds")
	)
	fs.IntVar(&cfg.Requests, "requests", std.Requests, "number of requests, 1 to 4")
	fs.IntVar(&cfg.L1Entries, "l1", std.L1Entries, "L1 entries (L2 tables) the guest spans")
	fs.IntVar(&cfg.Clusters, "clusters", std.Clusters, "clusters per L2 table")
	fs.IntVar(&cfg.Sectors, "sectors", std.Sectors, "sectors per cluster (impl mode: 1, 2, 4 or 8)")
	fs.BoolVar(&cfg.Backing, "backing", false, "give the image a backing file")
	fs.BoolVar(&cfg.Reopen, "reopen", true, "reopen the image when quiescent and check it reads the same")
	fs.Int64Var(&cfg.MaxStates, "max-states", 0, "stop after `N` states (model) or engine states visited (impl); 0 means no limit; a stop is reported incomplete")
	fs.IntVar(&cfg.MaxDepth, "depth", 0, "stop at depth `N` transitions; 0 means no bound")
	fs.IntVar(&cfg.Workers, "workers", 1, "goroutines expanding each BFS level (model mode)")
	fs.BoolVar(&cfg.NoSymmetry, "no-symmetry", false, "disable symmetry reduction (impl mode: run every workload, not one per symmetry class)")
	fs.BoolVar(&cfg.NoReduction, "no-reduction", false, "disable the partial-order reduction (impl mode)")
	fs.BoolVar(&cfg.UnorderedMeta, "unordered-meta", false, "explore the engine without its ordered metadata writer: every table update written at once, in flight beside others of the same sector")
	fs.StringVar(&cfg.Replay, "replay", "", "run one printed `SCHEDULE` (impl mode), as in \"w0,w2,w3/s s s c1 c2\"")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench explore [-policy NAME[,NAME...]] [-mode model|impl] [-requests N] [-l1 N] [-clusters N] [-sectors N] [-backing] [-max-states N] [flags]\n\n")
		fmt.Fprintf(stderr, "Model-checks allocation policies over every interleaving of a small configuration.\nExit status: 0 all hold, 1 a policy is violated, 2 bad arguments, 3 incomplete (a bound was reached).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return ExitHolds
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "explore: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return ExitUsage
	}
	cfg.Mode = ExploreMode(*mode)
	regs, err := model.ParseList(*policies)
	if err != nil {
		fmt.Fprintf(stderr, "explore: %v\n", err)
		return ExitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "explore: impossible configuration: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return ExitUsage
	}
	fmt.Fprintf(stdout, "explore %s\n", cfg)
	var results []*ExploreResult
	for _, reg := range regs {
		res, err := Explore(reg, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "explore: %v\n", err)
			return ExitUsage
		}
		results = append(results, res)
		WriteExploreResult(stdout, res, *verbose)
	}
	fmt.Fprintln(stdout, Summary(results))
	code := ExitHolds
	for _, r := range results {
		switch r.Verdict {
		case Violated:
			code = ExitViolated
		case Incomplete:
			if code == ExitHolds {
				code = ExitIncomplete
			}
		}
	}
	return code
}

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
		fmt.Fprintf(w, "  %d states, %d transitions, depth %d, %s (%.1fM states/min)\n",
			r.States, r.Transitions, r.Depth, fmtDuration(r.Elapsed), r.StatesPerMinute()/1e6)
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
	return b.String()
}

func indentLines(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
