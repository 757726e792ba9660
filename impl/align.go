package impl

import "unsafe"

// DirectAlign is the alignment in bytes that FileBackend in Direct mode
// requires of an I/O's offset, length and buffer address to send it to
// the O_DIRECT descriptor. It is the largest logical block size in common
// use (4Kn drives), so it suits every device without asking the kernel.
const DirectAlign = 4096

// AlignedBuffer returns a zeroed slice of n bytes whose first byte is
// DirectAlign-aligned, so that FileBackend in Direct mode performs I/O on
// it without a bounce buffer. Its capacity is n.
func AlignedBuffer(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	// Large objects start on runtime page boundaries and are usually
	// aligned already; only small ones need the slack.
	if b := make([]byte, n); IsAligned(b) {
		return b[:n:n]
	}
	b := make([]byte, n+DirectAlign-1)
	skip := (DirectAlign - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%DirectAlign)) % DirectAlign
	return b[skip : skip+n : skip+n]
}

// IsAligned reports whether b starts on a DirectAlign boundary.
func IsAligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%DirectAlign == 0
}
