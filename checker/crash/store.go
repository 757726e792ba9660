package crash

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"

	"github.com/qedharness/qedharness/impl"
)

// Store is an impl.Storage wrapper that models what a device keeps across
// a crash. Every write goes through to the wrapped storage at once (reads
// see it, as they would see a device's volatile cache) and is also logged
// as unflushed; a completed Sync makes every logged write durable and
// empties the log. At a crash, any subset of the unflushed writes may have
// reached the medium: Crash builds the image for one subset, CrashRandom
// for a seeded random one, and Crashes enumerates them all (bounded).
//
// The unit that lands or is lost is a whole write, or with torn each of
// its 512-byte sectors (a device promises sector atomicity, no more). Of
// two unflushed writes to the same bytes that both land, the later one
// (in the order WriteAt saw them) wins: a device does not bring back data
// that a later completed write had overwritten in its cache.
//
// Sync covers every write logged before it. A flush covers only the
// writes that completed before it was submitted, though, so a caller
// that knows the submission point arms the next Sync with SyncLimit to
// cover only the writes logged before Mark returned it. The explorer
// does so on the controlled backend, and so does the sim crash test,
// through sim.Backend.SetPerformHook: both backends apply a write to
// storage at its completion, so Mark at a flush's submission counts
// exactly the writes completed before it. Writes still in flight at a
// crash are not in the log; a caller passes them as extra
// (sim.Backend.InFlight, controlled.Backend.Pending).
//
// Truncate is treated as ordered and durable at once, with every write
// logged before it (the engine truncates only at a clean close, to cut
// the tail it grew; Create and repair truncate too, and all of them sync
// straight afterwards). Grow, the engine's growth ahead of allocation, is
// logged as a write of zeros. The file size after a crash is the
// durable size extended by the writes that landed.
//
// A Store is not safe for concurrent use.
type Store struct {
	inner   impl.Storage
	durable []byte // the medium as of the last barrier
	log     []Write
	seq     uint64 // writes logged so far
	limit   uint64 // the next Sync covers writes with Seq < limit
	armed   bool
	syncs   uint64
}

// Write is one write logged by a Store and not yet durable, or one in
// flight that a caller passes to a crash as extra.
type Write struct {
	// Seq numbers the write among every write the store logged, from 0
	// (0 for a write in flight, which the store never saw).
	Seq uint64
	// Off is the byte offset of the write.
	Off int64
	// Data is a copy of the bytes written; callers must not change it.
	Data []byte
}

// NewStore wraps inner, taking its current content as durable.
func NewStore(inner impl.Storage) (*Store, error) {
	img, err := snapshot(inner)
	if err != nil {
		return nil, fmt.Errorf("crash store: %w", err)
	}
	return &Store{inner: inner, durable: img}, nil
}

// snapshot reads the whole of st.
func snapshot(st impl.Storage) ([]byte, error) {
	size, err := st.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if _, err := st.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf, nil
}

// ReadAt reads the live (volatile) content.
func (c *Store) ReadAt(p []byte, off int64) (int, error) { return c.inner.ReadAt(p, off) }

// WriteAt writes through to the wrapped storage and logs the write as
// unflushed.
func (c *Store) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.inner.WriteAt(p, off)
	if n > 0 {
		c.log = append(c.log, Write{Seq: c.seq, Off: off, Data: append([]byte(nil), p[:n]...)})
		c.seq++
	}
	return n, err
}

// Size returns the live size.
func (c *Store) Size() (int64, error) { return c.inner.Size() }

// Truncate resizes the wrapped storage and makes it, and every write
// logged so far, durable.
func (c *Store) Truncate(size int64) error {
	if err := c.inner.Truncate(size); err != nil {
		return err
	}
	c.durable = applyWrites(c.durable, c.log, nil)
	c.log = c.log[:0]
	if int64(len(c.durable)) > size {
		c.durable = c.durable[:size]
	} else {
		c.durable = append(c.durable, make([]byte, size-int64(len(c.durable)))...)
	}
	return nil
}

// Grow extends the wrapped storage to size bytes, if shorter, and logs
// the new zeros as an unflushed write: a crash may lose the growth, as a
// file system may lose an unsynced fallocate.
func (c *Store) Grow(size int64) error {
	cur, err := c.inner.Size()
	if err != nil || cur >= size {
		return err
	}
	if err := c.inner.Truncate(size); err != nil {
		return err
	}
	c.log = append(c.log, Write{Seq: c.seq, Off: cur, Data: make([]byte, size-cur)})
	c.seq++
	return nil
}

// Sync syncs the wrapped storage, then makes durable every logged write
// (or, if SyncLimit armed it, those logged before the limit).
func (c *Store) Sync() error {
	if err := c.inner.Sync(); err != nil {
		return err
	}
	limit := c.seq
	if c.armed {
		limit, c.armed = c.limit, false
	}
	k := 0
	for k < len(c.log) && c.log[k].Seq < limit {
		k++
	}
	c.durable = applyWrites(c.durable, c.log[:k], nil)
	c.log = append(c.log[:0], c.log[k:]...)
	c.syncs++
	return nil
}

// Mark returns the sequence number the next write will get: a flush
// submitted now covers the writes numbered below it.
func (c *Store) Mark() uint64 { return c.seq }

// SyncLimit arms the next Sync to make durable only the writes numbered
// below mark (from Mark), as a flush submitted at that point would.
func (c *Store) SyncLimit(mark uint64) { c.limit, c.armed = mark, true }

// Syncs returns the number of completed Syncs.
func (c *Store) Syncs() uint64 { return c.syncs }

// Unflushed returns the writes not yet durable, in the order they were
// made. The slice is the store's own until the next call that changes it.
func (c *Store) Unflushed() []Write { return c.log }

// Durable returns a copy of the image as the medium holds it for certain.
func (c *Store) Durable() []byte { return append([]byte(nil), c.durable...) }

// Fingerprint returns a 64-bit hash (FNV-1a) of everything the crash
// images depend on: the durable image, the unflushed writes in order and
// extra in order, each by offset and bytes. Stores whose fingerprints
// for their extra are equal give, up to hash collisions, the same images
// from Crash, CrashRandom and Crashes for the same torn and bounds, so an
// explorer that reaches such a state again need not crash it again.
// Sequence numbers and syncs so far are left out: no image depends on
// them.
func (c *Store) Fingerprint(extra []Write) uint64 {
	h := fnv.New64a()
	var w [16]byte
	put := func(a, b uint64) {
		binary.LittleEndian.PutUint64(w[:8], a)
		binary.LittleEndian.PutUint64(w[8:], b)
		h.Write(w[:])
	}
	put(uint64(len(c.durable)), uint64(len(c.log)))
	h.Write(c.durable)
	for _, ws := range [2][]Write{c.log, extra} {
		put(uint64(len(ws)), 0)
		for _, x := range ws {
			put(uint64(x.Off), uint64(len(x.Data)))
			h.Write(x.Data)
		}
	}
	return h.Sum64()
}

// applyWrites applies ws (those with land[i], or all when land is nil)
// over img in order, growing it as needed.
func applyWrites(img []byte, ws []Write, land []bool) []byte {
	for i, w := range ws {
		if land == nil || land[i] {
			img = writeInto(img, w.Off, w.Data)
		}
	}
	return img
}

// writeInto copies p into img at off, zero-extending img first if needed.
func writeInto(img []byte, off int64, p []byte) []byte {
	if end := off + int64(len(p)); end > int64(len(img)) {
		img = append(img, make([]byte, end-int64(len(img)))...)
	}
	copy(img[off:], p)
	return img
}
