package model

// Serial admits one request at a time, whatever it does: the floor every
// other policy is measured against.
type Serial struct{}

var serialRegistration = Registration{
	Name:           "serial",
	Policy:         Serial{},
	Expect:         Safe,
	ExpectSnapshot: Safe,
	Summary:        "one request in flight at a time",
}

// Name returns "serial".
func (Serial) Name() string { return "serial" }

// Decide freezes a while any other request is in flight.
func (Serial) Decide(a Access, inFlight []Access) Decision {
	return freezeIf(firstConflict(a, inFlight, serialConflict))
}

// BlockedBy returns the index of the first access in inFlight that
// conflicts with a, or -1.
func (Serial) BlockedBy(a Access, inFlight []Access) int {
	return firstConflict(a, inFlight, serialConflict)
}

// Covers is always true: any access in flight freezes every other.
func (Serial) Covers(a, b Access) bool {
	return true
}

// serialConflict: every access in flight holds every other back.
func serialConflict(a, b Access) bool {
	return true
}
