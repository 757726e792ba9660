package impl

import (
	"errors"
	"io"
	"sync"
)

// MemStorage is a Storage in memory. It is safe for concurrent use.
type MemStorage struct {
	mu   sync.RWMutex
	data []byte
}

// NewMemStorage returns an empty MemStorage.
func NewMemStorage() *MemStorage { return &MemStorage{} }

// NewMemStorageFrom returns a MemStorage holding a copy of b.
func NewMemStorageFrom(b []byte) *MemStorage {
	return &MemStorage{data: append([]byte(nil), b...)}
}

// ReadAt reads len(p) bytes at off; past the end it returns io.EOF after
// the bytes that exist.
func (m *MemStorage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off, growing the store (zero-filled) as needed.
func (m *MemStorage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	end := off + int64(len(p))
	if end > int64(len(m.data)) {
		m.grow(end)
	}
	return copy(m.data[off:], p), nil
}

func (m *MemStorage) grow(size int64) {
	if size <= int64(cap(m.data)) {
		old := len(m.data)
		m.data = m.data[:size]
		clear(m.data[old:])
		return
	}
	// Double, so growing by appends costs amortized O(1) per byte.
	nd := make([]byte, size, max(size, 2*int64(cap(m.data))))
	copy(nd, m.data)
	m.data = nd
}

// Size returns the store's length.
func (m *MemStorage) Size() (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return int64(len(m.data)), nil
}

// Truncate sets the length, zero-extending.
func (m *MemStorage) Truncate(size int64) error {
	if size < 0 {
		return errors.New("negative size")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if size > int64(len(m.data)) {
		m.grow(size)
	} else {
		m.data = m.data[:size]
	}
	return nil
}

// Sync does nothing: memory has no volatile cache to drain.
func (m *MemStorage) Sync() error { return nil }

// Bytes returns a copy of the contents.
func (m *MemStorage) Bytes() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]byte(nil), m.data...)
}

// MemBackend completes every I/O immediately and in submission order,
// against Files. It is the fastest backend and fully deterministic.
type MemBackend struct {
	files Files
	queue []*IO
	head  int
}

// NewMemBackend returns a MemBackend over files.
func NewMemBackend(files Files) *MemBackend { return &MemBackend{files: files} }

// Submit performs io at once and queues it for Next.
func (b *MemBackend) Submit(io *IO) {
	io.Err = Perform(b.files, io)
	b.queue = append(b.queue, io)
}

// Next returns the oldest completed I/O, or nil.
func (b *MemBackend) Next() *IO {
	if b.head == len(b.queue) {
		b.queue, b.head = b.queue[:0], 0
		return nil
	}
	io := b.queue[b.head]
	b.queue[b.head] = nil
	b.head++
	return io
}

// Close does nothing.
func (b *MemBackend) Close() error { return nil }
