package workloads

import (
	"bytes"
	"errors"
	"io"
	"sync"
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
type sparseStorage struct {
	dir  []*pageChunk // chunk i holds pages i*chunkPages onwards
	held int          // pages held
	size int64
	pool *PagePool // nil: pages come from the heap
}

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

// dropPagesFrom returns every page from index first on to the pool.
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
				s.pool.put(ch[i])
				ch[i] = nil
				s.held--
			}
		}
	}
}

// release returns every page to the pool and empties the storage.
func (s *sparseStorage) release() {
	s.dropPagesFrom(0)
	s.size = 0
}

// PagePool keeps the memory of finished runs' in-memory images for the
// next runs, so that memory is faulted in once rather than once per run
// (fresh memory is slow on virtual machines: faulting in a 4 KiB page can
// cost more than a simulated I/O). The zero value is an empty pool; it
// grows to the most pages held at once and never shrinks. It is safe for
// concurrent use.
type PagePool struct {
	mu   sync.Mutex
	free []*[pageSize]byte
}

// get returns a page, zeroed if zero is set; otherwise its content is
// stale and the caller overwrites all of it.
func (p *PagePool) get(zero bool) *[pageSize]byte {
	if p != nil {
		p.mu.Lock()
		if n := len(p.free); n > 0 {
			pg := p.free[n-1]
			p.free[n-1] = nil
			p.free = p.free[:n-1]
			p.mu.Unlock()
			if zero {
				clear(pg[:])
			}
			return pg
		}
		p.mu.Unlock()
	}
	return new([pageSize]byte)
}

// put takes back a page; a nil pool drops it.
func (p *PagePool) put(pg *[pageSize]byte) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, pg)
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
		page := s.page(pg)
		if page == nil && !bytes.Equal(chunk, zeroPage[:c]) {
			// A whole-page write overwrites every byte: skip the clear.
			page = s.pool.get(c < pageSize)
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
			if page := s.page(last); page != nil {
				clear(page[in:])
			}
			last++
		}
		s.dropPagesFrom(last)
	}
	s.size = size
	return nil
}

// Sync does nothing: memory has no volatile cache.
func (s *sparseStorage) Sync() error { return nil }

// storedBytes returns the bytes of the pages held.
func (s *sparseStorage) storedBytes() int64 { return int64(s.held) * pageSize }
