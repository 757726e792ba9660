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
	// completes and then restarts from the lookup, because the tables may
	// have changed while it waited.
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
