package impl

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// File names the file an I/O addresses.
type File uint8

const (
	// ImageFile is the QED image file.
	ImageFile File = iota
	// BackingFile is the raw backing file; the engine only reads it.
	BackingFile
)

// String returns "image" or "backing".
func (f File) String() string {
	if f == BackingFile {
		return "backing"
	}
	return "image"
}

// IOOp is the operation of a host I/O.
type IOOp uint8

const (
	// OpRead fills IO.Buf from IO.Off.
	OpRead IOOp = iota
	// OpWrite stores IO.Buf at IO.Off.
	OpWrite
	// OpFlush makes every write that completed before it was submitted
	// durable. Off and Buf are unused.
	OpFlush
	// OpGrow extends the file to IO.Off bytes if it is shorter, with
	// space that reads as zeros (fallocate where the file system has it,
	// so later writes into it need not allocate blocks). Buf is nil. Like
	// a write, it is durable only once a flush covers it.
	OpGrow
	// OpWriteZeroes stores IO.Len zero bytes at IO.Off without a buffer
	// (a write-zeroes command: fallocate's zero range, or a hole), leaving
	// the file as a write of that many zeros would. Buf is nil.
	OpWriteZeroes
)

var opNames = [...]string{"read", "write", "flush", "grow", "write-zeroes"}

// String returns "read", "write", "flush", "grow" or "write-zeroes".
func (o IOOp) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", o)
}

// Purpose says why the engine issued an I/O; it is for accounting (data
// bytes against metadata bytes) and for traces, never for behaviour.
type Purpose uint8

const (
	PurposeData    Purpose = iota // guest data, in place or into a new cluster (fill merged in)
	PurposeBacking                // read of the backing file, for a guest read or a fill
	PurposeL2Read                 // L2 table read on a cache miss
	PurposeL2Write                // L2 table write: whole new table or changed sectors
	PurposeL1Write                // L1 table sectors
	PurposeHeader                 // header sector (need-check bit)
	PurposeFlush                  // guest flush, or the flush QEMU orders before an L2 update
	PurposeGrow                   // growth of the image file ahead of allocation
)

var purposeNames = [...]string{"data", "backing", "l2-read", "l2-write", "l1-write", "header", "flush", "grow"}

// String returns the purpose's name as used in traces.
func (p Purpose) String() string {
	if int(p) < len(purposeNames) {
		return purposeNames[p]
	}
	return fmt.Sprintf("purpose(%d)", p)
}

// Metadata reports whether the purpose is a metadata I/O.
func (p Purpose) Metadata() bool {
	return p == PurposeL2Read || p == PurposeL2Write || p == PurposeL1Write || p == PurposeHeader
}

// IO is one host I/O the engine asks a backend to carry out. The engine
// owns the struct and Buf; a backend reads the fields, performs the I/O,
// sets Err and hands the same pointer back from Backend.Next. While an IO
// is in flight neither side may change Buf, except that a read's backend
// fills it.
type IO struct {
	// ID is unique among the engine's I/Os, increasing in issue order.
	ID uint64
	// Op is the operation.
	Op IOOp
	// File is the file addressed.
	File File
	// Off is the byte offset in File.
	Off uint64
	// Buf is the data to write or the buffer to read into; nil for
	// OpFlush, OpGrow and OpWriteZeroes.
	Buf []byte
	// Len is the byte count of an OpWriteZeroes; 0 otherwise.
	Len uint64
	// Purpose says why the I/O was issued.
	Purpose Purpose
	// Req is the request the I/O serves, or 0 for the engine's own.
	Req uint64
	// Err is the I/O's result, set by the backend.
	Err error

	// Continuation for the engine: which request and which step.
	owner  *request
	step   step
	meta   *metaWrite
	table  *l2Table
	pooled bool // Buf returns to the engine's pool on completion
	// A write's first zeroHead and last zeroTail bytes of Buf are zeros
	// the engine put there (a new cluster's fill), for Perform to hand
	// to a ZeroWriter.
	zeroHead, zeroTail int
	// A write's first backHead and last backTail bytes of Buf are the
	// backing file's bytes the engine read for a copy-on-write fill,
	// Buf[0] being the backing file's byte backFrom, for Perform to hand
	// to a BackingWriter.
	backHead, backTail int
	backFrom           uint64
}

// String renders the I/O for traces: "io 7 write image 0x30000+65536 (data, req 2)".
func (o *IO) String() string {
	switch o.Op {
	case OpFlush:
		return fmt.Sprintf("io %d flush %s (%s, req %d)", o.ID, o.File, o.Purpose, o.Req)
	case OpGrow:
		return fmt.Sprintf("io %d grow %s to %#x (%s, req %d)", o.ID, o.File, o.Off, o.Purpose, o.Req)
	case OpWriteZeroes:
		return fmt.Sprintf("io %d write-zeroes %s %#x+%d (%s, req %d)", o.ID, o.File, o.Off, o.Len, o.Purpose, o.Req)
	}
	return fmt.Sprintf("io %d %s %s %#x+%d (%s, req %d)", o.ID, o.Op, o.File, o.Off, len(o.Buf), o.Purpose, o.Req)
}

// Backend carries out host I/O for one image. It is driven from a single
// goroutine (the one running the image); implementations that use
// goroutines internally hide them behind these calls.
//
// Writes in flight at once to the same bytes may land in either order;
// a read in flight with a write to the same bytes may see either. A flush
// covers every write that completed before the flush was submitted.
type Backend interface {
	// Submit starts io. The backend owns io until Next returns it.
	Submit(io *IO)
	// Next waits until a submitted I/O completes and returns it with Err
	// set. It returns nil when no I/O is in flight.
	Next() *IO
	// Close waits for in-flight I/O and releases the backend's resources;
	// it does not close the storage it was given.
	Close() error
}

// Storage is a random-access byte store: a file, or memory. Reads past the
// end return io.EOF after the bytes that exist, like os.File.
type Storage interface {
	io.ReaderAt
	io.WriterAt
	// Size returns the current size in bytes.
	Size() (int64, error)
	// Truncate sets the size, zero-extending or cutting.
	Truncate(size int64) error
	// Sync makes completed writes durable.
	Sync() error
}

// ZeroWriter is a Storage that can store zeros without being handed
// them: WriteZerosAt(off, n) leaves the storage exactly as WriteAt of n
// zero bytes at off would, growing it likewise. Perform uses it for the
// parts of a write the engine filled with zeros (the fill of a new
// cluster), so that a storage keeping only nonzero pages need not scan
// them.
type ZeroWriter interface {
	WriteZerosAt(off, n int64) error
}

// BackingWriter is a Storage that can store bytes of the image's backing
// file by where they came from: WriteBackingAt(p, off, from), where p
// holds the backing file's bytes from offset from, leaves the storage
// exactly as WriteAt(p, off) would, but may keep a reference to the
// backing bytes instead of a copy. Perform uses it for the copy-on-write
// fill of a new cluster, so that an in-memory image over a backing file
// it can regenerate need not copy the fill.
type BackingWriter interface {
	WriteBackingAt(p []byte, off int64, from uint64) error
}

// Grower is a Storage that can extend itself with space allocated up
// front: Grow(size) leaves it as Truncate(size) would when size is larger
// than its size (and unchanged otherwise), but a file system allocates the
// blocks now (fallocate), so writes into them need not. Perform uses it
// for OpGrow; a storage without it is extended with Truncate.
type Grower interface {
	Grow(size int64) error
}

// RangeZeroer is a Storage that can store zeros without a buffer by
// telling the file system to (fallocate's zero range, or punching a
// hole): ZeroRange(off, n) leaves it as a WriteAt of n zeros at off
// would. Perform uses it, or a ZeroWriter, for OpWriteZeroes; a storage
// with neither gets zeros written from a buffer.
type RangeZeroer interface {
	ZeroRange(off, n int64) error
}

// Files are the storages an image uses. Backing is nil when the image has
// no backing file.
type Files struct {
	Image   Storage
	Backing Storage
}

// Perform carries out io against files synchronously and returns its
// error; reads past end of file fill the rest of Buf with zeros. Backends
// use it to touch storage, so every backend means the same thing by a
// read, a write and a flush.
func Perform(files Files, io *IO) error {
	st := files.Image
	if io.File == BackingFile {
		st = files.Backing
		if st == nil {
			return errors.New("I/O to backing file, but the image has none")
		}
	}
	switch io.Op {
	case OpRead:
		n, err := st.ReadAt(io.Buf, int64(io.Off))
		if err != nil && !errors.Is(err, errEOF) {
			return fmt.Errorf("read %s at %#x: %w", io.File, io.Off, err)
		}
		clear(io.Buf[n:])
		return nil
	case OpWrite:
		if io.File == BackingFile {
			return errors.New("write to the backing file refused")
		}
		if io.zeroHead > 0 || io.zeroTail > 0 {
			if zw, ok := st.(ZeroWriter); ok {
				if err := writeZeroed(st, zw, io); err != nil {
					return fmt.Errorf("write %s at %#x: %w", io.File, io.Off, err)
				}
				return nil
			}
		}
		if io.backHead > 0 || io.backTail > 0 {
			if bw, ok := st.(BackingWriter); ok {
				if err := writeBacked(st, bw, io); err != nil {
					return fmt.Errorf("write %s at %#x: %w", io.File, io.Off, err)
				}
				return nil
			}
		}
		if _, err := st.WriteAt(io.Buf, int64(io.Off)); err != nil {
			return fmt.Errorf("write %s at %#x: %w", io.File, io.Off, err)
		}
		return nil
	case OpFlush:
		if err := st.Sync(); err != nil {
			return fmt.Errorf("flush %s: %w", io.File, err)
		}
		return nil
	case OpGrow:
		if io.File == BackingFile {
			return errors.New("growing the backing file refused")
		}
		if err := growStorage(st, io.Off); err != nil {
			return fmt.Errorf("grow %s to %#x: %w", io.File, io.Off, err)
		}
		return nil
	case OpWriteZeroes:
		if io.File == BackingFile {
			return errors.New("write to the backing file refused")
		}
		if err := zeroRange(st, io.Off, io.Len); err != nil {
			return fmt.Errorf("write zeroes %s at %#x+%d: %w", io.File, io.Off, io.Len, err)
		}
		return nil
	}
	return fmt.Errorf("unknown I/O op %d", io.Op)
}

// growStorage extends st to size bytes if it is shorter.
func growStorage(st Storage, size uint64) error {
	if size > math.MaxInt64 {
		return fmt.Errorf("size %#x out of range", size)
	}
	cur, err := st.Size()
	if err != nil || cur >= int64(size) {
		return err
	}
	if g, ok := st.(Grower); ok {
		return g.Grow(int64(size))
	}
	return st.Truncate(int64(size))
}

// zeroRange stores n zeros at off in st, by the cheapest means st has.
func zeroRange(st Storage, off, n uint64) error {
	if off > math.MaxInt64 || n > math.MaxInt64-off {
		return fmt.Errorf("range %#x+%d out of range", off, n)
	}
	if zw, ok := st.(ZeroWriter); ok {
		return zw.WriteZerosAt(int64(off), int64(n))
	}
	if z, ok := st.(RangeZeroer); ok {
		if err := z.ZeroRange(int64(off), int64(n)); !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	var zeros [64 << 10]byte
	for n > 0 {
		k := min(n, uint64(len(zeros)))
		if _, err := st.WriteAt(zeros[:k], int64(off)); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

var errEOF = io.EOF

// writeZeroed writes io.Buf as a zero head, the bytes between and a zero
// tail, leaving st as one WriteAt of io.Buf would.
func writeZeroed(st Storage, zw ZeroWriter, io *IO) error {
	off, n := int64(io.Off), len(io.Buf)
	head, tail := min(io.zeroHead, n), min(io.zeroTail, n-min(io.zeroHead, n))
	if head > 0 {
		if err := zw.WriteZerosAt(off, int64(head)); err != nil {
			return err
		}
	}
	if mid := io.Buf[head : n-tail]; len(mid) > 0 {
		if _, err := st.WriteAt(mid, off+int64(head)); err != nil {
			return err
		}
	}
	if tail > 0 {
		return zw.WriteZerosAt(off+int64(n-tail), int64(tail))
	}
	return nil
}

// writeBacked writes io.Buf as a head of backing bytes, the bytes between
// and a tail of backing bytes, leaving st as one WriteAt of io.Buf would.
func writeBacked(st Storage, bw BackingWriter, io *IO) error {
	off, n := int64(io.Off), len(io.Buf)
	head, tail := min(io.backHead, n), min(io.backTail, n-min(io.backHead, n))
	if head > 0 {
		if err := bw.WriteBackingAt(io.Buf[:head], off, io.backFrom); err != nil {
			return err
		}
	}
	if mid := io.Buf[head : n-tail]; len(mid) > 0 {
		if _, err := st.WriteAt(mid, off+int64(head)); err != nil {
			return err
		}
	}
	if tail > 0 {
		return bw.WriteBackingAt(io.Buf[n-tail:], off+int64(n-tail), io.backFrom+uint64(n-tail))
	}
	return nil
}
