package impl

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/model"
)

// ControlledBackend is a Backend whose caller decides which pending I/O
// completes next: the explorer in checker/ uses it to run the real engine
// under every completion order. An I/O takes effect on storage only when
// it completes, so two writes in flight to the same bytes land in the
// order chosen, and a read sees the storage as it is when it completes.
//
// Complete performs the chosen I/O and queues it for Next; Next returns
// queued I/Os first and otherwise completes the oldest pending one, so
// Image.Run and Image.Close still drain the backend (in submission order).
// Every Submit and completion is folded into a trace hash, so two runs
// can be compared bit for bit. A ControlledBackend is not safe for
// concurrent use.
type ControlledBackend struct {
	files   Files
	pending []*IO // submitted, not completed, in submission order
	ready   []*IO // completed, not yet returned by Next
	closed  bool
	hash    uint64
	eng     *engine // the engine served, once attached: footprints read it

	// Read lazily from the image header for footprints and descriptions.
	geomOK  bool
	g       Geometry
	l1Off   uint64
	backing bool
}

var _ Backend = (*ControlledBackend)(nil)

// NewControlledBackend returns a ControlledBackend over files.
func NewControlledBackend(files Files) *ControlledBackend {
	return &ControlledBackend{files: files, hash: fnvOffset}
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (b *ControlledBackend) mix(vs ...uint64) {
	h := b.hash
	for _, v := range vs {
		for i := 0; i < 8; i++ {
			h ^= v & 0xff
			h *= fnvPrime
			v >>= 8
		}
	}
	b.hash = h
}

// bufHash hashes p eight bytes at a time (a multiply-xorshift mix): the
// trace hash only has to tell runs apart, not resist attack.
func bufHash(p []byte) uint64 {
	h := uint64(len(p)) * 0x9e3779b97f4a7c15
	for len(p) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(p)) * 0xbf58476d1ce4e5b9
		h ^= h >> 29
		p = p[8:]
	}
	for _, c := range p {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h ^ h>>32
}

// Submit queues io as pending. After Close it fails io instead, which
// Next then returns first.
func (b *ControlledBackend) Submit(io *IO) {
	var data uint64
	if io.Op == OpWrite {
		data = bufHash(io.Buf)
	}
	b.mix(1, io.ID, uint64(io.Op), uint64(io.File), io.Off, uint64(len(io.Buf)), uint64(io.Purpose), io.Req, data)
	if b.closed {
		io.Err = fmt.Errorf("controlled backend: %v submitted after Close", io)
		b.ready = append(b.ready, io)
		return
	}
	b.pending = append(b.pending, io)
}

// Complete performs the pending I/O with the given ID against storage and
// queues it for Next. It fails if no such I/O is pending.
func (b *ControlledBackend) Complete(id uint64) error {
	for i, io := range b.pending {
		if io.ID == id {
			b.pending = append(b.pending[:i], b.pending[i+1:]...)
			b.perform(io)
			return nil
		}
	}
	return fmt.Errorf("controlled backend: no pending I/O %d", id)
}

func (b *ControlledBackend) perform(io *IO) {
	io.Err = Perform(b.files, io)
	var data uint64
	if io.Op == OpRead {
		data = bufHash(io.Buf)
	}
	errBit := uint64(0)
	if io.Err != nil {
		errBit = 1
	}
	b.mix(2, io.ID, data, errBit)
	b.ready = append(b.ready, io)
}

// Next returns the oldest I/O completed by Complete; if there is none, it
// completes the oldest pending I/O and returns it; if nothing is pending,
// it returns nil.
func (b *ControlledBackend) Next() *IO {
	if len(b.ready) == 0 && len(b.pending) > 0 {
		io := b.pending[0]
		b.pending = b.pending[1:]
		b.perform(io)
	}
	if len(b.ready) == 0 {
		return nil
	}
	io := b.ready[0]
	b.ready = b.ready[1:]
	return io
}

// Attach lets the backend read the state of the engine of im, which must
// be the image it serves, so footprints can tell a completion that only
// finishes requests (and wakes none) from one that may look up tables.
// Without it footprints are sound but coarser. Attach reads, never
// changes, the engine.
func (b *ControlledBackend) Attach(im *Image) { b.eng = &im.eng }

// EngineHash returns a hash of the attached engine's table state: the
// cached L1 table, every cached L2 table's entries, the allocation
// point and the header's feature bits. At a quiescent point that and the
// storage are all of the engine's state that later requests can observe.
// It returns 0 if no engine is attached.
func (b *ControlledBackend) EngineHash() uint64 {
	e := b.eng
	if e == nil {
		return 0
	}
	h := uint64(fnvOffset)
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

// Close marks the backend closed: later Submits fail. Pending I/Os still
// complete through Next. It does not close the storage and returns nil.
func (b *ControlledBackend) Close() error {
	b.closed = true
	return nil
}

// TraceHash returns a hash (FNV-1a over fields, word-wise over data) of every Submit (the I/O's fields and
// the data it writes) and every completion (the I/O's ID, the data it
// read, whether it failed) so far. Two runs of a deterministic engine
// under the same completion order have the same trace hash.
func (b *ControlledBackend) TraceHash() uint64 { return b.hash }

// Len returns the number of pending I/Os.
func (b *ControlledBackend) Len() int { return len(b.pending) }

// IsPending reports whether the I/O with the given ID is pending.
func (b *ControlledBackend) IsPending(id uint64) bool {
	for _, io := range b.pending {
		if io.ID == id {
			return true
		}
	}
	return false
}

// Pending returns the I/Os submitted and not yet completed, in submission
// order, each with what completing it would touch.
func (b *ControlledBackend) Pending() []PendingIO {
	out := make([]PendingIO, len(b.pending))
	for i, io := range b.pending {
		out[i] = PendingIO{
			ID: io.ID, Op: io.Op, File: io.File, Off: io.Off, Len: uint64(len(io.Buf)),
			Purpose: io.Purpose, Req: io.Req, Footprint: b.footprint(io),
		}
	}
	return out
}

// PendingIO describes one pending I/O of a ControlledBackend.
type PendingIO struct {
	ID        uint64
	Op        IOOp
	File      File
	Off, Len  uint64
	Purpose   Purpose
	Req       uint64
	Footprint Footprint
}

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

// loadHeader reads the geometry from the image header once.
func (b *ControlledBackend) loadHeader() {
	if b.geomOK {
		return
	}
	buf := make([]byte, HeaderLen)
	if _, err := b.files.Image.ReadAt(buf, 0); err != nil {
		return
	}
	h, err := DecodeHeader(buf)
	if err != nil || ValidateGeometry(h.ClusterSize, h.TableSize, h.ImageSize) != nil {
		return
	}
	b.g, b.l1Off, b.geomOK = GeometryOf(&h), h.L1TableOffset, true
	b.backing = h.Features&FeatureBackingFile != 0 && b.files.Backing != nil
}

// entrySector returns the file offset of the table sector holding entry
// idx of the table at tableOff.
func entrySector(tableOff, idx uint64) uint64 { return tableOff + idx*8/SectorSize*SectorSize }

// footprint computes what completing io touches, from the step the
// engine will resume and the request it belongs to. Where it cannot tell,
// it claims more, never less.
func (b *ControlledBackend) footprint(io *IO) Footprint {
	b.loadHeader()
	f := Footprint{File: io.File, Off: io.Off, Write: io.Op == OpWrite || io.Op == OpWriteZeroes}
	switch io.Op {
	case OpRead, OpWrite:
		f.Len = uint64(len(io.Buf))
	case OpWriteZeroes:
		f.Len = io.Len
	}
	updateL2 := func() {
		rq := io.owner
		if !b.geomOK || rq == nil {
			f.Requests = true
			return
		}
		switch {
		case rq.acc.Kind == model.AllocL2:
			f.Alloc = true
		case rq.table != nil:
			f.MetaOff, f.MetaLen = entrySector(rq.table.off, b.g.L2Index(rq.pos)), SectorSize
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
		if !b.backing || b.eng == nil || b.eng.meta.writeBack && (io.owner == nil || io.owner.acc.Kind != model.AllocL2) {
			updateL2()
		}
	case stepPreL2Flush:
		updateL2()
	case stepNewTable:
		if rq := io.owner; b.geomOK && rq != nil {
			f.MetaOff, f.MetaLen = entrySector(b.l1Off, b.g.L1Index(rq.pos)), SectorSize
		} else {
			f.Requests = true
		}
	case stepHeader, stepHeaderClear:
		f.Alloc = true
	case stepMeta:
		f.MetaOff, f.MetaLen = io.Off, uint64(len(io.Buf))
		f.Finish = true
		if b.eng == nil {
			f.Requests = true
			break
		}
		if mw := io.meta; mw != nil && mw.waiter != nil {
			// An unordered write (Options.UnorderedMetadata) serves its
			// one request and no sector state. Its bytes overlap those of
			// any other write of the same sector, so two such writes never
			// commute: they land in either order.
			if !b.lastSegment(mw.waiter) {
				f.Requests = true
			}
			break
		}
		for off := io.Off; off < io.Off+uint64(len(io.Buf)); off += SectorSize {
			if ms := b.eng.meta.sectors[off]; ms != nil {
				for _, w := range ms.waiters {
					if !b.lastSegment(w.rq) {
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
		if rq := io.owner; rq == nil || !b.lastSegment(rq) {
			f.Requests = true
		}
	default: // table reads
		f.Requests = true
	}
	if f.Finish && (b.eng == nil || b.eng.nFrozen > 0) {
		// Completing a request wakes the frozen ones, which look up.
		f.Requests = true
	}
	return f
}

// lastSegment reports whether rq completes when its current segment
// does, instead of looking up the next.
func (b *ControlledBackend) lastSegment(rq *request) bool {
	return rq.r.Op == ReqFlush || rq.pos+rq.segLen >= rq.end
}

// Describe renders the pending I/O with the given ID in domain words,
// without naming the request it serves (see PendingIO.Req): "data write
// of the new cluster at 0x5000 (with fill)"; "" if no such I/O is
// pending.
func (b *ControlledBackend) Describe(id uint64) string {
	for _, io := range b.pending {
		if io.ID == id {
			return b.describe(io)
		}
	}
	return ""
}

func (b *ControlledBackend) describe(io *IO) string {
	b.loadHeader()
	switch io.step {
	case stepTableRead:
		return fmt.Sprintf("read of the L2 table at %#x", io.Off)
	case stepAdvance:
		switch {
		case io.File == BackingFile:
			return fmt.Sprintf("read of the backing file at %#x+%d", io.Off, len(io.Buf))
		case io.Op == OpRead:
			return fmt.Sprintf("read of the cluster at %#x (bytes %#x+%d)", b.g.StartOfCluster(io.Off), io.Off, len(io.Buf))
		default:
			return fmt.Sprintf("in-place write of the cluster at %#x (bytes %#x+%d)", b.g.StartOfCluster(io.Off), io.Off, len(io.Buf))
		}
	case stepFillRead:
		return "backing read for the copy-on-write fill"
	case stepAllocData:
		if !b.geomOK {
			return fmt.Sprintf("data write at %#x", io.Off)
		}
		start := b.g.StartOfCluster(io.Off)
		switch {
		case io.Op == OpWriteZeroes:
			return fmt.Sprintf("write-zeroes to the end of the new cluster at %#x (bytes %#x+%d)", start, io.Off, io.Len)
		case io.Off == start && uint64(len(io.Buf))%b.g.ClusterSize == 0:
			return fmt.Sprintf("data write of the new cluster at %#x (with fill)", io.Off)
		}
		return fmt.Sprintf("data write into the new cluster at %#x (bytes %#x+%d; the rest reads as zeros)", start, io.Off, len(io.Buf))
	case stepZeroFill:
		return fmt.Sprintf("write-zeroes of the new cluster at %#x", io.Off)
	case stepSparseTail:
		return fmt.Sprintf("data write into the new cluster at %#x (bytes %#x+%d; zeros to its end follow)", b.g.StartOfCluster(io.Off), io.Off, len(io.Buf))
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
			base := (io.Off - b.l1Off) / 8
			return fmt.Sprintf("write of the L1 table sector (%s)", entriesAt(io.Buf, "L1", base, true))
		}
		if b.geomOK && b.g.TableSize == 1 {
			// One-cluster tables start at their cluster's start.
			table := b.g.StartOfCluster(io.Off)
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
