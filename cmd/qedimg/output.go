package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/qedharness/qedharness/impl"
)

// outputKind is what convert writes into.
type outputKind int

const (
	outRegular outputKind = iota // a temporary file, renamed over the output
	outBlock                     // a block device, written in place
	outChar                      // a character device, written in sequence
)

// rawOutput is convert's output while it is written. Only a regular
// output is replaced, and only by renaming a complete temporary file over
// it; nothing but that temporary file is ever removed or truncated.
type rawOutput struct {
	name   string     // the output as the user named it
	target string     // the file replaced: name with symbolic links resolved
	kind   outputKind // how it is written
	f      *os.File   // the file written: the temporary file, or the device
	tmp    string     // the temporary file's path; "" once renamed or for a device
	// lock holds the output's locks (the existing file or the device)
	// until the output is committed or abandoned; nil for a new file.
	lock *impl.FileStorage
}

// openOutput prepares name to receive size bytes of raw content. A
// regular file, or a name that does not exist yet, gets a temporary file
// created (O_EXCL) beside it; a block device must hold at least size
// bytes; a character device is written as it is. Anything else (a
// directory, a FIFO, a socket, a dangling symbolic link) is refused, and
// so is an output another process is using (QEMU's locks). On error
// nothing has been changed.
func openOutput(name string, size uint64) (*rawOutput, error) {
	o := &rawOutput{name: name, target: name}
	fi, err := os.Stat(name)
	exists := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if li, lerr := os.Lstat(name); lerr == nil && li.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s: is a dangling symbolic link; name its target or remove it", name)
		}
		o.kind = outRegular
	case err != nil:
		return nil, err
	case fi.Mode().IsRegular():
		o.kind = outRegular
		if o.target, err = filepath.EvalSymlinks(name); err != nil {
			return nil, err
		}
	case fi.Mode()&fs.ModeCharDevice != 0:
		o.kind = outChar
	case fi.Mode()&fs.ModeDevice != 0:
		o.kind = outBlock
	case fi.IsDir():
		return nil, fmt.Errorf("%s: is a directory", name)
	case fi.Mode()&fs.ModeNamedPipe != 0:
		return nil, fmt.Errorf("%s: is a named pipe (FIFO), not a regular file or a device", name)
	case fi.Mode()&fs.ModeSocket != 0:
		return nil, fmt.Errorf("%s: is a socket, not a regular file or a device", name)
	default:
		return nil, fmt.Errorf("%s: is not a regular file or a device (mode %v)", name, fi.Mode())
	}
	if exists {
		// An existing output: opened read-write (so an output we may
		// not write is refused now, not replaced), never truncated, and
		// locked as qemu-img convert locks its target.
		locks := impl.LocksCreate
		if o.kind != outRegular {
			locks = impl.LocksConvertTarget
		}
		if o.lock, err = impl.OpenFileStorage(o.target, false); err != nil {
			return nil, err
		}
		if err := o.lock.Lock(locks); err != nil {
			o.lock.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	switch o.kind {
	case outRegular:
		o.f, o.tmp, err = createTemp(o.target)
	default:
		o.f, err = os.OpenFile(name, os.O_WRONLY, 0)
		if err == nil && o.kind == outBlock {
			err = checkDeviceSize(o.f, name, size)
		}
	}
	if err != nil {
		o.abort()
		return nil, err
	}
	return o, nil
}

// createTemp creates a new, empty temporary file beside path, with
// O_EXCL so that it is ours alone, mode 0666 before the umask (as the
// output itself would get).
func createTemp(path string) (*os.File, string, error) {
	dir, base := filepath.Split(path)
	for try := 0; ; try++ {
		tmp := filepath.Join(dir, "."+base+".qedimg-"+strconv.FormatUint(uint64(rand.Uint32()), 36))
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			return f, tmp, nil
		}
		if !errors.Is(err, fs.ErrExist) || try == 100 {
			return nil, "", fmt.Errorf("%s: temporary file: %w", path, err)
		}
	}
}

// checkDeviceSize refuses a block device smaller than size bytes.
func checkDeviceSize(f *os.File, name string, size uint64) error {
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("%s: device size: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if uint64(n) < size {
		return fmt.Errorf("%s: the device holds %d bytes, the image %d", name, n, size)
	}
	return nil
}

// device reports whether the output is a device, written in place.
func (o *rawOutput) device() bool { return o.kind != outRegular }

// write writes b, the content at guest offset off; zero is holeSize zero
// bytes. Writes come in order of off, without gaps. Into a regular file
// aligned zero pieces are left as holes; into a device every byte is
// written, since a device need not read zeros where nothing was written.
func (o *rawOutput) write(b, zero []byte, off uint64) (uint64, error) {
	n := uint64(len(b))
	var err error
	switch o.kind {
	case outRegular:
		n, err = writeSparse(o.f, b, zero, off)
	case outBlock:
		_, err = o.f.WriteAt(b, int64(off))
	default:
		_, err = o.f.Write(b)
	}
	if err != nil {
		return n, fmt.Errorf("%s: %w", o.name, err)
	}
	return n, nil
}

// commit finishes the output: a regular one is cut to size, synced and
// renamed over the output (then the directory is synced, best effort); a
// block device is synced. On error the caller calls abort.
func (o *rawOutput) commit(size uint64) error {
	if err := o.finish(size); err != nil {
		return fmt.Errorf("%s: %w", o.name, err)
	}
	return nil
}

// finish is commit without the output's name on errors.
func (o *rawOutput) finish(size uint64) error {
	switch o.kind {
	case outRegular:
		if err := o.f.Truncate(int64(size)); err != nil {
			return err
		}
		if err := o.f.Sync(); err != nil {
			return err
		}
		err := o.f.Close()
		o.f = nil
		if err != nil {
			return err
		}
		if err := os.Rename(o.tmp, o.target); err != nil {
			return err
		}
		o.tmp = ""
		if d, err := os.Open(filepath.Dir(o.target)); err == nil {
			d.Sync() // best effort: the rename is done either way
			d.Close()
		}
	case outBlock:
		if err := o.f.Sync(); err != nil {
			return err
		}
	}
	// A character device has nothing to sync (/dev/null refuses fsync).
	var err error
	if o.f != nil {
		err = o.f.Close()
		o.f = nil
	}
	closeLock(o.lock)
	o.lock = nil
	return err
}

// abort gives up: it closes the files and removes the temporary file, if
// it is still there. The output itself is never touched.
func (o *rawOutput) abort() {
	if o.f != nil {
		o.f.Close()
		o.f = nil
	}
	if o.tmp != "" {
		os.Remove(o.tmp)
		o.tmp = ""
	}
	closeLock(o.lock)
	o.lock = nil
}
