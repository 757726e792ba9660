package file

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sync"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/impl/internal/hostio"
)

// Options configures a Backend. The zero value means 64 workers,
// I/O through the page cache, and no preallocation (the image grows its
// file itself: Options.Grow).
type Options struct {
	// Workers is the number of goroutines that perform I/O, which bounds
	// how many I/Os are in the kernel at once; 0 or less means 64. More
	// I/Os may be submitted; they queue until a worker is free.
	Workers int
	// Direct sends image reads and writes whose offset and length are
	// multiples of DirectAlign to a second descriptor opened with
	// O_DIRECT, bypassing the page cache. Their data goes through an
	// aligned bounce buffer if the caller's buffer is not aligned (see
	// AlignedBuffer). Other I/O, and every backing-file read, goes
	// through the storages. Linux only.
	Direct bool
	// PreallocBytes, if positive, is how far ahead of the highest write
	// end the backend keeps the image allocated with
	// fallocate(FALLOC_FL_KEEP_SIZE), so that appending writes find their
	// blocks allocated; the file size does not change. 0 (the default) or
	// less disables it: the image grows its own file ahead of allocation
	// (Options.Grow), which also keeps data writes from moving the file's
	// size (on ext4, direct writes that move it are serialized even into
	// preallocated blocks). It stays for comparing the schemes.
	PreallocBytes int64
	// AIO chooses how I/Os reach the kernel. AIOThreads, the zero value,
	// performs each with a blocking system call on one of Workers
	// goroutines, as QEMU's aio=threads. AIOIOUring queues them on an
	// io_uring and submits and reaps them in batches from Next, as QEMU's
	// aio=io_uring, with at most Workers in the kernel at once; it costs
	// far less CPU per I/O. Linux only; New fails with a
	// reason where the kernel refuses io_uring.
	AIO AIOMode
}

// AIOMode is how a Backend submits I/O; see Options.AIO.
type AIOMode uint8

const (
	// AIOThreads performs I/O with blocking calls on worker goroutines.
	AIOThreads AIOMode = iota
	// AIOIOUring performs I/O through an io_uring.
	AIOIOUring
)

// String returns the mode's name as QEMU's aio= option spells it.
func (m AIOMode) String() string {
	switch m {
	case AIOThreads:
		return "threads"
	case AIOIOUring:
		return "io_uring"
	}
	return fmt.Sprintf("aio(%d)", uint8(m))
}

// ParseAIOMode returns the mode named s ("threads" or "io_uring").
func ParseAIOMode(s string) (AIOMode, error) {
	switch s {
	case "threads":
		return AIOThreads, nil
	case "io_uring":
		return AIOIOUring, nil
	}
	return 0, fmt.Errorf("unknown aio mode %q (want threads or io_uring)", s)
}

const (
	defaultFileWorkers = 64
)

// Stats counts what a Backend did. Counts of reads and writes
// are taken at Submit.
type Stats struct {
	// Submitted counts I/Os passed to Submit; Completed counts those
	// returned by Next or drained by Close.
	Submitted, Completed uint64
	// Direct counts reads and writes performed on the O_DIRECT descriptor
	// straight from the caller's buffer.
	Direct uint64
	// Bounced counts reads and writes performed on the O_DIRECT descriptor
	// through an aligned bounce buffer, because the caller's buffer was
	// not aligned.
	Bounced uint64
	// Buffered counts reads and writes performed through the storages
	// (the page cache): all of them without Direct; with Direct, the
	// unaligned ones and backing-file reads.
	Buffered uint64
	// Flushes counts flushes.
	Flushes uint64
	// Preallocs counts fallocate calls that succeeded, and
	// PreallocatedBytes the bytes they covered.
	Preallocs         uint64
	PreallocatedBytes int64
	// PreallocEnd is the end of the region the backend considers
	// preallocated: the image size when the backend was created, then
	// PreallocBytes past the highest write end seen.
	PreallocEnd int64
	// PreallocUnsupported is true if the file system has no fallocate
	// (EOPNOTSUPP); preallocation is then off for the backend's life.
	PreallocUnsupported bool
	// PreallocErr is the last other fallocate error, or nil. A failed
	// preallocation does not fail the write that prompted it.
	PreallocErr error
}

// Backend is an impl.Backend over files, with a pool of worker goroutines
// that perform I/O with pread, pwrite and fdatasync, as QEMU's thread
// pool does: Submit hands an I/O to a worker and Next returns I/Os as
// workers finish them, in whatever order that is. Many I/Os are in flight
// at once, so writes in flight together to the same bytes may land in
// either order.
//
// Like every Backend it is driven from one goroutine; Stats must be
// called from that goroutine too.
type Backend struct {
	files impl.Files
	img   *impl.FileStorage // files.Image if it is a *FileStorage, else nil
	path  string
	dfd   int // the O_DIRECT descriptor, or -1

	jobs   chan fileJob // nil with io_uring
	done   chan *impl.IO
	wake   chan struct{} // Interrupt's token, with threads
	ur     *uringState   // nil with threads
	wg     sync.WaitGroup
	bounce bouncePool

	// Owned by the driving goroutine.
	inflight int       // submitted and not yet returned by Next
	pending  []fileJob // submitted, waiting for room in jobs
	pendHead int
	ready    []*impl.IO // completed without a worker (submitted after Close)
	closed   bool
	prealloc int64 // bytes to preallocate ahead; 0 when off
	allocEnd int64 // end of the preallocated region
	stats    Stats
}

var _ impl.Backend = (*Backend)(nil)

// fileRoute says how a worker performs an I/O.
type fileRoute uint8

const (
	routeBuffered fileRoute = iota // Perform against the storages
	routeDirect                    // the O_DIRECT descriptor, caller's buffer
	routeBounce                    // the O_DIRECT descriptor, bounce buffer
)

type fileJob struct {
	io    *impl.IO
	route fileRoute
}

// New returns a Backend over files, with its workers
// started. path names the image file; it is needed only with Direct, to
// open the O_DIRECT descriptor, and may be "" when files.Image is a
// *FileStorage, whose name is then used. Preallocation needs a descriptor
// of the image: files.Image must be a writable *FileStorage, or Direct
// must be set; otherwise it is off.
//
// With Direct, a file system that refuses O_DIRECT (tmpfs, some FUSE file
// systems) makes New fail with an error saying so.
func New(files impl.Files, path string, opts Options) (*Backend, error) {
	if files.Image == nil {
		return nil, errors.New("file backend: no image storage")
	}
	img, _ := files.Image.(*impl.FileStorage)
	if path == "" && img != nil {
		path = img.Name()
	}
	readOnly := img != nil && img.ReadOnly()
	b := &Backend{files: files, img: img, path: path, dfd: -1}
	if opts.Direct {
		if path == "" {
			return nil, errors.New("file backend: Direct needs the image's path")
		}
		fd, err := hostio.OpenDirect(path, readOnly)
		if err != nil {
			return nil, directOpenError(path, err)
		}
		b.dfd = fd
	}
	if !readOnly && (img != nil || b.dfd >= 0) && opts.PreallocBytes > 0 {
		b.prealloc = opts.PreallocBytes
		size, err := files.Image.Size()
		if err != nil {
			if b.dfd >= 0 {
				hostio.CloseFD(b.dfd)
			}
			return nil, fmt.Errorf("file backend: %w", err)
		}
		b.allocEnd = size
		b.stats.PreallocEnd = size
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = defaultFileWorkers
	}
	switch opts.AIO {
	case AIOThreads:
	case AIOIOUring:
		ur, err := newURingState(files, b.dfd, workers)
		if err != nil {
			if b.dfd >= 0 {
				hostio.CloseFD(b.dfd)
			}
			return nil, fmt.Errorf("file backend: aio=io_uring: %w", err)
		}
		b.ur = ur
		return b, nil
	default:
		if b.dfd >= 0 {
			hostio.CloseFD(b.dfd)
		}
		return nil, fmt.Errorf("file backend: unknown aio mode %d", opts.AIO)
	}
	b.jobs = make(chan fileJob, workers)
	b.done = make(chan *impl.IO, workers)
	b.wake = make(chan struct{}, 1)
	b.wg.Add(workers)
	for range workers {
		go b.work()
	}
	return b, nil
}

// directOpenError explains why opening path with O_DIRECT failed.
func directOpenError(path string, err error) error {
	if hostio.IsDirectRefused(err) {
		return fmt.Errorf("file backend: the file system holding %s refuses O_DIRECT (older tmpfs, some FUSE file systems); use the image without Direct or put it elsewhere: %w", path, err)
	}
	return fmt.Errorf("file backend: %w", &os.PathError{Op: "open O_DIRECT", Path: path, Err: err})
}

// Submit starts o: it preallocates if o writes past the preallocated
// region, then queues o for a worker. It never blocks.
func (b *Backend) Submit(o *impl.IO) {
	b.inflight++
	b.stats.Submitted++
	if b.closed {
		o.Err = fmt.Errorf("%v: file backend: %w", o, os.ErrClosed)
		b.ready = append(b.ready, o)
		return
	}
	j := fileJob{io: o, route: b.route(o)}
	switch {
	case o.Op == impl.OpFlush:
		b.stats.Flushes++
	case j.route == routeDirect:
		b.stats.Direct++
	case j.route == routeBounce:
		b.stats.Bounced++
	default:
		b.stats.Buffered++
	}
	if o.Op == impl.OpWrite && o.File == impl.ImageFile && b.prealloc > 0 {
		b.preallocate(o)
	}
	b.pending = append(b.pending, j)
	if b.ur != nil {
		b.ur.dispatch(b)
		return
	}
	b.dispatch()
}

// route decides how o is performed.
func (b *Backend) route(o *impl.IO) fileRoute {
	if b.dfd < 0 || o.File != impl.ImageFile || (o.Op != impl.OpRead && o.Op != impl.OpWrite) {
		return routeBuffered
	}
	n := len(o.Buf)
	if n == 0 || n%impl.DirectAlign != 0 || o.Off%impl.DirectAlign != 0 || o.Off > math.MaxInt64-uint64(n) {
		return routeBuffered
	}
	if impl.IsAligned(o.Buf) {
		return routeDirect
	}
	return routeBounce
}

// preallocate extends the preallocated region to PreallocBytes past the
// end of write o if o ends beyond it. Every write in flight lies inside
// the region already, so the fallocate never races a write for the same
// blocks. The region starts at the write if the write leaves a gap after
// the old end; the gap is not allocated.
func (b *Backend) preallocate(o *impl.IO) {
	n, ahead := uint64(len(o.Buf)), uint64(b.prealloc)
	const limit = math.MaxInt64 - impl.DirectAlign
	if n > limit || ahead > limit-n || o.Off > limit-n-ahead {
		return // the write is past any file size; it will fail on its own
	}
	end := int64(o.Off + n)
	if end <= b.allocEnd {
		return
	}
	start := max(b.allocEnd, int64(o.Off)&^(impl.DirectAlign-1))
	newEnd := (end + b.prealloc + impl.DirectAlign - 1) &^ (impl.DirectAlign - 1)
	fallocate := func(fd int) error { return hostio.FallocateKeepSize(fd, start, newEnd-start) }
	var err error
	if b.dfd >= 0 {
		err = fallocate(b.dfd)
	} else {
		err = b.img.WithFD(fallocate)
	}
	switch {
	case err == nil:
		b.stats.Preallocs++
		b.stats.PreallocatedBytes += newEnd - start
	case errors.Is(err, errors.ErrUnsupported):
		b.prealloc = 0
		b.stats.PreallocUnsupported = true
		return
	default:
		// Move on anyway, so a full disk costs one failed call per
		// PreallocBytes written rather than one per write.
		b.stats.PreallocErr = &os.PathError{Op: "fallocate", Path: b.path, Err: err}
	}
	b.allocEnd = newEnd
	b.stats.PreallocEnd = newEnd
}

// dispatch hands pending jobs to workers until the job queue is full.
func (b *Backend) dispatch() {
	for b.pendHead < len(b.pending) {
		select {
		case b.jobs <- b.pending[b.pendHead]:
			b.popPending()
		default:
			return
		}
	}
}

func (b *Backend) popPending() {
	b.pending[b.pendHead] = fileJob{}
	b.pendHead++
	if b.pendHead == len(b.pending) {
		b.pending, b.pendHead = b.pending[:0], 0
	}
}

// Next waits for a submitted I/O to complete and returns it with Err set;
// it returns nil at once when none is in flight.
func (b *Backend) Next() *impl.IO {
	if o := b.popReady(); o != nil {
		return b.completed(o)
	}
	if b.inflight == 0 {
		return nil
	}
	if b.ur != nil {
		return b.completed(b.ur.await(b, false))
	}
	return b.completed(b.awaitWorker(nil))
}

// popReady returns an I/O completed without a worker, or nil.
func (b *Backend) popReady() *impl.IO {
	n := len(b.ready)
	if n == 0 {
		return nil
	}
	o := b.ready[n-1]
	b.ready[n-1] = nil
	b.ready = b.ready[:n-1]
	return o
}

// awaitWorker hands pending jobs to workers while it waits for one to
// finish an I/O, which it returns, or for a token on wake (a nil channel
// never has one), when it returns nil.
func (b *Backend) awaitWorker(wake chan struct{}) *impl.IO {
	b.dispatch()
	for b.pendHead < len(b.pending) {
		select {
		case o := <-b.done:
			return o
		case b.jobs <- b.pending[b.pendHead]:
			b.popPending()
		case <-wake:
			return nil
		}
	}
	select {
	case o := <-b.done:
		return o
	case <-wake:
		return nil
	}
}

// Wait is Next for a driver that also waits for something else (a
// server's requests): it returns a completed I/O, or nil once Interrupt
// has been called since the last Wait returned nil. Unlike Next it waits
// when no I/O is in flight, until Interrupt is called. Like Next it is
// called from the goroutine driving the backend. After Close it returns
// nil at once.
func (b *Backend) Wait() *impl.IO {
	if o := b.popReady(); o != nil {
		return b.completed(o)
	}
	var o *impl.IO
	switch {
	case b.closed:
	case b.ur != nil:
		o = b.ur.await(b, true)
	default:
		o = b.awaitWorker(b.wake)
	}
	if o == nil {
		return nil
	}
	return b.completed(o)
}

// Interrupt makes the Wait in progress return nil, or the next Wait if
// none is in progress; calls before that Wait returns count as one. It is
// the one method any goroutine may call, at any time before Close. With
// io_uring it writes to an eventfd whose read is on the ring, so a wait
// in the kernel ends too.
func (b *Backend) Interrupt() {
	if b.ur != nil {
		b.ur.interrupt()
		return
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Backend) completed(o *impl.IO) *impl.IO {
	b.inflight--
	b.stats.Completed++
	return o
}

// Stats returns the backend's counts so far.
func (b *Backend) Stats() Stats { return b.stats }

// Close waits for every in-flight I/O to complete (they are not returned
// by Next afterwards; each has Err set), stops the workers and closes the
// O_DIRECT descriptor. It does not close the storages. If the backend
// preallocated, Close releases the blocks left allocated past the end of
// the image by truncating it to its own size. An I/O submitted after
// Close fails with an error wrapping os.ErrClosed. Close is idempotent.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	for b.inflight > 0 {
		b.Next()
	}
	b.closed = true
	var errs []error
	if b.ur != nil {
		if err := b.ur.close(); err != nil {
			errs = append(errs, fmt.Errorf("file backend: %w", err))
		}
	} else {
		close(b.jobs)
		b.wg.Wait()
	}
	if b.dfd >= 0 {
		if err := hostio.CloseFD(b.dfd); err != nil {
			errs = append(errs, fmt.Errorf("file backend: %w", &os.PathError{Op: "close O_DIRECT", Path: b.path, Err: err}))
		}
		b.dfd = -1
	}
	if b.stats.Preallocs > 0 {
		size, err := b.files.Image.Size()
		if err == nil {
			err = b.files.Image.Truncate(size)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("file backend: release preallocated blocks: %w", err))
		}
	}
	return errors.Join(errs...)
}

// work performs jobs until the job queue is closed.
func (b *Backend) work() {
	defer b.wg.Done()
	for j := range b.jobs {
		j.io.Err = b.perform(j)
		b.done <- j.io
	}
}

func (b *Backend) perform(j fileJob) error {
	o := j.io
	switch j.route {
	case routeDirect:
		return b.performDirect(o, o.Buf)
	case routeBounce:
		bp := b.bounce.get(len(o.Buf))
		defer b.bounce.put(bp)
		buf := (*bp)[:len(o.Buf)]
		if o.Op == impl.OpWrite {
			copy(buf, o.Buf)
		}
		err := b.performDirect(o, buf)
		if o.Op == impl.OpRead && err == nil {
			copy(o.Buf, buf)
		}
		return err
	}
	return impl.Perform(b.files, o)
}

// performWith finishes job j with blocking calls from byte done of buf,
// the buffer its transfer uses (the caller's, or a bounce buffer).
func (b *Backend) performWith(j fileJob, buf []byte, done int) error {
	o := j.io
	if j.route != routeBuffered {
		return b.performDirectFrom(o, buf, done)
	}
	rest := *o
	rest.Buf = o.Buf[done:]
	rest.Off += uint64(done)
	return impl.Perform(b.files, &rest)
}

// performDirect carries out read or write o with buf, aligned, on the
// O_DIRECT descriptor. The kernel moves whole blocks only, so when a
// transfer stops short of a block boundary (a read at an unaligned end of
// file) the rest goes through the image storage, which also zero-fills a
// read past the end of the file, as Perform does.
func (b *Backend) performDirect(o *impl.IO, buf []byte) error {
	return b.performDirectFrom(o, buf, 0)
}

// performDirectFrom is performDirect for the bytes of buf from done on,
// the earlier ones being transferred already.
func (b *Backend) performDirectFrom(o *impl.IO, buf []byte, done int) error {
	off := int64(o.Off)
	xfer, name := hostio.Pread, "pread"
	if o.Op == impl.OpWrite {
		xfer, name = hostio.Pwrite, "pwrite"
	}
	for done < len(buf) && done%impl.DirectAlign == 0 {
		n, err := xfer(b.dfd, buf[done:], off+int64(done))
		if err != nil {
			return fmt.Errorf("%s %s at %#x: %w", o.Op, o.File, o.Off, &os.PathError{Op: name + " O_DIRECT", Path: b.path, Err: err})
		}
		if n == 0 {
			if o.Op == impl.OpRead {
				clear(buf[done:]) // end of file
				return nil
			}
			return fmt.Errorf("%s %s at %#x: %w", o.Op, o.File, o.Off, &os.PathError{Op: name + " O_DIRECT", Path: b.path, Err: io.ErrShortWrite})
		}
		done += n
	}
	if done == len(buf) {
		return nil
	}
	rest, restOff := buf[done:], off+int64(done)
	if o.Op == impl.OpWrite {
		if _, err := b.files.Image.WriteAt(rest, restOff); err != nil {
			return fmt.Errorf("%s %s at %#x: %w", o.Op, o.File, o.Off, err)
		}
		return nil
	}
	n, err := b.files.Image.ReadAt(rest, restOff)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s %s at %#x: %w", o.Op, o.File, o.Off, err)
	}
	clear(rest[n:])
	return nil
}

// bouncePool holds aligned bounce buffers in power-of-two sizes from 4 KiB
// to 64 MiB (QED's largest cluster); larger ones are not kept.
type bouncePool [bounceMaxBits - bounceMinBits + 1]sync.Pool

const (
	bounceMinBits = 12
	bounceMaxBits = 26
)

// get returns an aligned buffer of at least n bytes, n > 0.
func (p *bouncePool) get(n int) *[]byte {
	c := max(bits.Len(uint(n-1)), bounceMinBits)
	if c > bounceMaxBits {
		b := impl.AlignedBuffer(n)
		return &b
	}
	if v := p[c-bounceMinBits].Get(); v != nil {
		return v.(*[]byte)
	}
	b := impl.AlignedBuffer(1 << c)
	return &b
}

// put returns a buffer from get to the pool.
func (p *bouncePool) put(b *[]byte) {
	n := len(*b)
	c := bits.Len(uint(n - 1))
	if n == 1<<c && c >= bounceMinBits && c <= bounceMaxBits {
		p[c-bounceMinBits].Put(b)
	}
}

// Opener returns an impl.PathOptions.NewBackend that runs the image on a
// file backend configured by opts.
func Opener(opts Options) func(files impl.Files, path string) (impl.Backend, error) {
	return func(files impl.Files, path string) (impl.Backend, error) {
		return New(files, path, opts)
	}
}
