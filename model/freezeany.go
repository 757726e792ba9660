package model

// FreezeAny is QED as merged: an allocating write waits while any other
// allocating write is in flight. Reads and rewrites are never held.
type FreezeAny struct{}

var freezeAnyRegistration = Registration{
	Name:    "freeze-any",
	Policy:  FreezeAny{},
	Expect:  Safe,
	Summary: "QED as merged: one allocating write at a time",
}

// Name returns "freeze-any".
func (FreezeAny) Name() string { return "freeze-any" }

// Decide freezes an allocating a while any allocating access is in flight.
func (FreezeAny) Decide(a Access, inFlight []Access) Decision {
	if !a.Kind.Allocating() {
		return Proceed
	}
	for _, b := range inFlight {
		if b.Kind.Allocating() {
			return Freeze
		}
	}
	return Proceed
}
