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
// whatever the image size, and leaves aligned holeSize pieces that read as
// all zeros as holes. On failure the output file is removed.
func runConvert(args []string, stdout io.Writer) (int, error) {
	pos, err := parseArgs(newFlags("convert"), args, "IMAGE", "OUT.raw")
	if err != nil {
		return exitUsage, err
	}
	src, dst := pos[0], pos[1]
	if _, err := readHeader(src); err != nil {
		return exitFail, err
	}
	im, err := impl.OpenPath(src, impl.PathOptions{Options: impl.Options{ReadOnly: true}})
	if err != nil {
		return exitFail, err
	}
	written, err := convertTo(im.Image, src, dst)
	if cerr := im.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("%s: %w", src, cerr))
	}
	if err != nil {
		return exitFail, err
	}
	size := im.Geometry().ImageSize
	fmt.Fprintf(stdout, "converted %s to %s: %d bytes (%d written, the rest left as holes)\n", src, dst, size, written)
	return exitOK, nil
}

// convertTo writes im's guest content to a new raw file at dst and
// returns the bytes of data written (zero pieces are skipped). It refuses
// to overwrite the image itself, and removes dst if it fails.
func convertTo(im *impl.Image, src, dst string) (written uint64, err error) {
	if si, err1 := os.Stat(src); err1 == nil {
		if di, err2 := os.Stat(dst); err2 == nil && os.SameFile(si, di) {
			return 0, fmt.Errorf("%s: output is the image itself", dst)
		}
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	size := im.Geometry().ImageSize
	buf, zero := make([]byte, min(size, chunkSize)), make([]byte, holeSize)
	for off := uint64(0); off < size; {
		k := min(size-off, uint64(len(buf)))
		if _, err := im.ReadAt(buf[:k], int64(off)); err != nil {
			return written, fmt.Errorf("%s: %w", src, err)
		}
		n, err := writeSparse(out, buf[:k], zero, off)
		written += n
		if err != nil {
			return written, err
		}
		off += k
	}
	if err := out.Truncate(int64(size)); err != nil {
		return written, err
	}
	return written, out.Sync()
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
