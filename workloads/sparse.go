package workloads

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"sync"

	"github.com/qedharness/qedharness/impl"
)

// pageSize is the granule of sparseStorage.
const pageSize = 4096

// zeroPage is a page of zeros to compare against; never written.
var zeroPage [pageSize]byte

// sparseStorage is an in-memory impl.Storage that keeps only the 4 KiB
// pages holding a nonzero byte. QED fills the rest of a newly allocated
// cluster with zeros, so a first-touch run of 4 KiB writes into 64 KiB
// clusters stores 4 KiB per write rather than 64: fresh memory is slow
// to fault in, and memory-backed images would otherwise dominate a run's
// wall time. Reads of pages never stored return zeros. Pages are found
// through a two-level table indexed by offset, dense because QED
// allocates at the end of the file. It is not safe for concurrent use;
// the sim and mem backends use it from one goroutine.
//
// Pages come from slabs of slabPages pages contiguous in memory, taken
// whole from the pool and handed out in order, so that pages written one
// after another (QED allocates at the end of the file) sit side by side:
// copying into scattered 4 KiB pages ran at half the speed on this
// project's VM.
//
// Over a backing file it can regenerate (backing set), a whole page of
// the backing file's bytes that the engine hands over as such
// (impl.BackingWriter: a copy-on-write fill) is kept as a mark saying
// where in the backing file it comes from, not copied; a page is then
// stored, marked, or neither (zeros). Writing part of a marked page
// makes it a stored page first.
type sparseStorage struct {
	dir  []*pageChunk // chunk i holds pages i*chunkPages onwards
	held int          // pages held
	size int64
	pool *PagePool // nil: slabs come from the heap

	slabs []*pageSlab       // slabs taken from pool; the last one hands out pages
	used  int               // pages handed out from the last slab
	spare []*[pageSize]byte // pages dropped by Truncate, handed out first

	marks       []*markChunk               // chunk i marks pages i*chunkPages onwards
	backing     func(p []byte, off uint64) // fills p with the backing file's bytes from off; nil: none
	backingSize int64                      // the backing file's size
}

// markChunk marks chunkPages consecutive pages: the backing file offset
// each page's bytes start at, plus one; 0 for an unmarked page.
type markChunk [chunkPages]uint64

// slabPages is the number of pages in a pageSlab (256 KiB).
const slabPages = 64

// pageSlab is the unit of memory a PagePool holds: pages contiguous in
// memory.
type pageSlab [slabPages][pageSize]byte

// chunkPages is the number of pages one pageChunk indexes (1 MiB).
const chunkPages = 256

// pageChunk indexes chunkPages consecutive pages; nil means zeros.
type pageChunk [chunkPages]*[pageSize]byte

// newSparseStorage returns an empty storage taking its pages from pool,
// which may be nil.
func newSparseStorage(pool *PagePool) *sparseStorage {
	return &sparseStorage{pool: pool}
}

// page returns the page with index pg, or nil.
func (s *sparseStorage) page(pg int64) *[pageSize]byte {
	if c := pg / chunkPages; c < int64(len(s.dir)) && s.dir[c] != nil {
		return s.dir[c][pg%chunkPages]
	}
	return nil
}

// setPage stores page as the page with index pg.
func (s *sparseStorage) setPage(pg int64, page *[pageSize]byte) {
	c := pg / chunkPages
	for int64(len(s.dir)) <= c {
		s.dir = append(s.dir, nil)
	}
	if s.dir[c] == nil {
		s.dir[c] = new(pageChunk)
	}
	s.dir[c][pg%chunkPages] = page
	s.held++
}

// mark returns the backing offset page pg was marked with, if it was.
func (s *sparseStorage) mark(pg int64) (uint64, bool) {
	if c := pg / chunkPages; c < int64(len(s.marks)) && s.marks[c] != nil {
		if m := s.marks[c][pg%chunkPages]; m != 0 {
			return m - 1, true
		}
	}
	return 0, false
}

// setMark marks page pg as the backing file's bytes from from.
func (s *sparseStorage) setMark(pg int64, from uint64) {
	c := pg / chunkPages
	for int64(len(s.marks)) <= c {
		s.marks = append(s.marks, nil)
	}
	if s.marks[c] == nil {
		s.marks[c] = new(markChunk)
	}
	s.marks[c][pg%chunkPages] = from + 1
}

// unmark removes page pg's mark and returns it, if it had one.
func (s *sparseStorage) unmark(pg int64) (uint64, bool) {
	from, ok := s.mark(pg)
	if ok {
		s.marks[pg/chunkPages][pg%chunkPages] = 0
	}
	return from, ok
}

// writable returns page pg to write part of: the page stored, or a new
// one holding the backing bytes pg was marked with, or nil if pg reads
// as zeros.
func (s *sparseStorage) writable(pg int64) *[pageSize]byte {
	if page := s.page(pg); page != nil {
		return page
	}
	from, ok := s.unmark(pg)
	if !ok {
		return nil
	}
	page := s.newPage(false)
	s.backing(page[:], from)
	s.setPage(pg, page)
	return page
}

// dropPage forgets the page stored as pg, if any; the storage reuses its
// memory.
func (s *sparseStorage) dropPage(pg int64) {
	if page := s.page(pg); page != nil {
		s.spare = append(s.spare, page)
		s.dir[pg/chunkPages][pg%chunkPages] = nil
		s.held--
	}
}

// dropMarksFrom removes the marks of every page from index first on.
func (s *sparseStorage) dropMarksFrom(first int64) {
	for c := first / chunkPages; c < int64(len(s.marks)); c++ {
		if ch := s.marks[c]; ch != nil {
			from := int64(0)
			if c == first/chunkPages {
				from = first % chunkPages
			}
			clear(ch[from:])
		}
	}
}

// newPage returns a page for the storage to hold, zeroed if zero is set;
// otherwise its content is stale and the caller overwrites all of it.
func (s *sparseStorage) newPage(zero bool) *[pageSize]byte {
	var pg *[pageSize]byte
	if n := len(s.spare); n > 0 {
		pg = s.spare[n-1]
		s.spare[n-1] = nil
		s.spare = s.spare[:n-1]
	} else {
		if len(s.slabs) == 0 || s.used == slabPages {
			s.slabs = append(s.slabs, s.pool.get())
			s.used = 0
		}
		pg = &s.slabs[len(s.slabs)-1][s.used]
		s.used++
	}
	if zero {
		clear(pg[:])
	}
	return pg
}

// dropPagesFrom drops every page from index first on; the storage reuses
// their memory.
func (s *sparseStorage) dropPagesFrom(first int64) {
	for c := first / chunkPages; c < int64(len(s.dir)); c++ {
		ch := s.dir[c]
		if ch == nil {
			continue
		}
		from := int64(0)
		if c == first/chunkPages {
			from = first % chunkPages
		}
		for i := from; i < chunkPages; i++ {
			if ch[i] != nil {
				s.spare = append(s.spare, ch[i])
				ch[i] = nil
				s.held--
			}
		}
	}
}

// copyFrom makes s, which must be empty, hold what src holds; src is
// only read.
func (s *sparseStorage) copyFrom(src *sparseStorage) {
	for c, ch := range src.dir {
		if ch == nil {
			continue
		}
		for i, pg := range ch {
			if pg != nil {
				np := s.newPage(false)
				*np = *pg
				s.setPage(int64(c)*chunkPages+int64(i), np)
			}
		}
	}
	for c, ch := range src.marks {
		if ch != nil {
			for i, m := range ch {
				if m != 0 {
					s.setMark(int64(c)*chunkPages+int64(i), m-1)
				}
			}
		}
	}
	if s.backing == nil {
		s.backing, s.backingSize = src.backing, src.backingSize
	}
	s.size = src.size
}

// release returns every slab to the pool and empties the storage.
func (s *sparseStorage) release() {
	s.pool.put(s.slabs)
	clear(s.slabs)
	*s = sparseStorage{pool: s.pool, backing: s.backing, backingSize: s.backingSize}
}

// PagePool keeps the memory of finished runs' in-memory images for the
// next runs, so that memory is faulted in once rather than once per run
// (fresh memory is slow on virtual machines: faulting in a 4 KiB page can
// cost more than a simulated I/O). It holds slabs of 64 pages (256 KiB),
// which an image takes and gives back whole. The zero value is an empty
// pool; it grows to the most memory held at once and never shrinks. It
// also keeps the runner's request buffers, and the random content it
// fills them with, which depends only on a seed and a length (runs of one
// repetition share their seeds), up to randomCacheBytes, and the images'
// own I/O buffers (impl.Options.Buffers). It is safe for concurrent use.
type PagePool struct {
	mu   sync.Mutex
	free []*pageSlab

	engine impl.BufferPool

	random      map[randomKey][]byte
	randomBytes int
	buffers     [][]byte // request buffers given back, at most maxPoolBuffers
}

// engineBuffers returns the pool of the images' I/O buffers, or nil for
// a nil pool.
func (p *PagePool) engineBuffers() *impl.BufferPool {
	if p == nil {
		return nil
	}
	return &p.engine
}

// maxPoolBuffers bounds the request buffers a PagePool keeps.
const maxPoolBuffers = 4

// buffer returns n bytes, content stale: a buffer given back with
// putBuffer when one is large enough, else new memory.
func (p *PagePool) buffer(n int) []byte {
	if p != nil {
		p.mu.Lock()
		for i, b := range p.buffers {
			if cap(b) >= n {
				last := len(p.buffers) - 1
				p.buffers[i] = p.buffers[last]
				p.buffers[last] = nil
				p.buffers = p.buffers[:last]
				p.mu.Unlock()
				return b[:n]
			}
		}
		p.mu.Unlock()
	}
	return make([]byte, n)
}

// putBuffer gives back b, which its user no longer touches; a nil pool
// drops it, a full one drops its smallest buffer.
func (p *PagePool) putBuffer(b []byte) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buffers) < maxPoolBuffers {
		p.buffers = append(p.buffers, b)
		return
	}
	small := 0
	for i, x := range p.buffers {
		if cap(x) < cap(p.buffers[small]) {
			small = i
		}
	}
	if cap(b) > cap(p.buffers[small]) {
		p.buffers[small] = b
	}
}

// randomKey names the content fillRandom gives a buffer of n bytes.
type randomKey struct {
	seed int64
	n    int
}

// randomCacheBytes bounds the random content a PagePool keeps; past it the
// pool forgets what it kept and starts again.
const randomCacheBytes = 32 << 20

// fillRandom fills b as the package's fillRandom(b, seed) does, from the
// pool's cache when it holds that content (a nil pool computes it).
func (p *PagePool) fillRandom(b []byte, seed int64) {
	if p == nil {
		fillRandom(b, seed)
		return
	}
	k := randomKey{seed, len(b)}
	p.mu.Lock()
	data, ok := p.random[k]
	p.mu.Unlock()
	if ok {
		copy(b, data)
		return
	}
	fillRandom(b, seed)
	data = slices.Clone(b)
	p.mu.Lock()
	if p.random == nil || p.randomBytes+len(data) > randomCacheBytes {
		p.random, p.randomBytes = make(map[randomKey][]byte), 0
	}
	p.random[k] = data
	p.randomBytes += len(data)
	p.mu.Unlock()
}

// get returns a slab, its content stale; a nil or empty pool allocates
// one.
func (p *PagePool) get() *pageSlab {
	if p != nil {
		p.mu.Lock()
		if n := len(p.free); n > 0 {
			sl := p.free[n-1]
			p.free[n-1] = nil
			p.free = p.free[:n-1]
			p.mu.Unlock()
			return sl
		}
		p.mu.Unlock()
	}
	return new(pageSlab)
}

// put takes back slabs, in the reverse of the order get hands them out;
// a nil pool drops them.
func (p *PagePool) put(slabs []*pageSlab) {
	if p == nil {
		return
	}
	p.mu.Lock()
	for i := len(slabs) - 1; i >= 0; i-- {
		p.free = append(p.free, slabs[i])
	}
	p.mu.Unlock()
}

var errNegativeOffset = errors.New("negative offset")

// ReadAt reads len(p) bytes at off; past the end it returns io.EOF after
// the bytes that exist.
func (s *sparseStorage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= s.size {
		return 0, io.EOF
	}
	var err error
	if int64(len(p)) > s.size-off {
		p, err = p[:s.size-off], io.EOF
	}
	for n := 0; n < len(p); {
		pos := off + int64(n)
		pg, in := pos/pageSize, int(pos%pageSize)
		c := min(len(p)-n, pageSize-in)
		if page := s.page(pg); page != nil {
			copy(p[n:n+c], page[in:])
		} else if from, ok := s.mark(pg); ok {
			s.backing(p[n:n+c], from+uint64(in))
		} else {
			clear(p[n : n+c])
		}
		n += c
	}
	return len(p), err
}

// WriteAt writes p at off, growing the storage as needed. Zeros written
// to a page not stored are not stored.
func (s *sparseStorage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	for n := 0; n < len(p); {
		pos := off + int64(n)
		pg, in := pos/pageSize, int(pos%pageSize)
		c := min(len(p)-n, pageSize-in)
		chunk := p[n : n+c]
		var page *[pageSize]byte
		if c == pageSize {
			s.unmark(pg) // overwritten whole
			page = s.page(pg)
		} else {
			page = s.writable(pg)
		}
		if page == nil && !bytes.Equal(chunk, zeroPage[:c]) {
			// A whole-page write overwrites every byte: skip the clear.
			page = s.newPage(c < pageSize)
			s.setPage(pg, page)
		}
		if page != nil {
			copy(page[in:], chunk)
		}
		n += c
	}
	s.size = max(s.size, off+int64(len(p)))
	return len(p), nil
}

// WriteZerosAt stores n zeros at off, as WriteAt of n zero bytes would
// (impl.ZeroWriter): pages not stored stay so, without a scan.
func (s *sparseStorage) WriteZerosAt(off, n int64) error {
	if off < 0 {
		return errNegativeOffset
	}
	for pos, end := off, off+n; pos < end; {
		pg, in := pos/pageSize, pos%pageSize
		c := min(end-pos, pageSize-in)
		if c == pageSize {
			s.unmark(pg)
		}
		if page := s.writable(pg); page != nil {
			clear(page[in : in+c])
		}
		pos += c
	}
	s.size = max(s.size, off+n)
	return nil
}

// WriteBackingAt stores p, the backing file's bytes from from, at off, as
// WriteAt(p, off) would (impl.BackingWriter): each whole page of it is
// marked with where it comes from rather than copied, when the storage
// can regenerate the backing file's bytes there.
func (s *sparseStorage) WriteBackingAt(p []byte, off int64, from uint64) error {
	if off < 0 {
		return errNegativeOffset
	}
	if s.backing == nil || from > uint64(s.backingSize) || uint64(len(p)) > uint64(s.backingSize)-from {
		_, err := s.WriteAt(p, off)
		return err
	}
	for n := 0; n < len(p); {
		pos := off + int64(n)
		pg, in := pos/pageSize, int(pos%pageSize)
		c := min(len(p)-n, pageSize-in)
		if c == pageSize {
			s.dropPage(pg)
			s.setMark(pg, from+uint64(n))
		} else if _, err := s.WriteAt(p[n:n+c], pos); err != nil {
			return err
		}
		n += c
	}
	s.size = max(s.size, off+int64(len(p)))
	return nil
}

// Size returns the storage's length.
func (s *sparseStorage) Size() (int64, error) { return s.size, nil }

// Truncate sets the length, zero-extending or cutting.
func (s *sparseStorage) Truncate(size int64) error {
	if size < 0 {
		return errors.New("negative size")
	}
	if size < s.size {
		last := size / pageSize // the page holding byte size, if any
		if in := size % pageSize; in != 0 {
			if page := s.writable(last); page != nil {
				clear(page[in:])
			}
			last++
		}
		s.dropPagesFrom(last)
		s.dropMarksFrom(last)
	}
	s.size = size
	return nil
}

// Sync does nothing: memory has no volatile cache.
func (s *sparseStorage) Sync() error { return nil }

// storedBytes returns the bytes of the pages held.
func (s *sparseStorage) storedBytes() int64 { return int64(s.held) * pageSize }
