package model

import "fmt"

// Kind classifies one segment of a request by what its lookup found. A
// request that spans several clusters is processed as segments, each a run
// of clusters with one outcome under one L2 table.
type Kind uint8

const (
	// Read is a guest read; it never allocates.
	Read Kind = iota
	// Rewrite is a write whose clusters are all allocated (QED's
	// QED_CLUSTER_FOUND): it writes in place and touches no metadata.
	Rewrite
	// AllocCluster is a write whose L2 table exists but whose cluster
	// entries are empty or zero (QED_CLUSTER_L2 / QED_CLUSTER_ZERO): it
	// allocates data clusters and updates an existing L2 table.
	AllocCluster
	// AllocL2 is a write whose L1 entry is empty (QED_CLUSTER_L1): it
	// allocates data clusters and a new L2 table, then updates L1.
	AllocL2
	// Flush is a guest flush.
	Flush
)

var kindNames = [...]string{"read", "rewrite", "alloc-cluster", "alloc-l2", "flush"}

// String returns the kind's name as used in traces ("alloc-cluster").
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Allocating reports whether the kind allocates clusters or tables.
func (k Kind) Allocating() bool { return k == AllocCluster || k == AllocL2 }

// Access is what a policy sees of one request segment: who asks, what its
// lookup found, and which guest clusters and L1 entry it covers.
type Access struct {
	// Req identifies the request; all segments of a request share it.
	Req uint64
	// Kind is the lookup outcome.
	Kind Kind
	// L1 is the index of the L1 entry (and so of the L2 table) the
	// segment lies under. Meaningless for Flush.
	L1 uint64
	// First is the first guest cluster index (guest offset / cluster
	// size) and Count the number of clusters, at least 1 except for Flush.
	First, Count uint64
}

// Overlaps reports whether a and b cover at least one common guest cluster.
func (a Access) Overlaps(b Access) bool {
	return a.First < b.First+b.Count && b.First < a.First+a.Count
}

// String renders the access for traces: "req 3 alloc-cluster L1[0] clusters 5+1".
func (a Access) String() string {
	if a.Kind == Flush {
		return fmt.Sprintf("req %d flush", a.Req)
	}
	return fmt.Sprintf("req %d %s L1[%d] clusters %d+%d", a.Req, a.Kind, a.L1, a.First, a.Count)
}

// Decision is a policy's answer for one access.
type Decision uint8

const (
	// Proceed lets the segment go on with its I/O now.
	Proceed Decision = iota
	// Freeze parks the request. It is woken when a request in flight
	// completes (for a Blocker, the one it names) and then restarts from
	// the lookup, because the tables may have changed while it waited.
	Freeze
)

// String returns "proceed" or "freeze".
func (d Decision) String() string {
	if d == Freeze {
		return "freeze"
	}
	return "proceed"
}

// Policy decides, at the lookup of each request segment, whether it may
// proceed given the accesses already admitted and not yet completed.
//
// Decide must be a pure function of its arguments: no state, no I/O. The
// inFlight slice holds the admitted accesses of other requests (never
// a.Req's own), in admission order; a request keeps its accesses in flight
// until the whole request completes, as QED keeps an allocating write at
// the head of its queue until it completes. Decide must not retain or
// modify inFlight.
type Policy interface {
	// Name is the registry name, such as "freeze-any".
	Name() string
	// Decide returns Proceed or Freeze for access a.
	Decide(a Access, inFlight []Access) Decision
}

// A Blocker is a Policy that can name what holds a frozen access back, so
// that a frozen request waits on one request in flight instead of being
// reconsidered after every completion, as qcow2 waits on the one
// overlapping allocation and QED on the head of its allocating-write
// queue. Every registered policy is a Blocker.
type Blocker interface {
	Policy
	// BlockedBy returns the index in inFlight of an access that by itself
	// makes Decide freeze a, whatever else is or comes in flight; or -1 if
	// there is none (then a is reconsidered after every completion). It is
	// called only after Decide(a, inFlight) returned Freeze, and is pure
	// like Decide.
	BlockedBy(a Access, inFlight []Access) int
	// Covers reports whether access a in flight freezes every access that
	// b in flight freezes. When b's request completes and the first of
	// the requests waiting on it is admitted with an access that covers
	// b, the others go on waiting, on it, without being looked up again.
	// Pure like Decide.
	Covers(a, b Access) bool
}

// firstConflict returns the index of the first b in inFlight for which
// conflict(a, b) holds, or -1. Policies that freeze a exactly while some
// conflicting access is in flight use it for Decide and BlockedBy alike.
func firstConflict(a Access, inFlight []Access, conflict func(a, b Access) bool) int {
	for i, b := range inFlight {
		if conflict(a, b) {
			return i
		}
	}
	return -1
}

// freezeIf returns Freeze when a conflicting access was found (i >= 0).
func freezeIf(i int) Decision {
	if i >= 0 {
		return Freeze
	}
	return Proceed
}
