package model

import "fmt"

// EventKind is the kind of one step of a protocol transition.
type EventKind uint8

// Event kinds. Their names (String) are the ones the implementation
// explorer's traces use, so both draw the same sequence diagram.
const (
	// EventSubmit: a request is submitted.
	EventSubmit EventKind = iota
	// EventIssue: an I/O is issued to the disk.
	EventIssue
	// EventComplete: an I/O in flight completes (a write lands).
	EventComplete
	// EventFrozen: the policy freezes a request.
	EventFrozen
	// EventWoken: a frozen request is woken and restarts its lookup.
	EventWoken
	// EventDone: a request completes.
	EventDone
	// EventReopen: the image is closed and opened again.
	EventReopen
	// EventNote: a decision with no I/O (a lookup, an allocation, a
	// change to a cached table).
	EventNote
)

var eventNames = [...]string{"submit", "issue", "complete", "frozen", "woken", "done", "reopen", "note"}

// String returns the kind's name: "submit", "issue", "complete",
// "frozen", "woken", "done", "reopen" or "note".
func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", k)
}

// Event is one step of a transition as data (ApplyEvents).
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Req is the request (1-based) the step concerns, or 0 for the
	// metadata writer's own writes, the header and reopen.
	Req int
	// IO names the I/O an issue or completion concerns while it is in
	// flight ("request 2's I/O", "the L1 table sector write"): the issue
	// and the completion of one I/O carry the same name, and no two
	// I/Os in flight at once do. Empty for other kinds.
	IO string
	// Text is the step in domain words, as Apply's log has it.
	Text string
}

// The names of the I/Os in flight (Event.IO).
const headerIO = "the header write"

func reqIO(r int) string  { return fmt.Sprintf("request %d's I/O", r+1) }
func metaIO(r int) string { return fmt.Sprintf("request %d's table write", r+1) }

func tableIO(l1 bool, t uint8) string {
	if l1 {
		return "the L1 table sector write"
	}
	return "the write of the L2 table at " + addr(t)
}
