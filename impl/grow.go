package impl

import "fmt"

// Growth of the image file ahead of allocation (Options.Grow, GrowAhead).
//
// Allocation hands out file space at the allocation point (fileSize); with
// growth on, an allocation may use it only once the file extends past it,
// so no data write ever moves the file's size. The engine grows the file
// with OpGrow in chunks: a grow extends the file growChunk past the space
// asked for, and the chunk doubles with each grow from growChunkClusters clusters to
// growChunkMax, so a small image grows little and a busy one rarely. A
// grow is issued ahead, when allocation has used half of what the last
// grow added, so that allocations seldom wait; an allocation
// past the end waits in growWaiters for the grow that covers it. The file
// never grows past maxFileEnd, what the image could ever need.
const (
	growChunkClusters = 16       // the first chunk, in clusters (1 MiB of 64 KiB clusters)
	growChunkMax      = 64 << 20 // the largest chunk, in bytes
)

// growKind is what an allocation waiting for growth does next.
type growKind uint8

const (
	growNone  growKind = iota
	growData           // write the segment's new data clusters
	growTable          // write the segment's new L2 table
)

// room reports whether the file extends to end, the end of space rq was
// just allocated, so that rq may write there now. If not, rq waits for a
// grow, and its next step is kind when the file does. Either way it grows
// the file ahead when the allocation point nears its end.
func (e *Engine) room(rq *request, end uint64, kind growKind) bool {
	if !e.growOn || end <= e.grownEnd {
		e.growAhead()
		return true
	}
	rq.growKind, rq.growEnd = kind, end
	e.growWaiters = append(e.growWaiters, rq)
	e.growTo(end)
	return false
}

// growAhead issues a grow when none is in flight and allocation has used
// half of what the last grow added.
func (e *Engine) growAhead() {
	if e.growOn && e.growTarget == 0 && e.lastGrow > 0 && e.grownEnd < e.maxFileEnd && e.fileSize+e.lastGrow/2 > e.grownEnd {
		e.growTo(e.fileSize)
	}
}

// growTo issues a grow that covers end and a chunk past the allocation
// point, unless one is in flight (its completion issues the next).
func (e *Engine) growTo(end uint64) {
	if e.growTarget != 0 {
		return
	}
	target := min(e.maxFileEnd, e.fileSize+e.growChunk)
	target = max(target, end, e.grownEnd)
	target = (target + e.g.ClusterSize - 1) &^ (e.g.ClusterSize - 1)
	if target <= e.grownEnd {
		return
	}
	e.growTarget, e.lastGrow = target, target-e.grownEnd
	e.growChunk = min(2*e.growChunk, growChunkMax)
	e.emit(e.newIO(0, OpGrow, ImageFile, target, nil, PurposeGrow, stepGrow))
}

// grown consumes a completed grow: the allocations it covers go on; a
// failure fails the ones that needed it, and no grow follows until an
// allocation needs one.
func (e *Engine) grown(io *IO) {
	err, target := io.Err, io.Off
	e.putIO(io)
	e.growTarget = 0
	if err == nil {
		e.grownEnd = max(e.grownEnd, target)
	}
	waiters := e.growWaiters
	e.growWaiters = nil
	for _, rq := range waiters {
		switch {
		case rq.finished:
		case rq.growEnd <= e.grownEnd:
			kind := rq.growKind
			rq.growKind = growNone
			if kind == growTable {
				e.writeNewTable(rq)
			} else {
				e.writeNewData(rq)
			}
		case err != nil:
			rq.growKind = growNone
			e.finish(rq, fmt.Errorf("grow the image file to %#x: %w", target, err))
		default:
			e.growWaiters = append(e.growWaiters, rq)
		}
	}
	switch {
	case len(e.growWaiters) > 0:
		e.growTo(e.growWaiters[0].growEnd)
	case err != nil:
		// No growth ahead after a failure (a full disk would be asked
		// again and again with nothing waiting): the next allocation past
		// the end asks, with the first chunk size again.
		e.lastGrow = 0
		e.growChunk = min(growChunkClusters*e.g.ClusterSize, growChunkMax)
	default:
		e.growAhead()
	}
}

// keepSize returns the size a clean close cuts the file back to: the end
// of the space allocated, or the size the file had at open if larger
// (unless the open found a leaked tail, which it reclaims). It returns 0
// when there is nothing to cut.
func (e *Engine) keepSize() uint64 {
	switch {
	case e.reclaimed:
		if e.fileSize < max(e.grownEnd, e.openSize) {
			return e.fileSize
		}
		return 0
	case e.grownEnd <= e.openSize:
		return 0
	}
	return max(e.fileSize, e.openSize)
}
