package impl

import (
	"fmt"
	"syscall"

	"github.com/qedharness/qedharness/impl/internal/hostio"
)

// Open-file-description lock commands of <fcntl.h> (the same on every
// Linux architecture); package syscall does not name them.
const (
	fOFDGetlk = 36
	fOFDSetlk = 37
)

// Lock takes l on the storage's open file description the way QEMU 7.2's
// file-posix driver does (see Locks), replacing whatever an earlier Lock
// took, and then tests for conflicts with other open file descriptions of
// the file, in this process or any other. On a conflict it releases every
// lock byte it holds and returns a *LockError. The locks last until Close
// (or the next Lock); Lock(Locks{Shared: PermAll}) releases them.
//
// Where the kernel has no OFD locks (EINVAL, before Linux 3.15) Lock does
// nothing and returns nil, as QEMU's locking=auto turns locking off. Lock
// is safe for concurrent use with I/O, not with another Lock.
func (s *FileStorage) Lock(l Locks) error {
	err := s.WithFD(func(fd int) error {
		// Step one: publish our bytes (and drop any we no longer need).
		for b := 0; b < permBits; b++ {
			p := Perm(1) << b
			if err := setLockByte(fd, lockPermBase+b, l.Perm&p != 0); err != nil {
				return err
			}
			if err := setLockByte(fd, lockSharedBase+b, l.Shared&p == 0); err != nil {
				return err
			}
		}
		// Step two: does anyone refuse to share what we hold, or hold
		// what we refuse to share? In QEMU's order.
		for b := 0; b < permBits; b++ {
			p := Perm(1) << b
			if l.Perm&p == 0 {
				continue
			}
			if busy, err := lockByteTaken(fd, lockSharedBase+b); err != nil || busy {
				return lockResult(s.Name(), p, false, err)
			}
		}
		for b := 0; b < permBits; b++ {
			p := Perm(1) << b
			if l.Shared&p != 0 {
				continue
			}
			if busy, err := lockByteTaken(fd, lockPermBase+b); err != nil || busy {
				return lockResult(s.Name(), p, true, err)
			}
		}
		return nil
	})
	if err == syscall.EINVAL {
		return nil // no OFD locks on this kernel
	}
	if err != nil {
		// Leave nothing behind: the caller may keep the file open.
		s.WithFD(func(fd int) error {
			for b := 0; b < permBits; b++ {
				setLockByte(fd, lockPermBase+b, false)
				setLockByte(fd, lockSharedBase+b, false)
			}
			return nil
		})
	}
	return err
}

// lockResult is the error for a conflict on p, or the test's own error.
func lockResult(path string, p Perm, shared bool, err error) error {
	if err != nil {
		return err
	}
	return &LockError{Path: path, Perm: p, Shared: shared}
}

// setLockByte takes (on) or releases (off) an OFD read lock on byte off.
// Only a write lock held elsewhere on that byte (no QEMU takes one) makes
// taking it fail.
func setLockByte(fd, off int, on bool) error {
	lk := syscall.Flock_t{Type: syscall.F_UNLCK, Whence: 0, Start: int64(off), Len: 1}
	if on {
		lk.Type = syscall.F_RDLCK
	}
	err := hostio.IgnoringEINTR(func() error { return syscall.FcntlFlock(uintptr(fd), fOFDSetlk, &lk) })
	if err == syscall.EINVAL {
		return err // no OFD locks: Lock turns this into success
	}
	if err != nil {
		return fmt.Errorf("lock byte %d: %w", off, err)
	}
	return nil
}

// lockByteTaken reports whether another open file description holds a
// lock on byte off that a write lock would conflict with.
func lockByteTaken(fd, off int) (bool, error) {
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: int64(off), Len: 1}
	if err := hostio.IgnoringEINTR(func() error { return syscall.FcntlFlock(uintptr(fd), fOFDGetlk, &lk) }); err != nil {
		return false, fmt.Errorf("test lock byte %d: %w", off, err)
	}
	return lk.Type != syscall.F_UNLCK, nil
}
