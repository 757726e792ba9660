package model

import "fmt"

// The invariants of DESIGN.md, as the protocol model checks them after
// every transition:
//
//  1. Per sector, the history of calls and returns so far is
//     linearizable against the disk specification (checked when a read
//     completes, and at every quiescent state for a read that would start
//     then): in particular every completed write is visible to every
//     read that starts after it, until overwritten.
//  2. No cluster or table is referenced twice, by the tables on disk or
//     by the cached ones, and no reference on disk points at a cluster
//     whose write has not landed (past the end of the file, or garbage).
//  3. At every quiescent state every sector reads the same through the
//     tables on disk as through the cached ones: a reopen changes nothing.
//  4. Without a backing file, an allocating write past its header wait
//     runs only while the need-check bit is set on disk, so a crash in
//     the middle of it reopens with a check (a flush that clears the bit
//     must not clear it under a write).
//
// A request frozen while nothing is in flight to wake it is a deadlock.
// Leaks (clusters no table on disk references) are counted, not judged.

// checkState checks the invariants of the state a transition produced.
func (x *exec) checkState() {
	if x.viol != nil {
		return
	}
	s, p := x.s, x.p
	if s.nFrozen > 0 {
		inFlight := false
		for r := 0; r < p.cfg.Requests; r++ {
			if admitted(s.reqs[r].phase) {
				inFlight = true
				break
			}
		}
		if !inFlight {
			x.fail("deadlock", "request %d is frozen, but no request is in flight to wake it", s.frozen[0]+1)
			return
		}
	}
	if !p.cfg.Backing && s.hdr != hdrSet {
		for r := 0; r < p.cfg.Requests; r++ {
			if rq := &s.reqs[r]; admitted(rq.phase) && rq.phase != phHeader && rq.kind.Allocating() {
				x.fail("need-check", "request %d's allocating write is in flight while the need-check bit is not set on disk", r+1)
				return
			}
		}
	}
	if msg := p.checkRefs(s, false); msg != "" {
		x.fail("double-reference", "on disk: %s", msg)
		return
	}
	if msg := p.checkRefs(s, true); msg != "" {
		x.fail("double-reference", "in the cache: %s", msg)
		return
	}
	if msg := p.checkWritten(s); msg != "" {
		x.fail("unwritten-reference", "%s", msg)
		return
	}
	if !p.quiescent(s) {
		return
	}
	for sec := 0; sec < p.cfg.GuestSectors(); sec++ {
		v := p.contentVia(s, uint16(sec), true)
		if p.cfg.Reopen {
			if d := p.contentVia(s, uint16(sec), false); d != v {
				x.fail("reopen-content", "with every request done, sector %d reads %s through the cached tables but %s through the tables on disk: a reopen would change it", sec, p.tagName(v, uint16(sec)), p.tagName(d, uint16(sec)))
				return
			}
		}
		x.checkSector(uint16(sec), true, v)
		if x.viol != nil {
			return
		}
	}
	if p.cfg.LeaksViolation {
		if n := p.Leaks(s); n > 0 {
			x.fail("leak", "with every request done, %d clusters are allocated but no table on disk references them", n)
		}
	}
}

// contentVia returns the tag a read of sector sec would see now through
// the cached tables (cache) or the tables on disk.
func (p *Protocol) contentVia(s *ProtocolState, sec uint16, cache bool) uint8 {
	e, i := p.l1Of(sec), p.l2Of(sec)
	t := s.l1Disk[e]
	if cache {
		t = s.l1Cache[e]
	}
	if t == 0 {
		return p.initial()
	}
	ts := &s.slots[t]
	d := ts.disk[i]
	if cache && ts.cached {
		d = ts.cache[i]
	}
	switch d {
	case 0:
		return p.initial()
	case p.zero:
		return tagZero
	}
	return s.slots[d].disk[p.inOf(sec)]
}

// checkRefs reports a cluster referenced twice, or of the wrong kind, by
// the tables on disk or in the cache; "" if none.
func (p *Protocol) checkRefs(s *ProtocolState, cache bool) string {
	var seen uint32 // bit i: slot i is referenced (slot numbers are below 32)
	for e := 0; e < p.cfg.L1Entries; e++ {
		t := s.l1Disk[e]
		if cache {
			t = s.l1Cache[e]
		}
		if t == 0 {
			continue
		}
		if seen&(1<<(t&31)) != 0 {
			return fmt.Sprintf("L1[%d] references the L2 table at %s, which is already referenced", e, addr(t))
		}
		seen |= 1 << (t & 31)
		ts := &s.slots[t]
		if ts.kind != slotTable {
			return fmt.Sprintf("L1[%d] references %s, which is not an L2 table", e, addr(t))
		}
		entries := &ts.disk
		if cache && ts.cached {
			entries = &ts.cache
		}
		for i := 0; i < p.cfg.Clusters; i++ {
			d := entries[i]
			if d == 0 || d == p.zero {
				continue // unallocated, or a zero cluster: no reference
			}
			if seen&(1<<(d&31)) != 0 {
				return fmt.Sprintf("L2[%d] of the table at %s references the cluster at %s, which is already referenced", i, addr(t), addr(d))
			}
			seen |= 1 << (d & 31)
			if s.slots[d].kind != slotData {
				return fmt.Sprintf("L2[%d] of the table at %s references %s, which is not a data cluster", i, addr(t), addr(d))
			}
		}
	}
	return ""
}

// checkWritten reports a reference on disk to a cluster whose write has
// not landed; "" if none.
func (p *Protocol) checkWritten(s *ProtocolState) string {
	for e := 0; e < p.cfg.L1Entries; e++ {
		t := s.l1Disk[e]
		if t == 0 {
			continue
		}
		ts := &s.slots[t]
		if !ts.written {
			return fmt.Sprintf("L1[%d] on disk references the L2 table at %s, which has not been written (past the end of the file)", e, addr(t))
		}
		for i := 0; i < p.cfg.Clusters; i++ {
			if d := ts.disk[i]; d != 0 && d != p.zero && !s.slots[d].written {
				return fmt.Sprintf("L2[%d] of the table at %s on disk references the cluster at %s, which has not been written (past the end of the file)", i, addr(t), addr(d))
			}
		}
	}
	return ""
}

// Leaks returns the number of allocated clusters that no table on disk
// references (L2 tables count as clusters; a zero-cluster entry
// references none).
func (p *Protocol) Leaks(s *ProtocolState) int {
	used := 0
	for e := 0; e < p.cfg.L1Entries; e++ {
		t := s.l1Disk[e]
		if t == 0 {
			continue
		}
		used++
		for i := 0; i < p.cfg.Clusters; i++ {
			if d := s.slots[t].disk[i]; d != 0 && d != p.zero {
				used++
			}
		}
	}
	return int(s.alloc) - used
}

// Quiescent reports whether no request is in flight or frozen and no I/O
// is outstanding in s.
func (p *Protocol) Quiescent(s *ProtocolState) bool { return p.quiescent(s) }

// AllocatingInFlight returns how many requests have an allocating access
// in flight in s.
func (p *Protocol) AllocatingInFlight(s *ProtocolState) int {
	n := 0
	for r := 0; r < p.cfg.Requests; r++ {
		if rq := &s.reqs[r]; admitted(rq.phase) && rq.kind.Allocating() {
			n++
		}
	}
	return n
}

// linOp is one operation of a sector's history.
type linOp struct {
	req   int
	write bool
	value uint8 // tag written, or tag a read returned
	done  bool
	after uint8 // bit j set: op j completed before this one was called
}

// checkSector checks that the history of sector sec is linearizable; with
// virtual, a read that starts now (all requests done or idle) and returns
// v is added to it.
func (x *exec) checkSector(sec uint16, virtual bool, v uint8) {
	s, p := x.s, x.p
	var ops [MaxProtocolRequests + 1]linOp
	var idx [MaxProtocolRequests]int
	n := 0
	for r := 0; r < p.cfg.Requests; r++ {
		rq := &s.reqs[r]
		if rq.sector != sec || rq.phase == phIdle || p.isFlush(r) {
			continue
		}
		if !rq.write && rq.phase != phDone {
			continue // a pending read constrains nothing
		}
		idx[r] = n
		ops[n] = linOp{req: r, write: rq.write, done: rq.phase == phDone, value: rq.result}
		if rq.write {
			ops[n].value = p.written(r) // zeros for a write-zeroes
		}
		n++
	}
	if n == 0 && (!virtual || v == p.initial()) {
		return // no history, or a read of a sector no request touched that sees its initial content
	}
	for j := 0; j < n; j++ {
		prec := s.reqs[ops[j].req].prec
		for r := 0; r < p.cfg.Requests; r++ {
			if prec&(1<<r) != 0 {
				ops[j].after |= 1 << idx[r]
			}
		}
	}
	if virtual {
		ops[n] = linOp{req: -1, value: v, done: true}
		for j := 0; j < n; j++ {
			if ops[j].done {
				ops[n].after |= 1 << j
			}
		}
		n++
	}
	if linearizable(ops[:n], 0, p.initial()) {
		return
	}
	x.fail("linearizability", "%s", p.explain(ops[:n], sec))
}

// linearizable reports whether the ops not in done can be ordered, from a
// register holding cur, so that each op comes after every op it must
// follow and every read returns the register's value; pending writes may
// take effect or not.
func linearizable(ops []linOp, done uint8, cur uint8) bool {
	// j&7 tells the compiler the shifts are below 8 (there are at most
	// 7 ops), sparing it the check for larger ones.
	all := true
	for j := range ops {
		if done&(1<<(j&7)) == 0 && ops[j].done {
			all = false
			break
		}
	}
	if all {
		return true
	}
	for j := range ops {
		bit := uint8(1) << (j & 7)
		if done&bit != 0 || ops[j].after&^done != 0 {
			continue
		}
		o := &ops[j]
		if o.write {
			if linearizable(ops, done|bit, o.value) {
				return true
			}
		} else if o.value == cur && linearizable(ops, done|bit, cur) {
			return true
		}
	}
	return false
}

// explain says why a sector's history is not linearizable, naming the
// simplest cause it finds.
func (p *Protocol) explain(ops []linOp, sec uint16) string {
	who := func(o *linOp) string {
		if o.req < 0 {
			return fmt.Sprintf("with every request done, a read of sector %d would see", sec)
		}
		return fmt.Sprintf("request %d's read of sector %d saw", o.req+1, sec)
	}
	for j := range ops {
		o := &ops[j]
		if o.write || !o.done {
			continue
		}
		if o.value >= tagWrite && int(o.value-tagWrite) < p.cfg.Requests {
			if w := o.value - tagWrite; !p.wroteSector(ops, int(w)) {
				return fmt.Sprintf("%s %s, written for another sector", who(o), p.tagName(o.value, sec))
			}
		}
		// A completed write that precedes the read and follows the
		// value's own write hides that value.
		for k := range ops {
			w := &ops[k]
			if !w.write || !w.done || o.after&(1<<k) == 0 || w.value == o.value {
				continue
			}
			src := -1
			for m := range ops {
				if ops[m].write && ops[m].value == o.value {
					src = m
				}
			}
			if src < 0 || w.after&(1<<src) != 0 {
				return fmt.Sprintf("%s %s, but request %d's write of it completed before the read started", who(o), p.tagName(o.value, sec), w.req+1)
			}
		}
		if o.value == tagZero && p.cfg.Backing && !p.zeroesSector(ops) {
			return fmt.Sprintf("%s zeros, but the sector holds backing data", who(o))
		}
	}
	return fmt.Sprintf("the operations on sector %d cannot be ordered to explain what its reads saw", sec)
}

// zeroesSector reports whether a write-zeroes is among ops.
func (p *Protocol) zeroesSector(ops []linOp) bool {
	for j := range ops {
		if ops[j].req >= 0 && ops[j].write && p.isZeroes(ops[j].req) {
			return true
		}
	}
	return false
}

func (p *Protocol) wroteSector(ops []linOp, req int) bool {
	for j := range ops {
		if ops[j].req == req && ops[j].write {
			return true
		}
	}
	return false
}
