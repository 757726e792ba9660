package model

// PerTable is the design of QED's 2010 review rounds: a lock keyed by L2
// table. Allocating writes that update the same L2 table run one after
// another; those under different tables run in parallel. A write that
// needs a new L2 table is keyed by its L1 entry, which is the same key.
// It is safe only with ordered table writes: new tables of two L1 entries
// that share an L1 sector are linked together, and with snapshot table
// writes the older snapshot of that sector can land last.
type PerTable struct{}

var perTableRegistration = Registration{
	Name:           "per-table",
	Policy:         PerTable{},
	Expect:         Safe,
	ExpectSnapshot: Unsafe,
	Parallel:       true,
	Summary:        "allocating writes serialize per L2 table",
}

// Name returns "per-table".
func (PerTable) Name() string { return "per-table" }

// Decide freezes an allocating a while an allocating access under the same
// L1 entry is in flight.
func (PerTable) Decide(a Access, inFlight []Access) Decision {
	return freezeIf(firstConflict(a, inFlight, perTableConflict))
}

// BlockedBy returns the index of the first access in inFlight that
// conflicts with a, or -1.
func (PerTable) BlockedBy(a Access, inFlight []Access) int {
	return firstConflict(a, inFlight, perTableConflict)
}

// Covers reports whether b freezes nothing or a allocates under the same
// L1 entry.
func (PerTable) Covers(a, b Access) bool {
	return !b.Kind.Allocating() || (a.Kind.Allocating() && a.L1 == b.L1)
}

// perTableConflict: two allocating accesses under one L1 entry never run
// together.
func perTableConflict(a, b Access) bool {
	return a.Kind.Allocating() && b.Kind.Allocating() && a.L1 == b.L1
}
