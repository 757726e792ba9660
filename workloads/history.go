package workloads

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
	// ID names the operation, positive and unique in the history. A
	// write's ID is the write id in the tags it stamps.
	ID uint64
	// Time is the clock reading in nanoseconds: virtual time on the sim
	// backend, monotonic time on the file backend. It never decreases
	// along Events. It is for display; order comes from the position.
	Time int64

	// Action is the operation's kind (calls only).
	Action Action
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

	// The history, kept free of pointers while recording so the garbage
	// collector never scans it, and in fixed-size chunks so it is never
	// copied: raw events, the tags reads saw, errors. History builds
	// Events from them.
	disk  model.Disk
	raw   chunks[rawEvent]
	seen  chunks[seenTag]
	errs  []string
	built []Event

	free     []int // free client slots, as a stack
	slots    int
	maxAlloc int

	waiting []*pendingOp // wrappers free for reuse
}

// rawEvent is an Event as the recorder keeps it, in 48 bytes. A call
// keeps Sector and Sectors in a and b; a return keeps Req in a and, for a
// read, the position of its tags in Recorder.seen in b and their number
// in n. err is an index into Recorder.errs plus one (0: none).
type rawEvent struct {
	id, a, b uint64
	time     int64
	n        uint32
	err      uint32
	client   uint32
	kind     EventKind
	action   Action
	hasSeen  bool
}

// seenTag is a Decoded in 16 bytes: the sector index in the low 56 bits
// of sector, the tag kind and the fault in its top byte.
type seenTag struct{ write, sector uint64 }

const seenShift = 56

func packSeen(d Decoded) seenTag {
	return seenTag{d.Tag.Write, d.Tag.Sector&(1<<seenShift-1) | uint64(d.Tag.Kind)<<seenShift | uint64(d.Fault)<<(seenShift+4)}
}

func (t seenTag) unpack() Decoded {
	top := t.sector >> seenShift
	return Decoded{
		Tag:   model.Tag{Kind: model.TagKind(top & 0xf), Write: t.write, Sector: t.sector & (1<<seenShift - 1)},
		Fault: Fault(top >> 4),
	}
}

// chunkLen is the number of elements per chunk of recorded data.
const chunkLen = 2048

// chunks is an append-only sequence stored in fixed-size chunks, so that
// growing it never copies, and a run of elements appended together stays
// contiguous (a run longer than a chunk gets a chunk of its own).
type chunks[T any] struct {
	list [][]T
	n    int // elements before the last chunk
}

// grow reserves room for k contiguous elements and returns their
// position and storage.
func (c *chunks[T]) grow(k int) (int, []T) {
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
	return c.n + at, c.list[last][at : at+k : at+k]
}

// len returns the number of elements.
func (c *chunks[T]) len() int {
	if len(c.list) == 0 {
		return 0
	}
	return c.n + len(c.list[len(c.list)-1])
}

// slice returns the k elements at position at, which grow returned.
func (c *chunks[T]) slice(at, k int) []T {
	for _, ch := range c.list {
		if at < len(ch) {
			return ch[at : at+k : at+k]
		}
		at -= len(ch)
	}
	return nil
}

// add appends v.
func (c *chunks[T]) add(v T) {
	_, s := c.grow(1)
	s[0] = v
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
	total := r.raw.len()
	if cap(r.built) < total {
		r.built = append(make([]Event, 0, total), r.built...)
	}
	// One block for the Seen of every read converted now.
	var block []Decoded
	skip := len(r.built)
	for _, ch := range r.raw.list {
		if skip >= len(ch) {
			skip -= len(ch)
			continue
		}
		for _, e := range ch[skip:] {
			ev := Event{Kind: e.kind, ID: e.id, Time: e.time, Action: e.action, Client: int(e.client)}
			if e.kind == Call {
				ev.Sector, ev.Sectors = e.a, e.b
			} else {
				ev.Req = e.a
			}
			if e.hasSeen {
				if len(block) < int(e.n) {
					block = make([]Decoded, max(int(e.n), r.seen.len()-int(e.b)))
				}
				ev.Seen, block = block[:e.n:e.n], block[e.n:]
				for i, t := range r.seen.slice(int(e.b), int(e.n)) {
					ev.Seen[i] = t.unpack()
				}
			}
			if e.err > 0 {
				ev.Err = r.errs[e.err-1]
			}
			r.built = append(r.built, ev)
		}
		skip = 0
	}
	return History{Disk: r.disk, Events: r.built}
}

// fail records err for a return and returns its index for rawEvent.err.
func (r *Recorder) fail(err string) uint32 {
	r.errs = append(r.errs, err)
	return uint32(len(r.errs))
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
		if req.Off%SectorSize != 0 || len(req.Buf)%SectorSize != 0 {
			req.Err = fmt.Errorf("recorder: %s of %d bytes at %d does not cover whole %d-byte sectors", req.Op, len(req.Buf), req.Off, SectorSize)
			if req.Done != nil {
				req.Done(req)
			}
			return
		}
		sector, sectors = req.Off/SectorSize, uint64(len(req.Buf))/SectorSize
	}
	r.nextID++
	id := r.nextID
	if op == ActWrite {
		StampWrite(req.Buf, id, sector)
	}
	slot := r.takeSlot()
	r.raw.add(rawEvent{kind: Call, id: id, time: r.now(), action: op, a: sector, b: sectors, client: uint32(slot)})
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
	ev := rawEvent{kind: Return, id: id, time: r.now(), a: q.ID}
	if q.Err != nil {
		ev.err = r.fail(q.Err.Error())
	} else if op == ActRead {
		n := len(q.Buf) / SectorSize
		at, dst := r.seen.grow(n)
		for i := range dst {
			dst[i] = packSeen(DecodeTag(q.Buf[i*SectorSize : (i+1)*SectorSize]))
		}
		ev.hasSeen, ev.b, ev.n = true, uint64(at), uint32(n)
	}
	r.raw.add(ev)
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
	r.nextID++
	id := r.nextID
	slot := r.takeSlot()
	r.raw.add(rawEvent{kind: Call, id: id, time: r.now(), action: ActReopen, client: uint32(slot)})
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
	ev := rawEvent{kind: Return, id: id, time: r.now()}
	if err != nil {
		err = fmt.Errorf("recorder: reopen: %w", err)
		ev.err = r.fail(err.Error())
	}
	r.raw.add(ev)
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
