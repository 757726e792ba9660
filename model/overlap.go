package model

// Overlap is qcow2-style dependency tracking: an allocating write waits
// only for in-flight allocations of the same guest cluster, and a write
// that needs a new L2 table waits only for another one of the same L1
// entry. It is as parallel as allocation can be while each guest cluster
// still gets exactly one data cluster. It is safe only with ordered table
// writes: two allocations whose entries share a table sector may be in
// flight together, and with snapshot table writes the older snapshot of
// the sector can land last and drop the newer entry.
type Overlap struct{}

var overlapRegistration = Registration{
	Name:           "overlap",
	Policy:         Overlap{},
	Expect:         Safe,
	ExpectSnapshot: Unsafe,
	Parallel:       true,
	Summary:        "qcow2-style: wait only for allocations of the same cluster or L1 entry",
}

// Name returns "overlap".
func (Overlap) Name() string { return "overlap" }

// Decide freezes an allocating a while an allocating access covering one of
// its clusters is in flight, and an AllocL2 a while another AllocL2 of the
// same L1 entry is in flight.
func (Overlap) Decide(a Access, inFlight []Access) Decision {
	return freezeIf(firstConflict(a, inFlight, overlapConflict))
}

// BlockedBy returns the index of the first access in inFlight that
// conflicts with a, or -1.
func (Overlap) BlockedBy(a Access, inFlight []Access) int {
	return firstConflict(a, inFlight, overlapConflict)
}

// Covers reports whether b freezes nothing, or a allocates every cluster b
// does and, if b allocates an L2 table, the same one.
func (Overlap) Covers(a, b Access) bool {
	if !b.Kind.Allocating() {
		return true
	}
	if !a.Kind.Allocating() || a.First > b.First || a.First+a.Count < b.First+b.Count {
		return false
	}
	return b.Kind != AllocL2 || (a.Kind == AllocL2 && a.L1 == b.L1)
}

// overlapConflict: allocations of a common guest cluster, or of a new L2
// table for the same L1 entry, never run together.
func overlapConflict(a, b Access) bool {
	if !a.Kind.Allocating() || !b.Kind.Allocating() {
		return false
	}
	return a.Overlaps(b) || (a.Kind == AllocL2 && b.Kind == AllocL2 && a.L1 == b.L1)
}
