package impl

import (
	"fmt"

	"github.com/qedharness/qedharness/model"
)

// Ready is what an Engine hands its driver: I/Os to issue, requests
// completed and requests woken, each in the order they happened. The
// slices belong to the engine and stay valid until the next call to
// Ready.
type Ready struct {
	// IOs are to be carried out and handed back to Complete, each once.
	IOs []*IO
	// Done are completed requests (Err set); the driver calls their
	// Done callbacks.
	Done []*Request
	// Woken are requests the policy had frozen and that looked up again
	// (each may freeze again); for traces only.
	Woken []*Request
}

// HasReady reports whether Ready would hand out an I/O or a completion.
func (e *Engine) HasReady() bool { return len(e.ios) > 0 || len(e.dones) > 0 }

// Ready returns the engine's outputs since the last call and starts
// collecting anew.
func (e *Engine) Ready() Ready {
	rd := Ready{IOs: e.ios, Done: e.dones, Woken: e.wokenReqs}
	clear(e.spareIOs)
	clear(e.spareDones)
	clear(e.spareWoken)
	e.ios, e.spareIOs = e.spareIOs[:0], e.ios
	e.dones, e.spareDones = e.spareDones[:0], e.dones
	e.wokenReqs, e.spareWoken = e.spareWoken[:0], e.wokenReqs
	return rd
}

// Header returns the image's header as the engine holds it.
func (e *Engine) Header() Header { return e.h }

// Geometry returns the image's geometry.
func (e *Engine) Geometry() Geometry { return e.g }

// Stats returns what the engine has done so far.
func (e *Engine) Stats() Stats { return e.stats }

// Policy returns the policy in force.
func (e *Engine) Policy() model.Policy { return e.policy }

// InFlight returns the number of requests submitted and not yet done.
func (e *Engine) InFlight() int { return e.active }

// WriteBack starts writing back the dirty table sectors not in flight,
// as a close must (a write-back batch: a flush, then the sector writes),
// and reports whether it issued anything. A driver closing the image
// calls it, runs the I/Os it issued to completion, and repeats until it
// returns false.
func (e *Engine) WriteBack() bool {
	m := &e.meta
	if m.dirty == 0 || m.err != nil {
		return false
	}
	m.startBatch(e)
	return true
}

// CleanClose is what a driver must do to a closed engine's image file,
// synchronously, to leave it clean.
type CleanClose struct {
	// Truncate, if not 0, is the size to cut the image file to: the end
	// of the last cluster in use, dropping space grown ahead and unused.
	Truncate uint64
	// Header, if not nil, is the header sector to write at offset 0
	// after a sync, with the need-check bit cleared; sync after it.
	Header []byte
}

// Close ends the engine once no request is in flight and every I/O was
// handed back: it returns its buffers to Options.Buffers and reports what
// a clean close of a writable image must do. An error (requests never
// completed, a table write-back failed) means the image must not be
// marked clean.
func (e *Engine) Close() (CleanClose, error) {
	if b := e.buffers; b != nil {
		b.give(&e.pool)
		b.putTable(e.l1)
		e.buffers, e.l1 = nil, nil
	}
	if e.active != 0 {
		return CleanClose{}, fmt.Errorf("close: %d requests never completed", e.active)
	}
	if e.meta.err != nil {
		return CleanClose{}, fmt.Errorf("close: write back L2 tables: %w", e.meta.err)
	}
	if e.readOnly {
		return CleanClose{}, nil
	}
	c := CleanClose{Truncate: e.keepSize()}
	if e.h.Features&FeatureNeedCheck != 0 {
		e.h.Features &^= FeatureNeedCheck
		copy(e.hdrSector, e.h.Encode())
		c.Header = e.hdrSector
	}
	return c, nil
}
