package impl

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/model"
)

// This file holds what a driver that chooses completion orders (an
// explorer) may ask the engine: what completing an I/O touches, the I/O in
// domain words, and a hash of the state later requests can observe. It
// reads, never changes, the engine.

// Footprint says what completing an I/O touches: bytes of storage, and
// the parts of the engine's state its completion handler reads or writes.
// Two completions whose footprints are disjoint (Commutes) lead to the
// same state in either order, up to the numbering of the I/Os they
// issue, so an explorer need try only one of the two orders.
type Footprint struct {
	// File, Off and Len give the bytes the I/O reads or writes (Len 0 for
	// a flush, which changes no bytes of storage here); Write says it
	// writes them.
	File  File
	Off   uint64
	Len   uint64
	Write bool
	// Requests: the completion may look up tables for a request and
	// admit, freeze or start it, or wake frozen ones, which then do so.
	// It conflicts with every other engine effect.
	Requests bool
	// Finish: the completion may complete requests, waking none; such
	// completions commute with each other and with table updates.
	Finish bool
	// Alloc: the completion allocates clusters or a table at the end of
	// the file.
	Alloc bool
	// MetaOff and MetaLen give the table sectors (file offsets of L1 or
	// L2 table sectors) whose cached entries or metadata-writer state the
	// completion changes; MetaLen 0 for none.
	MetaOff, MetaLen uint64
}

// Commutes reports whether completing f and g in either order gives the
// same state.
func (f Footprint) Commutes(g Footprint) bool {
	if f.Len > 0 && g.Len > 0 && f.File == g.File && (f.Write || g.Write) &&
		f.Off < g.Off+g.Len && g.Off < f.Off+f.Len {
		return false
	}
	fe := f.Requests || f.Finish || f.Alloc || f.MetaLen > 0
	ge := g.Requests || g.Finish || g.Alloc || g.MetaLen > 0
	if (f.Requests && ge) || (g.Requests && fe) {
		return false
	}
	if f.Alloc && g.Alloc {
		return false
	}
	if f.MetaLen > 0 && g.MetaLen > 0 && f.MetaOff < g.MetaOff+g.MetaLen && g.MetaOff < f.MetaOff+f.MetaLen {
		return false
	}
	return true
}

// EngineFootprint is the footprint of an action that enters the engine
// from outside, such as submitting a request or reopening the image: it
// commutes only with completions that touch storage alone.
func EngineFootprint() Footprint { return Footprint{Requests: true} }

// entrySector returns the file offset of the table sector holding entry
// idx of the table at tableOff.
func entrySector(tableOff, idx uint64) uint64 { return tableOff + idx*8/SectorSize*SectorSize }

// Footprint returns what completing io, an I/O the engine issued and
// has not been handed back, touches, from the step the
// engine will resume and the request it belongs to. Where it cannot tell,
// it claims more, never less.
func (e *Engine) Footprint(io *IO) Footprint {
	f := Footprint{File: io.File, Off: io.Off, Write: io.Op == OpWrite || io.Op == OpWriteZeroes}
	switch io.Op {
	case OpRead, OpWrite:
		f.Len = uint64(len(io.Buf))
	case OpWriteZeroes:
		f.Len = io.Len
	}
	updateL2 := func() {
		rq := io.owner
		if rq == nil {
			f.Requests = true
			return
		}
		switch {
		case rq.acc.Kind == model.AllocL2:
			f.Alloc = true
		case rq.table != nil:
			f.MetaOff, f.MetaLen = entrySector(rq.table.off, e.g.L2Index(rq.pos)), SectorSize
		default:
			f.Requests = true
		}
	}
	switch io.step {
	case stepFillRead, stepZeroFill:
		// Copies into the request's own buffer, or not, and issues its
		// data write.
	case stepMetaFlush:
		// Writes the batch and lets the parked updates go on.
		f.Requests = true
	case stepGrow:
		// The file grew (no one reads or writes the new space while the
		// grow is in flight): the allocations waiting for it issue their
		// writes, with no lookup, and another grow may follow.
		f.Alloc = true
	case stepAllocData:
		// With a backing file a flush comes first, but for a write-back
		// update of an existing table, made at once (or parked while a
		// batch's flush is in flight).
		if !e.backing || e.meta.writeBack && (io.owner == nil || io.owner.acc.Kind != model.AllocL2) {
			updateL2()
		}
	case stepPreL2Flush:
		updateL2()
	case stepNewTable:
		if rq := io.owner; rq != nil {
			f.MetaOff, f.MetaLen = entrySector(e.h.L1TableOffset, e.g.L1Index(rq.pos)), SectorSize
		} else {
			f.Requests = true
		}
	case stepHeader, stepHeaderClear:
		f.Alloc = true
	case stepMeta:
		f.MetaOff, f.MetaLen = io.Off, uint64(len(io.Buf))
		f.Finish = true
		if mw := io.meta; mw != nil && mw.waiter != nil {
			// An unordered write (Options.UnorderedMetadata) serves its
			// one request and no sector state. Its bytes overlap those of
			// any other write of the same sector, so two such writes never
			// commute: they land in either order.
			if !lastSegment(mw.waiter) {
				f.Requests = true
			}
			break
		}
		for off := io.Off; off < io.Off+uint64(len(io.Buf)); off += SectorSize {
			if ms := e.meta.sectors[off]; ms != nil {
				for _, w := range ms.waiters {
					if !lastSegment(w.rq) {
						f.Requests = true
					}
				}
			}
		}
	case stepAdvance, stepFlush:
		f.Finish = true
		// A quiet guest flush may clear the need-check bit: a header
		// write, ordered against those that set it.
		f.Alloc = io.step == stepFlush
		if rq := io.owner; rq == nil || !lastSegment(rq) {
			f.Requests = true
		}
	default: // table reads
		f.Requests = true
	}
	if f.Finish && e.nFrozen > 0 {
		// Completing a request wakes the frozen ones, which look up.
		f.Requests = true
	}
	return f
}

// lastSegment reports whether rq completes when its current segment
// does, instead of looking up the next.
func lastSegment(rq *request) bool {
	return rq.r.Op == ReqFlush || rq.pos+rq.segLen >= rq.end
}

// Describe renders io, an I/O the engine issued, in domain words without
// naming the request it serves: "data write of the new cluster at 0x5000
// (with fill)".
func (e *Engine) Describe(io *IO) string {
	switch io.step {
	case stepTableRead:
		return fmt.Sprintf("read of the L2 table at %#x", io.Off)
	case stepAdvance:
		switch {
		case io.File == BackingFile:
			return fmt.Sprintf("read of the backing file at %#x+%d", io.Off, len(io.Buf))
		case io.Op == OpRead:
			return fmt.Sprintf("read of the cluster at %#x (bytes %#x+%d)", e.g.StartOfCluster(io.Off), io.Off, len(io.Buf))
		case io.Op == OpWriteZeroes:
			return fmt.Sprintf("in-place write-zeroes of the cluster at %#x (bytes %#x+%d)", e.g.StartOfCluster(io.Off), io.Off, io.Len)
		default:
			return fmt.Sprintf("in-place write of the cluster at %#x (bytes %#x+%d)", e.g.StartOfCluster(io.Off), io.Off, len(io.Buf))
		}
	case stepFillRead:
		return "backing read for the copy-on-write fill"
	case stepAllocData:
		start := e.g.StartOfCluster(io.Off)
		switch {
		case io.Op == OpWriteZeroes:
			return fmt.Sprintf("write-zeroes to the end of the new cluster at %#x (bytes %#x+%d)", start, io.Off, io.Len)
		case io.Off == start && uint64(len(io.Buf))%e.g.ClusterSize == 0:
			return fmt.Sprintf("data write of the new cluster at %#x (with fill)", io.Off)
		}
		return fmt.Sprintf("data write into the new cluster at %#x (bytes %#x+%d; the rest reads as zeros)", start, io.Off, len(io.Buf))
	case stepZeroFill:
		return fmt.Sprintf("write-zeroes of the new cluster at %#x", io.Off)
	case stepSparseTail:
		return fmt.Sprintf("data write into the new cluster at %#x (bytes %#x+%d; zeros to its end follow)", e.g.StartOfCluster(io.Off), io.Off, len(io.Buf))
	case stepGrow:
		return fmt.Sprintf("growth of the image file to %#x", io.Off)
	case stepMetaFlush:
		return "flush before writing back L2 table sectors"
	case stepPreL2Flush:
		return "flush before the L2 update"
	case stepNewTable:
		return fmt.Sprintf("write of the new L2 table at %#x (%s)", io.Off, entriesText(io.Buf, "L2", true))
	case stepFlush:
		return "flush"
	case stepHeader:
		return "header write setting the need-check bit"
	case stepHeaderClear:
		return "header write clearing the need-check bit"
	case stepMeta:
		if io.Purpose == PurposeL1Write {
			base := (io.Off - e.h.L1TableOffset) / 8
			return fmt.Sprintf("write of the L1 table sector (%s)", entriesAt(io.Buf, "L1", base, true))
		}
		if e.g.TableSize == 1 {
			// One-cluster tables start at their cluster's start.
			table := e.g.StartOfCluster(io.Off)
			return fmt.Sprintf("write of the L2 table sector at %#x of the table at %#x (%s)", io.Off, table, entriesAt(io.Buf, "L2", (io.Off-table)/8, true))
		}
		return fmt.Sprintf("write of the L2 table sector at %#x (%s)", io.Off, entriesAt(io.Buf, "entry +", 0, true))
	}
	return io.String()
}

// entriesText renders the non-zero entries of a table buffer.
func entriesText(buf []byte, name string, skipZero bool) string {
	return entriesAt(buf, name, 0, skipZero)
}

func entriesAt(buf []byte, name string, base uint64, skipZero bool) string {
	var parts []string
	for i := 0; i+8 <= len(buf); i += 8 {
		v := binary.LittleEndian.Uint64(buf[i:])
		if v == 0 && skipZero {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s[%d] = %#x", name, base+uint64(i/8), v))
	}
	if len(parts) == 0 {
		return "all entries 0"
	}
	return strings.Join(parts, ", ")
}

// StateHash returns a hash of the engine's table state: the
// cached L1 table, every cached L2 table's entries, the allocation
// point and the header's feature bits. At a quiescent point that and the
// storage are all of the engine's state that later requests can observe.
func (e *Engine) StateHash() uint64 {
	h := uint64(14695981039346656037) // FNV-1a offset basis
	mix := func(v uint64) {
		h = (h ^ v) * 0xbf58476d1ce4e5b9
		h ^= h >> 29
	}
	mix(e.fileSize)
	mix(e.h.Features)
	for _, v := range e.l1 {
		mix(v)
	}
	// Tables in offset order, so the hash does not depend on map order.
	offs := make([]uint64, 0, len(e.cache.tables))
	for off := range e.cache.tables {
		offs = append(offs, off)
	}
	slices.Sort(offs)
	for _, off := range offs {
		t := e.cache.tables[off]
		mix(off)
		for _, v := range t.entries {
			mix(v)
		}
	}
	return h
}
