package checker

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// Problem classifies what makes a history impossible to judge.
type Problem uint8

const (
	// UnmatchedCall is a call with no return (and Options.AllowPending
	// not set).
	UnmatchedCall Problem = iota
	// UnmatchedReturn is a return with no earlier call of the same ID.
	UnmatchedReturn
	// DuplicateCall is a second call with an ID already used.
	DuplicateCall
	// DuplicateReturn is a second return for one call.
	DuplicateReturn
	// CorruptTag is a read that returned a sector whose bytes are not a
	// tag at all (wrong magic or checksum) or mix several tags (torn).
	CorruptTag
	// UnknownTag is a read that returned a well-formed tag no operation
	// of the history put in that sector: a write that does not exist or
	// does not cover the sector, or backing content of another sector or
	// past the backing file.
	UnknownTag
	// Malformed is an operation whose fields contradict each other, such
	// as a read returning fewer sectors than it covers.
	Malformed
)

var problemNames = [...]string{"unmatched call", "unmatched return", "duplicate call", "duplicate return", "corrupt tag", "unknown tag", "malformed operation"}

// String returns the problem's name ("unmatched call").
func (p Problem) String() string {
	if int(p) < len(problemNames) {
		return problemNames[p]
	}
	return fmt.Sprintf("problem(%d)", p)
}

// InputError reports a history the checker cannot judge. It names the
// operation and the event (its position in History.Events).
type InputError struct {
	// Problem classifies the error.
	Problem Problem
	// Op is the operation's ID.
	Op uint64
	// Event is the index in History.Events of the offending event.
	Event int
	// Detail says what exactly is wrong.
	Detail string
}

// Error renders "history event 12: op 7: unknown tag: ...".
func (e *InputError) Error() string {
	return fmt.Sprintf("history event %d: op %d: %s: %s", e.Event, e.Op, e.Problem, e.Detail)
}

// ImageFaults returns the input errors in err (a Check's, possibly
// joined) that convict the image rather than the history: reads that
// returned corrupt or torn sectors, or tags no write put there. A history
// recorded by a Recorder or an Observer has such reads only when the image
// returned data that was never written.
func ImageFaults(err error) []*InputError {
	var out []*InputError
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case nil:
		case *InputError:
			if x.Problem == CorruptTag || x.Problem == UnknownTag {
				out = append(out, x)
			}
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return out
}

// maxInputErrors bounds how many input errors one check reports.
const maxInputErrors = 20

// op is one operation of a history, its call matched with its return.
type op struct {
	id      uint64
	action  history.Action
	sector  uint64
	sectors uint64
	client  int
	// call and ret are event positions, porcupine's timestamps. A
	// pending or failed write returns at len(Events)+1: it may take
	// effect at any time after its call.
	call, ret         int64
	callTime, retTime int64
	pending           bool // never returned, or failed: its effect is unknown
	err               string
	seen              []history.Decoded
}

// prepared is a validated history: its operations in call order, and for
// each sector the reads and writes touching it, in call order.
type prepared struct {
	disk    model.Disk
	ops     []op
	end     int64     // len(Events)+1: the return time of pending operations
	sectors []uint64  // the sectors touched, ascending
	secOps  [][]int32 // secOps[i]: indexes into ops of sectors[i]'s operations
}

// CheckLog is Check on the history of a recorder's log. It converts the
// log to events itself, so that a run recorded for checking pays for the
// conversion only here (history.Log).
func CheckLog(l *history.Log, opts Options) (*Result, error) {
	return Check(l.History(), opts)
}

// prepare matches calls with returns and validates every read's tags.
func prepare(h *history.History, allowPending bool) (*prepared, error) {
	hist := &prepared{disk: h.Disk, end: int64(len(h.Events)) + 1}
	var errs []error
	fail := func(p Problem, id uint64, ev int, format string, args ...any) {
		if len(errs) < maxInputErrors {
			errs = append(errs, &InputError{Problem: p, Op: id, Event: ev, Detail: fmt.Sprintf(format, args...)})
		}
	}
	index := newOpIndex(h.Events)
	returned := make([]bool, 0, len(h.Events)/2)
	for i := range h.Events {
		ev := &h.Events[i]
		if ev.Kind == history.Call {
			if _, dup := index.get(ev.ID); dup {
				fail(DuplicateCall, ev.ID, i, "operation id already used by an earlier call")
				continue
			}
			if ev.Action.Ranged() && ev.Sectors == 0 {
				fail(Malformed, ev.ID, i, "%s covers no sector", ev.Action)
				continue
			}
			index.set(ev.ID, int32(len(hist.ops)))
			returned = append(returned, false)
			hist.ops = append(hist.ops, op{
				id: ev.ID, action: ev.Action, sector: ev.Sector, sectors: ev.Sectors, client: ev.Client,
				call: int64(i), callTime: ev.Time, ret: hist.end, retTime: ev.Time, pending: true,
			})
			continue
		}
		k, ok := index.get(ev.ID)
		if !ok {
			fail(UnmatchedReturn, ev.ID, i, "return without a call")
			continue
		}
		if returned[k] {
			fail(DuplicateReturn, ev.ID, i, "operation already returned")
			continue
		}
		returned[k] = true
		o := &hist.ops[k]
		o.retTime, o.err = ev.Time, ev.Err
		if ev.Err != "" && o.action.Writes() {
			continue // a failed write may or may not have landed: pending
		}
		o.ret, o.pending = int64(i), false
		if o.action == history.ActRead && ev.Err == "" {
			if uint64(len(ev.Seen)) != o.sectors {
				fail(Malformed, ev.ID, i, "read of %d sectors returned %d tags", o.sectors, len(ev.Seen))
				o.err = "malformed"
				continue
			}
			o.seen = ev.Seen
		}
	}
	for k := range hist.ops {
		o := &hist.ops[k]
		if !returned[k] && !allowPending {
			fail(UnmatchedCall, o.id, int(o.call), "%s never returned", o.action)
		}
	}
	// Validate tags now that every write is known.
	for k := range hist.ops {
		o := &hist.ops[k]
		if o.action != history.ActRead || o.seen == nil {
			continue
		}
		for j, d := range o.seen {
			s := o.sector + uint64(j)
			if d.Fault != history.FaultNone {
				fail(CorruptTag, o.id, int(o.ret), "sector %d is %s", s, d.Fault)
				continue
			}
			if why := hist.unknownTag(index, d.Tag, s); why != "" {
				fail(UnknownTag, o.id, int(o.ret), "sector %d holds %v, but %s", s, d.Tag, why)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	hist.index()
	return hist, nil
}

// unknownTag explains why no operation of the history put t in sector s,
// or returns "".
func (h *prepared) unknownTag(index *opIndex, t model.Tag, s uint64) string {
	switch t.Kind {
	case model.TagZero:
		return ""
	case model.TagBacking:
		if t.Sector != s {
			return fmt.Sprintf("that is the backing content of sector %d", t.Sector)
		}
		if s >= h.disk.BackingSectors {
			return fmt.Sprintf("the backing file covers only %d sectors", h.disk.BackingSectors)
		}
		return ""
	case model.TagWrite:
		k, ok := index.get(t.Write)
		if !ok {
			return fmt.Sprintf("the history has no operation %d", t.Write)
		}
		w := &h.ops[k]
		if w.action != history.ActWrite {
			return fmt.Sprintf("operation %d is a %s, not a write", t.Write, w.action)
		}
		if t.Sector != s {
			return fmt.Sprintf("write %d stamped that for sector %d", t.Write, t.Sector)
		}
		if s < w.sector || s >= w.sector+w.sectors {
			return fmt.Sprintf("write %d covers sectors %d..%d", t.Write, w.sector, w.sector+w.sectors-1)
		}
		return ""
	}
	return fmt.Sprintf("tag kind %d is unknown", t.Kind)
}

// indexed reports whether o is in the per-sector index: pending reads
// have no result and are left out.
func (o *op) indexed() bool {
	return o.action.Writes() || o.action == history.ActRead && o.seen != nil
}

// index groups the reads and writes by sector, each sector's operations
// in call order. When the sectors touched span a range not much larger
// than the operations' sectors, it sorts by counting over that range;
// otherwise it groups through a map.
func (h *prepared) index() {
	lo, hi, total := uint64(math.MaxUint64), uint64(0), 0
	for k := range h.ops {
		if o := &h.ops[k]; o.indexed() {
			lo, hi = min(lo, o.sector), max(hi, o.sector+o.sectors)
			total += int(o.sectors)
		}
	}
	if total == 0 {
		return
	}
	if span := hi - lo; span <= uint64(max(4*total, 1<<16)) && total < math.MaxInt32 {
		h.indexDense(lo, int(span), total)
		return
	}
	h.indexMap()
}

// indexMap is index through a map from sector to operations.
func (h *prepared) indexMap() {
	bySec := make(map[uint64][]int32)
	for k := range h.ops {
		o := &h.ops[k]
		if !o.indexed() {
			continue
		}
		for s := o.sector; s < o.sector+o.sectors; s++ {
			list, ok := bySec[s]
			if !ok {
				h.sectors = append(h.sectors, s)
			}
			bySec[s] = append(list, int32(k))
		}
	}
	slices.Sort(h.sectors)
	h.secOps = make([][]int32, len(h.sectors))
	for i, s := range h.sectors {
		h.secOps[i] = bySec[s]
	}
}

// indexDense is index by a counting sort over the span sectors from lo,
// which hold total single-sector operations.
func (h *prepared) indexDense(lo uint64, span, total int) {
	next := make([]int32, span) // per sector: its count, then where its next op goes
	for k := range h.ops {
		if o := &h.ops[k]; o.indexed() {
			for i := o.sector - lo; i < o.sector-lo+o.sectors; i++ {
				next[i]++
			}
		}
	}
	n := 0
	for _, c := range next {
		if c > 0 {
			n++
		}
	}
	h.sectors, h.secOps = make([]uint64, 0, n), make([][]int32, 0, n)
	flat := make([]int32, total)
	off := int32(0)
	for i, c := range next {
		next[i] = off
		if c > 0 {
			h.sectors = append(h.sectors, lo+uint64(i))
			h.secOps = append(h.secOps, flat[off:off+c:off+c])
			off += c
		}
	}
	for k := range h.ops {
		if o := &h.ops[k]; o.indexed() {
			for i := o.sector - lo; i < o.sector-lo+o.sectors; i++ {
				flat[next[i]] = int32(k)
				next[i]++
			}
		}
	}
}

// sectorInput returns what op k does to sector s, for the model.
func (h *prepared) sectorInput(k int32, s uint64) (model.SectorInput, any) {
	o := &h.ops[k]
	if o.action.Writes() {
		return model.SectorInput{Kind: model.SectorWrite, Sector: s, Tag: o.action.Wrote(o.id, s)}, nil
	}
	return model.SectorInput{Kind: model.SectorRead, Sector: s}, o.seen[s-o.sector].Tag
}

// opIndex maps operation ids to their positions in history.ops: through a
// slice when the ids are dense, as a recorder's are (a call's id is its
// position in the log), and a map otherwise.
type opIndex struct {
	dense []int32 // dense[id] is the position plus one, 0 for none
	byID  map[uint64]int32
}

// newOpIndex returns an empty index suited to the ids of events' calls.
func newOpIndex(events []history.Event) *opIndex {
	var maxID uint64
	for i := range events {
		if events[i].Kind == history.Call {
			maxID = max(maxID, events[i].ID)
		}
	}
	if maxID <= 2*uint64(len(events))+64 {
		return &opIndex{dense: make([]int32, maxID+1)}
	}
	return &opIndex{byID: make(map[uint64]int32, len(events)/2)}
}

// get returns the position of operation id.
func (x *opIndex) get(id uint64) (int32, bool) {
	if x.byID != nil {
		k, ok := x.byID[id]
		return k, ok
	}
	if id >= uint64(len(x.dense)) || x.dense[id] == 0 {
		return 0, false
	}
	return x.dense[id] - 1, true
}

// set records that operation id is at position k; id is a call's.
func (x *opIndex) set(id uint64, k int32) {
	if x.byID != nil {
		x.byID[id] = k
		return
	}
	x.dense[id] = k + 1
}
