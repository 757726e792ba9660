package workloads

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// preallocateRaw makes f size bytes long with its blocks allocated
// (fallocate, as qemu-img's preallocation=falloc), or, where the file
// system has no fallocate, sparse.
func preallocateRaw(f *os.File, size int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("preallocate %s: %w", f.Name(), err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Fallocate(int(fd), 0, 0, size)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return fmt.Errorf("preallocate %s: %w", f.Name(), err)
	}
	switch {
	case ferr == nil:
		return nil
	case errors.Is(ferr, syscall.EOPNOTSUPP):
		return f.Truncate(size)
	}
	return &os.PathError{Op: "fallocate", Path: f.Name(), Err: ferr}
}
