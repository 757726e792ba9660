package impl

import (
	"fmt"
	"slices"
)

// metaWriter writes changed table sectors to disk in order. At most one
// write per sector is in flight; an update made while a sector's write is
// in flight is written by a later write holding the newest content, so two
// writes of one sector never race and the disk converges to the cache.
// Without this, two concurrent updates of one L2 sector could land in
// either order and the older would hide the newer after a reopen.
//
// With write-back (Options.Metadata, MetaWriteBack, the default) an L2
// entry update does not wait for its sector's write: the request
// completes once its data is written and the cached table updated, as
// with qcow2's metadata cache, and dirty sectors are written in batches:
// before a guest flush completes, when maxDirtySectors are dirty or dirty
// tables hold the L2 cache over its capacity, and at close. Many updates of one sector then cost one write.
// With a backing file a batch starts with a flush, so that the data its
// entries point at (copy-on-write fills included) is durable first, and
// updates wait while that flush is in flight (parked), so a batch never
// holds an entry whose data it did not flush. L1 updates (a new L2 table's
// link) are always written through.
type metaWriter struct {
	sectors map[uint64]*metaSector // keyed by file offset

	writeBack bool
	dirty     int        // sectors updated since their last write was issued
	preFlush  bool       // a batch's flush (backing file) is in flight
	parked    []*request // updates waiting for that flush
	err       error      // the last failed write-back, for Close
}

// maxDirtySectors bounds the dirty sectors write-back keeps (and so the
// L2 tables it pins in the cache): 4096 sectors, 2 MiB of tables.
const maxDirtySectors = 4096

// metaSector is the write state of one 512-byte table sector.
type metaSector struct {
	gen      uint64 // bumped by every update
	issued   uint64 // gen of the content in the write in flight (or last)
	stable   uint64 // gen known to be on disk
	inflight bool
	table    uint64 // file offset of the table holding the sector
	l1       bool   // the table is the L1 table
	waiters  []metaWaiter
}

type metaWaiter struct {
	rq  *request
	gen uint64
}

// metaWrite is the bookkeeping of one metadata write I/O.
type metaWrite struct {
	first uint64   // file offset of the first sector
	gens  []uint64 // gen written, per sector
	// waiter is the one request an unordered write serves
	// (Options.UnorderedMetadata); nil for ordered writes.
	waiter *request
}

// update records that entries [first, first+n) of the table at tableOff
// changed and makes rq wait until a write holding the change is stable.
func (m *metaWriter) update(e *Engine, rq *request, tableOff uint64, l1 bool, first, n uint64) {
	if e.unorderedMeta {
		m.writeUnordered(e, rq, tableOff, l1, first, n)
		return
	}
	if m.sectors == nil {
		m.sectors = make(map[uint64]*metaSector)
	}
	s0 := tableOff + first*8/SectorSize*SectorSize
	s1 := tableOff + ((first+n)*8-1)/SectorSize*SectorSize
	through := !m.writeBack || l1
	for s := s0; s <= s1; s += SectorSize {
		ms := m.sectors[s]
		if ms == nil {
			ms = e.pool.getSector()
			ms.table, ms.l1 = tableOff, l1
			m.sectors[s] = ms
			if !l1 {
				e.cache.tables[tableOff].pins++
			}
		}
		if ms.gen == ms.issued {
			m.dirty++
		}
		ms.gen++
		if through {
			ms.waiters = append(ms.waiters, metaWaiter{rq, ms.gen})
			rq.pendingMeta++
		}
	}
	switch {
	case through:
		m.issue(e, s0, s1)
	case m.dirty >= maxDirtySectors || len(e.cache.tables) > e.cache.capacity:
		// Too much dirty, or dirty tables keep the L2 cache over its
		// capacity: write them back, so they can be evicted.
		m.startBatch(e)
	}
}

// startBatch starts writing every dirty sector back: with a backing file
// by a flush first (unless one is in flight, whose completion writes
// them), without one at once.
func (m *metaWriter) startBatch(e *Engine) {
	if m.preFlush {
		return
	}
	if e.backing {
		m.preFlush = true
		e.emit(e.newIO(0, OpFlush, ImageFile, 0, nil, PurposeFlush, stepMetaFlush))
		return
	}
	m.issueDirty(e)
}

// issueDirty writes each run of dirty sectors not in flight, in file
// order; a sector in flight is written again when its write completes,
// if a guest flush waits for it.
func (m *metaWriter) issueDirty(e *Engine) {
	if m.dirty == 0 {
		return
	}
	var offs []uint64
	for off, ms := range m.sectors {
		if ms.gen != ms.issued && !ms.inflight {
			offs = append(offs, off)
		}
	}
	slices.Sort(offs)
	for i := 0; i < len(offs); {
		j := i + 1
		for j < len(offs) && offs[j] == offs[j-1]+SectorSize && m.sectors[offs[j]].table == m.sectors[offs[i]].table {
			j++
		}
		m.write(e, m.sectors[offs[i]], offs[i], offs[j-1]+SectorSize)
		i = j
	}
}

// waitStable makes the guest flush rq wait until every sector updated so
// far is on disk, starting a batch for the dirty ones; it reports whether
// rq has anything to wait for.
func (m *metaWriter) waitStable(e *Engine, rq *request) bool {
	for _, ms := range m.sectors {
		if ms.gen != ms.stable {
			ms.waiters = append(ms.waiters, metaWaiter{rq, ms.gen})
			rq.pendingMeta++
		}
	}
	if rq.pendingMeta == 0 {
		return false
	}
	m.startBatch(e)
	return true
}

// batchFlushed consumes a batch's flush: the dirty sectors, whose data it
// made durable, are written, then the parked updates go on.
func (e *Engine) batchFlushed(io *IO) {
	m := &e.meta
	err := io.Err
	e.putIO(io)
	m.preFlush = false
	if err == nil {
		m.issueDirty(e)
	}
	parked := m.parked
	m.parked = nil
	for _, rq := range parked {
		switch {
		case rq.finished:
		case err != nil:
			e.finish(rq, fmt.Errorf("flush before writing L2 tables: %w", err))
		default:
			e.updateL2(rq)
		}
	}
	if err != nil {
		// The guest flushes waiting fail too; the sectors stay dirty.
		m.err = err
		for off, ms := range m.sectors {
			for _, w := range ms.waiters {
				if !w.rq.finished {
					e.finish(w.rq, fmt.Errorf("write table sector at %#x: flush before it: %w", off, err))
				}
			}
			clear(ms.waiters)
			ms.waiters = ms.waiters[:0]
		}
	}
}

// issue writes each run of dirty, idle sectors in [s0, s1] as one I/O.
func (m *metaWriter) issue(e *Engine, s0, s1 uint64) {
	for s := s0; s <= s1; {
		ms := m.sectors[s]
		if ms == nil || ms.inflight || ms.gen == ms.issued {
			s += SectorSize
			continue
		}
		end := s + SectorSize
		for end <= s1 {
			next := m.sectors[end]
			if next == nil || next.inflight || next.gen == next.issued {
				break
			}
			end += SectorSize
		}
		m.write(e, ms, s, end)
		s = end
	}
}

func (m *metaWriter) write(e *Engine, first *metaSector, s, end uint64) {
	buf := e.pool.get(int(end - s))
	var entries []uint64
	if first.l1 {
		entries = e.l1
	} else {
		entries = e.cache.tables[first.table].entries
	}
	base := (s - first.table) / 8
	encodeTable(buf, entries[base:base+uint64(len(buf))/8])
	mw := e.pool.getWrite()
	mw.first = s
	for off := s; off < end; off += SectorSize {
		ms := m.sectors[off]
		if ms.gen != ms.issued {
			m.dirty--
		}
		ms.inflight = true
		ms.issued = ms.gen
		mw.gens = append(mw.gens, ms.gen)
	}
	p := PurposeL2Write
	if first.l1 {
		p = PurposeL1Write
	}
	io := e.newIO(0, OpWrite, ImageFile, s, buf, p, stepMeta)
	io.meta = mw
	io.pooled = true
	e.emit(io)
}

// writeUnordered writes the changed sectors at once, whatever is in
// flight: the naive scheme, kept so checkers can show why ordering matters.
func (m *metaWriter) writeUnordered(e *Engine, rq *request, tableOff uint64, l1 bool, first, n uint64) {
	s0 := tableOff + first*8/SectorSize*SectorSize
	end := tableOff + ((first+n)*8-1)/SectorSize*SectorSize + SectorSize
	entries := e.l1
	p := PurposeL1Write
	if !l1 {
		entries = e.cache.tables[tableOff].entries
		p = PurposeL2Write
	}
	buf := e.pool.get(int(end - s0))
	base := (s0 - tableOff) / 8
	encodeTable(buf, entries[base:base+uint64(len(buf))/8])
	mw := e.pool.getWrite()
	mw.first, mw.waiter = s0, rq
	rq.pendingMeta++
	io := e.newIO(rq.r.ID, OpWrite, ImageFile, s0, buf, p, stepMeta)
	io.meta = mw
	io.pooled = true
	e.emit(io)
}

// written consumes a completed metadata write: it wakes the requests whose
// updates are now stable and writes sectors that changed meanwhile.
func (e *Engine) metaWritten(io *IO) {
	m := &e.meta
	mw := io.meta
	err := io.Err
	e.putIO(io)
	if rq := mw.waiter; rq != nil {
		mw.waiter = nil
		e.pool.putWrite(mw)
		switch {
		case rq.finished:
		case err != nil:
			e.finish(rq, fmt.Errorf("write table sector at %#x: %w", mw.first, err))
		default:
			rq.pendingMeta--
			if rq.pendingMeta == 0 {
				e.metaDone(rq)
			}
		}
		return
	}
	for i, gen := range mw.gens {
		off := mw.first + uint64(i)*SectorSize
		ms := m.sectors[off]
		ms.inflight = false
		switch {
		case err == nil:
			ms.stable = gen
		case m.writeBack && !ms.l1:
			// Not on disk: dirty again, for the next batch to retry;
			// Close reports the error if none succeeds.
			m.err = fmt.Errorf("write table sector at %#x: %w", off, err)
			if ms.gen == ms.issued {
				m.dirty++
			}
			ms.issued = ms.stable
		}
		kept := ms.waiters[:0]
		for _, w := range ms.waiters {
			switch {
			case w.rq.finished:
			case err != nil && w.gen <= gen:
				e.finish(w.rq, fmt.Errorf("write table sector at %#x: %w", off, err))
			case w.gen <= ms.stable:
				w.rq.pendingMeta--
				if w.rq.pendingMeta == 0 {
					e.metaDone(w.rq)
				}
			default:
				kept = append(kept, w)
			}
		}
		clear(ms.waiters[len(kept):])
		ms.waiters = kept
		switch {
		case ms.gen != ms.issued && (!m.writeBack || ms.l1):
			m.issue(e, off, off)
		case ms.gen != ms.issued:
			// Write-back: dirty again; the next batch writes it, now if
			// a guest flush waits for it.
			if len(ms.waiters) > 0 {
				m.startBatch(e)
			}
		case len(ms.waiters) == 0:
			delete(m.sectors, off)
			if !ms.l1 {
				if t := e.cache.tables[ms.table]; t != nil {
					e.cache.unpin(t)
				}
			}
			e.pool.putSector(ms)
		}
	}
	e.pool.putWrite(mw)
}
