package file

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/qedharness/qedharness/impl"
)

// uringState is a Backend's io_uring (Options.AIO = AIOIOUring):
// Submit queues I/Os on the ring and Next hands the queued ones to the
// kernel and waits for completions in one system call, so the I/Os that
// become ready together cost one call, and no goroutine is switched.
type uringState struct {
	ring    *uring
	imageFD int // duplicate of the image's descriptor, or -1
	backFD  int // duplicate of the backing file's descriptor, or -1
	limit   int // most I/Os in the kernel at once
	slots   []uringSlot
	free    []uint32 // indexes of unused slots
	queued  int      // I/Os queued on the ring or in the kernel
	err     error    // the ring failed: every later I/O fails with it

	// Interrupt writes to wakeFD, an eventfd; while wakeArmed, a read of
	// it into wakeBuf is on the ring (user data wakeUserData), so that
	// a wait in the kernel ends when it is written.
	wakeFD    atomic.Int32 // -1 once closed
	wakeArmed bool
	wakeBuf   [8]byte
}

// wakeUserData marks the ring's read of the wake eventfd.
const wakeUserData = math.MaxUint64

// maxURingEntries bounds the ring, and so the I/Os in the kernel at once.
const maxURingEntries = 4096

// uringSlot is an I/O on the ring; its index is the operation's user data.
type uringSlot struct {
	job    fileJob
	buf    []byte  // what the kernel transfers: o.Buf, or the bounce buffer
	bounce *[]byte // the bounce buffer, to return to the pool
}

// newURingState sets up a ring for up to limit I/Os in the kernel at once.
// Reads and writes of storages that are not files are performed at
// Submit instead.
func newURingState(files impl.Files, dfd, limit int) (*uringState, error) {
	u := &uringState{imageFD: -1, backFD: -1, limit: limit}
	u.wakeFD.Store(-1)
	dup := func(st impl.Storage) (int, error) {
		fs, ok := st.(*impl.FileStorage)
		if !ok {
			return -1, nil
		}
		nfd := -1
		err := fs.WithFD(func(fd int) error {
			var err error
			nfd, err = dupFD(fd)
			return err
		})
		if err != nil {
			return -1, &os.PathError{Op: "dup", Path: fs.Name(), Err: err}
		}
		return nfd, nil
	}
	var err error
	if u.imageFD, err = dup(files.Image); err != nil {
		return nil, err
	}
	fd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC, 0)
	if errno != 0 {
		u.close()
		return nil, fmt.Errorf("eventfd: %w", errno)
	}
	u.wakeFD.Store(int32(fd))
	if files.Backing != nil {
		if u.backFD, err = dup(files.Backing); err != nil {
			u.close()
			return nil, err
		}
	}
	// A power of two, as the kernel rounds up to; 4096 in flight is far
	// past any device's queue, and a larger ring only costs memory.
	entries := uint32(1) << bits.Len32(uint32(min(limit, maxURingEntries)-1))
	if u.ring, err = newURing(entries); err != nil {
		u.close()
		if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) {
			return nil, fmt.Errorf("%w (the kernel lacks io_uring, or it is disabled: sysctl kernel.io_uring_disabled, or a container's seccomp profile); use threads", err)
		}
		return nil, err
	}
	u.limit = min(limit, int(u.ring.entries))
	u.slots = make([]uringSlot, u.limit)
	u.free = make([]uint32, u.limit)
	for i := range u.free {
		u.free[i] = uint32(u.limit - 1 - i)
	}
	return u, nil
}

// fdOf returns the descriptor for job j, or -1 if it is performed at
// Submit.
func (u *uringState) fdOf(b *Backend, j fileJob) int {
	if j.route != routeBuffered {
		return b.dfd
	}
	if j.io.File == impl.BackingFile {
		return u.backFD
	}
	return u.imageFD
}

// dispatch queues pending jobs on the ring while there is room; jobs for
// storages without a descriptor, and grows and write-zeroes, are
// performed on the spot.
func (u *uringState) dispatch(b *Backend) {
	for b.pendHead < len(b.pending) {
		j := b.pending[b.pendHead]
		o := j.io
		if fd := u.fdOf(b, j); fd < 0 || u.err != nil || o.Op == impl.OpGrow || o.Op == impl.OpWriteZeroes {
			// Grows and write-zeroes (fallocate) are rare: done on the spot.
			b.popPending()
			if u.err != nil {
				o.Err = fmt.Errorf("%v: file backend: %w", o, u.err)
			} else {
				o.Err = impl.Perform(b.files, o)
			}
			b.ready = append(b.ready, o)
			continue
		}
		if len(u.free) == 0 || u.ring.free() == 0 {
			return
		}
		b.popPending()
		i := u.free[len(u.free)-1]
		u.free = u.free[:len(u.free)-1]
		s := &u.slots[i]
		s.job, s.buf = j, o.Buf
		if j.route == routeBounce {
			s.bounce = b.bounce.get(len(o.Buf))
			s.buf = (*s.bounce)[:len(o.Buf)]
			if o.Op == impl.OpWrite {
				copy(s.buf, o.Buf)
			}
		}
		switch o.Op {
		case impl.OpRead:
			u.ring.queue(ioringOpRead, u.fdOf(b, j), s.buf, o.Off, 0, uint64(i))
		case impl.OpWrite:
			u.ring.queue(ioringOpWrite, u.fdOf(b, j), s.buf, o.Off, 0, uint64(i))
		default:
			u.ring.queue(ioringOpFsync, u.fdOf(b, j), nil, 0, ioringFsyncDatasync, uint64(i))
		}
		u.queued++
	}
}

// await returns a completed I/O, waiting for one if none is ready. With
// interruptible (Backend.Wait) it keeps a read of the wake eventfd on the
// ring and returns nil when that completes, and it waits when no I/O is
// in flight; otherwise (Backend.Next) the backend has an I/O in flight and
// a wake read left from an earlier Wait is only reaped.
func (u *uringState) await(b *Backend, interruptible bool) *impl.IO {
	for {
		if o := b.popReady(); o != nil {
			return o
		}
		if u.ring.unsubmitted() > 0 && u.ring.ready() {
			// Hand the kernel what the caller queued since the last wait
			// before reaping a completion: otherwise, through a burst of
			// completions, every I/O submitted in reply waits in the ring
			// until the burst is handled, and the device runs below the
			// caller's depth (fio submits at once too:
			// iodepth_batch_submit=1). With nothing to reap, the wait
			// below submits them in the same call.
			if err := u.ring.enter(false); err != nil {
				u.fail(b, err)
				continue
			}
		}
		if i, res, ok := u.ring.reap(); ok {
			switch {
			case i == wakeUserData:
				u.wakeArmed = false
				if interruptible {
					return nil
				}
			case u.slots[i].job.io == nil:
				// Given up after the ring failed (fail).
			default:
				u.queued--
				return u.finish(b, i, res)
			}
			continue
		}
		u.dispatch(b)
		if len(b.ready) > 0 {
			continue // dispatch performed or failed some
		}
		if interruptible && !u.wakeArmed && u.ring.free() > 0 {
			u.ring.queue(ioringOpRead, int(u.wakeFD.Load()), u.wakeBuf[:], 0, 0, wakeUserData)
			u.wakeArmed = true
		}
		if u.queued == 0 && !u.wakeArmed {
			return nil // nothing to wait for
		}
		if err := u.ring.enter(true); err != nil {
			u.fail(b, err)
			if u.queued == 0 && len(b.ready) == 0 {
				return nil
			}
		}
	}
}

// interrupt ends a wait in progress, or the next one; any goroutine may
// call it.
func (u *uringState) interrupt() {
	var one [8]byte
	one[0] = 1 // the eventfd's counter is host-endian; any nonzero value wakes it
	if fd := int(u.wakeFD.Load()); fd >= 0 {
		syscall.Write(fd, one[:])
	}
}

// disarm completes the wake eventfd's read, if it is on the ring, and
// reaps it, so no operation of the ring refers to wakeBuf; every other
// I/O has completed.
func (u *uringState) disarm() {
	for u.wakeArmed && u.err == nil {
		u.interrupt()
		if err := u.ring.enter(true); err != nil {
			return
		}
		for {
			i, _, ok := u.ring.reap()
			if !ok {
				break
			}
			if i == wakeUserData {
				u.wakeArmed = false
			}
		}
	}
}

// fail stops using the ring after err: the I/Os queued but not taken by
// the kernel fail with err, as does every later one. I/Os the kernel took
// still complete through the ring.
func (u *uringState) fail(b *Backend, err error) {
	u.err = err
	for n := u.ring.unsubmitted(); n > 0; n-- {
		u.ring.tail--
		ud := u.ring.sqes[u.ring.tail&u.ring.sqMask].userData
		if ud == wakeUserData {
			u.wakeArmed = false
			continue
		}
		i := uint32(ud)
		o := u.release(b, i)
		o.Err = fmt.Errorf("%v: file backend: %w", o, err)
		b.ready = append(b.ready, o)
		u.queued--
	}
	if u.queued > 0 {
		// The kernel has the rest; wait for them without submitting.
		if werr := u.ring.enter(true); werr != nil && !u.ring.ready() {
			// Nothing can be reaped: keep the slots (and so the
			// buffers the kernel may still use) and report the I/Os
			// lost.
			for i := range u.slots {
				if s := &u.slots[i]; s.job.io != nil {
					o := s.job.io
					o.Err = fmt.Errorf("%v: file backend: %w", o, err)
					b.ready = append(b.ready, o)
					s.job.io = nil
				}
			}
			u.queued = 0
		}
	}
}

// release frees slot i and returns its I/O.
func (u *uringState) release(b *Backend, i uint32) *impl.IO {
	s := &u.slots[i]
	o := s.job.io
	if s.bounce != nil {
		b.bounce.put(s.bounce)
	}
	*s = uringSlot{}
	u.free = append(u.free, i)
	return o
}

// finish completes the I/O in slot i, whose operation returned res: an
// error, or the bytes transferred. A short transfer is finished with
// blocking calls, as the threads mode would.
func (u *uringState) finish(b *Backend, i uint64, res int32) *impl.IO {
	s := &u.slots[i]
	j, buf := s.job, s.buf
	o := j.io
	o.Err = nil
	switch {
	case o.Op == impl.OpFlush:
		if res < 0 {
			o.Err = fmt.Errorf("flush %s: %w", o.File, &os.PathError{Op: "fdatasync", Path: b.path, Err: syscall.Errno(-res)})
		}
	case res == -int32(syscall.EINTR) || res == -int32(syscall.EAGAIN):
		o.Err = b.performWith(j, buf, 0)
	case res < 0:
		name := "pread"
		if o.Op == impl.OpWrite {
			name = "pwrite"
		}
		if j.route != routeBuffered {
			name += " O_DIRECT"
		}
		o.Err = fmt.Errorf("%s %s at %#x: %w", o.Op, o.File, o.Off, &os.PathError{Op: name, Path: b.path, Err: syscall.Errno(-res)})
	case int(res) < len(buf):
		o.Err = b.performWith(j, buf, int(res))
	}
	if j.route == routeBounce && o.Op == impl.OpRead && o.Err == nil {
		copy(o.Buf, buf)
	}
	u.release(b, uint32(i))
	return o
}

// close closes the ring and the duplicated descriptors; every I/O has
// completed.
func (u *uringState) close() error {
	var errs []error
	if u.ring != nil {
		u.disarm()
		if err := u.ring.close(); err != nil {
			errs = append(errs, fmt.Errorf("close io_uring: %w", err))
		}
	}
	if fd := int(u.wakeFD.Swap(-1)); fd >= 0 {
		if err := syscall.Close(fd); err != nil {
			errs = append(errs, fmt.Errorf("close wake eventfd: %w", err))
		}
	}
	for _, fd := range []*int{&u.imageFD, &u.backFD} {
		if *fd >= 0 {
			if err := syscall.Close(*fd); err != nil {
				errs = append(errs, fmt.Errorf("close duplicated descriptor: %w", err))
			}
			*fd = -1
		}
	}
	return errors.Join(errs...)
}
