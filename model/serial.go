package model

// Serial admits one request at a time, whatever it does: the floor every
// other policy is measured against.
type Serial struct{}

var serialRegistration = Registration{
	Name:    "serial",
	Policy:  Serial{},
	Expect:  Safe,
	Summary: "one request in flight at a time",
}

// Name returns "serial".
func (Serial) Name() string { return "serial" }

// Decide freezes a while any other request is in flight.
func (Serial) Decide(a Access, inFlight []Access) Decision {
	if len(inFlight) > 0 {
		return Freeze
	}
	return Proceed
}
