package impl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
)

// CrashStore is a Storage wrapper that models what a device keeps across
// a crash. Every write goes through to the wrapped storage at once (reads
// see it, as they would see a device's volatile cache) and is also logged
// as unflushed; a completed Sync makes every logged write durable and
// empties the log. At a crash, any subset of the unflushed writes may have
// reached the medium: Crash builds the image for one subset, CrashRandom
// for a seeded random one, and Crashes enumerates them all (bounded).
//
// The unit that lands or is lost is a whole write, or with Torn each of
// its 512-byte sectors (a device promises sector atomicity, no more). Of
// two unflushed writes to the same bytes that both land, the later one
// (in the order WriteAt saw them) wins: a device does not bring back data
// that a later completed write had overwritten in its cache.
//
// Sync covers every write logged before it. A flush covers only the
// writes that completed before it was submitted, though, so a caller
// that knows the submission point arms the next Sync with SyncLimit to
// cover only the writes logged before Mark returned it. The controlled
// backend's explorer does so, and so does the sim crash test, through
// SimBackend.SetPerformHook: both backends apply a write to storage at
// its completion, so Mark at a flush's submission counts exactly the
// writes completed before it. Writes still in flight at a crash are not
// in the log; a caller passes them as extra (SimBackend.InFlight,
// ControlledBackend.Pending).
//
// Truncate is treated as ordered and durable at once, with every write
// logged before it (the engine truncates only at a clean close, to cut
// the tail it grew; Create and repair truncate too, and all of them sync
// straight afterwards). Grow, the engine's growth ahead of allocation, is
// logged as a write of zeros. The file size after a crash is the
// durable size extended by the writes that landed.
//
// A CrashStore is not safe for concurrent use.
type CrashStore struct {
	inner   Storage
	durable []byte // the medium as of the last barrier
	log     []CrashWrite
	seq     uint64 // writes logged so far
	limit   uint64 // the next Sync covers writes with Seq < limit
	armed   bool
	syncs   uint64
}

// CrashWrite is one write logged by a CrashStore and not yet durable.
type CrashWrite struct {
	// Seq numbers the write among every write the store logged, from 0.
	Seq uint64
	// Off is the byte offset of the write.
	Off int64
	// Data is a copy of the bytes written; callers must not change it.
	Data []byte
}

// NewCrashStore wraps inner, taking its current content as durable.
func NewCrashStore(inner Storage) (*CrashStore, error) {
	img, err := snapshot(inner)
	if err != nil {
		return nil, fmt.Errorf("crash store: %w", err)
	}
	return &CrashStore{inner: inner, durable: img}, nil
}

// snapshot reads the whole of st.
func snapshot(st Storage) ([]byte, error) {
	size, err := st.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if _, err := st.ReadAt(buf, 0); err != nil && !errors.Is(err, errEOF) {
		return nil, err
	}
	return buf, nil
}

// ReadAt reads the live (volatile) content.
func (c *CrashStore) ReadAt(p []byte, off int64) (int, error) { return c.inner.ReadAt(p, off) }

// WriteAt writes through to the wrapped storage and logs the write as
// unflushed.
func (c *CrashStore) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.inner.WriteAt(p, off)
	if n > 0 {
		c.log = append(c.log, CrashWrite{Seq: c.seq, Off: off, Data: append([]byte(nil), p[:n]...)})
		c.seq++
	}
	return n, err
}

// Size returns the live size.
func (c *CrashStore) Size() (int64, error) { return c.inner.Size() }

// Truncate resizes the wrapped storage and makes it, and every write
// logged so far, durable.
func (c *CrashStore) Truncate(size int64) error {
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
func (c *CrashStore) Grow(size int64) error {
	cur, err := c.inner.Size()
	if err != nil || cur >= size {
		return err
	}
	if err := c.inner.Truncate(size); err != nil {
		return err
	}
	c.log = append(c.log, CrashWrite{Seq: c.seq, Off: cur, Data: make([]byte, size-cur)})
	c.seq++
	return nil
}

// Sync syncs the wrapped storage, then makes durable every logged write
// (or, if SyncLimit armed it, those logged before the limit).
func (c *CrashStore) Sync() error {
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
func (c *CrashStore) Mark() uint64 { return c.seq }

// SyncLimit arms the next Sync to make durable only the writes numbered
// below mark (from Mark), as a flush submitted at that point would.
func (c *CrashStore) SyncLimit(mark uint64) { c.limit, c.armed = mark, true }

// Syncs returns the number of completed Syncs.
func (c *CrashStore) Syncs() uint64 { return c.syncs }

// Unflushed returns the writes not yet durable, in the order they were
// made. The slice is the store's own until the next call that changes it.
func (c *CrashStore) Unflushed() []CrashWrite { return c.log }

// Durable returns a copy of the image as the medium holds it for certain.
func (c *CrashStore) Durable() []byte { return append([]byte(nil), c.durable...) }

// Fingerprint returns a 64-bit hash (FNV-1a) of everything the crash
// images depend on: the durable image, the unflushed writes in order and
// extra in order, each by offset and bytes. Stores whose fingerprints
// for their extra are equal give, up to hash collisions, the same images
// from Crash, CrashRandom and Crashes for the same torn and bounds, so an
// explorer that reaches such a state again need not crash it again.
// Sequence numbers and syncs so far are left out: no image depends on
// them.
func (c *CrashStore) Fingerprint(extra []CrashWrite) uint64 {
	h := fnv.New64a()
	var w [16]byte
	put := func(a, b uint64) {
		binary.LittleEndian.PutUint64(w[:8], a)
		binary.LittleEndian.PutUint64(w[8:], b)
		h.Write(w[:])
	}
	put(uint64(len(c.durable)), uint64(len(c.log)))
	h.Write(c.durable)
	for _, ws := range [2][]CrashWrite{c.log, extra} {
		put(uint64(len(ws)), 0)
		for _, x := range ws {
			put(uint64(x.Off), uint64(len(x.Data)))
			h.Write(x.Data)
		}
	}
	return h.Sum64()
}

// CrashUnit is one thing that lands or is lost at a crash: a whole
// unflushed write or one sector of it.
type CrashUnit struct {
	// Write indexes the candidate write (Unflushed first, then extra).
	Write int
	// Off and Data give the bytes the unit writes.
	Off  int64
	Data []byte
}

// Units returns the units of the unflushed writes followed by extra
// (writes in flight, which may have landed too): one per write, or with
// torn one per 512-byte sector of each write (a partial sector at either
// end is its own unit).
func (c *CrashStore) Units(extra []CrashWrite, torn bool) []CrashUnit {
	var units []CrashUnit
	add := func(i int, w CrashWrite) {
		if !torn {
			units = append(units, CrashUnit{Write: i, Off: w.Off, Data: w.Data})
			return
		}
		for p := 0; p < len(w.Data); {
			off := w.Off + int64(p)
			n := min(len(w.Data)-p, int(SectorSize-off%SectorSize))
			units = append(units, CrashUnit{Write: i, Off: off, Data: w.Data[p : p+n]})
			p += n
		}
	}
	for i, w := range c.log {
		add(i, w)
	}
	for i, w := range extra {
		add(len(c.log)+i, w)
	}
	return units
}

// Crash returns the image a crash leaves when exactly the units with
// land[i] set reached the medium, applied in order over the durable
// image. The result is a fresh slice the caller owns.
func (c *CrashStore) Crash(units []CrashUnit, land []bool) []byte {
	img := append([]byte(nil), c.durable...)
	for i, u := range units {
		if land[i] {
			img = writeInto(img, u.Off, u.Data)
		}
	}
	return img
}

// CrashRandom returns the image a crash leaves when each unit of the
// unflushed writes (and extra) lands with probability one half, drawn
// from rng, with land reporting the choice.
func (c *CrashStore) CrashRandom(rng *rand.Rand, extra []CrashWrite, torn bool) (img []byte, units []CrashUnit, land []bool) {
	units = c.Units(extra, torn)
	land = make([]bool, len(units))
	for i := range land {
		land[i] = rng.IntN(2) == 1
	}
	return c.Crash(units, land), units, land
}

// Crashes calls visit with every image a crash can leave, one per subset
// of the units of the unflushed writes and extra, while there are at most
// maxUnits units (capped at 20); with more it visits the subsets that
// lose exactly one unit, keep exactly one, keep all and keep none (a
// bounded sample that still covers every single reordering). It stops
// early when visit returns false and returns the number of images
// visited. The images passed to visit are fresh; visit may keep them.
func (c *CrashStore) Crashes(extra []CrashWrite, torn bool, maxUnits int, visit func(img []byte, units []CrashUnit, land []bool) bool) int {
	units := c.Units(extra, torn)
	n := len(units)
	land := make([]bool, n)
	count := 0
	maxUnits = min(maxUnits, 20)
	try := func() bool {
		count++
		return visit(c.Crash(units, land), units, land)
	}
	if n <= maxUnits {
		for mask := uint64(0); mask < 1<<n; mask++ {
			for i := range land {
				land[i] = mask&(1<<i) != 0
			}
			if !try() {
				return count
			}
		}
		return count
	}
	for _, all := range []bool{false, true} {
		for i := range land {
			land[i] = all
		}
		if !try() {
			return count
		}
	}
	for k := range n {
		for _, all := range []bool{false, true} {
			for i := range land {
				land[i] = all == (i != k)
			}
			if !try() {
				return count
			}
		}
	}
	return count
}

// applyWrites applies ws (those with land[i], or all when land is nil)
// over img in order, growing it as needed.
func applyWrites(img []byte, ws []CrashWrite, land []bool) []byte {
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
