package crash

import (
	"sort"

	"github.com/qedharness/qedharness/impl"
)

// Ledger records a run's guest writes and flushes and knows, for every
// guest sector, which contents a crash may leave there. A write's sectors
// carry tags (Tag, Data) naming the write, so a read tells which write it
// saw. Sector tag 0 is the base content: zeros without a backing file (or
// past its end), or the backing file as Backing fills it.
//
// The promise it checks: every write that completed before a flush was
// submitted, that flush having completed, reads back intact after the
// crash, unless a later write to the same sector may have landed over it.
// Writes must be sector-aligned. The zero Ledger is ready to use. A
// Ledger is not safe for concurrent use.
type Ledger struct {
	// Backing says the image has a backing file filled by Backing.
	Backing bool

	writes    []ledgerWrite
	zeroes    map[uint64]bool  // ids of write-zeroes, whose sectors read as zeros
	sectors   map[uint64][]int // guest sector -> indexes into writes
	completed int              // writes completed so far
	durable   int              // writes completed before a completed flush's submission
}

type ledgerWrite struct {
	id       uint64
	off, len uint64
	done     int // completion rank from 1, 0 while in flight
	subAt    int // writes completed before this one was submitted
}

// Submitted records that write id of guest bytes [off, off+n) was
// submitted.
func (l *Ledger) Submitted(id, off, n uint64) {
	if l.sectors == nil {
		l.sectors = make(map[uint64][]int)
	}
	l.writes = append(l.writes, ledgerWrite{id: id, off: off, len: n, subAt: l.completed})
	for s := off / impl.SectorSize; s < (off+n)/impl.SectorSize; s++ {
		l.sectors[s] = append(l.sectors[s], len(l.writes)-1)
	}
}

// SubmittedZeroes records that write-zeroes id of guest bytes
// [off, off+n) was submitted: a write whose sectors read as zeros.
func (l *Ledger) SubmittedZeroes(id, off, n uint64) {
	if l.zeroes == nil {
		l.zeroes = make(map[uint64]bool)
	}
	l.zeroes[id] = true
	l.Submitted(id, off, n)
}

// Holds reports whether sector s reading as got (an id untag returned)
// is what write a (0: the base content) left there: the write's tag, or
// zeros for a write-zeroes, or the base content, which is zeros without
// a backing file or past its end.
func (l *Ledger) Holds(s, a, got uint64) bool {
	if got != zeroRead {
		return a == got
	}
	return l.zeroes[a] || a == 0 && (!l.Backing || s*impl.SectorSize >= backingSize)
}

// Completed records that write id completed.
func (l *Ledger) Completed(id uint64) {
	for i := range l.writes {
		if l.writes[i].id == id && l.writes[i].done == 0 {
			l.completed++
			l.writes[i].done = l.completed
			return
		}
	}
}

// FlushSubmitted returns the mark a flush submitted now covers; pass it
// to FlushCompleted when the flush completes.
func (l *Ledger) FlushSubmitted() int { return l.completed }

// FlushCompleted records that the flush submitted at mark completed.
func (l *Ledger) FlushCompleted(mark int) { l.durable = max(l.durable, mark) }

// Durable returns the number of writes promised durable so far.
func (l *Ledger) Durable() int { return l.durable }

// Sectors returns every guest sector some write touched, ascending.
func (l *Ledger) Sectors() []uint64 {
	out := make([]uint64, 0, len(l.sectors))
	for s := range l.sectors {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Allowed returns the write ids sector s may hold after a crash (0 for the
// base content) and the ids flushes promised. Of the promised writes to s
// (completed before a completed flush's submission) every one that no
// other promised write superseded (by being submitted after it completed)
// may be what the disk kept, since concurrent writes may land in either
// order; so may every write not promised, which may or may not have
// landed. The base content is allowed only while no write is promised.
func (l *Ledger) Allowed(s uint64) (allowed, promised []uint64) {
	idx := l.sectors[s]
	for _, i := range idx {
		w := l.writes[i]
		if w.done == 0 || w.done > l.durable {
			allowed = append(allowed, w.id)
			continue
		}
		superseded := false
		for _, j := range idx {
			v := l.writes[j]
			superseded = superseded || (j != i && v.done != 0 && v.done <= l.durable && v.subAt >= w.done)
		}
		if !superseded {
			promised = append(promised, w.id)
		}
	}
	if len(promised) == 0 {
		allowed = append(allowed, 0)
	}
	return append(promised, allowed...), promised
}
