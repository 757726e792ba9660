package workloads

import (
	"fmt"
	"slices"
	"strings"
)

// PatternName is a value of a job's pattern key ("first-touch"): the
// Name of a registered Pattern.
type PatternName string

// Pattern is one value of a job's pattern key: which clusters a job's
// writes touch and in what order, beyond what fio's rw and
// random_distribution say. A pattern checks the keys it constrains,
// divides each instance's region into units (the blocks or clusters its
// operations address), and generates each Stream's reads and writes from
// the stream's random source, so that the same seed gives the same
// operations. rw (sequential, random, mixed) and random_distribution
// (uniform, zipf) are separate keys that the patterns read.
//
// Every method but Name and Summary is unexported: a pattern reaches into
// Plan and Stream, so the patterns live in this package, one file each
// (pattern_*.go), each registering itself. A pattern value holds no state; a
// stream's state lives in the generator newGen returns.
type Pattern interface {
	// Name returns the pattern key's value.
	Name() PatternName
	// Summary says in a few words what the pattern does, for help text.
	Summary() string
	// layout checks the keys of j the pattern constrains, the job's other
	// keys being valid and its defaults resolved, and returns how it
	// divides each region. A problem is a *KeyError naming the key to
	// change (j.keyError).
	layout(j *Job) (layout, error)
	// newGen returns the generator of a new stream s of the plan. It may
	// draw from s.rng: those draws come before the stream's first
	// operation.
	newGen(s *Stream) opGen
}

// layout is how a pattern divides each instance's region.
type layout struct {
	// units is the number of units per region: blocks, runs of fresh
	// clusters or block slots of fresh clusters. A stream without an op
	// count or runtime makes one operation per unit.
	units uint64
	// unitBytes is the bytes from one unit to the next: the stride at
	// which qemu-img bench runs the pattern.
	unitBytes uint64
	// fresh is set when each unit is fresh and may be written once: a
	// stream's op count may not exceed units, and a stream with only a
	// runtime ends after units operations.
	fresh bool
	// prefill is set when the pattern needs every cluster of the region
	// allocated before the run; the plan's job then has Prefill set.
	prefill bool
}

// opGen generates the reads and writes of one stream; s.seq counts those
// already generated. Each generator draws from s.rng in an order fixed by
// the plan, the seed and s.seq alone.
type opGen interface {
	next(s *Stream) Op
}

// patterns lists every pattern, in help order. Each pattern's file adds
// it, from an init function, through registerPattern: adding a pattern is
// that one file. Nothing changes it after package initialization.
var patterns []Pattern

// patternRanks holds each registered pattern's help rank, by index.
var patternRanks []int

// registerPattern adds p to patterns at its help rank (lower first).
// It is called only from init functions; a second pattern of the same
// name is a programming error and panics.
func registerPattern(rank int, p Pattern) {
	if _, dup := lookupPattern(p.Name()); dup {
		panic(fmt.Sprintf("workloads: pattern %q registered twice", p.Name()))
	}
	i := 0
	for i < len(patternRanks) && patternRanks[i] <= rank {
		i++
	}
	patterns = slices.Insert(patterns, i, p)
	patternRanks = slices.Insert(patternRanks, i, rank)
}

// lookupPattern returns the pattern named name.
func lookupPattern(name PatternName) (Pattern, bool) {
	for _, p := range patterns {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

// patternNames returns the registered pattern names, in help order.
func patternNames() []PatternName {
	names := make([]PatternName, len(patterns))
	for i, p := range patterns {
		names[i] = p.Name()
	}
	return names
}

// patternHelp is the pattern key's help: every pattern with its summary.
func patternHelp() string {
	var b strings.Builder
	for i, p := range patterns {
		switch {
		case i == len(patterns)-1 && i > 0:
			b.WriteString(" or ")
		case i > 0:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", p.Name(), p.Summary())
	}
	return b.String()
}

// checkFresh checks the keys of j that a pattern writing only fresh
// clusters of whole, aligned regions needs: writes alone, no prefill,
// offset and size multiples of the cluster size.
func checkFresh(j *Job) error {
	cs := uint64(j.ClusterSize)
	switch {
	case j.RW != RWWrite && j.RW != RWRandWrite:
		return j.keyError("pattern", fmt.Errorf("%s writes fresh clusters: it needs rw=write or rw=randwrite, not rw=%s", j.Pattern, j.RW))
	case j.Prefill:
		return j.keyError("prefill", fmt.Errorf("prefill allocates every cluster, leaving none fresh for pattern=%s", j.Pattern))
	case j.Offset%cs != 0:
		return j.keyError("offset", fmt.Errorf("pattern=%s needs regions aligned to cluster_size=%s", j.Pattern, FormatSize(cs)))
	case j.Size%cs != 0:
		return j.keyError("size", fmt.Errorf("pattern=%s needs a multiple of cluster_size=%s", j.Pattern, FormatSize(cs)))
	}
	return nil
}
