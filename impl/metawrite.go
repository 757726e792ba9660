package impl

import "fmt"

// metaWriter writes changed table sectors to disk in order. At most one
// write per sector is in flight; an update made while a sector's write is
// in flight is written by a later write holding the newest content, so two
// writes of one sector never race and the disk converges to the cache.
// Without this, two concurrent updates of one L2 sector could land in
// either order and the older would hide the newer after a reopen.
type metaWriter struct {
	sectors map[uint64]*metaSector // keyed by file offset
}

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
func (m *metaWriter) update(e *engine, rq *request, tableOff uint64, l1 bool, first, n uint64) {
	if e.unorderedMeta {
		m.writeUnordered(e, rq, tableOff, l1, first, n)
		return
	}
	if m.sectors == nil {
		m.sectors = make(map[uint64]*metaSector)
	}
	s0 := tableOff + first*8/SectorSize*SectorSize
	s1 := tableOff + ((first+n)*8-1)/SectorSize*SectorSize
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
		ms.gen++
		ms.waiters = append(ms.waiters, metaWaiter{rq, ms.gen})
		rq.pendingMeta++
	}
	m.issue(e, s0, s1)
}

// issue writes each run of dirty, idle sectors in [s0, s1] as one I/O.
func (m *metaWriter) issue(e *engine, s0, s1 uint64) {
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

func (m *metaWriter) write(e *engine, first *metaSector, s, end uint64) {
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
func (m *metaWriter) writeUnordered(e *engine, rq *request, tableOff uint64, l1 bool, first, n uint64) {
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
func (e *engine) metaWritten(io *IO) {
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
		if err == nil {
			ms.stable = gen
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
		case ms.gen != ms.issued:
			m.issue(e, off, off)
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
