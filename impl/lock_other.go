//go:build !linux

package impl

// Lock does nothing and returns nil where there are no Linux OFD locks:
// QEMU's file-posix locking is Linux-only in practice (it needs
// F_OFD_SETLK), so there is nobody to agree with. See the Linux version
// for the contract.
func (s *FileStorage) Lock(l Locks) error { return nil }
