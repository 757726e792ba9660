package impl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/qedharness/qedharness/impl/internal/hostio"
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
// and read-write otherwise. The file must be a regular file or a device:
// a directory, FIFO or socket is refused before it is opened (opening a
// FIFO would wait for a writer), with an *os.PathError ("open <path>: is
// a directory").
func OpenFileStorage(path string, readOnly bool) (*FileStorage, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	if fi, err := os.Stat(path); err == nil {
		if err := imageFileKind(path, fi.Mode()); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err // *os.PathError: "open <path>: <cause>"
	}
	// The file may have been replaced since the Stat.
	if fi, err := f.Stat(); err == nil {
		if err := imageFileKind(path, fi.Mode()); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &FileStorage{f: f, readOnly: readOnly}, nil
}

// imageFileKind refuses a file of mode m that cannot hold an image: one
// that is neither a regular file nor a device.
func imageFileKind(path string, m os.FileMode) error {
	if m.IsRegular() || m&os.ModeDevice != 0 {
		return nil
	}
	return &os.PathError{Op: "open", Path: path, Err: notRegular(m)}
}

// notRegular is the error for a file of mode m that is not a regular
// file: syscall.EISDIR for a directory (so errors.Is works), else words.
func notRegular(m os.FileMode) error {
	switch {
	case m.IsDir():
		return syscall.EISDIR
	case m&os.ModeNamedPipe != 0:
		return errors.New("is a named pipe (FIFO), not a regular file")
	case m&os.ModeSocket != 0:
		return errors.New("is a socket, not a regular file")
	case m&os.ModeCharDevice != 0:
		return errors.New("is a character device, not a regular file")
	case m&os.ModeDevice != 0:
		return errors.New("is a block device, not a regular file")
	default:
		return fmt.Errorf("is not a regular file (mode %v)", m)
	}
}

// CreateFileStorage creates the file at path read-write, truncating it to
// zero bytes if it exists. A new file gets mode 0666 before the umask, as
// with os.Create. An existing file that is not a regular file (a device, a
// directory, a FIFO) is refused untouched, with an *os.PathError.
func CreateFileStorage(path string) (*FileStorage, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, &os.PathError{Op: "create", Path: path, Err: notRegular(fi.Mode())}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return nil, err
	}
	return &FileStorage{f: f}, nil
}

// OpenCreateFileStorage opens the regular file at path read-write,
// creating it (mode 0666 before the umask) if it does not exist, and
// reports whether this call created it. It never truncates: a caller that
// replaces the file's content can first Lock it, so that a file another
// process is using is refused unchanged. Anything but a regular file is
// refused untouched, with an *os.PathError.
func OpenCreateFileStorage(path string) (st *FileStorage, created bool, err error) {
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			return &FileStorage{f: f}, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, err
		}
		// It exists: refuse what is not a regular file before opening
		// (a FIFO would block), then open it as it is.
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			continue // removed meanwhile, or a dangling symbolic link
		}
		if err != nil {
			return nil, false, err
		}
		if !fi.Mode().IsRegular() {
			return nil, false, &os.PathError{Op: "create", Path: path, Err: notRegular(fi.Mode())}
		}
		f, err = os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			f.Close()
			if err == nil {
				err = &os.PathError{Op: "create", Path: path, Err: notRegular(fi.Mode())}
			}
			return nil, false, err
		}
		return &FileStorage{f: f}, false, nil
	}
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

// Grow extends the file to size bytes if it is shorter, allocating the
// new blocks (fallocate), so that writes into them need not; where the
// file system has no fallocate it extends the file with ftruncate.
func (s *FileStorage) Grow(size int64) error {
	cur, err := s.Size()
	if err != nil || cur >= size {
		return err
	}
	err = s.WithFD(func(fd int) error { return hostio.FallocateGrow(fd, cur, size-cur) })
	if errors.Is(err, errors.ErrUnsupported) {
		return s.Truncate(size)
	}
	if err != nil {
		return &os.PathError{Op: "fallocate", Path: s.f.Name(), Err: err}
	}
	return nil
}

// ZeroRange makes the n bytes at off read as zeros without writing them
// (fallocate's zero range), growing the file as a write would. Where the
// file system cannot, the error matches errors.ErrUnsupported, and the
// caller writes zeros instead.
func (s *FileStorage) ZeroRange(off, n int64) error {
	err := s.WithFD(func(fd int) error { return hostio.FallocateZeroRange(fd, off, n) })
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return &os.PathError{Op: "fallocate zero range", Path: s.f.Name(), Err: err}
	}
	return err
}

// Sync makes every write that completed before the call durable: file
// data, and the metadata needed to read it back (fdatasync on Linux).
func (s *FileStorage) Sync() error {
	if err := hostio.SyncData(s.f); err != nil {
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

// WithFD calls fn with the file's descriptor, holding the file open for
// the duration of the call; it returns fn's error, or the error of a
// closed file.
func (s *FileStorage) WithFD(fn func(fd int) error) error {
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
