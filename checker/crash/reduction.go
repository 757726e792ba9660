package crash

import (
	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/controlled"
)

// sleeper is a completion the reduction holds back (a sleep-set entry):
// the pending I/O ID, whether it writes the image, and whether its
// completion, when it was taken, submitted a flush.
type sleeper struct {
	id           uint64
	write, flush bool
}

// move is a pending completion as the reduction sees it.
type move struct {
	sleeper
	fp impl.Footprint
}

// independent reports whether completing m and s in either order leads
// to the same crash states: their footprints commute, and neither writes
// the image while the other submits a flush (the flush would cover the
// write in one order and not in the other). Whether a completion submits
// a flush is seen when it is taken: for m here, since explore replays m
// before it decides what sleeps below it; for s when it was taken at an
// ancestor. The footprint contract keeps s doing the same since, except
// for what the workload adds (a completion that now may finish a phase
// submits the next one); such a completion has Requests in its footprint
// as computed here (sfp), and every completion with Requests is assumed
// to submit a flush.
func independent(m move, s sleeper, sfp impl.Footprint) bool {
	return m.fp.Commutes(sfp) && !(m.write && (s.flush || sfp.Requests)) && !(m.flush && s.write)
}

// footprint returns what completing p touches, for the reduction: its
// footprint from the backend, and if the completion may finish the last
// open request of a phase with another to come, the conflicts of the
// next phase's requests entering the engine. Only a completion that may
// complete a request (Finish or Requests) can finish one; one serving a
// single request (guest data and flushes) finishes at most that one, so
// it ends the phase only when one request is open.
func (r *run) footprint(p controlled.PendingIO, w Workload) impl.Footprint {
	f := p.Footprint
	if !f.Finish || f.Requests || r.phase+1 >= len(w.Phases) {
		return f
	}
	single := p.Purpose == impl.PurposeData || p.Purpose == impl.PurposeFlush
	if !single || r.open <= 1 {
		f.Requests = true
	}
	return f
}
