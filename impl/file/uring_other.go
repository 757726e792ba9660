//go:build !linux

package file

import (
	"errors"
	"fmt"
	"runtime"
)

// IOUringAvailable returns nil if this system lets the file backend use
// io_uring (Options.AIO = AIOIOUring), or the reason it does not.
func IOUringAvailable() error {
	return fmt.Errorf("io_uring is Linux only (this is %s): %w", runtime.GOOS, errors.ErrUnsupported)
}
