package history

import (
	"fmt"

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
	// ActWriteZeroes makes whole sectors read as zeros (the image's
	// write-zeroes request, a trim): a write of zeros, whose tag in every
	// sector is model.ZeroTag. It stamps nothing, so unlike a write's,
	// its tags are not unique.
	ActWriteZeroes
)

var actionNames = [...]string{"read", "write", "flush", "reopen", "write-zeroes"}

// String returns "read", "write", "flush", "reopen" or "write-zeroes".
func (k Action) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return fmt.Sprintf("opkind(%d)", k)
}

// Ranged reports whether the action covers a range of sectors: a read, a
// write or a write-zeroes.
func (k Action) Ranged() bool { return k == ActRead || k == ActWrite || k == ActWriteZeroes }

// Writes reports whether the action changes the sectors it covers: a
// write or a write-zeroes.
func (k Action) Writes() bool { return k == ActWrite || k == ActWriteZeroes }

// Wrote returns the tag an operation of action k with id wrote to sector
// s: the write's stamp, or zeros for a write-zeroes.
func (k Action) Wrote(id, s uint64) model.Tag {
	if k == ActWriteZeroes {
		return model.ZeroTag()
	}
	return model.WriteTag(id, s)
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
