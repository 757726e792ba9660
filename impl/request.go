package impl

import "fmt"

// ReqOp is the operation of a guest request.
type ReqOp uint8

const (
	// ReqRead reads len(Buf) bytes at Off into Buf.
	ReqRead ReqOp = iota
	// ReqWrite writes Buf at Off.
	ReqWrite
	// ReqFlush makes every write completed before it durable.
	ReqFlush
)

// String returns "read", "write" or "flush".
func (o ReqOp) String() string {
	switch o {
	case ReqRead:
		return "read"
	case ReqWrite:
		return "write"
	case ReqFlush:
		return "flush"
	}
	return fmt.Sprintf("reqop(%d)", o)
}

// Request is one guest request. The caller fills Op, Off, Buf and Done,
// hands it to Image.Submit, and must not touch Buf until Done is called.
// The image fills the remaining fields.
type Request struct {
	Op  ReqOp
	Off uint64
	Buf []byte
	// Done, if not nil, is called once when the request completes, on the
	// goroutine driving the image.
	Done func(*Request)

	// ID is assigned at Submit, increasing from 1.
	ID uint64
	// Err is nil on success.
	Err error
	// Freezes counts how often the policy froze the request.
	Freezes int
	// FrozenNanos is the total time spent frozen, by the image's clock.
	FrozenNanos int64
	// SubmitNanos and DoneNanos are the clock readings at Submit and at
	// completion.
	SubmitNanos, DoneNanos int64
	// Allocated is true if the request allocated a cluster or table.
	Allocated bool
}
