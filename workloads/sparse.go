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
// wall time. Reads of pages never stored return zeros. It is not safe
// for concurrent use; the sim and mem backends use it from one goroutine.
type sparseStorage struct {
	pages map[int64]*[pageSize]byte
	size  int64
	pool  *PagePool // nil: pages come from the heap
}

// newSparseStorage returns an empty storage taking its pages from pool,
// which may be nil.
func newSparseStorage(pool *PagePool) *sparseStorage {
	return &sparseStorage{pages: make(map[int64]*[pageSize]byte), pool: pool}
}

// release returns every page to the pool and empties the storage.
func (s *sparseStorage) release() {
	if s.pool != nil {
		s.pool.put(s.pages)
	}
	clear(s.pages)
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

// get returns a zeroed page.
func (p *PagePool) get() *[pageSize]byte {
	if p != nil {
		p.mu.Lock()
		if n := len(p.free); n > 0 {
			pg := p.free[n-1]
			p.free[n-1] = nil
			p.free = p.free[:n-1]
			p.mu.Unlock()
			clear(pg[:])
			return pg
		}
		p.mu.Unlock()
	}
	return new([pageSize]byte)
}

// put takes back the pages of a storage.
func (p *PagePool) put(pages map[int64]*[pageSize]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pg := range pages {
		p.free = append(p.free, pg)
	}
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
		if page := s.pages[pg]; page != nil {
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
		page := s.pages[pg]
		if page == nil && !bytes.Equal(chunk, zeroPage[:c]) {
			page = s.pool.get()
			s.pages[pg] = page
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
		for pg, page := range s.pages {
			switch start := pg * pageSize; {
			case start >= size:
				delete(s.pages, pg)
				if s.pool != nil {
					s.pool.put(map[int64]*[pageSize]byte{pg: page})
				}
			case start+pageSize > size:
				clear(page[size-start:])
			}
		}
	}
	s.size = size
	return nil
}

// Sync does nothing: memory has no volatile cache.
func (s *sparseStorage) Sync() error { return nil }

// storedBytes returns the bytes of the pages held.
func (s *sparseStorage) storedBytes() int64 { return int64(len(s.pages)) * pageSize }
