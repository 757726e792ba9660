package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/qedharness/qedharness/checker"
	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/bench"
	"github.com/qedharness/qedharness/workloads/shard"
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
	if len(args) > 0 && args[0] == "merge" {
		return exploreMergeMain(args[1:], stdout, stderr)
	}
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
	fs.StringVar(&cfg.Ops, "ops", "", "request `mix` in submission order, w (write), r (read), z (write-zeroes) or f (flush) per request, as wwfr or wzr; empty lets each request read or write (never write-zeroes)")
	fs.StringVar(&cfg.Start, "start", "", "the image the requests start from: empty (the default), table (an L2 table under L1 entry 0, no cluster allocated) or prealloc (every cluster under L1 entry 0 allocated)")
	config := fs.String("config", "", "the configuration by its short `name`, as every verdict prints it (n3-2x2x2, w3r1-2x2x1-backing-snapshot; see checker.ExploreConfig.Name), instead of the flags it sets")
	leaks := fs.String("leaks", "ignore", "leaked clusters at the end: `ignore` (counted in the facts) or violation (space lost is a defect too)")
	fs.StringVar(&cfg.Replay, "replay", "", "run one printed `SCHEDULE` (impl mode), as in \"w0,w2,w3/s s s c1 c2\"")
	shardSpec := fs.String("shard", "", "explore only part `K/N` of each search (impl mode: schedule prefixes; model mode: the states of a BFS level), writing a shard directory to -out for runbench explore merge; a complete one is skipped, a partial one redone")
	out := fs.String("out", "", "the shard's `directory` (with -shard)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench explore [-policy NAME[,NAME...]] [-mode model|impl] [-requests N] [-l1 N] [-clusters N] [-sectors N] [-backing] [-start table|prealloc] [-ops MIX] [-max-states N] [flags]\n       runbench explore -config NAME [-policy ...] [-mode ...] [-max-states N]\n       runbench explore -shard K/N -out SHARD_DIR [flags]\n       runbench explore merge SHARD_DIR...\n\n")
		fmt.Fprintf(stderr, "Model-checks allocation policies over every interleaving of a small configuration.\nExit status: 0 all hold, 1 a policy is violated, 2 bad arguments, 3 incomplete (a bound was reached);\nwith -shard, 0 once the shard is written (the verdict is explore merge's), 2 bad arguments.\n\nFlags:\n")
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
	switch {
	case *shardSpec != "":
		if cfg.Shard, err = shard.Parse(*shardSpec); err != nil {
			fmt.Fprintf(stderr, "explore: -shard: %v\n", err)
			return exitUsage
		}
		if *out == "" {
			fmt.Fprintf(stderr, "explore: -shard: give the shard its own directory with -out\n")
			return exitUsage
		}
	case *out != "":
		fmt.Fprintf(stderr, "explore: -out is the directory of a shard: give -shard K/N too\n")
		return exitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "explore: impossible configuration: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return exitUsage
	}
	fmt.Fprintf(stdout, "explore %s: %s\n", cfg.Name(), cfg)
	if !cfg.Shard.Whole() {
		fmt.Fprintf(stdout, "shard %s, into %s/\n", cfg.Shard, *out)
		whole := "runbench explore " + strings.Join(wholeCommand(args), " ")
		if _, err := bench.ExploreShard(regs, cfg, *out, strings.TrimSpace(whole), stdout); err != nil {
			return subcommandFail(stderr, "explore", err)
		}
		fmt.Fprintf(stdout, "shard %s written to %s/; runbench explore merge puts the shards together\n", cfg.Shard, *out)
		return exitHolds
	}
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
	return exploreExit(results)
}

// exploreExit returns explore's exit status for results: exitViolated if
// a policy is violated, else exitIncomplete if an exploration was
// stopped by a bound, else exitHolds.
func exploreExit(results []*checker.ExploreResult) int {
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

// exploreMergeMain implements "runbench explore merge SHARD_DIR...": it
// merges the shards of explorations (runbench explore -shard K/N -out
// SHARD_DIR) policy by policy (bench.MergeExplore) and prints every
// policy's result as explore does, with each shard's figures, and the
// summary line. It exits as explore does, and 2 for shards that do not
// make one whole.
func exploreMergeMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explore merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runbench explore merge SHARD_DIR...\n\nMerges the shards of explorations (runbench explore -shard K/N -out SHARD_DIR).\nExit status as explore's: 0 all hold, 1 a policy is violated, 2 bad arguments or shards that do not make one whole, 3 incomplete.\n")
	}
	if err := fs.Parse(args); err != nil {
		return subcommandExit(err)
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "explore merge: want the shard directories to merge\n")
		return exitUsage
	}
	results, err := bench.MergeExplore(fs.Args())
	if err != nil {
		return subcommandFail(stderr, "explore merge", err)
	}
	fmt.Fprintf(stdout, "explore %s: %s\n", results[0].Config.Name(), results[0].Config)
	for _, r := range results {
		checker.WriteExploreResult(stdout, r, false)
	}
	fmt.Fprintln(stdout, checker.Summary(results))
	return exploreExit(results)
}
