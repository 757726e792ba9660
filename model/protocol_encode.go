package model

import (
	"math/bits"
	"strings"
)

// layout is the bit layout of a packed state for one configuration: every
// field at a fixed width, so a state packs into a fixed number of words
// and equal states pack to equal words.
type layout struct {
	words    int  // uint64 words per packed state
	refBits  uint // a slot number, 0..maxAlloc, or (with write-zeroes) a zero-cluster entry, maxAlloc+1
	valBits  uint // a slot's disk entry: a slot number or a sector tag
	tagBits  uint // a sector tag
	secBits  uint // a guest sector
	reqBits  uint // a request index
	cntBits  uint // 0..Requests
	maxAlloc int  // slots a run can allocate
	width    int  // entries of a slot's disk content: max(clusters, sectors)
	snapW    int  // entries of a request's own metadata snapshot (unordered)
	kindBits uint // a request's admitted kind
	flagBits uint // a request's flags (dirty, meta, quiet, zeroFill)

	// Where the regions of a packed state start (bit offsets): the
	// header (allocation count, need-check bit, frozen queue), the L1
	// tables, slot 1 (slot i at slotOff+(i-1)*slotBits) and request 0
	// (request r at reqOff+r*(reqHeadBits+reqTailBits)). Each region is
	// a function of its own part of the state only, which PackDelta uses.
	l1Off, slotOff, reqOff uint
	// masks are the regions' bits, in order: header, L1, slots 1 to
	// maxAlloc, requests (UnpackDelta).
	masks []regionMask

	// Regions Pack skips when a canonical state has them zero.
	slotBits      uint // one slot
	slotTableBits uint // its cached and in-flight table entries (tables only)
	reqHeadBits   uint // a request's phase, operation, sector, result, precedence
	reqTailBits   uint // its access in flight: kind, slots, flags, snapshot
}

func bitsFor(maxValue int) uint {
	if maxValue <= 1 {
		return 1
	}
	return uint(bits.Len(uint(maxValue)))
}

func newLayout(c ProtocolConfig) layout {
	l := layout{maxAlloc: 2*c.Requests + c.preSlots(), width: max(c.Clusters, c.Sectors)}
	zeroes := strings.ContainsRune(c.Ops, 'z')
	l.refBits = bitsFor(l.maxAlloc)
	if zeroes {
		// An L2 entry may be a zero cluster (Protocol.zero).
		l.refBits = bitsFor(l.maxAlloc + 1)
	}
	l.tagBits = bitsFor(int(tagWrite) + c.Requests - 1)
	l.valBits = max(l.refBits, l.tagBits)
	l.secBits = bitsFor(c.GuestSectors() - 1)
	l.reqBits = bitsFor(c.Requests - 1)
	l.cntBits = bitsFor(c.Requests)
	if c.UnorderedMeta {
		l.snapW = max(c.Clusters, c.L1Entries)
	}
	l.l1Off = l.refBits + 2 + 1 + l.cntBits + uint(c.Requests)*l.reqBits
	l.slotOff = l.l1Off + 3*uint(c.L1Entries)*l.refBits
	l.slotTableBits = 2 * uint(c.Clusters) * l.refBits
	l.slotBits = 2 + 3 + uint(l.width)*l.valBits + l.slotTableBits
	l.reqOff = l.slotOff + uint(l.maxAlloc)*l.slotBits
	n := l.reqOff
	// A flush adds a kind (Flush) and a flag (quiet): a bit each, only
	// where the mix has flushes. A write-zeroes adds a flag (zeroFill),
	// the fourth, only where the mix has write-zeroes.
	l.kindBits, l.flagBits = 2, 2
	if strings.ContainsRune(c.Ops, 'f') {
		l.kindBits, l.flagBits = 3, 3
	}
	if zeroes {
		l.flagBits = 4
	}
	l.reqHeadBits = 4 + 1 + l.secBits + l.tagBits + uint(c.Requests)
	l.reqTailBits = l.kindBits + 2*l.refBits + l.flagBits + uint(l.snapW)*l.refBits
	n += uint(c.Requests) * (l.reqHeadBits + l.reqTailBits)
	l.words = int((n + 63) / 64)
	l.masks = append(l.masks, maskOf(0, l.l1Off), maskOf(l.l1Off, l.slotOff-l.l1Off))
	for i := range l.maxAlloc {
		l.masks = append(l.masks, maskOf(l.slotOff+uint(i)*l.slotBits, l.slotBits))
	}
	for r := range c.Requests {
		l.masks = append(l.masks, maskOf(l.reqOff+uint(r)*(l.reqHeadBits+l.reqTailBits), l.reqHeadBits+l.reqTailBits))
	}
	return l
}

// regionMask gives the bits [off, off+n) of a packed state as masks of
// the words they lie in, so that telling whether two states differ there
// takes a few ANDs.
type regionMask struct {
	w int       // the first word
	n int       // how many words (1 to 3: no region takes more than 101 bits)
	m [3]uint64 // the region's bits in words w, w+1, w+2
}

func maskOf(off, n uint) regionMask {
	end := off + n
	r := regionMask{w: int(off >> 6)}
	for i := off >> 6; i<<6 < end; i++ {
		m := ^uint64(0)
		if off > i<<6 {
			m &^= 1<<(off-i<<6) - 1
		}
		if end < (i+1)<<6 {
			m &= 1<<(end-i<<6) - 1
		}
		r.m[r.n] = m
		r.n++
	}
	return r
}

// differ reports whether a and b differ in the region's bits.
func (r *regionMask) differ(a, b []uint64) bool {
	d := (a[r.w] ^ b[r.w]) & r.m[0]
	for k := 1; k < r.n; k++ {
		d |= (a[r.w+k] ^ b[r.w+k]) & r.m[k]
	}
	return d != 0
}

// Words returns the number of uint64 words a packed state takes.
func (p *Protocol) Words() int { return p.layout.words }

// bitWriter packs fields of n <= 64 bits into words, low bits first. It
// gathers bits in a register and stores each word once, when full, and
// the last at flush (or merge).
//
// Here and in the readers, shift counts are masked with &63 where they
// are known to be below 64: Go defines a shift by 64 or more (as 0), so
// an unmasked variable shift costs a compare and a select besides the
// shift, and packing is mostly shifts.
type bitWriter struct {
	w   []uint64
	i   int    // the word being filled
	acc uint64 // its bits so far
	n   uint   // how many
}

// writerAt returns a bitWriter that rewrites w from bit pos on, keeping
// the bits below pos; merge then keeps those above the last field.
func writerAt(w []uint64, pos uint) bitWriter {
	i, n := pos>>6, pos&63
	return bitWriter{w: w, i: int(i), acc: w[i] & (1<<n - 1), n: n}
}

// merge stores the last, partly filled word, keeping the bits of the
// word above the ones written.
func (b *bitWriter) merge() {
	if b.n > 0 {
		b.w[b.i] = b.acc | b.w[b.i]&^(1<<(b.n&63)-1)
	}
}

// put appends the n low bits of v (v must have no others).
func (b *bitWriter) put(v uint64, n uint) {
	b.acc |= v << (b.n & 63)
	if b.n+n < 64 {
		b.n += n
		return
	}
	b.w[b.i] = b.acc
	b.i++
	b.acc = v >> 1 >> ((63 - b.n) & 63) // v >> (64-b.n): 0 when v ended exactly at the word's end
	b.n = b.n + n - 64
}

// skip appends n zero bits (any n).
func (b *bitWriter) skip(n uint) {
	n += b.n
	for n >= 64 {
		b.w[b.i] = b.acc
		b.i++
		b.acc = 0
		n -= 64
	}
	b.n = n
}

// flush stores the last, partly filled word.
func (b *bitWriter) flush() {
	if b.n > 0 {
		b.w[b.i] = b.acc
	}
}

type bitReader struct {
	w   []uint64
	pos uint
}

// get reads the next n < 64 bits.
func (b *bitReader) get(n uint) uint64 {
	i, off := b.pos>>6, b.pos&63
	v := b.w[i] >> off
	if off+n > 64 {
		v |= b.w[i+1] << ((64 - off) & 63) // off > 0 here
	}
	b.pos += n
	return v & (1<<(n&63) - 1)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// group gathers fields into one value of at most 64 bits, the first in
// the low bits, so that Pack stores them with one put (and Unpack loads
// them with one get) instead of one each. The configuration's limits keep
// every group Pack forms within 64 bits.
type group struct {
	v uint64
	n uint
}

func (g *group) add(v uint64, n uint) {
	g.v |= v << (g.n & 63)
	g.n += n
}

// ungroup takes fields back out of a group, low bits first.
type ungroup uint64

func (u *ungroup) take(n uint) uint64 {
	v := uint64(*u) & (1<<(n&63) - 1)
	*u >>= n & 63
	return v
}

// Pack writes the packed form of s to dst, which must hold Words words.
// s should be canonical (see Canonicalize) for equal states to pack
// equally. Every field has a fixed position; the regions a canonical
// state always has zero (slots not allocated, a data cluster's table
// fields, an idle request, a frozen or completed request's access) are
// skipped rather than written, which Unpack mirrors.
func (p *Protocol) Pack(s *ProtocolState, dst []uint64) {
	l := &p.layout
	clear(dst[:l.words])
	w := bitWriter{w: dst}
	p.packHead(s, &w)
	p.packL1(s, &w)
	for i := 1; i <= int(s.alloc); i++ {
		p.packSlot(&s.slots[i], &w)
	}
	w.skip(uint(l.maxAlloc-int(s.alloc)) * l.slotBits)
	for r := 0; r < p.cfg.Requests; r++ {
		p.packReq(&s.reqs[r], &w)
	}
	w.flush()
}

// PackDelta writes Pack(s) to dst, given a state base and its packed
// form baseKey: it copies baseKey and packs again only the regions (the
// header, the L1 tables, each slot, each request) where s differs from
// base. A successor differs from the state it came from in a few of
// them. baseKey must be Pack(base) (as it is when base is what Unpack
// gives for baseKey); dst must not overlap baseKey.
func (p *Protocol) PackDelta(s, base *ProtocolState, baseKey, dst []uint64) {
	l := &p.layout
	copy(dst[:l.words], baseKey[:l.words])
	if s.alloc != base.alloc || s.hdr != base.hdr || s.l1Meta != base.l1Meta || s.nFrozen != base.nFrozen || s.frozen != base.frozen {
		w := writerAt(dst, 0)
		p.packHead(s, &w)
		w.merge()
	}
	if s.l1Cache != base.l1Cache || s.l1Disk != base.l1Disk || s.l1Snap != base.l1Snap {
		w := writerAt(dst, l.l1Off)
		p.packL1(s, &w)
		w.merge()
	}
	// A slot's region is zero unless allocated, whatever its fields.
	for i := 1; i <= int(max(s.alloc, base.alloc)); i++ {
		in, was := i <= int(s.alloc), i <= int(base.alloc)
		if in && was && s.slots[i] == base.slots[i] {
			continue
		}
		w := writerAt(dst, l.slotOff+uint(i-1)*l.slotBits)
		if in {
			p.packSlot(&s.slots[i], &w)
		} else {
			w.skip(l.slotBits)
		}
		w.merge()
	}
	for r := 0; r < p.cfg.Requests; r++ {
		if s.reqs[r] != base.reqs[r] {
			w := writerAt(dst, l.reqOff+uint(r)*(l.reqHeadBits+l.reqTailBits))
			p.packReq(&s.reqs[r], &w)
			w.merge()
		}
	}
}

// packHead writes the header region: allocation count, need-check bit,
// L1 write in flight, frozen queue.
func (p *Protocol) packHead(s *ProtocolState, w *bitWriter) {
	l := &p.layout
	var g group
	g.add(uint64(s.alloc), l.refBits)
	g.add(uint64(s.hdr), 2)
	g.add(b2u(s.l1Meta), 1)
	g.add(uint64(s.nFrozen), l.cntBits)
	for j := 0; j < int(s.nFrozen); j++ {
		g.add(uint64(s.frozen[j]), l.reqBits)
	}
	w.put(g.v, g.n)
	w.skip(uint(p.cfg.Requests-int(s.nFrozen)) * l.reqBits)
}

// packL1 writes the L1 tables: cached, on disk, in flight.
func (p *Protocol) packL1(s *ProtocolState, w *bitWriter) {
	for _, tab := range [3]*[maxWidth]uint8{&s.l1Cache, &s.l1Disk, &s.l1Snap} {
		var g group
		for e := 0; e < p.cfg.L1Entries; e++ {
			g.add(uint64(tab[e]), p.layout.refBits)
		}
		w.put(g.v, g.n)
	}
}

// packSlot writes an allocated slot's region.
func (p *Protocol) packSlot(sl *slot, w *bitWriter) {
	l := &p.layout
	var g group
	g.add(uint64(sl.kind)|(b2u(sl.written)|b2u(sl.cached)<<1|b2u(sl.meta)<<2)<<2, 5)
	if sl.kind != slotTable && sl.kind != slotData {
		w.put(g.v, g.n)
		w.skip(l.slotBits - 5)
		return
	}
	for k := 0; k < l.width; k++ {
		g.add(uint64(sl.disk[k]), l.valBits)
	}
	w.put(g.v, g.n)
	if sl.kind != slotTable {
		w.skip(l.slotTableBits)
		return
	}
	for _, tab := range [2]*[maxWidth]uint8{&sl.cache, &sl.snap} {
		g = group{}
		for k := 0; k < p.cfg.Clusters; k++ {
			g.add(uint64(tab[k]), l.refBits)
		}
		w.put(g.v, g.n)
	}
}

// packReq writes a request's region.
func (p *Protocol) packReq(rq *reqState, w *bitWriter) {
	l := &p.layout
	if rq.phase == phIdle {
		w.skip(l.reqHeadBits + l.reqTailBits)
		return
	}
	var g group
	g.add(uint64(rq.phase), 4)
	g.add(b2u(rq.write), 1)
	g.add(uint64(rq.sector), l.secBits)
	g.add(uint64(rq.result), l.tagBits)
	g.add(uint64(rq.prec), uint(p.cfg.Requests))
	w.put(g.v, g.n)
	if rq.phase == phDone || rq.phase == phFrozen {
		w.skip(l.reqTailBits)
		return
	}
	g = group{}
	g.add(uint64(rq.kind), l.kindBits)
	g.add(uint64(rq.data), l.refBits)
	g.add(uint64(rq.table), l.refBits)
	g.add(b2u(rq.dirty)|b2u(rq.meta)<<1|b2u(rq.quiet)<<2|b2u(rq.zeroFill)<<3, l.flagBits)
	for k := 0; k < l.snapW; k++ {
		g.add(uint64(rq.snap[k]), l.refBits)
	}
	w.put(g.v, g.n)
}

// Unpack is the inverse of Pack.
func (p *Protocol) Unpack(src []uint64, s *ProtocolState) {
	l := &p.layout
	*s = ProtocolState{}
	r := bitReader{w: src}
	p.unpackHead(&r, s)
	p.unpackL1(&r, s)
	for i := 1; i <= int(s.alloc); i++ {
		p.unpackSlot(&r, &s.slots[i])
	}
	r.pos = l.reqOff
	for q := 0; q < p.cfg.Requests; q++ {
		p.unpackReq(&r, &s.reqs[q])
	}
}

// UnpackDelta sets s to Unpack(src), given that s holds Unpack(prev): it
// decodes again only the regions (see PackDelta) whose bits differ
// between src and prev. States stored one after the other are often
// siblings, alike in most regions. A region's fields are a function of
// its bits alone: an unallocated slot's region, say, is zero, and so is
// a slot decoded from zero bits.
func (p *Protocol) UnpackDelta(src, prev []uint64, s *ProtocolState) {
	l := &p.layout
	m := l.masks
	if m[0].differ(src, prev) {
		r := bitReader{w: src}
		p.unpackHead(&r, s)
	}
	if m[1].differ(src, prev) {
		r := bitReader{w: src, pos: l.l1Off}
		p.unpackL1(&r, s)
	}
	m = m[2:]
	for i := 1; i <= l.maxAlloc; i++ {
		if m[i-1].differ(src, prev) {
			r := bitReader{w: src, pos: l.slotOff + uint(i-1)*l.slotBits}
			p.unpackSlot(&r, &s.slots[i])
		}
	}
	m = m[l.maxAlloc:]
	for q := 0; q < p.cfg.Requests; q++ {
		if m[q].differ(src, prev) {
			r := bitReader{w: src, pos: l.reqOff + uint(q)*(l.reqHeadBits+l.reqTailBits)}
			p.unpackReq(&r, &s.reqs[q])
		}
	}
}

// unpackHead reads the header region (packHead) into s.
func (p *Protocol) unpackHead(r *bitReader, s *ProtocolState) {
	l := &p.layout
	u := ungroup(r.get(l.refBits + 2 + 1 + l.cntBits))
	s.alloc = uint8(u.take(l.refBits))
	s.hdr = uint8(u.take(2))
	s.l1Meta = u.take(1) == 1
	s.nFrozen = uint8(u.take(l.cntBits))
	s.frozen = [MaxProtocolRequests]uint8{}
	u = ungroup(r.get(uint(s.nFrozen) * l.reqBits))
	for j := 0; j < int(s.nFrozen); j++ {
		s.frozen[j] = uint8(u.take(l.reqBits))
	}
	r.pos += uint(p.cfg.Requests-int(s.nFrozen)) * l.reqBits
}

// unpackL1 reads the L1 tables (packL1) into s.
func (p *Protocol) unpackL1(r *bitReader, s *ProtocolState) {
	for _, tab := range [3]*[maxWidth]uint8{&s.l1Cache, &s.l1Disk, &s.l1Snap} {
		u := ungroup(r.get(uint(p.cfg.L1Entries) * p.layout.refBits))
		for e := 0; e < p.cfg.L1Entries; e++ {
			tab[e] = uint8(u.take(p.layout.refBits))
		}
	}
}

// unpackSlot reads a slot's region (packSlot) into sl, all of it.
func (p *Protocol) unpackSlot(r *bitReader, sl *slot) {
	l := &p.layout
	*sl = slot{}
	f := r.get(5)
	sl.kind = uint8(f & 3)
	sl.written, sl.cached, sl.meta = f&4 != 0, f&8 != 0, f&16 != 0
	if sl.kind != slotTable && sl.kind != slotData {
		r.pos += l.slotBits - 5
		return
	}
	u := ungroup(r.get(uint(l.width) * l.valBits))
	for k := 0; k < l.width; k++ {
		sl.disk[k] = uint8(u.take(l.valBits))
	}
	if sl.kind != slotTable {
		r.pos += l.slotTableBits
		return
	}
	for _, tab := range [2]*[maxWidth]uint8{&sl.cache, &sl.snap} {
		u = ungroup(r.get(uint(p.cfg.Clusters) * l.refBits))
		for k := 0; k < p.cfg.Clusters; k++ {
			tab[k] = uint8(u.take(l.refBits))
		}
	}
}

// unpackReq reads a request's region (packReq) into rq, all of it.
func (p *Protocol) unpackReq(r *bitReader, rq *reqState) {
	l := &p.layout
	*rq = reqState{}
	u := ungroup(r.get(l.reqHeadBits))
	rq.phase = uint8(u.take(4))
	if rq.phase == phIdle {
		r.pos += l.reqTailBits
		return
	}
	rq.write = u.take(1) == 1
	rq.sector = uint16(u.take(l.secBits))
	rq.result = uint8(u.take(l.tagBits))
	rq.prec = uint8(u.take(uint(p.cfg.Requests)))
	if rq.phase == phDone || rq.phase == phFrozen {
		r.pos += l.reqTailBits
		return
	}
	u = ungroup(r.get(l.reqTailBits))
	rq.kind = Kind(u.take(l.kindBits))
	rq.data = uint8(u.take(l.refBits))
	rq.table = uint8(u.take(l.refBits))
	f := u.take(l.flagBits)
	rq.dirty, rq.meta, rq.quiet, rq.zeroFill = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0
	for k := 0; k < l.snapW; k++ {
		rq.snap[k] = uint8(u.take(l.refBits))
	}
}

// Canonicalize rewrites s in place into the canonical representative of
// its class: fields that no longer matter are cleared, clusters nothing
// refers to any more become anonymous garbage, and (unless the
// configuration disables symmetry) the allocated clusters are renumbered
// in the order a fixed walk of the state first meets them, since which
// physical cluster an allocation got is irrelevant up to renaming. Every
// transition commutes with such a renaming and every invariant is
// invariant under it, so exploring representatives only is exact.
func (p *Protocol) Canonicalize(s *ProtocolState) {
	c := &p.cfg
	// Clear what no longer matters.
	for r := 0; r < c.Requests; r++ {
		rq := &s.reqs[r]
		switch rq.phase {
		case phIdle:
			*rq = reqState{}
		case phFrozen:
			rq.kind, rq.data, rq.table, rq.dirty, rq.meta, rq.result, rq.quiet, rq.zeroFill = 0, 0, 0, false, false, 0, false, false
		case phDone:
			rq.kind, rq.data, rq.table, rq.dirty, rq.zeroFill = 0, 0, 0, false, false
			if rq.write {
				rq.result = 0
			}
		}
	}
	newTable := func(t uint8) bool {
		for r := 0; r < c.Requests; r++ {
			if s.reqs[r].phase == phTable && s.reqs[r].table == t {
				return true
			}
		}
		return false
	}
	for i := 1; i <= int(s.alloc); i++ {
		sl := &s.slots[i]
		if sl.kind == slotTable && !sl.cached && !newTable(uint8(i)) {
			sl.cache = [maxWidth]uint8{}
		}
		if !sl.meta {
			sl.snap = [maxWidth]uint8{}
		}
	}
	if !s.l1Meta {
		s.l1Snap = [maxWidth]uint8{}
	}

	if c.NoSymmetry {
		// Keep allocation order; only turn unreachable slots to garbage.
		p.collectGarbage(s)
		return
	}

	// Walk the state from its roots, numbering slots as first met. A
	// zero-cluster entry is no slot: it keeps its value, and the walk
	// does not meet it.
	var order [maxSlots + 1]uint8 // order[new] = old
	var label [maxSlots + 2]uint8 // label[old] = new
	label[p.zero] = p.zero
	n := uint8(0)
	visit := func(old uint8) {
		if old != 0 && label[old] == 0 {
			n++
			label[old] = n
			order[n] = old
		}
	}
	for e := 0; e < c.L1Entries; e++ {
		visit(s.l1Cache[e])
	}
	for e := 0; e < c.L1Entries; e++ {
		visit(s.l1Disk[e])
	}
	for e := 0; e < c.L1Entries; e++ {
		visit(s.l1Snap[e])
	}
	for r := 0; r < c.Requests; r++ {
		rq := &s.reqs[r]
		visit(rq.table)
		visit(rq.data)
		for k := 0; k < p.layout.snapW; k++ {
			visit(rq.snap[k])
		}
	}
	for j := uint8(1); j <= n; j++ {
		sl := &s.slots[order[j]]
		if sl.kind != slotTable {
			continue
		}
		for k := 0; k < c.Clusters; k++ {
			visit(sl.disk[k])
			visit(sl.cache[k])
			visit(sl.snap[k])
		}
	}
	// Slots not met: a table still cached or being written stays (an
	// orphan, which no registered policy creates); anything else is
	// garbage nothing can reach again.
	for i := uint8(1); i <= s.alloc; i++ {
		if label[i] == 0 {
			if sl := &s.slots[i]; sl.cached || sl.meta {
				n++
				label[i] = n
				order[n] = i
			}
		}
	}
	var old [maxSlots + 1]slot
	copy(old[:], s.slots[:])
	remap := func(v uint8) uint8 { return label[v] }
	for j := uint8(1); j <= s.alloc; j++ {
		if j > n {
			s.slots[j] = slot{kind: slotGarbage}
			continue
		}
		sl := old[order[j]]
		if sl.kind == slotTable {
			for k := 0; k < c.Clusters; k++ {
				sl.disk[k] = remap(sl.disk[k])
				sl.cache[k] = remap(sl.cache[k])
				sl.snap[k] = remap(sl.snap[k])
			}
		}
		s.slots[j] = sl
	}
	for e := 0; e < c.L1Entries; e++ {
		s.l1Cache[e] = remap(s.l1Cache[e])
		s.l1Disk[e] = remap(s.l1Disk[e])
		s.l1Snap[e] = remap(s.l1Snap[e])
	}
	for r := 0; r < c.Requests; r++ {
		rq := &s.reqs[r]
		rq.table = remap(rq.table)
		rq.data = remap(rq.data)
		for k := 0; k < p.layout.snapW; k++ {
			rq.snap[k] = remap(rq.snap[k])
		}
	}
}

// collectGarbage turns the slots Canonicalize's walk would not meet into
// garbage, keeping the numbering: the walk without symmetry, where only
// the set of slots met matters, not the order, so a bit set serves.
func (p *Protocol) collectGarbage(s *ProtocolState) {
	c := &p.cfg
	// bit is slot v's bit; slot numbers are at most maxSlots, below 32
	// (the mask spares the compare a shift by 32 or more would need).
	bit := func(v uint8) uint32 { return 1 << (v & 31) }
	var met uint32               // bit i: slot i is met (bit 0, "none", ignored)
	none := bit(0) | bit(p.zero) // no slot: unallocated, or a zero cluster
	for e := 0; e < c.L1Entries; e++ {
		met |= bit(s.l1Cache[e]) | bit(s.l1Disk[e]) | bit(s.l1Snap[e])
	}
	for r := 0; r < c.Requests; r++ {
		rq := &s.reqs[r]
		met |= bit(rq.table) | bit(rq.data)
		for k := 0; k < p.layout.snapW; k++ {
			met |= bit(rq.snap[k])
		}
	}
	met &^= none
	// The tables met refer to more slots: follow them until none is new.
	for todo := met; todo != 0; {
		i := bits.TrailingZeros32(todo)
		todo &^= 1 << (i & 31)
		sl := &s.slots[i]
		if sl.kind != slotTable {
			continue
		}
		var refs uint32
		for k := 0; k < c.Clusters; k++ {
			refs |= bit(sl.disk[k]) | bit(sl.cache[k]) | bit(sl.snap[k])
		}
		refs &^= met | none
		met |= refs
		todo |= refs
	}
	for i := 1; i <= int(s.alloc); i++ {
		// A table still cached or being written stays, as in Canonicalize.
		if sl := &s.slots[i]; met&bit(uint8(i)) == 0 && !sl.cached && !sl.meta {
			*sl = slot{kind: slotGarbage}
		}
	}
}
