// Package file is the backend that runs an image on real files: I/O
// through a pool of worker goroutines (pread, pwrite, fdatasync, as
// QEMU's aio=threads) or an io_uring (as aio=io_uring), with O_DIRECT
// optional. Many I/Os are in flight at once and complete in whatever
// order the kernel finishes them; the engine's clock is the wall clock.
package file
