package model

// PerTable is the design of QED's 2010 review rounds: a lock keyed by L2
// table. Allocating writes that update the same L2 table run one after
// another; those under different tables run in parallel. A write that
// needs a new L2 table is keyed by its L1 entry, which is the same key.
type PerTable struct{}

var perTableRegistration = Registration{
	Name:     "per-table",
	Policy:   PerTable{},
	Expect:   Safe,
	Parallel: true,
	Summary:  "allocating writes serialize per L2 table",
}

// Name returns "per-table".
func (PerTable) Name() string { return "per-table" }

// Decide freezes an allocating a while an allocating access under the same
// L1 entry is in flight.
func (PerTable) Decide(a Access, inFlight []Access) Decision {
	if !a.Kind.Allocating() {
		return Proceed
	}
	for _, b := range inFlight {
		if b.Kind.Allocating() && b.L1 == a.L1 {
			return Freeze
		}
	}
	return Proceed
}
