package model

// FreezeL2 is the patch proposed in the 2010 thread: only a write that must
// allocate an L2 table waits, and only for another such write. Two writes
// that allocate the same data cluster under an existing L2 table run
// together, each allocating its own cluster; the later L2 update hides the
// other's data. It is registered Unsafe and the checkers must show why.
type FreezeL2 struct{}

var freezeL2Registration = Registration{
	Name:     "freeze-l2",
	Policy:   FreezeL2{},
	Expect:   Unsafe,
	Parallel: true,
	Summary:  "proposed patch: only L2-table allocations wait, for each other",
}

// Name returns "freeze-l2".
func (FreezeL2) Name() string { return "freeze-l2" }

// Decide freezes an AllocL2 access while another AllocL2 is in flight.
func (FreezeL2) Decide(a Access, inFlight []Access) Decision {
	if a.Kind != AllocL2 {
		return Proceed
	}
	for _, b := range inFlight {
		if b.Kind == AllocL2 {
			return Freeze
		}
	}
	return Proceed
}
