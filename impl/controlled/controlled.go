// Package controlled is a backend whose caller decides which pending I/O
// completes next: the explorers in checker/ use it to run the real engine
// under every completion order.
package controlled

import (
	"encoding/binary"
	"fmt"

	"github.com/qedharness/qedharness/impl"
)

// Backend is an impl.Backend whose caller decides which pending I/O
// completes next: the explorer in checker/ uses it to run the real engine
// under every completion order. An I/O takes effect on storage only when
// it completes, so two writes in flight to the same bytes land in the
// order chosen, and a read sees the storage as it is when it completes.
//
// Complete performs the chosen I/O and queues it for Next; Next returns
// queued I/Os first and otherwise completes the oldest pending one, so
// Image.Run and Image.Close still drain the backend (in submission order).
// Every Submit and completion is folded into a trace hash, so two runs
// can be compared bit for bit. A Backend is not safe for
// concurrent use.
type Backend struct {
	files   impl.Files
	pending []*impl.IO // submitted, not completed, in submission order
	ready   []*impl.IO // completed, not yet returned by Next
	closed  bool
	hash    uint64
	eng     *impl.Engine // the engine served, once attached: footprints read it
}

var _ impl.Backend = (*Backend)(nil)

// New returns a Backend over files.
func New(files impl.Files) *Backend {
	return &Backend{files: files, hash: fnvOffset}
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (b *Backend) mix(vs ...uint64) {
	h := b.hash
	for _, v := range vs {
		for i := 0; i < 8; i++ {
			h ^= v & 0xff
			h *= fnvPrime
			v >>= 8
		}
	}
	b.hash = h
}

// HashBytes hashes p eight bytes at a time (a multiply-xorshift mix): the
// trace hash only has to tell runs apart, not resist attack.
func HashBytes(p []byte) uint64 {
	h := uint64(len(p)) * 0x9e3779b97f4a7c15
	for len(p) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(p)) * 0xbf58476d1ce4e5b9
		h ^= h >> 29
		p = p[8:]
	}
	for _, c := range p {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h ^ h>>32
}

// Submit queues io as pending. After Close it fails io instead, which
// Next then returns first.
func (b *Backend) Submit(io *impl.IO) {
	var data uint64
	if io.Op == impl.OpWrite {
		data = HashBytes(io.Buf)
	}
	b.mix(1, io.ID, uint64(io.Op), uint64(io.File), io.Off, uint64(len(io.Buf)), uint64(io.Purpose), io.Req, data)
	if b.closed {
		io.Err = fmt.Errorf("controlled backend: %v submitted after Close", io)
		b.ready = append(b.ready, io)
		return
	}
	b.pending = append(b.pending, io)
}

// Complete performs the pending I/O with the given ID against storage and
// queues it for Next. It fails if no such I/O is pending.
func (b *Backend) Complete(id uint64) error {
	for i, io := range b.pending {
		if io.ID == id {
			b.pending = append(b.pending[:i], b.pending[i+1:]...)
			b.perform(io)
			return nil
		}
	}
	return fmt.Errorf("controlled backend: no pending I/O %d", id)
}

func (b *Backend) perform(io *impl.IO) {
	io.Err = impl.Perform(b.files, io)
	var data uint64
	if io.Op == impl.OpRead {
		data = HashBytes(io.Buf)
	}
	errBit := uint64(0)
	if io.Err != nil {
		errBit = 1
	}
	b.mix(2, io.ID, data, errBit)
	b.ready = append(b.ready, io)
}

// Next returns the oldest I/O completed by Complete; if there is none, it
// completes the oldest pending I/O and returns it; if nothing is pending,
// it returns nil.
func (b *Backend) Next() *impl.IO {
	if len(b.ready) == 0 && len(b.pending) > 0 {
		io := b.pending[0]
		b.pending = b.pending[1:]
		b.perform(io)
	}
	if len(b.ready) == 0 {
		return nil
	}
	io := b.ready[0]
	b.ready = b.ready[1:]
	return io
}

// Attach lets the backend read the state of e, the engine of the image
// it serves (Image.Engine), so footprints can tell a completion that only
// finishes requests (and wakes none) from one that may look up tables.
// Without it footprints are sound but coarse. Attach reads, never
// changes, the engine.
func (b *Backend) Attach(e *impl.Engine) { b.eng = e }

// EngineHash returns the attached engine's StateHash, or 0 if no engine
// is attached.
func (b *Backend) EngineHash() uint64 {
	if b.eng == nil {
		return 0
	}
	return b.eng.StateHash()
}

// Close marks the backend closed: later Submits fail. Pending I/Os still
// complete through Next. It does not close the storage and returns nil.
func (b *Backend) Close() error {
	b.closed = true
	return nil
}

// TraceHash returns a hash (FNV-1a over fields, word-wise over data) of every Submit (the I/O's fields and
// the data it writes) and every completion (the I/O's ID, the data it
// read, whether it failed) so far. Two runs of a deterministic engine
// under the same completion order have the same trace hash.
func (b *Backend) TraceHash() uint64 { return b.hash }

// Len returns the number of pending I/Os.
func (b *Backend) Len() int { return len(b.pending) }

// IsPending reports whether the I/O with the given ID is pending.
func (b *Backend) IsPending(id uint64) bool {
	for _, io := range b.pending {
		if io.ID == id {
			return true
		}
	}
	return false
}

// Pending returns the I/Os submitted and not yet completed, in submission
// order, each with what completing it would touch.
func (b *Backend) Pending() []PendingIO {
	out := make([]PendingIO, len(b.pending))
	for i, io := range b.pending {
		out[i] = PendingIO{
			ID: io.ID, Op: io.Op, File: io.File, Off: io.Off, Len: uint64(len(io.Buf)),
			Purpose: io.Purpose, Req: io.Req, Footprint: b.footprint(io),
		}
	}
	return out
}

// PendingIO describes one pending I/O of a Backend.
type PendingIO struct {
	ID        uint64
	Op        impl.IOOp
	File      impl.File
	Off, Len  uint64
	Purpose   impl.Purpose
	Req       uint64
	Footprint impl.Footprint
}

// footprint returns what completing io touches: the engine's answer, or,
// with no engine attached, the bytes it touches and every engine effect.
func (b *Backend) footprint(io *impl.IO) impl.Footprint {
	if b.eng != nil {
		return b.eng.Footprint(io)
	}
	f := impl.EngineFootprint()
	f.File, f.Off, f.Write = io.File, io.Off, io.Op == impl.OpWrite || io.Op == impl.OpWriteZeroes
	switch io.Op {
	case impl.OpRead, impl.OpWrite:
		f.Len = uint64(len(io.Buf))
	case impl.OpWriteZeroes:
		f.Len = io.Len
	}
	return f
}

// Describe renders the pending I/O with the given ID in domain words,
// without naming the request it serves (see PendingIO.Req): "data write
// of the new cluster at 0x5000 (with fill)"; "" if no such I/O is
// pending.
func (b *Backend) Describe(id uint64) string {
	for _, io := range b.pending {
		if io.ID == id {
			if b.eng == nil {
				return io.String()
			}
			return b.eng.Describe(io)
		}
	}
	return ""
}
