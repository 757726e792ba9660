package history

import (
	"fmt"
	"math"
	"slices"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// Recorder drives an image and records the call and return of every
// read, write, flush and reopen, without changing the engine: it wraps
// each request's Done callback. Like the image, it is driven by one
// goroutine and is not safe for concurrent use.
//
// Reads and writes must cover whole sectors. Submit stamps every sector of
// a write with the write's tags, replacing its content, and decodes the
// tags every read returns.
type Recorder struct {
	open  Opener
	im    *impl.Image
	clock func() int64
	gen   int

	offset int64 // added to clock readings so time never decreases across reopens
	last   int64
	nextID uint64

	disk    model.Disk
	log     eventLog
	scratch []seenRun // a read's runs, before they go to log.runs
	conv    converter // History's progress

	clients  clientSlots
	maxAlloc int

	waiting []*pendingOp // wrappers free for reuse
}

// eventLog is a history as the recorder keeps it: free of pointers (but
// for errors) so the garbage collector never scans it, compact because
// the memory it fills is much of what recording costs, and in fixed-size
// recording allocates nothing per request but the history itself.
type pendingOp struct {
	r      *Recorder
	id     uint64
	action Action
	slot   int
	orig   func(*impl.Request)
	done   func(*impl.Request) // p.complete, bound once
}

func (p *pendingOp) complete(q *impl.Request) {
	r := p.r
	q.Done = p.orig
	orig := p.orig
	r.complete(p.id, p.action, p.slot, q)
	p.orig = nil
	r.waiting = append(r.waiting, p)
	if orig != nil {
		orig(q)
	}
}

// NewRecorder opens generation 0 of the image with open and returns a
// recorder for a run judged against disk.
func NewRecorder(disk model.Disk, open Opener) (*Recorder, error) {
	im, clock, err := open(0)
	if err != nil {
		return nil, fmt.Errorf("recorder: open image: %w", err)
	}
	if clock == nil {
		clock = func() int64 { return 0 }
	}
	return &Recorder{open: open, im: im, clock: clock, disk: disk}, nil
}

// Image returns the image currently open.
func (r *Recorder) Image() *impl.Image { return r.im }

// History returns the history recorded so far. Its Events share storage
// with the recorder and with later calls: callers must not modify them.
// Each call converts only the events recorded since the last.
func (r *Recorder) History() History {
	return History{Disk: r.disk, Events: r.conv.convert(&r.log)}
}

// Log returns a snapshot of the history recorded so far.
func (r *Recorder) Log() *Log {
	l := &Log{disk: r.disk, log: r.log}
	// The snapshot keeps its own chunk headers: the recorder's grow, not
	// its chunks' contents, change after this.
	l.log.raw.list = slices.Clone(r.log.raw.list)
	l.log.runs.list = slices.Clone(r.log.runs.list)
	return l
}

// say so.
func (r *Recorder) fail(err string) uint32 {
	r.log.errs = append(r.log.errs, err)
	return rawErr | uint32(len(r.log.errs)-1)
}

// newID returns the next operation ID.
func (r *Recorder) newID() uint64 {
	if r.nextID == math.MaxUint32 {
		panic("recorder: a history holds at most 2^32-1 operations")
	}
	r.nextID++
	return r.nextID
}

// MaxAllocInFlight returns the largest number of allocating writes the
// image had in flight at once, over every generation.
func (r *Recorder) MaxAllocInFlight() int {
	return max(r.maxAlloc, r.im.Stats().MaxAllocInFlight)
}

func (r *Recorder) now() int64 {
	t := r.offset + r.clock()
	if t < r.last {
		t = r.last
	}
	r.last = t
	return t
}

// clientSlots hands out the Client slots of operations in flight: a freed
// slot is reused (the last freed first) before a new one is opened.
type clientSlots struct {
	free []int // free slots, as a stack
	n    int   // slots opened
}

// take returns a slot no operation in flight holds.
func (c *clientSlots) take() int {
	if n := len(c.free); n > 0 {
		s := c.free[n-1]
		c.free = c.free[:n-1]
		return s
	}
	c.n++
	return c.n - 1
}

// put frees slot s.
func (c *clientSlots) put(s int) { c.free = append(c.free, s) }

// actionOf returns the action a request of op is recorded as; ok is false
// for an op the image does not know.
func actionOf(op impl.ReqOp) (a Action, ok bool) {
	switch op {
	case impl.ReqRead:
		return ActRead, true
	case impl.ReqWrite:
		return ActWrite, true
	case impl.ReqFlush:
		return ActFlush, true
	case impl.ReqWriteZeroes:
		return ActWriteZeroes, true
	}
	return 0, false
}

// Submit records req's call and submits it to the image, with the same
// contract as impl.Image.Submit: req.Done runs once req completes, from
// this or a later Submit, Step or Run call. Done sees req.Done restored to
// the caller's callback, so it may resubmit req. A read or write that does
// not cover whole sectors fails at once with an error and is not recorded.
func (r *Recorder) Submit(req *impl.Request) {
	op, ok := actionOf(req.Op)
	if !ok {
		r.im.Submit(req) // the image rejects it
		return
	}
	var sector, sectors uint64
	if op != ActFlush {
		n := req.Length()
		if req.Off%SectorSize != 0 || n%SectorSize != 0 || n/SectorSize > math.MaxUint32 {
			req.Err = fmt.Errorf("recorder: %s of %d bytes at %d does not cover whole %d-byte sectors, at most 2^32-1 of them", req.Op, n, req.Off, SectorSize)
			if req.Done != nil {
				req.Done(req)
			}
			return
		}
		sector, sectors = req.Off/SectorSize, n/SectorSize
	}
	id := r.newID()
	if op == ActWrite {
		StampWrite(req.Buf, id, sector)
	}
	slot := r.clients.take()
	r.log.raw.add(rawEvent{time: r.now(), a: sector, b: uint32(sectors), c: uint32(op)<<rawAction | uint32(slot)})
	r.log.calls++
	var p *pendingOp
	if n := len(r.waiting); n > 0 {
		p = r.waiting[n-1]
		r.waiting = r.waiting[:n-1]
	} else {
		p = &pendingOp{r: r}
		p.done = p.complete
	}
	p.id, p.action, p.slot, p.orig = id, op, slot, req.Done
	req.Done = p.done
	r.im.Submit(req)
}

// complete records q's return.
func (r *Recorder) complete(id uint64, op Action, slot int, q *impl.Request) {
	ev := rawEvent{time: r.now(), a: q.ID, b: uint32(id), c: rawReturn}
	if q.Err != nil {
		ev.c |= r.fail(q.Err.Error())
	} else if op == ActRead {
		r.scratch = decodeRuns(r.scratch[:0], q.Buf)
		copy(r.log.runs.grow(len(r.scratch)), r.scratch)
		r.log.sectors += len(q.Buf) / SectorSize
		ev.c |= rawSeen | uint32(len(r.scratch))
	}
	r.log.raw.add(ev)
	r.clients.put(slot)
}

// Step processes one I/O completion; see impl.Image.Step.
func (r *Recorder) Step() bool { return r.im.Step() }

// Run processes completions until no I/O is in flight.
func (r *Recorder) Run() { r.im.Run() }

// Reopen runs the image until every request has completed, then records a
// reopen: it closes the image and opens the next generation from the same
// files. On error the recorder keeps the closed image, which fails every
// later request.
func (r *Recorder) Reopen() error {
	r.im.Run()
	id := r.newID()
	slot := r.clients.take()
	r.log.raw.add(rawEvent{time: r.now(), c: uint32(ActReopen)<<rawAction | uint32(slot)})
	r.log.calls++
	r.maxAlloc = r.MaxAllocInFlight()
	err := r.im.Close()
	if err == nil {
		var im *impl.Image
		var clock func() int64
		im, clock, err = r.open(r.gen + 1)
		if err == nil {
			r.gen++
			r.im = im
			if clock == nil {
				clock = func() int64 { return 0 }
			}
			r.clock = clock
			r.offset = max(0, r.last-clock())
		}
	}
	ev := rawEvent{time: r.now(), b: uint32(id), c: rawReturn}
	if err != nil {
		err = fmt.Errorf("recorder: reopen: %w", err)
		ev.c |= r.fail(err.Error())
	}
	r.log.raw.add(ev)
	r.clients.put(slot)
	return err
}

// Close runs the image until idle and closes it.
func (r *Recorder) Close() error {
	r.maxAlloc = r.MaxAllocInFlight()
	return r.im.Close()
}
