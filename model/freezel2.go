package model

// FreezeL2 is the patch proposed in the 2010 thread: only a write that must
// allocate an L2 table waits, and only for another such write. Two writes
// that allocate the same data cluster under an existing L2 table run
// together, each allocating its own cluster; the later L2 update hides the
// other's data. It is registered Unsafe and the checkers must show why.
type FreezeL2 struct{}

var freezeL2Registration = Registration{
	Name:           "freeze-l2",
	Policy:         FreezeL2{},
	Expect:         Unsafe,
	ExpectSnapshot: Unsafe,
	Parallel:       true,
	Summary:        "proposed patch: only L2-table allocations wait, for each other",
}

// Name returns "freeze-l2".
func (FreezeL2) Name() string { return "freeze-l2" }

// Decide freezes an AllocL2 access while another AllocL2 is in flight.
func (FreezeL2) Decide(a Access, inFlight []Access) Decision {
	return freezeIf(firstConflict(a, inFlight, freezeL2Conflict))
}

// BlockedBy returns the index of the first access in inFlight that
// conflicts with a, or -1.
func (FreezeL2) BlockedBy(a Access, inFlight []Access) int {
	return firstConflict(a, inFlight, freezeL2Conflict)
}

// Covers reports whether b freezes nothing or a allocates an L2 table too.
func (FreezeL2) Covers(a, b Access) bool {
	return b.Kind != AllocL2 || a.Kind == AllocL2
}

// freezeL2Conflict: two L2-table allocations never run together.
func freezeL2Conflict(a, b Access) bool {
	return a.Kind == AllocL2 && b.Kind == AllocL2
}
