// Package serve puts an open QED image behind an NBD server (impl/nbd):
// the Export that hands each request to the image as it arrives, Open
// for an image file on the file backend, and ProcessCPU for what serving
// cost. qedimg serve and runbench nbd both serve images through it.
package serve

import (
	"fmt"
	"sync"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/impl/nbd"
)

// Submitter takes image requests as impl.Image.Submit does: the image
// itself, or a recorder in front of it (workloads/history's Observer).
type Submitter interface {
	Submit(r *impl.Request)
}

// Export is the nbd.Export of an open image: an event loop on one
// goroutine that owns the image (impl.Image is not safe for concurrent
// use) and waits in the file backend's Wait, which returns either an I/O
// completion or nil when Submit, on a connection's goroutine, queued a
// request and called the backend's Interrupt. Every request is handed to
// the image as soon as the loop sees it, so the policy alone decides what
// runs concurrently; the loop never waits for one request before starting
// the next.
//
// Commands map onto image requests: read, write and flush as they are;
// write-zeroes as the image's write-zeroes request (impl.ReqWriteZeroes:
// zero-cluster entries, clusters zeroed in place), or with the NO_HOLE
// flag as writes of a shared buffer of zeros (in pieces of at most
// zeroChunk bytes), which allocate every cluster as the flag asks; trim as
// a write-zeroes too. QED has no discard, and the protocol lets a server
// ignore a trim or carry it out as a write-zeroes; the latter keeps "a
// read after a trim reads zeros", so a history recorded through the
// export can be checked with a trim counted as a write of zeros, and fio
// trims cost what runbench's trims do. FUA is the server's: a flush after
// the command completes.
type Export struct {
	im    *impl.OpenedImage
	fb    *file.Backend
	sub   Submitter // im, or what records its history
	zeros []byte

	mu      sync.Mutex
	queue   []*nbd.Request // submitted, not yet seen by the loop
	closing bool
	closed  chan error // the loop's image close, once it stops

	// Owned by the loop.
	free     []*exportOp
	inflight int // requests started and not done
}

// zeroChunk is the largest image write a write-zeroes with NO_HOLE
// becomes.
const zeroChunk = 1 << 20

// exportOp is one NBD request in the image: one image request, or
// several for a long write-zeroes with NO_HOLE.
type exportOp struct {
	x       *Export
	nr      *nbd.Request
	reqs    []impl.Request
	pending int
	err     error
	done    func(*impl.Request) // finishPart, bound once
}

// NewExport starts the loop of an export of im, whose backend is fb (Open
// returns both), and returns it. Requests go to the image through sub, or
// straight to im if sub is nil. The export owns im from now on: only its
// loop touches it until Close returns, which closes it.
func NewExport(im *impl.OpenedImage, fb *file.Backend, sub Submitter) *Export {
	if sub == nil {
		sub = im
	}
	x := &Export{im: im, fb: fb, sub: sub, zeros: make([]byte, zeroChunk), closed: make(chan error, 1)}
	go x.run()
	return x
}

// Submit queues r for the loop and wakes it if the queue was empty (a
// loop that has yet to see the earlier requests will see this one too).
// It is safe for concurrent use, as nbd.Export requires.
func (x *Export) Submit(r *nbd.Request) {
	x.mu.Lock()
	first := len(x.queue) == 0
	x.queue = append(x.queue, r)
	x.mu.Unlock()
	if first {
		x.fb.Interrupt()
	}
}

// Close stops the loop once every request submitted is done, closes the
// image (a clean close: everything flushed, the need-check bit cleared)
// and returns the close's error. Nothing may be submitted after it. Once
// it returns, the caller may read the image's statistics (Stats) again.
func (x *Export) Close() error {
	x.mu.Lock()
	x.closing = true
	x.mu.Unlock()
	x.fb.Interrupt()
	return <-x.closed
}

// run is the loop.
func (x *Export) run() {
	var batch []*nbd.Request
	for {
		x.mu.Lock()
		batch, x.queue = x.queue, batch[:0]
		closing := x.closing
		x.mu.Unlock()
		for i, r := range batch {
			x.start(r)
			batch[i] = nil
		}
		if closing && len(batch) == 0 && x.inflight == 0 {
			break
		}
		if io := x.fb.Wait(); io != nil {
			x.im.Complete(io)
		}
	}
	x.closed <- x.im.Close()
}

// start hands r to the image.
func (x *Export) start(r *nbd.Request) {
	var op *exportOp
	if n := len(x.free); n > 0 {
		op = x.free[n-1]
		x.free = x.free[:n-1]
	} else {
		op = &exportOp{x: x}
		op.done = op.finishPart
	}
	op.nr, op.err = r, nil
	x.inflight++
	switch r.Cmd {
	case nbd.CmdTrim:
		op.parts(1)[0] = impl.Request{Op: impl.ReqWriteZeroes, Off: r.Offset, Len: uint64(r.Length)}
	case nbd.CmdWriteZeroes:
		if r.Flags&nbd.CmdFlagNoHole == 0 {
			op.parts(1)[0] = impl.Request{Op: impl.ReqWriteZeroes, Off: r.Offset, Len: uint64(r.Length)}
			break
		}
		n := (uint64(r.Length) + zeroChunk - 1) / zeroChunk
		parts := op.parts(int(n))
		for i := range parts {
			off := uint64(i) * zeroChunk
			k := min(uint64(r.Length)-off, zeroChunk)
			parts[i] = impl.Request{Op: impl.ReqWrite, Off: r.Offset + off, Buf: x.zeros[:k]}
		}
	case nbd.CmdRead:
		op.parts(1)[0] = impl.Request{Op: impl.ReqRead, Off: r.Offset, Buf: r.Data}
	case nbd.CmdWrite:
		op.parts(1)[0] = impl.Request{Op: impl.ReqWrite, Off: r.Offset, Buf: r.Data}
	case nbd.CmdFlush:
		op.parts(1)[0] = impl.Request{Op: impl.ReqFlush}
	default:
		op.err = nbd.Errorf(nbd.EINVAL, "%s is not supported", r.Cmd)
		x.finish(op)
		return
	}
	op.pending = len(op.reqs)
	for i := range op.reqs {
		q := &op.reqs[i]
		q.Done = op.done
		x.sub.Submit(q)
	}
}

// parts sizes op.reqs to n requests and returns them.
func (op *exportOp) parts(n int) []impl.Request {
	if cap(op.reqs) < n {
		op.reqs = make([]impl.Request, n)
	}
	op.reqs = op.reqs[:n]
	return op.reqs
}

// finishPart is the Done of each image request of op.
func (op *exportOp) finishPart(q *impl.Request) {
	if q.Err != nil && op.err == nil {
		op.err = fmt.Errorf("%s of %d bytes at %d: %w", q.Op, q.Length(), q.Off, q.Err)
	}
	op.pending--
	if op.pending == 0 {
		op.x.finish(op)
	}
}

// finish answers op's request and recycles op.
func (x *Export) finish(op *exportOp) {
	r, err := op.nr, op.err
	clear(op.reqs)
	op.nr, op.err = nil, nil
	x.free = append(x.free, op)
	x.inflight--
	r.Done(err)
}
