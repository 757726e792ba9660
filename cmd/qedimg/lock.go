package main

import (
	"flag"
	"fmt"

	"github.com/qedharness/qedharness/impl"
)

// Every command that opens a file takes the locks QEMU 7.2 takes for the
// same open (impl.Locks), so that qedimg refuses an image a QEMU process is
// using in a conflicting way, and QEMU refuses an image qedimg is writing.
// The locks are taken on a description of their own, opened read-only and
// held until the command ends; the descriptions impl opens for I/O take
// none, since two locking descriptions of one file in one process would
// conflict with each other.

// forceShareFlag registers -U and its long form -force-share (also
// --force-share) on fs, as qemu-img accepts them on read-only opens.
func forceShareFlag(fs *flag.FlagSet) *bool {
	u := new(bool)
	fs.BoolVar(u, "U", false, "force share: open read-only without refusing writers (qemu-img's -U); the output may be inconsistent")
	fs.BoolVar(u, "force-share", false, "same as -U")
	return u
}

// readOnlyLocks returns l, shared with everyone when forceShare is set.
func readOnlyLocks(l impl.Locks, forceShare bool) impl.Locks {
	if forceShare {
		return l.ForceShare()
	}
	return l
}

// lockFile opens the file at path read-only and takes l on that open file
// description; the locks last until the returned storage is closed. A
// conflict is reported against image (the image the command works on,
// which may be path itself or the image path is the backing file of), as
// QEMU reports it: "IMAGE: Failed to get "write" lock: Is another process
// using the image [PATH]?".
func lockFile(path, image string, l impl.Locks) (*impl.FileStorage, error) {
	st, err := impl.OpenFileStorage(path, true)
	if err != nil {
		return nil, err
	}
	if err := st.Lock(l); err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: %w", image, err)
	}
	return st, nil
}

// lockedImage locks the image at path with l and reads its header
// through the locked description. The caller closes the storage when the
// command is done with the image.
func lockedImage(path string, l impl.Locks) (*impl.FileStorage, imageHeader, error) {
	st, err := lockFile(path, path, l)
	if err != nil {
		return nil, imageHeader{}, err
	}
	ih, err := readHeaderFrom(st, path)
	if err != nil {
		st.Close()
		return nil, imageHeader{}, err
	}
	return st, ih, nil
}

// lockBacking locks the backing file of the image at path, if its header
// names one, with l. It returns nil and no error when there is no backing
// file, or when it cannot be opened: opening the image reports that, in
// its own words. The caller closes a non-nil result.
func lockBacking(path string, ih imageHeader, l impl.Locks) (*impl.FileStorage, error) {
	if ih.backing == "" {
		return nil, nil
	}
	bp := impl.ResolveBacking(path, ih.backing)
	st, err := impl.OpenFileStorage(bp, true)
	if err != nil {
		return nil, nil
	}
	if err := st.Lock(l); err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// closeLock releases the locks held by st, if any.
func closeLock(st *impl.FileStorage) {
	if st != nil {
		st.Close()
	}
}
