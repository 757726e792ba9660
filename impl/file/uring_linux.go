package file

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// A minimal io_uring: the three operations the file backend needs (read,
// write, fdatasync), no registered files or buffers, no polling thread.
// The layouts and constants are those of <linux/io_uring.h>; the system
// call numbers are the same on every architecture.

const (
	sysIOUringSetup = 425
	sysIOUringEnter = 426

	ioringOffSQRing = 0
	ioringOffCQRing = 0x8000000
	ioringOffSQEs   = 0x10000000

	ioringOpFsync = 3
	ioringOpRead  = 22
	ioringOpWrite = 23

	ioringFsyncDatasync  = 1
	ioringEnterGetevents = 1
)

// uringParams is struct io_uring_params.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  uringSQOffsets
	cqOff                                                                  uringCQOffsets
}

// uringSQOffsets is struct io_sqring_offsets.
type uringSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// uringCQOffsets is struct io_cqring_offsets.
type uringCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// uringSQE is struct io_uring_sqe (64 bytes).
type uringSQE struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	opFlags  uint32
	userData uint64
	_        [24]byte
}

// uringCQE is struct io_uring_cqe (16 bytes).
type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// uring is one io_uring instance, driven from one goroutine. The kernel
// reads the buffers of queued operations by address, so the caller must
// keep each buffer reachable until its completion is reaped.
type uring struct {
	fd             int
	sqMem, cqMem   []byte
	sqeMem         []byte
	sqHead, sqTail *uint32
	sqMask         uint32
	sqArray        []uint32
	sqes           []uringSQE
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []uringCQE
	tail           uint32 // local SQ tail: queued, not yet published
	entries        uint32
}

// newURing sets up a ring with at least entries submission slots.
func newURing(entries uint32) (*uring, error) {
	var p uringParams
	r1, _, errno := syscall.Syscall(sysIOUringSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &uring{fd: int(r1), entries: p.sqEntries}
	fail := func(what string, err error) (*uring, error) {
		r.close()
		return nil, fmt.Errorf("io_uring mmap %s: %w", what, err)
	}
	var err error
	if r.sqMem, err = syscall.Mmap(r.fd, ioringOffSQRing, int(p.sqOff.array+p.sqEntries*4), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		return fail("submission ring", err)
	}
	if r.cqMem, err = syscall.Mmap(r.fd, ioringOffCQRing, int(p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{}))), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		return fail("completion ring", err)
	}
	if r.sqeMem, err = syscall.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries*uint32(unsafe.Sizeof(uringSQE{}))), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		return fail("submission entries", err)
	}
	u32 := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail = u32(r.sqMem, p.sqOff.head), u32(r.sqMem, p.sqOff.tail)
	r.sqMask = *u32(r.sqMem, p.sqOff.ringMask)
	r.sqArray = unsafe.Slice(u32(r.sqMem, p.sqOff.array), p.sqEntries)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead, r.cqTail = u32(r.cqMem, p.cqOff.head), u32(r.cqMem, p.cqOff.tail)
	r.cqMask = *u32(r.cqMem, p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&r.cqMem[p.cqOff.cqes])), p.cqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

// free returns the number of submission slots not holding an operation
// the kernel has yet to take.
func (r *uring) free() uint32 { return r.entries - (r.tail - atomic.LoadUint32(r.sqHead)) }

// queue adds an operation to the submission ring without telling the
// kernel; the caller checks free first. buf's address goes to the
// kernel: the caller keeps buf reachable until the completion.
func (r *uring) queue(op uint8, fd int, buf []byte, off uint64, opFlags uint32, userData uint64) {
	i := r.tail & r.sqMask
	sqe := &r.sqes[i]
	*sqe = uringSQE{opcode: op, fd: int32(fd), off: off, len: uint32(len(buf)), opFlags: opFlags, userData: userData}
	if len(buf) > 0 {
		sqe.addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	}
	r.sqArray[i] = i
	r.tail++
}

// unsubmitted returns the number of queued operations the kernel has not
// taken yet.
func (r *uring) unsubmitted() uint32 { return r.tail - atomic.LoadUint32(r.sqHead) }

// enter publishes the queued operations, hands them to the kernel and,
// if wait is set, blocks until at least one completion is ready. An
// interrupted call is repeated; the ring's head tells what was taken.
func (r *uring) enter(wait bool) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	for {
		n := r.unsubmitted()
		waiting := wait && !r.ready()
		if n == 0 && !waiting {
			return nil
		}
		var flags, minComplete uintptr
		if waiting {
			flags, minComplete = ioringEnterGetevents, 1
		}
		_, _, errno := syscall.Syscall6(sysIOUringEnter, uintptr(r.fd), uintptr(n), minComplete, flags, 0, 0)
		switch errno {
		case 0, syscall.EINTR:
		case syscall.EAGAIN, syscall.EBUSY:
			// The kernel is short of memory, or completions are
			// backed up: reaping what is ready makes room.
			if r.ready() {
				return nil
			}
			return fmt.Errorf("io_uring_enter: %w", errno)
		default:
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
	}
}

// ready reports whether a completion is waiting to be reaped.
func (r *uring) ready() bool { return atomic.LoadUint32(r.cqTail) != *r.cqHead }

// reap takes the oldest completion; ok is false if none is ready.
func (r *uring) reap() (userData uint64, res int32, ok bool) {
	head := *r.cqHead
	if head == atomic.LoadUint32(r.cqTail) {
		return 0, 0, false
	}
	c := r.cqes[head&r.cqMask]
	atomic.StoreUint32(r.cqHead, head+1)
	return c.userData, c.res, true
}

// close releases the ring. Operations still in the kernel complete
// there; the caller reaps every completion first.
func (r *uring) close() error {
	for _, m := range [][]byte{r.sqeMem, r.cqMem, r.sqMem} {
		if m != nil {
			syscall.Munmap(m)
		}
	}
	r.sqeMem, r.cqMem, r.sqMem = nil, nil, nil
	if r.fd < 0 {
		return nil
	}
	err := syscall.Close(r.fd)
	r.fd = -1
	return err
}

// dupFD returns a close-on-exec duplicate of fd.
func dupFD(fd int) (int, error) {
	nfd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(nfd), nil
}

// IOUringAvailable returns nil if this system lets the file backend use
// io_uring (Options.AIO = AIOIOUring), or the reason it does not.
func IOUringAvailable() error {
	r, err := newURing(1)
	if err != nil {
		return fmt.Errorf("%w (the kernel lacks io_uring, or it is disabled: sysctl kernel.io_uring_disabled, or a container's seccomp profile)", err)
	}
	return r.close()
}
