package workloads

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// Action is the kind of a recorded guest operation.
type Action uint8

const (
	// ActRead reads whole sectors.
	ActRead Action = iota
	// ActWrite stamps whole sectors with its tags.
	ActWrite
	// ActFlush is a guest flush.
	ActFlush
	// ActReopen closes the image and opens it again from the same files.
	ActReopen
)

var actionNames = [...]string{"read", "write", "flush", "reopen"}

// String returns "read", "write", "flush" or "reopen".
func (k Action) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return fmt.Sprintf("opkind(%d)", k)
}

// EventKind says whether an event is an operation's call or its return.
type EventKind uint8

const (
	// Call is the moment an operation was submitted.
	Call EventKind = iota
	// Return is the moment an operation completed.
	Return
)

// String returns "call" or "return".
func (k EventKind) String() string {
	if k == Return {
		return "return"
	}
	return "call"
}

// Event is one call or return. An operation is the pair of a call and a
// return with the same ID; the position of an event in History.Events is
// the real-time order in which the single goroutine driving the image saw
// it, so an operation that returned before another was called precedes it.
type Event struct {
	// Kind says whether this is a call or a return.
	Kind EventKind
	// Action is the operation's kind (calls only).
	Action Action
	// ID names the operation, positive and unique in the history. A
	// write's ID is the write id in the tags it stamps.
	ID uint64
	// Time is the clock reading in nanoseconds: virtual time on the sim
	// backend, monotonic time on the file backend. It never decreases
	// along Events. It is for display; order comes from the position.
	Time int64

	// Sector and Sectors give the sectors a read or write covers (calls
	// only).
	Sector  uint64
	Sectors uint64
	// Client is the queue slot the operation occupied, from 0: a slot no
	// operation in flight holds, reusing freed slots before opening new
	// ones. It lays operations out for visualization.
	Client int

	// Seen holds, for a read's return, what it found in each sector.
	Seen []Decoded
	// Err is the operation's error on return, "" for success.
	Err string
	// Req is the image's request ID, on return (0 if none).
	Req uint64
}

// History is a recorded run: the disk it ran against and its events.
type History struct {
	// Disk is the specification the run is judged against.
	Disk model.Disk
	// Events are the calls and returns in real-time order.
	Events []Event
}

// Ops returns the number of call events.
func (h *History) Ops() int {
	n := 0
	for i := range h.Events {
		if h.Events[i].Kind == Call {
			n++
		}
	}
	return n
}

// Opener opens the image of a run from its files: the first time with
// generation 0, and after each Recorder.Reopen with the next generation
// (a sim opener may seed its new backend from it). It returns the image
// and a clock reading the backend's time in nanoseconds (virtual time for
// sim); the clock of a new generation may restart from zero.
type Opener func(generation int) (*impl.Image, func() int64, error)

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

	free     []int // free client slots, as a stack
	slots    int
	maxAlloc int

	waiting []*pendingOp // wrappers free for reuse
}

// eventLog is a history as the recorder keeps it: free of pointers (but
// for errors) so the garbage collector never scans it, compact because
// the memory it fills is much of what recording costs, and in fixed-size
// chunks so it is never copied. Converting it to Events is
// left to History, and to Log.History when the history is checked.
type eventLog struct {
	raw     chunks[rawEvent]
	runs    chunks[seenRun] // the runs of tags reads saw, in return order
	errs    []string
	calls   int // call events
	sectors int // sectors of every read recorded: their Seen, all told
}

// rawEvent is an Event as the recorder keeps it, in 24 bytes. A call
// keeps Sector in a, Sectors in b, its Action in bits 28-29 of c and
// Client in the bits below; its ID is implicit, as calls take IDs 1, 2,
// 3, ... in order. A return keeps Req in a, the operation's ID in b, and
// in the low bits of c either, for a read, the number of runs of tags it
// saw (which follow those of earlier reads in eventLog.runs) or, for a
// failure, the index of its error in eventLog.errs. The fields bound a
// history to 2^32-1 operations, 2^32-1 sectors per request, 2^28 clients
// and 2^29 errors, which no history that fits in memory exceeds (Submit
// and newID check the first two).
type rawEvent struct {
	time int64
	a    uint64
	b    uint32
	c    uint32
}

const (
	rawReturn  = 1 << 31 // the event is a return
	rawSeen    = 1 << 30 // a return with seen tags (a successful read)
	rawErr     = 1 << 29 // a return with an error
	rawAction  = 28      // a call's Action is in bits 28 and 29
	rawClient  = 1<<rawAction - 1
	rawLowMask = rawErr - 1 // a return's run count or error index
)

// chunkLen is the number of elements per chunk of recorded data: 12 KiB
// of events or of runs, small enough that the last chunk wastes little
// and that chunks come from the allocator's size classes, not straight
// from the page heap.
const chunkLen = 512

// chunks is an append-only sequence stored in fixed-size chunks, so that
// growing it never copies, and a run of elements appended together stays
// contiguous (a run longer than a chunk gets a chunk of its own).
type chunks[T any] struct {
	list [][]T
	n    int // elements before the last chunk
}

// grow reserves room for k contiguous elements and returns their
// storage.
func (c *chunks[T]) grow(k int) []T {
	last := len(c.list) - 1
	if last < 0 || cap(c.list[last])-len(c.list[last]) < k {
		if last >= 0 {
			c.n += len(c.list[last])
		}
		c.list = append(c.list, make([]T, 0, max(chunkLen, k)))
		last++
	}
	cur := c.list[last]
	at := len(cur)
	c.list[last] = cur[:at+k]
	return c.list[last][at : at+k : at+k]
}

// len returns the number of elements.
func (c *chunks[T]) len() int {
	if len(c.list) == 0 {
		return 0
	}
	return c.n + len(c.list[len(c.list)-1])
}

// add appends v.
func (c *chunks[T]) add(v T) {
	if last := len(c.list) - 1; last >= 0 && len(c.list[last]) < cap(c.list[last]) {
		c.list[last] = append(c.list[last], v)
		return
	}
	c.grow(1)[0] = v
}

// pendingOp is the recorder's state for one request in flight: its done
// method, bound once, replaces the request's Done. Wrappers are reused, so
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

// Log is a snapshot of a recorder's history in the compact form it
// records it in, which costs nothing to take and is converted to Events
// only by History: a run that hands its history to the checker as a Log
// (see checker.CheckLog) leaves the conversion to the check. A Log is
// immutable: it shares storage with the recorder, which only appends past
// it, so it may be converted on another goroutine (handed over with the
// usual synchronization) while the recorder goes on.
type Log struct {
	disk model.Disk
	log  eventLog
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

// Disk returns the disk the history is judged against.
func (l *Log) Disk() model.Disk { return l.disk }

// Ops returns the number of operations (call events), as History.Ops.
func (l *Log) Ops() int { return l.log.calls }

// History converts the log to a History, whose Events are new.
func (l *Log) History() History {
	var c converter
	return History{Disk: l.disk, Events: c.convert(&l.log)}
}

// converter builds Events from an eventLog, resuming where it stopped.
type converter struct {
	events   []Event
	chunk    int // the position in raw of the next event to convert
	off      int
	runChunk int // the position in runs of the next read's runs
	runOff   int
	sectors  int // sectors of Seen built
	calls    int // call events converted
}

// convert converts the events of l it has not converted yet, appends
// them to c.events and returns c.events.
func (c *converter) convert(l *eventLog) []Event {
	total := l.raw.len()
	if len(c.events) == total {
		return c.events
	}
	if cap(c.events) < total {
		c.events = append(make([]Event, 0, total), c.events...)
	}
	// One block for the Seen of every read converted now.
	var block []Decoded
	if n := l.sectors - c.sectors; n > 0 {
		block = make([]Decoded, n)
		c.sectors = l.sectors
	}
	for ; c.chunk < len(l.raw.list); c.chunk, c.off = c.chunk+1, 0 {
		ch := l.raw.list[c.chunk]
		for i := c.off; i < len(ch); i++ {
			e := &ch[i]
			ev := Event{Time: e.time}
			if e.c&rawReturn == 0 {
				c.calls++
				ev.Kind, ev.ID, ev.Action = Call, uint64(c.calls), Action(e.c>>rawAction&3)
				ev.Sector, ev.Sectors, ev.Client = e.a, uint64(e.b), int(e.c&rawClient)
			} else {
				ev.Kind, ev.ID, ev.Req = Return, uint64(e.b), e.a
				if e.c&rawErr != 0 {
					ev.Err = l.errs[e.c&rawLowMask]
				}
				if e.c&rawSeen != 0 {
					rest := block
					for _, run := range c.nextRuns(l, int(e.c&rawLowMask)) {
						rest = run.expand(rest)
					}
					if n := len(block) - len(rest); n > 0 {
						ev.Seen, block = block[:n:n], rest
					}
				}
			}
			c.events = append(c.events, ev)
		}
	}
	// Stop at the end of the last chunk, which may grow.
	c.chunk = len(l.raw.list) - 1
	c.off = len(l.raw.list[c.chunk])
	return c.events
}

// nextRuns returns the k runs of seen tags after those converted: they
// are contiguous in l.runs, as complete stored them.
func (c *converter) nextRuns(l *eventLog, k int) []seenRun {
	if k == 0 {
		return nil
	}
	if c.runOff+k > len(l.runs.list[c.runChunk]) {
		c.runChunk, c.runOff = c.runChunk+1, 0
	}
	at := c.runOff
	c.runOff += k
	return l.runs.list[c.runChunk][at:c.runOff]
}

// fail records err for a return and returns the bits of rawEvent.c that
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

func (r *Recorder) takeSlot() int {
	if n := len(r.free); n > 0 {
		s := r.free[n-1]
		r.free = r.free[:n-1]
		return s
	}
	r.slots++
	return r.slots - 1
}

// Submit records req's call and submits it to the image, with the same
// contract as impl.Image.Submit: req.Done runs once req completes, from
// this or a later Submit, Step or Run call. Done sees req.Done restored to
// the caller's callback, so it may resubmit req. A read or write that does
// not cover whole sectors fails at once with an error and is not recorded.
func (r *Recorder) Submit(req *impl.Request) {
	var op Action
	switch req.Op {
	case impl.ReqRead:
		op = ActRead
	case impl.ReqWrite:
		op = ActWrite
	case impl.ReqFlush:
		op = ActFlush
	default:
		r.im.Submit(req) // the image rejects it
		return
	}
	var sector, sectors uint64
	if op != ActFlush {
		if req.Off%SectorSize != 0 || len(req.Buf)%SectorSize != 0 || uint64(len(req.Buf))/SectorSize > math.MaxUint32 {
			req.Err = fmt.Errorf("recorder: %s of %d bytes at %d does not cover whole %d-byte sectors, at most 2^32-1 of them", req.Op, len(req.Buf), req.Off, SectorSize)
			if req.Done != nil {
				req.Done(req)
			}
			return
		}
		sector, sectors = req.Off/SectorSize, uint64(len(req.Buf))/SectorSize
	}
	id := r.newID()
	if op == ActWrite {
		StampWrite(req.Buf, id, sector)
	}
	slot := r.takeSlot()
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
	r.free = append(r.free, slot)
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
	slot := r.takeSlot()
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
	r.free = append(r.free, slot)
	return err
}

// Close runs the image until idle and closes it.
func (r *Recorder) Close() error {
	r.maxAlloc = r.MaxAllocInFlight()
	return r.im.Close()
}

// WriteText writes h in the text form ParseHistory reads: a "disk" line,
// then one event per line:
//
//	disk backing=16
//	call 1 write s8+2 client=0 t=100
//	call 2 read s8+2 client=1 t=120
//	return 1 t=300 req=1
//	return 2 t=310 saw=w1/s8,zero
//	return 3 t=400 err="image is closed"
func (h *History) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "disk backing=%d\n", h.Disk.BackingSectors)
	for i := range h.Events {
		bw.WriteString(h.Events[i].String())
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// String renders the event as one line of the text form.
func (e *Event) String() string {
	var b strings.Builder
	if e.Kind == Call {
		fmt.Fprintf(&b, "call %d %s", e.ID, e.Action)
		if e.Action == ActRead || e.Action == ActWrite {
			fmt.Fprintf(&b, " s%d+%d", e.Sector, e.Sectors)
		}
		fmt.Fprintf(&b, " client=%d t=%d", e.Client, e.Time)
		return b.String()
	}
	fmt.Fprintf(&b, "return %d t=%d", e.ID, e.Time)
	if e.Req != 0 {
		fmt.Fprintf(&b, " req=%d", e.Req)
	}
	if e.Seen != nil {
		b.WriteString(" saw=")
		for i, d := range e.Seen {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(d.String())
		}
	}
	if e.Err != "" {
		fmt.Fprintf(&b, " err=%s", strconv.Quote(e.Err))
	}
	return b.String()
}

// ParseHistory reads a history in the text form WriteText writes. Blank
// lines and lines starting with # are ignored; the "disk" line is
// optional (no backing file). Errors name the line. It checks syntax
// only: unmatched calls and returns are for the checker to report.
func ParseHistory(r io.Reader) (History, error) {
	var h History
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if err := h.parseLine(text); err != nil {
			return History{}, fmt.Errorf("history line %d %q: %w", line, text, err)
		}
	}
	if err := sc.Err(); err != nil {
		return History{}, fmt.Errorf("read history: %w", err)
	}
	return h, nil
}

func (h *History) parseLine(text string) error {
	fields, err := splitFields(text)
	if err != nil {
		return err
	}
	if fields[0] == "disk" {
		for _, f := range fields[1:] {
			v, ok := strings.CutPrefix(f, "backing=")
			if !ok {
				return fmt.Errorf("unknown disk field %q", f)
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("backing: %w", err)
			}
			h.Disk.BackingSectors = n
		}
		return nil
	}
	if len(fields) < 2 {
		return errors.New("want call or return and an operation id")
	}
	var ev Event
	switch fields[0] {
	case "call":
		ev.Kind = Call
	case "return":
		ev.Kind = Return
	default:
		return fmt.Errorf("unknown event %q (want disk, call or return)", fields[0])
	}
	id, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil || id == 0 {
		return fmt.Errorf("operation id %q: want a positive integer", fields[1])
	}
	ev.ID = id
	rest := fields[2:]
	if ev.Kind == Call {
		if len(rest) == 0 {
			return errors.New("call without an operation kind")
		}
		found := false
		for k, name := range actionNames {
			if rest[0] == name {
				ev.Action, found = Action(k), true
			}
		}
		if !found {
			return fmt.Errorf("unknown operation %q", rest[0])
		}
		rest = rest[1:]
		if ev.Action == ActRead || ev.Action == ActWrite {
			if len(rest) == 0 || !strings.HasPrefix(rest[0], "s") {
				return fmt.Errorf("%s without sectors (want sFIRST+COUNT)", ev.Action)
			}
			a, b, ok := strings.Cut(rest[0][1:], "+")
			first, err1 := strconv.ParseUint(a, 10, 64)
			count, err2 := strconv.ParseUint(b, 10, 64)
			if !ok || err1 != nil || err2 != nil || count == 0 {
				return fmt.Errorf("sectors %q: want sFIRST+COUNT with COUNT > 0", rest[0])
			}
			ev.Sector, ev.Sectors = first, count
			rest = rest[1:]
		}
	}
	for _, f := range rest {
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("field %q: want key=value", f)
		}
		var err error
		switch {
		case key == "t":
			ev.Time, err = strconv.ParseInt(val, 10, 64)
		case key == "client" && ev.Kind == Call:
			ev.Client, err = strconv.Atoi(val)
		case key == "req" && ev.Kind == Return:
			ev.Req, err = strconv.ParseUint(val, 10, 64)
		case key == "saw" && ev.Kind == Return:
			ev.Seen = []Decoded{}
			for _, s := range strings.Split(val, ",") {
				d, perr := ParseDecoded(s)
				if perr != nil {
					return perr
				}
				ev.Seen = append(ev.Seen, d)
			}
		case key == "err" && ev.Kind == Return:
			ev.Err, err = strconv.Unquote(val)
		default:
			return fmt.Errorf("unknown %s field %q", ev.Kind, key)
		}
		if err != nil {
			return fmt.Errorf("field %s: %w", key, err)
		}
	}
	h.Events = append(h.Events, ev)
	return nil
}

// splitFields splits on spaces, keeping a double-quoted value (err="a b")
// in one field.
func splitFields(s string) ([]string, error) {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		i := 0
		for i < len(s) && s[i] != ' ' && s[i] != '"' {
			i++
		}
		if i < len(s) && s[i] == '"' {
			q, err := strconv.QuotedPrefix(s[i:])
			if err != nil {
				return nil, fmt.Errorf("unterminated quoted value in %q", s)
			}
			i += len(q)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	if len(out) == 0 {
		return nil, errors.New("empty line")
	}
	return out, nil
}

// ParseDecoded parses a tag as Decoded.String renders it: "zero",
// "backing/s9", "w12/s9", "corrupt" or "torn".
func ParseDecoded(s string) (Decoded, error) {
	switch s {
	case "zero":
		return Decoded{Tag: model.ZeroTag()}, nil
	case "corrupt":
		return Decoded{Fault: FaultCorrupt}, nil
	case "torn":
		return Decoded{Fault: FaultTorn}, nil
	}
	who, sec, ok := strings.Cut(s, "/s")
	n, err := strconv.ParseUint(sec, 10, 64)
	if !ok || err != nil {
		return Decoded{}, fmt.Errorf("tag %q: want zero, backing/sN, wID/sN, corrupt or torn", s)
	}
	if who == "backing" {
		return Decoded{Tag: model.BackingTag(n)}, nil
	}
	w, err := strconv.ParseUint(strings.TrimPrefix(who, "w"), 10, 64)
	if !strings.HasPrefix(who, "w") || err != nil || w == 0 {
		return Decoded{}, fmt.Errorf("tag %q: want zero, backing/sN, wID/sN, corrupt or torn", s)
	}
	return Decoded{Tag: model.WriteTag(w, n)}, nil
}
