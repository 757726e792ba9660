//go:build !linux

package file

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/qedharness/qedharness/impl"
)

// uringState stands in for the io_uring of Linux; it is never made.
type uringState struct{}

func newURingState(impl.Files, int, int) (*uringState, error) {
	return nil, fmt.Errorf("io_uring is Linux only (this is %s): %w", runtime.GOOS, errors.ErrUnsupported)
}

func (u *uringState) dispatch(*Backend) {}

func (u *uringState) close() error { return nil }

func (u *uringState) await(*Backend, bool) *impl.IO { return nil }

func (u *uringState) interrupt() {}
