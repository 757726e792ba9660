package impl

import (
	"os"
)

// FileStorage is a Storage over an operating-system file. ReadAt and
// WriteAt use pread and pwrite, so FileStorage is safe for concurrent use;
// Sync writes back data with fdatasync where the system has it (Linux) and
// fsync elsewhere. Every error it returns is an *os.PathError naming the
// file, except the bare io.EOF that ReadAt returns at end of file.
type FileStorage struct {
	f        *os.File
	readOnly bool
}

var _ Storage = (*FileStorage)(nil)

// OpenFileStorage opens the existing file at path, read-only if readOnly
// and read-write otherwise.
func OpenFileStorage(path string, readOnly bool) (*FileStorage, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err // *os.PathError: "open <path>: <cause>"
	}
	return &FileStorage{f: f, readOnly: readOnly}, nil
}

// CreateFileStorage creates the file at path read-write, truncating it to
// zero bytes if it exists. A new file gets mode 0666 before the umask, as
// with os.Create.
func CreateFileStorage(path string) (*FileStorage, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return nil, err
	}
	return &FileStorage{f: f}, nil
}

// ReadAt reads len(p) bytes at off; past the end of the file it returns
// io.EOF after the bytes that exist.
func (s *FileStorage) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

// WriteAt writes p at off, extending the file as needed.
func (s *FileStorage) WriteAt(p []byte, off int64) (int, error) { return s.f.WriteAt(p, off) }

// Size returns the file's size in bytes, from fstat.
func (s *FileStorage) Size() (int64, error) {
	fi, err := s.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Truncate sets the file's size, zero-extending or cutting. On Linux file
// systems it also releases blocks preallocated past the new end.
func (s *FileStorage) Truncate(size int64) error { return s.f.Truncate(size) }

// Sync makes every write that completed before the call durable: file
// data, and the metadata needed to read it back (fdatasync on Linux).
func (s *FileStorage) Sync() error {
	if err := syncData(s.f); err != nil {
		return &os.PathError{Op: "fdatasync", Path: s.f.Name(), Err: err}
	}
	return nil
}

// Close closes the file. Calls after the first return an error.
func (s *FileStorage) Close() error { return s.f.Close() }

// Name returns the path the file was opened with.
func (s *FileStorage) Name() string { return s.f.Name() }

// ReadOnly reports whether the file was opened read-only.
func (s *FileStorage) ReadOnly() bool { return s.readOnly }

// withFD calls fn with the file's descriptor, holding the file open for
// the duration of the call; it returns fn's error, or the error of a
// closed file.
func (s *FileStorage) withFD(fn func(fd int) error) error {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return err
	}
	var fnErr error
	if err := rc.Control(func(fd uintptr) { fnErr = fn(int(fd)) }); err != nil {
		return err
	}
	return fnErr
}
