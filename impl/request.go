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
	// ReqWriteZeroes makes the Len bytes at Off read as zeros, without a
	// buffer (Buf must be nil), after QEMU's qed_co_pwrite_zeroes. QED has
	// no discard, so it is also what a trim (an NBD TRIM, a fio trim)
	// means here. Cluster by cluster:
	//
	//   - allocated: zeroed in place (an OpWriteZeroes on its data), with
	//     no metadata change: QED has no refcounts, so dropping the
	//     allocation would leak the cluster;
	//   - a zero cluster: nothing;
	//   - unallocated, where it reads as zeros already (no backing file,
	//     or past its end): nothing. QEMU writes zero-cluster entries
	//     there; skipping them costs no I/O and reads the same, so
	//     without a backing file a write-zeroes never changes metadata;
	//   - unallocated, where the backing file shows through: covered
	//     whole, its L2 entry becomes ZeroCluster, a metadata-only
	//     allocation (possibly of a new L2 table) admitted by the policy
	//     like an allocating write's (model.AllocCluster, AllocL2);
	//     covered in part (an unaligned start or end), it is written as
	//     zero data with the copy-on-write fill of any write, as QEMU
	//     falls back to a buffer of zeros there.
	//
	// The image's last cluster counts as covered whole when the range
	// reaches the image's end.
	ReqWriteZeroes
)

// String returns "read", "write", "flush" or "write-zeroes".
func (o ReqOp) String() string {
	switch o {
	case ReqRead:
		return "read"
	case ReqWrite:
		return "write"
	case ReqFlush:
		return "flush"
	case ReqWriteZeroes:
		return "write-zeroes"
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
	// Len is the byte count of a ReqWriteZeroes, which has no Buf; the
	// other ops take their length from Buf and must leave Len 0.
	Len uint64
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
	// Allocated is true if the request allocated a cluster or table (for
	// a ReqWriteZeroes, zero-cluster entries count).
	Allocated bool
}

// Length returns the request's byte count: Len for a ReqWriteZeroes,
// len(Buf) otherwise.
func (r *Request) Length() uint64 {
	if r.Op == ReqWriteZeroes {
		return r.Len
	}
	return uint64(len(r.Buf))
}
