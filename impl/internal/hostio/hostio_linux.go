// Package hostio wraps the system calls the file storage and the file
// backend share: fdatasync, fallocate modes, O_DIRECT descriptors and
// positioned I/O on them, each retried on EINTR.
package hostio

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// DirectSupported reports whether this system can open files with O_DIRECT.
const DirectSupported = true

// fallocFlKeepSize is FALLOC_FL_KEEP_SIZE from <linux/falloc.h>:
// allocate blocks without changing the file size.
const fallocFlKeepSize = 0x1

// SyncData writes back f's data and the metadata needed to read it
// (fdatasync).
func SyncData(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = IgnoringEINTR(func() error { return syscall.Fdatasync(int(fd)) }) }); err != nil {
		return err
	}
	return serr
}

// OpenDirect opens path with O_DIRECT, read-only or read-write, and
// returns the raw descriptor.
func OpenDirect(path string, readOnly bool) (int, error) {
	flag := syscall.O_RDWR
	if readOnly {
		flag = syscall.O_RDONLY
	}
	var fd int
	err := IgnoringEINTR(func() error {
		var err error
		fd, err = syscall.Open(path, flag|syscall.O_DIRECT|syscall.O_CLOEXEC, 0)
		return err
	})
	return fd, err
}

// IsDirectRefused reports whether err from OpenDirect means the file
// system does not support O_DIRECT (tmpfs and some FUSE file systems
// answer EINVAL).
func IsDirectRefused(err error) bool { return err == syscall.EINVAL }

// CloseFD closes a descriptor from OpenDirect.
func CloseFD(fd int) error { return syscall.Close(fd) }

// Pread is one pread(2), retried on EINTR.
func Pread(fd int, p []byte, off int64) (int, error) {
	for {
		n, err := syscall.Pread(fd, p, off)
		if err != syscall.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}

// Pwrite is one pwrite(2), retried on EINTR.
func Pwrite(fd int, p []byte, off int64) (int, error) {
	for {
		n, err := syscall.Pwrite(fd, p, off)
		if err != syscall.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}

// FallocateKeepSize allocates blocks for [off, off+n) without changing the
// file size. File systems without fallocate return an error that
// errors.Is(err, errors.ErrUnsupported) recognizes.
func FallocateKeepSize(fd int, off, n int64) error {
	return IgnoringEINTR(func() error { return syscall.Fallocate(fd, fallocFlKeepSize, off, n) })
}

// FallocateGrow allocates blocks for [off, off+n) and grows the file size
// to cover them (fallocate mode 0).
func FallocateGrow(fd int, off, n int64) error {
	return IgnoringEINTR(func() error { return syscall.Fallocate(fd, 0, off, n) })
}

// fallocFlZeroRange is FALLOC_FL_ZERO_RANGE from <linux/falloc.h>: make
// a range read as zeros, growing the file like a write would.
const fallocFlZeroRange = 0x10

// FallocateZeroRange makes [off, off+n) read as zeros without writing
// them (fallocate FALLOC_FL_ZERO_RANGE), growing the file if it ends
// there. File systems without it return an error errors.Is recognizes as
// errors.ErrUnsupported.
func FallocateZeroRange(fd int, off, n int64) error {
	return IgnoringEINTR(func() error { return syscall.Fallocate(fd, fallocFlZeroRange, off, n) })
}

// AllocatedBytes returns the bytes of storage allocated to the file open
// on fd (st_blocks * 512), including blocks preallocated past its end.
func AllocatedBytes(fd int) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Blocks * 512, nil
}

func IgnoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != syscall.EINTR {
			return err
		}
	}
}

// SyncFS writes back and commits everything the file system holding
// f has pending, for every file on it (syncfs).
func SyncFS(f *os.File) error {
	return onFD(f, func(fd int) error { return IgnoringEINTR(func() error { return unix.Syncfs(fd) }) })
}

// DropCache drops f's clean pages from the page cache
// (POSIX_FADV_DONTNEED over the whole file); pages still dirty stay.
func DropCache(f *os.File) error {
	return onFD(f, func(fd int) error { return unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED) })
}

// onFD calls fn with f's descriptor, held open for the call.
func onFD(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
