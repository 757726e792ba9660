package checker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/shard"
)

// A search too large for one machine splits into N shards
// (ExploreConfig.Shard), each exhaustive within its part, the parts
// together the whole search; MergeExploreShards combines their results.
// Every shard computes the same split from the configuration alone:
//
//   - Impl mode splits by schedule prefix. The search tree of every
//     workload is walked, replaying each node as the search would, with
//     the same sleep sets, down to the smallest depth at which there are
//     at least unitsPerShard x N units: the nodes at that depth, and the
//     end states above it. The units, in search order, are dealt round
//     robin (shard.Partition with equal costs); a shard searches below
//     the nodes it owns and judges the end states it owns. Since a
//     node's sleep set depends only on the moves of the path to it and
//     of its earlier siblings, never on what was found below them, the
//     parts are exactly the subtrees of the whole search, and for a
//     search that finds no violation the shards' counts of states,
//     transitions, orders run and pruned add up to the whole search's
//     (shard 1 counts the walk above the units). Counts after a violation
//     do not: a search bounds itself below the shortest violation in
//     hand, and each shard knows only its own. Judged counts the
//     distinct end states each shard judged, so an end state two shards
//     reach is counted twice.
//   - Model mode splits the breadth-first search by the states of the
//     first level with at least unitsPerShard x N states: every shard
//     explores the levels above it, expands only the states of that
//     level it owns (dealt round robin) and goes on breadth first from
//     them. Every state is reached by the shard owning its shortest
//     path's state on that level, so the shortest violation over the
//     shards is the whole search's shortest, but a state reachable from
//     the states of two shards is stored by both: the shards' states add
//     up to more than the whole search's. A merge reports the sum less
//     the copies of the levels above the split, an upper bound, and each
//     shard's count. A search with no level that wide is not split:
//     every shard makes the whole search.
//
// The counterexample kept is the shortest over the shards; among equally
// short ones, in impl mode the first in search order (the whole search's
// choice), in model mode the lowest shard's.

// unitsPerShard is how many parts per shard a search is split into at
// least, so that dealing them evens out parts of different sizes.
const unitsPerShard = 4

// ExploreShard says which part of a split search a result covers.
type ExploreShard struct {
	// Spec is the shard, K of N; in a merged result K is 0.
	Spec shard.Spec
	// Split is where the search splits: in impl mode the length of the
	// schedule prefixes, in model mode the BFS level whose states are
	// dealt; -1 when the search had no level wide enough to split (every
	// shard made the whole search).
	Split int
	// Units counts the parts the search splits into, Owned those this
	// shard explored.
	Units, Owned int
	// SharedStates and SharedTransitions (model mode) are the states
	// above the split level and the transitions out of them, which every
	// shard explores.
	SharedStates, SharedTransitions int64
	// ViolationUnit is the part (in search order) in which Violation was
	// found, or -1 without one.
	ViolationUnit int
	// ExactStates (a merged model-mode result) says States is the union
	// of the shards' stored states (CountUnion), the whole search's
	// count, rather than an upper bound.
	ExactStates bool `json:",omitempty"`
	// Parts (a merged result only) are the shards' results, in shard
	// order, without their traces.
	Parts []ExplorePart `json:",omitempty"`
}

// ExplorePart is one shard's figures in a merged result.
type ExplorePart struct {
	// K is the shard; Verdict its outcome.
	K       int
	Verdict Outcome
	// States, Transitions, Paths, Judged, Depth and Elapsed are the
	// shard's, as in ExploreResult; Owned the parts it explored.
	States, Transitions int64
	Paths, Judged       int64
	Depth               int
	Owned               int
	Elapsed             time.Duration
	// Steps is the length of the shard's shortest violation, 0 without.
	Steps int
}

// modelSplit is the split of a model-mode search: the level dealt and
// this shard's share of it.
type modelSplit struct {
	lo       int   // index of the level's first state
	owner    []int // owner[i-lo]: the shard (from 0) expanding state i
	k        int   // this shard, from 0
	notOwned int
}

func (s *modelSplit) skip(i int) bool { return s.owner[i-s.lo] != s.k }

// splitLevel deals the states [lo, hi) of level depth among the shards
// and notes the split in res.Shard.
func splitLevel(res *ExploreResult, depth, lo, hi int) (*modelSplit, error) {
	sh := res.Shard
	owner, err := shard.Partition(make([]float64, hi-lo), sh.Spec.N)
	if err != nil {
		return nil, err
	}
	s := &modelSplit{lo: lo, owner: owner, k: sh.Spec.K - 1}
	for _, o := range owner {
		if o != s.k {
			s.notOwned++
		}
	}
	sh.Split, sh.Units, sh.Owned = depth, hi-lo, hi-lo-s.notOwned
	sh.SharedStates, sh.SharedTransitions = int64(lo), res.Transitions
	return s, nil
}

// implUnit is one part of a split impl-mode search: a schedule prefix of
// one workload and the sleep set the search has at its end, or an end
// state the prefix reaches.
type implUnit struct {
	wl       int
	prefix   []implMove
	sleep    []uint64
	terminal bool
}

// exploreShard explores this shard's part of the search of every
// workload in wls.
func (x *implExplorer) exploreShard(wls [][]model.WorkloadOp) error {
	spec := x.cfg.Shard
	sh := &ExploreShard{Spec: spec, ViolationUnit: -1}
	x.res.Shard = sh
	var units []implUnit
	var walk ExploreResult // what the search counts above the units
	for depth := 0; ; depth++ {
		units, walk = nil, ExploreResult{}
		deeper := false
		for i, wl := range wls {
			us, err := x.walkPrefixes(i, wl, depth, &walk)
			if err != nil {
				return fmt.Errorf("workload %s: %w", formatWorkload(wl), err)
			}
			units = append(units, us...)
		}
		for _, u := range units {
			deeper = deeper || !u.terminal
		}
		sh.Split = depth
		if len(units) >= unitsPerShard*spec.N || !deeper || (x.cfg.MaxDepth > 0 && depth+1 >= x.cfg.MaxDepth) {
			break
		}
	}
	owner, err := shard.Partition(make([]float64, len(units)), spec.N)
	if err != nil {
		return err
	}
	sh.Units = len(units)
	res := x.res
	if spec.K == 1 {
		res.Workloads = int64(len(wls))
		res.States, res.Transitions, res.Pruned, res.Depth = walk.States, walk.Transitions, walk.Pruned, walk.Depth
	}
	for i, u := range units {
		if owner[i] != spec.K-1 {
			continue
		}
		sh.Owned++
		best := x.best
		wl := wls[u.wl]
		if u.terminal {
			run, err := x.replayRun(wl, u.prefix, false)
			if err != nil {
				return err
			}
			res.Paths++
			err = x.judge(wl, u.prefix, run)
			x.recycle(run)
			if err != nil {
				return err
			}
		} else if err := x.searchFrom(wl, u.prefix, u.sleep); err != nil {
			return fmt.Errorf("workload %s: %w", formatWorkload(wl), err)
		}
		if x.best != best {
			sh.ViolationUnit = i
		}
		if x.stopped {
			break
		}
	}
	x.conclude()
	return nil
}

// walkPrefixes walks the search tree of workload wl (number i) down to
// depth as search does, with the same moves and sleep sets, counting in
// walk what search counts above that depth, and returns the units: the
// nodes at depth and the end states above it, in search order.
func (x *implExplorer) walkPrefixes(i int, wl []model.WorkloadOp, depth int, walk *ExploreResult) ([]implUnit, error) {
	var units []implUnit
	var visit func(path []implMove, sleep []uint64) error
	visit = func(path []implMove, sleep []uint64) error {
		if len(path) == depth {
			units = append(units, implUnit{wl: i, prefix: path, sleep: sleep})
			return nil
		}
		run, err := x.replayRun(wl, path, false)
		if err != nil {
			return err
		}
		node := &dfsNode{moves: run.moves(), sleep: sleep}
		x.recycle(run)
		for _, m := range node.moves {
			if slices.Contains(node.sleep, m.key()) {
				walk.Pruned++
				continue
			}
			childSleep := node.take(m, x.cfg.NoReduction)
			child := append(slices.Clip(path), m)
			walk.Transitions++
			walk.Depth = max(walk.Depth, len(child))
			run, err := x.replayRun(wl, child, false)
			if err != nil {
				return err
			}
			terminal := run.terminal()
			x.recycle(run)
			if terminal {
				units = append(units, implUnit{wl: i, prefix: child, terminal: true})
				continue
			}
			walk.States++
			if err := visit(child, childSleep); err != nil {
				return err
			}
		}
		return nil
	}
	walk.States++ // the root, as search counts it
	return units, visit(nil, nil)
}

// MergeExploreShards combines the results of the N shards of one policy's
// split search (ExploreConfig.Shard), given in any order: the verdict is
// violated if any shard found a violation, incomplete if any shard was
// stopped by a bound (and none found one), and holds only if every shard
// explored its whole part. The violation is the shortest over the shards
// (see the split's description for ties). Counts add up, less the
// copies every shard made of the search above a model-mode split, depth
// is the deepest, the facts the strongest; Elapsed is the longest shard's,
// as when the shards run at once. The result's Shard lists each shard's
// figures. Results of different policies, configurations or shard
// counts, a shard given twice and a missing shard are errors, naming the
// shards.
func MergeExploreShards(parts []*ExploreResult) (*ExploreResult, error) {
	if len(parts) == 0 {
		return nil, errors.New("no shard results to merge")
	}
	first := parts[0]
	if first.Shard == nil {
		return nil, fmt.Errorf("%s: a whole search's result, not a shard's", first.Policy)
	}
	n := first.Shard.Spec.N
	byK := make([]*ExploreResult, n+1)
	for _, r := range parts {
		switch {
		case r.Shard == nil || r.Shard.Spec.K == 0:
			return nil, fmt.Errorf("%s: a result that is not one shard's", r.Policy)
		case r.Policy != first.Policy:
			return nil, fmt.Errorf("shard %s explored %s, shard %s %s", first.Shard.Spec, first.Policy, r.Shard.Spec, r.Policy)
		case r.Shard.Spec.N != n:
			return nil, fmt.Errorf("%s: shard %s is of a split into %d, shard %s into %d", r.Policy, r.Shard.Spec, r.Shard.Spec.N, first.Shard.Spec, n)
		case !sameSearch(r.Config, first.Config):
			return nil, fmt.Errorf("%s: shard %s explored %s (%s), shard %s %s (%s)", r.Policy, r.Shard.Spec, r.Config.Name(), r.Config, first.Shard.Spec, first.Config.Name(), first.Config)
		case r.Shard.Split != first.Shard.Split || r.Shard.Units != first.Shard.Units:
			return nil, fmt.Errorf("%s: shards %s and %s split the search differently (at %d into %d parts, at %d into %d): not the same program", r.Policy,
				first.Shard.Spec, r.Shard.Spec, first.Shard.Split, first.Shard.Units, r.Shard.Split, r.Shard.Units)
		case byK[r.Shard.Spec.K] != nil:
			return nil, fmt.Errorf("%s: shard %s given twice", r.Policy, r.Shard.Spec)
		}
		byK[r.Shard.Spec.K] = r
	}
	var missing []string
	for k := 1; k <= n; k++ {
		if byK[k] == nil {
			missing = append(missing, fmt.Sprintf("%d/%d", k, n))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: missing shards %s", first.Policy, strings.Join(missing, ", "))
	}
	cfg := first.Config
	cfg.Shard = shard.Spec{}
	out := &ExploreResult{Policy: first.Policy, Expect: first.Expect, Config: cfg,
		Shard: &ExploreShard{Spec: shard.Spec{N: n}, Split: first.Shard.Split, Units: first.Shard.Units, ViolationUnit: -1}}
	var best *ExploreResult
	var reasons []string
	for _, r := range byK[1:] {
		out.Shard.Owned += r.Shard.Owned
		if r.Shard.Split < 0 && r.Shard.Spec.K > 1 {
			// Not split: every shard made the whole search; shard 1's
			// figures are the search's.
			out.Shard.Parts = append(out.Shard.Parts, part(r))
			out.Elapsed = max(out.Elapsed, r.Elapsed)
			continue
		}
		out.States += r.States
		out.Transitions += r.Transitions
		out.Workloads += r.Workloads
		out.Paths += r.Paths
		out.Pruned += r.Pruned
		out.Judged += r.Judged
		out.Depth = max(out.Depth, r.Depth)
		out.MemoryBytes = max(out.MemoryBytes, r.MemoryBytes)
		out.Elapsed = max(out.Elapsed, r.Elapsed)
		out.Facts = strongest(out.Facts, r.Facts)
		out.Shard.Parts = append(out.Shard.Parts, part(r))
		if r.Verdict == Incomplete {
			reasons = append(reasons, fmt.Sprintf("shard %s: %s", r.Shard.Spec, r.Reason))
		}
		if r.Verdict == Violated && (best == nil || shorter(r, best)) {
			best = r
		}
	}
	if cfg.Mode != ExploreImpl && first.Shard.Split >= 0 {
		out.States -= int64(n-1) * first.Shard.SharedStates
		out.Transitions -= int64(n-1) * first.Shard.SharedTransitions
		out.Shard.SharedStates, out.Shard.SharedTransitions = first.Shard.SharedStates, first.Shard.SharedTransitions
	}
	switch {
	case best != nil:
		out.Verdict, out.Violation, out.Shard.ViolationUnit = Violated, best.Violation, best.Shard.ViolationUnit
	case len(reasons) > 0:
		out.Verdict, out.Reason = Incomplete, strings.Join(reasons, "; ")
	default:
		out.Verdict = Holds
	}
	return out, nil
}

// sameSearch reports whether a and b configure the same search, shards
// aside.
func sameSearch(a, b ExploreConfig) bool {
	a.Shard, b.Shard = shard.Spec{}, shard.Spec{}
	a.Workers, b.Workers = 0, 0 // results do not depend on it
	return a == b
}

// shorter reports whether a's violation is to be kept over b's: fewer
// steps, then earlier in search order, then the lower shard.
func shorter(a, b *ExploreResult) bool {
	if a.Violation.Steps != b.Violation.Steps {
		return a.Violation.Steps < b.Violation.Steps
	}
	if a.Shard.ViolationUnit != b.Shard.ViolationUnit {
		return a.Shard.ViolationUnit < b.Shard.ViolationUnit
	}
	return a.Shard.Spec.K < b.Shard.Spec.K
}

// strongest combines the facts of two parts of a search.
func strongest(a, b ExploreFacts) ExploreFacts {
	return ExploreFacts{
		MaxAllocInFlight: max(a.MaxAllocInFlight, b.MaxAllocInFlight),
		Freeze:           a.Freeze || b.Freeze,
		Restart:          a.Restart || b.Restart,
		RestartProceed:   a.RestartProceed || b.RestartProceed,
		Reopen:           a.Reopen || b.Reopen,
		MaxLeaks:         max(a.MaxLeaks, b.MaxLeaks),
	}
}

// part returns a shard's figures for a merged result.
func part(r *ExploreResult) ExplorePart {
	p := ExplorePart{K: r.Shard.Spec.K, Verdict: r.Verdict, States: r.States, Transitions: r.Transitions, Paths: r.Paths, Judged: r.Judged,
		Depth: r.Depth, Owned: r.Shard.Owned, Elapsed: r.Elapsed}
	if r.Violation != nil {
		p.Steps = r.Violation.Steps
	}
	return p
}
