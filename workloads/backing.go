package workloads

import (
	"errors"
	"io"
	"os"

	"github.com/qedharness/qedharness/model"
	"github.com/qedharness/qedharness/workloads/history"
)

// backingStorage is a read-only Storage of size bytes holding the tagged
// backing content history.BackingContent describes (sector s holds
// model.BackingTag(s)), computed on each read so it costs no memory.
type backingStorage struct{ size int64 }

var errReadOnly = errors.New("backing file is read-only")

// ReadAt fills p with the backing content at off; past the end it
// returns io.EOF after the bytes that exist.
func (s backingStorage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	var err error
	if int64(n) > s.size-off {
		n, err = int(s.size-off), io.EOF
	}
	fillBacking(p[:n], uint64(off))
	return n, err
}

// WriteAt refuses: a backing file is never written.
func (s backingStorage) WriteAt([]byte, int64) (int, error) { return 0, errReadOnly }

// Size returns the backing file's size.
func (s backingStorage) Size() (int64, error) { return s.size, nil }

// Truncate refuses: a backing file is never written.
func (s backingStorage) Truncate(int64) error { return errReadOnly }

// Sync does nothing.
func (s backingStorage) Sync() error { return nil }

// fillBacking fills p with the backing content at byte offset off.
func fillBacking(p []byte, off uint64) {
	var sector [history.SectorSize]byte
	for len(p) > 0 {
		s, in := off/history.SectorSize, off%history.SectorSize
		if in == 0 && len(p) >= history.SectorSize {
			history.EncodeTag(p[:history.SectorSize], model.BackingTag(s))
			p, off = p[history.SectorSize:], off+history.SectorSize
			continue
		}
		history.EncodeTag(sector[:], model.BackingTag(s))
		n := copy(p, sector[in:])
		p, off = p[n:], off+uint64(n)
	}
}

// writeBackingFile creates path holding size bytes of backing content.
func writeBackingFile(path string, size uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for off := uint64(0); off < size; {
		n := min(uint64(len(buf)), size-off)
		fillBacking(buf[:n], off)
		if _, err := f.WriteAt(buf[:n], int64(off)); err != nil {
			f.Close()
			return err
		}
		off += n
	}
	return f.Close()
}
