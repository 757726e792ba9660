package impl

import (
	"fmt"

	"github.com/qedharness/qedharness/model"
)

// step says what an I/O's completion means to the engine.
type step uint8

const (
	stepNone        step = iota
	stepTableRead        // an L2 table read finished loading
	stepAdvance          // a guest read or in-place write finished its segment
	stepFillRead         // the backing read for a copy-on-write fill finished
	stepFillWrite        // one of QEMU-style separate fill writes finished
	stepSparseTail       // a sparse allocation's data write finished; its last bytes follow
	stepAllocData        // the write of newly allocated data clusters finished
	stepPreL2Flush       // the flush QEMU orders before an L2 update (backing files) finished
	stepNewTable         // the write of a new L2 table finished
	stepFlush            // a guest flush finished
	stepHeader           // the header write that sets need-check finished
	stepHeaderFlush      // the flush that makes the need-check bit durable finished
	stepHeaderClear      // the header write that clears need-check after a quiet flush finished
	stepTableFlush       // the flush between a new L2 table and its L1 link (backing files) finished
	stepMeta             // a metadata sector write finished
	stepGrow             // a grow of the image file finished
	stepZeroFill         // the write-zeroes of a new cluster's fill finished; its data follows
	stepMetaFlush        // the flush that starts a write-back batch (backing file) finished
)

// zeroSector is the content of the zeros a sparse allocation writes at the
// end of its clusters; never written to.
var zeroSector [SectorSize]byte

// request is the engine's state for one guest request: a small state
// machine advanced by lookups, policy decisions and I/O completions.
type request struct {
	r        *Request
	pos, end uint64 // guest byte range still to do

	// The current segment.
	acc     model.Access
	segLen  uint64 // guest bytes of the segment
	segOff  uint64 // file offset of the segment's first cluster (found or allocated)
	zeroRun bool   // the segment's entries are zero clusters
	// A write-zeroes segment: zeroEntries makes its clusters zero-cluster
	// entries (no data); zeros, when not nil, is its guest data (zeros,
	// never written to) for a segment written as zero data.
	zeroEntries bool
	zeros       []byte
	table       *l2Table
	newTable    *l2Table
	buf         []byte // cluster buffer of an allocating segment
	zeroFill    bool   // buf's fill around the guest data is zeros, not backing data
	backFill    bool   // buf's fill around the guest data is the backing file's bytes from backFrom
	backFrom    uint64
	nClusters   uint64 // clusters allocated for the segment
	fillStage   uint8  // next of QEMU-style separate fill writes

	pendingMeta int // metadata sector writes the segment waits for
	// An allocation waiting for the file to grow to growEnd, and what it
	// does then (room).
	growKind growKind
	growEnd  uint64
	// A guest flush: no allocating write was in flight when it was
	// issued (flushQuiet), and allocGen then.
	flushQuiet bool
	flushGen   uint64
	admitted   bool  // the request has accesses in flight
	nAcc       int   // its accesses in inFlight
	allocating bool  // the request has an allocating access in flight
	frozen     bool  // frozen since frozenAt, not yet admitted again
	frozenAt   int64 // clock reading when first frozen
	finished   bool

	// Requests frozen on this one (the policy's Blocker named it): a FIFO
	// linked through nextWaiter, woken when this request finishes. waitAcc
	// is the access of this request they froze on, unless waitMixed: they
	// froze on different ones.
	waitHead, waitTail, nextWaiter *request
	waitAcc                        model.Access
	waitMixed                      bool
}

// Stats counts what an engine did.
type Stats struct {
	// IOs and Bytes count host I/Os issued and their bytes, by purpose;
	// Written counts the bytes of writes alone.
	IOs, Bytes, Written [len(purposeNames)]uint64
	// Requests counts completed guest requests; AllocatingWrites those
	// that allocated.
	Requests, AllocatingWrites uint64
	// Freezes counts freeze episodes; FrozenNanos their total length.
	Freezes     uint64
	FrozenNanos int64
	// Restarts counts lookups of frozen requests woken to be reconsidered
	// (each may freeze again): the engine's cost of freezing.
	Restarts uint64
	// MaxAllocInFlight is the largest number of requests observed with an
	// allocating access in flight at once.
	MaxAllocInFlight int
}

// DataBytes returns the bytes written for guest data (fill included).
func (s *Stats) DataBytes() uint64 { return s.Written[PurposeData] }

// MetaBytes returns the bytes written for metadata.
func (s *Stats) MetaBytes() uint64 {
	return s.Written[PurposeL2Write] + s.Written[PurposeL1Write] + s.Written[PurposeHeader]
}

// HostIOs returns the number of host I/Os issued.
func (s *Stats) HostIOs() uint64 {
	var n uint64
	for _, c := range s.IOs {
		n += c
	}
	return n
}

// Engine is the deterministic core of an image, exported so that any
// driver can run it, as etcd-io/raft exports RawNode. Its contract:
//
//   - Inputs: Submit (a guest request arrives) and Complete (a host I/O
//     the engine asked for finished, its Err set).
//   - Outputs: Ready, which hands over the I/Os to issue, the requests
//     completed and the requests woken since the last call. The driver
//     issues every I/O (to a Backend, or by Perform) and hands each back
//     to Complete exactly once, in any order; it delivers completions
//     (Request.Done) itself.
//   - NewEngine reads the image's header and tables from storage once,
//     as raft's NewRawNode reads its Storage; after that the engine does
//     no I/O, starts no goroutine and reads no clock but Options.Clock.
//   - Given the same inputs in the same order it produces the same
//     outputs, bit for bit: the only nondeterminism in a run is the
//     order in which the driver completes I/Os.
//
// An Engine is not safe for concurrent use. Image is the driver most
// callers want.
type Engine struct {
	h         Header
	hdrSector []byte // the image's first sector, header fields patched on write
	g         Geometry
	policy    model.Policy
	clock     func() int64
	readOnly  bool
	fill      FillMode
	// unorderedMeta issues every table update as its own write at once
	// (Options.UnorderedMetadata).
	unorderedMeta bool
	zeroFrom      uint64 // clusters from here on read as zeros: past the file's end at open
	// zeroUpdates are write-zeroes segments whose zero-cluster entries
	// drainWakes makes next (spareZero: the spare list).
	zeroUpdates, spareZero []*request
	// zeroData is one cluster of zeros, the guest data of write-zeroes
	// written as data; allocated at first use, never written to.
	zeroData []byte

	backing     bool
	backingName string // the backing file name in the header, or ""
	backingSize uint64
	headerEnd   uint64 // first byte past the header clusters

	l1       []uint64
	cache    l2Cache
	fileSize uint64 // allocation point: new clusters go here
	openEnd  uint64 // the file's usable length at open (usableLength)
	// damaged holds the ranges at or past openEnd that a table referenced
	// at open (sorted, merged; nil for a healthy image): alloc skips
	// them, lookups refuse them. skip indexes the first alloc has not
	// passed yet.
	damaged []fileSpan
	skip    int
	// Growth ahead of allocation (grow.go): growOn with Options.Grow
	// GrowAhead on a writable image. grownEnd is the file's size as the
	// engine knows it (its size at open, openSize, or the last grow's);
	// growTarget the size a grow in flight extends it to (0: none).
	growOn      bool
	openSize    uint64
	grownEnd    uint64
	growTarget  uint64
	growChunk   uint64 // what the next grow adds past the allocation point
	lastGrow    uint64 // what the last grow added
	maxFileEnd  uint64
	growWaiters []*request
	reclaimed   bool // the open found a leaked tail and allocates from its start

	// inFlight holds the admitted accesses in admission order and
	// inFlightReq their requests; scratch and scratchReq the same without
	// the request being decided.
	inFlight    []model.Access
	inFlightReq []*request
	scratch     []model.Access
	scratchReq  []*request
	// blocker is the policy as a model.Blocker, nil when it is not one or
	// Options.WakeAll is set: then every frozen request waits in frozen
	// and is reconsidered after every completion (wake).
	blocker model.Blocker
	frozen  []*request
	wake    bool
	ready   []waitList // woken, to look up again in this order
	woken   []waitList
	nFrozen int // frozen requests, in frozen or on a waiter list

	headerWriting bool
	headerWaiters []*request
	// needCheckSet: this engine set the need-check bit (not found set at
	// open). allocGen counts admitted allocating accesses.
	needCheckSet   bool
	allocGen       uint64
	meta           metaWriter
	active         int
	allocInFlight  int
	nextIO, nextID uint64

	// Outputs for Ready, each double-buffered (what Ready handed out last
	// is the spare).
	ios, spareIOs         []*IO
	dones, spareDones     []*Request
	wokenReqs, spareWoken []*Request
	pool                  bufPool
	buffers               *BufferPool // where pool's buffers came from and go back at Close; nil for none
	stats                 Stats
}

func (e *Engine) now() int64 {
	if e.clock == nil {
		return 0
	}
	return e.clock()
}

// Submit starts r: it assigns r.ID and the clock readings, and clears
// the fields the engine fills. r and its Buf belong to the engine until r
// is handed out by Ready as done (Request.Done is not called: the driver
// calls it). A request that fails validation is done at once.
func (e *Engine) Submit(r *Request) {
	e.nextID++
	r.ID = e.nextID
	r.Err, r.Freezes, r.FrozenNanos, r.Allocated = nil, 0, 0, false
	r.SubmitNanos = e.now()
	e.active++
	rq := e.pool.getRequest()
	rq.r, rq.pos, rq.end = r, r.Off, r.Off+r.Length()
	if err := e.validate(r); err != nil {
		e.finish(rq, err)
		return
	}
	e.lookup(rq)
	e.drainWakes()
}

func (e *Engine) validate(r *Request) error {
	switch r.Op {
	case ReqFlush:
		return nil
	case ReqRead:
	case ReqWrite, ReqWriteZeroes:
		if e.readOnly {
			return fmt.Errorf("%s refused: image is open read-only", r.Op)
		}
	default:
		return fmt.Errorf("unknown request op %d", r.Op)
	}
	switch {
	case r.Op == ReqWriteZeroes && r.Buf != nil:
		return fmt.Errorf("write-zeroes at %d has a buffer of %d bytes; it takes a length (Len) and no buffer", r.Off, len(r.Buf))
	case r.Op != ReqWriteZeroes && r.Len != 0:
		return fmt.Errorf("%s at %d has Len %d; only a write-zeroes takes a length, the others take it from the buffer", r.Op, r.Off, r.Len)
	}
	n := r.Length()
	end := r.Off + n
	if end < r.Off || end > e.g.ImageSize {
		return fmt.Errorf("%s of %d bytes at %d is past the image end (%d bytes)", r.Op, n, r.Off, e.g.ImageSize)
	}
	return nil
}

// Complete consumes io, one of the I/Os Ready handed out, after the
// driver carried it out and set io.Err. The I/O (and its Buf) goes back
// to the engine: the driver must not touch it afterwards.
func (e *Engine) Complete(io *IO) {
	switch io.step {
	case stepTableRead:
		e.tableLoaded(io)
	case stepHeader:
		e.headerWritten(io)
	case stepHeaderFlush:
		err := io.Err
		e.putIO(io)
		if err != nil {
			err = fmt.Errorf("flush need-check bit: %w", err)
		}
		e.releaseHeaderWaiters(err)
	case stepHeaderClear:
		e.headerCleared(io)
	case stepMeta:
		e.metaWritten(io)
	case stepGrow:
		e.grown(io)
	case stepMetaFlush:
		e.batchFlushed(io)
	default:
		rq, err, s := io.owner, io.Err, io.step
		e.putIO(io)
		if rq.finished {
			break
		}
		if err != nil {
			e.finish(rq, err)
			break
		}
		e.resume(rq, s)
	}
	e.drainWakes()
}

// resume continues rq after an I/O of the given step completed.
func (e *Engine) resume(rq *request, s step) {
	switch s {
	case stepAdvance:
		e.segmentDone(rq)
	case stepFillRead:
		e.copyDataIntoCluster(rq)
		e.writeAllocated(rq)
	case stepFillWrite:
		e.writeAllocated(rq)
	case stepSparseTail:
		// The file ends inside the new clusters: zeros to their end, so
		// that it holds them whole (QEMU and our own open round a
		// partial last cluster down and would hand it out again).
		size := rq.nClusters * e.g.ClusterSize
		from := e.g.InCluster(rq.pos) + rq.segLen
		io := e.issue(rq, OpWriteZeroes, ImageFile, rq.segOff+from, nil, PurposeData, stepAllocData)
		io.Len = size - from
	case stepZeroFill:
		e.issue(rq, OpWrite, ImageFile, rq.pos-e.g.StartOfCluster(rq.pos)+rq.segOff, rq.guestBuf(), PurposeData, stepAllocData)
	case stepAllocData:
		if e.backing && (!e.meta.writeBack || rq.acc.Kind == model.AllocL2) {
			// Data durable before the entry that points at it (a
			// write-back batch flushes for its entries).
			e.issue(rq, OpFlush, ImageFile, 0, nil, PurposeFlush, stepPreL2Flush)
			return
		}
		e.updateL2(rq)
	case stepPreL2Flush:
		e.updateL2(rq)
	case stepNewTable:
		if e.backing {
			// With a backing file nothing sets need-check, so the table
			// must be durable before the L1 entry that points at it.
			e.issue(rq, OpFlush, ImageFile, 0, nil, PurposeFlush, stepTableFlush)
			return
		}
		e.linkNewTable(rq)
	case stepTableFlush:
		e.linkNewTable(rq)
	case stepFlush:
		e.clearNeedCheckIfQuiet(rq)
		e.finish(rq, nil)
	}
}

// lookup finds what the tables say about rq's next segment, asks the
// policy, and starts the segment's I/O. A frozen request comes back here
// when woken, because the tables may have changed while it waited.
func (e *Engine) lookup(rq *request) {
	for !rq.finished {
		if rq.r.Op == ReqFlush {
			if e.admit(rq, model.Access{Req: rq.r.ID, Kind: model.Flush}) {
				rq.flushQuiet, rq.flushGen = e.allocInFlight == 0, e.allocGen
				if e.meta.writeBack && e.meta.waitStable(e, rq) {
					return // metaDone issues the flush
				}
				e.issue(rq, OpFlush, ImageFile, 0, nil, PurposeFlush, stepFlush)
			}
			return
		}
		if rq.pos >= rq.end {
			e.finish(rq, nil)
			return
		}
		g := &e.g
		l1i := g.L1Index(rq.pos)
		spanEnd := min(rq.end, (l1i+1)*g.L2Span())
		l2off := e.l1[l1i]
		first := g.ClusterIndex(rq.pos)
		zeroes := rq.r.Op == ReqWriteZeroes
		if zeroes {
			spanEnd = e.zeroesPiece(rq.pos, spanEnd)
		}
		if l2off == 0 {
			rq.segLen = spanEnd - rq.pos
			rq.zeroRun = false
			if zeroes {
				if e.readsAsZeros(rq.pos) {
					rq.pos += rq.segLen
					continue
				}
				if !e.admit(rq, e.access(rq, model.AllocL2, l1i, first)) {
					return
				}
				e.prepareZeroes(rq)
				e.allocate(rq)
				return
			}
			kind := model.AllocL2
			if rq.r.Op == ReqRead {
				kind = model.Read
			}
			if !e.admit(rq, e.access(rq, kind, l1i, first)) {
				return
			}
			if kind == model.Read {
				if !e.readUnallocated(rq) {
					return
				}
				continue
			}
			e.allocate(rq)
			return
		}
		t := e.cache.get(l2off)
		if t == nil || t.loading {
			e.loadTable(rq, l2off, l1i, t)
			return
		}
		idx := g.L2Index(rq.pos)
		entry := t.entries[idx]
		if entry > ZeroCluster {
			if err := e.checkDataOffset(entry); err != nil {
				e.finish(rq, fmt.Errorf("L2 table at %#x entry %d: %w", l2off, idx, err))
				return
			}
		}
		// Extend the run over entries of the same class: physically
		// contiguous clusters, zero clusters, or unallocated ones.
		n := uint64(1)
		runEnd := g.StartOfCluster(rq.pos) + g.ClusterSize
		for runEnd < spanEnd {
			next := t.entries[idx+n]
			if entry > ZeroCluster {
				if next != entry+n*g.ClusterSize {
					break
				}
			} else if next != entry {
				break
			}
			n++
			runEnd += g.ClusterSize
		}
		rq.segLen = min(runEnd, spanEnd) - rq.pos
		switch {
		case rq.r.Op == ReqRead:
			if !e.admit(rq, e.access(rq, model.Read, l1i, first)) {
				return
			}
			switch entry {
			case 0:
				if !e.readUnallocated(rq) {
					return
				}
				continue
			case ZeroCluster:
				clear(rq.guestBuf())
				rq.pos += rq.segLen
				continue
			}
			e.issue(rq, OpRead, ImageFile, entry+g.InCluster(rq.pos), rq.guestBuf(), PurposeData, stepAdvance)
			return
		case zeroes:
			switch {
			case entry > ZeroCluster:
				// Allocated: zeroed in place, as QEMU's write of a zero
				// buffer into a found cluster, with no metadata change
				// (QED has no refcounts: freeing the cluster would leak
				// it).
				if !e.admit(rq, e.access(rq, model.Rewrite, l1i, first)) {
					return
				}
				io := e.issue(rq, OpWriteZeroes, ImageFile, entry+g.InCluster(rq.pos), nil, PurposeData, stepAdvance)
				io.Len = rq.segLen
				return
			case entry == ZeroCluster || e.readsAsZeros(rq.pos):
				// Zeros already: nothing to do.
				rq.pos += rq.segLen
				continue
			}
			if !e.admit(rq, e.access(rq, model.AllocCluster, l1i, first)) {
				return
			}
			rq.zeroRun = false
			rq.table = t
			t.pins++
			e.prepareZeroes(rq)
			e.allocate(rq)
			return
		case entry > ZeroCluster:
			if !e.admit(rq, e.access(rq, model.Rewrite, l1i, first)) {
				return
			}
			e.issue(rq, OpWrite, ImageFile, entry+g.InCluster(rq.pos), rq.guestBuf(), PurposeData, stepAdvance)
			return
		default:
			if !e.admit(rq, e.access(rq, model.AllocCluster, l1i, first)) {
				return
			}
			rq.zeroRun = entry == ZeroCluster
			rq.table = t
			t.pins++
			e.allocate(rq)
			return
		}
	}
}

// access describes rq's current segment to the policy.
func (e *Engine) access(rq *request, kind model.Kind, l1i, first uint64) model.Access {
	last := e.g.ClusterIndex(rq.pos + rq.segLen - 1)
	return model.Access{Req: rq.r.ID, Kind: kind, L1: l1i, First: first, Count: last - first + 1}
}

// guestBuf returns the part of the request's buffer for the segment (a
// write-zeroes segment written as zero data: zeros).
func (rq *request) guestBuf() []byte {
	if rq.zeros != nil {
		return rq.zeros[:rq.segLen]
	}
	start := rq.pos - rq.r.Off
	return rq.r.Buf[start : start+rq.segLen]
}

// checkDataOffset reports an L2 entry that cannot be a data cluster.
func (e *Engine) checkDataOffset(off uint64) error {
	switch {
	case off&(e.g.ClusterSize-1) != 0:
		return fmt.Errorf("cluster offset %#x is not cluster-aligned", off)
	case off < e.headerEnd:
		return fmt.Errorf("cluster offset %#x lies inside the header", off)
	case off >= e.fileSize:
		return fmt.Errorf("cluster offset %#x is past end of file (%#x)", off, e.fileSize)
	case e.damaged != nil && e.pastEndAtOpen(off, e.g.ClusterSize):
		return fmt.Errorf("cluster offset %#x was past end of file (%#x) at open", off, e.openEnd)
	}
	return nil
}

// admit asks the policy about acc. On Proceed it records the access as in
// flight and returns true; on Freeze it parks rq and returns false.
func (e *Engine) admit(rq *request, acc model.Access) bool {
	others, owners := e.inFlight, e.inFlightReq
	if rq.admitted {
		// Hide rq's own accesses from the policy.
		others, owners = e.scratch[:0], e.scratchReq[:0]
		for i, a := range e.inFlight {
			if a.Req != rq.r.ID {
				others = append(others, a)
				owners = append(owners, e.inFlightReq[i])
			}
		}
		e.scratch, e.scratchReq = others, owners
		defer clear(owners)
	}
	now := e.now()
	if e.policy.Decide(acc, others) == model.Freeze {
		if !rq.frozen {
			rq.frozen = true
			rq.frozenAt = now
			rq.r.Freezes++
			e.stats.Freezes++
		}
		e.park(rq, acc, others, owners)
		return false
	}
	if rq.frozen {
		rq.frozen = false
		d := now - rq.frozenAt
		rq.r.FrozenNanos += d
		e.stats.FrozenNanos += d
	}
	rq.acc = acc
	e.inFlight = append(e.inFlight, acc)
	e.inFlightReq = append(e.inFlightReq, rq)
	rq.admitted = true
	rq.nAcc++
	if acc.Kind.Allocating() {
		e.allocGen++
	}
	if acc.Kind.Allocating() && !rq.allocating {
		rq.allocating = true
		rq.r.Allocated = true
		e.allocInFlight++
		e.stats.MaxAllocInFlight = max(e.stats.MaxAllocInFlight, e.allocInFlight)
	}
	return true
}

// waitList is a FIFO of frozen requests linked through nextWaiter. For
// the waiters of a request that completed, acc is that request's access
// and handoff is set.
type waitList struct {
	head, tail *request
	acc        model.Access
	handoff    bool
}

// park holds frozen rq until it should be reconsidered: on the waiter
// list of the in-flight request the policy names as its blocker, or, when
// the policy names none, in frozen until any request in flight completes.
func (e *Engine) park(rq *request, acc model.Access, others []model.Access, owners []*request) {
	e.nFrozen++
	if e.blocker != nil {
		if i := e.blocker.BlockedBy(acc, others); i >= 0 && i < len(owners) {
			owners[i].addWaiters(rq, rq, others[i])
			return
		}
	}
	e.frozen = append(e.frozen, rq)
}

// drainWakes restarts woken requests from their lookup, in the order they
// froze, after requests in flight completed: the waiters of each, and all
// of frozen when a request in flight completed; and makes the zero-cluster
// entries of write-zeroes segments that are due.
func (e *Engine) drainWakes() {
	for e.wake || len(e.ready) > 0 || len(e.zeroUpdates) > 0 {
		if len(e.zeroUpdates) > 0 {
			// Write-zeroes segments whose zero-cluster entries are due
			// (allocateData), in the order they came.
			ups := e.zeroUpdates
			e.zeroUpdates = e.spareZero[:0]
			for i, rq := range ups {
				ups[i] = nil
				if !rq.finished {
					e.updateL2(rq)
				}
			}
			e.spareZero = ups[:0]
			continue
		}
		if e.wake {
			e.wake = false
			for i, rq := range e.frozen {
				e.ready = append(e.ready, waitList{head: rq, tail: rq})
				e.frozen[i] = nil
			}
			e.frozen = e.frozen[:0]
		}
		e.woken, e.ready = e.ready, e.woken[:0]
		for i, wl := range e.woken {
			e.woken[i] = waitList{}
			e.restart(wl)
		}
	}
}

// addWaiters appends the list head..tail to rq's waiters, frozen on its
// access acc.
func (rq *request) addWaiters(head, tail *request, acc model.Access) {
	if rq.waitTail == nil {
		rq.waitHead, rq.waitAcc, rq.waitMixed = head, acc, false
	} else {
		rq.waitTail.nextWaiter = head
		rq.waitMixed = rq.waitMixed || rq.waitAcc != acc
	}
	rq.waitTail = tail
}

// restart looks the requests of wl up again, in order. Once one of them
// is admitted with an access that covers the completed request's (the
// policy's Covers), the rest would freeze on it: they wait on it as they
// are, as QED's queued allocating writes wait for the new head, without a
// lookup per waiter per completion.
func (e *Engine) restart(wl waitList) {
	for w := wl.head; w != nil; {
		next := w.nextWaiter
		w.nextWaiter = nil
		e.nFrozen--
		e.stats.Restarts++
		e.wokenReqs = append(e.wokenReqs, w.r)
		e.lookup(w)
		if next != nil && wl.handoff && w.admitted && !w.frozen && !w.finished && e.blocker.Covers(w.acc, wl.acc) {
			w.addWaiters(next, wl.tail, w.acc)
			return
		}
		w = next
	}
}

// finish completes rq with err, releases what it holds, and wakes frozen
// requests if it had anything in flight.
func (e *Engine) finish(rq *request, err error) {
	if rq.finished {
		return
	}
	rq.finished = true
	e.releaseSegment(rq)
	if rq.admitted {
		e.dropInFlight(rq)
		e.wake = len(e.frozen) > 0
		if rq.waitHead != nil {
			e.ready = append(e.ready, waitList{head: rq.waitHead, tail: rq.waitTail, acc: rq.waitAcc, handoff: !rq.waitMixed})
			rq.waitHead, rq.waitTail = nil, nil
		}
	}
	if rq.allocating {
		e.allocInFlight--
		e.stats.AllocatingWrites++
	}
	r := rq.r
	r.Err = err
	r.DoneNanos = e.now()
	e.stats.Requests++
	e.active--
	e.dones = append(e.dones, r)
	if err == nil {
		// Nothing refers to a request that completed normally: its I/Os
		// are done and it waits in no list.
		e.pool.putRequest(rq)
	}
}

// dropInFlight removes rq's accesses from inFlight, keeping the others in
// admission order.
func (e *Engine) dropInFlight(rq *request) {
	id, n := rq.r.ID, len(e.inFlight)
	i := 0
	for i < n && e.inFlight[i].Req != id {
		i++
	}
	if rq.nAcc == 1 && i < n {
		// The usual case: one access, moved over in two block copies.
		copy(e.inFlight[i:], e.inFlight[i+1:])
		copy(e.inFlightReq[i:], e.inFlightReq[i+1:])
		n--
	} else {
		j := i
		for k := i; k < n; k++ {
			if e.inFlight[k].Req != id {
				e.inFlight[j], e.inFlightReq[j] = e.inFlight[k], e.inFlightReq[k]
				j++
			}
		}
		n = j
	}
	clear(e.inFlight[n:])
	clear(e.inFlightReq[n:])
	e.inFlight, e.inFlightReq = e.inFlight[:n], e.inFlightReq[:n]
}

// releaseSegment unpins the segment's table and frees its buffer.
func (e *Engine) releaseSegment(rq *request) {
	if rq.table != nil {
		e.cache.unpin(rq.table)
		rq.table = nil
	}
	e.releaseBuf(rq)
	rq.newTable = nil
	rq.zeroEntries, rq.zeros = false, nil
}

// releaseBuf returns the segment's cluster buffer to the pool. A buffer
// filled with zeros around the guest data goes back zeroed, the guest
// data cleared, so that the next zero fill of its size need not clear the
// rest.
func (e *Engine) releaseBuf(rq *request) {
	if rq.buf == nil {
		return
	}
	if rq.zeroFill {
		head := e.g.InCluster(rq.pos)
		clear(rq.buf[head : head+rq.segLen])
		e.pool.putZeroed(rq.buf)
	} else {
		e.pool.put(rq.buf)
	}
	rq.buf, rq.zeroFill, rq.backFill = nil, false, false
}

// segmentDone moves rq past its current segment and looks up the next.
func (e *Engine) segmentDone(rq *request) {
	e.releaseSegment(rq)
	rq.pos += rq.segLen
	e.lookup(rq)
}

// readUnallocated serves a read of unallocated clusters from the backing
// file, or zeros. It returns true if the segment completed at once.
func (e *Engine) readUnallocated(rq *request) bool {
	buf := rq.guestBuf()
	if !e.backing || rq.pos >= e.backingSize {
		clear(buf)
		rq.pos += rq.segLen
		return true
	}
	n := min(uint64(len(buf)), e.backingSize-rq.pos)
	clear(buf[n:])
	e.issue(rq, OpRead, BackingFile, rq.pos, buf[:n], PurposeBacking, stepAdvance)
	return false
}

// loadTable makes rq wait for the L2 table at off, reading it if no read
// is in flight.
func (e *Engine) loadTable(rq *request, off, l1i uint64, t *l2Table) {
	if t == nil {
		if err := e.checkTableOffset(off); err != nil {
			e.finish(rq, fmt.Errorf("L1 entry %d: %w", l1i, err))
			return
		}
		t = &l2Table{off: off, loading: true}
		e.cache.insert(t)
		io := e.newIO(0, OpRead, ImageFile, off, e.pool.get(int(e.g.TableBytes)), PurposeL2Read, stepTableRead)
		io.table = t
		e.emit(io)
		if e.meta.dirty > 0 && len(e.cache.tables) > e.cache.capacity {
			// Dirty tables hold the cache over its capacity: write them
			// back, so they can be evicted.
			e.meta.startBatch(e)
		}
	}
	t.waiters = append(t.waiters, rq)
}

func (e *Engine) checkTableOffset(off uint64) error {
	switch {
	case off&(e.g.ClusterSize-1) != 0:
		return fmt.Errorf("L2 table offset %#x is not cluster-aligned", off)
	case off < e.headerEnd:
		return fmt.Errorf("L2 table offset %#x lies inside the header", off)
	case off+e.g.TableBytes < off || off+e.g.TableBytes > e.fileSize:
		return fmt.Errorf("L2 table at %#x (%d bytes) is past end of file (%#x)", off, e.g.TableBytes, e.fileSize)
	case e.damaged != nil && e.pastEndAtOpen(off, e.g.TableBytes):
		return fmt.Errorf("L2 table at %#x (%d bytes) was past end of file (%#x) at open", off, e.g.TableBytes, e.openEnd)
	}
	return nil
}

func (e *Engine) tableLoaded(io *IO) {
	t := io.table
	waiters := t.waiters
	t.waiters = nil
	t.loading = false
	if io.Err != nil {
		e.cache.remove(t)
		for _, rq := range waiters {
			e.finish(rq, fmt.Errorf("read L2 table at %#x: %w", t.off, io.Err))
		}
	} else {
		t.entries = make([]uint64, e.g.TableEntries)
		decodeTable(t.entries, io.Buf)
		for _, rq := range waiters {
			e.lookup(rq)
		}
	}
	e.pool.put(io.Buf)
	e.putIO(io)
}

// allocate starts an allocating segment: it sets the need-check bit first
// when QEMU would, then allocates data clusters at the end of the file.
func (e *Engine) allocate(rq *request) {
	if !e.backing && (e.h.Features&FeatureNeedCheck == 0 || e.headerWriting) {
		e.headerWaiters = append(e.headerWaiters, rq)
		if !e.headerWriting {
			e.setNeedCheck()
		}
		return
	}
	e.allocateData(rq)
}

// setNeedCheck writes the header with the need-check bit set; the
// allocating writes in headerWaiters go on once it is durable.
func (e *Engine) setNeedCheck() {
	e.headerWriting, e.needCheckSet = true, true
	e.h.Features |= FeatureNeedCheck
	e.writeHeader(stepHeader)
}

// clearNeedCheckIfQuiet clears the need-check bit this engine set once
// the metadata it guards is stable, as QEMU's need-check timer does: the
// guest flush rq just completed found no allocating write in flight when
// it was issued and none was admitted since, so every table update made
// so far is durable. Allocating writes that come while the clearing
// header write is in flight wait for it, then set the bit again.
func (e *Engine) clearNeedCheckIfQuiet(rq *request) {
	if !e.needCheckSet || e.headerWriting || e.h.Features&FeatureNeedCheck == 0 ||
		!rq.flushQuiet || rq.flushGen != e.allocGen || e.allocInFlight != 0 {
		return
	}
	e.needCheckSet = false
	e.headerWriting = true
	e.h.Features &^= FeatureNeedCheck
	e.writeHeader(stepHeaderClear)
}

// headerCleared consumes the write that cleared the need-check bit. An
// error leaves the bit set or clear on disk; either is safe, as the bit is
// clear in memory and the next allocating write sets it again first.
func (e *Engine) headerCleared(io *IO) {
	e.pool.put(io.Buf)
	e.putIO(io)
	e.headerWriting = false
	if len(e.headerWaiters) > 0 {
		e.setNeedCheck()
	}
}

// writeHeader writes the header as e.h says; s is the step its completion
// resumes.
func (e *Engine) writeHeader(s step) {
	copy(e.hdrSector, e.h.Encode())
	buf := e.pool.get(SectorSize)
	copy(buf, e.hdrSector)
	e.emit(e.newIO(0, OpWrite, ImageFile, 0, buf, PurposeHeader, s))
}

func (e *Engine) headerWritten(io *IO) {
	err := io.Err
	e.pool.put(io.Buf)
	e.putIO(io)
	if err == nil {
		// The bit must be durable before any metadata it guards: a crash
		// that kept an L2 or L1 update but lost the header would reopen
		// without the check.
		e.emit(e.newIO(0, OpFlush, ImageFile, 0, nil, PurposeFlush, stepHeaderFlush))
		return
	}
	e.releaseHeaderWaiters(err)
}

// releaseHeaderWaiters lets the allocating writes that waited for the
// need-check bit go on, or fails them with err (the write setting it, or
// its flush, failed).
func (e *Engine) releaseHeaderWaiters(err error) {
	e.headerWriting = false
	if err != nil {
		// The bit may not be on disk: clear it in memory, so that the
		// next allocating write sets it again before any metadata.
		e.h.Features &^= FeatureNeedCheck
		e.needCheckSet = false
	}
	waiters := e.headerWaiters
	e.headerWaiters = nil
	for _, rq := range waiters {
		if rq.finished {
			continue
		}
		if err != nil {
			e.finish(rq, fmt.Errorf("set need-check bit: %w", err))
			continue
		}
		e.allocateData(rq)
	}
}

// allocateData allocates the segment's data clusters and, once the file
// extends over them (room), writes them.
func (e *Engine) allocateData(rq *request) {
	g := &e.g
	n := g.ClusterIndex(rq.pos+rq.segLen-1) - g.ClusterIndex(rq.pos) + 1
	rq.nClusters = n
	if rq.zeroEntries {
		// Zero-cluster entries: no data to write, so no flush orders
		// one before the entries either (QEMU's zero write skips
		// qed_aio_write_main, which holds that flush). The update waits
		// for drainWakes: made here, inside the handler of another
		// request's completion (a metadata write's, whose waiters it is
		// walking), it would change the state that handler walks.
		e.zeroUpdates = append(e.zeroUpdates, rq)
		return
	}
	rq.segOff = e.alloc(n * g.ClusterSize)
	if e.room(rq, rq.segOff+n*g.ClusterSize, growData) {
		e.writeNewData(rq)
	}
}

// writeNewData writes the segment's new data clusters: the guest data,
// and a fill (backing data or zeros) around it as the FillMode says.
func (e *Engine) writeNewData(rq *request) {
	g := &e.g
	start := g.StartOfCluster(rq.pos)
	size := rq.nClusters * g.ClusterSize
	head := rq.pos - start
	tail := head + rq.segLen
	needBacking := e.backing && !rq.zeroRun && start < e.backingSize
	if head == 0 && tail == size {
		e.issue(rq, OpWrite, ImageFile, rq.segOff, rq.guestBuf(), PurposeData, stepAllocData)
		return
	}
	if !needBacking && e.fill == FillElide {
		if rq.segOff < e.zeroFrom {
			// Space the file held at open: zeros must land there. A
			// write-zeroes command over the clusters, then the data.
			io := e.issue(rq, OpWriteZeroes, ImageFile, rq.segOff, nil, PurposeData, stepZeroFill)
			io.Len = size
			return
		}
		// The clusters read as zeros already: the guest data alone. When
		// the file may end inside them (not grown ahead), zeros to their
		// end follow (stepSparseTail).
		next := stepAllocData
		if tail < size && rq.segOff+size > e.grownEnd {
			next = stepSparseTail
		}
		e.issue(rq, OpWrite, ImageFile, rq.segOff+head, rq.guestBuf(), PurposeData, next)
		return
	}
	if needBacking {
		rq.buf = e.pool.get(int(size))
		m := min(size, e.backingSize-start)
		clear(rq.buf[m:])
		// A fill wholly inside the backing file is its bytes from start.
		rq.backFill, rq.backFrom = m == size, start
		e.issue(rq, OpRead, BackingFile, start, rq.buf[:m], PurposeBacking, stepFillRead)
		return
	}
	rq.buf, rq.zeroFill = e.pool.getZeroed(int(size)), true
	e.copyDataIntoCluster(rq)
	e.writeAllocated(rq)
}

func (e *Engine) copyDataIntoCluster(rq *request) {
	copy(rq.buf[e.g.InCluster(rq.pos):], rq.guestBuf())
}

// writeAllocated writes the filled clusters: as one I/O, or (FillSeparate)
// as QEMU's QED does, the fill before the data, then the fill after it,
// then the data, one after another.
//
// A zero fill is marked on the I/O (IO.zeroHead, IO.zeroTail), so that
// Perform can hand it to a ZeroWriter without the storage scanning it,
// and so is a fill of backing bytes (IO.backHead, IO.backTail), for a
// BackingWriter.
func (e *Engine) writeAllocated(rq *request) {
	head := e.g.InCluster(rq.pos)
	tail := head + rq.segLen
	if e.fill != FillSeparate {
		io := e.issue(rq, OpWrite, ImageFile, rq.segOff, rq.buf, PurposeData, stepAllocData)
		e.markFill(rq, io, 0, int(head), len(rq.buf)-int(tail))
		return
	}
	for {
		stage := rq.fillStage
		rq.fillStage++
		switch stage {
		case 0:
			if head > 0 {
				io := e.issue(rq, OpWrite, ImageFile, rq.segOff, rq.buf[:head], PurposeData, stepFillWrite)
				e.markFill(rq, io, 0, len(io.Buf), 0)
				return
			}
		case 1:
			if tail < uint64(len(rq.buf)) {
				io := e.issue(rq, OpWrite, ImageFile, rq.segOff+tail, rq.buf[tail:], PurposeData, stepFillWrite)
				e.markFill(rq, io, tail, len(io.Buf), 0)
				return
			}
		default:
			rq.fillStage = 0
			e.issue(rq, OpWrite, ImageFile, rq.segOff+head, rq.buf[head:tail], PurposeData, stepAllocData)
			return
		}
	}
}

// markFill marks on io, a write of rq.buf from byte at on, that its first
// head and last tail bytes are the fill: zeros, or the backing file's
// bytes.
func (e *Engine) markFill(rq *request, io *IO, at uint64, head, tail int) {
	switch {
	case rq.zeroFill:
		io.zeroHead, io.zeroTail = head, tail
	case rq.backFill:
		io.backHead, io.backTail, io.backFrom = head, tail, rq.backFrom+at
	}
}

// updateL2 links the new clusters: into the cached L2 table, whose changed
// sectors the metadata writer then writes, or into a new L2 table.
func (e *Engine) updateL2(rq *request) {
	g := &e.g
	idx := g.L2Index(rq.pos)
	n := rq.nClusters
	if rq.acc.Kind == model.AllocL2 {
		t := &l2Table{off: e.alloc(g.TableBytes), entries: make([]uint64, g.TableEntries), pins: 1}
		for k := range n {
			t.entries[idx+k] = rq.newEntry(k, g.ClusterSize)
		}
		rq.newTable = t
		if e.room(rq, t.off+g.TableBytes, growTable) {
			e.writeNewTable(rq)
		}
		return
	}
	if e.meta.preFlush {
		// A write-back batch's flush is in flight: an entry made now
		// would go out with the batch without its data flushed.
		e.meta.parked = append(e.meta.parked, rq)
		return
	}
	t := rq.table
	for k := range n {
		t.entries[idx+k] = rq.newEntry(k, g.ClusterSize)
	}
	e.releaseBuf(rq)
	e.meta.update(e, rq, t.off, false, idx, n)
	if rq.pendingMeta == 0 {
		e.metaDone(rq) // written back later
	}
}

// newEntry returns the L2 entry of the segment's k'th new cluster: its
// data cluster, or ZeroCluster for a write-zeroes' zero-cluster entries.
func (rq *request) newEntry(k, clusterSize uint64) uint64 {
	if rq.zeroEntries {
		return ZeroCluster
	}
	return rq.segOff + k*clusterSize
}

// zeroesPiece returns the end of the piece of a write-zeroes at pos, no
// further than spanEnd: a piece is either the part of one cluster at an
// unaligned start or end, or whole clusters (the image's last cluster is
// whole when the range reaches the image's end, which need not be
// cluster-aligned).
func (e *Engine) zeroesPiece(pos, spanEnd uint64) uint64 {
	g := &e.g
	if g.InCluster(pos) != 0 {
		return min(spanEnd, g.StartOfCluster(pos)+g.ClusterSize)
	}
	if whole := g.StartOfCluster(spanEnd); spanEnd != g.ImageSize && whole > pos {
		return whole
	}
	return spanEnd
}

// wholeClusters reports whether rq's segment covers its clusters whole
// (to the image's end for the last).
func (e *Engine) wholeClusters(rq *request) bool {
	end := rq.pos + rq.segLen
	return e.g.InCluster(rq.pos) == 0 && (e.g.InCluster(end) == 0 || end == e.g.ImageSize)
}

// readsAsZeros reports whether unallocated clusters from pos on read as
// zeros: there is no backing file, or it ends before pos.
func (e *Engine) readsAsZeros(pos uint64) bool {
	return !e.backing || pos >= e.backingSize
}

// prepareZeroes sets up an admitted write-zeroes segment over
// unallocated clusters that do not read as zeros (a backing file holds
// them): whole clusters become zero-cluster entries, an unaligned piece
// is written as zero data, with the copy-on-write fill of any write.
func (e *Engine) prepareZeroes(rq *request) {
	if e.wholeClusters(rq) {
		rq.zeroEntries = true
		return
	}
	if e.zeroData == nil {
		e.zeroData = make([]byte, e.g.ClusterSize)
	}
	rq.zeros = e.zeroData
}

// writeNewTable writes the segment's new L2 table. Only the new entries
// are not zero: they are encoded into a zeroed buffer, and the zeros
// around them marked for Perform.
func (e *Engine) writeNewTable(rq *request) {
	g := &e.g
	t := rq.newTable
	idx, n := g.L2Index(rq.pos), rq.nClusters
	buf := e.pool.getZeroed(int(g.TableBytes))
	encodeTable(buf[idx*8:(idx+n)*8], t.entries[idx:idx+n])
	io := e.newIO(rq.r.ID, OpWrite, ImageFile, t.off, buf, PurposeL2Write, stepNewTable)
	io.owner = rq
	io.pooled = true
	io.zeroHead, io.zeroTail = int(idx*8), len(buf)-int((idx+n)*8)
	e.emit(io)
}

// linkNewTable points the L1 entry at the new table, which is on disk, and
// commits the table to the cache so lookups find it from now on.
func (e *Engine) linkNewTable(rq *request) {
	t := rq.newTable
	l1i := e.g.L1Index(rq.pos)
	e.l1[l1i] = t.off
	e.cache.insert(t)
	e.cache.unpin(t) // the write that pinned it is done
	e.releaseBuf(rq)
	e.meta.update(e, rq, e.h.L1TableOffset, true, l1i, 1)
}

// metaDone is called when every metadata write rq waited for is stable
// (at once for an update written back later); a guest flush then flushes.
func (e *Engine) metaDone(rq *request) {
	if rq.r.Op == ReqFlush {
		e.issue(rq, OpFlush, ImageFile, 0, nil, PurposeFlush, stepFlush)
		return
	}
	e.segmentDone(rq)
}

// issue emits an I/O on behalf of rq and returns it.
func (e *Engine) issue(rq *request, op IOOp, f File, off uint64, buf []byte, p Purpose, s step) *IO {
	io := e.newIO(rq.r.ID, op, f, off, buf, p, s)
	io.owner = rq
	e.emit(io)
	return io
}

func (e *Engine) newIO(req uint64, op IOOp, f File, off uint64, buf []byte, p Purpose, s step) *IO {
	e.nextIO++
	io := e.pool.getIO()
	*io = IO{ID: e.nextIO, Op: op, File: f, Off: off, Buf: buf, Purpose: p, Req: req, step: s}
	return io
}

func (e *Engine) emit(io *IO) {
	e.stats.IOs[io.Purpose]++
	e.stats.Bytes[io.Purpose] += uint64(len(io.Buf))
	if io.Op == OpWrite {
		e.stats.Written[io.Purpose] += uint64(len(io.Buf))
	}
	e.ios = append(e.ios, io)
}

func (e *Engine) putIO(io *IO) {
	if io.pooled {
		if io.Op == OpWrite && (io.zeroHead > 0 || io.zeroTail > 0) {
			// Zeros but for the middle, which a write left as it was.
			clear(io.Buf[io.zeroHead : len(io.Buf)-io.zeroTail])
			e.pool.putZeroed(io.Buf)
		} else {
			e.pool.put(io.Buf)
		}
	}
	e.pool.putIO(io)
}
