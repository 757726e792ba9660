package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/qedharness/qedharness/impl"
)

// holeSize is the granule of convert's hole detection: a run of this many
// zero bytes, aligned, is skipped rather than written.
const holeSize = 64 << 10

// runConvert implements "qedimg convert": the guest-visible content of
// the image (backing file included) as a raw file of the image's virtual
// size. It streams chunkSize bytes at a time, so memory stays bounded
// whatever the image size.
//
// A regular (or new) output is written to a temporary file beside it,
// renamed over it only once complete and synced, with aligned holeSize
// pieces that read as all zeros left as holes: a failure leaves an
// existing output as it was. A device output (block or character) is
// written in place, every byte, zeros included, and never truncated or
// removed, as qemu-img does. The image itself and its backing file are
// refused as outputs. The image and its backing file are locked as by
// qemu-img convert (-U: shared with writers), the output as qemu-img
// locks a file it creates. It takes qemu-img convert's -f qed, -O raw
// and -q; -O qed, or any other format, is refused by name.
func runConvert(args []string, stdout io.Writer) (int, error) {
	fs := newFlags("convert")
	force := forceShareFlag(fs)
	imageFormatFlag(fs)
	fs.Var(&formatFlag{only: "raw", why: "convert writes raw output only (it cannot write qed or another format)"}, "O", "output `FORMAT`: raw, the only one and the default (qemu-img's -O)")
	quiet := quietFlag(fs)
	pos, err := parseArgs(fs, args, "IMAGE", "OUT.raw")
	if err != nil {
		return exitUsage, err
	}
	src, dst := pos[0], pos[1]
	lk, ih, err := lockedImage(src, readOnlyLocks(impl.LocksImageReadOnly, *force))
	if err != nil {
		return exitFail, err
	}
	defer lk.Close()
	if err := refuseOwnFiles(src, ih, dst); err != nil {
		return exitFail, err
	}
	blk, err := lockBacking(src, ih, readOnlyLocks(impl.LocksBackingConvert, *force))
	if err != nil {
		return exitFail, err
	}
	defer closeLock(blk)
	im, err := impl.OpenPath(src, impl.PathOptions{Options: impl.Options{ReadOnly: true}})
	if err != nil {
		return exitFail, err
	}
	size := im.Geometry().ImageSize
	written, device, err := convertTo(im.Image, src, dst)
	if cerr := im.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("%s: %w", src, cerr))
	}
	if err != nil {
		return exitFail, err
	}
	switch {
	case *quiet:
	case device:
		fmt.Fprintf(stdout, "converted %s to %s: %d bytes (%d written, the device is not truncated)\n", src, dst, size, written)
	default:
		fmt.Fprintf(stdout, "converted %s to %s: %d bytes (%d written, the rest left as holes)\n", src, dst, size, written)
	}
	return exitOK, nil
}

// refuseOwnFiles refuses an output dst that is the image at src or its
// backing file (the whole chain: backing files are raw), compared as
// files (os.SameFile), so links and other names of them are refused too.
func refuseOwnFiles(src string, ih imageHeader, dst string) error {
	di, err := os.Stat(dst)
	if err != nil {
		return nil // a new file, or one that cannot be opened: neither is ours
	}
	if si, err := os.Stat(src); err == nil && os.SameFile(si, di) {
		return fmt.Errorf("%s: output is the image itself", dst)
	}
	if ih.backing != "" {
		bp := impl.ResolveBacking(src, ih.backing)
		if bi, err := os.Stat(bp); err == nil && os.SameFile(bi, di) {
			return fmt.Errorf("%s: output is the backing file %s of %s; converting onto it would destroy the image's content", dst, bp, src)
		}
	}
	return nil
}

// convertTo writes im's guest content to dst and returns the bytes
// written and whether dst is a device (see runConvert for how each kind
// of output is written). On failure a regular dst is as it was.
func convertTo(im *impl.Image, src, dst string) (written uint64, device bool, err error) {
	size := im.Geometry().ImageSize
	out, err := openOutput(dst, size)
	if err != nil {
		return 0, false, err
	}
	defer func() {
		if err != nil {
			out.abort()
		}
	}()
	buf, zero := make([]byte, min(size, chunkSize)), make([]byte, holeSize)
	for off := uint64(0); off < size; {
		k := min(size-off, uint64(len(buf)))
		if _, err := im.ReadAt(buf[:k], int64(off)); err != nil {
			return written, out.device(), fmt.Errorf("%s: %w", src, err)
		}
		n, err := out.write(buf[:k], zero, off)
		written += n
		if err != nil {
			return written, out.device(), err
		}
		off += k
	}
	return written, out.device(), out.commit(size)
}

// writeSparse writes b at off in out, skipping each aligned holeSize piece
// that is all zeros (zero is holeSize zero bytes); adjacent data pieces go
// out in one write. It returns the bytes written.
func writeSparse(out io.WriterAt, b, zero []byte, off uint64) (uint64, error) {
	var written uint64
	start := -1 // first byte of the pending run of data pieces
	flush := func(end int) error {
		if start < 0 {
			return nil
		}
		_, err := out.WriteAt(b[start:end], int64(off)+int64(start))
		written += uint64(end - start)
		start = -1
		return err
	}
	for i := 0; i < len(b); i += holeSize {
		j := min(i+holeSize, len(b))
		if bytes.Equal(b[i:j], zero[:j-i]) {
			if err := flush(i); err != nil {
				return written, err
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return written, flush(len(b))
}
