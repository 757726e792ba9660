package impl

import (
	"errors"
	"io"
)

// ErrReadOnly is the error of a change to a ReadOnlyStorage.
var ErrReadOnly = errors.New("storage is read-only")

// ReadOnlyStorage is a Storage of N bytes read through ReaderAt that
// refuses every change (ErrReadOnly): a backing file's content shared by
// many images, or computed on each read. ReaderAt must read like
// os.File.ReadAt (io.EOF after the bytes that exist).
type ReadOnlyStorage struct {
	io.ReaderAt
	N int64
}

// WriteAt refuses.
func (ReadOnlyStorage) WriteAt([]byte, int64) (int, error) { return 0, ErrReadOnly }

// Size returns N.
func (s ReadOnlyStorage) Size() (int64, error) { return s.N, nil }

// Truncate refuses.
func (ReadOnlyStorage) Truncate(int64) error { return ErrReadOnly }

// Sync does nothing: nothing changes.
func (ReadOnlyStorage) Sync() error { return nil }
