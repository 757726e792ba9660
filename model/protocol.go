package model

import (
	"errors"
	"fmt"
	"strings"
)

// The protocol model is the allocating-write protocol of impl/engine.go
// written as an explicit, pure state machine small enough to explore
// exhaustively: lookup, policy decision, allocation of a data cluster at
// the end of the file, the data write with copy-on-write fill, the flush
// before the L2 update (with a backing file), the L2 update through the
// ordered metadata writer or the write of a new L2 table followed by the
// L1 update, completion, and the frozen/woken/restart path. Reads go
// through the same lookup. The on-disk state (tables, data, the
// need-check bit) is kept apart from the cached tables, and every disk
// write in flight lands in a transition of its own, so writes in flight
// at once land in any order.
//
// Each request is one single-sector read or write, or a flush, or (where
// Ops names it) a single-sector write-zeroes. Its operation and sector
// are chosen when it is submitted, so one exploration covers every
// workload of that many requests. Requests are submitted in index order
// (request 1 first), and addresses are chosen up to symmetry (a request
// uses an L1 entry, cluster or sector already used, or the lowest unused
// one), which breaks the symmetry between requests and between addresses
// without losing a behaviour.
//
// Where the model abstracts from the engine, it does so in the direction
// that keeps every behaviour of the engine: loading an L2 table into the
// cache happens within the lookup (a table not in the cache has no write
// in flight, so when it is read does not matter, and an earlier lookup
// only makes the read's real-time constraints stronger); the cache never
// evicts; the policy sees other requests' accesses in request order, not
// admission order (TestPolicyOrderInsensitive holds every registered
// policy to that).

// Limits of a protocol configuration.
const (
	// MaxProtocolRequests is the largest number of requests.
	MaxProtocolRequests = 6
	// MaxProtocolL1 is the largest number of L1 entries.
	MaxProtocolL1 = 8
	// MaxProtocolClusters is the largest number of clusters per L2 table.
	MaxProtocolClusters = 8
	// MaxProtocolSectors is the largest number of sectors per cluster.
	MaxProtocolSectors = 8

	// maxSlots bounds the clusters a run allocates: each request
	// allocates at most one data cluster and one L2 table.
	maxSlots = 2 * MaxProtocolRequests
	maxWidth = 8 // max(MaxProtocolClusters, MaxProtocolSectors, MaxProtocolL1)
)

// ProtocolConfig is the configuration of a protocol model: how many
// requests, the geometry of the image, and what the model may do besides
// running requests.
type ProtocolConfig struct {
	// Requests is the number of requests, 1 to MaxProtocolRequests.
	Requests int
	// L1Entries is the number of L1 entries (L2 tables the guest spans),
	// 1 to MaxProtocolL1.
	L1Entries int
	// Clusters is the number of clusters each L2 table maps, 1 to
	// MaxProtocolClusters (all in one 512-byte table sector, as in the
	// engine with at most 64 clusters).
	Clusters int
	// Sectors is the number of 512-byte sectors per cluster, 1 to
	// MaxProtocolSectors. With one sector a write covers its whole
	// cluster and needs no fill.
	Sectors int
	// Backing gives the image a raw backing file covering the whole
	// guest: unallocated sectors read from it, fills copy from it, and
	// the data is flushed before the L2 update. Without one, the first
	// allocating write sets the need-check bit first, as QEMU does.
	Backing bool
	// Reopen lets the model reopen the image whenever it is quiescent:
	// every cache is dropped and the tables are read from disk again.
	Reopen bool
	// UnorderedMeta replaces the engine's ordered metadata writer by one
	// write per update, carrying the table sector as it was when the
	// update was made; such writes of one sector may land in any order.
	// It models the engine without its fix, to show what the fix is for.
	UnorderedMeta bool
	// NoSymmetry lets every request choose any sector instead of only
	// the addresses distinct up to symmetry.
	NoSymmetry bool
	// Start is the image the requests start from: "" (StartEmpty) an
	// empty image, StartTable an L2 table linked from L1 entry 0 with no
	// cluster allocated, StartPrealloc every cluster under L1 entry 0
	// allocated (holding the guest's initial content). A backing file is
	// the Backing field, with any start.
	Start string
	// Ops, if not empty, fixes each request's operation, in submission
	// order: 'w' a write, 'r' a read, 'z' a write-zeroes, 'f' a flush
	// ("wwfr": two writers, a flush, then a reader). Empty lets every
	// request read or write, each combination explored (never
	// write-zeroes: only Ops asks for it).
	//
	// A write-zeroes makes its sector read as zeros, as the engine's
	// impl.ReqWriteZeroes does for the one sector: an allocated cluster
	// is zeroed in place (admitted as Rewrite); a zero cluster, or an
	// unallocated one that reads as zeros (no backing file), needs
	// nothing and the policy is not asked; an unallocated one the
	// backing file shows through becomes a zero-cluster entry when the
	// request covers it whole (Sectors 1: an allocation of metadata only,
	// admitted as AllocCluster or AllocL2), and is written as zero data
	// with the copy-on-write fill of any allocating write when it covers
	// it in part. A read of a zero cluster returns zeros; an allocating
	// write into one fills the rest of its new cluster with zeros.
	//
	// A flush goes through the policy like
	// any request, issues a flush of the image file, and when it found
	// no allocating write in flight and none was admitted before it
	// completed, clears the need-check bit, as engine.flush does. Every
	// write that lands is durable in the model, so a flush's promise
	// itself is the crash explorer's to check; here it is the flush's
	// interplay with the policy and with the need-check bit.
	Ops string
	// LeaksViolation makes a leak a violation: a quiescent state with a
	// cluster allocated that no table on disk references. Space lost is a
	// defect too, though not lost data.
	LeaksViolation bool
}

// Need-check bit states (ProtocolState.hdr).
const (
	hdrClear    uint8 = iota // clear in memory and on disk
	hdrSetting               // set in memory, its header write in flight
	hdrSet                   // set in memory and on disk
	hdrClearing              // cleared in memory after a quiet flush, its header write in flight
)

// Start states of ProtocolConfig.Start.
const (
	StartEmpty    = ""
	StartTable    = "table"
	StartPrealloc = "prealloc"
)

// preSlots returns the clusters the start state has allocated: the L2
// table under L1 entry 0, and with StartPrealloc its data clusters.
func (c ProtocolConfig) preSlots() int {
	switch c.Start {
	case StartTable:
		return 1
	case StartPrealloc:
		return 1 + c.Clusters
	}
	return 0
}

// Validate checks the configuration; the error says what is wrong.
func (c ProtocolConfig) Validate() error {
	var errs []error
	check := func(name string, v, hi int) {
		if v < 1 || v > hi {
			errs = append(errs, fmt.Errorf("%s is %d, want 1 to %d", name, v, hi))
		}
	}
	check("requests", c.Requests, MaxProtocolRequests)
	check("L1 entries", c.L1Entries, MaxProtocolL1)
	check("clusters per table", c.Clusters, MaxProtocolClusters)
	check("sectors per cluster", c.Sectors, MaxProtocolSectors)
	switch c.Start {
	case StartEmpty, StartTable, StartPrealloc:
		if n := c.preSlots() + 2*c.Requests; n > maxSlots && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("start %q with %d clusters and %d requests may allocate %d clusters, the model holds %d", c.Start, c.Clusters, c.Requests, n, maxSlots))
		}
	default:
		errs = append(errs, fmt.Errorf("start %q: want empty, %s or %s", c.Start, StartTable, StartPrealloc))
	}
	if c.Ops != "" {
		if len(c.Ops) != c.Requests {
			errs = append(errs, fmt.Errorf("request mix %q has %d requests, the configuration %d", c.Ops, len(c.Ops), c.Requests))
		}
		if strings.Trim(c.Ops, "rwzf") != "" {
			errs = append(errs, fmt.Errorf("request mix %q: want only r (read), w (write), z (write-zeroes) and f (flush)", c.Ops))
		}
	}
	return errors.Join(errs...)
}

// GuestSectors returns the number of guest sectors the configuration maps.
func (c ProtocolConfig) GuestSectors() int { return c.L1Entries * c.Clusters * c.Sectors }

// String renders the configuration for reports:
// "3 requests, 2 L1 x 2 clusters x 2 sectors, backing, reopen".
func (c ProtocolConfig) String() string {
	s := fmt.Sprintf("%d requests, %d L1 x %d clusters x %d sectors", c.Requests, c.L1Entries, c.Clusters, c.Sectors)
	if c.Backing {
		s += ", backing"
	} else {
		s += ", no backing"
	}
	if c.Reopen {
		s += ", reopen"
	}
	if c.UnorderedMeta {
		s += ", unordered metadata writes"
	}
	if c.NoSymmetry {
		s += ", no symmetry"
	}
	switch c.Start {
	case StartTable:
		s += ", existing L2 table"
	case StartPrealloc:
		s += ", preallocated clusters"
	}
	if c.Ops != "" {
		s += ", requests " + c.Ops
	}
	if c.LeaksViolation {
		s += ", leaks are violations"
	}
	return s
}

// Sector content tags. A data cluster's sector holds the tag of what was
// written there: zeros (never written), the initial content of the guest
// sector (the backing file's, or zeros without one), or request r's write
// (tagWrite+r, r counted from 0).
const (
	tagZero    uint8 = 0
	tagBacking uint8 = 1
	tagWrite   uint8 = 2
)

// Request phases.
const (
	phIdle     uint8 = iota // not submitted yet
	phFrozen                // frozen by the policy, in the frozen queue
	phHeader                // waiting for the need-check header write
	phFill                  // backing read for the copy-on-write fill in flight
	phData                  // write of the new data cluster in flight
	phPreFlush              // flush before the L2 update in flight
	phTable                 // write of a new L2 table in flight
	phMetaL2                // waiting for the write of the L2 table sector
	phMetaL1                // waiting for the write of the L1 table sector
	phZeroDue               // a write-zeroes' zero-cluster entry is due, made before the transition ends
	phRewrite               // in-place data write in flight
	phRead                  // read of an allocated cluster in flight
	phBackRead              // read of an unallocated sector from the backing file in flight
	phFlush                 // a guest flush's flush in flight
	phDone                  // completed
	numPhases
)

// Slot kinds.
const (
	slotFree    uint8 = iota // not allocated
	slotData                 // a data cluster
	slotTable                // an L2 table
	slotGarbage              // allocated, referenced by nothing, never again used
)

// slot is one allocated cluster of the image file (an L2 table takes one).
// Slots are numbered from 1 in allocation order; 0 means "none".
type slot struct {
	kind    uint8
	written bool // its first write has landed (it lies inside the file)
	cached  bool // an L2 table in the cache
	meta    bool // a metadata write of this table is in flight (ordered writer)
	// disk is the slot's content on disk: sector tags of a data cluster,
	// or entries (slot numbers) of an L2 table.
	disk [maxWidth]uint8
	// cache is the cached content of an L2 table (valid while cached, or
	// between the new table's allocation and its link into L1).
	cache [maxWidth]uint8
	// snap is the content of the metadata write in flight.
	snap [maxWidth]uint8
}

// reqState is one request.
type reqState struct {
	phase  uint8
	write  bool
	sector uint16
	kind   Kind  // the admitted access's kind
	data   uint8 // data slot: allocated, rewritten or read
	table  uint8 // L2 table: updated (alloc-cluster) or new (alloc-l2)
	dirty  bool  // its metadata update is not in the write in flight yet
	meta   bool  // unordered writer: its metadata write is in flight
	quiet  bool  // a flush: no allocating write in flight or admitted since it was admitted
	result uint8 // tag a completed read returned
	prec   uint8 // requests that completed before it was submitted (same sector only)
	snap   [maxWidth]uint8

	// zeroFill: its new cluster's fill is zeros, not the backing file's
	// (the entry it replaces is a zero cluster). Set only where it
	// matters: with a backing file and more than one sector a cluster.
	zeroFill bool
}

// ProtocolState is one state of the protocol model. It is a plain value:
// copying it copies the state. Only the methods of Protocol interpret it.
type ProtocolState struct {
	alloc   uint8 // slots allocated
	hdr     uint8 // need-check bit: hdrClear, hdrSetting, hdrSet, hdrClearing
	l1Meta  bool  // an L1 sector write is in flight (ordered writer)
	nFrozen uint8
	frozen  [MaxProtocolRequests]uint8 // frozen queue, in freeze order
	l1Cache [maxWidth]uint8
	l1Disk  [maxWidth]uint8
	l1Snap  [maxWidth]uint8
	slots   [maxSlots + 1]slot
	reqs    [MaxProtocolRequests]reqState
}

// Protocol is the protocol model of one configuration under one policy.
// It holds no mutable state and is safe for concurrent use.
type Protocol struct {
	cfg     ProtocolConfig
	policy  Policy
	layout  layout
	flushes uint8 // bit r: request r is a flush (Ops)
	zeroes  uint8 // bit r: request r is a write-zeroes (Ops)
	// zero is the L2 entry of a zero cluster (the engine's ZeroCluster):
	// one above any slot number a run allocates, so no slot has it.
	zero uint8
	// sectors holds each guest sector's address (see l1Of), looked up
	// rather than divided out on every use.
	sectors [MaxProtocolL1 * MaxProtocolClusters * MaxProtocolSectors]sectorAddr
}

// sectorAddr is where a guest sector lies: its L1 entry, its index in
// that L2 table, its sector in the cluster, and its guest cluster.
type sectorAddr struct{ l1, l2, in, cluster uint8 }

// NewProtocol returns the protocol model of cfg under policy.
func NewProtocol(cfg ProtocolConfig, policy Policy) (*Protocol, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("protocol model: %w", err)
	}
	if policy == nil {
		return nil, errors.New("protocol model: no policy")
	}
	p := &Protocol{cfg: cfg, policy: policy}
	p.layout = newLayout(cfg)
	p.zero = uint8(p.layout.maxAlloc + 1)
	for sec := range cfg.GuestSectors() {
		p.sectors[sec] = sectorAddr{
			l1:      uint8(sec / (cfg.Clusters * cfg.Sectors)),
			l2:      uint8(sec / cfg.Sectors % cfg.Clusters),
			in:      uint8(sec % cfg.Sectors),
			cluster: uint8(sec / cfg.Sectors),
		}
	}
	for r := 0; r < len(cfg.Ops); r++ {
		switch cfg.Ops[r] {
		case 'f':
			p.flushes |= 1 << r
		case 'z':
			p.zeroes |= 1 << r
		}
	}
	return p, nil
}

// Config returns the model's configuration.
func (p *Protocol) Config() ProtocolConfig { return p.cfg }

// Policy returns the model's policy.
func (p *Protocol) Policy() Policy { return p.policy }

// Initial returns the initial state: the image as Start says (empty, an
// existing L2 table under L1 entry 0, or every cluster under it
// allocated), no request submitted.
func (p *Protocol) Initial() ProtocolState {
	var s ProtocolState
	if p.cfg.Start == StartEmpty {
		return s
	}
	// The table in slot 1, on disk and linked from L1 entry 0 (as after
	// an open: not cached yet).
	s.alloc = 1
	s.slots[1] = slot{kind: slotTable, written: true}
	s.l1Disk[0], s.l1Cache[0] = 1, 1
	if p.cfg.Start == StartPrealloc {
		for i := 0; i < p.cfg.Clusters; i++ {
			d := uint8(2 + i)
			s.slots[d] = slot{kind: slotData, written: true}
			for k := 0; k < p.cfg.Sectors; k++ {
				s.slots[d].disk[k] = p.initial()
			}
			s.slots[1].disk[i] = d
		}
		s.alloc = uint8(1 + p.cfg.Clusters)
	}
	return s
}

// initial returns the initial content tag of a guest sector.
func (p *Protocol) initial() uint8 {
	if p.cfg.Backing {
		return tagBacking
	}
	return tagZero
}

// Address arithmetic: guest sector s lies under L1 entry s/(C*S), at L2
// index (s/S)%C, sector s%S of its cluster (as NewProtocol tabulates
// them); its guest cluster is s/S.
func (p *Protocol) l1Of(s uint16) int         { return int(p.sectors[s].l1) }
func (p *Protocol) l2Of(s uint16) int         { return int(p.sectors[s].l2) }
func (p *Protocol) inOf(s uint16) int         { return int(p.sectors[s].in) }
func (p *Protocol) clusterOf(s uint16) uint64 { return uint64(p.sectors[s].cluster) }

// MoveKind is the kind of a protocol transition.
type MoveKind uint8

const (
	// MoveSubmit submits the next request with an operation and sector.
	MoveSubmit MoveKind = iota
	// MoveIO completes the I/O request Req has in flight.
	MoveIO
	// MoveMetaL2 lands the ordered metadata write of the L2 table in Slot.
	MoveMetaL2
	// MoveMetaL1 lands the ordered metadata write of the L1 table.
	MoveMetaL1
	// MoveMetaReq lands request Req's own metadata write (unordered writer).
	MoveMetaReq
	// MoveHeader lands the header write that sets the need-check bit.
	MoveHeader
	// MoveReopen drops every cache and reads the tables from disk.
	MoveReopen
)

// Move is one transition of the model, named so that applying it to the
// same state always gives the same successor.
type Move struct {
	Kind   MoveKind
	Req    uint8  // request index (MoveSubmit, MoveIO, MoveMetaReq)
	Write  bool   // MoveSubmit: a write, or a write-zeroes where Ops makes the request one (else a read)
	Sector uint16 // MoveSubmit: the guest sector
	Slot   uint8  // MoveMetaL2: the table's slot
}

// Facts are reachability facts a transition establishes, so a verdict
// can say how much concurrency it covered.
type Facts uint8

const (
	// FactAllocOverlap: two allocating writes were in flight at once.
	FactAllocOverlap Facts = 1 << iota
	// FactFreeze: the policy froze a request.
	FactFreeze
	// FactRestart: a frozen request was woken and restarted its lookup.
	FactRestart
	// FactRestartProceed: a woken request was admitted on restart.
	FactRestartProceed
	// FactReopen: the image was reopened with data on it.
	FactReopen
)

// Violation is an invariant a transition broke.
type Violation struct {
	// Invariant names the invariant: "linearizability",
	// "double-reference", "unwritten-reference", "reopen-content",
	// "deadlock".
	Invariant string
	// Message says what happened, in domain words.
	Message string
}

// Error renders "invariant: message".
func (v *Violation) Error() string { return v.Invariant + ": " + v.Message }

// Outcome is what applying a move did besides producing the successor.
type Outcome struct {
	// Facts are the reachability facts the move established.
	Facts Facts
	// Violation is the first invariant the move or its successor broke,
	// or nil.
	Violation *Violation
}

// Moves appends the moves enabled in s to dst and returns it, in a fixed
// order: submissions, request I/O, metadata writes, header, reopen.
func (p *Protocol) Moves(s *ProtocolState, dst []Move) []Move {
	n := p.cfg.Requests
	next := -1
	for r := 0; r < n; r++ {
		if s.reqs[r].phase == phIdle {
			next = r
			break
		}
	}
	if next >= 0 && p.isFlush(next) {
		dst = append(dst, Move{Kind: MoveSubmit, Req: uint8(next)})
	} else if next >= 0 {
		var buf [MaxProtocolL1 * MaxProtocolClusters * MaxProtocolSectors]uint16
		read, write := p.cfg.mayRead(next), p.cfg.mayWrite(next)
		for _, sec := range p.sectorChoices(s, next, buf[:0]) {
			if read {
				dst = append(dst, Move{Kind: MoveSubmit, Req: uint8(next), Sector: sec})
			}
			if write {
				dst = append(dst, Move{Kind: MoveSubmit, Req: uint8(next), Write: true, Sector: sec})
			}
		}
	}
	for r := 0; r < n; r++ {
		rq := &s.reqs[r]
		switch rq.phase {
		case phFill, phData, phPreFlush, phTable, phRewrite, phRead, phBackRead, phFlush:
			dst = append(dst, Move{Kind: MoveIO, Req: uint8(r)})
		}
		if rq.meta {
			dst = append(dst, Move{Kind: MoveMetaReq, Req: uint8(r)})
		}
	}
	for i := 1; i <= int(s.alloc); i++ {
		if s.slots[i].meta {
			dst = append(dst, Move{Kind: MoveMetaL2, Slot: uint8(i)})
		}
	}
	if s.l1Meta {
		dst = append(dst, Move{Kind: MoveMetaL1})
	}
	if s.hdr == hdrSetting || s.hdr == hdrClearing {
		dst = append(dst, Move{Kind: MoveHeader})
	}
	if p.cfg.Reopen && p.quiescent(s) && s.alloc > 0 {
		dst = append(dst, Move{Kind: MoveReopen})
	}
	return dst
}

// isFlush reports whether request r is a flush (Ops).
func (p *Protocol) isFlush(r int) bool { return p.flushes&(1<<r) != 0 }

// isZeroes reports whether request r is a write-zeroes (Ops).
func (p *Protocol) isZeroes(r int) bool { return p.zeroes&(1<<r) != 0 }

// mayRead and mayWrite report whether request r may read, and write
// (Ops; a write-zeroes counts as a write).
func (c *ProtocolConfig) mayRead(r int) bool { return c.Ops == "" || c.Ops[r] == 'r' }
func (c *ProtocolConfig) mayWrite(r int) bool {
	return c.Ops == "" || c.Ops[r] == 'w' || c.Ops[r] == 'z'
}

// zeroes reports whether request r is a write-zeroes (Ops).
func (c *ProtocolConfig) zeroes(r int) bool { return c.Ops != "" && c.Ops[r] == 'z' }

// sectorChoices appends the sectors request r may choose in s to dst.
func (p *Protocol) sectorChoices(s *ProtocolState, r int, dst []uint16) []uint16 {
	var prev [MaxProtocolRequests]uint16
	n := 0
	for q := 0; q < r; q++ {
		if !p.isFlush(q) {
			prev[n] = s.reqs[q].sector
			n++
		}
	}
	return p.cfg.sectorChoices(prev[:n], dst)
}

// sectorChoices appends to out the sectors the request after prev may
// choose: every sector, or with symmetry, per level of the address (L1
// entry, cluster, sector in cluster) one already used by an earlier
// request or the lowest unused one.
func (c *ProtocolConfig) sectorChoices(prev []uint16, out []uint16) []uint16 {
	if c.NoSymmetry {
		for sec := 0; sec < c.GuestSectors(); sec++ {
			out = append(out, uint16(sec))
		}
		return out
	}
	cs := c.Clusters * c.Sectors
	l1Of := func(s uint16) int { return int(s) / cs }
	l2Of := func(s uint16) int { return int(s) / c.Sectors % c.Clusters }
	// Used addresses form prefixes: count them per level.
	usedL1 := 0
	for _, sq := range prev {
		usedL1 = max(usedL1, l1Of(sq)+1)
	}
	hi := usedL1 + 1
	if c.Start != StartEmpty {
		// L1 entry 0 is not like the others: the start state filled it.
		hi = max(hi, 2)
	}
	for e := 0; e < min(hi, c.L1Entries); e++ {
		usedCl := 0
		for _, sq := range prev {
			if l1Of(sq) == e {
				usedCl = max(usedCl, l2Of(sq)+1)
			}
		}
		for i := 0; i < min(usedCl+1, c.Clusters); i++ {
			usedSec := 0
			for _, sq := range prev {
				if l1Of(sq) == e && l2Of(sq) == i {
					usedSec = max(usedSec, int(sq)%c.Sectors+1)
				}
			}
			for k := 0; k < min(usedSec+1, c.Sectors); k++ {
				out = append(out, uint16((e*c.Clusters+i)*c.Sectors+k))
			}
		}
	}
	return out
}

// WorkloadOp is one request of a workload: a read, a write or a
// write-zeroes of one guest sector of the model's geometry, or a flush.
type WorkloadOp struct {
	// Write is true for a write, false for a read.
	Write bool
	// Flush is true for a flush (Write false, Sector 0).
	Flush bool
	// Zeroes is true for a write-zeroes (Write false).
	Zeroes bool
	// Sector is the guest sector, counted from 0 in address order.
	Sector int
}

// String renders the op as "w3", "r0", "z1" or "f".
func (o WorkloadOp) String() string {
	switch {
	case o.Flush:
		return "f"
	case o.Zeroes:
		return fmt.Sprintf("z%d", o.Sector)
	case o.Write:
		return fmt.Sprintf("w%d", o.Sector)
	}
	return fmt.Sprintf("r%d", o.Sector)
}

// Workloads returns every workload of c.Requests requests that the
// protocol model explores: each request reads, writes or writes zeroes
// (as Ops allows) a sector chosen as Moves chooses it (up to symmetry
// unless NoSymmetry), in a fixed order. The explorer of the real engine
// runs the same workloads.
func (c ProtocolConfig) Workloads() [][]WorkloadOp {
	var out [][]WorkloadOp
	var rec func(prev []WorkloadOp)
	rec = func(prev []WorkloadOp) {
		if len(prev) == c.Requests {
			out = append(out, append([]WorkloadOp(nil), prev...))
			return
		}
		if c.Ops != "" && c.Ops[len(prev)] == 'f' {
			rec(append(prev, WorkloadOp{Flush: true}))
			return
		}
		secs := make([]uint16, 0, len(prev))
		for _, o := range prev {
			if !o.Flush {
				secs = append(secs, uint16(o.Sector))
			}
		}
		for _, sec := range c.sectorChoices(secs, nil) {
			if c.mayRead(len(prev)) {
				rec(append(prev, WorkloadOp{Write: false, Sector: int(sec)}))
			}
			if c.zeroes(len(prev)) {
				rec(append(prev, WorkloadOp{Zeroes: true, Sector: int(sec)}))
			} else if c.mayWrite(len(prev)) {
				rec(append(prev, WorkloadOp{Write: true, Sector: int(sec)}))
			}
		}
	}
	rec(nil)
	return out
}

// Workload returns the requests submitted in s, in submission order.
func (p *Protocol) Workload(s *ProtocolState) []WorkloadOp {
	var out []WorkloadOp
	for r := 0; r < p.cfg.Requests; r++ {
		if rq := &s.reqs[r]; rq.phase != phIdle {
			z := p.isZeroes(r)
			out = append(out, WorkloadOp{Write: rq.write && !z, Zeroes: z, Flush: p.isFlush(r), Sector: int(rq.sector)})
		}
	}
	return out
}

// quiescent reports whether no request is in flight or frozen and no I/O
// is outstanding.
func (p *Protocol) quiescent(s *ProtocolState) bool {
	if s.hdr == hdrSetting || s.hdr == hdrClearing || s.l1Meta || s.nFrozen > 0 {
		return false
	}
	for r := 0; r < p.cfg.Requests; r++ {
		if ph := s.reqs[r].phase; ph != phIdle && ph != phDone {
			return false
		}
	}
	for i := 1; i <= int(s.alloc); i++ {
		if s.slots[i].meta {
			return false
		}
	}
	return true
}

// Terminal reports whether every request has completed and nothing is in
// flight.
func (p *Protocol) Terminal(s *ProtocolState) bool {
	for r := 0; r < p.cfg.Requests; r++ {
		if s.reqs[r].phase != phDone {
			return false
		}
	}
	return p.quiescent(s)
}

// exec is the context of one transition.
type exec struct {
	p      *Protocol
	s      *ProtocolState
	log    *[]string
	events *[]Event
	facts  Facts
	viol   *Violation
	wake   bool
	// zeroUps are the requests whose zero-cluster entries are due, in
	// the order their lookups admitted them: drainWakes makes them, as
	// the engine's drainWakes makes its zeroUpdates.
	zeroUps  [MaxProtocolRequests]uint8
	nZeroUps int
	// others holds the accesses freezes shows the policy. The policy is
	// an interface, so they escape to the heap: the caller provides
	// them, once per Stepper rather than once per question.
	others *[MaxProtocolRequests]Access
}

// tracing reports whether the transition's steps are recorded.
func (x *exec) tracing() bool { return x.log != nil || x.events != nil }

// stepf records one step of the transition: its words in the log, and
// the step as an Event.
func (x *exec) stepf(kind EventKind, req int, io string, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if x.log != nil {
		*x.log = append(*x.log, text)
	}
	if x.events != nil {
		*x.events = append(*x.events, Event{Kind: kind, Req: req, IO: io, Text: text})
	}
}

func (x *exec) fail(invariant, format string, args ...any) {
	if x.viol == nil {
		x.viol = &Violation{Invariant: invariant, Message: fmt.Sprintf(format, args...)}
	}
}

// Apply applies m to s in place and returns what it did. If log is not
// nil, it appends one line per step of the transition, in domain words.
// The successor is not canonical; Canonicalize makes it so.
func (p *Protocol) Apply(s *ProtocolState, m Move, log *[]string) Outcome {
	x := exec{p: p, s: s, log: log, others: new([MaxProtocolRequests]Access)}
	return x.apply(m)
}

// ApplyEvents is Apply that appends the transition's steps to events as
// data (for a sequence diagram) instead of as lines.
func (p *Protocol) ApplyEvents(s *ProtocolState, m Move, events *[]Event) Outcome {
	x := exec{p: p, s: s, events: events, others: new([MaxProtocolRequests]Access)}
	return x.apply(m)
}

// A Stepper applies moves as Apply does, without a log, reusing its own
// working memory, so that a search applying millions of moves allocates
// nothing per move (Apply allocates what the policy is shown). It is not
// safe for concurrent use: use one per goroutine.
type Stepper struct {
	p      *Protocol
	others [MaxProtocolRequests]Access
}

// NewStepper returns a Stepper of p.
func (p *Protocol) NewStepper() *Stepper { return &Stepper{p: p} }

// Apply applies m to s in place and returns what it did, as
// Protocol.Apply does with a nil log.
func (st *Stepper) Apply(s *ProtocolState, m Move) Outcome {
	x := exec{p: st.p, s: s, others: &st.others}
	return x.apply(m)
}

func (x *exec) apply(m Move) Outcome {
	switch m.Kind {
	case MoveSubmit:
		x.submit(int(m.Req), m.Write, m.Sector)
	case MoveIO:
		x.ioDone(int(m.Req))
	case MoveMetaL2:
		x.metaL2Landed(int(m.Slot))
	case MoveMetaL1:
		x.metaL1Landed()
	case MoveMetaReq:
		x.metaReqLanded(int(m.Req))
	case MoveHeader:
		x.headerLanded()
	case MoveReopen:
		x.reopen()
	}
	x.drainWakes()
	x.checkState()
	return Outcome{Facts: x.facts, Violation: x.viol}
}

// submit starts request r and looks it up, as engine.submit does.
func (x *exec) submit(r int, write bool, sector uint16) {
	s, p := x.s, x.p
	rq := &s.reqs[r]
	*rq = reqState{write: write || p.isZeroes(r), sector: sector}
	if p.isFlush(r) {
		if x.tracing() {
			x.stepf(EventSubmit, r+1, "", "request %d submitted: flush", r+1)
		}
		x.lookup(r)
		return
	}
	for q := 0; q < p.cfg.Requests; q++ {
		if q != r && !p.isFlush(q) && s.reqs[q].phase == phDone && s.reqs[q].sector == sector {
			rq.prec |= 1 << q
		}
	}
	op := "read"
	switch {
	case p.isZeroes(r):
		op = "write-zeroes"
	case write:
		op = "write"
	}
	if x.tracing() {
		x.stepf(EventSubmit, r+1, "", "request %d submitted: %s sector %d (L1[%d] L2[%d] sector %d of the cluster)", r+1, op, sector, p.l1Of(sector), p.l2Of(sector), p.inOf(sector))
	}
	x.lookup(r)
}

// lookup finds what the cached tables say about request r's sector, asks
// the policy, and starts the request's I/O, as engine.lookup does.
func (x *exec) lookup(r int) {
	s, p := x.s, x.p
	rq := &s.reqs[r]
	if p.isFlush(r) {
		x.lookupFlush(r)
		return
	}
	e, i := p.l1Of(rq.sector), p.l2Of(rq.sector)
	var kind Kind
	var entry, table uint8
	if t := s.l1Cache[e]; t == 0 {
		kind = AllocL2
	} else {
		table = t
		ts := &s.slots[t]
		if !ts.cached {
			ts.cached = true
			ts.cache = ts.disk
			if x.tracing() {
				x.stepf(EventNote, r+1, "", "request %d loads the L2 table at %s from disk", r+1, addr(t))
			}
		}
		entry = ts.cache[i]
		if entry == 0 || entry == p.zero {
			kind = AllocCluster
		} else {
			kind = Rewrite
		}
	}
	what := func() string {
		switch {
		case table == 0:
			return fmt.Sprintf("L1[%d] is empty", e)
		case entry == 0:
			return fmt.Sprintf("L2[%d] of the table at %s is empty", i, addr(table))
		case entry == p.zero:
			return fmt.Sprintf("L2[%d] of the table at %s is a zero cluster", i, addr(table))
		}
		return fmt.Sprintf("L2[%d] = %s", i, addr(entry))
	}
	if !rq.write {
		kind = Read
	}
	zeroes := p.isZeroes(r)
	if zeroes && kind != Rewrite && (entry == p.zero || !p.cfg.Backing) {
		// The sector reads as zeros already (a zero cluster, or
		// unallocated without a backing file): the engine's lookup moves
		// past it without asking the policy.
		if x.tracing() {
			x.stepf(EventNote, r+1, "", "request %d looks up: %s; the sector reads as zeros already, nothing to do", r+1, what())
		}
		x.finish(r)
		return
	}
	acc := Access{Req: uint64(r + 1), Kind: kind, L1: uint64(e), First: p.clusterOf(rq.sector), Count: 1}
	if x.freezes(r, acc) {
		if x.tracing() {
			x.stepf(EventFrozen, r+1, "", "request %d looks up: %s (%s); policy freezes it", r+1, what(), kind)
		}
		return
	}
	if x.tracing() {
		x.stepf(EventNote, r+1, "", "request %d looks up: %s (%s); policy admits it", r+1, what(), kind)
	}
	rq.kind = kind
	if kind.Allocating() {
		// engine.admit counts allocating admissions (allocGen): a flush
		// in flight no longer speaks for the tables.
		for q := 0; q < p.cfg.Requests; q++ {
			if s.reqs[q].phase == phFlush {
				s.reqs[q].quiet = false
			}
		}
	}
	switch kind {
	case Read:
		switch entry {
		case 0:
			x.readUnallocated(r)
			return
		case p.zero:
			if x.tracing() {
				x.stepf(EventNote, r+1, "", "request %d reads zeros: the cluster is a zero cluster", r+1)
			}
			x.finishRead(r, tagZero)
			return
		}
		rq.data = entry
		rq.phase = phRead
		if x.tracing() {
			x.stepf(EventIssue, r+1, reqIO(r), "request %d issues a read of sector %d of the cluster at %s", r+1, p.inOf(rq.sector), addr(entry))
		}
	case Rewrite:
		rq.data = entry
		rq.phase = phRewrite
		if x.tracing() {
			what := "an in-place write"
			if zeroes {
				what = "an in-place write-zeroes"
			}
			x.stepf(EventIssue, r+1, reqIO(r), "request %d issues %s of sector %d of the cluster at %s", r+1, what, p.inOf(rq.sector), addr(entry))
		}
	case AllocCluster, AllocL2:
		rq.table = table
		if zeroes && p.cfg.Sectors == 1 {
			// It covers the cluster whole: a zero-cluster entry, no
			// data, so neither need-check (there is a backing file) nor
			// a flush before the entry. The entry is made once the
			// transition's lookups are done (drainWakes).
			rq.phase = phZeroDue
			x.zeroUps[x.nZeroUps] = uint8(r)
			x.nZeroUps++
			if x.tracing() {
				x.stepf(EventNote, r+1, "", "request %d will make L2[%d] a zero cluster: no data to write", r+1, i)
			}
			break
		}
		rq.zeroFill = entry == p.zero && p.cfg.Backing && p.cfg.Sectors > 1
		x.allocate(r)
	}
	x.countAllocating()
}

// freezes asks the policy about request r's access acc, given the
// accesses in flight, and freezes r if it says so.
func (x *exec) freezes(r int, acc Access) bool {
	s, p := x.s, x.p
	others := x.others
	n := 0
	for q := 0; q < p.cfg.Requests; q++ {
		if q != r && admitted(s.reqs[q].phase) {
			oq := &s.reqs[q]
			if oq.kind == Flush {
				others[n] = Access{Req: uint64(q + 1), Kind: Flush}
			} else {
				others[n] = Access{Req: uint64(q + 1), Kind: oq.kind, L1: uint64(p.l1Of(oq.sector)), First: p.clusterOf(oq.sector), Count: 1}
			}
			n++
		}
	}
	if p.policy.Decide(acc, others[:n]) != Freeze {
		return false
	}
	s.reqs[r].phase = phFrozen
	s.frozen[s.nFrozen] = uint8(r)
	s.nFrozen++
	x.facts |= FactFreeze
	return true
}

// lookupFlush asks the policy about flush request r and issues its
// flush, noting whether an allocating write is in flight, as engine.lookup
// does for a flush.
func (x *exec) lookupFlush(r int) {
	s := x.s
	rq := &s.reqs[r]
	if x.freezes(r, Access{Req: uint64(r + 1), Kind: Flush}) {
		if x.tracing() {
			x.stepf(EventFrozen, r+1, "", "request %d (flush): policy freezes it", r+1)
		}
		return
	}
	rq.kind = Flush
	rq.quiet = x.p.AllocatingInFlight(s) == 0
	rq.phase = phFlush
	if x.tracing() {
		quiet := "an allocating write is in flight"
		if rq.quiet {
			quiet = "no allocating write is in flight"
		}
		x.stepf(EventIssue, r+1, reqIO(r), "request %d (flush): policy admits it; %s; it issues a flush of the image file", r+1, quiet)
	}
}

// admitted reports whether a request in this phase has its access in
// flight (admitted, not completed).
func admitted(ph uint8) bool { return ph >= phHeader && ph <= phFlush }

func (x *exec) countAllocating() {
	n := 0
	for q := 0; q < x.p.cfg.Requests; q++ {
		rq := &x.s.reqs[q]
		if admitted(rq.phase) && rq.kind.Allocating() {
			n++
		}
	}
	if n >= 2 {
		x.facts |= FactAllocOverlap
	}
}

// readUnallocated serves a read of an unallocated sector: from the
// backing file (an I/O), or zeros at once.
func (x *exec) readUnallocated(r int) {
	rq := &x.s.reqs[r]
	if x.p.cfg.Backing {
		rq.phase = phBackRead
		if x.tracing() {
			x.stepf(EventIssue, r+1, reqIO(r), "request %d issues a read of the backing file", r+1)
		}
		return
	}
	if x.tracing() {
		x.stepf(EventNote, r+1, "", "request %d reads zeros: the sector is unallocated", r+1)
	}
	x.finishRead(r, tagZero)
}

// allocate sets the need-check bit first when the engine would, then
// allocates the data cluster.
func (x *exec) allocate(r int) {
	s := x.s
	if !x.p.cfg.Backing && s.hdr != hdrSet {
		s.reqs[r].phase = phHeader
		if s.hdr == hdrClear {
			s.hdr = hdrSetting
			if x.tracing() {
				x.stepf(EventIssue, r+1, headerIO, "request %d sets the need-check bit: header write issued", r+1)
			}
		} else {
			if x.tracing() {
				x.stepf(EventNote, r+1, "", "request %d waits for the header write in flight", r+1)
			}
		}
		return
	}
	x.allocateData(r)
}

// allocateData allocates the data cluster at the end of the file and
// starts its write, after a backing read for the fill if one is needed.
func (x *exec) allocateData(r int) {
	s, p := x.s, x.p
	rq := &s.reqs[r]
	s.alloc++
	d := s.alloc
	s.slots[d] = slot{kind: slotData}
	rq.data = d
	if x.tracing() {
		x.stepf(EventNote, r+1, "", "request %d allocates cluster at %s for guest cluster %d", r+1, addr(d), p.clusterOf(rq.sector))
	}
	if p.cfg.Sectors > 1 && p.cfg.Backing && !rq.zeroFill {
		rq.phase = phFill
		if x.tracing() {
			x.stepf(EventIssue, r+1, reqIO(r), "request %d issues a backing read for the copy-on-write fill", r+1)
		}
		return
	}
	x.writeData(r)
}

func (x *exec) writeData(r int) {
	rq := &x.s.reqs[r]
	rq.phase = phData
	fill := "zeros"
	if x.p.cfg.Backing && !rq.zeroFill {
		fill = "backing data"
	}
	data := "its sector"
	if x.p.isZeroes(r) {
		data = "zeros for its sector"
	}
	if x.p.cfg.Sectors == 1 {
		if x.tracing() {
			x.stepf(EventIssue, r+1, reqIO(r), "request %d issues the data write of the cluster at %s", r+1, addr(rq.data))
		}
	} else {
		if x.tracing() {
			x.stepf(EventIssue, r+1, reqIO(r), "request %d issues the data write of the cluster at %s (%s with fill of %s)", r+1, addr(rq.data), data, fill)
		}
	}
}

// ioDone completes the I/O request r has in flight.
func (x *exec) ioDone(r int) {
	s, p := x.s, x.p
	rq := &s.reqs[r]
	switch rq.phase {
	case phFill:
		if x.tracing() {
			x.stepf(EventComplete, r+1, reqIO(r), "request %d's backing read for the fill completes", r+1)
		}
		x.writeData(r)
	case phData:
		d := &s.slots[rq.data]
		in := p.inOf(rq.sector)
		fill := p.initial()
		if rq.zeroFill {
			fill = tagZero
		}
		for k := 0; k < p.cfg.Sectors; k++ {
			d.disk[k] = fill
		}
		d.disk[in] = p.written(r)
		d.written = true
		if x.tracing() {
			x.stepf(EventComplete, r+1, reqIO(r), "request %d's data write lands at %s", r+1, addr(rq.data))
		}
		if p.cfg.Backing {
			rq.phase = phPreFlush
			if x.tracing() {
				x.stepf(EventIssue, r+1, reqIO(r), "request %d issues a flush before the L2 update", r+1)
			}
			return
		}
		x.updateL2(r)
	case phPreFlush:
		if x.tracing() {
			x.stepf(EventComplete, r+1, reqIO(r), "request %d's flush completes", r+1)
		}
		x.updateL2(r)
	case phTable:
		t := &s.slots[rq.table]
		t.disk = t.cache
		t.written = true
		if x.tracing() {
			x.stepf(EventComplete, r+1, reqIO(r), "request %d's new L2 table lands at %s", r+1, addr(rq.table))
		}
		x.linkTable(r)
	case phRewrite:
		s.slots[rq.data].disk[p.inOf(rq.sector)] = p.written(r)
		if x.tracing() {
			what := "write"
			if p.isZeroes(r) {
				what = "write-zeroes"
			}
			x.stepf(EventComplete, r+1, reqIO(r), "request %d's in-place %s lands at %s", r+1, what, addr(rq.data))
		}
		x.finish(r)
	case phRead:
		v := s.slots[rq.data].disk[p.inOf(rq.sector)]
		if x.tracing() {
			x.stepf(EventComplete, r+1, reqIO(r), "request %d's read of the cluster at %s completes: it sees %s", r+1, addr(rq.data), p.tagName(v, rq.sector))
		}
		x.finishRead(r, v)
	case phFlush:
		if x.tracing() {
			x.stepf(EventComplete, r+1, reqIO(r), "request %d's flush completes", r+1)
		}
		if s.hdr == hdrSet && rq.quiet && p.AllocatingInFlight(s) == 0 {
			s.hdr = hdrClearing
			if x.tracing() {
				x.stepf(EventIssue, r+1, headerIO, "request %d clears the need-check bit: no allocating write since the flush was issued; header write issued", r+1)
			}
		}
		x.finish(r)
	case phBackRead:
		if x.tracing() {
			x.stepf(EventComplete, r+1, reqIO(r), "request %d's read of the backing file completes: it sees %s", r+1, p.tagName(tagBacking, rq.sector))
		}
		x.finishRead(r, tagBacking)
	}
}

// updateL2 links the new data cluster (for a write-zeroes that allocated
// none, a zero-cluster entry): into the cached L2 table, whose sector the
// metadata writer then writes, or into a new L2 table.
func (x *exec) updateL2(r int) {
	s, p := x.s, x.p
	rq := &s.reqs[r]
	i := p.l2Of(rq.sector)
	v := rq.data
	if v == 0 {
		v = p.zero // a write-zeroes' zero-cluster entry
	}
	if rq.kind == AllocL2 {
		s.alloc++
		t := s.alloc
		s.slots[t] = slot{kind: slotTable}
		s.slots[t].cache[i] = v
		rq.table = t
		rq.phase = phTable
		if x.tracing() {
			x.stepf(EventIssue, r+1, reqIO(r), "request %d allocates an L2 table at %s with L2[%d] = %s and issues its write", r+1, addr(t), i, p.entryName(v))
		}
		return
	}
	ts := &s.slots[rq.table]
	old := ts.cache[i]
	ts.cache[i] = v
	if old != 0 {
		if x.tracing() {
			x.stepf(EventNote, r+1, "", "request %d writes L2[%d] = %s in the cached table at %s, replacing %s", r+1, i, p.entryName(v), addr(rq.table), p.entryName(old))
		}
	} else {
		if x.tracing() {
			x.stepf(EventNote, r+1, "", "request %d writes L2[%d] = %s in the cached table at %s", r+1, i, p.entryName(v), addr(rq.table))
		}
	}
	rq.phase = phMetaL2
	x.metaUpdate(r, false)
}

// linkTable points the cached L1 entry at the new table, now on disk.
func (x *exec) linkTable(r int) {
	s, p := x.s, x.p
	rq := &s.reqs[r]
	e := p.l1Of(rq.sector)
	s.l1Cache[e] = rq.table
	s.slots[rq.table].cached = true
	if x.tracing() {
		x.stepf(EventNote, r+1, "", "request %d writes L1[%d] = %s in the cached L1 table", r+1, e, addr(rq.table))
	}
	rq.phase = phMetaL1
	x.metaUpdate(r, true)
}

// metaUpdate hands request r's table change to the metadata writer.
func (x *exec) metaUpdate(r int, l1 bool) {
	s, p := x.s, x.p
	rq := &s.reqs[r]
	what := "" // the sector's name, for the log only
	if x.tracing() {
		what = "L1 table sector"
		if !l1 {
			what = "L2 table sector at " + addr(rq.table)
		}
	}
	if p.cfg.UnorderedMeta {
		if l1 {
			rq.snap = s.l1Cache
		} else {
			rq.snap = s.slots[rq.table].cache
		}
		rq.meta = true
		if x.tracing() {
			x.stepf(EventIssue, r+1, metaIO(r), "request %d issues a write of the %s", r+1, what)
		}
		return
	}
	inflight := &s.l1Meta
	snap, src := &s.l1Snap, &s.l1Cache
	if !l1 {
		ts := &s.slots[rq.table]
		inflight, snap, src = &ts.meta, &ts.snap, &ts.cache
	}
	if *inflight {
		rq.dirty = true
		if x.tracing() {
			x.stepf(EventNote, r+1, "", "request %d waits: a write of the %s is in flight, its change goes in the next", r+1, what)
		}
		return
	}
	*inflight = true
	*snap = *src
	if x.tracing() {
		x.stepf(EventIssue, r+1, tableIO(l1, rq.table), "request %d issues a write of the %s", r+1, what)
	}
}

// metaL2Landed lands the ordered write of the L2 table in slot t.
func (x *exec) metaL2Landed(t int) {
	s := x.s
	ts := &s.slots[t]
	ts.disk = ts.snap
	if x.tracing() {
		x.stepf(EventComplete, 0, tableIO(false, uint8(t)), "the write of the L2 table sector at %s lands: %s", addr(uint8(t)), x.p.entriesText(ts.snap[:x.p.cfg.Clusters], "L2"))
	}
	what := "" // the sector's name, for the log only
	if x.tracing() {
		what = "L2 table sector at " + addr(uint8(t))
	}
	x.metaLanded(&ts.meta, &ts.snap, &ts.cache, phMetaL2, uint8(t), what)
}

// metaL1Landed lands the ordered write of the L1 table sector.
func (x *exec) metaL1Landed() {
	s := x.s
	s.l1Disk = s.l1Snap
	if x.tracing() {
		x.stepf(EventComplete, 0, tableIO(true, 0), "the write of the L1 table sector lands: %s", x.p.entriesText(s.l1Snap[:x.p.cfg.L1Entries], "L1"))
	}
	x.metaLanded(&s.l1Meta, &s.l1Snap, &s.l1Cache, phMetaL1, 0, "L1 table sector")
}

// metaLanded completes the waiters whose change the landed write held
// and writes the sector again if changes are waiting, as
// engine.metaWritten does.
func (x *exec) metaLanded(inflight *bool, snap, src *[maxWidth]uint8, phase, table uint8, what string) {
	s := x.s
	reissue := false
	for r := 0; r < x.p.cfg.Requests; r++ {
		rq := &s.reqs[r]
		if rq.phase != phase || (phase == phMetaL2 && rq.table != table) {
			continue
		}
		if rq.dirty {
			reissue = true
			continue
		}
		x.finish(r)
	}
	if !reissue {
		*inflight = false
		*snap = [maxWidth]uint8{}
		return
	}
	*snap = *src
	for r := 0; r < x.p.cfg.Requests; r++ {
		rq := &s.reqs[r]
		if rq.phase == phase && (phase != phMetaL2 || rq.table == table) {
			rq.dirty = false
		}
	}
	if x.tracing() {
		x.stepf(EventIssue, 0, tableIO(table == 0, table), "the metadata writer issues the next write of the %s", what)
	}
}

// metaReqLanded lands request r's own metadata write (unordered writer).
func (x *exec) metaReqLanded(r int) {
	s, p := x.s, x.p
	rq := &s.reqs[r]
	rq.meta = false
	if rq.phase == phMetaL1 {
		s.l1Disk = rq.snap
		if x.tracing() {
			x.stepf(EventComplete, r+1, metaIO(r), "request %d's write of the L1 table sector lands: %s", r+1, p.entriesText(rq.snap[:p.cfg.L1Entries], "L1"))
		}
	} else {
		s.slots[rq.table].disk = rq.snap
		if x.tracing() {
			x.stepf(EventComplete, r+1, metaIO(r), "request %d's write of the L2 table sector at %s lands: %s", r+1, addr(rq.table), p.entriesText(rq.snap[:p.cfg.Clusters], "L2"))
		}
	}
	rq.snap = [maxWidth]uint8{}
	x.finish(r)
}

// headerLanded lands the need-check header write and allocates for every
// request that waited for it, as engine.headerWritten does.
func (x *exec) headerLanded() {
	s := x.s
	if s.hdr == hdrClearing {
		x.headerCleared()
		return
	}
	s.hdr = hdrSet
	if x.tracing() {
		x.stepf(EventComplete, 0, headerIO, "the header write lands: need-check is set on disk")
	}
	for r := 0; r < x.p.cfg.Requests; r++ {
		if s.reqs[r].phase == phHeader {
			x.allocateData(r)
		}
	}
}

// headerCleared lands the header write that cleared the need-check bit,
// and sets it again at once if allocating writes wait for it, as
// engine.headerCleared does.
func (x *exec) headerCleared() {
	s := x.s
	s.hdr = hdrClear
	if x.tracing() {
		x.stepf(EventComplete, 0, headerIO, "the header write lands: need-check is clear on disk")
	}
	for r := 0; r < x.p.cfg.Requests; r++ {
		if s.reqs[r].phase == phHeader {
			s.hdr = hdrSetting
			if x.tracing() {
				x.stepf(EventIssue, 0, headerIO, "allocating writes wait: the engine sets the need-check bit again, header write issued")
			}
			return
		}
	}
}

// reopen closes the image cleanly and opens it again: the need-check bit
// is cleared, every cache is dropped, L1 is read from disk.
func (x *exec) reopen() {
	s := x.s
	s.hdr = hdrClear
	s.l1Cache = s.l1Disk
	for i := 1; i <= int(s.alloc); i++ {
		s.slots[i].cached = false
		s.slots[i].cache = [maxWidth]uint8{}
	}
	x.facts |= FactReopen
	if x.tracing() {
		x.stepf(EventReopen, 0, "", "reopen: the image is closed and opened again; caches dropped, L1 read from disk")
	}
	for sec := 0; sec < x.p.cfg.GuestSectors(); sec++ {
		before, after := x.p.contentVia(s, uint16(sec), true), x.p.contentVia(s, uint16(sec), false)
		if before != after {
			x.fail("reopen-content", "after the reopen sector %d reads %s, before it read %s", sec, x.p.tagName(after, uint16(sec)), x.p.tagName(before, uint16(sec)))
			return
		}
	}
}

func (x *exec) finishRead(r int, v uint8) {
	x.s.reqs[r].result = v
	x.finish(r)
	x.checkSector(x.s.reqs[r].sector, false, 0)
}

// finish completes request r and wakes the frozen requests if it had an
// access in flight, as engine.finish does.
func (x *exec) finish(r int) {
	s := x.s
	rq := &s.reqs[r]
	wasAdmitted := admitted(rq.phase)
	rq.phase = phDone
	rq.data, rq.table, rq.dirty, rq.kind, rq.quiet, rq.zeroFill = 0, 0, false, 0, false, false
	if x.tracing() {
		x.stepf(EventDone, r+1, "", "request %d completes", r+1)
	}
	if wasAdmitted && s.nFrozen > 0 {
		x.wake = true
	}
}

// drainWakes restarts frozen requests from their lookup, in the order they
// froze, as engine.drainWakes does.
//
// First it makes the zero-cluster entries that are due (the engine's
// zeroUpdates), in the order their lookups admitted them: a request
// woken in the same round as a write-zeroes looks up before that
// write-zeroes' entry is in the cached table.
func (x *exec) drainWakes() {
	s := x.s
	for x.wake || x.nZeroUps > 0 {
		if x.nZeroUps > 0 {
			ups, n := x.zeroUps, x.nZeroUps
			x.nZeroUps = 0
			for _, r := range ups[:n] {
				x.updateL2(int(r))
			}
			continue
		}
		x.wake = false
		woken := s.frozen
		n := s.nFrozen
		s.nFrozen = 0
		s.frozen = [MaxProtocolRequests]uint8{}
		for j := uint8(0); j < n; j++ {
			r := int(woken[j])
			x.facts |= FactRestart
			if x.tracing() {
				x.stepf(EventWoken, r+1, "", "request %d is woken and restarts from its lookup", r+1)
			}
			x.lookup(r)
			if s.reqs[r].phase != phFrozen {
				x.facts |= FactRestartProceed
			}
		}
	}
}

// addr renders slot n's file offset in a nominal layout of 64 KiB
// clusters: header at 0, L1 table at 0x10000, slot 1 at 0x20000.
func addr(n uint8) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%#x", 0x10000*(uint64(n)+1))
}

// entryName renders an L2 entry: a cluster's file offset, "zero" for a
// zero cluster, or "0".
func (p *Protocol) entryName(v uint8) string {
	if v == p.zero {
		return "zero"
	}
	return addr(v)
}

// written returns the tag request r writes: zeros for a write-zeroes,
// else its own.
func (p *Protocol) written(r int) uint8 {
	if p.isZeroes(r) {
		return tagZero
	}
	return tagWrite + uint8(r)
}

// tagName renders a sector tag seen at guest sector sec.
func (p *Protocol) tagName(v uint8, sec uint16) string {
	switch v {
	case tagZero:
		return "zeros"
	case tagBacking:
		return "backing data"
	}
	return fmt.Sprintf("request %d's data", v-tagWrite+1)
}

// entriesText renders table entries: "L2[0] = 0x20000, L2[1] = 0".
func (p *Protocol) entriesText(entries []uint8, name string) string {
	b := make([]byte, 0, 64)
	for i, v := range entries {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, "%s[%d] = %s", name, i, p.entryName(v))
	}
	return string(b)
}
