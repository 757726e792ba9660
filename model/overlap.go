package model

// Overlap is qcow2-style dependency tracking: an allocating write waits
// only for in-flight allocations of the same guest cluster, and a write
// that needs a new L2 table waits only for another one of the same L1
// entry. It is as parallel as allocation can be while each guest cluster
// still gets exactly one data cluster.
type Overlap struct{}

var overlapRegistration = Registration{
	Name:     "overlap",
	Policy:   Overlap{},
	Expect:   Safe,
	Parallel: true,
	Summary:  "qcow2-style: wait only for allocations of the same cluster or L1 entry",
}

// Name returns "overlap".
func (Overlap) Name() string { return "overlap" }

// Decide freezes an allocating a while an allocating access covering one of
// its clusters is in flight, and an AllocL2 a while another AllocL2 of the
// same L1 entry is in flight.
func (Overlap) Decide(a Access, inFlight []Access) Decision {
	if !a.Kind.Allocating() {
		return Proceed
	}
	for _, b := range inFlight {
		if !b.Kind.Allocating() {
			continue
		}
		if a.Overlaps(b) {
			return Freeze
		}
		if a.Kind == AllocL2 && b.Kind == AllocL2 && a.L1 == b.L1 {
			return Freeze
		}
	}
	return Proceed
}
