package history

import "github.com/qedharness/qedharness/model"

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
	rawAction  = 28      // a call's Action is in bits 28 to 30 (a call has no rawSeen, rawErr)
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
				ev.Kind, ev.ID, ev.Action = Call, uint64(c.calls), Action(e.c>>rawAction&7)
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
