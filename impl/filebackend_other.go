//go:build !linux

package impl

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// directSupported reports whether this system can open files with O_DIRECT.
const directSupported = false

// syncData writes back f's data; without fdatasync it is fsync.
func syncData(f *os.File) error { return f.Sync() }

func openDirect(path string, readOnly bool) (int, error) {
	return -1, fmt.Errorf("O_DIRECT is not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func isDirectRefused(err error) bool { return false }

func closeFD(fd int) error { return errors.ErrUnsupported }

func preadFD(fd int, p []byte, off int64) (int, error) { return 0, errors.ErrUnsupported }

func pwriteFD(fd int, p []byte, off int64) (int, error) { return 0, errors.ErrUnsupported }

func fallocateKeepSize(fd int, off, n int64) error { return errors.ErrUnsupported }

func allocatedBytes(fd int) (int64, error) { return 0, errors.ErrUnsupported }

func fallocateGrow(fd int, off, n int64) error { return errors.ErrUnsupported }

func fallocateZeroRange(fd int, off, n int64) error { return errors.ErrUnsupported }

// uringState stands in for the io_uring of Linux; it is never made.
type uringState struct{}

func newURingState(Files, int, int) (*uringState, error) {
	return nil, fmt.Errorf("io_uring is Linux only (this is %s): %w", runtime.GOOS, errors.ErrUnsupported)
}

func (u *uringState) dispatch(*FileBackend) {}

func (u *uringState) next(*FileBackend) *IO { return nil }

func (u *uringState) close() error { return nil }
