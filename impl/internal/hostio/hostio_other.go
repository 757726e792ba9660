//go:build !linux

package hostio

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// DirectSupported reports whether this system can open files with O_DIRECT.
const DirectSupported = false

// SyncData writes back f's data; without fdatasync it is fsync.
func SyncData(f *os.File) error { return f.Sync() }

// OpenDirect and the rest fail with errors.ErrUnsupported off Linux.
func OpenDirect(path string, readOnly bool) (int, error) {
	return -1, fmt.Errorf("O_DIRECT is not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func IsDirectRefused(err error) bool { return false }

func CloseFD(fd int) error { return errors.ErrUnsupported }

func Pread(fd int, p []byte, off int64) (int, error) { return 0, errors.ErrUnsupported }

func Pwrite(fd int, p []byte, off int64) (int, error) { return 0, errors.ErrUnsupported }

func FallocateKeepSize(fd int, off, n int64) error { return errors.ErrUnsupported }

func AllocatedBytes(fd int) (int64, error) { return 0, errors.ErrUnsupported }

func FallocateGrow(fd int, off, n int64) error { return errors.ErrUnsupported }

func FallocateZeroRange(fd int, off, n int64) error { return errors.ErrUnsupported }

// SyncFS without syncfs is sync(2)'s equivalent where Go has none: f's
// own fsync, which is all this system offers to a program.
func SyncFS(f *os.File) error { return f.Sync() }

// DropCache does nothing here: there is no posix_fadvise to ask with.
func DropCache(f *os.File) error { return nil }
