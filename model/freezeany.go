package model

// FreezeAny is QED as merged: an allocating write waits while any other
// allocating write is in flight. Reads and rewrites are never held.
type FreezeAny struct{}

var freezeAnyRegistration = Registration{
	Name:           "freeze-any",
	Policy:         FreezeAny{},
	Expect:         Safe,
	ExpectSnapshot: Safe,
	Summary:        "QED as merged: one allocating write at a time",
}

// Name returns "freeze-any".
func (FreezeAny) Name() string { return "freeze-any" }

// Decide freezes an allocating a while any allocating access is in flight.
func (FreezeAny) Decide(a Access, inFlight []Access) Decision {
	return freezeIf(firstConflict(a, inFlight, freezeAnyConflict))
}

// BlockedBy returns the index of the first access in inFlight that
// conflicts with a, or -1.
func (FreezeAny) BlockedBy(a Access, inFlight []Access) int {
	return firstConflict(a, inFlight, freezeAnyConflict)
}

// Covers reports whether b freezes nothing or a allocates too.
func (FreezeAny) Covers(a, b Access) bool {
	return !b.Kind.Allocating() || a.Kind.Allocating()
}

// freezeAnyConflict: two allocating accesses never run together.
func freezeAnyConflict(a, b Access) bool {
	return a.Kind.Allocating() && b.Kind.Allocating()
}
