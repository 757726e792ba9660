package history

import (
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// Observer records the history of an image driven by a client that
// chooses its own data (fio, qemu-io, a guest through an NBD export), so
// that the checkers judge such a run as they judge the Recorder's. The
// Recorder stamps each write's sectors with tags; the Observer cannot
// change the data, so it remembers a fingerprint (a 64-bit hash) of every
// sector each write carried, and names what a read returned by matching
// each sector's fingerprint against the writes of that sector called so
// far and the sector's initial content:
//
//   - one match: the sector read is that write's tag (or the initial tag);
//   - no match: the sector is corrupt (no write and no initial content
//     held those bytes), a violation;
//   - more than one (two writes, or a write and the initial content, with
//     the same bytes): the sector is left out of the history, which is
//     then weaker but never wrong. The read is recorded as the runs of
//     its other sectors, each its own read over the same interval (a disk
//     promises sector atomicity only, so nothing is lost by splitting).
//
// Clients that write distinct data every time (fio's verify data: a
// header with the offset and a random seed, random bytes after it) leave
// nothing ambiguous. Requests that do not cover whole sectors cannot be
// recorded; they are counted (Unaligned) and the history is then not to be
// judged. Like the image, an Observer is used from one goroutine.
type Observer struct {
	im       *impl.Image
	clock    func() int64
	disk     model.Disk
	initial  func(sector uint64, buf []byte) error
	seed     maphash.Seed
	zeroHash uint64

	events   []Event
	splits   map[uint64][]run // a read's id -> the runs it is recorded as, when split
	nextID   uint64
	last     int64
	clients  clientSlots
	sectors  map[uint64][]fingerprint // sector -> the writes called on it
	initials map[uint64]uint64        // sector -> fingerprint of its initial content (backing file)
	scratch  []byte

	waiting []*observed

	// Unaligned counts requests not recorded because they do not cover
	// whole sectors; Ambiguous counts sectors of reads left out because
	// their bytes matched more than one write; Err is the first error
	// reading a sector's initial content.
	Unaligned, Ambiguous int
	Err                  error
}

// fingerprint is one write's content of a sector.
type fingerprint struct {
	hash uint64
	id   uint64
}

// run is sectors [first, first+len(seen)) of a read and what they held.
type run struct {
	first uint64
	seen  []Decoded
}

// observed is the Done wrapper of one request in flight.
type observed struct {
	o      *Observer
	id     uint64
	action Action
	slot   int
	call   int // index of the call event
	orig   func(*impl.Request)
	done   func(*impl.Request)
}

// ObserverOptions configure NewObserver.
type ObserverOptions struct {
	// Clock returns the time in nanoseconds, for display; nil reads 0.
	Clock func() int64
	// Disk is the specification the history is judged against: with a
	// backing file, Disk.BackingSectors sectors read initially as the
	// backing file's (TagBacking), every later one as zeros.
	Disk model.Disk
	// Initial fills buf (SectorSize bytes) with sector s's initial
	// content, for s < Disk.BackingSectors (the backing file's bytes);
	// nil means zeros.
	Initial func(s uint64, buf []byte) error
}

// NewObserver returns an observer of requests submitted to im through it.
func NewObserver(im *impl.Image, opts ObserverOptions) *Observer {
	o := &Observer{
		im: im, clock: opts.Clock, disk: opts.Disk, initial: opts.Initial,
		seed: maphash.MakeSeed(), splits: map[uint64][]run{},
		sectors: map[uint64][]fingerprint{}, initials: map[uint64]uint64{},
		scratch: make([]byte, SectorSize),
	}
	if o.clock == nil {
		o.clock = func() int64 { return 0 }
	}
	o.zeroHash = maphash.Bytes(o.seed, make([]byte, SectorSize))
	return o
}

func (o *Observer) now() int64 {
	o.last = max(o.last, o.clock())
	return o.last
}

// Submit records r's call and submits it to the image, with the contract
// of impl.Image.Submit: r.Done runs once r completes, and sees r.Done
// restored to the caller's callback. A read or write that does not cover
// whole sectors is submitted unrecorded and counted in Unaligned.
func (o *Observer) Submit(r *impl.Request) {
	act, ok := actionOf(r.Op)
	if !ok {
		o.im.Submit(r) // the image rejects it
		return
	}
	ev := Event{Kind: Call, Action: act}
	if act != ActFlush {
		if n := r.Length(); r.Off%SectorSize != 0 || n%SectorSize != 0 || n == 0 {
			o.Unaligned++
			o.im.Submit(r)
			return
		}
		ev.Sector, ev.Sectors = r.Off/SectorSize, r.Length()/SectorSize
	}
	o.nextID++
	ev.ID, ev.Time, ev.Client = o.nextID, o.now(), o.clients.take()
	if act == ActWrite {
		for i := uint64(0); i < ev.Sectors; i++ {
			h := maphash.Bytes(o.seed, r.Buf[i*SectorSize:(i+1)*SectorSize])
			s := ev.Sector + i
			o.sectors[s] = append(o.sectors[s], fingerprint{hash: h, id: ev.ID})
		}
	}
	var p *observed
	if n := len(o.waiting); n > 0 {
		p = o.waiting[n-1]
		o.waiting = o.waiting[:n-1]
	} else {
		p = &observed{o: o}
		p.done = p.complete
	}
	p.id, p.action, p.slot, p.call, p.orig = ev.ID, act, ev.Client, len(o.events), r.Done
	o.events = append(o.events, ev)
	r.Done = p.done
	o.im.Submit(r)
}

// complete records q's return, then calls the caller's Done.
func (p *observed) complete(q *impl.Request) {
	o := p.o
	q.Done = p.orig
	ev := Event{Kind: Return, ID: p.id, Time: o.now(), Req: q.ID}
	if q.Err != nil {
		ev.Err = q.Err.Error()
	} else if p.action == ActRead {
		call := &o.events[p.call]
		seen := make([]Decoded, call.Sectors)
		var runs []run
		start := -1
		for i := range seen {
			s := call.Sector + uint64(i)
			d, ok := o.identify(s, q.Buf[i*SectorSize:(i+1)*SectorSize])
			seen[i] = d
			switch {
			case !ok && start >= 0:
				runs = append(runs, run{first: call.Sector + uint64(start), seen: seen[start:i]})
				start = -1
			case ok && start < 0:
				start = i
			}
		}
		if start >= 0 && (start > 0 || runs != nil) {
			runs = append(runs, run{first: call.Sector + uint64(start), seen: seen[start:]})
		}
		if start == 0 && runs == nil {
			ev.Seen = seen
		} else {
			o.Ambiguous += len(seen) - sumRuns(runs)
			o.splits[p.id] = runs
		}
	}
	o.events = append(o.events, ev)
	o.clients.put(p.slot)
	orig := p.orig
	p.orig = nil
	o.waiting = append(o.waiting, p)
	if orig != nil {
		orig(q)
	}
}

func sumRuns(runs []run) int {
	n := 0
	for _, r := range runs {
		n += len(r.seen)
	}
	return n
}

// identify names the content b of sector s: ok is false when more than
// one write (or a write and the initial content) held those bytes.
func (o *Observer) identify(s uint64, b []byte) (Decoded, bool) {
	h := maphash.Bytes(o.seed, b)
	var found Decoded
	n := 0
	if h == o.initialHash(s) {
		found, n = Decoded{Tag: o.disk.Initial(s)}, 1
	}
	for _, f := range o.sectors[s] {
		if f.hash == h {
			found = Decoded{Tag: model.WriteTag(f.id, s)}
			n++
		}
	}
	switch n {
	case 0:
		return Decoded{Fault: FaultCorrupt}, true
	case 1:
		return found, true
	}
	return Decoded{}, false
}

// initialHash returns the fingerprint of sector s's initial content.
func (o *Observer) initialHash(s uint64) uint64 {
	if s >= o.disk.BackingSectors || o.initial == nil {
		return o.zeroHash
	}
	if h, ok := o.initials[s]; ok {
		return h
	}
	if err := o.initial(s, o.scratch); err != nil {
		if o.Err == nil {
			o.Err = fmt.Errorf("observer: initial content of sector %d: %w", s, err)
		}
		return o.zeroHash
	}
	h := maphash.Bytes(o.seed, o.scratch)
	o.initials[s] = h
	return h
}

// Ops returns the number of requests recorded.
func (o *Observer) Ops() int { return int(o.nextID) }

// History returns the history recorded so far: every operation that has
// returned, with the reads whose sectors were ambiguous split into reads
// of their other sectors (given ids after every recorded one; a read
// with no other sector is left out), and the operations still in flight
// as calls without a return.
func (o *Observer) History() History {
	out := make([]Event, 0, len(o.events))
	next := o.nextID
	parts := make(map[uint64][]uint64, len(o.splits)) // a split read's id -> its parts' ids
	for i := range o.events {
		ev := &o.events[i]
		runs, split := o.splits[ev.ID]
		if ev.Kind != Call || ev.Action != ActRead || !split {
			continue
		}
		ids := make([]uint64, len(runs))
		for k := range ids {
			next++
			ids[k] = next
		}
		parts[ev.ID] = ids
	}
	for _, ev := range o.events {
		ids, split := parts[ev.ID]
		if !split {
			out = append(out, ev)
			continue
		}
		for k, id := range ids {
			e := ev
			e.ID = id
			if ev.Kind == Call {
				e.Sector, e.Sectors = o.splits[ev.ID][k].first, uint64(len(o.splits[ev.ID][k].seen))
			} else {
				e.Seen = o.splits[ev.ID][k].seen
			}
			out = append(out, e)
		}
	}
	return History{Disk: o.disk, Events: slices.Clip(out)}
}
