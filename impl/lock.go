package impl

import (
	"errors"
	"fmt"
	"strings"
)

// Image locking, as QEMU's file-posix driver does it, so that this
// package's users and QEMU processes refuse each other's conflicting opens.
//
// QEMU describes every open of a file by two sets of block permissions:
// those it holds (Perm) and those it lets other users hold (Shared). It
// publishes both as open-file-description (OFD) read locks on single bytes
// of the file: byte 100+b for each permission bit b it holds, byte 200+b
// for each bit it does not share. A new open first takes its own bytes,
// then tests, with F_OFD_GETLK for a write lock, the opposite bytes: 200+b
// for each bit it wants to hold (does anyone refuse to share it?) and
// 100+b for each bit it refuses to share (does anyone hold it?). Read
// locks never conflict with each other, so only the test can fail. The
// locks live as long as the open file description, so they go away when
// the file is closed, however the process ends.
//
// OFD locks conflict between two descriptions even within one process:
// locking is opt-in (FileStorage.Lock), and a process that opens one file
// twice must lock through one of the descriptions only.

// Perm is a set of QEMU block permissions (BLK_PERM_* in QEMU 7.2's
// include/block/block-common.h). Bit b is published at lock bytes 100+b
// and 200+b.
type Perm uint8

// The permissions of QEMU 7.2, in bit order. 7.2 has these four: closing
// a file, it releases bytes 100-103 and 200-203 and no others (strace).
const (
	// PermConsistentRead: reads return consistent data (nobody is
	// writing the file under a format driver's feet).
	PermConsistentRead Perm = 1 << iota
	// PermWrite: the file's content may change.
	PermWrite
	// PermWriteUnchanged: writes that do not change what a reader sees.
	PermWriteUnchanged
	// PermResize: the file's size may change.
	PermResize

	// PermAll is every permission: Shared = PermAll shares everything
	// (qemu-img's -U, --force-share).
	PermAll = PermConsistentRead | PermWrite | PermWriteUnchanged | PermResize
)

// permBits is the number of permission bits QEMU 7.2 publishes.
const permBits = 4

// Lock byte bases of QEMU's file-posix driver (RAW_LOCK_PERM_BASE and
// RAW_LOCK_SHARED_BASE).
const (
	lockPermBase   = 100
	lockSharedBase = 200
)

// permNames are QEMU's names of the permission bits, as its lock errors
// print them.
var permNames = [permBits]string{"consistent read", "write", "write unchanged", "resize"}

// String names the permissions in QEMU's words, joined by "|"; the empty
// set is "none".
func (p Perm) String() string {
	var names []string
	for b := 0; b < 8; b++ {
		if p&(1<<b) == 0 {
			continue
		}
		if b < permBits {
			names = append(names, permNames[b])
		} else {
			names = append(names, fmt.Sprintf("bit %d", b))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// Locks is what one open of a file takes: the permissions it holds and
// those it lets others hold. The zero value holds nothing and shares
// nothing (it conflicts with every holder of any permission); use the
// named roles below.
type Locks struct {
	Perm   Perm
	Shared Perm
}

// The locks QEMU 7.2 takes for each way it opens a QED image and its raw
// backing file, read from /proc/locks under a running qemu-io and from
// strace of short-lived qemu-img runs (Debian's qemu-utils
// 1:7.2+dfsg-7+deb12u18). A format driver over a file shares consistent
// read and unchanged writes, never write or resize. They are values to
// pass to FileStorage.Lock; treat them as constants.
var (
	// LocksImageReadWrite: an image opened for writing (qemu-io IMAGE,
	// qemu-img check -r): bytes 100, 101, 103, 201, 203.
	LocksImageReadWrite = Locks{Perm: PermConsistentRead | PermWrite | PermResize, Shared: PermConsistentRead | PermWriteUnchanged}
	// LocksImageReadOnly: an image opened read-only for its data
	// (qemu-io -r, qemu-img check and the source of convert): bytes
	// 100, 201, 203.
	LocksImageReadOnly = Locks{Perm: PermConsistentRead, Shared: PermConsistentRead | PermWriteUnchanged}
	// LocksImageHeader: an image opened only for its header (qemu-img
	// info): bytes 201, 203. It holds nothing but still refuses a writer.
	LocksImageHeader = Locks{Shared: PermConsistentRead | PermWriteUnchanged}
	// LocksBacking: a raw backing file under an image opened by qemu-io
	// (read-write or read-only) or qemu-img check: byte 100, everything
	// shared.
	LocksBacking = Locks{Perm: PermConsistentRead, Shared: PermAll}
	// LocksBackingConvert: the backing file under the source of qemu-img
	// convert, which refuses writers as for the image: bytes 100, 201,
	// 203.
	LocksBackingConvert = LocksImageReadOnly
	// LocksCreate: a file being created or replaced (qemu-img create,
	// the output of qemu-img convert) before it is truncated: bytes 101,
	// 103, 203.
	LocksCreate = Locks{Perm: PermWrite | PermResize, Shared: PermAll &^ PermResize}
	// LocksConvertTarget: the output of qemu-img convert once created,
	// open under the raw driver while it is written: bytes 100, 101.
	LocksConvertTarget = Locks{Perm: PermConsistentRead | PermWrite, Shared: PermAll}
)

// ForceShare returns l sharing every permission, as qemu-img's -U
// (--force-share) opens a read-only image: it still holds what it holds,
// but no longer refuses anyone.
func (l Locks) ForceShare() Locks {
	l.Shared = PermAll
	return l
}

// ErrLocked matches every *LockError under errors.Is.
var ErrLocked = errors.New("image is locked by another process")

// LockError reports a lock conflict: another open file description
// refuses to share Perm, which this open wants to hold (Shared false), or
// holds Perm, which this open refuses to share (Shared true). Error reads
// as QEMU's message, folded into one line.
type LockError struct {
	Path   string // the file, as opened
	Perm   Perm   // the one permission in conflict
	Shared bool
}

// Error returns QEMU's words: `Failed to get "write" lock: Is another
// process using the image [PATH]?`, with "shared" before the quoted
// permission when Shared is set.
func (e *LockError) Error() string {
	kind := ""
	if e.Shared {
		kind = "shared "
	}
	return fmt.Sprintf("Failed to get %s%q lock: Is another process using the image [%s]?", kind, e.Perm.String(), e.Path)
}

// Is makes errors.Is(err, ErrLocked) hold for a *LockError.
func (e *LockError) Is(target error) bool { return target == ErrLocked }
