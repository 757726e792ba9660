package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/qedharness/qedharness/impl"
)

// chunkSize is the most guest bytes read, written or converted at once,
// so memory does not grow with the length asked for.
const chunkSize = 1 << 20

// rwArgs are the arguments of read and write.
type rwArgs struct {
	pattern    byte
	path       string
	off, n     uint64
	forceShare bool // -U: read only
	zeroes     bool // -z: write only, the image's write-zeroes request
}

// parseRW parses "-P BYTE IMAGE OFFSET LENGTH", and -U for read, -z
// (instead of -P) for write.
func parseRW(name string, args []string) (rwArgs, error) {
	fs := newFlags(name)
	var p patternFlag
	fs.Var(&p, "P", "pattern `BYTE`: decimal or 0x hexadecimal, 0 to 255")
	imageFormatFlag(fs)
	force, zeroes := new(bool), new(bool)
	if name == "read" {
		force = forceShareFlag(fs)
	} else {
		zeroes = fs.Bool("z", false, "write zeros with the image's write-zeroes request (zero clusters, or zeroed in place), as qemu-io's write -z")
	}
	pos, err := parseArgs(fs, args, "IMAGE", "OFFSET", "LENGTH")
	if err != nil {
		return rwArgs{}, err
	}
	switch {
	case *zeroes && p.set:
		return rwArgs{}, usagef("-z and -P cannot be given together")
	case !p.set && !*zeroes:
		if name == "write" {
			return rwArgs{}, usagef("missing -P BYTE or -z")
		}
		return rwArgs{}, usagef("missing -P BYTE")
	}
	off, err := parseBytes(pos[1])
	if err != nil {
		return rwArgs{}, usagef("offset: %v", err)
	}
	n, err := parsePositive("length", pos[2])
	if err != nil {
		return rwArgs{}, usagef("%v", err)
	}
	return rwArgs{pattern: p.v, path: pos[0], off: off, n: n, forceShare: *force, zeroes: *zeroes}, nil
}

// runWrite implements "qedimg write": LENGTH bytes of the pattern at
// OFFSET (with -z, zeros by one write-zeroes request), then a flush and a
// clean close. A write that does not fit in
// the image is refused before the image is opened for writing, so the
// file is left untouched. It takes the locks of qemu-io opening the image
// read-write, so it refuses (untouched) an image another process uses.
func runWrite(args []string, stdout io.Writer) (int, error) {
	a, err := parseRW("write", args)
	if err != nil {
		return exitUsage, err
	}
	lk, ih, err := lockedImage(a.path, impl.LocksImageReadWrite)
	if err != nil {
		return exitFail, err
	}
	defer lk.Close()
	if err := ih.checkRange("write", a.off, a.n); err != nil {
		return exitFail, fmt.Errorf("%s: %w", a.path, err)
	}
	blk, err := lockBacking(a.path, ih, impl.LocksBacking)
	if err != nil {
		return exitFail, err
	}
	defer closeLock(blk)
	im, err := impl.OpenPath(a.path, impl.PathOptions{})
	if err != nil {
		return exitFail, err
	}
	if a.zeroes {
		err = im.WriteZeroesAt(int64(a.off), int64(a.n))
	} else {
		buf := bytes.Repeat([]byte{a.pattern}, int(min(a.n, chunkSize)))
		for done := uint64(0); done < a.n && err == nil; {
			k := min(a.n-done, uint64(len(buf)))
			_, err = im.WriteAt(buf[:k], int64(a.off+done))
			done += k
		}
	}
	if err == nil {
		err = im.Flush()
	}
	if cerr := im.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return exitFail, fmt.Errorf("%s: %w", a.path, err)
	}
	fmt.Fprintf(stdout, "wrote %d/%d bytes at offset %d\n", a.n, a.n, a.off)
	return exitOK, nil
}

// mismatch tallies the bytes of a read that differ from the pattern.
type mismatch struct {
	count uint64
	first uint64 // guest offset of the first differing byte
	found byte   // the value there
}

// scan compares got, read at guest offset off, with pattern.
func (m *mismatch) scan(got []byte, off uint64, pattern byte, want []byte) {
	if bytes.Equal(got, want[:len(got)]) {
		return
	}
	for i, b := range got {
		if b != pattern {
			if m.count == 0 {
				m.first, m.found = off+uint64(i), b
			}
			m.count++
		}
	}
}

// runRead implements "qedimg read": it reads LENGTH bytes at OFFSET with
// the image open read-only and fails (exit 1) if any differs from the
// pattern, naming the first differing offset, the value found there and
// the number of differing bytes. It takes the locks of qemu-io -r (none
// that refuse anyone with -U).
func runRead(args []string, stdout io.Writer) (int, error) {
	a, err := parseRW("read", args)
	if err != nil {
		return exitUsage, err
	}
	lk, ih, err := lockedImage(a.path, readOnlyLocks(impl.LocksImageReadOnly, a.forceShare))
	if err != nil {
		return exitFail, err
	}
	defer lk.Close()
	if err := ih.checkRange("read", a.off, a.n); err != nil {
		return exitFail, fmt.Errorf("%s: %w", a.path, err)
	}
	blk, err := lockBacking(a.path, ih, readOnlyLocks(impl.LocksBacking, a.forceShare))
	if err != nil {
		return exitFail, err
	}
	defer closeLock(blk)
	im, err := impl.OpenPath(a.path, impl.PathOptions{Options: impl.Options{ReadOnly: true}})
	if err != nil {
		return exitFail, err
	}
	k := int(min(a.n, chunkSize))
	buf, want := make([]byte, k), bytes.Repeat([]byte{a.pattern}, k)
	var m mismatch
	for done := uint64(0); done < a.n && err == nil; {
		k := min(a.n-done, uint64(len(buf)))
		_, err = im.ReadAt(buf[:k], int64(a.off+done))
		if err == nil {
			m.scan(buf[:k], a.off+done, a.pattern, want)
		}
		done += k
	}
	if cerr := im.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return exitFail, fmt.Errorf("%s: %w", a.path, err)
	}
	fmt.Fprintf(stdout, "read %d/%d bytes at offset %d\n", a.n, a.n, a.off)
	if m.count > 0 {
		return exitFail, fmt.Errorf("%s: pattern verification failed at offset %d: found 0x%02x, expected 0x%02x (%d of %d bytes differ)",
			a.path, m.first, m.found, a.pattern, m.count, a.n)
	}
	return exitOK, nil
}
