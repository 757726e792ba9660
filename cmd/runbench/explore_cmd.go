package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/qedharness/qedharness/checker"
	"github.com/qedharness/qedharness/model"
)

// Exit codes of runbench and its subcommands (explore uses all four).
const (
	// exitHolds: every policy explored holds.
	exitHolds = 0
	// exitViolated: some policy violates an invariant.
	exitViolated = 1
	// exitUsage: the arguments are bad or the configuration impossible.
	exitUsage = 2
	// exitIncomplete: no violation, but a bound stopped some exploration
	// before it covered everything, so nothing was shown to hold.
	exitIncomplete = 3
)

// exploreMain is the "explore" subcommand: it binds args (without the
// subcommand's name) into a checker.ExploreConfig, explores every policy
// named, prints per policy the verdict, counts, time and reachability
// facts, and for a violation the shortest trace found, one step per line;
// the last line summarizes all policies. It returns exitHolds,
// exitViolated, exitUsage or exitIncomplete.
func exploreMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	std := checker.StandardExploreConfig(checker.ExploreModel)
	var (
		policies = fs.String("policy", "all", "policies to explore, comma-separated, or all (`NAME[,NAME...]`)")
		mode     = fs.String("mode", "model", "what to explore: model (the protocol model) or impl (the real engine on the controlled backend)")
		cfg      = std
		verbose  = fs.Bool("v", false, "print the trace of a replayed schedule even when it holds")
	)
	fs.IntVar(&cfg.Requests, "requests", std.Requests, "number of requests, 1 to 6 (beyond 4, bound the search with -max-states)")
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
	fs.StringVar(&cfg.Ops, "ops", "", "request `mix` in submission order, w (write), r (read) or f (flush) per request, as wwfr; empty lets each request read or write")
	fs.StringVar(&cfg.Start, "start", "", "the image the requests start from: empty (the default), table (an L2 table under L1 entry 0, no cluster allocated) or prealloc (every cluster under L1 entry 0 allocated)")
	config := fs.String("config", "", "the configuration by its short `name`, as every verdict prints it (n3-2x2x2, w3r1-2x2x1-backing-snapshot; see checker.ExploreConfig.Name), instead of the flags it sets")
	leaks := fs.String("leaks", "ignore", "leaked clusters at the end: `ignore` (counted in the facts) or violation (space lost is a defect too)")
	fs.StringVar(&cfg.Replay, "replay", "", "run one printed `SCHEDULE` (impl mode), as in \"w0,w2,w3/s s s c1 c2\"")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench explore [-policy NAME[,NAME...]] [-mode model|impl] [-requests N] [-l1 N] [-clusters N] [-sectors N] [-backing] [-start table|prealloc] [-ops MIX] [-max-states N] [flags]\n       runbench explore -config NAME [-policy ...] [-mode ...] [-max-states N]\n\n")
		fmt.Fprintf(stderr, "Model-checks allocation policies over every interleaving of a small configuration.\nExit status: 0 all hold, 1 a policy is violated, 2 bad arguments, 3 incomplete (a bound was reached).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseSubcommand(fs, args, stderr); !ok {
		return code
	}
	if *config != "" {
		for _, f := range []string{"requests", "l1", "clusters", "sectors", "backing", "reopen", "no-symmetry", "unordered-meta", "ops", "leaks", "start"} {
			if flagGiven(fs, f) {
				fmt.Fprintf(stderr, "explore: -config sets -%s: give one or the other\n", f)
				return exitUsage
			}
		}
		var err error
		if cfg, err = checker.ParseExploreName(*config, cfg); err != nil {
			fmt.Fprintf(stderr, "explore: %v\n", err)
			return exitUsage
		}
	}
	switch *leaks {
	case "ignore":
	case "violation":
		cfg.LeaksViolation = true
	default:
		fmt.Fprintf(stderr, "explore: -leaks %q: want ignore or violation\n", *leaks)
		return exitUsage
	}
	cfg.Mode = checker.ExploreMode(*mode)
	regs, err := model.ParseList(*policies)
	if err != nil {
		fmt.Fprintf(stderr, "explore: %v\n", err)
		return exitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "explore: impossible configuration: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return exitUsage
	}
	fmt.Fprintf(stdout, "explore %s: %s\n", cfg.Name(), cfg)
	var results []*checker.ExploreResult
	for _, reg := range regs {
		res, err := checker.Explore(reg, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "explore: %v\n", err)
			return exitUsage
		}
		results = append(results, res)
		checker.WriteExploreResult(stdout, res, *verbose)
	}
	fmt.Fprintln(stdout, checker.Summary(results))
	code := exitHolds
	for _, r := range results {
		switch r.Verdict {
		case checker.Violated:
			code = exitViolated
		case checker.Incomplete:
			if code == exitHolds {
				code = exitIncomplete
			}
		}
	}
	return code
}
